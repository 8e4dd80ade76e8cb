//! Normalization: from the record shapes real pipelines carry to an
//! [`Observation`].
//!
//! STUB — being written (helper A).

use crate::json::Record;
use crate::observation::{Identity, Observation, RecordKind, Signal, TimeSource};

/// Normalizes one record. `tag` is the pipeline tag; `event_time_ns` is the time
/// the pipeline attached to the record, used when the record has none.
pub fn normalize<'a>(record: &Record<'a>, tag: &[u8], event_time_ns: i64) -> Observation<'a> {
    let _ = (record, tag);
    Observation {
        kind: RecordKind::Unknown,
        ts_ns: event_time_ns,
        ts_source: TimeSource::EventTime,
        identity: Identity::default(),
        signal: Signal::None,
    }
}
