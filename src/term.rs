//! Text from outside — history values, database errors, node output, file names — shown on the
//! terminal as text: control characters (escape sequences that could recolour, retitle or rewrite
//! the terminal, carriage returns that hide a line) and bidirectional overrides are printed as
//! visible escapes instead of being interpreted.

use std::borrow::Cow;

/// `s` with every control character but newline and tab, and every bidi override, escaped.
pub fn text(s: &str) -> Cow<'_, str> {
    let hostile = |c: char| {
        (c.is_control() && c != '\n' && c != '\t') || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    };
    if !s.chars().any(hostile) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if hostile(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::text;

    #[test]
    fn escapes_control_characters_and_bidi_overrides_only() {
        assert_eq!(text("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(text("\u{1b}[31mred\u{1b}]0;title\u{7}"), "\\u{1b}[31mred\\u{1b}]0;title\\u{7}");
        assert_eq!(text("a\rb"), "a\\u{d}b");
        assert_eq!(text("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(text("naïve ü"), "naïve ü");
    }
}
