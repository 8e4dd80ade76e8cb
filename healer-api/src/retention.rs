//! Bounded history. Every anomaly batch the pipelines post is stored with its records, and
//! every incident with its decisions and actions; without deletes the database grows until
//! its volume is full and every ingest request fails with 503. [`prune`] deletes, in small
//! transactions between the ingest commits:
//!
//! - batches the engine has weighed, with their records, received more than
//!   `store.retention.records_days` ago (`reason="age"`);
//! - then, while the database's pages in use are above `store.retention.max_bytes`, the oldest
//!   weighed batches whatever their age (`reason="size"`: the volume is too small for the
//!   anomaly rate, and the alert `EdgehealStorePrunedForSize` says so);
//! - incidents closed more than `store.retention.incidents_days` ago, with their decisions,
//!   actions and finished HPA raises (`reason="age"`).
//!
//! The newest batch and the newest incident are never deleted either, whatever their age: SQLite
//! gives a new row the largest id plus one, so once the newest row went its id would be handed
//! out again, and a batch id in the logs or a redelivery's answer, or an incident id in `GET
//! /v1/incidents` or a soft-heal hook's idempotency key (`<incident>-<step>`), would name two
//! things.
//!
//! What the heal API still needs is never deleted: batches not weighed yet (the engine's
//! queue), also one it has observed part of (`batches.observed`, how far it got before a
//! failed cycle or a restart), incidents not closed, an incident whose HPA raise still holds
//! the minimum, and a closed incident still absorbing its key's records (`hold_until`: a
//! traffic surge whose rate goes on for longer than `incidents_days`), which a restart reads
//! back. The
//! cooldown, the budget window and the HPA restore's hold are counted from the history, which
//! is why [`crate::config::Config::validate`] refuses an `incidents_days` shorter than any of
//! them; the replay check needs the last `2 × auth.max_clock_skew_secs` of batches, at most
//! two hours, and `records_days` is at least one.
//!
//! SQLite does not shrink the file: freed pages are reused by later writes, so the file stays
//! at its high-water mark while the pages in use (`edgeheal_healer_store_used_bytes`) follow
//! the retention.

use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params, Transaction};

use crate::clock::SharedClock;
use crate::config::RetentionConfig;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// Records deleted in one transaction, about: a batch is never split.
const CHUNK_RECORDS: i64 = 5_000;
/// Batches, or incidents, looked at in one transaction.
const CHUNK_ROWS: i64 = 500;
const DAY_MS: i64 = 86_400_000;

/// Why rows were deleted (the `reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Older than their retention.
    Age,
    /// The database was above `max_bytes`.
    Size,
}

impl Reason {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Age => "age",
            Reason::Size => "size",
        }
    }
}

/// Rows deleted by one [`prune`], by table and reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// `(table, reason, rows)`, a table and reason once, in the order first deleted.
    pub rows: Vec<(&'static str, Reason, u64)>,
    /// Bytes of database pages in use afterwards.
    pub used_bytes: u64,
}

impl Pruned {
    fn add(&mut self, table: &'static str, reason: Reason, n: u64) {
        if n == 0 {
            return;
        }
        match self
            .rows
            .iter_mut()
            .find(|(t, r, _)| *t == table && *r == reason)
        {
            Some((_, _, total)) => *total += n,
            None => self.rows.push((table, reason, n)),
        }
    }

    /// Rows deleted from `table` for `reason`.
    pub fn count(&self, table: &str, reason: Reason) -> u64 {
        self.rows
            .iter()
            .find(|(t, r, _)| *t == table && *r == reason)
            .map_or(0, |(_, _, n)| *n)
    }
}

/// Bytes of the database's pages in use (not on the free list).
pub fn used_bytes(conn: &rusqlite::Connection) -> Result<u64, StoreError> {
    let bytes: i64 = conn.query_row(
        "SELECT (p.page_count - f.freelist_count) * s.page_size
         FROM pragma_page_count() p, pragma_freelist_count() f, pragma_page_size() s",
        [],
        |r| r.get(0),
    )?;
    Ok(bytes.max(0) as u64)
}

/// Which of the oldest weighed batches [`delete_batches`] deletes.
#[derive(Debug, Clone, Copy)]
enum Oldest {
    /// Those received before this time (ms).
    ReceivedBefore(i64),
    /// One after the other while the pages in use are above this many bytes.
    UntilUnder(u64),
}

/// Deletes the oldest weighed batches that `which` names, with their records: about
/// [`CHUNK_RECORDS`] records, and at least one batch if any qualifies. Returns (batches,
/// records) deleted.
fn delete_batches(tx: &Transaction<'_>, which: Oldest) -> Result<(u64, u64), StoreError> {
    let candidates: Vec<(i64, i64)> = match which {
        Oldest::ReceivedBefore(before) => {
            let mut stmt = tx.prepare_cached(
                "SELECT id, record_count FROM batches WHERE received_at < ?1 AND processed = 1
                   AND id < (SELECT MAX(id) FROM batches)
                 ORDER BY received_at, id LIMIT ?2",
            )?;
            let rows = stmt
                .query_map(params![before, CHUNK_ROWS], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            rows
        }
        Oldest::UntilUnder(_) => {
            let mut stmt = tx.prepare_cached(
                "SELECT id, record_count FROM batches WHERE processed = 1
                   AND id < (SELECT MAX(id) FROM batches)
                 ORDER BY id LIMIT ?1",
            )?;
            let rows = stmt
                .query_map(params![CHUNK_ROWS], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            rows
        }
    };
    let (mut batches, mut records, mut taken) = (0u64, 0u64, 0i64);
    for (id, count) in candidates {
        if batches > 0 && taken + count > CHUNK_RECORDS {
            break;
        }
        if let Oldest::UntilUnder(max_bytes) = which {
            if used_bytes(tx)? <= max_bytes {
                break;
            }
        }
        taken += count;
        records += tx.execute("DELETE FROM records WHERE batch_id = ?1", [id])? as u64;
        tx.execute("DELETE FROM batch_evidence WHERE batch_id = ?1", [id])?;
        batches += tx.execute("DELETE FROM batches WHERE id = ?1", [id])? as u64;
    }
    Ok((batches, records))
}

/// Deletes up to [`CHUNK_ROWS`] incidents closed before `before_ms` whose HPA raises are all
/// finished and whose hold is over at `now_ms`, with their decisions, actions and raises.
/// Returns the rows deleted by table.
fn delete_incidents(
    tx: &Transaction<'_>,
    before_ms: i64,
    now_ms: i64,
) -> Result<[u64; 4], StoreError> {
    let ids: Vec<i64> = {
        let mut stmt = tx.prepare_cached(
            "SELECT id FROM incidents i WHERE closed_at IS NOT NULL AND closed_at < ?1
               AND id < (SELECT MAX(id) FROM incidents)
               AND (hold_until IS NULL OR hold_until <= ?3)
               AND NOT EXISTS (SELECT 1 FROM hpa_floor_raises f
                               WHERE f.incident_id = i.id AND f.finished_at IS NULL)
             ORDER BY id LIMIT ?2",
        )?;
        let ids = stmt
            .query_map(params![before_ms, CHUNK_ROWS, now_ms], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        ids
    };
    let mut n = [0u64; 4];
    for id in ids {
        for (i, sql) in [
            "DELETE FROM decisions WHERE incident_id = ?1",
            "DELETE FROM actions WHERE incident_id = ?1",
            "DELETE FROM hpa_floor_raises WHERE incident_id = ?1",
            "DELETE FROM incidents WHERE id = ?1",
        ]
        .into_iter()
        .enumerate()
        {
            n[i] += tx.execute(sql, [id])? as u64;
        }
    }
    Ok(n)
}

/// Deletes what `cfg` no longer keeps at `now_ms` (see the module doc), one chunk a
/// transaction, and returns what was deleted.
pub async fn prune(
    store: &Store,
    cfg: &RetentionConfig,
    now_ms: i64,
) -> Result<Pruned, StoreError> {
    let mut pruned = Pruned::default();
    let records_before = now_ms.saturating_sub(i64::from(cfg.records_days) * DAY_MS);
    for (which, reason) in [
        (Oldest::ReceivedBefore(records_before), Reason::Age),
        (Oldest::UntilUnder(cfg.max_bytes), Reason::Size),
    ] {
        loop {
            let (b, r) = store.write(move |tx| delete_batches(tx, which)).await?;
            pruned.add("batches", reason, b);
            pruned.add("records", reason, r);
            if b == 0 {
                break;
            }
        }
    }
    let incidents_before = now_ms.saturating_sub(i64::from(cfg.incidents_days) * DAY_MS);
    loop {
        let n = store
            .write(move |tx| delete_incidents(tx, incidents_before, now_ms))
            .await?;
        for (table, rows) in ["decisions", "actions", "hpa_floor_raises", "incidents"]
            .into_iter()
            .zip(n)
        {
            pruned.add(table, Reason::Age, rows);
        }
        if n[3] == 0 {
            break;
        }
    }
    pruned.used_bytes = store.write(|tx| used_bytes(tx)).await?;
    Ok(pruned)
}

/// Prunes now and every `cfg.every_secs`, counting what was deleted in `metrics`; a failed
/// prune is logged and tried again at the next.
pub async fn run(store: Store, cfg: RetentionConfig, clock: SharedClock, metrics: Arc<Metrics>) {
    let mut every = tokio::time::interval(Duration::from_secs(cfg.every_secs));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let now = clock.now();
        match prune(&store, &cfg, now.as_millisecond()).await {
            Ok(pruned) => {
                metrics.pruned(&pruned, now.as_second());
                if pruned.count("records", Reason::Size) > 0 {
                    tracing::warn!(
                        records = pruned.count("records", Reason::Size),
                        max_bytes = cfg.max_bytes,
                        "anomaly records younger than store.retention.records_days were deleted to keep the store under store.retention.max_bytes: the volume is too small for this anomaly rate"
                    );
                }
                if pruned.used_bytes > cfg.max_bytes {
                    tracing::warn!(
                        used_bytes = pruned.used_bytes,
                        max_bytes = cfg.max_bytes,
                        "the store is above store.retention.max_bytes with nothing left it may delete: batches the engine has not weighed yet, the newest batch and incidents fill it"
                    );
                }
                if !pruned.rows.is_empty() {
                    tracing::info!(deleted = ?pruned.rows, used_bytes = pruned.used_bytes, "store pruned");
                }
            }
            Err(e) => tracing::error!(error = %e, "store prune failed; trying again later"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Synchronous;
    use crate::decode::{decode, DecodeLimits, Format};
    use crate::store::{Committed, NewBatch};

    const NOW: i64 = 400 * DAY_MS;

    fn cfg(max_bytes: u64) -> RetentionConfig {
        RetentionConfig {
            records_days: 7,
            incidents_days: 90,
            max_bytes,
            every_secs: 300,
        }
    }

    /// A batch of `n` records, each carrying `pad` bytes of log text and `sig` (a body of its
    /// own, as a sender's records carry their times).
    fn batch(sig: &str, received_at_ms: i64, n: usize, pad: usize) -> NewBatch {
        batch_of(sig, sig, received_at_ms, n, pad)
    }

    /// [`batch`] signed `sig`, its records carrying `body` instead.
    fn batch_of(sig: &str, body: &str, received_at_ms: i64, n: usize, pad: usize) -> NewBatch {
        let one = serde_json::json!({"log": "x".repeat(pad), "batch": body, "edgeheal": {
            "kind": "log", "entity": "shop/cart", "pod": "cart-1", "ts": "2026-11-21T10:00:00Z",
            "score": 0.9, "anomaly": true, "severity": "warning", "incident": "error_burst",
            "action": "rollout_restart", "why": [], "model": "m@1"}});
        let body = serde_json::to_vec(&vec![one; n]).unwrap();
        let records = decode(
            Format::Json,
            &body,
            DecodeLimits {
                max_decompressed_bytes: 1 << 26,
                max_records: 10_000,
                max_record_values: 1000,
            },
        )
        .unwrap();
        NewBatch {
            received_at_ms,
            key_id: "fluent-bit".into(),
            scheme: "sigv4",
            signature: sig.into(),
            signed_at_ms: Some(received_at_ms),
            body_sha256: crate::store::body_digest(&body),
            records,
        }
    }

    /// Inserts `b`, a body not stored yet; its id.
    async fn insert(store: &Store, b: NewBatch) -> i64 {
        match store.insert_batch(b).await.unwrap() {
            Committed::New(id) => id,
            other => panic!("stored already: {other:?}"),
        }
    }

    /// Batch `id` processed, its first record stored as debounce evidence (which goes with
    /// it when it is deleted).
    async fn weighed(store: &Store, id: i64) {
        let mark = crate::store::Mark {
            record: 0,
            kind: crate::store::MarkKind::Window,
        };
        store
            .write(move |tx| crate::store::mark_processed(tx, id, 0, &[mark]))
            .await
            .unwrap();
    }

    /// An incident closed at `closed_at` (open if `None`) with a decision, an action and,
    /// if `raise` is `Some(finished)`, an HPA raise finished or still holding.
    async fn incident(store: &Store, closed_at: Option<i64>, raise: Option<bool>) -> i64 {
        store
            .write(move |tx| {
                let state = if closed_at.is_some() { "resolved" } else { "verifying" };
                tx.execute(
                    "INSERT INTO incidents(entity, namespace, workload, workload_kind, kind, state, record_count, opened_at, updated_at, closed_at)
                     VALUES ('shop/cart', 'shop', 'cart', 'deployment', 'cpu_saturation', ?1, 3, 0, 0, ?2)",
                    params![state, closed_at],
                )?;
                let id = tx.last_insert_rowid();
                tx.execute(
                    "INSERT INTO decisions(incident_id, at, step, action, outcome, reason) VALUES (?1, 0, 0, 'scale_up', 'act', 'x')",
                    [id],
                )?;
                tx.execute(
                    "INSERT INTO actions(incident_id, step, action, target, mode, started_at, finished_at, result)
                     VALUES (?1, 0, 'scale_up', 'shop/deployment/cart', 'enforce', 0, 0, 'ok')",
                    [id],
                )?;
                if let Some(finished) = raise {
                    tx.execute(
                        "INSERT INTO hpa_floor_raises(incident_id, step, namespace, hpa, mode, raised_at, observed_min,
                           raised_to, left_min, restore_to, state, finished_at)
                         VALUES (?1, 0, 'shop', ?2, 'enforce', 0, 2, 3, 2, 2, ?3, ?4)",
                        params![
                            id,
                            format!("cart-{id}"),
                            if finished { "restored" } else { "raised" },
                            finished.then_some(0)
                        ],
                    )?;
                }
                Ok(id)
            })
            .await
            .unwrap()
    }

    async fn ids(store: &Store, table: &'static str) -> Vec<i64> {
        store
            .read(move |c| {
                let mut stmt = c.prepare(&format!("SELECT id FROM {table} ORDER BY id"))?;
                let ids = stmt
                    .query_map([], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                Ok(ids)
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn age_deletes_weighed_batches_and_closed_incidents_past_their_retention() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("h.db"), Synchronous::Normal).unwrap();
        let old = NOW - 8 * DAY_MS;
        // Twelve old weighed batches of 1,000 records: more than one transaction's worth.
        let mut old_weighed = Vec::new();
        for i in 0..12 {
            let id = insert(&store, batch(&format!("old-{i}"), old + i, 1_000, 10)).await;
            weighed(&store, id).await;
            old_weighed.push(id);
        }
        let old_queued = insert(&store, batch("old-queued", old, 2, 10)).await;
        // Observed part-way (a failed cycle, a restart): still the engine's.
        store
            .write(move |tx| crate::store::mark_observed(tx, old_queued, 1, old, &[]))
            .await
            .unwrap();
        let recent = insert(&store, batch("recent", NOW - 6 * DAY_MS, 2, 10)).await;
        weighed(&store, recent).await;

        let long_closed = incident(&store, Some(NOW - 91 * DAY_MS), None).await;
        let raise_done = incident(&store, Some(NOW - 91 * DAY_MS), Some(true)).await;
        let raise_holds = incident(&store, Some(NOW - 91 * DAY_MS), Some(false)).await;
        let closed_lately = incident(&store, Some(NOW - 89 * DAY_MS), None).await;
        // Resolved surges whose rate went on: one still absorbing it, one whose hold is over.
        let still_holding = incident(&store, Some(NOW - 91 * DAY_MS), None).await;
        let hold_over = incident(&store, Some(NOW - 91 * DAY_MS), None).await;
        for (id, until) in [(still_holding, NOW + 1), (hold_over, NOW)] {
            store
                .write(move |tx| {
                    tx.execute(
                        "UPDATE incidents SET hold_until = ?1 WHERE id = ?2",
                        params![until, id],
                    )?;
                    Ok(())
                })
                .await
                .unwrap();
        }
        // The newest incident (kept whatever its age: see the next test).
        let still_open = incident(&store, None, None).await;

        let pruned = prune(&store, &cfg(1 << 40), NOW).await.unwrap();
        assert_eq!(pruned.count("batches", Reason::Age), 12);
        assert_eq!(pruned.count("records", Reason::Age), 12_000);
        assert_eq!(pruned.count("incidents", Reason::Age), 3);
        assert_eq!(pruned.count("decisions", Reason::Age), 3);
        assert_eq!(pruned.count("actions", Reason::Age), 3);
        assert_eq!(pruned.count("hpa_floor_raises", Reason::Age), 1);
        assert_eq!(pruned.count("records", Reason::Size), 0);
        assert!(pruned.used_bytes > 0);

        // The engine's queue, the recent batch, and every incident it still needs stay.
        assert_eq!(ids(&store, "batches").await, [old_queued, recent]);
        let (_, records) = store.read(crate::store::counts).await.unwrap();
        assert_eq!(records, 4);
        assert_eq!(
            ids(&store, "incidents").await,
            [raise_holds, closed_lately, still_holding, still_open]
        );
        for gone in [long_closed, raise_done, hold_over] {
            assert!(!ids(&store, "incidents").await.contains(&gone));
        }
        assert_eq!(ids(&store, "decisions").await.len(), 4);
        assert_eq!(ids(&store, "actions").await.len(), 4);
        assert_eq!(ids(&store, "hpa_floor_raises").await.len(), 1);
        let history = store
            .read(move |c| crate::store::get_incident(c, closed_lately))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((history.1.len(), history.2.len()), (1, 1));

        // Nothing more to delete: a second prune deletes nothing.
        let again = prune(&store, &cfg(1 << 40), NOW).await.unwrap();
        assert!(again.rows.is_empty(), "{:?}", again.rows);
    }

    #[tokio::test]
    async fn above_max_bytes_the_oldest_weighed_batches_go_first_whatever_their_age() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("h.db"), Synchronous::Normal).unwrap();
        // The oldest batch is not weighed yet: it is never deleted.
        let queued = insert(&store, batch("queued", NOW - DAY_MS, 100, 2_000)).await;
        let mut weighed_ids = Vec::new();
        for i in 0..40 {
            let id = insert(
                &store,
                batch(&format!("b-{i}"), NOW - DAY_MS + i, 100, 2_000),
            )
            .await;
            weighed(&store, id).await;
            weighed_ids.push(id);
        }
        let full = store.read(used_bytes).await.unwrap();
        assert!(full > 8_000_000, "{full}");
        let max = full / 2;
        let pruned = prune(&store, &cfg(max), NOW).await.unwrap();
        assert_eq!(pruned.count("batches", Reason::Age), 0);
        let gone = pruned.count("batches", Reason::Size) as usize;
        assert_eq!(pruned.count("records", Reason::Size), gone as u64 * 100);
        assert!(pruned.used_bytes <= max, "{} > {max}", pruned.used_bytes);
        assert_eq!(pruned.used_bytes, store.read(used_bytes).await.unwrap());
        // Just enough: a batch's 100 records fill 100 pages, and one batch more would have
        // left it that far below the bound.
        assert!(
            pruned.used_bytes > max - 100 * 4096,
            "{} of {max}",
            pruned.used_bytes
        );
        assert!((10..40).contains(&gone), "{gone} of 40");
        let mut left = vec![queued];
        left.extend(&weighed_ids[gone..]);
        assert_eq!(ids(&store, "batches").await, left);

        // Whatever the bound, the queue stays, and the newest batch (its id is never handed out
        // again).
        let pruned = prune(&store, &cfg(1), NOW).await.unwrap();
        assert_eq!(
            pruned.count("batches", Reason::Size) as usize,
            40 - gone - 1
        );
        assert_eq!(ids(&store, "batches").await, [queued, weighed_ids[39]]);
    }

    /// A redelivered body is known by its batch until the retention deletes that batch: the
    /// horizon of the redeliveries recognized is the batches' retention.
    #[tokio::test]
    async fn a_body_is_known_as_redelivered_until_its_batch_is_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("h.db"), Synchronous::Normal).unwrap();
        let old = NOW - 8 * DAY_MS;
        let first = insert(&store, batch_of("s1", "body", old, 2, 10)).await;
        weighed(&store, first).await;
        // A newer batch: the newest is never pruned.
        let newer = insert(&store, batch_of("s0", "other", NOW, 2, 10)).await;
        weighed(&store, newer).await;
        assert_eq!(
            store
                .insert_batch(batch_of("s2", "body", old + 1, 2, 10))
                .await
                .unwrap(),
            Committed::Redelivered(first)
        );
        let pruned = prune(&store, &cfg(1 << 40), NOW).await.unwrap();
        assert_eq!(pruned.count("batches", Reason::Age), 1);
        // Stored anew (`insert` asserts it).
        insert(&store, batch_of("s3", "body", NOW, 2, 10)).await;
    }

    /// SQLite gives a new row the largest id plus one. The newest batch and incident stay
    /// whatever their age, so a quiet week (every batch past `records_days`) or season (every
    /// incident past `incidents_days`) does not hand their ids out again: a new batch and a new
    /// incident get ids above every one given before.
    #[tokio::test]
    async fn the_newest_batch_and_incident_stay_so_their_ids_are_not_given_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("h.db"), Synchronous::Normal).unwrap();
        let old = NOW - 100 * DAY_MS;
        let mut batches = Vec::new();
        for i in 0..3 {
            let id = insert(&store, batch(&format!("b-{i}"), old + i, 2, 10)).await;
            weighed(&store, id).await;
            batches.push(id);
        }
        let incidents = [
            incident(&store, Some(old), None).await,
            incident(&store, Some(old + 1), None).await,
        ];
        for max_bytes in [1 << 40, 1] {
            prune(&store, &cfg(max_bytes), NOW).await.unwrap();
            assert_eq!(ids(&store, "batches").await, [batches[2]]);
            assert_eq!(ids(&store, "incidents").await, [incidents[1]]);
        }
        let next_batch = insert(&store, batch("b-new", NOW, 2, 10)).await;
        let next_incident = incident(&store, None, None).await;
        assert!(next_batch > batches[2], "{next_batch} reuses an id");
        assert!(next_incident > incidents[1], "{next_incident} reuses an id");
        // Once newer rows are there, the old ones go.
        let pruned = prune(&store, &cfg(1 << 40), NOW).await.unwrap();
        assert_eq!(pruned.count("batches", Reason::Age), 1);
        assert_eq!(pruned.count("incidents", Reason::Age), 1);
    }

    #[test]
    fn pruned_sums_by_table_and_reason() {
        let mut p = Pruned::default();
        p.add("records", Reason::Age, 3);
        p.add("records", Reason::Size, 0);
        p.add("records", Reason::Age, 4);
        p.add("records", Reason::Size, 5);
        assert_eq!(
            p.rows,
            [("records", Reason::Age, 7), ("records", Reason::Size, 5)]
        );
        assert_eq!(p.count("batches", Reason::Age), 0);
    }
}
