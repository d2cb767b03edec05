//! Retention (`BOOKING_RETENTION_DAYS`): a booking's records expire by themselves (`EXAT`,
//! retention days after its date); what else names the person, the station's `holders` entry,
//! goes here once its date is that far past, and with it the date's counters. Published
//! outbox entries leave with their bytes when they are removed (remove_published.lua). The
//! relay runs this after reconciling.
use tokio::time::Instant;

use super::*;

pub(crate) static FORGET_PAST_DATES: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("forget_past_dates.lua")));
pub(crate) static FORGET_PAST_HOLDERS: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("forget_past_holders.lua")));

/// Holders a script looks at in one go: a few milliseconds of Redis at most.
const HOLDERS_PER_PAGE: usize = 1_000;

/// What one retention run removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Forgotten {
    /// Station dates whose retention had ended, with their counters and holders.
    pub dates: u64,
    /// Holders entries of those dates.
    pub holders: u64,
    /// True when the deadline stopped the run; the next run goes on.
    pub deadline_reached: bool,
}

impl RedisStore {
    /// The first date still kept: the dates before it ended `retention_days` ago or longer.
    pub fn first_date_kept(&self) -> Result<SlotDate, StoreError> {
        let now = i64::try_from(unix_millis(self.clock.now()) / 1000).unwrap_or(i64::MAX);
        SlotDate::of_unix(now - i64::from(self.retention_days) * 86_400)
            .ok_or_else(|| StoreError::UnexpectedReply("the clock is off the calendar".into()))
    }

    /// Removes every station's dates past retention: their remaining, capacity and held
    /// counts, and their holders, a page at a time, stopping before `deadline`.
    pub async fn forget_past_dates(
        &self,
        deadline: Option<Instant>,
    ) -> Result<Forgotten, StoreError> {
        let first_kept = self.first_date_kept()?.to_string();
        let mut connection = self.reconnecting();
        let members: Vec<String> = store_call("stations", connection.smembers(STATIONS_KEY))
            .await
            .map_err(unavailable)?;
        let mut report = Forgotten::default();
        for member in members {
            let location = Location::parse(&member)
                .map_err(|e| StoreError::UnexpectedReply(format!("{STATIONS_KEY}: {e}")))?;
            let pending: Vec<String> = store_call(
                "forget_past_dates",
                FORGET_PAST_DATES
                    .key(slots_key(&location))
                    .key(capacity_key(&location))
                    .key(held_key(&location))
                    .arg(&first_kept)
                    .invoke_async(&mut connection),
            )
            .await
            .map_err(unavailable)?;
            if pending.is_empty() {
                continue;
            }
            let mut cursor = "0".to_owned();
            loop {
                if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                    report.deadline_reached = true;
                    return Ok(report);
                }
                let (next, removed): (String, u64) = store_call(
                    "forget_past_holders",
                    FORGET_PAST_HOLDERS
                        .key(holders_key(&location))
                        .key(held_key(&location))
                        .arg(&first_kept)
                        .arg(&cursor)
                        .arg(HOLDERS_PER_PAGE)
                        .invoke_async(&mut connection),
                )
                .await
                .map_err(unavailable)?;
                report.holders += removed;
                if next == "0" {
                    break;
                }
                cursor = next;
            }
            report.dates += pending.len() as u64;
        }
        Ok(report)
    }
}
