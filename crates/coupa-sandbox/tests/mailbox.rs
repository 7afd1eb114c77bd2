//! The mailbox: what an SMTP client sends is listed over HTTP; a broken SMTP dialogue gets SMTP's
//! error replies and leaves the server serving.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

mod common;

use coupa_sandbox::{Running, SandboxConfig};
use lettre::message::{Mailbox as Address, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

async fn sandbox_with_mailbox() -> Running {
    common::spawn(SandboxConfig {
        smtp: Some("127.0.0.1:0".into()),
        ..SandboxConfig::default()
    })
    .await
}

fn transport(sandbox: &Running) -> AsyncSmtpTransport<Tokio1Executor> {
    let smtp = sandbox.smtp_addr.unwrap();
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.ip().to_string())
        .port(smtp.port())
        .build()
}

fn address(s: &str) -> Address {
    s.parse().unwrap()
}

/// A plain HTTP/1.1 request on a fresh connection: (status, body).
async fn http_text(sandbox: &Running, method: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(sandbox.addr).await.unwrap();
    let request = format!("{method} {path} HTTP/1.1\r\nHost: sandbox\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8(answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

/// `http_text` with the body read as JSON (`Null` when empty).
async fn http(sandbox: &Running, method: &str, path: &str) -> (u16, Value) {
    let (status, body) = http_text(sandbox, method, path).await;
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).unwrap()
    };
    (status, body)
}

#[tokio::test]
async fn a_message_sent_with_lettre_is_listed_and_shown() {
    let sandbox = sandbox_with_mailbox().await;
    let message = Message::builder()
        .from(address("coupa-sync <coupa-sync@example.test>"))
        .to(address("hr-data@example.test"))
        .cc(address("it-ops@example.test"))
        .subject("coupa-sync run 42: 3 people failed")
        .body("José Müller: email rejected\n.a line starting with a dot\n".to_string())
        .unwrap();
    transport(&sandbox).send(message).await.unwrap();

    let (status, list) = http(&sandbox, "GET", "/mailbox/messages").await;
    assert_eq!(status, 200);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    let m = &list[0];
    assert_eq!(m["from"], "coupa-sync@example.test");
    assert_eq!(
        m["to"],
        serde_json::json!(["hr-data@example.test", "it-ops@example.test"])
    );
    assert_eq!(m["subject"], "coupa-sync run 42: 3 people failed");
    assert!(m["date"].as_str().is_some_and(|d| !d.is_empty()));
    let body = m["body"].as_str().unwrap();
    assert!(body.contains("José Müller: email rejected"), "{body}");
    assert!(body.contains("\n.a line starting with a dot"), "{body}");
    assert!(
        m["raw"]
            .as_str()
            .unwrap()
            .contains("Subject: coupa-sync run 42")
    );

    let id = m["id"].as_u64().unwrap();
    let (status, shown) = http(&sandbox, "GET", &format!("/mailbox/messages/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(&shown, m);

    let (_, to_ops) = http(&sandbox, "GET", "/mailbox/messages?to=IT-OPS@example.test").await;
    assert_eq!(to_ops.as_array().unwrap().len(), 1);
    let (_, to_nobody) = http(&sandbox, "GET", "/mailbox/messages?to=nobody@example.test").await;
    assert_eq!(to_nobody, serde_json::json!([]));

    let (status, missing) = http(&sandbox, "GET", "/mailbox/messages/999").await;
    assert_eq!(status, 404);
    assert_eq!(missing["error"], "no message 999 in the mailbox");
    let (status, bad) = http(&sandbox, "GET", "/mailbox/messages/abc").await;
    assert_eq!(status, 400);
    assert!(bad["error"].as_str().unwrap().contains("\"abc\""));

    let (status, _) = http(&sandbox, "DELETE", "/mailbox/messages").await;
    assert_eq!(status, 204);
    let (_, list) = http(&sandbox, "GET", "/mailbox/messages").await;
    assert_eq!(list, serde_json::json!([]));
    sandbox.stop().await.unwrap();
}

/// One SMTP conversation line by line: send a command, read the whole (possibly multi-line) reply.
struct Dialogue {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Dialogue {
    async fn open(sandbox: &Running) -> (Dialogue, String) {
        let stream = TcpStream::connect(sandbox.smtp_addr.unwrap())
            .await
            .unwrap();
        let (read, writer) = stream.into_split();
        let mut dialogue = Dialogue {
            reader: BufReader::new(read),
            writer,
        };
        let greeting = dialogue.reply().await;
        (dialogue, greeting)
    }

    /// The reply's last line, or "" when the server closed the connection.
    async fn reply(&mut self) -> String {
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).await.unwrap() == 0 {
                return line;
            }
            // "250-..." continues a multi-line reply; "250 ..." ends it.
            if line.as_bytes().get(3) != Some(&b'-') {
                return line;
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> String {
        self.writer.write_all(bytes).await.unwrap();
        self.reply().await
    }
}

fn code(reply: &str) -> &str {
    reply.get(..3).unwrap_or(reply)
}

#[tokio::test]
async fn a_malformed_dialogue_gets_error_replies_and_the_server_keeps_serving() {
    let sandbox = sandbox_with_mailbox().await;
    let (mut smtp, greeting) = Dialogue::open(&sandbox).await;
    assert_eq!(code(&greeting), "220");

    assert_eq!(code(&smtp.send(b"GARBAGE\r\n").await), "500");
    assert_eq!(
        code(&smtp.send(b"MAIL FROM:<a@example.test>\r\n").await),
        "503"
    );
    assert_eq!(code(&smtp.send(b"\xff\xfe\x00\r\n").await), "500");
    assert_eq!(code(&smtp.send(b"EHLO client.test\r\n").await), "250");
    assert_eq!(
        code(&smtp.send(b"RCPT TO:<b@example.test>\r\n").await),
        "503"
    );
    assert_eq!(code(&smtp.send(b"DATA\r\n").await), "503");
    assert_eq!(
        code(&smtp.send(b"MAIL FROM:<a@example.test>\r\n").await),
        "250"
    );
    assert_eq!(code(&smtp.send(b"DATA\r\n").await), "503");
    assert_eq!(code(&smtp.send(b"RSET\r\n").await), "250");
    assert_eq!(code(&smtp.send(b"NOOP\r\n").await), "250");
    assert_eq!(code(&smtp.send(b"QUIT\r\n").await), "221");
    assert_eq!(smtp.reply().await, "", "the server closes after QUIT");

    // A line with no end in sight is refused and the connection closed.
    let (mut smtp, _) = Dialogue::open(&sandbox).await;
    let endless = vec![b'x'; 100 * 1024];
    assert_eq!(code(&smtp.send(&endless).await), "500");
    assert_eq!(smtp.reply().await, "");

    // Nothing was delivered, and the server still takes mail.
    let (_, list) = http(&sandbox, "GET", "/mailbox/messages").await;
    assert_eq!(list, serde_json::json!([]));
    let message = Message::builder()
        .from(address("a@example.test"))
        .to(address("b@example.test"))
        .subject("still here")
        .body("ok".to_string())
        .unwrap();
    transport(&sandbox).send(message).await.unwrap();
    let (_, list) = http(&sandbox, "GET", "/mailbox/messages").await;
    assert_eq!(list[0]["subject"], "still here");
    sandbox.stop().await.unwrap();
}

#[tokio::test]
async fn a_message_over_the_size_cap_is_refused_and_the_session_goes_on() {
    let sandbox = sandbox_with_mailbox().await;
    let (mut smtp, _) = Dialogue::open(&sandbox).await;
    smtp.send(b"HELO client.test\r\n").await;
    smtp.send(b"MAIL FROM:<a@example.test>\r\n").await;
    smtp.send(b"RCPT TO:<b@example.test>\r\n").await;
    assert_eq!(code(&smtp.send(b"DATA\r\n").await), "354");
    let line = format!("{}\r\n", "y".repeat(998));
    let mut data = "Subject: big\r\n\r\n".to_string();
    while data.len() < 3 * 1024 * 1024 {
        data.push_str(&line);
    }
    smtp.writer.write_all(data.as_bytes()).await.unwrap();
    assert_eq!(code(&smtp.send(b".\r\n").await), "552");

    // The same connection can still send a message that fits.
    smtp.send(b"MAIL FROM:<a@example.test>\r\n").await;
    smtp.send(b"RCPT TO:<b@example.test>\r\n").await;
    smtp.send(b"DATA\r\n").await;
    let reply = smtp.send(b"Subject: small\r\n\r\nfits\r\n.\r\n").await;
    assert_eq!(code(&reply), "250", "{reply}");
    let (_, list) = http(&sandbox, "GET", "/mailbox/messages").await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["subject"], "small");
    assert_eq!(list[0]["body"], "fits\r\n");
    sandbox.stop().await.unwrap();
}

#[tokio::test]
async fn without_smtp_there_is_no_mailbox() {
    let sandbox = common::spawn(SandboxConfig::default()).await;
    assert!(sandbox.smtp_addr.is_none());
    let (status, _) = http_text(&sandbox, "GET", "/mailbox/messages").await;
    assert_eq!(status, 404);
    sandbox.stop().await.unwrap();
}
