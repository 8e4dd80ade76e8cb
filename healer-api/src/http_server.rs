//! Serving the router on a listener, with bounds `axum::serve` does not set: a request's
//! headers must arrive within `server.header_read_timeout_secs` (hyper's HTTP/1 header
//! timeout, which also closes a kept-alive connection idle that long; a body's own limit is
//! [`crate::signed`]'s), and a graceful shutdown lets the requests in flight finish for at most
//! `server.shutdown_timeout_secs` before the connections still open are dropped. Before, one
//! client that stopped sending half-way through its headers or body kept the heal API from
//! stopping until Kubernetes killed it.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::config::ServerConfig;

/// hyper's read buffer per connection, the most a request's headers may take (64 KiB instead
/// of hyper's 400 KiB: a client stalled in its headers holds at most this).
const MAX_BUF_SIZE: usize = 64 << 10;

/// Serves `app` on `listener` until `shutdown` resolves, then closes the listener, lets the
/// requests in flight finish (idle connections close at once) for at most
/// `config.shutdown_timeout_secs`, and drops the connections still open. The runtime's
/// `shutdown` resolves once its lame-duck period (`server.shutdown_delay_secs`) is over:
/// until then connections are accepted and served as usual ([`crate::runtime`]).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: &ServerConfig,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(config.header_read_timeout_secs))
        .max_buf_size(MAX_BUF_SIZE);
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors or a connection reset before it was
                        // accepted: wait a little rather than spin, as axum::serve does.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service = TowerToHyperService::new(app.clone());
                let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                connections.spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(error = %e, "connection ended");
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let grace = Duration::from_secs(config.shutdown_timeout_secs);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!(
                connections = connections.len(),
                "shutdown: connections still open after server.shutdown_timeout_secs, dropped"
            );
        }
    }
    connections.shutdown().await;
}
