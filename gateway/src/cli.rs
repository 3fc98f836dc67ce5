//! The `portcullis` command line.

mod admin;
mod api_client;
mod audit;
mod keys;
mod plugin;
mod seal;
mod secrets;
mod serve;
mod trust;

use clap::{Parser, Subcommand};

/// Portcullis security gateway.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (embedded defaults without --config).
    Serve(serve::ServeArgs),
    /// Work with plugin components.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Manage users and API keys without a browser (works on the data
    /// directory; a running gateway sees changes within its cache TTL).
    Admin(admin::AdminArgs),
    /// Verify the audit log (the store's, or exported bundles offline)
    /// and export bundles.
    Audit(audit::AuditArgs),
    /// Secrets of the embedded `secrets-file` backend (values from stdin).
    #[command(subcommand)]
    Secrets(secrets::SecretsCommand),
    /// The store's data keys: rotate them, see what each seals.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// The organization's trust key, on your machine: create it, endorse
    /// agent keys with it.
    #[command(subcommand)]
    Trust(trust::TrustCommand),
    /// Seal a connection's credential on your side to the agent keys your
    /// trust key endorsed, and upload only the ciphertext.
    Seal(seal::SealArgs),
}

/// Runs the parsed command; the exit code on success.
pub async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Plugin(command) => plugin::run(command),
        Command::Admin(args) => admin::run(args).await,
        Command::Audit(args) => audit::run(args).await,
        Command::Keys(command) => keys::run(command).await,
        Command::Secrets(command) => secrets::run(command).await,
        Command::Trust(command) => trust::run(command),
        Command::Seal(args) => seal::run(args).await,
    }
}
