//! Identities already resolved, by the token of the text they were
//! resolved from.
//!
//! Every record of a pod carries the same `kubernetes` object, byte for
//! byte, and every sample of a series the same `labels` object, so
//! resolving it again (reading its members, its labels, the workload behind
//! the pod name) gives the same answer every time. The parse already knows
//! the object text it has seen before: the filter's record index remembers
//! these objects ([`crate::normalize::IDENTITY_OBJECTS`]), and gives each
//! record's the [`MemoToken`] of its key and text (equal tokens, equal keys
//! and texts; see [`crate::json::RecordIndex::remembering`]). The memo
//! keeps, per token, where in the text each part of the resolved
//! [`Identity`] sits; a record with the same token gets the same parts,
//! borrowed from its own text, exactly what resolving would have given.
//! With them it keeps a byte its caller derives from the same text (for a
//! metric sample, what classifying it reads from its labels).
//!
//! Only identities made entirely of slices of the object text are kept (an
//! escaped name is decoded into an owned string, and is resolved each time).
//! The memo holds one entry per place of the parse's memo, so it is bounded
//! as that is.

use std::borrow::Cow;

use crate::json::span_in;
pub(crate) use crate::json::MemoToken;
use crate::observation::{Identity, WorkloadKind};

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

/// Resolved identities by token (see the module docs). Empty by default;
/// it allocates when it keeps its first identity.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdentityMemo {
    /// By [`MemoToken::entry`]: the token's `filled` (0: none), the spans,
    /// and a byte the caller keeps with them (see
    /// [`IdentityMemo::get_or_resolve_with`]).
    entries: Vec<(u64, Spans, u8)>,
}

impl IdentityMemo {
    /// Entries of the memo: a [`MemoToken::entry`] is below this.
    pub const ENTRIES: usize = crate::json::MEMO_ENTRIES;

    /// The identity `resolve` gives for the object text `text`, whose token
    /// is `token`, with the names Kubernetes would not accept dropped: the
    /// one kept for the token, else `resolve()`'s (kept when it can be).
    pub fn get_or_resolve<'a>(
        &mut self,
        token: Option<MemoToken>,
        text: &'a [u8],
        resolve: impl FnOnce() -> Identity<'a>,
    ) -> Identity<'a> {
        self.get_or_resolve_with(token, text, || (resolve(), 0)).0
    }

    /// As [`IdentityMemo::get_or_resolve`], with a byte that `resolve` also
    /// derives from the text alone and that is kept with the identity (what
    /// classifying a metric sample reads from its labels).
    ///
    /// What `resolve` gives is checked once, when it is called: names
    /// Kubernetes would not accept are dropped
    /// ([`Identity::drop_invalid_names`]), so a hit costs no check.
    pub fn get_or_resolve_with<'a>(
        &mut self,
        token: Option<MemoToken>,
        text: &'a [u8],
        resolve: impl FnOnce() -> (Identity<'a>, u8),
    ) -> (Identity<'a>, u8) {
        let resolve = || {
            let (mut id, extra) = resolve();
            id.drop_invalid_names();
            (id, extra)
        };
        let Some(token) = token else {
            return resolve();
        };
        let entry = token.entry as usize;
        if let Some((filled, spans, extra)) = self.entries.get(entry) {
            if *filled == token.filled {
                if let Some(id) = spans_identity(spans, text) {
                    return (id, *extra);
                }
            }
        }
        let (id, extra) = resolve();
        if let Some(spans) = identity_spans(&id, text) {
            if self.entries.is_empty() {
                self.entries.resize(Self::ENTRIES, (0, Spans::default(), 0));
            }
            if let Some(e) = self.entries.get_mut(entry) {
                *e = (token.filled, spans, extra);
            }
        }
        (id, extra)
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
    span_in(text, s.as_bytes()).map(Some)
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
            node: pod.ends_with('z').then(|| Cow::Owned("n".into())),
        }
    }

    fn token(entry: u32, filled: u64) -> Option<MemoToken> {
        Some(MemoToken { entry, filled })
    }

    /// `get_or_resolve` of `text` with [`resolved`], and whether it resolved.
    fn lookup<'a>(
        memo: &mut IdentityMemo,
        token: Option<MemoToken>,
        text: &'a str,
        pod: &str,
    ) -> (Identity<'a>, bool) {
        let mut called = false;
        let id = memo.get_or_resolve(token, text.as_bytes(), || {
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
        let (first, called) = lookup(&mut memo, token(3, 1), &a, "web-1-x");
        assert!(called);
        let (second, called) = lookup(&mut memo, token(3, 1), &b, "web-1-x");
        assert!(!called);
        assert_eq!(first, second);
        let Some(Cow::Borrowed(pod)) = second.pod else {
            panic!("{second:?}")
        };
        assert_eq!(pod.as_ptr(), b[8..].as_ptr());
    }

    #[test]
    fn other_tokens_owned_parts_and_no_token_are_resolved_again() {
        let mut memo = IdentityMemo::default();
        let a = r#"{"pod":"web-1-x","ns":"shop"}"#;
        assert!(lookup(&mut memo, token(3, 1), a, "web-1-x").1);
        // The same place refilled, another place, no token.
        for t in [token(3, 2), token(4, 1), None] {
            assert!(lookup(&mut memo, t, a, "web-1-x").1, "{t:?}");
        }
        assert!(!lookup(&mut memo, token(4, 1), a, "web-1-x").1);
        // An owned part: not kept.
        let z = r#"{"pod":"web-1-z","ns":"shop"}"#;
        for _ in 0..2 {
            assert!(lookup(&mut memo, token(5, 1), z, "web-1-z").1);
        }
        // Beyond the memo's places: resolved, nothing kept.
        let far = token(IdentityMemo::ENTRIES as u32, 1);
        for _ in 0..2 {
            assert!(lookup(&mut memo, far, a, "web-1-x").1);
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
            let id = memo.get_or_resolve(token(1, 1), text, || {
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
}
