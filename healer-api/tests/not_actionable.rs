//! Records about no workload — node-level records (`entity: "_/<node>"`) and records with a
//! null entity — are authenticated and well-formed: a batch that mixes them with workload
//! records is accepted whole, they are stored and counted as not actionable, and they never
//! open an incident. A malformed record still rejects its batch with nothing stored.

mod common;

use common::*;
use edgeheal_healer::store;
use http::StatusCode;

fn null_entity(incident: &str) -> serde_json::Value {
    let mut r = record("shop/cart", incident, None);
    r["edgeheal"]["entity"] = serde_json::Value::Null;
    r
}

/// The incidents in `env`'s store.
async fn incidents(env: &Env) -> Vec<store::IncidentRow> {
    env.state
        .store
        .read(|c| {
            store::list_incidents(
                c,
                &store::IncidentFilter {
                    limit: 100,
                    ..Default::default()
                },
            )
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn a_mixed_batch_is_accepted_and_only_workload_records_open_incidents() {
    let env = env("engine: { debounce_count: 3, debounce_window_secs: 60 }");
    let t = now(&env.clock);
    for i in 0..3 {
        // Three batches of records of their own (each its log line), as a pipeline's records
        // carry their own times: the same body again would be a redelivery, stored once.
        let mut mixed = [
            record("shop/cart", "cpu_saturation", Some("cart-1")),
            record("_/ip-10-0-1-5.ec2.internal", "cpu_saturation", None),
            null_entity("error_burst"),
            record("_/node-2", "memory_leak", None),
        ];
        for r in &mut mixed {
            r["log"] = format!("something bad, batch {i}").into();
        }
        let req = sign_header(
            "POST",
            "/v1/anomalies",
            VEC_KEY_ID,
            VEC_SECRET,
            t - i,
            &body_of(&mixed),
        );
        let (status, body, _) = send(&env.state, req).await;
        assert_eq!(status, StatusCode::ACCEPTED, "batch {i}: {body}");
        assert_eq!(body["records"], 4, "batch {i}: {body}");
        assert_eq!(body["not_actionable"], 3, "batch {i}: {body}");
        assert_eq!(stored(&env.state).await, (i + 1, 4 * (i + 1)), "batch {i}");
    }
    let text = env.state.metrics.render();
    for (scope, n) in [("cluster_scoped", 6.0), ("unscoped", 3.0)] {
        let line =
            format!("edgeheal_healer_ingest_not_actionable_records_total{{scope=\"{scope}\"}}");
        assert_eq!(metric(&text, &line), n, "{scope}\n{text}");
    }
    assert_eq!(
        metric(&text, "edgeheal_healer_ingest_records_total"),
        12.0,
        "every record is stored"
    );

    // The engine debounces the workload's three records into one incident and ignores
    // the rest, however many of them arrive.
    let mut engine = env.shadow_engine().await;
    engine.process_pending().await.unwrap();
    let incidents = incidents(&env).await;
    let opened: Vec<(&str, &str)> = incidents
        .iter()
        .map(|i| (i.entity.as_str(), i.kind.as_str()))
        .collect();
    assert_eq!(opened, vec![("shop/cart", "cpu_saturation")]);
}

/// A record about a Node is no workload's whatever namespace it names: the Event objects
/// about a Node live in `default`, and today's edge names their entity `default/<node>` with
/// `workload_kind: node` (a node-problem-detector `OOMKilling`, the kubelet's
/// `NodeNotReady`). Such records are stored and counted cluster-scoped, and open no incident.
/// Before, three of them opened one on "workload" `default/ip-10-0-1-5`, which the guards then
/// refused and handed to a human: a page for every node OOM kill.
#[tokio::test]
async fn a_nodes_records_open_no_incident_whatever_namespace_they_name() {
    let env = env("engine: { debounce_count: 3, debounce_window_secs: 60 }");
    let t = now(&env.clock);
    for i in 0..3 {
        let mut node = record("default/ip-10-0-1-5", "memory_leak", None);
        node["edgeheal"]["workload_kind"] = "node".into();
        node["log"] = format!("oom kill {i}").into();
        let req = sign_header(
            "POST",
            "/v1/anomalies",
            VEC_KEY_ID,
            VEC_SECRET,
            t - i,
            &body_of(&[node]),
        );
        let (status, body, _) = send(&env.state, req).await;
        assert_eq!(status, StatusCode::ACCEPTED, "batch {i}: {body}");
        assert_eq!(body["not_actionable"], 1, "batch {i}: {body}");
    }
    let text = env.state.metrics.render();
    let line = r#"edgeheal_healer_ingest_not_actionable_records_total{scope="cluster_scoped"}"#;
    assert_eq!(metric(&text, line), 3.0, "{text}");
    let mut engine = env.shadow_engine().await;
    engine.process_pending().await.unwrap();
    let incidents = incidents(&env).await;
    assert!(incidents.is_empty(), "{incidents:?}");
}

#[tokio::test]
async fn a_malformed_record_still_rejects_its_batch_and_nothing_is_stored() {
    let env = env("");
    let t = now(&env.clock);
    let mut wrong_type = record("_/node-1", "cpu_saturation", None);
    wrong_type["edgeheal"]["anomaly"] = serde_json::json!("yes");
    let cases = [
        (
            "no edgeheal object",
            serde_json::json!({"log": "x"}),
            "record 2",
        ),
        ("wrong types", wrong_type, "record 2"),
        (
            "entity that is neither a workload nor `_/<node>`",
            record("_/Node_1", "cpu_saturation", None),
            "record 2",
        ),
    ];
    for (i, (name, bad, want)) in cases.into_iter().enumerate() {
        let batch = [
            record("shop/cart", "cpu_saturation", None),
            record("_/node-1", "cpu_saturation", None),
            bad,
        ];
        let req = sign_header(
            "POST",
            "/v1/anomalies",
            VEC_KEY_ID,
            VEC_SECRET,
            t - i as i64,
            &body_of(&batch),
        );
        let (status, body, _) = send(&env.state, req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {body}");
        assert!(
            body["message"].as_str().unwrap_or("").contains(want),
            "{name}: {body}"
        );
        assert_eq!(stored(&env.state).await, (0, 0), "{name}");
    }
    assert!(!env
        .state
        .metrics
        .render()
        .contains("ingest_not_actionable_records_total{"));
}
