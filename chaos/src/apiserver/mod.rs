//! # The simulated cluster's Kubernetes API
//!
//! An HTTP server that speaks the subset of the Kubernetes API the healer
//! uses, shaped as kube-apiserver shapes it, over an in-memory store of
//! `k8s-openapi` objects. It says plainly that it is a simulator
//! (`/version` reports [`SIM_GIT_VERSION`], every response carries
//! [`SIMULATOR_HEADER`], and [`serve`] logs it).
//!
//! Served: Deployments (list/get/create/replace/patch/delete, the `/scale`
//! subresource), ReplicaSets, Pods (delete preconditions, the `/eviction`
//! subresource with no PodDisruptionBudgets), `autoscaling/v2`
//! HPAs, `events.k8s.io/v1` Events, `coordination.k8s.io/v1` Leases; all four
//! patch types; `dryRun=All`; `fieldManager`; label and field selectors;
//! `Status` errors (404, 409, 422, 400, 401, 403, 405, 415). Watches are
//! refused with 400.
//!
//! ```no_run
//! # async fn demo() -> Result<(), edgeheal_chaos::apiserver::ServerError> {
//! use edgeheal_chaos::apiserver::{objects, spawn, write_kubeconfig, ApiState, ClusterConfig};
//! let state = ApiState::new(ClusterConfig::default());
//! state.upsert(objects::deployment("shop", "web", 3, "web:1", &[("edgeheal.io/heal", "true")]));
//! let (url, _task) = spawn(state.clone()).await?;
//! write_kubeconfig(std::path::Path::new("/tmp/sim.kubeconfig"), &url)?;
//! // ... run the healer against it, then:
//! let _patches = state.requests().into_iter().filter(|r| r.method == "PATCH").count();
//! # Ok(()) }
//! ```
//!
//! - [`state`]: [`ApiState`], the shared handle (store, world, request log).
//! - [`world`]: the [`World`] trait the simulation implements to learn about changes.
//! - [`sync`]: [`sync_workload`], how the simulation writes its pods back.
//! - [`controller`]: the built-in Deployment/ReplicaSet/HPA controllers.
//! - [`router`](mod@router): the HTTP surface; `ops` (private) and [`scale`] the verbs.

pub mod config;
pub mod controller;
pub mod discovery;
mod effects;
pub mod error;
pub mod ids;
pub mod kinds;
pub mod kubeconfig;
pub mod objects;
mod ops;
pub mod patch;
pub mod query;
pub mod requestlog;
pub mod rollup;
pub mod router;
pub mod scale;
pub mod selector;
pub mod state;
pub mod store;
pub mod sync;
pub mod world;

pub use config::{ClockMode, ClusterConfig, ControllerMode};
pub use discovery::SIM_GIT_VERSION;
pub use error::{ApiError, FieldError, ServerError};
pub use kinds::Kind;
pub use kubeconfig::{kubeconfig_yaml, write_kubeconfig, SIM_CONTEXT, SIM_TOKEN};
pub use requestlog::RequestRecord;
pub use router::{router, serve, serve_until, spawn, SIMULATOR_HEADER};
pub use state::ApiState;
pub use store::Store;
pub use sync::{sync_workload, PodSnapshot, WorkloadSnapshot};
pub use world::{NoWorld, World, WorldError};
