//! Redis as managed services run it: TLS (`rediss://`) with certificates generated here, and
//! AUTH with `requirepass` and an ACL user, both in the URL.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use booking_core::domain::{Location, SlotDate};
use booking_core::ports::{HealthCheck, SeedStore, StationPlan, StationReads, StoreError};
use booking_redis::{RedisOptions, RedisStore, RedisTimeouts};

use crate::helpers::ServerProcess;

const PASSWORD: &str = "s3cret-default";
const ACL_USER: &str = "bookings";
const ACL_PASSWORD: &str = "s3cret-acl";

/// A throwaway CA and a server certificate for 127.0.0.1, removed on drop.
struct Certificates {
    dir: PathBuf,
}

impl Certificates {
    fn generate() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "redis-tls-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &dir,
            &["req", "-x509"],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "1",
                "-subj",
                "/CN=test-ca",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        openssl(
            &dir,
            &["req"],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
        );
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            &dir,
            &["x509", "-req"],
            &[],
            &[
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "1",
                "-extfile",
                "server.ext",
            ],
        );
        Self { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_owned()
    }

    fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.dir.join("ca.pem")).unwrap()
    }
}

impl Drop for Certificates {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn openssl(dir: &Path, command: &[&str], key: &[&str], args: &[&str]) {
    let output = Command::new("openssl")
        .current_dir(dir)
        .args(command)
        .args(key)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        output.status.success(),
        "openssl {command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A redis-server that asks for a password, knows one ACL user, and serves TLS when asked.
fn secured_redis(certificates: Option<&Certificates>) -> ServerProcess {
    // redis-server takes a directive's words as separate arguments.
    let acl_password = format!(">{ACL_PASSWORD}");
    let mut args = vec![
        "--requirepass",
        PASSWORD,
        "--user",
        ACL_USER,
        "on",
        &acl_password,
        "~*",
        "&*",
        "+@all",
    ];
    let tls_args;
    if let Some(certificates) = certificates {
        tls_args = [
            certificates.path("server.pem"),
            certificates.path("server.key"),
            certificates.path("ca.pem"),
        ];
        args.extend([
            "--tls-cert-file",
            &tls_args[0],
            "--tls-key-file",
            &tls_args[1],
            "--tls-ca-cert-file",
            &tls_args[2],
            "--tls-auth-clients",
            "no",
        ]);
    }
    ServerProcess::redis_with(&args, certificates.is_some())
}

fn store(url: &str, ca_pem: Option<Vec<u8>>) -> RedisStore {
    RedisStore::connect_with(
        url,
        RedisOptions {
            timeouts: RedisTimeouts {
                connect: Duration::from_millis(1000),
                response: Duration::from_millis(1000),
            },
            ca_pem,
            ..RedisOptions::default()
        },
    )
    .expect("a valid URL")
}

/// A script and a read: what a booking function does first.
async fn seed_and_read(store: &RedisStore) -> Result<u32, StoreError> {
    let location = Location::parse("PWTC").unwrap();
    store
        .seed_station(
            &StationPlan {
                location: location.clone(),
                daily_capacity: 7,
                dates: vec![SlotDate::parse("20210516").unwrap()],
                details: Default::default(),
            },
            false,
        )
        .await?;
    Ok(store.station_slots(&location).await?[0].availability)
}

#[tokio::test]
async fn tls_with_a_private_ca_and_a_password_or_an_acl_user() {
    let certificates = Certificates::generate();
    let redis = secured_redis(Some(&certificates));
    let port = redis.port;

    let token = store(
        &format!("rediss://:{PASSWORD}@127.0.0.1:{port}"),
        Some(certificates.ca_pem()),
    );
    assert_eq!(seed_and_read(&token).await, Ok(7));
    let user = store(
        &format!("rediss://{ACL_USER}:{ACL_PASSWORD}@127.0.0.1:{port}"),
        Some(certificates.ca_pem()),
    );
    assert_eq!(seed_and_read(&user).await, Ok(7));
}

#[tokio::test]
async fn tls_refuses_what_it_cannot_trust_or_authenticate() {
    let certificates = Certificates::generate();
    let redis = secured_redis(Some(&certificates));
    let port = redis.port;
    let cases = [
        // The public webpki roots do not know the test CA.
        (format!("rediss://:{PASSWORD}@127.0.0.1:{port}"), None),
        (
            format!("rediss://:wrong-token@127.0.0.1:{port}"),
            Some(certificates.ca_pem()),
        ),
        (
            format!("rediss://127.0.0.1:{port}"),
            Some(certificates.ca_pem()),
        ),
        // Plain TCP to a TLS port.
        (format!("redis://:{PASSWORD}@127.0.0.1:{port}"), None),
    ];
    for (url, ca_pem) in cases {
        let result = store(&url, ca_pem).ping().await;
        let Err(StoreError::Unavailable(message)) = result else {
            panic!("{url}: {result:?}");
        };
        assert!(!message.contains(PASSWORD), "{message}");
    }
}

#[tokio::test]
async fn plain_redis_with_a_user_and_password_in_the_url() {
    let redis = secured_redis(None);
    let port = redis.port;
    let user = store(
        &format!("redis://{ACL_USER}:{ACL_PASSWORD}@127.0.0.1:{port}"),
        None,
    );
    assert_eq!(seed_and_read(&user).await, Ok(7));
    let anonymous = store(&format!("redis://127.0.0.1:{port}"), None);
    assert!(matches!(
        seed_and_read(&anonymous).await,
        Err(StoreError::Unavailable(_))
    ));
}
