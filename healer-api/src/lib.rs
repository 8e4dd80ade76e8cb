//! edgeheal-healer: the heal API — authenticated, safe remediation through the Kubernetes API.
//!
//! Pipelines (Fluent Bit, Vector) POST anomaly records signed with AWS SigV4 or an HMAC header
//! to `/v1/anomalies`. Each batch is verified ([`auth`]), decoded ([`decode`]), validated against
//! the tag contract ([`tags`]) and committed to SQLite ([`store`]) before the 202. The incident
//! engine ([`engine`]) debounces and dedupes per entity and incident kind, asks the [`policy`]
//! guards, acts through the Kubernetes API ([`kube_cluster`]) or only records (shadow), verifies,
//! escalates and notifies ([`notify`]), and gives back the HPA minimums it raised once the
//! incident is over ([`hpa_floor`]). [`client`] reads the incident history for the people on
//! call (`edgeheal-healer incidents`).
#![deny(missing_docs)]

pub mod action;
pub mod app_error;
pub mod auth;
pub mod body_budget;
pub mod bounded_value;
pub mod client;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod decode;
pub mod engine;
pub mod hpa_floor;
pub mod http_server;
pub mod keys;
pub mod kube_cluster;
pub mod metrics;
pub mod notify;
pub mod policy;
pub mod recorder;
pub mod replay;
pub mod retention;
pub mod rollout;
pub mod runtime;
pub mod server;
pub mod signed;
pub mod sigv4;
pub mod softheal;
pub mod stop_signal;
pub mod store;
pub mod tags;
pub mod worker_queue;

pub use app_error::AppError;
pub use config::{Config, Mode};
pub use server::{app, AppState, Shared};
