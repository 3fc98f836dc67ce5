//! `portcullis-agent`: the data-plane agent's command line. For now it
//! makes the agent's key pair and opens a sealed credential; the agent
//! service arrives in a later release.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use portcullis_agent::{AgentKeyPair, Expected};
use portcullis_sealing::SealedCredential;
use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

/// Portcullis data-plane agent.
#[derive(Debug, Parser)]
#[command(name = "portcullis-agent", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the agent's key pair: the private key goes to `--out`
    /// (readable by its owner only), the public key to stdout, to be
    /// endorsed with `portcullis trust sign-agent`.
    Keygen {
        /// Where to write the private key; an existing file is not replaced.
        #[arg(long)]
        out: PathBuf,
    },
    /// Open a sealed credential (JSON on stdin) and write it to stdout.
    Open {
        /// The agent's private key file.
        #[arg(long)]
        key: PathBuf,
        /// The organization the credential must belong to.
        #[arg(long)]
        org: String,
        /// The environment it must belong to.
        #[arg(long)]
        environment: String,
        /// The connection it must belong to.
        #[arg(long)]
        connection: String,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("portcullis-agent: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Keygen { out } => {
            let pair = AgentKeyPair::generate();
            write_private(&out, pair.to_private_base64url().as_bytes())?;
            let public = pair.public();
            println!("{}", public.to_base64url());
            eprintln!("agent key {} written to {}", public.id(), out.display());
            Ok(())
        }
        Command::Open {
            key,
            org,
            environment,
            connection,
        } => {
            let text = zeroize::Zeroizing::new(
                std::fs::read_to_string(&key)
                    .with_context(|| format!("cannot read {}", key.display()))?,
            );
            let pair = AgentKeyPair::from_private_base64url(&text)
                .with_context(|| key.display().to_string())?;
            let mut input = String::new();
            std::io::stdin().read_to_string(&mut input)?;
            let sealed: SealedCredential =
                serde_json::from_str(&input).context("stdin is not a sealed credential")?;
            let plaintext = pair.open(
                &sealed,
                &Expected {
                    org: &org,
                    environment: &environment,
                    connection: &connection,
                },
            )?;
            std::io::stdout().write_all(&plaintext)?;
            Ok(())
        }
    }
}

/// Writes a new file only its owner can read.
fn write_private(path: &PathBuf, bytes: &[u8]) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
    file.write_all(bytes)?;
    file.write_all(b"\n")?;
    Ok(())
}
