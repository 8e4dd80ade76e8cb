//! A generated (or recorded) run on disk: `telemetry.ndjson` (records in time
//! order), `labels.json` (the ground-truth fault windows) and, optionally,
//! `run.json` (the scrape interval).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use edgeheal_plugin::timestamp::parse_rfc3339;
use edgeheal_plugin::verdict::Incident;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::Error;

/// The merged telemetry file of a run.
pub const TELEMETRY: &str = "telemetry.ndjson";
/// The labels file of a run.
pub const LABELS: &str = "labels.json";
/// The run description written by the generator.
pub const RUN: &str = "run.json";

/// Scrape interval assumed when `run.json` does not say.
pub const DEFAULT_INTERVAL_S: u32 = 15;

/// One labelled fault window.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Window id.
    pub id: String,
    /// The incident kind the fault causes.
    pub incident: Incident,
    /// Start, ns since the epoch.
    pub start_ns: i64,
    /// End, ns since the epoch.
    pub end_ns: i64,
    /// `namespace/workload`, as the edge names entities.
    pub entity: String,
    /// Target pod, for pod-level faults.
    pub pod: Option<String>,
}

/// `labels.json` entries as the generator writes them.
#[derive(Deserialize)]
struct LabelEntry {
    id: String,
    kind: String,
    start: String,
    end: Option<String>,
    namespace: String,
    workload: String,
    pod: Option<String>,
}

#[derive(Deserialize)]
struct RunEntry {
    interval_s: Option<u32>,
    seed: Option<u64>,
    fleet: Option<String>,
    hours: Option<f64>,
    start: Option<String>,
    scenarios: Option<Vec<String>>,
    overlap_rate: Option<f64>,
    generator: Option<String>,
}

impl RunEntry {
    /// The parameters that regenerate the run, when the generator wrote them.
    fn generation(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({
            "generator": self.generator.as_deref()?,
            "seed": self.seed?,
            "hours": self.hours?,
            "interval_s": self.interval_s?,
            "fleet": self.fleet.as_deref()?,
            "start": self.start.as_deref()?,
            "scenarios": self.scenarios.as_ref()?,
            "overlap_rate": self.overlap_rate?,
        }))
    }
}

/// The incident a chaos fault kind causes.
pub fn incident_of_kind(kind: &str) -> Option<Incident> {
    Some(match kind {
        "cpu_stress" => Incident::CpuSaturation,
        "memory_leak" => Incident::MemoryLeak,
        "traffic_flood" => Incident::TrafficSurge,
        "crash_loop" => Incident::CrashLoop,
        "error_burst" => Incident::ErrorBurst,
        "latency_spike" => Incident::LatencySpike,
        _ => return None,
    })
}

/// A run directory, with its labels read.
#[derive(Debug, Clone)]
pub struct Dataset {
    dir: PathBuf,
    windows: Vec<Window>,
    interval_s: u32,
    description: String,
    generation: Option<serde_json::Value>,
}

impl Dataset {
    /// Opens a run directory: checks `telemetry.ndjson` exists and reads
    /// `labels.json` (required; windows still open are skipped) and `run.json`
    /// (optional).
    pub fn open(dir: &Path) -> Result<Dataset, Error> {
        let telemetry = dir.join(TELEMETRY);
        std::fs::metadata(&telemetry).map_err(Error::io(&telemetry))?;
        let labels_path = dir.join(LABELS);
        let text = std::fs::read(&labels_path).map_err(Error::io(&labels_path))?;
        let entries: Vec<LabelEntry> =
            serde_json::from_slice(&text).map_err(|source| Error::Json {
                path: labels_path.clone(),
                source,
            })?;
        let mut windows = Vec::with_capacity(entries.len());
        for e in entries {
            let bad = |problem: String| Error::Data {
                path: labels_path.clone(),
                problem,
            };
            let incident = incident_of_kind(&e.kind)
                .ok_or_else(|| bad(format!("{}: unknown kind {:?}", e.id, e.kind)))?;
            let start_ns = parse_rfc3339(&e.start)
                .ok_or_else(|| bad(format!("{}: bad start {:?}", e.id, e.start)))?;
            let Some(end) = e.end else { continue };
            let end_ns =
                parse_rfc3339(&end).ok_or_else(|| bad(format!("{}: bad end {end:?}", e.id)))?;
            windows.push(Window {
                id: e.id,
                incident,
                start_ns,
                end_ns: end_ns.max(start_ns),
                entity: format!("{}/{}", e.namespace, e.workload),
                pod: e.pod,
            });
        }
        let run_path = dir.join(RUN);
        let run: Option<RunEntry> = match std::fs::read(&run_path) {
            Ok(bytes) => Some(
                serde_json::from_slice(&bytes).map_err(|source| Error::Json {
                    path: run_path.clone(),
                    source,
                })?,
            ),
            Err(_) => None,
        };
        let interval_s = run
            .as_ref()
            .and_then(|r| r.interval_s)
            .unwrap_or(DEFAULT_INTERVAL_S)
            .max(1);
        let description = match &run {
            Some(r) => format!(
                "seed {} fleet {} {} h",
                r.seed.map_or("?".into(), |s| s.to_string()),
                r.fleet.as_deref().unwrap_or("?"),
                r.hours.map_or("?".into(), |h| h.to_string())
            ),
            None => "unknown run".into(),
        };
        Ok(Dataset {
            dir: dir.to_owned(),
            windows,
            interval_s,
            description,
            generation: run.as_ref().and_then(RunEntry::generation),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The labelled windows (closed ones), in file order.
    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    /// The scrape interval, seconds.
    pub fn interval_s(&self) -> u32 {
        self.interval_s
    }

    /// `seed … fleet … … h`, from `run.json`.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The generator parameters from `run.json` (generator, seed, hours,
    /// interval, fleet, start, scenarios, overlap rate) that regenerate the
    /// run; `None` for runs not written by `edgeheal-chaos generate`.
    pub fn generation(&self) -> Option<&serde_json::Value> {
        self.generation.as_ref()
    }

    /// Path of the telemetry file.
    pub fn telemetry_path(&self) -> PathBuf {
        self.dir.join(TELEMETRY)
    }

    /// Size of the telemetry file in bytes (for progress bars).
    pub fn telemetry_len(&self) -> u64 {
        std::fs::metadata(self.telemetry_path()).map_or(0, |m| m.len())
    }

    /// A reader over the telemetry lines.
    pub fn telemetry(&self) -> Result<BufReader<File>, Error> {
        let path = self.telemetry_path();
        let f = File::open(&path).map_err(Error::io(&path))?;
        Ok(BufReader::with_capacity(1 << 20, f))
    }

    /// Hex SHA-256 over the telemetry bytes followed by the labels bytes.
    pub fn digest(&self) -> Result<String, Error> {
        let mut hasher = Sha256::new();
        for name in [TELEMETRY, LABELS] {
            let path = self.dir.join(name);
            let mut f = File::open(&path).map_err(Error::io(&path))?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = f.read(&mut buf).map_err(Error::io(&path))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
        }
        Ok(hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    }

    /// Whether `entity` is inside any window at `ts_ns`, the window widened by
    /// `before_ns` and `after_ns`.
    pub fn in_window(&self, entity: &str, ts_ns: i64, before_ns: i64, after_ns: i64) -> bool {
        self.windows.iter().any(|w| {
            w.entity == entity && ts_ns >= w.start_ns - before_ns && ts_ns <= w.end_ns + after_ns
        })
    }
}

/// Reads the next line of `reader` into `buf` (cleared first, newline
/// stripped); `false` at the end.
pub fn next_line(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    buf.clear();
    if reader.read_until(b'\n', buf)? == 0 {
        return Ok(false);
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chaos_kind_maps_to_its_incident() {
        let cases = [
            ("cpu_stress", Incident::CpuSaturation),
            ("memory_leak", Incident::MemoryLeak),
            ("traffic_flood", Incident::TrafficSurge),
            ("crash_loop", Incident::CrashLoop),
            ("error_burst", Incident::ErrorBurst),
            ("latency_spike", Incident::LatencySpike),
        ];
        for (kind, incident) in cases {
            assert_eq!(incident_of_kind(kind), Some(incident));
        }
        assert_eq!(incident_of_kind("gpu_melt"), None);
    }

    #[test]
    fn reads_labels_and_skips_open_windows() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(TELEMETRY), b"{}\n").unwrap();
        std::fs::write(
            dir.path().join(LABELS),
            br#"[{"id":"a","kind":"cpu_stress","start":"2025-03-03T00:00:00Z","end":"2025-03-03T00:10:00Z","namespace":"shop","workload":"cart","pod":null,"intensity":1},
                 {"id":"b","kind":"crash_loop","start":"2025-03-03T01:00:00Z","end":null,"namespace":"shop","workload":"cart","pod":"cart-1","intensity":1}]"#,
        )
        .unwrap();
        let d = Dataset::open(dir.path()).unwrap();
        assert_eq!(d.windows().len(), 1);
        assert_eq!(d.windows()[0].entity, "shop/cart");
        assert_eq!(
            d.windows()[0].end_ns - d.windows()[0].start_ns,
            600_000_000_000
        );
        assert_eq!(d.interval_s(), DEFAULT_INTERVAL_S);
        assert!(d.in_window("shop/cart", d.windows()[0].start_ns + 1, 0, 0));
        assert!(!d.in_window("shop/web", d.windows()[0].start_ns + 1, 0, 0));
        assert_eq!(d.digest().unwrap().len(), 64);
    }
}
