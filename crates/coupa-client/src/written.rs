//! The result of a write, and the check that finds what Coupa silently ignored: Coupa answers 200 or
//! 201 with the user as it now is, and leaves out of the write any value it could not apply (a
//! department that does not exist, a read-only element). Comparing what was sent with what came back
//! shows those values to the caller.

use crate::error::{Error, ErrorKind};
use coupa_wire::User;
use serde_json::Value;

/// Elements Coupa accepts but never returns (reference §1.2, In without Out): they cannot be checked.
const WRITE_ONLY: &[&str] = &[
    "password",
    "generate-password-and-notify",
    "approval-limit",
    "self-approval-limit",
    "salesforce-enabled",
    "aic-user",
    "spend-guard-user",
];

/// A value Coupa did not apply: what was sent, and what the user holds instead (`None`: the answer
/// does not have the element at all).
#[derive(Debug, Clone, PartialEq)]
pub struct Ignored {
    /// The element name (`department`, `default-currency`).
    pub field: String,
    pub sent: Value,
    pub answered: Option<Value>,
}

/// A user written to Coupa. Check `ignored` before trusting that the write did what was asked, or
/// call [`Written::complete`] to make ignored values an error.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Written {
    /// The user as Coupa answered (or, when `recovered`, as Coupa holds it now).
    pub user: User,
    /// Sent values the user does not hold.
    pub ignored: Vec<Ignored>,
    /// The create's answer was lost (timeout, broken connection) and the user was found by the keys
    /// that were sent: it was created by this call, not a second time.
    pub recovered: bool,
}

impl Written {
    pub(crate) fn new(sent: &User, user: User, shaped: bool, recovered: bool) -> Written {
        let ignored = ignored(&to_value(sent), &to_value(&user), shaped);
        if !ignored.is_empty() {
            tracing::warn!(
                target: "coupa_client::call",
                user = user.id,
                fields = ?ignored.iter().map(|i| &i.field).collect::<Vec<_>>(),
                "Coupa ignored part of a write"
            );
        }
        Written {
            user,
            ignored,
            recovered,
        }
    }

    /// The user, or an error naming the values Coupa ignored.
    pub fn complete(self) -> Result<User, Error> {
        if self.ignored.is_empty() {
            return Ok(self.user);
        }
        let fields: Vec<String> = self.ignored.iter().map(|i| i.field.clone()).collect();
        Err(Error::new(ErrorKind::Invalid(format!(
            "Coupa accepted the write of user {} but ignored: {}",
            self.user
                .id
                .map_or_else(|| "(no id)".to_string(), |id| id.to_string()),
            fields.join(", ")
        ))))
    }
}

fn to_value(user: &User) -> Value {
    // A `User` holds only strings, numbers, booleans, maps and lists: it always serialises.
    serde_json::to_value(user).unwrap_or(Value::Null)
}

/// Top-level elements of `sent` that `answer` does not hold. With `shaped` answers (`fields=`,
/// `return_object`), an element missing from the answer is unknown rather than ignored.
fn ignored(sent: &Value, answer: &Value, shaped: bool) -> Vec<Ignored> {
    let (Value::Object(sent), Value::Object(answer)) = (sent, answer) else {
        return Vec::new();
    };
    sent.iter()
        .filter(|(k, _)| !WRITE_ONLY.contains(&k.as_str()))
        .filter_map(|(k, v)| match answer.get(k) {
            None if shaped => None,
            None if is_empty(v) => None,
            Some(got) if holds(got, v) => None,
            got => Some(Ignored {
                field: k.clone(),
                sent: v.clone(),
                answered: got.cloned(),
            }),
        })
        .collect()
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_empty),
        _ => false,
    }
}

/// Whether `got` holds what `sent` asked for: equal scalars (text compared trimmed), every sent
/// element of a record (a reference by `name` or `code` is answered with the whole record), and every
/// sent item of a list (Coupa merges lists such as roles; an empty list clears).
fn holds(got: &Value, sent: &Value) -> bool {
    match (got, sent) {
        (_, s) if is_empty(s) && is_empty(got) => true,
        (Value::String(g), Value::String(s)) => g.trim() == s.trim(),
        (Value::Object(g), Value::Object(s)) => s.iter().all(|(k, v)| {
            g.get(k).is_some_and(|gv| holds(gv, v)) || (is_empty(v) && !g.contains_key(k))
        }),
        (Value::Array(g), Value::Array(s)) if s.is_empty() => g.is_empty(),
        (Value::Array(g), Value::Array(s)) => s.iter().all(|sv| g.iter().any(|gv| holds(gv, sv))),
        (g, s) => g == s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coupa_wire::{Department, Role};

    fn user(f: impl FnOnce(&mut User)) -> User {
        let mut u = User::default();
        f(&mut u);
        u
    }

    #[test]
    fn a_write_that_landed_has_nothing_ignored() {
        let sent = user(|u| {
            u.lastname = Some("Doe".into());
            u.department = Some(Box::new(Department {
                name: Some("Finance".into()),
                ..Department::default()
            }));
            u.roles = Some(vec![Role::named("Buyer")]);
        });
        let answer = user(|u| {
            u.id = Some(7);
            u.lastname = Some("Doe".into());
            u.firstname = Some("Jane".into());
            u.department = Some(Box::new(Department {
                id: Some(3),
                name: Some("Finance".into()),
                active: Some(true),
            }));
            u.roles = Some(vec![Role::named("User"), Role::named("Buyer")]);
        });
        let w = Written::new(&sent, answer, false, false);
        assert_eq!(w.ignored, []);
        assert!(w.complete().is_ok());
    }

    #[test]
    fn values_coupa_did_not_apply_are_named() {
        let sent = user(|u| {
            u.lastname = Some("Doe".into());
            u.department = Some(Box::new(Department {
                name: Some("Nowhere".into()),
                ..Department::default()
            }));
            u.fullname = Some("Someone Else".into());
            u.password = Some(coupa_wire::Password::new("never compared"));
        });
        let answer = user(|u| {
            u.id = Some(7);
            u.lastname = Some("Doe".into());
            u.fullname = Some("Jane Doe".into());
        });
        let w = Written::new(&sent, answer, false, false);
        let fields: Vec<_> = w.ignored.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(fields, ["fullname", "department"]);
        assert_eq!(w.ignored[1].answered, None);
        let e = w.complete().unwrap_err().to_string();
        assert!(
            e.contains("user 7") && e.contains("fullname, department"),
            "{e}"
        );
    }

    #[test]
    fn shaped_answers_only_judge_what_they_show() {
        let sent = user(|u| {
            u.lastname = Some("Doe".into());
            u.active = Some(false);
        });
        let answer = user(|u| {
            u.id = Some(7);
            u.active = Some(true);
        });
        let w = Written::new(&sent, answer, true, false);
        let fields: Vec<_> = w.ignored.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(fields, ["active"]);
    }

    #[test]
    fn an_empty_list_must_clear() {
        let sent = user(|u| u.roles = Some(vec![]));
        let kept = user(|u| u.roles = Some(vec![Role::named("User")]));
        let cleared = user(|u| u.roles = Some(vec![]));
        assert_eq!(Written::new(&sent, kept, false, false).ignored.len(), 1);
        assert_eq!(Written::new(&sent, cleared, false, false).ignored.len(), 0);
    }
}
