//! Identities already resolved, by the text they were resolved from.
//!
//! Every record of a pod carries the same `kubernetes` object, byte for
//! byte, so resolving it again (reading its members, its labels, the
//! workload behind the pod name) gives the same answer every time. The memo
//! keeps, for recent object texts, where in the text each part of the
//! resolved [`Identity`] sits; a record whose object text is equal gets the
//! same parts, borrowed from its own text. The text is compared in full, so
//! a hit is exactly what resolving would have given.
//!
//! Only identities made entirely of slices of the object text are kept (an
//! escaped name is decoded into an owned string, and is resolved each time).
//! The memo is a [`TextTable`] of [`GEOMETRY`]'s bounds, whose texts are
//! placed in either of two sets (with one set per text, the filter bench's
//! 800 object texts missed on one record in twenty). A node
//! runs at most a few hundred pods, each of which reaches the filter
//! through one or two pipelines, so every object text of a node usually
//! stays in the memo.

use std::borrow::Cow;

use crate::observation::{Identity, WorkloadKind};
pub(crate) use crate::text_table::MemoToken;
use crate::text_table::{hash, Geometry, TextTable};

/// The memo's shape: [`IdentityMemo::ENTRIES`] texts of at most 2 KiB, and
/// 512 KiB in all.
const GEOMETRY: Geometry = Geometry {
    sets: 128,
    ways: 8,
    max_text: 2048,
    max_bytes: 512 * 1024,
};

/// Where one part of an identity sits in the object text.
type Span = Option<(u32, u32)>;

/// An identity as spans of the object text it was resolved from.
#[derive(Debug, Clone, Copy, Default)]
struct Spans {
    namespace: Span,
    workload: Span,
    workload_kind: Option<WorkloadKind>,
    pod: Span,
    container: Span,
    node: Span,
}

/// Resolved identities of recent object texts (see the module docs). Empty
/// by default; it allocates when it keeps its first identity.
#[derive(Debug, Clone)]
pub(crate) struct IdentityMemo {
    table: TextTable<Spans>,
    /// The token of the text of the last call, when the memo keeps it.
    last: Option<MemoToken>,
}

impl Default for IdentityMemo {
    fn default() -> IdentityMemo {
        IdentityMemo {
            table: TextTable::new(GEOMETRY),
            last: None,
        }
    }
}

impl IdentityMemo {
    /// Entries of the memo: a [`MemoToken::entry`] is below this.
    pub const ENTRIES: usize = GEOMETRY.entries();

    /// The token of the object text of the last [`IdentityMemo::get_or_resolve`]
    /// call, when the memo keeps that text.
    pub fn last_token(&self) -> Option<MemoToken> {
        self.last
    }

    /// The identity `resolve` gives for the object text `text`: the one
    /// kept for an equal text, else `resolve()`'s (kept when it can be).
    pub fn get_or_resolve<'a>(
        &mut self,
        text: &'a [u8],
        resolve: impl FnOnce() -> Identity<'a>,
    ) -> Identity<'a> {
        self.last = None;
        if text.len() > GEOMETRY.max_text {
            return resolve();
        }
        let hash = hash(text);
        if let Some((token, _, spans)) = self.table.find(hash, |kept| kept == text) {
            if let Some(id) = spans_identity(spans, text) {
                self.last = Some(token);
                return id;
            }
        }
        let id = resolve();
        if let Some(spans) = identity_spans(&id, text) {
            self.last = self.table.keep(hash, text, |kept| *kept = spans);
        }
        id
    }
}

/// The span of `s` in `text`, if `s` is borrowed from it.
fn span_of(s: &Option<Cow<'_, str>>, text: &[u8]) -> Option<Span> {
    let Some(s) = s else {
        return Some(None);
    };
    let Cow::Borrowed(s) = s else {
        return None;
    };
    let start = (s.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
    let end = start.checked_add(s.len())?;
    if end > text.len() {
        return None;
    }
    Some(Some((u32::try_from(start).ok()?, u32::try_from(end).ok()?)))
}

fn identity_spans(id: &Identity<'_>, text: &[u8]) -> Option<Spans> {
    // Kept texts are UTF-8 as a whole, so a hit takes its parts from one
    // check of the text (see `spans_identity`).
    std::str::from_utf8(text).ok()?;
    Some(Spans {
        namespace: span_of(&id.namespace, text)?,
        workload: span_of(&id.workload, text)?,
        workload_kind: id.workload_kind,
        pod: span_of(&id.pod, text)?,
        container: span_of(&id.container, text)?,
        node: span_of(&id.node, text)?,
    })
}

/// The part of `text` at `span` (which came from a `str` of an equal text,
/// so it lies on character boundaries).
fn part(span: Span, text: &str) -> Option<Option<Cow<'_, str>>> {
    let Some((start, end)) = span else {
        return Some(None);
    };
    Some(Some(Cow::Borrowed(text.get(start as usize..end as usize)?)))
}

fn spans_identity<'a>(spans: &Spans, text: &'a [u8]) -> Option<Identity<'a>> {
    let text = std::str::from_utf8(text).ok()?;
    Some(Identity {
        namespace: part(spans.namespace, text)?,
        workload: part(spans.workload, text)?,
        workload_kind: spans.workload_kind,
        pod: part(spans.pod, text)?,
        container: part(spans.container, text)?,
        node: part(spans.node, text)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved<'a>(text: &'a str, pod: &str) -> Identity<'a> {
        let at = |s: &str| text.find(s).map(|i| Cow::Borrowed(&text[i..i + s.len()]));
        Identity {
            namespace: at("shop"),
            workload: at("web"),
            workload_kind: Some(WorkloadKind::Deployment),
            pod: at(pod),
            container: None,
            node: Some(Cow::Owned("n".into())).filter(|_| pod.ends_with('z')),
        }
    }

    /// `get_or_resolve` of `text` with [`resolved`], and whether it resolved.
    fn lookup<'a>(memo: &mut IdentityMemo, text: &'a str, pod: &str) -> (Identity<'a>, bool) {
        let mut called = false;
        let id = memo.get_or_resolve(text.as_bytes(), || {
            called = true;
            resolved(text, pod)
        });
        (id, called)
    }

    #[test]
    fn hits_give_what_resolving_gives_borrowed_from_the_new_text() {
        let mut memo = IdentityMemo::default();
        let a = r#"{"pod":"web-1-x","ns":"shop"}"#.to_owned();
        let b = a.clone();
        let first = memo.get_or_resolve(a.as_bytes(), || resolved(&a, "web-1-x"));
        let (second, called) = lookup(&mut memo, &b, "web-1-x");
        assert!(!called);
        assert_eq!(first, second);
        let Some(Cow::Borrowed(pod)) = second.pod else {
            panic!("{second:?}")
        };
        assert_eq!(pod.as_ptr(), b[8..].as_ptr());
    }

    #[test]
    fn owned_parts_and_different_texts_are_resolved_again() {
        let mut memo = IdentityMemo::default();
        // An owned part: not kept.
        let a = r#"{"pod":"web-1-z","ns":"shop"}"#;
        for _ in 0..2 {
            assert!(lookup(&mut memo, a, "web-1-z").1);
        }
        // Texts that differ anywhere are different entries.
        let texts: Vec<String> = (0..1200)
            .map(|i| format!(r#"{{"pod":"web-1-x","ns":"shop","n":{i}}}"#))
            .collect();
        for round in 0..2 {
            for t in &texts {
                let (id, called) = lookup(&mut memo, t, "web-1-x");
                assert_eq!(id, resolved(t, "web-1-x"), "round {round}");
                // The first round misses.
                assert!(called || round > 0);
            }
        }
        let long = format!(
            r#"{{"pod":"web-1-x","ns":"shop","pad":"{}"}}"#,
            "p".repeat(GEOMETRY.max_text)
        );
        for _ in 0..2 {
            assert!(lookup(&mut memo, &long, "web-1-x").1);
        }
    }

    #[test]
    fn texts_that_are_not_utf8_are_resolved_every_time() {
        let mut memo = IdentityMemo::default();
        // Identity parts are valid; a label elsewhere in the object is not.
        let text: &[u8] = b"{\"pod\":\"web-1-x\",\"ns\":\"shop\",\"l\":\"\xff\"}";
        let piece = |s: &str| {
            let at = text.windows(s.len()).position(|w| w == s.as_bytes())?;
            Some(Cow::Borrowed(
                std::str::from_utf8(&text[at..at + s.len()]).ok()?,
            ))
        };
        for _ in 0..2 {
            let mut called = false;
            let id = memo.get_or_resolve(text, || {
                called = true;
                Identity {
                    namespace: piece("shop"),
                    pod: piece("web-1-x"),
                    ..Identity::default()
                }
            });
            assert!(called);
            assert_eq!(id.pod.as_deref(), Some("web-1-x"));
        }
    }

    #[test]
    fn texts_kept_stay_within_the_byte_budget() {
        let mut memo = IdentityMemo::default();
        let texts: Vec<String> = (0..1000)
            .map(|i| {
                format!(
                    r#"{{"pod":"web-1-x","ns":"shop","n":{i},"pad":"{}"}}"#,
                    "p".repeat(1900)
                )
            })
            .collect();
        for t in &texts {
            let id = memo.get_or_resolve(t.as_bytes(), || resolved(t, "web-1-x"));
            assert_eq!(id, resolved(t, "web-1-x"));
        }
        let kept = memo.table.bytes();
        let max = GEOMETRY.max_bytes;
        assert!(kept <= max && kept > max - 2048, "{kept}");
    }

    #[test]
    fn texts_crowding_one_set_are_all_kept() {
        // More texts than a set has ways, all hashing to the same first set.
        let mut memo = IdentityMemo::default();
        let texts: Vec<String> = (0..)
            .map(|i| format!(r#"{{"pod":"web-1-x","ns":"shop","n":{i}}}"#))
            .filter(|t| memo.table.first_set(hash(t.as_bytes())) == 0)
            .take(GEOMETRY.ways + 4)
            .collect();
        for round in 0..2 {
            for t in &texts {
                let (id, called) = lookup(&mut memo, t, "web-1-x");
                assert_eq!(id, resolved(t, "web-1-x"));
                assert_eq!(called, round == 0, "round {round}: {t}");
            }
        }
    }
}
