//! Coupa's records held by the sandbox: users and setup records, in memory, optionally kept in SQLite.
//!
//! Reads take a short read lock and never wait for I/O. Writes are serialised: a write is checked
//! against the current state, stored in SQLite (when there is a data folder) and only then applied
//! in memory, so an answer is sent after its row is stored and a rejected write changes nothing.
//!
//! The users loader writes through a [`Batch`] instead: its rows are checked and applied in memory
//! one by one (a row sees the rows before it), then stored in one SQLite transaction, and undone in
//! memory if that fails. The batch holds the writer lock throughout, so no other write ever builds
//! on a row not yet stored; readers may see a batch's rows up to one commit early.

use crate::persist::Db;
use crate::setup::{Setup, SetupRecord, common_currencies, standard_roles};
use crate::{SandboxConfig, SandboxError, changes};
use chrono::{DateTime, FixedOffset};
use coupa_wire::User;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::{PoisonError, RwLock, RwLockReadGuard};
use tokio::sync::MutexGuard;

/// A user as the sandbox keeps it: own attributes in `user`, associations by id so that they always
/// show the referenced record as it is now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredUser {
    pub user: User,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_currency: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content_groups: Vec<i64>,
}

impl StoredUser {
    pub fn id(&self) -> i64 {
        self.user.id.unwrap_or_default()
    }

    pub fn updated_at(&self) -> Option<DateTime<FixedOffset>> {
        self.user.updated_at
    }
}

/// The attributes no two users may share (compared case-insensitively, as Coupa's MySQL does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum UniqueKey {
    Login,
    Email,
    EmployeeNumber,
    MentionName,
}

impl UniqueKey {
    pub const ALL: [UniqueKey; 4] = [
        UniqueKey::Login,
        UniqueKey::Email,
        UniqueKey::EmployeeNumber,
        UniqueKey::MentionName,
    ];

    pub fn of(self, user: &User) -> Option<&str> {
        match self {
            UniqueKey::Login => user.login.as_deref(),
            UniqueKey::Email => user.email.as_deref(),
            UniqueKey::EmployeeNumber => user.employee_number.as_deref(),
            UniqueKey::MentionName => user.mention_name.as_deref(),
        }
        .filter(|v| !v.is_empty())
    }

    /// The element name (`employee-number`).
    pub fn element(self) -> &'static str {
        match self {
            UniqueKey::Login => "login",
            UniqueKey::Email => "email",
            UniqueKey::EmployeeNumber => "employee-number",
            UniqueKey::MentionName => "mention-name",
        }
    }

    pub fn from_element(name: &str) -> Option<UniqueKey> {
        UniqueKey::ALL.into_iter().find(|k| k.element() == name)
    }
}

/// How a text value is compared: case-insensitively.
pub(crate) fn fold_text(value: &str) -> String {
    value.to_lowercase()
}

/// Everything the sandbox holds, as readers see it.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Boxed: B-tree nodes are often half full, and the slack should cost pointers, not whole users
    /// (100,000 users: 267 MB unboxed, 175 MB boxed).
    pub users: BTreeMap<i64, Box<StoredUser>>,
    pub setup: Setup,
    /// One index per unique key: folded value → user id.
    index: HashMap<UniqueKey, HashMap<String, i64>>,
}

impl State {
    pub fn user(&self, id: i64) -> Option<&StoredUser> {
        self.users.get(&id).map(|u| &**u)
    }

    pub fn find_by(&self, key: UniqueKey, value: &str) -> Option<&StoredUser> {
        self.index
            .get(&key)
            .and_then(|m| m.get(&fold_text(value)))
            .and_then(|id| self.users.get(id))
            .map(|u| &**u)
    }

    pub fn next_user_id(&self) -> i64 {
        self.users.keys().next_back().copied().unwrap_or(0) + 1
    }

    /// Loads one saved user (from the database, at open).
    pub fn restore_user(&mut self, user: StoredUser) {
        self.put_user(user);
    }

    /// Loads one saved setup record (from the database, at open).
    pub fn restore_setup<T: SetupRecord>(&mut self, record: T) {
        self.put_setup(record);
    }

    /// Adds or replaces a user, keeping the indexes in step.
    fn put_user(&mut self, user: StoredUser) {
        let id = user.id();
        if let Some(old) = self.users.get(&id) {
            for key in UniqueKey::ALL {
                if let Some(v) = key.of(&old.user) {
                    let folded = fold_text(v);
                    let index = self.index.entry(key).or_default();
                    if index.get(&folded) == Some(&id) {
                        index.remove(&folded);
                    }
                }
            }
        }
        for key in UniqueKey::ALL {
            if let Some(v) = key.of(&user.user) {
                self.index.entry(key).or_default().insert(fold_text(v), id);
            }
        }
        self.users.insert(id, Box::new(user));
    }

    /// Puts back user `id` as it was before a change that was not stored: `None` removes a user
    /// that change created.
    fn restore_before(&mut self, id: i64, before: Option<StoredUser>) {
        match before {
            Some(user) => self.put_user(user),
            None => {
                if let Some(gone) = self.users.remove(&id) {
                    for key in UniqueKey::ALL {
                        if let Some(v) = key.of(&gone.user)
                            && let Some(index) = self.index.get_mut(&key)
                            && index.get(&fold_text(v)) == Some(&id)
                        {
                            index.remove(&fold_text(v));
                        }
                    }
                }
            }
        }
    }

    fn put_setup<T: SetupRecord>(&mut self, record: T) {
        T::table_mut(&mut self.setup).insert(record);
    }
}

/// Why a write was refused.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// No user has this id.
    NotFound,
    /// Coupa's validation messages, all of them.
    Invalid(Vec<String>),
    /// The change could not be stored.
    Storage(String),
}

/// The sandbox's Coupa: its state and, with a data folder, the database that keeps it.
#[derive(Debug)]
pub(crate) struct Coupa {
    state: RwLock<State>,
    /// Held for the whole of a write, so checks, storage and the in-memory change happen as one.
    writer: tokio::sync::Mutex<()>,
    db: Option<Db>,
}

impl Coupa {
    /// Loads saved state (with `data_dir`), adds the standard roles and currencies, then the reference
    /// file's records and users.
    pub async fn open(config: &SandboxConfig) -> Result<Coupa, SandboxError> {
        let mut state = State::default();
        let db = match &config.data_dir {
            Some(dir) => {
                let db = Db::open(dir).await?;
                db.load(&mut state).await?;
                Some(db)
            }
            None => None,
        };
        let coupa = Coupa {
            state: RwLock::new(state),
            writer: tokio::sync::Mutex::new(()),
            db,
        };
        for role in standard_roles() {
            coupa
                .ensure_setup(role)
                .await
                .map_err(|r| data_error(config, &r))?;
        }
        for currency in common_currencies() {
            coupa
                .ensure_setup(currency)
                .await
                .map_err(|r| data_error(config, &r))?;
        }
        coupa.change_state(|s| s.setup.reporting_currency = Some("USD".into()));
        if let Some(path) = &config.reference {
            crate::seed::load_reference_file(&coupa, path).await?;
        }
        Ok(coupa)
    }

    /// Flushes pending writes before the process ends.
    pub async fn close(&self) {
        let _guard = self.writer.lock().await;
        if let Some(db) = &self.db {
            db.close().await;
        }
    }

    /// The database that keeps the state, when there is a data folder.
    pub fn db(&self) -> Option<&Db> {
        self.db.as_ref()
    }

    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn change_state(&self, change: impl FnOnce(&mut State)) {
        change(&mut self.state.write().unwrap_or_else(PoisonError::into_inner));
    }

    /// Creates a user from a POST body.
    pub async fn create_user(&self, input: User) -> Result<StoredUser, Refusal> {
        let _guard = self.writer.lock().await;
        let created = self.check_create(input)?;
        self.store_user(created).await
    }

    /// Applies a PUT/PATCH body to user `id`. A body that changes nothing stores nothing.
    pub async fn update_user(&self, id: i64, input: User) -> Result<StoredUser, Refusal> {
        let _guard = self.writer.lock().await;
        match self.check_update(id, input, Lists::Merge)? {
            Checked::Changed(changed) => self.store_user(changed).await,
            Checked::Unchanged(current) => Ok(current),
        }
    }

    /// Starts a batch of users loader writes; it holds the writer lock until it is committed or
    /// dropped.
    pub async fn batch(&self) -> Batch<'_> {
        Batch {
            coupa: self,
            _guard: self.writer.lock().await,
            applied: Vec::new(),
        }
    }

    /// The user `input` creates, checked against the current state. Call with the writer lock held.
    fn check_create(&self, input: User) -> Result<StoredUser, Refusal> {
        changes::create(&self.read(), input, now()).map_err(Refusal::Invalid)
    }

    /// User `id` as `input` changes it, checked against the current state. Call with the writer
    /// lock held.
    fn check_update(&self, id: i64, input: User, lists: Lists) -> Result<Checked, Refusal> {
        let state = self.read();
        let current = state.user(id).ok_or(Refusal::NotFound)?;
        let mut start = Cow::Borrowed(current);
        if lists == Lists::Replace {
            // Merging into an emptied list is replacing it. An empty list sent clears the
            // user's by the API's own rule, so only a list with names empties it first.
            if input.roles.as_ref().is_some_and(|r| !r.is_empty()) {
                start.to_mut().roles.clear();
            }
            if input.content_groups.as_ref().is_some_and(|g| !g.is_empty()) {
                start.to_mut().content_groups.clear();
            }
        }
        Ok(
            match changes::update(&state, &start, input, now()).map_err(Refusal::Invalid)? {
                Some(changed) if lists == Lists::Merge => Checked::Changed(changed),
                // A list replaced by the same set is no change: compare apart from order and stamp.
                Some(changed) if !same_apart_from_stamp(changed.clone(), current) => {
                    Checked::Changed(changed)
                }
                _ => Checked::Unchanged(current.clone()),
            },
        )
    }

    async fn store_user(&self, user: StoredUser) -> Result<StoredUser, Refusal> {
        if let Some(db) = &self.db {
            db.save_user(&user).await.map_err(Refusal::Storage)?;
        }
        self.change_state(|s| s.put_user(user.clone()));
        Ok(user)
    }

    /// Adds a setup record (a department, a role…) after checking its key.
    pub async fn add_setup<T: SetupRecord>(&self, mut record: T) -> Result<T, Refusal> {
        let _guard = self.writer.lock().await;
        {
            let state = self.read();
            changes::check_setup(&state.setup, &record).map_err(Refusal::Invalid)?;
            record.set_id(T::table(&state.setup).next_id());
        }
        self.store_setup(record).await
    }

    /// Adds a setup record unless one with its key exists; returns false when it did.
    pub async fn ensure_setup<T: SetupRecord>(&self, record: T) -> Result<bool, Refusal> {
        let known = record
            .key()
            .is_some_and(|k| T::table(&self.read().setup).find(k).is_some());
        if known {
            return Ok(false);
        }
        self.add_setup(record).await.map(|_| true)
    }

    async fn store_setup<T: SetupRecord>(&self, record: T) -> Result<T, Refusal> {
        if let Some(db) = &self.db {
            db.save_setup(&record).await.map_err(Refusal::Storage)?;
        }
        self.change_state(|s| s.put_setup(record.clone()));
        Ok(record)
    }

    /// Sets the currency new users get when they name none.
    pub fn set_reporting_currency(&self, code: String) {
        self.change_state(|s| s.setup.reporting_currency = Some(code));
    }
}

/// Users loader writes applied in memory and not stored yet; see the module's introduction.
/// Dropped without [`Batch::commit`], it undoes them.
#[derive(Debug)]
pub(crate) struct Batch<'a> {
    coupa: &'a Coupa,
    _guard: MutexGuard<'a, ()>,
    /// Each user written, in order, with the user as it was before (`None`: the write created it).
    applied: Vec<(StoredUser, Option<StoredUser>)>,
}

impl Batch<'_> {
    /// The state with the batch's rows applied.
    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.coupa.read()
    }

    /// Creates a user from a users flat-file row, in memory until the commit.
    pub fn create_user(&mut self, input: User) -> Result<(), Refusal> {
        let created = self.coupa.check_create(input)?;
        self.apply(created, None);
        Ok(())
    }

    /// Applies a users flat-file row to user `id`, in memory until the commit: the rules of a PUT,
    /// except that the roles and content groups the row names replace the user's (Coupa's loader
    /// replaces; its API merges). Returns false when the row changes nothing (nothing to store).
    pub fn update_user_from_row(&mut self, id: i64, input: User) -> Result<bool, Refusal> {
        match self.coupa.check_update(id, input, Lists::Replace)? {
            Checked::Changed(changed) => {
                let before = self.read().user(id).cloned();
                self.apply(changed, before);
                Ok(true)
            }
            Checked::Unchanged(_) => Ok(false),
        }
    }

    fn apply(&mut self, user: StoredUser, before: Option<StoredUser>) {
        self.coupa.change_state(|s| s.put_user(user.clone()));
        self.applied.push((user, before));
    }

    /// Stores every user the batch wrote in one transaction. When that fails, nothing of the batch
    /// is stored and its writes are undone in memory, so memory and database still agree; the
    /// error says why the store failed.
    pub async fn commit(mut self) -> Result<(), String> {
        if let Some(db) = &self.coupa.db
            && !self.applied.is_empty()
        {
            let users: Vec<&StoredUser> = self.applied.iter().map(|(user, _)| user).collect();
            // On failure `self` drops here and undoes the writes.
            db.save_users(&users).await?;
        }
        self.applied.clear();
        Ok(())
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        if self.applied.is_empty() {
            return;
        }
        let applied = std::mem::take(&mut self.applied);
        // Last write first, so a user written twice gets back its state from before the batch.
        self.coupa.change_state(|s| {
            for (user, before) in applied.into_iter().rev() {
                s.restore_before(user.id(), before);
            }
        });
    }
}

/// An update checked against the current state.
enum Checked {
    Changed(StoredUser),
    /// The update changes nothing: the user as it is.
    Unchanged(StoredUser),
}

/// How an update treats the roles and content groups it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lists {
    Merge,
    Replace,
}

fn same_apart_from_stamp(mut changed: StoredUser, current: &StoredUser) -> bool {
    let same_set = |a: &[i64], b: &[i64]| a.len() == b.len() && a.iter().all(|id| b.contains(id));
    if same_set(&changed.roles, &current.roles) {
        changed.roles.clone_from(&current.roles);
    }
    if same_set(&changed.content_groups, &current.content_groups) {
        changed.content_groups.clone_from(&current.content_groups);
    }
    changed.user.updated_at = current.user.updated_at;
    changed == *current
}

fn data_error(config: &SandboxConfig, refusal: &Refusal) -> SandboxError {
    SandboxError::Data {
        path: config
            .data_dir
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "(memory)".into()),
        message: refusal.to_string(),
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotFound => f.write_str("no such record"),
            Refusal::Invalid(messages) => f.write_str(&messages.join("; ")),
            Refusal::Storage(message) => write!(f, "could not store the change: {message}"),
        }
    }
}

/// The current time at Coupa's precision (whole seconds).
pub(crate) fn now() -> DateTime<FixedOffset> {
    let now = chrono::Utc::now().fixed_offset();
    DateTime::from_timestamp(now.timestamp(), 0)
        .map(|d| d.fixed_offset())
        .unwrap_or(now)
}
