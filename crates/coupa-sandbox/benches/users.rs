//! Sandbox figures: `GET /api/users?login=X` throughput over 10,000 users on a real listener, and the
//! memory that 100,000 users take. Prints them; asserts nothing (machines are noisy).
//!
//! `cargo bench -p coupa-sandbox --bench users` (add `-- --requests N --connections C` to change the load).

use coupa_sandbox::{ClientCredentials, Sandbox, SandboxConfig};
use coupa_wire::User;
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

fn user(i: usize) -> User {
    User {
        login: Some(format!("user{i:06}")),
        email: Some(format!("user{i:06}@example.com")),
        firstname: Some(format!("First{i}")),
        lastname: Some(format!("Last{i}")),
        employee_number: Some(format!("E{i:06}")),
        ..User::default()
    }
}

fn config() -> SandboxConfig {
    SandboxConfig {
        clients: vec![ClientCredentials {
            id: "bench".into(),
            secret: "bench-secret".to_string().into(),
            scopes: Vec::new(),
        }],
        rate_limit: None,
        ..SandboxConfig::default()
    }
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

async fn seeded(n: usize) -> Sandbox {
    let sandbox = Sandbox::new(config()).await.expect("sandbox starts");
    sandbox
        .seed_users((1..=n).map(user))
        .await
        .expect("seed users are valid");
    sandbox
}

/// One keep-alive HTTP/1.1 exchange; returns the status code and the body length.
async fn exchange(conn: &mut BufReader<TcpStream>, request: &[u8]) -> (u16, usize) {
    conn.get_mut().write_all(request).await.expect("write");
    let mut line = String::new();
    conn.read_line(&mut line).await.expect("status line");
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut length = 0;
    loop {
        line.clear();
        conn.read_line(&mut line).await.expect("header");
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    conn.read_exact(&mut body).await.expect("body");
    (status, length)
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The same lookups through `app()` without TCP or HTTP parsing, one at a time: the cost of the
/// sandbox's own work per request.
async fn in_process(sandbox: &Sandbox, requests: usize) {
    use axum::body::Body;
    use tower::ServiceExt;
    let app = coupa_sandbox::app(sandbox);
    let token_request = axum::http::Request::post("/oauth2/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(
            "grant_type=client_credentials&client_id=bench&client_secret=bench-secret",
        ))
        .expect("request");
    let res = app.clone().oneshot(token_request).await.expect("token");
    let body = axum::body::to_bytes(res.into_body(), 1 << 16)
        .await
        .expect("token body");
    let token: serde_json::Value = serde_json::from_slice(&body).expect("token JSON");
    let bearer = format!(
        "Bearer {}",
        token["access_token"].as_str().expect("a token")
    );
    for (format, accept) in [("XML", "application/xml"), ("JSON", "application/json")] {
        let started = Instant::now();
        for i in 0..requests {
            let login = (i * 104_729) % 10_000 + 1;
            let req = axum::http::Request::get(format!("/api/users?login=user{login:06}"))
                .header("authorization", &bearer)
                .header("accept", accept)
                .body(Body::empty())
                .expect("request");
            let res = app.clone().oneshot(req).await.expect("answer");
            assert_eq!(res.status(), 200, "GET by login answers 200");
            axum::body::to_bytes(res.into_body(), 1 << 20)
                .await
                .expect("body");
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "in-process GET /api/users?login=X ({format}), one at a time: {requests} in {secs:.2} s = {:.0} requests/s ({:.1} µs each)",
            requests as f64 / secs,
            secs * 1e6 / requests as f64
        );
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let requests = arg("--requests", 60_000);
    let connections = arg("--connections", 8);

    let before = rss_mb();
    let started = Instant::now();
    let big = seeded(100_000).await;
    println!(
        "memory: 100,000 users seeded in {:.1} s; resident set {:.0} MB -> {:.0} MB ({:.0} MB for the users)",
        started.elapsed().as_secs_f64(),
        before,
        rss_mb(),
        rss_mb() - before
    );
    drop(big);

    let sandbox = seeded(10_000).await;
    in_process(&sandbox, requests / 4).await;
    let running = sandbox.spawn("127.0.0.1:0").await.expect("listens");
    let mut conn = BufReader::new(TcpStream::connect(running.addr).await.expect("connects"));
    let form = "grant_type=client_credentials&client_id=bench&client_secret=bench-secret";
    let token_request = format!(
        "POST /oauth2/token HTTP/1.1\r\nHost: b\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    conn.get_mut()
        .write_all(token_request.as_bytes())
        .await
        .expect("write");
    let mut head = String::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        conn.read_line(&mut line).await.expect("header");
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let mut body = vec![0; length];
    conn.read_exact(&mut body).await.expect("token body");
    let token: serde_json::Value = serde_json::from_slice(&body).expect("token JSON");
    let token = token["access_token"].as_str().expect("a token").to_string();

    for (format, accept) in [("XML", "application/xml"), ("JSON", "application/json")] {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..connections {
            let token = token.clone();
            let addr = running.addr;
            let per_connection = requests / connections;
            tasks.push(tokio::spawn(async move {
                let mut conn = BufReader::new(TcpStream::connect(addr).await.expect("connects"));
                let mut bytes = 0;
                for i in 0..per_connection {
                    let login = (c * 7919 + i * 104_729) % 10_000 + 1;
                    let request = format!(
                        "GET /api/users?login=user{login:06} HTTP/1.1\r\nHost: b\r\nAuthorization: Bearer {token}\r\nAccept: {accept}\r\n\r\n"
                    );
                    let (status, length) = exchange(&mut conn, request.as_bytes()).await;
                    assert_eq!(status, 200, "GET by login answers 200");
                    bytes += length;
                }
                (per_connection, bytes)
            }));
        }
        let mut done = 0;
        let mut bytes = 0;
        for t in tasks {
            let (n, b) = t.await.expect("client task");
            done += n;
            bytes += b;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "GET /api/users?login=X ({format}) over 10,000 users: {done} requests on {connections} connections in {secs:.2} s = {:.0} requests/s ({} bytes per answer)",
            done as f64 / secs,
            bytes / done.max(1)
        );
    }
    running.stop().await.expect("stops");
}
