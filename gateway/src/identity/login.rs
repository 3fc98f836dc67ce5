//! Logins in progress: the plugin state between steps, kept server-side
//! (in the store, so any gateway can take the next step) under a random
//! flow id that is never stored itself, and never sent to a plugin.

use super::IdentityError;
use crate::store::Store;

/// Most logins in progress at once; beyond this new flows are refused
/// until old ones end or time out (a flood of abandoned logins).
const CAPACITY: i64 = 100_000;

/// One login in progress.
pub struct LoginFlow {
    /// The auth provider handling it.
    pub provider: String,
    /// The provider's opaque state.
    pub state: Vec<u8>,
}

impl std::fmt::Debug for LoginFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginFlow")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

/// Logins in progress, by flow id.
#[derive(Debug)]
pub struct LoginFlows {
    store: Store,
    timeout_secs: i64,
}

fn key(id: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, id.as_bytes()))
}

impl LoginFlows {
    /// Flows in `store`; each may take up to `timeout_secs`.
    pub fn new(store: Store, timeout_secs: u64) -> Self {
        Self {
            store,
            timeout_secs: i64::try_from(timeout_secs).unwrap_or(i64::MAX),
        }
    }

    /// Starts flow `id` at `now` with the provider's first `state`.
    pub async fn start(
        &self,
        id: &str,
        provider: &str,
        state: &[u8],
        now: i64,
    ) -> Result<(), IdentityError> {
        if self.store.count_login_flows().await? >= CAPACITY {
            self.purge(now).await?;
            if self.store.count_login_flows().await? >= CAPACITY {
                tracing::warn!("too many logins in progress; refusing a new one");
                return Err(IdentityError::Throttled(30));
            }
        }
        self.update(id, provider, state, now).await
    }

    /// Records the next step of flow `id` (its start time is kept).
    pub async fn update(
        &self,
        id: &str,
        provider: &str,
        state: &[u8],
        now: i64,
    ) -> Result<(), IdentityError> {
        Ok(self
            .store
            .save_login_flow(&key(id), provider, state, now)
            .await?)
    }

    /// Flow `id`, if it exists and has not timed out at `now`.
    pub async fn get(&self, id: &str, now: i64) -> Result<Option<LoginFlow>, IdentityError> {
        let Some(record) = self.store.login_flow(&key(id)).await? else {
            return Ok(None);
        };
        if now - record.started_at >= self.timeout_secs {
            self.finish(id).await?;
            return Ok(None);
        }
        Ok(Some(LoginFlow {
            provider: record.provider,
            state: record.state,
        }))
    }

    /// Ends flow `id`.
    pub async fn finish(&self, id: &str) -> Result<(), IdentityError> {
        Ok(self.store.delete_login_flow(&key(id)).await?)
    }

    /// Forgets flows that timed out before `now`; how many.
    pub async fn purge(&self, now: i64) -> Result<u64, IdentityError> {
        Ok(self
            .store
            .purge_login_flows(now.saturating_sub(self.timeout_secs))
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn flows_are_sealed_keyed_by_hash_keep_their_start_and_time_out() {
        let store = Store::open_in_memory().await.unwrap();
        let flows = LoginFlows::new(store.clone(), 60);
        flows
            .start("flow-1", "local", b"step-1", 1_000)
            .await
            .unwrap();
        flows
            .update("flow-1", "local", b"step-2", 1_050)
            .await
            .unwrap();
        let flow = flows.get("flow-1", 1_059).await.unwrap().unwrap();
        assert_eq!(flow.state, b"step-2");
        assert!(
            flows.get("flow-1", 1_060).await.unwrap().is_none(),
            "a flow times out from its start, not its last step"
        );
        assert!(store.login_flow(&key("flow-1")).await.unwrap().is_none());
        assert!(store.login_flow("flow-2").await.unwrap().is_none());

        flows.start("flow-3", "local", b"x", 2_000).await.unwrap();
        flows.finish("flow-3").await.unwrap();
        assert!(flows.get("flow-3", 2_001).await.unwrap().is_none());
        flows.start("flow-4", "local", b"x", 2_000).await.unwrap();
        assert_eq!(flows.purge(2_061).await.unwrap(), 1);
    }
}
