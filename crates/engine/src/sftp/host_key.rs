//! Recognising Coupa's SFTP server by its host key (known_hosts or a pinned fingerprint), and
//! telling the operator exactly how to trust a key we refused.

use std::borrow::Cow;
use std::path::PathBuf;

use russh::client;
use russh::keys::known_hosts::known_host_keys_path;
use russh::keys::{Algorithm, HashAlg, PublicKey, PublicKeyOrCertificate};

use super::error::ErrorKind;
use super::known_hosts;
use super::target::{HostKeyCheck, HostKeyFingerprint, SftpTarget};

/// Why a host key was refused; becomes an [`super::SftpError`] at the host key step.
#[derive(Debug)]
pub(super) struct Refusal {
    pub kind: ErrorKind,
    pub message: String,
}

/// What we trust for one server, read before connecting.
#[derive(Debug)]
pub(super) struct HostKeyPolicy {
    host: String,
    port: u16,
    /// The host as known_hosts names it: `host`, or `[host]:port` off port 22.
    name: String,
    trust: Trust,
}

#[derive(Debug)]
enum Trust {
    /// Keys recorded for this host in a known_hosts file (possibly none yet).
    KnownHosts {
        path: PathBuf,
        recorded: Vec<PublicKey>,
        /// Keys the file marks `@revoked`: refused even if recorded.
        revoked: Vec<PublicKey>,
        file_exists: bool,
    },
    Pinned(HostKeyFingerprint),
}

impl HostKeyPolicy {
    /// Reads the keys known for the target; an unreadable known_hosts file is an error, a missing
    /// one is not (the refusal message then says how to create it).
    pub fn load(target: &SftpTarget) -> Result<Self, Refusal> {
        let trust = match &target.host_key {
            HostKeyCheck::Fingerprint(pinned) => Trust::Pinned(pinned.clone()),
            HostKeyCheck::KnownHosts(path) => {
                let unreadable = |e: String| Refusal {
                    kind: ErrorKind::Invalid,
                    message: format!(
                        "known_hosts file {} has an unreadable entry for {}: {e}",
                        path.display(),
                        target.known_hosts_name()
                    ),
                };
                let text = match std::fs::read_to_string(path) {
                    Ok(text) => Some(text),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => {
                        return Err(Refusal {
                            kind: ErrorKind::Invalid,
                            message: format!(
                                "known_hosts file {} cannot be read: {e}",
                                path.display()
                            ),
                        });
                    }
                };
                // OpenSSH compares host names in lower case (and hashes them so).
                let host = target.host.to_ascii_lowercase();
                let mut recorded: Vec<PublicKey> = known_host_keys_path(&host, target.port, path)
                    .map_err(|e| unreadable(e.to_string()))?
                    .into_iter()
                    .map(|(_line, key)| key)
                    .collect();
                let extra = known_hosts::read(
                    text.as_deref().unwrap_or_default(),
                    &target.known_hosts_name(),
                )
                .map_err(unreadable)?;
                recorded.extend(extra.trusted);
                Trust::KnownHosts {
                    path: path.clone(),
                    recorded,
                    revoked: extra.revoked,
                    file_exists: text.is_some(),
                }
            }
        };
        Ok(Self {
            host: target.host.clone(),
            port: target.port,
            name: target.known_hosts_name(),
            trust,
        })
    }

    /// Host key algorithms to offer, most preferred first.
    ///
    /// Like OpenSSH, we ask for the algorithms of the keys already recorded for this host: a
    /// server with both an Ed25519 and an RSA key, recorded only by its RSA key, must show that
    /// one rather than a key we would have to refuse as unknown.
    pub fn preferred_algorithms(&self) -> Cow<'static, [Algorithm]> {
        let default = russh::Preferred::DEFAULT.key;
        let Trust::KnownHosts { recorded, .. } = &self.trust else {
            return default;
        };
        let wanted: Vec<Algorithm> = default
            .iter()
            .filter(|offered| {
                recorded.iter().any(|key| {
                    let known = key.algorithm();
                    &known == *offered || (is_rsa(&known) && is_rsa(offered))
                })
            })
            .cloned()
            .collect();
        if wanted.is_empty() {
            default
        } else {
            Cow::Owned(wanted)
        }
    }

    /// Accepts the offered key only if it is the recorded or pinned one.
    pub fn check(&self, offered: &PublicKey) -> Result<(), Refusal> {
        let fingerprint = offered.fingerprint(HashAlg::Sha256);
        let algorithm = offered.algorithm();
        let name = &self.name;
        let keyscan = format!("ssh-keyscan -p {} {}", self.port, self.host);
        match &self.trust {
            Trust::Pinned(pinned) if pinned.matches(&fingerprint) => Ok(()),
            Trust::Pinned(pinned) => Err(Refusal {
                kind: ErrorKind::HostKeyChanged,
                message: format!(
                    "{name} offered {algorithm} host key {fingerprint}, but host_key_fingerprint is \
                     {pinned}. The server's key changed, or this is not the server you meant (a \
                     man-in-the-middle). Confirm the new fingerprint with Coupa; if it is theirs, set \
                     host_key_fingerprint = \"{fingerprint}\""
                ),
            }),
            Trust::KnownHosts { path, revoked, .. }
                if revoked.iter().any(|k| k.key_data() == offered.key_data()) =>
            {
                Err(Refusal {
                    kind: ErrorKind::HostKeyChanged,
                    message: format!(
                        "REVOKED HOST KEY: {name} offered {algorithm} host key {fingerprint}, which \
                         {} marks @revoked; coupa-sync never trusts a revoked key. Ask Coupa for \
                         the server's current key and record it",
                        path.display()
                    ),
                })
            }
            Trust::KnownHosts { recorded, .. }
                if recorded.iter().any(|k| k.key_data() == offered.key_data()) =>
            {
                Ok(())
            }
            Trust::KnownHosts {
                path,
                recorded,
                file_exists,
                ..
            } => {
                let file = path.display();
                let trust_it = format!(
                    "Confirm the fingerprint with Coupa, then trust it with `{keyscan} >> {file}` or \
                     the config line host_key_fingerprint = \"{fingerprint}\""
                );
                Err(if recorded.is_empty() {
                    let why = if *file_exists {
                        format!("{name} is not in known_hosts file {file}")
                    } else {
                        format!("known_hosts file {file} does not exist")
                    };
                    Refusal {
                        kind: ErrorKind::HostKeyUnknown,
                        message: format!(
                            "unknown host key: {why}. The server offered {algorithm} host key \
                             {fingerprint}. {trust_it}"
                        ),
                    }
                } else {
                    Refusal {
                        kind: ErrorKind::HostKeyChanged,
                        message: format!(
                            "HOST KEY CHANGED: {name} offered {algorithm} host key {fingerprint}, \
                             which differs from the key recorded in {file}. The server's key \
                             changed, or this is not the server you meant (a man-in-the-middle). \
                             If Coupa confirms the change, remove the old entry with \
                             `ssh-keygen -R '{name}' -f {file}`. {trust_it}"
                        ),
                    }
                })
            }
        }
    }
}

fn is_rsa(algorithm: &Algorithm) -> bool {
    matches!(algorithm, Algorithm::Rsa { .. })
}

/// The russh client side: checks the host key and nothing else.
#[derive(Debug)]
pub(super) struct ClientHandler {
    pub policy: HostKeyPolicy,
}

/// Errors of the SSH session: russh's own, or our host key refusal.
#[derive(Debug)]
pub(super) enum SessionError {
    Ssh(russh::Error),
    HostKey(Refusal),
}

impl From<russh::Error> for SessionError {
    fn from(e: russh::Error) -> Self {
        SessionError::Ssh(e)
    }
}

impl client::Handler for ClientHandler {
    type Error = SessionError;

    async fn check_server_key(
        &mut self,
        offered: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        match offered {
            PublicKeyOrCertificate::PublicKey { key, .. } => self
                .policy
                .check(key)
                .map(|()| true)
                .map_err(SessionError::HostKey),
            // We never advertise certificate algorithms, so a certificate here is a protocol oddity.
            PublicKeyOrCertificate::Certificate(_) => Err(SessionError::HostKey(Refusal {
                kind: ErrorKind::HostKeyUnknown,
                message:
                    "the server presented a host certificate, which coupa-sync does not accept"
                        .to_owned(),
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sftp::target::SftpAuth;
    use russh::keys::parse_public_key_base64;
    use secrecy::SecretString;

    // Keys and the hashed line were made by ssh-keygen (`ssh-keygen -H` for the hashed host name).
    const ED25519_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIH+qUKxbKQGoSyQvt6URmVaUOqO4u4smMhITAuLrWAbT";
    const ED25519_A_FINGERPRINT: &str = "SHA256:Imo91Ldg/8iyVLPZHeLGdOjKgqdvLS0/PkyUsKtCPrk";
    const ED25519_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIPPAeTe5dmIQoqoxD8gCGMRjUZqQYAiaDuGaOqW2tj7r";
    const ED25519_B_FINGERPRINT: &str = "SHA256:jQRebDflYgFFpRI44RAcva/3CnBtMROgH8Fkg/ejdMI";
    const HASHED_SFTP_EXAMPLE_COM: &str =
        "|1|Jw4PZ0TWM/dJzGRuqCC4iJ6R5t4=|ptLypLkGCs798uizfwlOqAPpOtk=";
    const RSA: &str = "AAAAB3NzaC1yc2EAAAADAQABAAABAQCaRFbfJfwAtzCYPiCxHEJ/XU6D+alIw6k0uVDX4zFqeEF6IObq9yxRoNVM4M5jUGAczT/6ON4CvwXof//Tud9rtVWOdK1uyx8TCGomP54XadMUrT4vR/XOTEv1QcpMO4D2eaU85fQJo4Ks4IiiMvnZ27jeXy1hukd2iricfIMLvmLTGzRdXbczftYBoSZo6ug9xdB7TZOXgH0qBQ/E3RjKGztADpjS3xSqbNODqydDE9Y9HMbeNWDHA3Ec71f85aFgMXne9iONE1v74T64rp1cLQ9muwVMfW91+VuQ2pQyeQRjr0CS2utfnt67UOCpTUlhMkPV0NE72ZqO1KK5mTRh";

    fn key(base64: &str) -> PublicKey {
        parse_public_key_base64(base64).unwrap()
    }

    fn target(port: u16, host_key: HostKeyCheck) -> SftpTarget {
        let mut t = SftpTarget::new(
            "sftp.example.com",
            "acme",
            SftpAuth::Password(SecretString::from("pw")),
            host_key,
        );
        t.port = port;
        t
    }

    fn policy_with(port: u16, known_hosts: &str) -> (tempfile::TempDir, HostKeyPolicy) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        std::fs::write(&path, known_hosts).unwrap();
        let policy = HostKeyPolicy::load(&target(port, HostKeyCheck::KnownHosts(path))).unwrap();
        (dir, policy)
    }

    #[test]
    fn bracketed_port_entry_is_trusted_only_for_that_port() {
        let line = format!("# comment\n[sftp.example.com]:2222 ssh-ed25519 {ED25519_A}\n");
        let (_dir, on_2222) = policy_with(2222, &line);
        assert!(on_2222.check(&key(ED25519_A)).is_ok());
        let (_dir, on_22) = policy_with(22, &line);
        let refusal = on_22.check(&key(ED25519_A)).unwrap_err();
        assert_eq!(refusal.kind, ErrorKind::HostKeyUnknown);
        for expected in [
            "ssh-keyscan -p 22 sftp.example.com >> ",
            &format!("host_key_fingerprint = \"{ED25519_A_FINGERPRINT}\""),
            "sftp.example.com is not in known_hosts file",
        ] {
            assert!(refusal.message.contains(expected), "{}", refusal.message);
        }
    }

    #[test]
    fn hashed_host_name_written_by_ssh_keygen_is_understood() {
        let (_dir, policy) = policy_with(
            22,
            &format!("{HASHED_SFTP_EXAMPLE_COM} ssh-ed25519 {ED25519_A}\n"),
        );
        assert!(policy.check(&key(ED25519_A)).is_ok());
        let refusal = policy.check(&key(ED25519_B)).unwrap_err();
        assert_eq!(refusal.kind, ErrorKind::HostKeyChanged);
        assert!(
            refusal.message.contains(ED25519_B_FINGERPRINT),
            "{}",
            refusal.message
        );
        assert!(
            refusal.message.contains("ssh-keygen -R 'sftp.example.com'"),
            "{}",
            refusal.message
        );
    }

    #[test]
    fn wildcard_lines_trust_the_host_and_a_revoked_key_is_refused_even_if_recorded() {
        let (_dir, policy) = policy_with(
            22,
            &format!("*.example.com,!old.example.com ssh-ed25519 {ED25519_A}\n"),
        );
        assert!(policy.check(&key(ED25519_A)).is_ok());
        assert_eq!(
            policy.check(&key(ED25519_B)).unwrap_err().kind,
            ErrorKind::HostKeyChanged
        );

        let (_dir, policy) = policy_with(
            22,
            &format!(
                "sftp.example.com ssh-ed25519 {ED25519_A}\n@revoked * ssh-ed25519 {ED25519_A}\n"
            ),
        );
        let refusal = policy.check(&key(ED25519_A)).unwrap_err();
        assert_eq!(refusal.kind, ErrorKind::HostKeyChanged);
        assert!(
            refusal.message.contains("REVOKED") && refusal.message.contains(ED25519_A_FINGERPRINT),
            "{}",
            refusal.message
        );
    }

    #[test]
    fn host_names_compare_without_case_as_in_openssh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        std::fs::write(&path, format!("sftp.example.com ssh-ed25519 {ED25519_A}\n")).unwrap();
        let mut upper = target(22, HostKeyCheck::KnownHosts(path));
        upper.host = "SFTP.Example.COM".into();
        let policy = HostKeyPolicy::load(&upper).unwrap();
        assert!(policy.check(&key(ED25519_A)).is_ok());
    }

    #[test]
    fn only_recorded_algorithms_are_asked_for() {
        let (_dir, rsa_only) = policy_with(22, &format!("sftp.example.com ssh-rsa {RSA}\n"));
        let asked = rsa_only.preferred_algorithms();
        assert!(!asked.is_empty() && asked.iter().all(is_rsa), "{asked:?}");
        let (_dir, nothing_known) = policy_with(22, &format!("other.example.com ssh-rsa {RSA}\n"));
        assert_eq!(
            nothing_known.preferred_algorithms(),
            russh::Preferred::DEFAULT.key
        );
    }

    #[test]
    fn pinned_fingerprint_accepts_its_key_and_refuses_another_with_the_config_line() {
        let pinned: HostKeyFingerprint = ED25519_A_FINGERPRINT.parse().unwrap();
        let policy = HostKeyPolicy::load(&target(22, HostKeyCheck::Fingerprint(pinned))).unwrap();
        assert!(policy.check(&key(ED25519_A)).is_ok());
        let refusal = policy.check(&key(ED25519_B)).unwrap_err();
        assert_eq!(refusal.kind, ErrorKind::HostKeyChanged);
        assert!(refusal.message.contains(&format!(
            "host_key_fingerprint = \"{ED25519_B_FINGERPRINT}\""
        )));
        assert!(refusal.message.contains(ED25519_A_FINGERPRINT));
    }

    #[test]
    fn unreadable_known_hosts_is_an_error_and_a_missing_one_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let refusal = HostKeyPolicy::load(&target(22, HostKeyCheck::KnownHosts(dir.path().into())))
            .unwrap_err();
        assert_eq!(refusal.kind, ErrorKind::Invalid);
        let missing = dir.path().join("absent");
        let policy = HostKeyPolicy::load(&target(22, HostKeyCheck::KnownHosts(missing))).unwrap();
        let refusal = policy.check(&key(ED25519_A)).unwrap_err();
        assert!(
            refusal.message.contains("does not exist"),
            "{}",
            refusal.message
        );
    }
}
