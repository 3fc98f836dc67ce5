//! Every configured plugin by name, each swappable while requests run.
//!
//! A slot holds an `Arc` to the current plugin. A request takes its own
//! `Arc` at the start, so a reload that swaps the slot never disturbs calls
//! already in flight: they finish on the old plugin, the next request gets
//! the new one, and the old one is dropped with its last user.

use super::PluginLoadError;
use super::component::World;
use super::engine::PluginEngine;
use super::loaded::PolicySnapshot;
use super::loaded::{LoadedPlugin, prepare, read};
use super::pool::WorldBindings;
use super::worlds::{
    AuthProviderPlugin, AuthorizerPlugin, KeyProviderPlugin, SecretsBackendPlugin,
};
use crate::config::{AuthConfig, PluginConfig};
use crate::metrics::Metrics;
use crate::store::Store;
use arc_swap::ArcSwap;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One plugin, of whichever world it implements.
enum Slot {
    Authorizer(ArcSwap<AuthorizerPlugin>),
    AuthProvider(ArcSwap<AuthProviderPlugin>),
    SecretsBackend(ArcSwap<SecretsBackendPlugin>),
    KeyProvider(ArcSwap<KeyProviderPlugin>),
}

impl Slot {
    fn world(&self) -> World {
        match self {
            Self::Authorizer(_) => World::Authorizer,
            Self::AuthProvider(_) => World::AuthProvider,
            Self::SecretsBackend(_) => World::SecretsBackend,
            Self::KeyProvider(_) => World::KeyProvider,
        }
    }

    fn fingerprint(&self) -> String {
        match self {
            Self::Authorizer(p) => p.load().fingerprint().to_string(),
            Self::AuthProvider(p) => p.load().fingerprint().to_string(),
            Self::SecretsBackend(p) => p.load().fingerprint().to_string(),
            Self::KeyProvider(p) => p.load().fingerprint().to_string(),
        }
    }
}

/// What a reload did.
#[derive(Debug, Default, Clone)]
pub struct ReloadReport {
    /// Plugins replaced by a new version.
    pub swapped: Vec<String>,
    /// Plugins whose file and configuration did not change.
    pub unchanged: Vec<String>,
    /// Plugins that failed to load and kept running their previous version.
    pub failed: Vec<(String, String)>,
}

impl ReloadReport {
    /// Files the outcome of reloading plugin `name`.
    fn record(&mut self, name: &str, outcome: Result<bool, PluginLoadError>) {
        match outcome {
            Ok(true) => self.swapped.push(name.to_string()),
            Ok(false) => self.unchanged.push(name.to_string()),
            Err(error) => self.failed.push((name.to_string(), error.to_string())),
        }
    }
}

/// All plugins of a running gateway.
pub struct PluginRegistry {
    engine: PluginEngine,
    store: Store,
    metrics: Arc<Metrics>,
    slots: BTreeMap<String, Slot>,
    authorizer: Option<String>,
    shadow_authorizer: Option<String>,
    providers: Vec<String>,
    /// Running instances of identity providers configured at run time,
    /// by provider id.
    sso: std::sync::Mutex<std::collections::HashMap<String, SsoInstance>>,
    /// Identity providers whose plugin failed to start, by provider id.
    sso_failures: std::sync::Mutex<std::collections::HashMap<String, FailedSsoStart>>,
    /// The settings, as written (references unresolved), of the plugins
    /// whose settings hold secret references: what a refresh resolves.
    referencing: std::sync::Mutex<BTreeMap<String, PluginConfig>>,
}

/// How long a failed start of an identity provider's plugin is remembered:
/// until then, requests (public ones among them) fail at once instead of
/// starting the plugin again, which may call out to its IdP each time.
const SSO_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

/// A failed start and what it was of.
struct FailedSsoStart {
    revision: i64,
    template_fingerprint: String,
    at: std::time::Instant,
    message: String,
}

/// A running identity provider and what it was started from, so a change
/// to either (its record, or the plugin it instantiates) starts a new one.
#[derive(Clone)]
struct SsoInstance {
    revision: i64,
    template_fingerprint: String,
    plugin: Arc<AuthProviderPlugin>,
}

/// `plugins` in the order they start: those whose settings hold secret
/// references last, so the secrets backends they resolve through run
/// before them.
fn start_order<'a>(
    plugins: impl Iterator<Item = (&'a String, &'a PluginConfig)>,
) -> impl Iterator<Item = (&'a String, &'a PluginConfig)> {
    let (direct, referencing): (Vec<_>, Vec<_>) =
        plugins.partition(|(_, config)| !crate::secrets::has_references(&config.config));
    direct.into_iter().chain(referencing)
}

/// The plugins among `plugins` whose settings hold secret references, as
/// written: what [`PluginRegistry::refresh_secret_references`] resolves.
fn referencing<'a>(
    plugins: impl Iterator<Item = (&'a String, &'a PluginConfig)>,
) -> BTreeMap<String, PluginConfig> {
    plugins
        .filter(|(_, config)| crate::secrets::has_references(&config.config))
        .map(|(name, config)| (name.clone(), config.clone()))
        .collect()
}

/// `written` as the plugin gets it: itself without secret references, or
/// a copy with them resolved through `backends`.
async fn effective_config<'a>(
    name: &str,
    written: &'a PluginConfig,
    backends: &Backends<'_>,
) -> Result<Cow<'a, PluginConfig>, PluginLoadError> {
    if crate::secrets::has_references(&written.config) {
        Ok(Cow::Owned(
            crate::secrets::resolve_config(name, written, backends).await?,
        ))
    } else {
        Ok(Cow::Borrowed(written))
    }
}

/// The secrets backends among `slots`, as a source of secret references.
struct Backends<'a>(&'a BTreeMap<String, Slot>);

impl crate::secrets::SecretSource for Backends<'_> {
    async fn fetch(
        &self,
        reference: &crate::secrets::SecretReference,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
        let backend = match self.0.get(&reference.backend) {
            Some(Slot::SecretsBackend(plugin)) => plugin.load_full(),
            Some(other) => {
                let world = other.world().to_string();
                let article = if world.starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "an"
                } else {
                    "a"
                };
                return Err(format!(
                    "plugin `{}` is not a secrets backend (it is {article} {world} plugin)",
                    reference.backend
                ));
            }
            None => {
                return Err(format!(
                    "no secrets-backend plugin `{}` is configured",
                    reference.backend
                ));
            }
        };
        backend
            .read_secret(&reference.name, reference.version.as_deref())
            .await
            .map(|secret| zeroize::Zeroizing::new(secret.value))
            .map_err(|why| format!("backend `{}`: {why}", reference.backend))
    }
}

/// The store namespace and log name of identity provider `id`'s plugin.
pub fn sso_instance_name(id: &str) -> String {
    format!("sso:{id}")
}

impl std::fmt::Debug for PluginRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginRegistry")
            .field("plugins", &self.slots.keys().collect::<Vec<_>>())
            .finish()
    }
}

async fn start<W: WorldBindings>(
    engine: &PluginEngine,
    prepared: super::loaded::Prepared,
    name: &str,
    config: &PluginConfig,
    store: &Store,
    metrics: &Arc<Metrics>,
) -> Result<Arc<LoadedPlugin<W>>, PluginLoadError> {
    LoadedPlugin::<W>::start(engine, prepared, name, config, store, metrics.clone())
        .await
        .map(Arc::new)
}

fn role_check(name: &str, found: World, auth: &AuthConfig) -> Result<(), PluginLoadError> {
    let wrong = |expected: World, role: String| PluginLoadError::WrongWorld {
        plugin: name.to_string(),
        found,
        expected,
        role,
    };
    if auth.authorizer.as_deref() == Some(name) && found != World::Authorizer {
        return Err(wrong(World::Authorizer, "auth.authorizer".into()));
    }
    if auth.shadow_authorizer.as_deref() == Some(name) && found != World::Authorizer {
        return Err(wrong(World::Authorizer, "auth.shadow_authorizer".into()));
    }
    if let Some(i) = auth.providers.iter().position(|p| p == name)
        && found != World::AuthProvider
    {
        return Err(wrong(World::AuthProvider, format!("auth.providers[{i}]")));
    }
    Ok(())
}

/// Installs `policy` in `plugin`, as a load step: a refusal or a failing
/// call is a [`PluginLoadError`] naming the plugin.
async fn adopt_policy(
    name: &str,
    plugin: &AuthorizerPlugin,
    policy: Arc<PolicySnapshot>,
) -> Result<(), PluginLoadError> {
    let failed = |message: String| PluginLoadError::Start {
        plugin: name.to_string(),
        message,
    };
    match plugin.install_policy(policy).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(refused)) => Err(failed(format!("refused the policy snapshot: {refused:?}"))),
        Err(error) => Err(failed(format!(
            "could not load the policy snapshot: {error}"
        ))),
    }
}

impl PluginRegistry {
    /// Loads every configured plugin; the first failure is returned.
    pub async fn load(
        engine: PluginEngine,
        plugins: &BTreeMap<String, PluginConfig>,
        auth: &AuthConfig,
        store: Store,
        metrics: Arc<Metrics>,
    ) -> Result<Self, PluginLoadError> {
        let mut slots = BTreeMap::new();
        for (name, written) in start_order(plugins.iter()) {
            let config = effective_config(name, written, &Backends(&slots)).await?;
            let prepared = prepare(&engine, name, &config, read(name, &config).await?).await?;
            if prepared.world == World::SecretsBackend && matches!(config, Cow::Owned(_)) {
                return Err(PluginLoadError::ReferenceInSecretsBackend {
                    plugin: name.clone(),
                });
            }
            let config = config.as_ref();
            role_check(name, prepared.world, auth)?;
            let slot = match prepared.world {
                World::Authorizer => Slot::Authorizer(ArcSwap::new(
                    start(&engine, prepared, name, config, &store, &metrics).await?,
                )),
                World::AuthProvider => Slot::AuthProvider(ArcSwap::new(
                    start(&engine, prepared, name, config, &store, &metrics).await?,
                )),
                World::SecretsBackend => Slot::SecretsBackend(ArcSwap::new(
                    start(&engine, prepared, name, config, &store, &metrics).await?,
                )),
                World::KeyProvider => Slot::KeyProvider(ArcSwap::new(
                    start(&engine, prepared, name, config, &store, &metrics).await?,
                )),
            };
            slots.insert(name.clone(), slot);
        }
        Ok(Self {
            engine,
            store,
            metrics,
            slots,
            authorizer: auth.authorizer.clone(),
            shadow_authorizer: auth.shadow_authorizer.clone(),
            providers: auth.providers.clone(),
            sso: std::sync::Mutex::new(std::collections::HashMap::new()),
            sso_failures: std::sync::Mutex::new(std::collections::HashMap::new()),
            referencing: std::sync::Mutex::new(referencing(plugins.iter())),
        })
    }

    /// The running plugin of identity provider `record` (configured at run
    /// time): an instance of the auth-provider plugin it names, with its
    /// settings. Started on first use and again after the record or that
    /// plugin changes; starting it runs the plugin's `init`, so settings
    /// the plugin refuses are an error here. A start that failed is not
    /// tried again for 30 s (see [`Self::check_sso_provider`]).
    pub async fn sso_provider(
        &self,
        record: &crate::store::IdentityProviderRecord,
    ) -> Result<Arc<AuthProviderPlugin>, PluginLoadError> {
        self.start_sso(record, true).await
    }

    /// [`Self::sso_provider`], trying to start it whatever an earlier
    /// attempt did: for checking settings an administrator submits.
    pub async fn check_sso_provider(
        &self,
        record: &crate::store::IdentityProviderRecord,
    ) -> Result<Arc<AuthProviderPlugin>, PluginLoadError> {
        self.start_sso(record, false).await
    }

    fn sso_failures(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, FailedSsoStart>> {
        self.sso_failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn start_sso(
        &self,
        record: &crate::store::IdentityProviderRecord,
        remembered_failures: bool,
    ) -> Result<Arc<AuthProviderPlugin>, PluginLoadError> {
        let template =
            self.auth_provider(&record.plugin)
                .ok_or_else(|| PluginLoadError::Incompatible {
                    plugin: record.plugin.clone(),
                    reason: "no auth-provider plugin of this name is configured".into(),
                })?;
        if let Some(running) = self.running_sso(&record.id)
            && running.revision == record.revision
            && running.template_fingerprint == template.fingerprint()
        {
            return Ok(running.plugin);
        }
        let name = sso_instance_name(&record.id);
        if remembered_failures
            && let Some(failed) = self.sso_failures().get(&record.id)
            && failed.revision == record.revision
            && failed.template_fingerprint == template.fingerprint()
            && failed.at.elapsed() < SSO_RETRY_AFTER
        {
            return Err(PluginLoadError::Start {
                plugin: name,
                message: format!(
                    "{} (it failed {} s ago and is tried again {} s after that)",
                    failed.message,
                    failed.at.elapsed().as_secs(),
                    SSO_RETRY_AFTER.as_secs()
                ),
            });
        }
        let config = serde_json::Value::Object(record.settings.plugin_config()).to_string();
        let started = template
            .derive(
                &self.engine,
                &name,
                config,
                &self.store,
                self.metrics.clone(),
            )
            .await;
        let plugin = match started {
            Ok(plugin) => {
                self.sso_failures().remove(&record.id);
                Arc::new(plugin)
            }
            Err(error) => {
                self.sso_failures().insert(
                    record.id.clone(),
                    FailedSsoStart {
                        revision: record.revision,
                        template_fingerprint: template.fingerprint().to_string(),
                        at: std::time::Instant::now(),
                        message: match &error {
                            PluginLoadError::Start { message, .. } => message.clone(),
                            other => other.to_string(),
                        },
                    },
                );
                return Err(error);
            }
        };
        if let Ok(mut running) = self.sso.lock() {
            running.insert(
                record.id.clone(),
                SsoInstance {
                    revision: record.revision,
                    template_fingerprint: template.fingerprint().to_string(),
                    plugin: plugin.clone(),
                },
            );
        }
        Ok(plugin)
    }

    fn running_sso(&self, id: &str) -> Option<SsoInstance> {
        self.sso.lock().ok()?.get(id).cloned()
    }

    /// Stops identity provider `id`'s plugin (it was deleted); calls in
    /// flight finish on it.
    pub fn forget_sso_provider(&self, id: &str) {
        if let Ok(mut running) = self.sso.lock() {
            running.remove(id);
        }
        self.sso_failures().remove(id);
    }

    /// The configured authorizer, if any.
    pub fn authorizer(&self) -> Option<Arc<AuthorizerPlugin>> {
        self.authorizer_named(self.authorizer.as_deref()?)
    }

    /// An authorizer plugin by name, whatever its role.
    pub fn authorizer_named(&self, name: &str) -> Option<Arc<AuthorizerPlugin>> {
        match self.slots.get(name)? {
            Slot::Authorizer(plugin) => Some(plugin.load_full()),
            _ => None,
        }
    }

    /// The shadow authorizer, if one is configured.
    pub fn shadow_authorizer(&self) -> Option<Arc<AuthorizerPlugin>> {
        self.authorizer_named(self.shadow_authorizer.as_deref()?)
    }

    /// Installs `snapshot` in every authorizer plugin (at start-up, before
    /// any request); a plugin that refuses it is an error.
    pub async fn install_policy(
        &self,
        snapshot: &Arc<PolicySnapshot>,
    ) -> Result<(), PluginLoadError> {
        for (name, slot) in &self.slots {
            if let Slot::Authorizer(plugin) = slot {
                adopt_policy(name, &plugin.load(), snapshot.clone()).await?;
            }
        }
        Ok(())
    }

    /// The configured auth providers, in order.
    pub fn providers(&self) -> Vec<Arc<AuthProviderPlugin>> {
        self.providers
            .iter()
            .filter_map(|name| match self.slots.get(name)? {
                Slot::AuthProvider(plugin) => Some(plugin.load_full()),
                _ => None,
            })
            .collect()
    }

    /// An auth provider by name, whether or not it verifies request credentials.
    pub fn auth_provider(&self, name: &str) -> Option<Arc<AuthProviderPlugin>> {
        match self.slots.get(name)? {
            Slot::AuthProvider(plugin) => Some(plugin.load_full()),
            _ => None,
        }
    }

    /// A secrets backend by name.
    pub fn secrets_backend(&self, name: &str) -> Option<Arc<SecretsBackendPlugin>> {
        match self.slots.get(name)? {
            Slot::SecretsBackend(plugin) => Some(plugin.load_full()),
            _ => None,
        }
    }

    /// A key provider by name.
    pub fn key_provider(&self, name: &str) -> Option<Arc<KeyProviderPlugin>> {
        match self.slots.get(name)? {
            Slot::KeyProvider(plugin) => Some(plugin.load_full()),
            _ => None,
        }
    }

    /// Names and worlds of the loaded plugins.
    pub fn list(&self) -> Vec<(String, World)> {
        self.slots
            .iter()
            .map(|(name, slot)| (name.clone(), slot.world()))
            .collect()
    }

    /// Re-reads every plugin file and swaps in those whose component or
    /// configuration changed. A plugin that fails to load keeps running its
    /// previous version. Adding or removing plugins needs a restart.
    pub async fn reload(&self, plugins: &BTreeMap<String, PluginConfig>) -> ReloadReport {
        let mut report = ReloadReport::default();
        let configured = self
            .slots
            .keys()
            .filter_map(|name| plugins.get_key_value(name));
        for (name, written) in start_order(configured) {
            let outcome = self.reload_resolved(name, written).await;
            if let Err(error) = &outcome {
                tracing::error!(plugin = %name, %error, "plugin reload failed; keeping the running version");
            }
            report.record(name, outcome);
        }
        for name in self.slots.keys().filter(|n| !plugins.contains_key(*n)) {
            report.failed.push((
                name.clone(),
                "removed from the configuration; restart to unload it".into(),
            ));
        }
        *self.referencing() = referencing(
            plugins
                .iter()
                .filter(|(name, _)| self.slots.contains_key(*name)),
        );
        for name in plugins.keys().filter(|n| !self.slots.contains_key(*n)) {
            report
                .failed
                .push((name.clone(), "new plugin; restart to load it".into()));
        }
        report
    }

    fn referencing(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, PluginConfig>> {
        self.referencing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Resolves the secret references of the plugins that have them again
    /// (`[secrets] refresh_secs`) and restarts each whose values changed (a
    /// rotated secret); one that cannot be resolved keeps running as it is.
    pub async fn refresh_secret_references(&self) -> ReloadReport {
        let referencing = self.referencing().clone();
        let mut report = ReloadReport::default();
        for (name, written) in &referencing {
            report.record(name, self.reload_resolved(name, written).await);
        }
        report
    }

    /// Reloads plugin `name` from `written`, its references resolved
    /// through the running secrets backends: whether it was swapped.
    async fn reload_resolved(
        &self,
        name: &str,
        written: &PluginConfig,
    ) -> Result<bool, PluginLoadError> {
        let slot = self.slots.get(name).ok_or_else(|| PluginLoadError::Start {
            plugin: name.to_string(),
            message: "not running; restart to load it".into(),
        })?;
        let config = effective_config(name, written, &Backends(&self.slots)).await?;
        if slot.world() == World::SecretsBackend && matches!(config, Cow::Owned(_)) {
            return Err(PluginLoadError::ReferenceInSecretsBackend {
                plugin: name.to_string(),
            });
        }
        self.reload_one(name, slot, &config).await
    }

    async fn reload_one(
        &self,
        name: &str,
        slot: &Slot,
        config: &PluginConfig,
    ) -> Result<bool, PluginLoadError> {
        let source = read(name, config).await?;
        if source.fingerprint == slot.fingerprint() {
            return Ok(false);
        }
        let prepared = prepare(&self.engine, name, config, source).await?;
        if prepared.world != slot.world() {
            return Err(PluginLoadError::WrongWorld {
                plugin: name.to_string(),
                found: prepared.world,
                expected: slot.world(),
                role: "its running role".into(),
            });
        }
        let (engine, store, metrics) = (&self.engine, &self.store, &self.metrics);
        match slot {
            Slot::Authorizer(s) => {
                let replacement = start(engine, prepared, name, config, store, metrics).await?;
                // The replacement takes over the running policy before it
                // answers anything; one that refuses it is not swapped in.
                if let Some(policy) = s.load().current_policy() {
                    adopt_policy(name, &replacement, policy).await?;
                }
                s.store(replacement)
            }
            Slot::AuthProvider(s) => {
                s.store(start(engine, prepared, name, config, store, metrics).await?)
            }
            Slot::SecretsBackend(s) => {
                s.store(start(engine, prepared, name, config, store, metrics).await?)
            }
            Slot::KeyProvider(s) => {
                s.store(start(engine, prepared, name, config, store, metrics).await?)
            }
        }
        tracing::info!(plugin = name, "plugin swapped in");
        Ok(true)
    }
}
