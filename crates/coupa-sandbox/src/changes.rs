//! Turning a POST or PUT body into the stored user, as Coupa does: read-only and unknown elements
//! ignored, only the elements sent change, references looked up by natural key (an unknown one
//! leaves the value unchanged), roles and content groups merged (an empty list clears them), custom
//! fields set by field name, phone numbers and approval limits checked and set whole (see
//! `nested`), Coupa's defaults on create, then every validation rule.

use crate::setup::{Setup, SetupRecord};
use crate::store::{State, StoredUser, UniqueKey};
use crate::{nested, validate};
use chrono::{DateTime, Duration, FixedOffset};
use coupa_wire::{User, UserRef};
use serde_json::{Map, Value};

/// The user that a POST body creates.
pub(crate) fn create(
    state: &State,
    input: User,
    now: DateTime<FixedOffset>,
) -> Result<StoredUser, Vec<String>> {
    let mut user = StoredUser::default();
    user.user.id = Some(state.next_user_id());
    user.user.created_at = Some(now);
    user.user.updated_at = Some(now);
    let user_role = state.setup.roles.find("User").and_then(|r| r.id);
    user.roles.extend(user_role);
    let mut user = apply(state, user, input)?;
    let u = &mut user.user;
    u.active.get_or_insert(true);
    u.authentication_method
        .get_or_insert_with(|| "coupa_credentials".into());
    u.account_security_type.get_or_insert(0);
    u.api_user = Some(false);
    u.edit_invoice_on_quick_entry.get_or_insert(false);
    for flag in licence_flags(u) {
        flag.get_or_insert(false);
    }
    if user.default_currency.is_none() {
        user.default_currency = state
            .setup
            .reporting_currency
            .as_deref()
            .and_then(|code| state.setup.currencies.find(code))
            .and_then(|c| c.id);
    }
    if user.user.mention_name.is_none() {
        user.user.mention_name = Some(mention_name(state, &user.user));
    }
    check(state, user)
}

/// User `current` after a PUT/PATCH body; `None` when the body changes nothing.
pub(crate) fn update(
    state: &State,
    current: &StoredUser,
    input: User,
    now: DateTime<FixedOffset>,
) -> Result<Option<StoredUser>, Vec<String>> {
    let mut user = apply(state, current.clone(), input)?;
    if user == *current {
        return Ok(None);
    }
    // Coupa shows whole seconds; keep `updated-at` moving on every change all the same, so an
    // `updated_at[gt]` watermark always sees the change.
    let floor = current.updated_at().map(|t| t + Duration::seconds(1));
    user.user.updated_at = Some(floor.map_or(now, |f| f.max(now)));
    check(state, user).map(Some)
}

/// The rules for a new setup record.
pub(crate) fn check_setup<T: SetupRecord>(setup: &Setup, record: &T) -> Result<(), Vec<String>> {
    let messages = validate::setup_record(setup, record);
    if messages.is_empty() {
        Ok(())
    } else {
        Err(messages)
    }
}

fn check(state: &State, user: StoredUser) -> Result<StoredUser, Vec<String>> {
    let messages = validate::user(state, &user);
    if messages.is_empty() {
        Ok(user)
    } else {
        Err(messages)
    }
}

fn licence_flags(u: &mut User) -> [&mut Option<bool>; 13] {
    [
        &mut u.purchasing_user,
        &mut u.expense_user,
        &mut u.sourcing_user,
        &mut u.inventory_user,
        &mut u.contracts_user,
        &mut u.analytics_user,
        &mut u.ccw_user,
        &mut u.risk_assess_user,
        &mut u.supply_chain_user,
        &mut u.travel_user,
        &mut u.treasury_user,
        &mut u.clm_advanced_user,
        &mut u.category_planner_user,
    ]
}

/// Drops what a caller may not write: read-only elements (Coupa ignores them without error),
/// unknown elements, and the password, which the sandbox does not keep.
fn writable(mut input: User) -> User {
    // The write-only shortcuts set the limits they stand for, unless those are sent too.
    if let Some(limit) = input.approval_limit.take() {
        input
            .requisition_approval_limit
            .get_or_insert_with(|| limit.clone());
        input
            .expense_approval_limit
            .get_or_insert_with(|| limit.clone());
        input.invoice_approval_limit.get_or_insert(limit);
    }
    if let Some(limit) = input.self_approval_limit.take() {
        input
            .requisition_self_approval_limit
            .get_or_insert_with(|| limit.clone());
        input.expense_self_approval_limit.get_or_insert(limit);
    }
    User {
        id: None,
        created_at: None,
        updated_at: None,
        created_by: None,
        updated_by: None,
        fullname: None,
        api_user: None,
        password: None,
        generate_password_and_notify: None,
        avatar_thumb_url: None,
        expenses_delegated_to: None,
        can_expense_for: None,
        work_confirmation_approval_limit: None,
        invoicing_user: None,
        category_strategy_user: None,
        msp_user: None,
        eligible_for_virtual_cards: None,
        supplier_id: None,
        supplier_user: None,
        support_user: None,
        extra: Map::new(),
        ..input
    }
}

/// The associations of a body, looked up apart from the user's own attributes.
struct References {
    department: Option<coupa_wire::Department>,
    default_currency: Option<coupa_wire::Currency>,
    manager: Option<UserRef>,
    roles: Option<Vec<coupa_wire::Role>>,
    content_groups: Option<Vec<coupa_wire::ContentGroup>>,
    custom_fields: Option<Map<String, Value>>,
}

fn apply(state: &State, mut user: StoredUser, input: User) -> Result<StoredUser, Vec<String>> {
    let mut input = writable(input);
    let sent = serde_json::to_value(&input).unwrap_or(Value::Null);
    let messages = validate::control_characters(&sent);
    if !messages.is_empty() {
        return Err(messages);
    }
    let references = References {
        department: input.department.take().map(|b| *b),
        default_currency: input.default_currency.take().map(|b| *b),
        manager: input.manager.take().map(|b| *b),
        roles: input.roles.take(),
        content_groups: input.content_groups.take(),
        custom_fields: input.custom_fields.take(),
    };
    let nested = nested::Sent::take(&mut input);
    user.user = overlay(&user.user, &input)?;
    nested.apply(&state.setup, &mut user.user)?;
    resolve(state, &mut user, references)?;
    Ok(user)
}

/// `base` with every element of `sent` written over it; an empty text clears the element.
fn overlay(base: &User, sent: &User) -> Result<User, Vec<String>> {
    let to_map = |u: &User| match serde_json::to_value(u) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let mut merged = to_map(base);
    for (key, value) in to_map(sent) {
        if value.as_str() == Some("") {
            merged.remove(&key);
        } else {
            merged.insert(key, value);
        }
    }
    serde_json::from_value(Value::Object(merged)).map_err(|e| vec![format!("Invalid user: {e}")])
}

fn resolve(state: &State, user: &mut StoredUser, sent: References) -> Result<(), Vec<String>> {
    let setup = &state.setup;
    if let Some(d) = sent.department
        && let Some(found) = setup.departments.resolve(d.id, d.name.as_deref())
    {
        user.department = found.id;
    }
    if let Some(c) = sent.default_currency
        && let Some(found) = setup.currencies.resolve(c.id, c.code.as_deref())
    {
        user.default_currency = found.id;
    }
    if let Some(m) = sent.manager
        && let Some(found) = find_user(state, &m)
    {
        user.manager = Some(found.id());
    }
    if let Some(roles) = sent.roles {
        let found = roles.iter().filter_map(|r| {
            setup
                .roles
                .resolve(r.id, r.name.as_deref())
                .and_then(|r| r.id)
        });
        merge(&mut user.roles, roles.is_empty(), found);
    }
    if let Some(groups) = sent.content_groups {
        let found = groups.iter().filter_map(|g| {
            setup
                .content_groups
                .resolve(g.id, g.name.as_deref())
                .and_then(|g| g.id)
        });
        merge(&mut user.content_groups, groups.is_empty(), found);
    }
    if let Some(fields) = sent.custom_fields {
        set_custom_fields(setup, &mut user.user, fields)?;
    }
    Ok(())
}

/// Coupa merges a sent list into the user's; an empty list clears it.
fn merge(ids: &mut Vec<i64>, clear: bool, found: impl Iterator<Item = i64>) {
    if clear {
        ids.clear();
    }
    for id in found {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
}

/// The user a reference names, by every key it carries (id, login, email, employee number).
fn find_user<'a>(state: &'a State, r: &UserRef) -> Option<&'a StoredUser> {
    let by_key = [
        (UniqueKey::Login, r.login.as_deref()),
        (UniqueKey::Email, r.email.as_deref()),
        (UniqueKey::EmployeeNumber, r.employee_number.as_deref()),
    ];
    let mut candidate = r.id.and_then(|id| state.user(id));
    for (key, value) in by_key {
        let Some(value) = value else { continue };
        let found = state.find_by(key, value)?;
        match candidate {
            Some(c) if c.id() != found.id() => return None,
            _ => candidate = Some(found),
        }
    }
    candidate
}

fn set_custom_fields(
    setup: &Setup,
    user: &mut User,
    sent: Map<String, Value>,
) -> Result<(), Vec<String>> {
    let mut fields = user.custom_fields.take().unwrap_or_default();
    let mut messages = Vec::new();
    for (key, value) in sent {
        // A field that is not defined is an unknown element: ignored, as Coupa does.
        let Some(name) = setup.custom_fields.find(&key).and_then(|f| f.name.clone()) else {
            continue;
        };
        let text = match value {
            Value::Null => String::new(),
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Array(_) | Value::Object(_) => {
                messages.push(format!(
                    "{} must be a single value",
                    validate::humanize(&name)
                ));
                continue;
            }
        };
        if text.chars().count() > 255 {
            messages.push(format!(
                "{} is too long (maximum is 255 characters)",
                validate::humanize(&name)
            ));
        } else if text.is_empty() {
            fields.shift_remove(&name);
        } else {
            fields.insert(name, Value::String(text));
        }
    }
    user.custom_fields = (!fields.is_empty()).then_some(fields);
    if messages.is_empty() {
        Ok(())
    } else {
        Err(messages)
    }
}

/// Coupa's mention name: first and last name, lowercased, without spaces; a number is appended
/// when another user has it.
fn mention_name(state: &State, user: &User) -> String {
    let source = format!(
        "{}{}",
        user.firstname.as_deref().unwrap_or_default(),
        user.lastname.as_deref().unwrap_or_default()
    );
    let mut base: String = source
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    if base.is_empty() {
        base = user.login.as_deref().unwrap_or("user").to_lowercase();
    }
    base = base.chars().take(240).collect();
    let free = |name: &str| state.find_by(UniqueKey::MentionName, name).is_none();
    if free(&base) {
        return base;
    }
    (1..)
        .map(|n| format!("{base}{n}"))
        .find(|name| free(name))
        .unwrap_or(base)
}
