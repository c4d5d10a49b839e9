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
        Err(Error::invalid_config(
            task,
            format!(
                "prompt template has {found} {IMAGE} placeholders, the sample has {images} images"
            ),
        ))
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

/// Labels `0..n` as an English list with a serial comma: `"0, 1, 2, and 3"`, `"0, 1, and 2"`,
/// `"0 and 1"` (the paper's A.7 wording; the `{labels}` placeholder of shuffle and flip).
pub fn label_list(n: usize) -> String {
    let labels: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    match labels.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [a, b] => format!("{a} and {b}"),
        [head @ .., last] => format!("{}, and {last}", head.join(", ")),
    }
}

/// `n` as an English word up to twelve, digits beyond (`{count_word}`: "One of the four
/// patches").
pub fn count_word(n: usize) -> String {
    const WORDS: [&str; 13] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve",
    ];
    WORDS
        .get(n)
        .map_or_else(|| n.to_string(), |w| (*w).to_owned())
}

/// Names of a `rows` x `cols` grid's positions in reading order, joined by hyphens, as the
/// paper's answer formats spell them (`{positions}`): `TopLeft-TopRight-BottomLeft-BottomRight`,
/// `Left-Middle-Right`, `Top-Middle1-Middle2-Bottom`. A side of one is not named; inner rows or
/// columns are `Middle`, numbered when there is more than one.
pub fn position_names(rows: usize, cols: usize) -> String {
    fn side(n: usize, first: &str, last: &str) -> Vec<String> {
        match n {
            0 | 1 => vec![String::new()],
            2 => vec![first.into(), last.into()],
            3 => vec![first.into(), "Middle".into(), last.into()],
            _ => std::iter::once(first.to_owned())
                .chain((1..n - 1).map(|i| format!("Middle{i}")))
                .chain(std::iter::once(last.to_owned()))
                .collect(),
        }
    }
    let (r, c) = (side(rows, "Top", "Bottom"), side(cols, "Left", "Right"));
    r.iter()
        .flat_map(|row| c.iter().map(move |col| format!("{row}{col}")))
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
        assert_eq!(label_list(4), "0, 1, 2, and 3");
        assert_eq!(label_list(3), "0, 1, and 2");
        assert_eq!(label_list(2), "0 and 1");
        assert_eq!(count_word(4), "four");
        assert_eq!(count_word(16), "16");
        assert_eq!(
            position_names(2, 2),
            "TopLeft-TopRight-BottomLeft-BottomRight"
        );
        assert_eq!(position_names(1, 3), "Left-Middle-Right");
        assert_eq!(position_names(1, 4), "Left-Middle1-Middle2-Right");
        assert_eq!(position_names(3, 1), "Top-Middle-Bottom");
        assert_eq!(position_names(4, 1), "Top-Middle1-Middle2-Bottom");
    }
}
