//! # edgeheal-chaos
//!
//! Chaos scenarios turned into labelled telemetry, and the simulated cluster
//! the closed-loop demo runs against.
//!
//! - [`fleet`]: the workloads and nodes, with normal levels spanning orders of magnitude.
//! - [`fault`]: the six fault kinds and one injected fault ([`FaultSpec`]).
//! - [`schedule`]: planning faults and normal maintenance over a run.
//! - [`sim`]: the [`Simulation`], stepped one scrape interval at a time into a
//!   [`Sink`], with the remediation operations (scale, rollout restart, delete pod).
//! - [`telemetry`] and [`applog`]: the record shapes, as Fluent Bit, Vector,
//!   Kubernetes and applications write them.
//! - [`labels`]: `labels.json`, the ground-truth windows.
//! - [`generate`]: a whole run to files (what `edgeheal-chaos generate` does).
//! - [`fluentbit`]: Fluent Bit's `filter_wasm` stand-in, running the shipped `.wasm` filter.
//! - [`simcluster`]: the simulation bridged to the simulated Kubernetes API server.
//! - [`closedloop`]: the simulated cluster, the edge filter and the real heal API in one loop (`edgeheal-chaos demo`).

pub mod apiserver;
pub mod applog;
pub mod clock;
pub mod closedloop;
mod control;
pub mod emitter;
pub mod error;
pub mod fault;
pub mod fleet;
pub mod fluentbit;
pub mod generate;
pub mod jsonw;
pub mod labels;
pub mod names;
pub mod pod;
pub mod random;
pub mod schedule;
pub mod sim;
pub mod simcluster;
pub mod sink;
pub mod telemetry;
mod tick;
pub mod traffic;

pub use error::ChaosError;
pub use fault::{FaultKind, FaultSpec, PodTarget};
pub use fleet::{Fleet, FleetName};
pub use labels::Label;
pub use schedule::{Plan, ScheduleConfig};
pub use sim::{FaultState, FaultStatus, SimConfig, Simulation};
pub use sink::{NdjsonSink, Sink};
pub use telemetry::{Record, Shape};
