//! The soft-heal hook's client ([`SoftHealer`]) against a real hook on a loopback port: what a
//! call sends (signed with the configured key so that the heal API's own verifier accepts it,
//! over the exact body; the idempotency key), which answers end it and which are tried again,
//! the timeout of an attempt, the key file, and the heal API's stop.
//!
//! Before these, nothing called [`SoftHealer::call`] in a test.

#[path = "common/hook.rs"]
mod hook;

use std::sync::Arc;
use std::time::Duration;

use edgeheal_healer::auth::{AuthFailure, Authenticator, Scheme};
use edgeheal_healer::clock::ManualClock;
use edgeheal_healer::config::SoftHealConfig;
use edgeheal_healer::keys::KeyRing;
use edgeheal_healer::softheal::{SoftHealError, SoftHealer, ATTEMPTS, FIRST_BACKOFF};
use hook::{stop_at_the_first_backoff, Answer, Hook, Received};
use serde_json::json;
use tokio::sync::watch;

const KEY_ID: &str = "healer";
const SECRET: &[u8] = b"soft-heal-secret-0123456789";
/// 2026-11-21T10:00:00Z
const T0: i64 = 1_795_255_200;

/// The soft-heal settings with the key in `dir/key` (its file holding `file`).
fn config(dir: &std::path::Path, file: &[u8], timeout_secs: u64) -> SoftHealConfig {
    let key_file = dir.join("key");
    std::fs::write(&key_file, file).unwrap();
    SoftHealConfig {
        annotation: "edgeheal.io/soft-heal-url".into(),
        key_id: KEY_ID.into(),
        key_file,
        timeout_secs,
        cluster_domain: "cluster.local".into(),
    }
}

/// A healer signing with [`SECRET`], its attempts bounded by `timeout_secs`.
fn healer(dir: &std::path::Path, timeout_secs: u64) -> SoftHealer {
    SoftHealer::new(&config(dir, SECRET, timeout_secs)).unwrap()
}

fn payload() -> serde_json::Value {
    json!({"incident_id": 7, "entity": "shop/cart", "kind": "error_burst",
           "pod": "cart-7d9f8c6b5-x2x9q", "ts": "2026-11-21T10:00:00Z"})
}

/// The heal API's verifier, holding `secret` as the key [`KEY_ID`], its clock at [`T0`].
fn verifier(secret: &[u8]) -> Authenticator {
    Authenticator::new(
        KeyRing::from_pairs([(KEY_ID, secret)]),
        "edgeheal",
        "local",
        300,
        1000,
        Arc::new(ManualClock::new(jiff::Timestamp::from_second(T0).unwrap())),
    )
}

fn verify(auth: &Authenticator, r: &Received, body: &[u8]) -> Result<(), AuthFailure> {
    let v = auth.verify(&r.method, &r.uri, &r.headers, body)?;
    assert_eq!(
        (v.key_id.as_str(), v.scheme, v.signed_at),
        (KEY_ID, Scheme::Hmac, T0)
    );
    Ok(())
}

fn header<'a>(r: &'a Received, name: &str) -> &'a str {
    r.headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name}"))
        .to_str()
        .unwrap()
}

/// A call is a POST of the payload as JSON, with the key's id, a signature the heal API's own
/// verifier accepts with the configured key over the exact body received (and refuses over
/// another body or with another secret), and the idempotency key.
#[tokio::test]
async fn a_call_is_signed_with_the_key_over_the_exact_body() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Hook::start(&[Answer::Status(200)]).await;
    let detail = healer(dir.path(), 5)
        .call(&hook.url("/heal"), &payload(), "7-0", T0)
        .await
        .unwrap();
    assert_eq!(detail, "hook answered 200");
    let got = hook.received();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!((&r.method, r.uri.path()), (&http::Method::POST, "/heal"));
    assert_eq!(header(r, "content-type"), "application/json");
    assert_eq!(header(r, "x-edgeheal-key-id"), KEY_ID);
    assert_eq!(header(r, "x-edgeheal-idempotency-key"), "7-0");
    assert_eq!(r.body, serde_json::to_vec(&payload()).unwrap());
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&r.body).unwrap(),
        payload()
    );

    verify(&verifier(SECRET), r, &r.body).expect("the heal API's verifier refused it");
    let mut other_body = r.body.to_vec();
    other_body.push(b' ');
    assert_eq!(
        verify(&verifier(SECRET), r, &other_body),
        Err(AuthFailure::BadSignature)
    );
    assert_eq!(
        verify(&verifier(b"another-secret-0123456789"), r, &r.body),
        Err(AuthFailure::BadSignature)
    );
}

/// A 2xx ends a call; a 5xx, a 429 or a transport error (the connection closed with no
/// answer) is tried again, [`ATTEMPTS`] attempts in all, each the same request (signature,
/// idempotency key, body); any other answer (a 4xx, a redirect, which is not followed) ends it
/// at once, failed.
#[tokio::test]
async fn server_errors_throttling_and_transport_errors_are_tried_again_refusals_are_not() {
    use Answer::{Close, Status};
    let cases: &[(&[Answer], Result<&str, &str>, usize)] = &[
        (&[Status(200)], Ok("hook answered 200"), 1),
        (&[Status(204)], Ok("hook answered 204"), 1),
        (
            &[Status(503), Status(500), Status(200)],
            Ok("hook answered 200"),
            3,
        ),
        (&[Status(429), Status(202)], Ok("hook answered 202"), 2),
        (&[Close, Status(200)], Ok("hook answered 200"), 2),
        (
            &[Status(503)],
            Err("hook answered 503 Service Unavailable"),
            3,
        ),
        (
            &[Status(429)],
            Err("hook answered 429 Too Many Requests"),
            3,
        ),
        (&[Close], Err("error sending request"), 3),
        (&[Status(400)], Err("hook answered 400 Bad Request"), 1),
        (&[Status(403)], Err("hook answered 403 Forbidden"), 1),
        (&[Status(404)], Err("hook answered 404 Not Found"), 1),
        (
            &[Status(503), Status(409)],
            Err("hook answered 409 Conflict"),
            2,
        ),
        (
            &[Status(307)],
            Err("hook answered 307 Temporary Redirect"),
            1,
        ),
    ];
    assert_eq!(ATTEMPTS, 3);
    let dir = tempfile::tempdir().unwrap();
    let healer = healer(dir.path(), 30);
    // The cases at once, each with its own hook, so that their backoffs overlap.
    let calls = cases.iter().map(|(script, ..)| async {
        let hook = Hook::start(script).await;
        let got = healer.call(&hook.url("/heal"), &payload(), "7-1", T0).await;
        (hook, got)
    });
    let results = futures::future::join_all(calls).await;
    for ((script, want, hits), (hook, got)) in cases.iter().zip(results) {
        match (&got, want) {
            (Ok(detail), Ok(want)) => assert_eq!(detail, want, "{script:?}"),
            (Err(SoftHealError::Hook(why)), Err(want)) => {
                assert!(why.contains(want), "{script:?}: {why}")
            }
            _ => panic!("{script:?}: {got:?}, wanted {want:?}"),
        }
        let received = hook.received();
        assert_eq!(received.len(), *hits, "{script:?}: attempts");
        for r in &received {
            assert_eq!(r.uri.path(), "/heal");
            assert_eq!(r.headers, received[0].headers, "{script:?}");
            assert_eq!(r.body, received[0].body, "{script:?}");
            verify(&verifier(SECRET), r, &r.body).unwrap();
        }
    }
}

/// `soft_heal.timeout_secs` bounds each attempt: a hook that never answers fails the call
/// after 3 attempts of it and the backoffs between them, 2 s × 3 + 0.4 s + 0.8 s on tokio's
/// paused clock (exact, whatever the machine's speed). Before, nothing tested that the
/// timeout held.
#[tokio::test(start_paused = true)]
async fn each_attempt_is_bounded_by_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Hook::start(&[Answer::Hang]).await;
    let healer = healer(dir.path(), 2);
    let started = tokio::time::Instant::now();
    let got = tokio::time::timeout(
        Duration::from_secs(600),
        healer.call(&hook.url("/heal"), &payload(), "7-0", T0),
    )
    .await
    .expect("the call did not end");
    let took = started.elapsed();
    match got {
        Err(SoftHealError::Hook(why)) => assert_eq!(why, "timed out after 2s"),
        other => panic!("{other:?}"),
    }
    assert_eq!(hook.hits(), 3);
    let bound = Duration::from_secs(2) * 3 + FIRST_BACKOFF + FIRST_BACKOFF * 2;
    assert!(
        took >= bound && took < bound + Duration::from_millis(100),
        "took {took:?} on the paused clock, not {bound:?}"
    );
}

/// The key file's trailing newline (`\n`, `\r\n`, as `echo` and editors leave it) is not part
/// of the secret: the hook verifies with the secret alone. A secret shorter than 16 bytes, or
/// no file, is refused when the healer is built.
#[tokio::test]
async fn the_key_file_loses_its_trailing_newline_and_a_short_or_missing_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Hook::start(&[Answer::Status(200)]).await;
    for file in [
        b"soft-heal-secret-0123456789\n".as_slice(),
        b"soft-heal-secret-0123456789\r\n",
    ] {
        let healer = SoftHealer::new(&config(dir.path(), file, 5)).unwrap();
        healer
            .call(&hook.url("/heal"), &payload(), "7-0", T0)
            .await
            .unwrap();
        let r = hook.received().pop().unwrap();
        verify(&verifier(SECRET), &r, &r.body)
            .unwrap_or_else(|e| panic!("{file:?}: the newline was signed with: {e:?}"));
    }
    // 16 bytes is enough; 15 (its newline aside) is not.
    SoftHealer::new(&config(dir.path(), b"0123456789abcdef\n", 5)).unwrap();
    for file in [b"0123456789abcde\n".as_slice(), b"\n", b""] {
        let err = SoftHealer::new(&config(dir.path(), file, 5)).unwrap_err();
        assert!(
            matches!(&err, SoftHealError::Key(_, why) if why.ends_with("secret is shorter than 16 bytes")),
            "{file:?}: {err}"
        );
    }
    let mut missing = config(dir.path(), SECRET, 5);
    missing.key_file = dir.path().join("absent");
    let err = SoftHealer::new(&missing).unwrap_err();
    assert!(
        matches!(&err, SoftHealError::Key(path, _) if path.ends_with("absent")),
        "{err}"
    );
}

/// A stop during the backoff after a 503 cuts it short: the call ends with
/// [`SoftHealError::Stopped`] naming the attempt, and the hook gets no other attempt. Before,
/// the hook was tried 3 times whatever the stop (3 × `timeout_secs` and the backoffs, about
/// 16 s with the defaults, past the engine's 15 s).
#[tokio::test]
async fn a_stop_during_the_backoff_ends_the_call_without_another_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Hook::start(&[Answer::Status(503), Answer::Status(200)]).await;
    let (stop, stopped) = watch::channel(false);
    let healer = healer(dir.path(), 30).stopping_on(stopped);
    let _stop_at_backoff = stop_at_the_first_backoff(stop);
    let err = tokio::time::timeout(
        Duration::from_secs(60),
        healer.call(&hook.url("/heal"), &payload(), "7-0", T0),
    )
    .await
    .expect("the call did not end")
    .unwrap_err();
    let want = format!(
        "POST {}: not tried again after attempt 1 of 3: hook answered 503 Service Unavailable",
        hook.url("/heal")
    );
    assert!(
        matches!(&err, SoftHealError::Stopped(why) if *why == want),
        "{err}"
    );
    assert_eq!(hook.hits(), 1, "attempts after the stop");
}

/// A stop while an attempt is in flight lets it end: answered 200, the call succeeds;
/// answered 503, it ends there, not tried again.
#[tokio::test]
async fn a_stop_during_an_attempt_ends_the_call_with_that_attempt() {
    let dir = tempfile::tempdir().unwrap();
    for (code, want) in [
        (200, Ok("hook answered 200".to_owned())),
        (
            503,
            Err("not tried again after attempt 1 of 3: hook answered 503 Service Unavailable"),
        ),
    ] {
        let (stop, stopped) = watch::channel(false);
        let hook = Hook::start_with_stop(&[Answer::StopThen(code)], Some(stop)).await;
        let healer = healer(dir.path(), 30).stopping_on(stopped);
        let got = healer.call(&hook.url("/heal"), &payload(), "7-0", T0).await;
        match (&got, want) {
            (Ok(detail), Ok(want)) => assert_eq!(*detail, want),
            (Err(SoftHealError::Stopped(why)), Err(want)) => {
                assert!(why.ends_with(want), "{code}: {why}")
            }
            _ => panic!("{code}: {got:?}"),
        }
        assert_eq!(hook.hits(), 1, "{code}: attempts after the stop");
    }
}

/// A call made once the heal API is stopping is not made at all; one whose first attempt
/// succeeds is not affected by a stop raised after it, and a healer with no stop is tried as
/// before.
#[tokio::test]
async fn a_call_after_the_stop_makes_no_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Hook::start(&[Answer::Status(200)]).await;
    let (stop, stopped) = watch::channel(false);
    let healer = healer(dir.path(), 5).stopping_on(stopped);
    healer
        .call(&hook.url("/heal"), &payload(), "7-0", T0)
        .await
        .unwrap();
    assert_eq!(hook.hits(), 1);
    stop.send_replace(true);
    let err = healer
        .call(&hook.url("/heal"), &payload(), "7-1", T0)
        .await
        .unwrap_err();
    let want = format!("POST {}: not called", hook.url("/heal"));
    assert!(
        matches!(&err, SoftHealError::NotCalled(why) if *why == want),
        "{err}"
    );
    assert_eq!(hook.hits(), 1, "called after the stop");
    // The stop's sender gone (the heal API's runtime ending) is no stop.
    let (stop, stopped) = watch::channel(false);
    drop(stop);
    let healer = self::healer(dir.path(), 5).stopping_on(stopped);
    healer
        .call(&hook.url("/heal"), &payload(), "7-2", T0)
        .await
        .unwrap();
    assert_eq!(hook.hits(), 2);
}
