//! ec2gw's benchmark tools, one binary:
//!
//! * `load`  — N connections, each request freshly SigV4-signed (aws-sigv4, as the AWS Rust SDK
//!   signs), for a fixed duration or a fixed number of requests; prints JSON: latency
//!   percentiles (hdrhistogram), throughput, errors by code, and the server's CPU seconds and
//!   peak RSS read from /proc.
//! * `burst` — K RunInstances at once, each on its own connection, then DescribeInstances
//!   polled until every instance they made is `running`; prints JSON.
//! * `hello` — the ceiling: a bare hyper server answering every request with a fixed 300-byte
//!   XML body.
//! * `chart` — throughput and p99 per workload and server, as a PNG (plotters, bitmap backend).

mod chart;
mod client;
mod hello;
mod procfs;

use std::collections::HashMap;
use std::process::ExitCode;

/// `--name value` pairs and bare `--flag`s, nothing more.
pub struct Args {
    values: HashMap<String, String>,
}

impl Args {
    fn parse(raw: &[String]) -> Result<Args, String> {
        let mut values = HashMap::new();
        let mut i = 0;
        while i < raw.len() {
            let name = raw[i]
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {:?}", raw[i]))?;
            match raw.get(i + 1) {
                Some(v) if !v.starts_with("--") => {
                    values.insert(name.to_owned(), v.clone());
                    i += 2;
                }
                _ => {
                    values.insert(name.to_owned(), String::new());
                    i += 1;
                }
            }
        }
        Ok(Args { values })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn required(&self, name: &str) -> Result<&str, String> {
        self.get(name).ok_or_else(|| format!("--{name} is required"))
    }

    pub fn or<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.get(name).unwrap_or(default)
    }

    pub fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{name}: {v:?} is not a number")),
        }
    }
}

const USAGE: &str = "usage:
  ec2gw-bench load  --endpoint http://HOST:PORT --access-key ID --secret KEY --body FORM
                    [--region us-east-1] [--connections 64] [--duration 10 | --requests N]
                    [--warmup 1] [--timeout 60] [--threads 1] [--pid SERVER_PID]
                    [--db-match TEXT] [--label NAME]
  ec2gw-bench burst --endpoint URL --access-key ID --secret KEY --run-body FORM --poll-body FORM
                    [--count 100] [--timeout 120] [--poll-ms 50] [--pid SERVER_PID]
  ec2gw-bench hello [--listen 127.0.0.1:0] [--threads 2]
  ec2gw-bench chart --input SUMMARY.json --output CHART.png

FORM is an application/x-www-form-urlencoded body; `{n}` in it becomes a number unique to
each request. --db-match adds the CPU of every `postgres` process whose title contains TEXT
(a PostgreSQL database's backends) to the report, separately.";

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = argv.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = Args::parse(rest).and_then(|args| match command.as_str() {
        "load" => client::load(&args),
        "burst" => client::burst(&args),
        "hello" => hello::run(&args),
        "chart" => chart::run(&args),
        _ => Err(USAGE.to_owned()),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ec2gw-bench {command}: {message}");
            ExitCode::FAILURE
        }
    }
}
