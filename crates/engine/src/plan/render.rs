//! The plan for people: one block per person with something to do, one line per field
//! (`lastname: "Doe" → "Smith"`), then the counts. People with nothing to do are only counted:
//! a reconciliation of 100,000 people must stay readable.

use super::{Action, FieldChange, PersonPlan, Plan, Summary};
use crate::detect::{ChangeKind, LeftReason};
use crate::fields::show;
use std::fmt;

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for person in &self.people {
            if !matches!(person.action, Action::Nothing { .. }) {
                write!(f, "{person}")?;
            }
        }
        writeln!(f, "{}", self.summary)?;
        if let Some(stop) = &self.safety {
            writeln!(f, "{stop}")?;
        }
        Ok(())
    }
}

impl fmt::Display for PersonPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = match self.row {
            Some(row) => format!("person {} (row {row})", self.hr_key),
            None => format!("person {}", self.hr_key),
        };
        let why = match &self.change {
            ChangeKind::New => "new in HR",
            ChangeKind::Changed { .. } => "changed in HR",
            ChangeKind::Left {
                reason: LeftReason::Terminated,
            } => "left: terminated in HR",
            ChangeKind::Left {
                reason: LeftReason::Missing,
            } => "left: gone from the HR extract",
            ChangeKind::Returned => "came back in HR",
            ChangeKind::Reconcile => "reconciled",
        };
        let changes = |f: &mut fmt::Formatter<'_>, changes: &[FieldChange]| {
            changes.iter().try_for_each(|c| {
                writeln!(f, "    {}: {} → {}", c.field, show(c.old.as_ref()), c.new)
            })
        };
        match &self.action {
            Action::Create { changes: c } => {
                writeln!(f, "create {who} [{why}]")?;
                changes(f, c)
            }
            Action::Update { id, changes: c } => {
                writeln!(f, "update Coupa user {id} for {who} [{why}]")?;
                changes(f, c)
            }
            Action::Reactivate { id, changes: c } => {
                writeln!(f, "reactivate Coupa user {id} for {who} [{why}]")?;
                changes(f, c)
            }
            Action::Deactivate { id } => {
                writeln!(f, "deactivate Coupa user {id} for {who} [{why}]")?;
                writeln!(f, "    active: true → false")
            }
            Action::Nothing { reason } => writeln!(f, "nothing for {who}: {reason}"),
            Action::Error { error } => writeln!(f, "ERROR for {who}: {error}"),
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} to create, {} to update, {} to reactivate, {} to deactivate, {} up to date, {} in error; {} API calls",
            self.create,
            self.update,
            self.reactivate,
            self.deactivate,
            self.nothing,
            self.errors,
            self.calls
        )
    }
}
