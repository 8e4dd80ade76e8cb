//! The edge of the loop: every record goes through the edgeheal filter — the
//! shipped `.wasm` under the Fluent Bit harness ([`WasmFilter`]) or the same
//! core compiled natively ([`NativeFilter`]) — and the anomalous ones are
//! routed to the heal API: what `rewrite_tag` on `$edgeheal['anomaly']`
//! followed by the `http` output does in Fluent Bit.

use std::path::{Path, PathBuf};

use edgeheal_plugin::{Filter, FilterConfig, ModelSet};
use serde::Deserialize;

use super::LoopError;
use crate::clock::NS_PER_S;
use crate::fluentbit::{EventTime, FilterOutcome, FilterWasmConfig, FluentBitWasm};

/// Something that tags records as the Fluent Bit filter does.
pub trait EdgeFilter: Send {
    /// What runs (for the report).
    fn describe(&self) -> String;
    /// Tags one record: `out` receives the record with its `edgeheal` object
    /// (empty when the filter dropped it).
    fn process(&mut self, tag: &str, ts_ns: i64, line: &[u8], out: &mut Vec<u8>);
    /// Records the filter dropped so far (a trap, an invalid result); the
    /// native core never drops.
    fn dropped(&self) -> u64 {
        0
    }
}

/// The native edge core with the embedded default models.
pub struct NativeFilter {
    filter: Filter,
}

impl std::fmt::Debug for NativeFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeFilter")
            .field("model", &self.filter.model_id())
            .finish()
    }
}

impl NativeFilter {
    /// The filter with the default configuration and the embedded models.
    pub fn embedded() -> Result<Self, LoopError> {
        let models = ModelSet::from_embedded()
            .ok_or_else(|| LoopError::Edge("no embedded models in this build".into()))?
            .map_err(|e| LoopError::Edge(format!("embedded models: {e}")))?;
        Ok(Self {
            filter: Filter::new(FilterConfig::default(), Some(models)),
        })
    }
}

impl EdgeFilter for NativeFilter {
    fn describe(&self) -> String {
        format!("native edge core, model {}", self.filter.model_id())
    }

    fn process(&mut self, tag: &str, ts_ns: i64, line: &[u8], out: &mut Vec<u8>) {
        self.filter.process(tag.as_bytes(), ts_ns, line, out);
    }
}

/// `edgeheal_plugin.wasm` in one persistent `[FILTER] Name wasm` instance of
/// the Fluent Bit harness, configured as the shipped configs configure it
/// (`wasm_heap_size 16M`, `wasm_stack_size 256K`, no accessible paths, so the
/// filter runs its embedded models with the default configuration).
pub struct WasmFilter {
    instance: FluentBitWasm,
    path: PathBuf,
    model: Option<String>,
}

impl std::fmt::Debug for WasmFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmFilter")
            .field("path", &self.path)
            .field("model", &self.model)
            .field("stats", &self.instance.stats())
            .finish()
    }
}

impl WasmFilter {
    /// Loads the module at `path` as Fluent Bit would with the shipped config.
    pub fn load(path: &Path) -> Result<Self, LoopError> {
        let instance = FluentBitWasm::load(path, &FilterWasmConfig::default())
            .map_err(|e| LoopError::Edge(format!("{}: {e}", path.display())))?;
        Ok(Self {
            instance,
            path: path.to_path_buf(),
            model: None,
        })
    }

    /// The filter this build's `build.rs` compiled from the current sources.
    pub fn shipped() -> Result<Self, LoopError> {
        Self::load(crate::fluentbit::plugin_wasm())
    }
}

impl EdgeFilter for WasmFilter {
    fn describe(&self) -> String {
        let name = self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let stats = self.instance.stats();
        let mut text = format!("{name} in the Fluent Bit 4.2 filter_wasm harness (wasmtime)");
        if let Some(model) = &self.model {
            text.push_str(&format!(", model {model}"));
        }
        if stats.calls > 0 {
            text.push_str(&format!(", {} calls, {} traps", stats.calls, stats.traps));
        }
        text
    }

    fn process(&mut self, tag: &str, ts_ns: i64, line: &[u8], out: &mut Vec<u8>) {
        let time = EventTime {
            sec: ts_ns.div_euclid(NS_PER_S),
            nsec: u32::try_from(ts_ns.rem_euclid(NS_PER_S)).unwrap_or(0),
        };
        out.clear();
        if let FilterOutcome::Kept(body) = self.instance.filter(tag.as_bytes(), time, line) {
            *out = body;
            if self.model.is_none() {
                self.model = tags(out).and_then(|t| t.model);
            }
        }
    }

    fn dropped(&self) -> u64 {
        self.instance.stats().dropped
    }
}

/// The tags the loop reads from an anomalous record.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Tag {
    /// `namespace/workload`.
    pub entity: Option<String>,
    /// Pod.
    pub pod: Option<String>,
    /// Isolation-forest score.
    pub score: Option<f64>,
    /// Anomalous.
    pub anomaly: bool,
    /// Incident class.
    pub incident: String,
    /// Suggested action.
    pub action: String,
    /// Record kind.
    pub kind: String,
    /// The model family behind the verdict.
    #[serde(default)]
    pub family: Option<String>,
    /// `name@sha256-prefix` of the models that scored it.
    #[serde(default)]
    pub model: Option<String>,
}

#[derive(Deserialize)]
struct Tagged {
    edgeheal: Option<Tag>,
}

/// The `edgeheal` object of a tagged record.
pub fn tags(tagged: &[u8]) -> Option<Tag> {
    let t: Tagged = serde_json::from_slice(tagged).ok()?;
    t.edgeheal
}

/// The `edgeheal` object of a tagged record, when it is anomalous (the
/// pipeline's routing rule).
pub fn anomaly(tagged: &[u8]) -> Option<Tag> {
    tags(tagged).filter(|e| e.anomaly)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_only_anomalous_tagged_records() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                r#"{"log":"x","edgeheal":{"kind":"log","entity":"shop/web","pod":"web-1","score":0.9,"anomaly":true,"incident":"error_burst","action":"rollout_restart"}}"#,
                Some("shop/web"),
            ),
            (
                r#"{"edgeheal":{"kind":"log","entity":"shop/web","pod":null,"score":0.1,"anomaly":false,"incident":"unknown","action":"none"}}"#,
                None,
            ),
            (r#"{"log":"untagged"}"#, None),
            ("not json", None),
        ];
        for (line, want) in cases {
            let got = anomaly(line.as_bytes()).and_then(|t| t.entity);
            assert_eq!(got.as_deref(), *want, "{line}");
        }
    }
}
