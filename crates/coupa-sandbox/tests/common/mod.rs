//! A sandbox driven with raw HTTP requests, as a client would: a bearer token from `/oauth2/token`,
//! then `Accept` / `Content-Type` and a body per call.
#![allow(dead_code)]

pub mod openssh;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use coupa_sandbox::{ClientCredentials, Running, Sandbox, SandboxConfig, app};
use serde_json::Value;
use std::path::Path;
use tower::ServiceExt;

pub const CLIENT: &str = "sync";
pub const SECRET: &str = "s3cret";

pub const ACCEPT_JSON: [(&str, &str); 1] = [("accept", "application/json")];
pub const ACCEPT_XML: [(&str, &str); 1] = [("accept", "application/xml")];
pub const JSON_IN: [(&str, &str); 2] = [
    ("accept", "application/json"),
    ("content-type", "application/json"),
];
pub const XML_IN: [(&str, &str); 2] = [
    ("accept", "application/xml"),
    ("content-type", "application/xml"),
];

pub fn config() -> SandboxConfig {
    SandboxConfig {
        clients: vec![ClientCredentials {
            id: CLIENT.into(),
            secret: SECRET.to_string().into(),
            scopes: Vec::new(),
        }],
        rate_limit: None,
        ..SandboxConfig::default()
    }
}

/// The sandbox serving on an ephemeral port (HTTP, and SMTP / SFTP where `config` asks for them).
pub async fn spawn(config: SandboxConfig) -> Running {
    Sandbox::new(config)
        .await
        .unwrap()
        .spawn("127.0.0.1:0")
        .await
        .unwrap()
}

pub fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// An answer: status, content type and body text.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The messages of a Coupa error body, in either format.
    pub fn errors(&self) -> Vec<String> {
        let format = if self.content_type.contains("json") {
            coupa_wire::Format::Json
        } else {
            coupa_wire::Format::Xml
        };
        coupa_wire::ErrorsBody::decode(format, self.body.as_bytes())
            .unwrap_or_else(|e| panic!("{e}: {}", self.body))
            .messages
    }

    /// The logins of a JSON list of users.
    pub fn logins(&self) -> Vec<String> {
        match self.json() {
            Value::Array(items) => items
                .iter()
                .map(|u| u["login"].as_str().unwrap_or_default().to_string())
                .collect(),
            other => panic!("not a list: {other}"),
        }
    }
}

pub struct Api {
    pub sandbox: Sandbox,
    app: Router,
    token: String,
}

impl Api {
    pub async fn new() -> Api {
        Api::with(config()).await
    }

    pub async fn with(config: SandboxConfig) -> Api {
        let sandbox = Sandbox::new(config).await.unwrap();
        let app = app(&sandbox);
        let token = token(&app, "").await;
        Api {
            sandbox,
            app,
            token,
        }
    }

    /// A token limited to `scope`.
    pub async fn token_for(&self, scope: &str) -> String {
        token(&self.app, scope).await
    }

    pub async fn send(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Answer {
        self.send_as(&self.token, method, uri, headers, body).await
    }

    pub async fn send_as(
        &self,
        token: &str,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Answer {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {token}"));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = self
            .app
            .clone()
            .oneshot(req.body(body.into()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let content_type = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        Answer {
            status,
            content_type,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    pub async fn get_json(&self, uri: &str) -> Answer {
        self.send(Method::GET, uri, &ACCEPT_JSON, Body::empty())
            .await
    }

    /// `GET uri` in JSON with `token` (empty for none) instead of the full-scope one.
    pub async fn get_json_as(&self, token: &str, uri: &str) -> Answer {
        self.send_as(token, Method::GET, uri, &ACCEPT_JSON, Body::empty())
            .await
    }

    pub async fn get_xml(&self, uri: &str) -> Answer {
        self.send(Method::GET, uri, &ACCEPT_XML, Body::empty())
            .await
    }

    /// A page as a browser asks for it: no token, no `Accept`.
    pub async fn page(&self, uri: &str) -> Answer {
        self.send_as("", Method::GET, uri, &[], Body::empty()).await
    }

    pub async fn post_json(&self, uri: &str, body: &Value) -> Answer {
        self.send(Method::POST, uri, &JSON_IN, body.to_string())
            .await
    }

    pub async fn put_json(&self, uri: &str, body: &Value) -> Answer {
        self.send(Method::PUT, uri, &JSON_IN, body.to_string())
            .await
    }

    pub async fn post_xml(&self, uri: &str, body: &str) -> Answer {
        self.send(Method::POST, uri, &XML_IN, body.to_string())
            .await
    }

    pub async fn put_xml(&self, uri: &str, body: &str) -> Answer {
        self.send(Method::PUT, uri, &XML_IN, body.to_string()).await
    }

    /// The messages in the mailbox, all of them or those to `to`.
    pub async fn mail(&self, to: Option<&str>) -> Vec<Value> {
        let uri = match to {
            Some(to) => format!("/mailbox/messages?to={to}"),
            None => "/mailbox/messages".to_string(),
        };
        let a = self.send(Method::GET, &uri, &[], Body::empty()).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        match a.json() {
            Value::Array(messages) => messages,
            other => panic!("not a list: {other}"),
        }
    }

    /// Creates a user from JSON and returns it as Coupa answered.
    pub async fn create(&self, user: &Value) -> Value {
        let a = self.post_json("/api/users", user).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        a.json()
    }

    /// User `id` as JSON.
    pub async fn user(&self, id: i64) -> Value {
        let a = self.get_json(&format!("/api/users/{id}")).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        a.json()
    }
}

/// A minimal valid user.
pub fn person(login: &str, first: &str, last: &str) -> Value {
    serde_json::json!({
        "login": login,
        "email": format!("{login}@example.com"),
        "firstname": first,
        "lastname": last,
    })
}

/// A bearer token asked for over real HTTP from the sandbox served at `base` (`scope` empty: all the
/// client's scopes).
pub async fn http_token(
    http: &reqwest::Client,
    base: &str,
    client: &str,
    secret: &str,
    scope: &str,
) -> String {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", client),
        ("client_secret", secret),
    ];
    if !scope.is_empty() {
        form.push(("scope", scope));
    }
    let answer = http
        .post(format!("{base}/oauth2/token"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let answer: Value = serde_json::from_str(&answer).unwrap();
    answer["access_token"].as_str().unwrap().to_string()
}

async fn token(app: &Router, scope: &str) -> String {
    let mut form =
        format!("grant_type=client_credentials&client_id={CLIENT}&client_secret={SECRET}");
    if !scope.is_empty() {
        form.push_str(&format!("&scope={}", scope.replace(' ', "+")));
    }
    let req = Request::builder()
        .method(Method::POST)
        .uri("/oauth2/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    v["access_token"].as_str().unwrap().to_string()
}
