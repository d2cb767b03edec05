//! The suite runs on the engine `ENGINE` names: without this check a machine that started
//! redis-server for `ENGINE=valkey` (a stale binary on PATH, a wrong REDIS_SERVER_BIN) would
//! report Valkey rows that never touched Valkey.
use crate::helpers::{Engine, ServerProcess, redis_cli};

/// `field:value` lines of `INFO server`.
fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines()
        .find_map(|line| line.trim().strip_prefix(&format!("{field}:")))
        .map(str::to_owned)
}

#[test]
fn the_suite_runs_on_the_engine_it_names() {
    let server = ServerProcess::redis();
    let info = redis_cli(server.port, &["info", "server"]);
    let redis_version = info_field(&info, "redis_version").expect("INFO server answers");
    // The booking script declares itself with `#!lua`, which needs 7.0 or later; Valkey 8
    // reports the Redis version it is compatible with (7.2.4) here, its own below.
    let major: u32 = redis_version.split('.').next().unwrap().parse().unwrap();
    assert!(
        major >= 7,
        "redis_version {redis_version}: the scripts need 7+"
    );
    match Engine::current() {
        Engine::Valkey => {
            assert_eq!(info_field(&info, "server_name").as_deref(), Some("valkey"));
            assert!(info_field(&info, "valkey_version").is_some(), "{info}");
        }
        Engine::Redis => assert_eq!(
            info_field(&info, "valkey_version"),
            None,
            "ENGINE=redis runs on Valkey: {info}"
        ),
    }
}
