//! A development identity provider on the test-only keys of tests/keys/ (public: never trust
//! them in a deployment). `jwks` prints the JWKS to point `IDENTITY_JWKS` at; `token <id>`
//! prints an RS256 token for `<id>`, valid an hour, issuer `http://127.0.0.1/dev-identity`,
//! audience `vaccination-booking` (README "Identity").
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

const ISSUER: &str = "http://127.0.0.1/dev-identity";
const AUDIENCE: &str = "vaccination-booking";
const KID: &str = "dev-rsa";

fn main() {
    let key = EncodingKey::from_rsa_pem(include_bytes!("../keys/identity-test-rsa.pem"))
        .expect("the test key");
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["jwks"] => {
            let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS256).expect("a JWK");
            jwk.common.key_id = Some(KID.into());
            println!(
                "{}",
                serde_json::to_string(&JwkSet { keys: vec![jwk] }).unwrap()
            );
        }
        ["token", id] => {
            let now = jsonwebtoken::get_current_timestamp();
            let claims = serde_json::json!({
                "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 3600,
                "mysejahtera_id": id,
            });
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some(KID.into());
            println!(
                "{}",
                jsonwebtoken::encode(&header, &claims, &key).expect("signs")
            );
        }
        _ => {
            eprintln!("usage: identity_token jwks | identity_token token <mysejahteraId>");
            std::process::exit(2);
        }
    }
}
