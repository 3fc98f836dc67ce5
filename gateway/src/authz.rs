//! Policy administration: the permission catalogue, environments and
//! connections (the resource tree), custom roles and bindings, and the
//! policy snapshot every authorizer plugin decides on.
//!
//! The store is the source of truth; [`Authz`] keeps the snapshot built
//! from it and rebuilds it when the store's policy version moves (after a
//! change through this gateway at once, after one through another gateway
//! within the poll interval). The authorizer plugin receives it before its
//! next check (see `http::permission`).

pub mod catalogue;
mod effective;
pub mod model;
pub mod receipt;
mod resources;
mod roles;
pub mod snapshot;

pub use effective::{EffectiveGrant, effective};
pub use model::{Scope, Subject};
pub use receipt::{Receipt, basis_name};
pub use resources::{CONNECTION_KINDS, EnvironmentInput, TLS_MODES};
pub use roles::{BindingInput, RoleInput};

use crate::audit::Events;
use crate::plugin::PolicySnapshot;
use crate::store::{Store, StoreError};
use arc_swap::ArcSwap;
use std::sync::Arc;

/// Why a policy operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthzError {
    /// The request is invalid; the text says which field and why.
    #[error("{0}")]
    Invalid(String),
    /// Nothing of that kind by that id in the organization.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// A name or binding that exists already.
    #[error("{0} already exists")]
    Conflict(String),
    /// Refused because other records depend on it; the text says which.
    #[error("{0}")]
    InUse(String),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
    /// The snapshot could not be serialized (a bug).
    #[error("the policy snapshot could not be built: {0}")]
    Snapshot(String),
}

/// A uniqueness conflict in the store is the caller's: a name or binding
/// that exists already.
impl From<StoreError> for AuthzError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(what) => Self::Conflict(what),
            other => Self::Store(other),
        }
    }
}

/// Policy administration and the current snapshot.
#[derive(Debug)]
pub struct Authz {
    store: Store,
    events: Events,
    mfa_required: Vec<String>,
    snapshot: ArcSwap<PolicySnapshot>,
    rebuilding: tokio::sync::Mutex<()>,
}

impl Authz {
    /// Builds the first snapshot from the store. `mfa_required` lists the
    /// permissions that need the second factor.
    pub async fn load(
        store: Store,
        events: Events,
        mfa_required: Vec<String>,
    ) -> Result<Self, AuthzError> {
        // Patterns are spelled out against the catalogue once, here.
        let mfa_required = catalogue::expand(&mfa_required, &[]);
        let snapshot = build(&store, &mfa_required).await?;
        Ok(Self {
            store,
            events,
            mfa_required,
            snapshot: ArcSwap::from_pointee(snapshot),
            rebuilding: tokio::sync::Mutex::new(()),
        })
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<PolicySnapshot> {
        self.snapshot.load_full()
    }

    /// The event interface policy changes are reported through.
    pub fn events(&self) -> &Events {
        &self.events
    }

    /// Rebuilds the snapshot if the store's policy version moved; returns
    /// the current one. Concurrent callers wait for one rebuild.
    pub async fn refresh(&self) -> Result<Arc<PolicySnapshot>, AuthzError> {
        let _one = self.rebuilding.lock().await;
        let stored = u64::try_from(self.store.policy_version().await?).unwrap_or(0);
        let current = self.snapshot();
        if stored == current.version {
            return Ok(current);
        }
        let fresh = Arc::new(build(&self.store, &self.mfa_required).await?);
        tracing::info!(
            version = fresh.version,
            bytes = fresh.json.len(),
            "policy snapshot rebuilt"
        );
        self.snapshot.store(fresh.clone());
        Ok(fresh)
    }

    /// The permissions that need the second factor.
    pub fn mfa_required(&self) -> &[String] {
        &self.mfa_required
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }
}

async fn build(store: &Store, mfa_required: &[String]) -> Result<PolicySnapshot, AuthzError> {
    let records = store.policy_records().await?;
    let document = snapshot::document(&records, mfa_required);
    let json = serde_json::to_string(&document).map_err(|e| AuthzError::Snapshot(e.to_string()))?;
    Ok(PolicySnapshot {
        version: document.version,
        json,
    })
}

/// A new random id with `prefix` (`env_`, `con_`, `rol_`, `bnd_`).
fn new_id(prefix: &str) -> Result<String, AuthzError> {
    let mut bytes = [0u8; 12];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| AuthzError::Snapshot("no randomness for an id".into()))?;
    Ok(format!("{prefix}{}", hex::encode(bytes)))
}

/// Checks a name: 1–100 characters, no control characters.
fn check_name(field: &str, value: &str) -> Result<(), AuthzError> {
    let length = value.chars().count();
    if (1..=100).contains(&length) && !value.chars().any(char::is_control) && value.trim() == value
    {
        Ok(())
    } else {
        Err(AuthzError::Invalid(format!(
            "`{field}` must be 1–100 characters, without control characters or surrounding spaces"
        )))
    }
}

/// Checks a free-text description: at most 500 characters.
fn check_description(value: Option<&str>) -> Result<(), AuthzError> {
    match value {
        Some(text)
            if text.chars().count() > 500 || text.chars().any(|c| c.is_control() && c != '\n') =>
        {
            Err(AuthzError::Invalid(
                "`description` must be at most 500 characters, without control characters".into(),
            ))
        }
        _ => Ok(()),
    }
}
