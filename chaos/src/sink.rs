//! Where records go: an in-memory `Vec` (tests, the simulated cluster) or
//! NDJSON files (one merged time-ordered file, optionally one per shape).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::telemetry::{Record, Shape};
use crate::ChaosError;

/// Receives records in time order.
pub trait Sink {
    /// Takes one record.
    fn emit(&mut self, record: Record) -> Result<(), ChaosError>;
}

impl Sink for Vec<Record> {
    fn emit(&mut self, record: Record) -> Result<(), ChaosError> {
        self.push(record);
        Ok(())
    }
}

/// The merged output file name.
pub const MERGED_FILE: &str = "telemetry.ndjson";

/// Writes `telemetry.ndjson` (every record, in time order) and, with
/// `split`, `<shape>.ndjson` per shape too.
pub struct NdjsonSink {
    dir: PathBuf,
    merged: BufWriter<File>,
    split: Option<BTreeMap<Shape, BufWriter<File>>>,
    counts: BTreeMap<Shape, u64>,
    bytes: u64,
}

fn create(path: &Path) -> Result<BufWriter<File>, ChaosError> {
    File::create(path)
        .map(|f| BufWriter::with_capacity(1 << 20, f))
        .map_err(|source| ChaosError::Io {
            path: path.to_owned(),
            source,
        })
}

impl NdjsonSink {
    /// Creates the files in `dir` (which must exist).
    pub fn create(dir: &Path, split: bool) -> Result<Self, ChaosError> {
        let merged = create(&dir.join(MERGED_FILE))?;
        let split = if split {
            let mut m = BTreeMap::new();
            for shape in Shape::ALL {
                m.insert(
                    shape,
                    create(&dir.join(format!("{}.ndjson", shape.as_str())))?,
                );
            }
            Some(m)
        } else {
            None
        };
        Ok(NdjsonSink {
            dir: dir.to_owned(),
            merged,
            split,
            counts: BTreeMap::new(),
            bytes: 0,
        })
    }

    /// Records written per shape so far.
    pub fn counts(&self) -> &BTreeMap<Shape, u64> {
        &self.counts
    }

    /// Bytes written to the merged file so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Flushes every file.
    pub fn finish(mut self) -> Result<(), ChaosError> {
        let dir = self.dir.clone();
        let io = |source| ChaosError::Io {
            path: dir.clone(),
            source,
        };
        self.merged.flush().map_err(io)?;
        if let Some(split) = self.split.as_mut() {
            for w in split.values_mut() {
                w.flush().map_err(io)?;
            }
        }
        Ok(())
    }
}

impl Sink for NdjsonSink {
    fn emit(&mut self, record: Record) -> Result<(), ChaosError> {
        self.merged.write_all(record.line.as_bytes())?;
        self.merged.write_all(b"\n")?;
        self.bytes += record.line.len() as u64 + 1;
        if let Some(w) = self.split.as_mut().and_then(|m| m.get_mut(&record.shape)) {
            w.write_all(record.line.as_bytes())?;
            w.write_all(b"\n")?;
        }
        *self.counts.entry(record.shape).or_insert(0) += 1;
        Ok(())
    }
}
