//! What `IDENTITY=otp` adds to each act for a person, on this machine: verifying the identity
//! token (HS256, the template's default mode), next to checking a booking reference (one HMAC,
//! which every read, move and cancel already pays). Figures, not a test: compare the two as a
//! ratio within one run.
//!
//! `cargo run --release -q -p booking-core --example identity_cost`
use std::time::{Duration, Instant, SystemTime};

use booking_core::config::{IdentityConfig, fixed_lookup};
use booking_core::domain::{MySejahteraId, PhoneNumber, ReferenceNonce};
use booking_core::identity::{IdentityCheck, Presented};
use booking_core::identity_token::{IdentityKey, IdentityTokens};
use booking_core::ownership::BookingReferences;

const ROUNDS: u32 = 20_000;

fn per_call(rounds: u32, mut call: impl FnMut()) -> Duration {
    for _ in 0..rounds / 10 {
        call();
    }
    let start = Instant::now();
    for _ in 0..rounds {
        call();
    }
    start.elapsed() / rounds
}

fn main() {
    let key = "figures only: an identity token key of 32+ characters";
    let lookup = fixed_lookup(&[("IDENTITY", "otp"), ("IDENTITY_TOKEN_KEY", key)]);
    let check = IdentityCheck::configured(&IdentityConfig::from_lookup(lookup).unwrap(), None)
        .expect("otp mode");
    let tokens = IdentityTokens::new(IdentityKey::new(key), Duration::from_secs(900));
    let id = MySejahteraId::parse("900127015527").unwrap();
    let phone = PhoneNumber::parse("0123456789").unwrap();
    let token = tokens.issue(&id, &phone, SystemTime::now());
    let presented = Presented {
        verified_claims: None,
        token: Some(&token),
    };
    let verify = per_call(ROUNDS, || {
        check.authorize(presented, &id).expect("own token");
    });

    let references = BookingReferences::new("figures only: a booking reference key of 32+");
    let nonce = ReferenceNonce::random().unwrap();
    let reference = references.reference(&id, &nonce);
    let reference_check = per_call(ROUNDS, || {
        assert!(references.verify(&id, &nonce, &reference));
    });
    println!(
        "identity token check (HS256): {:>6.1} us per act\n\
         booking reference check:      {:>6.1} us per act\n\
         ratio: {:.1}x",
        verify.as_secs_f64() * 1e6,
        reference_check.as_secs_f64() * 1e6,
        verify.as_secs_f64() / reference_check.as_secs_f64()
    );
}
