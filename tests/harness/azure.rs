//! Azure Key Vault and Entra ID's token endpoint on loopback: a test
//! double (`tests/peers/azure/keyvault_peer.py`) that follows the published
//! REST contracts — no real Key Vault runs outside Azure. It serves HTTPS
//! with its own certificate (a plugin trusts it through `ca_bundles`) and
//! is steered over a second, plain-HTTP port. One serves the whole test
//! binary ([`KeyVault::shared`]); it stops when the binary exits.

use crate::browser::Browser;
use crate::peer::PeerProcess;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The tenant the double's Entra ID knows.
pub const TENANT: &str = "6a0e9b1c-3c4f-4a57-9d2e-7b1f0c5a8e42";
/// The application registered there.
pub const CLIENT_ID: &str = "3f2d1c0b-portcullis-test-client";
/// Its client secret.
pub const CLIENT_SECRET: &str = "entra-client-secret-for-the-double-0123";

/// A running double.
pub struct KeyVault {
    /// `https://127.0.0.1:PORT`: the vault, and the authority's host.
    pub vault_url: String,
    /// The PEM certificate its HTTPS is served with.
    pub ca_file: PathBuf,
    control: String,
    _process: PeerProcess,
}

static SHARED: OnceLock<KeyVault> = OnceLock::new();

/// What the double has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Token requests at the Entra ID endpoint.
    pub token_requests: u64,
    /// 401 challenges sent.
    pub challenges: u64,
    /// 429s sent.
    pub throttled: u64,
    /// Secrets read.
    pub reads: u64,
    /// Keys wrapped.
    pub wraps: u64,
    /// Keys unwrapped (or tried).
    pub unwraps: u64,
}

impl KeyVault {
    /// Starts the double on free ports.
    pub fn start() -> Self {
        let mut words = Vec::new();
        let process = PeerProcess::python(
            "azure/keyvault_peer.py",
            "`make test-deps` installs its Python packages",
            |line| match line.strip_prefix("listening ") {
                Some(rest) => {
                    words = rest.split_whitespace().map(str::to_string).collect();
                    true
                }
                None => false,
            },
        );
        let [vault_url, control, ca_file] = <[String; 3]>::try_from(words)
            .unwrap_or_else(|words| panic!("the Key Vault double printed {words:?}"));
        Self {
            vault_url,
            ca_file: PathBuf::from(ca_file),
            control,
            _process: process,
        }
    }

    /// The double every test of this binary shares.
    pub fn shared() -> &'static Self {
        SHARED.get_or_init(Self::start)
    }

    /// The `host:port` a plugin must be allowed to reach.
    pub fn authority(&self) -> &str {
        self.vault_url.trim_start_matches("https://")
    }

    /// Stores a new version of secret `name`; its version id.
    pub async fn set_secret(&self, name: &str, value: &str, enabled: bool) -> String {
        let reply = self
            .steer(
                "secret",
                serde_json::json!({"name": name, "value": value, "enabled": enabled}),
            )
            .await;
        reply["version"].as_str().expect("a version").to_string()
    }

    /// Creates a new RSA-2048 version of key `name`; its version id.
    pub async fn create_key(&self, name: &str) -> String {
        let reply = self.steer("key", serde_json::json!({ "name": name })).await;
        reply["version"].as_str().expect("a version").to_string()
    }

    /// The `[plugins.NAME.config]` settings that reach this vault as the
    /// registered application, with `client_secret`.
    pub fn settings(&self, client_secret: &str) -> String {
        format!(
            "vault_url = \"{}\"\ntenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{client_secret}\"\n\
             # The double answers as 127.0.0.1, not under vault.azure.net.\n\
             verify_challenge_resource = false\n",
            self.vault_url
        )
    }

    /// Runs `tests/peers/azure/official_sdk_check.py`: Microsoft's own
    /// Python SDK reads a secret, meets a missing one, and wraps and
    /// unwraps a key against this double. Its output, and whether it
    /// succeeded.
    pub fn check_with_official_sdk(&self) -> (bool, String) {
        let mut command = std::process::Command::new("python3");
        if let Ok(path) = std::env::var("PORTCULLIS_TEST_PYTHONPATH") {
            command.env("PYTHONPATH", path);
        }
        let output = command
            .arg(crate::paths::repo().join("tests/peers/azure/official_sdk_check.py"))
            .args([&self.vault_url, &self.control])
            .arg(&self.ca_file)
            .args([TENANT, CLIENT_ID, CLIENT_SECRET])
            .output()
            .expect("run python3 (`make test-deps` installs the Azure SDK)");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    }

    /// Makes the next `count` authorized calls answer 429.
    pub async fn throttle(&self, count: u32) {
        self.steer("throttle", serde_json::json!({ "count": count }))
            .await;
    }

    /// Makes the 401 challenge name `tenant` (`None`: the real one).
    pub async fn challenge_names(&self, tenant: Option<&str>) {
        self.steer("challenge", serde_json::json!({ "tenant": tenant }))
            .await;
    }

    /// What it has seen so far.
    pub async fn stats(&self) -> Stats {
        let reply = Browser::default()
            .get(&format!("{}/__test/stats", self.control))
            .await
            .json();
        let count = |name: &str| reply[name].as_u64().expect("a count");
        Stats {
            token_requests: count("token_requests"),
            challenges: count("challenges"),
            throttled: count("throttled"),
            reads: count("reads"),
            wraps: count("wraps"),
            unwraps: count("unwraps"),
        }
    }

    async fn steer(&self, what: &str, body: serde_json::Value) -> serde_json::Value {
        let reply = Browser::default()
            .post_json(&format!("{}/__test/{what}", self.control), &body)
            .await;
        assert!(reply.status.is_success(), "{what}: {}", reply.text());
        reply.json()
    }
}
