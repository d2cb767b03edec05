//! Value types for what a person submits. Each constructor parses and rejects bad input, so a
//! value that exists is valid and the rest of the code never re-checks it.
use serde::Serialize;

use super::validation::{ValidationError, parse_identifier, parse_text};

/// The longest ID as sent: a passport `P-CCC-` with a 9-character number (a MyKad number with
/// its two hyphens is 14).
pub const MAX_ID_LEN: usize = 15;
/// The rule IDs were stored under before they had to be real IDs: still the key of records
/// written then (see [`MySejahteraId::stored_key`]).
const MAX_STORED_ID_LEN: usize = 64;
pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_ADDRESS_CHARS: usize = 300;

/// Birthplace codes (digits 7-8 of a MyKad number) the National Registration Department (JPN)
/// issues, from its published list "Kod Negeri" (also encoded in the `mykad` JavaScript package,
/// github.com/wmthor/mykad, src/birthplace.js): states 01-16 and 21-59, 82 (state unknown);
/// born abroad 60-68, 71-72, 74-79, 83-93, 98 (stateless) and 99 (unspecified). Any other pair
/// (00, 17-20, 69-70, 73, 80-81, 94-97) is on no card.
fn is_birthplace_code(code: u8) -> bool {
    matches!(code, 1..=16 | 21..=59 | 82 | 60..=68 | 71..=72 | 74..=79 | 83..=93 | 98 | 99)
}

/// `YYMMDD` as a MyKad number writes the birth date: a real day of a month, 29 February only
/// in years divisible by 4 (the card does not say the century, and 2000 was a leap year).
fn is_birth_date(digits: &[u8]) -> bool {
    let number = |i: usize| (digits[i] - b'0') * 10 + (digits[i + 1] - b'0');
    let (year, month, day) = (number(0), number(2), number(4));
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// The person's MySejahtera ID, the key of their single booking: a MyKad number or a passport.
///
/// - MyKad: 12 digits `YYMMDDPBNNNN`, a real birth date and a birthplace code JPN issues; the
///   printed form `YYMMDD-PB-NNNN` (hyphens in exactly those two places) is the same ID.
/// - Passport (people without a MyKad): `P-CCC-NNNNNNNNN`, `CCC` the ISO 3166-1 alpha-3 code of
///   the issuing country (not `MYS`: Malaysians book with their MyKad) and 6 to 9 letters or
///   digits of the passport number, in any case.
///
/// Stored in one form (MyKad as 12 digits, passports in upper case), so the variants of one ID
/// are one person with one booking. The country is three letters, not checked against the
/// ISO list: codes change, and the passport number cannot be checked either.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct MySejahteraId(String);

impl MySejahteraId {
    pub const FIELD: &'static str = "mysejahteraId";

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let invalid = |why: &str| ValidationError::new(Self::FIELD, why);
        if let Some(passport) = raw.strip_prefix("P-").or_else(|| raw.strip_prefix("p-")) {
            return Self::parse_passport(passport).ok_or_else(|| {
                invalid(
                    "must be a passport written P-<ISO 3166-1 alpha-3 country, not MYS>-<6 to 9 \
                     letters or digits>, e.g. P-IDN-A1234567",
                )
            });
        }
        let bytes = raw.as_bytes();
        let digits: Vec<u8> = match bytes.len() {
            12 => bytes.to_vec(),
            14 if bytes[6] == b'-' && bytes[9] == b'-' => {
                bytes.iter().copied().filter(|b| *b != b'-').collect()
            }
            _ => Vec::new(),
        };
        if digits.len() != 12 || !digits.iter().all(u8::is_ascii_digit) {
            return Err(invalid(
                "must be a MyKad number, 12 digits (YYMMDD-PB-NNNN, hyphens optional), or a \
                 passport written P-<country>-<number>",
            ));
        }
        if !is_birth_date(&digits[..6]) {
            return Err(invalid(
                "must start with the birth date YYMMDD (a MyKad number's first six digits)",
            ));
        }
        if !is_birthplace_code((digits[6] - b'0') * 10 + (digits[7] - b'0')) {
            return Err(invalid(
                "must have as digits 7-8 a birthplace code the National Registration Department \
                 issues",
            ));
        }
        Ok(Self(String::from_utf8(digits).expect("ASCII digits")))
    }

    /// `CCC-NNNNNN` after the `P-`, upper-cased; None unless it is the passport form.
    fn parse_passport(rest: &str) -> Option<Self> {
        let (country, number) = rest.split_once('-')?;
        let country_ok = country.len() == 3
            && country.bytes().all(|b| b.is_ascii_alphabetic())
            && !country.eq_ignore_ascii_case("MYS");
        let number_ok =
            (6..=9).contains(&number.len()) && number.bytes().all(|b| b.is_ascii_alphanumeric());
        (country_ok && number_ok).then(|| Self(format!("P-{rest}").to_ascii_uppercase()))
    }

    /// An ID as the store holds it inside its keys (work lists, keys from the layout before hash
    /// tags): under the rule IDs were stored with before they had to be real IDs (key-safe
    /// characters, at most 64), and not normalised, so a record written then is still found
    /// under its own key.
    pub fn stored_key(raw: &str) -> Result<Self, ValidationError> {
        parse_identifier(Self::FIELD, raw, MAX_STORED_ID_LEN).map(Self)
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

    /// The number in international form, as SMS is sent to it and as the one-time codes count
    /// it: `+` kept; a leading `0` is the Malaysian trunk prefix (`0123456789` is
    /// `+60123456789`); other digits already start with their country code.
    pub fn e164(&self) -> String {
        match self.0.strip_prefix('+') {
            Some(_) => self.0.clone(),
            None => match self.0.strip_prefix('0') {
                Some(national) => format!("+60{national}"),
                None => format!("+{}", self.0),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_mykad_numbers_or_passports_in_one_form() {
        let cases: &[(&str, Option<&str>)] = &[
            ("900127015527", Some("900127015527")),
            ("900127-01-5527", Some("900127015527")),
            ("000229145531", Some("000229145531")), // 2000: a leap year
            ("960229-14-0001", Some("960229140001")),
            ("991231829999", Some("991231829999")), // 82: state unknown
            ("010101600000", Some("010101600000")), // 60: Brunei
            ("010101710000", Some("010101710000")),
            ("010101990000", Some("010101990000")),
            ("P-IDN-A1234567", Some("P-IDN-A1234567")),
            ("p-idn-a1234567", Some("P-IDN-A1234567")),
            ("P-gbr-123456", Some("P-GBR-123456")),
            ("P-USA-A12345678", Some("P-USA-A12345678")),
            // Not a date: month 13, day 32, 30 February, 29 February in 2001/1901.
            ("901327015527", None),
            ("900132015527", None),
            ("900230015527", None),
            ("010229015527", None),
            ("900100015527", None),
            // Birthplace codes on no card.
            ("900127005527", None),
            ("900127175527", None),
            ("900127205527", None),
            ("900127695527", None),
            ("900127705527", None),
            ("900127735527", None),
            ("900127805527", None),
            ("900127815527", None),
            ("900127945527", None),
            ("900127975527", None),
            // Hyphens anywhere else, or only one of them.
            ("9001-2701-5527", None),
            ("900127-015527", None),
            ("90012701-5527", None),
            ("900127--01-5527", None),
            ("-900127015527", None),
            ("900127 01 5527", None),
            ("90012701552", None),
            ("9001270155270", None),
            ("９００１２７０１５５２７", None), // full-width digits
            ("A1", None),
            ("", None),
            ("booking:other", None),
            ("{tag}", None),
            ("*", None),
            // Passports: not MYS, a three-letter country, 6 to 9 letters or digits.
            ("P-MYS-A1234567", None),
            ("P-mys-A1234567", None),
            ("P-ID-A1234567", None),
            ("P-IDNX-A1234567", None),
            ("P-1DN-A1234567", None),
            ("P-IDN-A1234", None),
            ("P-IDN-A123456789", None),
            ("P-IDN-A12-4567", None),
            ("P-IDN-A12_4567", None),
            ("P-IDN-A1234567-", None),
            ("P-IDNA1234567", None),
            ("PIDN-A1234567", None),
            ("X-IDN-A1234567", None),
        ];
        for (raw, stored) in cases {
            let parsed = MySejahteraId::parse(raw);
            assert_eq!(
                parsed.as_ref().ok().map(MySejahteraId::as_str),
                *stored,
                "{raw:?}"
            );
            if let Err(error) = parsed {
                assert_eq!(error.field, "mysejahteraId", "{raw:?}");
            }
        }
    }

    #[test]
    fn every_day_of_every_year_is_a_birth_date_and_nothing_else_is() {
        for year in 0..100u32 {
            for month in 0..=13u32 {
                for day in 0..=32u32 {
                    let raw = format!("{year:02}{month:02}{day:02}");
                    // YY read as 20YY: same leap years as "divisible by 4".
                    let real =
                        chrono::NaiveDate::from_ymd_opt(2000 + year as i32, month, day).is_some();
                    assert_eq!(is_birth_date(raw.as_bytes()), real, "{raw}");
                }
            }
        }
    }

    #[test]
    fn ids_as_stored_keep_the_old_rule_and_their_form() {
        for raw in ["A1", "900127-01-5527", &"9".repeat(MAX_STORED_ID_LEN)] {
            assert_eq!(MySejahteraId::stored_key(raw).unwrap().as_str(), raw);
        }
        for raw in ["", "a:b", "{x}", &"9".repeat(MAX_STORED_ID_LEN + 1)] {
            assert!(MySejahteraId::stored_key(raw).is_err(), "{raw:?}");
        }
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
    fn phone_numbers_have_one_international_form() {
        for (raw, e164) in [
            ("0123456789", "+60123456789"),
            ("+60123456789", "+60123456789"),
            ("60123456789", "+60123456789"),
            ("+6591234567", "+6591234567"),
        ] {
            assert_eq!(PhoneNumber::parse(raw).unwrap().e164(), e164, "{raw}");
        }
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
