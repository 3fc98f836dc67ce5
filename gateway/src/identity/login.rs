//! Logins in progress: the plugin state between steps, kept server-side
//! under a random flow id and never sent to the client.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most logins in progress at once; the oldest are dropped beyond this.
const CAPACITY: usize = 10_000;

/// One login in progress.
#[derive(Clone)]
pub struct LoginFlow {
    /// The auth provider handling it.
    pub provider: String,
    /// The provider's opaque state.
    pub state: Vec<u8>,
    started: Instant,
}

impl std::fmt::Debug for LoginFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginFlow")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

/// Logins in progress by flow id.
#[derive(Debug)]
pub struct LoginFlows {
    flows: Mutex<HashMap<String, LoginFlow>>,
    timeout: Duration,
}

impl LoginFlows {
    /// No logins in progress; each may take up to `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self {
            flows: Mutex::new(HashMap::new()),
            timeout,
        }
    }

    /// Records a new step of flow `id`, keeping its start time if it exists.
    pub fn save(&self, id: &str, provider: &str, state: Vec<u8>) {
        let Ok(mut flows) = self.flows.lock() else {
            return;
        };
        let timeout = self.timeout;
        flows.retain(|_, flow| flow.started.elapsed() < timeout);
        if flows.len() >= CAPACITY {
            // Under a flood of abandoned logins, drop the oldest.
            if let Some(oldest) = flows
                .iter()
                .min_by_key(|(_, flow)| flow.started)
                .map(|(id, _)| id.clone())
            {
                flows.remove(&oldest);
            }
        }
        let started = flows.get(id).map_or_else(Instant::now, |flow| flow.started);
        flows.insert(
            id.to_string(),
            LoginFlow {
                provider: provider.to_string(),
                state,
                started,
            },
        );
    }

    /// The flow `id`, if it exists and has not timed out.
    pub fn get(&self, id: &str) -> Option<LoginFlow> {
        let flows = self.flows.lock().ok()?;
        flows
            .get(id)
            .filter(|flow| flow.started.elapsed() < self.timeout)
            .cloned()
    }

    /// Ends flow `id`.
    pub fn finish(&self, id: &str) {
        if let Ok(mut flows) = self.flows.lock() {
            flows.remove(id);
        }
    }
}
