//! The load generator and the RunInstances burst: a hyper HTTP/1.1 client, one connection per
//! worker, every request signed afresh with aws-sigv4 as the AWS SDKs and botocore sign EC2's
//! Query calls (`POST /`, a form body, `SignedHeaders=content-type;host;x-amz-date`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpStream;

use crate::procfs::{self, CpuProbe};
use crate::Args;

const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
/// Latencies are recorded in microseconds, up to ten minutes, three significant digits.
const MAX_LATENCY_US: u64 = 600_000_000;

/// Where requests go and how they are signed.
struct Target {
    /// HOST:PORT, for connecting and for the Host header.
    addr: String,
    /// `http://HOST:PORT/`, what is signed.
    url: String,
    region: String,
    identity: Identity,
}

impl Target {
    fn from_args(args: &Args) -> Result<Target, String> {
        let endpoint = args.required("endpoint")?.trim_end_matches('/');
        let addr = endpoint
            .strip_prefix("http://")
            .ok_or("--endpoint must be http://HOST:PORT")?
            .to_owned();
        let identity = Credentials::new(
            args.required("access-key")?,
            args.required("secret")?,
            None,
            None,
            "ec2gw-bench",
        )
        .into();
        Ok(Target {
            url: format!("http://{addr}/"),
            addr,
            region: args.or("region", "us-east-1").to_owned(),
            identity,
        })
    }

    /// `POST /` with `body`, signed now.
    fn signed(&self, body: &str) -> Result<Request<Full<Bytes>>, String> {
        let headers = [("host", self.addr.as_str()), ("content-type", CONTENT_TYPE)];
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name("ec2")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("signing parameters: {e}"))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            &self.url,
            headers.iter().copied(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| format!("signable request: {e}"))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| format!("signing: {e}"))?
            .into_parts();
        let mut request = Request::builder()
            .method("POST")
            .uri("/")
            .header("host", &self.addr)
            .header("content-type", CONTENT_TYPE)
            .header("user-agent", "ec2gw-bench/0.1")
            .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
            .map_err(|e| format!("request: {e}"))?;
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }
}

/// How one exchange ended.
enum Outcome {
    /// 2xx, with the body.
    Ok(Bytes),
    /// An HTTP error status: the EC2 error code from the body, or `HTTP <status>`.
    Refused(String),
    /// No answer: connect failure, reset, timeout.
    Failed(String),
}

/// One HTTP/1.1 connection, reopened when the server closes it (as a client pool would).
struct Connection {
    addr: String,
    sender: Option<SendRequest<Full<Bytes>>>,
    opened: u64,
}

impl Connection {
    fn new(addr: &str) -> Connection {
        Connection {
            addr: addr.to_owned(),
            sender: None,
            opened: 0,
        }
    }

    async fn open(&mut self) -> Result<(), String> {
        let stream = TcpStream::connect(&self.addr)
            .await
            .map_err(|e| format!("connect: {}", e.kind()))?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.sender = Some(sender);
        self.opened += 1;
        Ok(())
    }

    /// Sends `request` and reads the whole answer, within `timeout` (connecting included).
    async fn exchange(&mut self, request: Request<Full<Bytes>>, timeout: Duration) -> Outcome {
        match tokio::time::timeout(timeout, self.exchange_inner(request)).await {
            Ok(outcome) => outcome,
            Err(_) => {
                self.sender = None;
                Outcome::Failed("timeout".into())
            }
        }
    }

    async fn exchange_inner(&mut self, request: Request<Full<Bytes>>) -> Outcome {
        // A connection the server closed (keep-alive off, idle timeout) is reopened first.
        let usable = match self.sender.as_mut() {
            Some(sender) if !sender.is_closed() => sender.ready().await.is_ok(),
            _ => false,
        };
        if !usable {
            self.sender = None;
            if let Err(e) = self.open().await {
                return Outcome::Failed(e);
            }
        }
        let Some(sender) = self.sender.as_mut() else {
            return Outcome::Failed("no connection".into());
        };
        if sender.ready().await.is_err() {
            self.sender = None;
            return Outcome::Failed("connection closed".into());
        }
        let response = match sender.send_request(request).await {
            Ok(r) => r,
            Err(e) => {
                self.sender = None;
                return Outcome::Failed(if e.is_incomplete_message() {
                    "connection closed mid-answer".into()
                } else {
                    format!("send: {e}")
                });
            }
        };
        let status = response.status();
        let body = match response.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                self.sender = None;
                return Outcome::Failed(format!("body: {e}"));
            }
        };
        if status.is_success() {
            Outcome::Ok(body)
        } else {
            let text = String::from_utf8_lossy(&body);
            let code = between(&text, "<Code>", "</Code>")
                .map(str::to_owned)
                .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
            Outcome::Refused(code)
        }
    }
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let (_, rest) = text.split_once(start)?;
    Some(rest.split_once(end)?.0)
}

fn new_histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, MAX_LATENCY_US, 3) {
        Ok(h) => h,
        Err(_) => unreachable!("constant bounds are valid"),
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(MAX_LATENCY_US)
        .clamp(1, MAX_LATENCY_US)
}

/// What one worker saw in the measured window.
struct WorkerStats {
    latency: Histogram<u64>,
    ok: u64,
    errors: HashMap<String, u64>,
    bytes: u64,
    connections: u64,
    last_done: Option<Instant>,
}

struct Plan {
    body: String,
    measure_from: Instant,
    deadline: Instant,
    /// Requests left to start, in --requests mode.
    remaining: Option<AtomicU64>,
    counter: AtomicU64,
    timeout: Duration,
}

impl Plan {
    fn take(&self) -> bool {
        if Instant::now() >= self.deadline {
            return false;
        }
        match &self.remaining {
            None => true,
            Some(left) => left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok(),
        }
    }

    fn body(&self) -> String {
        if self.body.contains("{n}") {
            let n = self.counter.fetch_add(1, Ordering::Relaxed);
            self.body.replace("{n}", &n.to_string())
        } else {
            self.body.clone()
        }
    }
}

async fn worker(target: Arc<Target>, plan: Arc<Plan>) -> Result<WorkerStats, String> {
    let mut stats = WorkerStats {
        latency: new_histogram(),
        ok: 0,
        errors: HashMap::new(),
        bytes: 0,
        connections: 0,
        last_done: None,
    };
    let mut conn = Connection::new(&target.addr);
    while plan.take() {
        let request = target.signed(&plan.body())?;
        let started = Instant::now();
        // A timed run ends at its deadline: an answer still outstanding then is not waited
        // for (a slow server's stragglers would otherwise stretch the window).
        let cutoff = if plan.remaining.is_some() {
            started + plan.timeout
        } else {
            plan.deadline.min(started + plan.timeout)
        };
        let outcome = match tokio::time::timeout_at(
            cutoff.into(),
            conn.exchange(request, plan.timeout),
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(_) if Instant::now() >= plan.deadline => break,
            Err(_) => Outcome::Failed("timeout".into()),
        };
        let done = Instant::now();
        // Answers that arrive in the measured window count, whenever they were asked for.
        if done < plan.measure_from || done > plan.deadline {
            continue;
        }
        stats.last_done = Some(done);
        match outcome {
            Outcome::Ok(body) => {
                stats.ok += 1;
                stats.bytes += body.len() as u64;
                let _ = stats.latency.record(micros(done - started));
            }
            Outcome::Refused(code) | Outcome::Failed(code) => {
                *stats.errors.entry(code).or_default() += 1;
            }
        }
    }
    stats.connections = conn.opened;
    Ok(stats)
}

fn runtime(threads: usize) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

fn ms(h: &Histogram<u64>, quantile: f64) -> f64 {
    if h.is_empty() {
        return 0.0;
    }
    h.value_at_quantile(quantile) as f64 / 1000.0
}

/// `load`: see the usage text.
pub fn load(args: &Args) -> Result<(), String> {
    let target = Arc::new(Target::from_args(args)?);
    let connections: usize = args.number("connections", 64)?;
    let requests: Option<u64> = match args.get("requests") {
        Some(_) => Some(args.number("requests", 0)?),
        None => None,
    };
    let duration = Duration::from_secs_f64(args.number("duration", 10.0)?);
    // A warm-up only makes sense for a timed run.
    let warmup = Duration::from_secs_f64(if requests.is_some() {
        0.0
    } else {
        args.number("warmup", 1.0)?
    });
    let timeout = Duration::from_secs_f64(args.number("timeout", 60.0)?);
    let pid: Option<u32> = args.get("pid").map(str::parse).transpose().map_err(|_| "--pid")?;
    let db_match = args.get("db-match").map(str::to_owned);
    let threads: usize = args.number("threads", 1)?;
    let body = args.required("body")?.to_owned();

    let rt = runtime(threads)?;
    let result = rt.block_on(async move {
        let begin = Instant::now();
        let measure_from = begin + warmup;
        let deadline = match requests {
            Some(_) => begin + Duration::from_secs(3600),
            None => measure_from + duration,
        };
        let plan = Arc::new(Plan {
            body,
            measure_from,
            deadline,
            remaining: requests.map(AtomicU64::new),
            counter: AtomicU64::new(0),
            timeout,
        });
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..connections {
            tasks.spawn(worker(target.clone(), plan.clone()));
        }
        // The server's counters are read when the measured window opens and when the last
        // worker is done.
        tokio::time::sleep_until(measure_from.into()).await;
        let probe = CpuProbe::start(pid, db_match.clone());
        let client_start = procfs::cpu_seconds(std::process::id());
        let rss_start = pid.and_then(|p| procfs::status_kib(p, "VmRSS"));
        // A timed run's counters are read at its deadline; a counted run's when it is done.
        let timed = requests.is_none();
        if timed {
            tokio::time::sleep_until(deadline.into()).await;
        }
        let mut ended = (probe.stop(), procfs::cpu_seconds(std::process::id()));
        let mut all = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            all.push(joined.map_err(|e| format!("worker: {e}"))??);
        }
        if !timed {
            ended = (probe.stop(), procfs::cpu_seconds(std::process::id()));
        }
        let ((server_cpu, db_cpu), client_end) = ended;
        let client_cpu = match (client_end, client_start) {
            (Some(end), Some(start)) => Some(end - start),
            _ => None,
        };
        let mut latency = new_histogram();
        let mut errors: HashMap<String, u64> = HashMap::new();
        let (mut ok, mut bytes, mut opened) = (0u64, 0u64, 0u64);
        let mut last = measure_from;
        for s in &all {
            let _ = latency.add(&s.latency);
            for (code, n) in &s.errors {
                *errors.entry(code.clone()).or_default() += n;
            }
            ok += s.ok;
            bytes += s.bytes;
            opened += s.connections;
            if let Some(done) = s.last_done {
                last = last.max(done);
            }
        }
        let failed: u64 = errors.values().sum();
        let seconds = if timed {
            duration.as_secs_f64()
        } else {
            (last - measure_from).as_secs_f64().max(1e-9)
        };
        let per_1000 = |cpu: Option<f64>| cpu.filter(|_| ok > 0).map(|c| c * 1000.0 / ok as f64);
        Ok::<_, String>(json!({
            "label": args.get("label"),
            "connections": connections,
            "seconds": seconds,
            "ok": ok,
            "errors": errors,
            "error_count": failed,
            "rps": ok as f64 / seconds,
            "mean_ms": if latency.is_empty() { 0.0 } else { latency.mean() / 1000.0 },
            "p50_ms": ms(&latency, 0.50),
            "p90_ms": ms(&latency, 0.90),
            "p99_ms": ms(&latency, 0.99),
            "max_ms": if latency.is_empty() { 0.0 } else { latency.max() as f64 / 1000.0 },
            "bytes_per_answer": if ok > 0 { bytes / ok } else { 0 },
            "connections_opened": opened,
            "server_cpu_s": server_cpu,
            "server_cpu_s_per_1000": per_1000(server_cpu),
            "db_cpu_s": db_cpu,
            "db_cpu_s_per_1000": per_1000(db_cpu),
            "client_cpu_s": client_cpu,
            "client_cpu_s_per_1000": per_1000(client_cpu),
            "server_rss_start_kib": rss_start,
            "server_rss_end_kib": pid.and_then(|p| procfs::status_kib(p, "VmRSS")),
            "server_hwm_kib": pid.and_then(|p| procfs::status_kib(p, "VmHWM")),
        }))
    })?;
    println!("{result}");
    Ok(())
}

/// The state name of `instance_id` in a DescribeInstances answer, if it is there.
fn state_of<'a>(body: &'a str, instance_id: &str) -> Option<&'a str> {
    let at = body.find(&format!("<instanceId>{instance_id}</instanceId>"))?;
    let rest = &body[at..];
    let state = &rest[rest.find("<instanceState>")?..];
    between(state, "<name>", "</name>")
}

/// `burst`: see the usage text.
pub fn burst(args: &Args) -> Result<(), String> {
    let target = Arc::new(Target::from_args(args)?);
    let count: usize = args.number("count", 100)?;
    let timeout = Duration::from_secs_f64(args.number("timeout", 120.0)?);
    let poll = Duration::from_millis(args.number("poll-ms", 50)?);
    let pid: Option<u32> = args.get("pid").map(str::parse).transpose().map_err(|_| "--pid")?;
    let run_body = args.required("run-body")?.to_owned();
    let poll_body = args.required("poll-body")?.to_owned();
    let threads: usize = args.number("threads", 1)?;

    let rt = runtime(threads)?;
    let result = rt.block_on(async move {
        let probe = CpuProbe::start(pid, None);
        let begin = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..count {
            let target = target.clone();
            let body = run_body.replace("{n}", &n.to_string());
            tasks.spawn(async move {
                let request = target.signed(&body)?;
                let started = Instant::now();
                let mut conn = Connection::new(&target.addr);
                let outcome = conn.exchange(request, timeout).await;
                Ok::<_, String>((started.elapsed(), outcome))
            });
        }
        let mut latency = new_histogram();
        let mut ids = Vec::new();
        let mut errors: HashMap<String, u64> = HashMap::new();
        while let Some(joined) = tasks.join_next().await {
            let (took, outcome) = joined.map_err(|e| format!("task: {e}"))??;
            match outcome {
                Outcome::Ok(body) => {
                    let text = String::from_utf8_lossy(&body);
                    match between(&text, "<instanceId>", "</instanceId>") {
                        Some(id) => {
                            ids.push(id.to_owned());
                            let _ = latency.record(micros(took));
                        }
                        None => *errors.entry("no instanceId".into()).or_default() += 1,
                    }
                }
                Outcome::Refused(code) | Outcome::Failed(code) => {
                    *errors.entry(code).or_default() += 1;
                }
            }
        }
        let answered = begin.elapsed();
        let mut conn = Connection::new(&target.addr);
        let mut polls = 0u64;
        let mut running = 0usize;
        let mut all_running: Option<Duration> = None;
        while !ids.is_empty() && begin.elapsed() < timeout {
            let request = target.signed(&poll_body)?;
            polls += 1;
            if let Outcome::Ok(body) = conn.exchange(request, timeout).await {
                let text = String::from_utf8_lossy(&body);
                running = ids
                    .iter()
                    .filter(|id| state_of(&text, id) == Some("running"))
                    .count();
                if running == ids.len() {
                    all_running = Some(begin.elapsed());
                    break;
                }
            }
            tokio::time::sleep(poll).await;
        }
        let (server_cpu, _) = probe.stop();
        Ok::<_, String>(json!({
            "count": count,
            "answered_ok": ids.len(),
            "errors": errors,
            "seconds_to_all_answers": answered.as_secs_f64(),
            "seconds_to_all_running": all_running.map(|d| d.as_secs_f64()),
            "running_at_end": running,
            "polls": polls,
            "answer_p50_ms": ms(&latency, 0.50),
            "answer_p90_ms": ms(&latency, 0.90),
            "answer_p99_ms": ms(&latency, 0.99),
            "answer_max_ms": if latency.is_empty() { 0.0 } else { latency.max() as f64 / 1000.0 },
            "server_cpu_s": server_cpu,
            "server_hwm_kib": pid.and_then(|p| procfs::status_kib(p, "VmHWM")),
        }))
    })?;
    println!("{result}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_an_instances_state() {
        let body = "<item><instanceId>i-1</instanceId><imageId>ami-1</imageId>\
            <instanceState><code>0</code><name>pending</name></instanceState></item>\
            <item><instanceId>i-2</instanceId><instanceState><code>16</code><name>running</name>\
            </instanceState></item>";
        assert_eq!(state_of(body, "i-1"), Some("pending"));
        assert_eq!(state_of(body, "i-2"), Some("running"));
        assert_eq!(state_of(body, "i-3"), None);
    }
}
