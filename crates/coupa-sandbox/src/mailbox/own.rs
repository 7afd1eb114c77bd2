//! The e-mails the sandbox sends as Coupa does (a failed load's notice to the admin, an
//! integration alert to its contacts, a new user's password invitation): composed here and put
//! straight into the sandbox's own mailbox, read at `/mailbox/messages` when the mailbox is on.

use super::Mailbox;
use std::fmt::Write as _;

/// The sender of the sandbox's own e-mails, as Coupa's do-not-reply address.
pub(crate) const FROM: &str = "do_not_reply@coupa-sandbox.invalid";

impl Mailbox {
    /// Puts an e-mail from the sandbox itself in the mailbox; returns its id.
    pub fn send_own(&self, to: &[String], subject: &str, body: &str) -> u64 {
        let to_header: Vec<String> = to.iter().map(|t| format!("<{t}>")).collect();
        let mut raw = String::new();
        let _ = write!(
            raw,
            "From: Coupa Sandbox <{FROM}>\r\nTo: {}\r\nSubject: {}\r\nDate: {}\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: 8bit\r\n\r\n",
            to_header.join(", "),
            header_text(subject),
            chrono::Utc::now().to_rfc2822()
        );
        raw.push_str(&body.replace('\n', "\r\n"));
        self.deliver(FROM.into(), to.to_vec(), raw.as_bytes())
    }
}

/// One plain address: a local part, `@`, a domain, nothing that could end or add a header.
pub(crate) fn check_address(address: &str) -> Result<(), String> {
    let Some((local, domain)) = address.split_once('@') else {
        return Err("an e-mail address needs an @".into());
    };
    if local.is_empty() || domain.is_empty() || domain.contains('@') {
        return Err("an e-mail address is local-part@domain".into());
    }
    if address
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c))
    {
        return Err("an e-mail address has no spaces, control characters or <>,;\"".into());
    }
    Ok(())
}

/// Header text as is when it is printable ASCII, else one RFC 2047 `Q` encoded word, so that a
/// file name with a line break or non-ASCII letters cannot break or forge a header.
pub(crate) fn header_text(text: &str) -> String {
    if text.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
        return text.to_string();
    }
    let mut out = String::from("=?UTF-8?Q?");
    for b in text.bytes() {
        match b {
            b' ' => out.push('_'),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b':' | b'/' => {
                out.push(char::from(b));
            }
            _ => {
                let _ = write!(out, "={b:02X}");
            }
        }
    }
    out.push_str("?=");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_text_cannot_break_a_header() {
        assert_eq!(header_text("load failed: a.csv"), "load failed: a.csv");
        let encoded = header_text("a\r\nBcc: x@y.z é.csv");
        assert!(!encoded.contains(['\r', '\n']), "{encoded}");
        assert_eq!(encoded, "=?UTF-8?Q?a=0D=0ABcc:_x=40y.z_=C3=A9.csv?=");
    }

    #[test]
    fn addresses() {
        assert!(check_address("admin@example.com").is_ok());
        for bad in [
            "admin",
            "@x",
            "a@",
            "a b@x",
            "a@x\r\nBcc: y@z",
            "<a@x>",
            "a@b@c",
        ] {
            assert!(check_address(bad).is_err(), "{bad}");
        }
    }
}
