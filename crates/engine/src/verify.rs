//! Verification: every field a person's calls asked for, compared through the field catalog with the
//! user Coupa answered (or, with `verify = "reread"`, read back afterwards). Each field gets a
//! verdict: applied; ignored, when Coupa answered success but kept another value (a failure, reported
//! like an error); failed, with Coupa's message; or pending, when it was never sent or its call failed
//! for a technical reason. A person counts as applied only when every field is.

use crate::apply::PersonCalls;
use crate::fields::{Field, Value};
use crate::notify::names_field;
use crate::plan::{Action, FieldChange, PersonPlan, Step};
use crate::store::{ChangeRecord, FieldVerdict, Outcome, Verdict};
use coupa_wire::User;
use std::collections::{BTreeMap, BTreeSet};

/// The fields a person's plan asks Coupa to hold; a deactivation is `active: true → false`.
pub fn requested(action: &Action) -> Vec<FieldChange> {
    match action {
        Action::Create { changes }
        | Action::Update { changes, .. }
        | Action::Reactivate { changes, .. } => changes.clone(),
        Action::Deactivate { .. } => vec![FieldChange {
            field: Field::ACTIVE,
            old: Some(Value::Bool(true)),
            new: Value::Bool(false),
        }],
        Action::Nothing { .. } | Action::Error { .. } => Vec::new(),
    }
}

/// The plan's action in the store's words.
pub fn action_name(action: &Action) -> &'static str {
    match action {
        Action::Create { .. } => "create",
        Action::Update { .. } => "update",
        Action::Reactivate { .. } => "reactivate",
        Action::Deactivate { .. } => "deactivate",
        Action::Nothing { .. } => "nothing",
        Action::Error { .. } => "error",
    }
}

/// Whether a call of this step carries this change (mirrors `Plan::calls`: names taken away from a
/// set travel in their own clear-then-set calls, everything else in the person's first call).
fn carries(step: Step, change: &FieldChange) -> bool {
    match step {
        Step::ClearRoles | Step::SetRoles => change.field == Field::Roles && change.removes_names(),
        Step::ClearContentGroups | Step::SetContentGroups => {
            change.field == Field::ContentGroups && change.removes_names()
        }
        Step::Create | Step::Update | Step::Reactivate | Step::Deactivate => {
            !change.removes_names()
        }
    }
}

/// Whether Coupa refused the values (its validation), rather than failing to answer properly.
fn is_refusal(error: &coupa_client::Error) -> bool {
    matches!(error.status().map(|s| s.as_u16()), Some(400 | 409 | 422))
}

/// The record of one person whose calls were sent.
pub fn verify(
    run_id: i64,
    plan: &PersonPlan,
    calls: &PersonCalls,
    managed: &BTreeMap<Field, BTreeSet<String>>,
) -> ChangeRecord {
    let changes = requested(&plan.action);
    let mut errors: Vec<String> = Vec::new();
    let mut technical: Vec<String> = Vec::new();
    let mut fields: Vec<FieldVerdict> = changes.iter().map(pending).collect();

    let observed = match &calls.reread {
        Some(Ok(user)) => Some(user),
        Some(Err(e)) => {
            technical.push(format!("reading the user back to verify failed: {e}"));
            calls.last_answer()
        }
        None => calls.last_answer(),
    };

    for sent in &calls.sent {
        let carried: Vec<usize> = (0..changes.len())
            .filter(|&i| carries(sent.step, &changes[i]))
            .collect();
        let Err(error) = &sent.result else { continue };
        if !is_refusal(error) {
            technical.push(error.to_string());
            for &i in &carried {
                fields[i].message =
                    Some("not applied: the call failed (see the technical error)".into());
            }
            continue;
        }
        let messages: Vec<String> = if error.messages().is_empty() {
            vec![error.to_string()]
        } else {
            error.messages().to_vec()
        };
        for &i in &carried {
            let name = changes[i].field.to_string();
            let named: Vec<&String> = messages.iter().filter(|m| names_field(m, &name)).collect();
            let f = &mut fields[i];
            if !named.is_empty() {
                f.verdict = Verdict::Failed;
                f.message = Some(join(&named));
            } else if carried.len() == 1 {
                f.verdict = Verdict::Failed;
                f.message = Some(messages.join("; "));
            } else {
                f.message = Some("not applied: Coupa refused the call".into());
            }
        }
        errors.extend(messages);
    }

    for (i, change) in changes.iter().enumerate() {
        let sent_ok = calls
            .sent
            .iter()
            .filter(|s| carries(s.step, change))
            .all(|s| s.result.is_ok());
        let unsent = calls.unsent.iter().any(|&step| carries(step, change));
        if unsent && fields[i].message.is_none() {
            fields[i].message = Some("not sent: an earlier call for this person failed".into());
        }
        if sent_ok
            && !unsent
            && let Some(user) = observed
        {
            judge(&mut fields[i], change, user, managed);
        }
    }

    let technical_error = (!technical.is_empty()).then(|| technical.join("; "));
    let outcome =
        if technical_error.is_none() && fields.iter().all(|f| f.verdict == Verdict::Applied) {
            Outcome::Applied
        } else {
            Outcome::Failed
        };
    ChangeRecord {
        run_id,
        hr_key: plan.hr_key.clone(),
        login: observed
            .and_then(|u| u.login.clone())
            .or_else(|| desired_login(plan)),
        coupa_id: plan.coupa_id().or_else(|| observed.and_then(|u| u.id)),
        action: action_name(&plan.action).into(),
        outcome,
        fields,
        errors,
        technical_error,
    }
}

/// The login HR wants for a person, if mapped.
pub fn desired_login(plan: &PersonPlan) -> Option<String> {
    plan.desired()
        .and_then(|d| d.fields.get(&Field::LOGIN))
        .and_then(Value::as_text)
        .map(str::to_string)
}

/// A verdict not reached yet: the field was not sent, or not verified.
pub fn pending(change: &FieldChange) -> FieldVerdict {
    FieldVerdict {
        field: change.field.to_string(),
        old: change.old.as_ref().map(Value::to_plain),
        new: Some(change.new.to_plain()),
        verdict: Verdict::Pending,
        kept: None,
        message: None,
    }
}

/// Applied when Coupa holds the value sent, ignored (with the value kept) when it does not. A set
/// holds what was sent when it has every name sent and no managed name that was not: Coupa adds names
/// of its own (the `User` role on create), and those are not the connector's to judge.
pub fn judge(
    verdict: &mut FieldVerdict,
    change: &FieldChange,
    user: &User,
    managed: &BTreeMap<Field, BTreeSet<String>>,
) {
    let got = change.field.read(user);
    let holds = match (&change.new, &got) {
        (Value::Set(sent), got) => {
            let empty = BTreeSet::new();
            let have = got.as_ref().and_then(Value::as_set).unwrap_or(&empty);
            // Coupa finds names without regard to case.
            let folded = |names: &BTreeSet<String>| -> BTreeSet<String> {
                names.iter().map(|n| n.to_lowercase()).collect()
            };
            let owned = folded(managed.get(&change.field).unwrap_or(&empty));
            let (sent, have) = (folded(sent), folded(have));
            sent.is_subset(&have) && have.difference(&sent).all(|extra| !owned.contains(extra))
        }
        (new, got) => change.field.same(Some(new), got.as_ref()),
    };
    if holds {
        verdict.verdict = Verdict::Applied;
        verdict.message = None;
    } else {
        verdict.verdict = Verdict::Ignored;
        verdict.kept = Some(got.map_or_else(|| "(none)".to_string(), |v| v.to_plain()));
        verdict.message = None;
    }
}

fn join(messages: &[&String]) -> String {
    messages
        .iter()
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use coupa_wire::{Department, Role};

    fn set(names: &[&str]) -> Value {
        Value::Set(names.iter().map(|n| n.to_string()).collect())
    }

    fn with_roles(names: &[&str]) -> User {
        User {
            roles: Some(names.iter().map(|n| Role::named(*n)).collect()),
            ..User::default()
        }
    }

    fn judged(change: &FieldChange, user: &User) -> FieldVerdict {
        let managed = BTreeMap::from([(
            Field::Roles,
            BTreeSet::from(["Buyer".to_string(), "Accounts Payable".to_string()]),
        )]);
        let mut verdict = pending(change);
        judge(&mut verdict, change, user, &managed);
        verdict
    }

    #[test]
    fn roles_hold_when_every_name_sent_is_there_and_no_managed_name_is_left_over() {
        let add_buyer = FieldChange {
            field: Field::Roles,
            old: None,
            new: set(&["Buyer"]),
        };
        // Coupa adds its own User role to a new user: not the connector's to judge.
        let v = judged(&add_buyer, &with_roles(&["User", "buyer"]));
        assert_eq!(v.verdict, Verdict::Applied);

        let keep_only_buyer = FieldChange {
            field: Field::Roles,
            old: Some(set(&["Buyer", "Accounts Payable"])),
            new: set(&["Buyer"]),
        };
        let v = judged(
            &keep_only_buyer,
            &with_roles(&["Buyer", "Accounts Payable"]),
        );
        assert_eq!(v.verdict, Verdict::Ignored);
        assert_eq!(v.kept.as_deref(), Some("Accounts Payable,Buyer"));
        let v = judged(&add_buyer, &with_roles(&["User"]));
        assert_eq!(
            (v.verdict, v.kept.as_deref()),
            (Verdict::Ignored, Some("User"))
        );
    }

    #[test]
    fn a_value_coupa_kept_is_named_and_emails_compare_without_case() {
        let department = FieldChange {
            field: Field::Standard(crate::fields::Standard::Department),
            old: Some(Value::Text("Finance".into())),
            new: Value::Text("Marketing".into()),
        };
        let user = User {
            department: Some(Box::new(Department {
                name: Some("Finance".into()),
                ..Department::default()
            })),
            ..User::default()
        };
        let v = judged(&department, &user);
        assert_eq!(
            (v.verdict, v.kept.as_deref()),
            (Verdict::Ignored, Some("Finance"))
        );
        let v = judged(&department, &User::default());
        assert_eq!(v.kept.as_deref(), Some("(none)"));

        let email = FieldChange {
            field: Field::EMAIL,
            old: None,
            new: Value::Text("Jane.Doe@Example.com".into()),
        };
        let user = User {
            email: Some("jane.doe@example.com".into()),
            ..User::default()
        };
        assert_eq!(judged(&email, &user).verdict, Verdict::Applied);
    }

    #[test]
    fn a_deactivation_asks_for_active_false() {
        let fields = requested(&Action::Deactivate { id: 7 });
        assert_eq!(fields.len(), 1);
        assert_eq!(fields[0].field, Field::ACTIVE);
        assert_eq!(fields[0].new, Value::Bool(false));
        assert!(requested(&Action::Nothing { reason: "x".into() }).is_empty());
    }
}
