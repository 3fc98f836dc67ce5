//! The `portcullis` command line.

mod plugin;
mod serve;

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
}

/// Runs the parsed command; the exit code on success.
pub async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Plugin(command) => plugin::run(command),
    }
}
