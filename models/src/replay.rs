//! Replaying a run through the edge filter: every record of a run's telemetry,
//! in file order, goes through one [`Filter`] (the plugin's own normalization,
//! per-entity state, features and scoring — never a copy), and a visitor sees
//! each record's observation and verdict alongside the filter.
//!
//! Event time: the generator's records all carry a time; a record without one
//! gets the latest record time seen so far in the stream (the same fallback as
//! `edgeheal score`).
//!
//! Records are read as the filter reads them ([`read_record`]): one with the
//! non-finite numbers Fluent Bit writes (`inf`, `-inf`, `nan`, `-nan`) is
//! read as its text with them replaced, as the filter reads and tags it, not
//! skipped as no JSON.

use edgeheal_plugin::json::{replace_non_finite, JsonError, Record};
use edgeheal_plugin::normalize::{normalize_in, NormalizeCache};
use edgeheal_plugin::observation::{Observation, TimeSource, WorkloadKind};
use edgeheal_plugin::{Filter, Verdict};
use indicatif::{ProgressBar, ProgressStyle};

use crate::dataset::{next_line, Dataset};
use crate::error::Error;

/// The pipeline tag replayed records carry.
pub const REPLAY_TAG: &[u8] = b"kube.edgeheal.replay";

/// One replayed record.
pub struct Step<'a> {
    /// What normalization made of the record.
    pub observation: &'a Observation<'a>,
    /// `namespace/workload`, when the record names a workload.
    pub entity: Option<&'a str>,
    /// The verdict the filter reached for it.
    pub verdict: &'a Verdict,
    /// The filter after the record (evaluations, combined features).
    pub filter: &'a Filter,
}

/// Whether `obs` is about a workload rather than a node: a node's own
/// records (Fluent Bit `cpu` / `mem` samples, events about the Node) are
/// named `_/<node>` or `<namespace>/<node>` like an entity, but no fault
/// window is ever about a node and a node is nothing the heal API scales or
/// restarts (it opens no incident for `_/<node>`), so evaluation counts
/// neither their time nor their alarms. Training keeps them: the filter
/// scores them as it scores any entity.
pub fn about_a_workload(obs: &Observation<'_>) -> bool {
    obs.identity.workload_kind != Some(WorkloadKind::Node)
}

/// Reads a line as the edge filter reads a record
/// ([`Filter::process`]): when the parse stops at one of the non-finite
/// numbers Fluent Bit writes ([`JsonError::NonFinite`]; see
/// [`NonFinite`](edgeheal_plugin::json::NonFinite)), the record is its text
/// with them replaced, which the plugin's own [`replace_non_finite`] writes
/// to `rewritten`. Otherwise, or when that text has another fault, the
/// parse's outcome.
pub fn read_record<'a>(
    line: &'a [u8],
    rewritten: &'a mut Vec<u8>,
) -> Result<Record<'a>, JsonError> {
    match Record::parse(line) {
        Err(JsonError::NonFinite(_)) => {
            replace_non_finite(line, rewritten)?;
            Record::parse(rewritten)
        }
        read => read,
    }
}

/// A progress bar over `len` bytes (hidden when stderr is not a terminal).
pub fn byte_progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>12} [{bar:30}] {bytes}/{total_bytes} ({eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

/// Feeds every record of `data` to `filter`, calling `visit` after each.
/// Returns the number of records.
pub fn replay(
    data: &Dataset,
    filter: &mut Filter,
    what: &str,
    mut visit: impl FnMut(&Step<'_>),
) -> Result<u64, Error> {
    let merge_log_key = filter.config().merge_log_key.clone();
    observe(data, what, &merge_log_key, |obs, entity| {
        let verdict = filter.observe(obs);
        visit(&Step {
            observation: obs,
            entity,
            verdict: &verdict,
            filter: &*filter,
        });
    })
}

/// Normalizes every record of `data` (no filter state, no scoring) as a
/// filter whose `merge_log_key` is `merge_log_key` does, calling `visit` with
/// each observation and its `namespace/workload`. Returns the number of
/// records.
pub fn observe(
    data: &Dataset,
    what: &str,
    merge_log_key: &str,
    mut visit: impl FnMut(&Observation<'_>, Option<&str>),
) -> Result<u64, Error> {
    let mut reader = data.telemetry()?;
    let bar = byte_progress(data.telemetry_len(), what);
    let mut line = Vec::with_capacity(4096);
    let mut rewritten = Vec::new();
    let mut cache = NormalizeCache::new();
    let mut entity = String::with_capacity(128);
    let mut latest = i64::MIN;
    let mut n = 0u64;
    let path = data.telemetry_path();
    while next_line(&mut reader, &mut line).map_err(Error::io(&path))? {
        n += 1;
        if n % 4096 == 0 {
            bar.set_position(reader_pos(n, &line, &bar));
        }
        let Ok(record) = read_record(&line, &mut rewritten) else {
            continue;
        };
        let obs = normalize_in(
            &record,
            REPLAY_TAG,
            if latest == i64::MIN { 0 } else { latest },
            merge_log_key,
            &mut cache,
        );
        if obs.ts_source == TimeSource::Record {
            latest = latest.max(obs.ts_ns);
        }
        let id = &obs.identity;
        let named = match (id.namespace.as_deref(), id.workload.as_deref()) {
            (ns, Some(w)) => {
                entity.clear();
                entity.push_str(ns.unwrap_or("_"));
                entity.push('/');
                entity.push_str(w);
                Some(entity.as_str())
            }
            _ => None,
        };
        visit(&obs, named);
    }
    bar.finish_and_clear();
    Ok(n)
}

/// Approximate byte position for the bar: advances by the current line length.
fn reader_pos(_n: u64, line: &[u8], bar: &ProgressBar) -> u64 {
    bar.position() + (line.len() as u64 + 1) * 4096
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeheal_plugin::tags::write_tags;
    use edgeheal_plugin::{FilterConfig, ModelSet};

    /// A pod's memory samples and access-log lines, a second apart, every
    /// third carrying Fluent Bit's bare non-finite tokens (`"fb":[inf,-nan]`,
    /// or the sample's value itself `nan` or `-inf`).
    fn telemetry() -> String {
        let labels =
            r#""labels":{"namespace":"shop","pod":"web-5d9c7b6f4-abcde","container":"app"}"#;
        let kubernetes =
            r#""kubernetes":{"pod_name":"web-5d9c7b6f4-abcde","namespace_name":"shop"}"#;
        let mut text = String::new();
        for i in 0..240u32 {
            let time = format!("2025-03-03T00:{:02}:{:02}Z", i / 60, i % 60);
            let fb = if i % 3 == 0 {
                r#""fb":[inf,-nan],"#
            } else {
                ""
            };
            let line = match i % 4 {
                0 | 1 => {
                    let value = match i % 12 {
                        3 => "nan".to_owned(),
                        6 => "-inf".to_owned(),
                        _ => format!("{}", 1e8 + f64::from(i % 7) * 1e6 * f64::from(i / 60 + 1)),
                    };
                    format!(
                        r#"{{"time":"{time}",{fb}"metric":"container_memory_working_set_bytes","value":{value},{labels}}}"#
                    )
                }
                _ => {
                    let status = if i > 180 && i % 2 == 0 { 503 } else { 200 };
                    format!(
                        r#"{{"time":"{time}",{fb}"log":"GET /cart {status} 12ms",{kubernetes}}}"#
                    )
                }
            };
            text.push_str(&line);
            text.push('\n');
        }
        text
    }

    /// Records with Fluent Bit's non-finite numbers are replayed as the
    /// filter reads them: each is visited, with the observation and verdict
    /// whose tags the filter writes for it (they were skipped, so training
    /// and evaluation saw a stream the edge never sees).
    #[test]
    fn records_with_non_finite_numbers_are_replayed_as_the_filter_reads_them() {
        let scored = replayed_as_filtered(
            &telemetry(),
            FilterConfig {
                warmup: 2,
                ..FilterConfig::default()
            },
        );
        // Scored, those with the tokens too.
        let scored_with_tokens = scored.iter().step_by(3).filter(|s| **s).count();
        assert!(scored_with_tokens > 40, "{scored_with_tokens} of 80 scored");
    }

    /// Fluent Bit's `Merge_Log_Key app_json`: the replay reads the app's
    /// members where the filter configured so reads them (it read them under
    /// the default key only, so training on such a pipeline's records saw no
    /// request, status or level).
    #[test]
    fn records_are_replayed_under_the_filters_merge_log_key() {
        let kubernetes =
            r#""kubernetes":{"pod_name":"pay-7d4b9c8f6-x2x9z","namespace_name":"shop"}"#;
        let mut text = String::new();
        for i in 0..240u32 {
            let status = if i > 180 { 502 } else { 200 };
            text.push_str(&format!(
                r#"{{"time":"2025-03-03T00:{:02}:{:02}Z","stream":"stdout","app_json":{{"level":"info","status":{status},"method":"POST","path":"/pay"}},{kubernetes}}}"#,
                i / 60,
                i % 60
            ));
            text.push('\n');
        }
        let config = FilterConfig {
            warmup: 2,
            merge_log_key: "app_json".to_owned(),
            ..FilterConfig::default()
        };
        replayed_as_filtered(&text, config);
    }

    /// Replays `text` through a filter with `config` and the embedded models,
    /// checks that every record is visited, with the tags a filter with the
    /// same config writes for it, and returns whether each was scored.
    fn replayed_as_filtered(text: &str, config: FilterConfig) -> Vec<bool> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(crate::dataset::TELEMETRY), text).unwrap();
        std::fs::write(dir.path().join(crate::dataset::LABELS), b"[]").unwrap();
        let data = Dataset::open(dir.path()).unwrap();
        let models = || ModelSet::from_embedded().map(Result::unwrap);
        let mut filter = Filter::new(config.clone(), models());
        let mut visited: Vec<(Vec<u8>, Option<String>)> = Vec::new();
        let mut scored = Vec::new();
        let n = replay(&data, &mut filter, "test", |step| {
            let mut tags = Vec::new();
            write_tags(
                &mut tags,
                step.observation,
                step.verdict,
                step.filter.model_id(),
            );
            scored.push(step.verdict.score.is_some());
            visited.push((tags, step.entity.map(str::to_owned)));
        })
        .unwrap();
        assert_eq!(n, text.lines().count() as u64);
        assert_eq!(
            visited.len(),
            text.lines().count(),
            "every record is visited"
        );

        // The filter, fed the same records, writes the same tags for each.
        let mut edge = Filter::new(config, models());
        let mut out = Vec::new();
        for (i, (line, (tags, entity))) in text.lines().zip(&visited).enumerate() {
            edge.process(REPLAY_TAG, 0, line.as_bytes(), &mut out);
            let mut want = b"\"edgeheal\":".to_vec();
            want.extend_from_slice(tags);
            want.push(b'}');
            assert!(
                out.ends_with(&want),
                "record {i}: {}\nreplayed: {}",
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(tags)
            );
            assert!(entity.is_some(), "record {i}");
        }
        scored
    }
}
