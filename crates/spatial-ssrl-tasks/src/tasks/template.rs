//! Prompt templates: `{name}` placeholders filled from a few task facts, and the check that a
//! problem shows exactly one `<image>` per image (a user-edited template could break it).
//!
//! ```
//! use spatial_ssrl_tasks::tasks::template::{check_images, join, render};
//! let p = render("<image>Order the {count} strips; answer like {example}.", &[("count", "3"), ("example", &join(&[2, 0, 1]))]);
//! assert_eq!(p, "<image>Order the 3 strips; answer like 2-0-1.");
//! assert!(check_images("strips", &p, 1).is_ok());
//! ```

use crate::error::{Error, Result};

/// The image placeholder every problem carries once per image.
pub(crate) const IMAGE: &str = crate::task::IMAGE_PLACEHOLDER;

/// Replaces each `{key}` of `vars` in `template`; unknown `{...}` text is left as it is.
pub fn render(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (key, value) in vars {
        let needle = format!("{{{key}}}");
        if out.contains(&needle) {
            out = out.replace(&needle, value);
        }
    }
    out
}

/// Errors ([`Error::InvalidConfig`] of `task`) unless `problem` holds exactly `images`
/// `<image>` placeholders: run it on a rendered user template before drawing anything.
pub fn check_images(task: &'static str, problem: &str, images: usize) -> Result<()> {
    let found = problem.matches(IMAGE).count();
    if found == images {
        Ok(())
    } else {
        Err(Error::InvalidConfig {
            task,
            message: format!(
                "prompt template has {found} {IMAGE} placeholders, the sample has {images} images"
            ),
        })
    }
}

/// The answer format of an `n`-number sequence as letters (`a-b-c-d`): shows the shape of an
/// answer without being one (a numeric example could be the right answer, or hint at it).
pub(crate) fn answer_pattern(n: usize) -> String {
    (0..n)
        .map(|i| {
            let c = char::from(b'a' + (i % 26) as u8);
            if i < 26 {
                c.to_string()
            } else {
                format!("{c}{}", i / 26)
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Numbers joined by hyphens, the answer format of sequence tasks.
pub fn join(values: &[usize]) -> String {
    values
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_checks() {
        let p = render(
            "<image>{count} patches, 0 to {last}; {other}",
            &[("count", "4"), ("last", "3")],
        );
        assert_eq!(p, "<image>4 patches, 0 to 3; {other}");
        assert!(check_images("t", &p, 1).is_ok());
        assert!(matches!(
            check_images("t", &p, 2),
            Err(Error::InvalidConfig { task: "t", .. })
        ));
        assert_eq!(answer_pattern(4), "a-b-c-d");
        assert_eq!(answer_pattern(3), "a-b-c");
        assert_eq!(join(&[2, 0, 1]), "2-0-1");
    }
}
