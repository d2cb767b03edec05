//! The pseudonym logged instead of a MySejahtera ID: the first 64 bits of HMAC-SHA256 under a
//! key from `LOG_HASH_KEY`, in hex.
//!
//! Why keyed: an ID is 12 digits, six of them a birth date, so an unkeyed hash is reversed by
//! hashing every plausible ID (well under 10^9 tries, seconds on a laptop). Why not a masked
//! form such as `9001******27`: it still shows birth year and month, and two people often share
//! it, so it neither hides nor identifies well. With the key, an operator handling a complaint
//! computes the person's pseudonym (README) and finds their lines; without it, the logs name no
//! one. Without `LOG_HASH_KEY` each process draws a random key: pseudonyms then match only
//! within one container, which is still safe, merely less useful.
use std::fmt;
use std::sync::OnceLock;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;

use crate::domain::MySejahteraId;

pub const KEY_VARIABLE: &str = "LOG_HASH_KEY";

// Secret: whoever holds it can tell which pseudonym is which person; Debug prints [REDACTED].
static KEY: OnceLock<SecretSlice<u8>> = OnceLock::new();

fn key() -> &'static [u8] {
    KEY.get_or_init(|| key_from(None)).expose_secret()
}

fn key_from(configured: Option<String>) -> SecretSlice<u8> {
    match configured {
        Some(key) if !key.is_empty() => key.into_bytes().into(),
        _ => {
            let random = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()];
            random
                .iter()
                .flat_map(|u| u.into_bytes())
                .collect::<Vec<u8>>()
                .into()
        }
    }
}

/// Sets the key at start-up (from `LOG_HASH_KEY`, read by the caller), so the first booking
/// does not pay for it and a missing key is reported once per container rather than never. A
/// second call keeps the first key.
pub fn init_key(configured: Option<String>) {
    if configured.as_deref().is_none_or(str::is_empty) {
        tracing::warn!(
            "{KEY_VARIABLE} is not set: person pseudonyms in the logs match only within this process"
        );
    }
    let _ = KEY.set(key_from(configured));
}

/// A person as the logs show them. Displays as 16 hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonRef(String);

impl fmt::Display for PersonRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn person(id: &MySejahteraId) -> PersonRef {
    PersonRef(pseudonym(key(), id.as_str()))
}

fn pseudonym(key: &[u8], id: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(id.as_bytes());
    mac.finalize().into_bytes()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_never_prints() {
        let key = key_from(Some("hunter2-log-key".into()));
        assert_eq!(key.expose_secret(), b"hunter2-log-key");
        let shown = format!("{key:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        let bytes: String = b"hunter2".iter().map(|b| format!("{b}")).collect();
        assert!(!shown.replace(", ", "").contains(&bytes), "{shown}");
    }

    #[test]
    fn pseudonyms_are_keyed_hmac_sha256_prefixes() {
        // `printf %s 900127015527 | openssl dgst -sha256 -hmac secret`, first 16 hex digits:
        // the README's recipe for operators must give the same answer.
        assert_eq!(pseudonym(b"secret", "900127015527"), "f4529e168b1fa415");
        assert_ne!(
            pseudonym(b"other", "900127015527"),
            pseudonym(b"secret", "900127015527")
        );
        assert_ne!(
            pseudonym(b"secret", "900127015528"),
            pseudonym(b"secret", "900127015527")
        );
    }

    #[test]
    fn a_person_never_shows_their_id() {
        let id = MySejahteraId::parse("900127015527").unwrap();
        let shown = person(&id).to_string();
        assert_eq!(shown.len(), 16);
        assert!(!shown.contains("900127015527"));
        assert_eq!(shown, person(&id).to_string(), "stable within a process");
    }
}
