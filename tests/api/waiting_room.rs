//! The waiting room against a real redis-server: one place per person, admission strictly in
//! queue order at the inlet's rate, admission tokens bound to their person and expiring, and
//! `closed` once no slot is left.
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use booking_core::booking::PublishSettings;
use booking_core::waiting_room::{
    ADMISSION_TOKEN_TTL, AdmissionKeys, Clock, DEFAULT_ROOM_HOURS, DEFAULT_ROOM_SIZE, Inlet,
    InletMode, InletSettings, RoomAdmin, WaitingRoom,
};
use booking_http::{ADMISSION_TOKEN_HEADER, Api};
use booking_redis::{RedisStore, RedisTimeouts};
use lambda_http::Body;
use lambda_http::http::{Method, StatusCode};

use crate::helpers::{
    AppOptions, RedisMode, TestApp, TestResponse, booking_json, person_id, publisher, request,
    spawn_app, spawn_app_with, test_check_in, test_references,
};

/// Time the tests move by hand: token expiry and the inlet's rate without sleeping.
struct ManualClock(AtomicU64);

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Now, as the tests' clock starts: the room's keys expire by it, so it must not be the past.
fn start_ms() -> u64 {
    crate::helpers::unix_ms_now()
}

struct Room {
    app: TestApp,
    room: WaitingRoom,
    clock: Arc<ManualClock>,
    rate: u64,
}

async fn spawn_room(people_per_minute: u64) -> Room {
    spawn_room_for(people_per_minute, 1).await
}

/// A room for a test that sends `concurrent` requests at once: Redis timeouts sized for them.
async fn spawn_room_for(people_per_minute: u64, concurrent: usize) -> Room {
    let app = spawn_app_with(AppOptions::on(RedisMode::Single).concurrent(concurrent)).await;
    let clock = Arc::new(ManualClock(AtomicU64::new(start_ms())));
    let room = WaitingRoom::new(
        Arc::new(app.store.clone()),
        AdmissionKeys::new(b"integration test admission key, 32+ bytes"),
        clock.clone(),
    );
    RoomAdmin::new(Arc::new(app.store.clone()), clock.clone())
        .open(DEFAULT_ROOM_HOURS, DEFAULT_ROOM_SIZE)
        .await
        .expect("the room opens");
    Room {
        app,
        room,
        clock,
        rate: people_per_minute,
    }
}

impl Room {
    fn inlet(&self) -> Inlet {
        Inlet::new(
            Arc::new(self.app.store.clone()),
            InletSettings {
                mode: InletMode::Rate,
                people_per_minute: self.rate,
            },
            self.clock.clone(),
        )
    }

    async fn join(&self, id: &str) -> TestResponse {
        let body = serde_json::json!({ "mysejahteraId": id }).to_string();
        booking_http::join_queue(&self.room, request(Method::POST, "/queue", body))
            .await
            .into()
    }

    async fn status(&self, ticket: &str) -> TestResponse {
        let path = format!("/queue/{ticket}");
        booking_http::queue_status(&self.room, request(Method::GET, &path, Body::Empty))
            .await
            .into()
    }

    async fn progress(&self) -> TestResponse {
        booking_http::queue_status(&self.room, request(Method::GET, "/queue", Body::Empty))
            .await
            .into()
    }

    /// `POST /booking` with the room on (`room_on`) or off, with or without a token.
    async fn book(&self, id: &str, token: Option<&str>, room_on: bool) -> TestResponse {
        let mut request = request(
            Method::POST,
            "/booking",
            booking_json(id, "PWTC", "20210516"),
        );
        if let Some(token) = token {
            request
                .headers_mut()
                .insert(ADMISSION_TOKEN_HEADER, token.parse().unwrap());
        }
        let gate = room_on.then(|| self.room.gate());
        booking_http::create_admitted_booking(gate.as_ref(), self.app.bookings(), request)
            .await
            .into()
    }

    fn advance_clock(&self, by: Duration) {
        let by = u64::try_from(by.as_millis()).unwrap();
        self.clock.0.fetch_add(by, Ordering::SeqCst);
    }

    /// Joins and lets everybody queued so far in; the person's admission token.
    async fn admitted_token(&self, id: &str) -> String {
        let joined = self.join(id).await;
        let ticket = joined.body["ticket"].as_str().unwrap().to_owned();
        self.advance_clock(Duration::from_secs(60));
        self.inlet().tick().await.unwrap();
        let status = self.status(&ticket).await;
        assert_eq!(status.body["status"], "admitted", "{:?}", status.body);
        status.body["admissionToken"].as_str().unwrap().to_owned()
    }
}

fn ticket(response: &TestResponse) -> String {
    response.body["ticket"].as_str().unwrap().to_owned()
}

fn position(response: &TestResponse) -> u64 {
    response.body["position"].as_u64().unwrap()
}

#[tokio::test]
async fn each_person_holds_one_place_however_often_they_join() {
    const PEOPLE: usize = 40;
    const TABS: usize = 5;
    let room = &spawn_room_for(60, PEOPLE * TABS).await;
    // 40 people, each joining 5 times at once (tabs, retries), with the ID as printed on the
    // card (YYMMDD-PB-NNNN) in every other tab: one person all the same.
    let people: Vec<String> = (0..PEOPLE).map(person_id).collect();
    let printed = |id: &str| format!("{}-{}-{}", &id[..6], &id[6..8], &id[8..]);
    let joins = people
        .iter()
        .flat_map(|id| (0..TABS).map(move |tab| (id.as_str(), tab)))
        .map(|(id, tab)| async move {
            let sent = if tab % 2 == 0 {
                id.to_owned()
            } else {
                printed(id)
            };
            (id, room.join(&sent).await)
        });
    let replies = futures::future::join_all(joins).await;
    let mut places = std::collections::HashMap::new();
    let mut created = 0;
    for (id, reply) in replies {
        assert!(
            reply.status == StatusCode::CREATED || reply.status == StatusCode::OK,
            "{:?}",
            reply.body
        );
        if reply.status == StatusCode::CREATED {
            created += 1;
        }
        assert_eq!(reply.body["status"], "waiting");
        assert!(
            !ticket(&reply).contains(id),
            "the ticket must not reveal the ID"
        );
        let place = (position(&reply), ticket(&reply));
        assert_eq!(
            *places.entry(id).or_insert_with(|| place.clone()),
            place,
            "{id}"
        );
    }
    assert_eq!(
        created,
        people.len(),
        "one 201 per person, 200 for the rest"
    );
    let positions: HashSet<u64> = places.values().map(|(position, _)| *position).collect();
    assert_eq!(positions, (1..=40).collect(), "one place each, no gaps");
    assert_eq!(room.app.count_keys("queue:{room}:person:*").await, 40);
    // The queue's keys hold no ID.
    let snapshot = room.app.snapshot().await;
    for (key, _) in snapshot {
        assert!(!people.iter().any(|id| key.contains(id.as_str())), "{key}");
    }
}

#[tokio::test]
async fn admission_follows_queue_order_at_the_inlets_rate() {
    let room = spawn_room(60).await;
    room.app.seed(1, &[("PWTC", 1000)]).await;
    let people: Vec<String> = (100..125).map(person_id).collect();
    let joins = people.iter().map(|id| room.join(id));
    let tickets: Vec<(u64, String)> = futures::future::join_all(joins)
        .await
        .iter()
        .map(|reply| (position(reply), ticket(reply)))
        .collect();
    let inlet = room.inlet();
    // The first tick lets in a second's worth (1 at 60/min), each later one 5 s worth (5).
    for expected in [1, 6, 11, 16, 21, 25, 25] {
        let tick = inlet.tick().await.unwrap();
        assert_eq!(tick.progress.serving, expected);
        let shared = room.progress().await;
        assert_eq!(shared.body["serving"], expected);
        assert_eq!(shared.body["status"], "open");
        assert_eq!(
            shared.headers["cache-control"], "public, max-age=1",
            "everybody's poll is one cacheable answer"
        );
        for (position, ticket) in &tickets {
            let status = room.status(ticket).await;
            assert_eq!(status.body["position"], *position);
            let admitted = status.body["status"] == "admitted";
            assert_eq!(
                admitted,
                *position <= expected,
                "position {position} at {expected}"
            );
            assert_eq!(status.body.get("admissionToken").is_some(), admitted);
            let cache = &status.headers["cache-control"];
            assert_eq!(cache == "no-store", admitted, "a token is never cacheable");
        }
        room.advance_clock(Duration::from_secs(5));
    }
    // Someone joining after everybody was let in still waits for the next tick.
    let late = room.join(&person_id(51)).await;
    assert_eq!(position(&late), 26);
    assert_eq!(late.body["status"], "waiting");
    room.advance_clock(Duration::from_secs(5));
    inlet.tick().await.unwrap();
    assert_eq!(room.status(&ticket(&late)).await.body["status"], "admitted");
}

#[tokio::test]
async fn inlets_running_at_once_share_one_rate() {
    let room = spawn_room(600).await;
    room.app.seed(1, &[("PWTC", 1000)]).await;
    for i in 0..100 {
        room.join(&person_id(100 + i)).await;
    }
    let (first, second) = (room.inlet(), room.inlet());
    first.tick().await.unwrap(); // 1 s worth at 600/min: 10
    room.advance_clock(Duration::from_secs(3));
    let (a, b) = tokio::join!(first.tick(), second.tick());
    let serving = a.unwrap().progress.serving.max(b.unwrap().progress.serving);
    assert_eq!(serving, 10 + 30, "3 s at 600/min once, not twice");
}

#[tokio::test]
async fn bookings_need_the_persons_own_live_token_while_the_room_is_on() {
    let room = spawn_room(6000).await;
    room.app.seed(1, &[("PWTC", 10)]).await;
    let alice = "900127015527";
    let bob = "900127015528";
    let token = room.admitted_token(alice).await;
    let before = room.app.snapshot().await;
    let refusals = [
        (bob, None),
        (bob, Some(token.as_str())),
        (alice, Some("not-a-token")),
        (alice, None),
    ];
    for (id, token) in refusals {
        let reply = room.book(id, token, true).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{id} {token:?}");
        assert_eq!(reply.error_code(), "not_admitted");
    }
    assert_eq!(
        room.app.snapshot().await,
        before,
        "a refusal changes nothing"
    );
    // Alice's own token, still fresh.
    room.advance_clock(ADMISSION_TOKEN_TTL - Duration::from_secs(1));
    let booked = room.book(alice, Some(&token), true).await;
    assert_eq!(booked.status, StatusCode::CREATED, "{:?}", booked.body);
    assert_eq!(room.app.remaining("PWTC", "20210516").await, Some(9));
}

#[tokio::test]
async fn an_expired_token_is_refused_and_a_fresh_one_works() {
    let room = spawn_room(6000).await;
    room.app.seed(1, &[("PWTC", 10)]).await;
    let alice = "900127015527";
    let token = room.admitted_token(alice).await;
    room.advance_clock(ADMISSION_TOKEN_TTL);
    let before = room.app.snapshot().await;
    let expired = room.book(alice, Some(&token), true).await;
    assert_eq!(expired.status, StatusCode::FORBIDDEN);
    assert_eq!(expired.error_code(), "not_admitted");
    assert!(
        expired.body["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    assert_eq!(room.app.snapshot().await, before);
    // The ticket still admits: polling it again gives a new token.
    let fresh = room.admitted_token(alice).await;
    assert_ne!(fresh, token);
    assert_eq!(
        room.book(alice, Some(&fresh), true).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn without_the_room_bookings_need_no_token() {
    let room = spawn_room(60).await;
    room.app.seed(1, &[("PWTC", 10)]).await;
    let on = room.book("900127015527", None, true).await;
    assert_eq!(on.status, StatusCode::FORBIDDEN);
    let off = room.book("900127015527", None, false).await;
    assert_eq!(off.status, StatusCode::CREATED, "{:?}", off.body);
    // A stray header with the room off changes nothing either.
    let stray = room.book("900127015528", Some("junk"), false).await;
    assert_eq!(stray.status, StatusCode::CREATED);
}

#[tokio::test]
async fn the_room_closes_once_every_slot_is_booked_and_reopens_on_a_cancel() {
    let room = spawn_room(6000).await;
    room.app.seed(1, &[("PWTC", 2)]).await;
    let people = [1, 2, 3].map(person_id);
    let mut tokens = Vec::new();
    for id in &people {
        tokens.push(room.admitted_token(id).await);
    }
    let first = room.book(&person_id(1), Some(&tokens[0]), true).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(
        room.book(&person_id(2), Some(&tokens[1]), true)
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        room.progress().await.body["status"],
        "open",
        "until the inlet looks"
    );
    let tick = room.inlet().tick().await.unwrap();
    assert_eq!(tick.slots_left, 0);
    assert!(!tick.progress.open);
    assert_eq!(room.progress().await.body["status"], "closed");
    let late = room.join(&person_id(11)).await;
    assert_eq!(late.body["status"], "closed", "nobody waits for nothing");
    let third = room.status(&ticket(&room.join(&person_id(3)).await)).await;
    assert_eq!(third.body["status"], "closed");
    assert!(third.body.get("admissionToken").is_none());
    // Nobody was let in while closed.
    let serving = tick.progress.serving;
    room.advance_clock(Duration::from_secs(60));
    assert_eq!(room.inlet().tick().await.unwrap().progress.serving, serving);
    // A cancel frees a slot: the next tick opens the room again.
    assert_eq!(
        room.app
            .cancel_booking_as(
                &person_id(1),
                Some(&format!(
                    "Bearer {}",
                    first.body["bookingReference"].as_str().unwrap()
                ))
            )
            .await
            .status,
        StatusCode::OK
    );
    room.advance_clock(Duration::from_secs(1));
    let tick = room.inlet().tick().await.unwrap();
    assert!(tick.progress.open);
    assert_eq!(room.progress().await.body["status"], "open");
}

#[tokio::test]
async fn forged_or_altered_tickets_are_not_found() {
    let room = spawn_room(60).await;
    room.join(&person_id(52)).await;
    let joined = room.join("900127015527").await;
    assert_eq!(position(&joined), 2);
    let real = ticket(&joined);
    let moved_forward = real.replacen(".2.", ".1.", 1);
    assert_ne!(moved_forward, real);
    for forged in [
        moved_forward.as_str(),
        "1.00.00",
        "queue",
        "%FF",
        "x".repeat(300).as_str(),
    ] {
        let reply = room.status(forged).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{forged}");
        assert_eq!(reply.error_code(), "ticket_not_found");
    }
    for bad in [
        r#"{}"#,
        r#"{"mysejahteraId":"a:b"}"#,
        r#"{"mysejahteraId":"1","x":1}"#,
    ] {
        let reply: TestResponse =
            booking_http::join_queue(&room.room, request(Method::POST, "/queue", bad))
                .await
                .into();
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(room.app.count_keys("queue:{room}:person:*").await, 2);
}

#[tokio::test]
async fn past_the_in_flight_bound_requests_get_429_at_once() {
    let app = spawn_app().await;
    // Nothing here waits on a timeout: a stopped Redis holds the request until it resumes.
    let timeouts = RedisTimeouts {
        connect: Duration::from_secs(10),
        response: Duration::from_secs(10),
    };
    let store = RedisStore::connect(&app.redis.url(), timeouts).unwrap();
    let api = Api::new(
        store.clone(),
        store,
        publisher(&app.broker),
        PublishSettings::default(),
        test_references(),
        test_check_in(),
    )
    .with_in_flight_limit(1);
    // Warm the connection, then hold Redis still so the next request stays in flight.
    assert_eq!(
        api.handle(request(Method::GET, "/healthz", Body::Empty))
            .await
            .status(),
        200
    );
    app.redis.signal("STOP");
    let mut held = std::pin::pin!(api.handle(request(Method::GET, "/healthz", Body::Empty)));
    // Its first step takes the one place and sends its PING, which the stopped Redis leaves
    // unanswered: in flight for as long as Redis is stopped, not for a guessed while.
    assert!(futures::poll!(held.as_mut()).is_pending());
    // Answered while the first request still waits on Redis: shed, not queued behind it.
    let shed = api
        .handle(request(Method::GET, "/healthz", Body::Empty))
        .await;
    app.redis.signal("CONT");
    let held = held.await;
    assert_eq!(held.status(), 200, "the request in flight is served");
    assert_eq!(shed.status(), 429);
    assert_eq!(shed.headers()["retry-after"], "1");
    let shed = TestResponse::from(shed);
    assert_eq!(shed.error_code(), "too_many_requests");
    // The place is given back.
    let after = api
        .handle(request(Method::GET, "/healthz", Body::Empty))
        .await;
    assert_eq!(after.status(), 200);
}

#[tokio::test]
async fn local_api_routes_the_queue_and_guards_bookings_while_the_room_is_on() {
    let room = spawn_room(6000).await;
    room.app.seed(1, &[("PWTC", 10)]).await;
    let store = room.app.store.clone();
    let api = Api::new(
        store.clone(),
        store,
        publisher(&room.app.broker),
        PublishSettings::default(),
        test_references(),
        test_check_in(),
    )
    .with_waiting_room(room.room.clone(), true);
    let call = |method: Method, path: &str, body: String, token: Option<&str>| {
        let mut request = request(method, path, body);
        if let Some(token) = token {
            request
                .headers_mut()
                .insert(ADMISSION_TOKEN_HEADER, token.parse().unwrap());
        }
        async { TestResponse::from(api.handle(request).await) }
    };
    let id = "900127015527";
    let joined = call(
        Method::POST,
        "/queue",
        format!(r#"{{"mysejahteraId":"{id}"}}"#),
        None,
    )
    .await;
    assert_eq!(joined.status, StatusCode::CREATED);
    let unadmitted = call(
        Method::POST,
        "/booking",
        booking_json(id, "PWTC", "20210516"),
        None,
    )
    .await;
    assert_eq!(unadmitted.status, StatusCode::FORBIDDEN);
    assert_eq!(unadmitted.error_code(), "not_admitted");
    room.inlet().tick().await.unwrap();
    let progress = call(Method::GET, "/queue", String::new(), None).await;
    assert_eq!(
        progress.body,
        serde_json::json!({"serving": 1, "status": "open"})
    );
    let path = format!("/queue/{}", ticket(&joined));
    let status = call(Method::GET, &path, String::new(), None).await;
    let token = status.body["admissionToken"].as_str().unwrap().to_owned();
    let booked = call(
        Method::POST,
        "/booking",
        booking_json(id, "PWTC", "20210516"),
        Some(&token),
    )
    .await;
    assert_eq!(booked.status, StatusCode::CREATED, "{:?}", booked.body);
    let wrong_method = call(Method::DELETE, "/queue", String::new(), None).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.headers["allow"], "GET, POST");
}

#[tokio::test]
async fn with_redis_down_the_queue_answers_503_and_tokens_still_verify() {
    let mut room = spawn_room(6000).await;
    room.app.seed(1, &[("PWTC", 10)]).await;
    let token = room.admitted_token("900127015527").await;
    let ticket = ticket(&room.join("900127015527").await);
    room.app.redis.stop();
    let joined = room.join("900127015528").await;
    assert_eq!(joined.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(joined.error_code(), "store_unavailable");
    assert_eq!(
        room.progress().await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        room.status(&ticket).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // The token needs no store: the booking gets as far as the store and says it is down,
    // never 403 and never a confirmation.
    let booked = room.book("900127015527", Some(&token), true).await;
    assert_eq!(
        booked.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        booked.body
    );
}

/// The room's expiry as Redis holds it for `key`, in ms from now (-1: none, -2: no key).
async fn ttl_ms(app: &TestApp, key: &str) -> i64 {
    let mut connection = app.connection.clone();
    redis::cmd("PTTL")
        .arg(key)
        .query_async(&mut connection)
        .await
        .unwrap()
}

/// A flood of made-up people cannot take more than the room's places, and every key a join
/// writes leaves with the room.
#[tokio::test]
async fn a_flood_stops_at_the_rooms_size_and_its_keys_expire_with_the_room() {
    let room = spawn_room(60).await;
    let admin = RoomAdmin::new(Arc::new(room.app.store.clone()), room.clock.clone());
    let epoch = admin.open(2, 50).await.unwrap();
    assert_eq!(epoch.max_size, 50);
    for n in 0..50 {
        assert_eq!(room.join(&person_id(n)).await.status, StatusCode::CREATED);
    }
    let refused = room.join(&person_id(50)).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.error_code(), "queue_full");
    // A person already queued still gets their place back.
    assert_eq!(room.join(&person_id(7)).await.status, StatusCode::OK);
    assert_eq!(room.app.count_keys("queue:{room}:person:*").await, 50);

    let two_hours = 2 * 3_600_000;
    let mut connection = room.app.connection.clone();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("queue:*")
        .query_async(&mut connection)
        .await
        .unwrap();
    for key in keys {
        let ttl = ttl_ms(&room.app, &key).await;
        if key == booking_redis::queue::QUEUE_EPOCHS_KEY {
            assert_eq!(ttl, -1, "the epoch counter stays, so epochs never repeat");
            continue;
        }
        assert!(
            (two_hours - 60_000..=two_hours).contains(&ttl),
            "{key} expires with the room: {ttl} ms"
        );
    }
}

/// Tickets and tokens of an earlier opening (a rehearsal) are refused in the next one, and
/// nobody shares a position with an old ticket.
#[tokio::test]
async fn an_earlier_openings_ticket_and_token_are_refused() {
    let room = spawn_room(60).await;
    room.app.seed(1, &[("PWTC", 10)]).await;
    let rehearsal_ticket = ticket(&room.join(&person_id(1)).await);
    let rehearsal_token = room.admitted_token(&person_id(1)).await;
    assert_eq!(
        room.status(&rehearsal_ticket).await.body["status"],
        "admitted"
    );

    let admin = RoomAdmin::new(Arc::new(room.app.store.clone()), room.clock.clone());
    let closed = admin.close().await.unwrap().expect("a room was open");
    let reopened = admin.open(12, 1000).await.unwrap();
    assert!(reopened.id > closed.id);

    let old = room.status(&rehearsal_ticket).await;
    assert_eq!(old.status, StatusCode::NOT_FOUND);
    assert_eq!(old.error_code(), "ticket_not_found");
    // The gate reads the epoch again after its cache's second.
    room.advance_clock(Duration::from_secs(2));
    let booking = room.book(&person_id(1), Some(&rehearsal_token), true).await;
    assert_eq!(booking.status, StatusCode::FORBIDDEN, "{:?}", booking.body);
    assert_eq!(booking.error_code(), "not_admitted");
    // Whoever joins first now stands at 1, in the new epoch; the rehearsal's place is gone.
    let first = room.join(&person_id(2)).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(position(&first), 1);
    let again = room.join(&person_id(1)).await;
    assert_eq!(
        again.status,
        StatusCode::CREATED,
        "a new place, not the old one"
    );
    assert_eq!(position(&again), 2);
}

#[tokio::test]
async fn with_no_room_open_joins_are_refused_and_nobody_is_admitted() {
    let room = spawn_room(60).await;
    RoomAdmin::new(Arc::new(room.app.store.clone()), room.clock.clone())
        .close()
        .await
        .unwrap();
    let refused = room.join(&person_id(1)).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.error_code(), "room_not_open");
    assert_eq!(room.progress().await.body["status"], "closed");
    assert_eq!(
        room.app.count_keys("queue:{room}:*").await,
        1,
        "only the epoch counter"
    );
}

/// The operator's commands, through the seed function as deployed.
#[tokio::test]
async fn the_seed_function_opens_and_closes_the_room_and_says_what_it_did() {
    let app = spawn_app().await;
    let open: booking_core::seed::SeedEvent =
        serde_json::from_str(r#"{"room": "open", "hours": 3, "maxSize": 1000}"#).unwrap();
    let reply = app.seed_function.handle(open).await.unwrap();
    assert_eq!(reply["room"], "open");
    assert_eq!(reply["epoch"]["maxSize"], 1000);
    let epoch = reply["epoch"]["id"].as_u64().unwrap();
    let opened = reply["epoch"]["openedAt"].as_u64().unwrap();
    assert_eq!(
        reply["epoch"]["expiresAt"].as_u64().unwrap(),
        opened + 3 * 3_600_000
    );
    let close: booking_core::seed::SeedEvent =
        serde_json::from_str(r#"{"room": "close"}"#).unwrap();
    let reply = app.seed_function.handle(close.clone()).await.unwrap();
    assert_eq!(reply["room"], "closed");
    assert_eq!(reply["epoch"]["id"], epoch);
    let reply = app.seed_function.handle(close).await.unwrap();
    assert!(reply["epoch"].is_null(), "nothing was open: {reply}");
}
