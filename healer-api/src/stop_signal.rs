//! The heal API's stop as a client that calls out sees it (the Kubernetes client, the soft-heal
//! hook's): whether it is raised, and a future that waits for it, so that once the heal API is
//! stopping no attempt at a call is started and a backoff before the next is cut short.

use tokio::sync::watch;

/// A view of the stop; none (the default) is never raised.
#[derive(Debug, Clone, Default)]
pub struct StopSignal(Option<watch::Receiver<bool>>);

impl StopSignal {
    /// The stop `stop` turns true.
    pub fn new(stop: watch::Receiver<bool>) -> Self {
        Self(Some(stop))
    }

    /// Whether the heal API is stopping.
    pub fn is_raised(&self) -> bool {
        self.0.as_ref().is_some_and(|stop| *stop.borrow())
    }

    /// Waits until the heal API is stopping (for ever if there is no stop, or its sender is
    /// gone without raising it).
    pub async fn raised(&self) {
        match self.0.clone() {
            Some(mut stop) => {
                if stop.wait_for(|s| *s).await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending::<()>().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[tokio::test]
    async fn it_is_raised_when_its_stop_turns_true_and_never_without_one() {
        assert!(!StopSignal::default().is_raised());
        assert!(StopSignal::default().raised().now_or_never().is_none());
        let (tx, rx) = watch::channel(false);
        let signal = StopSignal::new(rx);
        assert!(!signal.is_raised());
        assert!(signal.raised().now_or_never().is_none());
        tx.send(true).unwrap();
        assert!(signal.is_raised());
        assert!(signal.raised().now_or_never().is_some());
        // A sender gone without raising it: never raised.
        let (tx, rx) = watch::channel(false);
        drop(tx);
        assert!(StopSignal::new(rx).raised().now_or_never().is_none());
    }
}
