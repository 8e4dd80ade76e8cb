//! What a request may hold while it is read: an unauthenticated one is refused on its headers
//! before its body is read and holds nothing; a body too slow is answered 408 and frees what it
//! held; bodies in flight share one memory budget (429 when it is taken, 413 for one that alone
//! needs more); a read takes no body. Through the router, as the tests of `auth_matrix` do;
//! `client.rs` does the same over a socket with the real server.

mod common;

use std::time::Duration;

use axum::body::{Body, Bytes};
use common::*;
use futures::StreamExt;
use http::StatusCode;

/// A body that sends `first` and then nothing, never ending: a stalled client.
fn stalled(first: &'static [u8]) -> Body {
    let first = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(first))]);
    Body::from_stream(first.chain(futures::stream::pending()))
}

fn with_body(req: http::Request<Body>, body: Body) -> http::Request<Body> {
    let (parts, _) = req.into_parts();
    http::Request::from_parts(parts, body)
}

/// Every way the headers alone show a request is not authentic is answered 401 at once, its
/// body never read (it never ends here), and it holds no commit slot nor any of the bodies'
/// memory.
#[tokio::test]
async fn unauthenticated_batches_are_refused_before_their_body_is_read() {
    let env = env("");
    let t = now(&env.clock);
    let body = body_of(&[record("shop/cart", "crash_loop", Some("cart-1"))]);
    let post = || {
        http::Request::builder()
            .method("POST")
            .uri("/v1/anomalies")
            .header("content-type", "application/json")
            .header("content-length", "4000")
    };
    let cases: Vec<(&str, http::Request<Body>, &str)> = vec![
        ("missing", post().body(Body::empty()).unwrap(), "missing"),
        (
            "malformed",
            post()
                .header("authorization", "AWS4-HMAC-SHA256 Credential=garbage")
                .body(Body::empty())
                .unwrap(),
            "malformed",
        ),
        (
            "unknown key (header)",
            sign_header("POST", "/v1/anomalies", "intruder", VEC_SECRET, t, &body),
            "unknown_key",
        ),
        (
            "unknown key (sigv4)",
            sign_vector("intruder", VEC_SECRET, t, &body, &[]),
            "unknown_key",
        ),
        (
            "expired",
            sign_header(
                "POST",
                "/v1/anomalies",
                VEC_KEY_ID,
                VEC_SECRET,
                t - 301,
                &body,
            ),
            "expired",
        ),
        (
            "future",
            sign_fluent_bit(FB_KEY_ID, FB_SECRET, t + 301, &body, &[]),
            "future",
        ),
        (
            "content-encoding not signed",
            {
                let mut r = sign_vector(VEC_KEY_ID, VEC_SECRET, t, &body, &[]);
                r.headers_mut()
                    .insert("content-encoding", "gzip".parse().unwrap());
                r
            },
            "unsigned_header",
        ),
    ];
    for (name, req, reason) in cases {
        let before = env.state.metrics.render();
        let req = with_body(req, stalled(b"["));
        let (status, json, _) = tokio::time::timeout(Duration::from_secs(5), send(&env.state, req))
            .await
            .unwrap_or_else(|_| panic!("{name}: the body was waited for"));
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {json}");
        let after = env.state.metrics.render();
        let line = format!("edgeheal_healer_auth_failures_total{{reason=\"{reason}\"}}");
        assert_eq!(
            metric(&after, &line) - metric(&before, &line),
            1.0,
            "{name}"
        );
        assert_eq!(
            env.state.body_budget.available(),
            env.state.body_budget.capacity(),
            "{name}"
        );
    }
    assert_eq!(stored(&env.state).await, (0, 0));
}

/// A batch that looks authentic by its headers and then stalls is answered 408 once
/// `server.body_read_timeout_secs` have passed, with `Connection: close`, and meanwhile holds
/// no commit slot: with a queue of one, a real batch is accepted beside it.
#[tokio::test]
async fn a_stalled_body_holds_no_commit_slot_and_is_answered_408() {
    // A queue of one commit slot.
    let dir = tempfile::tempdir().unwrap();
    write_keys(dir.path());
    let yaml = config_yaml(dir.path(), "server: { body_read_timeout_secs: 1 }").replacen(
        "store: {",
        "store: { queue_capacity: 1,",
        1,
    );
    let env = env_from_yaml(dir, &yaml);
    let t = now(&env.clock);
    let real = body_of(&[record("shop/cart", "crash_loop", Some("cart-1"))]);
    let stalled_req = with_body(
        sign_header(
            "POST",
            "/v1/anomalies",
            FB_KEY_ID,
            FB_SECRET,
            t,
            b"[{\"never\": 1}]",
        ),
        stalled(b"[{"),
    );
    let state = env.state.clone();
    let started = std::time::Instant::now();
    let pending = tokio::spawn(async move { send(&state, stalled_req).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!pending.is_finished());
    assert_eq!(env.state.ingest_slots.available_permits(), 1);
    let (status, json, _) = send(
        &env.state,
        sign_header("POST", "/v1/anomalies", VEC_KEY_ID, VEC_SECRET, t, &real),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "beside the stalled one: {json}"
    );
    let before = env.state.metrics.render();
    let (status, json, headers) = tokio::time::timeout(Duration::from_secs(10), pending)
        .await
        .expect("the stalled body was waited for")
        .unwrap();
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "{json}");
    assert_eq!(json["error"], "timeout");
    assert_eq!(headers.get("connection").unwrap(), "close");
    let waited = started.elapsed();
    assert!(
        (Duration::from_secs(1)..Duration::from_secs(4)).contains(&waited),
        "{waited:?}"
    );
    let after = env.state.metrics.render();
    let line = "edgeheal_healer_ingest_requests_total{result=\"timeout\"}";
    assert_eq!(metric(&after, line) - metric(&before, line), 1.0, "{after}");
    assert_eq!(
        env.state.body_budget.available(),
        env.state.body_budget.capacity()
    );
    assert_eq!(stored(&env.state).await, (1, 1));
}

/// Bodies in flight share `ingest.max_inflight_bytes`: a batch that finds it taken is answered
/// 429 with `Retry-After` and may be sent again as it was; one that alone needs more than all
/// of it (its body, decompressed, and its records) gets 413. Nothing is stored either way, and
/// every request gives back what it held.
#[tokio::test]
async fn bodies_in_flight_share_one_memory_budget() {
    let env = env(
        "ingest: { max_body_bytes: 8192, max_decompressed_bytes: 32768, max_inflight_bytes: 65536 }",
    );
    let t = now(&env.clock);
    let budget = &env.state.body_budget;
    let body = body_of(&[record("shop/cart", "crash_loop", Some("cart-1"))]);
    let request = || sign_header("POST", "/v1/anomalies", VEC_KEY_ID, VEC_SECRET, t, &body);
    // Other requests hold all but 100 bytes.
    let mut others = budget.hold();
    others.try_grow(budget.capacity() - 100).unwrap();
    let before = env.state.metrics.render();
    let (status, json, headers) = send(&env.state, request()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{json}");
    assert_eq!(json["error"], "overloaded");
    assert!(
        json["message"].as_str().unwrap().contains("memory"),
        "{json}"
    );
    assert_eq!(headers.get("retry-after").unwrap(), "1");
    let after = env.state.metrics.render();
    let line = "edgeheal_healer_ingest_requests_total{result=\"overloaded\"}";
    assert_eq!(metric(&after, line) - metric(&before, line), 1.0);
    assert_eq!(
        budget.available(),
        100,
        "the refused request gave back what it held"
    );
    drop(others);
    let (status, json, _) = send(&env.state, request()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "sent again: {json}");
    assert_eq!(budget.available(), budget.capacity());

    // Under max_decompressed_bytes, but the records decoded beside it pass the whole budget.
    let records: Vec<_> = (0..11)
        .map(|i| {
            let mut r = record("shop/cart", "crash_loop", Some("cart-1"));
            r["log"] = format!("{i} {}", "x".repeat(2400)).into();
            r
        })
        .collect();
    let json_body = body_of(&records);
    assert!(
        (28_000..32_768).contains(&json_body.len()),
        "{}",
        json_body.len()
    );
    let gz = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&json_body).unwrap();
        e.finish().unwrap()
    };
    let big = sign_vector(
        VEC_KEY_ID,
        VEC_SECRET,
        t,
        &gz,
        &[("content-encoding", "gzip")],
    );
    let (status, json, _) = send(&env.state, big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{json}");
    assert_eq!(budget.available(), budget.capacity());
    assert_eq!(stored(&env.state).await, (1, 1));
}

/// GET and HEAD take no body: one that declares a body, by `Content-Length` or chunked, is
/// refused with 400 (no size would do) before anything reads it, on every route.
#[tokio::test]
async fn reads_take_no_body() {
    let env = env("");
    let t = now(&env.clock);
    let signed_get = |path: &str| sign_header("GET", path, VEC_KEY_ID, VEC_SECRET, t, b"");
    let cases: Vec<(&str, http::Request<Body>)> = vec![
        (
            "signed read with a body",
            with_body(signed_get("/v1/incidents"), Body::from(vec![b'a'; 1 << 20])),
        ),
        (
            "unsigned read with a body",
            http::Request::get("/v1/incidents/1")
                .body(Body::from("x"))
                .unwrap(),
        ),
        (
            "a chunked body that never ends",
            with_body(signed_get("/v1/incidents"), stalled(b"a")),
        ),
        (
            "health with a body",
            http::Request::get("/healthz")
                .body(Body::from("x"))
                .unwrap(),
        ),
        (
            "HEAD with a body",
            http::Request::head("/metrics")
                .body(Body::from("x"))
                .unwrap(),
        ),
    ];
    for (name, req) in cases {
        let (status, json, _) = tokio::time::timeout(Duration::from_secs(5), send(&env.state, req))
            .await
            .unwrap_or_else(|_| panic!("{name}: the body was waited for"));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {json}");
        // A HEAD is answered without a body.
        if !name.starts_with("HEAD") {
            assert!(
                json["message"].as_str().unwrap().contains("takes no body"),
                "{name}: {json}"
            );
        }
    }
    // Without one, as before.
    let (status, json, _) = send(&env.state, signed_get("/v1/incidents")).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let health = http::Request::get("/healthz").body(Body::empty()).unwrap();
    assert_eq!(send(&env.state, health).await.0, StatusCode::OK);
}
