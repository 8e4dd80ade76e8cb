//! Clocks that misbehave: a record stamped years or hours ahead, a node's
//! clock running ahead and stepped back by NTP. A workload's window follows
//! its records' times, so without care one such record holds the window at
//! the stamp and an error burst after it goes unseen until real time catches
//! up. Here the same burst is caught as soon as with a good clock, and no
//! record before it is tagged anomalous. And old events replayed out of time
//! order (Fluent Bit's kubernetes_events input lists the last
//! `kube_retention_time` of events when it starts, in name order) are
//! history: they open no crash loop. The same burst in logs that reached
//! the filter without a `kubernetes` object (Fluent Bit's `kubernetes` filter
//! got no metadata) is caught as fast, the workload named by the tag.

#![allow(clippy::panic)]

use edgeheal_plugin::timestamp::write_rfc3339;
use edgeheal_plugin::{Filter, FilterConfig, ModelSet};

const S: i64 = 1_000_000_000;
/// 2025-06-01T00:00:00Z.
const START: i64 = 1_748_736_000 * S;
/// Ten requests a second; the burst (every other request a 500) starts at
/// minute 35 and lasts five minutes.
const STEP: i64 = S / 10;
const BURST_FROM: i64 = 35 * 60 * S;
const END: i64 = 40 * 60 * S;

enum Clock {
    Good,
    /// One record at minute 30 carries this time instead of its own.
    OneRecordAt(i64),
    /// The node's clock runs `ahead` from minute 20 to minute 30 (record and
    /// event times alike), then is stepped back.
    NodeAhead(i64),
}

/// What the filter is given about the pod.
#[derive(Clone, Copy)]
enum Metadata {
    /// The `kubernetes` object Fluent Bit's filter adds.
    Kubernetes,
    /// None: only the tag `tail` gave the line names the pod.
    TagOnly,
}

/// Seconds from the burst's start to the first `error_burst` anomaly, and
/// the anomalies before the burst (with their tags).
fn run(clock: Clock) -> (Option<f64>, Vec<String>) {
    run_with(clock, Metadata::Kubernetes)
}

fn run_with(clock: Clock, metadata: Metadata) -> (Option<f64>, Vec<String>) {
    let container_log_tag = format!(
        "kube.var.log.containers.web-7d4b9c8f6-x2x9z_shop_web-{}.log",
        "9c1d".repeat(16)
    );
    let models = match ModelSet::from_embedded() {
        Some(Ok(m)) => m,
        other => panic!("the filter embeds models/default: {other:?}"),
    };
    let mut filter = Filter::new(FilterConfig::default(), Some(models));
    let (mut out, mut time) = (Vec::new(), Vec::new());
    let mut first = None;
    let mut false_alarms = Vec::new();
    let mut n = 0u64;
    let mut at = 0;
    while at < END {
        n += 1;
        let burst = at >= BURST_FROM;
        let status = if (burst && n % 2 == 0) || n % 100 == 0 {
            500
        } else {
            200
        };
        let mut ts = START + at;
        match clock {
            Clock::OneRecordAt(t) if at == 30 * 60 * S => ts = t,
            Clock::NodeAhead(ahead) if (20 * 60 * S..30 * 60 * S).contains(&at) => ts += ahead,
            _ => {}
        }
        time.clear();
        write_rfc3339(&mut time, ts);
        let level = if status >= 500 { "error" } else { "info" };
        let kubernetes = match metadata {
            Metadata::Kubernetes => {
                r#","kubernetes":{"pod_name":"web-7d4b9c8f6-x2x9z","namespace_name":"shop","labels":{"app":"web"},"container_name":"web","host":"node-1"}"#
            }
            Metadata::TagOnly => "",
        };
        let record = format!(
            r#"{{"log":"{{\"level\":\"{level}\",\"status\":{status},\"method\":\"GET\",\"path\":\"/api/cart\",\"latency_ms\":{}}}","stream":"stdout","time":"{}"{kubernetes}}}"#,
            20 + n % 7,
            String::from_utf8_lossy(&time)
        );
        let tag = match metadata {
            Metadata::Kubernetes => "kube.var.log",
            Metadata::TagOnly => container_log_tag.as_str(),
        };
        filter.process(tag.as_bytes(), ts, record.as_bytes(), &mut out);
        let text = String::from_utf8_lossy(&out);
        if text.contains(r#""anomaly":true"#) {
            if !burst {
                false_alarms.push(text.into_owned());
            } else if first.is_none()
                && text.contains(r#""incident":"error_burst""#)
                && text.contains(r#""entity":"shop/web","pod":"web-7d4b9c8f6-x2x9z""#)
            {
                first = Some((at - BURST_FROM) as f64 / S as f64);
            }
        }
        at += STEP;
    }
    (first, false_alarms)
}

#[test]
fn an_error_burst_is_caught_whatever_the_clock_did_before() {
    let (good, false_alarms) = run(Clock::Good);
    assert!(false_alarms.is_empty(), "{:?}", false_alarms.first());
    let Some(good) = good else {
        panic!("the burst is caught with a good clock")
    };
    let year = 365 * 86_400 * S;
    let cases = [
        (
            "one record stamped ten years ahead",
            Clock::OneRecordAt(START + 10 * year),
        ),
        (
            "one record stamped 2.5 hours ahead",
            Clock::OneRecordAt(START + 9_000 * S),
        ),
        (
            "one record stamped ten years back",
            Clock::OneRecordAt(START - 10 * year),
        ),
        (
            "the node clock two hours ahead for ten minutes",
            Clock::NodeAhead(7_200 * S),
        ),
    ];
    for (case, clock) in cases {
        let (first, false_alarms) = run(clock);
        assert!(
            false_alarms.is_empty(),
            "{case}: {} false alarms, the first: {:?}",
            false_alarms.len(),
            false_alarms.first()
        );
        assert_eq!(
            first,
            Some(good),
            "{case}: detected after {first:?} s, not {good} s"
        );
    }
}

#[test]
fn an_error_burst_in_logs_without_metadata_is_caught_as_fast() {
    let (with, _) = run(Clock::Good);
    let (tag_only, false_alarms) = run_with(Clock::Good, Metadata::TagOnly);
    assert!(false_alarms.is_empty(), "{:?}", false_alarms.first());
    assert!(with.is_some(), "the burst is caught with metadata");
    assert_eq!(
        tag_only, with,
        "caught after {tag_only:?} s, not {with:?} s"
    );
}

fn pod_event(reason: &str, at: &str, name: &str) -> String {
    format!(
        r#"{{"metadata":{{"name":"ledger-2rjg5d6xr-vh7p4.{name}","namespace":"payments","resourceVersion":"1"}},"involvedObject":{{"kind":"Pod","namespace":"payments","name":"ledger-2rjg5d6xr-vh7p4","apiVersion":"v1","fieldPath":"spec.containers{{ledger}}"}},"reason":"{reason}","message":"-","source":{{"component":"kubelet","host":"node-3"}},"firstTimestamp":"{at}","lastTimestamp":"{at}","count":1,"type":"Warning"}}"#
    )
}

#[test]
fn old_events_replayed_out_of_order_open_no_crash_loop() {
    let models = match ModelSet::from_embedded() {
        Some(Ok(m)) => m,
        other => panic!("the filter embeds models/default: {other:?}"),
    };
    let mut filter = Filter::new(FilterConfig::default(), Some(models));
    let mut out = Vec::new();
    // The list at start: the pod started at 00:55 (its newest event comes
    // first); it crash-looped at 00:09-00:14, long over.
    let list = [
        pod_event("Started", "2025-03-03T00:55:00Z", "a1"),
        pod_event("BackOff", "2025-03-03T00:10:00Z", "b1"),
        pod_event("Unhealthy", "2025-03-03T00:12:00Z", "b2"),
        pod_event("Started", "2025-03-03T00:09:00Z", "b4"),
        pod_event("BackOff", "2025-03-03T00:13:00Z", "b5"),
        pod_event("OOMKilling", "2025-03-03T00:14:00Z", "b6"),
    ];
    // Fluent Bit stamps each with its own lastTimestamp.
    let stamp = 1_740_963_300 * S;
    for event in &list {
        filter.process(b"k8s_events", stamp, event.as_bytes(), &mut out);
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains(r#""anomaly":false"#), "{event}\n→ {text}");
    }
    // A back-off now, within the restart window, is a crash loop.
    let now = pod_event("BackOff", "2025-03-03T00:56:00Z", "a2");
    filter.process(b"k8s_events", stamp, now.as_bytes(), &mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.contains(r#""anomaly":true"#) && text.contains(r#""incident":"crash_loop""#),
        "{text}"
    );
}
