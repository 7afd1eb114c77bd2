//! How a stored user looks on the wire: the full record with its associations, or trimmed by
//! `return_object=limited|shallow` or `fields=[…]`.

use crate::setup::fold;
use crate::store::{State, StoredUser};
use coupa_wire::{Query, ReturnObject, User, UserRef};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// The elements of a full user, in the order Coupa writes them (as in its `GET /api/users` sample).
const OUTPUT: &[&str] = &[
    "id",
    "created-at",
    "updated-at",
    "login",
    "email",
    "purchasing-user",
    "expense-user",
    "sourcing-user",
    "inventory-user",
    "contracts-user",
    "analytics-user",
    "ccw-user",
    "risk-assess-user",
    "supply-chain-user",
    "travel-user",
    "treasury-user",
    "clm-advanced-user",
    "category-planner-user",
    "employee-number",
    "phone-work",
    "phone-mobile",
    "firstname",
    "middlename",
    "lastname",
    "fullname",
    "api-user",
    "active",
    "salesforce-id",
    "account-security-type",
    "authentication-method",
    "sso-identifier",
    "default-locale",
    "default-account",
    "default-account-type",
    "default-address",
    "business-group-security-type",
    "edit-invoice-on-quick-entry",
    "avatar-thumb-url",
    "mention-name",
    "seniority-level",
    "business-function",
    "employee-payment-channel",
    "allow-employee-payment-account-creation",
    "allow-user-to-upload-invoice-from-mobile",
    "country-of-residence",
    "legal-entity",
    "pcard",
    "requisition-approval-limit",
    "expense-approval-limit",
    "invoice-approval-limit",
    "contract-approval-limit",
    "requisition-self-approval-limit",
    "expense-self-approval-limit",
    "contract-self-approval-limit",
    "invoice-self-approval-limit",
    "escalation-threshold",
    "default-currency",
    "department",
    "manager",
    "roles",
    "content-groups",
    "account-groups",
    "approval-groups",
    "user-groups",
    "working-warehouses",
    "inventory-organizations",
    "custom-fields",
];

const COLLECTIONS: &[&str] = &[
    "roles",
    "content-groups",
    "account-groups",
    "approval-groups",
    "user-groups",
    "working-warehouses",
    "inventory-organizations",
];

/// What of each user an answer carries.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Shape {
    Full,
    /// `return_object=limited`: the id only.
    Limited,
    /// `return_object=shallow`: own attributes, associations reduced to their id and natural keys.
    Shallow,
    /// `fields=[…]`: the named elements; `{"roles":["name"]}` narrows an association.
    Fields(Vec<Value>),
    /// `return_object=none`: no body (writes only).
    Nothing,
}

impl Shape {
    /// The shape a query asks for; `fields` wins over `return_object`. Unknown field names are refused.
    pub fn of(query: &Query) -> Result<Shape, String> {
        if let Some(Value::Array(fields)) = &query.fields {
            for item in fields {
                let names: Vec<&str> = match item {
                    Value::String(name) => vec![name.as_str()],
                    Value::Object(map) => map.keys().map(String::as_str).collect(),
                    other => return Err(format!("fields: {other} is not a field name")),
                };
                if let Some(bad) = names
                    .iter()
                    .find(|n| find_key(OUTPUT.iter().copied(), n).is_none())
                {
                    return Err(format!("Unknown field \"{bad}\" in fields"));
                }
            }
            return Ok(Shape::Fields(fields.clone()));
        }
        Ok(match query.return_object {
            None => Shape::Full,
            Some(ReturnObject::Limited) => Shape::Limited,
            Some(ReturnObject::Shallow) => Shape::Shallow,
            Some(ReturnObject::None) => Shape::Nothing,
        })
    }
}

fn find_key<'a>(keys: impl IntoIterator<Item = &'a str>, name: &str) -> Option<&'a str> {
    let wanted = fold(name);
    keys.into_iter().find(|k| fold(k) == wanted)
}

/// `first last`, as Coupa derives `fullname`.
pub(crate) fn fullname(user: &User) -> Option<String> {
    let parts: Vec<&str> = [user.firstname.as_deref(), user.lastname.as_deref()]
        .into_iter()
        .flatten()
        .filter(|p| !p.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

fn value_of<T: Serialize>(record: &T) -> Value {
    serde_json::to_value(record).unwrap_or(Value::Null)
}

/// A user as another record refers to it (Coupa's `UserSimple`).
fn user_simple(u: &StoredUser) -> Value {
    let user = &u.user;
    value_of(&UserRef {
        id: user.id,
        login: user.login.clone(),
        email: user.email.clone(),
        employee_number: user.employee_number.clone(),
        firstname: user.firstname.clone(),
        lastname: user.lastname.clone(),
        fullname: fullname(user),
        salesforce_id: user.salesforce_id.clone(),
        avatar_thumb_url: None,
        created_at: user.created_at,
        updated_at: user.updated_at,
    })
}

/// The full user, every output element present (absent ones as null, empty collections as `[]`).
pub(crate) fn full(state: &State, u: &StoredUser) -> Map<String, Value> {
    let setup = &state.setup;
    let mut own = match value_of(&u.user) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let mut out = Map::with_capacity(OUTPUT.len());
    for &key in OUTPUT {
        let value = match key {
            "fullname" => fullname(&u.user).map_or(Value::Null, Value::String),
            "department" => u
                .department
                .and_then(|id| setup.departments.get(id))
                .map_or(Value::Null, value_of),
            "default-currency" => u
                .default_currency
                .and_then(|id| setup.currencies.get(id))
                .map_or(Value::Null, value_of),
            "manager" => u
                .manager
                .and_then(|id| state.user(id))
                .map_or(Value::Null, user_simple),
            "roles" => Value::Array(
                u.roles
                    .iter()
                    .filter_map(|&id| setup.roles.get(id))
                    .map(value_of)
                    .collect(),
            ),
            "content-groups" => Value::Array(
                u.content_groups
                    .iter()
                    .filter_map(|&id| setup.content_groups.get(id))
                    .map(value_of)
                    .collect(),
            ),
            "custom-fields" => {
                let values = u.user.custom_fields.as_ref();
                Value::Object(
                    setup
                        .custom_fields
                        .all()
                        .iter()
                        .filter_map(|f| f.name.clone())
                        .map(|name| {
                            let v = values.and_then(|m| m.get(&name)).cloned();
                            (name, v.unwrap_or(Value::Null))
                        })
                        .collect(),
                )
            }
            k => {
                // Reuse the serialised key rather than allocate it again.
                if let Some((k, v)) = own.remove_entry(k) {
                    out.insert(k, v);
                    continue;
                }
                if COLLECTIONS.contains(&k) {
                    json!([])
                } else {
                    Value::Null
                }
            }
        };
        out.insert(key.to_string(), value);
    }
    out
}

/// The natural keys `shallow` keeps of each association.
fn shallow_keys(association: &str) -> Option<&'static [&'static str]> {
    Some(match association {
        "manager" => &["id", "login", "email"],
        "department" | "roles" | "content-groups" => &["id", "name"],
        "default-currency" => &["id", "code"],
        _ => return None,
    })
}

/// The user in `shape`; `None` for `return_object=none`.
pub(crate) fn user(state: &State, u: &StoredUser, shape: &Shape) -> Option<Value> {
    Some(Value::Object(match shape {
        Shape::Nothing => return None,
        Shape::Limited => {
            let mut map = Map::new();
            map.insert("id".into(), json!(u.id()));
            map
        }
        Shape::Full => full(state, u),
        Shape::Shallow => full(state, u)
            .into_iter()
            .map(|(k, v)| {
                let v = match shallow_keys(&k) {
                    Some(keys) => narrow(&v, keys),
                    None => v,
                };
                (k, v)
            })
            .collect(),
        Shape::Fields(fields) => select(&full(state, u), fields),
    }))
}

/// Keeps only `keys` of a record, or of each record of a list.
fn narrow(value: &Value, keys: &[&str]) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            keys.iter()
                .filter_map(|k| map.get(*k).map(|v| (k.to_string(), v.clone())))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| narrow(v, keys)).collect()),
        other => other.clone(),
    }
}

/// `fields=[…]` applied to a record: names pick elements (`_` and `-` alike), `{"roles":["name"]}`
/// picks an association and narrows it, `{"custom_fields":{}}` picks it whole.
fn select(record: &Map<String, Value>, fields: &[Value]) -> Map<String, Value> {
    let mut out = Map::new();
    let mut pick = |name: &str, sub: Option<&Value>| {
        let Some(key) = find_key(record.keys().map(String::as_str), name) else {
            return;
        };
        let value = &record[key];
        let value = match sub {
            Some(Value::Array(list)) => within(value, list),
            Some(Value::Object(map)) if !map.is_empty() => {
                within(value, &[Value::Object(map.clone())])
            }
            _ => value.clone(),
        };
        out.insert(key.to_string(), value);
    };
    for item in fields {
        match item {
            Value::String(name) => pick(name, None),
            Value::Object(map) => map.iter().for_each(|(name, sub)| pick(name, Some(sub))),
            _ => {}
        }
    }
    out
}

fn within(value: &Value, fields: &[Value]) -> Value {
    match value {
        Value::Object(map) => Value::Object(select(map, fields)),
        Value::Array(items) => Value::Array(items.iter().map(|v| within(v, fields)).collect()),
        other => other.clone(),
    }
}
