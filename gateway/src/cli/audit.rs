//! `portcullis audit`: verify the audit log (in the store, or exported
//! bundles offline with only the public key) and export bundles.

use super::serve::ConfigSource;
use crate::audit::bundle::{Bundle, verify_consecutive};
use crate::audit::checkpoint::KeySet;
use crate::audit::verify::{Break, Verified};
use crate::audit::{AuditError, export, verify_store};
use crate::server::open_store;
use anyhow::Context as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `portcullis audit`.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// What to do.
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AuditCommand {
    /// Check the hash chains and checkpoint signatures; exit 1 at the
    /// first broken link of any chain, naming its sequence number and
    /// kind (modified, deleted, reordered, inserted, truncated).
    Verify {
        /// The gateway's configuration (to check its store).
        #[command(flatten)]
        source: ConfigSource,
        /// Check exported bundles instead, offline, in order: each must
        /// continue the one before.
        #[arg(long = "bundle")]
        bundles: Vec<PathBuf>,
        /// The public key (the JSON of `/.well-known/portcullis-audit-key`,
        /// or one raw key in base64url or hex); required with `--bundle`.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write a chain's bundle (events after `--after`, up to its newest
    /// checkpoint) from the store.
    Export {
        /// The gateway's configuration.
        #[command(flatten)]
        source: ConfigSource,
        /// The chain: an organization id, or `platform`.
        #[arg(long)]
        chain: String,
        /// Start after this sequence number (the previous bundle's last).
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// Where to write it (standard output if absent).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Runs an audit subcommand.
pub async fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        AuditCommand::Verify {
            source,
            bundles,
            key,
            json,
        } => {
            let results = if bundles.is_empty() {
                let config = source.load()?;
                let opened = open_store(&config)
                    .await
                    .context("cannot open the gateway's store")?;
                verify_store(&opened.store).await?
            } else {
                vec![verify_bundles(&bundles, key.as_deref())?]
            };
            Ok(report(&results, json))
        }
        AuditCommand::Export {
            source,
            chain,
            after,
            out,
        } => {
            let config = source.load()?;
            let opened = open_store(&config)
                .await
                .context("cannot open the gateway's store")?;
            let bundle = match export(&opened.store, &chain, after).await {
                Ok(bundle) => bundle,
                Err(AuditError::NothingSigned(after)) => {
                    anyhow::bail!("chain `{chain}` has no signed events after {after}")
                }
                Err(error) => return Err(error.into()),
            };
            let text = bundle.to_jsonl();
            match out {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("cannot write `{}`", path.display()))?,
                None => print!("{text}"),
            }
            eprintln!(
                "exported chain `{chain}`: events {} to {}",
                bundle.header.after + 1,
                bundle.header.to
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Reads and checks `paths` in order with the key in `key`.
fn verify_bundles(
    paths: &[PathBuf],
    key: Option<&std::path::Path>,
) -> anyhow::Result<Result<Verified, Break>> {
    let key = key.context("`--key` is required with `--bundle`: the audit public key")?;
    let text = std::fs::read_to_string(key)
        .with_context(|| format!("cannot read the key file `{}`", key.display()))?;
    let keys = KeySet::parse(&text).with_context(|| {
        format!(
            "`{}` is neither the JSON of /.well-known/portcullis-audit-key nor a raw Ed25519 public key",
            key.display()
        )
    })?;
    let mut bundles = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the bundle `{}`", path.display()))?;
        let bundle = Bundle::parse(&text).with_context(|| format!("`{}`", path.display()))?;
        bundles.push(bundle);
    }
    Ok(verify_consecutive(&bundles, &keys).map(|mut all| {
        let last = all.pop();
        let events = all.iter().map(|v| v.events).sum::<usize>();
        last.map(|mut v| {
            v.events += events;
            v
        })
        .unwrap_or(Verified {
            chain: String::new(),
            events: 0,
            last: 0,
            last_hash: [0; 32],
            signed_to: 0,
            checkpoints: 0,
        })
    }))
}

fn report(results: &[Result<Verified, Break>], json: bool) -> ExitCode {
    let broken = results.iter().any(Result::is_err);
    if json {
        let lines: Vec<serde_json::Value> = results
            .iter()
            .map(|r| match r {
                Ok(v) => serde_json::json!({"ok": true, "chain": v.chain, "events": v.events, "last": v.last, "signed_to": v.signed_to, "checkpoints": v.checkpoints}),
                Err(b) => serde_json::json!({"ok": false, "chain": b.chain, "seq": b.seq, "kind": b.kind, "detail": b.detail}),
            })
            .collect();
        println!("{}", serde_json::Value::Array(lines));
    } else {
        for result in results {
            match result {
                Ok(v) => {
                    let unsigned = v.last - v.signed_to;
                    println!(
                        "ok: chain `{}`: {} events up to {}, signed to {} ({} checkpoints){}",
                        v.chain,
                        v.events,
                        v.last,
                        v.signed_to,
                        v.checkpoints,
                        if unsigned > 0 {
                            format!("; the last {unsigned} not yet under a checkpoint")
                        } else {
                            String::new()
                        }
                    );
                }
                Err(b) => println!("BROKEN: {b}"),
            }
        }
        if results.is_empty() {
            println!("ok: the audit log is empty");
        }
    }
    if broken {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
