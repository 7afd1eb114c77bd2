//! The mailbox's SMTP server: a small RFC 5321 state machine (HELO/EHLO, MAIL, RCPT, DATA, RSET,
//! NOOP, QUIT) and the tokio loop that feeds it lines. Plain SMTP only, no STARTTLS and no AUTH: it
//! is meant for loopback addresses.

use crate::server::AppState;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Largest message accepted; a bigger one is read to its end, then refused with 552.
const MAX_MESSAGE_BYTES: usize = 2 * 1024 * 1024;
/// Longest line accepted (RFC 5321 asks for 1,000 bytes at least; we are lenient).
const MAX_LINE_BYTES: usize = 64 * 1024;
/// Recipients per message (RFC 5321's minimum a server must accept).
const MAX_RECIPIENTS: usize = 100;
/// A client silent for this long is disconnected.
const IDLE: Duration = Duration::from_secs(120);

/// Accepts SMTP connections until `shutdown` is cancelled.
pub(crate) async fn serve(listener: TcpListener, state: AppState, shutdown: CancellationToken) {
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "mailbox: accepting an SMTP connection failed");
                    continue;
                }
            },
        };
        let state = state.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(stream, state, shutdown).await {
                tracing::debug!(%peer, error = %e, "mailbox: SMTP connection ended");
            }
        });
    }
}

async fn connection(
    stream: TcpStream,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut session = Session::default();
    write.write_all(GREETING.as_bytes()).await?;
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = tokio::select! {
            () = shutdown.cancelled() => {
                write.write_all(b"421 Service closing transmission channel\r\n").await?;
                return Ok(());
            }
            read = tokio::time::timeout(IDLE, read_line(&mut reader, &mut line)) => read,
        };
        let outcome = match read {
            Err(_elapsed) => {
                write
                    .write_all(b"421 Idle too long, closing connection\r\n")
                    .await?;
                return Ok(());
            }
            Ok(outcome) => outcome?,
        };
        match outcome {
            Line::Eof => return Ok(()),
            Line::TooLong => {
                write.write_all(b"500 Line too long\r\n").await?;
                return Ok(());
            }
            Line::Complete => {}
        }
        match session.line(&line) {
            Step::Wait => {}
            Step::Reply(reply) => write.write_all(reply.as_bytes()).await?,
            Step::Close(reply) => {
                write.write_all(reply.as_bytes()).await?;
                return Ok(());
            }
            Step::Deliver(mail) => {
                let id = state.mailbox.deliver(mail.from, mail.to, &mail.data);
                write
                    .write_all(format!("250 OK: queued as {id}\r\n").as_bytes())
                    .await?;
            }
        }
    }
}

enum Line {
    Complete,
    TooLong,
    Eof,
}

/// Reads one line with its ending into `line`, giving up past `MAX_LINE_BYTES`.
async fn read_line(
    reader: &mut BufReader<OwnedReadHalf>,
    line: &mut Vec<u8>,
) -> std::io::Result<Line> {
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(Line::Eof);
        }
        let (taken, done) = match available.iter().position(|&b| b == b'\n') {
            Some(at) => (at + 1, true),
            None => (available.len(), false),
        };
        line.extend_from_slice(&available[..taken]);
        reader.consume(taken);
        if line.len() > MAX_LINE_BYTES {
            return Ok(Line::TooLong);
        }
        if done {
            return Ok(Line::Complete);
        }
    }
}

const GREETING: &str = "220 coupa-sandbox ESMTP mailbox\r\n";

/// A complete message to hand to the mailbox.
#[derive(Debug, PartialEq)]
struct Mail {
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

/// What the connection does after a line.
#[derive(Debug, PartialEq)]
enum Step {
    /// A data line: no reply until the end of the data.
    Wait,
    Reply(String),
    Close(String),
    /// The data ended and fits: deliver it, then reply 250.
    Deliver(Mail),
}

/// Where one SMTP connection is in its dialogue.
#[derive(Debug, Default)]
enum Stage {
    #[default]
    Greeted,
    Ready,
    Mail {
        from: String,
    },
    Rcpt {
        from: String,
        to: Vec<String>,
    },
    Data {
        mail: Mail,
        too_big: bool,
    },
}

#[derive(Debug, Default)]
struct Session {
    stage: Stage,
}

fn reply(text: &str) -> Step {
    Step::Reply(format!("{text}\r\n"))
}

impl Session {
    fn line(&mut self, line: &[u8]) -> Step {
        if let Stage::Data { mail, too_big } = &mut self.stage {
            return match line {
                b".\r\n" | b".\n" => self.end_of_data(),
                _ => {
                    // A leading dot was doubled by the client so that a lone "." can end the data.
                    let line = line.strip_prefix(b".").unwrap_or(line);
                    if mail.data.len() + line.len() > MAX_MESSAGE_BYTES {
                        *too_big = true;
                    } else if !*too_big {
                        mail.data.extend_from_slice(line);
                    }
                    Step::Wait
                }
            };
        }
        let Ok(line) = std::str::from_utf8(line) else {
            return reply("500 Syntax error: command is not text");
        };
        let line = line.trim_end_matches(['\r', '\n']);
        let (verb, args) = line.split_once(' ').unwrap_or((line, ""));
        let args = args.trim();
        match verb.to_ascii_uppercase().as_str() {
            "HELO" | "EHLO" if args.is_empty() => reply("501 Syntax: HELO/EHLO domain"),
            "HELO" => {
                self.stage = Stage::Ready;
                reply("250 coupa-sandbox")
            }
            "EHLO" => {
                self.stage = Stage::Ready;
                Step::Reply(format!(
                    "250-coupa-sandbox\r\n250-8BITMIME\r\n250 SIZE {MAX_MESSAGE_BYTES}\r\n"
                ))
            }
            "MAIL" => self.mail(args),
            "RCPT" => self.rcpt(args),
            "DATA" => self.data(),
            "RSET" => {
                if !matches!(self.stage, Stage::Greeted) {
                    self.stage = Stage::Ready;
                }
                reply("250 OK")
            }
            "NOOP" => reply("250 OK"),
            "QUIT" => Step::Close("221 Bye\r\n".into()),
            "VRFY" | "EXPN" | "HELP" | "STARTTLS" | "AUTH" | "TURN" => {
                reply("502 Command not implemented")
            }
            _ => reply("500 Syntax error: command unrecognised"),
        }
    }

    fn mail(&mut self, args: &str) -> Step {
        match self.stage {
            Stage::Greeted => return reply("503 Send HELO/EHLO first"),
            Stage::Ready => {}
            _ => return reply("503 Nested MAIL command"),
        }
        let Some((from, params)) = path_argument(args, "FROM:") else {
            return reply("501 Syntax: MAIL FROM:<address>");
        };
        let declared_size = params.split_whitespace().find_map(|p| {
            let (key, value) = p.split_once('=')?;
            key.eq_ignore_ascii_case("SIZE")
                .then(|| value.parse::<usize>().ok())?
        });
        if declared_size.is_some_and(|size| size > MAX_MESSAGE_BYTES) {
            return reply("552 Message size exceeds fixed maximum message size");
        }
        self.stage = Stage::Mail { from };
        reply("250 OK")
    }

    fn rcpt(&mut self, args: &str) -> Step {
        if !matches!(self.stage, Stage::Mail { .. } | Stage::Rcpt { .. }) {
            return reply("503 Need MAIL before RCPT");
        }
        let recipient = match path_argument(args, "TO:") {
            Some((recipient, _)) if !recipient.is_empty() => recipient,
            _ => return reply("501 Syntax: RCPT TO:<address>"),
        };
        let (step, stage) = match std::mem::take(&mut self.stage) {
            Stage::Mail { from } => (
                reply("250 OK"),
                Stage::Rcpt {
                    from,
                    to: vec![recipient],
                },
            ),
            Stage::Rcpt { from, to } if to.len() >= MAX_RECIPIENTS => {
                (reply("452 Too many recipients"), Stage::Rcpt { from, to })
            }
            Stage::Rcpt { from, mut to } => {
                to.push(recipient);
                (reply("250 OK"), Stage::Rcpt { from, to })
            }
            other => (reply("503 Need MAIL before RCPT"), other),
        };
        self.stage = stage;
        step
    }

    fn data(&mut self) -> Step {
        match std::mem::take(&mut self.stage) {
            Stage::Rcpt { from, to } => {
                self.stage = Stage::Data {
                    mail: Mail {
                        from,
                        to,
                        data: Vec::new(),
                    },
                    too_big: false,
                };
                reply("354 End data with <CR><LF>.<CR><LF>")
            }
            other => {
                self.stage = other;
                reply("503 Need RCPT before DATA")
            }
        }
    }

    /// The transaction ends here whatever the outcome; the client may start another.
    fn end_of_data(&mut self) -> Step {
        match std::mem::replace(&mut self.stage, Stage::Ready) {
            Stage::Data { too_big: true, .. } => {
                reply("552 Message exceeds fixed maximum message size")
            }
            Stage::Data { mail, .. } => Step::Deliver(mail),
            other => {
                self.stage = other;
                reply("503 Bad sequence of commands")
            }
        }
    }
}

/// `FROM:<a@b> PARAMS` → (`a@b`, `PARAMS`); the keyword is case-insensitive and `<>` is the null path.
fn path_argument<'a>(args: &'a str, keyword: &str) -> Option<(String, &'a str)> {
    let head = args.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = args[keyword.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let (path, params) = rest.split_once('>')?;
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    Some((path.to_string(), params.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(step: Step) -> String {
        match step {
            Step::Reply(r) | Step::Close(r) => r[..3].to_string(),
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    #[test]
    fn a_whole_transaction_delivers_the_unstuffed_data() {
        let mut s = Session::default();
        assert_eq!(code(s.line(b"EHLO client\r\n")), "250");
        assert_eq!(code(s.line(b"mail from:<a@x.test> SIZE=10\r\n")), "250");
        assert_eq!(code(s.line(b"RCPT TO:<b@x.test>\r\n")), "250");
        assert_eq!(code(s.line(b"RCPT TO: <c@x.test>\r\n")), "250");
        assert_eq!(code(s.line(b"DATA\r\n")), "354");
        assert_eq!(s.line(b"Subject: hi\r\n"), Step::Wait);
        assert_eq!(s.line(b"\r\n"), Step::Wait);
        assert_eq!(s.line(b"..dot\r\n"), Step::Wait);
        assert_eq!(
            s.line(b".\r\n"),
            Step::Deliver(Mail {
                from: "a@x.test".into(),
                to: vec!["b@x.test".into(), "c@x.test".into()],
                data: b"Subject: hi\r\n\r\n.dot\r\n".to_vec(),
            })
        );
        // Ready for the next transaction.
        assert_eq!(code(s.line(b"MAIL FROM:<>\r\n")), "250");
    }

    #[test]
    fn commands_out_of_order_or_malformed_are_refused() {
        let mut s = Session::default();
        assert_eq!(code(s.line(b"MAIL FROM:<a@x.test>\r\n")), "503");
        assert_eq!(code(s.line(b"HELO\r\n")), "501");
        assert_eq!(code(s.line(b"HELO client\r\n")), "250");
        assert_eq!(code(s.line(b"RCPT TO:<b@x.test>\r\n")), "503");
        assert_eq!(code(s.line(b"DATA\r\n")), "503");
        assert_eq!(code(s.line(b"MAIL FROM:a@x.test\r\n")), "501");
        assert_eq!(
            code(s.line(b"MAIL FROM:<a@x.test> SIZE=99999999\r\n")),
            "552"
        );
        assert_eq!(code(s.line(b"MAIL FROM:<a@x.test>\r\n")), "250");
        assert_eq!(code(s.line(b"MAIL FROM:<a@x.test>\r\n")), "503");
        assert_eq!(code(s.line(b"RCPT TO:<>\r\n")), "501");
        assert_eq!(code(s.line(b"RCPT TO:<with space@x>\r\n")), "501");
        assert_eq!(code(s.line(b"STARTTLS\r\n")), "502");
        assert_eq!(code(s.line(b"\xff\r\n")), "500");
        assert_eq!(code(s.line(b"RSET\r\n")), "250");
        assert_eq!(code(s.line(b"RCPT TO:<b@x.test>\r\n")), "503");
        assert_eq!(code(s.line(b"QUIT\r\n")), "221");
    }

    #[test]
    fn too_many_recipients_are_refused_one_by_one() {
        let mut s = Session::default();
        s.line(b"HELO c\r\n");
        s.line(b"MAIL FROM:<a@x.test>\r\n");
        for i in 0..MAX_RECIPIENTS {
            assert_eq!(
                code(s.line(format!("RCPT TO:<r{i}@x>\r\n").as_bytes())),
                "250"
            );
        }
        assert_eq!(code(s.line(b"RCPT TO:<more@x>\r\n")), "452");
        assert_eq!(code(s.line(b"DATA\r\n")), "354");
    }
}
