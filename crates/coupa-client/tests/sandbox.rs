//! The client against the sandbox, started in-process: auth and token renewal, scopes, paging in both
//! formats, batch lookups, Coupa's error formats, shaping, and values Coupa ignores.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

mod common;

use common::*;
use coupa_client::{Client, Credentials, ErrorKind, Format, Query, ReturnObject, User};
use coupa_sandbox::{Sandbox, SandboxConfig};
use futures::TryStreamExt;
use secrecy::SecretString;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test]
async fn oauth_credentials_create_read_and_update_a_user() {
    let (_sandbox, running) = start(sandbox_config(), 0).await;
    let (client, calls) = client(&running, Format::Xml, None);
    let created = client.users().create(&person(1)).await.unwrap();
    assert!(!created.recovered);
    assert_eq!(created.ignored, []);
    let id = created.user.id.unwrap();
    assert_eq!(created.user.fullname.as_deref(), Some("Pat Number1"));

    let changes = User {
        lastname: Some("Renamed".into()),
        ..User::default()
    };
    let updated = client.users().update(id, &changes).await.unwrap();
    assert_eq!(updated.ignored, []);
    assert_eq!(updated.user.lastname.as_deref(), Some("Renamed"));
    assert_eq!(updated.user.login.as_deref(), Some("user0001"));

    let fetched = client.users().get(id).await.unwrap();
    assert_eq!(fetched.lastname.as_deref(), Some("Renamed"));
    assert_eq!(token_calls(&calls), 1);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn an_update_sends_only_the_given_fields() {
    let (_sandbox, running) = start(sandbox_config(), 1).await;
    let bodies: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = bodies.clone();
    let client = Client::builder(running.url())
        .credentials(oauth())
        .rate(None)
        .on_call(move |r| {
            if r.method == "PUT" {
                log.lock()
                    .unwrap()
                    .push(r.request_text().unwrap().into_owned());
            }
        })
        .build()
        .unwrap();
    let changes = User {
        active: Some(false),
        ..User::default()
    };
    let written = client.users().update(1, &changes).await.unwrap();
    assert_eq!(written.user.active, Some(false));
    let body = bodies.lock().unwrap()[0].clone();
    assert!(
        body.contains("<active type=\"boolean\">false</active>"),
        "{body}"
    );
    for absent in ["<login>", "<email>", "<firstname>", "<id"] {
        assert!(!body.contains(absent), "{absent} sent in {body}");
    }
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_wrong_secret_is_refused_and_never_shown() {
    let (_sandbox, running) = start(sandbox_config(), 0).await;
    let client = Client::builder(running.url())
        .credentials(Credentials::oauth(
            "sync",
            SecretString::from("not-the-secret"),
        ))
        .build()
        .unwrap();
    let err = client.users().get(1).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Token { .. }), "{err}");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(401));
    assert_eq!(err.attempts(), 1);
    let shown = format!("{err} {err:?} {client:?}");
    assert!(shown.contains("invalid_client"), "{shown}");
    assert!(!shown.contains("not-the-secret"), "{shown}");
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_token_is_renewed_before_it_expires() {
    let config = SandboxConfig {
        token_ttl: Duration::from_secs(2),
        ..sandbox_config()
    };
    let (_sandbox, running) = start(config, 1).await;
    let (client, calls) = client(&running, Format::Xml, None);
    client.users().get(1).await.unwrap();
    // Past the token's life: the client must fetch a new one without first being refused.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    client.users().get(1).await.unwrap();
    assert_eq!(token_calls(&calls), 2);
    assert!(api_calls(&calls).iter().all(|(_, _, s)| *s == Some(200)));
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_token_the_server_forgot_is_renewed_once_after_a_401() {
    let (_sandbox, running) = start(sandbox_config(), 0).await;
    let addr = running.addr.to_string();
    let (client, calls) = client(&running, Format::Xml, None);
    let none: Vec<User> = client
        .users()
        .query(Query::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(none, []);
    // A restarted sandbox has forgotten every token it issued.
    running.stop().await.unwrap();
    let sandbox = Sandbox::new(sandbox_config()).await.unwrap();
    sandbox.seed_users(people(0, 1)).await.unwrap();
    let running = sandbox.spawn(&addr).await.unwrap();
    let user = client.users().get(1).await.unwrap();
    assert_eq!(user.login.as_deref(), Some("user0000"));
    let statuses: Vec<_> = calls.lock().unwrap().iter().map(|c| c.2).collect();
    // token, query (404 no results), then 401, token, retry.
    assert_eq!(
        statuses,
        [Some(200), Some(404), Some(401), Some(200), Some(200)]
    );
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_missing_scope_is_a_403_with_coupas_message() {
    let (_sandbox, running) = start(sandbox_config(), 0).await;
    let client = Client::builder(running.url())
        .credentials(oauth().with_scopes(["core.user.read"]))
        .build()
        .unwrap();
    let err = client.users().create(&person(1)).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(403));
    assert_eq!(err.attempts(), 1);
    assert_eq!(
        err.messages(),
        ["Access token lacks the scope core.user.write"]
    );
    running.stop().await.unwrap();
}

#[tokio::test]
async fn the_legacy_api_key_works_and_a_wrong_one_is_refused() {
    let key = "a".repeat(40);
    let config = SandboxConfig {
        api_key: Some(SecretString::from(key.clone())),
        ..sandbox_config()
    };
    let (_sandbox, running) = start(config, 1).await;
    let with_key = |key: &str| {
        Client::builder(running.url())
            .credentials(Credentials::api_key(SecretString::from(key.to_string())))
            .build()
            .unwrap()
    };
    let user = with_key(&key).users().get(1).await.unwrap();
    assert_eq!(user.login.as_deref(), Some("user0000"));
    let err = with_key("wrong").users().get(1).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(401));
    assert_eq!(err.attempts(), 1);
    running.stop().await.unwrap();
}

async fn page_through(format: Format, users: usize) -> (Vec<User>, Vec<Option<u16>>) {
    let (_sandbox, running) = start(sandbox_config(), users).await;
    let (client, calls) = client(&running, format, None);
    let found: Vec<User> = client
        .users()
        .query(Query::new())
        .try_collect()
        .await
        .unwrap();
    running.stop().await.unwrap();
    let statuses = api_calls(&calls).iter().map(|c| c.2).collect();
    (found, statuses)
}

#[tokio::test]
async fn paging_reaches_the_end_in_xml_on_the_no_results_404() {
    let (found, statuses) = page_through(Format::Xml, 100).await;
    assert_eq!(found.len(), 100);
    let ids: Vec<i64> = found.iter().map(|u| u.id.unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(statuses, [Some(200), Some(200), Some(404)]);
}

#[tokio::test]
async fn paging_reaches_the_end_in_json_on_the_empty_list() {
    let (found, statuses) = page_through(Format::Json, 100).await;
    assert_eq!(found.len(), 100);
    assert_eq!(statuses, [Some(200), Some(200), Some(200)]);
    let logins: HashSet<_> = found.iter().map(|u| u.login.clone().unwrap()).collect();
    assert_eq!(logins.len(), 100);
}

#[tokio::test]
async fn a_short_page_ends_paging_without_another_call() {
    let (found, statuses) = page_through(Format::Xml, 120).await;
    assert_eq!(found.len(), 120);
    assert_eq!(statuses.len(), 3);
}

#[tokio::test]
async fn queries_keep_their_conditions_and_shaping_across_pages() {
    let (_sandbox, running) = start(sandbox_config(), 130).await;
    let (client, calls) = client(&running, Format::Json, None);
    let query = Query::new()
        .filter_by("login", coupa_wire::Op::StartsWith, "user00")
        .return_object(ReturnObject::Limited);
    let found: Vec<User> = client.users().query(query).try_collect().await.unwrap();
    assert_eq!(found.len(), 100);
    assert!(found.iter().all(|u| u.id.is_some() && u.login.is_none()));
    let paths: Vec<String> = api_calls(&calls).into_iter().map(|c| c.1).collect();
    assert_eq!(paths.len(), 3);
    assert!(paths[2].contains("login[starts_with]=user00") && paths[2].contains("offset=100"));
    running.stop().await.unwrap();
}

#[tokio::test]
async fn find_by_uses_as_few_calls_as_fifty_value_pages_allow() {
    let (_sandbox, running) = start(sandbox_config(), 1000).await;
    let (client, calls) = client(&running, Format::Xml, None);
    for (n, expected_calls) in [(0, 0), (1, 1), (50, 1), (51, 2), (1000, 20)] {
        calls.lock().unwrap().clear();
        let logins: Vec<String> = (0..n).map(|i| format!("user{i:04}")).collect();
        let found = client.users().find_by("login", &logins).await.unwrap();
        let got: HashSet<String> = found.iter().map(|u| u.login.clone().unwrap()).collect();
        assert_eq!(got, logins.iter().cloned().collect(), "{n} logins");
        assert_eq!(api_calls(&calls).len(), expected_calls, "{n} logins");
    }
    // Unknown values are simply not found; XML's "No results" is no error.
    let found = client
        .users()
        .find_by("employee_number", &["E0007", "nobody"])
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].employee_number.as_deref(), Some("E0007"));
    let none = client
        .users()
        .find_by("email", &["nobody@example.com"])
        .await
        .unwrap();
    assert_eq!(none, []);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn find_by_looks_up_values_with_commas_one_by_one() {
    let (sandbox, running) = start(sandbox_config(), 3).await;
    let odd = User {
        lastname: Some("Doe, Jr.".into()),
        ..person(50)
    };
    sandbox.seed_users([odd]).await.unwrap();
    let (client, calls) = client(&running, Format::Xml, None);
    let found = client
        .users()
        .find_by("lastname", &["Doe, Jr.", "Number1", "Number2"])
        .await
        .unwrap();
    let mut names: Vec<String> = found.iter().map(|u| u.lastname.clone().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["Doe, Jr.", "Number1", "Number2"]);
    assert_eq!(api_calls(&calls).len(), 2);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn coupa_errors_come_back_with_their_messages_in_both_formats() {
    let (_sandbox, running) = start(sandbox_config(), 1).await;
    for format in [Format::Xml, Format::Json] {
        let (client, _) = client(&running, format, None);
        let err = client.users().create(&person(0)).await.unwrap_err();
        assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
        assert!(
            err.messages()
                .contains(&"Login has already been taken".to_string()),
            "{format:?}: {err}"
        );
        let missing = client.users().get(999_999).await.unwrap_err();
        assert!(missing.is_not_found(), "{missing}");
        assert_eq!(missing.attempts(), 1);
        assert!(!missing.messages().is_empty(), "{format:?}: {missing}");
    }
    running.stop().await.unwrap();
}

#[tokio::test]
async fn shaping_reaches_coupa() {
    let (_sandbox, running) = start(sandbox_config(), 1).await;
    let (client, _) = client(&running, Format::Xml, None);
    let limited = client
        .users()
        .return_object(ReturnObject::Limited)
        .get(1)
        .await
        .unwrap();
    assert_eq!((limited.id, limited.login), (Some(1), None));
    let some = client
        .users()
        .fields(serde_json::json!(["id", "email"]))
        .get(1)
        .await
        .unwrap();
    assert_eq!(some.email.as_deref(), Some("user0000@example.com"));
    assert_eq!(some.lastname, None);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn values_coupa_ignores_are_reported_not_hidden() {
    let (_sandbox, running) = start(sandbox_config(), 1).await;
    let (client, _) = client(&running, Format::Xml, None);
    // `fullname` is read-only and the department does not exist: Coupa answers 200 all the same,
    // keeping the name it derives and the department the user had.
    let changes = User {
        lastname: Some("Renamed".into()),
        fullname: Some("Someone Else".into()),
        department: Some(Box::new(coupa_wire::Department {
            name: Some("Nowhere".into()),
            ..coupa_wire::Department::default()
        })),
        ..User::default()
    };
    let written = client.users().update(1, &changes).await.unwrap();
    assert_eq!(written.user.lastname.as_deref(), Some("Renamed"));
    let ignored: Vec<_> = written.ignored.iter().map(|i| i.field.as_str()).collect();
    assert_eq!(ignored, ["fullname", "department"]);
    let err = written.complete().unwrap_err().to_string();
    assert!(err.contains("ignored: fullname, department"), "{err}");
    running.stop().await.unwrap();
}
