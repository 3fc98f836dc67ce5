//! `portcullis secrets`: secrets of the embedded `secrets-file` backend,
//! written into its namespace of the gateway's store (sealed at rest under
//! the store's data keys). The value is read from standard input, never
//! from the command line, where other users of the machine could see it.
//! The layout is the one `plugins/secrets-file` reads:
//! `secret/{name}/current` and `secret/{name}/versions/{n}`.

use super::serve::ConfigSource;
use crate::plugin::World;
use crate::server::open_store;
use anyhow::{Context as _, bail};
use std::io::Read as _;
use std::process::ExitCode;

/// `portcullis secrets` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum SecretsCommand {
    /// Store a new version of secret NAME, its value read from standard
    /// input (one trailing newline removed); prints the version.
    Set {
        /// The secret's name, as in `secret://{backend}/{name}`.
        name: String,
        /// The `secrets-file` plugin instance.
        #[arg(long, default_value = "file")]
        backend: String,
        /// Configuration.
        #[command(flatten)]
        source: ConfigSource,
    },
}

/// Runs a `portcullis secrets` subcommand.
pub async fn run(command: SecretsCommand) -> anyhow::Result<ExitCode> {
    match command {
        SecretsCommand::Set {
            name,
            backend,
            source,
        } => {
            if name.is_empty() || name.chars().any(char::is_control) {
                bail!("a secret name is non-empty text without control characters");
            }
            let mut value = Vec::new();
            std::io::stdin()
                .read_to_end(&mut value)
                .context("cannot read the value from standard input")?;
            if value.last() == Some(&b'\n') {
                value.pop();
            }
            if value.is_empty() {
                bail!("no value on standard input");
            }
            let config = source.load()?;
            let opened = open_store(&config)
                .await
                .context("cannot open the gateway's store")?;
            if !opened
                .plugins
                .list()
                .iter()
                .any(|(plugin, world)| *plugin == backend && *world == World::SecretsBackend)
            {
                bail!("`{backend}` is not a secrets-backend plugin of this configuration");
            }
            let kv = opened.store.kv(&backend);
            let current_key = format!("secret/{name}/current");
            loop {
                let current = kv.get(&current_key).await?;
                let version = match &current {
                    Some(text) => std::str::from_utf8(text)
                        .ok()
                        .and_then(|t| t.parse::<u64>().ok())
                        .context("the secret's current version is corrupt")?,
                    None => 0,
                } + 1;
                kv.set(&format!("secret/{name}/versions/{version}"), &value)
                    .await?;
                let next = version.to_string();
                if kv
                    .compare_and_swap(
                        &current_key,
                        current.as_deref(),
                        Some(next.as_bytes()),
                        None,
                    )
                    .await?
                {
                    zeroize::Zeroize::zeroize(&mut value);
                    println!("secret `{name}` is at version {version}");
                    return Ok(ExitCode::SUCCESS);
                }
            }
        }
    }
}
