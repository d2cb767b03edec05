//! The waiting room's endpoints (`POST /queue`, `GET /queue`, `GET /queue/{ticket}`) and the
//! admission check in front of `POST /booking` while the room is on.
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiError;
use super::handlers::{create_booking, json_response};
use super::request::{json_object, path_value, require_method, string_fields};
use booking_core::booking::BookingService;
use booking_core::domain::MySejahteraId;
use booking_core::ports::{BookingStore, EventPublisher, Outbox, QueueProgress};
use booking_core::pseudonym;
use booking_core::waiting_room::{
    AdmissionGate, JoinError, NotAdmitted, QueueStatus, TicketError, WaitingRoom,
};

#[allow(unused_imports)] // Named only inside the #[utoipa::path] attributes.
use super::openapi::{ErrorSchema, MySejahteraIdSchema};

/// The header `POST /booking` needs while the waiting room is on.
pub const ADMISSION_TOKEN_HEADER: &str = "admission-token";
/// Tickets are about 80 characters; anything much longer is not one, and is not hashed.
const MAX_TICKET_LEN: usize = 200;

/// `POST /queue`'s body.
#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // A schema only: the body is parsed field by field like a booking's.
pub struct QueueJoinRequest {
    #[serde(rename = "mysejahteraId")]
    #[schema(value_type = MySejahteraIdSchema)]
    mysejahtera_id: String,
}

/// A person's place, as `POST /queue` answers.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueTicket {
    /// Poll `GET /queue/{ticket}` with it; it does not reveal the ID.
    #[schema(example = "17.5f0e0c2b6a1d4c3e8f9a7b6c5d4e3f21.0a1b2c3d4e5f60718293a4b5c6d7e8f9")]
    pub ticket: String,
    /// 1 is the first person in; also the number before the first '.' of the ticket.
    #[schema(example = 17, minimum = 1)]
    pub position: u64,
    pub status: QueueStatusSchema,
}

/// `waiting` (not yet let in), `admitted` (book now with the admission token) or `closed` (no
/// slot is left anywhere).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum QueueStatusSchema {
    Waiting,
    Admitted,
    Closed,
}

impl From<QueueStatus> for QueueStatusSchema {
    fn from(status: QueueStatus) -> Self {
        match status {
            QueueStatus::Waiting => Self::Waiting,
            QueueStatus::Admitted => Self::Admitted,
            QueueStatus::Closed => Self::Closed,
        }
    }
}

/// `open` while slots are left, `closed` once none is left anywhere.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoomStatus {
    Open,
    Closed,
}

/// The same answer for everybody: compare `serving` with the position in your ticket.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueProgressBody {
    /// Every position up to and including this one is let in.
    #[schema(example = 12000, minimum = 0)]
    pub serving: u64,
    pub status: RoomStatus,
}

/// One ticket's standing.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketStatusBody {
    #[schema(example = 17, minimum = 1)]
    pub position: u64,
    #[schema(example = 12, minimum = 0)]
    pub serving: u64,
    pub status: QueueStatusSchema,
    /// Only when admitted: send it as the `Admission-Token` header of `POST /booking` with
    /// this person's ID, within 10 minutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admission_token: Option<String>,
}

fn json(status: StatusCode, body: &impl Serialize, cache_control: &'static str) -> Response<Body> {
    let mut response = json_response(status, body);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    response
}

/// Shared answers any cache may keep for the second the API allows.
const SHARED: &str = "public, max-age=1";
/// Answers carrying an admission token: no CDN or browser cache may keep (or log) a copy.
const PRIVATE: &str = "no-store";

/// Take a place in the waiting room.
///
/// One place per person: 201 with a new ticket, 200 with the same ticket and position when the
/// person is already queued (another tab, a retry).
#[utoipa::path(
    post,
    path = "/queue",
    tag = "waiting room",
    operation_id = "joinQueue",
    request_body(content = QueueJoinRequest, content_type = "application/json",
        example = json!({"mysejahteraId": "900127015527"})),
    responses(
        (status = 201, description = "Queued", body = QueueTicket),
        (status = 200, description = "Already queued: the same ticket and position", body = QueueTicket),
        (status = 400, description = "`malformed_json`, or `invalid_field` naming the field",
            body = ErrorSchema, example = json!({"error": "invalid_field", "message": "mysejahteraId is required", "field": "mysejahteraId"})),
        (status = 413, description = "`payload_too_large`", body = ErrorSchema,
            example = json!({"error": "payload_too_large", "message": "The body must be at most 16384 bytes."})),
        (status = 415, description = "`unsupported_media_type`", body = ErrorSchema,
            example = json!({"error": "unsupported_media_type", "message": "Send the body as application/json."})),
        (status = 409, description = "`room_not_open`: no opening of the waiting room is under way; `queue_full`: every place of this opening is taken",
            body = ErrorSchema, example = json!({"error": "queue_full", "message": "The waiting room has given out all its 3000000 places."})),
        (status = 503, description = "`store_unavailable`: retry; the place is the same either way", body = ErrorSchema,
            example = json!({"error": "store_unavailable", "message": "The booking store did not answer. Nothing is confirmed; repeating the same request is safe."})),
    )
)]
pub async fn join_queue(room: &WaitingRoom, request: Request) -> Response<Body> {
    let result = async {
        require_method(&request, "POST")?;
        let [id] = string_fields(json_object(&request)?, [MySejahteraId::FIELD])?;
        let id = MySejahteraId::parse(&id)?;
        crate::identity::authorize(room.identity(), &request, &id)?;
        Ok::<_, ApiError>(room.join(&id).await?)
    }
    .await;
    match result {
        Ok(joined) => {
            let status = if joined.newly_queued {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let body = QueueTicket {
                position: joined.position,
                status: joined.status.into(),
                ticket: joined.ticket,
            };
            json(status, &body, PRIVATE)
        }
        Err(error) => error.into_response(),
    }
}

/// The serving number and whether the room is open.
///
/// The same answer for everybody, cacheable for a second: poll this (your position is the
/// number before the first '.' of your ticket) and call `GET /queue/{ticket}` once `serving`
/// reached it, to collect the admission token.
#[utoipa::path(
    get,
    path = "/queue",
    tag = "waiting room",
    operation_id = "queueProgress",
    responses(
        (status = 200, description = "Where the room stands", body = QueueProgressBody,
            headers(("Cache-Control" = String, description = "public, max-age=1"))),
        (status = 503, description = "`store_unavailable`: retry", body = ErrorSchema,
            example = json!({"error": "store_unavailable", "message": "The booking store did not answer. Nothing is confirmed; repeating the same request is safe."})),
    )
)]
pub async fn queue_progress(room: &WaitingRoom, request: Request) -> Response<Body> {
    let result = async {
        require_method(&request, "GET")?;
        Ok::<_, ApiError>(room.progress().await?)
    }
    .await;
    match result {
        Ok(QueueProgress { serving, open, .. }) => {
            let status = if open {
                RoomStatus::Open
            } else {
                RoomStatus::Closed
            };
            json(
                StatusCode::OK,
                &QueueProgressBody { serving, status },
                SHARED,
            )
        }
        Err(error) => error.into_response(),
    }
}

/// A ticket's standing, and its admission token once admitted.
///
/// `waiting` and `closed` answers are cacheable for a second; an `admitted` answer carries the
/// admission token and is `no-store`, so no CDN keeps or serves it.
#[utoipa::path(
    get,
    path = "/queue/{ticket}",
    tag = "waiting room",
    operation_id = "queueTicketStatus",
    params(("ticket" = String, Path, description = "The ticket `POST /queue` gave", max_length = 200)),
    responses(
        (status = 200, description = "The ticket's standing", body = TicketStatusBody,
            headers(("Cache-Control" = String, description = "public, max-age=1 unless admitted; no-store with a token"))),
        (status = 404, description = "`ticket_not_found`: not a ticket this service issued", body = ErrorSchema,
            example = json!({"error": "ticket_not_found", "message": "This is not a ticket the waiting room issued."})),
        (status = 503, description = "`store_unavailable`: retry", body = ErrorSchema,
            example = json!({"error": "store_unavailable", "message": "The booking store did not answer. Nothing is confirmed; repeating the same request is safe."})),
    )
)]
pub async fn queue_ticket_status(room: &WaitingRoom, request: Request) -> Response<Body> {
    let result = async {
        require_method(&request, "GET")?;
        // Whatever cannot be a ticket (bad escapes included) is simply not one of ours.
        let ticket = path_value(&request, "ticket", "queue").map_err(|_| TicketError::Unknown)?;
        if ticket.len() > MAX_TICKET_LEN {
            return Err(TicketError::Unknown.into());
        }
        Ok::<_, ApiError>(room.ticket_status(&ticket).await?)
    }
    .await;
    match result {
        Ok(standing) => {
            let cache = if standing.admission_token.is_some() {
                PRIVATE
            } else {
                SHARED
            };
            let body = TicketStatusBody {
                position: standing.position,
                serving: standing.serving,
                status: standing.status.into(),
                admission_token: standing.admission_token,
            };
            json(StatusCode::OK, &body, cache)
        }
        Err(error) => error.into_response(),
    }
}

/// `GET /queue` or `GET /queue/{ticket}`, for the one function that serves both: a ticket is
/// whatever follows `/queue/`.
pub async fn queue_status(room: &WaitingRoom, request: Request) -> Response<Body> {
    match path_value(&request, "ticket", "queue") {
        Err(error) if error.code == "route_not_found" => queue_progress(room, request).await,
        _ => queue_ticket_status(room, request).await,
    }
}

/// `POST /booking` behind the waiting room: with a gate (the room is on), the booking needs an
/// `Admission-Token` valid for the body's person, else 403 `not_admitted` and nothing is
/// stored; without one, exactly `create_booking`.
pub async fn create_admitted_booking<S: BookingStore, O: Outbox, P: EventPublisher>(
    gate: Option<&AdmissionGate>,
    service: &BookingService<S, O, P>,
    request: Request,
) -> Response<Body> {
    if let Some(gate) = gate
        && let Err(refusal) = admission(gate, &request).await
    {
        tracing::info!(reason = refusal.reason(), "booking refused: not admitted");
        return ApiError::from(refusal).into_response();
    }
    create_booking(service, request).await
}

/// Ok also when the body names no valid person: `create_booking` then refuses it with 400,
/// before anything reaches the store.
async fn admission(gate: &AdmissionGate, request: &Request) -> Result<(), NotAdmitted> {
    let Ok(body) = json_object(request) else {
        return Ok(());
    };
    let Some(Ok(id)) = body
        .get(MySejahteraId::FIELD)
        .and_then(|value| value.as_str())
        .map(MySejahteraId::parse)
    else {
        return Ok(());
    };
    let token = request
        .headers()
        .get(ADMISSION_TOKEN_HEADER)
        .map(|value| value.to_str().unwrap_or(""));
    let result = gate.check(token, &id).await;
    if result.is_err() {
        tracing::debug!(person = %pseudonym::person(&id), "admission token refused");
    }
    result
}

impl From<NotAdmitted> for ApiError {
    fn from(refusal: NotAdmitted) -> Self {
        let message = match refusal {
            NotAdmitted::Store(error) => return error.into(),
            NotAdmitted::OtherEpoch => {
                "The Admission-Token is from an earlier opening of the waiting room; join the \
                 room now open (POST /queue)."
            }
            NotAdmitted::Missing => {
                "The waiting room is on: join it (POST /queue) and book with the Admission-Token \
                 your ticket gives once admitted."
            }
            NotAdmitted::Invalid => {
                "The Admission-Token is not valid for this mysejahteraId; use the one your own \
                 ticket gave."
            }
            NotAdmitted::Expired => {
                "The Admission-Token has expired; fetch a new one with your ticket \
                 (GET /queue/{ticket})."
            }
        };
        Self::new(StatusCode::FORBIDDEN, "not_admitted", message)
    }
}

impl From<JoinError> for ApiError {
    fn from(error: JoinError) -> Self {
        match error {
            JoinError::NotOpen => Self::new(
                StatusCode::CONFLICT,
                "room_not_open",
                "The waiting room is not open; booking opens with it (see GET /queue).",
            ),
            JoinError::Full { max_size } => Self::new(
                StatusCode::CONFLICT,
                "queue_full",
                format!("The waiting room has given out all its {max_size} places."),
            ),
            JoinError::Store(error) => error.into(),
        }
    }
}

impl From<TicketError> for ApiError {
    fn from(error: TicketError) -> Self {
        match error {
            TicketError::Unknown => Self::new(
                StatusCode::NOT_FOUND,
                "ticket_not_found",
                "This is not a ticket of the waiting room now open (an earlier opening's \
                 tickets end with it).",
            ),
            TicketError::Store(error) => error.into(),
        }
    }
}
