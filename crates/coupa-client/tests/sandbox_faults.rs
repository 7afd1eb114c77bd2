//! The client against the sandbox's rate limit and seeded faults: the governor under concurrency,
//! 429s, retries of 500/503/429/dropped connections, and creates whose answer was lost (dropped or
//! timed out) that must not create a user twice.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

mod common;

use common::*;
use coupa_client::{Client, Format, Query, Rate, Timeouts, User};
use coupa_sandbox::{FaultConfig, RateLimit, SandboxConfig};
use futures::TryStreamExt;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// 16 tasks, `per_task` GETs each; returns the statuses the hook saw.
async fn sixteen_tasks(client: &Client, calls: &Calls, per_task: usize) -> Vec<Option<u16>> {
    let tasks: Vec<_> = (0..16)
        .map(|t| {
            let client = client.clone();
            tokio::spawn(async move {
                for i in 0..per_task {
                    let id = 1 + ((t * per_task + i) % 16) as i64;
                    client.users().get(id).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    api_calls(calls).iter().map(|c| c.2).collect()
}

#[tokio::test]
async fn the_governor_keeps_sixteen_tasks_within_coupas_limit() {
    let config = SandboxConfig {
        rate_limit: Some(RateLimit::default()),
        ..sandbox_config()
    };
    let (_sandbox, running) = start(config, 16).await;
    let (client, calls) = client(&running, Format::Xml, Some(Rate::default()));
    let statuses = sixteen_tasks(&client, &calls, 5).await;
    assert_eq!(statuses.len(), 80);
    assert!(statuses.iter().all(|s| *s == Some(200)), "{statuses:?}");
    running.stop().await.unwrap();
}

#[tokio::test]
async fn without_a_governor_coupa_throttles_and_every_call_still_succeeds() {
    let config = SandboxConfig {
        rate_limit: Some(RateLimit::default()),
        ..sandbox_config()
    };
    let (_sandbox, running) = start(config, 16).await;
    let (client, calls) = client(&running, Format::Xml, None);
    let statuses = sixteen_tasks(&client, &calls, 5).await;
    assert!(statuses.contains(&Some(429)), "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == Some(200)).count(), 80);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn retries_ride_out_the_sandboxs_seeded_faults() {
    let config = SandboxConfig {
        faults: FaultConfig {
            seed: 42,
            error_rate: 0.2,
            throttle_rate: 0.05,
            drop_rate: 0.1,
            ..FaultConfig::default()
        },
        ..sandbox_config()
    };
    let (_sandbox, running) = start(config, 10).await;
    let (client, calls) = client(&running, Format::Xml, None);
    for i in 0..60 {
        let user = client.users().get(1 + i % 10).await.unwrap();
        assert_eq!(user.id, Some(1 + i % 10));
    }
    let statuses: Vec<_> = api_calls(&calls).iter().map(|c| c.2).collect();
    for fault in [Some(500), Some(503), Some(429), None] {
        assert!(
            statuses.contains(&fault),
            "{fault:?} never seen: {statuses:?}"
        );
    }
    running.stop().await.unwrap();
}

#[tokio::test]
async fn retries_stop_at_the_policy_limit() {
    let config = SandboxConfig {
        faults: FaultConfig {
            seed: 1,
            error_rate: 1.0,
            ..FaultConfig::default()
        },
        ..sandbox_config()
    };
    let (_sandbox, running) = start(config, 1).await;
    let (client, calls) = client(&running, Format::Xml, None);
    let err = client.users().get(1).await.unwrap_err();
    assert_eq!(err.attempts(), 5);
    assert!(matches!(err.status().map(|s| s.as_u16()), Some(500 | 503)));
    assert_eq!(api_calls(&calls).len(), 5);
    running.stop().await.unwrap();
}

/// Creates `n` users through a faulty sandbox; checks afterwards that each exists exactly once.
/// Returns how many creates were recovered and how many POSTs got no answer.
async fn create_through_faults(faults: FaultConfig, timeout: Duration, n: usize) -> (usize, usize) {
    let config = SandboxConfig {
        faults,
        ..sandbox_config()
    };
    let (_sandbox, running) = start(config, 0).await;
    let unanswered = Arc::new(AtomicUsize::new(0));
    let count = unanswered.clone();
    let client = Client::builder(running.url())
        .credentials(oauth())
        .rate(None)
        .retry(quick_retries(10))
        .on_call(move |r| {
            if r.method == "POST" && r.status.is_none() {
                count.fetch_add(1, Ordering::Relaxed);
            }
        })
        .timeouts(Timeouts {
            connect: Duration::from_secs(5),
            request: timeout,
        })
        .build()
        .unwrap();
    let mut recovered = 0;
    for user in people(0, n) {
        let written = client.users().create(&user).await.unwrap();
        assert_eq!(written.user.login, user.login);
        recovered += usize::from(written.recovered);
    }
    let all: Vec<User> = client
        .users()
        .query(Query::new())
        .try_collect()
        .await
        .unwrap();
    let logins: HashSet<_> = all.iter().map(|u| u.login.clone().unwrap()).collect();
    assert_eq!(
        (all.len(), logins.len()),
        (n, n),
        "a user was created twice"
    );
    running.stop().await.unwrap();
    (recovered, unanswered.load(Ordering::Relaxed))
}

#[tokio::test]
async fn a_create_whose_answer_was_dropped_is_found_not_duplicated() {
    let faults = FaultConfig {
        seed: 7,
        drop_rate: 0.5,
        ..FaultConfig::default()
    };
    let (recovered, unanswered) = create_through_faults(faults, Duration::from_secs(10), 20).await;
    assert!(recovered > 0 && unanswered > 0, "no create lost its answer");
}

#[tokio::test]
async fn a_create_that_timed_out_is_not_duplicated() {
    let faults = FaultConfig {
        seed: 11,
        slow_rate: 0.4,
        slow_by: Duration::from_millis(1500),
        ..FaultConfig::default()
    };
    let (_, unanswered) = create_through_faults(faults, Duration::from_millis(400), 10).await;
    assert!(unanswered > 0, "no create timed out");
}
