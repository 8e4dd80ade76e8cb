//! Wiring: builds every component from a [`Config`] and runs the server and the engine until
//! shutdown. Shutdown is graceful and bounded, within the pod's grace period
//! (`termination_grace_period_secs`, see [`Config::shutdown_bound_secs`]). At SIGTERM the heal
//! API first goes lame-duck for `server.shutdown_delay_secs`: `/readyz` answers 503 (`shutting
//! down`) while connections are still accepted and served, so that the Fluent Bit and Vector
//! that kube-proxy still sends here, until the endpoints drop the pod, are answered rather
//! than refused. Then the listener stops accepting, in-flight requests finish (their batches
//! are committed and answered) for at most `server.shutdown_timeout_secs`
//! ([`crate::http_server`]), then the engine is waited for at most `engine.stop_timeout_secs`,
//! and within what is left of it the notifications it queued ([`crate::notify`]) and the
//! Kubernetes Events it recorded ([`crate::recorder`]);
//! the blocking work still running then gets [`EXIT_BLOCKING_WAIT`] ([`exit_runtime`]). The
//! engine is told to stop as the shutdown begins, at SIGTERM, not once the requests are
//! drained: from then on it observes no further record and so starts no further action, its
//! calls to the Kubernetes API and to a soft-heal hook are not tried again
//! ([`crate::kube_cluster`], [`crate::softheal`]; what it is calling ends with the attempt in
//! flight, within `kubernetes.call_timeout_secs` or `soft_heal.timeout_secs`), and the batches
//! committed meanwhile, during the lame-duck period too, wait in the store for the next start.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use crate::auth::Authenticator;
use crate::clock::SharedClock;
use crate::cluster::Cluster;
use crate::config::{Config, Mode};
use crate::engine::{Cycles, Engine};
use crate::http_server;
use crate::keys::KeyRing;
use crate::kube_cluster::KubeCluster;
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::server::{app, Shared};
use crate::softheal::SoftHealer;
use crate::store::{self, Store};

/// Startup failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// Keys.
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
    /// Store.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Notifier.
    #[error(transparent)]
    Notify(#[from] crate::notify::NotifyError),
    /// Soft-heal hook.
    #[error(transparent)]
    SoftHeal(#[from] crate::softheal::SoftHealError),
    /// Kubernetes client.
    #[error("kubernetes: {0}")]
    Kube(#[from] crate::cluster::ClusterError),
    /// Listener.
    #[error("listen on {0}: {1}")]
    Listen(std::net::SocketAddr, std::io::Error),
    /// The engine stopped for good: it could not recover the incidents from the store.
    #[error("engine stopped: {0}")]
    Engine(#[source] crate::store::StoreError),
    /// The engine's task panicked.
    #[error("engine stopped: {0}")]
    EngineTask(#[source] tokio::task::JoinError),
}

/// How long the process waits, once [`run`] returned, for the work still running on tokio's
/// blocking pool (a decode whose request was dropped, a store read, a DNS lookup) before it
/// exits without it: dropping a runtime would wait for it without bound. Counted in
/// [`crate::config::SHUTDOWN_MARGIN_SECS`].
pub const EXIT_BLOCKING_WAIT: Duration = Duration::from_secs(1);

/// Shuts `runtime` down once [`run`] returned, waiting at most [`EXIT_BLOCKING_WAIT`] for its
/// blocking work.
pub fn exit_runtime(runtime: tokio::runtime::Runtime) {
    runtime.shutdown_timeout(EXIT_BLOCKING_WAIT);
}

/// This replica's name (Event `reportingInstance`).
pub fn instance_name() -> String {
    std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "edgeheal-healer".into())
}

/// What ends the heal API: the shutdown starts when `requested` resolves, and its lame-duck
/// period (`server.shutdown_delay_secs`) ends early if `cut_short` resolves first.
pub struct Shutdown {
    requested: Pin<Box<dyn Future<Output = ()> + Send>>,
    cut_short: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl Shutdown {
    /// A shutdown once `requested` resolves, its lame-duck period served whole.
    pub fn on(requested: impl Future<Output = ()> + Send + 'static) -> Self {
        Self {
            requested: Box::pin(requested),
            cut_short: Box::pin(std::future::pending()),
        }
    }

    /// The lame-duck period ends when `cut_short` resolves, if before
    /// `server.shutdown_delay_secs` have passed (the binary: a second SIGTERM or Ctrl-C).
    pub fn cut_short_by(mut self, cut_short: impl Future<Output = ()> + Send + 'static) -> Self {
        self.cut_short = Box::pin(cut_short);
        self
    }
}

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shutdown").finish_non_exhaustive()
    }
}

/// The soft-heal hook's client, when `soft_heal` is configured: it starts no attempt at a call
/// once `stop` is true ([`SoftHealer::stopping_on`]), as the Kubernetes client does.
fn soft_healer(
    config: &Config,
    stop: &watch::Receiver<bool>,
) -> Result<Option<SoftHealer>, RunError> {
    Ok(match &config.soft_heal {
        Some(cfg) => Some(SoftHealer::new(cfg)?.stopping_on(stop.clone())),
        None => None,
    })
}

/// Runs until `shutdown` resolves.
pub async fn run(
    config: Config,
    clock: SharedClock,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    run_until(config, clock, Arc::default(), Shutdown::on(shutdown)).await
}

/// [`run`], with the engine's [`Cycles`] in the caller's hands: for a caller that moves `clock`
/// itself and runs an engine cycle after each move (the closed-loop demo).
pub async fn run_with_cycles(
    config: Config,
    clock: SharedClock,
    cycles: Arc<Cycles>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    run_until(config, clock, cycles, Shutdown::on(shutdown)).await
}

/// [`run_with_cycles`], its shutdown's lame-duck period possibly cut short ([`Shutdown`]).
pub async fn run_until(
    config: Config,
    clock: SharedClock,
    cycles: Arc<Cycles>,
    shutdown: Shutdown,
) -> Result<(), RunError> {
    let config = Arc::new(config);
    let keys = KeyRing::load(&config.auth.keys_dir)?;
    for warning in config.auth.role_warnings(&keys.ids()) {
        tracing::warn!("{warning}");
    }
    tracing::info!(
        keys = keys.len(),
        mode = config.mode.as_str(),
        "starting edgeheal-healer"
    );
    {
        let keys = keys.clone();
        let dir = config.auth.keys_dir.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(30));
            loop {
                every.tick().await;
                if let Err(e) = keys.reload(&dir) {
                    tracing::error!(error = %e, "key reload failed; keeping the previous keys");
                }
            }
        });
    }
    let store = Store::open(&config.store.path, config.store.synchronous)?;
    let auth = Authenticator::new(
        keys,
        &config.auth.service,
        &config.auth.region,
        config.auth.max_clock_skew_secs,
        config.auth.replay_cache_capacity,
        clock.clone(),
    );
    // Replay protection across restarts: signatures accepted inside the window stay refused.
    let since = clock.now().as_millisecond() - 2 * config.auth.max_clock_skew_secs as i64 * 1000;
    for (sig, received_ms) in store
        .read(move |c| store::recent_signatures(c, since))
        .await?
    {
        auth.remember(&sig, received_ms / 1000);
    }
    let metrics = Arc::new(Metrics::new());
    metrics.set_mode(config.mode.as_str());
    let notifier = match &config.notify {
        Some(n) => Notifier::start(n, metrics.clone())?,
        None => Notifier::log_only(metrics.clone()),
    };
    // Told at SIGTERM: the engine starts nothing new, and its calls, to the Kubernetes API and
    // to a soft-heal hook, are not tried again.
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let soft_healer = soft_healer(&config, &stop_rx)?;
    let cluster: Option<Arc<dyn Cluster>> = match config.mode {
        Mode::Shadow => None,
        _ => Some(Arc::new(
            KubeCluster::connect(&config.kubernetes, instance_name(), clock.clone())
                .await?
                .stopping_on(stop_rx.clone()),
        )),
    };
    let ready = Arc::new(AtomicBool::new(false));
    let state = Arc::new(Shared::new(
        config.clone(),
        auth,
        store.clone(),
        metrics.clone(),
        clock.clone(),
        cycles.waker(),
        ready.clone(),
    ));
    tokio::spawn(crate::retention::run(
        store.clone(),
        config.store.retention.clone(),
        clock.clone(),
        metrics.clone(),
    ));
    let notifications = notifier.clone();
    let engine = Engine::new(
        config.clone(),
        store,
        cluster,
        soft_healer,
        notifier,
        metrics,
        clock,
    );
    let events = engine.events();
    // An engine that stops before it is asked to (its recovery given up, a panic) stops the
    // server too: `run` then fails and the process exits, so Kubernetes restarts it.
    let engine_stopped = Arc::new(Notify::new());
    let running = tokio::spawn(engine.run(cycles, stop_rx, ready));
    let engine_task = tokio::spawn({
        let stopped = engine_stopped.clone();
        async move {
            let ended = match running.await {
                Ok(ran) => ran.map_err(RunError::Engine),
                Err(panicked) => Err(RunError::EngineTask(panicked)),
            };
            stopped.notify_one();
            ended
        }
    });
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| RunError::Listen(config.listen, e))?;
    tracing::info!(listen = %config.listen, "listening");
    let stop_engine = stop_tx.clone();
    let serving = state.clone();
    let delay = Duration::from_secs(config.server.shutdown_delay_secs);
    let Shutdown {
        requested,
        cut_short,
    } = shutdown;
    http_server::serve(listener, app(state), &config.server, async move {
        let requested = tokio::select! {
            () = requested => true,
            () = engine_stopped.notified() => {
                tracing::error!("the engine stopped; stopping");
                false
            }
        };
        // While the requests are served and drain, the engine starts nothing new.
        stop_engine.send_replace(true);
        serving.begin_shutdown();
        // Kubernetes takes the pod out of its endpoints a few seconds after it is marked
        // terminating, and kube-proxy sends connections here until then: accept and serve
        // them, not ready, rather than refuse them. (An engine that stopped on its own is a
        // failure, not a termination: the process exits at once, as before.)
        if requested && !delay.is_zero() {
            tracing::info!(
                shutdown_delay_secs = delay.as_secs(),
                "shutting down: not ready; still serving while the endpoints drop this pod"
            );
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = cut_short => tracing::info!("shutdown delay cut short"),
            }
        }
        tracing::info!("closing the listener; draining the requests in flight");
    })
    .await;
    stop_tx.send_replace(true);
    let bound = config.engine.stop_timeout_secs;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(bound);
    let ended = tokio::time::timeout_at(deadline, engine_task).await;
    match ended {
        Ok(ended) => {
            // What the engine notified and the Events it recorded, the last ones too, go out
            // within what is left.
            let flushed = futures::future::join(notifications.flushed(), events.flushed());
            if tokio::time::timeout_at(deadline, flushed).await.is_err() {
                tracing::warn!(
                    notifications = notifications.queued(),
                    events = events.queued(),
                    stop_timeout_secs = bound,
                    "stopped with notifications or Events still queued after engine.stop_timeout_secs: not sent (the incident history has them)"
                );
            }
            tracing::info!("stopped");
            ended.unwrap_or(Ok(()))
        }
        Err(_) => {
            // Before the pod's grace period ends: Kubernetes would kill it mid-way.
            tracing::warn!(
                stop_timeout_secs = bound,
                "stopped without the engine, still in its cycle after engine.stop_timeout_secs: an action it was doing is found interrupted at the next start"
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::softheal::SoftHealError;

    /// The heal API's soft-heal client stops with the engine: once the stop is raised, a call
    /// is not made (the port it names has no listener: an attempt would fail and be tried
    /// again, not end `NotCalled`). Without `soft_heal`, there is none.
    #[tokio::test]
    async fn the_soft_heal_client_stops_with_the_heal_api() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("hook-key");
        std::fs::write(&key, "soft-heal-secret-0123456789\n").unwrap();
        let yaml = format!(
            "store: {{ path: {db} }}\nauth: {{ keys_dir: {keys} }}\nguards: {{ namespaces: [shop] }}\n",
            db = dir.path().join("h.db").display(),
            keys = dir.path().join("keys").display(),
        );
        let (stop, stopped) = watch::channel(false);
        let without = Config::from_yaml(&yaml).unwrap();
        assert!(soft_healer(&without, &stopped).unwrap().is_none());
        let with = Config::from_yaml(&format!(
            "{yaml}soft_heal: {{ key_id: healer, key_file: {} }}\n",
            key.display()
        ))
        .unwrap();
        let healer = soft_healer(&with, &stopped).unwrap().unwrap();
        stop.send_replace(true);
        let err = healer
            .call(
                "http://127.0.0.1:9/heal",
                &serde_json::json!({"incident_id": 1}),
                "1-0",
                0,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, SoftHealError::NotCalled(why) if why.ends_with("not called")),
            "{err}"
        );
    }
}
