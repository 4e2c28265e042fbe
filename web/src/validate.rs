//! Server-side validation of user input. The browser's `maxlength`/`required` are a
//! convenience; these rules are the contract.

pub const MAX_TITLE_CHARS: usize = 200;

/// A title as stored: trimmed, control characters (newlines, tabs…) turned into
/// spaces, 1..=200 characters. The error is the message the form shows.
pub fn title(raw: &str) -> Result<String, String> {
    let cleaned: String = raw
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let title = cleaned.trim();
    let len = title.chars().count();
    if title.contains(char::REPLACEMENT_CHARACTER) {
        // What the form decoder leaves of bytes that were not UTF-8.
        Err("That title is not valid text (invalid UTF-8).".into())
    } else if len == 0 {
        Err("A to-do needs a title.".into())
    } else if len > MAX_TITLE_CHARS {
        Err(format!(
            "That title is {len} characters long; the limit is {MAX_TITLE_CHARS}."
        ))
    } else {
        Ok(title.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_keeps_inner_text() {
        assert_eq!(title("  buy milk \n").unwrap(), "buy milk");
        assert_eq!(title("a\tb").unwrap(), "a b");
    }

    #[test]
    fn rejects_blank_and_over_long() {
        assert_eq!(title(""), Err("A to-do needs a title.".into()));
        assert_eq!(title(" \n\t "), Err("A to-do needs a title.".into()));
        assert!(title(&"x".repeat(MAX_TITLE_CHARS)).is_ok());
        let err = title(&"x".repeat(MAX_TITLE_CHARS + 1)).unwrap_err();
        assert!(err.contains("201"), "{err}");
    }

    #[test]
    fn rejects_undecodable_bytes() {
        let err = title("ok \u{FFFD}").unwrap_err();
        assert!(err.contains("invalid UTF-8"), "{err}");
    }

    #[test]
    fn counts_characters_not_bytes() {
        assert!(title(&"é".repeat(MAX_TITLE_CHARS)).is_ok());
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Accepted titles are trimmed, free of control characters and within limits;
        /// anything else is a message, never a panic.
        #[test]
        fn accepted_titles_obey_the_rules(raw in "\\PC{0,260}|[\\s\\x00-\\x1f]{0,10}") {
            match title(&raw) {
                Ok(t) => {
                    prop_assert!(!t.is_empty());
                    prop_assert!(t.chars().count() <= MAX_TITLE_CHARS);
                    prop_assert_eq!(t.trim(), t.as_str());
                    prop_assert!(!t.chars().any(char::is_control));
                }
                Err(message) => prop_assert!(!message.is_empty()),
            }
        }
    }
}
