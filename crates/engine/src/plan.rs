//! The plan: for every person change detection handed on, what to do in Coupa, decided by
//! comparing the desired user with the Coupa user found for them, field by field. Create (playbook
//! 1.1), update only what differs (1.2, 1.3), deactivate with `active=false` (1.4), reactivate
//! (1.5), add roles in a PUT (1.6), remove roles by clearing then setting the roles to keep (1.7),
//! or nothing. Anything that would need a guess (two Coupa users for one person, a key another
//! user holds, a match key that moved) is an error for that person, and a safety threshold stops
//! the whole run before it changes or deactivates too many users.

mod keys;
mod lookup;
mod render;

pub use lookup::{LOOKUP_BATCH, Lookup, key_lookups, match_lookup};

use keys::Index;

use crate::config::{Config, EmptyValues};
use crate::detect::{AppliedPerson, AppliedState, Change, ChangeKind};
use crate::fields::{Field, Standard, Value};
use crate::mapping::{DesiredUser, Mapping};
use coupa_wire::User;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What the plan needs from the configuration.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub match_field: Field,
    /// For roles and content groups: the names the connector owns, the only ones it removes.
    pub managed: BTreeMap<Field, BTreeSet<String>>,
    pub empty_values: EmptyValues,
    pub max_change_share: f64,
    pub max_deactivate_share: f64,
    pub safety_floor: usize,
    /// Creates ask Coupa to e-mail the new user a password invitation.
    pub invite_new_users: bool,
}

impl PlanOptions {
    pub fn new(config: &Config, mapping: &Mapping) -> PlanOptions {
        PlanOptions {
            match_field: mapping.match_field().clone(),
            managed: mapping.managed_sets(),
            empty_values: config.sync.empty_values,
            max_change_share: config.sync.max_change_share,
            max_deactivate_share: config.sync.max_deactivate_share,
            safety_floor: config.sync.safety_floor,
            invite_new_users: config.sync.invite_new_users,
        }
    }
}

/// One field to change: Coupa's value now, and the value to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FieldChange {
    pub field: Field,
    pub old: Option<Value>,
    pub new: Value,
}

impl FieldChange {
    /// For roles and content groups: whether names are taken away, which Coupa only does by
    /// clearing the list and setting it again (playbook 1.7).
    pub fn removes_names(&self) -> bool {
        match (&self.old, &self.new) {
            (Some(Value::Set(old)), Value::Set(new)) => !old.is_subset(new),
            _ => false,
        }
    }
}

/// What to do for one person.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// POST a new user with these fields (1.1).
    Create {
        changes: Vec<FieldChange>,
    },
    /// PUT only the fields that differ (1.2, 1.3, 1.6, 1.7).
    Update {
        id: i64,
        changes: Vec<FieldChange>,
    },
    /// PUT `active=true`, with any other fields that differ (1.5).
    Reactivate {
        id: i64,
        changes: Vec<FieldChange>,
    },
    /// PUT `active=false` (1.4).
    Deactivate {
        id: i64,
    },
    Nothing {
        reason: String,
    },
    Error {
        error: PlanError,
    },
}

/// Why nothing is done for a person, rather than a guess.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "kebab-case")]
pub enum PlanError {
    #[error("{} Coupa users have {field} {value:?} (ids {}); fix the duplicate in Coupa", ids.len(), join(ids))]
    Ambiguous {
        field: Field,
        value: String,
        ids: Vec<i64>,
    },
    #[error("{field} {value:?} already belongs to Coupa user {id}{}; Coupa would refuse it as taken. Check whether that user is this person under another {match_field}", login.as_ref().map(|l| format!(" (login {l})")).unwrap_or_default())]
    KeyTaken {
        field: Field,
        value: String,
        id: i64,
        login: Option<String>,
        match_field: Field,
    },
    #[error("{field} {value:?} is also wanted for HR person {}; each person needs their own", others.join(", "))]
    ClaimedTwice {
        field: Field,
        value: String,
        others: Vec<String>,
    },
    #[error(
        "{field} changed in HR from {old:?} to {new:?} and no Coupa user has {new:?}; change it in Coupa first, or match on a key that does not change (creating a second user would be a guess)"
    )]
    MatchKeyChanged {
        field: Field,
        old: String,
        new: String,
    },
    #[error(
        "{field} would change from {old:?} to {new:?} on a user matched by login; Coupa's user import refuses that (it takes the row for a new user): change it in Coupa by hand, or match by employee-number"
    )]
    ForbiddenKeyChange {
        field: Field,
        old: String,
        new: String,
    },
    #[error("cannot create the user: HR gives no {}; Coupa requires login, email, firstname and lastname", fields.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    MissingRequired { fields: Vec<Field> },
}

fn join(ids: &[i64]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The plan for one person.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonPlan {
    pub hr_key: String,
    /// The HR row, when the person is in the extract.
    pub row: Option<usize>,
    pub change: ChangeKind,
    pub match_value: String,
    pub action: Action,
    #[serde(skip)]
    desired: Option<DesiredUser>,
}

impl PersonPlan {
    pub fn desired(&self) -> Option<&DesiredUser> {
        self.desired.as_ref()
    }

    /// The Coupa user acted on, when there is one already.
    pub fn coupa_id(&self) -> Option<i64> {
        match self.action {
            Action::Update { id, .. }
            | Action::Reactivate { id, .. }
            | Action::Deactivate { id } => Some(id),
            _ => None,
        }
    }

    /// What to remember as applied for this person once every call for them succeeded (or there
    /// was nothing to do), given what was remembered before. `None` for a person in error, so the
    /// next run tries again.
    pub fn applied_after(&self, previous: Option<&AppliedPerson>) -> Option<AppliedPerson> {
        if matches!(self.action, Action::Error { .. }) {
            return None;
        }
        match &self.desired {
            Some(desired) => Some(AppliedPerson::of(desired)),
            // Gone from the extract: remembered as deactivated, so a return is seen as one.
            None => previous.map(AppliedPerson::deactivated),
        }
    }

    /// `applied_after`, kept in an in-memory state.
    pub fn record_in(&self, state: &mut AppliedState) {
        if let Some(applied) = self.applied_after(state.get(&self.hr_key)) {
            state.insert(self.hr_key.clone(), applied);
        }
    }
}

/// The run stops before doing this much, unless forced.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error(
    "safety stop: this run would {what} {count} of {population} users, more than [sync].{key} = {share} allows; check the HR extract, then run again with --force if this is intended"
)]
pub struct SafetyStop {
    pub what: &'static str,
    pub key: &'static str,
    pub count: usize,
    pub population: usize,
    pub share: f64,
}

/// Counts of a plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub reactivate: usize,
    pub deactivate: usize,
    pub nothing: usize,
    pub errors: usize,
    /// API calls the plan makes.
    pub calls: usize,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub people: Vec<PersonPlan>,
    /// How many people the safety thresholds were measured against.
    pub population: usize,
    pub summary: Summary,
    /// Set when the plan exceeds a safety threshold.
    pub safety: Option<SafetyStop>,
    /// Creates carry `generate-password-and-notify` (`[sync].invite_new_users`).
    pub invite_new_users: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Post,
    Put,
}

/// Why a call is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    Create,
    Update,
    Reactivate,
    Deactivate,
    ClearRoles,
    SetRoles,
    ClearContentGroups,
    SetContentGroups,
}

/// One API call: `POST /api/users` or `PUT /api/users/{id}` with a partial user.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Call {
    /// Index of the person in `Plan::people`.
    pub person: usize,
    pub hr_key: String,
    pub step: Step,
    pub method: Method,
    pub user_id: Option<i64>,
    pub body: User,
}

impl Call {
    pub fn path(&self) -> String {
        match self.user_id {
            Some(id) => format!("/api/users/{id}"),
            None => "/api/users".into(),
        }
    }
}

impl Plan {
    /// Err when the plan exceeds a safety threshold and `force` is not given.
    pub fn ensure_safe(&self, force: bool) -> Result<(), SafetyStop> {
        match &self.safety {
            Some(stop) if !force => Err(stop.clone()),
            _ => Ok(()),
        }
    }

    /// The concrete API calls, in order; a person's calls must run in this order.
    pub fn calls(&self) -> Vec<Call> {
        let mut calls = Vec::new();
        for (person, plan) in self.people.iter().enumerate() {
            calls.extend(person_calls(person, plan, self.invite_new_users));
        }
        calls
    }

    /// How many calls `calls` makes, without holding them all at once (100,000 bodies are
    /// 100 MB).
    fn call_count(&self) -> usize {
        (self.people.iter().enumerate())
            .map(|(person, plan)| person_calls(person, plan, self.invite_new_users).len())
            .sum()
    }
}

/// One person's calls, in the order they must run.
fn person_calls(person: usize, plan: &PersonPlan, invite: bool) -> Vec<Call> {
    let mut calls = Vec::new();
    let call = |step, method, user_id, body| Call {
        person,
        hr_key: plan.hr_key.clone(),
        step,
        method,
        user_id,
        body,
    };
    match &plan.action {
        Action::Create { changes } => {
            let mut body = User {
                active: Some(true),
                generate_password_and_notify: invite.then_some(true),
                ..User::default()
            };
            for c in changes {
                c.field.write(&mut body, &c.new);
            }
            calls.push(call(Step::Create, Method::Post, None, body));
        }
        Action::Update { id, changes } | Action::Reactivate { id, changes } => {
            let step = match plan.action {
                Action::Reactivate { .. } => Step::Reactivate,
                _ => Step::Update,
            };
            let mut body = User::default();
            let mut first = false;
            for c in changes.iter().filter(|c| !c.removes_names()) {
                c.field.write(&mut body, &c.new);
                first = true;
            }
            if first {
                calls.push(call(step, Method::Put, Some(*id), body));
            }
            for c in changes.iter().filter(|c| c.removes_names()) {
                let (clear, set) = match c.field {
                    Field::ContentGroups => (Step::ClearContentGroups, Step::SetContentGroups),
                    _ => (Step::ClearRoles, Step::SetRoles),
                };
                let mut empty = User::default();
                c.field.write(&mut empty, &Value::Set(BTreeSet::new()));
                calls.push(call(clear, Method::Put, Some(*id), empty));
                if c.new.as_set().is_some_and(|s| !s.is_empty()) {
                    let mut keep = User::default();
                    c.field.write(&mut keep, &c.new);
                    calls.push(call(set, Method::Put, Some(*id), keep));
                }
            }
        }
        Action::Deactivate { id } => {
            let body = User {
                active: Some(false),
                ..User::default()
            };
            calls.push(call(Step::Deactivate, Method::Put, Some(*id), body));
        }
        Action::Nothing { .. } | Action::Error { .. } => {}
    }
    calls
}

/// Plans every change against the Coupa users found by the lookups (both rounds, in any order).
/// `population` is what the safety thresholds are measured against (`Detection::population`).
pub fn build(
    changes: Vec<Change>,
    population: usize,
    coupa: &[User],
    options: &PlanOptions,
) -> Plan {
    let index = Index::new(coupa, &options.match_field);
    let mut people: Vec<PersonPlan> = changes
        .into_iter()
        .map(|change| {
            let action =
                decide(&change, &index, options).unwrap_or_else(|error| Action::Error { error });
            PersonPlan {
                row: change.desired.as_ref().map(|d| d.row),
                hr_key: change.hr_key,
                change: change.kind,
                match_value: change.match_value,
                action,
                desired: change.desired,
            }
        })
        .collect();
    refuse_double_claims(&mut people);
    let summary = summarize(&people);
    let mut plan = Plan {
        people,
        population,
        summary,
        safety: None,
        invite_new_users: options.invite_new_users,
    };
    plan.safety = safety(&plan, options);
    plan.summary.calls = plan.call_count();
    plan
}

fn decide(change: &Change, index: &Index<'_>, options: &PlanOptions) -> Result<Action, PlanError> {
    let field = &options.match_field;
    let found = index.find(field, &change.match_value);
    if found.len() > 1 {
        return Err(PlanError::Ambiguous {
            field: field.clone(),
            value: change.match_value.clone(),
            ids: found.iter().filter_map(|u| u.id).collect(),
        });
    }
    let current = found.first().copied();
    if current.is_none()
        && let Some(previous) = &change.previous_match_value
        && Field::key_form(previous) != Field::key_form(&change.match_value)
    {
        return Err(PlanError::MatchKeyChanged {
            field: field.clone(),
            old: previous.clone(),
            new: change.match_value.clone(),
        });
    }
    let desired = change.desired.as_ref().filter(|d| d.active);
    let Some(user) = current else {
        return match desired {
            Some(desired) => create(desired, index, options),
            None => Ok(Action::Nothing {
                reason: "left HR and not in Coupa".into(),
            }),
        };
    };
    // The index holds only users with an id.
    let id = user.id.unwrap_or_default();
    let Some(desired) = desired else {
        return Ok(if user.active == Some(false) {
            Action::Nothing {
                reason: "already inactive in Coupa".into(),
            }
        } else {
            Action::Deactivate { id }
        });
    };
    let mut changes = Vec::new();
    for (field, value) in &desired.fields {
        if let Some(c) = compare(field, value, user, options) {
            changes.push(c);
        }
    }
    for c in &changes {
        check_key(c, user, index, options)?;
    }
    if user.active == Some(false) {
        changes.insert(
            0,
            FieldChange {
                field: Field::ACTIVE,
                old: Some(Value::Bool(false)),
                new: Value::Bool(true),
            },
        );
        return Ok(Action::Reactivate { id, changes });
    }
    Ok(if changes.is_empty() {
        Action::Nothing {
            reason: "Coupa is up to date".into(),
        }
    } else {
        Action::Update { id, changes }
    })
}

fn create(
    desired: &DesiredUser,
    index: &Index<'_>,
    options: &PlanOptions,
) -> Result<Action, PlanError> {
    let required = [Field::LOGIN, Field::EMAIL]
        .into_iter()
        .chain([Standard::Firstname, Standard::Lastname].map(Field::Standard));
    let missing: Vec<Field> = required
        .filter(|f| {
            desired
                .fields
                .get(f)
                .and_then(Value::as_text)
                .is_none_or(str::is_empty)
        })
        .collect();
    if !missing.is_empty() {
        return Err(PlanError::MissingRequired { fields: missing });
    }
    let changes: Vec<FieldChange> = desired
        .fields
        .iter()
        .filter(|(_, v)| !is_empty(v))
        .map(|(field, value)| FieldChange {
            field: field.clone(),
            old: None,
            new: value.clone(),
        })
        .collect();
    for c in &changes {
        if c.field.is_unique()
            && let Some(value) = c.new.as_text()
            && let Some(holder) = index.find(&c.field, value).first()
        {
            return Err(taken(c, holder, options));
        }
    }
    Ok(Action::Create { changes })
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Text(t) => t.is_empty(),
        Value::Set(s) => s.is_empty(),
        Value::Bool(_) => false,
    }
}

/// The change one field needs, if any.
fn compare(
    field: &Field,
    desired: &Value,
    user: &User,
    options: &PlanOptions,
) -> Option<FieldChange> {
    let current = field.read(user);
    if let Value::Set(wanted) = desired {
        let have = current
            .as_ref()
            .and_then(Value::as_set)
            .cloned()
            .unwrap_or_default();
        let managed = options.managed.get(field).cloned().unwrap_or_default();
        // Names the connector does not manage stay; managed names follow HR.
        let new: BTreeSet<String> = have
            .iter()
            .filter(|n| !managed.contains(*n))
            .chain(wanted)
            .cloned()
            .collect();
        return (new != have).then(|| FieldChange {
            field: field.clone(),
            old: current,
            new: Value::Set(new),
        });
    }
    if is_empty(desired) && options.empty_values == EmptyValues::Keep {
        return None;
    }
    (!field.same(Some(desired), current.as_ref())).then(|| FieldChange {
        field: field.clone(),
        old: current,
        new: desired.clone(),
    })
}

/// A change to a unique key must not collide with another user, nor be one Coupa refuses.
fn check_key(
    c: &FieldChange,
    user: &User,
    index: &Index<'_>,
    options: &PlanOptions,
) -> Result<(), PlanError> {
    if !c.field.is_unique() {
        return Ok(());
    }
    let new = c.new.as_text().unwrap_or_default();
    if options.match_field == Field::LOGIN
        && c.field == Field::EMPLOYEE_NUMBER
        && let Some(old) = c.old.as_ref().and_then(Value::as_text)
    {
        return Err(PlanError::ForbiddenKeyChange {
            field: c.field.clone(),
            old: old.to_string(),
            new: new.to_string(),
        });
    }
    match index
        .find(&c.field, new)
        .iter()
        .find(|other| other.id != user.id)
    {
        Some(holder) if !new.is_empty() => Err(taken(c, holder, options)),
        _ => Ok(()),
    }
}

fn taken(c: &FieldChange, holder: &User, options: &PlanOptions) -> PlanError {
    PlanError::KeyTaken {
        field: c.field.clone(),
        value: c.new.to_plain(),
        id: holder.id.unwrap_or_default(),
        login: holder.login.clone(),
        match_field: options.match_field.clone(),
    }
}

/// Two people of this plan writing the same login, e-mail or employee number: both are refused.
fn refuse_double_claims(people: &mut [PersonPlan]) {
    let claims = people.iter().enumerate().flat_map(|(i, p)| {
        let changes = match &p.action {
            Action::Create { changes }
            | Action::Update { changes, .. }
            | Action::Reactivate { changes, .. } => changes.as_slice(),
            _ => &[],
        };
        changes
            .iter()
            .filter(|c| c.field.is_unique())
            .filter_map(move |c| {
                let value = c.new.as_text().filter(|v| !v.is_empty())?;
                Some((i, &c.field, value))
            })
    });
    for ((field, _), who) in keys::shared_claims(claims) {
        for &i in &who {
            if matches!(people[i].action, Action::Error { .. }) {
                continue;
            }
            let value = match &people[i].action {
                Action::Create { changes }
                | Action::Update { changes, .. }
                | Action::Reactivate { changes, .. } => changes
                    .iter()
                    .find(|c| c.field == field)
                    .map(|c| c.new.to_plain())
                    .unwrap_or_default(),
                _ => String::new(),
            };
            let others = who
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| people[j].hr_key.clone())
                .collect();
            people[i].action = Action::Error {
                error: PlanError::ClaimedTwice {
                    field: field.clone(),
                    value,
                    others,
                },
            };
        }
    }
}

fn summarize(people: &[PersonPlan]) -> Summary {
    let mut s = Summary::default();
    for p in people {
        match p.action {
            Action::Create { .. } => s.create += 1,
            Action::Update { .. } => s.update += 1,
            Action::Reactivate { .. } => s.reactivate += 1,
            Action::Deactivate { .. } => s.deactivate += 1,
            Action::Nothing { .. } => s.nothing += 1,
            Action::Error { .. } => s.errors += 1,
        }
    }
    s
}

fn safety(plan: &Plan, options: &PlanOptions) -> Option<SafetyStop> {
    let s = &plan.summary;
    let checks = [
        (
            "deactivate",
            "max_deactivate_share",
            s.deactivate,
            options.max_deactivate_share,
        ),
        (
            "change",
            "max_change_share",
            s.update + s.reactivate + s.deactivate,
            options.max_change_share,
        ),
    ];
    checks.into_iter().find_map(|(what, key, count, share)| {
        let allowed = share * plan.population as f64;
        (count > options.safety_floor && count as f64 > allowed).then_some(SafetyStop {
            what,
            key,
            count,
            population: plan.population,
            share,
        })
    })
}
