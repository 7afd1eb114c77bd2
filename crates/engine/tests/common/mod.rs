//! Shared set-up for the engine's specification tests: a configuration and an HR file in a
//! temporary directory, read through the real pipeline (hr → mapping → detect).
#![allow(dead_code)]

use coupa_wire::{Role, User};
use engine::config::Config;
use engine::detect::{AppliedState, DetectOptions, Detection, Mode, detect};
use engine::hr;
use engine::mapping::{DesiredUser, Mapping};
use std::path::{Path, PathBuf};

pub const SECRET: &str = "s3cret-client-value";

/// A complete configuration matching `HR_HEADER`; tests append sections or replace lines.
pub const BASE: &str = r#"
[coupa]
url = "http://127.0.0.1:4010"
client_id = "coupa-sync"
client_secret_env = "COUPA_CLIENT_SECRET"

[hr]
path = "hr.csv"
key_column = "id"
status_column = "status"

[match]
coupa_field = "employee-number"

[fields]
login = "login"
email = "email"
firstname = "first"
lastname = "last"
employee-number = "emp"

[roles]
column = "roles"
separator = ";"
managed = ["Buyer", "Accounts Payable"]
"#;

pub const HR_HEADER: &str = "id,emp,login,email,first,last,status,roles";

pub fn env(name: &str) -> Option<String> {
    (name == "COUPA_CLIENT_SECRET").then(|| SECRET.to_string())
}

/// A configuration file and an HR file in a temporary directory.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub config: Config,
}

impl Setup {
    pub fn new(config: &str, hr_file: &str, hr: &[u8]) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(hr_file), hr).unwrap();
        let path = dir.path().join("coupa-sync.toml");
        std::fs::write(&path, config).unwrap();
        let config = Config::parse(config, &path, &env).unwrap();
        Setup { dir, config }
    }

    /// The base configuration with this CSV (header `HR_HEADER` unless the text has its own).
    pub fn csv(rows: &str) -> Setup {
        Setup::new(BASE, "hr.csv", format!("{HR_HEADER}\n{rows}").as_bytes())
    }

    pub fn hr_path(&self) -> PathBuf {
        self.config.hr.path.clone()
    }

    pub fn rewrite_hr(&self, text: &str) {
        std::fs::write(self.hr_path(), text).unwrap();
    }

    pub fn detect(&self, applied: &AppliedState, mode: Mode) -> Detection {
        self.try_detect(applied, mode).unwrap()
    }

    pub fn try_detect(
        &self,
        applied: &AppliedState,
        mode: Mode,
    ) -> Result<Detection, hr::FileError> {
        let mapping = Mapping::new(&self.config);
        let source = hr::open(&self.config.hr, mapping.columns())?;
        let options = DetectOptions {
            mode,
            missing: self.config.hr.missing,
        };
        detect(&mapping, mapping.read(source), applied, options)
    }

    /// Every valid person of the HR file, as the first run sees them.
    pub fn desired(&self) -> Vec<DesiredUser> {
        self.detect(&AppliedState::new(), Mode::Full)
            .changes
            .into_iter()
            .filter_map(|c| c.desired)
            .collect()
    }
}

/// The applied state after a successful run of everyone in `desired`.
pub fn applied(desired: &[DesiredUser]) -> AppliedState {
    desired
        .iter()
        .map(|d| (d.hr_key.clone(), engine::detect::AppliedPerson::of(d)))
        .collect()
}

/// A Coupa user as a lookup returns it.
pub fn coupa_user(id: i64, emp: &str, login: &str, email: &str, first: &str, last: &str) -> User {
    User {
        id: Some(id),
        employee_number: Some(emp.into()),
        login: Some(login.into()),
        email: Some(email.into()),
        firstname: Some(first.into()),
        lastname: Some(last.into()),
        active: Some(true),
        roles: Some(vec![Role::named("User")]),
        ..User::default()
    }
}

pub fn with_roles(mut user: User, roles: &[&str]) -> User {
    user.roles = Some(roles.iter().map(|r| Role::named(*r)).collect());
    user
}

pub fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}
