//! The key booking references are derived with. Variables: `BOOKING_REFERENCE_KEY`, and
//! `LAMBDA_TASK_ROOT` to tell a deployed function from a local run.
use super::ConfigError;

/// The secret booking references are derived with (`BOOKING_REFERENCE_KEY`). Every container
/// must hold the same one, or a reference from one would fail in another: so, unlike
/// `LOG_HASH_KEY`, no random key per process.
pub const BOOKING_REFERENCE_KEY: &str = "BOOKING_REFERENCE_KEY";
/// Shorter keys are refused: the key is all that stands between a MySejahtera ID and its booking.
pub const MIN_REFERENCE_KEY_LEN: usize = 32;
/// Used only off AWS when no key is set (`make run`, tests, `cargo lambda watch`). It is public,
/// so references made with it protect nothing.
const DEVELOPMENT_REFERENCE_KEY: &str =
    "development only: booking references made with this key are public";

#[derive(Clone, PartialEq, Eq)]
pub struct ReferenceKey {
    pub key: Vec<u8>,
    /// True when the public development key stands in for a missing setting.
    pub development: bool,
}

impl std::fmt::Debug for ReferenceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferenceKey")
            .field("key", &"<redacted>")
            .field("development", &self.development)
            .finish()
    }
}

impl ReferenceKey {
    /// Deployed means running in AWS Lambda, which sets `LAMBDA_TASK_ROOT` in every runtime.
    /// Not `AWS_LAMBDA_FUNCTION_NAME`: `cargo lambda watch` sets that one too, and local runs
    /// must work without a secret.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let deployed = lookup("LAMBDA_TASK_ROOT").is_some_and(|root| !root.is_empty());
        match lookup(BOOKING_REFERENCE_KEY).filter(|key| !key.is_empty()) {
            Some(key) if key.len() >= MIN_REFERENCE_KEY_LEN => Ok(Self {
                key: key.into_bytes(),
                development: false,
            }),
            Some(_) => Err(ConfigError {
                variable: BOOKING_REFERENCE_KEY,
                problem: format!(
                    "must be at least {MIN_REFERENCE_KEY_LEN} characters (e.g. `openssl rand -hex 32`)"
                ),
            }),
            None if deployed => Err(ConfigError {
                variable: BOOKING_REFERENCE_KEY,
                problem: "is required in AWS Lambda (a key of the settings secret, the same for \
                          every function)"
                    .into(),
            }),
            None => Ok(Self {
                key: DEVELOPMENT_REFERENCE_KEY.as_bytes().to_vec(),
                development: true,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_key_is_required_in_lambda_only() {
        let key = "k".repeat(MIN_REFERENCE_KEY_LEN);
        type Settings<'a> = Vec<(&'a str, &'a str)>;
        let cases: Vec<(Settings, Result<bool, ()>)> = vec![
            (vec![], Ok(true)),
            (vec![("AWS_LAMBDA_FUNCTION_NAME", "get-booking")], Ok(true)),
            (vec![(BOOKING_REFERENCE_KEY, &key)], Ok(false)),
            (
                vec![
                    (BOOKING_REFERENCE_KEY, &key),
                    ("LAMBDA_TASK_ROOT", "/var/task"),
                ],
                Ok(false),
            ),
            (vec![("LAMBDA_TASK_ROOT", "/var/task")], Err(())),
            (
                vec![
                    (BOOKING_REFERENCE_KEY, ""),
                    ("LAMBDA_TASK_ROOT", "/var/task"),
                ],
                Err(()),
            ),
            (vec![(BOOKING_REFERENCE_KEY, "short")], Err(())),
        ];
        for (settings, expected) in cases {
            let got = ReferenceKey::from_lookup(|name| {
                settings
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            });
            match (got, expected) {
                (Ok(got), Ok(development)) => {
                    assert_eq!(got.development, development, "{settings:?}");
                    if !development {
                        assert_eq!(got.key, key.as_bytes(), "{settings:?}");
                    }
                    assert!(!format!("{got:?}").contains(&key), "Debug redacts the key");
                }
                (Err(error), Err(())) => {
                    assert_eq!(error.variable, BOOKING_REFERENCE_KEY, "{settings:?}")
                }
                (got, _) => panic!("{settings:?}: got {got:?}"),
            }
        }
    }
}
