//! The audit log's tables: appending to a chain (inside a change's own
//! transaction, or in batches for events that change nothing), reading
//! chains back for verification and export, checkpoints, signing keys and
//! queries.

use super::encryption::Keyring;
use super::encryption::tables::{AUDIT_EVENTS, AUDIT_KEYS};
use super::{Store, StoreError};
use crate::audit::chain::{Digest, GENESIS, digest_of, link};
use crate::audit::checkpoint::Checkpoint;
use crate::audit::verify::{Columns, Row};
use crate::audit::{Event, Pending, context};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row as _, Sqlite, SqliteConnection, Transaction};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// The audit log's state shared by every handle of a store: whether the
/// last write failed, how many events no checkpoint covers yet, and the
/// feed of committed records the sinks read.
#[derive(Debug)]
pub struct AuditState {
    degraded: AtomicBool,
    unsigned: AtomicU64,
    committed: broadcast::Sender<Arc<str>>,
    known: Known,
}

impl Default for AuditState {
    fn default() -> Self {
        Self {
            degraded: AtomicBool::new(false),
            unsigned: AtomicU64::new(0),
            committed: broadcast::channel(16_384).0,
            known: Known::default(),
        }
    }
}

impl AuditState {
    /// Whether the last attempt to write the audit log failed.
    pub fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    /// Events appended since the last checkpoint.
    pub fn unsigned(&self) -> u64 {
        self.unsigned.load(Ordering::Relaxed)
    }

    /// Every committed record's JSON, as it commits.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.committed.subscribe()
    }

    fn failed(&self, error: sqlx::Error) -> StoreError {
        if !self.degraded.swap(true, Ordering::Relaxed) {
            tracing::error!(%error, "the audit log cannot be written; administrative changes are refused until it can");
        }
        StoreError::AuditUnavailable(error)
    }

    fn committed(&self, appended: Appended) {
        self.known.remember(appended.heads);
        let records = appended.records;
        if self.degraded.swap(false, Ordering::Relaxed) {
            tracing::info!("the audit log is writable again");
        }
        self.unsigned
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        for record in records {
            // No subscriber (no sink) is not an error.
            let _ = self.committed.send(record.into());
        }
    }

    /// Marks `events` as covered by a checkpoint.
    pub fn signed(&self, events: u64) {
        self.unsigned.fetch_sub(
            events.min(self.unsigned.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
    }
}

/// How long a head this process committed is used without reading it
/// back: far shorter than any retention, so a head it names can never
/// have been pruned.
const KNOWN_FOR: Duration = Duration::from_secs(30);

/// The chain heads this process last committed. A write takes a recent
/// one instead of reading it from the database (one round trip less per
/// change); if another writer (a second gateway, `portcullis admin`)
/// moved the chain meanwhile, the insert meets an existing sequence
/// number, and the write reads the heads from the database and tries once
/// more. Only committed heads are remembered.
#[derive(Debug, Default)]
struct Known(Mutex<HashMap<String, (i64, Digest, Instant)>>);

impl Known {
    fn get(&self, chain: &str) -> Option<(i64, Digest)> {
        let known = self.0.lock().ok()?;
        let (seq, hash, at) = known.get(chain)?;
        (at.elapsed() < KNOWN_FOR).then_some((*seq, *hash))
    }

    fn remember(&self, heads: HashMap<String, (i64, Digest)>) {
        if let Ok(mut known) = self.0.lock() {
            let now = Instant::now();
            for (chain, (seq, hash)) in heads {
                known.insert(chain, (seq, hash, now));
            }
        }
    }

    fn forget(&self) {
        if let Ok(mut known) = self.0.lock() {
            known.clear();
        }
    }
}

/// The heads of the chains a transaction appends to, each read once:
/// from what this process knows when `known` allows, else the database.
#[derive(Default)]
struct Heads(HashMap<String, (i64, Digest)>);

impl Heads {
    async fn of(
        &mut self,
        conn: &mut SqliteConnection,
        chain: &str,
        known: Option<&Known>,
    ) -> Result<(i64, Digest), sqlx::Error> {
        if let Some(head) = self.0.get(chain) {
            return Ok(*head);
        }
        let head = match known.and_then(|k| k.get(chain)) {
            Some(head) => head,
            None => stored_head(conn, chain).await?,
        };
        self.0.insert(chain.to_string(), head);
        Ok(head)
    }
}

/// The last event of `chain` (or, if retention removed them all, the last
/// checkpoint's), or the genesis.
async fn stored_head(
    conn: &mut SqliteConnection,
    chain: &str,
) -> Result<(i64, Digest), sqlx::Error> {
    let row = sqlx::query(
        "SELECT seq, hash FROM (
             SELECT seq, hash FROM audit_events WHERE chain = ?1
             UNION ALL SELECT seq, hash FROM audit_checkpoints WHERE chain = ?1
         ) ORDER BY seq DESC LIMIT 1",
    )
    .bind(chain)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        None => Ok((0, GENESIS)),
        Some(row) => {
            let hash: Vec<u8> = row.try_get("hash")?;
            let hash = digest_of(&hash)
                .ok_or_else(|| sqlx::Error::Decode("an audit hash is not 32 bytes".into()))?;
            Ok((row.try_get("seq")?, hash))
        }
    }
}

/// Rows per `INSERT` statement: each statement is a round trip to the
/// database thread, so a batch is written in few of them (11 values a
/// row stays far below SQLite's limit on bound parameters).
const ROWS_PER_INSERT: usize = 1024;

/// A batch appended but not yet committed: the records' JSON, in order,
/// and the chain heads it leaves.
struct Appended {
    records: Vec<String>,
    heads: HashMap<String, (i64, Digest)>,
}

/// Appends `batch` to its chains, starting from the heads this process
/// knows; if one was stale, again from the heads in the database. Known
/// heads are used only for a batch written by one statement, so a stale
/// one fails that statement whole and leaves nothing to undo.
async fn append(
    conn: &mut SqliteConnection,
    known: &Known,
    keyring: &Keyring,
    batch: &[Pending],
) -> Result<Appended, sqlx::Error> {
    if batch.len() > ROWS_PER_INSERT {
        return append_from(conn, None, keyring, batch).await;
    }
    match append_from(conn, Some(known), keyring, batch).await {
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
            known.forget();
            append_from(conn, None, keyring, batch).await
        }
        other => other,
    }
}

/// The stored form of an event's record: sealed, bound to its chain (the
/// chain's hashes bind it to its place).
fn seal_record(keyring: &Keyring, pending: &Pending, record: &str) -> Result<String, sqlx::Error> {
    let aad = AUDIT_EVENTS
        .record(&[&pending.chain], pending.org.as_deref())
        .aad("record");
    keyring
        .seal(&aad, record.as_bytes())
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))
}

async fn append_from(
    conn: &mut SqliteConnection,
    known: Option<&Known>,
    keyring: &Keyring,
    batch: &[Pending],
) -> Result<Appended, sqlx::Error> {
    let mut heads = Heads::default();
    let mut rows = Vec::with_capacity(batch.len());
    for pending in batch {
        let (seq, prev) = heads.of(conn, &pending.chain, known).await?;
        let seq = seq + 1;
        let record = pending.to_record(seq);
        let hash = link(&prev, &record);
        let sealed = seal_record(keyring, pending, &record)?;
        heads.0.insert(pending.chain.clone(), (seq, hash));
        rows.push((pending, seq, record, sealed, prev, hash));
    }
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO audit_events (chain, seq, at, org_id, actor, action, resource, outcome, record, prev_hash, hash) ",
        );
        insert.push_values(chunk, |mut row, (pending, seq, _, sealed, prev, hash)| {
            row.push_bind(pending.chain.as_str())
                .push_bind(*seq)
                .push_bind(pending.at)
                .push_bind(pending.org.as_deref())
                .push_bind(pending.actor.as_str())
                .push_bind(pending.action.as_str())
                .push_bind(pending.resource.as_deref())
                .push_bind(pending.outcome)
                .push_bind(sealed.as_str())
                .push_bind(prev.as_slice())
                .push_bind(hash.as_slice());
        });
        insert.build().execute(&mut *conn).await?;
    }
    Ok(Appended {
        records: rows
            .into_iter()
            .map(|(_, _, record, _, _, _)| record)
            .collect(),
        heads: heads.0,
    })
}

/// What an audit query selects (within one chain), newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// The chain (organization id, or `platform`).
    pub chain: String,
    /// At or after (Unix milliseconds).
    pub since: Option<i64>,
    /// Before (Unix milliseconds).
    pub until: Option<i64>,
    /// Exactly this actor.
    pub actor: Option<String>,
    /// Exactly this action.
    pub action: Option<String>,
    /// This resource or anything under it.
    pub resource: Option<String>,
    /// Exactly this outcome.
    pub outcome: Option<String>,
    /// Only events before this sequence number (the cursor).
    pub before: Option<i64>,
    /// At most this many.
    pub limit: i64,
}

/// A signing key as stored.
#[derive(Debug, Clone)]
pub struct AuditKeyRecord {
    /// Key id.
    pub id: String,
    /// Raw Ed25519 public key.
    pub public_key: Vec<u8>,
    /// Made (Unix seconds).
    pub created_at: i64,
    /// Stopped signing (Unix seconds).
    pub retired_at: Option<i64>,
}

fn row_of(row: &SqliteRow) -> Result<Row, sqlx::Error> {
    let digest = |name: &str| -> Result<Digest, sqlx::Error> {
        let bytes: Vec<u8> = row.try_get(name)?;
        // A damaged hash is reported by verification, not as a read error.
        Ok(digest_of(&bytes).unwrap_or([0xff; 32]))
    };
    Ok(Row {
        seq: row.try_get("seq")?,
        record: row.try_get("record")?,
        prev_hash: digest("prev_hash")?,
        hash: digest("hash")?,
        columns: Some(Columns {
            at: row.try_get("at")?,
            org: row.try_get("org_id")?,
            actor: row.try_get("actor")?,
            action: row.try_get("action")?,
            resource: row.try_get("resource")?,
            outcome: row.try_get("outcome")?,
        }),
    })
}

fn checkpoint_of(row: &SqliteRow) -> Result<Checkpoint, sqlx::Error> {
    let hash: Vec<u8> = row.try_get("hash")?;
    Ok(Checkpoint {
        chain: row.try_get("chain")?,
        seq: row.try_get("seq")?,
        hash: digest_of(&hash).unwrap_or([0xff; 32]),
        at: row.try_get("at")?,
        key_id: row.try_get("key_id")?,
        signature: row.try_get("signature")?,
    })
}

impl Store {
    /// The audit log's shared state.
    pub fn audit(&self) -> &AuditState {
        &self.audit
    }

    /// Begins a change that will be recorded: a write transaction taken
    /// at once (`BEGIN IMMEDIATE`), so it reads the chain heads no other
    /// writer can move before it commits.
    pub(super) async fn change(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Records `changes` in `tx` and commits both together: the change is
    /// not made unless its events are durable, and no event exists for a
    /// change that was not made.
    pub(super) async fn commit_recorded(
        &self,
        mut tx: Transaction<'static, Sqlite>,
        changes: impl IntoIterator<Item = Event>,
    ) -> Result<(), StoreError> {
        let context = context::current();
        let batch: Vec<Pending> = changes
            .into_iter()
            .map(|event| Pending::new(&event, context.clone()))
            .collect();
        let appended = append(&mut tx, &self.audit.known, &self.keyring, &batch)
            .await
            .map_err(|e| self.audit.failed(e))?;
        tx.commit().await?;
        self.audit.committed(appended);
        Ok(())
    }

    /// Appends `batch` in one transaction (group commit).
    pub async fn append_audit(&self, batch: &[Pending]) -> Result<(), StoreError> {
        let result: Result<Appended, sqlx::Error> = async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let appended = append(&mut tx, &self.audit.known, &self.keyring, batch).await?;
            tx.commit().await?;
            Ok(appended)
        }
        .await;
        match result {
            Ok(appended) => {
                self.audit.committed(appended);
                Ok(())
            }
            Err(error) => Err(self.audit.failed(error)),
        }
    }

    /// Whether an event could be appended now (tried, then rolled back).
    pub async fn probe_audit(&self) -> bool {
        let probe = Pending::new(
            &Event::ConfigReloaded { routes: 0 },
            context::Context::system(),
        );
        let result: Result<(), sqlx::Error> = async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            append_from(&mut tx, None, &self.keyring, std::slice::from_ref(&probe)).await?;
            tx.rollback().await
        }
        .await;
        match result {
            Ok(()) => {
                self.audit.committed(Appended {
                    records: Vec::new(),
                    heads: HashMap::new(),
                });
                true
            }
            Err(error) => {
                self.audit.failed(error);
                false
            }
        }
    }

    /// Every chain with events or checkpoints.
    pub async fn audit_chains(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT chain FROM audit_events UNION SELECT chain FROM audit_checkpoints ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// The events of `chain` after `after`, up to `to` (inclusive), in
    /// stored order.
    pub async fn audit_rows(
        &self,
        chain: &str,
        after: i64,
        to: i64,
    ) -> Result<Vec<Row>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, org_id, actor, action, resource, outcome, record, prev_hash, hash
             FROM audit_events WHERE chain = ? AND seq > ? AND seq <= ? ORDER BY seq",
        )
        .bind(chain)
        .bind(after)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        let mut opened = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut stored = row_of(row)?;
            stored.record = self.open_audit_record(chain, row).await?;
            opened.push(stored);
        }
        Ok(opened)
    }

    /// The checkpoints of `chain`, oldest first.
    pub async fn audit_checkpoints(&self, chain: &str) -> Result<Vec<Checkpoint>, StoreError> {
        let rows = sqlx::query(
            "SELECT chain, seq, hash, at, key_id, signature FROM audit_checkpoints WHERE chain = ? ORDER BY seq",
        )
        .bind(chain)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(checkpoint_of).collect::<Result<_, _>>()?)
    }

    /// Each chain whose head no checkpoint covers yet: (chain, seq, hash).
    pub async fn unsigned_heads(&self) -> Result<Vec<(String, i64, Digest)>, StoreError> {
        let rows = sqlx::query(
            "SELECT e.chain, e.seq, e.hash FROM audit_events e
             JOIN (SELECT chain, MAX(seq) AS seq FROM audit_events GROUP BY chain) h
               ON h.chain = e.chain AND h.seq = e.seq
             WHERE e.seq > COALESCE((SELECT MAX(c.seq) FROM audit_checkpoints c WHERE c.chain = e.chain), 0)",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let hash: Vec<u8> = row.try_get("hash")?;
                Ok((
                    row.try_get("chain")?,
                    row.try_get("seq")?,
                    digest_of(&hash).unwrap_or([0xff; 32]),
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Stores signed checkpoints.
    pub async fn insert_checkpoints(&self, checkpoints: &[Checkpoint]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for c in checkpoints {
            sqlx::query(
                "INSERT OR IGNORE INTO audit_checkpoints (chain, seq, hash, at, key_id, signature)
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(&c.chain)
            .bind(c.seq)
            .bind(c.hash.as_slice())
            .bind(c.at)
            .bind(&c.key_id)
            .bind(&c.signature)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Events matching `filter`, newest first: (seq, record JSON).
    pub async fn query_audit(
        &self,
        filter: &AuditFilter,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, org_id, record FROM audit_events
             WHERE chain = ?1
               AND (?2 IS NULL OR at >= ?2)
               AND (?3 IS NULL OR at < ?3)
               AND (?4 IS NULL OR actor = ?4)
               AND (?5 IS NULL OR action = ?5)
               AND (?6 IS NULL OR resource = ?6 OR substr(resource, 1, length(?6) + 1) = ?6 || '/')
               AND (?7 IS NULL OR outcome = ?7)
               AND (?8 IS NULL OR seq < ?8)
             ORDER BY seq DESC LIMIT ?9",
        )
        .bind(&filter.chain)
        .bind(filter.since)
        .bind(filter.until)
        .bind(&filter.actor)
        .bind(&filter.action)
        .bind(&filter.resource)
        .bind(&filter.outcome)
        .bind(filter.before)
        .bind(filter.limit)
        .fetch_all(&self.pool)
        .await?;
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            let record = self.open_audit_record(&filter.chain, row).await?;
            events.push((row.try_get("seq")?, record));
        }
        Ok(events)
    }

    /// An event's record, opened. One that does not authenticate (changed
    /// or moved in the file) reads as empty, which verification reports
    /// as a changed event at its place; a data key that cannot be had is
    /// an error.
    async fn open_audit_record(&self, chain: &str, row: &SqliteRow) -> Result<String, StoreError> {
        let org: Option<String> = row.try_get("org_id")?;
        let sealed: String = row.try_get("record")?;
        let aad = AUDIT_EVENTS.record(&[chain], org.as_deref()).aad("record");
        Ok(self
            .keyring
            .open(&aad, &sealed)
            .await?
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .unwrap_or_default())
    }

    /// Deletes the events of `chain` up to `seq`, which a checkpoint must
    /// close (retention removes whole segments); how many.
    pub async fn prune_audit(&self, chain: &str, seq: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM audit_events WHERE chain = ?1 AND seq <= ?2
               AND EXISTS (SELECT 1 FROM audit_checkpoints WHERE chain = ?1 AND seq = ?2)",
        )
        .bind(chain)
        .bind(seq)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Every audit signing key, newest first (keys made in the same second
    /// in the order they were made).
    pub async fn audit_keys(&self) -> Result<Vec<AuditKeyRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, public_key, created_at, retired_at FROM audit_keys ORDER BY created_at DESC, rowid DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditKeyRecord {
                    id: row.try_get("id")?,
                    public_key: row.try_get("public_key")?,
                    created_at: row.try_get("created_at")?,
                    retired_at: row.try_get("retired_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The signing key in use: its id and (opened) PKCS#8 document.
    pub async fn active_audit_key(&self) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let row = sqlx::query(
            "SELECT id, private_key FROM audit_keys WHERE retired_at IS NULL ORDER BY created_at DESC, rowid DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id: String = row.try_get("id")?;
        let record = AUDIT_KEYS.record(&[&id], None);
        let document = self
            .open(&record, "private_key", row.try_get("private_key")?)
            .await?;
        Ok(Some((id, document)))
    }

    /// Makes `id` the signing key, retiring the one before; both in one
    /// transaction.
    pub async fn rotate_audit_key(
        &self,
        id: &str,
        public_key: &[u8],
        document: &[u8],
        now: i64,
    ) -> Result<(), StoreError> {
        let sealed = self.seal(&AUDIT_KEYS.record(&[id], None), "private_key", document)?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("UPDATE audit_keys SET retired_at = ? WHERE retired_at IS NULL")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO audit_keys (id, public_key, private_key, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(id)
        .bind(public_key)
        .bind(sealed)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
