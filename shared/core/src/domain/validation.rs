use std::fmt;

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Why a client-supplied value was refused, naming the field so a client can fix its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub field: &'static str,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ValidationError {}

/// Identifiers end up inside Redis keys; restricting them to `[A-Za-z0-9_-]` means no `:`, `{`,
/// `*` or whitespace can ever make one key reach another key's data.
pub(crate) fn parse_identifier(
    field: &'static str,
    raw: &str,
    max_len: usize,
) -> Result<String, ValidationError> {
    if raw.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if raw.len() > max_len {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max_len} characters"),
        ));
    }
    if !raw
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ValidationError::new(
            field,
            "may contain only letters A-Z, digits, '-' and '_'",
        ));
    }
    Ok(raw.to_owned())
}

/// Invisible format characters (Unicode category Cf: bidi overrides such as U+202E, zero-width
/// spaces and joiners) and line/paragraph separators (Zl, Zp: U+2028, U+2029). In a name they
/// make one person's name display as another's or hide text; downstream they break lines.
pub fn is_hidden_format(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    )
}

/// Free text (names, address): bounded as sent, then trimmed and non-empty, free of control
/// characters (so it cannot forge log lines or break downstream CSV/SMS systems) and of hidden
/// format characters, and stored in Unicode NFC: the same name typed on two keyboards (é as one
/// character or as e + accent) is the same name, so an identical retry is recognised.
pub(crate) fn parse_text(
    field: &'static str,
    raw: &str,
    max_chars: usize,
) -> Result<String, ValidationError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    // The limit applies to the text as sent, so the published schema's maxLength is exact.
    if raw.chars().count() > max_chars {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    // Anywhere, edges included: U+2028/9 count as white space, and trimming would hide them.
    if let Some(hidden) = raw.chars().find(|c| is_hidden_format(*c)) {
        return Err(ValidationError::new(
            field,
            format!(
                "must not contain invisible format characters or line separators (U+{:04X})",
                u32::from(hidden)
            ),
        ));
    }
    Ok(trimmed.nfc().collect())
}
