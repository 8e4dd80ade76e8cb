//! The authentication matrix: every way a request can be unauthenticated is rejected with 401,
//! a reason in the metrics (never in the body) and nothing stored; valid SigV4 as Fluent Bit and
//! Vector build it, and valid header signatures, are accepted. The same signed request as a
//! stored batch is answered as that batch (200) and stores nothing.

mod common;

use std::io::Write;

use axum::body::Body;
use common::*;
use http::StatusCode;

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn with_header(
    mut req: http::Request<Body>,
    name: &'static str,
    value: &str,
) -> http::Request<Body> {
    req.headers_mut().append(name, value.parse().unwrap());
    req
}

async fn tamper_body(req: http::Request<Body>, new_body: &[u8]) -> http::Request<Body> {
    let (parts, _) = req.into_parts();
    http::Request::from_parts(parts, Body::from(new_body.to_vec()))
}

#[tokio::test]
async fn every_invalid_request_is_rejected_without_side_effects() {
    let env = env("");
    let t = now(&env.clock);
    let body = body_of(&[record("shop/cart", "error_burst", Some("cart-1"))]);
    let other = body_of(&[record("shop/cart", "crash_loop", Some("cart-1"))]);

    // Two valid requests stored, which no refusal below may change.
    let fb = sign_fluent_bit(
        FB_KEY_ID,
        FB_SECRET,
        t,
        &body,
        &[("Content-Type", "application/json")],
    );
    assert_eq!(send(&env.state, fb).await.0, StatusCode::ACCEPTED);
    let hmac = sign_header(
        "POST",
        "/v1/anomalies",
        VEC_KEY_ID,
        VEC_SECRET,
        t - 1,
        &other,
    );
    assert_eq!(send(&env.state, hmac).await.0, StatusCode::ACCEPTED);
    let baseline = stored(&env.state).await;
    assert_eq!(baseline, (2, 2));

    let unsigned = http::Request::builder()
        .method("POST")
        .uri("/v1/anomalies")
        .header("content-type", "application/json")
        .body(Body::from(body.clone()))
        .unwrap();
    let cases: Vec<(&str, http::Request<Body>, &str)> = vec![
        ("missing", unsigned, "missing"),
        (
            "malformed sigv4",
            with_header(
                http::Request::builder()
                    .method("POST")
                    .uri("/v1/anomalies")
                    .body(Body::from(body.clone()))
                    .unwrap(),
                "authorization",
                "AWS4-HMAC-SHA256 Credential=garbage",
            ),
            "malformed",
        ),
        (
            "malformed header signature",
            with_header(
                with_header(
                    http::Request::builder()
                        .method("POST")
                        .uri("/v1/anomalies")
                        .body(Body::from(body.clone()))
                        .unwrap(),
                    "x-edgeheal-key-id",
                    VEC_KEY_ID,
                ),
                "x-edgeheal-signature",
                "t=soon,v1=abc",
            ),
            "malformed",
        ),
        (
            "wrong key (sigv4)",
            sign_vector(VEC_KEY_ID, "not-the-secret-0123456789", t, &body, &[]),
            "bad_signature",
        ),
        (
            "wrong key (header)",
            sign_header(
                "POST",
                "/v1/anomalies",
                VEC_KEY_ID,
                "not-the-secret-0123456789",
                t,
                &body,
            ),
            "bad_signature",
        ),
        (
            "unknown key id (sigv4)",
            sign_vector("intruder", VEC_SECRET, t, &body, &[]),
            "unknown_key",
        ),
        (
            "unknown key id (header)",
            sign_header("POST", "/v1/anomalies", "intruder", VEC_SECRET, t, &body),
            "unknown_key",
        ),
        (
            "tampered body (sigv4)",
            tamper_body(
                sign_fluent_bit(
                    FB_KEY_ID,
                    FB_SECRET,
                    t,
                    &body,
                    &[("Content-Type", "application/json")],
                ),
                &other,
            )
            .await,
            "bad_signature",
        ),
        (
            "tampered body (header)",
            tamper_body(
                sign_header("POST", "/v1/anomalies", VEC_KEY_ID, VEC_SECRET, t, &body),
                &other,
            )
            .await,
            "bad_signature",
        ),
        (
            "expired (sigv4)",
            sign_vector(VEC_KEY_ID, VEC_SECRET, t - 301, &body, &[]),
            "expired",
        ),
        (
            "expired (header)",
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
            "from the future (sigv4)",
            sign_fluent_bit(FB_KEY_ID, FB_SECRET, t + 301, &body, &[]),
            "future",
        ),
        (
            "from the future (header)",
            sign_header(
                "POST",
                "/v1/anomalies",
                VEC_KEY_ID,
                VEC_SECRET,
                t + 301,
                &body,
            ),
            "future",
        ),
        (
            "duplicate authorization header",
            with_header(
                sign_vector(VEC_KEY_ID, VEC_SECRET, t, &body, &[]),
                "authorization",
                "AWS4-HMAC-SHA256 x",
            ),
            "duplicate_header",
        ),
        (
            "duplicate x-amz-date",
            with_header(
                sign_vector(VEC_KEY_ID, VEC_SECRET, t, &body, &[]),
                "x-amz-date",
                "20261121T100000Z",
            ),
            "duplicate_header",
        ),
        (
            "duplicate signature header",
            with_header(
                sign_header("POST", "/v1/anomalies", VEC_KEY_ID, VEC_SECRET, t, &body),
                "x-edgeheal-signature",
                "t=1,v1=00",
            ),
            "duplicate_header",
        ),
        (
            "both schemes at once",
            with_header(
                sign_vector(VEC_KEY_ID, VEC_SECRET, t, &body, &[]),
                "x-edgeheal-signature",
                "t=1,v1=00",
            ),
            "duplicate_header",
        ),
        (
            "content-encoding added after signing",
            with_header(
                sign_vector(VEC_KEY_ID, VEC_SECRET, t, &body, &[]),
                "content-encoding",
                "gzip",
            ),
            "unsigned_header",
        ),
        (
            "signed header altered",
            {
                let mut r = sign_fluent_bit(
                    FB_KEY_ID,
                    FB_SECRET,
                    t,
                    &body,
                    &[("Content-Type", "application/json")],
                );
                r.headers_mut()
                    .insert("content-type", "application/msgpack".parse().unwrap());
                r
            },
            "bad_signature",
        ),
    ];

    for (name, req, reason) in cases {
        let before = env.state.metrics.render();
        let (status, json, _) = send(&env.state, req).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {json}");
        assert_eq!(json["error"], "unauthorized", "{name}");
        assert!(
            !json.to_string().contains(reason),
            "{name}: reason leaked into body: {json}"
        );
        assert_eq!(
            stored(&env.state).await,
            baseline,
            "{name}: something was stored"
        );
        let after = env.state.metrics.render();
        let line = format!("edgeheal_healer_auth_failures_total{{reason=\"{reason}\"}}");
        assert_ne!(
            metric(&before, &line),
            metric(&after, &line),
            "{name}: reason {reason} not counted"
        );
    }
}

#[tokio::test]
async fn valid_signatures_from_every_pipeline_are_accepted() {
    let env = env("");
    let t = now(&env.clock);
    // Each case sends records of its own (pod `cart-<case>`), as a pipeline's batches carry
    // their records' times: the same body again would be a redelivery, stored once.
    let json = |case: u32| {
        body_of(&[
            record("shop/cart", "error_burst", Some(&format!("cart-{case}"))),
            record("shop/web", "cpu_saturation", None),
        ])
    };
    let ndjson = |case: u32| {
        format!(
            "{}\n{}\n",
            record("shop/a", "memory_leak", Some(&format!("cart-{case}"))),
            record("shop/b", "latency_spike", None)
        )
        .into_bytes()
    };
    let cases: Vec<(&str, http::Request<Body>)> = vec![
        (
            "fluent bit json",
            sign_fluent_bit(
                FB_KEY_ID,
                FB_SECRET,
                t,
                &json(0),
                &[("Content-Type", "application/json")],
            ),
        ),
        (
            "fluent bit json gzip",
            sign_fluent_bit(
                FB_KEY_ID,
                FB_SECRET,
                t - 2,
                &gzip(&json(1)),
                &[
                    ("Content-Type", "application/json"),
                    ("Content-Encoding", "gzip"),
                ],
            ),
        ),
        (
            "fluent bit json_lines",
            sign_fluent_bit(
                FB_KEY_ID,
                FB_SECRET,
                t - 3,
                &ndjson(2),
                &[("Content-Type", "application/x-ndjson")],
            ),
        ),
        (
            "vector (aws-sigv4)",
            sign_vector(VEC_KEY_ID, VEC_SECRET, t, &json(3), &[]),
        ),
        (
            "vector gzip",
            sign_vector(
                VEC_KEY_ID,
                VEC_SECRET,
                t - 1,
                &gzip(&json(4)),
                &[("content-encoding", "gzip")],
            ),
        ),
        (
            "edge of the window (old)",
            sign_vector(VEC_KEY_ID, VEC_SECRET, t - 300, &ndjson(5), &[]),
        ),
        (
            "edge of the window (future)",
            sign_fluent_bit(FB_KEY_ID, FB_SECRET, t + 300, &json(6), &[]),
        ),
        (
            "header signature",
            sign_header("POST", "/v1/anomalies", VEC_KEY_ID, VEC_SECRET, t, &json(7)),
        ),
    ];
    let mut expected_records = 0;
    for (i, (name, req)) in cases.into_iter().enumerate() {
        let (status, body, _) = send(&env.state, req).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{name}: {body}");
        expected_records += body["records"].as_i64().unwrap();
        assert_eq!(
            stored(&env.state).await,
            (i as i64 + 1, expected_records),
            "{name}"
        );
    }
}

/// The shipped Fluent Bit configs send anomalies with `compress gzip` and `aws_auth On`.
/// 4.2.8's http output compresses a chunk's JSON first, then signs every header it sends,
/// Content-Encoding included, and the hash of the compressed body (plugins/out_http/http.c,
/// `http_request`; src/flb_signv4.c). A chunk whose JSON is over `ingest.max_body_bytes` is
/// accepted that way; the same JSON sent plain gets 413, which Fluent Bit drops unretried.
#[tokio::test]
async fn a_gzipped_chunk_over_the_body_limit_signed_as_fluent_bit_4_2_8_signs_it_is_accepted() {
    let env = env("");
    let t = now(&env.clock);
    let limit = env.state.config.ingest.max_body_bytes;
    // `format json` with `json_date_key date`: an array of records, here with log lines of
    // pseudo-random hex, which gzip only halves.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let records: Vec<serde_json::Value> = (0..1_200)
        .map(|i| {
            let line: String = (0..4_000)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    char::from_digit(((seed >> 59) & 0xf) as u32, 16).unwrap()
                })
                .collect();
            let mut r = record("shop/cart", "error_burst", Some("cart-1"));
            r["date"] = "2026-11-21T10:00:00.000000Z".into();
            r["log"] = format!("{i} ERROR {line}").into();
            r
        })
        .collect();
    let json = body_of(&records);
    assert!(json.len() > limit, "{} bytes", json.len());
    let gz = gzip(&json);
    assert!(gz.len() < limit, "{} bytes gzipped", gz.len());

    let plain = sign_fluent_bit(
        FB_KEY_ID,
        FB_SECRET,
        t,
        &json,
        &[("Content-Type", "application/json")],
    );
    let (status, _, _) = send(&env.state, plain).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(stored(&env.state).await, (0, 0));

    let compressed = sign_fluent_bit(
        FB_KEY_ID,
        FB_SECRET,
        t - 1,
        &gz,
        &[
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
        ],
    );
    let authorization = compressed.headers()["authorization"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        authorization.contains("SignedHeaders=content-encoding;content-length;content-type;host;user-agent;x-amz-date,"),
        "{authorization}"
    );
    let (status, body, _) = send(&env.state, compressed).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["records"], records.len());
}

#[tokio::test]
async fn reads_need_a_signature_too() {
    let env = env("");
    let t = now(&env.clock);
    let unsigned = http::Request::builder()
        .uri("/v1/incidents")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&env.state, unsigned).await.0, StatusCode::UNAUTHORIZED);
    let signed = sign_header(
        "GET",
        "/v1/incidents?state=open",
        VEC_KEY_ID,
        VEC_SECRET,
        t,
        b"",
    );
    let (status, json, _) = send(&env.state, signed).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["incidents"], serde_json::json!([]));
    let bad_filter = sign_header(
        "GET",
        "/v1/incidents?state=sleeping",
        VEC_KEY_ID,
        VEC_SECRET,
        t,
        b"",
    );
    assert_eq!(
        send(&env.state, bad_filter).await.0,
        StatusCode::BAD_REQUEST
    );
    let unknown_param = sign_header(
        "GET",
        "/v1/incidents?sort=asc",
        VEC_KEY_ID,
        VEC_SECRET,
        t,
        b"",
    );
    assert_eq!(
        send(&env.state, unknown_param).await.0,
        StatusCode::BAD_REQUEST
    );
    let missing = sign_header("GET", "/v1/incidents/42", VEC_KEY_ID, VEC_SECRET, t, b"");
    assert_eq!(send(&env.state, missing).await.0, StatusCode::NOT_FOUND);
}

/// A key of `auth.read_only_keys` reads the incident history and cannot feed the engine: its
/// batch is refused with 403, counted, and stores nothing, whichever scheme signed it.
#[tokio::test]
async fn a_read_only_key_reads_and_cannot_post() {
    let env = env_with_auth(", read_only_keys: [vector]", "");
    let t = now(&env.clock);
    let body = body_of(&[record(
        "shop/cart",
        "crash_loop",
        Some("cart-7d9f8c6b5-x2x9q"),
    )]);
    let before = env.state.metrics.render();
    for req in [
        sign_header("POST", "/v1/anomalies", VEC_KEY_ID, VEC_SECRET, t, &body),
        sign_vector(VEC_KEY_ID, VEC_SECRET, t, &body, &[]),
    ] {
        let (status, json, _) = send(&env.state, req).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{json}");
        assert_eq!(json["error"], "forbidden");
        assert_eq!(
            json["message"],
            "this key may only read the incident history"
        );
    }
    assert_eq!(stored(&env.state).await, (0, 0));
    let after = env.state.metrics.render();
    for (line, more) in [
        (
            "edgeheal_healer_auth_failures_total{reason=\"read_only_key\"}",
            2.0,
        ),
        (
            "edgeheal_healer_ingest_requests_total{result=\"forbidden\"}",
            2.0,
        ),
        (
            "edgeheal_healer_ingest_requests_total{result=\"accepted\"}",
            0.0,
        ),
    ] {
        assert_eq!(metric(&after, line) - metric(&before, line), more, "{line}");
    }
    // It reads.
    let read = sign_header("GET", "/v1/incidents", VEC_KEY_ID, VEC_SECRET, t, b"");
    let (status, json, _) = send(&env.state, read).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    // The other keys still post.
    let fb = sign_fluent_bit(FB_KEY_ID, FB_SECRET, t, &body, &[]);
    let (status, json, _) = send(&env.state, fb).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{json}");

    // Not a key id: the config is refused, with the key.
    let dir = tempfile::tempdir().unwrap();
    let err = edgeheal_healer::Config::from_yaml(&config_yaml_with_auth(
        dir.path(),
        ", read_only_keys: [\"ops key\"]",
        "",
    ))
    .unwrap_err();
    assert!(err.to_string().contains("auth.read_only_keys"), "{err}");
}

/// A key of `auth.ingest_only_keys` (a pipeline's, held on every node) posts anomalies and
/// cannot read the incident history: a list or an incident, signed with either scheme, is
/// refused with 403 before anything is looked up, and counted.
#[tokio::test]
async fn an_ingest_only_key_posts_and_cannot_read() {
    let env = env_with_auth(", ingest_only_keys: [fluent-bit]", "");
    let t = now(&env.clock);
    let body = body_of(&[record(
        "shop/cart",
        "crash_loop",
        Some("cart-7d9f8c6b5-x2x9q"),
    )]);
    let fb = sign_fluent_bit(FB_KEY_ID, FB_SECRET, t, &body, &[]);
    let (status, json, _) = send(&env.state, fb).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{json}");
    let before = env.state.metrics.render();
    // Incident 1 exists once the engine has run; 403 comes first either way, so the key
    // cannot tell ids that exist from ids that do not.
    for path in [
        "/v1/incidents",
        "/v1/incidents?state=open",
        "/v1/incidents/1",
        "/v1/incidents/999",
    ] {
        for req in [
            sign_header("GET", path, FB_KEY_ID, FB_SECRET, t, b""),
            sign_sigv4("GET", path, FB_KEY_ID, FB_SECRET, t, b"", &[]),
        ] {
            let (status, json, _) = send(&env.state, req).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {json}");
            assert_eq!(json["error"], "forbidden");
            assert_eq!(json["message"], "this key may only post anomalies");
        }
    }
    let after = env.state.metrics.render();
    let line = "edgeheal_healer_auth_failures_total{reason=\"ingest_only_key\"}";
    assert_eq!(metric(&after, line) - metric(&before, line), 8.0, "{line}");
    // The other key reads, under both schemes.
    for req in [
        sign_header("GET", "/v1/incidents", VEC_KEY_ID, VEC_SECRET, t, b""),
        sign_sigv4("GET", "/v1/incidents", VEC_KEY_ID, VEC_SECRET, t, b"", &[]),
    ] {
        let (status, json, _) = send(&env.state, req).await;
        assert_eq!(status, StatusCode::OK, "{json}");
    }

    // A key in both lists could do nothing; a bad id is refused too.
    let dir = tempfile::tempdir().unwrap();
    for (auth, says) in [
        (
            ", read_only_keys: [ops], ingest_only_keys: [fluent-bit, ops]",
            "\"ops\" is in auth.read_only_keys too",
        ),
        (
            ", ingest_only_keys: [\"fluent bit\"]",
            "auth.ingest_only_keys",
        ),
    ] {
        let err = edgeheal_healer::Config::from_yaml(&config_yaml_with_auth(dir.path(), auth, ""))
            .unwrap_err();
        assert!(err.to_string().contains(says), "{auth}: {err}");
    }
}

#[tokio::test]
async fn an_incident_read_shows_the_hpa_minimums_it_raised() {
    use edgeheal_healer::config::Mode;
    use edgeheal_healer::hpa_floor::{confirm, reserve, NewRaise};
    let env = env("");
    let t = now(&env.clock);
    let id = env
        .state
        .store
        .write(|tx| {
            tx.execute(
                "INSERT INTO incidents(entity, namespace, workload, workload_kind, kind, state, step, record_count, opened_at, updated_at)
                 VALUES ('shop/cart', 'shop', 'cart', 'deployment', 'cpu_saturation', 'verifying', 0, 3, 0, 0)",
                [],
            )?;
            let id = tx.last_insert_rowid();
            let raise = reserve(
                tx,
                &NewRaise {
                    incident_id: id,
                    step: 0,
                    namespace: "shop",
                    hpa: "cart-hpa",
                    mode: Mode::Enforce,
                    at_ms: 0,
                    observed_min: 2,
                    raised_to: 6,
                },
            )?;
            confirm(tx, raise, 0, "HPA cart-hpa minReplicas 2 -> 6 (5 replicas ran)")?;
            Ok(id)
        })
        .await
        .unwrap();
    let read = sign_header(
        "GET",
        &format!("/v1/incidents/{id}"),
        VEC_KEY_ID,
        VEC_SECRET,
        t,
        b"",
    );
    let (status, json, _) = send(&env.state, read).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let raise = &json["hpa_raises"][0];
    assert_eq!(raise["hpa"], "shop/cart-hpa");
    assert_eq!(
        (
            &raise["observed_min"],
            &raise["raised_to"],
            &raise["restore_to"]
        ),
        (
            &serde_json::json!(2),
            &serde_json::json!(6),
            &serde_json::json!(2)
        )
    );
    assert_eq!(raise["state"], "raised");
    assert_eq!(raise["mode"], "enforce");
}

#[tokio::test]
async fn bad_bodies_are_rejected_with_clear_errors_and_nothing_stored() {
    let env = env("ingest: { max_body_bytes: 4096, max_decompressed_bytes: 8192, max_records: 5 }");
    let t = now(&env.clock);
    let no_tags = serde_json::to_vec(&serde_json::json!([{"log": "x"}])).unwrap();
    let too_many = body_of(&vec![record("shop/a", "error_burst", None); 6]);
    let huge = vec![b' '; 5000];
    let bomb = gzip(&vec![b' '; 100_000]);
    let cases: Vec<(&str, http::Request<Body>, StatusCode, &str)> = vec![
        (
            "no tags",
            sign_header("POST", "/v1/anomalies", VEC_KEY_ID, VEC_SECRET, t, &no_tags),
            StatusCode::BAD_REQUEST,
            "record 0",
        ),
        (
            "too many",
            sign_header(
                "POST",
                "/v1/anomalies",
                VEC_KEY_ID,
                VEC_SECRET,
                t - 1,
                &too_many,
            ),
            StatusCode::BAD_REQUEST,
            "more than 5",
        ),
        (
            "not json",
            sign_header(
                "POST",
                "/v1/anomalies",
                VEC_KEY_ID,
                VEC_SECRET,
                t - 2,
                b"{oops",
            ),
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
        (
            "too large",
            sign_header(
                "POST",
                "/v1/anomalies",
                VEC_KEY_ID,
                VEC_SECRET,
                t - 3,
                &huge,
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "limit",
        ),
        (
            "gzip bomb",
            sign_vector(
                VEC_KEY_ID,
                VEC_SECRET,
                t - 4,
                &bomb,
                &[("content-encoding", "gzip")],
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "limit",
        ),
        (
            "unsupported type",
            {
                let mut r = sign_header(
                    "POST",
                    "/v1/anomalies",
                    VEC_KEY_ID,
                    VEC_SECRET,
                    t - 5,
                    b"{}",
                );
                r.headers_mut()
                    .insert("content-type", "text/plain".parse().unwrap());
                r
            },
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "text/plain",
        ),
    ];
    for (name, req, want, msg) in cases {
        let (status, json, _) = send(&env.state, req).await;
        assert_eq!(status, want, "{name}: {json}");
        assert!(
            json["message"].as_str().unwrap_or("").contains(msg),
            "{name}: {json}"
        );
        assert_eq!(stored(&env.state).await, (0, 0), "{name}");
    }
}

/// A gzip body is a series of members (RFC 1952 2.2; what `cat a.gz b.gz`, or a sender that
/// compresses as it writes, sends): every member is read, and the batch stored whole. Bytes
/// after the last member that are not one are refused, and nothing is stored. Before, only the
/// first member was read and the rest dropped without a word: 202 and `records: 1` for two.
#[tokio::test]
async fn every_member_of_a_gzip_body_is_read() {
    let env = env("");
    let t = now(&env.clock);
    let line = |pod: &str| format!("{}\n", record("shop/cart", "error_burst", Some(pod)));
    let headers = [
        ("Content-Type", "application/x-ndjson"),
        ("Content-Encoding", "gzip"),
    ];
    let mut two_members = gzip(line("cart-1").as_bytes());
    two_members.extend(gzip(line("cart-2").as_bytes()));
    let req = sign_fluent_bit(FB_KEY_ID, FB_SECRET, t, &two_members, &headers);
    let (status, json, _) = send(&env.state, req).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{json}");
    assert_eq!(json["records"], 2, "{json}");
    assert_eq!(stored(&env.state).await, (1, 2));

    let mut trailing = gzip(line("cart-3").as_bytes());
    trailing.extend_from_slice(b"not gzip");
    let req = sign_fluent_bit(FB_KEY_ID, FB_SECRET, t, &trailing, &headers);
    let (status, json, _) = send(&env.state, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    assert!(
        json["message"].as_str().unwrap_or("").contains("gzip"),
        "{json}"
    );
    assert_eq!(stored(&env.state).await, (1, 2));
}

/// Fluent Bit 4.2.8's `http` output reads an answer into a buffer of 4,096 bytes, status line
/// and headers included (`FLB_HTTP_DATA_SIZE_MAX`; `out_http` never raises it): a longer one is
/// `http_do=-1`, a broken connection, and the chunk is retried rather than dropped, its 400
/// never logged. A refusal whose message quotes what it refuses (a tag's value, the
/// `Content-Type`) is cut short so that the whole answer fits, and still says what is wrong.
#[tokio::test]
async fn a_refusal_fits_fluent_bits_response_buffer() {
    let env = env("");
    let t = now(&env.clock);
    let long = "x".repeat(5000);
    let mut bad_pod = record("shop/cart", "error_burst", None);
    bad_pod["edgeheal"]["pod"] = long.clone().into();
    let mut bad_model = record("shop/cart", "error_burst", None);
    bad_model["edgeheal"]["score"] = long.clone().into();
    // Quoted as it is: each character JSON-escapes to six bytes (`\u0001`).
    let mut bad_incident = record("shop/cart", "error_burst", None);
    bad_incident["edgeheal"]["incident"] = "\u{1}".repeat(5000).into();
    let cases = [
        (
            "a long pod",
            sign_fluent_bit(
                FB_KEY_ID,
                FB_SECRET,
                t,
                &body_of(&[bad_pod]),
                &[("Content-Type", "application/json")],
            ),
            StatusCode::BAD_REQUEST,
            "record 0: invalid `edgeheal` tags: pod \"xxx",
        ),
        (
            "a long score",
            sign_fluent_bit(
                FB_KEY_ID,
                FB_SECRET,
                t,
                &body_of(&[bad_model]),
                &[("Content-Type", "application/json")],
            ),
            StatusCode::BAD_REQUEST,
            "record 0: invalid `edgeheal` tags: invalid type: string \"xxx",
        ),
        (
            "a long incident of control characters",
            sign_fluent_bit(
                FB_KEY_ID,
                FB_SECRET,
                t,
                &body_of(&[bad_incident]),
                &[("Content-Type", "application/json")],
            ),
            StatusCode::BAD_REQUEST,
            "record 0: invalid `edgeheal` tags: unknown variant `\u{1}",
        ),
        (
            "a long content type",
            sign_fluent_bit(
                FB_KEY_ID,
                FB_SECRET,
                t,
                &body_of(&[record("shop/cart", "error_burst", None)]),
                &[("Content-Type", &format!("text/{long}"))],
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported content-type \"text/xxx",
        ),
    ];
    for (name, req, want, starts) in cases {
        let (status, bytes, headers) = send_raw(&env.state, req).await;
        assert_eq!(status, want, "{name}");
        // The status line, the headers hyper writes (content-length, date) and the body.
        let head: usize = 64
            + headers
                .iter()
                .map(|(k, v)| k.as_str().len() + v.len() + 4)
                .sum::<usize>()
            + "content-length: 0000\r\ndate: Sat, 21 Nov 2026 10:00:00 GMT\r\n\r\n".len();
        assert!(
            head + bytes.len() <= 4096,
            "{name}: {} bytes of body",
            bytes.len()
        );
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let message = json["message"].as_str().unwrap();
        assert!(message.starts_with(starts), "{name}: {message}");
    }
    assert_eq!(stored(&env.state).await, (0, 0));
}

#[tokio::test]
async fn overload_answers_429_with_retry_after_and_stores_nothing() {
    let env = env("");
    let t = now(&env.clock);
    // Occupy every commit slot, as a burst of in-flight batches would.
    let held = env
        .state
        .ingest_slots
        .clone()
        .acquire_many_owned(env.state.config.store.queue_capacity as u32)
        .await
        .unwrap();
    let body = body_of(&[record("shop/cart", "error_burst", None)]);
    let (status, json, headers) = send(
        &env.state,
        sign_header("POST", "/v1/anomalies", VEC_KEY_ID, VEC_SECRET, t, &body),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{json}");
    assert_eq!(headers.get("retry-after").unwrap(), "1");
    assert_eq!(stored(&env.state).await, (0, 0));
    // The refused request consumed nothing, its signature neither: once a slot frees up, the
    // same request sent again is accepted (Fluent Bit and Vector re-sign every attempt, with
    // the same signature within a second).
    drop(held);
    let retry = sign_header("POST", "/v1/anomalies", VEC_KEY_ID, VEC_SECRET, t, &body);
    assert_eq!(send(&env.state, retry).await.0, StatusCode::ACCEPTED);
    assert_eq!(stored(&env.state).await, (1, 1));
}

/// The replay cache fills when more batches are accepted inside the signature window than
/// `auth.replay_cache_capacity`: the next batch is refused with 429 and a `Retry-After` of when
/// the oldest signature leaves the window (Fluent Bit and Vector retry a 429; a 401 they drop),
/// counted as `replay_cache_full`, nothing stored; once it expires there is room again.
#[tokio::test]
async fn a_full_replay_cache_answers_429_with_retry_after_and_stores_nothing() {
    let env = env_with_auth(", replay_cache_capacity: 2", "");
    let t = now(&env.clock);
    let batch = |i: usize, at: i64| {
        let mut r = record("shop/cart", "crash_loop", Some("cart-1"));
        r["log"] = format!("line {i}").into();
        sign_header(
            "POST",
            "/v1/anomalies",
            FB_KEY_ID,
            FB_SECRET,
            at,
            &body_of(&[r]),
        )
    };
    assert_eq!(
        send(&env.state, batch(0, t - 10)).await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(send(&env.state, batch(1, t)).await.0, StatusCode::ACCEPTED);
    let before = env.state.metrics.render();
    let (status, json, headers) = send(&env.state, batch(2, t)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{json}");
    assert_eq!(json["error"], "replay_cache_full");
    // The first signature, made at t - 10, leaves the ±300 s window at t + 290.
    assert_eq!(headers.get("retry-after").unwrap(), "290");
    assert_eq!(stored(&env.state).await, (2, 2));
    let after = env.state.metrics.render();
    let line = "edgeheal_healer_ingest_requests_total{result=\"replay_cache_full\"}";
    assert_eq!(metric(&after, line) - metric(&before, line), 1.0);
    assert_eq!(
        after
            .lines()
            .filter(|l| l.contains("auth_failures_total{"))
            .count(),
        before
            .lines()
            .filter(|l| l.contains("auth_failures_total{"))
            .count(),
        "not an authentication failure: {after}"
    );
    // The same request once the oldest signature has expired: its own is still in the window.
    env.clock.advance_secs(291);
    assert_eq!(send(&env.state, batch(2, t)).await.0, StatusCode::ACCEPTED);
    assert_eq!(stored(&env.state).await, (3, 3));
}

/// Fluent Bit's `format json` writes an infinite double as the bare token `inf` (`%.16g`; a
/// NaN as `nan` unless `json.convert_nan_to_null` is on): the edge filter passes a record's
/// ±Inf on, and an anomalous record that holds one reaches the heal API so. Such a batch, gzipped
/// and signed as Fluent Bit signs it, is accepted with those values stored as `null` (as a
/// msgpack body's non-finite floats are), the rest of each record as sent; a body that spells
/// them otherwise is still refused, and stores nothing.
#[tokio::test]
async fn fluent_bits_inf_and_nan_are_stored_as_null() {
    let env = env("");
    let t = now(&env.clock);
    let mut cart = record("shop/cart", "cpu_saturation", Some("cart-1"));
    cart["cpu_p"] = "@inf".into();
    cart["samples"] = serde_json::json!([1.5, "@-inf", "@nan", "@-nan"]);
    let web = record("shop/web", "error_burst", Some("web-1"));
    let text = String::from_utf8(body_of(&[cart, web])).unwrap();
    let fluent_bit_json = |spelled: [&str; 4]| {
        let mut t = text.clone();
        for (placeholder, token) in ["\"@inf\"", "\"@-inf\"", "\"@nan\"", "\"@-nan\""]
            .into_iter()
            .zip(spelled)
        {
            t = t.replace(placeholder, token);
        }
        t.into_bytes()
    };
    // Gzipped and signed as Fluent Bit signs it.
    let as_fluent_bit = |json: Vec<u8>| {
        sign_fluent_bit(
            FB_KEY_ID,
            FB_SECRET,
            t,
            &gzip(&json),
            &[
                ("Content-Type", "application/json"),
                ("Content-Encoding", "gzip"),
            ],
        )
    };
    let odd = as_fluent_bit(fluent_bit_json(["Infinity", "-Infinity", "NaN", "NaN"]));
    let (status, json, _) = send(&env.state, odd).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    assert_eq!(stored(&env.state).await, (0, 0));

    let request = as_fluent_bit(fluent_bit_json(["inf", "-inf", "nan", "-nan"]));
    let (status, json, _) = send(&env.state, request).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{json}");
    assert_eq!(json["records"], 2);
    assert_eq!(stored(&env.state).await, (1, 2));
    let bodies: Vec<serde_json::Value> = env
        .state
        .store
        .read(|c| {
            let mut stmt = c.prepare("SELECT body FROM records ORDER BY id")?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
        .unwrap()
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    assert_eq!(bodies[0]["cpu_p"], serde_json::Value::Null);
    assert_eq!(
        bodies[0]["samples"],
        serde_json::json!([1.5, null, null, null])
    );
    assert_eq!(bodies[0]["edgeheal"]["entity"], "shop/cart");
    assert_eq!(bodies[1]["edgeheal"]["incident"], "error_burst");
}

/// A batch's signature is used up only when its batch is committed. A batch refused after its
/// signature verified (the store failing: 503) is accepted when the client sends it again as it
/// was, as Fluent Bit and Vector do within the same second; one accepted is answered as its
/// batch and stores nothing.
#[tokio::test]
async fn a_batch_the_store_refused_is_accepted_when_sent_again() {
    let env = env("");
    let t = now(&env.clock);
    let body = body_of(&[record("shop/cart", "crash_loop", Some("cart-1"))]);
    let request = || {
        sign_fluent_bit(
            FB_KEY_ID,
            FB_SECRET,
            t,
            &body,
            &[("Content-Type", "application/json")],
        )
    };
    env.state
        .store
        .write(|tx| {
            Ok(tx.execute_batch(
                "CREATE TRIGGER refuse BEFORE INSERT ON batches BEGIN SELECT RAISE(ABORT, 'test: the disk is full'); END;",
            )?)
        })
        .await
        .unwrap();
    let (status, json, headers) = send(&env.state, request()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{json}");
    assert_eq!(headers.get("retry-after").unwrap(), "1");
    assert_eq!(stored(&env.state).await, (0, 0));
    env.state
        .store
        .write(|tx| Ok(tx.execute_batch("DROP TRIGGER refuse;")?))
        .await
        .unwrap();
    let (status, json, _) = send(&env.state, request()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "sent again: {json}");
    assert_eq!(stored(&env.state).await, (1, 1));
    let batch_id = json["batch_id"].clone();
    let (status, json, _) = send(&env.state, request()).await;
    assert_eq!(status, StatusCode::OK, "accepted once: {json}");
    assert_eq!(json["batch_id"], batch_id);
    assert_eq!(stored(&env.state).await, (1, 1));
}

/// The same signed request again — a sender's retry within the second it signed the first
/// attempt (Vector waits a random part of a second before its first retry), or a captured copy —
/// has the same body, which the signature covers. Under either scheme it is answered 200 with
/// what the first was answered, marked redelivered, and changes nothing: no rows, no engine
/// wake-up, no records counted, no authentication failure (whose alert says anomalies are lost).
#[tokio::test]
async fn the_same_signed_request_again_is_answered_as_its_batch() {
    let env = env("");
    let t = now(&env.clock);
    // One record about a workload and one about a node, which is not actionable.
    let mut node = record("_/node-1", "cpu_saturation", None);
    node["edgeheal"]["workload_kind"] = serde_json::Value::Null;
    let body = body_of(&[record("shop/cart", "crash_loop", Some("cart-1")), node]);
    let fluent_bit = || {
        sign_fluent_bit(
            FB_KEY_ID,
            FB_SECRET,
            t,
            &body,
            &[("Content-Type", "application/json")],
        )
    };
    let other = body_of(&[record("shop/web", "error_burst", Some("web-1"))]);
    let header = || sign_header("POST", "/v1/anomalies", VEC_KEY_ID, VEC_SECRET, t, &other);
    let mut firsts = Vec::new();
    for request in [fluent_bit(), header()] {
        let (status, json, _) = send(&env.state, request).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{json}");
        firsts.push(json);
    }
    assert_eq!(firsts[0]["not_actionable"], 1, "{}", firsts[0]);
    assert!(env.engine_woken());
    let before = env.state.metrics.render();
    let baseline = stored(&env.state).await;
    assert_eq!(baseline, (2, 3));

    for (first, again) in firsts.iter().zip([fluent_bit(), header()]) {
        let (status, json, _) = send(&env.state, again).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        let mut expected = first.clone();
        expected["redelivered"] = serde_json::Value::Bool(true);
        assert_eq!(json, expected);
    }
    assert_eq!(stored(&env.state).await, baseline);
    assert!(!env.engine_woken(), "a replay does not wake the engine");
    let after = env.state.metrics.render();
    assert_increases(
        &before,
        &after,
        &[
            (
                r#"edgeheal_healer_ingest_requests_total{result="replayed"}"#,
                2.0,
            ),
            (
                r#"edgeheal_healer_ingest_requests_total{result="accepted"}"#,
                0.0,
            ),
            (
                r#"edgeheal_healer_ingest_requests_total{result="unauthorized"}"#,
                0.0,
            ),
            ("edgeheal_healer_ingest_records_total", 0.0),
            (
                r#"edgeheal_healer_auth_failures_total{reason="replayed"}"#,
                0.0,
            ),
        ],
    );
}

/// A replay whose batch is no longer stored (pruned for size) cannot be told what its first
/// copy was answered: it is refused as a replay, and nothing is stored.
#[tokio::test]
async fn a_replay_of_a_batch_no_longer_stored_is_refused() {
    let env = env("");
    let t = now(&env.clock);
    let body = body_of(&[record("shop/cart", "crash_loop", Some("cart-1"))]);
    let request = || sign_vector(VEC_KEY_ID, VEC_SECRET, t, &body, &[]);
    assert_eq!(send(&env.state, request()).await.0, StatusCode::ACCEPTED);
    env.state
        .store
        .write(|tx| Ok(tx.execute_batch("DELETE FROM records; DELETE FROM batches;")?))
        .await
        .unwrap();
    let before = env.state.metrics.render();
    let (status, json, _) = send(&env.state, request()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{json}");
    assert_eq!(json["error"], "unauthorized");
    assert_eq!(stored(&env.state).await, (0, 0));
    let after = env.state.metrics.render();
    let line = r#"edgeheal_healer_auth_failures_total{reason="replayed"}"#;
    assert_eq!(metric(&after, line) - metric(&before, line), 1.0);
}

/// Two copies of one signed batch in flight at once both pass the replay cache (neither is
/// committed yet); the store's unique signature commits one, and the other is answered as its
/// replay: 200 naming the same batch.
#[tokio::test]
async fn the_same_batch_twice_at_once_is_stored_once() {
    let env = env("");
    let t = now(&env.clock);
    let body = body_of(&[record("shop/cart", "crash_loop", Some("cart-1"))]);
    let request = || sign_vector(VEC_KEY_ID, VEC_SECRET, t, &body, &[]);
    let before = env.state.metrics.render();
    let (a, b) = tokio::join!(send(&env.state, request()), send(&env.state, request()));
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
    let after = env.state.metrics.render();
    assert_increases(
        &before,
        &after,
        &[
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
}
