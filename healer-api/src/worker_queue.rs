//! The bounded queue in front of a background worker that takes its work in order (the
//! notifier's, [`crate::notify`]; the Event recorder's, [`crate::recorder`]): how much of it
//! waits, and waiting until what was queued so far is handled, as the heal API does at a stop
//! ([`crate::runtime`]). A flush is a marker queued behind the work; the worker answers it
//! when it reaches it ([`next`]).

use tokio::sync::{mpsc, oneshot};

/// What a worker's queue holds.
#[derive(Debug)]
pub enum Item<T> {
    /// Work to do.
    Job(T),
    /// Answered once everything queued before it was handled.
    Flush(oneshot::Sender<()>),
}

/// How many items wait in `tx`'s queue, not yet taken by its worker (0 without one).
pub fn queued<T>(tx: Option<&mpsc::Sender<Item<T>>>) -> usize {
    tx.map_or(0, |tx| tx.max_capacity() - tx.capacity())
}

/// Queues a flush marker and waits until the worker answers it: everything queued before was
/// handled. Returns at once without a worker, or when it is gone.
pub async fn flushed<T>(tx: Option<&mpsc::Sender<Item<T>>>) {
    let Some(tx) = tx else { return };
    let (done, handled) = oneshot::channel();
    if tx.send(Item::Flush(done)).await.is_ok() {
        let _ = handled.await;
    }
}

/// The worker's next job, answering the flush markers before it; `None` once every sender is
/// gone and the queue is empty.
pub async fn next<T>(rx: &mut mpsc::Receiver<Item<T>>) -> Option<T> {
    loop {
        match rx.recv().await? {
            Item::Job(job) => return Some(job),
            Item::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}
