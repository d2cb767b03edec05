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
    fn stored_form_round_trips() {
        let booking = Booking::parse(&valid_request()).unwrap();
        let back: BookingRequest = serde_json::from_str(&booking.to_json()).unwrap();
        assert_eq!(Booking::parse(&back).unwrap(), booking);
    }
}
