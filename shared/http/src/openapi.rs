//! The OpenAPI 3.1 document of every HTTP endpoint. Field limits come from the domain's
//! constants, so the document cannot drift from the rules the code enforces; the committed
//! `openapi.json` is checked against this by a test (`make openapi` rewrites it).
use std::borrow::Cow;
use std::sync::LazyLock;

use serde_json::json;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

use booking_core::domain::{
    Address, BookingReference, IdempotencyKey, Location, MAX_ADDRESS_CHARS, MAX_ID_LEN,
    MAX_LOCATION_LEN, MAX_NAME_CHARS, MySejahteraId, PhoneNumber, SlotDate, StationDetails,
    is_hidden_format,
};

/// What `parse_identifier` accepts: locations become parts of Redis keys.
pub const IDENTIFIER_PATTERN: &str = "^[A-Za-z0-9_-]+$";
/// What `MySejahteraId::parse` accepts: a MyKad number (a real `YYMMDD`, 29 February in years
/// divisible by 4; a birthplace code JPN issues), with both hyphens or none, or the passport
/// form with any country but MYS (written without look-ahead, which Rust's regex lacks).
pub const ID_PATTERN: &str = concat!(
    "^(?:(?:[0-9]{2}(?:(?:0[13578]|1[02])(?:0[1-9]|[12][0-9]|3[01])",
    "|(?:0[469]|11)(?:0[1-9]|[12][0-9]|30)|02(?:0[1-9]|1[0-9]|2[0-8]))",
    "|(?:[02468][048]|[13579][26])0229)",
    "(?:(?:0[1-9]|1[0-6]|2[1-9]|[3-5][0-9]|6[0-8]|7[124-9]|8[2-9]|9[0-389])[0-9]{4}",
    "|-(?:0[1-9]|1[0-6]|2[1-9]|[3-5][0-9]|6[0-8]|7[124-9]|8[2-9]|9[0-389])-[0-9]{4})",
    "|[Pp]-(?:[A-LN-Za-ln-z][A-Za-z]{2}|[Mm][A-XZa-xz][A-Za-z]|[Mm][Yy][A-RT-Za-rt-z])",
    "-[A-Za-z0-9]{6,9})$"
);
/// A real calendar date `YYYYMMDD`, leap years included, as `SlotDate::parse` accepts.
pub const DATE_PATTERN: &str = concat!(
    "^(?:[0-9]{4}(?:(?:0[13578]|1[02])(?:0[1-9]|[12][0-9]|3[01])",
    "|(?:0[469]|11)(?:0[1-9]|[12][0-9]|30)|02(?:0[1-9]|1[0-9]|2[0-8]))",
    "|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)0229)$"
);
/// What `parse_text` accepts: no control characters, no hidden format characters or line
/// separators (`is_hidden_format`), at least one non-space character. BMP characters are
/// written `\uXXXX`, which ECMA-262, Python and Rust regexes all read; the few outside the BMP
/// (tag characters such as U+E0050, which can smuggle invisible text) are written as themselves,
/// as there is no escape all three read.
pub static TEXT_PATTERN: LazyLock<String> = LazyLock::new(|| {
    let written = |c: char| {
        if u32::from(c) <= 0xFFFF {
            format!("\\u{:04x}", u32::from(c))
        } else {
            c.to_string()
        }
    };
    let mut excluded = String::from("\\x00-\\x1f\\x7f-\\x9f");
    let all = (0..=u32::from(char::MAX)).filter_map(char::from_u32);
    let mut hidden = all.filter(|c| is_hidden_format(*c)).peekable();
    while let Some(first) = hidden.next() {
        let mut last = first;
        while let Some(next) = hidden.next_if(|next| u32::from(*next) == u32::from(last) + 1) {
            last = next;
        }
        excluded.push_str(&written(first));
        if last != first {
            excluded.push('-');
            excluded.push_str(&written(last));
        }
    }
    format!("^[^{excluded}]*[^\\s{excluded}][^{excluded}]*$")
});

/// What `PhoneNumber::parse` accepts.
pub const PHONE_PATTERN: &str = "^\\+?[0-9]{7,15}$";

fn string(description: &str, max_length: usize, pattern: &str, example: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .min_length(Some(1))
        .max_length(Some(max_length))
        .pattern(Some(pattern))
        .examples([json!(example)])
}

fn id_schema() -> ObjectBuilder {
    string(
        "The person's ID: a MyKad number, 12 digits `YYMMDDPBNNNN` (a real birth date, a \
         birthplace code the National Registration Department issues), also written \
         `YYMMDD-PB-NNNN`; or, without a MyKad, a passport as `P-<country>-<number>`: the ISO \
         3166-1 alpha-3 code of the issuing country (not MYS) and 6 to 9 letters or digits, in \
         any case. Stored as 12 digits or in upper case, so `900127-01-5527` and `900127015527` \
         are one person.",
        MAX_ID_LEN,
        ID_PATTERN,
        "900127015527",
    )
}

fn location_schema() -> ObjectBuilder {
    string(
        "A vaccination station's code: letters A-Z, digits, '-' and '_'.",
        MAX_LOCATION_LEN,
        IDENTIFIER_PATTERN,
        "PWTC",
    )
}

fn date_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "A calendar date written YYYYMMDD; 20210230 is refused.",
        ))
        .pattern(Some(DATE_PATTERN))
        .examples([json!("20210516")])
}

fn availability_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(0))
        .examples([json!(8000)])
}

fn object(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description))
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
}

/// Marker types that carry hand-built schemas into `#[utoipa::path]` attributes.
macro_rules! named_schema {
    ($marker:ident, $name:literal, $build:expr) => {
        pub struct $marker;
        impl PartialSchema for $marker {
            fn schema() -> RefOr<Schema> {
                $build.into()
            }
        }
        impl ToSchema for $marker {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

/// What `IdempotencyKey::parse` accepts: printable ASCII, not starting or ending with a space.
pub const IDEMPOTENCY_KEY_PATTERN: &str = "^[!-~](?:[ -~]*[!-~])?$";

fn idempotency_key_schema() -> ObjectBuilder {
    string(
        "A random value made for one booking attempt and sent again with its retries: 1-255 \
         printable ASCII characters, compared exactly.",
        IdempotencyKey::MAX_LEN,
        IDEMPOTENCY_KEY_PATTERN,
        "8e03978e-40d5-43e8-bc93-6894a57f9324",
    )
}

named_schema!(
    IdempotencyKeySchema,
    "IdempotencyKey",
    idempotency_key_schema()
);

fn phone_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("7 to 15 digits, optionally starting with '+'."))
        .pattern(Some(PHONE_PATTERN))
        .examples([json!("0123456789")])
}

named_schema!(MySejahteraIdSchema, "MySejahteraId", id_schema());
named_schema!(PhoneNumberSchema, "PhoneNumber", phone_schema());
named_schema!(LocationSchema, "Location", location_schema());

/// The fields of a booking, as sent and as stored.
fn booking_fields(object: ObjectBuilder) -> ObjectBuilder {
    object
        .property(MySejahteraId::FIELD, id_schema())
        .property(
            "firstName",
            string(
                "Given name, without control characters, invisible format characters (Unicode \
                 Cf) or line separators, not blank; stored trimmed, in NFC.",
                MAX_NAME_CHARS,
                &TEXT_PATTERN,
                "Fadhil",
            ),
        )
        .property(
            "lastName",
            string(
                "Family name, without control characters, invisible format characters (Unicode \
                 Cf) or line separators, not blank; stored trimmed, in NFC.",
                MAX_NAME_CHARS,
                &TEXT_PATTERN,
                "Yaacob",
            ),
        )
        .property(
            Address::FIELD,
            string(
                "Home address, without control characters, invisible format characters \
                 (Unicode Cf) or line separators, not blank; stored trimmed, in NFC.",
                MAX_ADDRESS_CHARS,
                &TEXT_PATTERN,
                "Kuala Lumpur",
            ),
        )
        .property(Location::FIELD, location_schema())
        .property(PhoneNumber::FIELD, phone_schema())
        .property(SlotDate::FIELD, date_schema())
        .required(MySejahteraId::FIELD)
        .required("firstName")
        .required("lastName")
        .required(Address::FIELD)
        .required(Location::FIELD)
        .required(PhoneNumber::FIELD)
        .required(SlotDate::FIELD)
}

named_schema!(
    BookingSchema,
    "Booking",
    booking_fields(object(
        "One person's one booking. The request and the stored booking have the same fields; \
         unknown fields are refused with 400 naming the field, so a typo cannot pass silently."
    ))
    .examples([booking_example()])
);

/// What `BookingReference` issues: 120 bits in Crockford base32, six groups of four. The last
/// symbol carries no leftover bits (24 symbols are exactly 120 bits), so any symbol may end it.
pub const BOOKING_REFERENCE_PATTERN: &str = "^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){5}$";
const REFERENCE_EXAMPLE: &str = "K7QM-2XPA-9DFR-HT3W-ZB8N-6C4E";

named_schema!(
    BookingConfirmationSchema,
    "BookingConfirmation",
    booking_fields(object(
        "The booking as stored, and the secret that reads and cancels it."
    ))
    .property(
        "bookingReference",
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "Keep it (write it down: it is made to be read aloud): send it as \
                 `Authorization: Bearer <bookingReference>` to read, move or cancel the \
                 booking. Six groups of four letters and digits (Crockford base32: no I, L, O \
                 or U); typed back in any case, with or without the hyphens or with spaces, \
                 and with O for 0 or I/L for 1. References issued before this form (43 \
                 characters of base64url) still work. Shown on the 201, and on an identical \
                 retry within 15 minutes of the booking; never again.",
            ))
            .min_length(Some(BookingReference::GROUPED_LEN))
            .max_length(Some(BookingReference::GROUPED_LEN))
            .pattern(Some(BOOKING_REFERENCE_PATTERN))
            .examples([json!(REFERENCE_EXAMPLE)]),
    )
    .examples([{
        let mut example = booking_example();
        example["bookingReference"] = json!(REFERENCE_EXAMPLE);
        example
    }])
);

named_schema!(
    BookingMoveSchema,
    "BookingMove",
    object(
        "The slot to move a booking to: a station and a date. Every other field of the \
         booking stays; unknown fields are refused with 400 naming the field."
    )
    .property(Location::FIELD, location_schema())
    .property(SlotDate::FIELD, date_schema())
    .required(Location::FIELD)
    .required(SlotDate::FIELD)
    .examples([json!({"location": "UM", "date": "20210520"})])
);

named_schema!(
    SlotSchema,
    "Slot",
    object("The slots left at one station on one date.")
        .property(Location::FIELD, location_schema())
        .property(SlotDate::FIELD, date_schema())
        .property("availability", availability_schema())
        .required(Location::FIELD)
        .required(SlotDate::FIELD)
        .required("availability")
);

named_schema!(
    StationSlotsSchema,
    "StationSlots",
    ArrayBuilder::new()
        .description(Some("Every date of the station, in calendar order."))
        .items(RefOr::Ref(utoipa::openapi::Ref::from_schema_name("Slot")))
        .examples([json!([
            {"location": "PWTC", "date": "20210516", "availability": 8000},
            {"location": "PWTC", "date": "20210517", "availability": 7999}
        ])])
);

named_schema!(
    StationListSchema,
    "StationList",
    ArrayBuilder::new()
        .description(Some(
            "Every station that has dates, sorted by location; each station's dates in \
             calendar order."
        ))
        .items(
            object("One station, its name and address where the seed gave them, and the slots left on each of its dates.")
                .property(Location::FIELD, location_schema())
                .property(
                    StationDetails::NAME_FIELD,
                    string(
                        "What people call the station, as seeded; absent when the seed gave \
                         none (list it by its code).",
                        MAX_NAME_CHARS,
                        &TEXT_PATTERN,
                        "Pusat Dagangan Dunia Putra (PWTC)",
                    ),
                )
                .property(
                    StationDetails::ADDRESS_FIELD,
                    string(
                        "Where the station is, as seeded; absent when the seed gave none.",
                        MAX_ADDRESS_CHARS,
                        &TEXT_PATTERN,
                        "41, Jalan Tun Ismail, 50480 Kuala Lumpur",
                    ),
                )
                .property(
                    "dates",
                    ArrayBuilder::new().items(
                        object("The slots left on one date.")
                            .property(SlotDate::FIELD, date_schema())
                            .property("availability", availability_schema())
                            .required(SlotDate::FIELD)
                            .required("availability")
                    )
                )
                .required(Location::FIELD)
                .required("dates")
        )
        .examples([json!([
            {"location": "PWTC", "name": "Pusat Dagangan Dunia Putra (PWTC)",
                "address": "41, Jalan Tun Ismail, 50480 Kuala Lumpur", "dates": [
                {"date": "20210516", "availability": 8000},
                {"date": "20210517", "availability": 7999}]},
            {"location": "UM", "dates": [{"date": "20210516", "availability": 5000}]}
        ])])
);

named_schema!(
    ErrorSchema,
    "Error",
    object("Every error: a stable code clients can switch on, and a human message.")
        .property(
            "error",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .examples([json!("invalid_field")]),
        )
        .property(
            "message",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .examples([json!("date must be a calendar date written YYYYMMDD")]),
        )
        .property(
            "field",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("The invalid field, for validation errors only."))
                .examples([json!("date")]),
        )
        .required("error")
        .required("message")
);

named_schema!(
    HealthSchema,
    "Health",
    object("The store answers.")
        .property(
            "status",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["ok"])),
        )
        .required("status")
);

named_schema!(
    OpenApiDocumentSchema,
    "OpenApiDocument",
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some("This document."))
        .property("openapi", ObjectBuilder::new().schema_type(Type::String))
        .required("openapi")
);

named_schema!(
    HtmlSchema,
    "HtmlPage",
    ObjectBuilder::new().schema_type(Type::String)
);

/// The original JKJAV example booking.
pub fn booking_example() -> serde_json::Value {
    json!({
        "mysejahteraId": "900127015527",
        "firstName": "Fadhil",
        "lastName": "Yaacob",
        "address": "Kuala Lumpur",
        "location": "PWTC",
        "phoneNumber": "0123456789",
        "date": "20210516"
    })
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vaccination slot booking",
        description = "See which dates still have slots at a station, book one, look the booking \
                       up, move it to another slot and cancel it. Dates are YYYYMMDD strings; every error body is \
                       `{\"error\", \"message\", \"field\"?}`.",
        license(name = "MIT")
    ),
    paths(
        super::handlers::list_stations,
        super::handlers::get_station,
        super::handlers::create_booking,
        super::handlers::get_booking,
        super::handlers::cancel_booking,
        super::handlers::move_booking,
        super::slip::booking_slip,
        super::slip::booking_calendar,
        super::handlers::healthz,
        super::docs::openapi_json,
        super::docs::docs_page,
        super::page::booking_page,
        super::queue::join_queue,
        super::queue::queue_progress,
        super::queue::queue_ticket_status,
        super::verification::request_verification,
        super::verification::confirm_verification,
    ),
    modifiers(&BookingReferenceAuth, &IdentityTokenAuth, &TooManyRequests),
    components(schemas(
        BookingSchema,
        BookingConfirmationSchema,
        BookingMoveSchema,
        SlotSchema,
        StationSlotsSchema,
        StationListSchema,
        ErrorSchema,
        HealthSchema,
        MySejahteraIdSchema,
        PhoneNumberSchema,
        LocationSchema,
        IdempotencyKeySchema,
        OpenApiDocumentSchema,
        HtmlSchema
    )),
    tags(
        (name = "stations", description = "Slots left per station and date"),
        (name = "bookings", description = "One booking per person"),
        (name = "operations", description = "Health and API documentation"),
        (name = "waiting room", description = "Take a number at opening time; book once admitted"),
        (name = "identity", description = "Prove a phone with a one-time code, for an identity token (IDENTITY=otp)"),
    )
)]
pub struct ApiDoc;

/// Every operation may answer 429 when the server is at its bound of requests in flight
/// (local-api) or the API's throttle (API Gateway): documented once, here, for all of them.
struct TooManyRequests;

impl Modify for TooManyRequests {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::header::HeaderBuilder;
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let response = ResponseBuilder::new()
            .description(
                "`too_many_requests`: the service is at capacity; retry after `Retry-After` \
                 seconds. Nothing was done.",
            )
            .header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::Integer))
                    .description(Some("Seconds to wait before retrying"))
                    .build(),
            )
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Error")))
                    .example(Some(json!({"error": "too_many_requests", "message": "The service is at capacity; retry after the Retry-After seconds."})))
                    .build(),
            )
            .build();
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                // An operation with 429s of its own (the verification limits) documents them.
                operation
                    .responses
                    .responses
                    .entry("429".into())
                    .or_insert_with(|| response.clone().into());
            }
        }
    }
}

/// The bearer scheme `GET`/`PATCH`/`DELETE /booking/{mysejahteraId}` require.
struct BookingReferenceAuth;

impl Modify for BookingReferenceAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bookingReference",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("bookingReference")
                    .description(Some(
                        "The `bookingReference` of the booking's 201 (or of its retry within 15 \
                         minutes). Missing or malformed: 401; not this booking's: 404.",
                    ))
                    .build(),
            ),
        );
        // utoipa 5 writes a link's target as `operation_id`; OpenAPI (and schemathesis, which
        // follows the links from the 201 into the GET and DELETE) reads `operationId`.
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.post,
                &mut item.get,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                for response in operation.responses.responses.values_mut() {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    for link in response.links.values_mut() {
                        if let RefOr::T(link) = link
                            && !link.operation_id.is_empty()
                        {
                            let target = std::mem::take(&mut link.operation_id);
                            link.extensions
                                .get_or_insert_with(Default::default)
                                .insert("operationId".into(), json!(target));
                        }
                    }
                }
            }
        }
    }
}

/// The operations that act for a person, which need `X-Identity-Token` with an identity mode on.
pub const IDENTIFIED_OPERATIONS: [&str; 7] = [
    "createBooking",
    "getBooking",
    "moveBooking",
    "cancelBooking",
    "getBookingSlip",
    "getBookingCalendar",
    "joinQueue",
];

/// `X-Identity-Token` on the operations that act for a person, and their 401 and 403 for it.
/// A header parameter rather than a security requirement: with `IDENTITY=none` it is not
/// needed, and the booking reference's requirement stays as it is.
struct IdentityTokenAuth;

impl Modify for IdentityTokenAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::security::{ApiKey, ApiKeyValue};
        use utoipa::openapi::{ContentBuilder, Ref, Required, ResponseBuilder};
        const ABOUT: &str = "With an identity mode on (`IDENTITY=jwt` or `otp`): the identity \
            token whose ID claim is this request's `mysejahteraId` (an identity provider's JWT, \
            or the token `POST /verification/confirm` gives). Missing or invalid: 401 \
            `unauthorized`; another person's: 403 `identity_mismatch`. Ignored with \
            `IDENTITY=none`.";
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "identityToken",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Identity-Token",
                ABOUT,
            ))),
        );
        let error = |description: &str, example: serde_json::Value| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Error")))
                        .example(Some(example))
                        .build(),
                )
                .build()
        };
        let unauthorized = error(
            "`unauthorized`: an identity mode is on and `X-Identity-Token` is missing or not a \
             valid identity token",
            json!({"error": "unauthorized", "message": "Send your identity token as `X-Identity-Token`: this endpoint acts for the person whose mysejahteraId it names."}),
        );
        let mismatch = error(
            "`identity_mismatch`: the identity token is another person's",
            json!({"error": "identity_mismatch", "message": "The identity token is another person's: you may act only for your own mysejahteraId."}),
        );
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.post,
                &mut item.get,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                let identified = operation
                    .operation_id
                    .as_deref()
                    .is_some_and(|id| IDENTIFIED_OPERATIONS.contains(&id));
                if !identified {
                    continue;
                }
                operation.parameters.get_or_insert_with(Vec::new).push(
                    ParameterBuilder::new()
                        .name("X-Identity-Token")
                        .parameter_in(ParameterIn::Header)
                        .required(Required::False)
                        .description(Some(ABOUT))
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                        .build(),
                );
                let responses = &mut operation.responses.responses;
                for (status, added, extra) in [
                    (
                        "401",
                        &unauthorized,
                        "; or, with an identity mode on, no valid `X-Identity-Token`",
                    ),
                    (
                        "403",
                        &mismatch,
                        "; or `identity_mismatch`: the identity token is another person's",
                    ),
                ] {
                    match responses.get_mut(status) {
                        Some(RefOr::T(response)) => response.description.push_str(extra),
                        _ => {
                            responses.insert(status.into(), added.clone().into());
                        }
                    }
                }
            }
        }
    }
}

/// The document as served and committed: pretty JSON with a final newline.
pub fn openapi_document() -> &'static str {
    static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
        let mut json = ApiDoc::openapi()
            .to_pretty_json()
            .expect("the OpenAPI document serializes");
        json.push('\n');
        json
    });
    &DOCUMENT
}

#[cfg(test)]
mod tests {
    use regex::Regex;

    use super::*;
    use booking_core::domain::PersonName;

    /// Anchored like JSON Schema's `pattern` would be by our own `^...$`.
    fn matches(pattern: &str, value: &str) -> bool {
        Regex::new(pattern).unwrap().is_match(value)
    }

    #[test]
    fn the_committed_openapi_json_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.json");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == openapi_document(),
            "openapi.json is stale: run `make openapi` and commit it"
        );
    }

    #[test]
    fn the_date_pattern_accepts_exactly_the_calendar_dates() {
        let date_pattern = Regex::new(DATE_PATTERN).unwrap();
        let mut checked = 0;
        for year in (1896..=2404).chain([0, 1, 4, 100, 400, 9999]) {
            for month in 0..=13 {
                for day in 0..=32 {
                    let raw = format!("{year:04}{month:02}{day:02}");
                    assert_eq!(
                        date_pattern.is_match(&raw),
                        SlotDate::parse(&raw).is_ok(),
                        "{raw}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 200_000);
        for raw in ["2021051", "202105160", "2021-05-16", "", "２０２１０５１６"] {
            assert!(!matches(DATE_PATTERN, raw), "{raw}");
        }
    }

    #[test]
    fn the_idempotency_key_pattern_agrees_with_the_domain() {
        let longest = "k".repeat(IdempotencyKey::MAX_LEN);
        let too_long = "k".repeat(IdempotencyKey::MAX_LEN + 1);
        let keys = [
            "8e03978e-40d5-43e8-bc93-6894a57f9324",
            "\"quoted\"",
            "a",
            "~",
            "inner space",
            &longest,
            &too_long,
            "",
            " ",
            " lead",
            "trail ",
            "tab\t",
            "caf\u{e9}",
            "nul\0",
            "del\u{7f}",
        ];
        for raw in keys {
            let by_schema =
                matches(IDEMPOTENCY_KEY_PATTERN, raw) && raw.len() <= IdempotencyKey::MAX_LEN;
            assert_eq!(
                by_schema,
                IdempotencyKey::parse(raw.as_bytes()).is_ok(),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn field_patterns_agree_with_the_domain() {
        let ids = [
            "900127015527",
            "900127-01-5527",
            "000229145531",
            "010229145531",
            "960230145531",
            "900127005527",
            "900127735527",
            "900127985527",
            "900127-015527",
            "P-IDN-A1234567",
            "p-gbr-123456",
            "P-MYS-A1234567",
            "P-MYT-A1234567",
            "P-MZS-A1234567",
            "P-IDN-A1234",
            "P-IDN-A123456789",
            "A-b_9",
            "",
            "a:b",
            "{x}",
            "*",
            "a b",
            "ñ",
            "../x",
        ];
        for raw in ids {
            let by_schema = matches(ID_PATTERN, raw) && raw.len() <= MAX_ID_LEN;
            assert_eq!(by_schema, MySejahteraId::parse(raw).is_ok(), "{raw:?}");
            let by_schema = matches(IDENTIFIER_PATTERN, raw) && raw.len() <= MAX_LOCATION_LEN;
            assert_eq!(by_schema, Location::parse(raw).is_ok(), "{raw:?}");
        }
        // Every birth date and birthplace code, and every country, as each side decides them.
        let id_pattern = Regex::new(ID_PATTERN).unwrap();
        for year in [0, 1, 4, 96, 99] {
            for month in 0..=13 {
                for day in 0..=32 {
                    for place in 0..100 {
                        let raw = format!("{year:02}{month:02}{day:02}{place:02}5527");
                        assert_eq!(
                            id_pattern.is_match(&raw),
                            MySejahteraId::parse(&raw).is_ok(),
                            "{raw}"
                        );
                    }
                }
            }
        }
        let letters: Vec<char> = ('A'..='Z').chain('a'..='z').collect();
        for a in &letters {
            for b in &letters {
                for c in &letters {
                    let raw = format!("P-{a}{b}{c}-A1234567");
                    assert_eq!(
                        id_pattern.is_match(&raw),
                        MySejahteraId::parse(&raw).is_ok(),
                        "{raw}"
                    );
                }
            }
        }
        let texts = [
            "Fadhil",
            "  Fadhil ",
            "Nur Ain Binti Ab. Rahman",
            "Siti ä",
            "\u{3000}x\u{a0}",
            "",
            " ",
            "\u{3000}\u{2028}",
            "a\nb",
            "a\u{0}b",
            "a\u{85}b",
            "a\u{7f}",
            "Fadhil\u{202e}",
            "Fad\u{200b}hil",
            "\u{feff}Fadhil",
            "a\u{ad}b",
            "Fad\u{2028}hil",
            "a\u{2029}",
            "Zoe\u{301}",
            "Fadhil\u{e0050}",
            "Fadhil\u{1f600}",
        ];
        for raw in texts {
            assert_eq!(
                matches(&TEXT_PATTERN, raw),
                PersonName::parse("firstName", raw).is_ok(),
                "{raw:?}"
            );
        }
        let phones = [
            "0123456789",
            "+60123456789",
            "123456",
            "++6012345678",
            "012-345678",
        ];
        for raw in phones {
            assert_eq!(
                matches(PHONE_PATTERN, raw),
                PhoneNumber::parse(raw).is_ok(),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn the_reference_pattern_accepts_exactly_the_issued_references() {
        for byte in 0..=255u8 {
            let issued = BookingReference::from_mac(&[byte; 32]);
            assert!(
                matches(BOOKING_REFERENCE_PATTERN, issued.expose()),
                "{byte}"
            );
        }
        assert!(BookingReference::parse(REFERENCE_EXAMPLE).is_some());
        for symbol in ('A'..='Z').chain('0'..='9').chain(['-', '_', 'a']) {
            let text = format!("{}{symbol}", &REFERENCE_EXAMPLE[..28]);
            // The issued form only: the parser also forgives lower case and look-alikes.
            assert_eq!(
                matches(BOOKING_REFERENCE_PATTERN, &text),
                BookingReference::parse(&text).is_some()
                    && !"ILOU".contains(symbol)
                    && !symbol.is_ascii_lowercase(),
                "{text}"
            );
        }
    }

    #[test]
    fn the_201_links_carry_the_reference_into_get_patch_and_delete() {
        let document: serde_json::Value = serde_json::from_str(openapi_document()).unwrap();
        let links = &document["paths"]["/booking"]["post"]["responses"]["201"]["links"];
        let mut targets = Vec::new();
        for link in links.as_object().unwrap().values() {
            targets.push(link["operationId"].as_str().unwrap());
            assert!(link.get("operation_id").is_none(), "{link}");
            assert_eq!(
                link["parameters"]["header.Authorization"],
                "Bearer {$response.body#/bookingReference}"
            );
            assert_eq!(
                link["parameters"]["path.mysejahteraId"],
                "$response.body#/mysejahteraId"
            );
        }
        targets.sort_unstable();
        assert_eq!(targets, ["cancelBooking", "getBooking", "moveBooking"]);
        for method in ["get", "patch", "delete"] {
            let operation = &document["paths"]["/booking/{mysejahteraId}"][method];
            assert_eq!(operation["security"], json!([{"bookingReference": []}]));
            assert_eq!(
                operation["responses"]["401"]["headers"]["WWW-Authenticate"]["schema"]["type"],
                "string"
            );
        }
        let scheme = &document["components"]["securitySchemes"]["bookingReference"];
        assert_eq!(scheme["scheme"], "bearer");
    }

    #[test]
    fn the_operations_that_act_for_a_person_document_the_identity_token() {
        let document: serde_json::Value = serde_json::from_str(openapi_document()).unwrap();
        let mut found = Vec::new();
        for item in document["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                let id = operation["operationId"].as_str().unwrap();
                let header = operation["parameters"].as_array().and_then(|parameters| {
                    parameters.iter().find(|p| p["name"] == "X-Identity-Token")
                });
                if !IDENTIFIED_OPERATIONS.contains(&id) {
                    assert!(header.is_none(), "{id} does not act for a person");
                    continue;
                }
                found.push(id);
                assert_eq!(header.unwrap()["in"], "header", "{id}");
                let responses = &operation["responses"];
                assert!(
                    responses["401"]["description"]
                        .as_str()
                        .unwrap()
                        .contains("X-Identity-Token"),
                    "{id}"
                );
                assert!(
                    responses["403"]["description"]
                        .as_str()
                        .unwrap()
                        .contains("identity_mismatch"),
                    "{id}"
                );
            }
        }
        assert_eq!(found.len(), IDENTIFIED_OPERATIONS.len(), "{found:?}");
        let scheme = &document["components"]["securitySchemes"]["identityToken"];
        assert_eq!(scheme["name"], "X-Identity-Token");
    }

    #[test]
    fn every_operation_documents_its_errors_with_the_error_schema() {
        let document: serde_json::Value = serde_json::from_str(openapi_document()).unwrap();
        let error_ref = "#/components/schemas/Error";
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                for (status, response) in operation["responses"].as_object().unwrap() {
                    // 304 has no body by definition.
                    if status.starts_with('2') || status == "304" {
                        continue;
                    }
                    let schema = &response["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(schema, error_ref, "{method} {path} {status}");
                }
            }
        }
        let booking = &document["components"]["schemas"]["Booking"];
        assert_eq!(booking["additionalProperties"], false);
        assert_eq!(booking["examples"][0], booking_example());
        assert_eq!(
            booking["properties"]["address"]["maxLength"],
            MAX_ADDRESS_CHARS
        );
    }
}
