//! `coupa-sync sandbox` as a person runs it: start it, read the URL and credentials it prints, get a
//! token over HTTP, stop it with SIGTERM; and the exit code 2 for flags that cannot work.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn coupa_sync() -> Command {
    Command::new(env!("CARGO_BIN_EXE_coupa-sync"))
}

/// A started sandbox and the lines it printed up to "Ctrl-C or SIGTERM stops it.".
struct Started {
    child: Child,
    banner: Vec<String>,
}

impl Started {
    fn new(mut command: Command) -> Started {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut banner = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let done = line.starts_with("Ctrl-C or SIGTERM stops it.");
            banner.push(line);
            if done {
                return Started { child, banner };
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the sandbox ended before it was ready: {banner:?}");
    }

    /// The value after `key` on the first banner line that has it.
    fn value(&self, key: &str) -> String {
        self.banner
            .iter()
            .find_map(|line| line.split_once(key).map(|(_, rest)| rest))
            .unwrap_or_else(|| panic!("no {key:?} in {:?}", self.banner))
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    }

    fn addr(&self) -> String {
        let url = self.value("listening on ");
        url.strip_prefix("http://").unwrap().to_string()
    }

    /// Sends SIGTERM and returns the exit code.
    fn terminate(mut self) -> i32 {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        // Not a timing check: a guard so a sandbox that ignores SIGTERM fails the test instead of
        // hanging it.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().expect("ended by a signal, not by itself");
            }
            if Instant::now() > deadline {
                self.child.kill().unwrap();
                panic!("the sandbox did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// One HTTP/1.1 exchange; returns the status code and the body.
fn http(addr: &str, request: &str) -> (u16, String) {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn token_request(addr: &str, id: &str, secret: &str) -> (u16, String) {
    let form = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
    http(
        addr,
        &format!(
            "POST /oauth2/token HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        ),
    )
}

fn api_get(addr: &str, auth_header: &str) -> u16 {
    http(
        addr,
        &format!(
            "GET /api/users?login=x HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
             {auth_header}\r\n\r\n"
        ),
    )
    .0
}

#[test]
fn the_sandbox_prints_a_demo_client_that_gets_a_token_and_stops_cleanly_on_sigterm() {
    let api_key = "cli-test-api-key-0123456789abcdef012345";
    let mut command = coupa_sync();
    command
        .args(["sandbox", "--listen", "127.0.0.1:0"])
        .env("COUPA_SANDBOX_API_KEY", api_key);
    let sandbox = Started::new(command);
    let addr = sandbox.addr();
    assert!(!addr.ends_with(":0"), "port 0 must be replaced: {addr}");
    let banner = sandbox.banner.join("\n");
    assert!(banner.contains("throwaway"), "{banner}");
    assert!(
        !banner.contains(api_key),
        "the API key was printed:\n{banner}"
    );
    let id = sandbox.value("client_id=");
    let secret = sandbox.value("client_secret=");
    assert!(secret.len() >= 32, "demo secret too short: {secret}");

    let (status, body) = token_request(&addr, &id, &secret);
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let token = answer["access_token"].as_str().unwrap();
    assert_ne!(
        api_get(&addr, &format!("Authorization: Bearer {token}")),
        401
    );
    assert_ne!(api_get(&addr, &format!("X-COUPA-API-KEY: {api_key}")), 401);
    assert_eq!(api_get(&addr, "X-COUPA-API-KEY: wrong"), 401);

    let (status, _) = token_request(&addr, &id, "wrong-secret");
    assert_eq!(status, 401);

    assert_eq!(sandbox.terminate(), 0);
}

#[test]
fn clients_given_on_the_command_line_are_used_and_their_secrets_not_printed() {
    let mut command = coupa_sync();
    command.args([
        "sandbox",
        "--listen",
        "127.0.0.1:0",
        "--client",
        "hr-sync:given-secret-1",
        "--client",
        "auditor:given-secret-2:core.user.read",
        "--no-rate-limit",
    ]);
    let sandbox = Started::new(command);
    let banner = sandbox.banner.join("\n");
    assert!(!banner.contains("given-secret"), "{banner}");
    assert!(banner.contains("client_id=hr-sync"), "{banner}");
    assert!(banner.contains("Rate limit: off"), "{banner}");
    let addr = sandbox.addr();
    assert_eq!(token_request(&addr, "hr-sync", "given-secret-1").0, 200);
    let (status, body) = token_request(&addr, "auditor", "given-secret-2");
    assert_eq!(status, 200);
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["scope"], "core.user.read");
    assert_eq!(sandbox.terminate(), 0);
}

/// Runs `coupa-sync sandbox ARGS` expecting it to refuse; returns stderr.
fn refused(args: &[&str]) -> String {
    let mut command = coupa_sync();
    command.arg("sandbox");
    if !args.contains(&"--listen") {
        command.args(["--listen", "127.0.0.1:0"]);
    }
    let out = command.args(args).stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{args:?}");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn flags_that_cannot_work_exit_2_with_a_message_that_names_the_problem() {
    assert!(refused(&["--fault-error-rate", "1.5"]).contains("error rate"));
    assert!(refused(&["--fault-drop-rate", "0.6", "--fault-slow-rate", "0.6"]).contains("add up"));
    assert!(refused(&["--burst", "0"]).contains("--burst"));
    assert!(refused(&["--no-rate-limit", "--rate-limit", "5"]).contains("--rate-limit"));
    assert!(refused(&["--listen", "not-an-address"]).contains("not-an-address"));
    assert!(refused(&["--loader-interval", "0"]).contains("--loader-interval"));
    assert!(refused(&["--admin-email", "nobody"]).contains("admin e-mail"));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    assert!(refused(&["--listen", &addr]).contains("cannot listen on"));

    // A bad --client names the problem but never echoes the secret.
    let message = refused(&["--client", "hr-sync:s3cr3t-value:core.bogus"]);
    assert!(message.contains("unknown scope core.bogus"), "{message}");
    assert!(!message.contains("s3cr3t-value"), "{message}");
    let message = refused(&["--client", "s3cr3t-only"]);
    assert!(message.contains("--client"), "{message}");
    assert!(!message.contains("s3cr3t-only"), "{message}");
}

/// With `--sftp` and `--smtp`, the banner says where the drop folder and the mailbox are, the host key
/// to pin, and the logins (given passwords are never printed); the SSH server greets and the mailbox
/// answers over HTTP. (Logging in with OpenSSH's sftp is covered in crates/coupa-sandbox/tests/sftp.rs.)
#[test]
fn sftp_and_mailbox_flags_start_both_and_print_where_they_are() {
    let mut command = coupa_sync();
    command.args([
        "sandbox",
        "--listen",
        "127.0.0.1:0",
        "--smtp",
        "127.0.0.1:0",
        "--sftp",
        "127.0.0.1:0",
        "--sftp-user",
        "loader:pw-not-printed-7781",
    ]);
    let started = Started::new(command);
    let text = started.banner.join("\n");
    assert!(!text.contains("pw-not-printed-7781"), "{text}");
    assert!(text.contains("  login: loader"), "{text}");
    assert!(started.value("host key ").starts_with("SHA256:"), "{text}");
    let sftp_addr = started.value("SFTP drop folder on ");
    let mut ssh = TcpStream::connect(&sftp_addr).unwrap();
    ssh.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut greeting = [0u8; 8];
    ssh.read_exact(&mut greeting).unwrap();
    assert_eq!(&greeting, b"SSH-2.0-");
    let (status, body) = http(
        &started.addr(),
        "GET /mailbox/messages HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(started.terminate(), 0);
}
