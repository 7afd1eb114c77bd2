//! The sandbox under load: requests per second for `GET /api/users?login=X` and `PUT /api/users/{id}`,
//! and the memory of a sandbox holding 100,000 users. Prints its figures; asserts nothing.
//!
//! Run: `cargo bench -p coupa-sandbox --bench sandbox` (about a minute; `BENCH_SECS=N` sets the
//! length of each timed phase, default 5).
//!
//! The sandbox runs in a child process (this program started again in server mode, serving
//! `Sandbox::spawn` on a multi-threaded tokio runtime, as `coupa-sync sandbox` does), so its memory
//! is read alone from `/proc/PID/status` and the load generator does not share its threads. The load
//! generator is a hand-rolled HTTP/1.1 keep-alive client on one thread, cheaper than a full client,
//! so the figures are the server's rather than the client's. Both share the machine's cores.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use coupa_sandbox::{ClientCredentials, RateLimit, Sandbox, SandboxConfig};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use secrecy::SecretString;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CLIENT: &str = "bench";
const SECRET: &str = "bench-secret";
const ROLE: &str = "SANDBOX_BENCH_SERVE";

fn main() {
    match std::env::var(ROLE) {
        Ok(mode) => serve(&mode),
        Err(_) => drive(),
    }
}

// ---- the sandbox process --------------------------------------------------------------------------

/// Serves a sandbox until stdin closes. `mode`: `plain` (no rate limit, no access log), `limited`
/// (a rate limit too high to refuse anything, so its cost shows), or `logged:PATH` (access log).
fn serve(mode: &str) {
    let mut config = SandboxConfig {
        clients: vec![ClientCredentials {
            id: CLIENT.into(),
            secret: SecretString::from(SECRET),
            scopes: Vec::new(),
        }],
        rate_limit: None,
        ..SandboxConfig::default()
    };
    if mode == "limited" {
        config.rate_limit = Some(RateLimit {
            per_second: 1_000_000,
            burst: 1_000_000,
        });
    } else if let Some(path) = mode.strip_prefix("logged:") {
        config.access_log = Some(path.into());
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let running = Sandbox::new(config)
            .await
            .unwrap()
            .spawn("127.0.0.1:0")
            .await
            .unwrap();
        println!("{}", running.addr);
        // The parent closes our stdin to stop us.
        let _ = tokio::task::spawn_blocking(|| {
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new())
        })
        .await;
        running.stop().await.unwrap();
    });
}

// ---- the load generator ---------------------------------------------------------------------------

struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(mode: &str) -> Server {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(ROLE, mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Server {
            child,
            addr: line.trim().to_string(),
        }
    }

    /// (VmHWM, VmRSS) in MB.
    fn memory(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kb| kb.parse::<f64>().ok())
                .unwrap_or(f64::NAN)
                / 1024.0
        };
        (field("VmHWM:"), field("VmRSS:"))
    }

    fn stop(mut self) {
        drop(self.child.stdin.take());
        self.child.wait().unwrap();
    }
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    tcp: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(addr: &str) -> Conn {
        let tcp = TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        Conn {
            tcp,
            buf: Vec::with_capacity(16 * 1024),
        }
    }

    /// Sends one request and reads its answer: (status, body).
    async fn exchange(&mut self, request: &[u8]) -> (u16, Vec<u8>) {
        self.tcp.write_all(request).await.unwrap();
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.buf[..end]).unwrap();
                let status: u16 = head[9..12].parse().unwrap();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().unwrap())
                    })
                    .expect("the sandbox answers with Content-Length");
                let total = end + 4 + length;
                while self.buf.len() < total {
                    self.fill().await;
                }
                let body = self.buf[end + 4..total].to_vec();
                self.buf.drain(..total);
                return (status, body);
            }
            self.fill().await;
        }
    }

    async fn fill(&mut self) {
        let n = self.tcp.read_buf(&mut self.buf).await.unwrap();
        assert!(n > 0, "the sandbox closed the connection");
    }
}

fn request(method: &str, path: &str, token: &str, body: Option<&str>) -> Vec<u8> {
    let mut out = format!(
        "{method} {path} HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Bearer {token}\r\n\
         Accept: application/json\r\n"
    );
    if let Some(body) = body {
        out.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    } else {
        out.push_str("\r\n");
    }
    out.into_bytes()
}

async fn fetch_token(addr: &str) -> String {
    let form = format!("grant_type=client_credentials&client_id={CLIENT}&client_secret={SECRET}");
    let req = format!(
        "POST /oauth2/token HTTP/1.1\r\nHost: sandbox\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    let (status, body) = Conn::open(addr).await.exchange(req.as_bytes()).await;
    assert_eq!(status, 200, "token: {}", String::from_utf8_lossy(&body));
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    answer["access_token"].as_str().unwrap().to_string()
}

fn user_json(i: usize) -> String {
    format!(
        r#"{{"login":"user{i}","email":"user{i}@example.com","firstname":"First{i}","lastname":"Last{i}","employee-number":"E{i:07}","active":true}}"#
    )
}

/// Creates users `from..to` over `connections` connections; returns their ids and the rate.
async fn create_users(
    addr: &str,
    token: &str,
    from: usize,
    to: usize,
    connections: usize,
) -> (Vec<i64>, f64) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (addr, token) = (addr.to_string(), token.to_string());
        tasks.push(tokio::task::spawn_local(async move {
            let mut conn = Conn::open(&addr).await;
            let mut ids = Vec::new();
            for i in (from + c..to).step_by(connections) {
                let req = request("POST", "/api/users", &token, Some(&user_json(i)));
                let (status, body) = conn.exchange(&req).await;
                assert_eq!(
                    status,
                    201,
                    "POST /api/users: {}",
                    String::from_utf8_lossy(&body)
                );
                let user: serde_json::Value = serde_json::from_slice(&body).unwrap();
                ids.push(user["id"].as_i64().expect("the created user has an id"));
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.extend(task.await.unwrap());
    }
    let rate = (to - from) as f64 / started.elapsed().as_secs_f64();
    (ids, rate)
}

struct Figures {
    per_second: f64,
    p50_us: u32,
    p99_us: u32,
    failures: usize,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>8.0} req/s   p50 {:>5} µs   p99 {:>6} µs   unexpected answers {}",
            self.per_second, self.p50_us, self.p99_us, self.failures
        )
    }
}

/// Runs `make(rng)` requests on `connections` connections for `secs`; `ok` is the expected status.
async fn hammer(
    addr: &str,
    connections: usize,
    secs: Duration,
    ok: u16,
    make: impl Fn(&mut SmallRng) -> Vec<u8> + Clone + 'static,
) -> Figures {
    let deadline = Instant::now() + secs;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let addr = addr.to_string();
        let make = make.clone();
        tasks.push(tokio::task::spawn_local(async move {
            let mut rng = SmallRng::seed_from_u64(c as u64);
            let mut conn = Conn::open(&addr).await;
            let (mut latencies, mut failures) = (Vec::new(), 0);
            while Instant::now() < deadline {
                let req = make(&mut rng);
                let sent = Instant::now();
                let (status, _) = conn.exchange(&req).await;
                latencies.push(sent.elapsed().as_micros() as u32);
                failures += usize::from(status != ok);
            }
            (latencies, failures)
        }));
    }
    let (mut latencies, mut failures) = (Vec::new(), 0);
    for task in tasks {
        let (l, f) = task.await.unwrap();
        latencies.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    Figures {
        per_second: latencies.len() as f64 / elapsed,
        p50_us: at(0.5),
        p99_us: at(0.99),
        failures,
    }
}

fn get_by_login(token: String, users: usize) -> impl Fn(&mut SmallRng) -> Vec<u8> + Clone {
    move |rng| {
        let path = format!("/api/users?login=user{}", rng.random_range(0..users));
        request("GET", &path, &token, None)
    }
}

/// Starts a sandbox in `mode`, creates 10,000 users, and measures GET by login.
async fn get_on_fresh_sandbox(mode: &str, secs: Duration) -> Figures {
    let server = Server::start(mode);
    let token = fetch_token(&server.addr).await;
    create_users(&server.addr, &token, 0, 10_000, 8).await;
    let figures = hammer(&server.addr, 16, secs, 200, get_by_login(token, 10_000)).await;
    server.stop();
    figures
}

fn drive() {
    let secs = Duration::from_secs(
        std::env::var("BENCH_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(5),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async {
        println!(
            "sandbox benchmark: sandbox in a child process, {} s per timed phase, {} cores",
            secs.as_secs(),
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );

        let server = Server::start("plain");
        let token = fetch_token(&server.addr).await;
        let (ids, rate) = create_users(&server.addr, &token, 0, 10_000, 8).await;
        println!("POST /api/users, 10,000 users, 8 connections:       {rate:>8.0} req/s");
        let figures = hammer(
            &server.addr,
            16,
            secs,
            200,
            get_by_login(token.clone(), 10_000),
        )
        .await;
        println!("GET /api/users?login=X, 10,000 users, 16 conns:     {figures}");
        let put_token = token.clone();
        let figures = hammer(&server.addr, 16, secs, 200, move |rng| {
            let id = ids[rng.random_range(0..ids.len())];
            let body = format!(r#"{{"lastname":"Renamed{}"}}"#, rng.random_range(0..1000));
            request("PUT", &format!("/api/users/{id}"), &put_token, Some(&body))
        })
        .await;
        println!("PUT /api/users/{{id}}, 10,000 users, 16 conns:        {figures}");
        let (_, rate) = create_users(&server.addr, &token, 10_000, 100_000, 8).await;
        println!("POST /api/users, up to 100,000 users:               {rate:>8.0} req/s");
        let (hwm, rss) = server.memory();
        println!("memory holding 100,000 users: peak (VmHWM) {hwm:.0} MB, now (VmRSS) {rss:.0} MB");
        let figures = hammer(&server.addr, 16, secs, 200, get_by_login(token, 100_000)).await;
        println!("GET /api/users?login=X, 100,000 users, 16 conns:    {figures}");
        server.stop();

        // The costs of the limiter and the access log, each against a fresh plain sandbox run just
        // before it, so a machine that got busier in between shows as a changed baseline.
        let log = std::env::temp_dir().join(format!("sandbox-bench-{}.jsonl", std::process::id()));
        for (mode, label) in [
            ("plain", "GET, 10,000 users, fresh sandbox, no limiter/log:"),
            (
                "limited",
                "GET, 10,000 users, rate limiter on (never full): ",
            ),
            ("plain", "GET, 10,000 users, fresh sandbox, no limiter/log:"),
            (
                &format!("logged:{}", log.display()),
                "GET, 10,000 users, access log on:                 ",
            ),
        ] {
            println!("{label}   {}", get_on_fresh_sandbox(mode, secs).await);
        }
        let lines = std::fs::read_to_string(&log).map_or(0, |t| t.lines().count());
        println!("access log lines written: {lines}");
        let _ = std::fs::remove_file(&log);
    });
}
