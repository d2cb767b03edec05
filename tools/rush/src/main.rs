//! `make bench-rush`'s load driver: the opening minute against a running local-api.
//!
//! `RUSH_MODE=room`: every person joins the queue at once (`POST /queue`), then waits, reading
//! the shared `GET /queue` (as from a CDN, polled here 10 times a second), and once `serving`
//! reached their position fetches their token (`GET /queue/{ticket}`) and books once with it.
//! Meanwhile `RUSH_POLLERS` clients poll random waiting tickets, and every ticket answer is
//! checked against queue order. `RUSH_MODE=direct`: every person books at once, no room.
//! Writes one JSON object to `RUSH_OUT`. Talks only to `RUSH_ADDR` (127.0.0.1:port).
//!
//! With `RUSH_IDENTITY_TOKEN_KEY` (the API's `IDENTITY_TOKEN_KEY` under `IDENTITY=otp`) each
//! person sends the identity token the API would have issued them after their phone's code, as
//! a person who proved their phone does; the two verification requests that earned it are not
//! part of the rush (`make bench` measures them). `RUSH_BOT_PERCENT` of the joiners are bots:
//! made-up IDs and no token, joining when the people do; they must not move anyone's place.
//! `RUSH_MODE=tokens` prints `ID TOKEN` lines for `RUSH_PEOPLE` people from person
//! `RUSH_PEOPLE_FROM`, for `make bench`'s wrk script, which cannot sign.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use booking_core::domain::{MySejahteraId, PhoneNumber};
use booking_core::identity_token::{IdentityKey, IdentityTokens};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// One keep-alive HTTP/1.1 connection; reconnects after an error.
struct Connection {
    address: String,
    stream: Option<BufReader<TcpStream>>,
}

struct Reply {
    status: u16,
    body: Value,
}

impl Connection {
    fn new(address: &str) -> Self {
        Self {
            address: address.to_owned(),
            stream: None,
        }
    }

    async fn call(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, Error> {
        let result = tokio::time::timeout(
            Duration::from_secs(30),
            self.exchange(method, path, body, headers),
        )
        .await;
        match result {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(error)) => {
                self.stream = None;
                Err(error)
            }
            Err(_) => {
                self.stream = None;
                Err("no answer within 30 s".into())
            }
        }
    }

    async fn exchange(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, Error> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.address).await?;
            stream.set_nodelay(true)?;
            self.stream = Some(BufReader::new(stream));
        }
        let stream = self.stream.as_mut().expect("connected above");
        let mut request = format!("{method} {path} HTTP/1.1\r\nhost: {}\r\n", self.address);
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        let body = body.unwrap_or("");
        if !body.is_empty() || method == "POST" {
            request.push_str(&format!(
                "content-type: application/json\r\ncontent-length: {}\r\n",
                body.len()
            ));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.get_mut().write_all(request.as_bytes()).await?;
        let mut line = String::new();
        stream.read_line(&mut line).await?;
        let status: u16 = line
            .get(9..12)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| format!("not an HTTP status line: {line:?}"))?;
        let mut length = 0;
        let mut close = false;
        loop {
            line.clear();
            if stream.read_line(&mut line).await? == 0 {
                return Err("connection closed in the headers".into());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').unwrap_or((header, ""));
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse()?,
                "connection" => close = value.trim().eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
        let mut bytes = vec![0; length];
        stream.read_exact(&mut bytes).await?;
        if close {
            self.stream = None;
        }
        Ok(Reply {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        })
    }
}

/// Latencies and status counts of one kind of request.
#[derive(Default)]
struct Samples {
    micros: Vec<u64>,
    statuses: BTreeMap<String, u64>,
}

impl Samples {
    fn record(&mut self, started: Instant, status: Option<u16>) {
        self.micros
            .push(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
        let key = status.map_or_else(|| "error".to_owned(), |code| code.to_string());
        *self.statuses.entry(key).or_default() += 1;
    }

    fn merge(&mut self, other: Self) {
        self.micros.extend(other.micros);
        for (status, count) in other.statuses {
            *self.statuses.entry(status).or_default() += count;
        }
    }

    fn count(&self, status: &str) -> u64 {
        self.statuses.get(status).copied().unwrap_or(0)
    }

    fn server_errors(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(status, _)| status.starts_with('5') || status.as_str() == "error")
            .map(|(_, count)| count)
            .sum()
    }

    fn summary(&mut self) -> Value {
        self.micros.sort_unstable();
        let percentile = |p: f64| -> f64 {
            if self.micros.is_empty() {
                return 0.0;
            }
            let rank = ((p / 100.0) * self.micros.len() as f64).ceil() as usize;
            self.micros[rank.clamp(1, self.micros.len()) - 1] as f64 / 1000.0
        };
        json!({
            "requests": self.micros.len(),
            "p50_ms": percentile(50.0),
            "p99_ms": percentile(99.0),
            "statuses": self.statuses,
        })
    }
}

/// The n-th person's MyKad number: a real birth date (a new one every 10,000 people), the
/// birthplace code 14 and n in the last four digits; the scheme the tests' `person_id` uses.
fn person_id(n: usize) -> String {
    let date = n / 10_000;
    let (year, month, day) = ((90 + date / 336) % 100, 1 + (date / 28) % 12, 1 + date % 28);
    format!("{year:02}{month:02}{day:02}14{:04}", n % 10_000)
}

fn booking_body(id: &str, location: &str, date: &str) -> String {
    json!({
        "mysejahteraId": id,
        "firstName": "Rush",
        "lastName": "Tester",
        "address": "Kuala Lumpur",
        "location": location,
        "phoneNumber": PHONE,
        "date": date,
    })
    .to_string()
}

/// Every person's phone in the bookings (and in their identity tokens).
const PHONE: &str = "0123456789";

/// The identity token the API issues for `id` once its phone's code is confirmed.
fn identity_token(tokens: &IdentityTokens, id: &str) -> String {
    let id = MySejahteraId::parse(id).expect("person_id makes valid MyKad numbers");
    let phone = PhoneNumber::parse(PHONE).expect("a valid phone number");
    tokens.issue(&id, &phone, SystemTime::now())
}

/// The headers a person's acts carry: their identity token when the API checks identity.
fn proof(token: &Option<String>) -> Vec<(&'static str, &str)> {
    token
        .as_deref()
        .map(|token| ("x-identity-token", token))
        .into_iter()
        .collect()
}

struct Settings {
    address: String,
    people: usize,
    connections: usize,
    pollers: usize,
    location: String,
    date: String,
    slots: u64,
    deadline: Instant,
    /// Set when the API runs `IDENTITY=otp` with this key.
    identity: Option<Arc<IdentityTokens>>,
    /// Every n-th joiner is a bot (0: none).
    bot_every: usize,
}

impl Settings {
    fn token_for(&self, id: &str) -> Option<String> {
        self.identity
            .as_ref()
            .map(|tokens| identity_token(tokens, id))
    }
}

/// Runs `connections` clients, each taking the next index below `count` until none is left.
async fn each_index<F, Fut>(settings: &Settings, count: usize, work: F) -> Samples
where
    F: Fn(usize, Connection, Samples) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = (Connection, Samples)> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..settings.connections.min(count.max(1)) {
        let (next, work, address) = (Arc::clone(&next), work.clone(), settings.address.clone());
        tasks.push(tokio::spawn(async move {
            let mut connection = Connection::new(&address);
            let mut samples = Samples::default();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= count {
                    return samples;
                }
                (connection, samples) = work(index, connection, samples).await;
            }
        }));
    }
    let mut all = Samples::default();
    for task in tasks {
        all.merge(task.await.expect("a client task"));
    }
    all
}

async fn direct(settings: Settings) -> Value {
    let started = Instant::now();
    let location = settings.location.clone();
    let date = settings.date.clone();
    let identity = settings.identity.clone();
    let mut bookings = each_index(
        &settings,
        settings.people,
        move |index, mut connection, mut samples| {
            let id = person_id(index);
            let body = booking_body(&id, &location, &date);
            let token = identity.as_ref().map(|tokens| identity_token(tokens, &id));
            async move {
                let sent = Instant::now();
                let reply = connection
                    .call("POST", "/booking", Some(&body), &proof(&token))
                    .await;
                samples.record(sent, reply.ok().map(|reply| reply.status));
                (connection, samples)
            }
        },
    )
    .await;
    json!({
        "mode": "direct",
        "identity": settings.identity.is_some(),
        "people": settings.people,
        "slots": settings.slots,
        "connections": settings.connections,
        "seconds": started.elapsed().as_secs_f64(),
        "bookings": bookings.count("201"),
        "too_many_requests": bookings.count("429"),
        "server_errors": bookings.server_errors(),
        "booking": bookings.summary(),
    })
}

/// A ticket as `POST /queue` gave it.
#[derive(Clone)]
struct Place {
    id: String,
    ticket: String,
    position: u64,
    /// The person's identity token, when the API checks identity.
    token: Option<String>,
}

/// What the room's clients share: the serving number as everybody's poll last showed it.
struct Shared {
    serving: AtomicU64,
    closed_at: Mutex<Option<Instant>>,
    last_booking_at: Mutex<Option<Instant>>,
    done: AtomicBool,
    /// Ticket answers contradicting queue order: admitted beyond the serving number, or
    /// waiting within it.
    out_of_order: AtomicU64,
    admitted: AtomicU64,
}

impl Shared {
    /// Checks one `GET /queue/{ticket}` answer against queue order.
    fn check(&self, place: &Place, body: &Value) -> Option<String> {
        let status = body["status"].as_str()?.to_owned();
        let serving = body["serving"].as_u64()?;
        let in_order = match status.as_str() {
            "admitted" => place.position <= serving && body["admissionToken"].is_string(),
            "waiting" => place.position > serving,
            _ => true,
        };
        if !in_order {
            self.out_of_order.fetch_add(1, Ordering::Relaxed);
        }
        Some(status)
    }
}

async fn room(settings: Settings) -> Result<Value, Error> {
    let started = Instant::now();
    // Everybody joins at once; a 429 is retried after its Retry-After, as a browser would.
    // Bots join among the people (every `bot_every`-th joiner): a made-up ID, no token.
    let joiners = match settings.bot_every {
        0 => settings.people,
        every => settings.people + settings.people / (every - 1),
    };
    let places: Arc<Vec<Mutex<Option<Place>>>> =
        Arc::new((0..joiners).map(|_| Mutex::new(None)).collect());
    let joined_places = Arc::clone(&places);
    let (identity, bot_every) = (settings.identity.clone(), settings.bot_every);
    let bot_samples = Arc::new(Mutex::new(Samples::default()));
    let bot_joins = Arc::clone(&bot_samples);
    let mut joins = each_index(
        &settings,
        joiners,
        move |index, mut connection, mut samples| {
            let places = Arc::clone(&joined_places);
            let bot = bot_every > 0 && index % bot_every == bot_every - 1;
            // Bots' IDs are far from the people's: each a valid MyKad number nobody proved.
            let id = person_id(if bot { 50_000_000 + index } else { index });
            let token = match &identity {
                Some(tokens) if !bot => Some(identity_token(tokens, &id)),
                _ => None,
            };
            let bot_joins = Arc::clone(&bot_joins);
            async move {
                let body = json!({ "mysejahteraId": id }).to_string();
                if bot {
                    let sent = Instant::now();
                    let reply = connection
                        .call("POST", "/queue", Some(&body), &proof(&token))
                        .await;
                    bot_joins
                        .lock()
                        .unwrap()
                        .record(sent, reply.as_ref().ok().map(|reply| reply.status));
                    // A bot that got a place is kept (with no ticket), so the report shows it.
                    if let Ok(reply) = reply
                        && reply.status < 300
                    {
                        let position = reply.body["position"].as_u64().unwrap_or(0);
                        *places[index].lock().unwrap() = Some(Place {
                            id: format!("bot {id}"),
                            ticket: String::new(),
                            position,
                            token: None,
                        });
                    }
                    return (connection, samples);
                }
                for _ in 0..30 {
                    let sent = Instant::now();
                    let reply = connection
                        .call("POST", "/queue", Some(&body), &proof(&token))
                        .await;
                    samples.record(sent, reply.as_ref().ok().map(|reply| reply.status));
                    match reply {
                        Ok(reply) if reply.status == 201 || reply.status == 200 => {
                            let ticket = reply.body["ticket"].as_str().unwrap_or("").to_owned();
                            let position = reply.body["position"].as_u64().unwrap_or(0);
                            *places[index].lock().unwrap() = Some(Place {
                                id,
                                ticket,
                                position,
                                token,
                            });
                            break;
                        }
                        Ok(reply) if reply.status == 429 => {
                            tokio::time::sleep(Duration::from_secs(1)).await
                        }
                        _ => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
                (connection, samples)
            }
        },
    )
    .await;
    let join_seconds = started.elapsed().as_secs_f64();
    let mut places: Vec<Place> = places
        .iter()
        .filter_map(|place| place.lock().unwrap().clone())
        .collect();
    let bots_queued = places
        .iter()
        .filter(|place| place.ticket.is_empty())
        .count();
    places.retain(|place| !place.ticket.is_empty());
    places.sort_by_key(|place| place.position);
    let places = Arc::new(places);
    let positions_distinct = places
        .windows(2)
        .all(|pair| pair[0].position < pair[1].position);

    let shared = Arc::new(Shared {
        serving: AtomicU64::new(0),
        closed_at: Mutex::new(None),
        last_booking_at: Mutex::new(None),
        done: AtomicBool::new(false),
        out_of_order: AtomicU64::new(0),
        admitted: AtomicU64::new(0),
    });

    // Everybody's poll: one answer, which a CDN would serve; read 10 times a second.
    let progress_poller = {
        let (shared, address) = (Arc::clone(&shared), settings.address.clone());
        tokio::spawn(async move {
            let mut connection = Connection::new(&address);
            let mut samples = Samples::default();
            while !shared.done.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let reply = connection.call("GET", "/queue", None, &[]).await;
                samples.record(sent, reply.as_ref().ok().map(|reply| reply.status));
                if let Ok(reply) = reply {
                    if let Some(serving) = reply.body["serving"].as_u64() {
                        shared.serving.fetch_max(serving, Ordering::Relaxed);
                    }
                    if reply.body["status"] == "closed" {
                        shared
                            .closed_at
                            .lock()
                            .unwrap()
                            .get_or_insert_with(Instant::now);
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            samples
        })
    };

    // Impatient people polling their own ticket while still waiting (CDN misses).
    let mut ticket_pollers = Vec::new();
    for seed in 0..settings.pollers {
        let (shared, places, address) = (
            Arc::clone(&shared),
            Arc::clone(&places),
            settings.address.clone(),
        );
        ticket_pollers.push(tokio::spawn(async move {
            let mut connection = Connection::new(&address);
            let mut samples = Samples::default();
            let mut random = 0x9E37_79B9_7F4A_7C15_u64 ^ (seed as u64 + 1);
            while !shared.done.load(Ordering::Relaxed) && !places.is_empty() {
                random ^= random << 13;
                random ^= random >> 7;
                random ^= random << 17;
                let place = &places[(random % places.len() as u64) as usize];
                let path = format!("/queue/{}", place.ticket);
                let sent = Instant::now();
                let reply = connection.call("GET", &path, None, &[]).await;
                samples.record(sent, reply.as_ref().ok().map(|reply| reply.status));
                if let Ok(reply) = reply {
                    shared.check(place, &reply.body);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            samples
        }));
    }

    // Each person, in the order the queue lets them in: token, then one booking.
    let (location, date) = (settings.location.clone(), settings.date.clone());
    let deadline = settings.deadline;
    let bookers_shared = Arc::clone(&shared);
    let bookers_places = Arc::clone(&places);
    let token_samples = Arc::new(Mutex::new(Samples::default()));
    let booker_token_samples = Arc::clone(&token_samples);
    // From the rush's start to each person's admission: what a bot flood would lengthen.
    let wait_samples = Arc::new(Mutex::new(Samples::default()));
    let booker_wait_samples = Arc::clone(&wait_samples);
    let mut bookings = each_index(
        &settings,
        places.len(),
        move |index, mut connection, mut samples| {
            let (shared, places, tokens, waits) = (
                Arc::clone(&bookers_shared),
                Arc::clone(&bookers_places),
                Arc::clone(&booker_token_samples),
                Arc::clone(&booker_wait_samples),
            );
            let (location, date) = (location.clone(), date.clone());
            async move {
                let place = &places[index];
                let path = format!("/queue/{}", place.ticket);
                while Instant::now() < deadline {
                    if shared.closed_at.lock().unwrap().is_some() {
                        return (connection, samples);
                    }
                    if shared.serving.load(Ordering::Relaxed) < place.position {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                    let sent = Instant::now();
                    let reply = connection.call("GET", &path, None, &[]).await;
                    tokens
                        .lock()
                        .unwrap()
                        .record(sent, reply.as_ref().ok().map(|reply| reply.status));
                    let Ok(reply) = reply else { continue };
                    match shared.check(place, &reply.body).as_deref() {
                        Some("admitted") => {}
                        Some("closed") => return (connection, samples),
                        _ => {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    }
                    shared.admitted.fetch_add(1, Ordering::Relaxed);
                    waits.lock().unwrap().record(started, Some(200));
                    let admission = reply.body["admissionToken"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned();
                    let mut headers = proof(&place.token);
                    headers.push(("admission-token", &admission));
                    let body = booking_body(&place.id, &location, &date);
                    // One booking per person; only "come back in a second" is retried.
                    while Instant::now() < deadline {
                        let sent = Instant::now();
                        let reply = connection
                            .call("POST", "/booking", Some(&body), &headers)
                            .await;
                        samples.record(sent, reply.as_ref().ok().map(|reply| reply.status));
                        match reply.map(|reply| reply.status) {
                            Ok(201) => {
                                *shared.last_booking_at.lock().unwrap() = Some(Instant::now());
                                break;
                            }
                            Ok(429) => tokio::time::sleep(Duration::from_secs(1)).await,
                            _ => break,
                        }
                    }
                    return (connection, samples);
                }
                (connection, samples)
            }
        },
    )
    .await;
    // Wait a little for the closed sign if the last booking just went through.
    let closing_deadline = Instant::now() + Duration::from_secs(5);
    while shared.closed_at.lock().unwrap().is_none() && Instant::now() < closing_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shared.done.store(true, Ordering::Relaxed);
    let mut polls = progress_poller.await?;
    let mut ticket_polls = Samples::default();
    for poller in ticket_pollers {
        ticket_polls.merge(poller.await?);
    }
    let mut tokens = std::mem::take(&mut *token_samples.lock().unwrap());
    let mut waits = std::mem::take(&mut *wait_samples.lock().unwrap());
    let mut bot_joins = std::mem::take(&mut *bot_samples.lock().unwrap());
    let closed_after_sell_out_ms = match (
        *shared.last_booking_at.lock().unwrap(),
        *shared.closed_at.lock().unwrap(),
    ) {
        (Some(sold_out), Some(closed)) => {
            Some(closed.saturating_duration_since(sold_out).as_secs_f64() * 1000.0)
        }
        _ => None,
    };
    let admitted = shared.admitted.load(Ordering::Relaxed);
    let out_of_order = shared.out_of_order.load(Ordering::Relaxed);
    let server_errors = joins.server_errors()
        + polls.server_errors()
        + ticket_polls.server_errors()
        + tokens.server_errors()
        + bookings.server_errors();
    Ok(json!({
        "mode": "room",
        "identity": settings.identity.is_some(),
        "people": settings.people,
        "bots": bot_joins.micros.len(),
        "bots_queued": bots_queued,
        "queued": places.len(),
        "positions_distinct": positions_distinct,
        "slots": settings.slots,
        "connections": settings.connections,
        "join_seconds": join_seconds,
        "seconds": started.elapsed().as_secs_f64(),
        "bookings": bookings.count("201"),
        "admitted": admitted,
        "out_of_order": out_of_order,
        "out_of_order_share": if admitted == 0 { 0.0 } else { out_of_order as f64 / admitted as f64 },
        "closed_after_sell_out_ms": closed_after_sell_out_ms,
        "too_many_requests": joins.count("429") + bookings.count("429"),
        "server_errors": server_errors,
        "join": joins.summary(),
        "poll_everybody": polls.summary(),
        "poll_ticket_waiting": ticket_polls.summary(),
        "poll_ticket_token": tokens.summary(),
        "booking": bookings.summary(),
        "wait_to_admission": waits.summary(),
        "bot_join": bot_joins.summary(),
    }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let settings = Settings {
        address: setting("RUSH_ADDR", "127.0.0.1:3000".to_owned()),
        people: setting("RUSH_PEOPLE", 100_000),
        connections: setting("RUSH_CONNECTIONS", 256),
        pollers: setting("RUSH_POLLERS", 32),
        location: setting("RUSH_LOCATION", "RUSH".to_owned()),
        date: setting("RUSH_DATE", "20210516".to_owned()),
        slots: setting("RUSH_SLOTS", 30_000),
        deadline: Instant::now() + Duration::from_secs(setting("RUSH_TIMEOUT_SECONDS", 600)),
        // Unset or empty: the API checks no identity.
        identity: std::env::var("RUSH_IDENTITY_TOKEN_KEY")
            .ok()
            .filter(|key| !key.is_empty())
            .map(|key| {
                Arc::new(IdentityTokens::new(
                    IdentityKey::new(key),
                    Duration::from_secs(900),
                ))
            }),
        bot_every: match setting("RUSH_BOT_PERCENT", 0_usize) {
            0 => 0,
            percent => 100 / percent.min(50),
        },
    };
    let mode = setting("RUSH_MODE", "room".to_owned());
    if mode == "tokens" {
        let from = setting("RUSH_PEOPLE_FROM", 0_usize);
        let mut lines = String::new();
        for n in from..from + settings.people {
            let id = person_id(n);
            let token = settings
                .token_for(&id)
                .ok_or("RUSH_IDENTITY_TOKEN_KEY is not set")?;
            lines.push_str(&format!("{id} {token}\n"));
        }
        std::io::Write::write_all(&mut std::io::stdout(), lines.as_bytes())?;
        return Ok(());
    }
    let out = setting("RUSH_OUT", "rush.json".to_owned());
    let result = match mode.as_str() {
        "direct" => direct(settings).await,
        _ => room(settings).await?,
    };
    std::fs::write(&out, serde_json::to_string_pretty(&result)? + "\n")?;
    Ok(())
}
