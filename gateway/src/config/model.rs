//! The configuration file's shape. Every field has a safe default where one
//! exists; unknown keys are errors, so typos do not pass silently.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The whole gateway configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Directory for the store, keys and generated certificates.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Listeners, limits and timeouts.
    #[serde(default)]
    pub server: ServerConfig,
    /// TLS certificate; a self-signed one is generated when absent.
    #[serde(default)]
    pub tls: TlsConfig,
    /// Which plugins authenticate and authorize requests.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Sessions, access tokens, API keys and local accounts.
    #[serde(default)]
    pub identity: IdentityConfig,
    /// Role-based access control policy.
    #[serde(default)]
    pub authz: AuthzConfig,
    /// The audit log: checkpoints, sinks, retention.
    #[serde(default)]
    pub audit: AuditConfig,
    /// Secret references in plugin settings.
    #[serde(default)]
    pub secrets: SecretsConfig,
    /// Encryption at rest: which key provider wraps the store's data keys.
    #[serde(default)]
    pub encryption: EncryptionConfig,
    /// Plugin instances by name.
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginConfig>,
    /// Reverse-proxy routes, matched in order of specificity.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// Single sign-on identity providers declared here rather than through
    /// the API (which then cannot change them).
    #[serde(default)]
    pub identity_providers: Vec<IdentityProviderConfig>,
    /// The file this configuration came from (not part of the file).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("portcullis-data")
}

/// An organization's identity provider, declared in the file: applied at
/// start and at every reload (created, or changed when it differs).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityProviderConfig {
    /// Its stable id, in its URLs: `idp_` then 1 to 60 of `a-z`, `0-9`, `_`.
    pub id: String,
    /// The id of the organization whose users sign in through it.
    pub org: String,
    /// Its name, unique in the organization.
    pub name: String,
    /// The configured auth-provider plugin (a template) it instantiates.
    pub plugin: String,
    /// Its settings, as the plugin documents them.
    #[serde(default = "empty_table")]
    pub config: toml::Table,
    /// Its secret settings: stored sealed, never returned by the API.
    #[serde(default = "empty_table")]
    pub secrets: toml::Table,
}

/// Listeners, limits and timeouts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// HTTPS listen address.
    pub listen: SocketAddr,
    /// Optional plain-HTTP listener that only redirects to HTTPS.
    pub http_redirect_listen: Option<SocketAddr>,
    /// `Strict-Transport-Security` max-age in seconds; 0 disables the header.
    pub hsts_max_age_secs: u64,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Largest request head (request line + headers) accepted, in bytes.
    pub max_header_bytes: usize,
    /// Time allowed for the TLS handshake.
    pub tls_handshake_timeout_ms: u64,
    /// Time allowed to receive a request's headers (defeats slowloris).
    pub header_read_timeout_ms: u64,
    /// Time allowed for a whole request, upstream included.
    pub request_timeout_ms: u64,
    /// Time in-flight requests get to finish on shutdown.
    pub shutdown_grace_ms: u64,
    /// Most concurrent connections; further ones wait in the accept queue.
    pub max_connections: usize,
    /// Threads serving HTTPS connections, each with its own event loop
    /// (a connection stays on the thread that accepted it); 0, the
    /// default, means one per CPU core.
    pub threads: usize,
    /// A connection with no request in flight this long is closed (HTTP/1
    /// keep-alive and HTTP/2 alike), so idle clients cannot hold permits.
    pub idle_timeout_ms: u64,
    /// Most concurrent streams one HTTP/2 connection may open.
    pub http2_max_concurrent_streams: u32,
    /// Time allowed to receive a whole request body; a client dripping it
    /// slower gets 408 and the connection is freed.
    pub body_read_timeout_ms: u64,
    /// The gateway's public host name (`host[:port]`) as clients reach it.
    /// When set, it is the only origin cookie-authenticated changes may
    /// come from and the `x-forwarded-host` sent upstream; when not, the
    /// request's `Host`, once checked to be a plain `host[:port]`.
    pub public_host: Option<String>,
    /// Networks (CIDRs) of load balancers in front of the gateway whose
    /// `X-Forwarded-For` is believed. Empty (the default): the TCP peer is
    /// the client and `X-Forwarded-For` is ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Whether upstreams treat paths case-insensitively (IIS, some Windows
    /// and macOS file servers). Then the canonical path is lower-cased
    /// before routing and forwarding, so `/V1/ADMIN` cannot slip past a
    /// route for `/v1/admin` by a weaker catch-all. Route templates must
    /// then be lower case.
    pub case_insensitive_paths: bool,
    /// CA certificates (PEM files) every plugin's outbound HTTPS may also
    /// chain to, beyond the Mozilla root store; a plugin's own
    /// `ca_bundles` add to these.
    pub egress_ca_bundles: Vec<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            http_redirect_listen: None,
            hsts_max_age_secs: 31_536_000,
            max_body_bytes: 1024 * 1024,
            max_header_bytes: 16 * 1024,
            tls_handshake_timeout_ms: 10_000,
            header_read_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
            shutdown_grace_ms: 10_000,
            max_connections: 10_000,
            threads: 0,
            idle_timeout_ms: 60_000,
            http2_max_concurrent_streams: 100,
            body_read_timeout_ms: 10_000,
            public_host: None,
            trusted_proxies: Vec::new(),
            case_insensitive_paths: false,
            egress_ca_bundles: Vec::new(),
        }
    }
}

/// TLS certificate and key, as PEM files.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain (PEM). With `key`; both absent means self-signed.
    pub cert: Option<PathBuf>,
    /// Private key (PEM, PKCS#8, SEC1 or PKCS#1).
    pub key: Option<PathBuf>,
}

/// Which plugins authenticate and authorize requests.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The `authorizer` plugin every route's permission is checked with.
    pub authorizer: Option<String>,
    /// `auth-provider` plugins asked, in order, to verify request credentials.
    #[serde(default)]
    pub providers: Vec<String>,
    /// An `authorizer` plugin that evaluates every check alongside the
    /// active one and never decides: each disagreement is logged with both
    /// receipts and counted (`portcullis_authz_shadow_disagreements_total`),
    /// so an operator can switch policy models safely.
    #[serde(default)]
    pub shadow_authorizer: Option<String>,
}

/// Role-based access control policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthzConfig {
    /// Permissions granted only to sessions that signed in with the
    /// second factor (`amr` `mfa`); a refusal for this reason has the code
    /// `mfa_required`. API keys never carry `mfa`.
    pub mfa_required: Vec<String>,
    /// How often the gateway looks for policy changes made through other
    /// gateways sharing the store, in seconds.
    pub poll_interval_secs: u64,
}

impl Default for AuthzConfig {
    fn default() -> Self {
        Self {
            mfa_required: crate::authz::catalogue::mfa_defaults(),
            poll_interval_secs: 5,
        }
    }
}

/// Secret references (`secret://…`) in plugin settings.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// How long a resolved reference is used before it is read again, in
    /// seconds: a plugin whose references now resolve to other values (a
    /// rotated secret) is restarted with them. A reload reads them at once.
    pub refresh_secs: u64,
}

impl Default for SecretsConfig {
    fn default() -> Self {
        Self { refresh_secs: 300 }
    }
}

/// Encryption at rest of the store's records.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct EncryptionConfig {
    /// The key-provider plugin instance that wraps the store's data keys;
    /// it is started on its own before anything else, so its settings
    /// cannot be secret references. Unset: the data directory's local key
    /// file wraps them.
    pub key_provider: Option<String>,
    /// How long an unwrapped data key is used before the key provider is
    /// asked again whether it still grants it, in seconds. A refusal drops
    /// the key from memory; an outage keeps it serving.
    pub data_key_max_age_secs: u64,
}

impl Default for EncryptionConfig {
    fn default() -> Self {
        Self {
            key_provider: None,
            data_key_max_age_secs: 3600,
        }
    }
}

/// The audit log.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Sign a checkpoint after this many events.
    pub checkpoint_every_events: u64,
    /// Sign a checkpoint at least this often (seconds) while events arrive.
    pub checkpoint_interval_secs: u64,
    /// Events waiting to be written before new ones are dropped (and
    /// counted); changes to records never wait here.
    pub queue_capacity: usize,
    /// Keep events this many days; older whole checkpoint segments are
    /// pruned, so what remains still verifies. `0` keeps everything.
    pub retention_days: u64,
    /// Refusals of one kind (failed sign-ins, denied requests) from one
    /// client recorded at once; past that they are counted, and the next
    /// recorded one says how many were left out.
    pub refusal_burst: u32,
    /// And then recorded per second, at most (the burst refills at this
    /// rate).
    pub refusals_per_second: f64,
    /// Where else every committed record goes.
    pub sinks: Vec<AuditSinkConfig>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            checkpoint_every_events: 1000,
            checkpoint_interval_secs: 10,
            queue_capacity: 65_536,
            retention_days: 0,
            refusal_burst: 100,
            refusals_per_second: 20.0,
            sinks: Vec::new(),
        }
    }
}

/// One audit sink.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSinkConfig {
    /// `stdout`, or `file` (rotated at `max_bytes`, keeping `keep` old files).
    pub kind: AuditSinkKind,
    /// `json` (the stored record) or `ocsf` (OCSF 1.x API Activity and
    /// Authentication classes, for SIEMs).
    #[serde(default)]
    pub format: AuditSinkFormat,
    /// The file, for `file`.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Rotate the file past this size.
    #[serde(default = "default_sink_max_bytes")]
    pub max_bytes: u64,
    /// Rotated files kept.
    #[serde(default = "default_sink_keep")]
    pub keep: u32,
}

fn default_sink_max_bytes() -> u64 {
    64 * 1024 * 1024
}

fn default_sink_keep() -> u32 {
    5
}

/// Where a sink writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditSinkKind {
    /// Standard output, one line per event (for a log shipper).
    Stdout,
    /// A file, rotated by size.
    File,
}

/// How a sink writes each event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditSinkFormat {
    /// The stored record, as hashed.
    #[default]
    Json,
    /// OCSF.
    Ocsf,
}

/// Sessions, access tokens, API keys and local accounts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// The `auth-provider` plugin that keeps local accounts (passwords,
    /// TOTP, recovery codes). Without one, users sign in only through SSO.
    pub local_provider: Option<String>,
    /// `iss` of access tokens (and what they are checked against).
    pub issuer: String,
    /// `aud` of access tokens.
    pub audience: String,
    /// Lifetime of an access token, in seconds.
    pub access_token_ttl_secs: u64,
    /// A new signing key is made this often; the previous one keeps
    /// verifying until every token it signed has expired.
    pub signing_key_rotation_secs: u64,
    /// A session unused this long ends.
    pub session_idle_timeout_secs: u64,
    /// A session ends this long after sign-in, used or not.
    pub session_absolute_timeout_secs: u64,
    /// Name of the session cookie.
    pub session_cookie: String,
    /// How long an unfinished login (e.g. waiting for the TOTP code) lasts.
    pub login_flow_timeout_secs: u64,
    /// How long a cached session, user or API key is trusted before it is
    /// re-read from the store. Changes made through this gateway apply at
    /// once; this bounds how late changes by other gateways or the offline
    /// `portcullis admin` command are seen.
    pub cache_ttl_ms: u64,
    /// Email of the administrator created on first start.
    pub bootstrap_admin_email: String,
    /// How recent a sign-in with the current second factor must be for
    /// sensitive changes to one's own account (re-enrolling TOTP,
    /// regenerating recovery codes, minting API keys), in seconds.
    pub step_up_max_age_secs: u64,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            local_provider: None,
            issuer: "portcullis".into(),
            audience: "portcullis-api".into(),
            access_token_ttl_secs: 300,
            signing_key_rotation_secs: 86_400,
            session_idle_timeout_secs: 1_800,
            session_absolute_timeout_secs: 43_200,
            session_cookie: "portcullis_session".into(),
            login_flow_timeout_secs: 600,
            cache_ttl_ms: 2_000,
            bootstrap_admin_email: "admin@portcullis.local".into(),
            step_up_max_age_secs: 600,
        }
    }
}

/// One plugin instance.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// The component file (`.wasm`).
    pub path: PathBuf,
    /// Memory cap per instance, in MiB.
    #[serde(default = "default_memory_limit_mib")]
    pub memory_limit_mib: u64,
    /// Time one call may take before it is stopped and fails closed.
    #[serde(default = "default_deadline_ms")]
    pub deadline_ms: u64,
    /// Most warm instances kept for concurrent calls.
    #[serde(default = "default_instances")]
    pub instances: usize,
    /// Hosts (`host` or `host:port`) the plugin may reach over HTTP(S).
    #[serde(default)]
    pub allow_hosts: Vec<String>,
    /// CA certificates (PEM files) its outbound HTTPS may also chain to,
    /// beyond the Mozilla root store (a private Key Vault's CA). After
    /// loading, `server.egress_ca_bundles` come first.
    #[serde(default)]
    pub ca_bundles: Vec<PathBuf>,
    /// The plugin's own settings, handed to it as JSON.
    #[serde(default = "empty_table")]
    pub config: toml::Table,
}

impl PluginConfig {
    /// A plugin at `path` with `config` and default limits.
    pub fn new(path: PathBuf, config: toml::Table) -> Self {
        Self {
            path,
            memory_limit_mib: default_memory_limit_mib(),
            deadline_ms: default_deadline_ms(),
            instances: default_instances(),
            allow_hosts: Vec::new(),
            ca_bundles: Vec::new(),
            config,
        }
    }
}

/// Shows the plugin's config keys but never their values, which may be secret.
impl std::fmt::Debug for PluginConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginConfig")
            .field("path", &self.path)
            .field("memory_limit_mib", &self.memory_limit_mib)
            .field("deadline_ms", &self.deadline_ms)
            .field("instances", &self.instances)
            .field("allow_hosts", &self.allow_hosts)
            .field("ca_bundles", &self.ca_bundles)
            .field("config_keys", &self.config.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn default_memory_limit_mib() -> u64 {
    64
}
fn default_deadline_ms() -> u64 {
    1_000
}
fn default_instances() -> usize {
    16
}
fn empty_table() -> toml::Table {
    toml::Table::new()
}

/// The permission a route demands.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permission {
    /// The action, e.g. `connections.read`.
    pub action: String,
    /// Resource template, filled from path parameters: `connections/{id}`.
    pub resource: String,
}

/// A reverse-proxy route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Name used in logs and metrics.
    pub name: String,
    /// Methods matched; empty means any.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Path template, e.g. `/v1/connections/{id}`; `{*rest}` matches the tail.
    pub path: String,
    /// Upstream base URL (`http://host:port`); the request path is appended.
    pub upstream: String,
    /// The permission checked by the authorizer before forwarding.
    pub permission: Permission,
    /// Let requests without credentials through to the authorizer as the
    /// `anonymous` principal. Off by default: no credential, no entry.
    #[serde(default)]
    pub allow_anonymous: bool,
    /// Forward the client's `Authorization` header upstream (off by default).
    #[serde(default)]
    pub forward_authorization: bool,
    /// Upstream timeout; defaults to the server's request timeout.
    pub timeout_ms: Option<u64>,
}

impl Config {
    /// Resolves relative paths against the config file's directory.
    pub(super) fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        resolve(&mut self.data_dir);
        if let Some(cert) = self.tls.cert.as_mut() {
            resolve(cert);
        }
        if let Some(key) = self.tls.key.as_mut() {
            resolve(key);
        }
        self.server.egress_ca_bundles.iter_mut().for_each(resolve);
        for plugin in self.plugins.values_mut() {
            resolve(&mut plugin.path);
            plugin.ca_bundles.iter_mut().for_each(resolve);
            // The gateway's bundles first, then the plugin's own.
            let own = std::mem::take(&mut plugin.ca_bundles);
            plugin.ca_bundles = self
                .server
                .egress_ca_bundles
                .iter()
                .cloned()
                .chain(own)
                .collect();
        }
        for sink in &mut self.audit.sinks {
            if let Some(path) = sink.path.as_mut() {
                resolve(path);
            }
        }
    }
}

/// The configuration `portcullis serve` runs without a file.
pub(super) fn embedded_default(data_dir: &Path, plugin_dir: &Path) -> Config {
    let mut plugins = BTreeMap::new();
    // Role-based access control over the store's roles and bindings. Each
    // instance holds the whole policy index: few instances, room for a
    // large policy.
    let mut authz = PluginConfig::new(plugin_dir.join("authz_rbac.wasm"), toml::Table::new());
    authz.instances = 4;
    authz.memory_limit_mib = 512;
    authz.deadline_ms = 5_000;
    plugins.insert("authz".to_string(), authz);
    let mut local = PluginConfig::new(plugin_dir.join("authn_local.wasm"), toml::Table::new());
    // argon2id needs 19 MiB per hash; few instances keep memory bounded.
    local.instances = 4;
    local.deadline_ms = 5_000;
    plugins.insert("local".to_string(), local);
    // Secret references `secret://file/{name}`, written with `portcullis secrets set`.
    let mut file = PluginConfig::new(plugin_dir.join("secrets_file.wasm"), toml::Table::new());
    file.instances = 1;
    plugins.insert("file".to_string(), file);
    Config {
        data_dir: data_dir.to_path_buf(),
        server: ServerConfig::default(),
        tls: TlsConfig::default(),
        auth: AuthConfig {
            authorizer: Some("authz".into()),
            providers: Vec::new(),
            shadow_authorizer: None,
        },
        identity: IdentityConfig {
            local_provider: Some("local".into()),
            ..IdentityConfig::default()
        },
        authz: AuthzConfig::default(),
        audit: AuditConfig::default(),
        secrets: SecretsConfig::default(),
        // The embedded default adds the bundled `keys-local` as `keys`.
        encryption: EncryptionConfig {
            key_provider: Some("keys".into()),
            ..EncryptionConfig::default()
        },
        plugins,
        routes: Vec::new(),
        identity_providers: Vec::new(),
        source: None,
    }
}
