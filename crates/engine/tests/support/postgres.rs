//! A throw-away PostgreSQL cluster in a temp dir on a loopback port, made with `initdb` and started
//! with `pg_ctl`, so the PostgreSQL store is tested against the real server. PostgreSQL refuses to
//! run as root: under root the server runs as [`SERVER_USER`], created when missing.
#![allow(dead_code)] // each test binary uses its own subset

use secrecy::SecretString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tempfile::TempDir;

/// The system account the server runs as when the tests run as root.
pub const SERVER_USER: &str = "coupasync-pg-test";
/// The database and role coupa-sync uses, created as the README tells an operator to.
pub const DATABASE: &str = "coupa_sync";

/// A running cluster; stopped on drop.
pub struct Postgres {
    dir: TempDir,
    bin: PathBuf,
    pub port: u16,
    /// coupa-sync's own role's password (not a superuser).
    password: String,
    superuser_password: String,
    /// `Some` when the server runs as [`SERVER_USER`] (the tests run as root).
    run_as: Option<String>,
}

impl Postgres {
    /// Starts a fresh cluster with an empty `coupa_sync` database owned by the `coupa_sync` role.
    /// Panics with the reason when PostgreSQL cannot start: no test is skipped silently.
    pub fn start() -> Postgres {
        let bin = bin_dir();
        let dir = tempfile::tempdir().unwrap();
        let run_as = is_root().then(|| {
            let (uid, gid) = server_user_ids();
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
            SERVER_USER.to_owned()
        });
        let superuser_password = random_hex(16);
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, &superuser_password).unwrap();
        if run_as.is_some() {
            let (uid, gid) = server_user_ids();
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid)).unwrap();
        }
        let mut pg = Postgres {
            dir,
            bin,
            port: 0,
            password: random_hex(16),
            superuser_password,
            run_as,
        };
        let data = pg.data_dir();
        pg.server_command(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=scram-sha-256",
                &format!("--pwfile={}", pwfile.display()),
                "--no-sync",
                "--encoding=UTF8",
                "--locale=C",
            ],
        );
        std::fs::remove_file(&pwfile).unwrap();
        pg.make_certificate();
        pg.port = pg.start_on_a_free_port();
        pg.psql(&format!(
            "CREATE ROLE {DATABASE} LOGIN PASSWORD '{}'",
            pg.password
        ));
        pg.psql(&format!("CREATE DATABASE {DATABASE} OWNER {DATABASE}"));
        pg
    }

    /// coupa-sync's URL for the database, password included.
    pub fn url(&self) -> SecretString {
        SecretString::from(self.url_text())
    }

    /// The same URL as text, for a test that looks for the password where it must not be.
    pub fn url_text(&self) -> String {
        format!(
            "postgres://{DATABASE}:{}@127.0.0.1:{}/{DATABASE}",
            self.password, self.port
        )
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    /// Every file of the cluster's data directory, for a test that looks for what reached the disk.
    pub fn data_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, found);
                } else {
                    found.push(path);
                }
            }
        }
        let mut found = Vec::new();
        walk(&self.data_dir(), &mut found);
        found
    }

    /// Runs SQL as the superuser in coupa-sync's database (to age a schema, say).
    pub fn sql(&self, sql: &str) -> String {
        self.psql_in(DATABASE, sql)
    }

    /// Forces everything written so far out of PostgreSQL's memory into its files.
    pub fn checkpoint(&self) {
        self.psql("CHECKPOINT");
    }

    /// A self-signed certificate for the server (`server.crt`, `server.key` in the data directory,
    /// PostgreSQL's defaults), so a URL with `sslmode=require` talks TLS, as managed databases ask.
    fn make_certificate(&self) {
        use std::os::unix::fs::PermissionsExt;
        let data = self.data_dir();
        let (crt, key) = (data.join("server.crt"), data.join("server.key"));
        let out = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=127.0.0.1", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&crt)
            .output()
            .unwrap_or_else(|e| panic!("cannot run openssl (install Debian's openssl): {e}"));
        assert!(
            out.status.success(),
            "openssl failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // PostgreSQL takes only a key its own user owns and nobody else can read.
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        if self.run_as.is_some() {
            let (uid, gid) = server_user_ids();
            for file in [&crt, &key] {
                std::os::unix::fs::chown(file, Some(uid), Some(gid)).unwrap();
            }
        }
    }

    /// How many of coupa-sync's connections to the server use TLS, and how many there are.
    pub fn tls_connections(&self) -> (u32, u32) {
        let counts = self.psql(&format!(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_activity a \
             JOIN pg_stat_ssl s USING (pid) WHERE a.usename = '{DATABASE}'"
        ));
        let mut numbers = counts.split('|').map(|n| n.trim().parse::<u32>().unwrap());
        (numbers.next().unwrap(), numbers.next().unwrap())
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn psql(&self, sql: &str) -> String {
        self.psql_in("postgres", sql)
    }

    fn psql_in(&self, database: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                database,
            ])
            .args(["-c", sql])
            .env("PGPASSWORD", &self.superuser_password)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A port picked by the OS can be taken again before the server binds it: retry a few times.
    fn start_on_a_free_port(&self) -> u16 {
        let data = self.data_dir();
        let log = self.dir.path().join("server.log");
        let socket_dir = self.dir.path().to_str().unwrap().to_owned();
        for _ in 0..5 {
            let port = free_port();
            let out = self.server_output(
                "pg_ctl",
                &[
                    "-D",
                    data.to_str().unwrap(),
                    "-l",
                    log.to_str().unwrap(),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    // -F: no fsync, the cluster is thrown away anyway.
                    &format!("-p {port} -k {socket_dir} -h 127.0.0.1 -F -c ssl=on"),
                    "start",
                ],
            );
            if out.status.success() {
                return port;
            }
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            if !log.contains("could not bind") && !log.contains("already in use") {
                panic!(
                    "PostgreSQL did not start: {}\n{}\n{log}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        panic!("PostgreSQL found no free loopback port in 5 tries");
    }

    fn server_command(&self, program: &str, args: &[&str]) {
        let out = self.server_output(program, args);
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs a server program, as [`SERVER_USER`] under root.
    fn server_output(&self, program: &str, args: &[&str]) -> Output {
        let program = self.bin.join(program);
        let mut command = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        // The server user cannot enter the test's working directory, and needs not.
        command
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.port != 0 {
            let data = self.data_dir();
            let _ = self.server_output(
                "pg_ctl",
                &["-D", data.to_str().unwrap(), "-m", "immediate", "stop"],
            );
        }
    }
}

/// The newest PostgreSQL under /usr/lib/postgresql (Debian's layout), else `initdb`'s on PATH.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists());
    on_path.unwrap_or_else(|| {
        panic!(
            "PostgreSQL is missing (no initdb in /usr/lib/postgresql/*/bin nor on PATH): \
             install Debian's postgresql (./scripts/test.sh does)"
        )
    })
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// Creates [`SERVER_USER`] once (under root) and returns its uid and gid.
fn server_user_ids() -> (u32, u32) {
    let id = |flag: &str| {
        Command::new("id")
            .args([flag, SERVER_USER])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse::<u32>().ok())
    };
    // Tests start clusters in parallel: one creates the user while the others wait for it.
    static CREATING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _creating = CREATING.lock().unwrap_or_else(|e| e.into_inner());
    if id("-u").is_none() {
        // Another test binary may create it meanwhile and make this fail: the lookup below decides.
        let _ = Command::new("useradd")
            .args(["--system", "--no-create-home", "--home-dir", "/nonexistent"])
            .args(["--shell", "/usr/sbin/nologin", SERVER_USER])
            .status();
    }
    match (id("-u"), id("-g")) {
        (Some(uid), Some(gid)) => (uid, gid),
        _ => panic!("cannot create the system user {SERVER_USER} the PostgreSQL server runs as"),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn random_hex(bytes: usize) -> String {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut buf)
        .unwrap();
    buf.iter().map(|b| format!("{b:02x}")).collect()
}
