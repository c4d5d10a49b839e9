//! Python's notion of whitespace (`str.isspace`, `str.strip`, and `\s` in `re` str patterns).
//!
//! The reference reward runs on CPython 3.11, whose whitespace set differs from Rust's
//! [`char::is_whitespace`]: it includes the ASCII information separators U+001C..U+001F
//! (Rust does not). Both exclude U+200B (zero width space) and U+FEFF (BOM). The table
//! below was generated with `[c for c in range(0x110000) if chr(c).isspace()]` on
//! CPython 3.11.7; `re.match(r"\s", c)` selects exactly the same 29 code points.

/// `true` for exactly the 29 code points CPython's `str.isspace()` accepts.
///
/// This is the set `\s` matches in Python `re` str patterns and the set `str.strip()`
/// removes, so it is what the reference reward treats as whitespace.
///
/// ```
/// use spatial_ssrl_rewards::is_python_whitespace;
/// assert!(is_python_whitespace('\u{1c}'));   // information separator: Python yes, Rust no
/// assert!(is_python_whitespace('\u{3000}')); // ideographic space
/// assert!(!is_python_whitespace('\u{200b}')); // zero width space is not whitespace
/// assert!(!is_python_whitespace('\u{feff}'));
/// ```
#[inline]
pub fn is_python_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t'..='\r'
            | '\u{1c}'..='\u{20}'
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

/// Python's `s.strip()`: removes leading and trailing [`is_python_whitespace`] characters.
///
/// ```
/// use spatial_ssrl_rewards::python_strip;
/// assert_eq!(python_strip("\u{a0} B\u{1f}\n"), "B");
/// assert_eq!(python_strip("\u{200b}B"), "\u{200b}B");
/// ```
#[inline]
pub fn python_strip(s: &str) -> &str {
    s.trim_matches(is_python_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The full CPython 3.11 whitespace list, spelled out so a table edit cannot go unnoticed.
    const PYTHON_SPACES: [u32; 29] = [
        0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001,
        0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029,
        0x202f, 0x205f, 0x3000,
    ];

    #[test]
    fn table_matches_cpython_exactly() {
        let got: Vec<u32> = (0..=0x10ffffu32)
            .filter_map(char::from_u32)
            .filter(|&c| is_python_whitespace(c))
            .map(u32::from)
            .collect();
        assert_eq!(got, PYTHON_SPACES);
    }

    #[test]
    fn differs_from_rust_only_on_separators() {
        let diff: Vec<u32> = (0..=0x10ffffu32)
            .filter_map(char::from_u32)
            .filter(|&c| is_python_whitespace(c) != c.is_whitespace())
            .map(u32::from)
            .collect();
        assert_eq!(diff, [0x1c, 0x1d, 0x1e, 0x1f]);
    }
}
