//! The identity check of the endpoints that act for a person: what the request shows (the
//! gateway's verified claims, or `X-Identity-Token`) against the ID it names.
use lambda_http::http::StatusCode;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use super::ApiError;
use booking_core::domain::MySejahteraId;
use booking_core::identity::{IdentityCheck, IdentityRefused, Presented, VerifiedClaims};
use booking_core::pseudonym;

/// The header the identity token travels in (`Authorization` carries the booking reference).
pub const IDENTITY_TOKEN_HEADER: &str = "x-identity-token";

/// What `request` shows for its caller. Claims come only from the request context, which only
/// API Gateway's authorizer fills (payload 2.0: `requestContext.authorizer.jwt.claims`; REST
/// 1.0: `requestContext.authorizer.claims`); no header or body can pass as them.
pub fn presented(request: &Request) -> Presented<'_> {
    let verified_claims = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context
            .authorizer
            .as_ref()
            .and_then(|authorizer| authorizer.jwt.as_ref())
            .filter(|jwt| !jwt.claims.is_empty())
            .map(|jwt| VerifiedClaims::Strings(&jwt.claims)),
        Some(RequestContext::ApiGatewayV1(context)) => context
            .authorizer
            .fields
            .get("claims")
            .and_then(serde_json::Value::as_object)
            .filter(|claims| !claims.is_empty())
            .map(VerifiedClaims::Json),
        _ => None,
    };
    let mut tokens = request.headers().get_all(IDENTITY_TOKEN_HEADER).iter();
    let token = match (tokens.next(), tokens.next()) {
        (None, _) => None,
        (Some(value), None) => Some(value.to_str().unwrap_or("")),
        // Two tokens: which one would count is ambiguous, so neither verifies.
        (Some(_), Some(_)) => Some(""),
    };
    Presented {
        verified_claims,
        token,
    }
}

/// Ok when the caller proved that `id` is theirs (always with `IDENTITY=none`).
pub(super) fn authorize(
    check: &IdentityCheck,
    request: &Request,
    id: &MySejahteraId,
) -> Result<(), ApiError> {
    check.authorize(presented(request), id).map_err(|refused| {
        // A pseudonym only: personal data never goes to the logs.
        tracing::info!(person = %pseudonym::person(id), %refused, "identity refused");
        ApiError::from(refused)
    })
}

impl From<IdentityRefused> for ApiError {
    fn from(refused: IdentityRefused) -> Self {
        let unauthorized =
            |message: String| Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message);
        match refused {
            IdentityRefused::Missing => unauthorized(
                "Send your identity token as `X-Identity-Token`: this endpoint acts for the \
                 person whose mysejahteraId it names."
                    .into(),
            ),
            IdentityRefused::Invalid(reason) => unauthorized(format!(
                "The identity token was refused ({reason}); sign in again for a new one."
            )),
            IdentityRefused::NoIdClaim { claim } => unauthorized(format!(
                "The identity token carries no valid {claim} claim, so it proves no ID."
            )),
            IdentityRefused::Unverifiable => {
                tracing::warn!(
                    "IDENTITY=jwt with neither the gateway's authorizer nor IDENTITY_JWKS: \
                     no token can be verified"
                );
                unauthorized("Identity tokens cannot be verified here; nothing was done.".into())
            }
            IdentityRefused::Mismatch => Self::new(
                StatusCode::FORBIDDEN,
                "identity_mismatch",
                "The identity token is another person's: you may act only for your own \
                 mysejahteraId.",
            ),
        }
    }
}
