//! The metrics listener and the request log through real HTTP: requests counted by action,
//! code and status, their latency, the instances by state and the reconciler's passes and
//! errors, checked line by line as Prometheus scrapes them; every 5xx logged with its cause,
//! under a span that carries the request id and the action.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{import_image, start, Answer, TestGateway};
use http::Request;
use http_body_util::Full;

const DESCRIBE_REGIONS: &str = "Action=DescribeRegions&Version=2016-11-15";

/// What the gateway logged, for every test of this file (a subscriber is process-wide).
fn log() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .init();
        log
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logged_lines_with(fragment: &str) -> Vec<String> {
    let log = log().lock().unwrap();
    String::from_utf8_lossy(&log)
        .lines()
        .filter(|l| l.contains(fragment))
        .map(str::to_owned)
        .collect()
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Vec<&'a str> {
    text.split(start)
        .skip(1)
        .filter_map(|rest| rest.split_once(end).map(|(v, _)| v))
        .collect()
}

/// The sample lines of a scrape (no `# HELP`/`# TYPE`).
fn samples(scrape: &Answer) -> Vec<&str> {
    scrape
        .body
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect()
}

/// The value of the one sample line that starts with `series` followed by a space.
fn value(scrape: &Answer, series: &str) -> f64 {
    let found: Vec<&str> = samples(scrape)
        .into_iter()
        .filter_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .collect();
    assert_eq!(found.len(), 1, "{series} in\n{}", scrape.body);
    found[0].parse().unwrap()
}

fn assert_lines(scrape: &Answer, expected: &[&str]) {
    let lines: Vec<&str> = scrape.body.lines().collect();
    for line in expected {
        assert!(lines.contains(line), "{line} not in\n{}", scrape.body);
    }
}

/// Polls DescribeInstances until the instance is in `state`.
async fn wait_for(gw: &TestGateway, id: &str, state: &str) {
    let started = Instant::now();
    loop {
        let a = gw
            .post(&format!(
                "Action=DescribeInstances&Version=2016-11-15&InstanceId.1={id}"
            ))
            .await;
        let states = between(&a.body, "<instanceState><code>", "</name>");
        if states
            .iter()
            .any(|s| s.ends_with(&format!("<name>{state}")))
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{id} not {state}: {}",
            a.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_are_counted_by_action_code_and_status() {
    log();
    let gw = start().await;
    assert_eq!(gw.post(DESCRIBE_REGIONS).await.status, 200);
    assert_eq!(gw.post(DESCRIBE_REGIONS).await.status, 200);
    let invalid = gw.post("Action=DescribeFoo&Version=2016-11-15").await;
    assert_eq!(invalid.code(), "InvalidAction");
    let mut wrong_secret = gw.signer();
    wrong_secret.secret = "not the secret".into();
    let refused = gw
        .post_as("Action=DescribeInstances&Version=2016-11-15", &wrong_secret)
        .await;
    assert_eq!(refused.status, 403);

    let scrape = gw.scrape().await;
    assert_eq!(scrape.status, 200, "{}", scrape.body);
    assert_eq!(
        scrape.headers.get("content-type").unwrap(),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_lines(
        &scrape,
        &[
            "# TYPE ec2gw_requests_total counter",
            r#"ec2gw_requests_total{action="DescribeRegions",code="OK",status="200"} 2"#,
            r#"ec2gw_requests_total{action="unknown",code="InvalidAction",status="400"} 1"#,
            r#"ec2gw_requests_total{action="DescribeInstances",code="SignatureDoesNotMatch",status="403"} 1"#,
            "# TYPE ec2gw_request_duration_seconds histogram",
            r#"ec2gw_request_duration_seconds_count{action="DescribeRegions"} 2"#,
            r#"ec2gw_request_duration_seconds_bucket{action="DescribeRegions",le="+Inf"} 2"#,
            r#"ec2gw_request_duration_seconds_count{action="unknown"} 1"#,
            r#"ec2gw_request_duration_seconds_count{action="DescribeInstances"} 1"#,
            "# TYPE ec2gw_instances gauge",
            r#"ec2gw_instances{state="running"} 0"#,
            "# TYPE ec2gw_reconciler_pass_duration_seconds histogram",
            "# TYPE ec2gw_reconciler_errors_total counter",
            "ec2gw_reconciler_errors_total 0",
        ],
    );
    // Nothing else was counted: the scrape itself is not an API request.
    let counted: Vec<&str> = samples(&scrape)
        .into_iter()
        .filter(|l| l.starts_with("ec2gw_requests_total"))
        .collect();
    assert_eq!(counted.len(), 3, "{counted:?}");
    let sum = value(
        &scrape,
        r#"ec2gw_request_duration_seconds_sum{action="DescribeRegions"}"#,
    );
    assert!(sum > 0.0 && sum < 2.0, "{sum}");

    // Prometheus asks for OpenMetrics, and gets it.
    let openmetrics = Request::get(&gw.metrics_url)
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        )
        .body(Full::new(Bytes::new()))
        .unwrap();
    let a = gw.send(openmetrics).await;
    assert_eq!(
        a.headers.get("content-type").unwrap(),
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(a.body.ends_with("# EOF\n"), "{}", a.body);
    assert!(a
        .body
        .contains(r#"ec2gw_requests_total{action="DescribeRegions",code="OK",status="200"} 2"#));

    let elsewhere = Request::get(gw.metrics_url.replace("/metrics", "/"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(gw.send(elsewhere).await.status, 404);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn instances_by_state_and_the_reconciler_are_measured() {
    log();
    let gw = start().await;
    let good = import_image(&gw, "good").await;
    let run = gw
        .post(&format!(
            "Action=RunInstances&Version=2016-11-15&ImageId={good}&MinCount=1&MaxCount=1"
        ))
        .await;
    assert_eq!(run.status, 200, "{}", run.body);
    let running = between(&run.body, "<instanceId>", "</instanceId>")[0].to_owned();
    wait_for(&gw, &running, "running").await;

    // An image whose disk is gone: the launch fails (a lasting failure, given up at once).
    let broken = import_image(&gw, "broken").await;
    for entry in std::fs::read_dir(gw.data_dir().join("images")).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().contains(&good) {
            std::fs::remove_file(path).unwrap();
        }
    }
    let run = gw
        .post(&format!(
            "Action=RunInstances&Version=2016-11-15&ImageId={broken}&MinCount=1&MaxCount=1"
        ))
        .await;
    assert_eq!(run.status, 200, "{}", run.body);
    let failed = between(&run.body, "<instanceId>", "</instanceId>")[0].to_owned();
    wait_for(&gw, &failed, "terminated").await;
    wait_for(&gw, &running, "running").await;

    let scrape = gw.scrape().await;
    assert_lines(
        &scrape,
        &[
            r#"ec2gw_requests_total{action="RunInstances",code="OK",status="200"} 2"#,
            r#"ec2gw_request_duration_seconds_count{action="RunInstances"} 2"#,
            r#"ec2gw_instances{state="pending"} 0"#,
            r#"ec2gw_instances{state="running"} 1"#,
            r#"ec2gw_instances{state="shutting-down"} 0"#,
            r#"ec2gw_instances{state="terminated"} 1"#,
            r#"ec2gw_instances{state="stopping"} 0"#,
            r#"ec2gw_instances{state="stopped"} 0"#,
        ],
    );
    let passes = value(&scrape, "ec2gw_reconciler_pass_duration_seconds_count");
    assert!(passes >= 2.0, "{passes}");
    assert_eq!(
        value(
            &scrape,
            r#"ec2gw_reconciler_pass_duration_seconds_bucket{le="+Inf"}"#
        ),
        passes
    );
    // The failed launch step is counted.
    let errors = value(&scrape, "ec2gw_reconciler_errors_total");
    assert!(errors >= 1.0, "{errors}");
    let warned = logged_lines_with(&failed);
    assert!(
        warned
            .iter()
            .any(|l| l.contains("reconcile step failed") && l.contains(".qcow2")),
        "{warned:?}"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_fault_is_logged_with_its_cause_under_the_requests_span() {
    log();
    let gw = start().await;
    // The database loses a table behind the gateway's back: DescribeKeyPairs cannot be read.
    gw.store
        .run::<_, ec2gw::store::StoreError, _>(|conn| {
            use diesel::connection::SimpleConnection;
            Ok(conn.batch_execute("DROP TABLE key_pairs")?)
        })
        .await
        .unwrap();
    let a = gw.post("Action=DescribeKeyPairs&Version=2016-11-15").await;
    assert_eq!((a.status, a.code()), (500, "InternalError"), "{}", a.body);
    assert!(
        !a.body.contains("key_pairs"),
        "the cause is not the client's business"
    );

    let id = a.request_id().to_owned();
    let lines = logged_lines_with(&id);
    // The action is as the client sent it, quoted (escaped) as any client text in the log.
    let span = format!("request{{request_id={id} action=\"DescribeKeyPairs\"}}");
    let failed: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("request failed"))
        .collect();
    assert_eq!(failed.len(), 1, "{lines:?}");
    assert!(failed[0].contains(" ERROR "), "{}", failed[0]);
    assert!(failed[0].contains(&span), "{}", failed[0]);
    assert!(
        failed[0].contains("code=\"InternalError\""),
        "{}",
        failed[0]
    );
    assert!(failed[0].contains("database query: "), "{}", failed[0]);
    assert!(failed[0].contains("key_pairs"), "{}", failed[0]);
    // The request's own line is under the same span.
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&span) && l.contains("status=500")),
        "{lines:?}"
    );

    let scrape = gw.scrape().await;
    assert_lines(
        &scrape,
        &[r#"ec2gw_requests_total{action="DescribeKeyPairs",code="InternalError",status="500"} 1"#],
    );
    gw.stop().await;
}
