//! The OpenID provider tests sign in with: the `oidc-provider` npm package
//! (OpenID Certified; `tests/peers/oidc`, version pinned by its
//! package-lock), run by node on loopback; [`Browser`] plays the browser
//! at it.
//!
//! One provider serves the whole test binary ([`OidcProvider::shared`]),
//! with one client per test, so tests that make the provider forge tokens
//! for their client do not disturb each other. It exits when the test
//! binary does (its standard input closes). A test that counts the
//! provider's JWKS fetches starts its own ([`OidcProvider::start`]).

use crate::browser::Browser;
use crate::paths;
use http::StatusCode;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// Clients registered at the shared provider: `client-0` … `client-15`.
pub const CLIENTS: usize = 16;
/// The prefix of every redirect URI the provider accepts.
pub const REDIRECT_PREFIX: &str = "https://localhost/auth/sso/";

/// A running provider.
pub struct OidcProvider {
    /// Its issuer (`http://127.0.0.1:PORT`).
    pub issuer: String,
    child: Mutex<Child>,
    _stdin: ChildStdin,
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        if let Ok(mut child) = self.child.lock() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The secret of client `client-{n}`.
pub fn client_secret(n: usize) -> String {
    format!("secret-of-client-{n}-0123456789abcdef")
}

static SHARED: OnceLock<OidcProvider> = OnceLock::new();
static NEXT_CLIENT: Mutex<usize> = Mutex::new(0);

impl OidcProvider {
    /// Starts a provider with [`CLIENTS`] clients.
    pub fn start() -> Self {
        let dir = paths::repo().join("tests/peers/oidc");
        assert!(
            dir.join("node_modules/oidc-provider").exists(),
            "the OIDC provider is not installed: run `make test-deps` (npm ci in tests/peers/oidc)"
        );
        let clients: Vec<serde_json::Value> = (0..CLIENTS)
            .map(|n| serde_json::json!({"client_id": format!("client-{n}"), "client_secret": client_secret(n)}))
            .collect();
        let config = serde_json::json!({
            "clients": clients,
            "redirect_prefix": REDIRECT_PREFIX,
            "accounts": {
                "alice": {"email": "alice@acme.test", "email_verified": true, "name": "Alice", "groups": ["engineers", "admins"]},
                "eve": {"email": "eve@acme.test", "email_verified": false, "name": "Eve", "groups": ["engineers"]},
            },
        });
        let log = tempfile::Builder::new()
            .prefix("oidc-provider-")
            .suffix(".log")
            .tempfile()
            .expect("provider log")
            .keep()
            .expect("keep the provider log")
            .0;
        let mut child = Command::new("node")
            .arg(dir.join("provider.mjs"))
            .arg(config.to_string())
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start node (is nodejs installed? `make test-deps` installs it)");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let ready = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        crate::peer::kill_unless_ready(child.id(), ready.clone());
        let mut issuer = None;
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            let line = line.expect("provider output");
            if let Some(rest) = line.strip_prefix("listening ") {
                issuer = Some(rest.trim().to_string());
                break;
            }
        }
        ready.store(true, std::sync::atomic::Ordering::Release);
        // The provider keeps printing notices; reading them keeps it from
        // failing on a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self {
            issuer: issuer.expect("the OIDC provider did not start"),
            child: Mutex::new(child),
            _stdin: stdin,
        }
    }

    /// The provider every test of this binary shares.
    pub fn shared() -> &'static Self {
        SHARED.get_or_init(Self::start)
    }

    /// A client of the shared provider no other test uses: its number.
    pub fn take_client() -> usize {
        let mut next = NEXT_CLIENT.lock().expect("client counter");
        let n = *next;
        assert!(n < CLIENTS, "more OIDC tests than registered clients");
        *next += 1;
        n
    }

    /// The `host:port` of the provider, for an egress allow-list.
    pub fn authority(&self) -> &str {
        self.issuer.trim_start_matches("http://")
    }

    /// Makes the token endpoint forge the ID tokens of `client` (see
    /// `provider.mjs`); `None` stops it.
    pub async fn set_mode(&self, client: &str, mode: Option<&str>) {
        let body = serde_json::json!({"client_id": client, "mode": mode});
        let reply = Browser::default()
            .post_json(&format!("{}/__test/mode", self.issuer), &body)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    }

    /// Sets the claims of account `login`.
    pub async fn set_account(&self, login: &str, claims: serde_json::Value) {
        let mut body = claims;
        body["login"] = login.into();
        let reply = Browser::default()
            .post_json(&format!("{}/__test/account", self.issuer), &body)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    }

    /// How many times the JWKS was fetched.
    pub async fn jwks_fetches(&self) -> u64 {
        self.stat("jwks_fetches").await
    }

    /// How many times the Graph stand-in was asked for a user's groups.
    pub async fn graph_calls(&self) -> u64 {
        self.stat("graph_calls").await
    }

    /// The Google service account the directory stand-in trusts:
    /// `{"client_email", "private_key", "directory_calls"}`, as in a key
    /// file (and a count of directory calls).
    pub async fn service_account(&self) -> serde_json::Value {
        let reply = Browser::default()
            .get(&format!("{}/__test/service-account", self.issuer))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        reply.json()
    }

    async fn stat(&self, name: &str) -> u64 {
        let reply = Browser::default()
            .get(&format!("{}/__test/stats", self.issuer))
            .await;
        reply.json()[name].as_u64().expect("count")
    }

    /// Signs `login` in at the provider, starting from the authorization
    /// URL the gateway redirected to; returns the URL the provider sends
    /// the browser back to (the gateway's callback, with code and state).
    pub async fn sign_in(&self, authorization_url: &str, login: &str) -> String {
        let mut browser = Browser::default();
        let mut url = authorization_url.to_string();
        for _ in 0..12 {
            if !url.starts_with(&self.issuer) {
                return url;
            }
            let reply = browser.get(&url).await;
            if reply.status.is_redirection() {
                url = self.absolute(&reply.location());
                continue;
            }
            assert_eq!(reply.status, StatusCode::OK, "{url}: {}", reply.text());
            // An interaction page: log in, or consent.
            let page = reply.text();
            let prompt = if page.contains("name=\"login\"") {
                format!("prompt=login&login={login}&password=any")
            } else {
                "prompt=consent".to_string()
            };
            let answer = browser.post_form(&url, &prompt).await;
            assert!(
                answer.status.is_redirection(),
                "{url}: {} {}",
                answer.status,
                answer.text()
            );
            url = self.absolute(&answer.location());
        }
        panic!("the provider never sent the browser back");
    }

    fn absolute(&self, location: &str) -> String {
        if location.starts_with('/') {
            format!("{}{location}", self.issuer)
        } else {
            location.to_string()
        }
    }
}
