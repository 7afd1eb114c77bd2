//! `coupa-sync init`: writes the commented example configuration (examples/quickstart.toml) to
//! `--config`, ready to edit. An existing file is kept unless `--force`.

use crate::Failure;
use crate::common::{ConfigArg, runtime};
use anyhow::anyhow;

const QUICKSTART: &str = include_str!("../../../examples/quickstart.toml");

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Overwrite the file if it exists.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &Args) -> Result<(), Failure> {
    let path = &args.config.path;
    if path.exists() && !args.force {
        return Err(Failure::Usage(anyhow!(
            "{} exists; pass --force to overwrite it",
            path.display()
        )));
    }
    std::fs::write(path, QUICKSTART)
        .map_err(|e| runtime(anyhow!("cannot write {}: {e}", path.display())))?;
    println!(
        "Wrote {}. Edit [coupa] and [hr], set COUPA_CLIENT_SECRET, then run: coupa-sync check --config {0}",
        path.display()
    );
    Ok(())
}
