use std::fmt;

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

/// Free text (names, address): bounded as sent, then trimmed and non-empty, and free of control characters so
/// it cannot forge log lines or break downstream CSV/SMS systems.
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
    Ok(trimmed.to_owned())
}
