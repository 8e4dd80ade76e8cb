//! `edgeheal-healer incidents` / `incident`: the incident history read from a running heal API
//! (the real server on a loopback port, in shadow mode), through the client library and the
//! binary as an SRE runs it, with the config or with a URL and a key file.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::{body_of, record, FB_KEY_ID, FB_SECRET, VEC_KEY_ID};
use edgeheal_healer::auth::sign_hmac;
use edgeheal_healer::client::{render_incident, render_list, Client, ClientError, ListQuery};
use edgeheal_healer::clock::SystemClock;
use edgeheal_healer::Config;
use serde_json::Value;

/// A heal API serving on a free loopback port, its config written to `config.yaml`.
struct Served {
    dir: tempfile::TempDir,
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    fn config_path(&self) -> std::path::PathBuf {
        self.dir.path().join("config.yaml")
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), &mut self.task).await;
    }
}

async fn serve() -> Served {
    serve_with("", "").await
}

/// [`serve`] with more `store` keys (`queue_capacity: 2, `) and more top-level config.
async fn serve_with(store: &str, extra: &str) -> Served {
    let dir = tempfile::tempdir().unwrap();
    common::write_keys(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The Vector key is for people here: it reads (`incident --key-id vector` below); the
    // Fluent Bit key, as a pipeline's, only posts.
    let yaml = common::config_yaml_with_auth(
        dir.path(),
        ", read_only_keys: [vector], ingest_only_keys: [fluent-bit]",
        &format!(
            "mode: shadow\nlisten: 127.0.0.1:{port}\nengine: {{ debounce_count: 1, tick_secs: 1 }}\n\
             policy: {{ crash_loop: [delete_pod], error_burst: [rollout_restart] }}\n{extra}"
        ),
    )
    .replacen("store: {", &format!("store: {{ {store}"), 1);
    std::fs::write(dir.path().join("config.yaml"), &yaml).unwrap();
    let config = Config::from_yaml(&yaml).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        edgeheal_healer::runtime::run(config, Arc::new(SystemClock), async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..300 {
        // `run` binds the port itself: taken in between, it has failed.
        assert!(
            !task.is_finished(),
            "the heal API stopped: port {port} taken?"
        );
        let ready = http.get(format!("{base}/readyz")).send().await;
        if ready.is_ok_and(|r| r.status() == 200) {
            return Served {
                dir,
                base,
                stop: Some(stop),
                task,
            };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the heal API did not become ready on {base}");
}

/// Posts anomalies of `entity` stamped now, signed with the Fluent Bit key.
async fn post_anomalies(base: &str, entity: &str, incident: &str, pod: &str) {
    let now = jiff::Timestamp::now();
    let records: Vec<Value> = (0..3)
        .map(|_| {
            let mut r = record(entity, incident, Some(pod));
            r["edgeheal"]["ts"] = Value::from(now.to_string());
            r
        })
        .collect();
    let body = body_of(&records);
    let resp = reqwest::Client::new()
        .post(format!("{base}/v1/anomalies"))
        .header("content-type", "application/json")
        .header("x-edgeheal-key-id", FB_KEY_ID)
        .header(
            "x-edgeheal-signature",
            sign_hmac(FB_SECRET.as_bytes(), now.as_second(), &body),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202, "{}", resp.text().await.unwrap());
}

/// Waits until the engine has opened an incident on each of `entities` and, in shadow mode,
/// recorded its action (the incident is `verifying`).
async fn incidents_on(client: &Client, entities: &[&str]) -> Vec<Value> {
    let q = ListQuery {
        limit: 50,
        ..ListQuery::default()
    };
    for _ in 0..300 {
        let all = client.list_all(&q, 100).await.unwrap();
        if entities.iter().all(|e| {
            all.iter()
                .any(|i| i["entity"] == *e && i["state"] == "verifying")
        }) {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no incidents on {entities:?}");
}

/// Runs the binary, with every proxy variable pointing at a port nothing listens on: the client
/// uses none.
fn cli(args: &[&str]) -> (bool, String, String) {
    let nowhere = "http://127.0.0.1:1";
    let out = Command::new(env!("CARGO_BIN_EXE_edgeheal-healer"))
        .args(args)
        .env("HTTP_PROXY", nowhere)
        .env("http_proxy", nowhere)
        .env("ALL_PROXY", nowhere)
        // Errors are the heal API's answer, not a crash: no backtrace even so.
        .env("RUST_BACKTRACE", "1")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// [`cli`] off the runtime's threads, while the heal API it asks runs on them.
async fn cli_async(args: &[&str]) -> (bool, String, String) {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli(&args)
    })
    .await
    .unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_incident_history_is_read_with_the_heal_apis_own_config_or_a_key_file() {
    let served = serve().await;
    post_anomalies(
        &served.base,
        "shop/cart",
        "crash_loop",
        "cart-7d9f8c6b5-x2x9q",
    )
    .await;
    post_anomalies(
        &served.base,
        "shop/storefront",
        "error_burst",
        "storefront-5b7c9-abcde",
    )
    .await;

    // The library, from the config: its read-only key ("vector"), not the first in order
    // ("fluent-bit"), unless asked; with none read-only, the first in order that may read.
    let mut config = Config::load(&served.config_path()).unwrap();
    let client = Client::from_config(&config, None).unwrap();
    assert_eq!(client.key_id(), VEC_KEY_ID);
    let asked = Client::from_config(&config, Some(FB_KEY_ID)).unwrap();
    assert_eq!(asked.key_id(), FB_KEY_ID);
    let (held_ro, held_io) = (
        std::mem::take(&mut config.auth.read_only_keys),
        std::mem::take(&mut config.auth.ingest_only_keys),
    );
    assert_eq!(
        Client::from_config(&config, None).unwrap().key_id(),
        FB_KEY_ID
    );
    config.auth.read_only_keys = vec!["ops".into()];
    assert_eq!(
        Client::from_config(&config, None).unwrap().key_id(),
        FB_KEY_ID,
        "a read-only key the directory lacks"
    );
    config.auth.ingest_only_keys = vec![FB_KEY_ID.into()];
    assert_eq!(
        Client::from_config(&config, None).unwrap().key_id(),
        VEC_KEY_ID,
        "the first key that may read"
    );
    config.auth.ingest_only_keys = vec![FB_KEY_ID.into(), VEC_KEY_ID.into()];
    let err = Client::from_config(&config, None).unwrap_err();
    assert!(
        matches!(err, ClientError::NoReader { .. })
            && err.to_string().contains("auth.read_only_keys"),
        "{err}"
    );
    // Named, a key is used as asked: the heal API refuses it (below).
    assert_eq!(
        Client::from_config(&config, Some(FB_KEY_ID))
            .unwrap()
            .key_id(),
        FB_KEY_ID
    );
    (config.auth.read_only_keys, config.auth.ingest_only_keys) = (held_ro, held_io);
    let all = incidents_on(&client, &["shop/cart", "shop/storefront"]).await;
    // The running heal API says its mode, and counts the incidents it holds.
    let scrape = || async {
        let metrics = reqwest::get(format!("{}/metrics", served.base));
        metrics.await.unwrap().text().await.unwrap()
    };
    let metrics = scrape().await;
    let info = format!(
        r#"edgeheal_healer_info{{version="{}",mode="shadow"}} 1"#,
        env!("CARGO_PKG_VERSION")
    );
    assert!(metrics.lines().any(|l| l == info), "{metrics}");
    // Both incidents verify (shadow mode records what it would do): the gauge says so once
    // the engine's next cycle has counted them.
    // The store's retention ran at start: when, and the pages in use after it.
    let verifying = r#"edgeheal_healer_incidents_active{state="verifying"} 2"#;
    let pruned = |metrics: &str| {
        let value = |name: &str| {
            metrics
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        value("edgeheal_healer_store_last_prune_timestamp_seconds") > 1.7e9
            && value("edgeheal_healer_store_used_bytes") > 0.0
    };
    let seen = |metrics: &str| metrics.lines().any(|l| l == verifying) && pruned(metrics);
    let mut counted = seen(&metrics);
    for _ in 0..100 {
        if counted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        counted = seen(&scrape().await);
    }
    assert!(counted, "{verifying} or the first prune never seen");
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(
        all[0]["id"].as_i64() > all[1]["id"].as_i64(),
        "newest first"
    );
    let cart = all.iter().find(|i| i["entity"] == "shop/cart").unwrap();
    let cart_id = cart["id"].as_i64().unwrap();
    let table = render_list(&all);
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table.contains("crash_loop") && table.contains("shop/storefront"),
        "{table}"
    );

    // Filters reach the server; pages are followed by the cursor.
    let only = |kind: &str| ListQuery {
        kind: Some(kind.to_owned()),
        limit: 50,
        ..ListQuery::default()
    };
    let crash = client.list_all(&only("crash_loop"), 100).await.unwrap();
    assert_eq!(crash.len(), 1);
    assert_eq!(crash[0]["entity"], "shop/cart");
    let one_a_page = ListQuery {
        limit: 1,
        ..ListQuery::default()
    };
    let page = client.list(&one_a_page, None).await.unwrap();
    assert_eq!(page["incidents"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_i64(), "{page}");
    let ids =
        |list: &[Value]| -> Vec<i64> { list.iter().map(|i| i["id"].as_i64().unwrap()).collect() };
    assert_eq!(
        ids(&client.list_all(&one_a_page, 10).await.unwrap()),
        ids(&all)
    );
    assert_eq!(client.list_all(&one_a_page, 1).await.unwrap().len(), 1);

    // One incident with its history: shadow mode decides and records, never acts.
    let found = client.incident(cart_id).await.unwrap();
    assert_eq!(found["incident"]["kind"], "crash_loop");
    let text = render_incident(&found);
    assert!(
        text.starts_with(&format!(
            "incident {cart_id}: crash_loop on shop/cart (deployment)"
        )),
        "{text}"
    );
    assert!(
        text.contains("decisions:\n") && text.contains("  step 0  delete_pod  act: "),
        "{text}"
    );
    assert!(
        text.contains("actions:\n") && text.contains("delete_pod shop/deployment/cart  shadow"),
        "{text}"
    );

    // What the heal API refuses comes back with its status and message.
    let err = client.incident(999_999).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Status { status, .. } if status.as_u16() == 404),
        "{err}"
    );
    let err = client
        .list_all(&only("no_such_kind"), 10)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Status { status, message, .. }
            if status.as_u16() == 400 && message.contains("unknown incident kind")),
        "{err}"
    );
    let wrong = Client::new(
        &served.base,
        FB_KEY_ID.into(),
        b"not-the-secret-0123".to_vec(),
    )
    .unwrap()
    .incident(cart_id)
    .await
    .unwrap_err();
    assert!(
        matches!(&wrong, ClientError::Status { status, message, .. }
            if status.as_u16() == 401 && message == "request is not authenticated"),
        "{wrong}"
    );
    let err = Client::from_config(&config, Some("ops")).unwrap_err();
    assert!(
        err.to_string().contains(r#"no key "ops""#) && err.to_string().contains(VEC_KEY_ID),
        "{err}"
    );

    // The binary, as an SRE runs it in the heal API's pod.
    let config_path = served.config_path();
    let (ok, out, err) = cli_async(&[
        "incidents",
        "--config",
        path(&config_path),
        "--namespace",
        "shop",
    ])
    .await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("ID  STATE"), "{out}");
    assert_eq!(lines.len(), 3, "a header and two incidents: {out}");
    assert!(
        out.contains("shop/cart") && out.contains("shop/storefront"),
        "{out}"
    );

    let id = cart_id.to_string();
    let (ok, out, err) = cli_async(&[
        "incident",
        &id,
        "--config",
        path(&config_path),
        "--key-id",
        VEC_KEY_ID,
        "--json",
    ])
    .await;
    assert!(ok, "{err}");
    let json: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["incident"]["id"], cart_id);

    // Through a port-forward: a URL and a key file.
    let key_file = served.dir.path().join("keys").join(VEC_KEY_ID);
    let base = &served.base;
    let (ok, out, err) = cli_async(&[
        "incidents",
        "--url",
        base,
        "--key-file",
        path(&key_file),
        "--kind",
        "error_burst",
    ])
    .await;
    assert!(ok, "{err}");
    assert!(
        out.contains("shop/storefront") && !out.contains("shop/cart"),
        "{out}"
    );

    // A key file named otherwise, and the id it is for.
    let renamed = served.dir.path().join("vector.key");
    std::fs::copy(&key_file, &renamed).unwrap();
    let (ok, out, err) = cli_async(&[
        "incidents",
        "--url",
        base,
        "--key-file",
        path(&renamed),
        "--key-id",
        VEC_KEY_ID,
    ])
    .await;
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 3, "{out}");

    // A pipeline's key (ingest-only) does not read: 403, said so, non-zero exit; so too in
    // the pod, named with --key-id.
    let pipeline_key = served.dir.path().join("keys").join(FB_KEY_ID);
    for args in [
        vec![
            "incidents",
            "--url",
            base,
            "--key-file",
            path(&pipeline_key),
        ],
        vec![
            "incident",
            &id,
            "--config",
            path(&config_path),
            "--key-id",
            FB_KEY_ID,
        ],
    ] {
        let (ok, out, err) = cli_async(&args).await;
        assert!(!ok && out.is_empty(), "{out}");
        assert!(
            err.starts_with("Error: ")
                && err.contains("403")
                && err.contains("this key may only post anomalies")
                && !err.to_lowercase().contains("backtrace"),
            "{err}"
        );
    }

    // A key the heal API does not hold: refused, said so, non-zero exit.
    let stranger = served.dir.path().join("stranger");
    std::fs::write(&stranger, "0123456789abcdef0123").unwrap();
    let (ok, out, err) =
        cli_async(&["incidents", "--url", base, "--key-file", path(&stranger)]).await;
    assert!(!ok && out.is_empty(), "{out}");
    assert!(
        err.contains("401") && err.contains("request is not authenticated"),
        "{err}"
    );
    served.stop().await;
}

/// The client signs its reads with SigV4, which covers the method, path, query and host: its
/// headers, seen in transit, read that one thing again within the clock-skew window and
/// nothing else. Over the header HMAC scheme a GET's signature covers only its time (the body
/// is empty), and the same headers would read any path.
#[tokio::test]
async fn a_reads_signature_reads_that_request_only() {
    let served = serve().await;
    post_anomalies(
        &served.base,
        "shop/cart",
        "crash_loop",
        "cart-7d9f8c6b5-x2x9q",
    )
    .await;
    // A stand-in that keeps what the client sends.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stand_in = format!("http://{}", listener.local_addr().unwrap());
    let seen: Arc<std::sync::Mutex<Vec<(http::Uri, http::HeaderMap)>>> = Arc::default();
    let keep = seen.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let keep = keep.clone();
        async move {
            keep.lock()
                .unwrap()
                .push((req.uri().clone(), req.headers().clone()));
            axum::Json(serde_json::json!({"incidents": [], "next_cursor": null}))
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let key_file = served.dir.path().join("keys").join(VEC_KEY_ID);
    let client = Client::from_key_file(&stand_in, &key_file, None).unwrap();
    let q = ListQuery {
        state: Some("open".into()),
        limit: 10,
        ..Default::default()
    };
    client.list(&q, None).await.unwrap();
    let (uri, headers) = seen.lock().unwrap().pop().unwrap();
    assert!(
        headers["authorization"]
            .to_str()
            .unwrap()
            .starts_with("AWS4-HMAC-SHA256 Credential=vector/"),
        "{headers:?}"
    );
    // The same headers, sent on to the heal API.
    let raw = reqwest::Client::new();
    let replay = |path_and_query: String| {
        let mut request = raw.get(format!("{}{path_and_query}", served.base));
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        request.send()
    };
    let same = replay(uri.to_string()).await.unwrap();
    assert_eq!(same.status(), 200, "{:?}", same.text().await);
    for other in [
        "/v1/incidents?limit=10&state=resolved",
        "/v1/incidents?limit=100&state=open",
        "/v1/incidents/1",
    ] {
        let answer = replay(other.into()).await.unwrap();
        assert_eq!(answer.status(), 401, "{other}: {:?}", answer.text().await);
    }
    served.stop().await;
}

/// A redirect is an answer, not a place to send the signature.
#[tokio::test]
async fn a_redirect_is_not_followed() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(|| async {
        (
            http::StatusCode::TEMPORARY_REDIRECT,
            [(http::header::LOCATION, "http://127.0.0.1:1/elsewhere")],
        )
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = Client::new(&base, FB_KEY_ID.into(), FB_SECRET.as_bytes().to_vec()).unwrap();
    let err = client.incident(1).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Status { status, .. } if status.as_u16() == 307),
        "{err}"
    );
}

#[test]
fn the_cli_says_what_it_needs() {
    let (ok, _, err) = cli(&["incidents"]);
    assert!(!ok && err.contains("--config"), "{err}");
    let (ok, _, err) = cli(&["incidents", "--url", "http://127.0.0.1:1"]);
    assert!(!ok && err.contains("--key-file"), "{err}");
    let (ok, _, err) = cli(&["incidents", "--config", "c.yaml", "--url", "http://h"]);
    assert!(!ok && err.contains("cannot be used with"), "{err}");
    let (ok, _, err) = cli(&["incidents", "--config", "c.yaml", "--state", "closed"]);
    assert!(!ok && err.contains("possible values"), "{err}");
    let (ok, _, err) = cli(&["incidents", "--config", "c.yaml", "--limit", "501"]);
    assert!(!ok && err.contains("501"), "{err}");
    let (ok, _, err) = cli(&["incident", "--config", "c.yaml", "twelve"]);
    assert!(!ok && err.contains("twelve"), "{err}");
    // Serving still needs its config.
    let (ok, _, err) = cli(&[]);
    assert!(!ok && err.contains("--config"), "{err}");
    // Nothing listens on port 1: the error names the URL.
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("ops");
    std::fs::write(&key, "0123456789abcdef0123").unwrap();
    let (ok, _, err) = cli(&[
        "incident",
        "7",
        "--url",
        "http://127.0.0.1:1",
        "--key-file",
        path(&key),
    ]);
    assert!(
        !ok && err.contains("http://127.0.0.1:1/v1/incidents/7"),
        "{err}"
    );
}

/// A raw connection to the heal API that sends `bytes` and then nothing.
async fn stalled(base: &str, bytes: &[u8]) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(bytes).await.unwrap();
    stream
}

/// The headers of a batch that passes every check the headers allow (a key the heal API
/// holds, the time now, a well-formed signature) and declares `Content-Length: 100`, with one
/// byte of its body: only the body could show the signature wrong, and it never comes.
fn forged_batch_start() -> Vec<u8> {
    format!(
        "POST /v1/anomalies HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         X-Edgeheal-Key-Id: {FB_KEY_ID}\r\nX-Edgeheal-Signature: t={},v1={}\r\n\
         Content-Length: 100\r\n\r\n{{",
        jiff::Timestamp::now().as_second(),
        "0".repeat(64)
    )
    .into_bytes()
}

/// What the heal API sends on `stream` until it closes it, within `secs`.
async fn until_closed(stream: &mut tokio::net::TcpStream, secs: u64) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    let read = stream.read_to_end(&mut out);
    match tokio::time::timeout(Duration::from_secs(secs), read).await {
        Ok(_) => Some(String::from_utf8_lossy(&out).into_owned()),
        Err(_) => None,
    }
}

/// Clients that stop sending hold nothing for long over a real socket: unauthenticated
/// batches stalled in their body (the review's `Content-Length: 100` and one byte, once for
/// each commit slot) are answered 401 at once, a read with a body 400; batches that look authentic until their body
/// stalls get 408 after `server.body_read_timeout_secs` and hold no commit slot meanwhile;
/// connections stalled in their headers, or idle, are closed after
/// `server.header_read_timeout_secs`. A real batch is accepted throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_clients_hold_neither_the_commit_queue_nor_their_connection() {
    let served = serve_with(
        "queue_capacity: 2, ",
        "server: { header_read_timeout_secs: 1, body_read_timeout_secs: 2 }",
    )
    .await;
    let base = served.base.clone();
    let unauthenticated = b"POST /v1/anomalies HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{";
    for _ in 0..2 {
        let mut s = stalled(&base, unauthenticated).await;
        let answer = until_closed(&mut s, 5).await.expect("answered at once");
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    }
    // A read with a body (the review's 4 MiB GETs): 400 before any of it is read.
    let get = b"GET /v1/incidents HTTP/1.1\r\nHost: x\r\nContent-Length: 4194304\r\n\r\naaaa";
    let mut s = stalled(&base, get).await;
    let answer = until_closed(&mut s, 5).await.expect("answered at once");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let mut bodies = Vec::new();
    for _ in 0..2 {
        bodies.push(stalled(&base, &forged_batch_start()).await);
    }
    let mut in_headers = stalled(&base, b"POST /v1/anomalies HTTP/1.1\r\nHost: x\r\n").await;
    let mut idle = stalled(&base, b"").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Beside two stalled bodies, with two commit slots.
    post_anomalies(&base, "shop/cart", "crash_loop", "cart-7d9f8c6b5-x2x9q").await;

    let started = std::time::Instant::now();
    for (name, stream) in [("in its headers", &mut in_headers), ("idle", &mut idle)] {
        let answer = until_closed(stream, 5).await;
        assert!(answer.is_some(), "{name}: still open");
    }
    for stream in &mut bodies {
        let answer = until_closed(stream, 5)
            .await
            .expect("a stalled body: still open");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    post_anomalies(&base, "shop/cart", "crash_loop", "cart-7d9f8c6b5-x2x9q").await;
    served.stop().await;
}

/// A shutdown finishes within `server.shutdown_timeout_secs` when clients stall with longer
/// read timeouts: in their headers, in their body, idle. Before, one such connection kept the
/// heal API from stopping until Kubernetes killed it. (No lame-duck delay here: the drain is
/// what is measured; `tests/shutdown.rs` has the delay.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_does_not_wait_for_stalled_clients() {
    let mut served = serve_with(
        "",
        "server: { header_read_timeout_secs: 120, body_read_timeout_secs: 120, shutdown_delay_secs: 0, shutdown_timeout_secs: 1 }",
    )
    .await;
    let base = served.base.clone();
    let _held = [
        stalled(&base, b"POST /v1/anomalies HTTP/1.1\r\nHost: x\r\n").await,
        stalled(&base, &forged_batch_start()).await,
        stalled(&base, b"").await,
    ];
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let _ = served.stop.take().unwrap().send(());
    tokio::time::timeout(Duration::from_secs(10), &mut served.task)
        .await
        .expect("the heal API did not stop")
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
