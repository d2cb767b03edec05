//! What proves a person owns a booking: the booking reference shown once to the booker, and the
//! per-booking nonce the store keeps to derive it again (only with the server-side key).
use std::fmt;
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// An HMAC-SHA256 output as base64url without padding: 43 URL-safe characters, 256 bits.
/// Debug never shows it, and it has no Display, so it cannot reach a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct BookingReference(String);

impl BookingReference {
    pub const BYTES: usize = 32;
    pub const LEN: usize = 43;

    pub fn from_bytes(bytes: &[u8; Self::BYTES]) -> Self {
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// None unless `text` is exactly what `from_bytes` produces for some 32 bytes.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != Self::LEN {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        (bytes.len() == Self::BYTES).then(|| Self(text.to_owned()))
    }

    pub fn to_bytes(&self) -> [u8; Self::BYTES] {
        let mut bytes = [0; Self::BYTES];
        // parse and from_bytes only ever hold canonical 32-byte encodings.
        if let Ok(decoded) = URL_SAFE_NO_PAD.decode(&self.0) {
            bytes.copy_from_slice(&decoded);
        }
        bytes
    }

    /// The text to hand to the booker, and to nobody else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BookingReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BookingReference(<redacted>)")
    }
}

/// 128 random bits drawn for each new booking. Without the server-side key it verifies nothing;
/// a cancel deletes it, so the reference derived from it dies with the booking.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ReferenceNonce([u8; 16]);

impl ReferenceNonce {
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut bytes = [0; 16];
        getrandom::fill(&mut bytes)?;
        Ok(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The stored form: 32 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        if text.len() != 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut bytes = [0; 16];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Self(bytes))
    }
}

/// What the store keeps next to a booking so its owner can be recognised: the nonce the
/// reference is derived from, and when the booking was made (the retry window).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BookingOwnership {
    pub nonce: ReferenceNonce,
    pub booked_at: SystemTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_only_in_their_canonical_form() {
        let reference = BookingReference::from_bytes(&[0xfb; 32]);
        assert_eq!(reference.expose().len(), BookingReference::LEN);
        assert!(
            reference
                .expose()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(
            BookingReference::parse(reference.expose()),
            Some(reference.clone())
        );
        assert_eq!(reference.to_bytes(), [0xfb; 32]);
        let mut last_bits_set = reference.expose().to_owned();
        last_bits_set.replace_range(42.., "_");
        for bad in [
            "",
            &reference.expose()[..42],
            &format!("{}A", reference.expose()),
            &reference.expose().replace('-', "+"),
            &last_bits_set,
            &"=".repeat(43),
        ] {
            assert_eq!(BookingReference::parse(bad), None, "{bad:?}");
        }
        assert_eq!(format!("{reference:?}"), "BookingReference(<redacted>)");
    }

    #[test]
    fn nonces_are_random_and_round_trip_as_hex() {
        let a = ReferenceNonce::random().unwrap();
        let b = ReferenceNonce::random().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.to_hex().len(), 32);
        assert_eq!(ReferenceNonce::from_hex(&a.to_hex()), Some(a));
        for bad in ["", "zz", &"0".repeat(31), &"g".repeat(32), &"0".repeat(33)] {
            assert_eq!(ReferenceNonce::from_hex(bad), None, "{bad:?}");
        }
    }
}
