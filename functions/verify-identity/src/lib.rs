//! POST /verification and POST /verification/confirm: a one-time code to the phone, traded for
//! an identity token (`IDENTITY=otp`).
use std::sync::Arc;

use booking_core::config::ConfigError;
use booking_core::verification::{OtpSender, VerificationService};
use booking_redis::verification::VerificationSettings;
use lambda_http::{Body, Request, Response};

/// The store's and tokens' settings, and the sender `OTP_SENDER` names.
pub struct Settings {
    pub verification: VerificationSettings,
    pub sender: Arc<dyn OtpSender>,
}

impl Settings {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            verification: VerificationSettings::from_lookup(&lookup)?,
            sender: booking_otp::sender_from_lookup(&lookup)?,
        })
    }
}

pub struct VerifyIdentity {
    service: VerificationService,
}

impl VerifyIdentity {
    pub fn build(settings: Settings) -> Result<Self, booking_core::ports::StoreError> {
        Ok(Self {
            service: settings.verification.service(settings.sender)?,
        })
    }

    /// The same function on another clock (tests move it).
    #[must_use]
    pub fn with_clock(self, clock: Arc<dyn booking_core::ports::Clock>) -> Self {
        Self {
            service: self.service.with_clock(clock),
        }
    }

    pub fn service(&self) -> &VerificationService {
        &self.service
    }

    pub async fn handle(&self, request: Request) -> Response<Body> {
        booking_http::verification(&self.service, request).await
    }
}
