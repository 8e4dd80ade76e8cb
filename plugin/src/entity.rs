//! Per-entity state: bounded sliding windows and baselines per workload and pod.
//!
//! STUB — being written.

use crate::config::FilterConfig;

/// All tracked entities, bounded by `max_entities` with LRU eviction.
#[derive(Debug, Clone)]
pub struct EntityTable {
    cap: usize,
}

impl EntityTable {
    /// An empty table.
    pub fn new(config: &FilterConfig) -> EntityTable {
        EntityTable {
            cap: config.max_entities,
        }
    }

    /// Most entities held at once.
    pub fn capacity(&self) -> usize {
        self.cap
    }
}
