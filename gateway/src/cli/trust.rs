//! `portcullis trust`: the organization's trust key, on the customer's
//! machine. `init` creates the key pair (the private half never leaves
//! this machine); `sign-agent` endorses an agent's public key for one
//! environment, printing the body that enrolls it.

use crate::data_dir::write_private_file;
use anyhow::{Context as _, bail};
use portcullis_sealing::{AgentPublicKey, TrustKeyPair};
use std::path::PathBuf;
use std::process::ExitCode;

/// The private key's file name in `--out-dir`.
pub const PRIVATE_KEY_FILE: &str = "trust-key.pem";
/// The public key's file name in `--out-dir`: what `portcullis seal` pins.
pub const PUBLIC_KEY_FILE: &str = "trust-key.pub";

/// `portcullis trust` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum TrustCommand {
    /// Create the organization's trust key pair in `--out-dir`:
    /// `trust-key.pem` (private, mode 0600: keep it offline) and
    /// `trust-key.pub` (public: set it on the gateway with
    /// PATCH /api/v1/orgs/{org_id}/sealing, and pin it for `portcullis seal`).
    Init {
        /// Directory to write the two files to (created if missing; existing
        /// key files are never replaced).
        #[arg(long)]
        out_dir: PathBuf,
    },
    /// Endorse an agent's public key for one environment of one
    /// organization; prints the JSON body of
    /// POST /api/v1/environments/{env_id}/agent-keys.
    SignAgent {
        /// The trust private key (`trust-key.pem`).
        #[arg(long)]
        trust_key: PathBuf,
        /// The organization's id.
        #[arg(long)]
        org: String,
        /// The environment's id.
        #[arg(long)]
        environment: String,
        /// The agent's public key (base64url, as `portcullis-agent keygen`
        /// prints it; base64url may start with `-`).
        #[arg(long, allow_hyphen_values = true)]
        agent_public_key: String,
        /// A label for the agent key.
        #[arg(long)]
        name: Option<String>,
    },
}

/// Runs a `portcullis trust` subcommand.
pub fn run(command: TrustCommand) -> anyhow::Result<ExitCode> {
    match command {
        TrustCommand::Init { out_dir } => init(&out_dir),
        TrustCommand::SignAgent {
            trust_key,
            org,
            environment,
            agent_public_key,
            name,
        } => {
            let pem = zeroize::Zeroizing::new(
                std::fs::read_to_string(&trust_key)
                    .with_context(|| format!("cannot read {}", trust_key.display()))?,
            );
            let pair =
                TrustKeyPair::from_pem(&pem).with_context(|| trust_key.display().to_string())?;
            let agent =
                AgentPublicKey::from_base64url(&agent_public_key).context("--agent-public-key")?;
            let endorsement = pair.endorse(&org, &environment, &agent);
            let mut body = serde_json::json!({
                "public_key": agent.to_base64url(),
                "endorsement": endorsement.to_base64url(),
            });
            if let Some(name) = name {
                body["name"] = name.into();
            }
            println!("{body}");
            eprintln!(
                "endorsed agent key {} for environment `{environment}` of `{org}` with trust key {}",
                agent.id(),
                pair.public().id()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn init(out_dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let private = out_dir.join(PRIVATE_KEY_FILE);
    let public = out_dir.join(PUBLIC_KEY_FILE);
    for path in [&private, &public] {
        if path.exists() {
            bail!(
                "{} exists already; a trust key is never replaced by `init`",
                path.display()
            );
        }
    }
    crate::data_dir::create_private_dir(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let pair = TrustKeyPair::generate()?;
    write_private_file(&private, pair.to_pem().as_bytes())
        .with_context(|| format!("cannot write {}", private.display()))?;
    let public_key = pair.public().to_base64url();
    std::fs::write(&public, format!("{public_key}\n"))
        .with_context(|| format!("cannot write {}", public.display()))?;
    println!("{public_key}");
    eprintln!(
        "trust key {} created: private half in {} (keep it offline), public half in {}",
        pair.public().id(),
        private.display(),
        public.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use crate::cli::{Cli, Command};
    use clap::Parser as _;

    #[test]
    fn an_agent_key_starting_with_a_hyphen_is_a_value() {
        let cli = Cli::try_parse_from([
            "portcullis",
            "trust",
            "sign-agent",
            "--trust-key",
            "trust-key.pem",
            "--org",
            "org_a",
            "--environment",
            "env_1",
            "--agent-public-key",
            "-f3kWQ",
        ])
        .expect("parses");
        let Command::Trust(super::TrustCommand::SignAgent {
            agent_public_key, ..
        }) = cli.command
        else {
            panic!("not sign-agent");
        };
        assert_eq!(agent_public_key, "-f3kWQ");
    }
}
