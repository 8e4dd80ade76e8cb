//! Replaying a run through the edge filter: every record of a run's telemetry,
//! in file order, goes through one [`Filter`] (the plugin's own normalization,
//! per-entity state, features and scoring — never a copy), and a visitor sees
//! each record's observation and verdict alongside the filter.
//!
//! Event time: the generator's records all carry a time; a record without one
//! gets the latest record time seen so far in the stream (the same fallback as
//! `edgeheal score`).

use edgeheal_plugin::json::Record;
use edgeheal_plugin::normalize::normalize;
use edgeheal_plugin::observation::{Observation, TimeSource};
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
    observe(data, what, |obs, entity| {
        let verdict = filter.observe(obs);
        visit(&Step {
            observation: obs,
            entity,
            verdict: &verdict,
            filter: &*filter,
        });
    })
}

/// Normalizes every record of `data` (no filter state, no scoring), calling
/// `visit` with each observation and its `namespace/workload`. Returns the
/// number of records.
pub fn observe(
    data: &Dataset,
    what: &str,
    mut visit: impl FnMut(&Observation<'_>, Option<&str>),
) -> Result<u64, Error> {
    let mut reader = data.telemetry()?;
    let bar = byte_progress(data.telemetry_len(), what);
    let mut line = Vec::with_capacity(4096);
    let mut entity = String::with_capacity(128);
    let mut latest = i64::MIN;
    let mut n = 0u64;
    let path = data.telemetry_path();
    while next_line(&mut reader, &mut line).map_err(Error::io(&path))? {
        n += 1;
        if n % 4096 == 0 {
            bar.set_position(reader_pos(n, &line, &bar));
        }
        let Ok(record) = Record::parse(&line) else {
            continue;
        };
        let obs = normalize(
            &record,
            REPLAY_TAG,
            if latest == i64::MIN { 0 } else { latest },
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
