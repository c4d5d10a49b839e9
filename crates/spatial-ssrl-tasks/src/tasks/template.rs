//! Prompt templates: `{name}` placeholders filled from a few task facts, and the check that a
//! problem shows exactly one `<image>` per image (a user-edited template could break it).

use crate::error::{Error, Result};

/// The image placeholder every problem carries once per image.
pub(crate) const IMAGE: &str = "<image>";

/// Replaces each `{key}` of `vars` in `template`; unknown `{...}` text is left as it is.
pub(crate) fn render(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (key, value) in vars {
        let needle = format!("{{{key}}}");
        if out.contains(&needle) {
            out = out.replace(&needle, value);
        }
    }
    out
}

/// Errors unless `problem` holds exactly `images` `<image>` placeholders.
pub(crate) fn check_images(task: &'static str, problem: &str, images: usize) -> Result<()> {
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

/// `0-1-...-(n-1)` with neighbouring pairs swapped (`1-0-3-2`, `1-0-3-2-4`): shows the answer
/// format without being a likely answer itself.
pub(crate) fn example_sequence(n: usize) -> String {
    let mut v: Vec<usize> = (0..n).collect();
    for pair in v.chunks_exact_mut(2) {
        pair.swap(0, 1);
    }
    join(&v)
}

/// Numbers joined by hyphens, the answer format of sequence tasks.
pub(crate) fn join(values: &[usize]) -> String {
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
        assert_eq!(example_sequence(4), "1-0-3-2");
        assert_eq!(example_sequence(3), "1-0-2");
        assert_eq!(join(&[2, 0, 1]), "2-0-1");
    }
}
