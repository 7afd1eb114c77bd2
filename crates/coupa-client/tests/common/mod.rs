//! Helpers shared by the sandbox test files: a sandbox with seeded users, and a client that records
//! every exchange.
#![allow(dead_code)] // each test file uses its own subset

use coupa_client::{Client, Credentials, Format, Rate, RetryPolicy, User};
use coupa_sandbox::{ClientCredentials, Running, Sandbox, SandboxConfig};
use secrecy::SecretString;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const SECRET: &str = "sync-secret-0123456789";

pub fn sandbox_config() -> SandboxConfig {
    SandboxConfig {
        clients: vec![ClientCredentials {
            id: "sync".into(),
            secret: SecretString::from(SECRET),
            scopes: Vec::new(),
        }],
        rate_limit: None,
        ..SandboxConfig::default()
    }
}

pub async fn start(config: SandboxConfig, users: usize) -> (Sandbox, Running) {
    let sandbox = Sandbox::new(config).await.unwrap();
    sandbox.seed_users(people(0, users)).await.unwrap();
    let running = sandbox.clone().spawn("127.0.0.1:0").await.unwrap();
    (sandbox, running)
}

pub fn person(i: usize) -> User {
    User {
        login: Some(format!("user{i:04}")),
        email: Some(format!("user{i:04}@example.com")),
        firstname: Some("Pat".into()),
        lastname: Some(format!("Number{i}")),
        employee_number: Some(format!("E{i:04}")),
        ..User::default()
    }
}

pub fn people(from: usize, n: usize) -> Vec<User> {
    (from..from + n).map(person).collect()
}

/// What the hook saw: method, path, status (`None`: no answer).
pub type Calls = Arc<Mutex<Vec<(String, String, Option<u16>)>>>;

pub fn oauth() -> Credentials {
    Credentials::oauth("sync", SecretString::from(SECRET))
}

pub fn quick_retries(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        max_elapsed: Duration::from_secs(60),
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
    }
}

/// A client for `running` with no rate governor (unless `rate` is given) and a recording hook.
pub fn client(running: &Running, format: Format, rate: Option<Rate>) -> (Client, Calls) {
    let calls: Calls = Arc::default();
    let log = calls.clone();
    let client = Client::builder(running.url())
        .credentials(oauth())
        .format(format)
        .rate(rate)
        .retry(quick_retries(5))
        .on_call(move |r| {
            log.lock().unwrap().push((
                r.method.to_string(),
                r.path.to_string(),
                r.status.map(|s| s.as_u16()),
            ));
        })
        .build()
        .unwrap();
    (client, calls)
}

pub fn api_calls(calls: &Calls) -> Vec<(String, String, Option<u16>)> {
    calls
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, path, _)| path.starts_with("/api/"))
        .cloned()
        .collect()
}

pub fn token_calls(calls: &Calls) -> usize {
    calls
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, path, _)| path == "/oauth2/token")
        .count()
}
