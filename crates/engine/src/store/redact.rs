//! The last line of defence before a body reaches the call log: values of anything that looks like a
//! secret are replaced, in form bodies and query strings (`client_secret=…`), JSON (`"password":"…"`),
//! headers (`Authorization: …`) and XML (`<password>…</password>`). The client already redacts what
//! it knows; this catches what it does not.

use std::borrow::Cow;

/// What replaces a secret (the client uses the same word).
const REDACTED: &str = "[redacted]";

/// Names whose values are secrets, lower case; `-` and `_` spellings both appear in the wild.
const SECRET_NAMES: &[&str] = &[
    "client_secret",
    "client-secret",
    "access_token",
    "access-token",
    "refresh_token",
    "id_token",
    "token",
    "password",
    "api_key",
    "api-key",
    "x-coupa-api-key",
    "authorization",
];

/// `text` with every secret value replaced by `[redacted]`.
pub fn redact(text: &str) -> Cow<'_, str> {
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut changed = false;
    let mut i = 0;
    while i < bytes.len() {
        let found = SECRET_NAMES.iter().find_map(|name| {
            let starts_here = lower.as_bytes()[i..].starts_with(name.as_bytes());
            let at_boundary = i == 0 || !is_name_byte(bytes[i - 1]);
            let ends_here = bytes.get(i + name.len()).is_none_or(|b| !is_name_byte(*b));
            (starts_here && at_boundary && ends_here)
                .then(|| secret_value(bytes, i, i + name.len()))
                .flatten()
        });
        match found {
            Some((start, end)) => {
                out.push_str(&text[copied..start]);
                out.push_str(REDACTED);
                changed = true;
                copied = end;
                i = end;
            }
            None => i += 1,
        }
    }
    if !changed {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// The byte range of the value that follows a secret's name ending at `after`, if any.
fn secret_value(bytes: &[u8], name_start: usize, after: usize) -> Option<(usize, usize)> {
    let rest = &bytes[after..];
    let range = if name_start > 0 && bytes[name_start - 1] == b'<' {
        xml_text(bytes, after)?
    } else if rest.first() == Some(&b'=') {
        // Form body or query string.
        let start = after + 1;
        let len = bytes[start..]
            .iter()
            .position(|&b| matches!(b, b'&' | b'"' | b'<' | b'\'') || b.is_ascii_whitespace())
            .unwrap_or(bytes.len() - start);
        (start, start + len)
    } else if rest.first() == Some(&b'"') {
        json_string(bytes, after + 1)?
    } else if rest.first() == Some(&b':') {
        // A header line: everything to the end of the line.
        let start = after + 1 + count(&bytes[after + 1..], |b| b == b' ' || b == b'\t');
        let len = count(&bytes[start..], |b| b != b'\r' && b != b'\n');
        (start, start + len)
    } else {
        return None;
    };
    (range.1 > range.0).then_some(range)
}

/// After `"name`: `"` `:` `"value"` with optional spaces; the range of `value`.
fn json_string(bytes: &[u8], mut i: usize) -> Option<(usize, usize)> {
    if bytes.get(i) == Some(&b'"') {
        i += 1;
    }
    i += count(&bytes[i..], |b| b.is_ascii_whitespace());
    if bytes.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    i += count(&bytes[i..], |b| b.is_ascii_whitespace());
    if bytes.get(i) != Some(&b'"') {
        return None;
    }
    let start = i + 1;
    let mut j = start;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            b'"' => return Some((start, j)),
            _ => j += 1,
        }
    }
    // An unterminated string: redact to the end rather than leak it.
    Some((start, bytes.len()))
}

/// After `<name`: optional attributes, `>`, then the text up to the next `<`.
fn xml_text(bytes: &[u8], after: usize) -> Option<(usize, usize)> {
    let close = after + bytes[after..].iter().position(|&b| b == b'>')?;
    if bytes[close - 1] == b'/' {
        return None;
    }
    let start = close + 1;
    let len = count(&bytes[start..], |b| b != b'<');
    Some((start, start + len))
}

fn count(bytes: &[u8], pred: impl Fn(u8) -> bool) -> usize {
    bytes.iter().take_while(|&&b| pred(b)).count()
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn every_documented_shape_is_redacted() {
        let cases = [
            (
                "grant_type=client_credentials&client_secret=s3cr3t&scope=x",
                "grant_type=client_credentials&client_secret=[redacted]&scope=x",
            ),
            (
                r#"{"access_token" : "eyJhbGci", "expires_in":86399}"#,
                r#"{"access_token" : "[redacted]", "expires_in":86399}"#,
            ),
            (
                "Authorization: Bearer eyJ.abc\r\nAccept: */*",
                "Authorization: [redacted]\r\nAccept: */*",
            ),
            (
                "<user><login>jdoe</login><password type=\"string\">hunter2</password></user>",
                "<user><login>jdoe</login><password type=\"string\">[redacted]</password></user>",
            ),
            (
                r#"{"user":{"password":"a\"quoted\"pw","login":"x"}}"#,
                r#"{"user":{"password":"[redacted]","login":"x"}}"#,
            ),
            ("X-COUPA-API-KEY: 0123abcd", "X-COUPA-API-KEY: [redacted]"),
            (
                "/oauth?access_token=abc&x=1",
                "/oauth?access_token=[redacted]&x=1",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(redact(input), expected, "{input}");
        }
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        for text in [
            "Password can't be blank",
            "<password nil=\"true\"/>",
            r#"{"password_hint":"blue","login":"tokenizer"}"#,
            r#"{"password":null}"#,
            "<user><login>jdoe</login></user>",
        ] {
            assert_eq!(redact(text), text);
        }
    }

    #[test]
    fn redacting_twice_changes_nothing_more() {
        let once = redact("client_secret=abc&password=def").into_owned();
        assert_eq!(once, "client_secret=[redacted]&password=[redacted]");
        assert_eq!(redact(&once), once);
    }
}
