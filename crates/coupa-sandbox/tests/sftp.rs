//! The sandbox's SFTP server, driven by OpenSSH's own `sftp` client (as a connector's operator
//! would) and by russh's client (as coupa-sync's uploader does).
//!
//! Needs `sftp` and `ssh-keygen` (Debian's openssh-client), which ./scripts/test.sh installs.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

mod common;

use common::openssh::{Operator, USER, keygen, text};
use coupa_sandbox::{Running, Sandbox, SandboxConfig, SftpConfig, SftpEndpoint, SftpUser};
use russh::keys::ssh_key::{LineEnding, private::Ed25519Keypair};
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKey};
use russh_sftp::client::SftpSession;
use secrecy::SecretString;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use tempfile::TempDir;
use tokio::io::AsyncWriteExt;

const CSV: &str = "\"Login\",\"Email\",\"First Name\",\"Last Name\"\n\"jdoe\",\"jdoe@example.com\",\"Jane\",\"Doe\"\n";

fn sftp_config(users: Vec<SftpUser>) -> SftpConfig {
    SftpConfig {
        users,
        ..SftpConfig::default()
    }
}

async fn start(sftp: SftpConfig, data_dir: Option<&Path>) -> (Running, SftpEndpoint) {
    let running = common::spawn(SandboxConfig {
        sftp: Some(sftp),
        data_dir: data_dir.map(Path::to_path_buf),
        ..SandboxConfig::default()
    })
    .await;
    let endpoint = running.sftp.clone().expect("the SFTP server runs");
    (running, endpoint)
}

/// An operator with a key, and a sandbox whose SFTP server lets that key in.
async fn operator_and_sandbox() -> (Operator, Running, SftpEndpoint) {
    let operator = Operator::new();
    let (running, endpoint) = start(sftp_config(vec![operator.key.user()]), None).await;
    (operator, running, endpoint)
}

async fn waiting_names(endpoint: &SftpEndpoint) -> Vec<String> {
    endpoint
        .drop_folder
        .waiting_files()
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn openssh_uploads_as_part_renames_lists_and_downloads() {
    let (operator, running, endpoint) = operator_and_sandbox().await;
    operator.file("users.csv", CSV);

    let put = operator
        .sftp(
            &endpoint,
            "put users.csv /Incoming/Users/users_1.csv.part\n",
        )
        .await;
    assert!(put.status.success(), "{}", text(&put));
    let part = endpoint
        .drop_folder
        .root()
        .join("Incoming/Users/users_1.csv.part");
    assert_eq!(std::fs::read_to_string(&part).unwrap(), CSV);
    assert!(
        waiting_names(&endpoint).await.is_empty(),
        "a .part file is not ready for loading"
    );

    let rest = operator
        .sftp(
            &endpoint,
            "cd /Incoming/Users\n\
             rename users_1.csv.part users_1.csv\n\
             ls -1\n\
             get users_1.csv back.csv\n",
        )
        .await;
    assert!(rest.status.success(), "{}", text(&rest));
    let stdout = String::from_utf8_lossy(&rest.stdout);
    assert!(
        stdout.lines().any(|l| l.trim() == "users_1.csv"),
        "{}",
        text(&rest)
    );
    assert!(!stdout.contains("users_1.csv.part\n"), "{}", text(&rest));
    assert_eq!(
        std::fs::read_to_string(operator.dir.path().join("back.csv")).unwrap(),
        CSV
    );
    assert_eq!(waiting_names(&endpoint).await, ["users_1.csv"]);

    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn openssh_rename_replaces_an_existing_name() {
    let (operator, running, endpoint) = operator_and_sandbox().await;
    operator.file("old.csv", "old");
    operator.file("new.csv", "new");

    // OpenSSH's client renames with posix-rename@openssh.com when offered, which replaces.
    let output = operator
        .sftp(
            &endpoint,
            "put old.csv /Incoming/Users/users.csv\n\
             put new.csv /Incoming/Users/users.csv.part\n\
             rename /Incoming/Users/users.csv.part /Incoming/Users/users.csv\n",
        )
        .await;
    assert!(output.status.success(), "{}", text(&output));
    let files = endpoint.drop_folder.waiting_files().await.unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(std::fs::read_to_string(&files[0].path).unwrap(), "new");

    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn openssh_with_an_unknown_key_is_refused() {
    let (_operator, running, endpoint) = operator_and_sandbox().await;
    let stranger = Operator::new();
    stranger.file("users.csv", CSV);

    let output = stranger
        .sftp(&endpoint, "put users.csv /Incoming/Users/users.csv\n")
        .await;
    assert!(!output.status.success(), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("Permission denied"),
        "{}",
        text(&output)
    );
    assert!(waiting_names(&endpoint).await.is_empty());

    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn openssh_refuses_a_server_with_another_host_key() {
    let (operator, running, endpoint) = operator_and_sandbox().await;
    // The client pins some other server's key for this address: it must not talk to the sandbox.
    let other = keygen(operator.dir.path(), "other_host");
    let other_public = std::fs::read_to_string(&other.public).unwrap();
    let pinned = format!(
        "[127.0.0.1]:{} {}",
        endpoint.addr.port(),
        other_public.trim()
    );

    let output = operator.sftp_pinning(&endpoint, &pinned, "ls /\n").await;
    assert!(!output.status.success(), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("HOST IDENTIFICATION HAS CHANGED"),
        "{}",
        text(&output)
    );

    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn openssh_cannot_leave_the_drop_folder() {
    let (operator, running, endpoint) = operator_and_sandbox().await;
    operator.file("x", "x");
    // `../name` joined naively onto the root would land beside it.
    let root = endpoint.drop_folder.root();
    let naive = root.parent().unwrap().join("escaped-from-sftp-root");
    let climb = "../escaped-from-sftp-root";

    let output = operator.sftp(&endpoint, &format!("put x {climb}\n")).await;
    assert!(!output.status.success(), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("Permission denied"),
        "{}",
        text(&output)
    );
    assert!(!naive.exists());

    let etc = operator.sftp(&endpoint, "put x ../../etc/x\n").await;
    assert!(!etc.status.success(), "{}", text(&etc));
    assert!(!Path::new("/etc/x").exists());

    // A link placed inside the root (by someone on the machine) is not followed either.
    let outside = TempDir::new().unwrap();
    std::fs::write(outside.path().join("secret"), "secret").unwrap();
    std::os::unix::fs::symlink(outside.path(), root.join("Outgoing/Users/link")).unwrap();
    for commands in [
        "get /Outgoing/Users/link/secret got\n",
        "put x /Outgoing/Users/link/planted\n",
    ] {
        let output = operator.sftp(&endpoint, commands).await;
        assert!(!output.status.success(), "{commands}{}", text(&output));
    }
    assert!(!operator.dir.path().join("got").exists());
    assert!(!outside.path().join("planted").exists());

    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn openssh_manages_folders_but_not_coupas_layout() {
    let (operator, running, endpoint) = operator_and_sandbox().await;
    operator.file("x", "x");
    let root = endpoint.drop_folder.root().to_path_buf();

    let output = operator
        .sftp(
            &endpoint,
            "mkdir /Outgoing/Users/mine\n\
             put x /Outgoing/Users/mine/x\n\
             rm /Outgoing/Users/mine/x\n\
             rmdir /Outgoing/Users/mine\n\
             -rmdir /Incoming/Users\n\
             -rename /Incoming/Archive/Users /Incoming/Archive/Other\n",
        )
        .await;
    assert!(output.status.success(), "{}", text(&output));
    assert!(!root.join("Outgoing/Users/mine").exists());
    assert!(root.join("Incoming/Users").is_dir(), "{}", text(&output));
    assert!(
        root.join("Incoming/Archive/Users").is_dir(),
        "{}",
        text(&output)
    );

    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn openssh_upload_over_the_size_limit_fails() {
    let operator = Operator::new();
    let config = SftpConfig {
        max_file_size: 1000,
        ..sftp_config(vec![operator.key.user()])
    };
    let (running, endpoint) = start(config, None).await;
    operator.file("big.csv", vec![b'x'; 5000]);
    operator.file("small.csv", vec![b'x'; 1000]);

    let big = operator
        .sftp(&endpoint, "put big.csv /Incoming/Users/big.csv\n")
        .await;
    assert!(!big.status.success(), "{}", text(&big));
    let small = operator
        .sftp(&endpoint, "put small.csv /Incoming/Users/small.csv\n")
        .await;
    assert!(small.status.success(), "{}", text(&small));
    let written = std::fs::metadata(endpoint.drop_folder.root().join("Incoming/Users/big.csv"))
        .map(|m| m.len())
        .unwrap_or(0);
    assert!(written <= 1000, "{written} bytes written past the limit");

    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_host_key_survives_a_restart_with_a_data_folder() {
    let operator = Operator::new();
    let data = TempDir::new().unwrap();
    let (first, endpoint) = start(sftp_config(vec![operator.key.user()]), Some(data.path())).await;
    let fingerprint = endpoint.host_key_fingerprint.clone();
    let public = endpoint.host_public_key.clone();
    first.stop().await.unwrap();

    let (second, endpoint) = start(sftp_config(vec![operator.key.user()]), Some(data.path())).await;
    assert_eq!(endpoint.host_key_fingerprint, fingerprint);
    assert_eq!(endpoint.host_public_key, public);
    assert!(
        endpoint
            .drop_folder
            .root()
            .starts_with(data.path().canonicalize().unwrap())
    );

    // OpenSSH agrees on the fingerprint, and connects with the key pinned on the first run.
    let known_hosts = operator.dir.path().join("pinned");
    std::fs::write(&known_hosts, format!("{}\n", endpoint.known_hosts_line())).unwrap();
    let listed = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&known_hosts)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains(&fingerprint),
        "{fingerprint} vs {}",
        String::from_utf8_lossy(&listed.stdout)
    );
    let output = operator
        .sftp_pinning(
            &endpoint,
            &format!("[127.0.0.1]:{} {public}", endpoint.addr.port()),
            "ls /Incoming\n",
        )
        .await;
    assert!(output.status.success(), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("Users"));

    second.stop().await.unwrap();
}

/// russh's client, pinning the sandbox's host key as coupa-sync's uploader must.
struct Pinned(PublicKey);

impl russh::client::Handler for Pinned {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(
            matches!(key, russh::keys::PublicKeyOrCertificate::PublicKey { key, .. }
            if key.key_data() == self.0.key_data()),
        )
    }
}

async fn russh_connect(endpoint: &SftpEndpoint) -> russh::client::Handle<Pinned> {
    let host_key = PublicKey::from_openssh(&endpoint.host_public_key).unwrap();
    russh::client::connect(
        Arc::new(russh::client::Config::default()),
        endpoint.addr,
        Pinned(host_key),
    )
    .await
    .unwrap()
}

/// Whether `USER` gets in with `password` on this connection.
async fn password_accepted(ssh: &mut russh::client::Handle<Pinned>, password: &str) -> bool {
    ssh.authenticate_password(USER, password)
        .await
        .unwrap()
        .success()
}

async fn russh_sftp(ssh: &russh::client::Handle<Pinned>) -> SftpSession {
    let channel = ssh.channel_open_session().await.unwrap();
    channel.request_subsystem(true, "sftp").await.unwrap();
    SftpSession::new(channel.into_stream()).await.unwrap()
}

async fn upload(sftp: &SftpSession, path: &str, contents: &[u8]) {
    let mut file = sftp.create(path).await.unwrap();
    file.write_all(contents).await.unwrap();
    file.close().await.unwrap();
}

fn password_user(password: &str) -> SftpUser {
    SftpUser {
        name: USER.into(),
        password: Some(SecretString::from(password.to_string())),
        authorized_keys: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn russh_client_logs_in_with_a_password_and_uploads() {
    let (running, endpoint) = start(sftp_config(vec![password_user("s3cret")]), None).await;

    let mut wrong = russh_connect(&endpoint).await;
    assert!(!password_accepted(&mut wrong, "guess").await);

    let mut ssh = russh_connect(&endpoint).await;
    assert!(password_accepted(&mut ssh, "s3cret").await);
    let sftp = russh_sftp(&ssh).await;
    upload(&sftp, "/Incoming/Users/users_2.csv.part", CSV.as_bytes()).await;
    sftp.rename(
        "/Incoming/Users/users_2.csv.part",
        "/Incoming/Users/users_2.csv",
    )
    .await
    .unwrap();
    assert_eq!(waiting_names(&endpoint).await, ["users_2.csv"]);
    assert_eq!(
        sftp.read("/Incoming/Users/users_2.csv").await.unwrap(),
        CSV.as_bytes()
    );

    // SSH_FXP_RENAME does not replace an existing name (as OpenSSH's server).
    upload(&sftp, "/Incoming/Users/again.csv.part", b"again").await;
    let error = sftp
        .rename(
            "/Incoming/Users/again.csv.part",
            "/Incoming/Users/users_2.csv",
        )
        .await
        .unwrap_err();
    assert!(error.to_string().contains("already exists"), "{error}");
    assert_eq!(
        sftp.read("/Incoming/Users/users_2.csv").await.unwrap(),
        CSV.as_bytes()
    );

    // The loader's side: archive it, and it is no longer waiting.
    let archived = endpoint.drop_folder.archive("users_2.csv").await.unwrap();
    assert_eq!(archived.sftp_path, "/Incoming/Archive/Users/users_2.csv");
    assert!(waiting_names(&endpoint).await.is_empty());
    assert_eq!(
        sftp.read(&archived.sftp_path).await.unwrap(),
        CSV.as_bytes()
    );

    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn russh_client_with_a_key_and_a_dropped_upload_leaves_only_the_part_file() {
    let dir = TempDir::new().unwrap();
    let seed = [7u8; 32];
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    let public = dir.path().join("uploader.pub");
    std::fs::write(&public, key.public_key().to_openssh().unwrap()).unwrap();
    let user = SftpUser {
        name: USER.into(),
        password: None,
        authorized_keys: vec![public],
    };
    let (running, endpoint) = start(sftp_config(vec![user]), None).await;

    let mut ssh = russh_connect(&endpoint).await;
    let auth = ssh
        .authenticate_publickey(USER, PrivateKeyWithHashAlg::new(Arc::new(key), None))
        .await
        .unwrap();
    assert!(auth.success());
    let sftp = russh_sftp(&ssh).await;
    let mut file = sftp
        .create("/Incoming/Users/users_3.csv.part")
        .await
        .unwrap();
    file.write_all(&CSV.as_bytes()[..20]).await.unwrap();
    file.flush().await.unwrap();
    // The connection goes away mid-upload: no close, no rename.
    ssh.disconnect(russh::Disconnect::ByApplication, "", "")
        .await
        .unwrap();
    drop(file);
    drop(sftp);

    assert!(waiting_names(&endpoint).await.is_empty());
    assert!(
        endpoint
            .drop_folder
            .root()
            .join("Incoming/Users/users_3.csv.part")
            .exists()
    );

    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_may_hold_only_so_many_connections() {
    let config = SftpConfig {
        max_connections_per_user: 1,
        ..sftp_config(vec![password_user("s3cret")])
    };
    let (running, endpoint) = start(config, None).await;

    let mut first = russh_connect(&endpoint).await;
    assert!(password_accepted(&mut first, "s3cret").await);
    let mut second = russh_connect(&endpoint).await;
    assert!(!password_accepted(&mut second, "s3cret").await);

    running.stop().await.unwrap();
}

#[tokio::test]
async fn an_archive_path_inside_the_incoming_folder_is_refused() {
    let config = SandboxConfig {
        sftp: Some(SftpConfig {
            archive_path: "/Incoming/Users".into(),
            ..sftp_config(vec![password_user("p")])
        }),
        ..SandboxConfig::default()
    };
    let error = Sandbox::new(config).await.unwrap_err().to_string();
    assert!(error.contains("archive path"), "{error}");
}

#[tokio::test]
async fn a_given_host_key_file_is_the_host_key() {
    let dir = TempDir::new().unwrap();
    let host_key = dir.path().join("host");
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&[1; 32]));
    key.write_openssh_file(&host_key, LineEnding::LF).unwrap();
    let config = SandboxConfig {
        sftp: Some(SftpConfig {
            host_key: Some(host_key),
            archive_path: "/Archive/Incoming/Users".into(),
            ..sftp_config(vec![password_user("p")])
        }),
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::new(config).await.unwrap();
    let folder = sandbox.drop_folder().unwrap().clone();
    assert!(folder.root().join("Archive/Incoming/Users").is_dir());
    let running = sandbox.spawn("127.0.0.1:0").await.unwrap();
    assert_eq!(
        running.sftp.as_ref().unwrap().host_public_key,
        key.public_key().to_openssh().unwrap()
    );
    running.stop().await.unwrap();
}
