//! Use case: only the person who booked may read or cancel the booking.
//!
//! A booking reference is `base64url(HMAC-SHA256(key, id || nonce))`: the key is a server-side
//! secret (`BOOKING_REFERENCE_KEY`), the nonce is drawn per booking and kept by the store. So
//! the store alone can neither produce a reference nor check a guess; a retry within the window
//! can be answered with the same reference; a cancel deletes the nonce, which kills the old
//! reference, and a rebook draws a new one.
use std::fmt;
use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::references::{BOOKING_REFERENCE_KEY, ReferenceKey};
use crate::domain::{
    BookingReference, IdempotencyKey, MySejahteraId, ReferenceNonce, RetryKeyDigest,
};

/// How long after a booking its identical retry still shows the reference, so a client that
/// lost the 201 is not locked out; later retries get the booking without it.
pub const REFERENCE_RETRY_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Derives and checks booking references under the server-side key.
#[derive(Clone)]
pub struct BookingReferences {
    key: Vec<u8>,
}

impl fmt::Debug for BookingReferences {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BookingReferences(<key redacted>)")
    }
}

impl BookingReferences {
    pub fn new(key: impl Into<Vec<u8>>) -> Self {
        Self { key: key.into() }
    }

    /// Under the configured key (`BOOKING_REFERENCE_KEY`); warns when the public development
    /// key stands in for a missing one.
    pub fn configured(setting: ReferenceKey) -> Self {
        if setting.development {
            tracing::warn!(
                "{BOOKING_REFERENCE_KEY} is not set: booking references use the public \
                 development key; set it anywhere real people book"
            );
        }
        Self::new(setting.key)
    }

    /// An HMAC under the key for one use: the label keeps these MACs apart from any other
    /// use of the same key.
    fn keyed(&self, label: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(label);
        mac
    }

    fn mac(&self, id: &MySejahteraId, nonce: &ReferenceNonce) -> Hmac<Sha256> {
        // The nonce has a fixed length, so `id || nonce` is unambiguous.
        let mut mac = self.keyed(b"booking-reference/v1\0");
        mac.update(id.as_str().as_bytes());
        mac.update(nonce.as_bytes());
        mac
    }

    fn retry_key_mac(&self, id: &MySejahteraId, key: &IdempotencyKey) -> Hmac<Sha256> {
        // Neither an ID nor a key holds a NUL, so `id || 0 || key` is unambiguous.
        let mut mac = self.keyed(b"idempotency-key/v1\0");
        mac.update(id.as_str().as_bytes());
        mac.update(b"\0");
        mac.update(key.as_bytes());
        mac
    }

    /// What the store keeps of the `Idempotency-Key` a booking was made with: Redis alone can
    /// neither show the key nor check a guess of it.
    pub fn retry_key_digest(&self, id: &MySejahteraId, key: &IdempotencyKey) -> RetryKeyDigest {
        RetryKeyDigest::new(self.retry_key_mac(id, key).finalize().into_bytes().into())
    }

    /// Whether a retry's key is the one the booking was made with, in constant time.
    pub fn same_retry_key(
        &self,
        id: &MySejahteraId,
        presented: &IdempotencyKey,
        stored: &RetryKeyDigest,
    ) -> bool {
        self.retry_key_mac(id, presented)
            .verify_slice(stored.as_bytes())
            .is_ok()
    }

    pub fn reference(&self, id: &MySejahteraId, nonce: &ReferenceNonce) -> BookingReference {
        BookingReference::from_mac(&self.mac(id, nonce).finalize().into_bytes().into())
    }

    /// In constant time: how much of a guess matched never shows in the answer's timing.
    pub fn verify(
        &self,
        id: &MySejahteraId,
        nonce: &ReferenceNonce,
        presented: &BookingReference,
    ) -> bool {
        // A grouped reference proves the MAC's first 120 bits, an older one all of it.
        self.mac(id, nonce)
            .verify_truncated_left(presented.proof())
            .is_ok()
    }

    /// Whether a retry at `now` of a booking made at `booked_at` still shows its reference.
    /// Clocks of different containers may disagree a little: a booking time in the future
    /// counts as just made.
    pub fn within_retry_window(booked_at: SystemTime, now: SystemTime) -> bool {
        now.duration_since(booked_at)
            .map_or(true, |elapsed| elapsed <= REFERENCE_RETRY_WINDOW)
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;

    fn id(raw: &str) -> MySejahteraId {
        MySejahteraId::parse(raw).unwrap()
    }

    #[test]
    fn a_reference_verifies_only_for_its_id_nonce_and_key() {
        let references = BookingReferences::new(b"k".repeat(32));
        let nonce = ReferenceNonce::random().unwrap();
        let reference = references.reference(&id("900127015527"), &nonce);
        assert_eq!(
            reference,
            references.reference(&id("900127015527"), &nonce),
            "the same booking derives the same reference"
        );
        assert!(references.verify(&id("900127015527"), &nonce, &reference));

        let other_nonce = ReferenceNonce::random().unwrap();
        let other_key = BookingReferences::new(b"o".repeat(32));
        assert!(!references.verify(&id("900127015528"), &nonce, &reference));
        assert!(!references.verify(&id("900127015527"), &other_nonce, &reference));
        assert!(!other_key.verify(&id("900127015527"), &nonce, &reference));
        let random = BookingReference::from_mac(&[7; 32]);
        assert!(!references.verify(&id("900127015527"), &nonce, &random));
        // A reference issued before the grouped form: the whole MAC, still good.
        let mac = references
            .mac(&id("900127015527"), &nonce)
            .finalize()
            .into_bytes();
        let legacy = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac);
        let legacy = BookingReference::parse(&legacy).unwrap();
        assert!(references.verify(&id("900127015527"), &nonce, &legacy));
        assert!(!references.verify(&id("900127015527"), &other_nonce, &legacy));
        // The grouped form as typed over the phone.
        let typed = BookingReference::parse(&reference.expose().to_ascii_lowercase()).unwrap();
        assert!(references.verify(&id("900127015527"), &nonce, &typed));
    }

    #[test]
    fn a_retry_key_matches_only_its_key_id_and_server_key() {
        let references = BookingReferences::new(b"k".repeat(32));
        let key = |raw: &str| IdempotencyKey::parse(raw.as_bytes()).unwrap();
        let stored = references.retry_key_digest(&id("900127015527"), &key("attempt-1"));
        assert!(references.same_retry_key(&id("900127015527"), &key("attempt-1"), &stored));
        assert!(!references.same_retry_key(&id("900127015527"), &key("attempt-2"), &stored));
        assert!(!references.same_retry_key(&id("900127015528"), &key("attempt-1"), &stored));
        let other_key = BookingReferences::new(b"o".repeat(32));
        assert!(!other_key.same_retry_key(&id("900127015527"), &key("attempt-1"), &stored));
        // Kept apart from references made under the same key.
        let nonce = ReferenceNonce::random().unwrap();
        assert_ne!(
            &stored.as_bytes()[..15],
            references.reference(&id("900127015527"), &nonce).proof()
        );
    }

    #[test]
    fn the_retry_window_is_fifteen_minutes_from_the_booking() {
        let booked = SystemTime::UNIX_EPOCH + Duration::from_secs(1_621_152_000);
        let cases = [
            (Duration::ZERO, true),
            (Duration::from_secs(14 * 60 + 59), true),
            (REFERENCE_RETRY_WINDOW, true),
            (REFERENCE_RETRY_WINDOW + Duration::from_millis(1), false),
            (Duration::from_secs(24 * 3600), false),
        ];
        for (elapsed, expected) in cases {
            assert_eq!(
                BookingReferences::within_retry_window(booked, booked + elapsed),
                expected,
                "{elapsed:?}"
            );
        }
        assert!(BookingReferences::within_retry_window(
            booked,
            booked - Duration::from_secs(2)
        ));
    }
}
