//! The durable history: SQLite (bundled, WAL) with numbered migrations. One dedicated writer
//! thread owns the write connection and group-commits anomaly batches, so a 202 is sent only
//! after the batch's transaction is committed; reads use a separate connection on the blocking
//! pool. Cooldowns and the action budget are derived from the `actions` table, so they survive
//! restarts by construction.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::config::Synchronous;
use crate::decode::AnomalyRecord;

/// Store errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The writer thread is gone (shutting down or crashed).
    #[error("store writer is not running")]
    WriterGone,
    /// A batch with this signature is already stored: the same signed request again (a
    /// replay across a restart, or two copies in flight at once).
    #[error("duplicate batch signature")]
    DuplicateBatch,
    /// A blocking task failed.
    #[error("blocking task failed: {0}")]
    Join(String),
}

/// The schema, one entry per version. Never edit an entry; append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: batches, records, incidents, decisions, actions.
    "CREATE TABLE batches(
        id INTEGER PRIMARY KEY,
        received_at INTEGER NOT NULL,
        key_id TEXT NOT NULL,
        scheme TEXT NOT NULL,
        signature TEXT NOT NULL UNIQUE,
        record_count INTEGER NOT NULL,
        processed INTEGER NOT NULL DEFAULT 0
     );
     CREATE INDEX batches_unprocessed ON batches(processed, id);
     CREATE TABLE records(
        id INTEGER PRIMARY KEY,
        batch_id INTEGER NOT NULL REFERENCES batches(id),
        entity TEXT,
        pod TEXT,
        kind TEXT NOT NULL,
        incident TEXT NOT NULL,
        severity TEXT NOT NULL,
        anomaly INTEGER NOT NULL,
        workload_kind TEXT,
        score REAL,
        ts TEXT NOT NULL,
        body TEXT NOT NULL
     );
     CREATE INDEX records_batch ON records(batch_id);
     CREATE TABLE incidents(
        id INTEGER PRIMARY KEY,
        entity TEXT NOT NULL,
        namespace TEXT NOT NULL,
        workload TEXT NOT NULL,
        workload_kind TEXT NOT NULL,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        step INTEGER NOT NULL DEFAULT 0,
        pod TEXT,
        record_count INTEGER NOT NULL,
        opened_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        verify_until INTEGER,
        closed_at INTEGER,
        reason TEXT
     );
     CREATE INDEX incidents_state ON incidents(state);
     CREATE INDEX incidents_entity ON incidents(entity, kind);
     CREATE TABLE decisions(
        id INTEGER PRIMARY KEY,
        incident_id INTEGER NOT NULL REFERENCES incidents(id),
        at INTEGER NOT NULL,
        step INTEGER NOT NULL,
        action TEXT,
        outcome TEXT NOT NULL,
        reason TEXT NOT NULL
     );
     CREATE INDEX decisions_incident ON decisions(incident_id);
     CREATE TABLE actions(
        id INTEGER PRIMARY KEY,
        incident_id INTEGER NOT NULL REFERENCES incidents(id),
        step INTEGER NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        mode TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        finished_at INTEGER,
        result TEXT NOT NULL,
        detail TEXT,
        UNIQUE(incident_id, step)
     );
     CREATE INDEX actions_target ON actions(target, started_at);
     CREATE INDEX actions_started ON actions(started_at);",
    // 2: the family that drove each record's verdict (the engine judges a
    // traffic surge's verification by it).
    "ALTER TABLE records ADD COLUMN family TEXT;",
    // 3: when the sender signed each batch by its own clock (ms), to read record times on
    // ours.
    "ALTER TABLE batches ADD COLUMN signed_at INTEGER;",
    // 4: HPA minimums edgeheal raised, until each is given back (see `hpa_floor`). At most
    // one raise per HPA and mode (enforce, dry-run) holds the floor.
    "CREATE TABLE hpa_floor_raises(
        id INTEGER PRIMARY KEY,
        incident_id INTEGER NOT NULL REFERENCES incidents(id),
        step INTEGER NOT NULL,
        namespace TEXT NOT NULL,
        hpa TEXT NOT NULL,
        mode TEXT NOT NULL,
        raised_at INTEGER NOT NULL,
        observed_min INTEGER NOT NULL,
        raised_to INTEGER NOT NULL,
        left_min INTEGER NOT NULL,
        restore_to INTEGER NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER,
        finished_at INTEGER,
        detail TEXT,
        UNIQUE(incident_id, step)
     );
     CREATE UNIQUE INDEX hpa_floor_raises_holding ON hpa_floor_raises(namespace, hpa, mode) WHERE state = 'raised';
     CREATE INDEX hpa_floor_raises_state ON hpa_floor_raises(state);",
    // 5: the workload the API server found for an incident's target, kind and uid (a
    // Deployment-named target may be the Argo Rollout of its name), so that an incident
    // recovered after a restart is verified and described on what was acted on.
    "ALTER TABLE incidents ADD COLUMN found_kind TEXT;
     ALTER TABLE incidents ADD COLUMN found_uid TEXT;",
    // 6: from when an enforced action's verification counts evidence, once its rollout is
    // over (see `ActionRow::verify_from`), so that a restart neither asks again nor counts
    // records made while it rolled.
    "ALTER TABLE actions ADD COLUMN verify_from INTEGER;",
    // 7: batches by receive time, for the retention's deletes (see `crate::retention`).
    "CREATE INDEX batches_received ON batches(received_at);",
    // 8: how many of a batch's records (in id order) the engine has observed, written in the
    // transaction of each record's effect on the store (all of them once it is processed), so
    // that a batch interrupted part-way is observed again from there and no record counts
    // twice; and until when a closed incident absorbs its key's records (its hold), so that a
    // restart or a failed cycle reads the holds back (see `crate::engine`).
    "ALTER TABLE batches ADD COLUMN observed INTEGER NOT NULL DEFAULT 0;
     UPDATE batches SET observed = record_count WHERE processed = 1;
     ALTER TABLE incidents ADD COLUMN hold_until INTEGER;",
    // 9: SHA-256 of each batch's body as decoded (after `Content-Encoding`), so that a batch a
    // sender delivers again under a new signature (a retry of one whose answer it never saw)
    // is recognized and stored once (see `Committed::Redelivered`). Batches stored before
    // have none (NULL, which a unique index never matches): their bodies were not kept, so
    // no digest can be computed for them.
    "ALTER TABLE batches ADD COLUMN body_sha256 BLOB;
     CREATE UNIQUE INDEX batches_body_sha256 ON batches(body_sha256);",
    // 10: the engine's debounce evidence, kept with what the engine writes anyway (see
    // `crate::engine`'s `windows`): when it took each batch in hand (`observed_at`, on its
    // clock), which of the batch's records it counted into a debounce window or as a
    // recurrence against a verifying incident (`batch_evidence`, a row a [`Mark`], inserted
    // with the cursor: a batch's evidence grows by what is new, never rewritten whole), and
    // which record opened each incident (`opened_batch`, `opened_record`), so that a restart
    // rebuilds the windows rather than forgetting them. Batches and incidents from before have
    // none: a restart rebuilds nothing from them.
    "ALTER TABLE batches ADD COLUMN observed_at INTEGER;
     CREATE INDEX batches_observed_at ON batches(observed_at) WHERE observed_at IS NOT NULL;
     CREATE TABLE batch_evidence(
        batch_id INTEGER NOT NULL REFERENCES batches(id),
        record INTEGER NOT NULL,
        recurrence INTEGER NOT NULL,
        PRIMARY KEY (batch_id, record)
     ) WITHOUT ROWID;
     ALTER TABLE incidents ADD COLUMN opened_batch INTEGER;
     ALTER TABLE incidents ADD COLUMN opened_record INTEGER;",
];

/// Applies pending migrations; returns the schema version.
pub fn migrate(conn: &mut Connection) -> Result<usize, StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )?;
    let current: usize = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations(version, applied_at) VALUES (?1, ?2)",
            params![i + 1, jiff::Timestamp::now().as_millisecond()],
        )?;
        tx.commit()?;
    }
    Ok(MIGRATIONS.len())
}

fn open_connection(path: &Path, sync: Synchronous) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(
        None,
        "synchronous",
        match sync {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        },
    )?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // The shipped Deployment runs with a read-only root filesystem and only the database's
    // volume writable: SQLite's temporary files (large sorts, index builds in migrations)
    // would have no directory to go to, and such a query would fail.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(conn)
}

/// A batch to persist.
#[derive(Debug)]
pub struct NewBatch {
    /// Receive time (ms).
    pub received_at_ms: i64,
    /// Signing key.
    pub key_id: String,
    /// `sigv4` or `hmac`.
    pub scheme: &'static str,
    /// Signature hex (unique).
    pub signature: String,
    /// When the sender signed it, by its own clock (ms).
    pub signed_at_ms: Option<i64>,
    /// [`body_digest`] of the body as decoded (unique: a body stored already is a
    /// redelivery, [`Committed::Redelivered`]).
    pub body_sha256: [u8; 32],
    /// The records.
    pub records: Vec<AnomalyRecord>,
}

/// The digest a batch is known by across deliveries: SHA-256 of its body once its
/// `Content-Encoding` is undone. Fluent Bit and Vector sign every attempt anew (a retry gets a
/// new signature) but send the same records in the same bytes; the encoding is left out, as
/// gzip's bytes depend on the compressor, not on the records.
pub fn body_digest(plain: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(plain).into()
}

/// What [`Store::insert_batch`] did with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// Stored as batch `.0`, with its records.
    New(i64),
    /// Nothing stored: batch `.0`, stored before (and not pruned since), has the same body. A
    /// sender's retry of a batch whose answer it did not get, signed anew.
    Redelivered(i64),
}

type WriteJob = Box<dyn FnOnce(&mut Connection) + Send>;

type BatchReply = oneshot::Sender<Result<Committed, StoreError>>;

enum Command {
    Batch(NewBatch, BatchReply),
    Job(WriteJob),
}

/// Handle to the store: cheap to clone.
#[derive(Clone)]
pub struct Store {
    tx: mpsc::UnboundedSender<Command>,
    reader: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

const GROUP_COMMIT_MAX: usize = 128;

impl Store {
    /// Opens (creating and migrating) the database and starts the writer thread.
    pub fn open(path: &Path, sync: Synchronous) -> Result<Self, StoreError> {
        let mut writer = open_connection(path, sync)?;
        migrate(&mut writer)?;
        let reader = open_connection(path, sync)?;
        let (tx, mut rx) = mpsc::unbounded_channel::<Command>();
        std::thread::Builder::new()
            .name("edgeheal-store-writer".into())
            .spawn(move || {
                let mut pending: Option<Command> = None;
                loop {
                    let cmd = match pending.take() {
                        Some(c) => c,
                        None => match rx.blocking_recv() {
                            Some(c) => c,
                            None => break,
                        },
                    };
                    match cmd {
                        Command::Job(job) => job(&mut writer),
                        Command::Batch(b, reply) => {
                            let mut group = vec![(b, reply)];
                            while group.len() < GROUP_COMMIT_MAX {
                                match rx.try_recv() {
                                    Ok(Command::Batch(b, r)) => group.push((b, r)),
                                    Ok(other) => {
                                        pending = Some(other);
                                        break;
                                    }
                                    Err(_) => break,
                                }
                            }
                            commit_group(&mut writer, group);
                        }
                    }
                }
            })
            .map_err(|e| StoreError::Join(e.to_string()))?;
        Ok(Self {
            tx,
            reader: Arc::new(Mutex::new(reader)),
            path: path.to_path_buf(),
        })
    }

    /// Persists a batch, unless a batch of the same body is stored already
    /// ([`Committed::Redelivered`]); resolves only after its transaction is committed. A
    /// batch whose signature is stored already is [`StoreError::DuplicateBatch`].
    pub async fn insert_batch(&self, batch: NewBatch) -> Result<Committed, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Batch(batch, reply))
            .map_err(|_| StoreError::WriterGone)?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Runs `f` in one transaction on the writer thread.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job: WriteJob = Box::new(move |conn: &mut Connection| {
            let res = (|| {
                let tx = conn.transaction()?;
                let out = f(&tx)?;
                tx.commit()?;
                Ok(out)
            })();
            let _ = reply.send(res);
        });
        self.tx
            .send(Command::Job(job))
            .map_err(|_| StoreError::WriterGone)?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Runs `f` on the read connection, on the blocking pool.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            let conn = reader.lock().unwrap_or_else(|p| p.into_inner());
            f(&conn)
        })
        .await
        .map_err(|e| StoreError::Join(e.to_string()))?
    }

    /// Whether the writer thread is alive (readiness).
    pub fn is_writer_alive(&self) -> bool {
        !self.tx.is_closed()
    }
}

fn commit_group(conn: &mut Connection, group: Vec<(NewBatch, BatchReply)>) {
    // Fast path: everything in one transaction (one fsync). If any batch is rejected (a
    // duplicate signature), fall back to one transaction per batch so the others still land.
    // A redelivery is no rejection: it inserts nothing and names the batch stored before,
    // which may be one of this group (the same body twice in flight at once).
    let fast = (|| -> Result<Vec<Committed>, StoreError> {
        let tx = conn.transaction()?;
        let mut ids = Vec::with_capacity(group.len());
        for (b, _) in &group {
            ids.push(insert_one(&tx, b)?);
        }
        tx.commit()?;
        Ok(ids)
    })();
    match fast {
        Ok(ids) => {
            for ((_, reply), id) in group.into_iter().zip(ids) {
                let _ = reply.send(Ok(id));
            }
        }
        Err(_) => {
            for (b, reply) in group {
                let res = (|| {
                    let tx = conn.transaction()?;
                    let id = insert_one(&tx, &b)?;
                    tx.commit()?;
                    Ok(id)
                })();
                let _ = reply.send(res);
            }
        }
    }
}

fn insert_one(tx: &rusqlite::Transaction<'_>, b: &NewBatch) -> Result<Committed, StoreError> {
    // Nothing is inserted when the signature or the body is stored already; the signature
    // is asked first, as the same signed request is a replay whatever its body.
    let inserted = tx.execute(
        "INSERT INTO batches(received_at, key_id, scheme, signature, record_count, signed_at, body_sha256)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT DO NOTHING",
        params![
            b.received_at_ms,
            b.key_id,
            b.scheme,
            b.signature,
            b.records.len() as i64,
            b.signed_at_ms,
            &b.body_sha256[..]
        ],
    )?;
    if inserted == 0 {
        let mut same_signature = tx.prepare_cached("SELECT 1 FROM batches WHERE signature = ?1")?;
        if same_signature.exists([&b.signature])? {
            return Err(StoreError::DuplicateBatch);
        }
        let stored: i64 = tx
            .prepare_cached("SELECT id FROM batches WHERE body_sha256 = ?1")?
            .query_row([&b.body_sha256[..]], |r| r.get(0))?;
        return Ok(Committed::Redelivered(stored));
    }
    let batch_id = tx.last_insert_rowid();
    let mut stmt = tx.prepare_cached(
        "INSERT INTO records(batch_id, entity, pod, kind, incident, severity, anomaly, workload_kind, score, ts, body, family)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    for r in &b.records {
        let t = &r.tags;
        stmt.execute(params![
            batch_id,
            t.entity,
            t.pod,
            enum_str(&t.kind),
            t.incident.as_str(),
            enum_str(&t.severity),
            t.anomaly,
            t.workload_kind.map(|k| k.as_str()),
            t.score,
            t.ts.to_string(),
            r.json,
            t.family,
        ])?;
    }
    Ok(Committed::New(batch_id))
}

fn enum_str<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A stored record as the engine needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    /// `namespace/workload`.
    pub entity: Option<String>,
    /// Pod named by the record (untrusted).
    pub pod: Option<String>,
    /// Incident kind.
    pub incident: String,
    /// Anomalous?
    pub anomaly: bool,
    /// Workload kind.
    pub workload_kind: Option<String>,
    /// When the heal API received the record's batch (ms since the epoch).
    pub received_at_ms: i64,
    /// The signal family that drove the record's verdict (`traffic`,
    /// `latency`, ...), when the record names one.
    pub family: Option<String>,
    /// The record's own time, `edgeheal.ts` (ms since the epoch), by the sender's clock.
    pub ts_ms: Option<i64>,
    /// When the sender signed the record's batch, by its own clock (ms).
    pub signed_at_ms: Option<i64>,
}

/// A batch the engine has not processed yet.
#[derive(Debug, Clone, PartialEq)]
pub struct UnprocessedBatch {
    /// Its id.
    pub id: i64,
    /// How many of its records, from the first, the engine has observed already (their
    /// effects on the store are written): a batch interrupted part-way, by a failed cycle or
    /// a restart, is observed again from there ([`mark_observed`]).
    pub observed: usize,
    /// When the engine took it in hand (ms, on its clock), if it wrote a cursor for it.
    pub observed_at_ms: Option<i64>,
    /// The evidence among its first `observed` records ([`mark_observed`]).
    pub marks: Vec<Mark>,
    /// Its records, every one, in the order they came.
    pub records: Vec<StoredRecord>,
}

/// What the engine counted a record of a batch as, besides the count of an incident: debounce
/// evidence, kept in memory until there is enough of it, and stored only with the batch's
/// cursor (no write of its own) so that a restart can rebuild it ([`debounce_evidence`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    /// The record's place in its batch (0 for the first).
    pub record: usize,
    /// What it was counted as.
    pub kind: MarkKind,
}

/// The two kinds of debounce evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    /// An entry of its key's debounce window (no incident of its key active or holding it).
    Window,
    /// A recurrence counted against its key's verifying incident.
    Recurrence,
}

/// Records in the transaction `tx` that the first `observed` records of batch `batch_id` are
/// observed: called in the transaction that writes the effect of the last of them on the
/// store, so that the effect and the cursor are committed together or not at all. With it,
/// when the engine took the batch in hand (`observed_at_ms`) and the debounce evidence among
/// those records not stored yet (`marks`, appended to the batch's).
pub fn mark_observed(
    tx: &rusqlite::Transaction<'_>,
    batch_id: i64,
    observed: usize,
    observed_at_ms: i64,
    marks: &[Mark],
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE batches SET observed = ?1, observed_at = ?2 WHERE id = ?3",
        params![observed as i64, observed_at_ms, batch_id],
    )?;
    append_marks(tx, batch_id, marks)
}

/// Adds `marks` to the evidence stored with batch `batch_id`: a row each, so a cursor write
/// costs what is new, not the batch's evidence so far. A mark stored already is left as it is.
fn append_marks(
    tx: &rusqlite::Transaction<'_>,
    batch_id: i64,
    marks: &[Mark],
) -> Result<(), StoreError> {
    if marks.is_empty() {
        return Ok(());
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO batch_evidence(batch_id, record, recurrence) VALUES (?1, ?2, ?3)
         ON CONFLICT DO NOTHING",
    )?;
    for m in marks {
        insert.execute(params![
            batch_id,
            m.record as i64,
            m.kind == MarkKind::Recurrence
        ])?;
    }
    Ok(())
}

/// The evidence stored with batch `batch_id`, in the order of its records.
fn marks_of(conn: &Connection, batch_id: i64) -> Result<Vec<Mark>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT record, recurrence FROM batch_evidence WHERE batch_id = ?1 ORDER BY record",
    )?;
    let rows: Vec<(i64, bool)> = stmt
        .query_map([batch_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|(record, recurrence)| {
            Some(Mark {
                record: usize::try_from(record).ok()?,
                kind: if recurrence {
                    MarkKind::Recurrence
                } else {
                    MarkKind::Window
                },
            })
        })
        .collect())
}

/// Marks batch `batch_id` processed, every record observed: it leaves the engine's queue (and
/// may be deleted by the retention). `observed_at_ms` and `marks` as for [`mark_observed`],
/// for all its records.
pub fn mark_processed(
    tx: &rusqlite::Transaction<'_>,
    batch_id: i64,
    observed_at_ms: i64,
    marks: &[Mark],
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE batches SET processed = 1, observed = record_count, observed_at = ?1 WHERE id = ?2",
        params![observed_at_ms, batch_id],
    )?;
    append_marks(tx, batch_id, marks)
}

/// A record the engine counted as debounce evidence ([`Mark`]), as a restart reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The record's `namespace/workload`.
    pub entity: Option<String>,
    /// Its incident kind.
    pub incident: String,
    /// The pod it names, if any (a recurrence's is the pod the step it escalates to regards).
    pub pod: Option<String>,
    /// Its batch.
    pub batch: i64,
    /// Its place in its batch.
    pub record: usize,
    /// What it was counted as.
    pub kind: MarkKind,
    /// When its batch was received (ms).
    pub received_at_ms: i64,
    /// When the engine took its batch in hand (ms, on its clock): the time it was counted at.
    pub observed_at_ms: i64,
}

/// The debounce evidence of the batches the engine took in hand at `since_ms` or later, in the
/// order it was observed (batch, then place in the batch).
pub fn debounce_evidence(conn: &Connection, since_ms: i64) -> Result<Vec<Evidence>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, received_at, observed_at FROM batches b
         WHERE observed_at >= ?1 AND EXISTS (SELECT 1 FROM batch_evidence e WHERE e.batch_id = b.id)
         ORDER BY id",
    )?;
    let batches: Vec<(i64, i64, i64)> = stmt
        .query_map([since_ms], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut rec_stmt = conn.prepare_cached(
        "SELECT entity, incident, pod FROM records WHERE batch_id = ?1 ORDER BY id",
    )?;
    let mut out = Vec::new();
    for (batch, received_at_ms, observed_at_ms) in batches {
        let marks = marks_of(conn, batch)?;
        let Some(last) = marks.iter().map(|m| m.record).max() else {
            continue;
        };
        type Row = (Option<String>, String, Option<String>);
        let records: Vec<Row> = rec_stmt
            .query_map([batch], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .take(last + 1)
            .collect::<Result<_, _>>()?;
        for m in marks {
            let Some((entity, incident, pod)) = records.get(m.record) else {
                continue;
            };
            out.push(Evidence {
                entity: entity.clone(),
                incident: incident.clone(),
                pod: pod.clone(),
                batch,
                record: m.record,
                kind: m.kind,
                received_at_ms,
                observed_at_ms,
            });
        }
    }
    Ok(out)
}

/// When the engine took in hand (ms, on its clock) the earliest batch it has not processed yet
/// and wrote a cursor of ([`mark_observed`]): the batch a failed cycle or a restart
/// interrupted, whose records past its cursor count at that time. `None` if there is none.
pub fn earliest_in_hand(conn: &Connection) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT MIN(observed_at) FROM batches WHERE processed = 0")?
        .query_row([], |r| r.get(0))?)
}

/// Where the latest incident of `entity` and `kind` was opened: `None` if there is none,
/// `Some(None)` if it was opened before the heal API stored that (every stored [`Mark`] came
/// after it), else the batch and the place in it of the record that opened it.
pub fn latest_opening(
    conn: &Connection,
    entity: &str,
    kind: &str,
) -> Result<Option<Option<(i64, usize)>>, StoreError> {
    let found: Option<(Option<i64>, Option<i64>)> = conn
        .prepare_cached(
            "SELECT opened_batch, opened_record FROM incidents WHERE entity = ?1 AND kind = ?2
             ORDER BY id DESC LIMIT 1",
        )?
        .query_row([entity, kind], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(found.map(|(batch, record)| batch.zip(record.and_then(|r| usize::try_from(r).ok()))))
}

/// Unprocessed batches in arrival order, with their records.
pub fn unprocessed_batches(
    conn: &Connection,
    limit: usize,
) -> Result<Vec<UnprocessedBatch>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, observed, observed_at FROM batches WHERE processed = 0 ORDER BY id LIMIT ?1",
    )?;
    type Row = (i64, i64, Option<i64>);
    let batches: Vec<Row> = stmt
        .query_map([limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut rec_stmt = conn.prepare_cached(
        "SELECT r.entity, r.pod, r.incident, r.anomaly, r.workload_kind, b.received_at, r.family, r.ts, b.signed_at
         FROM records r JOIN batches b ON b.id = r.batch_id WHERE r.batch_id = ?1 ORDER BY r.id",
    )?;
    let mut out = Vec::with_capacity(batches.len());
    for (id, observed, observed_at_ms) in batches {
        let records = rec_stmt
            .query_map([id], |r| {
                Ok(StoredRecord {
                    entity: r.get(0)?,
                    pod: r.get(1)?,
                    incident: r.get(2)?,
                    anomaly: r.get(3)?,
                    workload_kind: r.get(4)?,
                    received_at_ms: r.get(5)?,
                    family: r.get(6)?,
                    ts_ms: r
                        .get::<_, String>(7)?
                        .parse::<jiff::Timestamp>()
                        .ok()
                        .map(|t| t.as_millisecond()),
                    signed_at_ms: r.get(8)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let observed = usize::try_from(observed).unwrap_or(0);
        out.push(UnprocessedBatch {
            id,
            observed,
            observed_at_ms,
            marks: marks_of(conn, id)?,
            records,
        });
    }
    Ok(out)
}

/// Signatures of batches received since `since_ms`, with their receive time (replay backstop).
pub fn recent_signatures(
    conn: &Connection,
    since_ms: i64,
) -> Result<Vec<(String, i64)>, StoreError> {
    let mut stmt =
        conn.prepare("SELECT signature, received_at FROM batches WHERE received_at >= ?1")?;
    let rows = stmt
        .query_map([since_ms], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// A stored batch as its sender was answered: what [`batch_signed`] and [`batch_with_body`]
/// find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredBatch {
    /// Its id.
    pub id: i64,
    /// Its records.
    pub records: u64,
    /// Those about no workload ([`crate::tags::Scope::workload`] is none).
    pub not_actionable: u64,
}

/// The batch committed with `signature` under `key_id`, if it is still stored: the same signed
/// request sent again has the same body (the signature covers it), so it names this batch.
pub fn batch_signed(
    conn: &Connection,
    key_id: &str,
    signature: &str,
) -> Result<Option<StoredBatch>, StoreError> {
    let found = conn
        .prepare_cached(
            "SELECT id, record_count FROM batches WHERE signature = ?1 AND key_id = ?2",
        )?
        .query_row(params![signature, key_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    found.map(|(id, n)| stored_batch(conn, id, n)).transpose()
}

/// The batch stored with this body ([`body_digest`]), if it is still stored.
pub fn batch_with_body(
    conn: &Connection,
    body_sha256: &[u8; 32],
) -> Result<Option<StoredBatch>, StoreError> {
    let found = conn
        .prepare_cached("SELECT id, record_count FROM batches WHERE body_sha256 = ?1")?
        .query_row([&body_sha256[..]], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    found.map(|(id, n)| stored_batch(conn, id, n)).transpose()
}

fn stored_batch(conn: &Connection, id: i64, records: i64) -> Result<StoredBatch, StoreError> {
    let mut not_actionable = 0u64;
    let mut stmt =
        conn.prepare_cached("SELECT entity, workload_kind FROM records WHERE batch_id = ?1")?;
    let mut rows = stmt.query([id])?;
    while let Some(row) = rows.next()? {
        let entity: Option<String> = row.get(0)?;
        let kind: Option<String> = row.get(1)?;
        if crate::tags::Scope::of_record(entity.as_deref(), kind.as_deref())
            .workload()
            .is_none()
        {
            not_actionable += 1;
        }
    }
    Ok(StoredBatch {
        id,
        records: u64::try_from(records).unwrap_or(0),
        not_actionable,
    })
}

/// Counts stored batches and records.
pub fn counts(conn: &Connection) -> Result<(i64, i64), StoreError> {
    Ok(conn.query_row(
        "SELECT (SELECT COUNT(*) FROM batches), (SELECT COUNT(*) FROM records)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

/// An incident as listed by the API.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IncidentRow {
    /// Id.
    pub id: i64,
    /// `namespace/workload`.
    pub entity: String,
    /// Namespace.
    pub namespace: String,
    /// Workload.
    pub workload: String,
    /// Workload kind.
    pub workload_kind: String,
    /// Incident kind.
    pub kind: String,
    /// open | acting | verifying | resolved | escalated | failed | superseded.
    pub state: String,
    /// Index of the current policy action.
    pub step: i64,
    /// The pod its current step regards: named by the record that opened it or, once
    /// recurrences escalated it to a later step, the newest one they named (a recurrence that
    /// names none leaves it as it was).
    pub pod: Option<String>,
    /// Anomalous records attached.
    pub record_count: i64,
    /// Opened (RFC 3339).
    pub opened_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
    /// Closed (RFC 3339).
    pub closed_at: Option<String>,
    /// Last reason.
    pub reason: Option<String>,
    /// The kind the API server found the workload as when it was acted on, if that differs
    /// from `workload_kind` (a Deployment-named target that is an Argo Rollout).
    pub found_kind: Option<String>,
    /// Closed: until when (RFC 3339) the anomalies of its workload and kind are counted onto
    /// it instead of opening a new incident (the cooldown after it escalated or failed; a
    /// resolved traffic surge's, renewed by each rate record it absorbs). `null` when it
    /// holds none, and for incidents closed before the heal API stored holds.
    pub holds_until: Option<String>,
}

/// A decision in an incident's history.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DecisionRow {
    /// When (RFC 3339).
    pub at: String,
    /// Policy step.
    pub step: i64,
    /// Action considered.
    pub action: Option<String>,
    /// act | refused | skipped | shadow | escalated | resolved | failed, and for a raised HPA
    /// minimum restored | restore_dry_run | restore_skipped | restore_failed |
    /// restore_superseded (see [`crate::hpa_floor`]).
    pub outcome: String,
    /// Why.
    pub reason: String,
}

/// An action in an incident's history.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ActionRow {
    /// Policy step.
    pub step: i64,
    /// Action.
    pub action: String,
    /// Target `namespace/kind/name`.
    pub target: String,
    /// Mode it ran in.
    pub mode: String,
    /// Started (RFC 3339).
    pub started_at: String,
    /// Finished (RFC 3339).
    pub finished_at: Option<String>,
    /// From when verification counts evidence, set once the workload's rollout of an enforced
    /// action is over (RFC 3339): when it finished, if the workload had it rolled out at the
    /// first look, or else when the workload was seen to have rolled it out (or had rolled
    /// for a whole verify window). Records made before it are no recurrence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_from: Option<String>,
    /// pending | ok | dry_run | shadow | failed | interrupted.
    pub result: String,
    /// Details.
    pub detail: Option<String>,
}

/// Filters for listing incidents.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    /// Exact state.
    pub state: Option<String>,
    /// Exact namespace.
    pub namespace: Option<String>,
    /// Exact entity.
    pub entity: Option<String>,
    /// Exact kind.
    pub kind: Option<String>,
    /// Only ids below this (pagination cursor, newest first).
    pub before_id: Option<i64>,
    /// Page size.
    pub limit: usize,
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

fn incident_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<IncidentRow> {
    let workload_kind: String = r.get(4)?;
    Ok(IncidentRow {
        id: r.get(0)?,
        entity: r.get(1)?,
        namespace: r.get(2)?,
        workload: r.get(3)?,
        kind: r.get(5)?,
        state: r.get(6)?,
        step: r.get(7)?,
        pod: r.get(8)?,
        record_count: r.get(9)?,
        opened_at: rfc3339(r.get(10)?),
        updated_at: rfc3339(r.get(11)?),
        closed_at: r.get::<_, Option<i64>>(12)?.map(rfc3339),
        reason: r.get(13)?,
        found_kind: r
            .get::<_, Option<String>>(14)?
            .filter(|k| *k != workload_kind),
        holds_until: r.get::<_, Option<i64>>(15)?.map(rfc3339),
        workload_kind,
    })
}

const INCIDENT_COLS: &str =
    "id, entity, namespace, workload, workload_kind, kind, state, step, pod, record_count, opened_at, updated_at, closed_at, reason, found_kind, hold_until";

/// Lists incidents, newest first.
pub fn list_incidents(
    conn: &Connection,
    f: &IncidentFilter,
) -> Result<Vec<IncidentRow>, StoreError> {
    let sql = format!(
        "SELECT {INCIDENT_COLS} FROM incidents
         WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR namespace = ?2) AND (?3 IS NULL OR entity = ?3)
           AND (?4 IS NULL OR kind = ?4) AND (?5 IS NULL OR id < ?5)
         ORDER BY id DESC LIMIT ?6"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(
            params![
                f.state,
                f.namespace,
                f.entity,
                f.kind,
                f.before_id,
                f.limit as i64
            ],
            incident_from_row,
        )?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// An incident with its decisions and actions.
pub type IncidentHistory = (IncidentRow, Vec<DecisionRow>, Vec<ActionRow>);

/// One incident with its decisions and actions.
pub fn get_incident(conn: &Connection, id: i64) -> Result<Option<IncidentHistory>, StoreError> {
    let sql = format!("SELECT {INCIDENT_COLS} FROM incidents WHERE id = ?1");
    let Some(inc) = conn.query_row(&sql, [id], incident_from_row).optional()? else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached("SELECT at, step, action, outcome, reason FROM decisions WHERE incident_id = ?1 ORDER BY id")?;
    let decisions = stmt
        .query_map([id], |r| {
            Ok(DecisionRow {
                at: rfc3339(r.get(0)?),
                step: r.get(1)?,
                action: r.get(2)?,
                outcome: r.get(3)?,
                reason: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut stmt = conn.prepare_cached(
        "SELECT step, action, target, mode, started_at, finished_at, result, detail, verify_from FROM actions WHERE incident_id = ?1 ORDER BY id",
    )?;
    let actions = stmt
        .query_map([id], |r| {
            Ok(ActionRow {
                step: r.get(0)?,
                action: r.get(1)?,
                target: r.get(2)?,
                mode: r.get(3)?,
                started_at: rfc3339(r.get(4)?),
                finished_at: r.get::<_, Option<i64>>(5)?.map(rfc3339),
                result: r.get(6)?,
                detail: r.get(7)?,
                verify_from: r.get::<_, Option<i64>>(8)?.map(rfc3339),
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Some((inc, decisions, actions)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode, DecodeLimits, Format};

    /// Temporary tables and sorts stay in memory: nothing needs a writable temp directory.
    #[test]
    fn temporary_storage_is_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_connection(&dir.path().join("h.db"), Synchronous::Full).unwrap();
        let mode: i64 = conn
            .pragma_query_value(None, "temp_store", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, 2, "MEMORY");
    }

    fn records(n: usize) -> Vec<AnomalyRecord> {
        let one = serde_json::json!({"edgeheal": {
            "kind": "metric", "entity": "shop/cart", "pod": "cart-1", "ts": "2026-11-21T10:00:00Z",
            "score": 0.9, "anomaly": true, "severity": "warning", "incident": "cpu_saturation",
            "action": "scale_up", "why": [], "model": "m@1"}});
        let body = serde_json::to_vec(&vec![one; n]).unwrap();
        decode(
            Format::Json,
            &body,
            DecodeLimits {
                max_decompressed_bytes: 1 << 20,
                max_records: 100,
                max_record_values: 1000,
            },
        )
        .unwrap()
    }

    /// A batch signed `sig` whose body is told apart by `body` (the records themselves are
    /// the same in every batch).
    fn batch_of(sig: &str, body: &str, n: usize) -> NewBatch {
        NewBatch {
            received_at_ms: 1_000,
            key_id: "k".into(),
            scheme: "hmac",
            signature: sig.into(),
            signed_at_ms: Some(1_000),
            body_sha256: body_digest(body.as_bytes()),
            records: records(n),
        }
    }

    /// A batch signed `sig`, of a body no other signature sends.
    fn batch(sig: &str, n: usize) -> NewBatch {
        batch_of(sig, sig, n)
    }

    #[tokio::test]
    async fn migrations_are_idempotent_and_batches_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        {
            let store = Store::open(&path, Synchronous::Full).unwrap();
            let Committed::New(id) = store.insert_batch(batch("aa", 3)).await.unwrap() else {
                panic!("a new batch");
            };
            assert!(matches!(
                store.insert_batch(batch("aa", 1)).await,
                Err(StoreError::DuplicateBatch)
            ));
            let pending = store.read(|c| unprocessed_batches(c, 10)).await.unwrap();
            assert_eq!(pending.len(), 1);
            assert_eq!((pending[0].id, pending[0].observed), (id, 0));
            assert_eq!(pending[0].records.len(), 3);
            assert_eq!(pending[0].records[0].entity.as_deref(), Some("shop/cart"));
            assert_eq!(
                (pending[0].observed_at_ms, &pending[0].marks[..]),
                (None, &[][..])
            );
            // The cursor moves with the records' effects, the evidence among them with it (what
            // is new appended); processed, all are observed.
            let window = |record| Mark {
                record,
                kind: MarkKind::Window,
            };
            let recurrence = Mark {
                record: 1,
                kind: MarkKind::Recurrence,
            };
            store
                .write(move |tx| mark_observed(tx, id, 2, 5_000, &[window(0), recurrence]))
                .await
                .unwrap();
            let pending = store.read(|c| unprocessed_batches(c, 10)).await.unwrap();
            assert_eq!((pending[0].observed, pending[0].records.len()), (2, 3));
            assert_eq!(pending[0].observed_at_ms, Some(5_000));
            assert_eq!(pending[0].marks, [window(0), recurrence]);
            // A mark stored already is not stored twice.
            store
                .write(move |tx| mark_observed(tx, id, 2, 5_000, &[window(0)]))
                .await
                .unwrap();
            let pending = store.read(|c| unprocessed_batches(c, 10)).await.unwrap();
            assert_eq!(pending[0].marks, [window(0), recurrence]);
            store
                .write(move |tx| mark_processed(tx, id, 5_000, &[window(2)]))
                .await
                .unwrap();
            assert!(store
                .read(|c| unprocessed_batches(c, 10))
                .await
                .unwrap()
                .is_empty());
            // Read back as evidence from when its batch was taken in hand on, with its records'
            // keys and its batch's receive time.
            let evidence = store.read(|c| debounce_evidence(c, 5_000)).await.unwrap();
            let read: Vec<_> = evidence
                .iter()
                .map(|e| {
                    (
                        e.batch,
                        e.record,
                        e.kind,
                        e.received_at_ms,
                        e.observed_at_ms,
                    )
                })
                .collect();
            assert_eq!(
                read,
                [
                    (id, 0, MarkKind::Window, 1_000, 5_000),
                    (id, 1, MarkKind::Recurrence, 1_000, 5_000),
                    (id, 2, MarkKind::Window, 1_000, 5_000),
                ]
            );
            assert!(evidence
                .iter()
                .all(|e| e.entity.as_deref() == Some("shop/cart")
                    && e.incident == "cpu_saturation"
                    && e.pod.as_deref() == Some("cart-1")));
            assert!(store
                .read(|c| debounce_evidence(c, 5_001))
                .await
                .unwrap()
                .is_empty());
        }
        // Reopen: migrations do not re-run, data is there.
        let mut conn = Connection::open(&path).unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), MIGRATIONS.len());
        let versions: i64 = conn
            .query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(versions as usize, MIGRATIONS.len());
        assert_eq!(counts(&conn).unwrap(), (1, 3));
        let observed: i64 = conn
            .query_row("SELECT observed FROM batches", [], |r| r.get(0))
            .unwrap();
        assert_eq!(observed, 3);
    }

    /// A database from before the cursor: its processed batches are all observed, its queue
    /// none yet.
    #[test]
    fn the_cursor_migration_counts_processed_batches_as_observed() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("h.db")).unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_migrations(version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
        )
        .unwrap();
        // Every migration before the one that adds the cursor, wherever it is numbered.
        let cursor = MIGRATIONS
            .iter()
            .position(|m| m.contains("ADD COLUMN observed"))
            .unwrap();
        for (i, sql) in MIGRATIONS[..cursor].iter().enumerate() {
            conn.execute_batch(sql).unwrap();
            conn.execute(
                "INSERT INTO schema_migrations(version, applied_at) VALUES (?1, 0)",
                [i + 1],
            )
            .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO batches(received_at, key_id, scheme, signature, record_count, processed)
             VALUES (0, 'k', 'hmac', 'done', 4, 1), (0, 'k', 'hmac', 'queued', 5, 0);",
        )
        .unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), MIGRATIONS.len());
        let mut stmt = conn
            .prepare("SELECT signature, observed FROM batches ORDER BY id")
            .unwrap();
        let rows: Vec<(String, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows, [("done".into(), 4), ("queued".into(), 0)]);
    }

    #[tokio::test]
    async fn group_commit_isolates_a_duplicate() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("h.db"), Synchronous::Normal).unwrap();
        store.insert_batch(batch("dup", 1)).await.unwrap();
        let futs: Vec<_> = ["a", "dup", "b", "c"]
            .iter()
            .map(|s| store.insert_batch(batch(s, 2)))
            .collect();
        let res = futures::future::join_all(futs).await;
        assert!(res[0].is_ok() && res[2].is_ok() && res[3].is_ok());
        assert!(matches!(res[1], Err(StoreError::DuplicateBatch)));
        let (b, r) = store.read(counts).await.unwrap();
        assert_eq!((b, r), (4, 7));
    }

    /// A body stored already, under a new signature (a sender's retry, signed anew), stores
    /// nothing and names the batch that holds it, also when both are in flight at once; the
    /// same signature is still a duplicate, whatever its body.
    #[tokio::test]
    async fn a_redelivered_body_is_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("h.db"), Synchronous::Normal).unwrap();
        let Committed::New(first) = store.insert_batch(batch_of("s1", "body", 2)).await.unwrap()
        else {
            panic!("a new batch");
        };
        assert_eq!(
            store.insert_batch(batch_of("s2", "body", 2)).await.unwrap(),
            Committed::Redelivered(first)
        );
        assert!(matches!(
            store.insert_batch(batch_of("s1", "other", 2)).await,
            Err(StoreError::DuplicateBatch)
        ));
        // Two deliveries of one new body in flight at once (one group commit, or one after the
        // other, as the writer finds them): the first is stored.
        let res = futures::future::join_all(
            [("s3", "again"), ("s4", "again"), ("s5", "new")]
                .map(|(sig, body)| store.insert_batch(batch_of(sig, body, 1))),
        )
        .await;
        let Ok(Committed::New(again)) = res[0] else {
            panic!("{res:?}");
        };
        assert_eq!(res[1].as_ref().unwrap(), &Committed::Redelivered(again));
        assert!(matches!(res[2], Ok(Committed::New(_))));
        assert_eq!(store.read(counts).await.unwrap(), (3, 4));
    }

    /// Batches stored before the body digest have none, and neither clash with each other nor
    /// with a new batch: migrating needs no backfill.
    #[test]
    fn batches_from_before_the_digest_migrate_without_one() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_migrations(version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
        )
        .unwrap();
        let digest = MIGRATIONS
            .iter()
            .position(|sql| sql.contains("body_sha256"))
            .unwrap();
        for (i, sql) in MIGRATIONS[..digest].iter().enumerate() {
            conn.execute_batch(sql).unwrap();
            conn.execute("INSERT INTO schema_migrations VALUES (?1, 0)", [i + 1])
                .unwrap();
        }
        for sig in ["old-1", "old-2"] {
            conn.execute(
                "INSERT INTO batches(received_at, key_id, scheme, signature, record_count) VALUES (1, 'k', 'hmac', ?1, 0)",
                [sig],
            )
            .unwrap();
        }
        assert_eq!(migrate(&mut conn).unwrap(), MIGRATIONS.len());
        let undigested: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM batches WHERE body_sha256 IS NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(undigested, 2);
        let tx = conn.transaction().unwrap();
        assert!(matches!(
            insert_one(&tx, &batch("new", 1)),
            Ok(Committed::New(_))
        ));
    }
}
