//! A batch a sender delivers again, signed anew, is stored and counted once.
//!
//! Both senders sign every attempt: Fluent Bit 4.2.8's `http` output calls `flb_signv4_do` with
//! `time(NULL)` in `http_request`, which each retry of a chunk runs again
//! (plugins/out_http/http.c), and Vector's `http` sink signs in `HttpBatchService::call`
//! (`sign_request`, `SystemTime::now()`), which its retry layer calls again
//! (src/sinks/util/http.rs). So a retry of a batch whose answer was lost (the connection reset
//! as the heal API stopped after the commit, the sender's timeout) comes with a new signature
//! and the same body. Before, it was stored as a new batch and the engine counted its records
//! again. Now it is answered 200 (a success to both: Fluent Bit takes 200 to 205, Vector any
//! 2xx) naming the batch that holds the body, stores nothing and does not wake the engine.

mod common;

use std::io::Write;

use common::*;
use edgeheal_healer::engine::Engine;
use edgeheal_healer::store;
use http::StatusCode;

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// The incidents `engine` has opened once it weighed what is stored, as `(entity, kind,
/// records)`.
async fn incidents_weighed(env: &Env, engine: &mut Engine) -> Vec<(String, String, i64)> {
    engine.process_pending().await.unwrap();
    let filter = store::IncidentFilter {
        limit: 100,
        ..Default::default()
    };
    env.state
        .store
        .read(move |c| store::list_incidents(c, &filter))
        .await
        .unwrap()
        .into_iter()
        .map(|i| (i.entity, i.kind, i.record_count))
        .collect()
}

/// Fluent Bit's gzipped chunk of two anomalies about `shop/cart` (one fewer than the debounce
/// count), its retry and Vector's plain copy of the same records are one batch: one 202, then
/// 200s naming it. Nothing more is stored or counted, the engine is not woken, and it opens no
/// incident from two records; a third record, new, opens one of three.
#[tokio::test]
async fn a_batch_delivered_twice_is_stored_and_counted_once() {
    let env = env("engine: { debounce_count: 3, debounce_window_secs: 60 }");
    let t = now(&env.clock);
    let json = body_of(&[
        record("shop/cart", "cpu_saturation", Some("cart-1")),
        record("shop/cart", "cpu_saturation", Some("cart-2")),
    ]);
    let gz = gzip(&json);
    let fluent_bit = |at: i64| {
        sign_fluent_bit(
            FB_KEY_ID,
            FB_SECRET,
            at,
            &gz,
            &[
                ("Content-Type", "application/json"),
                ("Content-Encoding", "gzip"),
            ],
        )
    };
    let before = env.state.metrics.render();
    let (status, first, _) = send(&env.state, fluent_bit(t)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    let batch_id = first["batch_id"].as_i64().unwrap();
    assert!(env.engine_woken(), "a new batch wakes the engine");

    // Its answer lost, Fluent Bit sends the chunk again 5 s later, signed anew.
    env.clock.advance_secs(5);
    let (status, again, _) = send(&env.state, fluent_bit(t + 5)).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        again,
        serde_json::json!({"batch_id": batch_id, "records": 2, "not_actionable": 0, "redelivered": true})
    );
    // The same records sent plain are the same body once decoded.
    let vector = sign_vector(VEC_KEY_ID, VEC_SECRET, t + 5, &json, &[]);
    let (status, plain, _) = send(&env.state, vector).await;
    assert_eq!(status, StatusCode::OK, "{plain}");
    assert_eq!(plain["batch_id"], batch_id);
    assert_eq!(stored(&env.state).await, (1, 2));
    assert!(!env.engine_woken(), "a redelivery does not wake the engine");
    // The retry's own signature is remembered as any accepted one: the same request again is
    // a replay, answered as the batch too.
    let (status, replayed, _) = send(&env.state, fluent_bit(t + 5)).await;
    assert_eq!(status, StatusCode::OK, "{replayed}");
    assert_eq!(replayed["batch_id"], batch_id);
    assert_eq!(stored(&env.state).await, (1, 2));
    assert!(!env.engine_woken(), "a replay does not wake the engine");

    let after = env.state.metrics.render();
    assert_increases(
        &before,
        &after,
        &[
            (
                r#"edgeheal_healer_ingest_requests_total{result="accepted"}"#,
                1.0,
            ),
            (
                r#"edgeheal_healer_ingest_requests_total{result="redelivered"}"#,
                2.0,
            ),
            ("edgeheal_healer_ingest_records_total", 2.0),
            (
                r#"edgeheal_healer_ingest_requests_total{result="replayed"}"#,
                1.0,
            ),
            (
                r#"edgeheal_healer_auth_failures_total{reason="replayed"}"#,
                0.0,
            ),
        ],
    );
    let mut engine = env.shadow_engine().await;
    assert!(
        incidents_weighed(&env, &mut engine).await.is_empty(),
        "two records are below the debounce count"
    );

    // A record of its own is counted: three records, one incident.
    let new = body_of(&[record("shop/cart", "cpu_saturation", Some("cart-3"))]);
    let vector = sign_vector(VEC_KEY_ID, VEC_SECRET, t + 6, &new, &[]);
    let (status, third, _) = send(&env.state, vector).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{third}");
    assert_ne!(third["batch_id"], batch_id);
    assert_eq!(
        incidents_weighed(&env, &mut engine).await,
        [("shop/cart".into(), "cpu_saturation".into(), 3)]
    );
}

/// The delivery whose answer was lost to a shutdown comes back to the next process, whose
/// replay cache is new: the store knows the body. The first request itself, sent again, is
/// still a replay (its signature is stored), answered as its batch.
#[tokio::test]
async fn a_redelivery_to_the_restarted_heal_api_is_recognized() {
    let env = env("");
    let t = now(&env.clock);
    let body = body_of(&[record("shop/cart", "crash_loop", Some("cart-1"))]);
    let (status, first, _) = send(
        &env.state,
        sign_vector(VEC_KEY_ID, VEC_SECRET, t, &body, &[]),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    let Env { dir, state, .. } = env;
    drop(state);
    let yaml = config_yaml(dir.path(), "");
    let env = env_from_yaml(dir, &yaml);
    let (status, again, _) = send(
        &env.state,
        sign_vector(VEC_KEY_ID, VEC_SECRET, t + 10, &body, &[]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["batch_id"], first["batch_id"]);
    let (status, replayed, _) = send(
        &env.state,
        sign_vector(VEC_KEY_ID, VEC_SECRET, t, &body, &[]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{replayed}");
    assert_eq!(replayed["batch_id"], first["batch_id"]);
    assert_eq!(stored(&env.state).await, (1, 1));
}

/// A retry sent while the first delivery still waits for its commit (the sender's timeout
/// shorter than the commit): both are in flight at once, one is stored and the other named its
/// redelivery.
#[tokio::test]
async fn two_deliveries_of_one_batch_at_once_store_it_once() {
    let env = env("");
    let t = now(&env.clock);
    let body = body_of(&[record("shop/cart", "crash_loop", Some("cart-1"))]);
    let (a, b) = tokio::join!(
        send(
            &env.state,
            sign_vector(VEC_KEY_ID, VEC_SECRET, t, &body, &[])
        ),
        send(
            &env.state,
            sign_vector(VEC_KEY_ID, VEC_SECRET, t + 1, &body, &[])
        ),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::ACCEPTED],
        "{} / {}",
        a.1,
        b.1
    );
    assert_eq!(a.1["batch_id"], b.1["batch_id"]);
    assert_eq!(stored(&env.state).await, (1, 1));
}
