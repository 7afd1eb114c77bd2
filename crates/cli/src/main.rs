//! `coupa-sync`: keeps Coupa's users in step with the HR system.
//!
//! This file parses the command line, sets up logging and turns a command's outcome into the exit
//! code: 0 done, 1 failed while running, 2 the flags or the configuration are wrong. Each subcommand
//! lives in its own module.

mod sandbox;

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(name = "coupa-sync", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a local Coupa (users API, OAuth2, rate limit, seeded faults) for tests and dry runs.
    Sandbox(sandbox::Args),
}

/// Why a command stopped short; decides the exit code.
#[derive(Debug)]
pub enum Failure {
    /// The flags or the configuration they name cannot work (exit 2).
    Usage(anyhow::Error),
    /// Something went wrong while running (exit 1).
    Runtime(anyhow::Error),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs go to stderr (level from RUST_LOG, default info); stdout is for what the command prints.
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let outcome = match cli.command {
        Command::Sandbox(args) => sandbox::run(args).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
