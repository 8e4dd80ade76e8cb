//! The bounded queue in front of a background worker that takes its work in order (the
//! notifier's, [`crate::notify`]; the Event recorder's, [`crate::recorder`]): how much of it
//! waits, and waiting until what was queued so far is handled, as the heal API does at a stop
//! ([`crate::runtime`]). The worker answers a flush marker once it reaches it.

use tokio::sync::{mpsc, oneshot};

/// How many items wait in `tx`'s queue, not yet taken by its worker (0 without one).
pub fn queued<T>(tx: Option<&mpsc::Sender<T>>) -> usize {
    tx.map_or(0, |tx| tx.max_capacity() - tx.capacity())
}

/// Queues the marker `flush` makes and waits until the worker answers it: everything queued
/// before was handled. Returns at once without a worker, or when it is gone.
pub async fn flushed<T>(tx: Option<&mpsc::Sender<T>>, flush: fn(oneshot::Sender<()>) -> T) {
    let Some(tx) = tx else { return };
    let (done, handled) = oneshot::channel();
    if tx.send(flush(done)).await.is_ok() {
        let _ = handled.await;
    }
}
