//! The closed loop end to end: the simulated cluster's telemetry through the
//! edge filter — the shipped `.wasm` in the Fluent Bit harness for the
//! every-kind scenario, the native core for the storm — anomalies
//! SigV4-signed to the real heal API (in process, enforce mode, SQLite store),
//! actions through kube-rs on the simulated cluster, and their effect back in
//! the simulation.
//!
//! The kinds the current default models detect well enough to close the loop
//! are checked end to end (detected, the intended action executed through the
//! API, the fault gone, the incident resolved in the store). Kinds they do not
//! yet detect in this set-up are listed in `NOT_YET_DETECTED`, and the test
//! fails if one of them starts being acted on with a wrong action — or if a
//! listed kind becomes detected, so the list is kept honest.

use std::time::Duration;

use edgeheal_chaos::closedloop::driver::{intended_incident, FaultOutcome, LoopReport, Step};
use edgeheal_chaos::closedloop::plan::{demo_schedule, PlannedFault};
use edgeheal_chaos::closedloop::report::fault_table;
use edgeheal_chaos::closedloop::{
    run, EdgeFilter, HealerSettings, LoopConfig, NativeFilter, WasmFilter,
};
use edgeheal_chaos::fault::{FaultKind, PodTarget, ALL_KINDS};
use edgeheal_chaos::generate::DEFAULT_START_NS;
use edgeheal_chaos::simcluster::SimClusterConfig;
use edgeheal_chaos::{FaultStatus, FleetName};

/// Kinds the embedded models do not detect in the demo schedule today (see
/// the report of the session that wrote this test for the observed scores).
const NOT_YET_DETECTED: &[FaultKind] = &[];

/// Kinds that are detected and acted on but do not reliably close end to end
/// with today's models, and why. For these the test checks detection, that the
/// healer acted or escalated (a terminal, recorded decision), and every safety
/// property below; not the intended action or the resolution.
const KNOWN_GAPS: &[(FaultKind, &str)] = &[];

/// Load faults that may open a second incident of their kind after the first
/// one resolved, and why. Every other check applies to them.
const MAY_REOPEN: &[(FaultKind, &str)] = &[(
    FaultKind::TrafficFlood,
    "a flood several times the load outgrows one scale step: the workload strains again later and a second incident scales it again",
)];

fn config(dir: &std::path::Path, faults: Vec<PlannedFault>, tail_s: u64) -> LoopConfig {
    LoopConfig {
        seed: 7,
        fleet: FleetName::A,
        cluster: SimClusterConfig::fleet_a_demo(),
        interval_s: 15,
        start_ns: DEFAULT_START_NS,
        warmup_s: 600,
        tail_s,
        faults,
        healer: HealerSettings::demo(&["shop", "ml", "payments", "data", "platform"]),
        tick_wall: Duration::from_millis(40),
        work_dir: dir.to_path_buf(),
    }
}

async fn run_loop(cfg: &LoopConfig, edge: &mut dyn EdgeFilter) -> LoopReport {
    let report = run(cfg, edge, &mut |_| {}).await.expect("loop runs");
    eprintln!("{}\n{}", report.filter, fault_table(&report));
    report
}

/// The API write the intended action makes.
fn action_request(report: &LoopReport, f: &FaultOutcome, action: &str) -> bool {
    report.mutations_of(&f.planned.workload).iter().any(|r| {
        r.status < 300
            && match action {
                "scale_up" => {
                    r.path.ends_with("/scale") || r.path.contains("/horizontalpodautoscalers/")
                }
                "rollout_restart" => {
                    r.method == "PATCH" && r.body.contains("kubectl.kubernetes.io/restartedAt")
                }
                "delete_pod" => {
                    r.method == "POST" && r.path.contains("/pods/") && r.path.ends_with("/eviction")
                }
                _ => false,
            }
    })
}

/// The Events the simulated API server created regarding `workload` (`namespace/name`), in
/// the order they were posted: (reason, action, eventTime).
fn events_on(report: &LoopReport, workload: &str) -> Vec<(String, String, String)> {
    let (ns, name) = workload.split_once('/').expect("namespace/name");
    report
        .api_requests
        .iter()
        .filter(|r| {
            r.method == "POST"
                && r.status == 201
                && r.path == format!("/apis/events.k8s.io/v1/namespaces/{ns}/events")
        })
        .filter_map(|r| serde_json::from_str::<serde_json::Value>(&r.body).ok())
        .filter(|e| e["regarding"]["name"] == name && e["regarding"]["namespace"] == ns)
        .map(|e| {
            let text = |key: &str| e[key].as_str().unwrap_or_default().to_owned();
            (text("reason"), text("action"), text("eventTime"))
        })
        .collect()
}

fn intended_action(kind: FaultKind) -> &'static str {
    match kind {
        FaultKind::CpuStress | FaultKind::TrafficFlood => "scale_up",
        FaultKind::CrashLoop => "delete_pod",
        FaultKind::MemoryLeak | FaultKind::ErrorBurst | FaultKind::LatencySpike => {
            "rollout_restart"
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_kind_through_the_loop_and_no_one_else_touched() {
    let dir = tempfile::tempdir().expect("temp dir");
    let schedule = demo_schedule();
    let kinds: Vec<FaultKind> = schedule.iter().map(|f| f.kind).collect();
    assert!(
        ALL_KINDS.iter().all(|k| kinds.contains(k)),
        "every kind is scheduled"
    );
    let mut edge = WasmFilter::shipped().expect("the .wasm filter loads");
    // 20 minutes after the last onset: the storefront's HPA floor comes back in them.
    let report = run_loop(&config(dir.path(), schedule, 1200), &mut edge).await;
    assert_eq!(report.filter_dropped, 0, "the filter never drops a record");
    assert!(
        report.filter.contains("edgeheal_plugin.wasm"),
        "{}",
        report.filter
    );

    for f in &report.faults {
        let what = format!("{} on {}", f.planned.kind.as_str(), f.planned.workload);
        assert!(f.onset_ns.is_some(), "{what}: injected");
        if f.planned.workload == "payments/ledger" {
            // Not opted in: detected, refused, escalated; never touched.
            assert!(f.first_tag.is_some(), "{what}: detected");
            let inc = f.incident().expect("incident opened");
            assert_eq!(inc.incident.state, "escalated", "{what}");
            assert!(inc.actions.is_empty(), "{what}: no action row");
            assert!(
                inc.decisions
                    .iter()
                    .any(|d| d.reason.starts_with("not_opted_in")),
                "{what}: refused for the missing label"
            );
            continue;
        }
        if NOT_YET_DETECTED.contains(&f.planned.kind) {
            assert!(
                f.first_tag.is_none(),
                "{what} is now detected: remove it from NOT_YET_DETECTED and check it end to end"
            );
            continue;
        }
        let detect = f.detect_s().unwrap_or_else(|| panic!("{what}: detected"));
        // A leak is gradual: it shows once memory has grown past its normal
        // sawtooth, minutes after the labelled onset. Everything else is abrupt.
        let bound = if f.planned.kind == FaultKind::MemoryLeak {
            900.0
        } else {
            300.0
        };
        assert!(detect <= bound, "{what}: detected after {detect} s");
        if KNOWN_GAPS.iter().any(|(k, _)| *k == f.planned.kind) {
            let handled = f.incidents.iter().any(|h| {
                h.actions.iter().any(|a| a.result == "ok")
                    || matches!(h.incident.state.as_str(), "resolved" | "escalated")
            });
            assert!(handled, "{what}: acted on or escalated");
            continue;
        }
        let action = intended_action(f.planned.kind);
        let acted = f.incidents.iter().any(|h| {
            h.incident.kind == intended_incident(f.planned.kind)
                && h.actions
                    .iter()
                    .any(|a| a.action == action && a.result == "ok")
        });
        assert!(
            acted,
            "{what}: {action} executed for a {} incident",
            intended_incident(f.planned.kind)
        );
        assert!(
            action_request(&report, f, action),
            "{what}: {action} reached the API server"
        );
        // Its Events, posted in the background, reached the API server in order, each
        // stamped when the engine recorded it.
        let events = events_on(&report, &f.planned.workload);
        let remediating = events
            .iter()
            .position(|e| e.0 == "Remediating" && e.1 == action)
            .unwrap_or_else(|| panic!("{what}: a Remediating Event: {events:?}"));
        let remediated = events[remediating..]
            .iter()
            .find(|e| e.0 == "Remediated" && e.1 == action)
            .unwrap_or_else(|| panic!("{what}: a Remediated Event after it: {events:?}"));
        assert!(events[remediating].2 <= remediated.2, "{what}: {events:?}");
        if f.planned.kind.cleared_by_restart() {
            assert_eq!(
                f.status,
                FaultStatus::Cleared,
                "{what}: the pods carrying it were replaced"
            );
        }
        let resolved_intended = f.incidents.iter().any(|h| {
            h.incident.kind == intended_incident(f.planned.kind) && h.incident.state == "resolved"
        });
        assert!(resolved_intended, "{what}: incident resolved in the store");
        // Load faults are mitigated, not removed: after the resolution no anomaly
        // of the workload reopened an incident of that kind.
        let reopened = f
            .incidents
            .iter()
            .filter(|h| h.incident.kind == intended_incident(f.planned.kind))
            .skip_while(|h| h.incident.state != "resolved")
            .count();
        let may_reopen = MAY_REOPEN.iter().any(|(k, _)| *k == f.planned.kind);
        assert!(
            reopened <= 1 || may_reopen,
            "{what}: no recurrence after the resolution"
        );
    }
    // The flood's scale-ups raised the storefront HPA's minimum; once the workload had had no
    // open incident and no absorbed anomaly for the hold (300 s in the demo settings; its error
    // burst's incident closes at +28:30, so the floor comes back at +33:30 of the run's 38
    // minutes), the heal API gave the minimum back with a JSON patch whose test is the value it
    // set, and the simulated API server applied it.
    let flood = report
        .faults
        .iter()
        .find(|f| f.planned.kind == FaultKind::TrafficFlood)
        .expect("a flood is scheduled");
    let raise = flood
        .incidents
        .iter()
        .flat_map(|h| &h.hpa_raises)
        .find(|r| r.state == "restored")
        .unwrap_or_else(|| panic!("a restored HPA raise: {:?}", flood.incidents));
    assert!(raise.raised_to > raise.observed_min, "{raise:?}");
    let restore_body = serde_json::json!([
        {"op": "test", "path": "/spec/minReplicas", "value": raise.raised_to},
        {"op": "replace", "path": "/spec/minReplicas", "value": raise.restore_to},
    ]);
    let restored = report
        .mutations_of(&flood.planned.workload)
        .into_iter()
        .any(|r| {
            r.method == "PATCH"
                && r.status == 200
                && r.path.contains("/horizontalpodautoscalers/")
                && r.content_type.as_deref() == Some("application/json-patch+json")
                && serde_json::from_str::<serde_json::Value>(&r.body).ok()
                    == Some(restore_body.clone())
        });
    assert!(
        restored,
        "the restore reached the API server: {restore_body}"
    );
    assert!(
        report
            .timeline
            .iter()
            .any(|e| e.step == Step::FloorRestored && e.entity == flood.planned.workload),
        "the restore is on the timeline"
    );
    // Fault-free workloads (and the warm-up) see no action.
    for quiet in ["data/orders-db", "platform/node-agent", "payments/ledger"] {
        let touched = report.mutations_of(quiet);
        assert!(touched.is_empty(), "{quiet} touched: {touched:?}");
    }
    for h in &report.unattributed {
        assert!(
            h.actions.iter().all(|a| a.result != "ok"),
            "action on a workload no fault hit: {h:?}"
        );
    }
    assert!(
        report
            .incidents
            .iter()
            .all(|h| h.incident.opened_at.as_nanosecond() >= i128::from(report.t0_ns)),
        "no incident during the fault-free warm-up"
    );
    assert!(report.max_actions_in_budget_window() <= report.budget.0 as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_50_simultaneous_faults_stays_within_the_budget() {
    let dir = tempfile::tempdir().expect("temp dir");
    let targets = [
        "shop/cart",
        "shop/storefront",
        "ml/recommender",
        "payments/ledger",
        "data/orders-db",
    ];
    let faults: Vec<PlannedFault> = (0..50)
        .map(|i| {
            let kind = ALL_KINDS[i % ALL_KINDS.len()];
            let mut f = PlannedFault::new(kind, targets[i % targets.len()], 0, 600);
            if let PodTarget::Index(_) = f.pod {
                f.pod = PodTarget::Index(i / ALL_KINDS.len());
            }
            f.intensity = 0.5;
            f
        })
        .collect();
    let mut cfg = config(dir.path(), faults, 480);
    cfg.healer.budget_max_actions = 4;
    cfg.healer.cooldown_secs = 60;
    let mut edge = NativeFilter::embedded().expect("embedded models");
    let report = run_loop(&cfg, &mut edge).await;
    assert!(report.incidents.len() >= 3, "the storm opens incidents");
    let most = report.max_actions_in_budget_window();
    assert!(most <= 4, "{most} actions in one budget window");
    assert!(
        report
            .incidents
            .iter()
            .flat_map(|h| h.decisions.iter())
            .any(|d| d.reason.starts_with("budget_exhausted")),
        "the budget refused the rest"
    );
    assert!(
        report.mutations_of("payments/ledger").is_empty(),
        "not opted in, never touched"
    );
}

/// The same seed gives the same timeline and the same heal API decisions at the same simulated
/// times, at the test's pace and with no pacing at all: the heal API's engine runs once after
/// every simulated interval, not on a wall-clock timer, so a loaded machine changes nothing
/// (before, verification on a one-second wall timer resolved incidents minutes of simulated
/// time late when the loop ran fast, and the closed-loop test's HPA restore fell out of its
/// run on a busy machine).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_gives_the_same_timeline_at_any_pace() {
    let faults: Vec<PlannedFault> = demo_schedule().into_iter().take(3).collect();
    let mut runs = Vec::new();
    for tick_wall in [Duration::from_millis(40), Duration::ZERO] {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut edge = NativeFilter::embedded().expect("embedded models");
        let mut cfg = config(dir.path(), faults.clone(), 480);
        cfg.tick_wall = tick_wall;
        let report = run_loop(&cfg, &mut edge).await;
        let timeline: Vec<_> = report
            .timeline
            .iter()
            .map(|e| (e.t_ns, e.step, e.fault, e.entity.clone(), e.text.clone()))
            .collect();
        let decisions: Vec<_> = report
            .incidents
            .iter()
            .map(|h| {
                let steps: Vec<_> = h
                    .decisions
                    .iter()
                    .map(|d| (d.at, d.outcome.clone(), d.reason.clone()))
                    .collect();
                (h.incident.id, h.incident.state.clone(), steps)
            })
            .collect();
        runs.push((timeline, decisions, fault_table(&report)));
    }
    assert!(
        runs[0].0.iter().any(|e| e.1 == Step::Action),
        "the runs act at all"
    );
    assert!(
        runs[0].0.iter().any(|e| e.1 == Step::Resolved),
        "the runs resolve an incident (a deadline the engine checks)"
    );
    assert_eq!(runs[0], runs[1], "two runs of seed 7 differ");
}
