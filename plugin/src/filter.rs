//! The filter: one record in, the same record with its `edgeheal` tags out.
//!
//! Per record: read the JSON object ([`json`](crate::json)), normalize it,
//! fold it into its pod's and workload's state, reuse the cached verdict unless
//! a family was re-evaluated, write the tags and splice them into the original
//! text. Forests run only when an entity's features change.
//!
//! A record with the non-finite numbers Fluent Bit writes (`inf`, `-inf`,
//! `nan`, `-nan`; see [`NonFinite`](crate::json::NonFinite)) is read, and
//! leaves, as its text with them replaced by `1e+999`, `-1e+999` and `null`:
//! work done only for such records, after the parse stops at one.

use crate::config::FilterConfig;
use crate::entity::{EntityState, Evaluated};
use crate::features::MAX_FAMILY_FEATURES;
use crate::identity_memo::{IdentityMemo, MemoToken};
use crate::json::{
    lossy_str_len, most_replaced_len, replace_non_finite_in, splice_with, write_lossy_str,
    JsonError, Record, RecordIndex,
};
use crate::keyed_hash::{HashKey, KeyError, KeySource};
use crate::lru::Lru;
use crate::model::ModelSet;
use crate::normalize::{normalize_in, NormalizeCache, IDENTITY_OBJECTS, LINE_KEYS};
use crate::observation::{
    EventReason, Observation, Signal, TimeSource, WorkloadKind, MAX_LABEL_NAME, MAX_OBJECT_NAME,
};
use crate::scorer::{combine_into, keep_incident, score_evaluated, verdict, Combined};
use crate::tags::{
    write_error_tags, write_kind, write_time, write_verdict, F64Texts, IdentityTexts, NO_MODEL,
};
use crate::timestamp::Rfc3339Writer;
use crate::verdict::{Family, Verdict};

/// One family evaluation, recorded for training when enabled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// The family evaluated.
    pub family: Family,
    /// Time of the record that triggered it.
    pub ts_ns: i64,
    /// Whether it was evaluated on the pod (else on the workload).
    pub pod_level: bool,
    /// Whether the entity's baseline was past warm-up.
    pub warm: bool,
    /// The family's features and context (the first `features::width(family)`
    /// are used).
    pub features: [f64; MAX_FAMILY_FEATURES],
    /// Its score, when a model was loaded.
    pub score: Option<f64>,
}

/// An entity's state plus the verdict cached for it.
#[derive(Debug, Clone)]
struct Tracked {
    state: EntityState,
    /// (own version, workload slot, workload version) the verdict was computed at.
    stamp: Option<(u64, u32, u64)>,
    verdict: Verdict,
    /// `verdict` as its part of the tags ([`write_verdict`]), written when
    /// the verdict is, so records that reuse it do not format it again.
    verdict_json: Vec<u8>,
}

/// Where the entities an identity object (`kubernetes`, `labels`) names
/// were placed in the entity map, remembered per object text the parse
/// remembers (by its token), so records that carry the same object skip the
/// keyed lookups.
#[derive(Debug, Clone, Copy, Default)]
struct Placed {
    token: Option<MemoToken>,
    /// (slot, generation) of the workload and the pod entity.
    workload: Option<(u32, u64)>,
    pod: Option<(u32, u64)>,
}

/// The edge filter: normalization, per-entity state, scoring and tagging.
#[derive(Debug, Clone)]
pub struct Filter {
    config: FilterConfig,
    models: Option<ModelSet>,
    entities: Lru<Tracked>,
    /// Where the entity table's hash key came from.
    key_source: KeySource,
    /// By [`MemoToken::entry`]; empty until the first is remembered.
    placed: Vec<Placed>,
    key: String,
    /// Kept from record to record, so parsing stops allocating; boxed, so
    /// that taking it while a record borrows it moves a pointer (in the
    /// `.wasm`, moving the index itself is a `memory.copy` each way, which
    /// wasmtime runs as a call into the runtime). `None` only while taken.
    index: Option<Box<RecordIndex>>,
    /// A record's text with its non-finite numbers replaced, when it had
    /// any; kept (up to [`KEEP_REWRITTEN_BYTES`]), so a stream of them stops
    /// allocating.
    rewritten: Vec<u8>,
    normalize: NormalizeCache,
    /// The identity's parts of the tags, per identity object text.
    identity_texts: IdentityTexts,
    /// Writes the `ts` tag, keeping the text of the current second.
    time: Rfc3339Writer,
    /// Writes the numbers of verdicts, keeping recent ones' text.
    floats: F64Texts,
    record_evaluations: bool,
    evaluations: Vec<Evaluation>,
    last: Combined,
    /// The time the last record processed carried, as normalization read it.
    record_time: Option<i64>,
}

/// The largest buffer of a record's text with its non-finite numbers
/// replaced that is kept for the next such record: a large record's is
/// freed, so it does not hold memory after it.
const KEEP_REWRITTEN_BYTES: usize = 64 * 1024;

/// The index [`Filter::process`] parses records in.
fn record_index() -> RecordIndex {
    RecordIndex::remembering(IDENTITY_OBJECTS).decoding(LINE_KEYS)
}

/// The longest entity key [`entity_key`] writes: a prefix, a namespace (an
/// RFC 1123 label), a name (an RFC 1123 subdomain) and two separators; the
/// normalizer drops every longer name ([`Identity::drop_invalid_names`]).
///
/// [`Identity::drop_invalid_names`]: crate::observation::Identity::drop_invalid_names
const MAX_ENTITY_KEY: usize = 1 + 1 + MAX_LABEL_NAME + 1 + MAX_OBJECT_NAME;

/// The longest verdict part of the tags ([`write_verdict`]) an entity keeps:
/// its fixed members, [`MAX_WHY`](crate::verdict::MAX_WHY) features with two numbers each (a number
/// is written without an exponent, up to about 330 bytes for one near
/// `f64::MIN_POSITIVE`), and the model's id (a set name of at most 128
/// characters; see `the_longest_verdict_text_fits`).
const MAX_VERDICT_TEXT: usize = 4096;

/// The most bytes one tracked entity may hold for `config`'s window
/// geometry: its slot in the entity table, its key (stored once, in a buffer
/// that holds at most the longest key placed in the slot), its state's heap
/// ([`EntityState::most_heap_bytes`]) and its kept verdict text (whose
/// buffer may have doubled past the longest text written). The allocator's
/// own bookkeeping, a few words an allocation, comes on top. The table holds
/// at most `max_entities` of them: [`FilterConfig::validate`] bounds the
/// product.
pub fn entity_bytes(config: &FilterConfig) -> usize {
    Lru::<Tracked>::SLOT_BYTES
        + MAX_ENTITY_KEY
        + EntityState::most_heap_bytes(config)
        + 2 * MAX_VERDICT_TEXT
}

fn entity_key(key: &mut String, prefix: char, namespace: Option<&str>, name: &str) {
    key.clear();
    key.push(prefix);
    key.push('\u{1f}');
    key.push_str(namespace.unwrap_or(""));
    key.push('\u{1f}');
    key.push_str(name);
}

impl Filter {
    /// A filter with the given configuration and models (`None`: tag without
    /// scores), whose entity table hashes names under a key drawn from the
    /// operating system; if it gives none, under [`HashKey::FALLBACK`]
    /// ([`Filter::hash_key_source`] tells which; see [`crate::keyed_hash`]).
    pub fn new(config: FilterConfig, models: Option<ModelSet>) -> Filter {
        Filter::with_drawn_key(config, models, HashKey::from_os())
    }

    /// As [`Filter::new`], with the entity table's hash key given (to
    /// reproduce a run exactly, memory layout included). The output does not
    /// depend on the key.
    pub fn with_hash_key(config: FilterConfig, models: Option<ModelSet>, key: HashKey) -> Filter {
        Filter::with_key(config, models, key, KeySource::Given)
    }

    /// As [`Filter::new`], with the outcome of drawing the key.
    fn with_drawn_key(
        config: FilterConfig,
        models: Option<ModelSet>,
        drawn: Result<HashKey, KeyError>,
    ) -> Filter {
        let (key, source) = HashKey::drawn(drawn);
        Filter::with_key(config, models, key, source)
    }

    fn with_key(
        config: FilterConfig,
        models: Option<ModelSet>,
        key: HashKey,
        key_source: KeySource,
    ) -> Filter {
        Filter {
            entities: Lru::new(config.max_entities, key),
            key_source,
            placed: Vec::new(),
            config,
            models,
            key: String::with_capacity(128),
            index: Some(Box::new(record_index())),
            rewritten: Vec::new(),
            normalize: NormalizeCache::new(),
            identity_texts: IdentityTexts::default(),
            time: Rfc3339Writer::default(),
            floats: F64Texts::default(),
            record_evaluations: false,
            evaluations: Vec::new(),
            last: Combined::default(),
            record_time: None,
        }
    }

    /// Where the entity table's hash key came from: [`KeySource::Fallback`]
    /// when the operating system gave no random bytes, and the table then
    /// uses a public key (the adapters say so on stderr).
    pub fn hash_key_source(&self) -> KeySource {
        self.key_source
    }

    /// The `model` tag value: `name@sha256-prefix`, or `none`.
    pub fn model_id(&self) -> &str {
        self.models.as_ref().map_or(NO_MODEL, |m| m.id())
    }

    /// The configuration in force.
    pub fn config(&self) -> &FilterConfig {
        &self.config
    }

    /// The models in force.
    pub fn models(&self) -> Option<&ModelSet> {
        self.models.as_ref()
    }

    /// Number of tracked entities (pods and workloads); never above `max_entities`.
    pub fn tracked_entities(&self) -> usize {
        self.entities.len()
    }

    /// Records every family evaluation, readable after each record through
    /// [`Filter::evaluations`] (the trainer uses this; the edge does not).
    pub fn record_evaluations(&mut self, on: bool) {
        self.record_evaluations = on;
        self.evaluations.clear();
    }

    /// Family evaluations triggered by the last record (when recording).
    pub fn evaluations(&self) -> &[Evaluation] {
        &self.evaluations
    }

    /// The combined features and family scores behind the last verdict.
    pub fn last_combined(&self) -> &Combined {
        &self.last
    }

    /// The time the last record [`Filter::process`] tagged carried, as
    /// normalization read it (its `time`, an Event's own times, a log
    /// line's); `None` when its `ts` tag is the pipeline's event time, or it
    /// was not a JSON object.
    pub fn record_time(&self) -> Option<i64> {
        self.record_time
    }

    /// Processes one record: writes the record, with its `edgeheal` object
    /// spliced in, to `out` (cleared first). `event_time_ns` is the pipeline's
    /// time for the record, used when the record carries none.
    pub fn process(&mut self, tag: &[u8], event_time_ns: i64, record: &[u8], out: &mut Vec<u8>) {
        out.clear();
        self.record_time = None;
        let mut index = self
            .index
            .take()
            .unwrap_or_else(|| Box::new(record_index()));
        match Record::parse_in(record, &mut index) {
            Ok(rec) => self.tag_record(&rec, tag, event_time_ns, out),
            Err(e @ JsonError::NonFinite(_)) => {
                self.process_non_finite(tag, event_time_ns, record, &e, &mut index, out)
            }
            Err(e) => self.keep_as_text(event_time_ns, record, &e.to_string(), out),
        }
        self.index = Some(index);
    }

    /// Writes `rec` with its tags spliced in to `out`.
    #[inline(always)]
    fn tag_record(&mut self, rec: &Record<'_>, tag: &[u8], event_time_ns: i64, out: &mut Vec<u8>) {
        let obs = normalize_in(
            rec,
            tag,
            event_time_ns,
            &self.config.merge_log_key,
            &mut self.normalize,
        );
        if obs.ts_source == TimeSource::Record {
            self.record_time = Some(obs.ts_ns);
        }
        let token = self.normalize.identity_token();
        // As `tags::write_tags`, with the verdict's part as cached.
        let slot = self.observe_slot(&obs, token);
        // As `write_record_head` and `write_record_tail`, with the
        // identity's parts as kept for its identity object.
        splice_with(rec, out, |tags| {
            write_kind(tags, obs.kind);
            self.identity_texts.write_head(tags, &obs.identity, token);
            write_time(tags, obs.ts_ns, &mut self.time);
            match slot.and_then(|s| self.entities.get(s)) {
                Some(t) => tags.extend_from_slice(&t.verdict_json),
                None => write_verdict(
                    tags,
                    &Verdict::UNSCORED,
                    self.models.as_ref().map_or(NO_MODEL, |m| m.id()),
                    &mut self.floats,
                ),
            }
            self.identity_texts.write_tail(tags, &obs.identity, token);
        });
    }

    /// A record the parse stopped in at a non-finite number: read and
    /// tagged as its text with them replaced, which it leaves as; kept as
    /// text when it has another fault, or when that text or its output
    /// cannot be had in memory (they are asked for first: the replaced text
    /// is at most 1.75 times the record).
    #[cold]
    #[inline(never)]
    fn process_non_finite(
        &mut self,
        tag: &[u8],
        event_time_ns: i64,
        record: &[u8],
        stopped: &JsonError,
        index: &mut RecordIndex,
        out: &mut Vec<u8>,
    ) {
        let mut rewritten = std::mem::take(&mut self.rewritten);
        rewritten.clear();
        let most = most_replaced_len(record.len());
        if rewritten.try_reserve(most).is_err() {
            let why = format!(
                "{stopped}; its text with them replaced ({most} bytes) did not fit in memory"
            );
            self.keep_as_text(event_time_ns, record, &why, out);
        } else {
            match replace_non_finite_in(record, index, &mut rewritten) {
                Err(e) => self.keep_as_text(event_time_ns, record, &e.to_string(), out),
                // Room for the text and the tags.
                Ok(_)
                    if out
                        .try_reserve(rewritten.len().saturating_add(1024))
                        .is_err() =>
                {
                    let why = format!(
                        "{stopped}; the output of its text with them replaced ({} bytes) did not fit in memory",
                        rewritten.len()
                    );
                    self.keep_as_text(event_time_ns, record, &why, out);
                }
                Ok(_) => match Record::parse_in(&rewritten, index) {
                    Ok(rec) => self.tag_record(&rec, tag, event_time_ns, out),
                    Err(e) => self.keep_as_text(event_time_ns, record, &e.to_string(), out),
                },
            }
        }
        if rewritten.capacity() <= KEEP_REWRITTEN_BYTES {
            self.rewritten = rewritten;
        }
    }

    /// A record that is no JSON object: its text kept under `raw`, with
    /// tags that say `why`. Escaped, the text can be six times the record:
    /// its room is asked for first, so a record too large to keep as text
    /// costs that text (the tags say so), never the instance.
    fn keep_as_text(&mut self, event_time_ns: i64, record: &[u8], why: &str, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(b"{\"edgeheal\":");
        let raw_len = lossy_str_len(record);
        if out.try_reserve(raw_len.saturating_add(1024)).is_ok() {
            write_error_tags(out, event_time_ns, self.model_id(), why);
            out.extend_from_slice(b",\"raw\":");
            write_lossy_str(out, record);
        } else {
            let why = format!(
                "{why}; its text ({raw_len} bytes as a JSON string) did not fit in memory and is not kept"
            );
            write_error_tags(out, event_time_ns, self.model_id(), &why);
        }
        out.push(b'}');
    }

    /// The record for a body the pipeline could not hand over (Fluent Bit
    /// passes `NULL` when a record does not fit `wasm_heap_size`): the loss is
    /// made visible instead of silent.
    pub fn process_lost(&mut self, event_time_ns: i64, record_len: usize, out: &mut Vec<u8>) {
        out.clear();
        self.record_time = None;
        let mut msg = String::with_capacity(64);
        msg.push_str("record of ");
        msg.push_str(&record_len.to_string());
        msg.push_str(" bytes exceeded wasm_heap_size");
        out.extend_from_slice(b"{\"edgeheal\":");
        write_error_tags(out, event_time_ns, self.model_id(), &msg);
        out.push(b'}');
    }

    fn touch(&mut self, prefix: char, namespace: Option<&str>, name: &str) -> Option<u32> {
        let mut key = std::mem::take(&mut self.key);
        entity_key(&mut key, prefix, namespace, name);
        let config = &self.config;
        let slot = self
            .entities
            .touch(
                &key,
                || Tracked {
                    state: EntityState::new(config),
                    stamp: None,
                    verdict: Verdict::UNSCORED,
                    verdict_json: Vec::new(),
                },
                |t| {
                    t.state.reset();
                    t.stamp = None;
                    t.verdict = Verdict::UNSCORED;
                    t.verdict_json.clear();
                },
            )
            .map(|(slot, _)| slot);
        self.key = key;
        slot
    }

    /// As touching the workload and then the pod entity of the identity
    /// `token` names, when both are where they were placed for it: the same
    /// slots, marked most recently used in the same order (neither is new,
    /// so nothing is evicted). `None`, changing nothing, otherwise.
    fn touch_placed(&mut self, token: Option<MemoToken>) -> Option<(Option<u32>, Option<u32>)> {
        let token = token?;
        let placed = *self.placed.get(token.entry as usize)?;
        if placed.token != Some(token) {
            return None;
        }
        let here = |e: Option<(u32, u64)>| {
            e.is_none_or(|(slot, generation)| self.entities.generation(slot) == Some(generation))
        };
        if !here(placed.workload) || !here(placed.pod) {
            return None;
        }
        for (slot, generation) in [placed.workload, placed.pod].into_iter().flatten() {
            self.entities.touch_placed(slot, generation);
        }
        Some((placed.workload.map(|e| e.0), placed.pod.map(|e| e.0)))
    }

    /// Remembers where the entities of the identity `token` names are.
    fn remember_placed(
        &mut self,
        token: Option<MemoToken>,
        workload: Option<u32>,
        pod: Option<u32>,
    ) {
        let Some(token) = token else {
            return;
        };
        let placed = |slot: Option<u32>| slot.and_then(|s| Some((s, self.entities.generation(s)?)));
        let entry = Placed {
            token: Some(token),
            workload: placed(workload),
            pod: placed(pod),
        };
        if self.placed.is_empty() {
            self.placed.resize(IdentityMemo::ENTRIES, Placed::default());
        }
        if let Some(p) = self.placed.get_mut(token.entry as usize) {
            *p = entry;
        }
    }

    /// Folds a normalized record into its entities and returns their verdict.
    pub fn observe(&mut self, obs: &Observation<'_>) -> Verdict {
        self.observe_slot(obs, None)
            .and_then(|s| self.entities.get(s))
            .map_or(Verdict::UNSCORED, |t| t.verdict.clone())
    }

    /// Folds a normalized record into its entities. Returns the slot of the
    /// entity whose verdict (refreshed if either entity moved) is the
    /// record's, or `None` when the record's verdict is [`Verdict::UNSCORED`]
    /// for want of an entity.
    /// `token`, when given, names the record's identity object text (see
    /// [`NormalizeCache::identity_token`]).
    fn observe_slot(&mut self, obs: &Observation<'_>, token: Option<MemoToken>) -> Option<u32> {
        self.evaluations.clear();
        let id = &obs.identity;
        let (workload, pod) = match self.touch_placed(token) {
            Some(slots) => slots,
            None => {
                let ns = id.namespace.as_deref();
                let workload = match id.workload.as_deref() {
                    Some(w) => self.touch('w', ns, w),
                    None => None,
                };
                let pod = match id.pod.as_deref() {
                    Some(p) => self.touch('p', ns, p),
                    None => None,
                };
                if workload.is_some() == id.workload.is_some() && pod.is_some() == id.pod.is_some()
                {
                    self.remember_placed(token, workload, pod);
                }
                (workload, pod)
            }
        };
        if workload.is_none() && pod.is_none() {
            return None;
        }
        let ts = obs.ts_ns;
        let config = &self.config;
        let container = id.container.as_deref().unwrap_or("");

        // Time moves every entity the record names; the signal goes to the
        // entity that owns it (logs: workload; metrics, events: pod).
        let mut wl_done = Evaluated::default();
        let mut pod_done = Evaluated::default();
        if let Some(t) = workload.and_then(|s| self.entities.get_mut(s)) {
            t.state.advance(ts, config, &mut wl_done);
            t.state.advance_restarts(ts, config, &mut wl_done);
        }
        if let Some(t) = pod.and_then(|s| self.entities.get_mut(s)) {
            t.state.advance_restarts(ts, config, &mut pod_done);
        }
        let (service_owner, resource_owner) = match (workload, pod) {
            (Some(w), Some(p)) => ((w, false), (p, true)),
            (Some(w), None) => ((w, false), (w, false)),
            (None, Some(p)) => ((p, true), (p, true)),
            (None, None) => return None,
        };
        match obs.signal {
            Signal::Log(log) => {
                let (slot, is_pod) = service_owner;
                let done = if is_pod { &mut pod_done } else { &mut wl_done };
                if let Some(t) = self.entities.get_mut(slot) {
                    if is_pod {
                        t.state.advance(ts, config, done);
                    }
                    t.state.add_log(ts, &log, config);
                }
            }
            Signal::Metric(m) => {
                let (slot, is_pod) = resource_owner;
                let done = if is_pod { &mut pod_done } else { &mut wl_done };
                if let Some(t) = self.entities.get_mut(slot) {
                    t.state.add_metric(ts, container, &m, config, done);
                }
            }
            // A kernel OOM kill is reported on the Node and names no pod; the
            // pod's own restart counter attributes it (see `EntityState`), so
            // the node does not count it as its own.
            Signal::Event(e)
                if e.reason == EventReason::OomKilled
                    && id.workload_kind == Some(WorkloadKind::Node) => {}
            Signal::Event(e) => {
                let (slot, is_pod) = resource_owner;
                let done = if is_pod { &mut pod_done } else { &mut wl_done };
                if let Some(t) = self.entities.get_mut(slot) {
                    t.state.add_event(ts, container, &e, config, done);
                }
            }
            Signal::None => {}
        }

        let models = self.models.as_ref();
        for (slot, done, pod_level) in [(workload, wl_done, false), (pod, pod_done, true)] {
            let Some(t) = slot.and_then(|s| self.entities.get_mut(s)) else {
                continue;
            };
            if done.is_empty() {
                continue;
            }
            score_evaluated(&mut t.state, done.changed(), models);
            if self.record_evaluations {
                for family in done.families() {
                    let mut features = [0.0; MAX_FAMILY_FEATURES];
                    let values = t.state.family_features(family);
                    for (f, v) in features.iter_mut().zip(values) {
                        *f = *v;
                    }
                    self.evaluations.push(Evaluation {
                        family,
                        ts_ns: ts,
                        pod_level,
                        warm: t.state.is_warm(family),
                        features,
                        score: t.state.score(family),
                    });
                }
            }
        }

        // Reuse the cached verdict unless either entity moved.
        let primary = pod.or(workload).unwrap_or(0);
        let wl_stamp = workload
            .filter(|_| pod.is_some())
            .and_then(|s| self.entities.get(s).map(|t| (s, t.state.version())))
            .unwrap_or((u32::MAX, 0));
        let own = self.entities.get(primary)?;
        let stamp = (own.state.version(), wl_stamp.0, wl_stamp.1);
        if own.stamp == Some(stamp) && !self.record_evaluations {
            return Some(primary);
        }
        let pod_state = pod.and_then(|s| self.entities.get(s)).map(|t| &t.state);
        let wl_state = workload
            .and_then(|s| self.entities.get(s))
            .map(|t| &t.state);
        combine_into(&mut self.last, pod_state, wl_state, ts, &self.config);
        let t = self.entities.get_mut(primary)?;
        let v = keep_incident(
            &t.verdict,
            verdict(&self.last, models, self.config.explain_normal),
        );
        t.stamp = Some(stamp);
        t.verdict_json.clear();
        write_verdict(
            &mut t.verdict_json,
            &v,
            models.map_or(NO_MODEL, |m| m.id()),
            &mut self.floats,
        );
        t.verdict = v;
        Some(primary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::splice;
    use crate::normalize::normalize;
    use crate::tags::write_tags;
    use crate::verdict::{Action, Incident, Reason, Severity, MAX_WHY};

    /// The entity table's bound ([`entity_bytes`]) counts each entity's
    /// verdict text as at most [`MAX_VERDICT_TEXT`]: the longest the tags can
    /// hold, with the longest names, numbers and model id, must fit.
    #[test]
    fn the_longest_verdict_text_fits() {
        let feature = Family::ALL
            .into_iter()
            .flat_map(crate::features::names)
            .max_by_key(|n| n.len())
            .unwrap();
        let family = Family::ALL.into_iter().max_by_key(|f| f.as_str().len());
        // The longest shortest round-trip form of an f64.
        let number = -2.225_073_858_507_201_4e-308;
        let reason = Some(Reason {
            feature,
            value: number,
            contribution: number,
        });
        let verdict = Verdict {
            score: Some(number),
            anomaly: false,
            severity: Severity::Critical,
            incident: Incident::CpuSaturation,
            action: Action::RolloutRestart,
            confidence: 1.0,
            family,
            why: [reason; MAX_WHY],
        };
        // A set name of 128 characters of four bytes each, or of 128
        // quotes, escaped to two bytes each, and the digest's prefix.
        for name in ["\u{10ffff}".repeat(128), "\"".repeat(128)] {
            crate::manifest::check_name(&name).unwrap();
            let model = format!("{name}@0123456789ab");
            let mut out = Vec::new();
            write_verdict(&mut out, &verdict, &model, &mut F64Texts::default());
            assert!(
                out.len() <= MAX_VERDICT_TEXT,
                "{} bytes: {}",
                out.len(),
                String::from_utf8_lossy(&out)
            );
        }
    }

    /// Records that repeat a pod's `kubernetes` object (or a series'
    /// `labels` or `tags`) find its entities where they were placed; with a
    /// small entity map evicting all the time, the output must be what the
    /// keyed lookups give.
    #[test]
    fn placed_entities_give_what_keyed_lookups_give() {
        let config = FilterConfig {
            max_entities: 16,
            warmup: 2,
            ..FilterConfig::default()
        };
        let models = || ModelSet::from_embedded().map(|m| m.unwrap());
        let mut fast = Filter::new(config.clone(), models());
        let mut steps = Filter::new(config, models());
        let (mut a, mut b, mut tags) = (Vec::new(), Vec::new(), Vec::new());
        let mut now = 1_740_960_000_000_000_000i64;
        let mut seed = 7u64;
        for i in 0..20_000 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let pick = (seed >> 33) as usize;
            // Few pods most of the time, many at times (evicting).
            let pod = if i % 3000 < 1500 { pick % 6 } else { pick % 40 };
            let workload = pod % 9;
            now += 50_000_000;
            let status = if pick % 17 == 0 { 503 } else { 200 };
            let text = match pick % 5 {
                0 => format!(
                    r#"{{"log":"GET /x {status} 12ms","kubernetes":{{"pod_name":"w{workload}-7d4b9c8f6-p{pod}x9z","namespace_name":"ns"}}}}"#
                ),
                1 => format!(
                    r#"{{"message":"{{\"level\":\"info\",\"status\":{status},\"method\":\"GET\"}}","kubernetes":{{"pod_name":"w{workload}-7d4b9c8f6-p{pod}x9z","pod_namespace":"ns","pod_owner":"ReplicaSet/w{workload}-7d4b9c8f6"}}}}"#
                ),
                2 => format!(
                    r#"{{"log":"E boom","kubernetes":{{"pod_name":"solo-{pod}","namespace_name":"ns"}}}}"#
                ),
                3 => format!(
                    r#"{{"metric":"container_memory_working_set_bytes","value":{},"labels":{{"namespace":"ns","pod":"w{workload}-7d4b9c8f6-p{pod}x9z","container":"app"}}}}"#,
                    1e8 + (pick % 1000) as f64 * 1e5
                ),
                _ => format!(
                    r#"{{"gauge":{{"value":{}}},"kind":"absolute","name":"container_cpu_usage_cores","tags":{{"container":"app","namespace":"ns","pod":"w{workload}-7d4b9c8f6-p{pod}x9z"}}}}"#,
                    (pick % 100) as f64 / 50.0
                ),
            };
            let r = text.as_bytes();
            fast.process(b"kube", now, r, &mut a);
            let rec = Record::parse(r).unwrap();
            let obs = normalize(&rec, b"kube", now);
            let verdict = steps.observe(&obs);
            tags.clear();
            write_tags(&mut tags, &obs, &verdict, steps.model_id());
            b.clear();
            splice(&rec, &tags, &mut b);
            assert_eq!(
                String::from_utf8_lossy(&a),
                String::from_utf8_lossy(&b),
                "record {i}"
            );
        }
        assert_eq!(fast.tracked_entities(), 16);
    }

    /// Each filter's entity table hashes names under its own key from the
    /// operating system, and one that got no random bytes runs on the
    /// fallback key; all of them write the same bytes for the same records,
    /// with a table small enough to evict all the time (eviction goes by
    /// recency, and nothing is written in hash order).
    #[test]
    fn each_filter_hashes_names_under_its_own_key_and_writes_the_same_bytes() {
        let config = FilterConfig {
            max_entities: 16,
            warmup: 2,
            ..FilterConfig::default()
        };
        let models = || ModelSet::from_embedded().map(|m| m.unwrap());
        let failed = KeyError::Os(getrandom::Error::UNSUPPORTED);
        let mut filters = [
            Filter::new(config.clone(), models()),
            Filter::new(config.clone(), models()),
            Filter::with_drawn_key(config.clone(), models(), Err(failed)),
            Filter::with_hash_key(config, models(), HashKey::from_parts(3, 4)),
        ];
        let sources = filters.each_ref().map(Filter::hash_key_source);
        assert_eq!(
            sources,
            [
                KeySource::Os,
                KeySource::Os,
                KeySource::Fallback(failed),
                KeySource::Given
            ]
        );
        let name = "p\u{1f}ns\u{1f}w1-7d4b9c8f6-p1x9z";
        let hashes = filters.each_ref().map(|f| f.entities.hash_of(name));
        assert_ne!(hashes[0], hashes[1]);
        let fixed = Lru::<u8>::new(1, HashKey::FALLBACK);
        assert_eq!(hashes[2], fixed.hash_of(name));
        assert_ne!(hashes[3], hashes[2]);

        let mut outs: [Vec<u8>; 4] = Default::default();
        let mut now = 1_740_960_000_000_000_000i64;
        for i in 0..3_000u64 {
            let pod = (i * 7) % 40;
            let workload = pod % 9;
            now += 50_000_000;
            let text = if i % 3 == 0 {
                format!(
                    r#"{{"metric":"container_memory_working_set_bytes","value":{},"labels":{{"namespace":"ns","pod":"w{workload}-7d4b9c8f6-p{pod}x9z","container":"app"}}}}"#,
                    1e8 + (i % 1000) as f64 * 1e5
                )
            } else {
                let status = if i % 17 == 0 { 503 } else { 200 };
                format!(
                    r#"{{"log":"GET /x {status} 12ms","kubernetes":{{"pod_name":"w{workload}-7d4b9c8f6-p{pod}x9z","namespace_name":"ns"}}}}"#
                )
            };
            for (f, out) in filters.iter_mut().zip(&mut outs) {
                f.process(b"kube", now, text.as_bytes(), out);
            }
            for out in &outs[1..] {
                assert_eq!(
                    String::from_utf8_lossy(out),
                    String::from_utf8_lossy(&outs[0]),
                    "record {i}"
                );
            }
        }
        for f in &filters {
            assert_eq!(f.tracked_entities(), 16);
        }
    }

    /// A crash-looping pod with an all-digit suffix: its events were tagged
    /// with the entity of a StatefulSet `web-7d4b9c8f6`, its logs with the
    /// Deployment `web`'s.
    #[test]
    fn events_of_an_all_digit_suffix_pod_tag_its_deployment() {
        let mut f = Filter::new(FilterConfig::default(), None);
        let pod = "web-7d4b9c8f6-24567";
        let log = format!(
            r#"{{"log":"ERROR boom","kubernetes":{{"pod_name":"{pod}","namespace_name":"shop","labels":{{"app":"web","pod-template-hash":"7d4b9c8f6"}},"host":"node-1"}}}}"#
        );
        let event = format!(
            r#"{{"involvedObject":{{"kind":"Pod","namespace":"shop","name":"{pod}"}},"reason":"BackOff","source":{{"host":"node-1"}},"count":7,"type":"Warning"}}"#
        );
        for record in [log, event] {
            let mut out = Vec::new();
            f.process(
                b"kube.x",
                1_714_557_600_000_000_000,
                record.as_bytes(),
                &mut out,
            );
            let out = String::from_utf8(out).unwrap();
            assert!(out.contains(r#""entity":"shop/web""#), "{out}");
        }
    }

    /// A new pod of a meshed Deployment starts an init container, the app
    /// and its sidecar: the kubelet emits one `Started` event per
    /// container. That is one pod birth, not two restarts (a critical crash
    /// loop before).
    #[test]
    fn a_new_meshed_pod_s_started_events_are_not_a_crash_loop() {
        let models = ModelSet::from_embedded().unwrap().unwrap();
        let mut f = Filter::new(FilterConfig::default(), Some(models));
        let mut out = Vec::new();
        let t0 = 1_740_960_005_000_000_000i64;
        let mut last = serde_json::Value::Null;
        for (i, field_path) in [
            "spec.initContainers{istio-init}",
            "spec.containers{app}",
            "spec.containers{istio-proxy}",
        ]
        .iter()
        .enumerate()
        {
            let ts = t0 + i as i64 * 1_000_000_000;
            let record = format!(
                r#"{{"involvedObject":{{"kind":"Pod","name":"web-7d4b9c8f6-x9z2b","namespace":"shop","uid":"pod-1","fieldPath":"{field_path}"}},"reason":"Started","message":"Started container","type":"Normal","count":1,"lastTimestamp":"2025-03-03T00:00:0{}Z","metadata":{{"uid":"ev-{i}","resourceVersion":"1","namespace":"shop"}},"source":{{"component":"kubelet","host":"node-1"}}}}"#,
                5 + i
            );
            f.process(b"k8s_events", ts, record.as_bytes(), &mut out);
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
            last = v["edgeheal"].clone();
        }
        let restarts =
            f.last_combined().features[crate::features::classifier_offset(Family::Restarts)];
        assert_eq!(restarts, 0.0, "tags {last}");
        assert_eq!(last["anomaly"], false, "{last}");
    }

    #[test]
    fn a_configured_merge_log_key_is_read() {
        // Fluent Bit `Merge_Log_Key app_json`, `Keep_Log Off`: no line, the
        // app's members under `app_json`, every line a failed request.
        let record = r#"{"stream":"stdout","app_json":{"level":"error","status":502,"method":"POST","path":"/pay"},"kubernetes":{"pod_name":"pay-7d4b9c8f6-x2x9z","namespace_name":"shop"}}"#;
        let worst_error_ratio = |config: FilterConfig| {
            let mut f = Filter::new(config, None);
            f.record_evaluations(true);
            let mut out = Vec::new();
            let mut worst = 0.0f64;
            let mut t = 1_740_960_000_000_000_000i64;
            for _ in 0..1200 {
                t += 100_000_000;
                f.process(b"kube", t, record.as_bytes(), &mut out);
                for e in f.evaluations() {
                    if e.family == Family::Errors {
                        worst = worst.max(e.features[0]);
                    }
                }
            }
            worst
        };
        let configured = FilterConfig {
            merge_log_key: "app_json".to_owned(),
            ..FilterConfig::default()
        };
        assert_eq!(worst_error_ratio(configured), 1.0);
        // Under the default key (`log_processed`) the members are not read.
        assert_eq!(worst_error_ratio(FilterConfig::default()), 0.0);
    }

    /// Two pods of one Deployment; one pod's log file lags an hour behind
    /// and is caught up at 10x real time, interleaved with the other pod's
    /// live lines. By record time the workload's traffic is unchanged: its
    /// hour-old lines once counted as current traffic (thousands of
    /// critical traffic surges).
    #[test]
    fn hour_old_lines_from_a_lagging_file_are_not_a_traffic_surge() {
        let models = ModelSet::from_embedded().unwrap().unwrap();
        let mut f = Filter::new(FilterConfig::default(), Some(models));
        let mut out = Vec::new();
        let s = 1_000_000_000i64;
        let line = |pod: &str, ts: i64| {
            format!(
                r#"{{"time":"{}.{:09}","log":"GET /x 200 20ms","kubernetes":{{"pod_name":"{pod}","namespace_name":"shop"}}}}"#,
                ts / s,
                ts % s
            )
        };
        let (a, b) = ("web-7d4b9c8f6-x9z2b", "web-7d4b9c8f6-k4m7q");
        let mut alarms = Vec::new();
        let mut process = |f: &mut Filter, pod: &str, ts: i64, now: i64| {
            f.process(b"kube", now, line(pod, ts).as_bytes(), &mut out);
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
            if v["edgeheal"]["anomaly"] == true {
                alarms.push(v["edgeheal"].clone());
            }
        };
        // 30 minutes: both pods live, 5 lines/s each.
        let mut t = 1_740_960_000_000_000_000i64;
        for i in 0..(30 * 60 * 10) {
            t += 100_000_000;
            process(&mut f, if i % 2 == 0 { a } else { b }, t, t);
        }
        // Two minutes: A live at 5 lines/s; B's lines from an hour ago, five
        // of them (200 ms apart) per 100 ms.
        let mut old = t - 3600 * s;
        for i in 0..(2 * 60 * 10) {
            t += 100_000_000;
            if i % 2 == 0 {
                process(&mut f, a, t, t);
            }
            for _ in 0..5 {
                old += 200_000_000;
                process(&mut f, b, old, t);
            }
        }
        assert!(
            alarms.is_empty(),
            "{} alarms, first {}",
            alarms.len(),
            alarms[0]
        );
    }

    /// A flood's in-flight requests step a pod's memory at its first scrape
    /// after the onset, often before the workload's current bucket rolls:
    /// the traffic features, read at the last roll, showed no traffic yet,
    /// and the classifier named the step `memory_leak`. The traffic
    /// context `rate_now_log_ratio` is the current bucket's rate so far,
    /// read at the record: at that scrape it shows the flood's lines.
    #[test]
    fn a_flood_shows_at_a_memory_scrape_before_its_bucket_rolls() {
        let now_at = crate::features::classifier_names()
            .position(|n| n == "rate_now_log_ratio")
            .expect("the classifier has a feature rate_now_log_ratio");
        let rate_at = crate::features::classifier_offset(Family::Traffic);
        let mut f = Filter::new(FilterConfig::default(), None);
        let mut out = Vec::new();
        let s = 1_000_000_000i64;
        let pod = "web-7d4b9c8f6-x9z2b";
        let mut log = |f: &mut Filter, ts: i64| {
            let line = format!(
                r#"{{"time":"{}.{:09}","log":"GET /x 200 20ms","kubernetes":{{"pod_name":"{pod}","namespace_name":"shop"}}}}"#,
                ts / s,
                ts % s
            );
            f.process(b"kube", ts, line.as_bytes(), &mut out);
        };
        // The combined features are read again when an entity moves: here
        // the pod's memory, which the flood steps.
        let scrape = |f: &mut Filter, ts: i64, bytes: f64| {
            let record = format!(
                r#"{{"metric":"container_memory_working_set_bytes","value":{bytes},"labels":{{"namespace":"shop","pod":"{pod}","container":"app"}},"timestamp":{}}}"#,
                ts / 1_000_000
            );
            f.process(b"edgeheal.metrics", ts, record.as_bytes(), &mut Vec::new());
            let c = f.last_combined();
            (c.features[rate_at], c.features[now_at])
        };
        // Twenty minutes at 2 lines/s, memory scraped 7 s into each bucket.
        let start = 1_740_960_000 * s;
        let mut steady = Vec::new();
        for bucket in 0..80 {
            let t0 = start + bucket * 15 * s;
            for i in 0..30 {
                let ts = t0 + i * s / 2;
                if ts == t0 + 7 * s {
                    let bytes = 5e8 + 1e6 * (bucket % 3) as f64;
                    steady.push(scrape(&mut f, ts, bytes));
                }
                log(&mut f, ts);
            }
        }
        // The same 7 s into a bucket, lines at 20/s since 4 s in.
        let t0 = start + 80 * 15 * s;
        for i in 0..8 {
            log(&mut f, t0 + i * s / 2);
        }
        for i in 0..60 {
            log(&mut f, t0 + 4 * s + i * s / 20);
        }
        let (rate, flood_now) = scrape(&mut f, t0 + 7 * s, 6e8);
        assert!(rate < 0.1, "the window has not rolled: {rate}");
        // 68 lines where the baseline expects 14.
        assert!(flood_now > 1.3, "{flood_now}");
        let calm = steady.iter().skip(20).map(|(_, n)| *n).fold(0.0, f64::max);
        assert!(calm < 0.2, "{steady:?}");
    }

    /// A steady pod with five containers (app and four sidecars), sampled
    /// as the shipped `edgeheal-sampler` does, raised steady memory_leak
    /// alarms: its fifth container shared the fourth's slot and each switch
    /// reset it. No alarm now, as with four.
    #[test]
    fn a_steady_pod_with_five_containers_raises_no_alarm() {
        let five = [
            ("app", 1.0e9, 0.5),
            ("istio-proxy", 80e6, 0.05),
            ("log-agent", 40e6, 0.02),
            ("cloudsql-proxy", 30e6, 0.01),
            ("vault-agent", 600e6, 0.01),
        ];
        for n in [4, 5] {
            let models = ModelSet::from_embedded().unwrap().unwrap();
            let mut f = Filter::new(FilterConfig::default(), Some(models));
            let mut out = Vec::new();
            let mut seed = 77u64;
            let mut rnd = move || {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                (seed >> 11) as f64 / (1u64 << 53) as f64
            };
            let mut cpu_totals = [1000.0; 5];
            let mut alarms = Vec::new();
            for i in 0..240i64 {
                let t = 1_740_960_000_000_000_000 + i * 15_000_000_000;
                let ms = t / 1_000_000;
                for (k, (c, mem, cores)) in five.iter().take(n).enumerate() {
                    cpu_totals[k] += cores * 15.0 * (0.95 + 0.1 * rnd());
                    let m = mem * (0.99 + 0.02 * rnd());
                    for (metric, value) in [
                        ("container_cpu_usage_seconds_total", cpu_totals[k]),
                        ("container_memory_working_set_bytes", m),
                        ("container_spec_memory_limit_bytes", 4e9),
                    ] {
                        let record = format!(
                            r#"{{"metric":"{metric}","value":{value},"labels":{{"namespace":"shop","pod":"web-7d4b9c8f6-x9z2b","container":"{c}"}},"timestamp":{ms}}}"#
                        );
                        f.process(b"edgeheal.metrics", t, record.as_bytes(), &mut out);
                        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
                        if v["edgeheal"]["anomaly"] == true {
                            alarms.push(v["edgeheal"].clone());
                        }
                    }
                }
            }
            assert!(
                alarms.is_empty(),
                "{n} containers: {} alarms, first {} at {:?}",
                alarms.len(),
                alarms[0],
                alarms
                    .iter()
                    .map(|a| a["ts"].to_string())
                    .collect::<Vec<_>>()
            );
        }
    }
}
