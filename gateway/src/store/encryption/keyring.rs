//! The store's data keys: created and wrapped by the key provider, kept
//! wrapped in `data_keys`, unwrapped into memory once and re-checked with
//! the provider after their maximum age.
//!
//! A key provider *outage* keeps the gateway serving from the keys it has
//! in memory (it says so in the log); only an operation that needs a key
//! it has not unwrapped yet, or a new key, fails, naming the provider's
//! error. A provider that *refuses* a key (access revoked, key disabled)
//! when it is re-checked has it dropped from memory at once.

use super::blind_index::BlindIndex;
use super::envelope::{self, SealError};
use ring::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretBox};
use sqlx::SqlitePool;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// A key provider's answer, boxed so providers can be trait objects.
pub type KeyFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, KeyError>> + Send + 'a>>;

/// A data key as the key provider wrapped it.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedDataKey {
    /// The provider's master key id, with its version.
    pub master_key_id: String,
    /// The wrapped bytes, opaque to the gateway.
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for WrappedDataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrappedDataKey")
            .field("master_key_id", &self.master_key_id)
            .finish_non_exhaustive()
    }
}

/// Why the key provider did not serve a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// It could not be reached or did not answer (an outage).
    #[error("the key provider is unavailable: {0}")]
    Unavailable(String),
    /// It answered and refused (denied, disabled key, wrong context).
    #[error("the key provider refused: {0}")]
    Refused(String),
}

/// Makes, wraps and unwraps data keys: a key-provider plugin, or the local
/// key file.
pub trait KeyWrapper: Send + Sync + std::fmt::Debug {
    /// How errors and `keys status` name it.
    fn name(&self) -> String;
    /// A new 256-bit data key bound to `context`, in the clear and wrapped.
    fn generate<'a>(
        &'a self,
        context: &'a [(String, String)],
    ) -> KeyFuture<'a, (SecretBox<[u8; 32]>, WrappedDataKey)>;
    /// Wraps `key` under the provider's current master key version.
    fn wrap<'a>(
        &'a self,
        key: &'a [u8; 32],
        context: &'a [(String, String)],
    ) -> KeyFuture<'a, WrappedDataKey>;
    /// Unwraps a data key wrapped for `context`.
    fn unwrap<'a>(
        &'a self,
        wrapped: &'a WrappedDataKey,
        context: &'a [(String, String)],
    ) -> KeyFuture<'a, SecretBox<[u8; 32]>>;
}

/// A context as bytes, the same for the same pairs in any order.
pub(super) fn canonical_context(context: &[(String, String)]) -> Vec<u8> {
    let mut pairs: Vec<_> = context.iter().collect();
    pairs.sort();
    let mut bytes = b"portcullis-key-context-v1".to_vec();
    for (name, value) in pairs {
        for part in [name, value] {
            bytes.extend_from_slice(&(part.len() as u64).to_be_bytes());
            bytes.extend_from_slice(part.as_bytes());
        }
    }
    bytes
}

/// How the keyring treats keys in memory.
#[derive(Debug, Clone, Copy)]
pub struct KeyringSettings {
    /// How long an unwrapped key is used before the provider is asked
    /// again whether it still grants it.
    pub max_age: Duration,
}

impl Default for KeyringSettings {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(3600),
        }
    }
}

/// One row of `data_keys`, as `keys status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DataKeyInfo {
    /// `dk_…`.
    pub id: String,
    /// `records` (seals values) or `index` (keys blind indexes).
    pub purpose: String,
    /// The provider that wrapped it.
    pub provider: String,
    /// The provider's master key id and version it is wrapped under.
    pub master_key_id: String,
    /// Creation time (Unix seconds).
    pub created_at: i64,
    /// Whether new values are sealed under it.
    pub current: bool,
}

struct Cached {
    aead: Arc<LessSafeKey>,
    checked_at: Instant,
}

#[derive(Default)]
struct State {
    current: Option<String>,
    keys: HashMap<String, Cached>,
    index: Option<Arc<BlindIndex>>,
}

/// The store's data keys.
pub struct Keyring {
    pool: SqlitePool,
    settings: KeyringSettings,
    provider: RwLock<Option<Arc<dyn KeyWrapper>>>,
    state: RwLock<State>,
    /// One unwrap at a time, so a burst of reads of an old key makes one
    /// provider call.
    unwrapping: tokio::sync::Mutex<()>,
    random: SystemRandom,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

const RECORDS: &str = "records";
const INDEX: &str = "index";

fn context_of(id: &str, purpose: &str) -> Vec<(String, String)> {
    vec![
        ("portcullis".into(), "store data key".into()),
        ("data_key".into(), id.into()),
        ("purpose".into(), purpose.into()),
    ]
}

fn aead_of(key: &SecretBox<[u8; 32]>) -> Result<LessSafeKey, SealError> {
    UnboundKey::new(&AES_256_GCM, key.expose_secret())
        .map(LessSafeKey::new)
        .map_err(|_| SealError::Key)
}

fn unavailable(key: &str, reason: impl std::fmt::Display) -> SealError {
    SealError::KeyUnavailable {
        key: key.into(),
        reason: reason.to_string(),
    }
}

/// Whether a new data key is made unconditionally or only as a purpose's
/// first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Creation {
    /// A rotation: the new key becomes the newest.
    Newer,
    /// Opening a store that has no key of the purpose yet.
    FirstOnly,
}

impl Keyring {
    /// A locked keyring over the store's `data_keys`.
    pub(in crate::store) fn new(pool: SqlitePool, settings: KeyringSettings) -> Self {
        Self {
            pool,
            settings,
            provider: RwLock::new(None),
            state: RwLock::new(State::default()),
            unwrapping: tokio::sync::Mutex::new(()),
            random: SystemRandom::new(),
        }
    }

    fn provider(&self) -> Result<Arc<dyn KeyWrapper>, SealError> {
        self.provider
            .read()
            .ok()
            .and_then(|p| p.clone())
            .ok_or(SealError::Locked)
    }

    /// Unlocks the keyring with `provider`: creates the index key and a
    /// first data key if the store has none, and unwraps the current ones.
    pub(in crate::store) async fn unlock(
        &self,
        provider: Arc<dyn KeyWrapper>,
    ) -> Result<(), SealError> {
        if let Ok(mut slot) = self.provider.write() {
            *slot = Some(provider);
        }
        let index_id = match self.newest(INDEX).await? {
            Some(id) => id,
            None => self.create(INDEX, Creation::FirstOnly).await?,
        };
        let index_key = self.unwrap_raw(&index_id).await?;
        let index = Arc::new(BlindIndex::new(index_key.expose_secret()));
        let current = match self.newest(RECORDS).await? {
            Some(id) => id,
            None => self.create(RECORDS, Creation::FirstOnly).await?,
        };
        self.key(&current).await?;
        let mut state = self.state.write().map_err(|_| SealError::Locked)?;
        state.index = Some(index);
        state.current = Some(current);
        Ok(())
    }

    /// The newest data key for `purpose`.
    async fn newest(&self, purpose: &str) -> Result<Option<String>, SealError> {
        sqlx::query_scalar("SELECT id FROM data_keys WHERE purpose = ? ORDER BY seq DESC LIMIT 1")
            .bind(purpose)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| unavailable("data_keys", e))
    }

    /// Makes a data key for `purpose` and stores it wrapped; the id of the
    /// newest key of that purpose afterwards. With [`Creation::FirstOnly`]
    /// the key is stored only if the purpose has none yet, in the same
    /// statement, so processes opening a new store at once all end up with
    /// the one key the first of them stored.
    async fn create(&self, purpose: &str, creation: Creation) -> Result<String, SealError> {
        let mut bytes = [0u8; 6];
        self.random
            .fill(&mut bytes)
            .map_err(|_| SealError::Randomness)?;
        let id = format!("dk_{}", hex::encode(bytes));
        let provider = self.provider()?;
        let context = context_of(&id, purpose);
        let (key, wrapped) = provider
            .generate(&context)
            .await
            .map_err(|e| unavailable(&id, format!("cannot make a new data key: {e}")))?;
        sqlx::query(
            "INSERT INTO data_keys (id, seq, purpose, provider, master_key_id, wrapped, created_at)
             SELECT ?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM data_keys), ?2, ?3, ?4, ?5, unixepoch()
             WHERE NOT ?6 OR NOT EXISTS (SELECT 1 FROM data_keys WHERE purpose = ?2)
             ON CONFLICT DO NOTHING",
        )
        .bind(&id)
        .bind(purpose)
        .bind(provider.name())
        .bind(&wrapped.master_key_id)
        .bind(&wrapped.ciphertext)
        .bind(creation == Creation::FirstOnly)
        .execute(&self.pool)
        .await
        .map_err(|e| unavailable(&id, e))?;
        let newest = self.newest(purpose).await?.unwrap_or_else(|| id.clone());
        if newest == id {
            self.remember(&id, &key)?;
        }
        Ok(newest)
    }

    fn remember(&self, id: &str, key: &SecretBox<[u8; 32]>) -> Result<Arc<LessSafeKey>, SealError> {
        let aead = Arc::new(aead_of(key)?);
        let mut state = self.state.write().map_err(|_| SealError::Locked)?;
        state.keys.insert(
            id.to_string(),
            Cached {
                aead: aead.clone(),
                checked_at: Instant::now(),
            },
        );
        Ok(aead)
    }

    /// Data key `id` as stored: wrapped, with the context it is bound to.
    async fn wrapped(
        &self,
        id: &str,
    ) -> Result<(WrappedDataKey, Vec<(String, String)>), SealError> {
        let row: Option<(String, String, Vec<u8>)> =
            sqlx::query_as("SELECT purpose, master_key_id, wrapped FROM data_keys WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| unavailable(id, e))?;
        let Some((purpose, master_key_id, ciphertext)) = row else {
            return Err(unavailable(id, "no such data key in this store"));
        };
        let wrapped = WrappedDataKey {
            master_key_id,
            ciphertext,
        };
        Ok((wrapped, context_of(id, &purpose)))
    }

    /// Asks the provider to unwrap data key `id` from the database.
    async fn unwrap_raw(&self, id: &str) -> Result<SecretBox<[u8; 32]>, SealError> {
        let (wrapped, context) = self.wrapped(id).await?;
        self.provider()?
            .unwrap(&wrapped, &context)
            .await
            .map_err(|e| unavailable(id, e))
    }

    /// Data key `id`, from memory or unwrapped now.
    async fn key(&self, id: &str) -> Result<Arc<LessSafeKey>, SealError> {
        if let Some(key) = self.cached(id) {
            return Ok(key);
        }
        let _one_at_a_time = self.unwrapping.lock().await;
        if let Some(key) = self.cached(id) {
            return Ok(key);
        }
        let key = self.unwrap_raw(id).await?;
        self.remember(id, &key)
    }

    fn cached(&self, id: &str) -> Option<Arc<LessSafeKey>> {
        let state = self.state.read().ok()?;
        state.keys.get(id).map(|cached| cached.aead.clone())
    }

    /// The blind index key.
    pub fn index(&self) -> Result<Arc<BlindIndex>, SealError> {
        let state = self.state.read().map_err(|_| SealError::Locked)?;
        state.index.clone().ok_or(SealError::Locked)
    }

    /// The id of the data key new values are sealed under.
    pub fn current_key_id(&self) -> Result<String, SealError> {
        let state = self.state.read().map_err(|_| SealError::Locked)?;
        state.current.clone().ok_or(SealError::Locked)
    }

    /// Seals `plaintext` bound to `aad` under the current data key.
    pub(in crate::store) fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<String, SealError> {
        let state = self.state.read().map_err(|_| SealError::Locked)?;
        let current = state.current.as_deref().ok_or(SealError::Locked)?;
        let key = state.keys.get(current).ok_or_else(|| {
            unavailable(
                current,
                "it is no longer granted by the key provider; new values cannot be sealed",
            )
        })?;
        envelope::seal(&key.aead, current, aad, plaintext, &self.random)
    }

    /// Opens `sealed` bound to `aad`; `None` if it does not authenticate
    /// (the caller names the record).
    pub(in crate::store) async fn open(
        &self,
        aad: &[u8],
        sealed: &str,
    ) -> Result<Option<Vec<u8>>, SealError> {
        let Some(id) = envelope::key_id_of(sealed) else {
            return Ok(None);
        };
        let key = self.key(id).await?;
        Ok(envelope::open(&key, aad, sealed))
    }

    /// Makes a new data key the current one and re-wraps every data key
    /// under the provider's current master key version. Values sealed
    /// under older keys stay readable; re-encryption moves them.
    pub async fn rotate(&self) -> Result<String, SealError> {
        let id = self.create(RECORDS, Creation::Newer).await?;
        {
            let mut state = self.state.write().map_err(|_| SealError::Locked)?;
            state.current = Some(id.clone());
        }
        self.rewrap_all().await?;
        Ok(id)
    }

    async fn rewrap_all(&self) -> Result<(), SealError> {
        let provider = self.provider()?;
        let keys: Vec<(String, String)> =
            sqlx::query_as("SELECT id, purpose FROM data_keys ORDER BY seq")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| unavailable("data_keys", e))?;
        for (id, purpose) in keys {
            let key = self.unwrap_raw(&id).await?;
            let wrapped = provider
                .wrap(key.expose_secret(), &context_of(&id, &purpose))
                .await
                .map_err(|e| unavailable(&id, format!("cannot re-wrap: {e}")))?;
            sqlx::query(
                "UPDATE data_keys SET provider = ?, master_key_id = ?, wrapped = ? WHERE id = ?",
            )
            .bind(provider.name())
            .bind(&wrapped.master_key_id)
            .bind(&wrapped.ciphertext)
            .bind(&id)
            .execute(&self.pool)
            .await
            .map_err(|e| unavailable(&id, e))?;
        }
        Ok(())
    }

    /// Picks up a rotation made by another process, and asks the provider
    /// again for every key held longer than the maximum age: a refusal
    /// drops it from memory, an outage keeps it (and says so).
    pub async fn refresh(&self) -> Result<(), SealError> {
        if let Some(newest) = self.newest(RECORDS).await? {
            // Unwrapped again if a refusal dropped it and the provider
            // grants it once more.
            match self.key(&newest).await {
                Ok(_) => {
                    let known = self.current_key_id().ok();
                    if known.as_deref() != Some(newest.as_str()) {
                        tracing::info!(data_key = %newest, "sealing new values under a newer data key");
                    }
                    if let Ok(mut state) = self.state.write() {
                        state.current = Some(newest);
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "the current data key cannot be unwrapped; new values cannot be sealed until it can");
                }
            }
        }
        let stale: Vec<String> = {
            let state = self.state.read().map_err(|_| SealError::Locked)?;
            state
                .keys
                .iter()
                .filter(|(_, cached)| cached.checked_at.elapsed() >= self.settings.max_age)
                .map(|(id, _)| id.clone())
                .collect()
        };
        let provider = self.provider()?;
        for id in stale {
            let (wrapped, context) = self.wrapped(&id).await?;
            match provider.unwrap(&wrapped, &context).await {
                Ok(key) => {
                    self.remember(&id, &key)?;
                }
                Err(KeyError::Unavailable(reason)) => {
                    tracing::warn!(data_key = %id, %reason, "the key provider is unavailable; still serving from the data key held in memory");
                }
                Err(KeyError::Refused(reason)) => {
                    tracing::error!(data_key = %id, %reason, "the key provider no longer grants a data key; dropped from memory");
                    if let Ok(mut state) = self.state.write() {
                        state.keys.remove(&id);
                    }
                }
            }
        }
        Ok(())
    }

    /// Every data key, oldest first.
    pub async fn data_keys(&self) -> Result<Vec<DataKeyInfo>, SealError> {
        let current = self.current_key_id().ok();
        let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
            "SELECT id, purpose, provider, master_key_id, created_at FROM data_keys ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| unavailable("data_keys", e))?;
        Ok(rows
            .into_iter()
            .map(
                |(id, purpose, provider, master_key_id, created_at)| DataKeyInfo {
                    current: current.as_deref() == Some(id.as_str()),
                    id,
                    purpose,
                    provider,
                    master_key_id,
                    created_at,
                },
            )
            .collect())
    }
}
