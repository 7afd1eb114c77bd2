//! Just enough of RFC 5322/2045/2047 to show a received e-mail to a person: the headers, the subject
//! decoded, and the text of the message (the `text/plain` part of a multipart message), undoing
//! base64 and quoted-printable transfer encodings. Anything it cannot decode is shown as it came.

/// The parts of a message the mailbox shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parsed {
    pub subject: Option<String>,
    pub date: Option<String>,
    pub body: String,
}

pub(crate) fn parse(raw: &[u8]) -> Parsed {
    let (headers, body) = split_headers(raw);
    Parsed {
        subject: header(&headers, "subject").map(|s| decode_words(&s)),
        date: header(&headers, "date"),
        body: text_of(&headers, body),
    }
}

/// Unfolded `(name, value)` header pairs and the bytes after the blank line.
fn split_headers(raw: &[u8]) -> (Vec<(String, String)>, &[u8]) {
    let (head, body) = match find(raw, b"\r\n\r\n") {
        Some(at) => (&raw[..at], &raw[at + 4..]),
        None => match find(raw, b"\n\n") {
            Some(at) => (&raw[..at], &raw[at + 2..]),
            None => (raw, &raw[raw.len()..]),
        },
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in String::from_utf8_lossy(head).lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    (headers, body)
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

/// The readable text of a body: for multipart, the first `text/plain` part (else the first part).
fn text_of(headers: &[(String, String)], body: &[u8]) -> String {
    let content_type = header(headers, "content-type").unwrap_or_default();
    if content_type.to_ascii_lowercase().starts_with("multipart/")
        && let Some(boundary) = parameter(&content_type, "boundary")
    {
        let parts = multipart_parts(body, &boundary);
        let plain = parts.iter().find(|part| {
            let (h, _) = split_headers(part);
            header(&h, "content-type")
                .map(|t| t.to_ascii_lowercase().starts_with("text/plain"))
                .unwrap_or(true)
        });
        if let Some(part) = plain.or(parts.first()) {
            let (h, b) = split_headers(part);
            return text_of(&h, b);
        }
    }
    let encoding = header(headers, "content-transfer-encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let decoded = match encoding.as_str() {
        "base64" => base64(body),
        "quoted-printable" => Some(quoted_printable(body, false)),
        _ => None,
    };
    String::from_utf8_lossy(decoded.as_deref().unwrap_or(body)).into_owned()
}

/// The parts between `--boundary` lines, without the final `--boundary--` and what follows it.
fn multipart_parts<'a>(body: &'a [u8], boundary: &str) -> Vec<&'a [u8]> {
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut rest = body;
    let mut started = false;
    while let Some(at) = find(rest, delimiter.as_bytes()) {
        if started {
            // The CRLF before a delimiter belongs to the delimiter.
            let part = &rest[..at];
            let part = part.strip_suffix(b"\r\n").or(part.strip_suffix(b"\n"));
            parts.push(part.unwrap_or(&rest[..at]));
        }
        started = true;
        rest = &rest[at + delimiter.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let line_end = find(rest, b"\n").map_or(rest.len(), |n| n + 1);
        rest = &rest[line_end..];
    }
    parts
}

/// A `name=value` or `name="value"` parameter of a structured header such as `Content-Type`.
fn parameter(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|param| {
        let (key, val) = param.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| val.trim().trim_matches('"').to_string())
    })
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`); other text is kept.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, after) = rest.split_at(start);
        let Some((word, tail)) = encoded_word(&after[2..]) else {
            out.push_str(&rest[..start + 2]);
            rest = &rest[start + 2..];
            last_was_word = false;
            continue;
        };
        // Whitespace between two adjacent encoded words is not part of the text.
        if !(last_was_word && before.trim().is_empty()) {
            out.push_str(before);
        }
        out.push_str(&word);
        rest = tail;
        last_was_word = true;
    }
    out.push_str(rest);
    out
}

/// `charset?enc?text?=` followed by the rest; `None` when it is not a well-formed encoded word.
fn encoded_word(s: &str) -> Option<(String, &str)> {
    let (_charset, s) = s.split_once('?')?;
    let (encoding, s) = s.split_once('?')?;
    let end = s.find("?=")?;
    let text = &s[..end];
    let bytes = match encoding {
        "b" | "B" => base64(text.as_bytes())?,
        "q" | "Q" => quoted_printable(text.as_bytes(), true),
        _ => return None,
    };
    Some((String::from_utf8_lossy(&bytes).into_owned(), &s[end + 2..]))
}

/// Base64 with line breaks and padding allowed; `None` on any other character.
fn base64(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in input {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\r' | b'\n' | b' ' | b'\t' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Quoted-printable (`=XX`, soft line breaks `=\r\n`); in encoded words `_` stands for a space.
fn quoted_printable(input: &[u8], in_word: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'=' if input[i + 1..].starts_with(b"\r\n") => i += 3,
            b'=' if input[i + 1..].starts_with(b"\n") => i += 2,
            b'=' => match input
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                }
                None => {
                    out.push(b'=');
                    i += 1;
                }
            },
            b'_' if in_word => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_message() {
        let raw = b"From: a@x\r\nSubject: Hello\r\n there\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nLine 1\r\nLine 2\r\n";
        let p = parse(raw);
        assert_eq!(p.subject.as_deref(), Some("Hello there"));
        assert_eq!(p.date.as_deref(), Some("Mon, 1 Jan 2024 00:00:00 +0000"));
        assert_eq!(p.body, "Line 1\r\nLine 2\r\n");
    }

    #[test]
    fn encoded_subject_and_base64_body() {
        let raw = b"Subject: =?utf-8?b?Sm9zw6k=?= =?utf-8?q?M=C3=BCller_ok?= end\r\nContent-Transfer-Encoding: base64\r\n\r\nSm9zw6kgTcO8\r\nbGxlcg==\r\n";
        let p = parse(raw);
        assert_eq!(p.subject.as_deref(), Some("JoséMüller ok end"));
        assert_eq!(p.body, "José Müller");
    }

    #[test]
    fn multipart_takes_the_plain_part() {
        let raw = b"Content-Type: multipart/alternative; boundary=\"XX\"\r\n\r\npreamble\r\n--XX\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nJos=C3=A9 and a soft=\r\n break\r\n--XX--\r\nepilogue";
        assert_eq!(parse(raw).body, "José and a soft break");
    }

    #[test]
    fn undecodable_is_kept_as_sent() {
        let raw = b"Subject: =?x?z?abc?= and =?broken\r\nContent-Transfer-Encoding: base64\r\n\r\n***not base64***";
        let p = parse(raw);
        assert_eq!(p.subject.as_deref(), Some("=?x?z?abc?= and =?broken"));
        assert_eq!(p.body, "***not base64***");
    }
}
