//! `portcullis serve`.

use crate::config::{Config, PluginConfig};
use crate::data_dir::DataDir;
use crate::server;
use crate::store::derive_key;
use anyhow::Context as _;
use secrecy::ExposeSecret;
use std::path::PathBuf;
use std::process::ExitCode;
use tokio::signal::unix::{SignalKind, signal};

/// Where the configuration comes from: a file, or the embedded defaults
/// over a data directory and the bundled plugins.
#[derive(Debug, clap::Args)]
pub struct ConfigSource {
    /// Configuration file (TOML). Without it the embedded defaults run.
    #[arg(long, short, env = "PORTCULLIS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory for the embedded defaults.
    #[arg(long, env = "PORTCULLIS_DATA_DIR", default_value = "portcullis-data")]
    pub data_dir: PathBuf,
    /// Where the bundled plugins are, for the embedded defaults.
    #[arg(long, env = "PORTCULLIS_PLUGIN_DIR")]
    pub plugin_dir: Option<PathBuf>,
}

impl ConfigSource {
    /// Loads the configuration this source names.
    pub fn load(&self) -> anyhow::Result<Config> {
        match &self.config {
            Some(path) => Ok(Config::load(path)?),
            None => embedded_config(self),
        }
    }
}

/// Arguments of `portcullis serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Configuration.
    #[command(flatten)]
    pub source: ConfigSource,
    /// HTTPS listen address, overriding the configuration
    /// (default 127.0.0.1:8443; port 0 picks a free port).
    #[arg(long, env = "PORTCULLIS_LISTEN")]
    pub listen: Option<std::net::SocketAddr>,
}

/// The bundled plugins the embedded default loads, by file name.
const BUNDLED: [&str; 4] = [
    "authz_rbac.wasm",
    "keys_local.wasm",
    "authn_local.wasm",
    "secrets_file.wasm",
];

fn embedded_config(args: &ConfigSource) -> anyhow::Result<Config> {
    let data = DataDir::prepare(&args.data_dir)?;
    let plugin_dir = args
        .plugin_dir
        .clone()
        .unwrap_or_else(|| data.root().join("plugins"));
    for file in BUNDLED {
        let path = plugin_dir.join(file);
        anyhow::ensure!(
            path.exists(),
            "bundled plugin `{}` not found; build the plugins with `make plugins`, or point --plugin-dir at them",
            path.display()
        );
    }
    let mut config = Config::embedded(data.root(), &plugin_dir);
    let key = derive_key(&data.local_key()?, "keys-local")?;
    let mut keys_config = toml::Table::new();
    keys_config.insert("key_id".into(), "local-1".into());
    keys_config.insert("key_hex".into(), hex::encode(key.expose_secret()).into());
    config.plugins.insert(
        "keys".into(),
        PluginConfig::new(plugin_dir.join("keys_local.wasm"), keys_config),
    );
    Ok(config)
}

/// Runs the gateway until SIGTERM or SIGINT; SIGHUP reloads.
pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut config = args.source.load()?;
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    // Handlers go in before anything is announced, so a signal sent right
    // after the "listening" line is never taken by its default action.
    let mut hangup = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let gateway = server::start(config).await?;
    let fingerprint = gateway.certificate_fingerprint().to_string();
    if let Some(admin) = gateway.take_bootstrap_admin() {
        // Standard output only, never the log: this is the one time it is shown.
        println!("bootstrap administrator: {}", admin.email);
        println!(
            "one-time password (shown once; must be changed at first sign-in): {}",
            admin.password.expose_secret()
        );
    }
    println!("portcullis listening on https://{}", gateway.https_addr());
    if let Some(addr) = gateway.http_addr() {
        println!("redirecting http://{addr} to https");
    }
    println!("TLS certificate SHA-256 fingerprint: {fingerprint}");

    loop {
        tokio::select! {
            _ = hangup.recv() => match gateway.reload().await {
                Ok(outcome) => tracing::info!(?outcome, "reload complete"),
                Err(error) => tracing::error!(%error, "reload refused; still running the previous configuration"),
            },
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }
    tracing::info!("shutting down");
    gateway.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
