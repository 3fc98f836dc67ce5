//! Starting, reloading and stopping a gateway.
//!
//! `start` binds the listeners and returns a [`RunningGateway`] handle: the
//! CLI wires SIGHUP to [`RunningGateway::reload`] and SIGTERM to
//! [`RunningGateway::shutdown`]; tests call them directly.

mod connection;
mod listener;
mod threads;

use crate::audit::AuditLog;
use crate::authz::{Authz, Scope, Subject};
use crate::config::{Config, ConfigError};
use crate::data_dir::{DataDir, DataDirError};
use crate::http::proxy::{RouteTable, UpstreamClient};
use crate::http::{Gateway, GatewayState};
use crate::identity::{BootstrapAdmin, Identity, IdentityError};
use crate::metrics::Metrics;
use crate::plugin::{
    PluginEngine, PluginKeyWrapper, PluginLoadError, PluginRegistry, ReloadReport, World,
};
use crate::store::{KeyWrapper, KeyringSettings, LegacySealer, LocalKeyWrapper, Store, StoreError};
use crate::tls::{self, CertificateSource, CertificateStore, TlsError};
use arc_swap::ArcSwap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Why the gateway could not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The data directory could not be prepared.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A plugin could not be loaded.
    #[error(transparent)]
    Plugin(#[from] PluginLoadError),
    /// The certificate could not be loaded.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// A serving thread or its event loop could not be started.
    #[error("cannot start the serving threads: {0}")]
    Threads(std::io::Error),
    /// The policy could not be loaded.
    #[error("cannot load the authorization policy: {0}")]
    Authz(#[from] crate::authz::AuthzError),
    /// The identity service could not start (store or signing keys).
    #[error("cannot start the identity service: {0}")]
    Identity(#[from] IdentityError),
    /// The audit log could not start.
    #[error("cannot start the audit log: {0}")]
    Audit(#[from] crate::audit::AuditError),
    /// Routes conflict.
    #[error("{file}: {source}")]
    Routes {
        /// The config origin.
        file: String,
        /// The conflict.
        source: crate::http::proxy::RouteTableError,
    },
}

/// What a reload did.
#[derive(Debug, Clone)]
pub struct ReloadOutcome {
    /// Plugin changes.
    pub plugins: ReloadReport,
    /// Whether the certificate was re-read.
    pub certificate_reloaded: bool,
}

/// A gateway that is serving.
pub struct RunningGateway {
    https_addr: SocketAddr,
    http_addr: Option<SocketAddr>,
    certificate_fingerprint: String,
    certificate_generated: bool,
    state: Arc<GatewayState>,
    certificates: Arc<CertificateStore>,
    config: Mutex<Config>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
    audit_writer: AuditWriter,
    bootstrap_admin: Mutex<Option<BootstrapAdmin>>,
}

impl std::fmt::Debug for RunningGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningGateway")
            .field("https_addr", &self.https_addr)
            .finish()
    }
}

fn certificate_source(config: &Config, data: &DataDir) -> CertificateSource {
    match (&config.tls.cert, &config.tls.key) {
        (Some(cert), Some(key)) => CertificateSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        _ => CertificateSource::SelfSigned {
            dir: data.tls_dir(),
        },
    }
}

fn route_table(config: &Config) -> Result<RouteTable, ServerError> {
    RouteTable::build(
        &config.routes,
        Duration::from_millis(config.server.request_timeout_ms),
    )
    .map_err(|source| ServerError::Routes {
        file: config.origin(),
        source,
    })
}

/// The parts of a gateway that hold state, without any listener: what
/// `serve` runs on and what `portcullis admin` works with.
#[derive(Debug)]
pub struct Core {
    /// The data directory.
    pub data: DataDir,
    /// The store.
    pub store: Store,
    /// Loaded plugins.
    pub plugins: Arc<PluginRegistry>,
    /// The identity service.
    pub identity: Arc<Identity>,
    /// Policy administration and the policy snapshot.
    pub authz: Arc<Authz>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The audit log.
    pub audit: Arc<AuditLog>,
    audit_writer: AuditWriter,
}

/// The audit log's writer task and the signal that stops it.
#[derive(Debug)]
struct AuditWriter {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// The data directory, its store (unlocked) and the plugins: what
/// `serve`, `portcullis admin`, `keys` and `audit` work with.
#[derive(Debug)]
pub struct OpenedStore {
    /// The data directory.
    pub data: DataDir,
    /// The store, its data keys unlocked and older clear values sealed.
    pub store: Store,
    /// The loaded plugins.
    pub plugins: Arc<PluginRegistry>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

/// Opens the data directory and store, unlocks the store's data keys
/// with the configured key provider, then loads the plugins (whose secret
/// references may read the store, through `secrets-file`).
pub async fn open_store(config: &Config) -> Result<OpenedStore, ServerError> {
    let data = DataDir::prepare(&config.data_dir)?;
    let keys = KeyringSettings {
        max_age: Duration::from_secs(config.encryption.data_key_max_age_secs),
    };
    let store = Store::open_sqlite(&data.store_path(), keys).await?;
    let metrics = Metrics::new();
    let root_key = data.local_key()?;
    let provider = key_provider(config, &store, &metrics, &root_key).await?;
    let legacy = LegacySealer::from_local_key(&root_key).map_err(StoreError::from)?;
    store.unlock(provider, Some(&legacy)).await?;
    let plugins = Arc::new(
        PluginRegistry::load(
            PluginEngine::new()?,
            &config.plugins,
            &config.auth,
            store.clone(),
            metrics.clone(),
        )
        .await?,
    );
    Ok(OpenedStore {
        data,
        store,
        plugins,
        metrics,
    })
}

/// The key provider that wraps the store's data keys: the key-provider
/// plugin `[encryption] key_provider` names, loaded on its own before
/// anything reads the store; without one, the data directory's local key.
async fn key_provider(
    config: &Config,
    store: &Store,
    metrics: &Arc<Metrics>,
    root_key: &secrecy::SecretBox<[u8; 32]>,
) -> Result<Arc<dyn KeyWrapper>, ServerError> {
    let invalid = |expected: String| {
        ServerError::Config(ConfigError::Invalid {
            file: config
                .source
                .clone()
                .unwrap_or_else(|| PathBuf::from("<embedded default>")),
            key: "encryption.key_provider".into(),
            expected,
        })
    };
    let Some(name) = &config.encryption.key_provider else {
        let local = LocalKeyWrapper::from_local_key(root_key).map_err(|e| {
            StoreError::Seal(crate::store::SealError::KeyUnavailable {
                key: "local".into(),
                reason: e.to_string(),
            })
        })?;
        return Ok(Arc::new(local));
    };
    let Some(plugin) = config.plugins.get(name) else {
        return Err(invalid(format!(
            "the name of a key-provider plugin under [plugins], not `{name}`"
        )));
    };
    let only = std::collections::BTreeMap::from([(name.clone(), plugin.clone())]);
    // Its own registry: started before the store is readable, so its
    // settings cannot be secret references (there is no secrets backend
    // yet); the registry keeps it for the store's life.
    let registry = Arc::new(
        PluginRegistry::load(
            PluginEngine::new()?,
            &only,
            &crate::config::AuthConfig::default(),
            store.clone(),
            metrics.clone(),
        )
        .await?,
    );
    if !registry
        .list()
        .iter()
        .any(|(plugin, world)| plugin == name && *world == World::KeyProvider)
    {
        return Err(invalid(format!(
            "the name of a key-provider plugin; `{name}` implements another world"
        )));
    }
    Ok(Arc::new(PluginKeyWrapper::holding(registry, name)))
}

impl Core {
    /// Opens the data directory and store, loads the plugins and starts the
    /// identity service (making the default organization if needed).
    pub async fn open(config: &Config) -> Result<Self, ServerError> {
        let OpenedStore {
            data,
            store,
            plugins,
            metrics,
        } = open_store(config).await?;
        let root_key = data.local_key()?;
        let (stop, stopped) = watch::channel(false);
        let (audit, task) = AuditLog::start(store.clone(), config.audit.clone(), stopped).await?;
        tokio::spawn(crate::audit::sink::run(
            store.audit().subscribe(),
            config.audit.sinks.clone(),
        ));
        for (plugin, world) in plugins.list() {
            audit.events().emit(crate::audit::Event::PluginLoaded {
                plugin,
                world: world.name().into(),
            });
        }
        let identity = Arc::new(
            Identity::new(
                store.clone(),
                plugins.clone(),
                config.identity.clone(),
                &root_key,
                metrics.clone(),
                audit.events(),
            )
            .await?,
        );
        let authz = Arc::new(
            Authz::load(
                store.clone(),
                audit.events(),
                config.authz.mfa_required.clone(),
            )
            .await?,
        );
        // Authorizers hold the policy before the first request.
        plugins.install_policy(&authz.snapshot()).await?;
        Ok(Self {
            data,
            store,
            plugins,
            identity,
            authz,
            metrics,
            audit,
            audit_writer: AuditWriter { stop, task },
        })
    }

    /// Writes the audit events still queued, signs a last checkpoint and
    /// stops the audit writer.
    pub async fn close(self) {
        let _ = self.audit_writer.stop.send(true);
        if let Err(error) = self.audit_writer.task.await {
            tracing::error!(%error, "the audit writer ended abnormally");
        }
    }
}

/// Creates or changes the identity providers `config` declares; the first
/// one refused is a configuration error naming it.
async fn apply_declared_providers(identity: &Identity, config: &Config) -> Result<(), ServerError> {
    identity
        .apply_declared_providers(&config.identity_providers)
        .await
        .map_err(|(i, error)| {
            ServerError::Config(ConfigError::Invalid {
                file: config
                    .source
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("<embedded default>")),
                key: format!("identity_providers[{i}]"),
                expected: format!("an identity provider its plugin accepts ({})", error),
            })
        })
}

/// How often signing keys are rotated/retired, dead sessions and expired
/// plugin records purged.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(60);
/// Maintenance rounds between two descriptions of every identity provider
/// (for the certificate expiry gauge): 15 minutes.
const CERTIFICATE_WATCH_TICKS: u32 = 15;
/// How long ended sessions are kept (for listing and forensics).
const ENDED_SESSION_RETENTION_SECS: i64 = 7 * 86_400;

/// An interval whose first tick is one period from now.
fn ticker(every: Duration) -> tokio::time::Interval {
    tokio::time::interval_at(tokio::time::Instant::now() + every, every)
}

/// Waits for the next tick; false once the gateway is shutting down.
async fn next_tick(
    ticks: &mut tokio::time::Interval,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    tokio::select! {
        _ = ticks.tick() => true,
        _ = shutdown.changed() => false,
    }
}

async fn maintain_identity(
    identity: Arc<Identity>,
    store: Store,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticks = ticker(MAINTENANCE_INTERVAL);
    identity.watch_sso_certificates().await;
    let mut since_certificate_watch = 0_u32;
    while next_tick(&mut ticks, &mut shutdown).await {
        since_certificate_watch += 1;
        if since_certificate_watch >= CERTIFICATE_WATCH_TICKS {
            since_certificate_watch = 0;
            identity.watch_sso_certificates().await;
        }
        let now = crate::identity::now();
        if let Err(error) = identity.signer().maintain(now).await {
            tracing::error!(%error, "signing key maintenance failed; will retry");
        }
        match store
            .purge_sessions(now - ENDED_SESSION_RETENTION_SECS)
            .await
        {
            Ok(0) => {}
            Ok(purged) => tracing::debug!(purged, "purged ended sessions"),
            Err(error) => tracing::warn!(%error, "session purge failed; will retry"),
        }
        match store.purge_expired_kv().await {
            Ok(0) => {}
            Ok(purged) => tracing::debug!(purged, "purged expired plugin records"),
            Err(error) => tracing::warn!(%error, "plugin record purge failed; will retry"),
        }
    }
}

/// How often the store's data keys are checked: a rotation made elsewhere
/// is picked up, keys past their maximum age re-checked with the key
/// provider, and values under an older key re-sealed.
const KEY_MAINTENANCE_INTERVAL: Duration = Duration::from_secs(5);

async fn maintain_keys(store: Store, mut shutdown: watch::Receiver<bool>) {
    let mut ticks = ticker(KEY_MAINTENANCE_INTERVAL);
    // The key the last complete re-sealing pass left everything under.
    let mut resealed_under: Option<String> = None;
    // The current key, and since when this gateway has seen it so.
    let mut seen: Option<(String, std::time::Instant)> = None;
    while next_tick(&mut ticks, &mut shutdown).await {
        if let Err(error) = store.refresh_keys().await {
            tracing::warn!(%error, "data key refresh failed; will retry");
            continue;
        }
        let current = store.current_data_key().ok();
        if current.is_none() || current == resealed_under {
            continue;
        }
        if seen.as_ref().map(|(key, _)| key) != current.as_ref() {
            seen = current.clone().map(|key| (key, std::time::Instant::now()));
        }
        let pass_began = std::time::Instant::now();
        match store.reencrypt().await {
            Ok(report) => {
                if report.rows > 0 {
                    tracing::info!(
                        records = report.rows,
                        "re-sealed records under the current data key"
                    );
                }
                // A write that took the older key just before the switch may
                // commit after this pass read its table: the work is done
                // only when a pass that began a whole interval after the
                // switch finds nothing left.
                let settled = seen.as_ref().is_some_and(|(_, since)| {
                    pass_began.duration_since(*since) >= KEY_MAINTENANCE_INTERVAL
                });
                if report.skipped == 0 && report.rows == 0 && settled {
                    resealed_under = current;
                }
            }
            Err(error) => {
                tracing::warn!(%error, "re-sealing under the current data key failed; will retry")
            }
        }
    }
}

/// Picks up policy changes other gateways sharing the store made.
async fn follow_policy(
    state: Arc<GatewayState>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticks = ticker(every);
    while next_tick(&mut ticks, &mut shutdown).await {
        match state.authz.refresh().await {
            Ok(_) => {
                if let Err(error) = crate::http::permission::publish(&state).await {
                    tracing::warn!(
                        ?error,
                        "the authorizer could not load the new policy; will retry"
                    );
                }
            }
            Err(error) => {
                tracing::warn!(%error, "policy refresh failed; keeping the current snapshot");
            }
        }
    }
}

/// Resolves the plugins' secret references again every `every`, so a
/// rotated secret reaches its plugin without a reload.
async fn refresh_secrets(
    plugins: Arc<crate::plugin::PluginRegistry>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticks = ticker(every);
    while next_tick(&mut ticks, &mut shutdown).await {
        let report = plugins.refresh_secret_references().await;
        for name in &report.swapped {
            tracing::info!(plugin = %name, "a secret reference changed value; the plugin was restarted with it");
        }
        for (name, error) in &report.failed {
            tracing::warn!(plugin = %name, %error, "secret references could not be refreshed; the plugin keeps its current values");
        }
    }
}

/// Starts a gateway: data directory, store, certificate, plugins, listeners.
pub async fn start(config: Config) -> Result<RunningGateway, ServerError> {
    let core = Core::open(&config).await?;
    let bootstrap_admin = core.identity.bootstrap().await?;
    if let Some(admin) = &bootstrap_admin {
        core.authz
            .grant(
                &admin.org_id,
                &Subject::User(admin.user_id.clone()),
                "admin",
                &Scope::Organization,
                "bootstrap",
            )
            .await?;
    }
    // After the default organization exists.
    apply_declared_providers(&core.identity, &config).await?;
    let data = &core.data;
    let certificate_source = certificate_source(&config, data);
    let certificate = certificate_source.load()?;
    let certificates = CertificateStore::new(certificate.certified.clone());
    let tls_config = tls::server_config(certificates.clone())?;
    let routes = route_table(&config)?;

    let state = Arc::new(GatewayState {
        plugins: core.plugins.clone(),
        store: core.store.clone(),
        metrics: core.metrics.clone(),
        upstream: UpstreamClient::new(),
        routes: ArcSwap::from_pointee(routes),
        server: config.server.clone(),
        identity: core.identity.clone(),
        authz: core.authz.clone(),
        audit: core.audit.clone(),
        background: tokio::runtime::Handle::current(),
    });
    let gateway = Gateway::new(state.clone());

    let bind = |addr: SocketAddr| async move {
        tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })
    };
    // Bound here, then handed to the serving threads, which register it
    // with their own event loops.
    let https = bind(config.server.listen)
        .await?
        .into_std()
        .map_err(|source| ServerError::Bind {
            addr: config.server.listen,
            source,
        })?;
    let https_addr = https.local_addr().map_err(|source| ServerError::Bind {
        addr: config.server.listen,
        source,
    })?;
    let http = match config.server.http_redirect_listen {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let http_addr = match &http {
        Some(listener) => Some(listener.local_addr().map_err(|source| ServerError::Bind {
            addr: https_addr,
            source,
        })?),
        None => None,
    };

    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let serving_threads = threads::count(&config.server);
    let serving = threads::Serving {
        tls: tls_config,
        gateway,
        server: config.server.clone(),
        shutdown: shutdown_rx.clone(),
    };
    for ended in threads::start(serving_threads, https, https_addr, serving)? {
        tasks.spawn(async move {
            let _ = ended.await;
        });
    }
    if let Some(http) = http {
        tasks.spawn(listener::serve_redirect(
            http,
            https_addr.port(),
            config.server.clone(),
            shutdown_rx,
        ));
    }
    tasks.spawn(follow_policy(
        state.clone(),
        Duration::from_secs(config.authz.poll_interval_secs),
        shutdown.subscribe(),
    ));
    tasks.spawn(refresh_secrets(
        state.plugins.clone(),
        Duration::from_secs(config.secrets.refresh_secs),
        shutdown.subscribe(),
    ));
    tasks.spawn(maintain_identity(
        core.identity.clone(),
        core.store.clone(),
        shutdown.subscribe(),
    ));
    tasks.spawn(maintain_keys(core.store.clone(), shutdown.subscribe()));
    let audit_writer = core.audit_writer;
    // What compiling plugins and loading the policy needed, and no longer does.
    crate::memory::release_free_memory();
    tracing::info!(%https_addr, ?http_addr, serving_threads, config = %config.origin(), "portcullis is serving");
    Ok(RunningGateway {
        https_addr,
        http_addr,
        certificate_fingerprint: certificate.fingerprint,
        certificate_generated: certificate.generated,
        state,
        certificates,
        config: Mutex::new(config),
        shutdown,
        tasks,
        audit_writer,
        bootstrap_admin: Mutex::new(bootstrap_admin),
    })
}

impl RunningGateway {
    /// The HTTPS address actually bound.
    pub fn https_addr(&self) -> SocketAddr {
        self.https_addr
    }

    /// The redirect listener's address, if any.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// SHA-256 fingerprint of the serving certificate.
    pub fn certificate_fingerprint(&self) -> &str {
        &self.certificate_fingerprint
    }

    /// Whether the certificate was generated by this start.
    pub fn certificate_generated(&self) -> bool {
        self.certificate_generated
    }

    /// The administrator created by this start, handed out once so that
    /// its one-time password is shown exactly once.
    pub fn take_bootstrap_admin(&self) -> Option<BootstrapAdmin> {
        self.bootstrap_admin.lock().ok()?.take()
    }

    /// Shared state, for inspection.
    pub fn state(&self) -> &Arc<GatewayState> {
        &self.state
    }

    /// Re-reads the configuration file (if the gateway has one), the
    /// certificate, the routes and every plugin. Anything that fails to load
    /// keeps its running version; a configuration that fails to parse
    /// changes nothing at all.
    pub async fn reload(&self) -> Result<ReloadOutcome, ServerError> {
        let outcome = self.reload_now().await;
        if let Err(error) = &outcome {
            self.state
                .audit
                .events()
                .emit(crate::audit::Event::ConfigReloadFailed {
                    error: error.to_string(),
                });
        }
        outcome
    }

    async fn reload_now(&self) -> Result<ReloadOutcome, ServerError> {
        let source = self.config.lock().ok().and_then(|c| c.source.clone());
        let config = match source {
            Some(path) => Config::load(&path)?,
            None => match self.config.lock() {
                Ok(config) => config.clone(),
                Err(_) => {
                    return Err(ServerError::Config(ConfigError::Invalid {
                        file: PathBuf::from("<embedded default>"),
                        key: ".".into(),
                        expected: "a consistent configuration".into(),
                    }));
                }
            },
        };
        let routes = route_table(&config)?;
        let certificate_reloaded = match certificate_source(
            &config,
            &DataDir::prepare(&config.data_dir)?,
        )
        .load()
        {
            Ok(certificate) => {
                self.certificates.replace(certificate.certified);
                true
            }
            Err(error) => {
                tracing::error!(%error, "certificate reload failed; keeping the current certificate");
                false
            }
        };
        let plugins = self.state.plugins.reload(&config.plugins).await;
        self.state.routes.store(Arc::new(routes));
        let events = self.state.audit.events();
        // A declared provider its plugin refuses keeps its previous
        // settings; the others and the rest of the reload stand.
        if let Err(error) = apply_declared_providers(&self.state.identity, &config).await {
            tracing::error!(%error, "a declared identity provider was refused at reload");
            events.emit(crate::audit::Event::ConfigReloadFailed {
                error: error.to_string(),
            });
        }
        let worlds: std::collections::BTreeMap<_, _> =
            self.state.plugins.list().into_iter().collect();
        for plugin in &plugins.swapped {
            events.emit(crate::audit::Event::PluginLoaded {
                plugin: plugin.clone(),
                world: worlds.get(plugin).map_or("", |w| w.name()).into(),
            });
        }
        for (plugin, error) in &plugins.failed {
            events.emit(crate::audit::Event::PluginFailed {
                plugin: plugin.clone(),
                error: error.clone(),
            });
        }
        events.emit(crate::audit::Event::ConfigReloaded {
            routes: config.routes.len(),
        });
        if !plugins.swapped.is_empty() {
            crate::memory::release_free_memory();
        }
        tracing::info!(swapped = ?plugins.swapped, failed = ?plugins.failed, certificate_reloaded, "reloaded");
        if let Ok(mut current) = self.config.lock() {
            *current = config;
        }
        Ok(ReloadOutcome {
            plugins,
            certificate_reloaded,
        })
    }

    /// Stops accepting, lets in-flight requests finish within the grace
    /// period, and returns when everything has stopped.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
        // Last: requests that finished during the drain recorded theirs.
        let _ = self.audit_writer.stop.send(true);
        if let Err(error) = self.audit_writer.task.await {
            tracing::error!(%error, "the audit writer ended abnormally");
        }
        tracing::info!("portcullis stopped");
    }
}
