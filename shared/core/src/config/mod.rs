//! What every crate's settings share: the error that names the variable at fault, and the
//! small parsers they are read with. Each backend crate reads its own variables (listed at the
//! top of its `config` module) through a lookup function, so nothing here touches the process
//! environment and tests pass their own.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid configuration: {variable} {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

/// A lookup that answers from `pairs` only: a whole environment in a test.
pub fn fixed_lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    move |name| {
        pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    }
}

/// A whole number in `range`, or `default` when the variable is unset or empty.
pub fn bounded_number(
    lookup: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let Some(value) = lookup(variable).filter(|value| !value.trim().is_empty()) else {
        return Ok(default);
    };
    match value.trim().parse::<u64>() {
        Ok(number) if range.contains(&number) => Ok(number),
        _ => Err(ConfigError {
            variable,
            problem: format!(
                "must be a whole number from {} to {}, got {value:?}",
                range.start(),
                range.end()
            ),
        }),
    }
}
pub mod aws;
pub mod check_in;
pub mod identity;
pub mod references;
pub mod waiting_room;

pub use aws::AwsEnvironment;
pub use identity::{IdentityConfig, IdentityMode, JwksSource, JwtSettings};
pub use references::ReferenceKey;
pub use waiting_room::{WaitingRoomConfig, inlet_settings};
