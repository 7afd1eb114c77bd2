//! Change detection: the desired users of this run's HR extract against the state last applied
//! successfully (`AppliedState`, which the store keeps). The result says who is new, who changed,
//! who left, who came back; everyone else is counted and left alone. With `Mode::Full` every valid
//! person is handed on for reconciliation with Coupa.

use crate::config::Missing;
use crate::fields::{Field, Value};
use crate::hr::{FileError, Problem, ReadError, RowError};
use crate::mapping::{DesiredUser, Mapping};
use serde::{Deserialize, Serialize};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

/// What was last applied successfully for one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedPerson {
    pub match_value: String,
    pub active: bool,
    pub fields: BTreeMap<Field, Value>,
    /// `fingerprint(match_value, active, fields)`: equal fingerprints mean nothing changed.
    pub fingerprint: u64,
}

impl AppliedPerson {
    pub fn of(desired: &DesiredUser) -> AppliedPerson {
        AppliedPerson {
            match_value: desired.match_value.clone(),
            active: desired.active,
            fields: desired.fields.clone(),
            fingerprint: fingerprint_of(desired),
        }
    }

    /// The same person, switched off (they left and were deactivated).
    pub fn deactivated(&self) -> AppliedPerson {
        AppliedPerson {
            active: false,
            fingerprint: fingerprint(&self.match_value, false, &self.fields),
            ..self.clone()
        }
    }
}

/// The last successfully applied state, by HR key. Plain serde data for the store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AppliedState {
    people: HashMap<String, AppliedPerson>,
}

impl AppliedState {
    pub fn new() -> AppliedState {
        AppliedState::default()
    }

    pub fn len(&self) -> usize {
        self.people.len()
    }

    pub fn is_empty(&self) -> bool {
        self.people.is_empty()
    }

    pub fn get(&self, hr_key: &str) -> Option<&AppliedPerson> {
        self.people.get(hr_key)
    }

    pub fn insert(&mut self, hr_key: String, person: AppliedPerson) {
        self.people.insert(hr_key, person);
    }

    pub fn remove(&mut self, hr_key: &str) -> Option<AppliedPerson> {
        self.people.remove(hr_key)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &AppliedPerson)> {
        self.people.iter()
    }
}

impl FromIterator<(String, AppliedPerson)> for AppliedState {
    fn from_iter<I: IntoIterator<Item = (String, AppliedPerson)>>(iter: I) -> AppliedState {
        AppliedState {
            people: iter.into_iter().collect(),
        }
    }
}

/// A stable 64-bit FNV-1a hash of what matters about a person. Stable across builds and
/// platforms (unlike `std`'s hasher), because the store keeps it between runs.
pub fn fingerprint(match_value: &str, active: bool, fields: &BTreeMap<Field, Value>) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(PRIME);
        }
    };
    // Separators that cannot occur in validated values (control characters) keep
    // ("ab", "c") and ("a", "bc") apart.
    eat(match_value.as_bytes());
    eat(if active { b"\x1eA" } else { b"\x1eI" });
    for (field, value) in fields {
        eat(b"\x1e");
        for part in field.name_parts() {
            eat(part.as_bytes());
        }
        eat(b"\x1f");
        match value {
            Value::Bool(b) => eat(if *b { b"b1" } else { b"b0" }),
            Value::Text(t) => {
                eat(b"t");
                eat(t.as_bytes());
            }
            Value::Set(names) => {
                eat(b"s");
                for n in names {
                    eat(n.as_bytes());
                    eat(b"\x1d");
                }
            }
        }
    }
    hash
}

fn fingerprint_of(d: &DesiredUser) -> u64 {
    fingerprint(&d.match_value, d.active, &d.fields)
}

/// `Delta` hands on only people whose HR data changed since the last successful run; `Full`
/// (`--full`) hands on every valid person so the plan compares each one with Coupa.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Delta,
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DetectOptions {
    pub mode: Mode,
    pub missing: Missing,
}

/// Why a person is handed on to the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ChangeKind {
    /// Not applied before.
    New,
    /// These fields differ from what was last applied.
    Changed {
        fields: Vec<Field>,
    },
    Left {
        reason: LeftReason,
    },
    /// Applied as inactive before, active in HR now.
    Returned,
    /// Unchanged since the last run, compared with Coupa anyway (`--full`).
    Reconcile,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LeftReason {
    /// The status column says so.
    Terminated,
    /// The person is no longer in the extract (`[hr] missing = "deactivate"`).
    Missing,
}

/// One person the plan must look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub hr_key: String,
    pub kind: ChangeKind,
    /// What to look the person up by in Coupa.
    pub match_value: String,
    /// The user HR wants; `None` when the person is gone from the extract.
    pub desired: Option<DesiredUser>,
    /// The match value last applied, if the person was applied before.
    pub previous_match_value: Option<String>,
}

/// The outcome of change detection.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Detection {
    pub changes: Vec<Change>,
    /// Valid people with nothing to do.
    pub unchanged: usize,
    /// Rows that failed validation: nothing is sent to Coupa for them.
    pub errors: Vec<RowError>,
    /// Distinct people in the extract, valid or not.
    pub people_in_extract: usize,
    /// People in the applied state before this run.
    pub previously_applied: usize,
    /// False when rows without a readable HR key made it unsafe to treat absent people as gone.
    pub absence_checked: bool,
}

impl Detection {
    /// How many people the safety thresholds are measured against.
    pub fn population(&self) -> usize {
        self.people_in_extract.max(self.previously_applied)
    }
}

enum Slot {
    Change(usize),
    Unchanged,
    Failed,
    Duplicate,
}

struct Seen {
    row: usize,
    slot: Slot,
}

/// Classifies every row of the extract. A file-level error stops detection; row errors are
/// collected and the other rows go through.
pub fn detect(
    mapping: &Mapping,
    rows: impl IntoIterator<Item = Result<DesiredUser, ReadError>>,
    applied: &AppliedState,
    options: DetectOptions,
) -> Result<Detection, FileError> {
    let mut changes: Vec<Option<Change>> = Vec::new();
    let mut seen: HashMap<String, Seen> = HashMap::new();
    let mut out = Detection {
        previously_applied: applied.len(),
        ..Detection::default()
    };
    let mut unattributed = 0usize;

    for row in rows {
        let (key, row_no, outcome) = match row {
            Err(ReadError::File(e)) => return Err(e),
            Err(ReadError::Row(e)) => match e.key.clone() {
                Some(key) => (key, e.row, Err(e)),
                None => {
                    unattributed += 1;
                    out.errors.push(e);
                    continue;
                }
            },
            Ok(d) => (d.hr_key.clone(), d.row, Ok(d)),
        };
        match seen.entry(key) {
            Entry::Occupied(mut first) => {
                let key = first.key().clone();
                let first = first.get_mut();
                let duplicate = |row: usize, other: usize| RowError {
                    file: mapping.hr_file().to_path_buf(),
                    row,
                    key: Some(key.clone()),
                    problems: vec![Problem::in_column(
                        mapping.key_column(),
                        format!(
                            "the HR key {key} also appears on row {other}; every row with this key is rejected"
                        ),
                    )],
                };
                match std::mem::replace(&mut first.slot, Slot::Duplicate) {
                    Slot::Change(i) => {
                        changes[i] = None;
                        out.errors.push(duplicate(first.row, row_no));
                    }
                    Slot::Unchanged => {
                        out.unchanged -= 1;
                        out.errors.push(duplicate(first.row, row_no));
                    }
                    Slot::Failed | Slot::Duplicate => {}
                }
                if let Err(e) = outcome {
                    out.errors.push(e);
                }
                out.errors.push(duplicate(row_no, first.row));
            }
            Entry::Vacant(slot) => {
                let kept = match outcome {
                    Err(e) => {
                        out.errors.push(e);
                        Slot::Failed
                    }
                    Ok(desired) => {
                        match classify(desired, applied, mapping.match_field(), options.mode) {
                            Some(change) => {
                                changes.push(Some(change));
                                Slot::Change(changes.len() - 1)
                            }
                            None => {
                                out.unchanged += 1;
                                Slot::Unchanged
                            }
                        }
                    }
                };
                slot.insert(Seen {
                    row: row_no,
                    slot: kept,
                });
            }
        }
    }

    out.people_in_extract = seen.len() + unattributed;
    out.changes = changes.into_iter().flatten().collect();
    out.absence_checked = unattributed == 0;
    if options.missing == Missing::Deactivate && out.absence_checked {
        let mut gone: Vec<Change> = applied
            .iter()
            .filter(|(key, person)| person.active && !seen.contains_key(*key))
            .map(|(key, person)| Change {
                hr_key: key.clone(),
                kind: ChangeKind::Left {
                    reason: LeftReason::Missing,
                },
                match_value: person.match_value.clone(),
                desired: None,
                previous_match_value: Some(person.match_value.clone()),
            })
            .collect();
        gone.sort_by(|a, b| a.hr_key.cmp(&b.hr_key));
        out.changes.extend(gone);
    }
    out.errors.sort_by_key(|e| e.row);
    Ok(out)
}

/// What happened to one valid person since the last run; `None` when nothing did (delta mode).
fn classify(
    desired: DesiredUser,
    applied: &AppliedState,
    match_field: &Field,
    mode: Mode,
) -> Option<Change> {
    let previous = applied.get(&desired.hr_key);
    let kind = match previous {
        None => ChangeKind::New,
        Some(p) if p.fingerprint == fingerprint_of(&desired) => ChangeKind::Reconcile,
        Some(p) => match (p.active, desired.active) {
            (false, true) => ChangeKind::Returned,
            (true, false) => ChangeKind::Left {
                reason: LeftReason::Terminated,
            },
            // Still gone: changes to a leaver's data are not pushed to Coupa.
            (false, false) => ChangeKind::Reconcile,
            (true, true) => ChangeKind::Changed {
                fields: changed_fields(p, &desired, match_field),
            },
        },
    };
    if kind == ChangeKind::Reconcile && mode == Mode::Delta {
        return None;
    }
    Some(Change {
        hr_key: desired.hr_key.clone(),
        kind,
        match_value: desired.match_value.clone(),
        previous_match_value: previous.map(|p| p.match_value.clone()),
        desired: Some(desired),
    })
}

fn changed_fields(
    previous: &AppliedPerson,
    desired: &DesiredUser,
    match_field: &Field,
) -> Vec<Field> {
    let mut fields: Vec<Field> = previous
        .fields
        .keys()
        .chain(desired.fields.keys())
        .filter(|f| previous.fields.get(*f) != desired.fields.get(*f))
        .cloned()
        .collect();
    if previous.match_value != desired.match_value {
        fields.push(match_field.clone());
    }
    fields.sort();
    fields.dedup();
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_tell_apart_what_differs() {
        let mut fields = BTreeMap::new();
        fields.insert(Field::LOGIN, Value::Text("ab".into()));
        let base = fingerprint("E1", true, &fields);
        assert_eq!(base, fingerprint("E1", true, &fields.clone()));
        assert_ne!(base, fingerprint("E1", false, &fields));
        assert_ne!(base, fingerprint("E2", true, &fields));
        let mut other = fields.clone();
        other.insert(Field::LOGIN, Value::Text("abc".into()));
        assert_ne!(base, fingerprint("E1", true, &other));
        // Pinned to FNV-1a of "\x1eA" (computed independently): the store keeps fingerprints from
        // one release to the next, so the function must not drift.
        assert_eq!(
            fingerprint("", true, &BTreeMap::new()),
            0x087d_0b07_b52a_8700
        );
    }
}
