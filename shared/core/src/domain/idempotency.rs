//! The `Idempotency-Key` of a booking attempt (IETF draft-ietf-httpapi-idempotency-key-header):
//! a random value the client makes for one attempt and sends again with its retries. The 201
//! and the identical retry are tied by it, so the retry shows the booking reference only to the
//! client that made the attempt, not to whoever else can send the same body.
use std::fmt;

use super::ValidationError;
use super::reference::{from_hex, to_hex};

/// A key as the client sent it. Debug never shows it: like the reference, it is what gets a
/// reference shown again.
#[derive(Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The request header, and the `field` a refused one is named by.
    pub const HEADER: &'static str = "Idempotency-Key";
    pub const MAX_LEN: usize = 255;

    /// 1-255 printable ASCII characters, neither the first nor the last a space (HTTP drops
    /// those), compared byte for byte: a UUID or 32 hex digits are typical. The draft's quoted
    /// Structured Field form (`"8e03978e-..."`) is such a value too, quotes included.
    pub fn parse(raw: &[u8]) -> Result<Self, ValidationError> {
        let printable = |b: &u8| (0x20..=0x7e).contains(b);
        match (raw.first(), raw.last()) {
            (Some(first), Some(last))
                if raw.len() <= Self::MAX_LEN
                    && raw.iter().all(printable)
                    && *first != b' '
                    && *last != b' ' =>
            {
                Ok(Self(String::from_utf8_lossy(raw).into_owned()))
            }
            _ => Err(Self::refused()),
        }
    }

    fn refused() -> ValidationError {
        ValidationError::new(
            Self::HEADER,
            format!(
                "must be 1-{} printable ASCII characters (not starting or ending with a space): \
                 a random value made for this booking attempt and sent again with its retries",
                Self::MAX_LEN
            ),
        )
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdempotencyKey(<redacted>)")
    }
}

/// What the store keeps of a key: `HMAC-SHA256` of it under the server-side key (see
/// `BookingReferences::retry_key_digest`), so Redis alone can neither show nor check one.
#[derive(Clone, PartialEq, Eq)]
pub struct RetryKeyDigest([u8; 32]);

impl RetryKeyDigest {
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The stored form: 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        from_hex(text).map(Self)
    }
}

impl fmt::Debug for RetryKeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RetryKeyDigest(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_one_to_255_printable_ascii_characters() {
        let uuid = "8e03978e-40d5-43e8-bc93-6894a57f9324";
        let quoted = format!("\"{uuid}\"");
        let longest = "k".repeat(255);
        for good in [uuid, &quoted, "a", &longest, "inner spaces ~!@#$%^&*()"] {
            assert!(IdempotencyKey::parse(good.as_bytes()).is_ok(), "{good:?}");
        }
        let too_long = "k".repeat(256);
        for bad in [
            &b""[..],
            b" ",
            b" leading",
            b"trailing ",
            too_long.as_bytes(),
            b"tab\there",
            b"new\nline",
            "caf\u{e9}".as_bytes(),
            b"\xff\xfe",
            b"nul\0",
        ] {
            let refused = IdempotencyKey::parse(bad).unwrap_err();
            assert_eq!(refused.field, "Idempotency-Key", "{bad:?}");
        }
        assert_eq!(
            format!("{:?}", IdempotencyKey::parse(uuid.as_bytes()).unwrap()),
            "IdempotencyKey(<redacted>)"
        );
    }

    #[test]
    fn a_digest_round_trips_as_hex() {
        let digest = RetryKeyDigest::new([0xa7; 32]);
        assert_eq!(digest.to_hex().len(), 64);
        assert_eq!(RetryKeyDigest::from_hex(&digest.to_hex()), Some(digest));
        for bad in ["", &"0".repeat(63), &"g".repeat(64), &"0".repeat(65)] {
            assert_eq!(RetryKeyDigest::from_hex(bad), None, "{bad:?}");
        }
    }
}
