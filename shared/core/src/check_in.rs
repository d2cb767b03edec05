//! The check-in code on a booking's slip: what a vaccination centre scans at the door. It says
//! which booking, on which date, at which centre, and is signed with Ed25519 so that a centre
//! checks it offline with the public key alone (no network at the door, no secret there). It
//! carries no name, phone or address, and of the ID only its last four digits, so the desk can
//! match it against the MyKad shown.
//!
//! Format: `VB1.` + base64url(payload) + `.` + base64url(signature), where the payload is
//! `{booking number}|{date YYYYMMDD}|{location}|{last four of the ID}` and the signature is over
//! `vaccine-booking/check-in/v1\0` followed by the payload. The booking number is 8 Crockford
//! symbols derived from the booking's nonce: a new one for every booking, unlinkable to the ID.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::domain::{Booking, ReferenceNonce};

const PREFIX: &str = "VB1.";
const CONTEXT: &[u8] = b"vaccine-booking/check-in/v1\0";

/// Signs check-in codes (`CHECKIN_KEY`, an Ed25519 seed). Debug shows only the public key.
#[derive(Clone)]
pub struct CheckInKey(SigningKey);

impl std::fmt::Debug for CheckInKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CheckInKey(public {})", self.public_key_text())
    }
}

impl CheckInKey {
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(seed))
    }

    /// What centres are given to check codes with: the 32-byte public key, base64url.
    pub fn public_key_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.verifying_key().as_bytes())
    }

    /// The code for `booking`, held under `nonce`.
    pub fn code(&self, booking: &Booking, nonce: &ReferenceNonce) -> String {
        let id = booking.mysejahtera_id.as_str();
        let payload = format!(
            "{}|{}|{}|{}",
            booking_number(nonce),
            booking.date,
            booking.location,
            &id[id.len().saturating_sub(4)..]
        );
        let signature = self.0.sign(&signed(payload.as_bytes()));
        format!(
            "{PREFIX}{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )
    }
}

/// What a verified code says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckIn {
    pub booking_number: String,
    pub date: String,
    pub location: String,
    pub id_last_four: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckInError {
    #[error("not a check-in code")]
    Malformed,
    #[error("the signature is not this key's: the code was forged or altered")]
    BadSignature,
    #[error("not a public key (32 bytes, base64url)")]
    BadPublicKey,
}

/// A centre's check, offline: the code's fields if `public_key` (base64url) signed it.
pub fn verify(public_key: &str, code: &str) -> Result<CheckIn, CheckInError> {
    let key: [u8; 32] = URL_SAFE_NO_PAD
        .decode(public_key.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(CheckInError::BadPublicKey)?;
    let key = VerifyingKey::from_bytes(&key).map_err(|_| CheckInError::BadPublicKey)?;
    let (payload, signature) = code
        .trim()
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once('.'))
        .ok_or(CheckInError::Malformed)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| CheckInError::Malformed)?;
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(signature)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(CheckInError::Malformed)?;
    key.verify(&signed(&payload), &Signature::from_bytes(&signature))
        .map_err(|_| CheckInError::BadSignature)?;
    let payload = String::from_utf8(payload).map_err(|_| CheckInError::Malformed)?;
    let fields: Vec<&str> = payload.split('|').collect();
    let [number, date, location, last_four] = fields[..] else {
        return Err(CheckInError::Malformed);
    };
    Ok(CheckIn {
        booking_number: number.to_owned(),
        date: date.to_owned(),
        location: location.to_owned(),
        id_last_four: last_four.to_owned(),
    })
}

fn signed(payload: &[u8]) -> Vec<u8> {
    [CONTEXT, payload].concat()
}

/// 8 Crockford symbols (40 bits) from the nonce: what a centre's log calls the booking.
pub fn booking_number(nonce: &ReferenceNonce) -> String {
    const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let digest = Sha256::digest(
        [
            b"vaccine-booking/booking-number/v1\0".as_slice(),
            nonce.as_bytes(),
        ]
        .concat(),
    );
    let bits = digest[..5]
        .iter()
        .fold(0u64, |bits, byte| bits << 8 | u64::from(*byte));
    (0..8)
        .rev()
        .map(|i| CROCKFORD[(bits >> (5 * i) & 31) as usize] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::valid_request;

    #[test]
    fn a_code_verifies_with_the_public_key_only_unaltered() {
        let key = CheckInKey::from_seed(&[7; 32]);
        let booking = Booking::parse(&valid_request()).unwrap();
        let nonce = ReferenceNonce::random().unwrap();
        let code = key.code(&booking, &nonce);
        let checked = verify(&key.public_key_text(), &code).unwrap();
        assert_eq!(checked.date, "20210516");
        assert_eq!(checked.location, "PWTC");
        assert_eq!(checked.id_last_four, "5527");
        assert_eq!(checked.booking_number, booking_number(&nonce));
        assert_eq!(checked.booking_number.len(), 8);
        for personal in ["Fadhil", "Yaacob", "Kuala", "0123456789", "900127"] {
            let decoded = String::from_utf8(
                URL_SAFE_NO_PAD
                    .decode(code.split('.').nth(1).unwrap())
                    .unwrap(),
            )
            .unwrap();
            assert!(!decoded.contains(personal), "{personal} in {decoded}");
        }
        let other = CheckInKey::from_seed(&[8; 32]);
        assert_eq!(
            verify(&other.public_key_text(), &code),
            Err(CheckInError::BadSignature)
        );
        // Another date written in keeps the old signature: refused.
        let (head, signature) = code.rsplit_once('.').unwrap();
        let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(&head[4..]).unwrap()).unwrap();
        let moved = format!(
            "VB1.{}.{signature}",
            URL_SAFE_NO_PAD.encode(payload.replace("20210516", "20210517"))
        );
        assert_eq!(
            verify(&key.public_key_text(), &moved),
            Err(CheckInError::BadSignature)
        );
        for bad in ["", "VB1.", "VB2.x.y", &code[..code.len() - 3]] {
            assert!(verify(&key.public_key_text(), bad).is_err(), "{bad:?}");
        }
        assert_eq!(verify("short", &code), Err(CheckInError::BadPublicKey));
        assert!(!format!("{key:?}").contains("[7"), "the seed never prints");
    }

    #[test]
    fn booking_numbers_differ_per_booking() {
        let a = ReferenceNonce::random().unwrap();
        let b = ReferenceNonce::random().unwrap();
        assert_ne!(booking_number(&a), booking_number(&b));
        assert_eq!(booking_number(&a), booking_number(&a));
    }
}
