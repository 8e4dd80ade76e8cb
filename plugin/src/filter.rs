//! The filter: one record in, the same record with its `edgeheal` tags out.

use crate::config::FilterConfig;
use crate::entity::EntityTable;
use crate::json::{splice, write_str, Record};
use crate::model::ModelSet;
use crate::normalize::normalize;
use crate::tags::{write_error_tags, write_tags, NO_MODEL};
use crate::verdict::Verdict;

/// The edge filter: normalization, per-entity state, scoring and tagging.
#[derive(Debug, Clone)]
pub struct Filter {
    config: FilterConfig,
    models: Option<ModelSet>,
    entities: EntityTable,
    tags: Vec<u8>,
}

impl Filter {
    /// A filter with the given configuration and models (`None`: tag without scores).
    pub fn new(config: FilterConfig, models: Option<ModelSet>) -> Filter {
        let entities = EntityTable::new(&config);
        Filter {
            config,
            models,
            entities,
            tags: Vec::with_capacity(512),
        }
    }

    /// The `model` tag value: `name@sha256-prefix`, or `none`.
    pub fn model_id(&self) -> &str {
        self.models.as_ref().map_or(NO_MODEL, |m| m.id())
    }

    /// The configuration in force.
    pub fn config(&self) -> &FilterConfig {
        &self.config
    }

    /// Processes one record: writes the record, with its `edgeheal` object
    /// spliced in, to `out` (cleared first). `event_time_ns` is the pipeline's
    /// time for the record, used when the record carries none.
    pub fn process(&mut self, tag: &[u8], event_time_ns: i64, record: &[u8], out: &mut Vec<u8>) {
        out.clear();
        self.tags.clear();
        match Record::parse(record) {
            Ok(rec) => {
                let obs = normalize(&rec, tag, event_time_ns);
                let model = self.models.as_ref().map_or(NO_MODEL, |m| m.id());
                write_tags(&mut self.tags, &obs, &Verdict::UNSCORED, model);
                splice(&rec, &self.tags, out);
            }
            Err(e) => {
                // Not a JSON object: keep the text, say why, and pass it on.
                let model = self.models.as_ref().map_or(NO_MODEL, |m| m.id());
                write_error_tags(&mut self.tags, event_time_ns, model, &e.to_string());
                out.extend_from_slice(b"{\"edgeheal\":");
                out.extend_from_slice(&self.tags);
                out.extend_from_slice(b",\"raw\":");
                write_str(out, &String::from_utf8_lossy(record));
                out.push(b'}');
            }
        }
        let _ = &self.entities;
    }
}
