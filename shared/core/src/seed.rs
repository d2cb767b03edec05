//! Use case: create stations and their daily slots, once, without ever re-opening booked slots.
use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::domain::{Location, SlotDate, StationDetails, ValidationError};
use crate::ports::{SeedStore, StationPlan, StoreError};

/// The committed default data set, seeded when the event leaves a field out.
pub const DEFAULT_SEED_JSON: &str = include_str!("../../../data/default-seed.json");

pub const MAX_DAYS: u32 = 366;
pub const MAX_DAILY_CAPACITY: u32 = 1_000_000;
pub const MAX_STATIONS: usize = 100;

/// The seed function's event; every field is optional (see `DEFAULT_SEED_JSON`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stations: Option<Vec<StationCapacity>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StationCapacity {
    pub location: String,
    pub daily_capacity: u32,
    /// What the booking page lists the station as; left out, the station keeps the name it had
    /// (or has none, and is listed by its code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where it is; left out, the station keeps the address it had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl StationCapacity {
    /// A station known by its code alone.
    pub fn new(location: impl Into<String>, daily_capacity: u32) -> Self {
        Self {
            location: location.into(),
            daily_capacity,
            name: None,
            address: None,
        }
    }
}

/// The seed function's reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedReport {
    /// Per station: the capacity of every date this run wrote.
    pub slots_created: BTreeMap<String, u64>,
    pub total_slots: u64,
    /// Dates that already existed and were left as they were.
    pub dates_skipped: u32,
    /// Dates a reset left as they were because their bookings are not counted yet: run the
    /// migration (`{"migrate": true}`) first. Absent when zero.
    #[serde(skip_serializing_if = "is_zero")]
    pub dates_unmigrated: u32,
}

fn is_zero(count: &u32) -> bool {
    *count == 0
}

/// The seed function's event: a seed, the one-off migration `{"migrate": true}` that counts
/// the bookings held of data written before the count existed, or an operator's command for
/// the waiting room: `{"room": "open", "hours": 12, "maxSize": 3000000}` (both optional) or
/// `{"room": "close"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeedEvent {
    Seed(SeedRequest),
    Migrate,
    Room(RoomCommand),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "room", rename_all = "camelCase")]
pub enum RoomCommand {
    Open(OpenRoom),
    Close(CloseRoom),
}

/// A new epoch: it lives `hours` (default 12, at most a week) and gives out `maxSize` places
/// (default 3,000,000).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OpenRoom {
    pub hours: Option<u64>,
    pub max_size: Option<u64>,
}

/// The open epoch ends now. A struct of no fields, so that serde refuses any it is sent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseRoom {}

impl<'de> Deserialize<'de> for SeedEvent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        // Through a Value rather than an untagged enum, so a bad seed event keeps the error
        // that names its field.
        let value = serde_json::Value::deserialize(deserializer)?;
        if value.get("room").is_some() {
            return RoomCommand::deserialize(value)
                .map(Self::Room)
                .map_err(D::Error::custom);
        }
        match value.get("migrate") {
            Some(serde_json::Value::Bool(true))
                if value.as_object().is_some_and(|o| o.len() == 1) =>
            {
                Ok(Self::Migrate)
            }
            Some(_) => Err(D::Error::custom(
                "migrate must be true and the only field: {\"migrate\": true}",
            )),
            None => SeedRequest::deserialize(value)
                .map(Self::Seed)
                .map_err(D::Error::custom),
        }
    }
}

/// The migration's reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationReport {
    /// Dates that got a count of bookings held.
    pub dates_migrated: u32,
    /// Booking records read.
    pub bookings_counted: u64,
    /// Keys renamed from the layout before hash tags (single Redis).
    pub keys_renamed: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SeedError {
    #[error("invalid seed event: {0}")]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A validated seed: what will be written, decided before anything is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedPlan {
    pub stations: Vec<StationPlan>,
    pub reset: bool,
}

impl SeedPlan {
    /// Fills the fields the event leaves out from the default data set, then checks them all.
    pub fn parse(request: SeedRequest) -> Result<Self, ValidationError> {
        let defaults: SeedRequest =
            serde_json::from_str(DEFAULT_SEED_JSON).expect("the committed default seed parses");
        let start_raw = request
            .start_date
            .or(defaults.start_date)
            .unwrap_or_default();
        let start = SlotDate::parse_field("startDate", &start_raw)?;
        let days = request.days.or(defaults.days).unwrap_or_default();
        if !(1..=MAX_DAYS).contains(&days) {
            return Err(ValidationError::new(
                "days",
                format!("must be between 1 and {MAX_DAYS}"),
            ));
        }
        let dates = (0..days)
            .map(|offset| start.plus_days(offset))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ValidationError::new("days", "runs past the end of the calendar"))?;

        let stations = request.stations.or(defaults.stations).unwrap_or_default();
        if stations.is_empty() || stations.len() > MAX_STATIONS {
            return Err(ValidationError::new(
                "stations",
                format!("must list between 1 and {MAX_STATIONS} stations"),
            ));
        }
        let mut seen = HashSet::new();
        let stations = stations
            .into_iter()
            .map(|station| {
                let location = Location::parse(&station.location)?;
                if !seen.insert(location.clone()) {
                    return Err(ValidationError::new(
                        "location",
                        format!("{location} is listed twice"),
                    ));
                }
                if !(1..=MAX_DAILY_CAPACITY).contains(&station.daily_capacity) {
                    return Err(ValidationError::new(
                        "dailyCapacity",
                        format!("must be between 1 and {MAX_DAILY_CAPACITY}"),
                    ));
                }
                Ok(StationPlan {
                    location,
                    daily_capacity: station.daily_capacity,
                    dates: dates.clone(),
                    details: StationDetails::parse(
                        station.name.as_deref(),
                        station.address.as_deref(),
                    )?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            stations,
            reset: request.reset.unwrap_or(false),
        })
    }
}

pub struct SeedService<S> {
    store: S,
}

impl<S: SeedStore> SeedService<S> {
    pub fn new(store: S) -> Self {
        Self { store }
    }

    /// Validates the whole event before writing anything, so a bad event changes nothing.
    pub async fn seed(&self, request: SeedRequest) -> Result<SeedReport, SeedError> {
        let plan = SeedPlan::parse(request)?;
        let mut report = SeedReport::default();
        for station in &plan.stations {
            let seeded = self.store.seed_station(station, plan.reset).await?;
            let slots = u64::from(seeded.dates_written) * u64::from(station.daily_capacity);
            report
                .slots_created
                .insert(station.location.to_string(), slots);
            report.total_slots += slots;
            report.dates_skipped += seeded.dates_skipped;
            report.dates_unmigrated += seeded.dates_unmigrated;
        }
        if report.dates_unmigrated > 0 {
            tracing::warn!(
                dates = report.dates_unmigrated,
                "reset left dates without a count of bookings held as they were: run the migration"
            );
        }
        Ok(report)
    }

    /// Counts the bookings held of every date that has no count yet; see the README's
    /// "Migrating to held counts".
    pub async fn migrate(&self) -> Result<MigrationReport, SeedError> {
        let migrated = self.store.migrate_held_counts().await?;
        Ok(MigrationReport {
            dates_migrated: migrated.dates_migrated,
            bookings_counted: migrated.bookings_counted,
            keys_renamed: migrated.keys_renamed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockSeedStore, StationSeeded};

    fn station(location: &str, daily_capacity: u32) -> StationCapacity {
        StationCapacity::new(location, daily_capacity)
    }

    #[test]
    fn an_empty_event_plans_the_default_data_set() {
        let plan = SeedPlan::parse(SeedRequest::default()).unwrap();
        let codes: Vec<_> = plan.stations.iter().map(|s| s.location.as_str()).collect();
        assert_eq!(codes, ["PWTC", "UM", "IDCC"]);
        assert!(
            plan.stations
                .iter()
                .all(|s| s.details.name.is_some() && s.details.address.is_some()),
            "the default data set names its stations"
        );
        let pwtc = &plan.stations[0];
        assert_eq!(pwtc.daily_capacity, 8000);
        assert_eq!(pwtc.dates.len(), 30);
        assert_eq!(pwtc.dates[0].to_string(), "20210516");
        assert_eq!(pwtc.dates[29].to_string(), "20210614");
        assert!(!plan.reset);
    }

    #[test]
    fn given_fields_override_defaults() {
        let plan = SeedPlan::parse(SeedRequest {
            start_date: Some("20211231".into()),
            days: Some(2),
            stations: Some(vec![station("TEST", 7)]),
            reset: Some(true),
        })
        .unwrap();
        assert_eq!(plan.stations.len(), 1);
        let dates: Vec<_> = plan.stations[0]
            .dates
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert_eq!(dates, ["20211231", "20220101"]);
        assert!(plan.reset);
    }

    #[test]
    fn bad_events_name_the_field() {
        let cases = [
            (
                SeedRequest {
                    start_date: Some("20210230".into()),
                    ..Default::default()
                },
                "startDate",
            ),
            (
                SeedRequest {
                    days: Some(0),
                    ..Default::default()
                },
                "days",
            ),
            (
                SeedRequest {
                    days: Some(MAX_DAYS + 1),
                    ..Default::default()
                },
                "days",
            ),
            (
                SeedRequest {
                    stations: Some(vec![]),
                    ..Default::default()
                },
                "stations",
            ),
            (
                SeedRequest {
                    stations: Some(vec![station("a b", 1)]),
                    ..Default::default()
                },
                "location",
            ),
            (
                SeedRequest {
                    stations: Some(vec![station("A", 1), station("A", 2)]),
                    ..Default::default()
                },
                "location",
            ),
            (
                SeedRequest {
                    stations: Some(vec![station("A", 0)]),
                    ..Default::default()
                },
                "dailyCapacity",
            ),
            (
                SeedRequest {
                    stations: Some(vec![station("A", MAX_DAILY_CAPACITY + 1)]),
                    ..Default::default()
                },
                "dailyCapacity",
            ),
            (
                SeedRequest {
                    stations: Some(vec![StationCapacity {
                        name: Some(" ".into()),
                        ..station("A", 1)
                    }]),
                    ..Default::default()
                },
                "name",
            ),
            (
                SeedRequest {
                    stations: Some(vec![StationCapacity {
                        address: Some("x".repeat(301)),
                        ..station("A", 1)
                    }]),
                    ..Default::default()
                },
                "address",
            ),
        ];
        for (request, field) in cases {
            assert_eq!(
                SeedPlan::parse(request.clone()).unwrap_err().field,
                field,
                "{request:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_bad_event_writes_nothing() {
        // No expectations: any store call fails the test.
        let service = SeedService::new(MockSeedStore::new());
        let request = SeedRequest {
            days: Some(0),
            ..Default::default()
        };
        assert!(matches!(
            service.seed(request).await,
            Err(SeedError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn the_report_counts_written_and_skipped_dates() {
        let mut store = MockSeedStore::new();
        store
            .expect_seed_station()
            .withf(|plan, reset| plan.location.as_str() == "A" && plan.dates.len() == 3 && !reset)
            .times(1)
            .returning(|_, _| {
                Ok(StationSeeded {
                    dates_written: 3,
                    ..Default::default()
                })
            });
        store
            .expect_seed_station()
            .withf(|plan, _| plan.location.as_str() == "B")
            .times(1)
            .returning(|_, _| {
                Ok(StationSeeded {
                    dates_written: 1,
                    dates_skipped: 2,
                    dates_unmigrated: 1,
                })
            });
        let report = SeedService::new(store)
            .seed(SeedRequest {
                days: Some(3),
                stations: Some(vec![station("A", 10), station("B", 5)]),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            report.slots_created,
            BTreeMap::from([("A".into(), 30), ("B".into(), 5)])
        );
        assert_eq!(report.total_slots, 35);
        assert_eq!(report.dates_skipped, 2);
        assert_eq!(report.dates_unmigrated, 1);
    }

    #[test]
    fn a_station_may_carry_a_name_and_an_address() {
        let parse = |json: &str| serde_json::from_str::<SeedEvent>(json);
        let SeedEvent::Seed(request) = parse(
            r#"{"stations": [{"location": "A", "dailyCapacity": 1, "name": " Dewan A ", "address": "Jalan 1"},
                             {"location": "B", "dailyCapacity": 1}]}"#,
        )
        .unwrap() else {
            panic!("a seed");
        };
        let plan = SeedPlan::parse(request).unwrap();
        assert_eq!(plan.stations[0].details.name.as_deref(), Some("Dewan A"));
        assert_eq!(plan.stations[0].details.address.as_deref(), Some("Jalan 1"));
        assert_eq!(plan.stations[1].details, StationDetails::default());
        let misspelt =
            parse(r#"{"stations": [{"location": "A", "dailyCapacity": 1, "nama": "x"}]}"#)
                .unwrap_err()
                .to_string();
        assert!(misspelt.contains("nama"), "{misspelt}");
    }

    #[test]
    fn the_event_is_a_seed_the_migration_or_a_room_command() {
        let parse = |json: &str| serde_json::from_str::<SeedEvent>(json);
        assert_eq!(
            parse("{}").unwrap(),
            SeedEvent::Seed(SeedRequest::default())
        );
        assert_eq!(parse(r#"{"migrate": true}"#).unwrap(), SeedEvent::Migrate);
        assert_eq!(
            parse(r#"{"room": "open", "hours": 6, "maxSize": 1000}"#).unwrap(),
            SeedEvent::Room(RoomCommand::Open(OpenRoom {
                hours: Some(6),
                max_size: Some(1000)
            }))
        );
        assert_eq!(
            parse(r#"{"room": "open"}"#).unwrap(),
            SeedEvent::Room(RoomCommand::Open(OpenRoom::default()))
        );
        assert_eq!(
            parse(r#"{"room": "close"}"#).unwrap(),
            SeedEvent::Room(RoomCommand::Close(CloseRoom {}))
        );
        for bad in [
            r#"{"migrate": false}"#,
            r#"{"migrate": true, "reset": true}"#,
            r#"{"migrate": "yes"}"#,
            r#"{"room": "reopen"}"#,
            r#"{"room": "open", "hourz": 1}"#,
            r#"{"room": "close", "days": 1}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let unknown = parse(r#"{"dayz": 3}"#).unwrap_err().to_string();
        assert!(unknown.contains("dayz"), "{unknown}");
    }

    #[tokio::test]
    async fn a_store_fault_fails_the_seed() {
        let mut store = MockSeedStore::new();
        store
            .expect_seed_station()
            .returning(|_, _| Err(StoreError::Unavailable("refused".into())));
        let result = SeedService::new(store).seed(SeedRequest::default()).await;
        assert_eq!(
            result,
            Err(SeedError::Store(StoreError::Unavailable("refused".into())))
        );
    }
}
