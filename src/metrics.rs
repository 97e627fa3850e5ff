//! What the gateway counts, for Prometheus: requests by action and code, their latency, the
//! instances by state, and the reconciler's passes and errors. The server records requests,
//! the reconciler its passes; the metrics listener (server::serve_metrics) encodes it all.
//!
//! Every label value is one of a closed set (`&'static str`), so a client cannot grow the
//! number of series by sending made-up action names.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

/// The `Content-Type` of [`Format::OpenMetrics`].
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The `Content-Type` of [`Format::Prometheus`].
pub const PROMETHEUS_CONTENT_TYPE: &str =
    prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The action label of requests whose `Action` is missing or not one this gateway serves.
pub const UNKNOWN_ACTION: &str = "unknown";
/// The code label of successful requests.
pub const OK_CODE: &str = "OK";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    action: &'static str,
    code: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The text formats a scraper may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0, for a scraper whose `Accept` names it (Prometheus does).
    OpenMetrics,
    /// Prometheus' text format 0.0.4, for everything else (curl, older scrapers).
    Prometheus,
}

impl Format {
    /// The format an `Accept` header asks for.
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Prometheus,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Format::Prometheus => PROMETHEUS_CONTENT_TYPE,
        }
    }
}

/// The gateway's metrics; one per engine, shared by its server and its reconciler.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_duration: HistogramFamily<ActionLabels>,
    instances: Family<StateLabels, Gauge>,
    reconciler_pass: Histogram,
    reconciler_errors: Counter,
}

/// Request latency: 0.5 ms to 16 s, doubling.
fn request_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "ec2gw_requests",
            "EC2 API requests answered, by action, EC2 error code (OK for success) and HTTP status",
            requests.clone(),
        );
        let request_duration: HistogramFamily<ActionLabels> =
            Family::new_with_constructor(request_buckets);
        registry.register_with_unit(
            "ec2gw_request_duration",
            "Time from a request's arrival to its answer, by action",
            Unit::Seconds,
            request_duration.clone(),
        );
        let instances = Family::<StateLabels, Gauge>::default();
        registry.register(
            "ec2gw_instances",
            "Instances in the database by state, read when scraped (terminated ones until their rows go)",
            instances.clone(),
        );
        // 1 ms to 8 s, doubling: a pass over a handful of guests to one over thousands.
        let reconciler_pass = Histogram::new(exponential_buckets(0.001, 2.0, 14));
        registry.register_with_unit(
            "ec2gw_reconciler_pass_duration",
            "Time one reconciler pass took",
            Unit::Seconds,
            reconciler_pass.clone(),
        );
        let reconciler_errors = Counter::default();
        registry.register(
            "ec2gw_reconciler_errors",
            "Reconciler failures: passes that failed, and instance steps that failed and will be retried",
            reconciler_errors.clone(),
        );
        Metrics {
            registry,
            requests,
            request_duration,
            instances,
            reconciler_pass,
            reconciler_errors,
        }
    }
}

impl Metrics {
    /// One answered request. `action` is [`UNKNOWN_ACTION`] or an action's name, `code` the
    /// EC2 error code or [`OK_CODE`].
    pub fn request(&self, action: &'static str, code: &'static str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                action,
                code,
                status,
            })
            .inc();
        self.request_duration
            .get_or_create(&ActionLabels { action })
            .observe(took.as_secs_f64());
    }

    pub fn reconciler_pass(&self, took: Duration) {
        self.reconciler_pass.observe(took.as_secs_f64());
    }

    pub fn reconciler_error(&self) {
        self.reconciler_errors.inc();
    }

    /// The instance counts by state, as just read; every state is shown, zero or not.
    pub fn set_instances(&self, counts: &[(&'static str, i64)]) {
        for (state, count) in counts {
            self.instances
                .get_or_create(&StateLabels { state })
                .set(*count);
        }
    }

    /// Everything, in `format`.
    pub fn encode(&self, format: Format) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(8192);
        match format {
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut out, &self.registry)?
            }
            Format::Prometheus => {
                prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_requests_by_action_code_and_status() {
        let metrics = Metrics::default();
        metrics.request("DescribeRegions", OK_CODE, 200, Duration::from_millis(1));
        metrics.request("DescribeRegions", OK_CODE, 200, Duration::from_millis(3));
        metrics.request(
            UNKNOWN_ACTION,
            "InvalidAction",
            400,
            Duration::from_micros(100),
        );
        let text = metrics.encode(Format::Prometheus).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for expected in [
            "# TYPE ec2gw_requests_total counter",
            r#"ec2gw_requests_total{action="DescribeRegions",code="OK",status="200"} 2"#,
            r#"ec2gw_requests_total{action="unknown",code="InvalidAction",status="400"} 1"#,
            r#"ec2gw_request_duration_seconds_count{action="DescribeRegions"} 2"#,
            r#"ec2gw_request_duration_seconds_bucket{action="DescribeRegions",le="0.001"} 1"#,
            r#"ec2gw_request_duration_seconds_bucket{action="DescribeRegions",le="0.0005"} 0"#,
            r#"ec2gw_request_duration_seconds_bucket{action="DescribeRegions",le="0.004"} 2"#,
            "ec2gw_reconciler_errors_total 0",
        ] {
            assert!(lines.contains(&expected), "{expected} not in\n{text}");
        }
        let open = metrics.encode(Format::OpenMetrics).unwrap();
        assert!(open.ends_with("# EOF\n"), "{open}");
    }

    #[test]
    fn the_format_follows_accept() {
        assert_eq!(Format::from_accept(None), Format::Prometheus);
        assert_eq!(
            Format::from_accept(Some(
                "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
            )),
            Format::OpenMetrics
        );
        assert_eq!(Format::from_accept(Some("*/*")), Format::Prometheus);
    }
}
