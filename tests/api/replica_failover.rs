//! A replica falls behind, then its primary fails over to it (issue 22), as the outside review
//! ran it: the shard a step runs on lags from right before that step (its replica paused and
//! its link dropped), the operation goes on as the code decides, the primary dies and the
//! lagging replica takes over with what it has, the reconciler and the relay run, and then:
//! never more bookings than capacity; held equal to holders and to booking records, so no slot
//! is held without a booking or a live claim; every confirmed answer stands (a 201 or 200
//! booking is stored, a 200 cancel's booking is gone, a 200 move's booking is at its new slot);
//! the events published, read in sequence order, end in each person's stored state, and no
//! sequence number went to two events. `REDIS_WAIT_REPLICAS` is 1, as on ElastiCache with
//! replicas.
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use booking_core::booking::{BookingLookup, BookingService, PublishSettings};
use booking_core::domain::EventRecord;
use booking_core::outbox::{OutboxRelay, RelaySettings};
use booking_core::ports::{EventPublisher, Outbox, PublishError};
use booking_core::seed::SeedService;
use booking_redis::config::ReplicaWait;
use booking_redis::protocol::{CLAIM_TTL, step_scripts};
use booking_redis::{RELAY_LEASE_KEY, RedisOptions, RedisStore, RoundTripGate, fence_key};
use lambda_http::http::{Method, StatusCode};
use redis::{AsyncCommands, Cmd};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::cluster_protocol::assert_invariants;
use crate::helpers::{
    Lagging, RedisMode, Replicated, TEST_TIMEOUTS, TestClock, TestResponse, authorized,
    booking_json, booking_key_of, one_station_seed, person_id, request, test_references,
};

const DATE: &str = "20210516";
/// The date a move goes to (a second day of the station).
const LATER: &str = "20210517";
const STATION: &str = "PWTC";
/// WAIT's timeout: a replica that keeps up acknowledges at once, so a long one costs nothing
/// and a busy machine cannot turn a confirmation into a 503. On the lagging shard, where no
/// acknowledgement can come, each WAIT is cut short by [`WaitCutter`] instead.
const WAIT_TIMEOUT: Duration = Duration::from_secs(10);

/// A publisher that keeps what it was given: every event the booking path and the relay
/// published, in order.
#[derive(Clone, Default)]
struct Recorded(Arc<Mutex<Vec<EventRecord>>>);

#[async_trait]
impl EventPublisher for Recorded {
    async fn publish(&self, records: &[EventRecord]) -> Result<(), PublishError> {
        self.0.lock().unwrap().extend_from_slice(records);
        Ok(())
    }
}

/// The shard a step runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shard {
    Person,
    Station,
}

/// The step a round trip carries (a script's step name for EVALSHA, else the command's name)
/// and its first key.
fn step_of(commands: &[&Cmd], scripts: &HashMap<String, &'static str>) -> (String, String) {
    let args: Vec<String> = commands[0]
        .args_iter()
        .map(|arg| match arg {
            redis::Arg::Simple(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            _ => String::new(),
        })
        .collect();
    let arg = |n: usize| args.get(n).cloned().unwrap_or_default();
    match arg(0).to_ascii_uppercase().as_str() {
        "EVALSHA" => {
            let name = scripts.get(&arg(1)).copied().unwrap_or("an unnamed script");
            (name.to_owned(), arg(3))
        }
        command => (command.to_owned(), arg(1)),
    }
}

/// Holds back the first round trip that carries `step` (to `fence`'s hash slot, if given) and
/// hands the test a sender that lets it go: in between, the test makes the shard lag, or drops
/// the operation there (a process killed between two steps).
struct StopBefore {
    step: &'static str,
    fence: Option<String>,
    scripts: HashMap<String, &'static str>,
    reached: Mutex<Option<oneshot::Sender<oneshot::Sender<()>>>>,
}

#[async_trait]
impl RoundTripGate for StopBefore {
    async fn admit(&self, commands: &[&Cmd]) {
        let (step, key) = step_of(commands, &self.scripts);
        if step != self.step || self.fence.as_ref().is_some_and(|f| *f != fence_key(&key)) {
            return;
        }
        let Some(reached) = self.reached.lock().unwrap().take() else {
            return;
        };
        let (go, wait) = oneshot::channel();
        if reached.send(go).is_ok() {
            let _ = wait.await;
        }
    }
}

/// While a shard lags, answers every WAIT blocked on its primary at once, with what WAIT
/// would say at its timeout (`CLIENT UNBLOCK ... TIMEOUT`: the replicas acknowledged so far,
/// none): the lag is real, only the wait for what cannot come is cut short.
struct WaitCutter(tokio::task::JoinHandle<()>);

impl WaitCutter {
    async fn start(port: u16) -> Self {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        Self(tokio::spawn(async move {
            loop {
                let Ok(clients) = redis::cmd("CLIENT")
                    .arg("LIST")
                    .query_async::<String>(&mut connection)
                    .await
                else {
                    return;
                };
                for line in clients.lines() {
                    let field = |name: &str| {
                        line.split(' ')
                            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
                    };
                    if field("cmd") == Some("wait")
                        && field("flags").is_some_and(|flags| flags.contains('b'))
                        && let Some(id) = field("id")
                    {
                        let _: redis::RedisResult<i64> = redis::cmd("CLIENT")
                            .arg("UNBLOCK")
                            .arg(id)
                            .arg("TIMEOUT")
                            .query_async(&mut connection)
                            .await;
                    }
                }
                // A poll, not a synchronisation: a WAIT found a round later waits longer.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }))
    }
}

impl Drop for WaitCutter {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An operation held back before a step.
struct Paused {
    operation: Operation,
    go: oneshot::Sender<()>,
    running: tokio::task::JoinHandle<Outcome>,
}

/// What the test does when an operation reaches the step it stops before.
#[derive(Debug, Clone, Copy)]
enum AtStep {
    /// The step's shard lags from there on.
    Lag,
    /// The operation stops there.
    Crash,
}

#[derive(Debug, Clone)]
enum Operation {
    /// `POST /booking` (create-booking's handler).
    Book(String),
    /// `DELETE /booking/{id}` with the booking's reference (cancel-booking's handler).
    Cancel(String),
    /// `PATCH /booking/{id}` to the station's later date (move-booking's handler).
    Move(String),
    /// One run of the outbox relay.
    Relay,
    /// One run of the reconciler.
    Reconcile,
}

#[derive(Debug)]
enum Outcome {
    Answer(TestResponse),
    /// Whether the run succeeded.
    Ran(bool),
}

impl Outcome {
    fn status(&self) -> StatusCode {
        match self {
            Self::Answer(reply) => reply.status,
            Self::Ran(_) => panic!("not an HTTP answer: {self:?}"),
        }
    }
}

fn bookings_on(
    store: &RedisStore,
    published: &Recorded,
) -> BookingService<RedisStore, RedisStore, Recorded> {
    BookingService::new(
        store.clone(),
        store.clone(),
        published.clone(),
        PublishSettings::default(),
        test_references(),
    )
}

fn relay_settings() -> RelaySettings {
    RelaySettings {
        min_age: Duration::ZERO,
        ..RelaySettings::default()
    }
}

async fn perform(
    operation: Operation,
    store: RedisStore,
    published: Recorded,
    reference: Option<String>,
) -> Outcome {
    let bearer = || {
        format!(
            "Bearer {}",
            reference.clone().expect("a booked person's reference")
        )
    };
    let service = bookings_on(&store, &published);
    match operation {
        Operation::Book(id) => {
            let request = request(Method::POST, "/booking", booking_json(&id, STATION, DATE));
            Outcome::Answer(booking_http::create_booking(&service, request).await.into())
        }
        Operation::Cancel(id) => {
            let request = authorized(Method::DELETE, &format!("/booking/{id}"), Some(&bearer()));
            Outcome::Answer(booking_http::cancel_booking(&service, request).await.into())
        }
        Operation::Move(id) => {
            let body = serde_json::json!({"location": STATION, "date": LATER}).to_string();
            let mut request = request(Method::PATCH, &format!("/booking/{id}"), body);
            request.headers_mut().insert(
                lambda_http::http::header::AUTHORIZATION,
                bearer().parse().unwrap(),
            );
            Outcome::Answer(booking_http::move_booking(&service, request).await.into())
        }
        Operation::Relay => {
            let relay = OutboxRelay::new(store, published, relay_settings());
            Outcome::Ran(relay.run().await.is_ok())
        }
        Operation::Reconcile => Outcome::Ran(store.reconcile(None).await.is_ok()),
    }
}

/// What each person's stored booking must be at the end, by the answers they got: the date
/// it is on (Some(None): no booking), or None when an unconfirmed answer left it open.
type Promised = BTreeMap<String, Option<Option<&'static str>>>;

struct Harness {
    redis: Replicated,
    /// The functions' store. Made anew after a failover, as a new container would (an old one
    /// recovers by itself, which tests/api/redis_failover.rs checks; the steps after a
    /// failover here must not depend on how soon).
    store: RedisStore,
    clock: Arc<TestClock>,
    published: Recorded,
    scripts: HashMap<String, &'static str>,
    promised: Promised,
    references: HashMap<String, String>,
    /// The replica that lags, until the failover to it, and what cuts its WAITs short.
    lagging: Option<(Lagging, WaitCutter)>,
    people: u32,
}

impl Harness {
    async fn start(mode: RedisMode, capacity: u32) -> Self {
        let redis = Replicated::start(mode).await;
        let clock = Arc::new(TestClock::new());
        let store = Self::store_on(&redis, &clock);
        SeedService::new(store.clone())
            .seed(one_station_seed(DATE, 2, STATION, capacity, false))
            .await
            .unwrap();
        redis.wait_until_replicas_caught_up();
        load_scripts(&redis);
        let scripts = step_scripts()
            .into_iter()
            .map(|(name, script)| (script.get_hash().to_owned(), name))
            .collect();
        Self {
            redis,
            store,
            clock,
            published: Recorded::default(),
            scripts,
            promised: Promised::new(),
            references: HashMap::new(),
            lagging: None,
            people: 0,
        }
    }

    fn store_on(redis: &Replicated, clock: &Arc<TestClock>) -> RedisStore {
        RedisStore::connect_with(
            &redis.url(),
            RedisOptions {
                timeouts: TEST_TIMEOUTS,
                cluster: redis.is_cluster(),
                wait: ReplicaWait {
                    replicas: 1,
                    timeout: WAIT_TIMEOUT,
                },
                ..RedisOptions::default()
            },
        )
        .unwrap()
        .with_clock(clock.clone())
    }

    /// A new person whose keys live on another shard than the station's.
    fn person(&mut self) -> String {
        loop {
            self.people += 1;
            let id = person_id(self.people as usize);
            let Replicated::Cluster(cluster) = &self.redis else {
                return id;
            };
            if cluster.node_of(&booking_key_of(&id)) != cluster.node_of(&station_key()) {
                return id;
            }
        }
    }

    /// Runs `operation` to its end, as the functions do.
    async fn run(&mut self, operation: Operation) -> Outcome {
        let outcome = self.launch(&operation, self.store.clone()).await.unwrap();
        self.note(&operation, Some(&outcome));
        outcome
    }

    /// Starts `operation` and holds it back right before it sends `step` (to the shard of
    /// `key`, if given). Panics if the operation ends without getting there.
    async fn start_to(
        &mut self,
        operation: Operation,
        step: &'static str,
        key: Option<&str>,
    ) -> Paused {
        let (reached, stopped) = oneshot::channel();
        let gate = StopBefore {
            step,
            // A single Redis is one shard: each of its scripts spans the person's and the
            // station's keys (book.lua's first key is the station's), so a step is on the
            // shard of every key there.
            fence: key.filter(|_| self.redis.is_cluster()).map(fence_key),
            scripts: self.scripts.clone(),
            reached: Mutex::new(Some(reached)),
        };
        let store = self.store.clone().with_gate(Arc::new(gate));
        let running = self.launch(&operation, store);
        let go = stopped
            .await
            .unwrap_or_else(|_| panic!("{operation:?} ended before {step} on {key:?}"));
        Paused {
            operation,
            go,
            running,
        }
    }

    /// Lets a held-back operation go on to its end.
    async fn resume(&mut self, paused: Paused) -> Outcome {
        paused.go.send(()).unwrap();
        let outcome = paused.running.await.unwrap();
        self.note(&paused.operation, Some(&outcome));
        outcome
    }

    /// Runs `operation` until it is about to send `step` to the shard of `key`; there the
    /// shard lags (and the operation goes on to its answer), or the operation stops (None).
    async fn run_to(
        &mut self,
        operation: Operation,
        step: &'static str,
        key: &str,
        at_step: AtStep,
    ) -> Option<Outcome> {
        let paused = self.start_to(operation, step, Some(key)).await;
        match at_step {
            AtStep::Lag => {
                self.lag(key).await;
                Some(self.resume(paused).await)
            }
            AtStep::Crash => {
                paused.running.abort();
                self.note(&paused.operation, None);
                None
            }
        }
    }

    /// The replica of `key`'s shard falls behind from now on.
    async fn lag(&mut self, key: &str) {
        assert!(self.lagging.is_none(), "one replica lags at a time");
        // Asked first: once its replica is paused, a node may not answer (see `ask_any`).
        let primary = self.redis.primary_port_of(key);
        let lagging = self.redis.let_replica_fall_behind(key);
        let cutter = WaitCutter::start(primary).await;
        self.lagging = Some((lagging, cutter));
    }

    fn launch(&self, operation: &Operation, store: RedisStore) -> tokio::task::JoinHandle<Outcome> {
        let reference = match operation {
            Operation::Cancel(id) | Operation::Move(id) => self.references.get(id).cloned(),
            _ => None,
        };
        let running = perform(operation.clone(), store, self.published.clone(), reference);
        tokio::spawn(async move {
            tokio::time::timeout(Duration::from_secs(60), running)
                .await
                .expect("a lagging replica costs a 503, never a hang")
        })
    }

    /// Notes what an answer promised about the person's booking (None: the operation stopped).
    fn note(&mut self, operation: &Operation, outcome: Option<&Outcome>) {
        let (id, wanted) = match operation {
            Operation::Book(id) => (id, Some(DATE)),
            Operation::Cancel(id) => (id, None),
            Operation::Move(id) => (id, Some(LATER)),
            Operation::Relay | Operation::Reconcile => return,
        };
        let promised = self.promised.entry(id.clone()).or_insert(Some(None));
        let Some(Outcome::Answer(reply)) = outcome else {
            *promised = None;
            return;
        };
        match (operation, reply.status) {
            (Operation::Book(_), StatusCode::CREATED | StatusCode::OK)
            | (Operation::Cancel(_) | Operation::Move(_), StatusCode::OK) => {
                *promised = Some(wanted);
                if let Some(reference) = reply.body["bookingReference"].as_str() {
                    self.references.insert(id.clone(), reference.to_owned());
                }
            }
            // Nothing confirmed: what already stood stays, anything else may or may not
            // have been applied.
            (_, StatusCode::SERVICE_UNAVAILABLE) => {
                if *promised != Some(wanted) {
                    *promised = None;
                }
            }
            (Operation::Book(_), StatusCode::CONFLICT) if reply.error_code() == "fully_booked" => {}
            (_, other) => panic!("{operation:?} answered {other}: {:?}", reply.body),
        }
    }

    /// The lagging shard fails over to its replica.
    fn fail_over(&mut self) {
        let (lagging, cutter) = self.lagging.take().expect("a lagging replica");
        drop(cutter);
        self.redis.fail_over_to(lagging);
        load_scripts(&self.redis);
        self.store = Self::store_on(&self.redis, &self.clock);
    }

    /// The lagging shard fails over to its replica (if one lags); then the reconciler (past
    /// the claim TTL) and the relay run to completion, and every invariant holds.
    async fn fail_over_and_check(&mut self) {
        if self.lagging.is_some() {
            self.fail_over();
        }
        self.clock.advance(CLAIM_TTL + Duration::from_secs(1));
        let reconciled = self.store.reconcile(None).await.unwrap();
        assert!(!reconciled.deadline_reached);
        // A lease held by a relay that lost its shard expires by itself; here at once.
        let _: () = self.store.connection().del(RELAY_LEASE_KEY).await.unwrap();
        let relay = OutboxRelay::new(self.store.clone(), self.published.clone(), relay_settings());
        let report = relay.run().await.unwrap();
        assert!(!report.skipped);
        assert_eq!(
            self.store.depth().await.unwrap(),
            0,
            "the relay drained the outbox"
        );
        self.check().await;
    }

    async fn check(&self) {
        assert_invariants(&self.store, &[STATION.to_owned()], true).await;
        let mut connection = self.store.connection();
        let mut stored: BTreeMap<String, Option<Value>> = BTreeMap::new();
        for id in self.promised.keys() {
            let json: Option<String> = connection.get(booking_key_of(id)).await.unwrap();
            stored.insert(
                id.clone(),
                json.map(|json| serde_json::from_str(&json).unwrap()),
            );
        }
        for (id, promised) in &self.promised {
            let date = stored[id].as_ref().map(|booking| booking["date"].clone());
            if let Some(date_promised) = promised {
                assert_eq!(
                    date,
                    date_promised.map(Value::from),
                    "{id}: what its answers promised"
                );
            }
        }
        // Per person, the published events in sequence order (a republished event appears
        // again under its one event id).
        let mut events: BTreeMap<String, BTreeMap<u64, Value>> = BTreeMap::new();
        for record in self.published.0.lock().unwrap().iter() {
            let event: Value = serde_json::from_str(&record.payload).unwrap();
            let sequence = event["sequence"].as_u64().unwrap();
            let before = events
                .entry(record.key.clone())
                .or_default()
                .insert(sequence, event.clone());
            if let Some(before) = before {
                assert_eq!(
                    before["eventId"], event["eventId"],
                    "{}: sequence {sequence} went to two events",
                    record.key
                );
            }
        }
        for (id, booking) in &stored {
            let last = events
                .get(id)
                .and_then(|events| events.values().next_back());
            let told = last
                .filter(|event| event["type"] != "booking.cancelled")
                .map(|event| event["booking"].clone());
            assert_eq!(
                &told, booking,
                "{id}: its last event tells its stored state"
            );
        }
    }

    /// `id` books, and the person's shard lags from the step that confirms (cluster: confirm;
    /// single Redis: the one booking script): the booking is written on the primary only, and
    /// answers 503.
    async fn book_lagging_from_confirm(&mut self, id: &str) {
        let confirm = if self.redis.is_cluster() {
            "confirm"
        } else {
            "book"
        };
        let operation = Operation::Book(id.to_owned());
        let key = booking_key_of(id);
        let booked = self.run_to(operation, confirm, &key, AtStep::Lag).await;
        assert_eq!(booked.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    /// GET /booking/{id} with the person's reference.
    async fn get_booking(&self, id: &str) -> TestResponse {
        let bearer = format!("Bearer {}", self.references[id]);
        let lookup = BookingLookup::new(self.store.clone(), test_references());
        let request = authorized(Method::GET, &format!("/booking/{id}"), Some(&bearer));
        booking_http::get_booking(&lookup, request).await.into()
    }
}

/// Loads every step's script on every node. A promoted replica has none in its cache, and
/// the client's answer to NOSCRIPT, SCRIPT LOAD, goes to every node of a cluster, replicas
/// too: with a replica paused, each load waits out the response timeout (11 s here). See
/// docs/redis.md, "Replica failover tests".
fn load_scripts(redis: &Replicated) {
    for port in redis.ports() {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
        let mut connection = client.get_connection().unwrap();
        for (_, script) in step_scripts() {
            script.prepare_invoke().load(&mut connection).unwrap();
        }
    }
}

fn station_key() -> String {
    format!("slots:{{{STATION}}}")
}

fn shard_key(shard: Shard, id: &str) -> String {
    match shard {
        Shard::Person => booking_key_of(id),
        Shard::Station => station_key(),
    }
}

/// Where a case makes a shard lag: before `step` on `shard`.
#[derive(Debug, Clone, Copy)]
enum Case {
    /// A booking.
    Book(&'static str, Shard),
    /// A cancel of a confirmed booking.
    Cancel(&'static str, Shard),
    /// A move of a confirmed booking to the station's later date.
    Move(&'static str, Shard),
    /// The identical retry of a booking that answered 503 (its person's shard lags from the
    /// first attempt's confirm).
    Retry,
    /// The relay, after a booking that answered 503 (its shard lags from its confirm).
    Relay,
    /// The reconciler resolving a booking that answered 503 (its shard lags from its confirm).
    ReconcileResolve,
    /// The reconciler settling a booking that stopped before its settle step.
    ReconcileSettle,
    /// The reconciler releasing an attempt that stopped before its confirm step.
    ReconcileRelease,
}

impl Harness {
    async fn lag_and_fail_over(&mut self, case: Case) {
        // What the cases before left (the test's own writes too) is on every replica.
        self.redis.wait_until_replicas_caught_up();
        let id = self.person();
        let person = booking_key_of(&id);
        let book = || Operation::Book(id.clone());
        match case {
            Case::Book(step, shard) => {
                self.run_to(book(), step, &shard_key(shard, &id), AtStep::Lag)
                    .await;
            }
            Case::Cancel(step, shard) | Case::Move(step, shard) => {
                assert_eq!(self.run(book()).await.status(), StatusCode::CREATED);
                let operation = match case {
                    Case::Cancel(..) => Operation::Cancel(id.clone()),
                    _ => Operation::Move(id.clone()),
                };
                self.run_to(operation, step, &shard_key(shard, &id), AtStep::Lag)
                    .await;
            }
            Case::Retry => {
                self.book_lagging_from_confirm(&id).await;
                self.run(book()).await;
            }
            Case::Relay => {
                self.book_lagging_from_confirm(&id).await;
                self.run(Operation::Relay).await;
            }
            Case::ReconcileResolve => {
                self.book_lagging_from_confirm(&id).await;
                self.clock.advance(CLAIM_TTL + Duration::from_secs(1));
                self.run(Operation::Reconcile).await;
            }
            Case::ReconcileSettle => {
                self.run_to(book(), "settle", &station_key(), AtStep::Crash)
                    .await;
                self.clock.advance(CLAIM_TTL + Duration::from_secs(1));
                self.run_to(Operation::Reconcile, "settle", &station_key(), AtStep::Lag)
                    .await;
            }
            Case::ReconcileRelease => {
                self.run_to(book(), "confirm", &person, AtStep::Crash).await;
                self.clock.advance(CLAIM_TTL + Duration::from_secs(1));
                self.run_to(Operation::Reconcile, "release", &station_key(), AtStep::Lag)
                    .await;
            }
        }
        self.fail_over_and_check().await;
    }
}

/// Every step of a booking, a cancel, a move, the identical retry, the relay and the
/// reconciler, each in turn with its shard lagging from right before it and failed over to its
/// lagging replica (one cluster, or primary with replica, for all of them, a fresh person each).
async fn every_step_on_a_lagging_shard_survives_a_failover_to_it(mode: RedisMode) {
    let mut harness = Harness::start(mode, 100).await;
    let cases: &[Case] = match mode {
        RedisMode::Single => &[
            Case::Book("book", Shard::Person),
            Case::Cancel("cancel", Shard::Person),
            Case::Move("move", Shard::Person),
            Case::Retry,
            Case::Relay,
        ],
        RedisMode::Cluster => &[
            Case::Book("claim", Shard::Person),
            Case::Book("hold", Shard::Station),
            Case::Book("confirm", Shard::Person),
            Case::Book("settle", Shard::Station),
            Case::Cancel("cancel_mark", Shard::Station),
            Case::Cancel("cancel_person", Shard::Person),
            Case::Cancel("release", Shard::Station),
            Case::Move("claim_move", Shard::Person),
            Case::Move("hold_move", Shard::Station),
            Case::Move("confirm_move", Shard::Person),
            Case::Move("release_parked", Shard::Station),
            Case::Move("settle", Shard::Station),
            Case::Retry,
            Case::Relay,
            Case::ReconcileResolve,
            Case::ReconcileSettle,
            Case::ReconcileRelease,
        ],
    };
    for case in cases {
        let started = std::time::Instant::now();
        harness.lag_and_fail_over(*case).await;
        println!("{case:?}: {:?}", started.elapsed());
    }
}

in_both_modes!(every_step_on_a_lagging_shard_survives_a_failover_to_it);

/// Issue 22, defect 1: a cancel gave the slot back before its removal was replicated, so
/// another person booked it, and the failover brought the cancelled booking back: two
/// bookings for one slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_frees_its_slot_only_once_the_cancel_is_replicated() {
    let mut harness = Harness::start(RedisMode::Cluster, 1).await;
    let (p, q) = (harness.person(), harness.person());
    let booked = harness.run(Operation::Book(p.clone())).await;
    assert_eq!(booked.status(), StatusCode::CREATED);
    let cancel = harness
        .run_to(
            Operation::Cancel(p.clone()),
            "cancel_person",
            &booking_key_of(&p),
            AtStep::Lag,
        )
        .await
        .unwrap();
    assert_eq!(cancel.status(), StatusCode::SERVICE_UNAVAILABLE);
    let other = harness.run(Operation::Book(q.clone())).await;
    assert_eq!(
        other.status(),
        StatusCode::CONFLICT,
        "the slot is not free before the cancel is replicated: {other:?}"
    );
    harness.fail_over();
    // The cancel was never confirmed; the failover lost it, and the booking stands.
    assert_eq!(harness.get_booking(&p).await.status, StatusCode::OK);
    harness.fail_over_and_check().await;
}

/// Issue 22, defect 2: the identical retry of a booking that answered 503 answered 200 with no
/// WAIT; the failover then lost the booking the 200 confirmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_identical_retry_is_confirmed_only_once_its_booking_is_replicated() {
    let mut harness = Harness::start(RedisMode::Cluster, 10).await;
    let id = harness.person();
    harness.book_lagging_from_confirm(&id).await;
    let retry = harness.run(Operation::Book(id.clone())).await;
    assert_eq!(retry.status(), StatusCode::SERVICE_UNAVAILABLE, "{retry:?}");
    harness.fail_over_and_check().await;
}

/// Issue 22, defect 3: the relay published, and the reconciler settled, a booking that had
/// answered 503 and that the failover then lost: an event for no booking, and a slot held
/// for nobody with nothing left for the reconciler to find.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_and_the_reconciler_act_only_on_replicated_bookings() {
    let mut harness = Harness::start(RedisMode::Cluster, 10).await;
    let id = harness.person();
    harness.book_lagging_from_confirm(&id).await;
    harness.run(Operation::Relay).await;
    assert!(
        harness.published.0.lock().unwrap().is_empty(),
        "nothing published for a booking a failover can lose"
    );
    harness.clock.advance(CLAIM_TTL + Duration::from_secs(1));
    harness.run(Operation::Reconcile).await;
    harness.fail_over_and_check().await;
}

/// Issue 22, defect 3 on a single Redis: the relay's lease was its only WAIT, so entries
/// written after it was taken (here a booking that answered 503 while the replica lagged) went
/// out unreplicated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_single_redis_the_relay_publishes_only_replicated_events() {
    let mut harness = Harness::start(RedisMode::Single, 10).await;
    let id = harness.person();
    // The relay holds its lease and is about to read the outbox (Redis's clock first: what is
    // older than that, it reads).
    let relay = harness.start_to(Operation::Relay, "TIME", None).await;
    harness.lag(&booking_key_of(&id)).await;
    let booked = harness.run(Operation::Book(id.clone())).await;
    assert_eq!(booked.status(), StatusCode::SERVICE_UNAVAILABLE);
    let relayed = harness.resume(relay).await;
    assert!(matches!(relayed, Outcome::Ran(false)), "{relayed:?}");
    assert!(
        harness.published.0.lock().unwrap().is_empty(),
        "nothing published for a booking a failover can lose"
    );
    harness.fail_over_and_check().await;
}
