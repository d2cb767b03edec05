//! What proves a person owns a booking: the booking reference shown once to the booker, and the
//! per-booking nonce the store keeps to derive it again (only with the server-side key).
use std::fmt;
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::RetryKeyDigest;

/// What a booker holds to read, move or cancel their booking, derived from an HMAC-SHA256
/// output. Issued as 120 bits of it in Crockford base32, six groups of four
/// (`K7QM-2XPA-9DFR-HT3W-ZB8N-6C4E`): letters and digits that cannot be misread aloud or on
/// paper, case-insensitive, with `O`/`0`, `I`/`L`/`1`, spaces and hyphens forgiven on input.
/// References issued before (the whole 256 bits in base64url, 43 characters) still parse and
/// are checked on all their bits. Debug never shows one, and it has no Display, so it cannot
/// reach a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct BookingReference {
    /// The canonical text: grouped Crockford, or a legacy reference as it was issued.
    text: String,
    proof: Proof,
}

#[derive(Clone, PartialEq, Eq)]
enum Proof {
    /// The MAC's first [`BookingReference::GROUPED_BYTES`] bytes.
    Grouped([u8; BookingReference::GROUPED_BYTES]),
    /// The whole MAC (references issued before the grouped form).
    Legacy([u8; BookingReference::MAC_BYTES]),
}

/// Crockford's base32 alphabet: the digits and the letters but I, L, O and U.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

impl BookingReference {
    pub const MAC_BYTES: usize = 32;
    /// 120 bits: beyond guessing (2^120 tries), and 24 symbols to read out.
    pub const GROUPED_BYTES: usize = 15;
    /// `XXXX-XXXX-XXXX-XXXX-XXXX-XXXX`.
    pub const GROUPED_LEN: usize = 29;
    pub const LEGACY_LEN: usize = 43;

    /// The reference a MAC gives, in the grouped form.
    pub fn from_mac(mac: &[u8; Self::MAC_BYTES]) -> Self {
        let mut grouped = [0; Self::GROUPED_BYTES];
        grouped.copy_from_slice(&mac[..Self::GROUPED_BYTES]);
        let symbols = crockford_encode(&grouped);
        let text = symbols
            .as_bytes()
            .chunks(4)
            .map(|group| std::str::from_utf8(group).expect("ASCII"))
            .collect::<Vec<_>>()
            .join("-");
        Self {
            text,
            proof: Proof::Grouped(grouped),
        }
    }

    /// A reference as a person may type it (either form); None for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.len() == Self::LEGACY_LEN
            && let Ok(bytes) = URL_SAFE_NO_PAD.decode(text)
            && let Ok(mac) = <[u8; Self::MAC_BYTES]>::try_from(bytes.as_slice())
        {
            return Some(Self {
                text: text.to_owned(),
                proof: Proof::Legacy(mac),
            });
        }
        let symbols: String = text
            .chars()
            .filter(|c| !matches!(c, '-' | ' '))
            .map(|c| match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                other => other,
            })
            .collect();
        let grouped = crockford_decode::<{ Self::GROUPED_BYTES }>(&symbols)?;
        Some(Self::from_grouped(grouped))
    }

    fn from_grouped(grouped: [u8; Self::GROUPED_BYTES]) -> Self {
        let mut mac = [0; Self::MAC_BYTES];
        mac[..Self::GROUPED_BYTES].copy_from_slice(&grouped);
        Self::from_mac(&mac)
    }

    /// The part of the MAC this reference proves: what a check compares, in constant time.
    pub fn proof(&self) -> &[u8] {
        match &self.proof {
            Proof::Grouped(bytes) => bytes,
            Proof::Legacy(bytes) => bytes,
        }
    }

    /// The text to hand to the booker, and to nobody else.
    pub fn expose(&self) -> &str {
        &self.text
    }
}

/// `bytes` in Crockford base32, 5 bits a symbol, most significant first (15 bytes: 24 symbols).
fn crockford_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut buffer, mut bits) = (0u32, 0);
    for byte in bytes {
        buffer = buffer << 8 | u32::from(*byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(CROCKFORD[(buffer >> bits & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(CROCKFORD[(buffer << (5 - bits) & 31) as usize] as char);
    }
    out
}

/// Exactly `N` bytes from canonical Crockford symbols (upper case, no I, L, O or U), or None.
fn crockford_decode<const N: usize>(symbols: &str) -> Option<[u8; N]> {
    if symbols.len() != (N * 8).div_ceil(5) {
        return None;
    }
    let mut out = [0; N];
    let (mut buffer, mut bits, mut at) = (0u32, 0, 0);
    for symbol in symbols.bytes() {
        let value = CROCKFORD.iter().position(|c| *c == symbol)? as u32;
        buffer = buffer << 5 | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            *out.get_mut(at)? = (buffer >> bits & 0xff) as u8;
            at += 1;
        }
    }
    // Leftover bits must be zero, so each reference has one spelling.
    (at == N && buffer & ((1 << bits) - 1) == 0).then_some(out)
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
        to_hex(&self.0)
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        from_hex(text).map(Self)
    }
}

/// Lowercase hex, two digits a byte: how the store keeps nonces and digests.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Exactly `N` bytes from `2N` hex digits (either case), or None.
pub(crate) fn from_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut bytes = [0; N];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(bytes)
}

/// What the store keeps next to a booking so its owner can be recognised: the nonce the
/// reference is derived from, when the booking was made (the retry window), and the digest of
/// the `Idempotency-Key` it was made with (kept for the retry window only).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BookingOwnership {
    pub nonce: ReferenceNonce,
    pub booked_at: SystemTime,
    /// None when the booking was made without a key, its retry window is over, or the read
    /// (`GET`, cancel) does not need it.
    pub retry_key: Option<RetryKeyDigest>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_references_are_grouped_crockford_and_forgive_what_people_mistype() {
        let mac = [0xfb; 32];
        let reference = BookingReference::from_mac(&mac);
        let text = reference.expose().to_owned();
        assert_eq!(text.len(), BookingReference::GROUPED_LEN);
        assert_eq!(text.split('-').count(), 6);
        assert!(text.split('-').all(|group| group.len() == 4), "{text}");
        assert!(
            text.bytes().all(|b| b == b'-' || CROCKFORD.contains(&b)),
            "{text}"
        );
        assert_eq!(reference.proof(), &mac[..15]);
        // What a helpline hears, a phone keyboard types, or a pen writes down.
        let spaced = text.replace('-', " ");
        let squashed = text.replace('-', "");
        let lower = text.to_ascii_lowercase();
        let misread = text.replace('0', "O").replace('1', "l");
        for typed in [
            &text,
            &spaced,
            &squashed,
            &lower,
            &misread,
            &format!("  {text} "),
        ] {
            assert_eq!(
                BookingReference::parse(typed)
                    .as_ref()
                    .map(BookingReference::proof),
                Some(&mac[..15]),
                "{typed:?}"
            );
        }
        for bad in [
            "",
            &text[..text.len() - 1],
            &format!("{text}A"),
            &text.replacen(|c: char| c.is_ascii_alphanumeric(), "U", 1),
            &text.replacen(|c: char| c.is_ascii_alphanumeric(), "*", 1),
        ] {
            assert!(BookingReference::parse(bad).is_none(), "{bad:?}");
        }
        assert_eq!(format!("{reference:?}"), "BookingReference(<redacted>)");
    }

    #[test]
    fn every_grouped_reference_has_one_spelling() {
        // 15 bytes are 120 bits: 24 symbols, no leftover bits, so two spellings never decode
        // to the same proof, and every proof round-trips.
        for seed in 0..=255u8 {
            let mac = [seed; 32];
            let reference = BookingReference::from_mac(&mac);
            assert_eq!(
                BookingReference::parse(reference.expose()),
                Some(reference.clone())
            );
        }
    }

    #[test]
    fn references_issued_before_still_parse_on_all_their_bits() {
        let mac = [0xfb; 32];
        let legacy = URL_SAFE_NO_PAD.encode(mac);
        assert_eq!(legacy.len(), BookingReference::LEGACY_LEN);
        let parsed = BookingReference::parse(&legacy).unwrap();
        assert_eq!(parsed.proof(), &mac[..]);
        assert_eq!(parsed.expose(), legacy);
        let mut last_bits_set = legacy.clone();
        last_bits_set.replace_range(42.., "_");
        for bad in [&legacy[..42], &legacy.replace('-', "+"), &last_bits_set] {
            assert!(BookingReference::parse(bad).is_none(), "{bad:?}");
        }
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
