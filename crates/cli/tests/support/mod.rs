//! What the CLI test files share: a sandbox that knows the client `coupa-sync`, a folder with the
//! configuration and HR file for it, and running the `coupa-sync` binary and reading what it printed.
#![allow(dead_code)] // each test file uses its own subset

use coupa_sandbox::{ClientCredentials, Running, Sandbox, SandboxConfig};
use std::path::PathBuf;
use std::process::Output;

pub const SECRET: &str = "cli-Secret-0b8e55d1a9c34f72";
/// The variable the configuration names for the client secret.
pub const SECRET_ENV: &str = "CLI_TEST_SECRET";

/// Sandbox settings with the client `coupa-sync` and no rate limit, so tests never wait on it.
pub fn sandbox_settings() -> SandboxConfig {
    SandboxConfig {
        clients: vec![ClientCredentials {
            id: "coupa-sync".into(),
            secret: SECRET.to_string().into(),
            scopes: Vec::new(),
        }],
        rate_limit: None,
        ..SandboxConfig::default()
    }
}

/// A configuration for the sandbox at `url`: `coupa_extra` lines go into `[coupa]`, `fields` are the
/// `[fields]` lines; the HR file is `hr.csv` keyed by `id`, people are matched on login.
pub fn config(url: &str, coupa_extra: &str, fields: &str) -> String {
    format!(
        r#"
[coupa]
url = "{url}"
client_id = "coupa-sync"
client_secret_env = "{SECRET_ENV}"
rate_per_second = 1000
burst = 100
{coupa_extra}
[hr]
path = "hr.csv"
key_column = "id"
status_column = "status"

[match]
coupa_field = "login"

[fields]
{fields}
[store]
path = "coupa-sync.db"
"#
    )
}

/// A running sandbox seeded with a company, and the folder a user runs `coupa-sync` in.
pub struct World {
    pub dir: tempfile::TempDir,
    pub sandbox: Sandbox,
    pub running: Running,
    /// The header line `hr` writes above the rows.
    hr_columns: &'static str,
    /// The environment every `run` gets: the secrets the configuration names.
    pub env: Vec<(&'static str, &'static str)>,
}

impl World {
    /// Starts a sandbox with `settings`, seeded with the `company` reference JSON; no configuration
    /// is written yet (see `write_config`).
    pub async fn start(settings: SandboxConfig, company: &str, hr_columns: &'static str) -> World {
        let sandbox = Sandbox::new(settings).await.unwrap();
        sandbox.seed_reference(company).await.unwrap();
        let running = sandbox.clone().spawn("127.0.0.1:0").await.unwrap();
        World {
            dir: tempfile::tempdir().unwrap(),
            sandbox,
            running,
            hr_columns,
            env: vec![(SECRET_ENV, SECRET)],
        }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("coupa-sync.toml")
    }

    pub fn write_config(&self, text: &str) {
        std::fs::write(self.config(), text).unwrap();
    }

    /// Writes the HR extract: the world's header, then `rows`.
    pub fn hr(&self, rows: &str) {
        std::fs::write(
            self.dir.path().join("hr.csv"),
            format!("{}\n{rows}\n", self.hr_columns),
        )
        .unwrap();
    }

    /// Runs `coupa-sync ARGS --config <the world's config>` with the world's environment.
    pub async fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[]).await
    }

    /// As `run`, with `env` set after (so over) the world's environment.
    pub async fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.push("--config".into());
        all.push(self.config().display().to_string());
        let all_env: Vec<(&str, &str)> = self.env.iter().chain(env).copied().collect();
        coupa_sync(all, &all_env).await
    }
}

/// Runs the binary off the async threads, so the in-process sandbox keeps serving.
pub async fn coupa_sync(args: Vec<String>, env: &[(&str, &str)]) -> Output {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_coupa-sync"))
            .args(&args)
            .env_remove("RUST_LOG")
            .envs(env)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn code(output: &Output) -> i32 {
    output.status.code().unwrap()
}
