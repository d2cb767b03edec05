use serde::{Deserialize, Serialize};

use super::fields::{Address, MySejahteraId, PersonName, PhoneNumber};
use super::station::{Location, SlotDate};
use super::validation::ValidationError;

/// A booking exactly as a client sends it, before any rule is checked. Field names follow the
/// original JKJAV API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BookingRequest {
    pub mysejahtera_id: String,
    pub first_name: String,
    pub last_name: String,
    pub address: String,
    pub location: String,
    pub phone_number: String,
    pub date: String,
}

impl BookingRequest {
    /// The wire names of every field, in the order they are validated.
    pub const FIELDS: [&'static str; 7] = [
        "mysejahteraId",
        "firstName",
        "lastName",
        "address",
        "location",
        "phoneNumber",
        "date",
    ];
}

/// One person's one booking: a slot at a station on a date. Every field is valid by
/// construction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Booking {
    pub mysejahtera_id: MySejahteraId,
    pub first_name: PersonName,
    pub last_name: PersonName,
    pub address: Address,
    pub location: Location,
    pub phone_number: PhoneNumber,
    pub date: SlotDate,
}

/// Where a booking is held: a station and a date. What a move changes, and all it changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BookedSlot {
    pub location: Location,
    pub date: SlotDate,
}

impl BookedSlot {
    /// The wire names of a move's fields, in the order they are validated.
    pub const FIELDS: [&'static str; 2] = [Location::FIELD, SlotDate::FIELD];

    /// Checks both fields; the first invalid one is named in the error.
    pub fn parse(location: &str, date: &str) -> Result<Self, ValidationError> {
        Ok(Self {
            location: Location::parse(location)?,
            date: SlotDate::parse(date)?,
        })
    }
}

impl Booking {
    /// Checks every field; the first invalid one is named in the error.
    pub fn parse(request: &BookingRequest) -> Result<Self, ValidationError> {
        Ok(Self {
            mysejahtera_id: MySejahteraId::parse(&request.mysejahtera_id)?,
            first_name: PersonName::parse("firstName", &request.first_name)?,
            last_name: PersonName::parse("lastName", &request.last_name)?,
            address: Address::parse(&request.address)?,
            location: Location::parse(&request.location)?,
            phone_number: PhoneNumber::parse(&request.phone_number)?,
            date: SlotDate::parse(&request.date)?,
        })
    }

    /// A booking read back from the store, without today's rules: it passed the rules in force
    /// when it was stored, and rules tightened since must not make a held booking unreadable,
    /// or a cancel that happened answer 500. Only the date is parsed (its format never
    /// changed, and it must be a date to be one).
    pub fn from_stored(stored: BookingRequest) -> Result<Self, ValidationError> {
        Ok(Self {
            date: SlotDate::parse(&stored.date)?,
            mysejahtera_id: MySejahteraId::stored(stored.mysejahtera_id),
            first_name: PersonName::stored(stored.first_name),
            last_name: PersonName::stored(stored.last_name),
            address: Address::stored(stored.address),
            location: Location::stored(stored.location),
            phone_number: PhoneNumber::stored(stored.phone_number),
        })
    }

    /// The station and date it holds.
    pub fn slot(&self) -> BookedSlot {
        BookedSlot {
            location: self.location.clone(),
            date: self.date,
        }
    }

    /// The same booking (person, name, address, phone) at another slot.
    #[must_use]
    pub fn moved_to(&self, slot: &BookedSlot) -> Self {
        Self {
            location: slot.location.clone(),
            date: slot.date,
            ..self.clone()
        }
    }

    /// The canonical stored form. Two requests for the same booking serialize identically, which
    /// is how the store recognises a repeated request.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a booking is plain strings")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn valid_request() -> BookingRequest {
        BookingRequest {
            mysejahtera_id: "900127015527".into(),
            first_name: "Fadhil".into(),
            last_name: "Yaacob".into(),
            address: "Kuala Lumpur".into(),
            location: "PWTC".into(),
            phone_number: "0123456789".into(),
            date: "20210516".into(),
        }
    }

    #[test]
    fn parses_the_original_example() {
        let booking = Booking::parse(&valid_request()).unwrap();
        assert_eq!(booking.location.as_str(), "PWTC");
        assert_eq!(
            booking.to_json(),
            r#"{"mysejahteraId":"900127015527","firstName":"Fadhil","lastName":"Yaacob","address":"Kuala Lumpur","location":"PWTC","phoneNumber":"0123456789","date":"20210516"}"#
        );
    }

    #[test]
    fn each_invalid_field_is_named() {
        type Mutate = fn(&mut BookingRequest);
        let cases: [(Mutate, &str); 7] = [
            (|r| r.mysejahtera_id = "a:b".into(), "mysejahteraId"),
            (|r| r.first_name = " ".into(), "firstName"),
            (|r| r.last_name = "\u{7}".into(), "lastName"),
            (|r| r.address = String::new(), "address"),
            (|r| r.location = "PW TC".into(), "location"),
            (|r| r.phone_number = "abc".into(), "phoneNumber"),
            (|r| r.date = "20210230".into(), "date"),
        ];
        for (mutate, field) in cases {
            let mut request = valid_request();
            mutate(&mut request);
            assert_eq!(Booking::parse(&request).unwrap_err().field, field);
        }
    }

    #[test]
    fn a_stored_booking_is_read_back_even_if_todays_rules_refuse_it() {
        let mut old = valid_request();
        old.first_name = "Fadhil\u{202e}".into();
        old.phone_number = "012-3456789".into();
        assert!(Booking::parse(&old).is_err(), "today's rules refuse it");

        let read = Booking::from_stored(old.clone()).unwrap();

        assert_eq!(read.first_name.as_str(), old.first_name);
        assert_eq!(read.phone_number.as_str(), old.phone_number);
        let mut not_a_date = valid_request();
        not_a_date.date = "2021-05-16".into();
        assert!(Booking::from_stored(not_a_date).is_err());
    }

    #[test]
    fn stored_form_round_trips() {
        let booking = Booking::parse(&valid_request()).unwrap();
        let back: BookingRequest = serde_json::from_str(&booking.to_json()).unwrap();
        assert_eq!(Booking::parse(&back).unwrap(), booking);
    }
}
