//! The `edgeheal` tag object: the contract between the edge and the healer.
//!
//! Field names are fixed (ARCHITECTURE.md, "Tags"): `kind`, `entity`, `pod`,
//! `ts`, `score`, `anomaly`, `severity`, `incident`, `action`, `why`, `model`.
//! Additions: `namespace`, `workload`, `workload_kind`, `container`, `node`,
//! `family`, and `error` when the record could not be read.

use std::io::Write as _;

use crate::identity_memo::{IdentityMemo, MemoToken};
use crate::json::{write_str, write_str_body};
use crate::observation::{Identity, Observation, RecordKind};
use crate::timestamp::{write_rfc3339, Rfc3339Writer};
use crate::verdict::Verdict;

/// Model tag value when no model is loaded.
pub const NO_MODEL: &str = "none";

/// Appends an `f64` as a JSON number (`null` when not finite). Rust's float
/// formatting is target-independent, so native and wasm output agree byte for byte.
pub fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        // Writing to a Vec cannot fail.
        let _ = write!(out, "{v}");
    } else {
        out.extend_from_slice(b"null");
    }
}

/// The texts of recently written `f64`s, so writing one again copies its
/// text. Verdicts repeat a few values (zero; the score and contributions of
/// families that did not move), and formatting a float is the costliest
/// part of writing a verdict. Direct-mapped: [`F64Texts::SLOTS`] texts of at
/// most 31 bytes, allocated when the first is kept.
#[derive(Debug, Clone, Default)]
pub(crate) struct F64Texts {
    slots: Vec<F64Text>,
}

#[derive(Debug, Clone, Copy, Default)]
struct F64Text {
    bits: u64,
    /// 0 when the slot is empty (no float's text is).
    len: u8,
    text: [u8; 31],
}

impl F64Texts {
    const SLOTS: usize = 256;

    /// Appends `v` as [`write_f64`] does.
    pub(crate) fn write(&mut self, out: &mut Vec<u8>, v: f64) {
        if !v.is_finite() {
            out.extend_from_slice(b"null");
            return;
        }
        if self.slots.is_empty() {
            self.slots.resize(Self::SLOTS, F64Text::default());
        }
        let bits = v.to_bits();
        let i = (bits.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as usize;
        let Some(slot) = self.slots.get_mut(i) else {
            write_f64(out, v);
            return;
        };
        if slot.len != 0 && slot.bits == bits {
            out.extend_from_slice(slot.text.get(..usize::from(slot.len)).unwrap_or(&[]));
            return;
        }
        let start = out.len();
        write_f64(out, v);
        let text = out.get(start..).unwrap_or(&[]);
        if let (Ok(len), Some(keep)) = (u8::try_from(text.len()), slot.text.get_mut(..text.len())) {
            keep.copy_from_slice(text);
            slot.bits = bits;
            slot.len = len;
        }
    }
}

fn write_opt_str(out: &mut Vec<u8>, v: Option<&str>) {
    match v {
        Some(s) => write_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// Appends the `edgeheal` object for a normalized record and its entity's verdict.
pub fn write_tags(out: &mut Vec<u8>, obs: &Observation<'_>, verdict: &Verdict, model: &str) {
    write_record_head(out, obs, &mut Rfc3339Writer::default());
    write_verdict(out, verdict, model, &mut F64Texts::default());
    write_record_tail(out, obs);
}

/// The part of the tags that comes from the record before the verdict's:
/// `{"kind":...,"entity":...,"pod":...,"ts":"..."`, the time written with `time`.
pub(crate) fn write_record_head(
    out: &mut Vec<u8>,
    obs: &Observation<'_>,
    time: &mut Rfc3339Writer,
) {
    write_kind(out, obs.kind);
    write_identity_head(out, &obs.identity);
    write_time(out, obs.ts_ns, time);
}

/// `{"kind":"` and the kind's tag value ([`RecordKind::as_str`]). Copied
/// as sixteen bytes whatever the kind, then cut back: in the `.wasm`, a
/// copy whose length is known only at run time is a `memory.copy`, which
/// wasmtime runs as a call into its runtime, while a constant one is a few
/// stores.
#[inline]
pub(crate) fn write_kind(out: &mut Vec<u8>, kind: RecordKind) {
    let text: &[u8; 16] = match kind {
        RecordKind::Log => b"{\"kind\":\"log    ",
        RecordKind::Metric => b"{\"kind\":\"metric ",
        RecordKind::Event => b"{\"kind\":\"event  ",
        RecordKind::Unknown => b"{\"kind\":\"unknown",
    };
    let end = out.len() + b"{\"kind\":\"".len() + kind.as_str().len();
    out.extend_from_slice(text);
    out.truncate(end);
}

/// The identity's part of the head: `","entity":...,"pod":...` (from the
/// quote that closes the kind).
fn write_identity_head(out: &mut Vec<u8>, id: &Identity<'_>) {
    out.extend_from_slice(b"\",\"entity\":");
    match (id.namespace.as_deref(), id.workload.as_deref()) {
        (ns, Some(w)) => {
            // One string, `namespace/workload`, escaped piece by piece.
            out.push(b'"');
            write_str_body(out, ns.unwrap_or("_"));
            out.push(b'/');
            write_str_body(out, w);
            out.push(b'"');
        }
        _ => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"pod\":");
    write_opt_str(out, id.pod.as_deref());
}

/// The head's last member: `,"ts":"..."`.
pub(crate) fn write_time(out: &mut Vec<u8>, ts_ns: i64, time: &mut Rfc3339Writer) {
    out.extend_from_slice(b",\"ts\":\"");
    time.write(out, ts_ns);
    out.push(b'"');
}

/// The verdict's part of the tags, which depends on nothing else (the filter
/// keeps it with the verdict it caches): `,"score":...` to `"family":...`,
/// the numbers written with `floats`.
pub(crate) fn write_verdict(
    out: &mut Vec<u8>,
    verdict: &Verdict,
    model: &str,
    floats: &mut F64Texts,
) {
    out.extend_from_slice(b",\"score\":");
    match verdict.score {
        Some(s) => floats.write(out, s),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(if verdict.anomaly {
        b",\"anomaly\":true,\"severity\":\""
    } else {
        b",\"anomaly\":false,\"severity\":\""
    });
    out.extend_from_slice(verdict.severity.as_str().as_bytes());
    out.extend_from_slice(b"\",\"incident\":\"");
    out.extend_from_slice(verdict.incident.as_str().as_bytes());
    out.extend_from_slice(b"\",\"action\":\"");
    out.extend_from_slice(verdict.action.as_str().as_bytes());
    out.extend_from_slice(b"\",\"why\":[");
    for (i, reason) in verdict.why.iter().flatten().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"feature\":\"");
        out.extend_from_slice(reason.feature.as_bytes());
        out.extend_from_slice(b"\",\"value\":");
        floats.write(out, reason.value);
        out.extend_from_slice(b",\"contribution\":");
        floats.write(out, reason.contribution);
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"model\":");
    write_str(out, model);
    out.extend_from_slice(b",\"family\":");
    write_opt_str(out, verdict.family.map(|f| f.as_str()));
}

/// The part of the tags that comes from the record after the verdict's:
/// `,"namespace":...` to the closing `}`.
pub(crate) fn write_record_tail(out: &mut Vec<u8>, obs: &Observation<'_>) {
    write_identity_tail(out, &obs.identity);
}

/// The tail, which depends on the identity alone.
fn write_identity_tail(out: &mut Vec<u8>, id: &Identity<'_>) {
    out.extend_from_slice(b",\"namespace\":");
    write_opt_str(out, id.namespace.as_deref());
    out.extend_from_slice(b",\"workload\":");
    write_opt_str(out, id.workload.as_deref());
    out.extend_from_slice(b",\"workload_kind\":");
    write_opt_str(out, id.workload_kind.map(|k| k.as_str()));
    out.extend_from_slice(b",\"container\":");
    write_opt_str(out, id.container.as_deref());
    out.extend_from_slice(b",\"node\":");
    write_opt_str(out, id.node.as_deref());
    out.push(b'}');
}

/// The identity's parts of the tags ([`write_identity_head`] and the tail),
/// kept per identity object text the parse remembers: records that
/// carry an equal object have an equal identity, so the text is copied
/// instead of escaped again.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdentityTexts {
    /// By [`MemoToken::entry`]; empty until the first is kept.
    entries: Vec<IdentityText>,
}

#[derive(Debug, Clone, Default)]
struct IdentityText {
    token: Option<MemoToken>,
    /// The identity's head part, then its tail.
    text: Vec<u8>,
    head_len: usize,
}

impl IdentityTexts {
    /// The texts for `id`, which the memo's `token` names (kept if new).
    fn get(&mut self, id: &Identity<'_>, token: Option<MemoToken>) -> Option<&IdentityText> {
        let token = token?;
        if self.entries.is_empty() {
            self.entries
                .resize(IdentityMemo::ENTRIES, IdentityText::default());
        }
        let e = self.entries.get_mut(token.entry as usize)?;
        if e.token != Some(token) {
            e.text.clear();
            write_identity_head(&mut e.text, id);
            e.head_len = e.text.len();
            write_identity_tail(&mut e.text, id);
            e.token = Some(token);
        }
        Some(e)
    }

    /// Appends what [`write_record_head`] writes for the identity.
    pub(crate) fn write_head(
        &mut self,
        out: &mut Vec<u8>,
        id: &Identity<'_>,
        token: Option<MemoToken>,
    ) {
        match self.get(id, token) {
            Some(e) => out.extend_from_slice(e.text.get(..e.head_len).unwrap_or(&[])),
            None => write_identity_head(out, id),
        }
    }

    /// Appends what [`write_record_tail`] writes for the identity.
    pub(crate) fn write_tail(
        &mut self,
        out: &mut Vec<u8>,
        id: &Identity<'_>,
        token: Option<MemoToken>,
    ) {
        match self.get(id, token) {
            Some(e) => out.extend_from_slice(e.text.get(e.head_len..).unwrap_or(&[])),
            None => write_identity_tail(out, id),
        }
    }
}

/// Appends the `edgeheal` object for a record that could not be read: the
/// pipeline keeps the record, and the reason travels with it.
pub fn write_error_tags(out: &mut Vec<u8>, ts_ns: i64, model: &str, error: &str) {
    out.extend_from_slice(b"{\"kind\":\"unknown\",\"entity\":null,\"pod\":null,\"ts\":\"");
    write_rfc3339(out, ts_ns);
    out.extend_from_slice(
        b"\",\"score\":null,\"anomaly\":false,\"severity\":\"none\",\"incident\":\"unknown\",\"action\":\"none\",\"why\":[],\"model\":",
    );
    write_str(out, model);
    out.extend_from_slice(b",\"error\":");
    write_str(out, error);
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Xorshift;

    #[test]
    fn kept_float_texts_are_the_formatted_ones() {
        let mut floats = F64Texts::default();
        let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15);
        let mut values = vec![
            0.0,
            -0.0,
            1.0,
            0.5,
            1e-7,
            1e21,
            123.456,
            f64::NAN,
            f64::INFINITY,
        ];
        for _ in 0..3000 {
            let seed = rng.next_u64();
            values.push(f64::from_bits(seed));
            values.push((seed >> 11) as f64 / (1u64 << 53) as f64);
            values.push((seed % 1000) as f64 / 8.0);
        }
        // Twice over, so the second round reads kept texts (and collisions
        // replace them).
        for v in values.iter().chain(&values).chain(values.iter().rev()) {
            let (mut kept, mut direct) = (Vec::new(), Vec::new());
            floats.write(&mut kept, *v);
            write_f64(&mut direct, *v);
            assert_eq!(kept, direct, "{v:e}");
        }
    }
}
