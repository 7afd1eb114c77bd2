//! The client's benchmark, against the sandbox started in-process. Prints three figures:
//! 1. 1,000 GETs from 16 tasks under Coupa's default limit (25/s, burst 20): elapsed time against
//!    the floor that limit sets, and how many 429s came back; once with the client's default (one
//!    burst slot spare) and once matching Coupa's bucket exactly;
//! 2. GET/s with rate limiting off in both the sandbox and the client;
//! 3. the calls `find_by("login", 1,000 logins)` makes.
//!
//! Run: `cargo bench -p coupa-client --bench client`; name sections to run only those
//! (`cargo bench -p coupa-client --bench client -- unlimited find_by governed exact`).
#![allow(clippy::unwrap_used, clippy::print_stdout)] // a benchmark program: it prints, and fails loudly

use coupa_client::{Client, Credentials, Rate, User};
use coupa_sandbox::{ClientCredentials, RateLimit, Running, Sandbox, SandboxConfig};
use secrecy::SecretString;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const SECRET: &str = "bench-secret";

async fn sandbox(rate_limit: Option<RateLimit>, users: usize) -> Running {
    let sandbox = Sandbox::new(SandboxConfig {
        clients: vec![ClientCredentials {
            id: "bench".into(),
            secret: SecretString::from(SECRET),
            scopes: Vec::new(),
        }],
        rate_limit,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let people = (0..users).map(|i| User {
        login: Some(format!("user{i:04}")),
        email: Some(format!("user{i:04}@example.com")),
        firstname: Some("Pat".into()),
        lastname: Some(format!("Number{i}")),
        employee_number: Some(format!("E{i:04}")),
        ..User::default()
    });
    sandbox.seed_users(people).await.unwrap();
    sandbox.spawn("127.0.0.1:0").await.unwrap()
}

fn client(
    running: &Running,
    rate: Option<Rate>,
    calls: Arc<AtomicU32>,
    throttled: Arc<AtomicU32>,
) -> Client {
    Client::builder(running.url())
        .credentials(Credentials::oauth("bench", SecretString::from(SECRET)))
        .rate(rate)
        .on_call(move |r| {
            if r.path.starts_with("/api/") {
                calls.fetch_add(1, Ordering::Relaxed);
            }
            if r.status.is_some_and(|s| s.as_u16() == 429) {
                throttled.fetch_add(1, Ordering::Relaxed);
            }
        })
        .build()
        .unwrap()
}

/// `total` GETs of users 1..=16 spread over `tasks` tasks; returns the elapsed time.
async fn gets(client: &Client, tasks: usize, total: usize) -> Duration {
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let client = client.clone();
            let share = total / tasks + usize::from(t < total % tasks);
            tokio::spawn(async move {
                for i in 0..share {
                    client.users().get(1 + ((t + i) % 16) as i64).await.unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    started.elapsed()
}

async fn governed(rate: Rate) {
    let running = sandbox(Some(RateLimit::default()), 16).await;
    let (calls, throttled) = (Arc::default(), Arc::new(AtomicU32::new(0)));
    let client = client(&running, Some(rate), calls, throttled.clone());
    // Fetch the token, then let both buckets fill again, so the run starts from a full bucket.
    client.users().get(1).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let elapsed = gets(&client, 16, 1000).await;
    let floor = Duration::from_secs_f64((1000.0 - 20.0) / 25.0);
    let over = (elapsed.as_secs_f64() / floor.as_secs_f64() - 1.0) * 100.0;
    println!(
        "governed (spare {}): 1000 GETs from 16 tasks at 25/s burst 20: {:.2} s; floor {:.2} s; \
         {over:+.2} % over; 429s: {}",
        rate.spare,
        elapsed.as_secs_f64(),
        floor.as_secs_f64(),
        throttled.load(Ordering::Relaxed)
    );
    running.stop().await.unwrap();
}

async fn unlimited() {
    let running = sandbox(None, 16).await;
    let client = client(&running, None, Arc::default(), Arc::default());
    client.users().get(1).await.unwrap();
    gets(&client, 32, 2000).await; // warm the connection pool
    let total = 20_000;
    let elapsed = gets(&client, 32, total).await;
    println!(
        "unlimited: {total} GETs from 32 tasks in {:.2} s: {:.0} GET/s",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    running.stop().await.unwrap();
}

async fn lookup() {
    let running = sandbox(None, 1000).await;
    let calls = Arc::new(AtomicU32::new(0));
    let client = client(
        &running,
        Some(Rate::default()),
        calls.clone(),
        Arc::default(),
    );
    let logins: Vec<String> = (0..1000).map(|i| format!("user{i:04}")).collect();
    let started = Instant::now();
    let found = client.users().find_by("login", &logins).await.unwrap();
    println!(
        "find_by: 1000 logins → {} users in {} calls, {:.2} s",
        found.len(),
        calls.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    running.stop().await.unwrap();
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // Cargo passes `--bench`; any other argument names a section to run.
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let run = |name: &str| wanted.is_empty() || wanted.iter().any(|w| w == name);
    runtime.block_on(async {
        if run("unlimited") {
            unlimited().await;
        }
        if run("find_by") {
            lookup().await;
        }
        if run("governed") {
            governed(Rate::default()).await;
        }
        if run("exact") {
            governed(Rate {
                spare: 0,
                ..Rate::default()
            })
            .await;
        }
    });
}
