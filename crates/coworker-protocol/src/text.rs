//! Text that peers choose (names, chat, reasons, skill descriptions, errors), made safe to
//! show: no terminal control or escape sequences, no bidirectional overrides that reorder what
//! the reader sees, and bounded length.

/// Removes control characters (C0 and C1, including ESC, so no ANSI escape sequence survives),
/// bidirectional embedding/override/isolate controls and zero-width characters, keeping line
/// breaks and tabs.
pub fn sanitize(text: &str) -> String {
    text.chars().filter(|c| matches!(c, '\n' | '\t') || !is_hostile(*c)).collect()
}

/// [`sanitize`] on one line: line breaks and tabs become spaces, surrounding space is trimmed,
/// and at most `max` characters are kept.
pub fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if matches!(c, '\n' | '\r' | '\t') { ' ' } else { c })
        .filter(|c| !is_hostile(*c))
        .collect();
    flat.trim().chars().take(max).collect()
}

fn is_hostile(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}'   // zero-width space/joiners, LRM, RLM
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{FEFF}'              // zero-width no-break space
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_reordering_are_removed() {
        let evil = "bob\u{1b}[2J\u{1b}]0;owned\u{7}\r\u{202e}exe.txt\u{9b}31m";
        let clean = sanitize(evil);
        assert!(!clean.chars().any(|c| c.is_control() && c != '\n' && c != '\t'), "{clean:?}");
        assert!(!clean.contains('\u{202e}'));
        assert_eq!(clean, "bob[2J]0;ownedexe.txt31m");
        assert_eq!(sanitize("two\nlines\tok"), "two\nlines\tok");
        assert_eq!(one_line("  a\nb\u{200b}c  ", 64), "a bc");
        assert_eq!(one_line("abcdef", 3), "abc");
    }
}
