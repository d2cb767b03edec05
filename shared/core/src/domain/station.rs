use std::fmt;

use chrono::{Datelike, Days, NaiveDate};
use serde::{Serialize, Serializer};

use super::fields::{MAX_ADDRESS_CHARS, MAX_NAME_CHARS};
use super::validation::{ValidationError, parse_identifier, parse_text};

pub const MAX_LOCATION_LEN: usize = 32;

/// A vaccination station's code, e.g. `PWTC`. Part of Redis keys, hence the strict alphabet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Location(String);

impl Location {
    pub const FIELD: &'static str = "location";

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        parse_identifier(Self::FIELD, raw, MAX_LOCATION_LEN).map(Self)
    }

    /// As the store holds it: checked when it was stored (see `Booking::from_stored`).
    pub(super) fn stored(raw: String) -> Self {
        Self(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A vaccination day, written `YYYYMMDD` on the wire (the original API's format). Only real
/// calendar dates parse: 20210230 does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotDate(NaiveDate);

impl SlotDate {
    pub const FIELD: &'static str = "date";

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        Self::parse_field(Self::FIELD, raw)
    }

    /// Same rule for fields that hold a date under another name (the seed's `startDate`).
    pub fn parse_field(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        let invalid = || ValidationError::new(field, "must be a calendar date written YYYYMMDD");
        if raw.len() != 8 || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let year = raw[0..4].parse().map_err(|_| invalid())?;
        let month = raw[4..6].parse().map_err(|_| invalid())?;
        let day = raw[6..8].parse().map_err(|_| invalid())?;
        NaiveDate::from_ymd_opt(year, month, day)
            .map(Self)
            .ok_or_else(invalid)
    }

    /// The date `days` later, or None past the calendar's end.
    pub fn plus_days(self, days: u32) -> Option<Self> {
        self.0.checked_add_days(Days::new(days.into())).map(Self)
    }

    /// The date (UTC) that an instant, in seconds since the Unix epoch, falls on.
    pub fn of_unix(seconds: i64) -> Option<Self> {
        chrono::DateTime::from_timestamp(seconds, 0).map(|time| Self(time.date_naive()))
    }

    /// When the date is over: the following midnight, UTC, in seconds since the Unix epoch.
    pub fn ends_at_unix(self) -> i64 {
        (self.0.and_time(chrono::NaiveTime::MIN) + chrono::TimeDelta::days(1))
            .and_utc()
            .timestamp()
    }
}

impl fmt::Display for SlotDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        write!(f, "{:04}{:02}{:02}", d.year(), d.month(), d.day())
    }
}

impl Serialize for SlotDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// What citizens see per station: how many slots are left on one date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Slot {
    pub location: Location,
    pub date: SlotDate,
    pub availability: u32,
}

/// The slots left on one date, as an entry of the station list shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DateAvailability {
    pub date: SlotDate,
    pub availability: u32,
}

/// What people read of a station besides its code, to find it in a list: both optional, since
/// seeds written before them carry neither. Free text under the rules of a booking's name and
/// address (bounded, no control or hidden format characters, NFC).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StationDetails {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl StationDetails {
    pub const NAME_FIELD: &'static str = "name";
    pub const ADDRESS_FIELD: &'static str = "address";

    pub fn parse(name: Option<&str>, address: Option<&str>) -> Result<Self, ValidationError> {
        Ok(Self {
            name: name
                .map(|raw| parse_text(Self::NAME_FIELD, raw, MAX_NAME_CHARS))
                .transpose()?,
            address: address
                .map(|raw| parse_text(Self::ADDRESS_FIELD, raw, MAX_ADDRESS_CHARS))
                .transpose()?,
        })
    }
}

/// One station of the station list: its details and every date it has, in calendar order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StationDates {
    pub location: Location,
    #[serde(flatten)]
    pub details: StationDetails,
    pub dates: Vec<DateAvailability>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn station_details_are_optional_text_under_the_booking_rules() {
        assert_eq!(
            StationDetails::parse(None, None).unwrap(),
            StationDetails::default()
        );
        let details =
            StationDetails::parse(Some("  Pusat Dagangan Dunia Putra "), Some("Kuala Lumpur"))
                .unwrap();
        assert_eq!(details.name.as_deref(), Some("Pusat Dagangan Dunia Putra"));
        assert_eq!(details.address.as_deref(), Some("Kuala Lumpur"));
        let long_name = "n".repeat(MAX_NAME_CHARS + 1);
        let long_address = "a".repeat(MAX_ADDRESS_CHARS + 1);
        let cases = [
            (Some(""), None, "name"),
            (Some("PWTC\u{202e}"), None, "name"),
            (Some(long_name.as_str()), None, "name"),
            (None, Some("a\nb"), "address"),
            (None, Some(long_address.as_str()), "address"),
        ];
        for (name, address, field) in cases {
            assert_eq!(
                StationDetails::parse(name, address).unwrap_err().field,
                field,
                "{name:?} {address:?}"
            );
        }
    }

    #[test]
    fn dates_must_be_real_calendar_days() {
        let cases = [
            ("20210516", true),
            ("20240229", true),
            ("20210229", false),
            ("20210230", false),
            ("20211301", false),
            ("20210100", false),
            ("2021051", false),
            ("202105160", false),
            ("2021-05-16", false),
            ("+2021051", false),
            ("", false),
            ("２０２１０５１６", false),
        ];
        for (raw, ok) in cases {
            assert_eq!(SlotDate::parse(raw).is_ok(), ok, "{raw:?}");
        }
    }

    #[test]
    fn dates_round_trip_and_order() {
        let a = SlotDate::parse("20210531").unwrap();
        let b = a.plus_days(1).unwrap();
        assert_eq!(b.to_string(), "20210601");
        assert!(a < b);
        assert_eq!(serde_json::to_string(&b).unwrap(), "\"20210601\"");
    }

    #[test]
    fn an_instant_falls_on_the_date_that_ends_after_it() {
        let date = SlotDate::parse("20210516").unwrap();
        let end = date.ends_at_unix();
        assert_eq!(SlotDate::of_unix(end - 1), Some(date));
        assert_eq!(SlotDate::of_unix(end - 86_400), Some(date));
        assert_eq!(SlotDate::of_unix(end), date.plus_days(1));
    }

    #[test]
    fn locations_are_safe_identifiers() {
        assert!(Location::parse("PWTC").is_ok());
        for bad in [
            "",
            "PW TC",
            "PWTC:1",
            "{PWTC}",
            "*",
            &"P".repeat(MAX_LOCATION_LEN + 1),
        ] {
            assert_eq!(
                Location::parse(bad).unwrap_err().field,
                "location",
                "{bad:?}"
            );
        }
    }
}
