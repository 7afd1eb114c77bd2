//! What `coupa-sync log` prints: the store's records as tables for people, or as JSON. Pure functions,
//! so the command stays thin and the output is tested here.

use super::records::{
    CallRecord, ChangeRecord, FieldVerdict, PersonChange, RunRecord, Verdict, name_of,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::fmt::Write as _;

/// One run with its changes (and, when asked for, its calls), as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct RunLog<'a> {
    pub run: &'a RunRecord,
    pub changes: &'a [ChangeRecord],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calls: Option<&'a [CallRecord]>,
}

/// One person's history, as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct PersonLog<'a> {
    pub hr_key: &'a str,
    pub history: &'a [PersonChange],
}

/// Pretty JSON of any log result.
pub fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Recent runs, one line each.
pub fn runs_table(runs: &[RunRecord]) -> String {
    let mut table = Table::new(&[
        "RUN", "STARTED", "MODE", "STATUS", "PEOPLE", "CREATED", "UPDATED", "DEACT", "REACT",
        "FAILED", "NOTE",
    ]);
    for run in runs {
        let c = &run.counts;
        table.row(vec![
            run.id.to_string(),
            time(run.started_at),
            mode(run),
            name_of(&run.status),
            c.people.to_string(),
            c.created.to_string(),
            c.updated.to_string(),
            c.deactivated.to_string(),
            c.reactivated.to_string(),
            c.failed.to_string(),
            run.note.clone().unwrap_or_default(),
        ]);
    }
    table.render()
}

/// A run's summary, then its people, one line per field sent.
pub fn run_report(run: &RunRecord, changes: &[ChangeRecord]) -> String {
    let mut out = run_header(run);
    if changes.is_empty() {
        out.push_str("\nNo people recorded.\n");
        return out;
    }
    let mut table = Table::new(&[
        "HR KEY",
        "LOGIN",
        "ACTION",
        "OUTCOME",
        "FIELD",
        "OLD → SENT",
        "VERDICT",
        "MESSAGE",
    ]);
    for change in changes {
        change_rows(&mut table, change, true);
    }
    out.push('\n');
    out.push_str(&table.render());
    out
}

/// A run's API calls in order.
pub fn calls_table(calls: &[CallRecord]) -> String {
    let mut table = Table::new(&[
        "TIME", "METHOD", "PATH", "STATUS", "MS", "TRY", "WAIT MS", "HR KEY", "ERROR",
    ]);
    for call in calls {
        table.row(vec![
            time(call.at),
            call.method.clone(),
            call.path.clone(),
            call.status.map_or_else(|| "-".into(), |s| s.to_string()),
            call.duration_ms.to_string(),
            call.attempt.to_string(),
            call.rate_wait_ms.to_string(),
            call.hr_key.clone().unwrap_or_default(),
            call_error(call),
        ]);
    }
    table.render()
}

/// One person's changes across runs, oldest first, each with its calls.
pub fn person_report(hr_key: &str, history: &[PersonChange]) -> String {
    if history.is_empty() {
        return format!("No runs recorded for HR key {hr_key}.\n");
    }
    let mut out = String::new();
    for (i, entry) in history.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let run = &entry.run;
        let _ = writeln!(
            out,
            "Run {} ({}, {}{}): {} → {}",
            run.id,
            time(run.started_at),
            mode(run),
            if run.dry_run { ", dry run" } else { "" },
            entry.change.action,
            name_of(&entry.change.outcome),
        );
        let mut table = Table::new(&[
            "HR KEY",
            "LOGIN",
            "ACTION",
            "OUTCOME",
            "FIELD",
            "OLD → SENT",
            "VERDICT",
            "MESSAGE",
        ]);
        change_rows(&mut table, &entry.change, false);
        out.push_str(&table.render());
        if !entry.calls.is_empty() {
            out.push_str(&calls_table(&entry.calls));
        }
    }
    out
}

fn run_header(run: &RunRecord) -> String {
    let c = &run.counts;
    let mut out = format!(
        "Run {}: {}, {}, started {}",
        run.id,
        name_of(&run.status),
        mode(run),
        time(run.started_at)
    );
    if let Some(finished) = run.finished_at {
        let seconds = (finished - run.started_at).num_milliseconds() as f64 / 1000.0;
        let _ = write!(out, ", took {seconds:.1} s");
    }
    let _ = write!(
        out,
        "\n{} people: {} created, {} updated, {} deactivated, {} reactivated, {} unchanged, {} failed\n",
        c.people, c.created, c.updated, c.deactivated, c.reactivated, c.unchanged, c.failed
    );
    if let Some(note) = &run.note {
        let _ = writeln!(out, "Note: {note}");
    }
    if let Some(coupa_run) = run.coupa_run_id {
        let _ = writeln!(out, "Reported in Coupa as integration run {coupa_run}");
    }
    out
}

/// A person's rows: one per field sent, one per error not tied to a field. The person's own columns
/// are shown on the first row only, so a person reads as one block.
fn change_rows(table: &mut Table, change: &ChangeRecord, with_person: bool) {
    let mut lines: Vec<[String; 4]> = change.fields.iter().map(field_line).collect();
    for error in &change.errors {
        if !change
            .fields
            .iter()
            .any(|f| f.message.as_ref() == Some(error))
        {
            lines.push([String::new(), String::new(), "error".into(), error.clone()]);
        }
    }
    if let Some(technical) = &change.technical_error {
        lines.push([
            String::new(),
            String::new(),
            "technical".into(),
            technical.clone(),
        ]);
    }
    if lines.is_empty() {
        lines.push(Default::default());
    }
    for (i, [field, values, verdict, message]) in lines.into_iter().enumerate() {
        let person = |text: String| if i == 0 { text } else { String::new() };
        let hr_key = if with_person {
            person(change.hr_key.clone())
        } else {
            String::new()
        };
        table.row(vec![
            hr_key,
            person(change.login.clone().unwrap_or_default()),
            person(change.action.clone()),
            person(name_of(&change.outcome)),
            field,
            values,
            verdict,
            message,
        ]);
    }
}

fn field_line(f: &FieldVerdict) -> [String; 4] {
    let shown = |v: &Option<String>| v.as_ref().map_or_else(|| "∅".into(), |v| format!("{v:?}"));
    let mut message = f.message.clone().unwrap_or_default();
    if f.verdict == Verdict::Ignored
        && let Some(kept) = &f.kept
    {
        message = join(&format!("Coupa kept {kept:?}"), &message);
    }
    [
        f.field.clone(),
        format!("{} → {}", shown(&f.old), shown(&f.new)),
        name_of(&f.verdict),
        message,
    ]
}

fn call_error(call: &CallRecord) -> String {
    let mut text = call.coupa_errors.join("; ");
    if let Some(error) = &call.error {
        text = join(&text, error);
    }
    text
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}; {b}"),
    }
}

fn mode(run: &RunRecord) -> String {
    let mode = name_of(&run.mode);
    if run.dry_run {
        format!("{mode} dry run")
    } else {
        mode
    }
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(headers: &[&str]) -> Table {
        Table {
            rows: vec![headers.iter().map(|h| h.to_string()).collect()],
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        // A cell is one line, whatever Coupa put in a message.
        let cells = cells
            .into_iter()
            .map(|c| c.replace(['\r', '\n'], " "))
            .collect();
        self.rows.push(cells);
    }

    fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|i| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .map(|c| c.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                if i + 1 < row.len() {
                    let pad = widths[i] - cell.chars().count();
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Outcome, RunCounts, RunMode, RunStatus};
    use chrono::TimeZone;

    fn run() -> RunRecord {
        RunRecord {
            id: 42,
            started_at: Utc.with_ymd_and_hms(2026, 3, 1, 6, 0, 0).unwrap(),
            finished_at: Some(Utc.with_ymd_and_hms(2026, 3, 1, 6, 1, 30).unwrap()),
            mode: RunMode::Api,
            dry_run: false,
            status: RunStatus::Failed,
            counts: RunCounts {
                people: 3,
                updated: 2,
                failed: 1,
                ..RunCounts::default()
            },
            note: None,
            coupa_run_id: None,
        }
    }

    fn verdict(field: &str, old: &str, new: &str, verdict: Verdict) -> FieldVerdict {
        FieldVerdict {
            field: field.into(),
            old: Some(old.into()),
            new: Some(new.into()),
            verdict,
            kept: None,
            message: None,
        }
    }

    #[test]
    fn a_run_report_names_each_person_field_value_and_message() {
        let failed = ChangeRecord {
            run_id: 42,
            hr_key: "E1001".into(),
            login: Some("jdoe".into()),
            coupa_id: Some(7),
            action: "update".into(),
            outcome: Outcome::Failed,
            fields: vec![
                FieldVerdict {
                    message: Some("Email has already been taken".into()),
                    ..verdict("email", "j@x.test", "jd@x.test", Verdict::Failed)
                },
                FieldVerdict {
                    kept: Some("Sales".into()),
                    ..verdict("department", "Sales", "Sales EMEA", Verdict::Ignored)
                },
            ],
            errors: vec!["Email has already been taken".into()],
            technical_error: None,
        };
        let text = run_report(&run(), &[failed]);
        let expected = "\
Run 42: failed, api, started 2026-03-01 06:00:00 UTC, took 90.0 s
3 people: 0 created, 2 updated, 0 deactivated, 0 reactivated, 0 unchanged, 1 failed

HR KEY  LOGIN  ACTION  OUTCOME  FIELD       OLD → SENT                VERDICT  MESSAGE
E1001   jdoe   update  failed   email       \"j@x.test\" → \"jd@x.test\"  failed   Email has already been taken
                                department  \"Sales\" → \"Sales EMEA\"    ignored  Coupa kept \"Sales\"
";
        assert_eq!(text, expected);
    }

    #[test]
    fn errors_not_tied_to_a_field_and_technical_failures_get_their_own_lines() {
        let change = ChangeRecord {
            run_id: 42,
            hr_key: "E7".into(),
            login: None,
            coupa_id: None,
            action: "error".into(),
            outcome: Outcome::Failed,
            fields: vec![],
            errors: vec!["2 Coupa users have login \"x\"".into()],
            technical_error: Some("timed out after 4 attempts".into()),
        };
        let text = run_report(&run(), &[change]);
        assert!(text.contains("E7  "), "{text}");
        assert!(
            text.contains("error      2 Coupa users have login \"x\""),
            "{text}"
        );
        assert!(
            text.contains("technical  timed out after 4 attempts"),
            "{text}"
        );
    }

    #[test]
    fn json_is_the_records_serde_form() {
        let r = run();
        let value: serde_json::Value = serde_json::from_str(&json(&RunLog {
            run: &r,
            changes: &[],
            calls: None,
        }))
        .unwrap();
        assert_eq!(value["run"]["id"], 42);
        assert_eq!(value["run"]["status"], "failed");
        assert_eq!(value["run"]["counts"]["failed"], 1);
        assert!(value.get("calls").is_none());
    }
}
