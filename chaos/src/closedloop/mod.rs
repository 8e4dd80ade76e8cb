//! # The closed loop
//!
//! Observe, score, decide, act, verify — on one machine: the simulated
//! cluster ([`SimCluster`](crate::simcluster::SimCluster)) produces telemetry
//! and serves the Kubernetes API; every record passes through the edgeheal
//! filter ([`edge`]: the shipped `.wasm` in the Fluent Bit harness, or the
//! native core); anomalous records are posted, SigV4-signed
//! ([`signer`]), to the real heal API running in process in `enforce` mode
//! ([`healer`]); the heal API acts through kube-rs on the simulated cluster,
//! whose workloads change in response. [`driver`] runs it and records a
//! timeline; [`report`] turns that into the per-fault table, `report.md` and a
//! PNG timeline.
//!
//! Simulated time runs faster than wall time: the heal API's clock follows
//! the simulation (its windows are simulated seconds). After every tick the
//! loop runs the heal API's engine once at the new time and waits for it
//! (batches processed, verification, rollout and HPA-floor deadlines
//! checked), and its own timed check is off, so the same seed gives the same
//! decisions at the same simulated times however loaded the machine is.

pub mod driver;
pub mod edge;
pub mod healer;
pub mod plan;
pub mod report;
pub mod signer;

pub use driver::{run, LoopConfig, LoopReport};
pub use edge::{EdgeFilter, NativeFilter, WasmFilter};
pub use healer::{HealerSettings, InProcessHealer};
pub use plan::PlannedFault;

/// What can stop the loop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoopError {
    /// The simulation refused something (a fault, a parameter).
    #[error(transparent)]
    Chaos(#[from] crate::ChaosError),
    /// The simulated API server failed.
    #[error("simulated API server: {0}")]
    Server(#[from] crate::apiserver::ServerError),
    /// The heal API failed to start, refused a batch, or could not be read.
    #[error("heal API: {0}")]
    Healer(String),
    /// The edge filter could not be set up.
    #[error("edge filter: {0}")]
    Edge(String),
    /// A file could not be written.
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    /// The PNG timeline could not be drawn.
    #[error("timeline chart: {0}")]
    Chart(String),
}
