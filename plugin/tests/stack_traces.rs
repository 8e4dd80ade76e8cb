//! Stack traces reach the filter one line a record: the shipped pipelines
//! join only the CRI runtime's partial lines, so each frame of a Java,
//! Python, Go or Node.js trace is a record of its own. Counted as lines,
//! the frames hid an error burst (a Spring service whose failing requests
//! each log a 62-line trace was never flagged) or named it wrongly (a
//! consumer that logs no requests and a trace every 2 s read as a traffic
//! surge, `scale_up`). Here both are caught as an `error_burst` with
//! `rollout_restart`, as the same failures logged one line each are.
//!
//! And the word `Exception` no longer makes an error of a line that states
//! its own level: a flapping dependency's `WARN ... (java.net.
//! SocketTimeoutException: Read timed out), retrying` lines are tagged
//! exactly as the same warnings without the exception's name (they opened
//! an `error_burst` with `rollout_restart` before).

#![allow(clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeMap;

use edgeheal_plugin::timestamp::write_rfc3339;
use edgeheal_plugin::{Filter, FilterConfig, ModelSet};

#[path = "common/stack_trace_lines.rs"]
mod stack_trace_lines;
use stack_trace_lines::{failure, Trace};

const S: i64 = 1_000_000_000;
/// 2024-05-01T10:00:00Z.
const START: i64 = 1_714_557_600 * S;
/// The fault starts 20 minutes in and lasts 10.
const FAULT_FROM: i64 = 20 * 60 * S;
const END: i64 = 30 * 60 * S;

/// A small deterministic generator (xorshift64).
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A record of a stream: its time, its text, and whether the same stream
/// with each failure logged in one line ([`Trace::OneLine`]) has it too (a
/// failure's first line, and any line that is no failure's).
type Logged = (i64, String, bool);

/// A stream of a workload whose failures log `trace`s of some frames.
type Stream = fn(Trace, usize) -> Vec<Logged>;

/// A Fluent Bit container log (`tail` with the CRI parser, then the
/// `kubernetes` filter) of pod `<app>-7d4b9c8f6-<suffix>` at `ts`.
fn record(app: &str, suffix: &str, ts: i64, line: &str) -> (i64, String) {
    let mut time = Vec::new();
    write_rfc3339(&mut time, ts);
    let text = format!(
        r#"{{"time":"{}","stream":"stdout","_p":"F","log":{},"kubernetes":{{"pod_name":"{app}-7d4b9c8f6-{suffix}","namespace_name":"shop","container_name":"{app}","host":"node-1","labels":{{"app":"{app}","pod-template-hash":"7d4b9c8f6"}}}}}}"#,
        String::from_utf8_lossy(&time),
        serde_json::Value::from(line),
    );
    (ts, text)
}

const PODS: [&str; 2] = ["x2x9z", "b4k8m"];

/// Frames in each trace of the tests that catch the fault.
const FRAMES: usize = 60;

/// A Spring service behind its access log: two pods, ten requests a second
/// each; from [`FAULT_FROM`] 30 % of requests fail with a 500 and each
/// failure is logged as `trace` says, with `frames` frames.
fn spring_api(trace: Trace, frames: usize) -> Vec<Logged> {
    let mut rng = Rng(6);
    let mut out = Vec::new();
    let mut t = 0;
    while t < END {
        for pod in PODS {
            for _ in 0..10 {
                let at = t + (rng.unit() * S as f64) as i64;
                let failed = at >= FAULT_FROM && rng.unit() < 0.3;
                let status = if failed { 500 } else { 200 };
                out.push(own(record(
                    "shopapi",
                    pod,
                    START + at,
                    &format!(r#"10.0.0.1 - - [01/May/2024:10:00:00 +0000] "GET /api HTTP/1.1" {status} 150 "-" "curl/8.0""#),
                )));
                if failed {
                    let first = "2024-05-01 10:00:00.123 ERROR 1 --- [nio-8080-exec-1] o.a.c.c.C.[dispatcherServlet] : Servlet.service() threw exception";
                    let reporting = trace.reporting_line();
                    for (k, line) in failure(trace, first, frames).iter().enumerate() {
                        // The reporting line at the one-line stream's time.
                        let after = k as i64 - reporting as i64;
                        let (ts, text) =
                            record("shopapi", pod, START + at + 100_000 + after * 1_000, line);
                        out.push((ts, text, k == reporting));
                    }
                }
            }
        }
        t += S;
    }
    out.sort_by_key(|(ts, _, _)| *ts);
    out
}

/// A record the one-line stream has too.
fn own((ts, text): (i64, String)) -> Logged {
    (ts, text, true)
}

/// A Kafka consumer with no access log: three `INFO processed` lines a
/// second a pod; from [`FAULT_FROM`] a failure every 2 s a pod, logged as
/// `trace` says, with `frames` frames.
fn consumer(trace: Trace, frames: usize) -> Vec<Logged> {
    let mut rng = Rng(3);
    let mut out = Vec::new();
    let mut t = 0;
    while t < END {
        for pod in PODS {
            for _ in 0..3 {
                let at = t + (rng.unit() * S as f64) as i64;
                out.push(own(record(
                    "worker",
                    pod,
                    START + at,
                    &format!(
                        "2024-05-01 10:00:00.123  INFO 1 --- [consumer-1] c.e.Worker : processed order {}",
                        (rng.unit() * 1e6) as u64
                    ),
                )));
            }
            if t >= FAULT_FROM && (t / S) % 2 == 0 {
                let at = t + (rng.unit() * S as f64) as i64;
                let first = "2024-05-01 10:00:00.123 ERROR 1 --- [consumer-1] c.e.Worker : processing failed";
                let reporting = trace.reporting_line();
                for (k, line) in failure(trace, first, frames).iter().enumerate() {
                    let after = k as i64 - reporting as i64;
                    let (ts, text) = record("worker", pod, START + at + after * 10_000, line);
                    out.push((ts, text, k == reporting));
                }
            }
        }
        t += S;
    }
    out.sort_by_key(|(ts, _, _)| *ts);
    out
}

/// What the shipped models make of a stream.
#[derive(Debug, Default)]
struct Tagged {
    /// Each record's `edgeheal` object.
    tags: Vec<String>,
    /// The `edgeheal` object of each record the one-line stream has too.
    one_line_tags: Vec<String>,
    /// Anomalous records before the fault.
    before: usize,
    /// The first anomaly during the fault: (seconds in, incident, action).
    first: Option<(f64, String, String)>,
    /// Anomalous records during the fault, by incident.
    during: BTreeMap<String, usize>,
}

fn tagged(records: &[Logged]) -> Tagged {
    let models = match ModelSet::from_embedded() {
        Some(Ok(m)) => m,
        other => panic!("the filter embeds models/default: {other:?}"),
    };
    let mut filter = Filter::new(FilterConfig::default(), Some(models));
    let mut out = Vec::new();
    let mut seen = Tagged::default();
    for (ts, text, one_line) in records {
        filter.process(b"kube.var.log", *ts, text.as_bytes(), &mut out);
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap_or_default();
        let tags = &json["edgeheal"];
        if tags["anomaly"] == true {
            let incident = tags["incident"].as_str().unwrap_or("").to_owned();
            if *ts < START + FAULT_FROM {
                seen.before += 1;
            } else {
                if seen.first.is_none() {
                    let action = tags["action"].as_str().unwrap_or("").to_owned();
                    let secs = (*ts - START - FAULT_FROM) as f64 / S as f64;
                    seen.first = Some((secs, incident.clone(), action));
                }
                *seen.during.entry(incident).or_default() += 1;
            }
        }
        seen.tags.push(tags.to_string());
        if *one_line {
            seen.one_line_tags.push(tags.to_string());
        }
    }
    seen
}

fn error_burst_caught(case: &str, seen: &Tagged) -> f64 {
    assert_eq!(seen.before, 0, "{case}: anomalies before the fault");
    let Some((secs, incident, action)) = &seen.first else {
        panic!("{case}: nothing flagged during the fault")
    };
    assert_eq!(
        (incident.as_str(), action.as_str()),
        ("error_burst", "rollout_restart"),
        "{case}: first flagged after {secs} s; during the fault: {:?}",
        seen.during
    );
    *secs
}

/// Failing requests that each log a 62-line Java trace hid the burst: the
/// frames brought the error ratio down to about what it was before. Caught
/// now as the same failures logged one line each are, within a bucket.
#[test]
fn an_error_burst_with_a_stack_trace_per_failed_request_is_caught() {
    let one_line = error_burst_caught(
        "one line a failure",
        &tagged(&spring_api(Trace::OneLine, FRAMES)),
    );
    for trace in Trace::TRACES {
        let case = format!("{trace:?} traces");
        let secs = error_burst_caught(&case, &tagged(&spring_api(trace, FRAMES)));
        assert!(
            secs <= one_line + 15.0,
            "{case}: caught after {secs} s, one line a failure after {one_line} s"
        );
    }
}

/// A consumer logs no requests, so its traffic is its lines: a 62-line
/// trace every 2 s a pod read as a traffic surge (`scale_up`). Its frames
/// are no lines now: an error burst with `rollout_restart`, never a surge.
#[test]
fn stack_traces_of_a_workload_without_requests_are_errors_not_traffic() {
    let one_line = error_burst_caught(
        "one line a failure",
        &tagged(&consumer(Trace::OneLine, FRAMES)),
    );
    for trace in Trace::TRACES {
        let case = format!("{trace:?} traces");
        let seen = tagged(&consumer(trace, FRAMES));
        let secs = error_burst_caught(&case, &seen);
        assert!(
            !seen.during.contains_key("traffic_surge"),
            "{case}: {:?}",
            seen.during
        );
        assert!(
            secs <= one_line + 15.0,
            "{case}: caught after {secs} s, one line a failure after {one_line} s"
        );
    }
}

/// A cart service logs its requests; when a price lookup flaps it logs five
/// warnings a second a pod, once with the exception's name in them and once
/// without. The name is no error: every record is tagged alike, and
/// nothing is flagged.
#[test]
fn an_exception_named_in_a_warning_is_no_error() {
    let stream = |cause: &str| {
        let mut rng = Rng(1);
        let mut out = Vec::new();
        let mut t = 0;
        while t < END {
            for pod in PODS {
                for _ in 0..5 {
                    let at = t + (rng.unit() * S as f64) as i64;
                    let line = format!(
                        "2024-05-01 10:00:00.123  INFO 1 --- [nio-8080-exec-1] c.e.Cart : GET /cart completed 200 in {}ms",
                        5 + (rng.unit() * 15.0) as u32
                    );
                    out.push(own(record("cart", pod, START + at, &line)));
                }
                if t >= FAULT_FROM {
                    for _ in 0..5 {
                        let at = t + (rng.unit() * S as f64) as i64;
                        let line = format!(
                            "2024-05-01 10:00:00.123  WARN 1 --- [nio-8080-exec-2] c.e.PriceClient : price lookup timed out ({cause}), retrying"
                        );
                        out.push(own(record("cart", pod, START + at, &line)));
                    }
                }
            }
            t += S;
        }
        out.sort_by_key(|(ts, _, _)| *ts);
        out
    };
    let named = tagged(&stream("java.net.SocketTimeoutException: Read timed out"));
    let plain = tagged(&stream("read timed out"));
    assert_eq!(named.tags.len(), plain.tags.len());
    let differ = named.tags.iter().zip(&plain.tags).position(|(a, b)| a != b);
    assert_eq!(
        differ,
        None,
        "{:?}",
        differ.map(|i| (&named.tags[i], &plain.tags[i]))
    );
    assert_eq!(
        (named.before, &named.first),
        (0, &None),
        "{:?}",
        named.during
    );
}

/// The first record whose tags differ between `a` and `b`, shown.
fn first_difference(a: &[String], b: &[String]) -> Option<String> {
    if a.len() != b.len() {
        return Some(format!("{} records against {}", a.len(), b.len()));
    }
    let i = a.iter().zip(b).position(|(x, y)| x != y)?;
    Some(format!("record {i}:\n{}\n{}", a[i], b[i]))
}

/// Blank lines (a worker's empty line between its reports; Python's
/// between chained tracebacks, Go's after `panic:`) counted as lines, and in
/// a workload that logs no requests as its traffic. They say nothing: a
/// consumer that writes one after every other line is tagged, record for
/// record, as the same consumer without them.
#[test]
fn blank_lines_count_as_nothing() {
    let plain = consumer(Trace::OneLine, FRAMES);
    let mut with_blanks = Vec::new();
    for (i, (ts, text, _)) in plain.iter().enumerate() {
        with_blanks.push((*ts, text.clone(), true));
        if i % 2 == 0 {
            let mut blank: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
            blank["log"] = ["", "\n", "  \t\r\n"][i % 3].into();
            with_blanks.push((*ts, blank.to_string(), false));
        }
    }
    let plain = tagged(&plain);
    let with_blanks = tagged(&with_blanks);
    let differ = first_difference(&with_blanks.one_line_tags, &plain.tags);
    assert_eq!(differ, None);
    error_burst_caught("with blank lines", &with_blanks);
}

/// A logged exception counted twice: the logger's `ERROR` line, then the
/// exception's class line (`org.x.DataAccessResourceFailureException: db
/// down`) or Python's `Traceback (most recent call last):` header; and
/// Python's closing `psycopg2.OperationalError: db down` counted as a line.
/// Blank lines in traces counted as lines; Ruby's backtrace lines and Go's
/// re-panic line too; a Ruby exception nothing rescued counted no error.
/// Now only the line that reports a failure counts (the logger's, or a
/// trace's own first line: `Exception in thread "main" ...`, `Error: ...`,
/// `panic: ...`, Ruby's `path:12:in 'f': db down (RuntimeError)`): with
/// each trace (but a Rust panic's, whose message is a line of its own),
/// every record the one-line stream has is tagged exactly as there.
/// Likewise the lines around Node.js's uncaught `Error: ...` (the place of
/// the throw, the caret, `Node.js v20.11.0`), Python's exception groups,
/// anyhow's and eyre's `Caused by:` and numbered causes, Go's `runtime
/// stack:`, elided frames and `exit status 2`, and Rails' exception log
/// (each frame at `FATAL` in Rails 5.0, the blank lines, the frames with
/// the request's tag alone), which counted lines and errors of their own.
#[test]
fn a_logged_exception_counts_as_the_one_line_that_reports_it() {
    let streams: [(&str, Stream); 2] = [("spring_api", spring_api), ("consumer", consumer)];
    let mut differ = Vec::new();
    for (name, stream) in streams {
        let one_line = tagged(&stream(Trace::OneLine, 0));
        for trace in Trace::TRACES.into_iter().filter(|t| t.only_continues()) {
            let seen = tagged(&stream(trace, 8));
            if let Some(d) = first_difference(&seen.one_line_tags, &one_line.tags) {
                differ.push(format!("{name}, {trace:?} traces: {d}"));
            }
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}
