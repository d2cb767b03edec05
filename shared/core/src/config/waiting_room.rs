//! The waiting room's settings. Variables: `WAITING_ROOM`, `ADMISSION_KEY`, `QUEUE_INLET_MODE`,
//! `QUEUE_INLET_RATE`.
use super::ConfigError;

/// Signs the waiting room's tickets and tokens when `ADMISSION_KEY` is not set and the room is
/// off: then nothing depends on them (bookings need no token), and local runs work with no
/// secret. Public, so never good enough for a room that is on.
pub const LOCAL_ADMISSION_KEY: &str = "local-only admission key: never used with WAITING_ROOM=on";
/// The inlet's rate when `QUEUE_INLET_RATE` is not set: people per minute (see README, "Opening
/// day").
pub const DEFAULT_QUEUE_INLET_RATE: u64 = 30_000;
const MIN_ADMISSION_KEY_BYTES: usize = 32;

/// The waiting room's settings: `WAITING_ROOM` (`off` by default, `on` requires an admission
/// token on `POST /booking`), `ADMISSION_KEY` (required when on), `QUEUE_INLET_MODE` (`rate` by
/// default, or `capacity`) and `QUEUE_INLET_RATE` (people per minute).
#[derive(Clone, PartialEq, Eq)]
pub struct WaitingRoomConfig {
    pub room_on: bool,
    pub admission_key: Vec<u8>,
    pub inlet: crate::waiting_room::InletSettings,
}

impl std::fmt::Debug for WaitingRoomConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitingRoomConfig")
            .field("room_on", &self.room_on)
            .field("inlet", &self.inlet)
            .finish_non_exhaustive()
    }
}

impl WaitingRoomConfig {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let room_on = match set("WAITING_ROOM").as_deref().map(str::trim) {
            None | Some("off") => false,
            Some("on") => true,
            Some(other) => {
                return Err(ConfigError {
                    variable: "WAITING_ROOM",
                    problem: format!("must be on or off, not {other:?}"),
                });
            }
        };
        let admission_key = match set("ADMISSION_KEY") {
            Some(key) if key.len() >= MIN_ADMISSION_KEY_BYTES => key.into_bytes(),
            Some(_) => {
                return Err(ConfigError {
                    variable: "ADMISSION_KEY",
                    problem: format!(
                        "must be at least {MIN_ADMISSION_KEY_BYTES} characters (a random secret)"
                    ),
                });
            }
            None if room_on => {
                return Err(ConfigError {
                    variable: "ADMISSION_KEY",
                    problem: "is required when WAITING_ROOM=on".into(),
                });
            }
            None => LOCAL_ADMISSION_KEY.as_bytes().to_vec(),
        };
        let inlet = inlet_settings(&lookup)?;
        Ok(Self {
            room_on,
            admission_key,
            inlet,
        })
    }
}

/// The inlet's settings alone, for the inlet function (which needs no key):
/// `QUEUE_INLET_MODE` (`rate` by default, or `capacity`) and `QUEUE_INLET_RATE`.
pub fn inlet_settings(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<crate::waiting_room::InletSettings, ConfigError> {
    use crate::waiting_room::{InletMode, InletSettings};
    let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
    let mode = match set("QUEUE_INLET_MODE").as_deref().map(str::trim) {
        None | Some("rate") => InletMode::Rate,
        Some("capacity") => InletMode::Capacity,
        Some(other) => {
            return Err(ConfigError {
                variable: "QUEUE_INLET_MODE",
                problem: format!("must be rate or capacity, not {other:?}"),
            });
        }
    };
    let people_per_minute = match set("QUEUE_INLET_RATE") {
        None => DEFAULT_QUEUE_INLET_RATE,
        Some(rate) => rate.trim().parse().map_err(|_| ConfigError {
            variable: "QUEUE_INLET_RATE",
            problem: format!("must be a whole number of people per minute, not {rate:?}"),
        })?,
    };
    Ok(InletSettings {
        mode,
        people_per_minute,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::fixed_lookup as lookup;

    type Settings = &'static [(&'static str, &'static str)];

    use super::*;

    #[test]
    fn waiting_room_settings_default_off_and_name_the_variable_at_fault() {
        use crate::waiting_room::InletMode;
        let off = WaitingRoomConfig::from_lookup(lookup(&[])).unwrap();
        assert!(!off.room_on);
        assert_eq!(off.admission_key, LOCAL_ADMISSION_KEY.as_bytes());
        assert_eq!(off.inlet.mode, InletMode::Rate);
        assert_eq!(off.inlet.people_per_minute, DEFAULT_QUEUE_INLET_RATE);
        let key = "0123456789abcdef0123456789abcdef";
        let on = WaitingRoomConfig::from_lookup(lookup(&[
            ("WAITING_ROOM", "on"),
            ("ADMISSION_KEY", "0123456789abcdef0123456789abcdef"),
            ("QUEUE_INLET_MODE", "capacity"),
            ("QUEUE_INLET_RATE", "1200"),
        ]))
        .unwrap();
        assert!(on.room_on);
        assert_eq!(on.admission_key, key.as_bytes());
        assert_eq!(on.inlet.mode, InletMode::Capacity);
        assert_eq!(on.inlet.people_per_minute, 1200);
        let failures: [(Settings, &str); 5] = [
            (&[("WAITING_ROOM", "on")], "ADMISSION_KEY"),
            (&[("WAITING_ROOM", "yes")], "WAITING_ROOM"),
            (&[("ADMISSION_KEY", "short")], "ADMISSION_KEY"),
            (&[("QUEUE_INLET_MODE", "fast")], "QUEUE_INLET_MODE"),
            (&[("QUEUE_INLET_RATE", "-5")], "QUEUE_INLET_RATE"),
        ];
        for (settings, variable) in failures {
            let error = WaitingRoomConfig::from_lookup(lookup(settings)).unwrap_err();
            assert_eq!(error.variable, variable, "{settings:?}");
        }
    }
}
