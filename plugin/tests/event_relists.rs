//! Events listed again. Fluent Bit's `kubernetes_events` input keeps no
//! database in the shipped configs, so after every watch reconnect it lists
//! the events again and emits the current version of each one modified since
//! its previous list a second time. A repeated event is one object whose
//! `count` and `resourceVersion` move on with each occurrence: a new version
//! is a new restart, a second copy of the same version is not.

#![allow(clippy::panic)]

use edgeheal_plugin::verdict::Family;
use edgeheal_plugin::{Filter, FilterConfig, ModelSet};

const S: i64 = 1_000_000_000;

/// One version of one Event object about pod `ledger-2rjg5d6xr-vh7p4`.
fn event(uid: &str, version: u32, reason: &str, count: u32, at: &str) -> String {
    format!(
        r#"{{"metadata":{{"name":"ledger-2rjg5d6xr-vh7p4.{uid}","namespace":"payments","uid":"{uid}","resourceVersion":"{version}"}},"involvedObject":{{"kind":"Pod","namespace":"payments","name":"ledger-2rjg5d6xr-vh7p4","apiVersion":"v1","fieldPath":"spec.containers{{ledger}}"}},"reason":"{reason}","message":"-","source":{{"component":"kubelet","host":"node-3"}},"firstTimestamp":"2025-03-03T10:00:00Z","lastTimestamp":"{at}","count":{count},"type":"Normal"}}"#
    )
}

fn filter() -> Filter {
    let models = match ModelSet::from_embedded() {
        Some(Ok(m)) => m,
        other => panic!("the filter embeds models/default: {other:?}"),
    };
    let mut filter = Filter::new(FilterConfig::default(), Some(models));
    filter.record_evaluations(true);
    filter
}

/// Runs `record` and returns its output and the pod's restart-window
/// counters (restarts, back-offs, OOM kills, unhealthy) if they changed.
fn run(filter: &mut Filter, record: &str) -> (String, Option<[f64; 4]>) {
    let mut out = Vec::new();
    filter.process(
        b"k8s_events",
        1_741_000_000 * S,
        record.as_bytes(),
        &mut out,
    );
    let restarts = filter
        .evaluations()
        .iter()
        .find(|e| e.family == Family::Restarts && e.pod_level)
        .map(|e| [e.features[0], e.features[1], e.features[2], e.features[3]]);
    (String::from_utf8_lossy(&out).into_owned(), restarts)
}

#[test]
fn a_healthy_pods_events_listed_again_are_no_restart() {
    let mut f = filter();
    let start = [
        event("u-sched", 501, "Scheduled", 1, "2025-03-03T10:00:00Z"),
        event("u-pull", 502, "Pulled", 1, "2025-03-03T10:00:02Z"),
        event("u-created", 503, "Created", 1, "2025-03-03T10:00:03Z"),
        event("u-started", 504, "Started", 1, "2025-03-03T10:00:04Z"),
    ];
    for e in &start {
        let (out, _) = run(&mut f, e);
        assert!(out.contains(r#""anomaly":false"#), "{out}");
    }
    // The watch reconnects four minutes later: the list emits them again.
    for e in &start {
        let (out, restarts) = run(&mut f, e);
        assert!(out.contains(r#""anomaly":false"#), "{e}\n→ {out}");
        assert_eq!(restarts, None, "{e}: a copy changes no count");
    }
}

#[test]
fn each_new_version_of_a_repeated_event_counts_and_a_copy_does_not() {
    let mut f = filter();
    run(
        &mut f,
        &event("u-started", 700, "Started", 1, "2025-03-03T10:00:00Z"),
    );
    // The container crashes and restarts: `Started` and `BackOff` are each
    // one object, updated with every occurrence.
    // (resourceVersion, reason, count, at, restarts and back-offs after it)
    let occurrences = [
        (701, "Started", 2, "10:01:00", [1.0, 0.0]),
        (702, "BackOff", 1, "10:01:30", [1.0, 1.0]),
        (703, "Started", 3, "10:02:00", [2.0, 1.0]),
        (704, "BackOff", 2, "10:02:40", [2.0, 2.0]),
    ];
    for (version, reason, count, at, [restarts, backoffs]) in occurrences {
        let uid = if reason == "Started" {
            "u-started"
        } else {
            "u-backoff"
        };
        let at = format!("2025-03-03T{at}Z");
        let (_, got) = run(&mut f, &event(uid, version, reason, count, &at));
        assert_eq!(
            got,
            Some([restarts, backoffs, 0.0, 0.0]),
            "{reason} #{count}"
        );
    }
    // Listed again: the current version of each, counted already.
    for e in [
        event("u-started", 703, "Started", 3, "2025-03-03T10:02:00Z"),
        event("u-backoff", 704, "BackOff", 2, "2025-03-03T10:02:40Z"),
    ] {
        assert_eq!(run(&mut f, &e).1, None, "{e}");
    }
    // The next occurrence counts again.
    let (out, restarts) = run(
        &mut f,
        &event("u-backoff", 705, "BackOff", 3, "2025-03-03T10:03:50Z"),
    );
    assert_eq!(restarts, Some([2.0, 3.0, 0.0, 0.0]));
    assert!(out.contains(r#""incident":"crash_loop""#), "{out}");
}

#[test]
fn events_without_a_version_count_every_time() {
    // Other sources (an event exporter) may leave out `metadata`: nothing
    // tells a copy from an occurrence then, and each counts as before.
    let mut f = filter();
    let bare = |at: &str| {
        event("x", 1, "BackOff", 1, at).replace(r#","uid":"x","resourceVersion":"1""#, "")
    };
    assert_eq!(
        run(&mut f, &bare("2025-03-03T10:01:00Z")).1,
        Some([0.0, 1.0, 0.0, 0.0])
    );
    assert_eq!(
        run(&mut f, &bare("2025-03-03T10:01:00Z")).1,
        Some([0.0, 2.0, 0.0, 0.0])
    );
}
