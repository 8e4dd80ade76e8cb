//! The per-tick output buffer: records are collected during a tick, then
//! sorted by time and handed to a [`Sink`]. Kubernetes events are aggregated
//! the way the API server's event correlator does it: a repeated
//! (object, reason, message) updates one Event whose `count` climbs.

use std::collections::BTreeMap;

use crate::sink::Sink;
use crate::telemetry::{k8s_event, EventObject, Record};
use crate::ChaosError;

/// The object an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Involved<'a> {
    /// `Pod`, `Node`, `Deployment`, ...
    pub kind: &'static str,
    /// Object name.
    pub name: &'a str,
    /// Object namespace (`""` for nodes).
    pub namespace: &'a str,
    /// Object UID.
    pub uid: &'a str,
    /// Container the event is about (`spec.containers{name}`), if any.
    pub container: Option<&'a str>,
}

#[derive(Debug, Clone)]
struct Series {
    name: String,
    uid: String,
    count: u32,
    first_ns: i64,
}

/// Collects a tick's records and keeps event series.
#[derive(Debug, Default)]
pub struct Emitter {
    buf: Vec<Record>,
    resource_version: u64,
    series: BTreeMap<(String, &'static str, String), Series>,
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Emitter {
    /// Adds a record to the current tick.
    pub fn push(&mut self, record: Record) {
        self.buf.push(record);
    }

    /// Emits (or updates) an event about `obj` at `ts_ns`.
    #[allow(clippy::too_many_arguments)]
    pub fn event(
        &mut self,
        obj: &Involved<'_>,
        reason: &'static str,
        warning: bool,
        message: String,
        ts_ns: i64,
        component: &'static str,
        host: Option<&str>,
    ) {
        self.resource_version += 1;
        let rv = self.resource_version;
        let key = (obj.uid.to_owned(), reason, message.clone());
        let series = self.series.entry(key).or_insert_with(|| {
            let h = splitmix(rv);
            let g = splitmix(h);
            Series {
                name: crate::names::event_name(obj.name, ts_ns),
                uid: format!(
                    "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
                    h >> 32,
                    (h >> 16) & 0xffff,
                    h & 0xfff,
                    0x8000 | (g >> 50),
                    g & 0xffff_ffff_ffff
                ),
                count: 0,
                first_ns: ts_ns,
            }
        });
        series.count += 1;
        let namespace = if obj.namespace.is_empty() {
            "default".to_owned()
        } else {
            obj.namespace.to_owned()
        };
        let ev = EventObject {
            name: series.name.clone(),
            namespace,
            uid: series.uid.clone(),
            resource_version: rv,
            involved_kind: obj.kind,
            involved_name: obj.name.to_owned(),
            involved_namespace: obj.namespace.to_owned(),
            involved_uid: obj.uid.to_owned(),
            field_path: obj.container.map(|c| format!("spec.containers{{{c}}}")),
            reason,
            message,
            warning,
            count: series.count,
            first_ns: series.first_ns,
            last_ns: ts_ns,
            component,
            host: host.map(str::to_owned),
        };
        self.buf.push(k8s_event(&ev));
    }

    /// Forgets the event series of an object that no longer exists.
    pub fn forget(&mut self, uid: &str) {
        self.series.retain(|k, _| k.0 != uid);
    }

    /// Sorts the tick's records by time (stable) and writes them to `sink`.
    pub fn flush(&mut self, sink: &mut dyn Sink) -> Result<(), ChaosError> {
        self.buf.sort_by_key(|r| r.ts_ns);
        for record in self.buf.drain(..) {
            sink.emit(record)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_events_aggregate_and_flush_in_time_order() {
        let mut e = Emitter::default();
        let pod = Involved {
            kind: "Pod",
            name: "p-0",
            namespace: "ns",
            uid: "u1",
            container: Some("app"),
        };
        // (reason, message, ts) and the count expected on that record
        let cases: &[(&'static str, &str, i64, u64)] = &[
            (
                "BackOff",
                "Back-off restarting failed container",
                3_000_000_000,
                1,
            ),
            ("Started", "Started container app", 1_000_000_000, 1),
            (
                "BackOff",
                "Back-off restarting failed container",
                2_000_000_000,
                2,
            ),
        ];
        for (reason, msg, ts, _) in cases {
            e.event(
                &pod,
                reason,
                true,
                (*msg).into(),
                *ts,
                "kubelet",
                Some("n1"),
            );
        }
        let mut out: Vec<Record> = Vec::new();
        e.flush(&mut out).unwrap();
        let ts: Vec<i64> = out.iter().map(|r| r.ts_ns).collect();
        assert_eq!(ts, vec![1_000_000_000, 2_000_000_000, 3_000_000_000]);
        let counts: Vec<u64> = out
            .iter()
            .map(|r| {
                let v: serde_json::Value = serde_json::from_str(&r.line).unwrap();
                v["count"].as_u64().unwrap()
            })
            .collect();
        assert_eq!(counts, vec![1, 2, 1]);
        let names: Vec<String> = out
            .iter()
            .map(|r| {
                let v: serde_json::Value = serde_json::from_str(&r.line).unwrap();
                v["metadata"]["name"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(names[1], names[2], "one Event object per series");
    }
}
