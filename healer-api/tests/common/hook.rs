//! A soft-heal hook for the tests, served by hyper on a loopback port: it keeps every request
//! it receives (method, path, headers, body, in order) and answers each from a script. And a
//! tracing layer that raises the heal API's stop as the soft healer starts a backoff, so that a
//! test stops it during the backoff whatever the machine's speed (the process's subscriber,
//! installed by the first hook). Included with `#[path]` by
//! `tests/soft_heal.rs` and `tests/engine.rs`.
#![allow(dead_code)]

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::sync::watch;

/// How the hook answers one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// This status, no body.
    Status(u16),
    /// Never: the request is read and no answer comes.
    Hang,
    /// The connection is closed once the request is read, with no answer (a transport error
    /// to the caller).
    Close,
    /// The heal API's stop is raised (the hook's `stop`) while the request is in flight, then
    /// this status.
    StopThen(u16),
}

/// One request the hook received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: http::Method,
    pub uri: http::Uri,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

/// A hook on `127.0.0.1`.
pub struct Hook {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

/// What the hook's connections share.
struct Served {
    script: Arc<[Answer]>,
    received: Arc<Mutex<Vec<Received>>>,
    /// Raised by [`Answer::StopThen`].
    stop: Option<watch::Sender<bool>>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Keeps `req` and answers it as the script says for its place.
async fn answer(
    served: Arc<Served>,
    req: http::Request<Incoming>,
) -> Result<http::Response<Full<Bytes>>, BoxError> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let n = {
        let mut received = served.received.lock().unwrap();
        received.push(Received {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body,
        });
        received.len() - 1
    };
    let status = |code| {
        http::Response::builder()
            .status(code)
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    match served.script[n.min(served.script.len() - 1)] {
        Answer::Status(code) => Ok(status(code)),
        Answer::Hang => std::future::pending().await,
        Answer::Close => Err("the hook closes the connection".into()),
        Answer::StopThen(code) => {
            let stop = served
                .stop
                .as_ref()
                .expect("a hook that raises the stop needs it");
            stop.send_replace(true);
            Ok(status(code))
        }
    }
}

impl Hook {
    /// Serves on a free loopback port, answering the n-th request with `script[n]`, and every
    /// request past the script with its last answer.
    pub async fn start(script: &[Answer]) -> Hook {
        Self::start_with_stop(script, None).await
    }

    /// As [`Hook::start`], [`Answer::StopThen`] raising `stop`.
    pub async fn start_with_stop(script: &[Answer], stop: Option<watch::Sender<bool>>) -> Hook {
        assert!(!script.is_empty());
        install();
        let received = Arc::new(Mutex::new(Vec::new()));
        let served = Arc::new(Served {
            script: script.into(),
            received: received.clone(),
            stop,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let served = served.clone();
                let service = hyper::service::service_fn(move |req| answer(served.clone(), req));
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        Hook { addr, received }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// How many requests it received.
    pub fn hits(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// The requests it received, in order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

thread_local! {
    /// The stop [`stop_at_the_first_backoff`] raises for the tests on this thread.
    static STOP_AT_BACKOFF: RefCell<Option<watch::Sender<bool>>> = const { RefCell::new(None) };
}

/// Raises this thread's [`STOP_AT_BACKOFF`] at the soft healer's backoff: the event it logs
/// before it waits (`retrying the soft-heal hook`, which carries `backoff_ms`).
struct StopAtBackoff;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for StopAtBackoff {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let meta = event.metadata();
        if meta.target() == "edgeheal_healer::softheal"
            && meta.fields().field("backoff_ms").is_some()
        {
            STOP_AT_BACKOFF.with(|stop| {
                if let Some(stop) = &*stop.borrow() {
                    stop.send_replace(true);
                }
            });
        }
    }
}

/// Installs [`StopAtBackoff`] as the process's subscriber, once, before any hook serves (so
/// before the soft healer logs anything). A subscriber set per test (`set_default`) would race
/// with the tests running beside it: an event site first hit on another thread while it is
/// set is cached as having no subscriber, and the stop was not raised.
fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        use tracing_subscriber::layer::SubscriberExt;
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(StopAtBackoff))
            .expect("another subscriber is set");
    });
}

/// Until it is dropped, the soft healer's first backoff on this thread (all of a
/// current-thread runtime's tasks) raises `stop`.
pub struct StopAtTheFirstBackoff(());

impl Drop for StopAtTheFirstBackoff {
    fn drop(&mut self) {
        STOP_AT_BACKOFF.with(|stop| stop.borrow_mut().take());
    }
}

/// Raises `stop` as the soft healer starts its first backoff on this thread, until the guard
/// is dropped: a stop during the backoff, whatever the machine's speed.
pub fn stop_at_the_first_backoff(stop: watch::Sender<bool>) -> StopAtTheFirstBackoff {
    install();
    STOP_AT_BACKOFF.with(|slot| *slot.borrow_mut() = Some(stop));
    StopAtTheFirstBackoff(())
}
