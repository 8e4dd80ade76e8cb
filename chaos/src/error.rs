//! The error type of the `edgeheal-chaos` library.

use std::path::PathBuf;

/// Everything the chaos library can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChaosError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Writing to an output stream failed.
    #[error("writing telemetry: {0}")]
    Write(#[from] std::io::Error),
    /// A JSON document (labels file, run file) could not be read or written.
    #[error("{path}: {source}")]
    Json {
        /// The file involved.
        path: PathBuf,
        /// The underlying serde_json error.
        #[source]
        source: serde_json::Error,
    },
    /// A parameter was out of range or malformed; the message names it.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// The parameter (CLI flag or field) at fault.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// No workload with this namespace and name exists in the simulation.
    #[error("no workload {namespace}/{workload}")]
    UnknownWorkload {
        /// Namespace asked for.
        namespace: String,
        /// Workload asked for.
        workload: String,
    },
    /// No pod with this namespace and name exists in the simulation.
    #[error("no pod {namespace}/{pod}")]
    UnknownPod {
        /// Namespace asked for.
        namespace: String,
        /// Pod asked for.
        pod: String,
    },
    /// The operation does not apply to this kind of workload (e.g. scaling a DaemonSet).
    #[error("{operation} is not supported for {kind} {namespace}/{workload}")]
    Unsupported {
        /// What was asked.
        operation: &'static str,
        /// The workload's controller kind.
        kind: &'static str,
        /// Namespace.
        namespace: String,
        /// Workload.
        workload: String,
    },
    /// `label end` found no open window matching the arguments.
    #[error("no open label window matches {0}")]
    NoOpenWindow(String),
    /// `label start` found a window with the same id still open.
    #[error("label window {0} is already open")]
    WindowAlreadyOpen(String),
}
