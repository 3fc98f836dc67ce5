//! The audit log service: the queue events that change nothing go
//! through (written in batches, group commit), the checkpoint signer, the
//! signing key and its rotation, export and verification of the store.
//!
//! Changes to records do not use the queue: the store writes their events
//! in the change's own transaction (see `store::audit`).

use super::bundle::{self, Bundle, Header};
use super::checkpoint::{KeySet, PublicKey, SigningKey};
use super::context;
use super::event::{Event, Outcome};
use super::flood::{Admit, FloodGuard, FloodLimit};
use super::record::{Pending, now_millis};
use super::verify::{self, Break, Verified};
use crate::config::AuditConfig;
use crate::store::{Store, StoreError};
use arc_swap::ArcSwap;
use base64::Engine as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Events written per transaction at most.
const BATCH: usize = 4096;
/// How often the writer looks at checkpoints and a degraded store.
const TICK: Duration = Duration::from_millis(500);

/// The handle every part of the gateway records events through; cheap to
/// clone. Recording never blocks a request: an event is queued, and if
/// the queue is full it is dropped and counted
/// (`portcullis_audit_events_dropped_total`).
/// Repeated refusals from one source are limited (see `flood`).
#[derive(Debug, Clone)]
pub struct Events {
    queue: mpsc::Sender<Pending>,
    dropped: Arc<AtomicU64>,
    suppressed: Arc<AtomicU64>,
    flood: Arc<FloodGuard>,
}

impl Events {
    fn new(queue: mpsc::Sender<Pending>, flood: FloodLimit) -> Self {
        Self {
            queue,
            dropped: Arc::default(),
            suppressed: Arc::default(),
            flood: Arc::new(FloodGuard::new(flood)),
        }
    }

    /// Records `event`, with the current request's actor and client.
    pub fn emit(&self, event: Event) {
        let mut pending = Pending::new(&event, context::current());
        if pending.outcome != Outcome::Success.as_str() {
            let source = pending.client.as_deref().unwrap_or(&pending.actor);
            match self.flood.admit(&pending.action, source) {
                Admit::Suppress => {
                    self.suppressed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Admit::Record { suppressed: 0 } => {}
                Admit::Record { suppressed } => {
                    if let Some(details) = pending.details.as_object_mut() {
                        details.insert("suppressed_before".into(), suppressed.into());
                    }
                }
            }
        }
        if self.queue.try_send(pending).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::error!(
                dropped,
                "the audit queue is full or closed; an event was dropped"
            );
        }
    }

    /// Events dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Refusals left out by the flood limit (each counted in the next
    /// recorded one from the same source).
    pub fn suppressed(&self) -> u64 {
        self.suppressed.load(Ordering::Relaxed)
    }

    /// A handle whose events go nowhere but the drop counter (tools and
    /// tests that build services without a log).
    pub fn discard() -> Self {
        Self::new(mpsc::channel(1).0, FloodLimit::default())
    }
}

/// Why the audit log could not start or do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The signing key is unusable.
    #[error(transparent)]
    Key(#[from] super::checkpoint::KeyError),
    /// Nothing has been signed yet to export.
    #[error("no checkpoint covers events after {0} yet; try again after the next checkpoint")]
    NothingSigned(i64),
}

/// The audit log.
#[derive(Debug)]
pub struct AuditLog {
    store: Store,
    signer: ArcSwap<SigningKey>,
    events: Events,
    config: AuditConfig,
}

impl AuditLog {
    /// Opens the log on `store` (making the signing key on first start)
    /// and starts its writer, which drains the queue and signs a final
    /// checkpoint when `shutdown` fires.
    pub async fn start(
        store: Store,
        config: AuditConfig,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(Arc<Self>, tokio::task::JoinHandle<()>), AuditError> {
        let signer = match store.active_audit_key().await? {
            Some((_, document)) => SigningKey::from_pkcs8(&document)?,
            None => {
                let key = new_signing_key(&store).await?;
                tracing::info!(key_id = key.id(), "made the audit signing key");
                key
            }
        };
        let (queue, receiver) = mpsc::channel(config.queue_capacity);
        let log = Arc::new(Self {
            store,
            signer: ArcSwap::from_pointee(signer),
            events: Events::new(
                queue,
                FloodLimit {
                    burst: f64::from(config.refusal_burst),
                    per_second: config.refusals_per_second,
                },
            ),
            config,
        });
        let writer = tokio::spawn(write(log.clone(), receiver, shutdown));
        Ok((log, writer))
    }

    /// The handle to record events through.
    pub fn events(&self) -> Events {
        self.events.clone()
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Signs a checkpoint for every chain with unsigned events; how many.
    pub async fn checkpoint(&self) -> Result<usize, StoreError> {
        let unsigned = self.store.audit().unsigned();
        let heads = self.store.unsigned_heads().await?;
        if heads.is_empty() {
            return Ok(0);
        }
        let signer = self.signer.load();
        let at = now_millis();
        let checkpoints: Vec<_> = heads
            .into_iter()
            .map(|(chain, seq, hash)| signer.sign(&chain, seq, hash, at))
            .collect();
        self.store.insert_checkpoints(&checkpoints).await?;
        self.store.audit().signed(unsigned);
        Ok(checkpoints.len())
    }

    /// The published keys, newest first.
    pub async fn key_set(&self) -> Result<KeySet, StoreError> {
        key_set(&self.store).await
    }

    /// Replaces the signing key: what is unsigned is signed with the old
    /// one first, which stays published.
    pub async fn rotate_key(&self) -> Result<String, AuditError> {
        self.checkpoint().await?;
        let previous = self.signer.load().id().to_string();
        let key = new_signing_key(&self.store).await?;
        let id = key.id().to_string();
        self.signer.store(Arc::new(key));
        self.events.emit(Event::AuditKeyRotated {
            key_id: id.clone(),
            previous: Some(previous),
        });
        Ok(id)
    }

    /// The bundle of `chain` after event `after`, up to its newest
    /// checkpoint.
    pub async fn export(&self, chain: &str, after: i64) -> Result<Bundle, AuditError> {
        export(&self.store, chain, after).await
    }

    async fn prune(&self) -> Result<(), StoreError> {
        if self.config.retention_days == 0 {
            return Ok(());
        }
        let cutoff = now_millis()
            - i64::try_from(self.config.retention_days * 86_400_000).unwrap_or(i64::MAX);
        for chain in self.store.audit_chains().await? {
            // The newest checkpoint older than the cutoff closes the last
            // segment that may go.
            let Some(closing) = self
                .store
                .audit_checkpoints(&chain)
                .await?
                .into_iter()
                .filter(|c| c.at < cutoff)
                .max_by_key(|c| c.seq)
            else {
                continue;
            };
            let pruned = self.store.prune_audit(&chain, closing.seq).await?;
            if pruned > 0 {
                tracing::info!(
                    chain,
                    pruned,
                    up_to = closing.seq,
                    "pruned audit events past retention"
                );
            }
        }
        Ok(())
    }
}

/// A new signing key, stored (sealed) as the one in use; the previous one
/// is retired but stays published.
async fn new_signing_key(store: &Store) -> Result<SigningKey, AuditError> {
    let (key, document) = SigningKey::generate()?;
    store
        .rotate_audit_key(
            key.id(),
            &key.public_key(),
            &document,
            crate::identity::now(),
        )
        .await?;
    Ok(key)
}

/// The published keys of `store`, newest first.
pub async fn key_set(store: &Store) -> Result<KeySet, StoreError> {
    let keys = store.audit_keys().await?;
    Ok(KeySet {
        algorithm: "Ed25519".into(),
        keys: keys
            .into_iter()
            .map(|k| PublicKey {
                key_id: k.id,
                public_key: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&k.public_key),
                created_at: k.created_at,
                retired_at: k.retired_at,
            })
            .collect(),
    })
}

/// The bundle of `chain` in `store` after event `after`, up to its newest
/// checkpoint.
pub async fn export(store: &Store, chain: &str, after: i64) -> Result<Bundle, AuditError> {
    let checkpoints = store.audit_checkpoints(chain).await?;
    let to = checkpoints
        .iter()
        .map(|c| c.seq)
        .max()
        .filter(|&to| to > after)
        .ok_or(AuditError::NothingSigned(after))?;
    let after_hash = if after == 0 {
        super::chain::GENESIS
    } else {
        let before = store.audit_rows(chain, after - 1, after).await?;
        match before.first() {
            Some(row) => row.hash,
            // Pruned: the checkpoint that closed it holds the hash.
            None => checkpoints
                .iter()
                .find(|c| c.seq == after)
                .map(|c| c.hash)
                .ok_or(AuditError::NothingSigned(after))?,
        }
    };
    let events = store
        .audit_rows(chain, after, to)
        .await?
        .into_iter()
        .map(|row| bundle::EventLine {
            seq: row.seq,
            record: row.record,
            prev_hash: row.prev_hash,
            hash: row.hash,
        })
        .collect();
    Ok(Bundle {
        header: Header {
            format: bundle::FORMAT.into(),
            version: bundle::VERSION,
            chain: chain.to_string(),
            after,
            after_hash,
            to,
        },
        events,
        checkpoints: checkpoints
            .into_iter()
            .filter(|c| c.seq >= after && c.seq <= to)
            .collect(),
    })
}

/// Verifies every chain in `store`: one result per chain.
pub async fn verify_store(store: &Store) -> Result<Vec<Result<Verified, Break>>, StoreError> {
    let keys = key_set(store).await?;
    let mut results = Vec::new();
    for chain in store.audit_chains().await? {
        let rows = store.audit_rows(&chain, i64::MIN, i64::MAX).await?;
        let checkpoints = store.audit_checkpoints(&chain).await?;
        let result = verify::anchor_of(&rows, &checkpoints, &chain)
            .and_then(|anchor| verify::verify_chain(&chain, anchor, &rows, &checkpoints, &keys));
        results.push(result);
    }
    Ok(results)
}

/// The writer: drains the queue in batches, retrying a failed batch (the
/// queue holds what arrives meanwhile), signs checkpoints, probes a
/// degraded store, prunes, and on shutdown writes what is queued and
/// signs a last checkpoint.
async fn write(
    log: Arc<AuditLog>,
    mut queue: mpsc::Receiver<Pending>,
    mut shutdown: watch::Receiver<bool>,
) {
    let interval = Duration::from_secs(log.config.checkpoint_interval_secs);
    let mut last_checkpoint = tokio::time::Instant::now();
    let mut last_prune = tokio::time::Instant::now() - Duration::from_secs(3600);
    let mut ticks = tokio::time::interval(TICK);
    let mut batch: Vec<Pending> = Vec::with_capacity(BATCH);
    let mut stopping = false;
    loop {
        if batch.is_empty() && !stopping {
            tokio::select! {
                received = queue.recv_many(&mut batch, BATCH) => {
                    if received == 0 { stopping = true; }
                }
                _ = ticks.tick() => {}
                _ = shutdown.changed() => { stopping = true; }
            }
        }
        if stopping {
            while let Ok(pending) = queue.try_recv() {
                batch.push(pending);
            }
        }
        if !batch.is_empty() {
            match log.store.append_audit(&batch).await {
                Ok(()) => batch.clear(),
                Err(error) => {
                    tracing::warn!(%error, waiting = batch.len(), "audit events not written; retrying");
                    if stopping {
                        tracing::error!(
                            lost = batch.len(),
                            "shutting down with audit events unwritten"
                        );
                        return;
                    }
                    tokio::time::sleep(TICK).await;
                    continue;
                }
            }
        } else if log.store.audit().is_degraded() {
            log.store.probe_audit().await;
        }
        let due = log.store.audit().unsigned() >= log.config.checkpoint_every_events
            || (log.store.audit().unsigned() > 0 && last_checkpoint.elapsed() >= interval);
        if due || stopping {
            match log.checkpoint().await {
                Ok(_) => last_checkpoint = tokio::time::Instant::now(),
                Err(error) => tracing::warn!(%error, "audit checkpoint failed; will retry"),
            }
        }
        if last_prune.elapsed() >= Duration::from_secs(3600) {
            last_prune = tokio::time::Instant::now();
            if let Err(error) = log.prune().await {
                tracing::warn!(%error, "audit retention pruning failed; will retry");
            }
        }
        if stopping && batch.is_empty() {
            return;
        }
    }
}
