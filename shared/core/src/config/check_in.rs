//! The key the slip's check-in codes are signed with. Variables: `CHECKIN_KEY` (an Ed25519
//! seed, 64 hex digits: `openssl rand -hex 32`), and `LAMBDA_TASK_ROOT` to tell a deployed
//! function from a local run.
use super::ConfigError;
use crate::check_in::CheckInKey;

pub const CHECKIN_KEY: &str = "CHECKIN_KEY";
/// Used only off AWS when no key is set. Public, so codes signed with it prove nothing.
const DEVELOPMENT_SEED: [u8; 32] = *b"development check-in key: public";

/// The configured key; in AWS Lambda one must be set, elsewhere the public development key
/// stands in (with a WARN line).
pub fn check_in_key(lookup: impl Fn(&str) -> Option<String>) -> Result<CheckInKey, ConfigError> {
    let deployed = lookup("LAMBDA_TASK_ROOT").is_some_and(|root| !root.is_empty());
    match lookup(CHECKIN_KEY).filter(|value| !value.trim().is_empty()) {
        Some(hex) => {
            let hex = hex.trim();
            let seed: Option<[u8; 32]> = (hex.len() == 64)
                .then(|| {
                    (0..32)
                        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
                        .collect::<Option<Vec<u8>>>()
                })
                .flatten()
                .and_then(|bytes| bytes.try_into().ok());
            seed.map(|seed| CheckInKey::from_seed(&seed))
                .ok_or_else(|| ConfigError {
                    variable: CHECKIN_KEY,
                    problem: "must be 64 hex digits, an Ed25519 seed (`openssl rand -hex 32`)"
                        .into(),
                })
        }
        None if deployed => Err(ConfigError {
            variable: CHECKIN_KEY,
            problem: "is required in AWS Lambda (a key of the keys secret)".into(),
        }),
        None => {
            tracing::warn!(
                "{CHECKIN_KEY} is not set: check-in codes use the public development key"
            );
            Ok(CheckInKey::from_seed(&DEVELOPMENT_SEED))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::fixed_lookup;

    #[test]
    fn the_key_is_64_hex_digits_and_required_in_lambda_only() {
        let hex = "ab".repeat(32);
        assert!(check_in_key(fixed_lookup(&[(CHECKIN_KEY, &hex)])).is_ok());
        assert!(
            check_in_key(fixed_lookup(&[])).is_ok(),
            "locally: the development key"
        );
        for bad in ["ab", &"zz".repeat(32), &"ab".repeat(33)] {
            assert_eq!(
                check_in_key(fixed_lookup(&[(CHECKIN_KEY, bad)]))
                    .unwrap_err()
                    .variable,
                CHECKIN_KEY
            );
        }
        assert_eq!(
            check_in_key(fixed_lookup(&[("LAMBDA_TASK_ROOT", "/var/task")]))
                .unwrap_err()
                .variable,
            CHECKIN_KEY
        );
    }
}
