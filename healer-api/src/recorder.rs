//! Kubernetes Events, posted by a background worker in the order the engine records them, as
//! client-go's `EventRecorder` posts them: recording one never waits on the API server. The
//! engine records an Event ("Remediating", "Remediated", "Escalated", …) and goes on; the
//! worker posts it with the Kubernetes client's bounded retries. Before, the engine awaited
//! each post, retries included, so an Events API that timed out (`kubernetes.call_timeout_secs`
//! an attempt, `retry.max_attempts` attempts) held every action back by up to ~40 s and every
//! incident behind it in turn, although an Event changes nothing in the cluster.
//!
//! Each Event carries the time the engine recorded it (`eventTime`), not the time it was
//! posted, so `kubectl events` orders a late one where it happened. The queue is bounded
//! ([`QUEUE_CAPACITY`], client-go's `maxQueuedEvents`): when the API server refuses Events for
//! long enough to fill it, further ones are dropped and counted, and the incident history in the
//! store, which the engine writes whatever becomes of its Events, still says everything.
//!
//! At a stop what is queued is still posted, one attempt each (the Kubernetes client tries an
//! Event again no more once stopping), while the heal API waits for it after the engine, within
//! what is left of `engine.stop_timeout_secs` ([`crate::runtime`]); what is still queued then
//! is not posted, and the log says how many. Before, the client made no call once stopping,
//! and the Events queued at SIGTERM were dropped: the "Remediated" of an action that had just
//! finished, for one.
//!
//! `edgeheal_healer_events_total{result}` counts them: `posted`, `failed` (the API server
//! refused it, or every attempt failed) and `dropped` (the queue was full, or the client would
//! not call).

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::cluster::{Cluster, ClusterError, EventNote, Target};
use crate::metrics::{Metrics, ResultLabel};
use crate::worker_queue::{self, Item};

/// Events queued at most: client-go's `maxQueuedEvents`. At the engine's few Events an
/// incident step, a thousand is minutes of a storm's Events.
pub const QUEUE_CAPACITY: usize = 1000;

/// One Event to post.
struct Queued {
    target: Target,
    uid: Option<String>,
    note: EventNote,
}

/// Records Events on a cluster through a background worker; cheap to clone.
#[derive(Debug, Clone)]
pub struct EventRecorder {
    tx: Option<mpsc::Sender<Item<Box<Queued>>>>,
    metrics: Arc<Metrics>,
}

impl EventRecorder {
    /// A recorder that records nothing (shadow mode: no cluster).
    pub fn none(metrics: Arc<Metrics>) -> Self {
        Self { tx: None, metrics }
    }

    /// Starts the worker that posts to `cluster`, every Event with `dryRun=All` if `dry_run`
    /// (dry-run mode). Must be called within a Tokio runtime; the worker ends once every clone
    /// of the recorder is dropped and the queue is empty.
    pub fn start(cluster: Arc<dyn Cluster>, dry_run: bool, metrics: Arc<Metrics>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(post_all(rx, cluster, dry_run, metrics.clone()));
        Self {
            tx: Some(tx),
            metrics,
        }
    }

    /// Queues an Event regarding `target` (its `uid` when known); never waits.
    pub fn record(&self, target: &Target, uid: Option<&str>, note: EventNote) {
        let Some(tx) = &self.tx else { return };
        let work = Item::Job(Box::new(Queued {
            target: target.clone(),
            uid: uid.map(str::to_owned),
            note,
        }));
        let (why, work) = match tx.try_send(work) {
            Ok(()) => return,
            Err(TrySendError::Full(work)) => ("event queue full: event dropped", work),
            // Only if the worker panicked.
            Err(TrySendError::Closed(work)) => ("event worker gone: event dropped", work),
        };
        if let Item::Job(q) = work {
            tracing::warn!(
                reason = q.note.reason,
                target = %q.target.key(),
                capacity = QUEUE_CAPACITY,
                "{why}"
            );
            count(&self.metrics, "dropped");
        }
    }

    /// How many Events are queued, not yet taken by the worker.
    pub fn queued(&self) -> usize {
        worker_queue::queued(self.tx.as_ref())
    }

    /// Waits until every Event queued before this call was posted or given up.
    pub async fn flushed(&self) {
        worker_queue::flushed(self.tx.as_ref()).await;
    }
}

fn count(metrics: &Metrics, result: &str) {
    metrics
        .events
        .get_or_create(&ResultLabel {
            result: result.into(),
        })
        .inc();
}

/// The worker: posts each queued Event in turn, with the client's retries.
async fn post_all(
    mut rx: mpsc::Receiver<Item<Box<Queued>>>,
    cluster: Arc<dyn Cluster>,
    dry_run: bool,
    metrics: Arc<Metrics>,
) {
    let mut told_stopping = false;
    while let Some(q) = worker_queue::next(&mut rx).await {
        match cluster
            .record_event(&q.target, q.uid.as_deref(), &q.note, dry_run)
            .await
        {
            Ok(()) => count(&metrics, "posted"),
            Err(ClusterError::NotCalled(_) | ClusterError::Stopped(_)) => {
                if !told_stopping {
                    told_stopping = true;
                    tracing::warn!(
                        reason = q.note.reason,
                        target = %q.target.key(),
                        "stopping: the client would not post an Event"
                    );
                }
                count(&metrics, "dropped");
            }
            Err(e) => {
                tracing::warn!(
                    reason = q.note.reason,
                    target = %q.target.key(),
                    error = %e,
                    "could not record event"
                );
                count(&metrics, "failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::ActionKind;
    use crate::policy::{Facts, Plan};
    use crate::tags::WorkloadKind;
    use async_trait::async_trait;
    use std::sync::Mutex;
    use tokio::sync::Semaphore;

    /// An API server whose Events API answers each post as `answer` says, once `gate` lets it.
    #[derive(Debug)]
    struct Events {
        gate: Semaphore,
        answer: fn(&str) -> Result<(), ClusterError>,
        posted: Mutex<Vec<(String, jiff::Timestamp)>>,
    }

    #[async_trait]
    impl Cluster for Events {
        async fn facts(
            &self,
            _: &Target,
            _: ActionKind,
            _: Option<&str>,
        ) -> Result<Facts, ClusterError> {
            unreachable!("the recorder only posts Events")
        }
        async fn execute(&self, _: &Target, _: &Plan, _: bool) -> Result<String, ClusterError> {
            unreachable!("the recorder only posts Events")
        }
        async fn hpa_min_replicas(&self, _: &str, _: &str) -> Result<Option<i32>, ClusterError> {
            unreachable!("the recorder only posts Events")
        }
        async fn record_event(
            &self,
            _: &Target,
            _: Option<&str>,
            ev: &EventNote,
            _: bool,
        ) -> Result<(), ClusterError> {
            self.gate.acquire().await.unwrap().forget();
            (self.answer)(&ev.note)?;
            self.posted.lock().unwrap().push((ev.note.clone(), ev.at));
            Ok(())
        }
    }

    fn events(open: bool, answer: fn(&str) -> Result<(), ClusterError>) -> Arc<Events> {
        let gate = Semaphore::new(if open { Semaphore::MAX_PERMITS } else { 0 });
        Arc::new(Events {
            gate,
            answer,
            posted: Mutex::default(),
        })
    }

    fn note(text: &str, at_second: i64) -> EventNote {
        EventNote {
            type_: "Normal",
            reason: "Remediating",
            action: "scale_up".into(),
            note: text.into(),
            at: jiff::Timestamp::from_second(at_second).unwrap(),
        }
    }

    fn cart() -> Target {
        Target {
            namespace: "shop".into(),
            kind: WorkloadKind::Deployment,
            name: "cart".into(),
        }
    }

    fn counted(metrics: &Metrics) -> String {
        let text = metrics.render();
        let mut lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("edgeheal_healer_events_total{"))
            .collect();
        lines.sort_unstable();
        lines.join("\n")
    }

    #[tokio::test]
    async fn posts_in_the_order_recorded_with_the_time_recorded() {
        let api = events(true, |_| Ok(()));
        let metrics = Arc::new(Metrics::new());
        let recorder = EventRecorder::start(api.clone(), false, metrics.clone());
        for (i, at) in [(0, 30), (1, 10), (2, 20)] {
            recorder.record(&cart(), Some("uid"), note(&format!("e{i}"), at));
        }
        recorder.flushed().await;
        let posted = api.posted.lock().unwrap().clone();
        let at = |s| jiff::Timestamp::from_second(s).unwrap();
        assert_eq!(
            posted,
            [
                ("e0".into(), at(30)),
                ("e1".into(), at(10)),
                ("e2".into(), at(20))
            ]
        );
        assert!(counted(&metrics).contains(r#"{result="posted"} 3"#));
    }

    /// While the API server takes no Event, recording never waits: the queue fills, and what
    /// does not fit is dropped and counted, the rest posted once the API server answers.
    #[tokio::test]
    async fn a_full_queue_drops_and_counts_what_does_not_fit() {
        let api = events(false, |_| Ok(()));
        let metrics = Arc::new(Metrics::new());
        let recorder = EventRecorder::start(api.clone(), false, metrics.clone());
        // One taken by the worker (waiting on the API server), QUEUE_CAPACITY queued, 5 over.
        recorder.record(&cart(), None, note("first", 0));
        tokio::task::yield_now().await;
        for i in 0..QUEUE_CAPACITY + 5 {
            recorder.record(&cart(), None, note(&i.to_string(), 0));
        }
        assert!(
            counted(&metrics).contains(r#"{result="dropped"} 5"#),
            "{}",
            counted(&metrics)
        );
        api.gate.add_permits(Semaphore::MAX_PERMITS / 2);
        recorder.flushed().await;
        let posted = api.posted.lock().unwrap();
        assert_eq!(posted.len(), QUEUE_CAPACITY + 1);
        assert_eq!(posted[0].0, "first");
        assert_eq!(posted[QUEUE_CAPACITY].0, (QUEUE_CAPACITY - 1).to_string());
        assert!(
            counted(&metrics).contains(&format!(r#"{{result="posted"}} {}"#, QUEUE_CAPACITY + 1))
        );
    }

    /// An Event the API server refuses is counted `failed`; one the stop kept from being
    /// posted, `dropped`; the worker goes on with the next either way.
    #[tokio::test]
    async fn refused_and_stopped_events_are_counted_and_the_next_posted() {
        let api = events(true, |note| match note {
            "refused" => Err(ClusterError::Api {
                code: 403,
                reason: "Forbidden".into(),
                message: "cannot create events".into(),
            }),
            "stopping" => Err(ClusterError::NotCalled(
                "event on shop/deployment/cart".into(),
            )),
            _ => Ok(()),
        });
        let metrics = Arc::new(Metrics::new());
        let recorder = EventRecorder::start(api.clone(), false, metrics.clone());
        for text in ["refused", "ok", "stopping", "stopping", "ok"] {
            recorder.record(&cart(), None, note(text, 0));
        }
        recorder.flushed().await;
        assert_eq!(api.posted.lock().unwrap().len(), 2);
        assert_eq!(
            counted(&metrics),
            [
                r#"edgeheal_healer_events_total{result="dropped"} 2"#,
                r#"edgeheal_healer_events_total{result="failed"} 1"#,
                r#"edgeheal_healer_events_total{result="posted"} 2"#,
            ]
            .join("\n")
        );
    }

    /// Without a cluster (shadow mode) nothing is recorded, and waiting for it returns.
    #[tokio::test]
    async fn a_recorder_without_a_cluster_records_nothing() {
        let metrics = Arc::new(Metrics::new());
        let recorder = EventRecorder::none(metrics.clone());
        recorder.record(&cart(), None, note("x", 0));
        recorder.flushed().await;
        assert!(counted(&metrics).contains(r#"{result="dropped"} 0"#));
    }
}
