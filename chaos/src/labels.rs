//! Ground-truth windows (`labels.json`): the type, and reading, atomic
//! writing, opening and closing windows for real chaos experiments.
//!
//! The file is a JSON array of
//! `{"id","kind","start","end","namespace","workload","pod","intensity"}`
//! with RFC 3339 UTC times; `pod` is `null` for workload-wide faults and `end`
//! is `null` while a real experiment's window is still open.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::clock::{parse_rfc3339, rfc3339, Precision};
use crate::fault::FaultKind;
use crate::ChaosError;

/// One labelled fault window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Label {
    /// Unique id of the window.
    pub id: String,
    /// The fault kind.
    pub kind: FaultKind,
    /// When the fault became active (RFC 3339 UTC).
    pub start: String,
    /// When it stopped (RFC 3339 UTC); `null` while a real experiment runs.
    pub end: Option<String>,
    /// Target namespace.
    pub namespace: String,
    /// Target workload.
    pub workload: String,
    /// Target pod, `null` when the whole workload is affected.
    pub pod: Option<String>,
    /// Strength in `[0, 1]`.
    pub intensity: f64,
}

impl Label {
    /// Start in ns since the epoch, if the timestamp parses.
    pub fn start_ns(&self) -> Option<i64> {
        parse_rfc3339(&self.start)
    }

    /// End in ns since the epoch; `None` while open or unparsable.
    pub fn end_ns(&self) -> Option<i64> {
        self.end.as_deref().and_then(parse_rfc3339)
    }
}

/// Reads a labels file; a missing file is an empty list.
pub fn read_labels(path: &Path) -> Result<Vec<Label>, ChaosError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(ChaosError::Io {
                path: path.to_owned(),
                source,
            })
        }
    };
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(&text).map_err(|source| ChaosError::Json {
        path: path.to_owned(),
        source,
    })
}

/// Writes `value` as pretty JSON to `path` atomically: a temporary file in
/// the same directory, flushed and synced, then renamed over `path`.
pub fn write_json_atomic<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<(), ChaosError> {
    let io = |source| ChaosError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "labels.json".into());
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let mut text = serde_json::to_vec_pretty(value).map_err(|source| ChaosError::Json {
        path: path.to_owned(),
        source,
    })?;
    text.push(b'\n');
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

/// What `label start` records.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowStart {
    /// Explicit id; default `<kind>-<namespace>-<workload>-<unix seconds>`.
    pub id: Option<String>,
    /// Fault kind.
    pub kind: FaultKind,
    /// Namespace.
    pub namespace: String,
    /// Workload.
    pub workload: String,
    /// Pod, for pod-level experiments.
    pub pod: Option<String>,
    /// Strength in `[0, 1]`.
    pub intensity: f64,
}

/// Which open window `label end` closes: the most recently started open
/// window matching every given field.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowEnd {
    /// Match this id only.
    pub id: Option<String>,
    /// Fault kind.
    pub kind: FaultKind,
    /// Namespace.
    pub namespace: String,
    /// Workload.
    pub workload: String,
    /// Match this pod only.
    pub pod: Option<String>,
}

/// Appends an open window started at `now_ns`; returns it.
pub fn open_window(
    labels: &mut Vec<Label>,
    start: WindowStart,
    now_ns: i64,
) -> Result<Label, ChaosError> {
    if !(0.0..=1.0).contains(&start.intensity) {
        return Err(ChaosError::InvalidParameter {
            name: "intensity",
            reason: format!("{} is outside [0, 1]", start.intensity),
        });
    }
    let id = start.id.unwrap_or_else(|| {
        format!(
            "{}-{}-{}-{}",
            start.kind.as_str(),
            start.namespace,
            start.workload,
            now_ns.div_euclid(1_000_000_000)
        )
    });
    if labels.iter().any(|l| l.id == id && l.end.is_none()) {
        return Err(ChaosError::WindowAlreadyOpen(id));
    }
    let label = Label {
        id,
        kind: start.kind,
        start: rfc3339(now_ns, Precision::Millis),
        end: None,
        namespace: start.namespace,
        workload: start.workload,
        pod: start.pod,
        intensity: start.intensity,
    };
    labels.push(label.clone());
    Ok(label)
}

/// Closes the matching open window at `now_ns`; returns it.
pub fn close_window(
    labels: &mut [Label],
    end: &WindowEnd,
    now_ns: i64,
) -> Result<Label, ChaosError> {
    let found = labels
        .iter_mut()
        .filter(|l| {
            l.end.is_none()
                && l.kind == end.kind
                && l.namespace == end.namespace
                && l.workload == end.workload
                && end.id.as_ref().is_none_or(|id| *id == l.id)
                && end.pod.as_ref().is_none_or(|p| Some(p) == l.pod.as_ref())
        })
        .max_by_key(|l| l.start_ns().unwrap_or(i64::MIN));
    match found {
        Some(label) => {
            let start = label.start_ns().unwrap_or(now_ns);
            label.end = Some(rfc3339(now_ns.max(start), Precision::Millis));
            Ok(label.clone())
        }
        None => Err(ChaosError::NoOpenWindow(format!(
            "kind={} namespace={} workload={}{}{}",
            end.kind.as_str(),
            end.namespace,
            end.workload,
            end.pod
                .as_ref()
                .map(|p| format!(" pod={p}"))
                .unwrap_or_default(),
            end.id
                .as_ref()
                .map(|i| format!(" id={i}"))
                .unwrap_or_default(),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(kind: FaultKind, pod: Option<&str>, id: Option<&str>) -> WindowStart {
        WindowStart {
            id: id.map(Into::into),
            kind,
            namespace: "shop".into(),
            workload: "cart".into(),
            pod: pod.map(Into::into),
            intensity: 1.0,
        }
    }

    fn end(kind: FaultKind, pod: Option<&str>, id: Option<&str>) -> WindowEnd {
        WindowEnd {
            id: id.map(Into::into),
            kind,
            namespace: "shop".into(),
            workload: "cart".into(),
            pod: pod.map(Into::into),
        }
    }

    #[test]
    fn open_close_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels.json");
        let t0 = 1_741_003_200_000_000_000;
        let mut labels = read_labels(&path).unwrap();
        assert!(labels.is_empty());
        open_window(&mut labels, start(FaultKind::CpuStress, None, None), t0).unwrap();
        write_json_atomic(&path, &labels).unwrap();
        let mut labels = read_labels(&path).unwrap();
        let closed = close_window(
            &mut labels,
            &end(FaultKind::CpuStress, None, None),
            t0 + 60_000_000_000,
        )
        .unwrap();
        write_json_atomic(&path, &labels).unwrap();
        let back = read_labels(&path).unwrap();
        assert_eq!(back, vec![closed.clone()]);
        assert_eq!(closed.id, "cpu_stress-shop-cart-1741003200");
        assert_eq!(closed.start, "2025-03-03T12:00:00.000Z");
        assert_eq!(closed.end.as_deref(), Some("2025-03-03T12:01:00.000Z"));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp files left behind");
    }

    #[test]
    fn matching_rules() {
        let t = 1_000_000_000_000;
        // (windows opened, window to close, expected closed id or None)
        let cases: Vec<(Vec<WindowStart>, WindowEnd, Option<&str>)> = vec![
            (
                vec![start(FaultKind::CrashLoop, Some("p1"), Some("a"))],
                end(FaultKind::CrashLoop, None, None),
                Some("a"),
            ),
            (
                vec![start(FaultKind::CrashLoop, Some("p1"), Some("a"))],
                end(FaultKind::CrashLoop, Some("p2"), None),
                None,
            ),
            (
                vec![start(FaultKind::CrashLoop, None, Some("a"))],
                end(FaultKind::MemoryLeak, None, None),
                None,
            ),
            (
                vec![
                    start(FaultKind::ErrorBurst, None, Some("a")),
                    start(FaultKind::ErrorBurst, None, Some("b")),
                ],
                end(FaultKind::ErrorBurst, None, None),
                Some("b"),
            ),
            (
                vec![
                    start(FaultKind::ErrorBurst, None, Some("a")),
                    start(FaultKind::ErrorBurst, None, Some("b")),
                ],
                end(FaultKind::ErrorBurst, None, Some("a")),
                Some("a"),
            ),
        ];
        for (opens, close, want) in cases {
            let mut labels = Vec::new();
            for (i, o) in opens.into_iter().enumerate() {
                open_window(&mut labels, o, t + i as i64 * 1_000_000_000).unwrap();
            }
            let got = close_window(&mut labels, &close, t + 100_000_000_000)
                .ok()
                .map(|l| l.id);
            assert_eq!(got.as_deref(), want, "{close:?}");
        }
    }

    #[test]
    fn duplicate_open_id_is_refused() {
        let mut labels = Vec::new();
        open_window(&mut labels, start(FaultKind::CpuStress, None, Some("x")), 0).unwrap();
        let again = open_window(&mut labels, start(FaultKind::CpuStress, None, Some("x")), 1);
        assert!(matches!(again, Err(ChaosError::WindowAlreadyOpen(_))));
    }
}
