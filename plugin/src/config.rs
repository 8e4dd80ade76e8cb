//! Runtime configuration of the filter: state bounds and window geometry.
//!
//! Read once (through WASI in Fluent Bit, from a flag natively); a bad value is
//! an error naming the key, and the adapters keep the defaults when that happens.

use serde::Deserialize;

use crate::error::Error;

/// The most memory the entity table may hold
/// ([`crate::filter::entity_bytes`] times `max_entities`): 1 GiB. In Fluent
/// Bit the filter's whole heap is one wasm32 linear memory, at most 4 GiB;
/// a table that outgrew it would trap at an allocation, and every trap
/// leaks the instance's stack until it dies. At the default 4096 entities
/// and 4 buckets the bound is about 53 MiB (most entities hold far less);
/// the pod's memory limit must leave room for it.
pub const STATE_BUDGET_BYTES: u64 = 1 << 30;

const MIB: u64 = 1 << 20;

/// Filter configuration. Every field has a default; unknown keys are rejected.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    /// Most entities (pods plus workloads) tracked at once; the least recently
    /// seen is evicted past this. Bounds the filter's state memory: at most
    /// [`crate::filter::entity_bytes`] an entity, and [`STATE_BUDGET_BYTES`]
    /// in all.
    pub max_entities: usize,
    /// Width of one window bucket in seconds: traffic, error and latency
    /// features are recomputed when a bucket rolls.
    pub bucket_seconds: u32,
    /// Buckets in a sliding window (window length = `bucket_seconds * window_buckets`).
    pub window_buckets: u32,
    /// Half-life of the EWMA baselines, in evaluations.
    pub baseline_half_life: f64,
    /// Evaluations an entity needs before its baseline-relative features are trusted.
    pub warmup: u32,
    /// Length of the restart window, in seconds (restarts, back-offs, OOM kills).
    pub restart_window_seconds: u32,
    /// Kubernetes events arrive from periodic lists (Vector's `http_client`
    /// poll), not a watch that delivers every version of an Event object (Fluent
    /// Bit's `kubernetes_events` input): a new version of an object counted
    /// before then counts the occurrences since, its `count` minus the
    /// highest counted (at most 10), instead of one. The Vector scorer always
    /// counts this way.
    pub events_polled: bool,
    /// The key Fluent Bit's `kubernetes` filter puts a merged JSON log line
    /// under (its `Merge_Log_Key`); read when a record has no line (`Keep_Log
    /// Off`). Fluent Bit only: Vector's normalizer reads `log_processed`.
    pub merge_log_key: String,
    /// Write `why` for records whose verdict is not anomalous too. Off (the
    /// default), `why` is `[]` there: it explains anomalies, and on a normal
    /// record its three features and contributions are about 220 bytes that
    /// every log store downstream keeps and Fluent Bit pays for per byte
    /// (README, "Benchmarks"). Anomalous records carry it either way.
    pub explain_normal: bool,
}

impl Default for FilterConfig {
    fn default() -> Self {
        FilterConfig {
            max_entities: 4096,
            bucket_seconds: 15,
            window_buckets: 4,
            baseline_half_life: 40.0,
            warmup: 8,
            restart_window_seconds: 180,
            events_polled: false,
            merge_log_key: crate::normalize::MERGE_LOG_KEY.to_owned(),
            explain_normal: false,
        }
    }
}

impl FilterConfig {
    /// Parses and validates a JSON configuration object.
    pub fn from_json(text: &[u8]) -> Result<FilterConfig, Error> {
        let config: FilterConfig = serde_json::from_slice(text).map_err(Error::ConfigSyntax)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every value is in range.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |key, problem| Err(Error::ConfigValue { key, problem });
        if !(16..=1_000_000).contains(&self.max_entities) {
            return bad("max_entities", "must be between 16 and 1000000");
        }
        if !(1..=3600).contains(&self.bucket_seconds) {
            return bad("bucket_seconds", "must be between 1 and 3600");
        }
        if !(1..=64).contains(&self.window_buckets) {
            return bad("window_buckets", "must be between 1 and 64");
        }
        if !(self.baseline_half_life.is_finite() && (1.0..=1e6).contains(&self.baseline_half_life))
        {
            return bad("baseline_half_life", "must be between 1 and 1000000");
        }
        if self.warmup > 10_000 {
            return bad("warmup", "must be at most 10000");
        }
        if !(1..=86_400).contains(&self.restart_window_seconds) {
            return bad("restart_window_seconds", "must be between 1 and 86400");
        }
        if self.merge_log_key.is_empty() || self.merge_log_key.len() > 256 {
            return bad("merge_log_key", "must be 1 to 256 bytes");
        }
        let entity_bytes = crate::filter::entity_bytes(self);
        let needed = (entity_bytes as u64).saturating_mul(self.max_entities as u64);
        if needed > STATE_BUDGET_BYTES {
            return Err(Error::StateTooLarge {
                max_entities: self.max_entities,
                window_buckets: self.window_buckets,
                entity_bytes,
                needed_mib: needed.div_ceil(MIB),
                budget_mib: STATE_BUDGET_BYTES / MIB,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(FilterConfig::default().validate().is_ok());
        assert_eq!(
            FilterConfig::from_json(b"{}").ok(),
            Some(FilterConfig::default())
        );
    }

    #[test]
    fn errors_name_the_key() {
        let cases: &[(&str, &str)] = &[
            (r#"{"max_entitys": 10}"#, "max_entitys"),
            (r#"{"max_entities": 1}"#, "max_entities"),
            (r#"{"bucket_seconds": 0}"#, "bucket_seconds"),
            (r#"{"window_buckets": 65}"#, "window_buckets"),
            (r#"{"baseline_half_life": 0.5}"#, "baseline_half_life"),
            (r#"{"warmup": 20000}"#, "warmup"),
            (r#"{"restart_window_seconds": 0}"#, "restart_window_seconds"),
            (r#"{"bucket_seconds": "15"}"#, "string"),
            (r#"{"merge_log_key": ""}"#, "merge_log_key"),
            (r#"{"merge_log_key": 7}"#, "integer"),
            (r#"{"explain_normal": "yes"}"#, "boolean"),
            (r#"{"max_entities": 1000000}"#, "max_entities"),
            (
                r#"{"max_entities": 100000, "window_buckets": 64}"#,
                "window_buckets",
            ),
        ];
        for (text, key) in cases {
            match FilterConfig::from_json(text.as_bytes()) {
                Ok(c) => panic!("{text} accepted as {c:?}"),
                Err(e) => assert!(e.to_string().contains(key), "{text}: {e}"),
            }
        }
    }
}
