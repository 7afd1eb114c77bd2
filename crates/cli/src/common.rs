//! What several commands share: the `--config` flag, loading the configuration (a bad one is a usage
//! error, exit 2), and opening and closing the store.

use crate::Failure;
use anyhow::anyhow;
use engine::config::{Config, ConfigError};
use engine::store::AnyStore;
use std::path::PathBuf;
use std::sync::Arc;

/// `--config FILE`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArg {
    /// The configuration file (see `coupa-sync init` for a commented example).
    #[arg(
        long = "config",
        short = 'c',
        value_name = "FILE",
        default_value = "coupa-sync.toml"
    )]
    pub path: PathBuf,
}

impl ConfigArg {
    pub fn load(&self) -> Result<Config, Failure> {
        Config::load(&self.path).map_err(|e| Failure::Usage(anyhow!(e)))
    }

    /// For commands that never call Coupa nor send mail (`log`): the secrets that `*_env` keys name
    /// need not be set, and stand-ins take their place. The store's URL is the exception: the run
    /// history is read from that database, so an unset variable is named as such.
    pub fn load_offline(&self) -> Result<Config, Failure> {
        let text = std::fs::read_to_string(&self.path).map_err(|e| {
            Failure::Usage(anyhow!(
                "cannot read the configuration file {}: {e}",
                self.path.display()
            ))
        })?;
        let stood_in = std::cell::RefCell::new(Vec::new());
        let env = |name: &str| {
            std::env::var(name).ok().or_else(|| {
                stood_in.borrow_mut().push(name.to_owned());
                Some("https://unused.invalid/".into())
            })
        };
        Config::parse(&text, &self.path, &env).map_err(|e| {
            if let ConfigError::Invalid { key: Some(key), .. } = &e
                && key == "store.url_env"
                && let Some(name) = &config_store_url_env(&stood_in.borrow(), &e)
            {
                return Failure::Usage(anyhow!(
                    "{}: store.url_env: the environment variable {name} is not set or empty",
                    self.path.display()
                ));
            }
            Failure::Usage(anyhow!(e))
        })
    }
}

/// The unset variable a store URL error is about: the one stood in for that the message names.
fn config_store_url_env(stood_in: &[String], error: &ConfigError) -> Option<String> {
    let message = error.to_string();
    stood_in
        .iter()
        .find(|name| message.contains(&format!("the value of {name} ")))
        .cloned()
}

/// The run history and applied state `[store]` names (a SQLite file or a PostgreSQL database).
pub async fn open_store(config: &Config) -> Result<Arc<AnyStore>, Failure> {
    AnyStore::open(&config.store)
        .await
        .map(Arc::new)
        .map_err(|e| Failure::Runtime(anyhow!(e)))
}

/// Stores what is queued and closes the database.
pub async fn close_store(store: Arc<AnyStore>) -> Result<(), Failure> {
    use engine::store::Store;
    let result = match Arc::try_unwrap(store) {
        Ok(store) => store.close().await,
        // Still shared (a client's call hook not yet dropped): everything queued is stored anyway.
        Err(shared) => shared.flush().await,
    };
    result.map_err(|e| Failure::Runtime(anyhow!(e)))
}

pub fn runtime(e: impl Into<anyhow::Error>) -> Failure {
    Failure::Runtime(e.into())
}

/// `--mode api|csv`.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct ModeArg {
    /// How changes reach Coupa: `api` (one REST call per change) or `csv` (users files uploaded to
    /// Coupa's SFTP folder, loaded by Coupa's scheduled job, then verified through the API).
    #[arg(long = "mode", value_enum, default_value_t = Via::Api)]
    pub via: Via,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Via {
    Api,
    Csv,
}

impl ModeArg {
    /// With `--mode csv`, a configuration that cannot run the flat-file path is a usage error.
    pub fn check(self, config: &Config, dry_run: bool) -> Result<(), Failure> {
        match self.via {
            Via::Api => Ok(()),
            Via::Csv => engine::csv::check_settings(config, dry_run)
                .map_err(|m| Failure::Usage(anyhow!("--mode csv: {m}"))),
        }
    }

    pub fn run_mode(self) -> engine::store::RunMode {
        match self.via {
            Via::Api => engine::store::RunMode::Api,
            Via::Csv => engine::store::RunMode::Csv,
        }
    }
}
