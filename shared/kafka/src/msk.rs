//! Amazon MSK: asking the cluster for its brokers (aws-sdk-kafka's GetBootstrapBrokers, once
//! at cold start) and the SASL/OAUTHBEARER tokens of MSK IAM auth. Both use the credentials
//! Lambda gives the function and ring for TLS, the one crypto provider of the whole build:
//! no aws-config (its credential chain, STS and SSO clients) and no second provider.
use std::time::{Duration, SystemTime};

use aws_sdk_kafka::config::{BehaviorVersion, Credentials, Region};
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::identity::Identity;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use booking_core::config::AwsEnvironment;
use secrecy::ExposeSecret;

/// How long a token is good for: what MSK's own signer libraries use.
const TOKEN_EXPIRY: Duration = Duration::from_secs(900);
/// Identifies this client in MSK's logs, as the signer libraries do with theirs.
const USER_AGENT: &str = "vaccine-booking-rs";

fn credentials(aws: &AwsEnvironment) -> Credentials {
    Credentials::new(
        &aws.access_key_id,
        aws.secret_access_key.expose_secret(),
        aws.session_token
            .as_ref()
            .map(|token| token.expose_secret().to_owned()),
        None,
        "environment",
    )
}

/// The MSK API client: the SDK's hyper client on rustls with ring.
pub fn client(aws: &AwsEnvironment, endpoint: &str) -> aws_sdk_kafka::Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let config = aws_sdk_kafka::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(aws.region.clone()))
        .credentials_provider(credentials(aws))
        .http_client(http)
        .endpoint_url(endpoint)
        .build();
    aws_sdk_kafka::Client::from_conf(config)
}

/// An MSK IAM auth token: a presigned `kafka-cluster:Connect` URL for the region, base64url
/// without padding, as MSK's signer libraries make it (tests compare ours with theirs).
pub fn auth_token(aws: &AwsEnvironment, now: SystemTime) -> Result<String, String> {
    let mut url = format!(
        "https://kafka.{}.amazonaws.com/?Action=kafka-cluster%3AConnect",
        aws.region
    );
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(TOKEN_EXPIRY);
    let identity: Identity = credentials(aws).into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&aws.region)
        .name("kafka-cluster")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| format!("cannot sign the MSK auth token: {e}"))?
        .into();
    let signable = SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::Bytes(&[]))
        .map_err(|e| format!("cannot sign the MSK auth token: {e}"))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| format!("cannot sign the MSK auth token: {e}"))?
        .into_parts();
    // Appended to the query that is there already (`Action=...`), as the signers do.
    let query_start = url.find('?').map_or(url.len(), |at| at + 1);
    let mut query = form_urlencoded::Serializer::for_suffix(url.clone(), query_start);
    for (name, value) in instructions.params() {
        query.append_pair(name, value);
    }
    query.append_pair("User-Agent", USER_AGENT);
    url = query.finish();
    Ok(URL_SAFE_NO_PAD.encode(url.as_bytes()))
}

#[cfg(test)]
mod tests {
    use aws_credential_types::provider::SharedCredentialsProvider;

    use super::*;

    fn aws() -> AwsEnvironment {
        AwsEnvironment {
            region: "ap-southeast-1".into(),
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned().into(),
            session_token: Some("session/token+with=odd&chars".to_owned().into()),
        }
    }

    /// The token's URL, without the User-Agent parameter (each library names itself).
    fn signed_url(token: &str) -> String {
        let url = String::from_utf8(URL_SAFE_NO_PAD.decode(token).unwrap()).unwrap();
        let (base, query) = url.split_once('?').unwrap();
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| !pair.starts_with("User-Agent="))
            .collect();
        format!("{base}?{}", kept.join("&"))
    }

    #[tokio::test]
    async fn the_token_is_the_one_msks_own_signer_makes() {
        let provider = SharedCredentialsProvider::new(credentials(&aws()));
        // Signatures change each second: sign both within one.
        for _ in 0..5 {
            let before = SystemTime::now();
            let (theirs, _) =
                aws_msk_iam_sasl_signer::generate_auth_token_from_credentials_provider(
                    aws_config::Region::new("ap-southeast-1"),
                    provider.clone(),
                )
                .await
                .unwrap();
            let ours = auth_token(&aws(), SystemTime::now()).unwrap();
            let second =
                |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
            if second(before) != second(SystemTime::now()) {
                continue;
            }
            let ours = signed_url(&ours);
            assert_eq!(ours, signed_url(&theirs));
            assert!(ours.contains("Action=kafka-cluster%3AConnect"), "{ours}");
            assert!(ours.contains("X-Amz-Expires=900"), "{ours}");
            assert!(ours.contains("X-Amz-Security-Token="), "{ours}");
            return;
        }
        panic!("never signed both within one second");
    }
}
