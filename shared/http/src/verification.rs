//! `POST /verification` and `POST /verification/confirm`: a one-time code to the phone, traded
//! for an identity token (`IDENTITY=otp`; the token then travels in `X-Identity-Token`).
use std::time::Duration;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiError;
use super::handlers::private_json_response;
use super::request::{json_object, require_method, route_path, string_fields};
use booking_core::domain::{MySejahteraId, PhoneNumber};
use booking_core::verification::{VerificationCode, VerificationError, VerificationService};

#[allow(unused_imports)] // Named only inside the #[utoipa::path] attributes.
use super::openapi::{ErrorSchema, MySejahteraIdSchema, PhoneNumberSchema};

/// `POST /verification`'s body.
#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // A schema only: the body is parsed field by field like a booking's.
pub struct VerificationRequest {
    #[serde(rename = "mysejahteraId")]
    #[schema(value_type = MySejahteraIdSchema)]
    mysejahtera_id: String,
    #[serde(rename = "phoneNumber")]
    #[schema(value_type = PhoneNumberSchema)]
    phone_number: String,
}

/// `POST /verification/confirm`'s body.
#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // A schema only.
pub struct VerificationConfirmation {
    #[serde(rename = "mysejahteraId")]
    #[schema(value_type = MySejahteraIdSchema)]
    mysejahtera_id: String,
    #[serde(rename = "phoneNumber")]
    #[schema(value_type = PhoneNumberSchema)]
    phone_number: String,
    /// The 6 digits the phone was sent.
    #[schema(pattern = "^[0-9]{6}$", example = "042917")]
    code: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CodeSent {
    /// How long the code is good for.
    #[schema(example = 300)]
    pub expires_in_seconds: u64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdentityTokenBody {
    /// Send it as `X-Identity-Token` with every booking and queue request for this ID, until
    /// it expires. Keep it in memory only.
    pub identity_token: String,
    #[schema(example = 900)]
    pub expires_in_seconds: u64,
}

/// The ID and phone of either body, and the code of a confirmation, parsed before anything
/// reaches the store.
fn person_and_phone<const N: usize>(
    request: &Request,
    names: [&'static str; N],
) -> Result<(MySejahteraId, PhoneNumber, [String; N]), ApiError> {
    require_method(request, "POST")?;
    let mut fields = string_fields(json_object(request)?, names)?;
    let id = MySejahteraId::parse(&fields[0])?;
    let phone = PhoneNumber::parse(&fields[1])?;
    fields[0].clear();
    fields[1].clear();
    Ok((id, phone, fields))
}

/// Send a one-time code to the phone.
///
/// The same answer whether or not the ID holds a booking. A new code replaces the pair's
/// earlier one. Limits: 3 codes per phone per hour; one phone proves at most
/// `IDENTITY_IDS_PER_PHONE` (4 by default) distinct IDs in 24 hours; after 5 wrong codes the
/// ID and phone are locked for 15 minutes.
#[utoipa::path(
    post,
    path = "/verification",
    tag = "identity",
    operation_id = "requestVerification",
    request_body(content = VerificationRequest, content_type = "application/json",
        example = json!({"mysejahteraId": "900127015527", "phoneNumber": "0123456789"})),
    responses(
        (status = 202, description = "A code is on its way to the phone; it is good for `expiresInSeconds`", body = CodeSent),
        (status = 400, description = "`malformed_json`, or `invalid_field` naming the field", body = ErrorSchema,
            example = json!({"error": "invalid_field", "message": "phoneNumber must be 7 to 15 digits, optionally starting with '+'", "field": "phoneNumber"})),
        (status = 413, description = "`payload_too_large`", body = ErrorSchema),
        (status = 415, description = "`unsupported_media_type`", body = ErrorSchema),
        (status = 429, description = "`too_many_requests`: 3 codes were sent to this phone within the hour; \
            `verification_locked`: 5 wrong codes for this ID and phone, locked for 15 minutes; \
            `too_many_ids_for_phone`: the phone proved as many other IDs as it may within 24 hours. \
            Retry after `Retry-After` seconds.", body = ErrorSchema,
            headers(("Retry-After" = u64, description = "Seconds until the limit lets this request through")),
            example = json!({"error": "too_many_requests", "message": "This phone was sent 3 codes within the hour; ask again after the Retry-After seconds."})),
        (status = 503, description = "`store_unavailable`, or `code_not_sent` (the SMS could not be sent; ask again)", body = ErrorSchema),
    )
)]
pub async fn request_verification(
    service: &VerificationService,
    request: Request,
) -> Response<Body> {
    let result = async {
        let (id, phone, _) =
            person_and_phone(&request, [MySejahteraId::FIELD, PhoneNumber::FIELD])?;
        Ok::<_, ApiError>(service.request(&id, &phone).await?)
    }
    .await;
    match result {
        Ok(expires_in) => private_json_response(
            StatusCode::ACCEPTED,
            &CodeSent {
                expires_in_seconds: expires_in.as_secs(),
            },
        ),
        Err(error) => error.into_response(),
    }
}

/// Trade the code for an identity token.
///
/// A wrong code, an expired one and none at all are the same 401 `verification_failed`; each
/// wrong try counts, and the 5th locks the ID and phone for 15 minutes (429, even with the
/// right code). A code works once.
#[utoipa::path(
    post,
    path = "/verification/confirm",
    tag = "identity",
    operation_id = "confirmVerification",
    request_body(content = VerificationConfirmation, content_type = "application/json",
        example = json!({"mysejahteraId": "900127015527", "phoneNumber": "0123456789", "code": "042917"})),
    responses(
        (status = 200, description = "The phone is proven for this ID", body = IdentityTokenBody,
            headers(("Cache-Control" = String, description = "no-store"))),
        (status = 400, description = "`malformed_json`, or `invalid_field` naming the field", body = ErrorSchema,
            example = json!({"error": "invalid_field", "message": "code must be the 6 digits sent to the phone", "field": "code"})),
        (status = 401, description = "`verification_failed`: not the code sent for this ID and phone, or no longer valid", body = ErrorSchema,
            example = json!({"error": "verification_failed", "message": "This is not a valid code for this ID and phone number. Ask for a new one if it expired."})),
        (status = 413, description = "`payload_too_large`", body = ErrorSchema),
        (status = 415, description = "`unsupported_media_type`", body = ErrorSchema),
        (status = 429, description = "`verification_locked` (5 wrong codes: locked for 15 minutes) or \
            `too_many_ids_for_phone`; retry after `Retry-After` seconds", body = ErrorSchema,
            headers(("Retry-After" = u64, description = "Seconds until the lock ends")),
            example = json!({"error": "verification_locked", "message": "Too many wrong codes for this ID and phone number; try again after the Retry-After seconds."})),
        (status = 503, description = "`store_unavailable`: retry", body = ErrorSchema),
    )
)]
pub async fn confirm_verification(
    service: &VerificationService,
    request: Request,
) -> Response<Body> {
    let result = async {
        let (id, phone, [.., code]) = person_and_phone(
            &request,
            [
                MySejahteraId::FIELD,
                PhoneNumber::FIELD,
                VerificationCode::FIELD,
            ],
        )?;
        let code = VerificationCode::parse(&code)?;
        Ok::<_, ApiError>(service.confirm(&id, &phone, &code).await?)
    }
    .await;
    match result {
        Ok(issued) => private_json_response(
            StatusCode::OK,
            &IdentityTokenBody {
                identity_token: issued.token,
                expires_in_seconds: issued.expires_in.as_secs(),
            },
        ),
        Err(error) => error.into_response(),
    }
}

/// Both routes, for the one function that serves them.
pub async fn verification(service: &VerificationService, request: Request) -> Response<Body> {
    let path = route_path(&request);
    if path
        .trim_end_matches('/')
        .ends_with("/verification/confirm")
    {
        confirm_verification(service, request).await
    } else if path.trim_end_matches('/').ends_with("/verification") {
        request_verification(service, request).await
    } else {
        ApiError::route_not_found().into_response()
    }
}

/// A 429 that says when to come back.
fn limited(code: &'static str, message: &'static str, retry_after: Duration) -> ApiError {
    ApiError {
        retry_after: Some(retry_after.as_secs().max(1)),
        ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, message)
    }
}

impl From<VerificationError> for ApiError {
    fn from(error: VerificationError) -> Self {
        match error {
            VerificationError::TooManyCodes { retry_after } => limited(
                "too_many_requests",
                "This phone was sent 3 codes within the hour; ask again after the Retry-After \
                 seconds.",
                retry_after,
            ),
            VerificationError::Locked { retry_after } => limited(
                "verification_locked",
                "Too many wrong codes for this ID and phone number; try again after the \
                 Retry-After seconds.",
                retry_after,
            ),
            VerificationError::TooManyIds { retry_after } => limited(
                "too_many_ids_for_phone",
                "This phone number has proven as many IDs as one phone may within a day; use \
                 the person's own phone, or try again after the Retry-After seconds.",
                retry_after,
            ),
            VerificationError::Failed => Self::new(
                StatusCode::UNAUTHORIZED,
                "verification_failed",
                "This is not a valid code for this ID and phone number. Ask for a new one if \
                 it expired.",
            ),
            VerificationError::NotSent(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "code_not_sent",
                "The code could not be sent to this phone just now; ask for one again in a \
                 minute.",
            ),
            VerificationError::NoRandomness => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "No code could be made; ask again.",
            ),
            VerificationError::Store(error) => error.into(),
        }
    }
}
