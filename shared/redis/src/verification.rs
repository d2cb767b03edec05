//! One-time codes (`IDENTITY=otp`). Every key of a phone carries the phone's keyed hash `P` as
//! its hash tag, so each script touches one cluster slot; `I` is the ID's keyed hash. No key
//! name or value holds a phone number, an ID or a code:
//! - `otp:{P}:code:I` hash: the code's keyed hash, `expiresAt` (Unix ms), wrong `tries`; TTL
//!   the code's 5 minutes
//! - `otp:{P}:lock:I` string, Unix ms until which the pair is locked; TTL the 15 minutes
//! - `otp:{P}:sent`   sorted set of the codes sent to the phone (scored by when); TTL an hour
//! - `otp:{P}:ids`    sorted set, ID hash -> when the phone last proved it; TTL a day
//!
//! The scripts decide by the times the caller passes (its clock), not by TTLs: a TTL only
//! removes what no rule reads any more.
use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use redis::Script;

use super::{RedisStore, unavailable, unix_millis};
use booking_core::ports::StoreError;
use booking_core::service_metrics::store_call;
use booking_core::verification::{
    CodeCheck, CodeIssue, CodeSubject, VerificationLimits, VerificationStore,
};

static ISSUE: LazyLock<Script> = composed_script!("otp_limits.lua", "issue_code.lua");
static CHECK: LazyLock<Script> = composed_script!("otp_limits.lua", "check_code.lua");

/// The phone's keys: `otp:{P}:sent`, `otp:{P}:ids`.
pub fn otp_phone_key(subject: &CodeSubject, what: &str) -> String {
    format!("otp:{{{}}}:{what}", subject.phone)
}

/// The pair's keys: `otp:{P}:code:I`, `otp:{P}:lock:I`.
pub fn otp_pair_key(subject: &CodeSubject, what: &str) -> String {
    format!("otp:{{{}}}:{what}:{}", subject.phone, subject.id)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// `{outcome}` or `{outcome, ms}` as the scripts answer; the wait rounded up to whole seconds.
fn parse(script: &str, reply: &[String]) -> Result<(String, Duration), StoreError> {
    let unexpected = || StoreError::UnexpectedReply(format!("{script} said {reply:?}"));
    match reply {
        [outcome] => Ok((outcome.clone(), Duration::ZERO)),
        [outcome, ms] => {
            let ms: u64 = ms.parse().map_err(|_| unexpected())?;
            Ok((
                outcome.clone(),
                Duration::from_secs(ms.div_ceil(1000).max(1)),
            ))
        }
        _ => Err(unexpected()),
    }
}

#[async_trait]
impl VerificationStore for RedisStore {
    async fn issue_code(
        &self,
        subject: &CodeSubject,
        code_hash: &str,
        now: SystemTime,
        limits: &VerificationLimits,
    ) -> Result<CodeIssue, StoreError> {
        let mut connection = self.connection();
        let reply: Vec<String> = store_call(
            "issue_code",
            ISSUE
                .key(otp_pair_key(subject, "lock"))
                .key(otp_phone_key(subject, "ids"))
                .key(otp_phone_key(subject, "sent"))
                .key(otp_pair_key(subject, "code"))
                .arg(unix_millis(now))
                .arg(code_hash)
                .arg(millis(limits.code_ttl))
                .arg(limits.codes_per_phone)
                .arg(millis(limits.codes_window))
                .arg(&subject.id)
                .arg(limits.ids_per_phone)
                .arg(millis(limits.ids_window))
                .invoke_async(&mut connection),
        )
        .await
        .map_err(unavailable)?;
        let (outcome, retry_after) = parse("issue_code", &reply)?;
        match outcome.as_str() {
            "stored" => Ok(CodeIssue::Stored),
            "locked" => Ok(CodeIssue::Locked { retry_after }),
            "too_many_codes" => Ok(CodeIssue::TooManyCodes { retry_after }),
            "too_many_ids" => Ok(CodeIssue::TooManyIds { retry_after }),
            _ => Err(StoreError::UnexpectedReply(format!(
                "issue_code said {reply:?}"
            ))),
        }
    }

    async fn check_code(
        &self,
        subject: &CodeSubject,
        code_hash: &str,
        now: SystemTime,
        limits: &VerificationLimits,
    ) -> Result<CodeCheck, StoreError> {
        let mut connection = self.connection();
        let reply: Vec<String> = store_call(
            "check_code",
            CHECK
                .key(otp_pair_key(subject, "lock"))
                .key(otp_phone_key(subject, "ids"))
                .key(otp_pair_key(subject, "code"))
                .arg(unix_millis(now))
                .arg(code_hash)
                .arg(limits.max_tries)
                .arg(millis(limits.lock))
                .arg(&subject.id)
                .arg(limits.ids_per_phone)
                .arg(millis(limits.ids_window))
                .invoke_async(&mut connection),
        )
        .await
        .map_err(unavailable)?;
        let (outcome, retry_after) = parse("check_code", &reply)?;
        match outcome.as_str() {
            "verified" => Ok(CodeCheck::Verified),
            "failed" => Ok(CodeCheck::Failed),
            "locked" => Ok(CodeCheck::Locked { retry_after }),
            "too_many_ids" => Ok(CodeCheck::TooManyIds { retry_after }),
            _ => Err(StoreError::UnexpectedReply(format!(
                "check_code said {reply:?}"
            ))),
        }
    }
}

/// What the verification function needs besides its sender: `REDIS_*`,
/// `IDENTITY_TOKEN_KEY`, `IDENTITY_TOKEN_TTL_SECONDS`, `IDENTITY_IDS_PER_PHONE`.
pub struct VerificationSettings {
    pub redis: crate::config::RedisConfig,
    pub tokens: booking_core::identity_token::IdentityTokens,
    pub limits: VerificationLimits,
}

impl VerificationSettings {
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, booking_core::config::ConfigError> {
        Ok(Self {
            redis: crate::config::RedisConfig::from_lookup(&lookup)?,
            tokens: booking_core::identity_token::IdentityTokens::from_lookup(&lookup)?,
            limits: VerificationLimits::from_lookup(&lookup)?,
        })
    }

    /// The use case over this Redis, sending with `sender`, on the system clock.
    pub fn service(
        self,
        sender: std::sync::Arc<dyn booking_core::verification::OtpSender>,
    ) -> Result<booking_core::verification::VerificationService, StoreError> {
        let store = RedisStore::from_config(self.redis.clone())?;
        Ok(self.service_on(store, sender))
    }

    /// The use case over a store of the process (local-api shares one), ignoring `redis`.
    pub fn service_on(
        self,
        store: RedisStore,
        sender: std::sync::Arc<dyn booking_core::verification::OtpSender>,
    ) -> booking_core::verification::VerificationService {
        booking_core::verification::VerificationService::new(
            std::sync::Arc::new(store),
            sender,
            self.tokens,
            self.limits,
        )
    }
}
