//! The edge of the loop: every record goes through the edgeheal filter (the
//! native core here; the `.wasm` under the Fluent Bit harness when that is
//! wired in), and the anomalous ones are routed to the heal API — what
//! `rewrite_tag` on `$edgeheal['anomaly']` followed by the `http` output does
//! in Fluent Bit.

use edgeheal_plugin::{Filter, FilterConfig, ModelSet};
use serde::Deserialize;

use super::LoopError;

/// Something that tags records as the Fluent Bit filter does.
pub trait EdgeFilter: Send {
    /// What runs (for the report).
    fn describe(&self) -> String;
    /// Tags one record: `out` receives the record with its `edgeheal` object
    /// (empty when the filter dropped it).
    fn process(&mut self, tag: &str, ts_ns: i64, line: &[u8], out: &mut Vec<u8>);
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
