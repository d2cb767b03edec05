//! What each function links, read from `cargo tree`: a function that never publishes links no
//! Kafka client, and none links the legacy hyper 0.14 stack or a second crypto provider. Every
//! crate a Lambda links is paid for by each cold start in the opening minute.
use std::path::Path;
use std::process::Command;

/// The functions that publish events, and so may link the Kafka client and MSK discovery.
const PUBLISHERS: [&str; 4] = [
    "create-booking",
    "move-booking",
    "cancel-booking",
    "outbox-relay",
];

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// Every function crate in functions/.
fn functions() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(workspace().join("functions"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(names.len() >= 13, "{names:?}");
    names
}

/// `name version` of every crate the package links (normal dependencies, its own features).
fn linked(package: &str) -> Vec<String> {
    let output = Command::new(env!("CARGO"))
        .current_dir(workspace())
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
            "-p",
        ])
        .arg(package)
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| line.split(" (").next().unwrap().to_owned())
        .collect()
}

fn links(crates: &[String], name: &str, version_prefix: &str) -> bool {
    crates.iter().any(|line| {
        line.split_once(' ').is_some_and(|(n, v)| {
            n == name && v.trim_start_matches('v').starts_with(version_prefix)
        })
    })
}

#[test]
fn functions_link_only_the_backends_they_use() {
    for function in functions() {
        let crates = linked(&function);
        let publishes = PUBLISHERS.contains(&function.as_str());
        for kafka in ["rskafka", "aws-sdk-kafka", "booking-kafka"] {
            assert_eq!(
                links(&crates, kafka, ""),
                publishes,
                "{function} {} {kafka}",
                if publishes { "must link" } else { "links" }
            );
        }
        assert!(!links(&crates, "hyper", "0."), "{function} links hyper 0.x");
        for second_provider in ["aws-lc-rs", "aws-lc-sys", "openssl-sys"] {
            assert!(
                !links(&crates, second_provider, ""),
                "{function} links {second_provider} beside ring"
            );
        }
        assert!(
            !links(&crates, "aws-config", ""),
            "{function} links aws-config"
        );
        // Deployed, the gateway verifies providers' tokens and the service's own are HS256
        // (booking-core's hs256): the JWT library and its RSA/EC code are local-api's only.
        for verifier in ["jsonwebtoken", "rsa", "p256"] {
            assert!(
                !links(&crates, verifier, ""),
                "{function} links {verifier} (booking-core's `jwks` feature is for local runs)"
            );
        }
    }
}

#[test]
fn functions_without_redis_link_no_redis_client_or_secret_client() {
    for function in ["api-docs", "route-fallback"] {
        let crates = linked(function);
        for backend in ["redis", "booking-redis", "booking-secrets", "ring"] {
            assert!(!links(&crates, backend, ""), "{function} links {backend}");
        }
    }
}

/// `make build` and `make bench-cold` build the functions in groups (scripts/lib.sh) so that no
/// function shares a build with one of other dependencies: every function must be in one.
#[test]
fn every_function_is_built_in_exactly_one_group() {
    let lib = std::fs::read_to_string(workspace().join("scripts/lib.sh")).unwrap();
    let groups = lib
        .split_once("FUNCTION_GROUPS=(")
        .and_then(|(_, rest)| rest.split_once("\n)"))
        .expect("FUNCTION_GROUPS in scripts/lib.sh")
        .0;
    let mut grouped: Vec<&str> = groups
        .split_whitespace()
        .map(|name| name.trim_matches('"'))
        .collect();
    grouped.sort_unstable();
    assert_eq!(grouped, functions());
}
