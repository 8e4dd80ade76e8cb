//! A batch is decoded off the runtime's workers: while one is gunzipped and parsed, the other
//! requests on them are answered. Before, `decode_batch` ran in the handler, and a body of
//! `ingest.max_decompressed_bytes` held its worker for the whole decode: with the one worker
//! of this test's runtime, `/healthz` waited for it.
//!
//! A test binary of its own, so that its global allocator can hold a decode in progress for as
//! long as the test needs, without timing: armed with a size nothing else allocates (the
//! decompressed buffer of the test's gzip body, which the gzip trailer sizes), it stops the
//! thread making that allocation until the test opens the gate. Were the decode on the
//! runtime's one thread, the test could not run to open it: the gate then opens by itself after
//! [`WATCHDOG`], and the test fails rather than hangs.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

use common::*;
use http::StatusCode;
use tower::ServiceExt;

/// The gate the armed allocation waits at.
struct Gate {
    /// A thread came to the gate since it was armed.
    reached: bool,
    /// A thread is waiting at the gate.
    held: bool,
    /// The test opened it.
    open: bool,
}

static ARMED_SIZE: AtomicUsize = AtomicUsize::new(0);
static GATE: Mutex<Gate> = Mutex::new(Gate {
    reached: false,
    held: false,
    open: false,
});
static GATE_CHANGED: Condvar = Condvar::new();

/// How long the gate waits for the test before it opens by itself.
const WATCHDOG: Duration = Duration::from_secs(30);

/// The system allocator, with the gate in front of the armed allocation.
struct Gated;

unsafe impl GlobalAlloc for Gated {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let armed = ARMED_SIZE.load(Ordering::Relaxed);
        if armed != 0
            && layout.size() == armed
            && ARMED_SIZE
                .compare_exchange(armed, 0, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
        {
            wait_at_gate();
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Gated = Gated;

/// Waits until the test opens the gate, or [`WATCHDOG`] passed. Allocates nothing (std's
/// `Mutex` and `Condvar` are futexes).
fn wait_at_gate() {
    let mut gate = GATE.lock().unwrap_or_else(PoisonError::into_inner);
    gate.reached = true;
    gate.held = true;
    GATE_CHANGED.notify_all();
    let (mut gate, _) = GATE_CHANGED
        .wait_timeout_while(gate, WATCHDOG, |g| !g.open)
        .unwrap_or_else(PoisonError::into_inner);
    gate.held = false;
}

/// Arms the gate for the next allocation of `size` bytes.
fn arm(size: usize) {
    *GATE.lock().unwrap() = Gate {
        reached: false,
        held: false,
        open: false,
    };
    ARMED_SIZE.store(size, Ordering::SeqCst);
}

/// Whether a thread came to the gate since it was armed.
fn reached() -> bool {
    GATE.lock().unwrap().reached
}

/// Whether a thread waits at the gate now.
fn held() -> bool {
    GATE.lock().unwrap().held
}

fn open_gate() {
    GATE.lock().unwrap().open = true;
    GATE_CHANGED.notify_all();
}

/// Yields to the runtime until `f` holds; panics after [`WATCHDOG`] (only a failure waits
/// that long).
async fn until(what: &str, f: impl Fn() -> bool) {
    let polls = WATCHDOG.as_millis() / 5;
    for _ in 0..polls {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{what}: not within {WATCHDOG:?}");
}

/// The decompressed size of the test's bodies: 3 MiB and 17 bytes, a size nothing else in the
/// request allocates.
const PLAIN_LEN: usize = (3 << 20) + 17;

/// A JSON array of two anomalies about `pod`, padded with whitespace to [`PLAIN_LEN`] bytes,
/// gzipped.
fn gzipped_batch(pod: &str) -> Vec<u8> {
    let records = body_of(&[
        record("shop/cart", "error_burst", Some(pod)),
        record("shop/web", "cpu_saturation", None),
    ]);
    let mut plain = b"[".to_vec();
    plain.resize(PLAIN_LEN - records.len() + 1, b' ');
    plain.extend_from_slice(&records[1..]);
    assert_eq!(plain.len(), PLAIN_LEN);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).unwrap();
    gz.finish().unwrap()
}

/// `#[tokio::test]` runs on a current-thread runtime: one worker for every request.
#[tokio::test]
async fn healthz_answers_while_a_batch_is_decoded() {
    let env = env("");
    let t = now(&env.clock);
    let router = edgeheal_healer::app(env.state.clone());
    let budget = &env.state.body_budget;
    let post = |pod: &str, at: i64| {
        let request = sign_vector(
            VEC_KEY_ID,
            VEC_SECRET,
            at,
            &gzipped_batch(pod),
            &[("content-encoding", "gzip")],
        );
        tokio::spawn(router.clone().oneshot(request))
    };

    arm(PLAIN_LEN);
    let batch = post("cart-1", t);
    until("the decode reaches the gate", reached).await;
    let healthz = http::Request::get("/healthz")
        .body(axum::body::Body::empty())
        .unwrap();
    let answer = router.clone().oneshot(healthz).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(
        held() && !batch.is_finished(),
        "/healthz was answered only once the decode was over"
    );
    // The decode in progress has its decompressed buffer charged to the bodies' budget.
    assert!(
        budget.capacity() - budget.available() >= PLAIN_LEN,
        "{} of {} held",
        budget.capacity() - budget.available(),
        budget.capacity()
    );
    open_gate();
    let answered = batch.await.unwrap().unwrap();
    assert_eq!(answered.status(), StatusCode::ACCEPTED);
    drop(answered);
    assert_eq!(stored(&env.state).await, (1, 2));
    assert_eq!(budget.available(), budget.capacity(), "all given back");

    // A request dropped while its batch is decoded (its client gone) holds its memory until
    // the decode is over, then gives all of it back.
    arm(PLAIN_LEN);
    let batch = post("cart-2", t + 1);
    until("the decode reaches the gate", reached).await;
    assert!(held());
    batch.abort();
    assert!(batch.await.unwrap_err().is_cancelled());
    assert!(
        budget.capacity() - budget.available() >= PLAIN_LEN,
        "the decode still holds its memory"
    );
    open_gate();
    until("the dropped request's memory is given back", || {
        budget.available() == budget.capacity()
    })
    .await;
    assert_eq!(stored(&env.state).await, (1, 2));
}
