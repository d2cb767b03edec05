//! Test fixtures: every test gets its own redis-server (or valkey-server, see [`Engine`]) on
//! its own port, so tests run in parallel, leave nothing behind, and can stop and restart
//! "their" Redis.
use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use booking_core::booking::{BookingService, PublishSettings};
use booking_core::config::{IdentityConfig, ReferenceKey, WaitingRoomConfig};
use booking_core::ownership::BookingReferences;
use booking_core::ports::Clock;
use booking_core::seed::{SeedRequest, SeedService, StationCapacity};
use booking_core::station::StationService;
use booking_kafka::{KafkaEndpoint, KafkaPublisher, Security};
use booking_redis::config::RedisConfig;
use booking_redis::queue::RoomSettings;
use booking_redis::{RedisStore, RedisTimeouts, StoreConnection};
use booking_wiring::BookingSettings;
use cancel_booking::CancelBooking;
use create_booking::CreateBooking;
use get_booking::GetBooking;
use get_station::GetStation;
use healthz::Healthz;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use move_booking::MoveBooking;
use queue_join::QueueJoin;
use redis::AsyncCommands;
use rskafka::client::partition::UnknownTopicHandling;
use seed::Seed;
use serde_json::Value;

/// Which server the suite runs on: `ENGINE=redis` (the default) or `ENGINE=valkey`, as for
/// `make run`. ElastiCache and MemoryDB default to Valkey now, so `make test` runs the
/// engine-relevant tests on both (the `engine` profile in .config/nextest.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Redis,
    Valkey,
}

impl Engine {
    /// From `ENGINE`; anything else than the two names stops the test, naming the variable.
    pub fn current() -> Self {
        match std::env::var("ENGINE").as_deref() {
            Err(_) | Ok("" | "redis") => Self::Redis,
            Ok("valkey") => Self::Valkey,
            Ok(other) => panic!("ENGINE is {other:?}: must be redis or valkey"),
        }
    }

    /// The server binary: `REDIS_SERVER_BIN` if set, else redis-server or valkey-server.
    pub fn server(self) -> String {
        std::env::var("REDIS_SERVER_BIN").unwrap_or_else(|_| format!("{}-server", self.name()))
    }

    /// redis-cli or valkey-cli (each speaks to both servers; a machine may have only one).
    pub fn cli(self) -> String {
        format!("{}-cli", self.name())
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Redis => "redis",
            Self::Valkey => "valkey",
        }
    }
}

/// A server child process (redis-server or valkey-server, the tansu broker) bound to 127.0.0.1 on a free port,
/// killed on drop. `restart` brings it back on the same port, empty: nothing is persisted.
pub struct ServerProcess {
    pub port: u16,
    binary: String,
    args: Vec<String>,
    child: Option<Child>,
}

impl ServerProcess {
    /// A port is free only when asked: before this server binds it, another test's server may
    /// take it (or one this server also needs, such as its cluster bus port). Such a start
    /// fails, so it is tried again on other ports.
    fn start(binary: String, args: impl Fn(u16) -> Vec<String>) -> Self {
        for _ in 0..5 {
            let port = free_port();
            let mut server = Self {
                port,
                binary: binary.clone(),
                args: args(port),
                child: None,
            };
            if server.try_restart() {
                return server;
            }
        }
        panic!("{binary} did not start on five free ports in a row");
    }

    /// The engine's server (redis-server or valkey-server, see [`Engine`]).
    pub fn redis() -> Self {
        Self::start(Engine::current().server(), |port| {
            [
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
            ]
            .into_iter()
            .chain(["--appendonly", "no"])
            .map(String::from)
            .chain(rdb_file(port))
            .collect()
        })
    }

    /// redis-server as `redis()` starts it, plus `extra` arguments; with `tls`, the port serves
    /// TLS only.
    pub fn redis_with(extra: &[&str], tls: bool) -> Self {
        let binary = Engine::current().server();
        let extra: Vec<String> = extra.iter().map(|arg| (*arg).to_owned()).collect();
        Self::start(binary, move |port| {
            let port = port.to_string();
            let listen = if tls {
                ["--port", "0", "--tls-port", &port]
            } else {
                ["--port", &port, "--tls-port", "0"]
            };
            ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
                .into_iter()
                .chain(listen)
                .map(String::from)
                .chain(rdb_file(&port))
                .chain(extra.iter().cloned())
                .collect()
        })
    }

    /// A placeholder for `TestApp::redis` on a cluster: nothing runs, and dropping it is a no-op.
    pub fn not_started() -> Self {
        Self {
            port: 0,
            binary: String::new(),
            args: Vec::new(),
            child: None,
        }
    }

    /// Sends a signal (`STOP`, `CONT`) to the running server.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("the server runs").id();
        let status = Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {pid}");
    }

    /// The tansu broker (in memory), from TANSU_BIN as `make test` sets it.
    pub fn broker() -> Self {
        let binary = std::env::var("TANSU_BIN").unwrap_or_else(|_| "tansu".into());
        Self::start(binary, |port| {
            let url = format!("tcp://127.0.0.1:{port}");
            vec![
                "broker".into(),
                "--listener-url".into(),
                url.clone(),
                "--advertised-listener-url".into(),
                url,
                "--storage-engine".into(),
                "memory://tansu/".into(),
            ]
        })
    }

    /// A tansu broker that tells clients to reach it at `advertised` (a proxy in front of it).
    pub fn broker_behind(advertised: String) -> Self {
        let binary = std::env::var("TANSU_BIN").unwrap_or_else(|_| "tansu".into());
        Self::start(binary, move |port| {
            vec![
                "broker".into(),
                "--listener-url".into(),
                format!("tcp://127.0.0.1:{port}"),
                "--advertised-listener-url".into(),
                format!("tcp://{advertised}"),
                "--storage-engine".into(),
                "memory://tansu/".into(),
            ]
        })
    }

    /// moto's server (AWS APIs: Secrets Manager, SNS), from MOTO_SERVER as `make test` sets it.
    pub fn moto() -> Self {
        let binary = std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        Self::start(binary, |port| {
            ["-H", "127.0.0.1", "-p", &port.to_string()]
                .map(String::from)
                .to_vec()
        })
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        assert!(
            self.try_restart(),
            "{} did not start again on {}",
            self.binary,
            self.port
        );
    }

    /// Starts the process and waits until it is what listens on the port: false if it exited
    /// (a port taken) or, for a plain Redis, another process answers there.
    fn try_restart(&mut self) -> bool {
        self.stop();
        let mut child = Command::new(&self.binary)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} (run `make test`): {e}", self.binary));
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if child.try_wait().ok().flatten().is_some() {
                return false;
            }
            assert!(Instant::now() < deadline, "{} did not listen", self.binary);
            std::thread::sleep(Duration::from_millis(10));
        }
        self.child = Some(child);
        // A server that bound its port and then failed (its cluster bus port taken) may have
        // accepted the connect above before exiting; one that never bound it let another
        // process accept it. A plain Redis says whose it is; a TLS one or a broker cannot be
        // asked here, and their ports come from a single bind.
        let tls = self
            .args
            .windows(2)
            .any(|pair| pair[0] == "--tls-port" && pair[1] != "0");
        if self.binary.ends_with("-server") && !tls {
            let info = redis_cli(self.port, &["INFO", "server"]);
            let answered_by = info
                .lines()
                .find_map(|line| line.trim().strip_prefix("process_id:"))
                .map(|id| id.trim().to_owned());
            let ours = match answered_by {
                Some(id) => id == pid.to_string(),
                // No INFO (a server that needs AUTH, or none left): it is ours if it still runs.
                None => {
                    std::thread::sleep(Duration::from_millis(100));
                    let child = self.child.as_mut().expect("just started");
                    child.try_wait().ok().flatten().is_none()
                }
            };
            if !ours {
                self.stop();
                return false;
            }
        }
        true
    }
}

/// Nothing is saved, but a replica still writes its primary's RDB to disk before loading it:
/// into the temp dir, one file per port, never the working directory (the source tree under
/// cargo). Arguments after these (a test's own `--dir`) win.
fn rdb_file(port: impl std::fmt::Display) -> [String; 4] {
    [
        "--dir".into(),
        std::env::temp_dir().to_string_lossy().into_owned(),
        "--dbfilename".into(),
        format!("booking-test-{port}.rdb"),
    ]
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
        let named = |flag: &str| {
            let at = self.args.iter().rposition(|arg| arg == flag)?;
            self.args.get(at + 1).cloned()
        };
        if let (Some(dir), Some(file)) = (named("--dir"), named("--dbfilename")) {
            let _ = std::fs::remove_file(std::path::Path::new(&dir).join(file));
        }
    }
}

/// Which Redis a test runs on: the core integration tests run on both (see `in_both_modes!`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisMode {
    Single,
    Cluster,
}

/// A 3-primary Redis Cluster on free ports of 127.0.0.1, as `start_redis_cluster` in
/// scripts/lib.sh starts one; its nodes and their config files go on drop.
pub struct RedisCluster {
    pub nodes: Vec<ServerProcess>,
    dir: std::path::PathBuf,
}

impl RedisCluster {
    pub fn start() -> Self {
        Self::start_with_replicas(0)
    }

    /// Three primaries with `replicas` replicas each (`nodes` holds all of them).
    pub fn start_with_replicas(replicas: usize) -> Self {
        let binary = Engine::current().server();
        let dir = std::env::temp_dir().join(format!(
            "redis-cluster-test-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let nodes: Vec<ServerProcess> = (0..3 * (1 + replicas))
            .map(|_| {
                let dir = dir.clone();
                ServerProcess::start(binary.clone(), move |port| {
                    let conf = dir.join(format!("nodes-{port}.conf"));
                    // The bus port defaults to port + 10000, past 65535 for a high free port.
                    let bus = free_port().to_string();
                    [
                        "--cluster-port",
                        &bus,
                        "--bind",
                        "127.0.0.1",
                        "--port",
                        &port.to_string(),
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        conf.to_str().unwrap(),
                        "--cluster-node-timeout",
                        "2000",
                        // A replica (re)joining syncs at once, not after the default 5 s wait
                        // for others to share the transfer.
                        "--repl-diskless-sync-delay",
                        "0",
                        "--dir",
                        dir.to_str().unwrap(),
                        // Its own file: a node restarted empty must not load another's data.
                        "--dbfilename",
                        &format!("dump-{port}.rdb"),
                    ]
                    .into_iter()
                    .map(String::from)
                    .collect()
                })
            })
            .collect();
        let cluster = Self { nodes, dir };
        let cli = Engine::current().cli();
        let mut create = Command::new(&cli);
        create.arg("--cluster").arg("create");
        for node in &cluster.nodes {
            create.arg(node.address());
        }
        let status = create
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {cli} (run `make test`): {e}"));
        assert!(
            status.status.success(),
            "{cli} --cluster create failed: {}{}",
            String::from_utf8_lossy(&status.stdout),
            String::from_utf8_lossy(&status.stderr)
        );
        cluster.wait_until_ok();
        cluster
    }

    /// Every node says `cluster_state:ok` and knows all three primaries, within 20 s.
    pub fn wait_until_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let known = format!("cluster_known_nodes:{}", self.nodes.len());
            let ok = self.nodes.iter().all(|node| {
                let info = redis_cli(node.port, &["cluster", "info"]);
                let replication = redis_cli(node.port, &["info", "replication"]);
                info.contains("cluster_state:ok")
                    && info.contains(&known)
                    && !replication.contains("master_link_status:down")
                    && !replication.contains("master_sync_in_progress:1")
            });
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "the cluster did not become ok");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self) -> String {
        self.nodes[0].url()
    }

    /// The index in `nodes` of the primary that serves `key`'s hash slot.
    pub fn node_of(&self, key: &str) -> usize {
        let slot: u16 = self
            .ask_any(&["cluster", "keyslot", key])
            .trim()
            .parse()
            .unwrap();
        self.node_of_slot(slot)
    }

    /// The first answer a node gives (after a failover, a node may be down or still loading).
    /// A paused node (SIGSTOP) answers nothing, and each ask waits out `redis_cli`'s 10 s
    /// there: ask before pausing one.
    fn ask_any(&self, args: &[&str]) -> String {
        self.nodes
            .iter()
            .map(|node| redis_cli(node.port, args))
            .find(|answer| !answer.trim().is_empty() && !answer.starts_with("LOADING"))
            .unwrap_or_else(|| panic!("no node answered {args:?}"))
    }

    pub fn node_of_slot(&self, slot: u16) -> usize {
        let nodes = self.ask_any(&["cluster", "nodes"]);
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let serves = fields.iter().skip(8).any(|range| {
                let (from, to) = range.split_once('-').unwrap_or((range, range));
                match (from.parse::<u16>(), to.parse::<u16>()) {
                    (Ok(from), Ok(to)) => (from..=to).contains(&slot),
                    _ => false,
                }
            });
            if serves {
                let port: u16 = fields[1].split(['@', ':']).nth(1).unwrap().parse().unwrap();
                return self
                    .nodes
                    .iter()
                    .position(|node| node.port == port)
                    .unwrap();
            }
        }
        panic!("no node serves slot {slot}");
    }

    /// The index in `nodes` of the replica of primary `primary`.
    pub fn replica_of(&self, primary: usize) -> usize {
        let following = format!("master_port:{}", self.nodes[primary].port);
        (0..self.nodes.len())
            .find(|&node| {
                node != primary
                    && redis_cli(self.nodes[node].port, &["info", "replication"])
                        .lines()
                        .any(|line| line.trim() == following)
            })
            .unwrap_or_else(|| panic!("primary {primary} has no replica"))
    }

    /// The replica of `primary` falls behind: paused (SIGSTOP), and its link dropped by the
    /// primary, so it has none of `primary`'s writes from now on (a paused replica would still
    /// take the link's bytes into its socket buffer, and apply them once resumed). WAIT on
    /// `primary` gets no acknowledgement until [`Self::fail_over_to_replica`]. Returns the
    /// replica's index.
    pub fn let_replica_fall_behind(&self, primary: usize) -> usize {
        let replica = self.replica_of(primary);
        self.nodes[replica].signal("STOP");
        let killed = redis_cli(
            self.nodes[primary].port,
            &["client", "kill", "type", "replica"],
        );
        assert_eq!(killed.trim(), "1", "the replica's link dropped");
        replica
    }

    /// Fails `primary` over to its (lagging) replica `replica`, as the outside review did: the
    /// primary dies (SIGKILL), the replica resumes and takes over with what it has (`CLUSTER
    /// FAILOVER TAKEOVER`, no vote), and once every node sees it as the primary the old one
    /// comes back empty as its replica (its node id is in its nodes file), in sync before this
    /// returns.
    pub fn fail_over_to_replica(&mut self, primary: usize, replica: usize) {
        self.nodes[primary].stop();
        self.nodes[replica].signal("CONT");
        let took = redis_cli(
            self.nodes[replica].port,
            &["cluster", "failover", "takeover"],
        );
        assert!(took.contains("OK"), "takeover: {took}");
        let id = redis_cli(self.nodes[replica].port, &["cluster", "myid"]);
        let id = id.trim();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.nodes.iter().enumerate().all(|(node, server)| {
            node == primary
                || redis_cli(server.port, &["cluster", "nodes"])
                    .lines()
                    .any(|line| line.starts_with(id) && line.contains("master"))
        }) {
            assert!(Instant::now() < deadline, "the replica did not take over");
            std::thread::sleep(Duration::from_millis(20));
        }
        let port = self.nodes[primary].port;
        let _ = std::fs::remove_file(self.dir.join(format!("dump-{port}.rdb")));
        self.nodes[primary].restart();
        let following = format!("master_port:{}", self.nodes[replica].port);
        while !redis_cli(port, &["info", "replication"])
            .lines()
            .any(|line| line.trim() == following)
        {
            assert!(Instant::now() < deadline, "the old primary did not follow");
            std::thread::sleep(Duration::from_millis(20));
        }
        self.wait_until_ok();
    }

    /// The first `count` of S0, S1, ... whose station keys live on pairwise different nodes
    /// (computed, so the test does not depend on the hash function's luck).
    pub fn stations_on_different_nodes(&self, count: usize) -> Vec<String> {
        let mut chosen: Vec<(String, usize)> = Vec::new();
        for n in 0.. {
            let location = format!("S{n}");
            let node = self.node_of(&format!("slots:{{{location}}}"));
            if chosen.iter().all(|(_, taken)| *taken != node) {
                chosen.push((location, node));
            }
            if chosen.len() == count {
                break;
            }
        }
        chosen.into_iter().map(|(location, _)| location).collect()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.stop();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TCP endpoint in front of whichever node is the primary, as a managed Redis's primary
/// endpoint: a failover points it at another node ([`Self::switch_to`]) and drops the
/// connections made through it, which led to the old primary.
pub struct PrimaryEndpoint {
    pub port: u16,
    target: Arc<std::sync::atomic::AtomicU16>,
    switched: tokio::sync::watch::Sender<u64>,
    accepting: tokio::task::JoinHandle<()>,
}

impl PrimaryEndpoint {
    pub async fn start(target: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let target = Arc::new(std::sync::atomic::AtomicU16::new(target));
        let (switched, _) = tokio::sync::watch::channel(0);
        let accepting = tokio::spawn({
            let (target, switched) = (Arc::clone(&target), switched.clone());
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    let mut moved = switched.subscribe();
                    let port = target.load(Ordering::SeqCst);
                    tokio::spawn(async move {
                        let Ok(mut server) =
                            tokio::net::TcpStream::connect(("127.0.0.1", port)).await
                        else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = moved.changed() => {}
                        }
                    });
                }
            }
        });
        Self {
            port,
            target,
            switched,
            accepting,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn switch_to(&self, port: u16) {
        self.target.store(port, Ordering::SeqCst);
        self.switched.send_modify(|generation| *generation += 1);
    }
}

impl Drop for PrimaryEndpoint {
    fn drop(&mut self) {
        self.accepting.abort();
        self.switched.send_modify(|generation| *generation += 1);
    }
}

/// Polls `INFO replication` on `port` until `line` is one of its lines, for 20 s at most.
fn wait_for_replication_line(port: u16, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !redis_cli(port, &["info", "replication"])
        .lines()
        .any(|have| have.trim() == line)
    {
        assert!(Instant::now() < deadline, "port {port} never said {line}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A single Redis primary with one replica, reached through a [`PrimaryEndpoint`].
pub struct SinglePrimary {
    pub primary: ServerProcess,
    pub replica: ServerProcess,
    pub endpoint: PrimaryEndpoint,
}

impl SinglePrimary {
    pub async fn start() -> Self {
        let primary = ServerProcess::redis_with(&["--repl-diskless-sync-delay", "0"], false);
        let replica = Self::replica_of(&primary);
        let endpoint = PrimaryEndpoint::start(primary.port).await;
        Self {
            primary,
            replica,
            endpoint,
        }
    }

    fn replica_of(primary: &ServerProcess) -> ServerProcess {
        let port = primary.port.to_string();
        let replica = ServerProcess::redis_with(
            &[
                "--replicaof",
                "127.0.0.1",
                &port,
                "--repl-diskless-sync-delay",
                "0",
            ],
            false,
        );
        wait_for_replication_line(replica.port, "master_link_status:up");
        replica
    }

    /// As [`RedisCluster::let_replica_fall_behind`].
    pub fn let_replica_fall_behind(&self) {
        self.replica.signal("STOP");
        let killed = redis_cli(self.primary.port, &["client", "kill", "type", "replica"]);
        assert_eq!(killed.trim(), "1", "the replica's link dropped");
    }

    /// The primary dies, the (lagging) replica becomes the primary behind the endpoint with
    /// what it has, and a new replica of it is in sync before this returns.
    pub fn fail_over_to_replica(&mut self) {
        self.primary.stop();
        self.replica.signal("CONT");
        let promoted = redis_cli(self.replica.port, &["replicaof", "no", "one"]);
        assert!(promoted.contains("OK"), "{promoted}");
        self.endpoint.switch_to(self.replica.port);
        let replica = Self::replica_of(&self.replica);
        self.primary = std::mem::replace(&mut self.replica, replica);
    }
}

/// Redis with one replica per primary, for tests that let a replica fall behind and fail over
/// to it: a 3-primary cluster, or a single primary behind its endpoint.
pub enum Replicated {
    Single(SinglePrimary),
    Cluster(RedisCluster),
}

/// A replica that fell behind: on a cluster, its primary's index and its own.
#[derive(Debug, Clone, Copy)]
pub struct Lagging {
    pub primary: usize,
    pub replica: usize,
}

impl Replicated {
    pub async fn start(mode: RedisMode) -> Self {
        match mode {
            RedisMode::Single => Self::Single(SinglePrimary::start().await),
            RedisMode::Cluster => Self::Cluster(RedisCluster::start_with_replicas(1)),
        }
    }

    /// What the functions' `REDIS_URL` would be.
    pub fn url(&self) -> String {
        match self {
            Self::Single(single) => single.endpoint.url(),
            Self::Cluster(cluster) => cluster.url(),
        }
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    /// Waits until every replica holds every write its primary applied so far (replication is
    /// asynchronous: a seed done a moment ago may not be on the replicas yet, and a replica
    /// that falls behind right after would lose it).
    pub fn wait_until_replicas_caught_up(&self) {
        let field = |info: &str, name: &str| -> Option<String> {
            info.lines()
                .find_map(|line| line.trim().strip_prefix(name)?.strip_prefix(':'))
                .map(str::to_owned)
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        for port in self.ports() {
            loop {
                let info = redis_cli(port, &["info", "replication"]);
                if field(&info, "role").as_deref() != Some("slave") {
                    break;
                }
                let primary: u16 = field(&info, "master_port").unwrap().parse().unwrap();
                let primary = redis_cli(primary, &["info", "replication"]);
                let offset = |info: &str, name| field(info, name).and_then(|o| o.parse().ok());
                let (have, applied): (Option<i64>, Option<i64>) = (
                    offset(&info, "slave_repl_offset"),
                    offset(&primary, "master_repl_offset"),
                );
                if field(&info, "master_link_status").as_deref() == Some("up")
                    && have.is_some()
                    && have >= applied
                {
                    break;
                }
                assert!(Instant::now() < deadline, "replica {port} did not catch up");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// Every node's port.
    pub fn ports(&self) -> Vec<u16> {
        match self {
            Self::Single(single) => vec![single.primary.port, single.replica.port],
            Self::Cluster(cluster) => cluster.nodes.iter().map(|node| node.port).collect(),
        }
    }

    /// The port of the primary that serves `key`.
    pub fn primary_port_of(&self, key: &str) -> u16 {
        match self {
            Self::Single(single) => single.primary.port,
            Self::Cluster(cluster) => cluster.nodes[cluster.node_of(key)].port,
        }
    }

    /// The replica of the primary that serves `key` falls behind (see
    /// [`RedisCluster::let_replica_fall_behind`]).
    pub fn let_replica_fall_behind(&self, key: &str) -> Lagging {
        match self {
            Self::Single(single) => {
                single.let_replica_fall_behind();
                Lagging {
                    primary: 0,
                    replica: 1,
                }
            }
            Self::Cluster(cluster) => {
                let primary = cluster.node_of(key);
                let replica = cluster.let_replica_fall_behind(primary);
                Lagging { primary, replica }
            }
        }
    }

    /// The lagging replica's primary dies and the replica takes over, with what it has.
    pub fn fail_over_to(&mut self, lagging: Lagging) {
        match self {
            Self::Single(single) => single.fail_over_to_replica(),
            Self::Cluster(cluster) => {
                cluster.fail_over_to_replica(lagging.primary, lagging.replica);
            }
        }
    }
}

/// The engine's CLI's answer to one command on 127.0.0.1:`port`, bounded by its own timeout.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("timeout")
        .args(["-s", "KILL", "10", &Engine::current().cli()])
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("timeout runs");
    // timeout's own status when it cannot run the command.
    assert_ne!(
        output.status.code(),
        Some(127),
        "no {} (run `make test`)",
        Engine::current().cli()
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// A log writer that keeps what it was given, for tests that read the log lines.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

pub const TOPIC: &str = "booking-slot";
pub const PARTITIONS: i32 = 3;

pub use booking_wiring::Bookings;

/// The server-side key the test app derives booking references with.
pub const TEST_REFERENCE_KEY: &[u8] = b"integration tests' booking reference key";

/// The Ed25519 seed the test app signs check-in codes with (hex).
pub const TEST_CHECKIN_KEY: &str =
    "5465737420636865636b2d696e206b65793a206e6f7420666f722075736521ab";

pub fn test_check_in() -> booking_core::check_in::CheckInKey {
    booking_core::config::check_in::check_in_key(booking_core::config::fixed_lookup(&[(
        "CHECKIN_KEY",
        TEST_CHECKIN_KEY,
    )]))
    .expect("a valid key")
}

pub fn test_references() -> BookingReferences {
    BookingReferences::new(TEST_REFERENCE_KEY)
}

/// A clock the test moves by hand, so time-based rules are tested without sleeping.
pub struct TestClock(Mutex<SystemTime>);

impl TestClock {
    /// A clock that reads the present time until a test moves it.
    pub fn new() -> Self {
        Self(Mutex::new(SystemTime::now()))
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

/// The functions as their mains build them (each with its own builder and its own Redis
/// connection), against a private Redis (or cluster) and broker.
pub struct TestApp {
    /// The single Redis; on a cluster, a stand-in that was never started (see `cluster`).
    pub redis: ServerProcess,
    /// The cluster in `RedisMode::Cluster`.
    pub cluster: Option<RedisCluster>,
    pub broker: ServerProcess,
    /// create-booking's store: its connection and clock, for tests that look inside.
    pub store: RedisStore,
    pub connection: StoreConnection,
    pub create_booking: CreateBooking,
    pub cancel_booking: CancelBooking,
    pub move_booking: MoveBooking,
    pub get_booking: GetBooking,
    /// `POST /queue` (its room is opened by the test that joins).
    pub queue_join: QueueJoin,
    pub get_station: GetStation,
    pub healthz: Healthz,
    pub seed_function: Seed,
    /// The bookings' (and the store's claims') time source.
    pub clock: Arc<TestClock>,
    /// The last booking reference `POST /booking` gave for each ID: what its booker holds.
    pub issued: Mutex<HashMap<String, String>>,
    /// The store's Redis timeouts.
    pub timeouts: RedisTimeouts,
    /// `POST /booking`s answered so far, whatever the answer: what a test paces steps by.
    pub bookings_answered: AtomicU64,
}

#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: lambda_http::http::HeaderMap,
    pub body: Value,
}

impl From<Response<Body>> for TestResponse {
    fn from(response: Response<Body>) -> Self {
        let (parts, body) = response.into_parts();
        let body = serde_json::from_slice(body.as_ref()).expect("every response is JSON");
        Self {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }
}

impl TestResponse {
    pub fn error_code(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }
}

/// Status, headers and body exactly, so two answers can be shown to be the same answer.
pub fn exact(response: &TestResponse) -> (StatusCode, Vec<(String, String)>, Value) {
    let mut headers: Vec<(String, String)> = response
        .headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.to_string(), value)
        })
        .collect();
    headers.sort();
    (response.status, headers, response.body.clone())
}

/// The test app's publishing. A publish to the local broker takes milliseconds; its timeout
/// is far above that, so a busy machine cannot leave in the outbox an event a test expects
/// published. A broker that was never reached costs a fresh publisher its connect deadline
/// (2 s) when stopped, one it was connected to the whole timeout (rskafka retries the
/// produce), so the timeout is not longer still. After a failure the breaker stays open a
/// short while, so tests that restart the broker see publishing resume soon.
pub const TEST_PUBLISH: PublishSettings = PublishSettings {
    timeout: Duration::from_secs(5),
    cool_down: Duration::from_millis(200),
};

/// How a test's app differs from the default: which Redis, how bookings publish, how long the
/// store waits for Redis.
#[derive(Debug, Clone, Copy)]
pub struct AppOptions {
    pub mode: RedisMode,
    pub publish: PublishSettings,
    pub timeouts: RedisTimeouts,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            mode: RedisMode::Single,
            publish: TEST_PUBLISH,
            timeouts: TEST_TIMEOUTS,
        }
    }
}

impl AppOptions {
    pub fn on(mode: RedisMode) -> Self {
        Self {
            mode,
            ..Self::default()
        }
    }

    /// For a test that sends `concurrent` requests at once: Redis timeouts sized for them (see
    /// [`timeouts_for`]).
    pub fn concurrent(self, concurrent: usize) -> Self {
        Self {
            timeouts: timeouts_for(concurrent),
            ..self
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

/// The environment the functions read in a test: this app's Redis and broker, the test key.
pub fn test_environment(
    redis_url: &str,
    cluster: bool,
    broker: &ServerProcess,
) -> impl Fn(&str) -> Option<String> + use<> {
    booking_core::config::fixed_lookup(&[
        ("REDIS_URL", redis_url),
        ("REDIS_CLUSTER", if cluster { "true" } else { "false" }),
        ("KAFKA_BROKERS", &broker.address()),
        ("KAFKA_TOPIC", TOPIC),
        (
            "BOOKING_REFERENCE_KEY",
            std::str::from_utf8(TEST_REFERENCE_KEY).unwrap(),
        ),
        ("CHECKIN_KEY", TEST_CHECKIN_KEY),
    ])
}

/// Each function built by its own builder from `environment`, with test timeouts and clock.
pub async fn spawn_app_with(options: AppOptions) -> TestApp {
    spawn_app_in(options, &[]).await
}

/// As [`spawn_app_with`], the functions reading `extra` settings beside the test environment
/// (`IDENTITY=jwt` and its JWKS, say), as their mains read the process environment.
pub async fn spawn_app_in(options: AppOptions, extra: &[(&str, &str)]) -> TestApp {
    let (redis, cluster) = match options.mode {
        RedisMode::Single => (ServerProcess::redis(), None),
        RedisMode::Cluster => (ServerProcess::not_started(), Some(RedisCluster::start())),
    };
    let url = cluster
        .as_ref()
        .map_or_else(|| redis.url(), RedisCluster::url);
    let broker = ServerProcess::broker();
    create_topic(&broker).await;
    let base = test_environment(&url, cluster.is_some(), &broker);
    let extra = booking_core::config::fixed_lookup(extra);
    let environment = |name: &str| extra(name).or_else(|| base(name));
    let redis_config = || {
        let mut config = RedisConfig::from_lookup(environment).expect("test settings");
        config.timeouts = options.timeouts;
        config
    };
    let clock = Arc::new(TestClock::new());
    let booking_settings = || {
        let mut settings = BookingSettings::from_lookup(environment).expect("test settings");
        settings.redis = redis_config();
        settings.publish = options.publish;
        settings.clock = clock.clone();
        settings
    };
    let create_booking = CreateBooking::build(create_booking::Settings {
        bookings: booking_settings(),
        room: WaitingRoomConfig::from_lookup(environment).expect("test settings"),
    })
    .await
    .expect("create-booking builds");
    let cancel_booking = CancelBooking::build(cancel_booking::Settings {
        bookings: booking_settings(),
    })
    .await
    .expect("cancel-booking builds");
    let move_booking = MoveBooking::build(move_booking::Settings {
        bookings: booking_settings(),
    })
    .await
    .expect("move-booking builds");
    let get_booking = GetBooking::build(get_booking::Settings {
        redis: redis_config(),
        references: ReferenceKey::from_lookup(environment).expect("test settings"),
        check_in: test_check_in(),
        identity: IdentityConfig::from_lookup(environment).expect("test settings"),
    })
    .await
    .expect("get-booking builds");
    let queue_join = QueueJoin::build(queue_join::Settings {
        room: RoomSettings {
            redis: redis_config(),
            room: WaitingRoomConfig::from_lookup(environment).expect("test settings"),
        },
        identity: IdentityConfig::from_lookup(environment).expect("test settings"),
    })
    .await
    .expect("queue-join builds");
    let get_station = GetStation::build(get_station::Settings {
        redis: redis_config(),
        // Tests read what they just wrote.
        cache_max_age: Duration::ZERO,
    })
    .expect("get-station builds");
    let store = create_booking.bookings().store().clone();
    TestApp {
        cluster,
        connection: store.connection(),
        get_booking,
        get_station,
        queue_join,
        healthz: Healthz::build(redis_config()).expect("healthz builds"),
        seed_function: Seed::build(redis_config()).expect("seed builds"),
        create_booking,
        cancel_booking,
        move_booking,
        clock,
        issued: Mutex::new(HashMap::new()),
        timeouts: options.timeouts,
        bookings_answered: AtomicU64::new(0),
        store,
        redis,
        broker,
    }
}

pub fn publisher(broker: &ServerProcess) -> KafkaPublisher {
    KafkaPublisher::new(
        KafkaEndpoint {
            brokers: vec![broker.address()],
            security: Security::Plaintext,
        },
        TOPIC,
    )
}

async fn kafka_client(broker: &ServerProcess) -> rskafka::client::Client {
    rskafka::client::ClientBuilder::new(vec![broker.address()])
        .build()
        .await
        .expect("the test broker answers")
}

/// Topics are provisioned, not created by the application (see the README); tests do it here.
pub async fn create_topic(broker: &ServerProcess) {
    kafka_client(broker)
        .await
        .controller_client()
        .unwrap()
        .create_topic(TOPIC, PARTITIONS, 1, 5_000)
        .await
        .expect("topic created");
}

/// A record read back from the topic.
#[derive(Debug, Clone)]
pub struct Published {
    pub partition: i32,
    pub key: String,
    pub value: Value,
}

/// Reads every partition from the earliest offset (no consumer group: a first group join is
/// slow on the test broker) until `expected` records arrived or 10 s passed.
pub async fn read_topic(broker: &ServerProcess, expected: usize) -> Vec<Published> {
    let client = kafka_client(broker).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut offsets = vec![0_i64; PARTITIONS as usize];
    let mut records = Vec::new();
    while records.len() < expected && Instant::now() < deadline {
        for partition in 0..PARTITIONS {
            let partition_client = client
                .partition_client(TOPIC, partition, UnknownTopicHandling::Retry)
                .await
                .unwrap();
            let (batch, _) = partition_client
                .fetch_records(offsets[partition as usize], 1..1_000_000, 200)
                .await
                .unwrap();
            for record in batch {
                offsets[partition as usize] = record.offset + 1;
                records.push(Published {
                    partition,
                    key: String::from_utf8(record.record.key.unwrap()).unwrap(),
                    value: serde_json::from_slice(&record.record.value.unwrap()).unwrap(),
                });
            }
        }
    }
    records
}

pub fn request(method: Method, path: &str, body: impl Into<Body>) -> Request {
    lambda_http::http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap()
}

/// A body-less request with an optional `Authorization` header.
pub fn authorized(method: Method, path: &str, authorization: Option<&str>) -> Request {
    let mut request = request(method, path, Body::Empty);
    if let Some(value) = authorization {
        request.headers_mut().insert(
            lambda_http::http::header::AUTHORIZATION,
            value.parse().expect("a header value"),
        );
    }
    request
}

/// The `Idempotency-Key` a test client makes for the attempt that sends `body`.
pub fn attempt_key(body: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(body);
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

pub fn booking_json(id: &str, location: &str, date: &str) -> String {
    serde_json::json!({
        "mysejahteraId": id,
        "firstName": "Fadhil",
        "lastName": "Yaacob",
        "address": "Kuala Lumpur",
        "location": location,
        "phoneNumber": "0123456789",
        "date": date,
    })
    .to_string()
}

impl TestApp {
    /// The booking service create-booking runs.
    pub fn bookings(&self) -> &Bookings {
        self.create_booking.bookings()
    }

    /// The seed use case the seed function runs.
    pub fn seeder(&self) -> &SeedService<RedisStore> {
        self.seed_function.service()
    }

    /// The station reads get-station answers from.
    pub fn stations(&self) -> &StationService<RedisStore> {
        self.get_station.stations()
    }

    pub async fn get_station(&self, location: &str) -> TestResponse {
        let request = request(Method::GET, &format!("/stations/{location}"), Body::Empty);
        self.get_station.handle(request).await.into()
    }

    /// `POST /booking` as the page and other careful clients send it: with an
    /// `Idempotency-Key` made for the attempt, which the same body's retries send again (here
    /// derived from the body, so a test's retries are the same attempt). Remembers the
    /// booking reference a reply carries, as the booker would.
    pub async fn post_booking(&self, body: impl Into<Body>) -> TestResponse {
        let body: Body = body.into();
        let key = attempt_key(body.as_ref());
        self.post_booking_with_key(body, Some(key.as_bytes())).await
    }

    /// `POST /booking` with this `Idempotency-Key` (None: without the header).
    pub async fn post_booking_with_key(
        &self,
        body: impl Into<Body>,
        key: Option<&[u8]>,
    ) -> TestResponse {
        let mut request = request(Method::POST, "/booking", body);
        if let Some(key) = key {
            request.headers_mut().insert(
                "idempotency-key",
                lambda_http::http::HeaderValue::from_bytes(key).expect("a header value"),
            );
        }
        self.send_booking(request).await
    }

    /// Sends a `POST /booking` request as built, remembering the reference its reply carries.
    pub async fn send_booking(&self, request: Request) -> TestResponse {
        let response: TestResponse = self.create_booking.handle(request).await.into();
        self.bookings_answered.fetch_add(1, Ordering::SeqCst);
        if let (Some(id), Some(reference)) = (
            response.body["mysejahteraId"].as_str(),
            response.body["bookingReference"].as_str(),
        ) {
            self.issued
                .lock()
                .unwrap()
                .insert(id.to_owned(), reference.to_owned());
        }
        response
    }

    /// `Authorization: Bearer <reference>` with the last reference issued for `id`, if any.
    pub fn owner_authorization(&self, id: &str) -> Option<String> {
        let issued = self.issued.lock().unwrap();
        issued
            .get(id)
            .map(|reference| format!("Bearer {reference}"))
    }

    /// As the booker: with the last reference issued for `id` (none if never booked).
    /// `id` goes into the path as given, so tests can send escapes and odd characters.
    pub async fn get_booking(&self, id: &str) -> TestResponse {
        self.get_booking_as(id, self.owner_authorization(id).as_deref())
            .await
    }

    pub async fn get_booking_as(&self, id: &str, authorization: Option<&str>) -> TestResponse {
        let request = authorized(Method::GET, &format!("/booking/{id}"), authorization);
        self.get_booking.handle(request).await.into()
    }

    /// As the booker, like `get_booking`.
    pub async fn cancel_booking(&self, id: &str) -> TestResponse {
        self.cancel_booking_as(id, self.owner_authorization(id).as_deref())
            .await
    }

    pub async fn cancel_booking_as(&self, id: &str, authorization: Option<&str>) -> TestResponse {
        let request = authorized(Method::DELETE, &format!("/booking/{id}"), authorization);
        self.cancel_booking.handle(request).await.into()
    }

    /// `PATCH /booking/{id}` to `location` on `date`, as the booker, like `get_booking`.
    pub async fn move_booking(&self, id: &str, location: &str, date: &str) -> TestResponse {
        let body = serde_json::json!({"location": location, "date": date}).to_string();
        self.move_booking_as(id, self.owner_authorization(id).as_deref(), body)
            .await
    }

    /// `PATCH /booking/{id}` with any body and `Authorization`.
    pub async fn move_booking_as(
        &self,
        id: &str,
        authorization: Option<&str>,
        body: impl Into<Body>,
    ) -> TestResponse {
        let mut request = request(Method::PATCH, &format!("/booking/{id}"), body);
        if let Some(value) = authorization {
            request.headers_mut().insert(
                lambda_http::http::header::AUTHORIZATION,
                value.parse().expect("a header value"),
            );
        }
        self.move_booking.handle(request).await.into()
    }

    pub async fn healthz(&self) -> TestResponse {
        let request = request(Method::GET, "/healthz", Body::Empty);
        self.healthz.handle(request).await.into()
    }

    pub async fn book(&self, id: &str, location: &str, date: &str) -> TestResponse {
        self.post_booking(booking_json(id, location, date)).await
    }

    /// `POST /booking` as a patient client: a 503 or `booking_in_progress` is retried with the
    /// identical request (both are safe to repeat) until the booking is decided. Returns the
    /// final reply and how many 503s it met: after one, a 200 means the attempt that met it was
    /// stored. Gives up (panics) only after far longer than a store's timeouts could explain.
    pub async fn book_patiently(
        &self,
        id: &str,
        location: &str,
        date: &str,
    ) -> (TestResponse, u32) {
        let patience = Duration::from_secs(60) + 20 * self.timeouts.response;
        let give_up = tokio::time::Instant::now() + patience;
        let mut unavailable = 0;
        let mut last = None;
        while tokio::time::Instant::now() < give_up {
            let reply = self.book(id, location, date).await;
            last = Some(reply.body.clone());
            match (reply.status, reply.error_code()) {
                (StatusCode::SERVICE_UNAVAILABLE, _) => unavailable += 1,
                (StatusCode::CONFLICT, "booking_in_progress") => {}
                _ => return (reply, unavailable),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{id} at {location}: still not decided after {patience:?} of retries: {last:?}");
    }

    /// Seeds `days` dates from 20210516 for each (location, daily capacity).
    pub async fn seed(&self, days: u32, stations: &[(&str, u32)]) {
        self.seeder()
            .seed(SeedRequest {
                start_date: Some("20210516".into()),
                days: Some(days),
                stations: Some(
                    stations
                        .iter()
                        .map(|(location, daily_capacity)| {
                            StationCapacity::new(*location, *daily_capacity)
                        })
                        .collect(),
                ),
                reset: None,
            })
            .await
            .expect("seeding works");
    }

    pub async fn remaining(&self, location: &str, date: &str) -> Option<i64> {
        let mut connection = self.connection.clone();
        connection
            .hget(format!("slots:{{{location}}}"), date)
            .await
            .unwrap()
    }

    /// Every key in the private Redis with its value dumped, to prove a request changed nothing.
    pub async fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        let mut connection = self.connection.clone();
        let mut keys: Vec<String> = connection.keys("*").await.unwrap();
        keys.sort();
        let mut dump = Vec::new();
        for key in keys {
            let value: Vec<u8> = redis::cmd("DUMP")
                .arg(&key)
                .query_async(&mut connection)
                .await
                .unwrap();
            dump.push((key, value));
        }
        dump
    }

    /// Entries in every outbox stream.
    pub async fn outbox_depth(&self) -> u64 {
        booking_core::ports::Outbox::depth(&self.store)
            .await
            .unwrap()
    }

    pub async fn count_keys(&self, pattern: &str) -> usize {
        let mut connection = self.connection.clone();
        let keys: Vec<String> = connection.keys(pattern).await.unwrap();
        keys.len()
    }
}

/// Redis timeouts short enough that a failing test fails fast.
pub const TEST_TIMEOUTS: RedisTimeouts = RedisTimeouts {
    connect: Duration::from_millis(500),
    response: Duration::from_millis(1000),
};

/// What one request may cost the client beside its round trip when many are sent at once: the
/// encoding, decoding and handler work of a debug build on a loaded 2-core machine, with a wide
/// margin (measured well under 1 ms).
const CLIENT_WORK_PER_REQUEST: Duration = Duration::from_millis(10);

/// Redis timeouts for a test that sends `concurrent` requests at once through one store. A
/// request's response timeout runs from the moment it is queued on the shared connection, so
/// it also covers every request queued ahead of it: with [`TEST_TIMEOUTS`] a rush of hundreds
/// timed out, and answered 503, whenever the machine was busy. The response timeout grows by
/// [`CLIENT_WORK_PER_REQUEST`] for each of them; a stalled Redis still fails the test, later.
pub fn timeouts_for(concurrent: usize) -> RedisTimeouts {
    let queued = u32::try_from(concurrent).unwrap_or(u32::MAX);
    RedisTimeouts {
        connect: TEST_TIMEOUTS.connect,
        response: TEST_TIMEOUTS.response + CLIENT_WORK_PER_REQUEST * queued,
    }
}

/// A seed of `days` dates from `start_date` for one station.
pub fn one_station_seed(
    start_date: &str,
    days: u32,
    location: &str,
    daily_capacity: u32,
    reset: bool,
) -> SeedRequest {
    SeedRequest {
        start_date: Some(start_date.into()),
        days: Some(days),
        stations: Some(vec![StationCapacity::new(location, daily_capacity)]),
        reset: Some(reset),
    }
}

/// The booking service as the functions wire it, on `store`, publishing to `broker`.
pub fn bookings_on(store: &RedisStore, broker: &ServerProcess) -> Bookings {
    BookingService::new(
        store.clone(),
        store.clone(),
        publisher(broker),
        PublishSettings::default(),
        test_references(),
    )
}

/// `POST /booking` of the test booking for `id` at PWTC on `date`, bounded in time: a store
/// that stops answering must cost its timeouts (at most about 11 s here), never a hang.
pub async fn post_booking_to(bookings: &Bookings, id: &str, date: &str) -> TestResponse {
    let body = booking_json(id, "PWTC", date);
    tokio::time::timeout(
        Duration::from_secs(30),
        booking_http::create_booking(bookings, request(Method::POST, "/booking", body)),
    )
    .await
    .expect("the booking answers")
    .into()
}

/// One HTTP/1.1 message off a kept-open connection: its head, then exactly `content-length`
/// bytes of body. For tests that play a client or a server at the byte level.
pub async fn read_http_message(stream: &mut tokio::net::TcpStream) -> (String, String) {
    use tokio::io::AsyncReadExt;
    let mut message = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&message).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .to_ascii_lowercase()
                .lines()
                .find_map(|line| line.strip_prefix("content-length: ")?.trim().parse().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return (head.to_owned(), body.to_owned());
            }
        }
        let read = stream.read(&mut chunk).await.unwrap();
        assert!(read > 0, "closed before a whole message: {text:?}");
        message.extend_from_slice(&chunk[..read]);
    }
}

fn person(id: &str) -> booking_core::domain::MySejahteraId {
    booking_core::domain::MySejahteraId::parse(id).expect("a valid ID")
}

/// `booking:{p:NNN}:<id>`: the person's booking record.
pub fn booking_key_of(id: &str) -> String {
    booking_redis::booking_key(&person(id))
}

/// `booking-owner:{p:NNN}:<id>`.
pub fn owner_key_of(id: &str) -> String {
    booking_redis::booking_owner_key(&person(id))
}

/// `event-seq:{p:NNN}:<id>`.
pub fn sequence_key_of(id: &str) -> String {
    booking_redis::event_sequence_key(&person(id))
}

/// `outbox:{p:NNN}`: the outbox stream the person's events go to.
pub fn outbox_key_of(id: &str) -> String {
    booking_redis::person_outbox_key(&person(id))
}

/// Runs an `async fn name(mode: RedisMode)` test on a single Redis and on a 3-primary Redis
/// Cluster: tests `name::single` and `name::cluster`. The same test, parameterised, not a copy.
#[allow(unused_macros)]
macro_rules! in_both_modes {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn single() {
                super::$name(crate::helpers::RedisMode::Single).await;
            }

            #[tokio::test]
            async fn cluster() {
                super::$name(crate::helpers::RedisMode::Cluster).await;
            }
        }
    )+};
}

/// Answers one request with `status` and `body`, and hands back the request it got.
/// An AWS API stand-in on 127.0.0.1: answers one request with `status` and the JSON `body`,
/// and hands back the request it got (head and body).
pub async fn stand_in(
    status: &'static str,
    body: String,
) -> (String, tokio::task::JoinHandle<String>) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let (head, body_sent) = read_http_message(&mut stream).await;
        let reply = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/x-amz-json-1.1\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(reply.as_bytes()).await.unwrap();
        format!("{head}\r\n\r\n{body_sent}")
    });
    (url, task)
}

/// One call of an AWS JSON-protocol API (`X-Amz-Target: <target>`) to moto on `port`, as its
/// `service` in `region`: moto routes by the SigV4 credential scope and checks no signature,
/// so the Authorization header carries the scope and a dummy signature. Status and JSON body.
pub async fn aws_json_call(
    port: u16,
    service: &str,
    region: &str,
    target: &str,
    body: &Value,
) -> (u16, Value) {
    use tokio::io::AsyncWriteExt;
    let body = body.to_string();
    let request = format!(
        "POST / HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\
         content-type: application/x-amz-json-1.1\r\nx-amz-target: {target}\r\n\
         authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/{service}/aws4_request, \
         SignedHeaders=host;x-amz-target, Signature=00\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream.write_all(request.as_bytes()).await?;
        Ok::<_, std::io::Error>(read_http_message(&mut stream).await)
    };
    let (head, reply) = tokio::time::timeout(Duration::from_secs(20), exchange)
        .await
        .expect("moto answers in time")
        .expect("moto answers");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    (status, serde_json::from_str(&reply).unwrap_or(Value::Null))
}

// The people tests book as; shared with the examples (tests/person_id.rs).
#[path = "../person_id.rs"]
mod people;
pub use people::person_id;

/// Milliseconds since the Unix epoch, now: what Redis expiry times are compared with.
pub fn unix_ms_now() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is past 1970");
    u64::try_from(since.as_millis()).expect("ms fit in u64")
}
