//! `make bench-cold`: starts a function's release `bootstrap` against a minimal local Lambda
//! Runtime API (the `next` / `response` / `error` endpoints of the 2018-06-01 API, one event per
//! invocation) and measures what Lambda would:
//! - cold start: process start to its first `GET /2018-06-01/runtime/invocation/next`, i.e. the
//!   init phase (median of several fresh processes), and the first invocation after it;
//! - per-invocation latency over many invocations: event handed out to response received;
//! - peak RSS (`VmHWM`) after them, and the binary's size.
//!
//! Usage: `lambda-bench NAME BINARY INVOCATIONS EVENT`, where EVENT is raw JSON (`{...}`) or an
//! HTTP request `METHOD PATH [BODY]` wrapped in an API Gateway HTTP API (payload 2.0) event. In
//! either, `{n}` becomes the invocation's number and `{id}` the n-th person's MyKad number, so
//! every booking can be a new person. The
//! environment (REDIS_URL, KAFKA_BROKERS) is passed on. Prints one JSON line.
//!
//! Booking references: with `BENCH_REFERENCES=FILE`, the `bookingReference` of each answer is
//! appended to FILE as `n reference` (a create-booking run), and `{reference}` in the event
//! becomes invocation n's reference from FILE; `BENCH_AUTHORIZATION` (e.g. `Bearer {reference}`)
//! is sent as the HTTP event's `Authorization` header, so get- and cancel-booking run as the
//! booker, not as 401s.
use std::convert::Infallible;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::{Notify, mpsc};

const COLD_RUNS: usize = 7;
const WAIT: Duration = Duration::from_secs(30);

/// The HTTP status (and the booking reference the answer carried), or the function's error.
type Outcome = Result<(u16, Option<String>), String>;

/// One Runtime API for one process.
struct RuntimeApi {
    first_next: Mutex<Option<Instant>>,
    first_next_seen: Notify,
    events: tokio::sync::Mutex<mpsc::Receiver<(String, Bytes)>>,
    outcomes: mpsc::UnboundedSender<Outcome>,
}

impl RuntimeApi {
    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = request.uri().path().to_owned();
        if path == "/2018-06-01/runtime/invocation/next" {
            self.first_next
                .lock()
                .unwrap()
                .get_or_insert_with(Instant::now);
            self.first_next_seen.notify_one();
            // Long poll, as Lambda does: the function waits here until there is work.
            let Some((id, event)) = self.events.lock().await.recv().await else {
                return reply(StatusCode::GONE, Bytes::new());
            };
            let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + WAIT;
            let mut response = reply(StatusCode::OK, event);
            let headers = response.headers_mut();
            headers.insert("content-type", "application/json".parse().unwrap());
            headers.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
            headers.insert(
                "lambda-runtime-deadline-ms",
                deadline.as_millis().to_string().parse().unwrap(),
            );
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:bench"
                    .parse()
                    .unwrap(),
            );
            headers.insert(
                "lambda-runtime-trace-id",
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
                    .parse()
                    .unwrap(),
            );
            return response;
        }
        let body = request
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let outcome = if path.ends_with("/response") {
            // An HTTP function answers with its status (and its body, as text) inside the JSON.
            let answer = serde_json::from_slice::<Value>(&body).unwrap_or_default();
            let status = answer
                .get("statusCode")
                .and_then(Value::as_u64)
                .unwrap_or(200);
            let reference = answer
                .get("body")
                .and_then(Value::as_str)
                .and_then(|text| serde_json::from_str::<Value>(text).ok())
                .and_then(|body| body.get("bookingReference")?.as_str().map(str::to_owned));
            Ok((status as u16, reference))
        } else {
            Err(String::from_utf8_lossy(&body).into_owned())
        };
        let _ = self.outcomes.send(outcome);
        reply(StatusCode::ACCEPTED, Bytes::from_static(b"{}"))
    }
}

fn reply(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
}

/// A started function and the Runtime API it talks to.
struct Run {
    api: Arc<RuntimeApi>,
    events: mpsc::Sender<(String, Bytes)>,
    outcomes: mpsc::UnboundedReceiver<Outcome>,
    child: Child,
    started: Instant,
}

async fn start(name: &str, binary: &str) -> Run {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let address = listener.local_addr().unwrap();
    let (events, events_rx) = mpsc::channel(1);
    let (outcomes_tx, outcomes) = mpsc::unbounded_channel();
    let api = Arc::new(RuntimeApi {
        first_next: Mutex::new(None),
        first_next_seen: Notify::new(),
        events: tokio::sync::Mutex::new(events_rx),
        outcomes: outcomes_tx,
    });
    let serving = Arc::clone(&api);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let api = Arc::clone(&serving);
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let api = Arc::clone(&api);
                    async move { Ok::<_, Infallible>(api.handle(request).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let started = Instant::now();
    let child = Command::new(binary)
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
    Run {
        api,
        events,
        outcomes,
        child,
        started,
    }
}

impl Run {
    /// Process start to the first request for work.
    async fn init_duration(&mut self) -> Duration {
        loop {
            if let Some(at) = *self.api.first_next.lock().unwrap() {
                return at - self.started;
            }
            tokio::select! {
                () = self.api.first_next_seen.notified() => {}
                status = self.child.wait() => panic!("the function exited during init: {status:?}"),
                () = tokio::time::sleep(WAIT) => panic!("no request for work within {WAIT:?}"),
            }
        }
    }

    async fn invoke(
        &mut self,
        n: usize,
        event: &str,
        references: &References,
    ) -> (Duration, Outcome) {
        let reference = references.given.get(&n).map_or("", String::as_str);
        let event = Bytes::from(
            event
                .replace("{n}", &n.to_string())
                .replace("{id}", &person_id(n))
                .replace("{reference}", reference),
        );
        let begun = Instant::now();
        self.events
            .send((format!("req-{n}"), event))
            .await
            .expect("the runtime API runs");
        let outcome = tokio::time::timeout(WAIT, self.outcomes.recv())
            .await
            .expect("an answer within 30 s")
            .expect("the runtime API runs");
        (begun.elapsed(), outcome)
    }

    /// A `/proc/PID/status` field in KiB: `VmHWM` (peak resident), `RssAnon` (heap, stacks:
    /// what the function allocated) or `RssFile` (pages of the binary and libraries it touched).
    fn status_kib(&self, field: &str) -> u64 {
        let pid = self.child.id().expect("still running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

/// `METHOD PATH [BODY]` as API Gateway (HTTP API, payload 2.0) delivers it, with the path
/// parameter its route template would set.
fn http_event(spec: &str) -> String {
    let mut parts = spec.splitn(3, ' ');
    let method = parts.next().unwrap_or("GET");
    let path = parts.next().unwrap_or("/");
    let body = parts.next();
    let (route, parameters) = match path.split('/').collect::<Vec<_>>().as_slice() {
        ["", "stations", location] => ("/stations/{location}", json!({ "location": location })),
        ["", "booking", id] => ("/booking/{mysejahteraId}", json!({ "mysejahteraId": id })),
        _ => (path, json!({})),
    };
    let mut headers = json!({
        "accept": "*/*", "host": "abc123.execute-api.us-east-1.amazonaws.com",
        "user-agent": "lambda-bench", "x-forwarded-proto": "https"
    });
    if body.is_some() {
        headers["content-type"] = json!("application/json");
    }
    if let Some(authorization) = std::env::var("BENCH_AUTHORIZATION")
        .ok()
        .filter(|a| !a.is_empty())
    {
        headers["authorization"] = json!(authorization);
    }
    json!({
        "version": "2.0",
        "routeKey": format!("{method} {route}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "pathParameters": parameters,
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com", "domainPrefix": "abc123",
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1",
                      "sourceIp": "127.0.0.1", "userAgent": "lambda-bench" },
            "requestId": "bench-{n}", "routeKey": format!("{method} {route}"),
            "stage": "$default", "time": "16/May/2021:00:00:00 +0000", "timeEpoch": 1621123200000u64
        },
        "body": body,
        "isBase64Encoded": false
    })
    .to_string()
}

/// Booking references by invocation number: read from `BENCH_REFERENCES` at start, and those
/// this run is given, appended to it at the end.
#[derive(Default)]
struct References {
    file: Option<String>,
    given: std::collections::HashMap<usize, String>,
    new: Vec<(usize, String)>,
}

impl References {
    fn from_env() -> Self {
        let file = std::env::var("BENCH_REFERENCES").ok();
        let given = file
            .as_deref()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .unwrap_or_default()
            .lines()
            .filter_map(|line| {
                let (n, reference) = line.split_once(' ')?;
                Some((n.parse().ok()?, reference.to_owned()))
            })
            .collect();
        Self {
            file,
            given,
            new: Vec::new(),
        }
    }

    fn record(&mut self, n: usize, outcome: &Outcome) {
        if let (Some(_), Ok((_, Some(reference)))) = (&self.file, outcome) {
            self.new.push((n, reference.clone()));
        }
    }

    fn save(&self) {
        let (Some(path), false) = (&self.file, self.new.is_empty()) else {
            return;
        };
        let lines: String = self
            .new
            .iter()
            .map(|(n, reference)| format!("{n} {reference}\n"))
            .collect();
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
        std::io::Write::write_all(&mut file, lines.as_bytes()).expect("references written");
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index].as_secs_f64() * 1e3
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [name, binary, invocations, spec] = args.as_slice() else {
        eprintln!("usage: lambda-bench NAME BINARY INVOCATIONS EVENT");
        std::process::exit(2);
    };
    let invocations: usize = invocations.parse().expect("INVOCATIONS is a number");
    let event = if spec.trim_start().starts_with('{') {
        spec.clone()
    } else {
        http_event(spec)
    };

    let mut references = References::from_env();
    // Fresh processes, each measured from exec to its first request for work, then its first
    // invocation (which pays anything left lazy, such as a connection not made during init).
    let mut inits = Vec::new();
    let mut firsts = Vec::new();
    for run in 0..COLD_RUNS {
        let mut process = start(name, binary).await;
        inits.push(process.init_duration().await);
        let (took, outcome) = process.invoke(1_000_000 + run, &event, &references).await;
        references.record(1_000_000 + run, &outcome);
        firsts.push(took);
        let _ = process.child.kill().await;
    }
    inits.sort();
    firsts.sort();

    // One warm process for the per-invocation figures and its peak memory.
    let mut process = start(name, binary).await;
    process.init_duration().await;
    let mut latencies = Vec::with_capacity(invocations);
    let mut statuses = std::collections::BTreeMap::<String, usize>::new();
    let mut last_error = None;
    for n in 0..invocations {
        let (took, outcome) = process.invoke(n, &event, &references).await;
        references.record(n, &outcome);
        latencies.push(took);
        let key = match outcome {
            Ok((status, _)) => status.to_string(),
            Err(error) => {
                last_error = Some(error);
                "error".to_owned()
            }
        };
        *statuses.entry(key).or_default() += 1;
    }
    let peak_rss_kib = process.status_kib("VmHWM");
    let (anon_kib, file_kib) = (process.status_kib("RssAnon"), process.status_kib("RssFile"));
    references.save();
    let _ = process.child.kill().await;
    latencies.sort();
    let size = std::fs::metadata(binary).map(|m| m.len()).unwrap_or(0);
    println!(
        "{}",
        json!({
            "name": name,
            "binary_bytes": size,
            "cold_start_ms": ms(inits[inits.len() / 2]),
            "cold_start_min_ms": ms(inits[0]),
            "first_invocation_ms": ms(firsts[firsts.len() / 2]),
            "invocations": invocations,
            "p50_ms": percentile(&latencies, 0.50),
            "p99_ms": percentile(&latencies, 0.99),
            "peak_rss_kib": peak_rss_kib,
            "rss_anon_kib": anon_kib,
            "rss_file_kib": file_kib,
            "statuses": statuses,
            "last_error": last_error,
        })
    );
}

/// The n-th person's MyKad number: a real birth date (a new one every 10,000 people), the
/// birthplace code 14 and n in the last four digits; the scheme the tests' `person_id` uses.
fn person_id(n: usize) -> String {
    let date = n / 10_000;
    let (year, month, day) = ((90 + date / 336) % 100, 1 + (date / 28) % 12, 1 + date % 28);
    format!("{year:02}{month:02}{day:02}14{:04}", n % 10_000)
}
