//! `coupa-sync`: keeps Coupa's users in step with the HR system.
//!
//! This file parses the command line, sets up logging and turns a command's outcome into the exit
//! code: 0 done, 1 failed while running, 2 the flags or the configuration are wrong. Each subcommand
//! lives in its own module.

mod check;
mod common;
mod demo;
mod init;
mod log;
mod plan;
mod sandbox;
mod sync;

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
    /// The whole API path against an in-process sandbox, with no setup: plan, sync, verification,
    /// call log and the notification e-mail.
    Demo(demo::Args),
    /// Dry run: print every planned change, field by field, without writing to Coupa.
    Plan(plan::Args),
    /// Apply the HR extract to Coupa's users, verify every field, record and notify.
    Sync(sync::Args),
    /// Show what the store recorded: the last run, a run, a person's history.
    Log(log::Args),
    /// Check the configuration, the HR file, the credentials and the read scope.
    Check(check::Args),
    /// Write a commented example configuration.
    Init(init::Args),
    /// Run a local Coupa (users API, OAuth2, rate limit, seeded faults, SFTP drop folder and CSV
    /// loader, mailbox) for tests and dry runs.
    Sandbox(Box<sandbox::Args>),
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
    // Each Coupa call is in the store's call log and a run's summary: the client's own events about
    // them would only repeat it.
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,coupa_client::call=error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let outcome = match cli.command {
        Command::Demo(args) => demo::run(args).await,
        Command::Plan(args) => plan::run(args).await,
        Command::Sync(args) => sync::run(args).await,
        Command::Log(args) => log::run(args).await,
        Command::Check(args) => check::run(args).await,
        Command::Init(args) => init::run(&args),
        Command::Sandbox(args) => sandbox::run(*args).await,
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
