//! `portcullis plugin inspect`.

use crate::plugin::{ComponentInfo, HOST_WIT_VERSION, PluginEngine};
use anyhow::Context as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Plugin subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum PluginCommand {
    /// Print a component's world, package version, exports and imports, and
    /// whether this gateway can load it (exit code 0 if it can, 1 if not).
    Inspect {
        /// The component file.
        file: PathBuf,
    },
}

/// Runs a plugin subcommand.
pub fn run(command: PluginCommand) -> anyhow::Result<ExitCode> {
    match command {
        PluginCommand::Inspect { file } => inspect(&file),
    }
}

fn inspect(file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read `{}`", file.display()))?;
    let engine = PluginEngine::new()?;
    let component = engine.compile("inspect", file, &bytes)?;
    let info = ComponentInfo::of(engine.engine(), &component);
    println!("file:     {}", file.display());
    println!(
        "world:    {}",
        info.world.map_or("none".to_string(), |w| w.to_string())
    );
    println!(
        "package:  portcullis:plugin@{}",
        info.version.as_deref().unwrap_or("?")
    );
    println!("exports:");
    for name in &info.exports {
        println!("  {name}");
    }
    println!("imports:");
    for name in &info.imports {
        println!("  {name}");
    }
    println!(
        "deadline: {}",
        if info.may_wait_on_host() {
            "epoch interruption and a wall-clock timeout (imports can wait on the host)"
        } else {
            "epoch interruption (every import answers without waiting)"
        }
    );
    match info.loadable() {
        Ok(world) => {
            println!(
                "loadable: yes ({world} world, gateway supports portcullis:plugin@{HOST_WIT_VERSION})"
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(reason) => {
            println!("loadable: no: {reason}");
            Ok(ExitCode::FAILURE)
        }
    }
}
