//! Container logs with stack traces printed one line a record, as the
//! shipped pipelines pass them on (they join only the CRI runtime's partial
//! lines): a Spring service behind its access log whose failed requests
//! each log a Java trace (Fluent Bit `tail` + `kubernetes` records), a
//! consumer that logs no requests and whose failures log each trace of
//! [`Trace::TRACES`] in turn (Java, Python, Go, Node.js, Ruby, Rails and
//! Rust, logged or not caught; Vector `kubernetes_logs` records), and a
//! service whose warnings name the exception they caught. Their failures
//! start at [`FAULT_FROM_S`].

use crate::fluentbit_harness::EventTime;
use crate::records::StreamRecord;
use crate::vector::{rfc3339, Rng, EVENT_TIME_NS};

/// Seconds into the stream at which the failures start.
pub const FAULT_FROM_S: i64 = 1200;

#[path = "../../plugin/tests/common/stack_trace_lines.rs"]
mod stack_trace_lines;
pub use stack_trace_lines::{failure, Trace};

/// A Fluent Bit container log (`tail` with the CRI parser, `kubernetes`).
fn fluent_bit(app: &str, pod: &str, ts: i64, line: &str) -> String {
    serde_json::json!({
        "time": rfc3339(ts),
        "stream": "stdout",
        "_p": "F",
        "log": line,
        "kubernetes": {
            "pod_name": format!("{app}-7d4b9c8f6-{pod}"),
            "namespace_name": "shop",
            "container_name": app,
            "host": "node-1",
            "labels": {"app": app, "pod-template-hash": "7d4b9c8f6"},
        },
    })
    .to_string()
}

/// A Vector `kubernetes_logs` event.
fn vector(app: &str, pod: &str, ts: i64, line: &str) -> String {
    let pod_name = format!("{app}-7d4b9c8f6-{pod}");
    serde_json::json!({
        "file": format!("/var/log/pods/shop_{pod_name}_uid/{app}/0.log"),
        "kubernetes": {
            "container_name": app,
            "pod_labels": {"app": app},
            "pod_name": pod_name,
            "pod_namespace": "shop",
            "pod_node_name": "node-1",
            "pod_owner": format!("ReplicaSet/{app}-7d4b9c8f6"),
        },
        "message": line,
        "source_type": "kubernetes_logs",
        "stream": "stderr",
        "timestamp": rfc3339(ts),
    })
    .to_string()
}

/// `line` alone in a Vector `kubernetes_logs` event of the `worker` pod.
pub fn vector_record(line: &str) -> String {
    vector("worker", PODS[0], EVENT_TIME_NS, line)
}

/// Lines next to the traces' that the core and the VRL must read alike, most
/// of them lines of their own: a numbered list, places and rules that are
/// not Node.js's or Python's, Ruby `Logger` lines whose message is more than
/// a location, lines like Rails' exception line that are none, and the
/// continuations' odd spellings (trailing line ends, indentations).
pub const ODD_LINES: &[&str] = &[
    "   1: first step done",
    "  10: check the disk",
    "   5: ",
    "    1: ERROR x",
    "   3: <F as core::future::future::Future>::poll",
    "   4: anyhow::error::<impl anyhow::Error>::msg",
    "/app/server.js",
    "/app/server.js:12 started",
    "/:12",
    "node::12",
    "nodes:12",
    "file:///:3",
    "node:internal/process/promises:289\n",
    "^",
    "^^^ look above",
    "Node.js v20 started",
    "Node.js v18.19.1\r\n",
    "   | odd indentation",
    "\t| a tab",
    "  |x",
    "  + added",
    "  +-",
    "| at the margin",
    "      | ValueError: x",
    "    | ",
    "Caused by:x",
    "  Caused by:\r\n",
    "Location: eu-west-1",
    "runtime stack: 3",
    "exit status",
    "exit status 2 of 3",
    "...frames elided...",
    "... frames elided...",
    "F, [2026-05-01T10:00:00.123456 #1] FATAL -- : [a1b2c3] app/x.rb:12:in 'f' failed",
    "F, [2026-05-01T10:00:00.123456 #1] FATAL -- : [a1b2c3] boom",
    "F, [x] FATAL -- : [a]x app/x.rb:1:in 'f'",
    "E, [2026-05-01T10:00:00.123456 #1] ERROR -- web: [a] [b]  ",
    "I, [2026-05-01T10:00:00.123456 #1]  INFO -- : ",
    "I, [2026-05-01T10:00:00.123456 #1]  INFO -- : started",
    "W, [2026-05-01T10:00:00.123456 #1]  WARN -- : app/x.rb:3:in 'f'",
    "[a1b2c3]x app/x.rb:12:in 'show'",
    "[a1b2c3] [b app/x.rb:12:in 'show'",
    "[a1b2c3] [u-5]   ",
    "[worker] started",
    "Processing (batch 5):",
    "Cart (5 items):",
    "  NoMethodError (x):",
    "NoMethodError (undefined method 'x' for nil):",
    "ActionController::RoutingError (No route matches [GET] \"/x\"):",
    "[a1b2c3] WARN Timeout::Error (retrying):",
    "ValidationError: user not found",
];

const PODS: [&str; 2] = ["x2x9z", "b4k8m"];

/// `seconds` of the three workloads, in time order: (time in ns, record).
/// `shopapi` serves `rate` requests a second a pod, a fifth of them failing
/// with a 500 and a Java trace of `frames` frames from [`FAULT_FROM_S`];
/// `worker` logs two lines a second a pod, and from then a failure every
/// 4 s a pod, its trace in each language in turn; `cart` serves two
/// requests a second a pod and from then warns of a timed-out dependency,
/// naming the exception.
pub fn stream(seed: u64, seconds: i64, rate: u32, frames: usize) -> Vec<(i64, String)> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    let s = 1_000_000_000;
    let traces = Trace::TRACES;
    let mut failures = 0usize;
    for t in 0..seconds {
        let base = EVENT_TIME_NS + t * s;
        let fault = t >= FAULT_FROM_S;
        for pod in PODS {
            for _ in 0..rate {
                let at = base + rng.below(s as u64) as i64;
                let failed = fault && rng.unit() < 0.2;
                let status = if failed { 500 } else { 200 };
                out.push((
                    at,
                    fluent_bit(
                        "shopapi",
                        pod,
                        at,
                        &format!(
                            r#"10.0.0.1 - - [01/May/2024:10:00:00 +0000] "GET /api HTTP/1.1" {status} 150 "-" "curl/8.0""#
                        ),
                    ),
                ));
                if failed {
                    let first = "2024-05-01 10:00:00.123 ERROR 1 --- [nio-8080-exec-1] o.a.c.c.C.[dispatcherServlet] : Servlet.service() threw exception";
                    for (k, line) in failure(Trace::Java, first, frames).iter().enumerate() {
                        let ts = at + 100_000 + k as i64 * 1_000;
                        out.push((ts, fluent_bit("shopapi", pod, ts, line)));
                    }
                }
            }
            for _ in 0..2 {
                let at = base + rng.below(s as u64) as i64;
                let line = format!(
                    "2024-05-01 10:00:00.123  INFO 1 --- [consumer-1] c.e.Worker : processed order {}",
                    rng.below(1_000_000)
                );
                out.push((at, vector("worker", pod, at, &line)));
            }
            if fault && t % 4 == 0 {
                let at = base + rng.below(s as u64) as i64;
                let trace = traces[failures % traces.len()];
                failures += 1;
                let first =
                    "2024-05-01 10:00:00.123 ERROR 1 --- [consumer-1] c.e.Worker : processing failed";
                for (k, line) in failure(trace, first, frames).iter().enumerate() {
                    let ts = at + k as i64 * 10_000;
                    out.push((ts, vector("worker", pod, ts, line)));
                }
            }
            for _ in 0..2 {
                let at = base + rng.below(s as u64) as i64;
                let line = format!(
                    "2024-05-01 10:00:00.123  INFO 1 --- [nio-8080-exec-1] c.e.Cart : GET /cart completed 200 in {}ms",
                    5 + rng.below(15)
                );
                out.push((at, fluent_bit("cart", pod, at, &line)));
                if fault {
                    let at = base + rng.below(s as u64) as i64;
                    let line = "2024-05-01 10:00:00.123  WARN 1 --- [nio-8080-exec-2] c.e.PriceClient : price lookup timed out (java.net.SocketTimeoutException: Read timed out), retrying";
                    out.push((at, fluent_bit("cart", pod, at, line)));
                }
            }
        }
    }
    out.sort_by_key(|(ts, _)| *ts);
    out
}

/// [`stream`] as Fluent Bit hands the records to the filter (tag
/// `kube.var.log`, each record's own time as the event time).
pub fn stream_records(seed: u64, seconds: i64, rate: u32, frames: usize) -> Vec<StreamRecord> {
    stream(seed, seconds, rate, frames)
        .into_iter()
        .map(|(ts, json)| StreamRecord {
            tag: "kube.var.log".to_owned(),
            time: EventTime {
                sec: ts.div_euclid(1_000_000_000),
                nsec: ts.rem_euclid(1_000_000_000) as u32,
            },
            json: json.into_bytes(),
        })
        .collect()
}
