//! The sandbox's edges, as a client meets them: OAuth2 tokens and scopes, the legacy API key, the rate
//! limit, seeded faults, and the access log. API calls use `GET /api/users?login=x`: these tests check
//! what happens around a route, not the users logic, so any answer from the route (200, or 404 for no
//! match) counts as "let through".
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use common::spawn;
use coupa_sandbox::{ClientCredentials, FaultConfig, RateLimit, Sandbox, SandboxConfig, app};
use coupa_wire::{ErrorsBody, Format};
use secrecy::SecretString;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

const SECRET: &str = "hr-sync-secret-7f3a9c";
const READER_SECRET: &str = "reader-secret-51b2e0";
const API_KEY: &str = "k3yk3yk3yk3yk3yk3yk3yk3yk3yk3yk3yk3yk3yk";

fn config() -> SandboxConfig {
    SandboxConfig {
        clients: vec![
            ClientCredentials {
                id: "hr-sync".into(),
                secret: SecretString::from(SECRET),
                scopes: Vec::new(),
            },
            ClientCredentials {
                id: "reader".into(),
                secret: SecretString::from(READER_SECRET),
                scopes: vec!["core.user.read".into()],
            },
        ],
        api_key: Some(SecretString::from(API_KEY)),
        ..SandboxConfig::default()
    }
}

async fn router(config: SandboxConfig) -> axum::Router {
    app(&Sandbox::new(config).await.unwrap())
}

async fn send(app: &axum::Router, req: Request<Body>) -> Response {
    app.clone().oneshot(req).await.unwrap()
}

async fn body_text(res: Response) -> String {
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn token_request(form: &str) -> Request<Body> {
    Request::post("/oauth2/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_string()))
        .unwrap()
}

async fn json_body(res: Response) -> serde_json::Value {
    serde_json::from_str(&body_text(res).await).unwrap()
}

/// The client-credentials form for `client`.
fn credentials(client: &str, secret: &str) -> String {
    format!("grant_type=client_credentials&client_id={client}&client_secret={secret}")
}

/// The token answer as JSON; panics unless it is a 200.
async fn token_answer(app: &axum::Router, form: &str) -> serde_json::Value {
    let res = send(app, token_request(form)).await;
    assert_eq!(res.status(), StatusCode::OK);
    json_body(res).await
}

async fn token(app: &axum::Router, client: &str, secret: &str) -> String {
    token_answer(app, &credentials(client, secret)).await["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

fn api_get(auth: Option<(&str, &str)>) -> Request<Body> {
    let mut req = Request::get("/api/users?login=x");
    if let Some((name, value)) = auth {
        req = req.header(name, value);
    }
    req.body(Body::empty()).unwrap()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// An answer from the route itself: the request got through auth, the limiter and the faults.
fn let_through(status: StatusCode) -> bool {
    status == StatusCode::OK || status == StatusCode::NOT_FOUND
}

async fn errors(res: Response, format: Format) -> Vec<String> {
    ErrorsBody::decode(format, body_text(res).await.as_bytes())
        .unwrap()
        .messages
}

#[tokio::test]
async fn a_token_is_issued_for_client_credentials_form_fields_and_opens_the_api() {
    let app = router(config()).await;
    let res = send(
        &app,
        token_request(&format!(
            "grant_type=client_credentials&client_id=hr-sync&client_secret={SECRET}\
             &scope=core.user.read+core.user.write"
        )),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
    let answer = json_body(res).await;
    assert_eq!(answer["token_type"], "bearer");
    assert_eq!(answer["expires_in"], 86399);
    assert_eq!(answer["scope"], "core.user.read core.user.write");
    let token = answer["access_token"].as_str().unwrap();
    assert!(
        token.len() >= 32,
        "token too short to be unguessable: {token}"
    );

    let res = send(&app, api_get(Some(("authorization", &bearer(token))))).await;
    assert!(let_through(res.status()), "got {}", res.status());
}

#[tokio::test]
async fn a_wrong_secret_or_unknown_client_is_401_invalid_client() {
    let app = router(config()).await;
    for form in [
        "grant_type=client_credentials&client_id=hr-sync&client_secret=wrong",
        "grant_type=client_credentials&client_id=nobody&client_secret=wrong",
    ] {
        let res = send(&app, token_request(form)).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let answer = json_body(res).await;
        assert_eq!(answer["error"], "invalid_client");
    }
}

#[tokio::test]
async fn an_unknown_grant_type_is_400_unsupported_grant_type() {
    let app = router(config()).await;
    let res = send(
        &app,
        token_request(&format!(
            "grant_type=password&client_id=hr-sync&client_secret={SECRET}"
        )),
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let answer = json_body(res).await;
    assert_eq!(answer["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn a_scope_the_client_does_not_have_is_refused_at_the_token_endpoint() {
    let app = router(config()).await;
    let res = send(
        &app,
        token_request(&format!(
            "grant_type=client_credentials&client_id=reader&client_secret={READER_SECRET}\
             &scope=core.user.write"
        )),
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let answer = json_body(res).await;
    assert_eq!(answer["error"], "invalid_scope");
}

#[tokio::test]
async fn an_expired_token_is_401() {
    let app = router(SandboxConfig {
        token_ttl: Duration::from_secs(1),
        ..config()
    })
    .await;
    let answer = token_answer(&app, &credentials("hr-sync", SECRET)).await;
    assert_eq!(answer["expires_in"], 1);
    // Token lifetimes are checked against the real clock; wait it out.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let token = answer["access_token"].as_str().unwrap();
    let res = send(&app, api_get(Some(("authorization", &bearer(token))))).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().contains_key(header::WWW_AUTHENTICATE));
    assert_eq!(
        errors(res, Format::Xml).await,
        ["Invalid or expired access token"]
    );
}

#[tokio::test]
async fn no_credentials_or_an_unknown_token_is_401_with_a_coupa_error_body() {
    let app = router(config()).await;
    let res = send(&app, api_get(None)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().contains_key(header::WWW_AUTHENTICATE));
    assert_eq!(errors(res, Format::Xml).await.len(), 1);

    let res = send(&app, api_get(Some(("authorization", "Bearer not-a-token")))).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_read_only_token_may_read_but_a_write_is_403() {
    let app = router(config()).await;
    let token = token(&app, "reader", READER_SECRET).await;
    let res = send(&app, api_get(Some(("authorization", &bearer(&token))))).await;
    assert!(let_through(res.status()), "got {}", res.status());

    let write = Request::post("/api/users")
        .header(header::AUTHORIZATION, bearer(&token))
        .header(header::ACCEPT, "application/json")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"login":"jdoe"}"#))
        .unwrap();
    let res = send(&app, write).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let messages = errors(res, Format::Json).await;
    assert!(messages[0].contains("core.user.write"), "{messages:?}");
}

#[tokio::test]
async fn the_legacy_api_key_is_accepted_when_configured_and_refused_otherwise() {
    let app = router(config()).await;
    let res = send(&app, api_get(Some(("x-coupa-api-key", API_KEY)))).await;
    assert!(let_through(res.status()), "got {}", res.status());

    let res = send(&app, api_get(Some(("x-coupa-api-key", "wrong-key")))).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let without_key = router(SandboxConfig {
        api_key: None,
        ..config()
    })
    .await;
    let res = send(&without_key, api_get(Some(("x-coupa-api-key", API_KEY)))).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(start_paused = true)]
async fn over_the_burst_a_client_gets_429_with_retry_after_until_the_bucket_refills() {
    let app = router(SandboxConfig {
        rate_limit: Some(RateLimit {
            per_second: 2,
            burst: 3,
        }),
        ..config()
    })
    .await;
    let hr = token(&app, "hr-sync", SECRET).await;
    let auth = bearer(&hr);
    for _ in 0..3 {
        let res = send(&app, api_get(Some(("authorization", &auth)))).await;
        assert!(let_through(res.status()), "got {}", res.status());
    }
    let res = send(&app, api_get(Some(("authorization", &auth)))).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers()[header::RETRY_AFTER], "1");
    let messages = errors(res, Format::Xml).await;
    assert!(messages[0].contains("Rate limit"), "{messages:?}");

    // JSON callers get the JSON error body.
    let json = Request::get("/api/users?login=x")
        .header(header::AUTHORIZATION, &auth)
        .header(header::ACCEPT, "application/json")
        .body(Body::empty())
        .unwrap();
    let res = send(&app, json).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(errors(res, Format::Json).await.len(), 1);

    // Another client has a bucket of its own.
    let reader = token(&app, "reader", READER_SECRET).await;
    let res = send(&app, api_get(Some(("authorization", &bearer(&reader))))).await;
    assert!(let_through(res.status()), "got {}", res.status());

    // At 2 per second, one token is back after half a second.
    tokio::time::advance(Duration::from_millis(500)).await;
    let res = send(&app, api_get(Some(("authorization", &auth)))).await;
    assert!(let_through(res.status()), "got {}", res.status());
}

#[tokio::test(start_paused = true)]
async fn with_rate_limiting_off_no_request_is_refused() {
    let app = router(SandboxConfig {
        rate_limit: None,
        ..config()
    })
    .await;
    let auth = bearer(&token(&app, "hr-sync", SECRET).await);
    for _ in 0..200 {
        let res = send(&app, api_get(Some(("authorization", &auth)))).await;
        assert!(let_through(res.status()), "got {}", res.status());
    }
}

fn faulty(faults: FaultConfig) -> SandboxConfig {
    SandboxConfig {
        faults,
        rate_limit: None,
        ..config()
    }
}

#[tokio::test]
async fn an_error_fault_answers_500_or_503_yet_the_token_endpoint_keeps_working() {
    let app = router(faulty(FaultConfig {
        seed: 1,
        error_rate: 1.0,
        ..FaultConfig::default()
    }))
    .await;
    let auth = bearer(&token(&app, "hr-sync", SECRET).await);
    let mut seen = Vec::new();
    for _ in 0..40 {
        let res = send(&app, api_get(Some(("authorization", &auth)))).await;
        assert_eq!(res.headers()["x-sandbox-fault"], "error");
        seen.push(res.status());
        assert_eq!(errors(res, Format::Xml).await.len(), 1);
    }
    assert!(seen.contains(&StatusCode::INTERNAL_SERVER_ERROR));
    assert!(seen.contains(&StatusCode::SERVICE_UNAVAILABLE));
    assert!(
        seen.iter()
            .all(|s| *s == StatusCode::INTERNAL_SERVER_ERROR
                || *s == StatusCode::SERVICE_UNAVAILABLE)
    );
}

#[tokio::test]
async fn a_429_fault_carries_retry_after() {
    let app = router(faulty(FaultConfig {
        seed: 1,
        throttle_rate: 1.0,
        ..FaultConfig::default()
    }))
    .await;
    let res = send(&app, api_get(Some(("x-coupa-api-key", API_KEY)))).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers()[header::RETRY_AFTER], "1");
    assert_eq!(res.headers()["x-sandbox-fault"], "429");
}

#[tokio::test(start_paused = true)]
async fn a_slow_fault_delays_the_answer_by_slow_by() {
    let app = router(faulty(FaultConfig {
        seed: 1,
        slow_rate: 1.0,
        slow_by: Duration::from_secs(30),
        ..FaultConfig::default()
    }))
    .await;
    let started = tokio::time::Instant::now();
    let res = send(&app, api_get(Some(("x-coupa-api-key", API_KEY)))).await;
    // The clock is paused and only moves when the sandbox sleeps, so this reads the delay it chose.
    assert!(started.elapsed() >= Duration::from_secs(30));
    assert!(let_through(res.status()), "got {}", res.status());
    assert_eq!(res.headers()["x-sandbox-fault"], "slow");
}

/// The fault (or "-") and status of each of `n` API calls.
async fn fault_sequence(seed: u64, n: usize) -> Vec<(String, u16)> {
    let app = router(faulty(FaultConfig {
        seed,
        error_rate: 0.2,
        throttle_rate: 0.2,
        slow_rate: 0.2,
        slow_by: Duration::from_millis(1),
        drop_rate: 0.2,
    }))
    .await;
    let mut out = Vec::new();
    for _ in 0..n {
        let res = send(&app, api_get(Some(("x-coupa-api-key", API_KEY)))).await;
        let fault = res
            .headers()
            .get("x-sandbox-fault")
            .map_or("-".to_string(), |v| v.to_str().unwrap().to_string());
        out.push((fault, res.status().as_u16()));
    }
    out
}

#[tokio::test]
async fn the_same_seed_replays_the_same_faults_in_the_same_order() {
    let first = fault_sequence(42, 60).await;
    assert_eq!(first, fault_sequence(42, 60).await);
    assert_ne!(first, fault_sequence(43, 60).await);
    for kind in ["error", "429", "slow", "drop", "-"] {
        assert!(
            first.iter().any(|(fault, _)| fault == kind),
            "no {kind} in {first:?}"
        );
    }
}

#[tokio::test]
async fn a_dropped_connection_runs_the_request_but_the_client_sees_no_answer() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.jsonl");
    let running = spawn(SandboxConfig {
        access_log: Some(log.clone()),
        ..faulty(FaultConfig {
            seed: 9,
            drop_rate: 1.0,
            ..FaultConfig::default()
        })
    })
    .await;

    // A raw HTTP/1.1 client gets not a single byte: no status line, just the end of the connection.
    let mut tcp = tokio::net::TcpStream::connect(running.addr).await.unwrap();
    let request = format!(
        "GET /api/users?login=x HTTP/1.1\r\nHost: sandbox\r\nConnection: close\r\nX-COUPA-API-KEY: {API_KEY}\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    // Either a clean end of stream or a reset counts as a dropped connection.
    let _ = tcp.read_to_end(&mut received).await;
    assert!(
        received.is_empty(),
        "got bytes: {:?}",
        String::from_utf8_lossy(&received)
    );

    // reqwest reports an error from send(), not a response.
    let client = reqwest::Client::new();
    let outcome = client
        .get(format!("{}/api/users?login=x", running.url()))
        .header("X-COUPA-API-KEY", API_KEY)
        .send()
        .await;
    let error = outcome.expect_err("a dropped connection must not give a response");
    assert!(error.status().is_none());

    // The token endpoint is never dropped.
    let res = client
        .post(format!("{}/oauth2/token", running.url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "hr-sync"),
            ("client_secret", SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    running.stop().await.unwrap();
    // The requests ran: the access log has the route's own status, marked as dropped.
    let text = std::fs::read_to_string(&log).unwrap();
    let dropped: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|line| line["fault"] == "drop")
        .collect();
    assert_eq!(dropped.len(), 2, "{text}");
    for line in dropped {
        assert!(let_through(
            StatusCode::from_u16(line["status"].as_u64().unwrap() as u16).unwrap()
        ));
        assert_eq!(line["client"], "api-key");
    }
}

#[tokio::test]
async fn a_post_whose_connection_is_dropped_still_creates_the_user() {
    let data = tempfile::tempdir().unwrap();
    let running = spawn(SandboxConfig {
        data_dir: Some(data.path().to_path_buf()),
        ..faulty(FaultConfig {
            seed: 3,
            drop_rate: 1.0,
            ..FaultConfig::default()
        })
    })
    .await;
    let outcome = reqwest::Client::new()
        .post(format!("{}/api/users", running.url()))
        .header("X-COUPA-API-KEY", API_KEY)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .body(
            r#"{"login":"landed","email":"landed@example.com","firstname":"Lan","lastname":"Ded"}"#,
        )
        .send()
        .await;
    assert!(outcome.is_err(), "the answer should have been dropped");
    running.stop().await.unwrap();

    // The same data, served without faults: the user is there.
    let app = router(SandboxConfig {
        data_dir: Some(data.path().to_path_buf()),
        ..config()
    })
    .await;
    let req = Request::get("/api/users?login=landed")
        .header("X-COUPA-API-KEY", API_KEY)
        .header(header::ACCEPT, "application/json")
        .body(Body::empty())
        .unwrap();
    let res = send(&app, req).await;
    assert_eq!(res.status(), StatusCode::OK);
    let users: serde_json::Value = serde_json::from_str(&body_text(res).await).unwrap();
    assert_eq!(users[0]["login"], "landed", "{users}");
}

#[tokio::test]
async fn the_access_log_has_one_json_line_per_request_and_never_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.jsonl");
    let running = spawn(SandboxConfig {
        access_log: Some(log.clone()),
        ..config()
    })
    .await;
    let client = reqwest::Client::new();
    let url = running.url();
    let token = common::http_token(&client, &url, "hr-sync", SECRET, "").await;
    let by_token = client
        .get(format!("{url}/api/users?login=jdoe&offset=50"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(let_through(
        StatusCode::from_u16(by_token.status().as_u16()).unwrap()
    ));
    client
        .get(format!("{url}/api/users?login=x"))
        .header("X-COUPA-API-KEY", API_KEY)
        .send()
        .await
        .unwrap();
    // A careless client putting secrets in the query must not get them logged either.
    let careless = client
        .get(format!(
            "{url}/api/users?access_token={token}&client_secret={SECRET}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(careless.status(), 401);
    running.stop().await.unwrap();

    let text = std::fs::read_to_string(&log).unwrap();
    for secret in [SECRET, API_KEY, token.as_str()] {
        assert!(
            !text.contains(secret),
            "a secret is in the access log:\n{text}"
        );
    }
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "{text}");
    for line in &lines {
        let time = line["time"].as_str().unwrap();
        let parsed = chrono::DateTime::parse_from_rfc3339(time).unwrap();
        assert_eq!(parsed.offset().local_minus_utc(), 0, "not UTC: {time}");
        assert!(line["remote"].as_str().unwrap().starts_with("127.0.0.1:"));
        assert!(line["duration_ms"].as_f64().unwrap() >= 0.0);
        assert!(line.get("fault").is_none());
    }
    let fields = |l: &serde_json::Value| {
        (
            l["client"].as_str().unwrap().to_string(),
            l["method"].as_str().unwrap().to_string(),
            l["path"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(
        fields(&lines[0]),
        ("-".into(), "POST".into(), "/oauth2/token".into())
    );
    assert_eq!(lines[0]["status"], 200);
    assert_eq!(
        fields(&lines[1]),
        (
            "hr-sync".into(),
            "GET".into(),
            "/api/users?login=jdoe&offset=50".into()
        )
    );
    assert_eq!(lines[1]["status"], by_token.status().as_u16());
    assert_eq!(fields(&lines[2]).0, "api-key");
    assert_eq!(
        fields(&lines[3]),
        (
            "-".into(),
            "GET".into(),
            "/api/users?access_token=[REDACTED]&client_secret=[REDACTED]".into()
        )
    );
    assert_eq!(lines[3]["status"], 401);
}

#[tokio::test]
async fn the_access_log_appends_to_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.jsonl");
    std::fs::write(&log, "{\"earlier\":true}\n").unwrap();
    let running = spawn(SandboxConfig {
        access_log: Some(log.clone()),
        ..config()
    })
    .await;
    reqwest::get(format!("{}/api/users", running.url()))
        .await
        .unwrap();
    running.stop().await.unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0], "{\"earlier\":true}");
    let line: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(line["status"], 401);
}

#[tokio::test]
async fn a_configuration_that_cannot_work_is_refused_with_a_clear_message() {
    let cases = [
        (
            SandboxConfig {
                rate_limit: Some(RateLimit {
                    per_second: 0,
                    burst: 20,
                }),
                ..config()
            },
            "at least 1",
        ),
        (
            faulty(FaultConfig {
                error_rate: 0.7,
                drop_rate: 0.7,
                ..FaultConfig::default()
            }),
            "add up to",
        ),
        (
            faulty(FaultConfig {
                slow_rate: -0.1,
                ..FaultConfig::default()
            }),
            "slow rate",
        ),
        (
            SandboxConfig {
                clients: vec![ClientCredentials {
                    id: "x".into(),
                    secret: SecretString::from("s"),
                    scopes: vec!["core.everything".into()],
                }],
                ..config()
            },
            "unknown scope core.everything",
        ),
    ];
    for (config, wanted) in cases {
        let error = Sandbox::new(config).await.unwrap_err().to_string();
        assert!(error.contains(wanted), "{error:?} lacks {wanted:?}");
    }
}
