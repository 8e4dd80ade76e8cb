//! The simulated fleet: nodes and workloads, each with its *normal* levels.
//!
//! Two disjoint fleets are built in (`a` and `b`): different namespaces,
//! names and normal levels spanning orders of magnitude (1 req/s to
//! 2,000 req/s, 50 MiB to 8 GiB, 10 mCPU to 4 cores), so a model trained on
//! one can be evaluated on the other. Together each fleet covers every record
//! shape: Fluent Bit and Vector logs; Prometheus-style and Vector metrics;
//! JSON, nginx and free-text log lines.

use serde::Serialize;

const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * MIB;

/// The controller that owns a workload's pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ControllerKind {
    /// Pods `name-<rs hash>-<5 chars>`, owned by a ReplicaSet.
    Deployment,
    /// Pods `name-0`, `name-1`, ...
    StatefulSet,
    /// One pod per node, `name-<5 chars>`.
    DaemonSet,
}

impl ControllerKind {
    /// The Kubernetes kind name.
    pub fn as_str(self) -> &'static str {
        match self {
            ControllerKind::Deployment => "Deployment",
            ControllerKind::StatefulSet => "StatefulSet",
            ControllerKind::DaemonSet => "DaemonSet",
        }
    }
}

/// The shipper that collects a workload's container logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogPipeline {
    /// Fluent Bit `tail` (CRI parser) + `kubernetes` filter.
    FluentBit,
    /// Vector `kubernetes_logs` source.
    Vector,
}

/// How a workload's metrics reach the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricPipeline {
    /// Flat `{"metric","value","labels","timestamp"}` samples (a Prometheus scrape relayed as JSON).
    Flat,
    /// Vector `prometheus_scrape` → `metric_to_log`.
    Vector,
}

/// What the application writes on each log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// JSON with `level`, `msg`, `status`, `latency_ms`, `method`, `path` (zap-like).
    JsonLatencyMs,
    /// JSON with `duration: "0.25s"` (slog-like).
    JsonDuration,
    /// nginx `combined` plus `$request_time`.
    Nginx,
    /// Spring Boot console text with level words.
    SpringText,
    /// PostgreSQL stderr text (`LOG:  duration: 3.2 ms`, `ERROR:`).
    PostgresText,
    /// logfmt (`level=info msg="..." duration=35ms`).
    Logfmt,
}

/// A workload and its normal behaviour. Rates are per second; CPU in cores;
/// memory in bytes; latency in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct WorkloadSpec {
    /// Namespace.
    pub namespace: String,
    /// Workload (controller) name.
    pub name: String,
    /// Controller kind.
    pub kind: ControllerKind,
    /// Desired replicas (ignored for DaemonSets: one per node).
    pub replicas: u32,
    /// The container name.
    pub container: String,
    /// The container image.
    pub image: String,
    /// Mean request rate of the whole workload (per pod for DaemonSets).
    pub base_rps: f64,
    /// Relative amplitude of the daily traffic cycle (0..1).
    pub diurnal_amplitude: f64,
    /// CPU a pod burns with no traffic, in cores.
    pub cpu_idle_cores: f64,
    /// CPU per request, in core-seconds.
    pub cpu_per_request: f64,
    /// CPU limit per container, in cores.
    pub cpu_limit_cores: f64,
    /// Working set of an idle pod, in bytes.
    pub mem_base_bytes: f64,
    /// Memory limit per container, in bytes.
    pub mem_limit_bytes: f64,
    /// Height of the GC sawtooth relative to `mem_base_bytes`.
    pub gc_fraction: f64,
    /// Seconds between collections at normal load.
    pub gc_period_s: f64,
    /// Service time of a request on an idle pod, in milliseconds.
    pub service_ms: f64,
    /// Requests per second one pod can serve before it saturates.
    pub capacity_rps_per_pod: f64,
    /// Background fraction of requests that fail with 5xx.
    pub error_rate: f64,
    /// Log line format.
    pub log_format: LogFormat,
    /// Log shipper.
    pub log_pipeline: LogPipeline,
    /// Metric path.
    pub metric_pipeline: MetricPipeline,
    /// Request paths (method and path) the workload serves.
    pub routes: Vec<(String, String)>,
}

impl WorkloadSpec {
    /// Number of pods at normal size for a fleet with `nodes` nodes.
    pub fn normal_replicas(&self, nodes: usize) -> u32 {
        match self.kind {
            ControllerKind::DaemonSet => u32::try_from(nodes).unwrap_or(u32::MAX),
            _ => self.replicas,
        }
    }

    /// Mean per-pod request rate at normal size.
    pub fn normal_pod_rps(&self, nodes: usize) -> f64 {
        match self.kind {
            ControllerKind::DaemonSet => self.base_rps,
            _ => self.base_rps / f64::from(self.normal_replicas(nodes).max(1)),
        }
    }

    /// Mean per-pod CPU at normal load, in cores.
    pub fn normal_pod_cpu(&self, nodes: usize) -> f64 {
        self.cpu_idle_cores + self.cpu_per_request * self.normal_pod_rps(nodes)
    }
}

/// A named set of nodes and workloads.
#[derive(Debug, Clone, Serialize)]
pub struct Fleet {
    /// `a` or `b` for the built-in fleets.
    pub name: String,
    /// Node names.
    pub nodes: Vec<String>,
    /// Cores per node.
    pub node_cores: u32,
    /// Memory per node, in bytes.
    pub node_memory_bytes: f64,
    /// The workloads.
    pub workloads: Vec<WorkloadSpec>,
}

/// The built-in fleets, for `--fleet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FleetName {
    /// Shop, payments, orders database, ML recommender, node agent.
    A,
    /// Media, search, auth, analytics store, metrics relay.
    B,
}

impl FleetName {
    /// Parses `a` / `b`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "a" | "A" => Some(FleetName::A),
            "b" | "B" => Some(FleetName::B),
            _ => None,
        }
    }

    /// The fleet itself.
    pub fn build(self) -> Fleet {
        match self {
            FleetName::A => fleet_a(),
            FleetName::B => fleet_b(),
        }
    }
}

fn routes(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect()
}

/// Defaults every workload overrides where it differs.
fn base(namespace: &str, name: &str, kind: ControllerKind, replicas: u32) -> WorkloadSpec {
    WorkloadSpec {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        kind,
        replicas,
        container: name.to_owned(),
        image: format!("registry.example.com/{namespace}/{name}:1.0.0"),
        base_rps: 10.0,
        diurnal_amplitude: 0.45,
        cpu_idle_cores: 0.02,
        cpu_per_request: 0.002,
        cpu_limit_cores: 1.0,
        mem_base_bytes: 128.0 * MIB,
        mem_limit_bytes: 512.0 * MIB,
        gc_fraction: 0.25,
        gc_period_s: 120.0,
        service_ms: 20.0,
        capacity_rps_per_pod: 20.0,
        error_rate: 0.003,
        log_format: LogFormat::JsonLatencyMs,
        log_pipeline: LogPipeline::FluentBit,
        metric_pipeline: MetricPipeline::Flat,
        routes: routes(&[("GET", "/")]),
    }
}

fn fleet_a() -> Fleet {
    use ControllerKind::*;
    let workloads = vec![
        WorkloadSpec {
            image: "nginx:1.27.3".into(),
            container: "nginx".into(),
            base_rps: 2000.0,
            cpu_idle_cores: 0.05,
            cpu_per_request: 0.0004,
            cpu_limit_cores: 1.0,
            mem_base_bytes: 300.0 * MIB,
            mem_limit_bytes: GIB,
            gc_fraction: 0.08,
            gc_period_s: 300.0,
            service_ms: 6.0,
            capacity_rps_per_pod: 1400.0,
            error_rate: 0.002,
            log_format: LogFormat::Nginx,
            routes: routes(&[
                ("GET", "/"),
                ("GET", "/products"),
                ("GET", "/static/app.js"),
                ("POST", "/api/checkout"),
            ]),
            ..base("shop", "storefront", Deployment, 4)
        },
        WorkloadSpec {
            base_rps: 150.0,
            cpu_idle_cores: 0.03,
            cpu_per_request: 0.003,
            cpu_limit_cores: 0.5,
            mem_base_bytes: 180.0 * MIB,
            mem_limit_bytes: 512.0 * MIB,
            service_ms: 25.0,
            capacity_rps_per_pod: 140.0,
            log_format: LogFormat::JsonLatencyMs,
            log_pipeline: LogPipeline::Vector,
            metric_pipeline: MetricPipeline::Vector,
            routes: routes(&[
                ("GET", "/api/cart"),
                ("POST", "/api/cart/items"),
                ("DELETE", "/api/cart/items"),
            ]),
            ..base("shop", "cart", Deployment, 3)
        },
        WorkloadSpec {
            base_rps: 1.0,
            diurnal_amplitude: 0.6,
            cpu_idle_cores: 0.008,
            cpu_per_request: 0.004,
            cpu_limit_cores: 0.1,
            mem_base_bytes: 50.0 * MIB,
            mem_limit_bytes: 128.0 * MIB,
            gc_fraction: 0.3,
            gc_period_s: 240.0,
            service_ms: 120.0,
            capacity_rps_per_pod: 1.5,
            error_rate: 0.004,
            log_format: LogFormat::JsonDuration,
            metric_pipeline: MetricPipeline::Vector,
            routes: routes(&[("POST", "/v1/entries"), ("GET", "/v1/balance")]),
            ..base("payments", "ledger", Deployment, 2)
        },
        WorkloadSpec {
            image: "postgres:16.6".into(),
            container: "postgres".into(),
            base_rps: 300.0,
            diurnal_amplitude: 0.35,
            cpu_idle_cores: 0.2,
            cpu_per_request: 0.003,
            cpu_limit_cores: 2.0,
            mem_base_bytes: 8.0 * GIB,
            mem_limit_bytes: 12.0 * GIB,
            gc_fraction: 0.03,
            gc_period_s: 600.0,
            service_ms: 3.0,
            capacity_rps_per_pod: 450.0,
            error_rate: 0.001,
            log_format: LogFormat::PostgresText,
            log_pipeline: LogPipeline::Vector,
            routes: routes(&[("SELECT", "orders"), ("UPDATE", "orders")]),
            ..base("data", "orders-db", StatefulSet, 2)
        },
        WorkloadSpec {
            base_rps: 60.0,
            cpu_idle_cores: 0.3,
            cpu_per_request: 0.12,
            cpu_limit_cores: 8.0,
            mem_base_bytes: 3.0 * GIB,
            mem_limit_bytes: 6.0 * GIB,
            gc_fraction: 0.15,
            gc_period_s: 90.0,
            service_ms: 180.0,
            capacity_rps_per_pod: 80.0,
            log_format: LogFormat::JsonLatencyMs,
            routes: routes(&[("POST", "/v2/recommend"), ("GET", "/v2/similar")]),
            ..base("ml", "recommender", Deployment, 2)
        },
        WorkloadSpec {
            image: "registry.example.com/platform/node-agent:0.9.2".into(),
            base_rps: 20.0,
            diurnal_amplitude: 0.2,
            cpu_idle_cores: 0.01,
            cpu_per_request: 0.0008,
            cpu_limit_cores: 0.2,
            mem_base_bytes: 40.0 * MIB,
            mem_limit_bytes: 200.0 * MIB,
            gc_period_s: 60.0,
            service_ms: 2.0,
            capacity_rps_per_pod: 80.0,
            error_rate: 0.002,
            log_format: LogFormat::Logfmt,
            routes: routes(&[("FLUSH", "chunks")]),
            ..base("platform", "node-agent", DaemonSet, 0)
        },
    ];
    Fleet {
        name: "a".into(),
        nodes: vec![
            "gke-prod-default-pool-3f2a1c9e-x7kq".into(),
            "gke-prod-default-pool-3f2a1c9e-b2mn".into(),
            "gke-prod-default-pool-8d41e0a7-q9vz".into(),
        ],
        node_cores: 16,
        node_memory_bytes: 64.0 * GIB,
        workloads,
    }
}

fn fleet_b() -> Fleet {
    use ControllerKind::*;
    let workloads = vec![
        WorkloadSpec {
            base_rps: 25.0,
            cpu_idle_cores: 0.1,
            cpu_per_request: 0.2,
            cpu_limit_cores: 6.0,
            mem_base_bytes: 1.5 * GIB,
            mem_limit_bytes: 3.0 * GIB,
            gc_fraction: 0.2,
            gc_period_s: 60.0,
            service_ms: 300.0,
            capacity_rps_per_pod: 22.0,
            log_format: LogFormat::JsonDuration,
            log_pipeline: LogPipeline::Vector,
            routes: routes(&[("POST", "/thumbnails"), ("GET", "/thumbnails/status")]),
            ..base("media", "thumbnailer", Deployment, 3)
        },
        WorkloadSpec {
            image: "nginx:1.27.3".into(),
            container: "nginx".into(),
            base_rps: 1200.0,
            cpu_idle_cores: 0.05,
            cpu_per_request: 0.0012,
            cpu_limit_cores: 1.5,
            mem_base_bytes: 600.0 * MIB,
            mem_limit_bytes: 2.0 * GIB,
            gc_fraction: 0.1,
            gc_period_s: 200.0,
            service_ms: 12.0,
            capacity_rps_per_pod: 700.0,
            log_format: LogFormat::Nginx,
            log_pipeline: LogPipeline::Vector,
            metric_pipeline: MetricPipeline::Vector,
            routes: routes(&[("GET", "/search"), ("GET", "/search/facets")]),
            ..base("search", "query-api", Deployment, 5)
        },
        WorkloadSpec {
            base_rps: 3.0,
            diurnal_amplitude: 0.55,
            cpu_idle_cores: 0.01,
            cpu_per_request: 0.002,
            cpu_limit_cores: 0.2,
            mem_base_bytes: 64.0 * MIB,
            mem_limit_bytes: 160.0 * MIB,
            service_ms: 30.0,
            capacity_rps_per_pod: 5.0,
            log_format: LogFormat::JsonLatencyMs,
            metric_pipeline: MetricPipeline::Vector,
            routes: routes(&[("POST", "/oauth/token"), ("GET", "/.well-known/jwks.json")]),
            ..base("auth", "token-service", Deployment, 2)
        },
        WorkloadSpec {
            image: "clickhouse/clickhouse-server:24.8".into(),
            base_rps: 80.0,
            diurnal_amplitude: 0.3,
            cpu_idle_cores: 0.5,
            cpu_per_request: 0.01,
            cpu_limit_cores: 3.0,
            mem_base_bytes: 6.0 * GIB,
            mem_limit_bytes: 10.0 * GIB,
            gc_fraction: 0.05,
            gc_period_s: 500.0,
            service_ms: 8.0,
            capacity_rps_per_pod: 130.0,
            error_rate: 0.001,
            log_format: LogFormat::PostgresText,
            routes: routes(&[("SELECT", "events"), ("INSERT", "events")]),
            ..base("analytics", "events-store", StatefulSet, 2)
        },
        WorkloadSpec {
            base_rps: 400.0,
            cpu_idle_cores: 0.1,
            cpu_per_request: 0.0015,
            cpu_limit_cores: 1.0,
            mem_base_bytes: 900.0 * MIB,
            mem_limit_bytes: 2.0 * GIB,
            gc_fraction: 0.3,
            gc_period_s: 45.0,
            service_ms: 9.0,
            capacity_rps_per_pod: 380.0,
            log_format: LogFormat::SpringText,
            routes: routes(&[("GET", "/suggest"), ("GET", "/suggest/popular")]),
            ..base("search", "suggest", Deployment, 3)
        },
        WorkloadSpec {
            base_rps: 50.0,
            diurnal_amplitude: 0.25,
            cpu_idle_cores: 0.015,
            cpu_per_request: 0.0006,
            cpu_limit_cores: 0.3,
            mem_base_bytes: 90.0 * MIB,
            mem_limit_bytes: 256.0 * MIB,
            gc_period_s: 70.0,
            service_ms: 4.0,
            capacity_rps_per_pod: 150.0,
            log_format: LogFormat::JsonLatencyMs,
            log_pipeline: LogPipeline::Vector,
            metric_pipeline: MetricPipeline::Vector,
            routes: routes(&[("POST", "/api/v1/push")]),
            ..base("ops", "metrics-relay", DaemonSet, 0)
        },
    ];
    Fleet {
        name: "b".into(),
        nodes: vec![
            "ip-10-20-11-87.eu-west-1.compute.internal".into(),
            "ip-10-20-12-143.eu-west-1.compute.internal".into(),
            "ip-10-20-13-29.eu-west-1.compute.internal".into(),
            "ip-10-20-13-201.eu-west-1.compute.internal".into(),
        ],
        node_cores: 16,
        node_memory_bytes: 64.0 * GIB,
        workloads,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleets_are_disjoint_and_cover_every_shape() {
        let a = FleetName::A.build();
        let b = FleetName::B.build();
        for wa in &a.workloads {
            for wb in &b.workloads {
                assert!(
                    wa.namespace != wb.namespace && wa.name != wb.name,
                    "{}/{} vs {}/{}",
                    wa.namespace,
                    wa.name,
                    wb.namespace,
                    wb.name
                );
            }
        }
        for fleet in [&a, &b] {
            let w = &fleet.workloads;
            let cases: &[(&str, bool)] = &[
                (
                    "statefulset",
                    w.iter().any(|w| w.kind == ControllerKind::StatefulSet),
                ),
                (
                    "daemonset",
                    w.iter().any(|w| w.kind == ControllerKind::DaemonSet),
                ),
                (
                    "fluent bit logs",
                    w.iter().any(|w| w.log_pipeline == LogPipeline::FluentBit),
                ),
                (
                    "vector logs",
                    w.iter().any(|w| w.log_pipeline == LogPipeline::Vector),
                ),
                (
                    "flat metrics",
                    w.iter().any(|w| w.metric_pipeline == MetricPipeline::Flat),
                ),
                (
                    "vector metrics",
                    w.iter()
                        .any(|w| w.metric_pipeline == MetricPipeline::Vector),
                ),
                ("nginx", w.iter().any(|w| w.log_format == LogFormat::Nginx)),
                (
                    "json ms",
                    w.iter().any(|w| w.log_format == LogFormat::JsonLatencyMs),
                ),
                (
                    "text",
                    w.iter().any(|w| {
                        matches!(
                            w.log_format,
                            LogFormat::SpringText | LogFormat::PostgresText | LogFormat::Logfmt
                        )
                    }),
                ),
            ];
            for (what, ok) in cases {
                assert!(ok, "fleet {} lacks {what}", fleet.name);
            }
        }
    }

    #[test]
    fn normal_levels_span_orders_of_magnitude() {
        for fleet in [FleetName::A.build(), FleetName::B.build()] {
            let n = fleet.nodes.len();
            let spread = |f: &dyn Fn(&WorkloadSpec) -> f64| {
                let v: Vec<f64> = fleet.workloads.iter().map(f).collect();
                let max = v.iter().cloned().fold(f64::MIN, f64::max);
                let min = v.iter().cloned().fold(f64::MAX, f64::min);
                max / min
            };
            let cases: &[(&str, f64, f64)] = &[
                ("rps", spread(&|w| w.base_rps), 300.0),
                ("memory", spread(&|w| w.mem_base_bytes), 60.0),
                ("cpu", spread(&|w| w.normal_pod_cpu(n)), 100.0),
            ];
            for (what, got, min) in cases {
                assert!(
                    *got >= *min,
                    "fleet {} {what} spread {got} < {min}",
                    fleet.name
                );
            }
        }
    }
}
