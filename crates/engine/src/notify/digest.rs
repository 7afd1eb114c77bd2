//! A run's digest: every problem of the run, each naming the person (HR key, login), the field, the
//! value sent and Coupa's message, rendered as one plain-text message per recipient group.

use crate::store::{ChangeRecord, FieldVerdict, Outcome, RunRecord, RunStatus, Verdict};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// Who a problem is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProblemKind {
    /// Coupa refused or ignored a value, or a person could not be matched: the data needs fixing.
    Data,
    /// Timeouts, server errors, a run that could not start or finish: coupa-sync needs attention.
    Technical,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    /// `None` for a problem of the run as a whole.
    pub hr_key: Option<String>,
    pub login: Option<String>,
    pub field: Option<String>,
    pub value_sent: Option<String>,
    /// Coupa's message, or the words of coupa-sync when Coupa said nothing (an ignored field, a
    /// timeout, a safety stop).
    pub coupa_message: String,
}

impl Problem {
    /// A problem of the run as a whole: a safety stop, an unreadable HR file, Coupa unreachable.
    pub fn run_level(kind: ProblemKind, message: impl Into<String>) -> Problem {
        Problem {
            kind,
            hr_key: None,
            login: None,
            field: None,
            value_sent: None,
            coupa_message: message.into(),
        }
    }

    /// One line naming everything known about the problem.
    pub(super) fn line(&self) -> String {
        let mut who = match &self.hr_key {
            Some(key) => format!("HR key {key}"),
            None => "The run".to_string(),
        };
        if let Some(login) = &self.login {
            let _ = write!(who, ", login {login}");
        }
        match (&self.field, &self.value_sent) {
            (Some(field), Some(value)) => {
                let _ = write!(who, ": {field}, sent {value:?}");
            }
            (Some(field), None) => {
                let _ = write!(who, ": {field}, sent nothing");
            }
            _ => {}
        }
        format!("{who}: {}", self.coupa_message)
    }
}

/// Everything that went wrong in one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Digest {
    pub run: RunRecord,
    pub problems: Vec<Problem>,
}

impl Digest {
    /// The problems of a run's changes (all of them, or only those with problems: others add none),
    /// after the run-level ones.
    pub fn new(run: &RunRecord, changes: &[ChangeRecord], run_problems: Vec<Problem>) -> Digest {
        let mut problems = run_problems;
        for change in changes {
            problems.extend(problems_of(change));
        }
        Digest {
            run: run.clone(),
            problems,
        }
    }

    /// No problems: nothing to send.
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// The same digest with only the problems of these kinds.
    pub fn only(&self, kinds: &[ProblemKind]) -> Digest {
        Digest {
            run: self.run.clone(),
            problems: self
                .problems
                .iter()
                .filter(|p| kinds.contains(&p.kind))
                .cloned()
                .collect(),
        }
    }

    /// E.g. `coupa-sync run 42: 3 people with errors`, `coupa-sync run 43: run stopped`.
    pub fn subject(&self) -> String {
        let people: BTreeSet<&str> = self
            .problems
            .iter()
            .filter_map(|p| p.hr_key.as_deref())
            .collect();
        let mut parts = Vec::new();
        match people.len() {
            0 => {}
            1 => parts.push("1 person with errors".to_string()),
            n => parts.push(format!("{n} people with errors")),
        }
        if self.problems.iter().any(|p| p.hr_key.is_none()) {
            parts.push(match self.run.status {
                RunStatus::Stopped => "run stopped".to_string(),
                RunStatus::Failed => "run failed".to_string(),
                _ => "run problem".to_string(),
            });
        }
        format!("coupa-sync run {}: {}", self.run.id, parts.join(", "))
    }

    /// The run's summary, then its problems by kind, every one of them.
    pub fn text(&self) -> String {
        let mut out = self.summary();
        for kind in [ProblemKind::Data, ProblemKind::Technical] {
            let lines: Vec<String> = self
                .problems
                .iter()
                .filter(|p| p.kind == kind)
                .map(Problem::line)
                .collect();
            if lines.is_empty() {
                continue;
            }
            let _ = writeln!(out, "\n{} ({}):", heading(kind), lines.len());
            for (i, line) in lines.iter().enumerate() {
                let _ = writeln!(out, "{}. {line}", i + 1);
            }
        }
        let _ = writeln!(
            out,
            "\nDetails: coupa-sync log --run {} --errors",
            self.run.id
        );
        out
    }

    /// The first lines of `text`: which run, how it ended, its counts.
    pub(super) fn summary(&self) -> String {
        let run = &self.run;
        let c = &run.counts;
        let mode = match run.mode {
            crate::store::RunMode::Api => "API",
            crate::store::RunMode::Csv => "CSV",
        };
        let dry = if run.dry_run { " dry run" } else { "" };
        let status = match run.status {
            RunStatus::Running => "has not finished",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Stopped => "stopped",
        };
        let mut out = format!(
            "coupa-sync run {} ({mode}{dry}, started {}) {status}.\n",
            run.id,
            run.started_at.format("%Y-%m-%d %H:%M:%S UTC")
        );
        let _ = writeln!(
            out,
            "{} people: {} created, {} updated, {} deactivated, {} reactivated, {} unchanged, {} failed.",
            c.people, c.created, c.updated, c.deactivated, c.reactivated, c.unchanged, c.failed
        );
        if let Some(note) = &run.note {
            let _ = writeln!(out, "Note: {note}");
        }
        out
    }
}

pub(super) fn heading(kind: ProblemKind) -> &'static str {
    match kind {
        ProblemKind::Data => "Data errors, to fix in HR or in Coupa",
        ProblemKind::Technical => "Technical errors, for whoever runs coupa-sync",
    }
}

/// A change's problems: refused and ignored fields, Coupa's other messages (tied to the field they
/// name when they name one), and a technical failure.
fn problems_of(change: &ChangeRecord) -> Vec<Problem> {
    let problem = |kind, field: Option<&FieldVerdict>, message: String| Problem {
        kind,
        hr_key: Some(change.hr_key.clone()),
        login: change.login.clone(),
        field: field.map(|f| f.field.clone()),
        value_sent: field.and_then(|f| f.new.clone()),
        coupa_message: message,
    };
    let mut problems = Vec::new();
    // Coupa's messages already shown beside the field they concern.
    let mut told: Vec<&String> = Vec::new();
    for f in &change.fields {
        match f.verdict {
            Verdict::Failed => {
                let message = f
                    .message
                    .as_ref()
                    .or_else(|| change.errors.iter().find(|e| names_field(e, &f.field)));
                told.extend(message);
                let message = message
                    .cloned()
                    .unwrap_or_else(|| "refused by Coupa, without a message".into());
                problems.push(problem(ProblemKind::Data, Some(f), message));
            }
            Verdict::Ignored => {
                let mut message = match &f.kept {
                    Some(kept) => format!("Coupa accepted the update but kept {kept:?}"),
                    None => "Coupa accepted the update but kept another value".to_string(),
                };
                if let Some(m) = &f.message {
                    let _ = write!(message, " ({m})");
                }
                problems.push(problem(ProblemKind::Data, Some(f), message));
            }
            Verdict::Applied | Verdict::Pending => {}
        }
    }
    for error in change.errors.iter().filter(|e| !told.contains(e)) {
        let field = change.fields.iter().find(|f| names_field(error, &f.field));
        problems.push(problem(ProblemKind::Data, field, error.clone()));
    }
    if let Some(technical) = &change.technical_error {
        problems.push(problem(ProblemKind::Technical, None, technical.clone()));
    }
    if problems.is_empty() && change.outcome == Outcome::Failed {
        problems.push(problem(
            ProblemKind::Technical,
            None,
            format!(
                "failed without an error message; see coupa-sync log --person {}",
                change.hr_key
            ),
        ));
    }
    problems
}

/// Whether a Coupa message is about `field`: Coupa words its validation messages Rails' way, the
/// attribute's human name first ("Email has already been taken", "Employee number can't be blank").
pub(crate) fn names_field(message: &str, field: &str) -> bool {
    let human = field.replace(['-', '_'], " ");
    message.len() > human.len()
        && message.is_char_boundary(human.len())
        && message[..human.len()].eq_ignore_ascii_case(&human)
        && message[human.len()..].starts_with(' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coupa_messages_are_tied_to_the_field_they_name() {
        assert!(names_field("Email has already been taken", "email"));
        assert!(names_field(
            "Employee number can't be blank",
            "employee-number"
        ));
        assert!(!names_field("Emails are off", "email"));
        assert!(!names_field("Login has already been taken", "email"));
        assert!(!names_field("Email", "email"));
    }
}
