//! `portcullis keys`: the store's data keys. `rotate` makes a new data key
//! (wrapped by the configured key provider under its current master key
//! version), re-wraps the older ones under that version and re-seals every
//! record under the new key, while gateways keep serving: they pick the
//! new key up within seconds and re-seal what they wrote meanwhile.
//! `status` shows each key and how many values it seals.

use super::serve::ConfigSource;
use crate::server::open_store;
use crate::store::KeysStatus;
use anyhow::Context as _;
use std::collections::BTreeMap;
use std::process::ExitCode;

/// `portcullis keys` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Make a new data key current and re-seal every record under it.
    Rotate {
        /// Configuration.
        #[command(flatten)]
        source: ConfigSource,
    },
    /// The data keys, their master key versions and what each seals.
    Status {
        /// Configuration.
        #[command(flatten)]
        source: ConfigSource,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `portcullis keys` subcommand.
pub async fn run(command: KeysCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeysCommand::Rotate { source } => {
            let config = source.load()?;
            let opened = open_store(&config)
                .await
                .context("cannot open the gateway's store")?;
            let started = std::time::Instant::now();
            let id = opened
                .store
                .rotate_data_key()
                .await
                .context("cannot make a new data key")?;
            println!("new data key {id}; re-sealing records under it");
            let report = opened
                .store
                .reencrypt()
                .await
                .context("re-sealing stopped; run `portcullis keys rotate` again or let the gateway finish it")?;
            println!(
                "re-sealed {} records in {:.1} s ({} changed meanwhile; the gateway re-seals those)",
                report.rows,
                started.elapsed().as_secs_f64(),
                report.skipped
            );
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Status { source, json } => {
            let config = source.load()?;
            let opened = open_store(&config)
                .await
                .context("cannot open the gateway's store")?;
            let status = opened.store.keys_status().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{}", table(&status));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The status as a table: one line per data key, then values per table.
fn table(status: &KeysStatus) -> String {
    let mut per_key: BTreeMap<&str, i64> = BTreeMap::new();
    for usage in &status.usage {
        *per_key.entry(usage.key.as_str()).or_default() += usage.values;
    }
    let mut out = String::from(
        "DATA KEY         PURPOSE  CURRENT  PROVIDER         MASTER KEY                                  VALUES\n",
    );
    for key in &status.data_keys {
        let values = if key.purpose == "index" {
            "-".to_string()
        } else {
            per_key
                .get(key.id.as_str())
                .copied()
                .unwrap_or(0)
                .to_string()
        };
        out.push_str(&format!(
            "{:<16} {:<8} {:<8} {:<16} {:<43} {}\n",
            key.id,
            key.purpose,
            if key.current { "yes" } else { "" },
            key.provider,
            key.master_key_id,
            values
        ));
    }
    if let Some(unsealed) = per_key.get("unsealed") {
        out.push_str(&format!("unsealed values: {unsealed}\n"));
    }
    out
}
