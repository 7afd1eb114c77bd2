//! What the sandbox does not produce, against a mock server: proxy error pages, malformed and
//! oversized bodies, wrong content types, `Retry-After` in both forms, token renewal under concurrency,
//! and secrets kept out of records and errors.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use coupa_client::{
    Client, ClientBuilder, Credentials, Error, ErrorKind, Format, RetryPolicy, TransportFailure,
    User,
};
use secrecy::SecretString;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use wiremock::matchers::{body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

const USER_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<user><id type="integer">1</id><login>jdoe</login><email>jdoe@example.com</email>
<firstname>Jane</firstname><lastname>Doe</lastname><employee-number>E1</employee-number></user>"#;

/// Coupa's answer to a create whose login is in use.
const LOGIN_TAKEN: &str =
    "<errors><error><![CDATA[Login has already been taken]]></error></errors>";

/// Coupa's answer to a search that finds nobody.
const NO_RESULTS: &str = "<errors><error>No results match your search criteria.</error></errors>";

fn quick_retries(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        max_elapsed: Duration::from_secs(30),
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    }
}

/// A client for `server` to finish building, signed in with an API key.
fn with_api_key(server: &MockServer) -> ClientBuilder {
    Client::builder(server.uri())
        .credentials(Credentials::api_key(SecretString::from("k".repeat(40))))
}

/// A client for `server` to finish building, signed in as the OAuth client `sync` with `secret`.
fn with_oauth(server: &MockServer, secret: &str) -> ClientBuilder {
    Client::builder(server.uri())
        .credentials(Credentials::oauth("sync", SecretString::from(secret)))
}

fn api_key_client(server: &MockServer, attempts: u32) -> Client {
    with_api_key(server)
        .rate(None)
        .retry(quick_retries(attempts))
        .build()
        .unwrap()
}

/// A mock for every `verb` request to `route`.
fn on(verb: &str, route: &str) -> MockBuilder {
    Mock::given(method(verb)).and(path(route))
}

/// A mock for every `verb` request, whatever its path.
fn any(verb: &str) -> MockBuilder {
    Mock::given(method(verb))
}

/// A mock server answering with `mocks`.
async fn serving(mocks: impl IntoIterator<Item = Mock>) -> MockServer {
    let server = MockServer::start().await;
    for mock in mocks {
        mock.mount(&server).await;
    }
    server
}

/// `mock` answering only the first request it matches, ahead of the mocks for those after it.
fn first_only(mock: Mock) -> Mock {
    mock.up_to_n_times(1).with_priority(1)
}

fn xml(status: u16, body: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.as_bytes().to_vec(), "application/xml")
}

fn json(status: u16, body: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.as_bytes().to_vec(), "application/json")
}

fn token_answer(token: &str) -> ResponseTemplate {
    json(
        200,
        &format!(r#"{{"access_token":"{token}","token_type":"bearer","expires_in":86399}}"#),
    )
}

/// A search's answer that finds Jane Doe (`USER_XML`).
fn jdoe_found() -> ResponseTemplate {
    xml(
        200,
        &format!("<users type=\"array\">{}</users>", &USER_XML[39..]),
    )
}

/// Jane Doe as a new user: only her login.
fn jdoe() -> User {
    User {
        login: Some("jdoe".into()),
        ..User::default()
    }
}

/// Every call the hook saw: (when it was sent, status, rate-limit wait).
type Seen = Arc<Mutex<Vec<(Instant, Option<u16>, Duration)>>>;

fn recording(server: &MockServer, attempts: u32) -> (Client, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let client = with_api_key(server)
        .rate(None)
        .retry(quick_retries(attempts))
        .on_call(move |r| {
            let sent = Instant::now() - r.duration;
            let mut log = log.lock().unwrap();
            log.push((sent, r.status.map(|s| s.as_u16()), r.rate_limit_wait));
        })
        .build()
        .unwrap();
    (client, seen)
}

#[tokio::test]
async fn a_proxy_html_error_page_is_retried_then_reported_with_its_start() {
    let page = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1>\
                <hr><center>nginx</center></body></html>";
    let server = serving([on("GET", "/api/users/1")
        .respond_with(ResponseTemplate::new(502).set_body_raw(page, "text/html"))
        .expect(3)])
    .await;
    let err = api_key_client(&server, 3).users().get(1).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(502));
    assert_eq!(err.attempts(), 3);
    assert!(err.messages().is_empty());
    let text = err.to_string();
    assert!(
        text.starts_with("GET /api/users/1 → 502 Bad Gateway"),
        "{text}"
    );
    assert!(
        text.contains("text/html") && text.contains("<title>502 Bad Gateway"),
        "{text}"
    );
}

#[tokio::test]
async fn an_html_page_with_200_is_not_a_user() {
    let server = serving([any("GET")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw("<html><body>Sign in</body></html>", "text/html"),
        )
        .expect(1)])
    .await;
    let err = api_key_client(&server, 3).users().get(1).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("expected an XML <user> document (application/xml)")
            && text.contains("the answer is text/html"),
        "{text}"
    );
    assert!(matches!(err.kind(), ErrorKind::Body { .. }));
}

#[tokio::test]
async fn malformed_and_truncated_bodies_are_errors_naming_the_format() {
    let server = serving([
        on("GET", "/api/users/1").respond_with(xml(200, &USER_XML[..USER_XML.len() - 20])),
        on("GET", "/api/users/2").respond_with(json(200, r#"{"id": 2, "login": "jd"#)),
    ])
    .await;
    let xml_err = api_key_client(&server, 1).users().get(1).await.unwrap_err();
    assert!(xml_err.to_string().contains("malformed XML"), "{xml_err}");
    let json_client = with_api_key(&server).format(Format::Json).build().unwrap();
    let json_err = json_client.users().get(2).await.unwrap_err();
    let text = json_err.to_string();
    assert!(
        text.contains("expected a JSON user document") && text.contains("malformed JSON"),
        "{text}"
    );
}

#[tokio::test]
async fn a_field_that_does_not_decode_is_named() {
    let server = serving([any("GET").respond_with(xml(
        200,
        r#"<user><id type="integer">1</id><active>maybe</active></user>"#,
    ))])
    .await;
    let err = api_key_client(&server, 1).users().get(1).await.unwrap_err();
    match err.kind() {
        ErrorKind::Body { field, detail, .. } => {
            assert_eq!(field.as_deref(), Some("active"));
            assert!(detail.contains("maybe"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_empty_200_is_an_error() {
    let server = serving([any("GET").respond_with(
        ResponseTemplate::new(200).insert_header("content-type", "application/xml"),
    )])
    .await;
    let err = api_key_client(&server, 1).users().get(1).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("empty body where a XML document was expected"),
        "{err}"
    );
}

#[tokio::test]
async fn json_where_xml_was_asked_is_a_wrong_content_type() {
    let server = serving([any("GET").respond_with(json(200, r#"{"id":1}"#))]).await;
    let err = api_key_client(&server, 1).users().get(1).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("expected an XML <user> document") && text.contains("application/json"),
        "{text}"
    );
}

#[tokio::test]
async fn enormous_answers_are_cut_off_at_the_cap() {
    let huge = format!(
        "<users type=\"array\">{}</users>",
        USER_XML[39..].repeat(2000)
    );
    let server = serving([any("GET").respond_with(xml(200, &huge))]).await;
    let client = with_api_key(&server).body_cap(64 * 1024).build().unwrap();
    let err = client.users().get(1).await.unwrap_err();
    assert!(err.to_string().contains("larger than 65536 bytes"), "{err}");
}

#[tokio::test]
async fn retry_after_in_seconds_pauses_the_whole_client() {
    let server = serving([
        first_only(
            on("GET", "/api/users/1").respond_with(xml(429, "").insert_header("retry-after", "2")),
        ),
        any("GET").respond_with(xml(200, USER_XML)),
    ])
    .await;
    let (client, seen) = recording(&server, 3);
    let throttled = tokio::spawn({
        let client = client.clone();
        async move { client.users().get(1).await }
    });
    // Wait until the 429 has been answered, then make an unrelated call from another task.
    let throttled_at = loop {
        if let Some((at, _, _)) = seen.lock().unwrap().first() {
            break *at;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let other = client.users().get(2).await.unwrap();
    assert_eq!(other.login.as_deref(), Some("jdoe"));
    assert_eq!(throttled.await.unwrap().unwrap().id, Some(1));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].1, Some(429));
    // Neither the retry nor the other task's call left before the 2 s were over.
    for (sent, status, _) in &seen[1..] {
        assert_eq!(*status, Some(200));
        assert!(*sent - throttled_at >= Duration::from_secs(2));
    }
    // The other task was held by the governor, and its record says so.
    assert!(
        seen.iter()
            .any(|(_, _, wait)| *wait >= Duration::from_secs(1))
    );
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured() {
    let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3));
    let server = serving([
        first_only(
            any("GET").respond_with(xml(429, "").insert_header("retry-after", date.as_str())),
        ),
        any("GET").respond_with(xml(200, USER_XML)),
    ])
    .await;
    let (client, seen) = recording(&server, 3);
    client.users().get(1).await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    // The date has one-second resolution: at least 2 of the 3 seconds remain when it is read.
    assert!(seen[1].0 - seen[0].0 >= Duration::from_millis(1900));
}

#[tokio::test]
async fn a_retry_after_beyond_the_time_budget_fails_at_once() {
    let server = serving([any("GET")
        .respond_with(xml(429, "").insert_header("retry-after", "3600"))
        .expect(1)])
    .await;
    let err = api_key_client(&server, 5).users().get(1).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(429));
    assert_eq!(err.attempts(), 1);
    match err.kind() {
        ErrorKind::Status { retry_after, .. } => {
            assert_eq!(*retry_after, Some(Duration::from_secs(3600)));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_401_renews_the_token_once_for_all_concurrent_tasks() {
    let server = serving([
        first_only(
            on("POST", "/oauth2/token")
                .and(body_string_contains("grant_type=client_credentials"))
                .and(body_string_contains("scope=core.user.read+core.user.write"))
                .respond_with(token_answer("old-token"))
                .expect(1),
        ),
        on("POST", "/oauth2/token")
            .respond_with(token_answer("new-token"))
            .expect(1),
        any("GET")
            .and(header("authorization", "Bearer old-token"))
            .respond_with(xml(
                401,
                "<errors><error>Invalid or expired access token</error></errors>",
            )),
        any("GET")
            .and(header("authorization", "Bearer new-token"))
            .respond_with(xml(200, USER_XML)),
    ])
    .await;
    let client = with_oauth(&server, "s3cret").rate(None).build().unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.users().get(i).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().login.as_deref(), Some("jdoe"));
    }
    server.verify().await;
}

#[tokio::test]
async fn a_refused_token_is_a_token_error_and_not_retried() {
    let server = serving([on("POST", "/oauth2/token")
        .respond_with(json(
            401,
            r#"{"error":"invalid_client","error_description":"unknown client or wrong secret"}"#,
        ))
        .expect(1)])
    .await;
    let client = with_oauth(&server, "wrong-secret").build().unwrap();
    let err = client.users().get(1).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Token { .. }));
    assert_eq!(
        err.to_string(),
        "POST /oauth2/token → 401 Unauthorized: token refused: invalid_client: \
         unknown client or wrong secret"
    );
}

#[tokio::test]
async fn secrets_reach_neither_the_hook_nor_errors_nor_debug() {
    let server = serving([
        on("POST", "/oauth2/token").respond_with(token_answer("tok-SECRET-123")),
        on("POST", "/api/users").respond_with(xml(400, LOGIN_TAKEN)),
    ])
    .await;
    let bodies: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = bodies.clone();
    let client = with_oauth(&server, "hunter2-secret")
        .on_call(move |r| {
            let mut log = log.lock().unwrap();
            log.push(format!(
                "{} {} {:?} {:?} {:?}",
                r.method,
                r.path,
                r.request_text(),
                r.response_text(),
                r.messages
            ));
        })
        .build()
        .unwrap();
    let user = User {
        password: Some(coupa_wire::Password::new("pa55word!")),
        ..jdoe()
    };
    let err = client.users().create(&user).await.unwrap_err();
    assert_eq!(err.messages(), ["Login has already been taken"]);
    let bodies = bodies.lock().unwrap();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    let everything = format!("{bodies:?} {err} {err:?} {client:?} {user:?}");
    for secret in ["hunter2-secret", "tok-SECRET-123", "pa55word!"] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked: {everything}"
        );
    }
    assert!(
        bodies[0].contains("client_secret=%5Bredacted%5D"),
        "{}",
        bodies[0]
    );
    assert!(
        bodies[0].contains(r#"\"access_token\":\"[redacted]\""#),
        "{}",
        bodies[0]
    );
    assert!(
        bodies[1].contains("<password>[redacted]</password>"),
        "{}",
        bodies[1]
    );
}

#[tokio::test]
async fn a_post_that_failed_ambiguously_is_looked_up_before_anything_else() {
    let server = serving([
        on("POST", "/api/users")
            .respond_with(xml(500, "<errors><error>Internal error</error></errors>"))
            .expect(1),
        on("GET", "/api/users")
            .and(query_param("login", "jdoe"))
            .and(query_param("employee_number", "E1"))
            .respond_with(jdoe_found())
            .expect(1),
    ])
    .await;
    let user = User {
        employee_number: Some("E1".into()),
        email: Some("jdoe@example.com".into()),
        firstname: Some("Jane".into()),
        lastname: Some("Doe".into()),
        ..jdoe()
    };
    let written = api_key_client(&server, 3)
        .users()
        .create(&user)
        .await
        .unwrap();
    assert!(written.recovered);
    assert_eq!(written.user.id, Some(1));
    assert_eq!(written.ignored, []);
}

#[tokio::test]
async fn a_post_that_did_not_land_is_sent_again_only_after_the_lookup() {
    let server = serving([
        on("POST", "/api/users")
            .respond_with(xml(503, ""))
            .expect(2),
        on("GET", "/api/users")
            .and(query_param("login", "jdoe"))
            .respond_with(xml(404, NO_RESULTS))
            .expect(2),
    ])
    .await;
    let err = api_key_client(&server, 2)
        .users()
        .create(&jdoe())
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    assert_eq!(err.attempts(), 2);
}

#[tokio::test]
async fn a_timeout_is_reported_as_one() {
    let server =
        serving([any("GET").respond_with(xml(200, USER_XML).set_delay(Duration::from_secs(5)))])
            .await;
    let client = with_api_key(&server)
        .retry(quick_retries(2))
        .timeouts(coupa_client::Timeouts {
            connect: Duration::from_secs(1),
            request: Duration::from_millis(200),
        })
        .build()
        .unwrap();
    let err: Error = client.users().get(1).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(matches!(
        err.kind(),
        ErrorKind::Transport {
            failure: TransportFailure::Timeout,
            ..
        }
    ));
    assert_eq!(err.attempts(), 2);
}

#[tokio::test]
async fn json_error_bodies_give_their_messages() {
    let server = serving([any("PUT").respond_with(json(
        400,
        r#"{"errors":{"user":["Email has already been taken","Login can't be blank"]}}"#,
    ))])
    .await;
    let client = with_api_key(&server).format(Format::Json).build().unwrap();
    let err = client
        .users()
        .update(1, &User::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.messages(),
        ["Email has already been taken", "Login can't be blank"]
    );
    assert_eq!(err.attempts(), 1);
}

#[tokio::test]
async fn a_create_that_landed_late_is_found_when_its_resend_is_refused() {
    let lookup = || on("GET", "/api/users").and(query_param("login", "jdoe"));
    let server = serving([
        first_only(on("POST", "/api/users").respond_with(xml(504, ""))),
        on("POST", "/api/users").respond_with(xml(400, LOGIN_TAKEN)),
        // Not there at the first look; there at the second (the first create was still running).
        first_only(lookup().respond_with(xml(404, NO_RESULTS))),
        lookup().respond_with(jdoe_found()),
    ])
    .await;
    let written = api_key_client(&server, 3)
        .users()
        .create(&jdoe())
        .await
        .unwrap();
    assert!(written.recovered);
    assert_eq!(written.user.id, Some(1));
    let requests = server.received_requests().await.unwrap();
    let methods: Vec<_> = requests.iter().map(|r| r.method.to_string()).collect();
    assert_eq!(methods, ["POST", "GET", "POST", "GET"]);
}

#[tokio::test]
async fn a_duplicate_login_without_a_lost_answer_is_just_an_error() {
    let server = serving([any("POST").respond_with(xml(400, LOGIN_TAKEN)).expect(1)]).await;
    let err = api_key_client(&server, 3)
        .users()
        .create(&jdoe())
        .await
        .unwrap_err();
    assert_eq!(err.messages(), ["Login has already been taken"]);
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}
