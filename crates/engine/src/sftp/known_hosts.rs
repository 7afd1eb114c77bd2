//! The parts of OpenSSH's known_hosts format that russh's reader leaves out: host patterns with
//! wildcards (`*.coupahost.com`, `sftp?.example.com`) and negations (`!old.coupahost.com`), and
//! `@revoked` keys, which must be refused even when another line trusts them. russh still reads
//! the plain and hashed names; `@cert-authority` lines are not used (coupa-sync asks for plain host
//! keys, never certificates).

use russh::keys::{PublicKey, parse_public_key_base64};

/// What the pattern and marker lines of a known_hosts file say about one host.
#[derive(Debug, Default)]
pub(super) struct Extra {
    /// Keys trusted through a wildcard line that matches the host.
    pub trusted: Vec<PublicKey>,
    /// Keys marked `@revoked`, for any host.
    pub revoked: Vec<PublicKey>,
}

/// Reads the lines russh skips. `name` is the host as known_hosts names it (`host`, or
/// `[host]:port` off port 22). A line whose key cannot be read is an error naming its number.
pub(super) fn read(text: &str, name: &str) -> Result<Extra, String> {
    let name = name.to_ascii_lowercase();
    let mut extra = Extra::default();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (marker, hosts) = match fields.next() {
            Some(marker) if marker.starts_with('@') => (Some(marker), fields.next()),
            first => (None, first),
        };
        let (Some(hosts), Some(_key_type), Some(base64)) = (hosts, fields.next(), fields.next())
        else {
            continue;
        };
        let wanted = match marker {
            Some("@revoked") => true,
            Some(_) => false,
            None => has_pattern(hosts) && matches(hosts, &name),
        };
        if !wanted {
            continue;
        }
        let key = parse_public_key_base64(base64)
            .map_err(|e| format!("line {}: the key cannot be read: {e}", number + 1))?;
        match marker {
            Some(_) => extra.revoked.push(key),
            None => extra.trusted.push(key),
        }
    }
    Ok(extra)
}

/// Whether a host field holds a wildcard or a negation (russh matches the rest itself).
fn has_pattern(hosts: &str) -> bool {
    !hosts.starts_with('|') && hosts.contains(['*', '?', '!'])
}

/// OpenSSH's rule: some pattern matches the name and no negated pattern does.
fn matches(hosts: &str, name: &str) -> bool {
    let mut any = false;
    for pattern in hosts.split(',') {
        let pattern = pattern.to_ascii_lowercase();
        match pattern.strip_prefix('!') {
            Some(negated) if glob(negated.as_bytes(), name.as_bytes()) => return false,
            Some(_) => {}
            None => any |= glob(pattern.as_bytes(), name.as_bytes()),
        }
    }
    any
}

/// `*` matches any run of characters, `?` any one.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.split_first(), text.split_first()) {
        (None, None) => true,
        (Some((b'*', rest)), _) => {
            glob(rest, text) || text.split_first().is_some_and(|(_, t)| glob(pattern, t))
        }
        (Some((b'?', rest)), Some((_, t))) => glob(rest, t),
        (Some((p, rest)), Some((c, t))) if p == c => glob(rest, t),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIH+qUKxbKQGoSyQvt6URmVaUOqO4u4smMhITAuLrWAbT";
    const KEY_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIPPAeTe5dmIQoqoxD8gCGMRjUZqQYAiaDuGaOqW2tj7r";

    #[test]
    fn wildcards_match_as_openssh_does_and_negations_win() {
        assert!(matches("*.coupahost.com", "acme.coupahost.com"));
        assert!(matches("SFTP?.Example.com", "sftp1.example.com"));
        assert!(!matches("sftp?.example.com", "sftp12.example.com"));
        assert!(!matches("*.coupahost.com", "coupahost.com"));
        assert!(!matches(
            "*.coupahost.com,!old.coupahost.com",
            "old.coupahost.com"
        ));
        assert!(matches(
            "*.coupahost.com,!old.coupahost.com",
            "new.coupahost.com"
        ));
        assert!(matches("[*.example.com]:2222", "[sftp.example.com]:2222"));
        assert!(!matches("[*.example.com]:2222", "sftp.example.com"));
    }

    #[test]
    fn only_pattern_and_revoked_lines_are_read_here() {
        let text = format!(
            "# comment\n\
             sftp.example.com ssh-ed25519 {KEY_A}\n\
             *.example.com\tssh-ed25519 {KEY_A} wildcard\n\
             *.other.com ssh-ed25519 {KEY_B}\n\
             @revoked * ssh-ed25519 {KEY_B}\n\
             @cert-authority *.example.com ssh-ed25519 {KEY_B}\n"
        );
        let extra = read(&text, "SFTP.example.com").unwrap();
        assert_eq!(extra.trusted.len(), 1, "the plain line is russh's");
        assert_eq!(extra.trusted[0], parse_public_key_base64(KEY_A).unwrap());
        assert_eq!(extra.revoked, [parse_public_key_base64(KEY_B).unwrap()]);
    }

    #[test]
    fn an_unreadable_key_on_a_line_that_matters_names_the_line() {
        let text = "other.com ssh-ed25519 not-base64\n*.example.com ssh-ed25519 AAAA\n";
        let e = read(text, "sftp.example.com").unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
    }
}
