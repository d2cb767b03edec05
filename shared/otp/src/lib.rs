//! How a one-time code reaches a phone ([`OtpSender`]), chosen by `OTP_SENDER`:
//! - `sns` (the default in AWS Lambda): Amazon SNS `Publish` straight to the number, as a
//!   transactional SMS; one SigV4-signed request on booking-secrets' [`SignedClient`], not the
//!   AWS SDK. `AWS_ENDPOINT_URL_SNS` points it elsewhere (moto in the tests).
//! - `file` (the default elsewhere): appends `time phone code` to `OTP_FILE`
//!   (`.local/otp-codes.log`), for `make run` and the tests, where no SMS can go. Never to the
//!   logs: whoever reads logs must not be able to sign in as anyone.
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use booking_core::config::{AwsEnvironment, ConfigError};
use booking_core::domain::PhoneNumber;
use booking_core::verification::{OtpSendError, OtpSender, VerificationCode, sms_text};
use booking_secrets::SignedClient;

pub const OTP_SENDER: &str = "OTP_SENDER";
pub const OTP_FILE: &str = "OTP_FILE";
pub const DEFAULT_OTP_FILE: &str = ".local/otp-codes.log";

/// The sender `OTP_SENDER` names, built from the rest of the settings.
pub fn sender_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Arc<dyn OtpSender>, ConfigError> {
    let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
    let deployed = set("LAMBDA_TASK_ROOT").is_some();
    let kind = set(OTP_SENDER).unwrap_or_else(|| if deployed { "sns" } else { "file" }.into());
    match kind.trim() {
        "sns" => Ok(Arc::new(SnsSender::from_lookup(&lookup)?)),
        "file" => Ok(Arc::new(FileSender::new(
            set(OTP_FILE).unwrap_or_else(|| DEFAULT_OTP_FILE.into()),
        ))),
        other => Err(ConfigError {
            variable: OTP_SENDER,
            problem: format!("must be sns or file, not {other:?}"),
        }),
    }
}

/// Appends each code to a file, one line `RFC 3339 time, phone (international form), code`.
#[derive(Debug, Clone)]
pub struct FileSender {
    path: PathBuf,
}

impl FileSender {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &PathBuf {
        &self.path
    }

    fn append(&self, line: &str) -> std::io::Result<()> {
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        // One write per line, so lines of concurrent requests do not interleave.
        file.write_all(line.as_bytes())
    }
}

#[async_trait]
impl OtpSender for FileSender {
    async fn send(&self, phone: &PhoneNumber, code: &VerificationCode) -> Result<(), OtpSendError> {
        let line = format!(
            "{} {} {}\n",
            chrono::DateTime::<chrono::Utc>::from(SystemTime::now())
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            phone.e164(),
            code.expose()
        );
        self.append(&line)
            .map_err(|error| OtpSendError(format!("{}: {error}", self.path.display())))
    }
}

/// SNS `Publish` to a phone number.
pub struct SnsSender {
    client: SignedClient,
}

/// An SMS is accepted (not delivered) within a second or so; a code that takes longer is
/// better asked again.
const SNS_TIMEOUT: Duration = Duration::from_secs(5);

impl SnsSender {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let aws = AwsEnvironment::from_lookup(&lookup, "OTP_SENDER=sns")?;
        let endpoint = aws.endpoint(&lookup, "SNS", "sns")?;
        Ok(Self {
            client: SignedClient::new(aws, &endpoint, "AWS_ENDPOINT_URL_SNS")?,
        })
    }

    /// Publish's form: the number, the text, and `Transactional`, so SNS sends it on routes
    /// meant for codes and never drops it to save on a spending limit for promotions.
    fn body(phone: &PhoneNumber, code: &VerificationCode) -> String {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", "Publish")
            .append_pair("Version", "2010-03-31")
            .append_pair("PhoneNumber", &phone.e164())
            .append_pair("Message", &sms_text(code))
            .append_pair("MessageAttributes.entry.1.Name", "AWS.SNS.SMS.SMSType")
            .append_pair("MessageAttributes.entry.1.Value.DataType", "String")
            .append_pair(
                "MessageAttributes.entry.1.Value.StringValue",
                "Transactional",
            )
            .finish()
    }
}

/// The `<Code>` of an AWS query-protocol error body, if any.
fn error_code(body: &str) -> &str {
    body.split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map_or("error", |(code, _)| code)
}

#[async_trait]
impl OtpSender for SnsSender {
    async fn send(&self, phone: &PhoneNumber, code: &VerificationCode) -> Result<(), OtpSendError> {
        let request = self
            .client
            .request(
                "sns",
                &[(
                    "content-type",
                    "application/x-www-form-urlencoded; charset=utf-8",
                )],
                Self::body(phone, code),
                SystemTime::now(),
            )
            .map_err(OtpSendError)?;
        let (status, body) = self
            .client
            .send(request, SNS_TIMEOUT)
            .await
            .map_err(OtpSendError)?;
        if status.is_success() {
            return Ok(());
        }
        // Only the error's code: its message may quote the number.
        let body = String::from_utf8_lossy(&body);
        Err(OtpSendError(format!(
            "SNS Publish: {} (HTTP {})",
            error_code(&body),
            status.as_u16()
        )))
    }
}

#[cfg(test)]
mod tests {
    use booking_core::config::fixed_lookup;

    use super::*;

    #[tokio::test]
    async fn the_file_sender_appends_one_line_per_code() {
        let dir = std::env::temp_dir().join(format!("otp-file-test-{}", std::process::id()));
        let sender = FileSender::new(dir.join("nested/codes.log"));
        let phone = PhoneNumber::parse("0123456789").unwrap();
        for raw in ["123456", "654321"] {
            let code = VerificationCode::parse(raw).unwrap();
            sender.send(&phone, &code).await.unwrap();
        }
        let text = std::fs::read_to_string(sender.path()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].ends_with(" +60123456789 123456"), "{text}");
        assert!(lines[1].ends_with(" +60123456789 654321"), "{text}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_sender_is_chosen_by_otp_sender_and_sns_needs_aws() {
        assert!(
            sender_from_lookup(fixed_lookup(&[])).is_ok(),
            "file locally"
        );
        assert_eq!(
            sender_from_lookup(fixed_lookup(&[(OTP_SENDER, "sms")]))
                .err()
                .unwrap()
                .variable,
            OTP_SENDER
        );
        // In Lambda the default is SNS, which needs the function's AWS environment.
        assert_eq!(
            sender_from_lookup(fixed_lookup(&[("LAMBDA_TASK_ROOT", "/var/task")]))
                .err()
                .unwrap()
                .variable,
            "AWS_REGION"
        );
        let aws = [
            (OTP_SENDER, "sns"),
            ("AWS_REGION", "ap-southeast-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ];
        assert!(sender_from_lookup(fixed_lookup(&aws)).is_ok());
    }

    #[test]
    fn publish_sends_the_number_and_text_and_errors_quote_neither() {
        let phone = PhoneNumber::parse("0123456789").unwrap();
        let code = VerificationCode::parse("042917").unwrap();
        let body = SnsSender::body(&phone, &code);
        assert!(body.contains("PhoneNumber=%2B60123456789"), "{body}");
        assert!(body.contains("042917"), "{body}");
        assert!(body.contains("Transactional"), "{body}");
        let reply = "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameter</Code>\
                     <Message>Invalid parameter: PhoneNumber +60123456789</Message></Error></ErrorResponse>";
        assert_eq!(error_code(reply), "InvalidParameter");
        assert_eq!(error_code("not xml"), "error");
    }
}
