//! What a citizen takes to the vaccination centre, and puts in a calendar: `GET
//! /booking/{id}/slip`, a printable page with the booking, the reference and a QR code of the
//! signed check-in code (see `booking_core::check_in`), and `GET /booking/{id}/calendar`, an
//! iCalendar (RFC 5545) event for the date and centre. Both only to whoever shows the booking's
//! reference, like the booking itself, and never cached.
use std::fmt::Write as _;
use std::sync::LazyLock;

use booking_core::booking::BookingLookup;
use booking_core::check_in::{CheckInKey, booking_number};
use booking_core::domain::{Booking, BookingReference, MySejahteraId};
use booking_core::ports::BookingStore;
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use qrcode::QrCode;
use qrcode::render::svg;

use super::ApiError;
use super::locale::Language;
use super::request::{bearer_reference, path_value_before, require_method};
use super::security::page_policy;

#[allow(unused_imports)] // Named only inside the #[utoipa::path] attributes.
use super::openapi::{ErrorSchema, HtmlSchema, MySejahteraIdSchema};

/// The slip's style: also what the booking page's policy must admit when it shows a slip.
pub const SLIP_STYLE: &str = "body{margin:0;font:16px/1.5 system-ui,sans-serif;color:#111;background:#fff}\
main{max-width:36rem;margin:0 auto;padding:1.5rem}h1{font-size:1.4rem;margin:0 0 1rem}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0 0 1rem}\
dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}figure{margin:1rem 0;text-align:center}\
figure svg{width:min(16rem,80vw);height:auto}.ref{font:700 1.3rem/1.4 ui-monospace,monospace;letter-spacing:.05em}\
@media print{main{padding:0}}";

/// The words of the slip and the calendar entry, per language. Tamil and Chinese: to be read
/// by a native speaker before a deployment (README, "Languages").
struct Words {
    title: &'static str,
    name: &'static str,
    id: &'static str,
    centre: &'static str,
    date: &'static str,
    number: &'static str,
    reference: &'static str,
    show: &'static str,
    keep: &'static str,
    event: &'static str,
}

fn words(language: Language) -> &'static Words {
    match language {
        Language::Malay => &Words {
            title: "Slip temujanji vaksinasi",
            name: "Nama",
            id: "No. MySejahtera",
            centre: "Pusat vaksinasi",
            date: "Tarikh",
            number: "No. tempahan",
            reference: "Rujukan tempahan",
            show: "Tunjukkan slip ini dan MyKad anda di pusat vaksinasi.",
            keep: "Simpan rujukan ini: anda memerlukannya untuk melihat, menukar atau membatalkan tempahan.",
            event: "Vaksinasi",
        },
        Language::English => &Words {
            title: "Vaccination appointment slip",
            name: "Name",
            id: "MySejahtera ID",
            centre: "Vaccination centre",
            date: "Date",
            number: "Booking number",
            reference: "Booking reference",
            show: "Show this slip and your MyKad at the vaccination centre.",
            keep: "Keep this reference: you need it to view, change or cancel your booking.",
            event: "Vaccination",
        },
        Language::Chinese => &Words {
            title: "疫苗接种预约单",
            name: "姓名",
            id: "MySejahtera 号码",
            centre: "疫苗接种中心",
            date: "日期",
            number: "预约号",
            reference: "预约参考编号",
            show: "请在疫苗接种中心出示此预约单和您的 MyKad。",
            keep: "请保存此参考编号：查看、更改或取消预约时需要用到。",
            event: "疫苗接种",
        },
        Language::Tamil => &Words {
            title: "தடுப்பூசி சந்திப்புச் சீட்டு",
            name: "பெயர்",
            id: "MySejahtera எண்",
            centre: "தடுப்பூசி மையம்",
            date: "தேதி",
            number: "முன்பதிவு எண்",
            reference: "முன்பதிவு குறிப்பு எண்",
            show: "தடுப்பூசி மையத்தில் இந்தச் சீட்டையும் உங்கள் MyKad-ஐயும் காட்டவும்.",
            keep: "இந்தக் குறிப்பு எண்ணைப் பாதுகாத்து வைக்கவும்: முன்பதிவைப் பார்க்க, மாற்ற அல்லது ரத்து செய்ய இது தேவை.",
            event: "தடுப்பூசி",
        },
    }
}

/// Text placed in HTML: a name or address is data, never markup.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The check-in code as an inline SVG (no image fetched, nothing from elsewhere).
pub fn qr_svg(code: &str) -> String {
    let qr = QrCode::new(code.as_bytes()).expect("a check-in code fits a QR code");
    let svg = qr
        .render::<svg::Color>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .build();
    // Inline in HTML: no XML declaration.
    svg.split_once("?>")
        .map_or(svg.clone(), |(_, rest)| rest.to_owned())
}

/// The printable slip, in `language`.
pub fn render_slip(
    booking: &Booking,
    reference: &BookingReference,
    number: &str,
    code: &str,
    language: Language,
) -> String {
    let w = words(language);
    let mut html = String::with_capacity(16 * 1024);
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title><style>{SLIP_STYLE}</style></head><body><main>\
         <h1>{title}</h1><dl>\
         <dt>{name_label}</dt><dd>{name}</dd>\
         <dt>{id_label}</dt><dd>{id}</dd>\
         <dt>{centre_label}</dt><dd>{centre}</dd>\
         <dt>{date_label}</dt><dd>{date}</dd>\
         <dt>{number_label}</dt><dd>{number}</dd></dl>\
         <figure><div role=\"img\" aria-label=\"QR: {number}\">{qr}</div>\
         <figcaption>{show}</figcaption></figure>\
         <p>{reference_label}</p><p class=\"ref\">{reference}</p><p>{keep}</p>\
         </main></body></html>\n",
        lang = language.tag(),
        title = w.title,
        name_label = w.name,
        name = escape(&format!(
            "{} {}",
            booking.first_name.as_str(),
            booking.last_name.as_str()
        )),
        id_label = w.id,
        id = escape(booking.mysejahtera_id.as_str()),
        centre_label = w.centre,
        centre = escape(booking.location.as_str()),
        date_label = w.date,
        date = language.date(&booking.date.to_string()),
        number_label = w.number,
        qr = qr_svg(code),
        show = w.show,
        reference_label = w.reference,
        reference = escape(reference.expose()),
        keep = w.keep,
    );
    html
}

/// The calendar entry: an all-day event on the booking's date at its centre, with no personal
/// data beyond the booking number (calendars sync to places the service does not control).
pub fn render_calendar(booking: &Booking, number: &str, language: Language, now: &str) -> String {
    let date = booking.date.to_string();
    let next = booking
        .date
        .plus_days(1)
        .map_or(date.clone(), |day| day.to_string());
    let summary = format!("{}: {}", words(language).event, booking.location);
    let lines = [
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".to_owned(),
        "PRODID:-//vaccine-booking//slip//EN".to_owned(),
        "CALSCALE:GREGORIAN".to_owned(),
        "METHOD:PUBLISH".to_owned(),
        "BEGIN:VEVENT".to_owned(),
        format!("UID:{number}@vaccine-booking"),
        format!("DTSTAMP:{now}"),
        format!("DTSTART;VALUE=DATE:{date}"),
        format!("DTEND;VALUE=DATE:{next}"),
        format!("SUMMARY:{}", ics_text(&summary)),
        format!("LOCATION:{}", ics_text(booking.location.as_str())),
        format!(
            "DESCRIPTION:{}",
            ics_text(&format!("{} {number}", words(language).number))
        ),
        "TRANSP:TRANSPARENT".to_owned(),
        "END:VEVENT".to_owned(),
        "END:VCALENDAR".to_owned(),
    ];
    lines.iter().map(|line| fold(line)).collect()
}

/// RFC 5545 TEXT: backslash, semicolon, comma and newline escaped.
fn ics_text(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
        .replace('\n', "\\n")
}

/// A content line folded at 75 octets (never inside a UTF-8 character), CRLF-terminated.
fn fold(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 8);
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
    out
}

fn slip_request(
    request: &Request,
    document: &'static str,
) -> Result<(MySejahteraId, BookingReference), ApiError> {
    require_method(request, "GET")?;
    let id = MySejahteraId::parse(&path_value_before(
        request,
        MySejahteraId::FIELD,
        "booking",
        document,
    )?)?;
    Ok((id, bearer_reference(request)?))
}

fn private(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The booking's slip, to print or to show at the centre.
///
/// A printable page in the caller's language (`?lang=ms|en|zh|ta`, else `Accept-Language`)
/// with the booking, its reference, its booking number and a QR code of its signed check-in
/// code (README, "The slip"). Only with the booking's reference.
#[utoipa::path(
    get,
    path = "/booking/{mysejahteraId}/slip",
    tag = "bookings",
    operation_id = "getBookingSlip",
    params(
        ("mysejahteraId" = MySejahteraIdSchema, Path, description = "The person's MySejahtera ID"),
        ("lang" = Option<String>, Query, description = "ms, en, zh or ta"),
    ),
    security(("bookingReference" = [])),
    responses(
        (status = 200, description = "The slip", body = HtmlSchema, content_type = "text/html"),
        (status = 400, description = "`invalid_field`: not a MySejahtera ID", body = ErrorSchema),
        (status = 401, description = "`unauthorized`: no booking reference", body = ErrorSchema,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 404, description = "`booking_not_found`: no booking, or not its reference", body = ErrorSchema),
        (status = 503, description = "`store_unavailable`: retry", body = ErrorSchema),
    )
)]
pub async fn booking_slip<S: BookingStore>(
    lookup: &BookingLookup<S>,
    check_in: &CheckInKey,
    request: Request,
) -> Response<Body> {
    let result = async {
        let (id, reference) = slip_request(&request, "slip")?;
        crate::identity::authorize(lookup.identity(), &request, &id)?;
        Ok::<_, ApiError>((lookup.find_with_nonce(&id, &reference).await?, reference))
    }
    .await;
    match result {
        Ok(((booking, nonce), reference)) => {
            let html = render_slip(
                &booking,
                &reference,
                &booking_number(&nonce),
                &check_in.code(&booking, &nonce),
                Language::of(&request),
            );
            let mut response = private(StatusCode::OK, "text/html; charset=utf-8", html);
            static POLICY: LazyLock<String> =
                LazyLock::new(|| page_policy(&format!("<style>{SLIP_STYLE}</style>")));
            response.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_str(&POLICY).expect("a policy is ASCII"),
            );
            response
        }
        Err(error) => error.into_response(),
    }
}

/// The booking as a calendar entry.
///
/// An iCalendar (RFC 5545) all-day event on the booking's date at its centre, to import into a
/// phone's calendar. Only with the booking's reference.
#[utoipa::path(
    get,
    path = "/booking/{mysejahteraId}/calendar",
    tag = "bookings",
    operation_id = "getBookingCalendar",
    params(
        ("mysejahteraId" = MySejahteraIdSchema, Path, description = "The person's MySejahtera ID"),
        ("lang" = Option<String>, Query, description = "ms, en, zh or ta"),
    ),
    security(("bookingReference" = [])),
    responses(
        (status = 200, description = "The event", content_type = "text/calendar", body = String),
        (status = 400, description = "`invalid_field`: not a MySejahtera ID", body = ErrorSchema),
        (status = 401, description = "`unauthorized`: no booking reference", body = ErrorSchema,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 404, description = "`booking_not_found`: no booking, or not its reference", body = ErrorSchema),
        (status = 503, description = "`store_unavailable`: retry", body = ErrorSchema),
    )
)]
pub async fn booking_calendar<S: BookingStore>(
    lookup: &BookingLookup<S>,
    request: Request,
) -> Response<Body> {
    let result = async {
        let (id, reference) = slip_request(&request, "calendar")?;
        crate::identity::authorize(lookup.identity(), &request, &id)?;
        Ok::<_, ApiError>(lookup.find_with_nonce(&id, &reference).await?)
    }
    .await;
    match result {
        Ok((booking, nonce)) => {
            let now = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
            let ics = render_calendar(
                &booking,
                &booking_number(&nonce),
                Language::of(&request),
                &now,
            );
            let mut response = private(StatusCode::OK, "text/calendar; charset=utf-8", ics);
            response.headers_mut().insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"vaccination.ics\""),
            );
            response
        }
        Err(error) => error.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_a_name_is_shown_as_text() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }

    #[test]
    fn long_calendar_lines_fold_at_75_octets_between_characters() {
        let line = format!("SUMMARY:{}", "தடுப்பூசி ".repeat(10));
        let folded = fold(&line);
        for physical in folded.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(physical.len() <= 75, "{} octets", physical.len());
        }
        let unfolded = folded.strip_suffix("\r\n").unwrap().replace("\r\n ", "");
        assert_eq!(unfolded, line);
    }
}
