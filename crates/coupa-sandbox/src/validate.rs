//! Coupa's validation rules for users and setup records, with Rails' messages: one message per field
//! ("Firstname can't be blank", "Login has already been taken"), all of them reported together.

use crate::setup::{Setup, SetupRecord};
use crate::store::{State, StoredUser, UniqueKey};
use coupa_wire::User;
use serde_json::Value;

/// Rails' `humanize`: `employee-number` → `Employee number`.
pub(crate) fn humanize(name: &str) -> String {
    let spaced = name.replace(['-', '_', '.'], " ");
    let mut chars = spaced.trim().chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Control characters in any text value of `value`, as one message per field.
pub(crate) fn control_characters(value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    walk(value, &mut Vec::new(), &mut found);
    found
}

fn walk(value: &Value, path: &mut Vec<String>, found: &mut Vec<String>) {
    match value {
        Value::String(s) => {
            if let Some(c) = s.chars().find(|c| c.is_control()) {
                found.push(format!(
                    "{} contains a control character (U+{:04X})",
                    humanize(&path.join(" ")),
                    u32::from(c)
                ));
            }
        }
        Value::Array(items) => items.iter().for_each(|v| walk(v, path, found)),
        Value::Object(map) => {
            for (k, v) in map {
                path.push(k.clone());
                walk(v, path, found);
                path.pop();
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Text attributes and the most characters Coupa stores in each (reference §1.2).
const LENGTHS: &[(&str, usize)] = &[
    ("login", 255),
    ("email", 255),
    ("firstname", 40),
    ("lastname", 40),
    ("middlename", 255),
    ("employee-number", 255),
    ("mention-name", 255),
    ("salesforce-id", 255),
    ("sso-identifier", 255),
    ("default-locale", 10),
    ("seniority-level", 255),
    ("business-function", 255),
    ("employee-payment-channel", 255),
];

const REQUIRED: &[&str] = &["login", "email", "firstname", "lastname"];

/// The authentication methods Coupa knows (case-sensitive, reference §1.2).
pub(crate) const AUTHENTICATION_METHODS: &[&str] = &["coupa_credentials", "ldap", "saml"];

fn text<'a>(user: &'a User, element: &str) -> Option<&'a str> {
    match element {
        "login" => user.login.as_deref(),
        "email" => user.email.as_deref(),
        "firstname" => user.firstname.as_deref(),
        "lastname" => user.lastname.as_deref(),
        "middlename" => user.middlename.as_deref(),
        "employee-number" => user.employee_number.as_deref(),
        "mention-name" => user.mention_name.as_deref(),
        "salesforce-id" => user.salesforce_id.as_deref(),
        "sso-identifier" => user.sso_identifier.as_deref(),
        "default-locale" => user.default_locale.as_deref(),
        "seniority-level" => user.seniority_level.as_deref(),
        "business-function" => user.business_function.as_deref(),
        "employee-payment-channel" => user.employee_payment_channel.as_deref(),
        _ => None,
    }
}

/// An e-mail address as Coupa's format check sees it: one `@`, a local part, a dotted domain.
fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !email.chars().any(char::is_whitespace)
}

/// Every rule a stored user must meet; `user` is the user as it would be after the write.
pub(crate) fn user(state: &State, user: &StoredUser) -> Vec<String> {
    let u = &user.user;
    let mut messages = Vec::new();
    for &(element, max) in LENGTHS {
        let value = text(u, element);
        let name = humanize(element);
        let blank = value.is_none_or(|v| v.trim().is_empty());
        let message = if REQUIRED.contains(&element) && blank {
            Some(format!("{name} can't be blank"))
        } else if value.is_some_and(|v| v.chars().count() > max) {
            Some(format!("{name} is too long (maximum is {max} characters)"))
        } else if element == "login" && value.is_some_and(|v| v.chars().count() < 2) {
            Some(format!("{name} is too short (minimum is 2 characters)"))
        } else if element == "email" && value.is_some_and(|v| !valid_email(v)) {
            Some(format!("{name} is invalid"))
        } else {
            UniqueKey::from_element(element)
                .and_then(|key| key.of(u).and_then(|v| state.find_by(key, v)))
                .filter(|other| other.id() != user.id())
                .map(|_| format!("{name} has already been taken"))
        };
        messages.extend(message);
    }
    if let Some(method) = &u.authentication_method
        && !AUTHENTICATION_METHODS.contains(&method.as_str())
    {
        messages.push("Authentication method is not included in the list".into());
    }
    if u.account_security_type
        .is_some_and(|t| !(0..=2).contains(&t))
    {
        messages.push("Account security type is not included in the list".into());
    }
    if u.business_group_security_type
        .is_some_and(|t| !(0..=1).contains(&t))
    {
        messages.push("Business group security type is not included in the list".into());
    }
    messages
}

/// The rules for a new setup record: a key that is present, short enough, plain text and unused.
pub(crate) fn setup_record<T: SetupRecord>(setup: &Setup, record: &T) -> Vec<String> {
    let name = humanize(T::KEY);
    let mut messages = control_characters(&serde_json::to_value(record).unwrap_or(Value::Null));
    match record.key().map(str::trim) {
        None | Some("") => messages.push(format!("{name} can't be blank")),
        Some(key) if key.chars().count() > T::KEY_MAX => messages.push(format!(
            "{name} is too long (maximum is {} characters)",
            T::KEY_MAX
        )),
        Some(key) if T::table(setup).find(key).is_some() => {
            messages.push(format!("{name} has already been taken"));
        }
        Some(_) => {}
    }
    messages.extend(record.problems(setup));
    messages
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn humanizes_like_rails() {
        assert_eq!(humanize("employee-number"), "Employee number");
        assert_eq!(humanize("login"), "Login");
    }

    #[test]
    fn emails() {
        for ok in ["a@b.co", "jane.doe+x@example.com"] {
            assert!(valid_email(ok), "{ok}");
        }
        for bad in [
            "", "a", "a@b", "@b.co", "a@@b.co", "a b@c.de", "a@.co", "a@b.", "a@b..c",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
    }

    #[test]
    fn names_the_field_with_a_control_character() {
        let v = json!({"login": "ok", "phone-work": {"number": "1\u{7}2"}});
        assert_eq!(
            control_characters(&v),
            ["Phone work number contains a control character (U+0007)"]
        );
    }
}
