//! Value types for what a person submits. Each constructor parses and rejects bad input, so a
//! value that exists is valid and the rest of the code never re-checks it.
use serde::Serialize;

use super::validation::{ValidationError, parse_identifier, parse_text};

pub const MAX_ID_LEN: usize = 64;
pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_ADDRESS_CHARS: usize = 300;

/// The person's MySejahtera ID: the key of their single booking.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct MySejahteraId(String);

impl MySejahteraId {
    pub const FIELD: &'static str = "mysejahteraId";

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        parse_identifier(Self::FIELD, raw, MAX_ID_LEN).map(Self)
    }

    /// As the store holds it: checked when it was stored (see `Booking::from_stored`).
    pub(super) fn stored(raw: String) -> Self {
        Self(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A first or last name. The field is passed in because both share one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        parse_text(field, raw, MAX_NAME_CHARS).map(Self)
    }

    /// As the store holds it: checked when it was stored (see `Booking::from_stored`).
    pub(super) fn stored(raw: String) -> Self {
        Self(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Address(String);

impl Address {
    pub const FIELD: &'static str = "address";

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        parse_text(Self::FIELD, raw, MAX_ADDRESS_CHARS).map(Self)
    }

    /// As the store holds it: checked when it was stored (see `Booking::from_stored`).
    pub(super) fn stored(raw: String) -> Self {
        Self(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number as SMS gateways take it: an optional leading `+` and 7 to 15 digits (E.164
/// length), with no spaces or punctuation so the same number is always stored the same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub const FIELD: &'static str = "phoneNumber";

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let digits = raw.strip_prefix('+').unwrap_or(raw);
        if !(7..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ValidationError::new(
                Self::FIELD,
                "must be 7 to 15 digits, optionally starting with '+'",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// As the store holds it: checked when it was stored (see `Booking::from_stored`).
    pub(super) fn stored(raw: String) -> Self {
        Self(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_safe_characters_only() {
        let cases: &[(&str, bool)] = &[
            ("900127015527", true),
            ("A-b_9", true),
            (&"9".repeat(MAX_ID_LEN), true),
            (&"9".repeat(MAX_ID_LEN + 1), false),
            ("", false),
            ("90012 7015527", false),
            ("booking:other", false),
            ("{tag}", false),
            ("*", false),
            ("ñ", false),
            ("../x", false),
        ];
        for (raw, ok) in cases {
            assert_eq!(MySejahteraId::parse(raw).is_ok(), *ok, "{raw:?}");
        }
    }

    #[test]
    fn id_errors_name_the_field() {
        let err = MySejahteraId::parse("").unwrap_err();
        assert_eq!(err.field, "mysejahteraId");
    }

    #[test]
    fn names_are_trimmed_bounded_and_printable() {
        assert_eq!(
            PersonName::parse("firstName", "  Fadhil ")
                .unwrap()
                .as_str(),
            "Fadhil"
        );
        assert_eq!(
            PersonName::parse("lastName", "Nur Ain Binti Ab. Rahman")
                .unwrap()
                .as_str(),
            "Nur Ain Binti Ab. Rahman"
        );
        assert!(PersonName::parse("firstName", "Siti Nurhaliza ä").is_ok());
        assert_eq!(
            PersonName::parse("firstName", "Zoe\u{301}").unwrap(),
            PersonName::parse("firstName", "Zo\u{e9}").unwrap(),
            "stored in NFC, however the client composed it"
        );
        assert_eq!(
            PersonName::parse("firstName", "Zoe\u{301}")
                .unwrap()
                .as_str(),
            "Zo\u{e9}"
        );
        for bad in [
            "",
            "   ",
            "a\nb",
            "a\u{0}b",
            "Fadhil\u{202e}",  // right-to-left override (Cf)
            "Fad\u{200b}hil",  // zero-width space (Cf)
            "\u{feff}Fadhil",  // byte order mark (Cf)
            "Fadhil\u{e0001}", // language tag (Cf, outside the BMP)
            "Fad\u{2028}hil",  // line separator (Zl)
            "Fad\u{2029}hil",  // paragraph separator (Zp)
            &"x".repeat(MAX_NAME_CHARS + 1),
            // The limit counts the text as sent, so the published maxLength is exact.
            &format!(" {}", "x".repeat(MAX_NAME_CHARS)),
        ] {
            let err = PersonName::parse("lastName", bad).unwrap_err();
            assert_eq!(err.field, "lastName", "{bad:?}");
        }
    }

    #[test]
    fn addresses_are_bounded() {
        assert!(Address::parse("Kuala Lumpur").is_ok());
        assert!(Address::parse(&"x".repeat(MAX_ADDRESS_CHARS)).is_ok());
        assert!(Address::parse(&"x".repeat(MAX_ADDRESS_CHARS + 1)).is_err());
        assert!(Address::parse("line\r\nInjected: yes").is_err());
    }

    #[test]
    fn phone_numbers_are_digits_with_optional_plus() {
        let cases = [
            ("0123456789", true),
            ("+60123456789", true),
            ("1234567", true),
            ("123456", false),
            ("1234567890123456", false),
            ("012-3456789", false),
            ("012 3456789", false),
            ("++60123456789", false),
            ("", false),
        ];
        for (raw, ok) in cases {
            assert_eq!(PhoneNumber::parse(raw).is_ok(), ok, "{raw:?}");
        }
    }
}
