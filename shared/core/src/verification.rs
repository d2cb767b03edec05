//! Use case: a person proves a phone by a one-time code, for an ID (`IDENTITY=otp`).
//!
//! `POST /verification` draws a 6-digit code, stores only its keyed hash and sends the code to
//! the phone; `POST /verification/confirm` trades the right code for an identity token
//! ([`IdentityTokens`]). The limits, each enforced atomically by the store:
//! - a code is good for 5 minutes and 5 tries; the 5th wrong try locks the (ID, phone) pair for
//!   15 minutes, for new codes too;
//! - at most 3 codes per phone per hour (whatever the IDs): each costs an SMS;
//! - one phone proves at most `IDENTITY_IDS_PER_PHONE` (4) distinct IDs in 24 hours (a
//!   family, not a call centre): an ID verified again within the day does not count twice.
//!
//! Nothing here reads bookings, so the answers are the same whether or not the ID holds one.
//! Phone numbers and codes never reach a log line, a metric or a Redis key name: the store is
//! given keyed hashes ([`CodeSubject`]).
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::config::{ConfigError, bounded_number};
use crate::domain::{MySejahteraId, PhoneNumber, ValidationError};
use crate::identity_token::{IdentityKey, IdentityTokens};
use crate::ports::{Clock, StoreError, SystemClock};
use crate::pseudonym;

pub const IDENTITY_IDS_PER_PHONE: &str = "IDENTITY_IDS_PER_PHONE";
pub const DEFAULT_IDS_PER_PHONE: u64 = 4;

/// The limits codes are given and checked under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerificationLimits {
    /// How long a code is good for.
    pub code_ttl: Duration,
    /// Wrong tries that lock the (ID, phone) pair.
    pub max_tries: u32,
    /// How long the lock lasts.
    pub lock: Duration,
    /// Codes one phone may be sent within `codes_window`.
    pub codes_per_phone: u32,
    pub codes_window: Duration,
    /// Distinct IDs one phone may prove within `ids_window`.
    pub ids_per_phone: u32,
    pub ids_window: Duration,
}

impl Default for VerificationLimits {
    fn default() -> Self {
        Self {
            code_ttl: Duration::from_secs(5 * 60),
            max_tries: 5,
            lock: Duration::from_secs(15 * 60),
            codes_per_phone: 3,
            codes_window: Duration::from_secs(3600),
            ids_per_phone: DEFAULT_IDS_PER_PHONE as u32,
            ids_window: Duration::from_secs(24 * 3600),
        }
    }
}

impl VerificationLimits {
    /// The defaults, with `IDENTITY_IDS_PER_PHONE` (1 to 20, 4 by default).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let ids = bounded_number(
            &lookup,
            IDENTITY_IDS_PER_PHONE,
            DEFAULT_IDS_PER_PHONE,
            1..=20,
        )?;
        Ok(Self {
            ids_per_phone: u32::try_from(ids).expect("at most 20"),
            ..Self::default()
        })
    }
}

/// A one-time code: 6 digits. Debug hides it, so no log line shows one by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct VerificationCode(String);

impl fmt::Debug for VerificationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VerificationCode(<redacted>)")
    }
}

impl VerificationCode {
    pub const FIELD: &'static str = "code";

    /// Uniform over 000000-999999, from the OS generator.
    pub fn random() -> Result<Self, getrandom::Error> {
        // The largest multiple of 10^6 below 2^32: draws above it would favour low codes.
        const LIMIT: u32 = 4_294_000_000;
        loop {
            let draw = getrandom::u32()?;
            if draw < LIMIT {
                return Ok(Self(format!("{:06}", draw % 1_000_000)));
            }
        }
    }

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if raw.len() == 6 && raw.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValidationError::new(
                Self::FIELD,
                "must be the 6 digits sent to the phone",
            ))
        }
    }

    /// The digits, for the message to the phone only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The text of the SMS.
pub fn sms_text(code: &VerificationCode) -> String {
    format!(
        "{} is your vaccination booking code. It expires in 5 minutes. Never share it.",
        code.expose()
    )
}

/// Who a code is for, as the store may see it: keyed hashes of the phone and the ID (32 hex
/// digits each), never the number or the ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeSubject {
    pub phone: String,
    pub id: String,
}

/// What the store decided about sending a new code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeIssue {
    /// Stored (replacing an earlier code of the pair): send it.
    Stored,
    /// The pair is locked after too many wrong tries.
    Locked { retry_after: Duration },
    /// The phone was sent its codes for this hour.
    TooManyCodes { retry_after: Duration },
    /// The phone has proven as many other IDs as it may.
    TooManyIds { retry_after: Duration },
}

/// What the store decided about a code presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// The pair's code, in time: used up, and the ID counted for the phone.
    Verified,
    /// No code, an expired one, or a wrong one (its try counted; the last allowed one locks).
    Failed,
    Locked {
        retry_after: Duration,
    },
    TooManyIds {
        retry_after: Duration,
    },
}

/// The codes, each limit checked in the same atomic step that changes them.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait VerificationStore: Send + Sync {
    /// Stores `code_hash` as the pair's code unless a limit says no, counting it for the phone.
    async fn issue_code(
        &self,
        subject: &CodeSubject,
        code_hash: &str,
        now: SystemTime,
        limits: &VerificationLimits,
    ) -> Result<CodeIssue, StoreError>;

    /// Checks `code_hash` against the pair's code, counting a wrong try.
    async fn check_code(
        &self,
        subject: &CodeSubject,
        code_hash: &str,
        now: SystemTime,
        limits: &VerificationLimits,
    ) -> Result<CodeCheck, StoreError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the code could not be sent: {0}")]
pub struct OtpSendError(pub String);

/// Gets a code to a phone: SMS in AWS, a file locally. The error must not quote the number or
/// the code (it is logged).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait OtpSender: Send + Sync {
    async fn send(&self, phone: &PhoneNumber, code: &VerificationCode) -> Result<(), OtpSendError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerificationError {
    #[error("too many wrong codes for this ID and phone")]
    Locked { retry_after: Duration },
    #[error("too many codes sent to this phone")]
    TooManyCodes { retry_after: Duration },
    #[error("this phone proved as many IDs as it may")]
    TooManyIds { retry_after: Duration },
    /// Wrong, expired or no code: one answer for all three.
    #[error("the code is not right")]
    Failed,
    #[error(transparent)]
    NotSent(OtpSendError),
    #[error("no randomness for a code")]
    NoRandomness,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A token for an ID, and how long it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub token: String,
    pub expires_in: Duration,
}

pub struct VerificationService {
    store: Arc<dyn VerificationStore>,
    sender: Arc<dyn OtpSender>,
    tokens: IdentityTokens,
    limits: VerificationLimits,
    clock: Arc<dyn Clock>,
}

impl VerificationService {
    pub fn new(
        store: Arc<dyn VerificationStore>,
        sender: Arc<dyn OtpSender>,
        tokens: IdentityTokens,
        limits: VerificationLimits,
    ) -> Self {
        Self {
            store,
            sender,
            tokens,
            limits,
            clock: Arc::new(SystemClock),
        }
    }

    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn limits(&self) -> &VerificationLimits {
        &self.limits
    }

    pub fn tokens(&self) -> &IdentityTokens {
        &self.tokens
    }

    fn key(&self) -> &IdentityKey {
        self.tokens.key()
    }

    fn subject(&self, id: &MySejahteraId, phone: &PhoneNumber) -> CodeSubject {
        CodeSubject {
            phone: self.key().phone_hash(phone),
            id: self.key().hash_hex("otp-id/v1", &[id.as_str().as_bytes()]),
        }
    }

    /// Bound to the pair, so a code sent for one ID or phone is no code for another.
    fn code_hash(&self, subject: &CodeSubject, code: &VerificationCode) -> String {
        self.key().hash_hex(
            "otp-code/v1",
            &[
                subject.phone.as_bytes(),
                subject.id.as_bytes(),
                code.expose().as_bytes(),
            ],
        )
    }

    /// Sends a new code to `phone` for `id`; how long it is good for.
    pub async fn request(
        &self,
        id: &MySejahteraId,
        phone: &PhoneNumber,
    ) -> Result<Duration, VerificationError> {
        let subject = self.subject(id, phone);
        let code = VerificationCode::random().map_err(|_| VerificationError::NoRandomness)?;
        let now = self.clock.now();
        let issued = self
            .store
            .issue_code(
                &subject,
                &self.code_hash(&subject, &code),
                now,
                &self.limits,
            )
            .await?;
        let person = pseudonym::person(id);
        match issued {
            CodeIssue::Stored => {}
            CodeIssue::Locked { retry_after } => {
                tracing::info!(%person, "verification code refused: locked");
                return Err(VerificationError::Locked { retry_after });
            }
            CodeIssue::TooManyCodes { retry_after } => {
                tracing::info!(%person, "verification code refused: too many for the phone");
                return Err(VerificationError::TooManyCodes { retry_after });
            }
            CodeIssue::TooManyIds { retry_after } => {
                tracing::info!(%person, "verification code refused: too many IDs for the phone");
                return Err(VerificationError::TooManyIds { retry_after });
            }
        }
        // Stored before sent: a code that is sent can always be checked. One that could not be
        // sent still counts for the phone, so a failing gateway cannot be used to send more.
        if let Err(error) = self.sender.send(phone, &code).await {
            tracing::error!(%person, %error, "verification code not sent");
            return Err(VerificationError::NotSent(error));
        }
        tracing::info!(%person, "verification code sent");
        Ok(self.limits.code_ttl)
    }

    /// A token for `id` if `code` is the one sent to `phone` for it, in time.
    pub async fn confirm(
        &self,
        id: &MySejahteraId,
        phone: &PhoneNumber,
        code: &VerificationCode,
    ) -> Result<IssuedToken, VerificationError> {
        let subject = self.subject(id, phone);
        let now = self.clock.now();
        let checked = self
            .store
            .check_code(&subject, &self.code_hash(&subject, code), now, &self.limits)
            .await?;
        let person = pseudonym::person(id);
        match checked {
            CodeCheck::Verified => {
                tracing::info!(%person, "phone verified");
                Ok(IssuedToken {
                    token: self.tokens.issue(id, phone, now),
                    expires_in: self.tokens.ttl(),
                })
            }
            CodeCheck::Failed => {
                tracing::info!(%person, "verification failed");
                Err(VerificationError::Failed)
            }
            CodeCheck::Locked { retry_after } => {
                tracing::info!(%person, "verification refused: locked");
                Err(VerificationError::Locked { retry_after })
            }
            CodeCheck::TooManyIds { retry_after } => {
                tracing::info!(%person, "verification refused: too many IDs for the phone");
                Err(VerificationError::TooManyIds { retry_after })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn id() -> MySejahteraId {
        MySejahteraId::parse("900127015527").unwrap()
    }

    fn phone() -> PhoneNumber {
        PhoneNumber::parse("0123456789").unwrap()
    }

    fn tokens() -> IdentityTokens {
        IdentityTokens::new(IdentityKey::new("k".repeat(32)), Duration::from_secs(900))
    }

    #[test]
    fn codes_are_six_digits_and_hidden_from_debug() {
        let code = VerificationCode::random().unwrap();
        assert_eq!(code.expose().len(), 6);
        assert!(code.expose().bytes().all(|b| b.is_ascii_digit()));
        assert!(!format!("{code:?}").contains(code.expose()));
        assert!(sms_text(&code).contains(code.expose()));
        for bad in ["", "12345", "1234567", "12345a", " 123456", "１２３４５６"] {
            assert_eq!(
                VerificationCode::parse(bad).unwrap_err().field,
                "code",
                "{bad:?}"
            );
        }
        assert!(VerificationCode::parse("012345").is_ok());
    }

    #[test]
    fn the_ids_per_phone_limit_is_configurable_and_bounded() {
        use crate::config::fixed_lookup;
        assert_eq!(
            VerificationLimits::from_lookup(fixed_lookup(&[])).unwrap(),
            VerificationLimits::default()
        );
        let two = VerificationLimits::from_lookup(fixed_lookup(&[(IDENTITY_IDS_PER_PHONE, "2")]));
        assert_eq!(two.unwrap().ids_per_phone, 2);
        for bad in ["0", "21", "many"] {
            let error =
                VerificationLimits::from_lookup(fixed_lookup(&[(IDENTITY_IDS_PER_PHONE, bad)]))
                    .unwrap_err();
            assert_eq!(error.variable, IDENTITY_IDS_PER_PHONE);
        }
    }

    /// The code the sender was given is the one whose hash the store holds and checks: the
    /// store never sees the digits, and every refusal sends nothing.
    #[tokio::test]
    async fn the_code_sent_is_the_one_stored_hashed_and_refusals_send_nothing() {
        let refusals = [
            (
                CodeIssue::Locked {
                    retry_after: Duration::from_secs(60),
                },
                VerificationError::Locked {
                    retry_after: Duration::from_secs(60),
                },
            ),
            (
                CodeIssue::TooManyCodes {
                    retry_after: Duration::from_secs(5),
                },
                VerificationError::TooManyCodes {
                    retry_after: Duration::from_secs(5),
                },
            ),
            (
                CodeIssue::TooManyIds {
                    retry_after: Duration::from_secs(7),
                },
                VerificationError::TooManyIds {
                    retry_after: Duration::from_secs(7),
                },
            ),
        ];
        for (issue, expected) in refusals {
            let mut store = MockVerificationStore::new();
            store
                .expect_issue_code()
                .returning(move |_, _, _, _| Ok(issue));
            let mut sender = MockOtpSender::new();
            sender.expect_send().never();
            let service = VerificationService::new(
                Arc::new(store),
                Arc::new(sender),
                tokens(),
                VerificationLimits::default(),
            );
            assert_eq!(service.request(&id(), &phone()).await, Err(expected));
        }

        let stored = Arc::new(Mutex::new(None::<(CodeSubject, String)>));
        let mut store = MockVerificationStore::new();
        let keep = Arc::clone(&stored);
        store
            .expect_issue_code()
            .returning(move |subject, hash, _, _| {
                *keep.lock().unwrap() = Some((subject.clone(), hash.to_owned()));
                Ok(CodeIssue::Stored)
            });
        let sent = Arc::new(Mutex::new(None::<VerificationCode>));
        let mut sender = MockOtpSender::new();
        let keep = Arc::clone(&sent);
        sender.expect_send().times(1).returning(move |_, code| {
            *keep.lock().unwrap() = Some(code.clone());
            Ok(())
        });
        let service = VerificationService::new(
            Arc::new(store),
            Arc::new(sender),
            tokens(),
            VerificationLimits::default(),
        );
        assert_eq!(
            service.request(&id(), &phone()).await,
            Ok(Duration::from_secs(300))
        );
        let (subject, hash) = stored.lock().unwrap().clone().unwrap();
        let code = sent.lock().unwrap().clone().unwrap();
        assert_eq!(hash, service.code_hash(&subject, &code));
        for leaked in [code.expose(), "123456789", "900127015527"] {
            assert!(
                !hash.contains(leaked) && !subject.phone.contains(leaked),
                "the store sees no {leaked}"
            );
            assert!(!subject.id.contains(leaked), "the store sees no {leaked}");
        }
    }

    #[tokio::test]
    async fn a_sender_failure_is_reported_not_hidden() {
        let mut store = MockVerificationStore::new();
        store
            .expect_issue_code()
            .returning(|_, _, _, _| Ok(CodeIssue::Stored));
        let mut sender = MockOtpSender::new();
        sender
            .expect_send()
            .returning(|_, _| Err(OtpSendError("SNS answered 500".into())));
        let service = VerificationService::new(
            Arc::new(store),
            Arc::new(sender),
            tokens(),
            VerificationLimits::default(),
        );
        assert!(matches!(
            service.request(&id(), &phone()).await,
            Err(VerificationError::NotSent(_))
        ));
    }

    #[tokio::test]
    async fn only_a_verified_code_gives_a_token_for_that_id() {
        let cases = [
            (CodeCheck::Failed, Some(VerificationError::Failed)),
            (
                CodeCheck::Locked {
                    retry_after: Duration::from_secs(9),
                },
                Some(VerificationError::Locked {
                    retry_after: Duration::from_secs(9),
                }),
            ),
            (CodeCheck::Verified, None),
        ];
        for (check, refusal) in cases {
            let mut store = MockVerificationStore::new();
            store
                .expect_check_code()
                .returning(move |_, _, _, _| Ok(check));
            let service = VerificationService::new(
                Arc::new(store),
                Arc::new(MockOtpSender::new()),
                tokens(),
                VerificationLimits::default(),
            );
            let code = VerificationCode::parse("123456").unwrap();
            let result = service.confirm(&id(), &phone(), &code).await;
            match refusal {
                Some(error) => assert_eq!(result, Err(error)),
                None => {
                    let issued = result.unwrap();
                    assert_eq!(issued.expires_in, Duration::from_secs(900));
                    assert_eq!(tokens().verify(&issued.token, SystemTime::now()), Ok(id()));
                }
            }
        }
    }
}
