//! The static-threshold baseline: fixed, global alert rules on raw values,
//! what an HPA target or a Prometheus alert rule does. One threshold per
//! signal for every workload; no learning, no per-workload levels.
//!
//! A row fires when any rule does; its incident is the rule exceeded by the
//! largest factor (value over threshold).

use edgeheal_plugin::verdict::Incident;
use serde::Serialize;

use super::raw::RawRow;

/// The rules' thresholds. The defaults are common alerting practice.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StaticThresholds {
    /// CPU over this share of the summed limit (an HPA at 90 % of limit).
    pub cpu_of_limit: f64,
    /// CPU cores, for workloads without limits.
    pub cpu_cores_unlimited: f64,
    /// Memory working set over this share of the limit.
    pub memory_of_limit: f64,
    /// Error lines over all lines in the last minute.
    pub error_ratio: f64,
    /// Lines the error ratio needs before it counts.
    pub error_min_lines: u32,
    /// p95 request latency over the last minute, ms.
    pub latency_p95_ms: f64,
    /// Requests per second of one workload.
    pub request_rate: f64,
    /// Restarts + `BackOff` + `OOMKilled` in the last 10 minutes.
    pub restarts: f64,
}

impl Default for StaticThresholds {
    fn default() -> Self {
        StaticThresholds {
            cpu_of_limit: 0.9,
            cpu_cores_unlimited: 4.0,
            memory_of_limit: 0.9,
            error_ratio: 0.05,
            error_min_lines: 20,
            latency_p95_ms: 1000.0,
            request_rate: 5000.0,
            restarts: 3.0,
        }
    }
}

impl StaticThresholds {
    /// The incident the rules name for `row`, or `None` when none fires.
    pub fn fire(&self, row: &RawRow) -> Option<Incident> {
        let mut best: Option<(f64, Incident)> = None;
        let mut consider = |value: f64, threshold: f64, incident: Incident| {
            if threshold > 0.0 && value > threshold {
                let factor = value / threshold;
                if best.is_none_or(|(f, _)| factor > f) {
                    best = Some((factor, incident));
                }
            }
        };
        if let Some(cores) = row.cpu_cores {
            match row.cpu_limit {
                Some(limit) if limit > 0.0 => {
                    consider(cores / limit, self.cpu_of_limit, Incident::CpuSaturation)
                }
                _ => consider(cores, self.cpu_cores_unlimited, Incident::CpuSaturation),
            }
        }
        if let (Some(bytes), Some(limit)) = (row.mem_bytes, row.mem_limit) {
            if limit > 0.0 {
                consider(bytes / limit, self.memory_of_limit, Incident::MemoryLeak);
            }
        }
        if let Some(ratio) = row.error_ratio {
            if row.lines >= self.error_min_lines {
                consider(ratio, self.error_ratio, Incident::ErrorBurst);
            }
        }
        if let Some(p95) = row.latency_p95_ms {
            consider(p95, self.latency_p95_ms, Incident::LatencySpike);
        }
        if let Some(rate) = row.request_rate {
            consider(rate, self.request_rate, Incident::TrafficSurge);
        }
        consider(
            row.restarts + row.backoffs + row.oom_kills,
            self.restarts,
            Incident::CrashLoop,
        );
        best.map(|(_, i)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_fires_alone_and_the_largest_excess_names_the_incident() {
        let t = StaticThresholds::default();
        let quiet = RawRow {
            cpu_cores: Some(0.2),
            cpu_limit: Some(1.0),
            mem_bytes: Some(100.0),
            mem_limit: Some(1000.0),
            lines: 100,
            request_rate: Some(50.0),
            error_ratio: Some(0.01),
            latency_p95_ms: Some(40.0),
            ..RawRow::default()
        };
        let cases: [(RawRow, Option<Incident>); 9] = [
            (quiet, None),
            (
                RawRow {
                    cpu_cores: Some(0.95),
                    ..quiet
                },
                Some(Incident::CpuSaturation),
            ),
            (
                RawRow {
                    cpu_cores: Some(5.0),
                    cpu_limit: None,
                    ..quiet
                },
                Some(Incident::CpuSaturation),
            ),
            (
                RawRow {
                    mem_bytes: Some(950.0),
                    ..quiet
                },
                Some(Incident::MemoryLeak),
            ),
            (
                RawRow {
                    error_ratio: Some(0.2),
                    ..quiet
                },
                Some(Incident::ErrorBurst),
            ),
            (
                RawRow {
                    error_ratio: Some(0.5),
                    lines: 4,
                    ..quiet
                },
                None,
            ),
            (
                RawRow {
                    latency_p95_ms: Some(1500.0),
                    ..quiet
                },
                Some(Incident::LatencySpike),
            ),
            (
                RawRow {
                    backoffs: 2.0,
                    restarts: 2.0,
                    ..quiet
                },
                Some(Incident::CrashLoop),
            ),
            (
                // Errors at 4x their threshold beat CPU at 1.1x.
                RawRow {
                    cpu_cores: Some(0.99),
                    error_ratio: Some(0.2),
                    ..quiet
                },
                Some(Incident::ErrorBurst),
            ),
        ];
        for (row, expected) in cases {
            assert_eq!(t.fire(&row), expected, "{row:?}");
        }
    }
}
