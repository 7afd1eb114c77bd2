//! The SFTP uploader against a real OpenSSH sshd started by each test on a loopback port.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

#[path = "support/sshd.rs"]
mod sshd;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use engine::sftp::{
    ErrorKind, HostKeyCheck, LocalFile, SftpAuth, SftpError, SftpTarget, SftpUploader, Step,
    UploadedFile,
};
use secrecy::SecretString;
use sshd::{Login, Sshd};

/// A users file body of about `bytes` bytes, different for each `seed`.
fn users_csv(seed: u32, bytes: usize) -> Vec<u8> {
    let mut csv = b"\"Login\",\"Email\",\"First Name\",\"Last Name\"\n".to_vec();
    let mut row = 0u32;
    while csv.len() < bytes {
        writeln!(
            csv,
            "\"u{seed}_{row}\",\"u{seed}_{row}@example.com\",\"Ann\",\"Lee\""
        )
        .unwrap();
        row += 1;
    }
    csv
}

fn files_in(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

async fn connect(sshd: &Sshd, target: &SftpTarget) -> SftpUploader {
    match SftpUploader::connect(target).await {
        Ok(uploader) => uploader,
        Err(e) => panic!("connect failed: {e}\nsshd log:\n{}", sshd.log()),
    }
}

async fn refused(target: &SftpTarget) -> SftpError {
    match SftpUploader::connect(target).await {
        Ok(_) => panic!("connect should have been refused"),
        Err(e) => e,
    }
}

fn assert_mentions(error: &SftpError, parts: &[&str]) {
    let text = error.to_string();
    for part in parts {
        assert!(text.contains(part), "{text:?} should mention {part:?}");
    }
}

/// The command between the first pair of backticks after `marker`.
fn quoted_command(message: &str, marker: &str) -> String {
    let start = message
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in {message}"));
    message[start..].split('`').next().unwrap().to_owned()
}

/// A named pipe whose bytes the test feeds while the uploader reads it, to hold an upload
/// half-way for as long as the test needs.
struct Fifo {
    path: PathBuf,
    feed: Option<mpsc::Sender<Vec<u8>>>,
}

impl Fifo {
    fn new(path: PathBuf) -> Fifo {
        let status = Command::new("mkfifo").arg(&path).status().unwrap();
        assert!(status.success());
        let (feed, chunks) = mpsc::channel::<Vec<u8>>();
        let writer_path = path.clone();
        // Opening blocks until the uploader opens the other end.
        std::thread::spawn(move || {
            let mut pipe = std::fs::OpenOptions::new()
                .write(true)
                .open(writer_path)
                .unwrap();
            for chunk in chunks {
                if pipe.write_all(&chunk).is_err() {
                    break;
                }
            }
        });
        Fifo {
            path,
            feed: Some(feed),
        }
    }

    fn send(&self, bytes: &[u8]) {
        self.feed.as_ref().unwrap().send(bytes.to_vec()).unwrap();
    }

    /// End of file for the uploader.
    fn close(&mut self) {
        self.feed = None;
    }
}

/// Waits (up to a generous limit, so a slow machine only slows the test) until `path` holds
/// `size` bytes.
fn wait_for_size(path: &Path, size: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) >= size {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} never reached {size} bytes",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn uploads_several_files_with_key_auth_in_name_order_and_lists_them() {
    let sshd = Sshd::start();
    let uploader = connect(&sshd, &sshd.target(sshd.key_auth())).await;
    let small = users_csv(1, 300);
    let large = users_csv(2, 8 * 1024 * 1024);
    let from_disk = users_csv(3, 70_000);
    let local_path = sshd.path("local_003.csv");
    std::fs::write(&local_path, &from_disk).unwrap();

    let started = Instant::now();
    let uploaded = uploader
        .upload(&[
            LocalFile::from_path("users_003.csv", &local_path),
            LocalFile::from_bytes("users_002.csv", large.clone()),
            LocalFile::from_bytes("users_001.csv", small.clone()),
        ])
        .await
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let total: u64 = uploaded.iter().map(|f| f.size).sum();
    eprintln!(
        "sftp upload throughput: {:.1} MiB/s ({total} bytes in 3 files, {seconds:.2} s, OpenSSH on loopback, debug build)",
        total as f64 / 1_048_576.0 / seconds
    );

    let folder = sshd.remote_folder();
    let expected = |name: &str, body: &[u8]| UploadedFile {
        name: name.to_owned(),
        remote_path: format!("{folder}/{name}"),
        size: body.len() as u64,
    };
    assert_eq!(
        uploaded,
        vec![
            expected("users_001.csv", &small),
            expected("users_002.csv", &large),
            expected("users_003.csv", &from_disk),
        ]
    );
    assert_eq!(
        files_in(&sshd.folder),
        ["users_001.csv", "users_002.csv", "users_003.csv"]
    );
    for (name, body) in [
        ("users_001.csv", &small),
        ("users_002.csv", &large),
        ("users_003.csv", &from_disk),
    ] {
        assert!(
            std::fs::read(sshd.folder.join(name)).unwrap() == *body,
            "{name} differs"
        );
    }
    let listed: Vec<(String, u64, bool)> = uploader
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.name.clone(), f.size, f.is_partial()))
        .collect();
    assert_eq!(
        listed,
        [
            ("users_001.csv".to_owned(), small.len() as u64, false),
            ("users_002.csv".to_owned(), large.len() as u64, false),
            ("users_003.csv".to_owned(), from_disk.len() as u64, false),
        ]
    );
    uploader.close().await;
}

#[tokio::test]
async fn rsa_key_with_passphrase_logs_in_and_key_problems_are_named_before_connecting() {
    let sshd = Sshd::start();
    let with = |passphrase: Option<&str>| {
        sshd.target(SftpAuth::PrivateKey {
            path: sshd.rsa_client_key.clone(),
            passphrase: passphrase.map(SecretString::from),
        })
    };
    let uploader = connect(&sshd, &with(Some(Sshd::RSA_PASSPHRASE))).await;
    let done = uploader
        .upload_file(&LocalFile::from_bytes("users_rsa.csv", users_csv(1, 100)))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(sshd.folder.join("users_rsa.csv"))
            .unwrap()
            .len() as u64,
        done.size
    );

    let missing = refused(&with(None)).await;
    assert_eq!(
        (missing.step, missing.kind),
        (Step::Auth, ErrorKind::KeyFile)
    );
    assert_mentions(
        &missing,
        &[
            "is encrypted",
            "passphrase",
            sshd.rsa_client_key.to_str().unwrap(),
        ],
    );

    let wrong = refused(&with(Some("not the passphrase"))).await;
    assert_eq!((wrong.step, wrong.kind), (Step::Auth, ErrorKind::KeyFile));
    assert_mentions(&wrong, &["wrong passphrase"]);
    for shown in [
        wrong.to_string(),
        format!("{wrong:?}"),
        format!("{:?}", with(Some("not the passphrase"))),
    ] {
        assert!(
            !shown.contains("not the passphrase"),
            "secret shown in {shown}"
        );
    }

    let absent = SftpAuth::PrivateKey {
        path: sshd.path("no_such_key"),
        passphrase: None,
    };
    let absent = refused(&sshd.target(absent)).await;
    assert_eq!(absent.kind, ErrorKind::KeyFile);
    assert_mentions(&absent, &["no_such_key", "cannot be read"]);
}

#[tokio::test]
async fn wrong_key_is_refused_at_auth_with_its_fingerprint() {
    let sshd = Sshd::start();
    let stranger = sshd.path("stranger");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&stranger)
        .status()
        .unwrap();
    assert!(status.success());
    let error = refused(&sshd.target(SftpAuth::PrivateKey {
        path: stranger.clone(),
        passphrase: None,
    }))
    .await;
    assert_eq!(
        (error.step, error.kind),
        (Step::Auth, ErrorKind::AuthRejected)
    );
    let fingerprint = sshd::fingerprint_of(&stranger.with_extension("pub"));
    assert_mentions(
        &error,
        &[
            "refused public key",
            &fingerprint,
            "it accepts: publickey",
            "127.0.0.1",
        ],
    );
    assert!(files_in(&sshd.folder).is_empty());
}

#[tokio::test]
async fn password_login_works_without_pam_and_a_wrong_password_is_refused_unshown() {
    let sshd = Sshd::start_with(Login::Password);
    let password = sshd.password_user();
    let mut target = sshd.target(SftpAuth::Password(password));
    target.username = sshd::PASSWORD_USER.to_owned();
    let uploader = connect(&sshd, &target).await;
    uploader
        .upload_file(&LocalFile::from_bytes("users_pw.csv", users_csv(1, 100)))
        .await
        .unwrap();
    assert!(sshd.folder.join("users_pw.csv").exists());

    let wrong = "wrong-password-0123456789";
    target.auth = SftpAuth::Password(SecretString::from(wrong));
    let error = refused(&target).await;
    assert_eq!(
        (error.step, error.kind),
        (Step::Auth, ErrorKind::AuthRejected)
    );
    assert_mentions(&error, &["refused password", sshd::PASSWORD_USER]);
    for shown in [
        error.to_string(),
        format!("{error:?}"),
        format!("{target:?}"),
    ] {
        assert!(!shown.contains(wrong), "password shown in {shown}");
    }
}

#[tokio::test]
async fn a_watcher_never_sees_a_partial_file_under_the_final_name() {
    let sshd = Sshd::start();
    let uploader = connect(&sshd, &sshd.target(sshd.key_auth())).await;
    let body = users_csv(7, 2 * 1024 * 1024);
    let (first_half, second_half) = body.split_at(body.len() / 2);
    let half = first_half.len() as u64;
    let mut fifo = Fifo::new(sshd.path("pipe.csv"));
    let upload = LocalFile::from_path("users_007.csv", &fifo.path);

    let (result, ()) = tokio::join!(uploader.upload_file(&upload), async {
        fifo.send(first_half);
        let folder = sshd.folder.clone();
        tokio::task::spawn_blocking(move || {
            wait_for_size(&folder.join("users_007.csv.part"), half);
        })
        .await
        .unwrap();
        assert!(
            !sshd.folder.join("users_007.csv").exists(),
            "final name visible mid-upload"
        );
        fifo.send(second_half);
        fifo.close();
    });
    let done = result.unwrap();
    assert_eq!(done.size, body.len() as u64);
    assert_eq!(files_in(&sshd.folder), ["users_007.csv"]);
    assert!(std::fs::read(sshd.folder.join("users_007.csv")).unwrap() == body);
}

#[tokio::test]
async fn a_server_that_keeps_fewer_bytes_than_sent_is_caught_before_the_rename() {
    let sshd = Sshd::start();
    let uploader = connect(&sshd, &sshd.target(sshd.key_auth())).await;
    // The .part resolves to /dev/null: every write succeeds and nothing is kept.
    std::os::unix::fs::symlink("/dev/null", sshd.folder.join("users_008.csv.part")).unwrap();

    let error = uploader
        .upload_file(&LocalFile::from_bytes("users_008.csv", users_csv(8, 5000)))
        .await
        .unwrap_err();
    assert_eq!(
        (error.step, error.kind),
        (Step::Verify, ErrorKind::SizeMismatch)
    );
    assert_eq!(error.file.as_deref(), Some("users_008.csv"));
    assert_mentions(
        &error,
        &[
            "holds 0 bytes",
            "were sent",
            "users_008.csv.part was removed",
        ],
    );
    assert!(
        files_in(&sshd.folder).is_empty(),
        "nothing may reach the final name"
    );
}

#[tokio::test]
async fn refuses_to_overwrite_a_file_already_in_the_folder_and_sends_nothing() {
    let sshd = Sshd::start();
    let uploader = connect(&sshd, &sshd.target(sshd.key_auth())).await;
    std::fs::write(sshd.folder.join("users_010.csv"), "waiting for Coupa").unwrap();

    let failure = uploader
        .upload(&[
            LocalFile::from_bytes("users_009.csv", users_csv(9, 100)),
            LocalFile::from_bytes("users_010.csv", users_csv(10, 100)),
        ])
        .await
        .unwrap_err();
    assert!(failure.uploaded.is_empty());
    let error = &failure.error;
    assert_eq!(
        (error.step, error.kind),
        (Step::Check, ErrorKind::AlreadyExists)
    );
    assert_eq!(error.file.as_deref(), Some("users_010.csv"));
    assert_mentions(error, &["never uploads a file twice", "users_010.csv"]);
    assert_eq!(
        files_in(&sshd.folder),
        ["users_010.csv"],
        "the batch is checked before any byte is sent"
    );
    assert_eq!(
        std::fs::read_to_string(sshd.folder.join("users_010.csv")).unwrap(),
        "waiting for Coupa"
    );

    let single = uploader
        .upload_file(&LocalFile::from_bytes("users_010.csv", users_csv(10, 100)))
        .await
        .unwrap_err();
    assert_eq!(single.kind, ErrorKind::AlreadyExists);
}

#[tokio::test]
async fn names_that_are_not_plain_file_names_are_refused_before_sending() {
    let sshd = Sshd::start();
    let uploader = connect(&sshd, &sshd.target(sshd.key_auth())).await;
    for name in [
        "../escape.csv",
        "sub/dir.csv",
        "",
        ".hidden.csv",
        "users.csv.part",
        "tab\t.csv",
    ] {
        let error = uploader
            .upload_file(&LocalFile::from_bytes(name, b"x".to_vec()))
            .await
            .unwrap_err();
        assert_eq!(
            (error.step, error.kind),
            (Step::Check, ErrorKind::Invalid),
            "{name:?}: {error}"
        );
    }
    let twice = uploader
        .upload(&[
            LocalFile::from_bytes("users_1.csv", b"a".to_vec()),
            LocalFile::from_bytes("users_1.csv", b"b".to_vec()),
        ])
        .await
        .unwrap_err();
    assert_eq!(twice.error.kind, ErrorKind::Invalid);
    assert!(files_in(&sshd.folder).is_empty());
    assert!(
        files_in(sshd.folder.parent().unwrap()) == ["Users"],
        "nothing escaped the folder"
    );
}

#[tokio::test]
async fn a_part_left_by_an_interrupted_run_is_listed_and_replaced() {
    let sshd = Sshd::start();
    let uploader = connect(&sshd, &sshd.target(sshd.key_auth())).await;
    std::fs::write(sshd.folder.join("users_011.csv.part"), "half a fi").unwrap();
    let listed = uploader.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].is_partial() && listed[0].size == 9);

    let body = users_csv(11, 1000);
    uploader
        .upload_file(&LocalFile::from_bytes("users_011.csv", body.clone()))
        .await
        .unwrap();
    assert_eq!(files_in(&sshd.folder), ["users_011.csv"]);
    assert!(std::fs::read(sshd.folder.join("users_011.csv")).unwrap() == body);
}

#[tokio::test]
async fn server_killed_mid_upload_names_the_file_and_reports_only_finished_files() {
    let mut sshd = Sshd::start();
    let mut target = sshd.target(sshd.key_auth());
    target.request_timeout = Duration::from_secs(10);
    let uploader = connect(&sshd, &target).await;
    let mut fifo = Fifo::new(sshd.path("pipe.csv"));
    let first = users_csv(12, 1000);
    let files = [
        LocalFile::from_bytes("users_012.csv", first.clone()),
        LocalFile::from_path("users_013.csv", &fifo.path),
    ];

    let (result, ()) = tokio::join!(uploader.upload(&files), async {
        fifo.send(&users_csv(13, 1024 * 1024)[..1024 * 1024]);
        let part = sshd.folder.join("users_013.csv.part");
        tokio::task::spawn_blocking(move || wait_for_size(&part, 1024 * 1024))
            .await
            .unwrap();
        sshd.kill();
        fifo.send(&[b'x'; 64 * 1024]);
        fifo.close();
    });

    let failure = result.unwrap_err();
    assert_eq!(failure.uploaded.len(), 1, "{failure}");
    assert_eq!(failure.uploaded[0].name, "users_012.csv");
    let error = &failure.error;
    assert_eq!(error.file.as_deref(), Some("users_013.csv"), "{error}");
    assert_eq!(error.step, Step::Write, "{error}");
    assert_eq!(error.kind, ErrorKind::ConnectionLost, "{error}");
    assert_mentions(error, &["users_013.csv.part may remain"]);
    assert_eq!(
        files_in(&sshd.folder),
        ["users_012.csv", "users_013.csv.part"]
    );
}

#[tokio::test]
async fn unknown_host_key_is_refused_with_its_fingerprint_and_the_trust_command_works() {
    let sshd = Sshd::start();
    let mut target = sshd.target(sshd.key_auth());
    let known_hosts = sshd.path("empty_known_hosts");
    target.host_key = HostKeyCheck::KnownHosts(known_hosts.clone());

    let error = refused(&target).await;
    assert_eq!(
        (error.step, error.kind),
        (Step::HostKey, ErrorKind::HostKeyUnknown)
    );
    let fingerprint = sshd.ed25519_fingerprint();
    let command = format!(
        "ssh-keyscan -p {} 127.0.0.1 >> {}",
        sshd.port,
        known_hosts.display()
    );
    assert_mentions(
        &error,
        &[
            &fingerprint,
            &command,
            "does not exist",
            "host_key_fingerprint = \"",
        ],
    );

    // Following the message's instruction is enough to connect.
    let trust = quoted_command(&error.message, "ssh-keyscan");
    let out = Command::new("sh").arg("-c").arg(&trust).output().unwrap();
    assert!(out.status.success(), "{trust}: {out:?}");
    connect(&sshd, &target).await.close().await;

    // A known_hosts file that knows other hosts only says the host is missing.
    std::fs::write(&known_hosts, "other.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPPAeTe5dmIQoqoxD8gCGMRjUZqQYAiaDuGaOqW2tj7r\n").unwrap();
    let error = refused(&target).await;
    assert_eq!(error.kind, ErrorKind::HostKeyUnknown);
    assert_mentions(
        &error,
        &[&format!(
            "[127.0.0.1]:{} is not in known_hosts file",
            sshd.port
        )],
    );
}

#[tokio::test]
async fn changed_host_key_is_refused_with_both_ways_to_fix_it() {
    let sshd = Sshd::start();
    let mut target = sshd.target(sshd.key_auth());
    let known_hosts = sshd.path("stale_known_hosts");
    let other_key = std::fs::read_to_string(sshd.client_key.with_extension("pub")).unwrap();
    std::fs::write(
        &known_hosts,
        format!("[127.0.0.1]:{} {other_key}", sshd.port),
    )
    .unwrap();
    target.host_key = HostKeyCheck::KnownHosts(known_hosts.clone());

    let error = refused(&target).await;
    assert_eq!(
        (error.step, error.kind),
        (Step::HostKey, ErrorKind::HostKeyChanged)
    );
    assert_mentions(
        &error,
        &[
            "HOST KEY CHANGED",
            &sshd.ed25519_fingerprint(),
            &format!(
                "ssh-keygen -R '[127.0.0.1]:{}' -f {}",
                sshd.port,
                known_hosts.display()
            ),
            &format!("ssh-keyscan -p {} 127.0.0.1 >> ", sshd.port),
            "127.0.0.1",
            &sshd.port.to_string(),
        ],
    );
    assert!(files_in(&sshd.folder).is_empty());
}

#[tokio::test]
async fn pinned_fingerprint_is_enforced_and_the_suggested_line_works() {
    let sshd = Sshd::start();
    let mut target = sshd.target(sshd.key_auth());
    let stranger = sshd::fingerprint_of(&sshd.client_key.with_extension("pub"));
    target.host_key = HostKeyCheck::Fingerprint(stranger.parse().unwrap());

    let error = refused(&target).await;
    assert_eq!(
        (error.step, error.kind),
        (Step::HostKey, ErrorKind::HostKeyChanged)
    );
    let real = sshd.ed25519_fingerprint();
    assert_mentions(
        &error,
        &[&stranger, &format!("host_key_fingerprint = \"{real}\"")],
    );

    let suggested = error
        .message
        .rsplit("host_key_fingerprint = \"")
        .next()
        .unwrap();
    let suggested = suggested.split('"').next().unwrap();
    target.host_key = HostKeyCheck::Fingerprint(suggested.parse().unwrap());
    connect(&sshd, &target).await.close().await;
}

#[tokio::test]
async fn hashed_and_rsa_only_known_hosts_files_are_understood() {
    let sshd = Sshd::start();
    let mut target = sshd.target(sshd.key_auth());
    let hashed = sshd.keyscan("hashed_known_hosts", &["-H"]);
    assert!(std::fs::read_to_string(&hashed).unwrap().starts_with("|1|"));
    target.host_key = HostKeyCheck::KnownHosts(hashed);
    connect(&sshd, &target).await.close().await;

    // The server prefers to show its ed25519 key; we must ask for the RSA key we know.
    target.host_key = HostKeyCheck::KnownHosts(sshd.keyscan("rsa_known_hosts", &["-t", "rsa"]));
    connect(&sshd, &target).await.close().await;
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_at_connect() {
    // Accepts the TCP connection and never sends SSH's greeting.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let (_socket, _) = silent.accept().await.unwrap();
        std::future::pending::<()>().await;
    });
    let dir = tempfile::tempdir().unwrap();
    let mut target = SftpTarget::new(
        "127.0.0.1",
        "acme",
        SftpAuth::Password(SecretString::from("pw")),
        HostKeyCheck::KnownHosts(dir.path().join("known_hosts")),
    );
    target.port = port;
    target.connect_timeout = Duration::from_secs(1);
    let error = refused(&target).await;
    assert_eq!(
        (error.step, error.kind),
        (Step::Connect, ErrorKind::Timeout)
    );
    assert_mentions(
        &error,
        &["connect_timeout", &format!("acme@127.0.0.1:{port}")],
    );
    holder.abort();
}

#[tokio::test]
async fn missing_remote_folder_and_closed_port_are_named_at_connect() {
    let sshd = Sshd::start();
    let mut target = sshd.target(sshd.key_auth());
    target.remote_folder = format!("{}/Nope", sshd.remote_folder());
    let error = refused(&target).await;
    assert_eq!((error.step, error.kind), (Step::Folder, ErrorKind::Remote));
    assert_mentions(&error, &["/Nope cannot be opened", "NoSuchFile"]);

    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    target.port = closed_port;
    let error = refused(&target).await;
    assert_eq!(
        (error.step, error.kind),
        (Step::Connect, ErrorKind::Unreachable)
    );
    assert_mentions(&error, &[&format!("127.0.0.1:{closed_port}")]);
}
