//! `coupa-sync sandbox`: serves a local Coupa until Ctrl-C or SIGTERM (Unix signals).

use crate::Failure;
use anyhow::{Context, anyhow};
use clap::builder::TypedValueParser;
use clap::error::ErrorKind;
use coupa_sandbox::{
    ClientCredentials, FaultConfig, RateLimit, Running, Sandbox, SandboxConfig, SftpConfig,
    SftpUser,
};
use rand::RngExt;
use rand::distr::Alphanumeric;
use secrecy::{ExposeSecret, SecretString};
use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// The client created when no `--client` is given.
const DEMO_CLIENT: &str = "coupa-sync-demo";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port (the URL printed says which).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4010")]
    listen: String,

    /// Keep the sandbox's records in SQLite in this folder so they survive a restart [default: in memory].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,

    /// Reference data (departments, content groups, roles…) to load at start.
    #[arg(long, value_name = "FILE")]
    reference: Option<PathBuf>,

    /// An OAuth2 client the token endpoint accepts, as ID:SECRET, or ID:SECRET:SCOPE,SCOPE to limit
    /// its scopes (neither ID nor SECRET may contain ':'). Repeatable. Without any, a demo client
    /// with a random secret is created and printed.
    #[arg(long = "client", value_name = "ID:SECRET[:SCOPES]", value_parser = ClientParser)]
    clients: Vec<ClientCredentials>,

    /// Also accept Coupa's legacy `X-COUPA-API-KEY: KEY` header.
    #[arg(
        long,
        value_name = "KEY",
        env = "COUPA_SANDBOX_API_KEY",
        hide_env_values = true,
        value_parser = SecretParser
    )]
    api_key: Option<SecretString>,

    /// Requests per second each client may make, sustained (Coupa: 25).
    #[arg(long, value_name = "N", default_value_t = 25, value_parser = clap::value_parser!(u32).range(1..))]
    rate_limit: u32,

    /// Requests each client may make at once before the rate applies (Coupa: 20).
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    burst: u32,

    /// Turn the rate limit off.
    #[arg(long, conflicts_with_all = ["rate_limit", "burst"])]
    no_rate_limit: bool,

    /// Seed for the faults: the same seed gives the same faults to the same sequence of requests.
    #[arg(long, value_name = "N", default_value_t = 0)]
    fault_seed: u64,

    /// Share of API requests answered 500 or 503 without being run (0 to 1).
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    fault_error_rate: f64,

    /// Share of API requests answered 429 with `Retry-After: 1` without being run (0 to 1).
    #[arg(long = "fault-429-rate", value_name = "RATE", default_value_t = 0.0)]
    fault_throttle_rate: f64,

    /// Share of API requests delayed by --fault-slow-ms before they run (0 to 1).
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    fault_slow_rate: f64,

    /// The delay of a slow answer, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    fault_slow_ms: u64,

    /// Share of API requests that run and then lose their connection before the answer (0 to 1).
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    fault_drop_rate: f64,

    /// Append one JSON line per request to this file (no headers, bodies or secrets).
    #[arg(long, value_name = "FILE")]
    access_log: Option<PathBuf>,

    /// Lifetime of an issued access token, in seconds (Coupa: 86399).
    #[arg(long, value_name = "SECS", default_value_t = 86399, value_parser = clap::value_parser!(u64).range(1..))]
    token_ttl: u64,

    /// How often the users loader takes the files in SFTP's /Incoming/Users, in seconds (Coupa:
    /// every 3 to 6 minutes). The loader runs when SFTP is served.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = SandboxConfig::default().loader_interval.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    loader_interval: u64,

    /// Where the loader's notice of a failed load goes, through the mailbox (/mailbox/messages).
    #[arg(long, value_name = "ADDRESS", default_value_t = SandboxConfig::default().admin_email)]
    admin_email: String,

    /// Write a users export to SFTP's /Outgoing/Users at start and every 24 hours.
    #[arg(long)]
    export_daily: bool,

    /// Run the mailbox: an SMTP server on ADDR (port 0 picks one) whose messages are listed at
    /// /mailbox/messages. Point coupa-sync's [notify.smtp] at it.
    #[arg(long, value_name = "ADDR")]
    smtp: Option<String>,

    /// Serve Coupa's SFTP drop folder (/Incoming/Users, the archive, /Outgoing/Users) on ADDR (port 0
    /// picks one); the users loader takes the files uploaded there.
    #[arg(long, value_name = "ADDR")]
    sftp: Option<String>,

    /// An SFTP login with a password, as NAME:PASSWORD. Repeatable. Without any --sftp-user or
    /// --sftp-key, a demo login with a random password is created and printed.
    #[arg(long = "sftp-user", value_name = "NAME:PASSWORD", value_parser = SftpUserParser, requires = "sftp")]
    sftp_users: Vec<(String, SecretString)>,

    /// An SFTP login by key, as NAME:FILE where FILE holds OpenSSH public keys (authorized_keys lines).
    /// Repeatable.
    #[arg(long = "sftp-key", value_name = "NAME:FILE", requires = "sftp")]
    sftp_keys: Vec<String>,

    /// An OpenSSH private key file to use as the SFTP host key [default: an ed25519 key, generated
    /// and kept in the data folder when there is one].
    #[arg(long, value_name = "FILE", requires = "sftp")]
    sftp_host_key: Option<PathBuf>,

    /// Where the loader moves files before loading them (Coupa documents /Incoming/Archive/Users and
    /// /Archive/Incoming/Users).
    #[arg(long, value_name = "PATH", default_value = coupa_sandbox::DEFAULT_ARCHIVE, requires = "sftp")]
    archive_path: String,
}

/// Reads `--sftp-user NAME:PASSWORD`, the password straight into a `SecretString`.
#[derive(Debug, Clone)]
struct SftpUserParser;

impl TypedValueParser for SftpUserParser {
    type Value = (String, SecretString);

    fn parse_ref(
        &self,
        _: &clap::Command,
        _: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<(String, SecretString), clap::Error> {
        let text = value
            .to_str()
            .ok_or_else(|| secret_value_error("--sftp-user", "not UTF-8"))?;
        match text.split_once(':') {
            Some((name, password)) if !name.is_empty() && !password.is_empty() => {
                Ok((name.to_string(), SecretString::from(password)))
            }
            _ => Err(secret_value_error(
                "--sftp-user",
                "expected NAME:PASSWORD with neither empty",
            )),
        }
    }
}

/// Parse errors that never repeat the value: it holds a secret, and clap's own messages quote it.
fn secret_value_error(flag: &str, why: &str) -> clap::Error {
    clap::Error::raw(
        ErrorKind::ValueValidation,
        format!("{flag}: {why} (the value is not shown: it holds a secret)\n"),
    )
}

/// Reads `--client ID:SECRET[:SCOPES]` straight into a `ClientCredentials`.
#[derive(Debug, Clone)]
struct ClientParser;

impl TypedValueParser for ClientParser {
    type Value = ClientCredentials;

    fn parse_ref(
        &self,
        _: &clap::Command,
        _: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<ClientCredentials, clap::Error> {
        let bad = |why: &str| {
            secret_value_error(
                "--client",
                &format!("{why}; expected ID:SECRET or ID:SECRET:SCOPE,SCOPE"),
            )
        };
        let text = value.to_str().ok_or_else(|| bad("not UTF-8"))?;
        let mut parts = text.split(':');
        let id = parts.next().unwrap_or_default();
        let secret = parts
            .next()
            .ok_or_else(|| bad("no ':' before the secret"))?;
        let scopes = parts.next().map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect::<Vec<_>>()
        });
        if parts.next().is_some() {
            return Err(bad("too many ':'"));
        }
        if id.is_empty() || secret.is_empty() {
            return Err(bad("empty client id or secret"));
        }
        if scopes.as_ref().is_some_and(Vec::is_empty) {
            return Err(bad("empty scope list after the second ':'"));
        }
        Ok(ClientCredentials {
            id: id.to_string(),
            secret: SecretString::from(secret),
            scopes: scopes.unwrap_or_default(),
        })
    }
}

/// Reads `--api-key` straight into a `SecretString`.
#[derive(Debug, Clone)]
struct SecretParser;

impl TypedValueParser for SecretParser {
    type Value = SecretString;

    fn parse_ref(
        &self,
        _: &clap::Command,
        _: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<SecretString, clap::Error> {
        match value.to_str() {
            Some(key) if !key.is_empty() => Ok(SecretString::from(key)),
            Some(_) => Err(secret_value_error("--api-key", "empty key")),
            None => Err(secret_value_error("--api-key", "not UTF-8")),
        }
    }
}

fn random_secret() -> SecretString {
    let secret: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    SecretString::from(secret)
}

fn demo_client() -> ClientCredentials {
    ClientCredentials {
        id: DEMO_CLIENT.to_string(),
        secret: random_secret(),
        scopes: Vec::new(),
    }
}

/// The SFTP logins from `--sftp-user` and `--sftp-key` (one login may have both), or the demo login.
fn sftp_users(
    passwords: Vec<(String, SecretString)>,
    keys: &[String],
) -> Result<Vec<SftpUser>, Failure> {
    let mut users: Vec<SftpUser> = Vec::new();
    for (name, password) in passwords {
        users.push(SftpUser {
            name,
            password: Some(password),
            authorized_keys: Vec::new(),
        });
    }
    for spec in keys {
        let Some((name, file)) = spec
            .split_once(':')
            .filter(|(n, f)| !n.is_empty() && !f.is_empty())
        else {
            return Err(Failure::Usage(anyhow!(
                "--sftp-key {spec}: expected NAME:FILE"
            )));
        };
        match users.iter_mut().find(|u| u.name == name) {
            Some(user) => user.authorized_keys.push(PathBuf::from(file)),
            None => users.push(SftpUser {
                name: name.to_string(),
                password: None,
                authorized_keys: vec![PathBuf::from(file)],
            }),
        }
    }
    if users.is_empty() {
        users.push(SftpUser {
            name: DEMO_CLIENT.to_string(),
            password: Some(random_secret()),
            authorized_keys: Vec::new(),
        });
    }
    Ok(users)
}

impl Args {
    fn into_config(self) -> Result<SandboxConfig, Failure> {
        let clients = if self.clients.is_empty() {
            vec![demo_client()]
        } else {
            self.clients
        };
        let sftp = match self.sftp {
            Some(addr) => Some(SftpConfig {
                addr,
                users: sftp_users(self.sftp_users, &self.sftp_keys)?,
                host_key: self.sftp_host_key,
                archive_path: self.archive_path,
                ..SftpConfig::default()
            }),
            None => None,
        };
        Ok(SandboxConfig {
            clients,
            api_key: self.api_key,
            token_ttl: Duration::from_secs(self.token_ttl),
            rate_limit: (!self.no_rate_limit).then_some(RateLimit {
                per_second: self.rate_limit,
                burst: self.burst,
            }),
            faults: FaultConfig {
                seed: self.fault_seed,
                error_rate: self.fault_error_rate,
                throttle_rate: self.fault_throttle_rate,
                slow_rate: self.fault_slow_rate,
                slow_by: Duration::from_millis(self.fault_slow_ms),
                drop_rate: self.fault_drop_rate,
            },
            access_log: self.access_log,
            data_dir: self.data,
            reference: self.reference,
            loader_interval: Duration::from_secs(self.loader_interval),
            admin_email: self.admin_email,
            export_daily: self.export_daily,
            smtp: self.smtp,
            sftp,
        })
    }
}

/// What the person who started the sandbox needs: where it is and how to get in.
fn print_banner(running: &Running, config: &SandboxConfig, demo: bool) {
    let url = running.url();
    println!("Coupa sandbox listening on {url}");
    println!("  token endpoint: {url}/oauth2/token (grant_type=client_credentials)");
    println!("  users API:      {url}/api/users");
    if demo {
        println!(
            "Demo OAuth2 client (a throwaway credential that only opens this local sandbox, \
             so its secret is shown):"
        );
    } else {
        println!("OAuth2 clients (secrets as given, not shown):");
    }
    for client in &config.clients {
        println!("  client_id={}", client.id);
        if demo {
            println!("  client_secret={}", client.secret.expose_secret());
        }
        if !client.scopes.is_empty() {
            println!("    scopes: {}", client.scopes.join(" "));
        }
    }
    if config.api_key.is_some() {
        println!("Legacy X-COUPA-API-KEY accepted (key as given, not shown)");
    }
    match config.rate_limit {
        Some(limit) => println!(
            "Rate limit: {} requests/s per client, burst {}",
            limit.per_second, limit.burst
        ),
        None => println!("Rate limit: off"),
    }
    let f = &config.faults;
    if f.error_rate + f.throttle_rate + f.slow_rate + f.drop_rate > 0.0 {
        println!(
            "Faults (seed {}): 500/503 {}, 429 {}, slow {} ({} ms), dropped {}",
            f.seed,
            f.error_rate,
            f.throttle_rate,
            f.slow_rate,
            f.slow_by.as_millis(),
            f.drop_rate
        );
    }
    if let Some(path) = &config.access_log {
        println!("Access log: {}", path.display());
    }
    if let Some(smtp) = running.smtp_addr {
        println!("Mailbox: SMTP on {smtp}, messages at {url}/mailbox/messages");
    }
    if let (Some(sftp), Some(sftp_config)) = (&running.sftp, &config.sftp) {
        println!(
            "SFTP drop folder on {} (upload to /Incoming/Users)",
            sftp.addr
        );
        println!("  host key {}", sftp.host_key_fingerprint);
        println!("  known_hosts line: {}", sftp.known_hosts_line());
        for user in &sftp_config.users {
            // Only the generated demo login's password is shown: it opens nothing but this sandbox.
            match &user.password {
                Some(p) if user.name == DEMO_CLIENT && sftp_config.users.len() == 1 => {
                    println!(
                        "  demo login (throwaway): {} / {}",
                        user.name,
                        p.expose_secret()
                    )
                }
                _ => println!("  login: {}", user.name),
            }
        }
        println!(
            "  loader: every {} s; data file sources at {url}/api/data_file_sources and {url}/data_sources",
            config.loader_interval.as_secs()
        );
    }
    println!("Ctrl-C or SIGTERM stops it.");
}

/// Ctrl-C (SIGINT) and SIGTERM, listened for from creation on: a signal that arrives between the
/// banner and the wait must not kill the process with the default action.
struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    fn listen() -> std::io::Result<StopSignals> {
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

pub async fn run(args: Args) -> Result<(), Failure> {
    let mut signals = StopSignals::listen()
        .context("cannot listen for Ctrl-C or SIGTERM")
        .map_err(Failure::Runtime)?;
    let demo = args.clients.is_empty();
    let listen = args.listen.clone();
    let config = args.into_config()?;
    let sandbox = Sandbox::new(config)
        .await
        .map_err(|e| Failure::Usage(anyhow!(e)))?;
    let running = sandbox
        .clone()
        .spawn(&listen)
        .await
        .map_err(|e| Failure::Usage(anyhow!(e)))?;
    print_banner(&running, sandbox.config(), demo);
    tracing::info!(addr = %running.addr, "sandbox started");

    signals.next().await;
    tracing::info!("stopping: finishing the requests in flight (Ctrl-C again to stop at once)");
    tokio::select! {
        stopped = running.stop() => stopped.context("stopping the sandbox").map_err(Failure::Runtime),
        () = signals.next() => Err(Failure::Runtime(anyhow!("stopped at once; requests in flight were cut off"))),
    }
}
