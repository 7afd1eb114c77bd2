//! The catalog of Coupa user fields the connector manages: for each, how to read its current value
//! from a `coupa_wire::User`, how to write a new value into a partial `User` for a POST or PUT, how
//! an HR value is checked and normalised, and how two values compare.
//!
//! Plan and verification both speak in these terms: "field X: old → new", "kept value Y".

pub mod limit;
pub mod phone;

use coupa_wire::{ContentGroup, Country, Currency, Department, NamedRef, Role, User, UserRef};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// A Coupa user field with its own element (reference §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Standard {
    Login,
    Email,
    Firstname,
    Lastname,
    Middlename,
    EmployeeNumber,
    /// Set from the HR status column, never mapped directly.
    Active,
    DefaultLocale,
    /// By name.
    Department,
    /// By the manager's login.
    Manager,
    /// By currency code.
    DefaultCurrency,
    /// By country code.
    CountryOfResidence,
    /// By name.
    LegalEntity,
    SsoIdentifier,
    AuthenticationMethod,
    SeniorityLevel,
    BusinessFunction,
    PurchasingUser,
    ExpenseUser,
    SourcingUser,
    InventoryUser,
    ContractsUser,
    AnalyticsUser,
    CcwUser,
    RiskAssessUser,
    SupplyChainUser,
    TravelUser,
    TreasuryUser,
    ClmAdvancedUser,
    /// A nested `PhoneNumber`, kept as `+aa xxx-yyy-zzzz x123`.
    PhoneWork,
    PhoneMobile,
    /// A nested `ApprovalLimit`, kept as `1000.00 USD` or a limit's name.
    RequisitionApprovalLimit,
    ExpenseApprovalLimit,
    InvoiceApprovalLimit,
    ContractApprovalLimit,
    RequisitionSelfApprovalLimit,
    ExpenseSelfApprovalLimit,
    InvoiceSelfApprovalLimit,
    ContractSelfApprovalLimit,
}

/// What kind of value a field holds, and the checks an HR value must pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text of at most `max` characters, compared exactly.
    Text {
        max: usize,
    },
    /// An e-mail address, compared without regard to case.
    Email,
    /// One of a fixed list, compared without regard to case.
    Choice(&'static [&'static str]),
    Bool,
    /// A set of names (roles, content groups).
    Set,
    /// A phone number (see `phone`), compared part by part on digits.
    Phone,
    /// An approval limit (see `limit`): an amount and currency, or a limit's name.
    ApprovalLimit,
}

/// Coupa's `authentication-method` values (reference §1.2).
pub const AUTHENTICATION_METHODS: &[&str] = &["coupa_credentials", "ldap", "saml"];

impl Standard {
    pub const ALL: [Standard; 39] = [
        Standard::Login,
        Standard::Email,
        Standard::Firstname,
        Standard::Lastname,
        Standard::Middlename,
        Standard::EmployeeNumber,
        Standard::Active,
        Standard::DefaultLocale,
        Standard::Department,
        Standard::Manager,
        Standard::DefaultCurrency,
        Standard::CountryOfResidence,
        Standard::LegalEntity,
        Standard::SsoIdentifier,
        Standard::AuthenticationMethod,
        Standard::SeniorityLevel,
        Standard::BusinessFunction,
        Standard::PurchasingUser,
        Standard::ExpenseUser,
        Standard::SourcingUser,
        Standard::InventoryUser,
        Standard::ContractsUser,
        Standard::AnalyticsUser,
        Standard::CcwUser,
        Standard::RiskAssessUser,
        Standard::SupplyChainUser,
        Standard::TravelUser,
        Standard::TreasuryUser,
        Standard::ClmAdvancedUser,
        Standard::PhoneWork,
        Standard::PhoneMobile,
        Standard::RequisitionApprovalLimit,
        Standard::ExpenseApprovalLimit,
        Standard::InvoiceApprovalLimit,
        Standard::ContractApprovalLimit,
        Standard::RequisitionSelfApprovalLimit,
        Standard::ExpenseSelfApprovalLimit,
        Standard::InvoiceSelfApprovalLimit,
        Standard::ContractSelfApprovalLimit,
    ];

    /// Coupa's element name.
    pub fn name(self) -> &'static str {
        match self {
            Standard::Login => "login",
            Standard::Email => "email",
            Standard::Firstname => "firstname",
            Standard::Lastname => "lastname",
            Standard::Middlename => "middlename",
            Standard::EmployeeNumber => "employee-number",
            Standard::Active => "active",
            Standard::DefaultLocale => "default-locale",
            Standard::Department => "department",
            Standard::Manager => "manager",
            Standard::DefaultCurrency => "default-currency",
            Standard::CountryOfResidence => "country-of-residence",
            Standard::LegalEntity => "legal-entity",
            Standard::SsoIdentifier => "sso-identifier",
            Standard::AuthenticationMethod => "authentication-method",
            Standard::SeniorityLevel => "seniority-level",
            Standard::BusinessFunction => "business-function",
            Standard::PurchasingUser => "purchasing-user",
            Standard::ExpenseUser => "expense-user",
            Standard::SourcingUser => "sourcing-user",
            Standard::InventoryUser => "inventory-user",
            Standard::ContractsUser => "contracts-user",
            Standard::AnalyticsUser => "analytics-user",
            Standard::CcwUser => "ccw-user",
            Standard::RiskAssessUser => "risk-assess-user",
            Standard::SupplyChainUser => "supply-chain-user",
            Standard::TravelUser => "travel-user",
            Standard::TreasuryUser => "treasury-user",
            Standard::ClmAdvancedUser => "clm-advanced-user",
            Standard::PhoneWork => "phone-work",
            Standard::PhoneMobile => "phone-mobile",
            Standard::RequisitionApprovalLimit => "requisition-approval-limit",
            Standard::ExpenseApprovalLimit => "expense-approval-limit",
            Standard::InvoiceApprovalLimit => "invoice-approval-limit",
            Standard::ContractApprovalLimit => "contract-approval-limit",
            Standard::RequisitionSelfApprovalLimit => "requisition-self-approval-limit",
            Standard::ExpenseSelfApprovalLimit => "expense-self-approval-limit",
            Standard::InvoiceSelfApprovalLimit => "invoice-self-approval-limit",
            Standard::ContractSelfApprovalLimit => "contract-self-approval-limit",
        }
    }

    pub fn kind(self) -> Kind {
        match self {
            Standard::Firstname | Standard::Lastname => Kind::Text { max: 40 },
            Standard::DefaultLocale => Kind::Text { max: 10 },
            Standard::DefaultCurrency => Kind::Text { max: 6 },
            Standard::Email => Kind::Email,
            Standard::AuthenticationMethod => Kind::Choice(AUTHENTICATION_METHODS),
            Standard::Active
            | Standard::PurchasingUser
            | Standard::ExpenseUser
            | Standard::SourcingUser
            | Standard::InventoryUser
            | Standard::ContractsUser
            | Standard::AnalyticsUser
            | Standard::CcwUser
            | Standard::RiskAssessUser
            | Standard::SupplyChainUser
            | Standard::TravelUser
            | Standard::TreasuryUser
            | Standard::ClmAdvancedUser => Kind::Bool,
            Standard::PhoneWork | Standard::PhoneMobile => Kind::Phone,
            s if limit_slot(s).is_some() => Kind::ApprovalLimit,
            _ => Kind::Text { max: 255 },
        }
    }
}

/// A field the connector can manage.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Standard(Standard),
    /// `custom-fields.<field name>`: the field name from Coupa's Setup > Custom Fields.
    Custom(String),
    Roles,
    ContentGroups,
}

/// Why a field name was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown Coupa user field `{name}`; known fields: {known}")]
pub struct UnknownField {
    pub name: String,
    pub known: String,
}

const CUSTOM_PREFIX: &str = "custom-fields.";

impl Field {
    pub const LOGIN: Field = Field::Standard(Standard::Login);
    pub const EMAIL: Field = Field::Standard(Standard::Email);
    pub const EMPLOYEE_NUMBER: Field = Field::Standard(Standard::EmployeeNumber);
    pub const ACTIVE: Field = Field::Standard(Standard::Active);

    /// The fields Coupa keeps unique across users (reference §1.3; `mention-name` is not managed).
    pub const UNIQUE: [Field; 3] = [Field::LOGIN, Field::EMAIL, Field::EMPLOYEE_NUMBER];

    /// Every name `parse` accepts, for error messages.
    pub fn known_names() -> String {
        let mut names: Vec<&str> = Standard::ALL.iter().map(|s| s.name()).collect();
        names.extend(["roles", "content-groups", "custom-fields.<name>"]);
        names.join(", ")
    }

    pub fn kind(&self) -> Kind {
        match self {
            Field::Standard(s) => s.kind(),
            Field::Custom(_) => Kind::Text { max: 255 },
            Field::Roles | Field::ContentGroups => Kind::Set,
        }
    }

    pub fn is_unique(&self) -> bool {
        Field::UNIQUE.contains(self)
    }

    /// Whether Coupa can be asked for users by this field (`GET /api/users?<field>[in]=…`).
    pub fn is_queryable(&self) -> bool {
        matches!(
            self,
            Field::Standard(
                Standard::Login
                    | Standard::Email
                    | Standard::EmployeeNumber
                    | Standard::SsoIdentifier
            ) | Field::Custom(_)
        )
    }

    /// The attribute path for a `coupa_wire::Query` condition (`custom-fields.badge`).
    pub fn query_path(&self) -> String {
        self.to_string()
    }

    /// The field's current value in a user Coupa returned; `None` when Coupa has none.
    pub fn read(&self, user: &User) -> Option<Value> {
        let text = |s: &Option<String>| s.as_deref().and_then(non_empty);
        match self {
            Field::Standard(s) => match s {
                Standard::Login => text(&user.login),
                Standard::Email => text(&user.email),
                Standard::Firstname => text(&user.firstname),
                Standard::Lastname => text(&user.lastname),
                Standard::Middlename => text(&user.middlename),
                Standard::EmployeeNumber => text(&user.employee_number),
                Standard::DefaultLocale => text(&user.default_locale),
                Standard::Department => user.department.as_ref().and_then(|d| text(&d.name)),
                Standard::Manager => user.manager.as_ref().and_then(|m| text(&m.login)),
                Standard::DefaultCurrency => {
                    user.default_currency.as_ref().and_then(|c| text(&c.code))
                }
                Standard::CountryOfResidence => user
                    .country_of_residence
                    .as_ref()
                    .and_then(|c| text(&c.code)),
                Standard::LegalEntity => user.legal_entity.as_ref().and_then(|l| text(&l.name)),
                Standard::SsoIdentifier => text(&user.sso_identifier),
                Standard::AuthenticationMethod => text(&user.authentication_method),
                Standard::SeniorityLevel => text(&user.seniority_level),
                Standard::BusinessFunction => text(&user.business_function),
                Standard::PhoneWork => phone_read(&user.phone_work),
                Standard::PhoneMobile => phone_read(&user.phone_mobile),
                s if limit_slot(*s).is_some() => limit_slot(*s)
                    .and_then(|slot| slot(user).as_deref())
                    .and_then(limit::held)
                    .map(Value::Text),
                flag => bool_slot(*flag, user).map(Value::Bool),
            },
            Field::Custom(name) => read_custom(user, name),
            Field::Roles => user
                .roles
                .as_ref()
                .map(|roles| Value::Set(roles.iter().filter_map(|r| r.name.clone()).collect())),
            Field::ContentGroups => user
                .content_groups
                .as_ref()
                .map(|groups| Value::Set(groups.iter().filter_map(|g| g.name.clone()).collect())),
        }
    }

    /// Writes `value` into a partial user, as a POST or PUT body carries it.
    pub fn write(&self, user: &mut User, value: &Value) {
        match (self, value) {
            (Field::Standard(s), Value::Bool(b)) => {
                if let Some(slot) = bool_slot_mut(*s, user) {
                    *slot = Some(*b);
                }
            }
            (Field::Standard(s), Value::Text(t)) => write_text(*s, user, t.clone()),
            (Field::Custom(name), value) => {
                let json = match value {
                    Value::Bool(b) => serde_json::Value::Bool(*b),
                    other => serde_json::Value::String(other.to_plain()),
                };
                user.custom_fields
                    .get_or_insert_with(Default::default)
                    .insert(name.clone(), json);
            }
            (Field::Roles, Value::Set(names)) => {
                user.roles = Some(names.iter().map(Role::named).collect());
            }
            (Field::ContentGroups, Value::Set(names)) => {
                user.content_groups = Some(names.iter().map(ContentGroup::named).collect());
            }
            // The catalog never pairs a field with a value of another kind (see `parse`).
            _ => {}
        }
    }

    /// Checks and normalises one HR value for this field. Empty text stays empty text, so the plan
    /// can tell "HR has no value" from "HR has this value"; an empty flag is no value at all.
    pub fn parse(&self, text: &str) -> Result<Option<Value>, String> {
        match self.kind() {
            Kind::Bool => {
                if text.trim().is_empty() {
                    Ok(None)
                } else {
                    parse_flag(text)
                        .map(|b| Some(Value::Bool(b)))
                        .ok_or_else(|| {
                            format!("expected yes/no, true/false, y/n or 1/0, found {text:?}")
                        })
                }
            }
            Kind::Text { max } => check_length(text, max).map(|()| Some(text_value(text))),
            Kind::Email => {
                check_length(text, 255)?;
                if !text.is_empty() && !is_valid_email(text) {
                    return Err(format!("{text:?} is not a valid e-mail address"));
                }
                Ok(Some(text_value(text)))
            }
            Kind::Choice(choices) => {
                if text.is_empty() {
                    return Ok(Some(text_value(text)));
                }
                choices
                    .iter()
                    .find(|c| c.eq_ignore_ascii_case(text))
                    .map(|c| Some(text_value(c)))
                    .ok_or_else(|| format!("{text:?} is not one of {}", choices.join(", ")))
            }
            Kind::Phone if text.trim().is_empty() => Ok(Some(text_value(""))),
            Kind::Phone => phone::Phone::parse(text).map(|p| Some(Value::Text(p.to_text()))),
            Kind::ApprovalLimit if text.trim().is_empty() => Ok(Some(text_value(""))),
            Kind::ApprovalLimit => {
                limit::Limit::parse(text).map(|l| Some(Value::Text(l.to_text())))
            }
            Kind::Set => Err("a set is read from its own section, not from a column".into()),
        }
    }

    /// Whether Coupa's `current` value already is the `desired` one.
    pub fn same(&self, desired: Option<&Value>, current: Option<&Value>) -> bool {
        let empty = |v: Option<&Value>| match v {
            None => true,
            Some(Value::Text(t)) => t.is_empty(),
            Some(Value::Set(s)) => s.is_empty(),
            Some(Value::Bool(_)) => false,
        };
        match (desired, current) {
            (Some(Value::Text(a)), Some(Value::Text(b))) => match self.kind() {
                Kind::Email | Kind::Choice(_) => a.eq_ignore_ascii_case(b),
                Kind::Phone if !a.is_empty() && !b.is_empty() => {
                    phone::Phone::from_text(a).same(&phone::Phone::from_text(b))
                }
                Kind::ApprovalLimit if !a.is_empty() && !b.is_empty() => limit::same(a, b),
                _ => a == b,
            },
            (Some(a), Some(b)) => a == b,
            (a, b) => empty(a) && empty(b),
        }
    }

    /// The form under which two users' values of a unique or match field collide: Coupa's
    /// uniqueness and exact-match queries do not distinguish case.
    pub fn key_form(value: &str) -> String {
        value.trim().to_lowercase()
    }
}

impl Field {
    /// The field's name in two parts (`custom-fields.`, `badge`), so it can be hashed or written
    /// without building a string.
    pub fn name_parts(&self) -> [&str; 2] {
        match self {
            Field::Standard(s) => [s.name(), ""],
            Field::Custom(name) => [CUSTOM_PREFIX, name],
            Field::Roles => ["roles", ""],
            Field::ContentGroups => ["content-groups", ""],
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.name_parts()
            .iter()
            .try_for_each(|part| f.write_str(part))
    }
}

impl FromStr for Field {
    type Err = UnknownField;

    fn from_str(name: &str) -> Result<Field, UnknownField> {
        let unknown = || UnknownField {
            name: name.to_string(),
            known: Field::known_names(),
        };
        if let Some(custom) = name.strip_prefix(CUSTOM_PREFIX) {
            let valid = !custom.is_empty()
                && custom
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            return if valid {
                Ok(Field::Custom(custom.to_string()))
            } else {
                Err(unknown())
            };
        }
        match name {
            "roles" => Ok(Field::Roles),
            "content-groups" => Ok(Field::ContentGroups),
            _ => Standard::ALL
                .into_iter()
                .find(|s| s.name() == name)
                .map(Field::Standard)
                .ok_or_else(unknown),
        }
    }
}

impl Serialize for Field {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Field, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// A field's value, normalised for comparison.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Bool(bool),
    Text(String),
    Set(BTreeSet<String>),
}

impl Value {
    /// The value as plain text: sets joined with commas.
    pub fn to_plain(&self) -> String {
        match self {
            Value::Bool(b) => b.to_string(),
            Value::Text(t) => t.clone(),
            Value::Set(s) => s.iter().cloned().collect::<Vec<_>>().join(","),
        }
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }

    pub fn as_set(&self) -> Option<&BTreeSet<String>> {
        match self {
            Value::Set(s) => Some(s),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Text(t) => write!(f, "{t:?}"),
            Value::Set(s) => {
                f.write_str("[")?;
                for (i, name) in s.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(name)?;
                }
                f.write_str("]")
            }
        }
    }
}

/// Renders an optional value for people: `(none)` when there is none.
pub fn show(value: Option<&Value>) -> String {
    value.map_or_else(|| "(none)".to_string(), Value::to_string)
}

fn non_empty(s: &str) -> Option<Value> {
    (!s.is_empty()).then(|| Value::Text(s.to_string()))
}

fn text_value(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn check_length(text: &str, max: usize) -> Result<(), String> {
    let len = text.chars().count();
    if len > max {
        Err(format!(
            "is {len} characters long; Coupa allows at most {max}"
        ))
    } else {
        Ok(())
    }
}

/// HR spellings of a flag; Coupa's CSV accepts the same set (reference §5.5).
fn parse_flag(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// A deliberately plain check: one `@`, a local part, a dotted domain of letters, digits and
/// hyphens, no spaces. Coupa's own rule is undocumented (reference §9.8); this rejects what is
/// certainly wrong without refusing unusual but valid addresses.
pub fn is_valid_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    local_ok && domain_ok
}

fn read_custom(user: &User, name: &str) -> Option<Value> {
    // Coupa writes field names with dashes or underscores, and old "global namespace" custom
    // fields as top-level elements (reference §1.2).
    let variants = [
        name.to_string(),
        name.replace('_', "-"),
        name.replace('-', "_"),
    ];
    let found = variants.iter().find_map(|n| {
        user.custom_fields
            .as_ref()
            .and_then(|m| m.get(n))
            .or_else(|| user.extra.get(n))
    })?;
    match found {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => non_empty(s),
        serde_json::Value::Bool(b) => Some(Value::Text(b.to_string())),
        serde_json::Value::Number(n) => Some(Value::Text(n.to_string())),
        // A custom field that refers to a lookup value comes back as a record with a name.
        serde_json::Value::Object(o) => match o.get("name").or_else(|| o.get("code")) {
            Some(serde_json::Value::String(s)) => non_empty(s),
            _ => Some(Value::Text(found.to_string())),
        },
        serde_json::Value::Array(_) => Some(Value::Text(found.to_string())),
    }
}

fn phone_read(slot: &Option<Box<coupa_wire::PhoneNumber>>) -> Option<Value> {
    slot.as_deref()
        .and_then(phone::Phone::from_wire)
        .map(|p| Value::Text(p.to_text()))
}

type LimitSlot = Option<Box<coupa_wire::ApprovalLimit>>;

/// Where a user keeps an approval-limit field, for reading.
fn limit_slot(s: Standard) -> Option<fn(&User) -> &LimitSlot> {
    Some(match s {
        Standard::RequisitionApprovalLimit => |u| &u.requisition_approval_limit,
        Standard::ExpenseApprovalLimit => |u| &u.expense_approval_limit,
        Standard::InvoiceApprovalLimit => |u| &u.invoice_approval_limit,
        Standard::ContractApprovalLimit => |u| &u.contract_approval_limit,
        Standard::RequisitionSelfApprovalLimit => |u| &u.requisition_self_approval_limit,
        Standard::ExpenseSelfApprovalLimit => |u| &u.expense_self_approval_limit,
        Standard::InvoiceSelfApprovalLimit => |u| &u.invoice_self_approval_limit,
        Standard::ContractSelfApprovalLimit => |u| &u.contract_self_approval_limit,
        _ => return None,
    })
}

/// Where a user keeps an approval-limit field, for writing.
fn limit_slot_mut(s: Standard, user: &mut User) -> Option<&mut LimitSlot> {
    Some(match s {
        Standard::RequisitionApprovalLimit => &mut user.requisition_approval_limit,
        Standard::ExpenseApprovalLimit => &mut user.expense_approval_limit,
        Standard::InvoiceApprovalLimit => &mut user.invoice_approval_limit,
        Standard::ContractApprovalLimit => &mut user.contract_approval_limit,
        Standard::RequisitionSelfApprovalLimit => &mut user.requisition_self_approval_limit,
        Standard::ExpenseSelfApprovalLimit => &mut user.expense_self_approval_limit,
        Standard::InvoiceSelfApprovalLimit => &mut user.invoice_self_approval_limit,
        Standard::ContractSelfApprovalLimit => &mut user.contract_self_approval_limit,
        _ => return None,
    })
}

fn bool_slot(s: Standard, user: &User) -> Option<bool> {
    match s {
        Standard::Active => user.active,
        Standard::PurchasingUser => user.purchasing_user,
        Standard::ExpenseUser => user.expense_user,
        Standard::SourcingUser => user.sourcing_user,
        Standard::InventoryUser => user.inventory_user,
        Standard::ContractsUser => user.contracts_user,
        Standard::AnalyticsUser => user.analytics_user,
        Standard::CcwUser => user.ccw_user,
        Standard::RiskAssessUser => user.risk_assess_user,
        Standard::SupplyChainUser => user.supply_chain_user,
        Standard::TravelUser => user.travel_user,
        Standard::TreasuryUser => user.treasury_user,
        Standard::ClmAdvancedUser => user.clm_advanced_user,
        _ => None,
    }
}

fn bool_slot_mut(s: Standard, user: &mut User) -> Option<&mut Option<bool>> {
    Some(match s {
        Standard::Active => &mut user.active,
        Standard::PurchasingUser => &mut user.purchasing_user,
        Standard::ExpenseUser => &mut user.expense_user,
        Standard::SourcingUser => &mut user.sourcing_user,
        Standard::InventoryUser => &mut user.inventory_user,
        Standard::ContractsUser => &mut user.contracts_user,
        Standard::AnalyticsUser => &mut user.analytics_user,
        Standard::CcwUser => &mut user.ccw_user,
        Standard::RiskAssessUser => &mut user.risk_assess_user,
        Standard::SupplyChainUser => &mut user.supply_chain_user,
        Standard::TravelUser => &mut user.travel_user,
        Standard::TreasuryUser => &mut user.treasury_user,
        Standard::ClmAdvancedUser => &mut user.clm_advanced_user,
        _ => return None,
    })
}

fn write_text(s: Standard, user: &mut User, t: String) {
    match s {
        Standard::Login => user.login = Some(t),
        Standard::Email => user.email = Some(t),
        Standard::Firstname => user.firstname = Some(t),
        Standard::Lastname => user.lastname = Some(t),
        Standard::Middlename => user.middlename = Some(t),
        Standard::EmployeeNumber => user.employee_number = Some(t),
        Standard::DefaultLocale => user.default_locale = Some(t),
        Standard::Department => {
            user.department = Some(Box::new(Department {
                name: Some(t),
                ..Department::default()
            }))
        }
        Standard::Manager => {
            user.manager = Some(Box::new(UserRef {
                login: Some(t),
                ..UserRef::default()
            }))
        }
        Standard::DefaultCurrency => {
            user.default_currency = Some(Box::new(Currency {
                code: Some(t),
                ..Currency::default()
            }))
        }
        Standard::CountryOfResidence => {
            user.country_of_residence = Some(Box::new(Country {
                code: Some(t),
                ..Country::default()
            }))
        }
        Standard::LegalEntity => {
            user.legal_entity = Some(Box::new(NamedRef {
                name: Some(t),
                ..NamedRef::default()
            }))
        }
        Standard::SsoIdentifier => user.sso_identifier = Some(t),
        Standard::AuthenticationMethod => user.authentication_method = Some(t),
        Standard::SeniorityLevel => user.seniority_level = Some(t),
        Standard::BusinessFunction => user.business_function = Some(t),
        // An empty value clears: every part sent blank.
        Standard::PhoneWork | Standard::PhoneMobile => {
            let phone = if t.is_empty() {
                phone::Phone::default()
            } else {
                phone::Phone::from_text(&t)
            };
            let slot = if s == Standard::PhoneWork {
                &mut user.phone_work
            } else {
                &mut user.phone_mobile
            };
            *slot = Some(Box::new(phone.to_wire()));
        }
        s if limit_slot(s).is_some() => {
            let wire = if t.is_empty() {
                coupa_wire::ApprovalLimit {
                    name: Some(String::new()),
                    amount: Some(String::new()),
                    ..coupa_wire::ApprovalLimit::default()
                }
            } else {
                // The value was checked by `parse`; a value that no longer reads is sent as a name.
                limit::Limit::parse(&t)
                    .unwrap_or(limit::Limit::Named(t))
                    .to_wire()
            };
            if let Some(slot) = limit_slot_mut(s, user) {
                *slot = Some(Box::new(wire));
            }
        }
        // Flags carry `Value::Bool` and are written through `bool_slot_mut`.
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> Value {
        Value::Set(names.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn every_standard_field_round_trips_through_a_user() {
        for s in Standard::ALL {
            let field = Field::Standard(s);
            assert_eq!(field.to_string().parse::<Field>().unwrap(), field);
            let value = match s.kind() {
                Kind::Bool => Value::Bool(true),
                Kind::Choice(c) => Value::Text(c[1].to_string()),
                Kind::Phone => Value::Text("+41 44-668-1800 x12".into()),
                Kind::ApprovalLimit => Value::Text("1000.00 USD".into()),
                _ => Value::Text("XY".into()),
            };
            let mut user = User::default();
            field.write(&mut user, &value);
            assert_eq!(field.read(&user), Some(value), "{field}");
        }
    }

    #[test]
    fn writes_references_by_their_natural_key() {
        let mut user = User::default();
        Field::Standard(Standard::Manager).write(&mut user, &Value::Text("boss".into()));
        Field::Standard(Standard::DefaultCurrency).write(&mut user, &Value::Text("EUR".into()));
        Field::Roles.write(&mut user, &set(&["Buyer", "User"]));
        let json = serde_json::to_value(&user).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "manager": {"login": "boss"},
                "default-currency": {"code": "EUR"},
                "roles": [{"name": "Buyer"}, {"name": "User"}]
            })
        );
    }

    #[test]
    fn custom_fields_are_read_from_either_place_coupa_puts_them() {
        let xml = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../coupa-wire/tests/fixtures/users-by-login.response.xml"
        ))
        .unwrap();
        let users: Vec<User> =
            coupa_wire::decode_list(coupa_wire::Format::Xml, xml.as_bytes(), "users").unwrap();
        let field: Field = "custom-fields.test-cust-field".parse().unwrap();
        assert_eq!(
            field.read(&users[0]),
            Some(Value::Text("TEST_CUSTOM_FIELD".into()))
        );
        // `<employee-number />` is no value, and `<roles type="array" />` an empty set.
        assert_eq!(Field::EMPLOYEE_NUMBER.read(&users[0]), None);
        assert_eq!(Field::Roles.read(&users[0]), Some(set(&[])));

        let mut user = User::default();
        let badge: Field = "custom-fields.badge_no".parse().unwrap();
        badge.write(&mut user, &Value::Text("B-7".into()));
        assert_eq!(
            serde_json::to_value(&user).unwrap(),
            serde_json::json!({"custom-fields": {"badge_no": "B-7"}})
        );
        assert_eq!(badge.read(&user), Some(Value::Text("B-7".into())));
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let err = "logn".parse::<Field>().unwrap_err();
        assert!(err.to_string().contains("`logn`"));
        assert!(err.to_string().contains("employee-number"));
        assert!("custom-fields.".parse::<Field>().is_err());
        assert!("custom-fields.a b".parse::<Field>().is_err());
    }

    #[test]
    fn parses_hr_values_by_kind() {
        let first = Field::Standard(Standard::Firstname);
        assert!(first.parse(&"x".repeat(40)).is_ok());
        let err = first.parse(&"é".repeat(41)).unwrap_err();
        assert!(
            err.contains("41 characters") && err.contains("at most 40"),
            "{err}"
        );

        let flag = Field::Standard(Standard::PurchasingUser);
        assert_eq!(flag.parse("Yes").unwrap(), Some(Value::Bool(true)));
        assert_eq!(flag.parse("f").unwrap(), Some(Value::Bool(false)));
        assert_eq!(flag.parse("").unwrap(), None);
        assert!(flag.parse("maybe").is_err());

        let method = Field::Standard(Standard::AuthenticationMethod);
        assert_eq!(
            method.parse("SAML").unwrap(),
            Some(Value::Text("saml".into()))
        );
        assert!(method.parse("kerberos").is_err());

        assert!(Field::EMAIL.parse("jane@acme.com").is_ok());
        assert!(Field::EMAIL.parse("").is_ok());
        assert!(Field::EMAIL.parse("jane@").is_err());
    }

    #[test]
    fn email_check_rejects_what_is_certainly_wrong() {
        for good in [
            "a@b.co",
            "jane.o'neil+hr@mail.acme-corp.com",
            "user_test@coupa.com",
        ] {
            assert!(is_valid_email(good), "{good}");
        }
        for bad in [
            "plain",
            "@acme.com",
            "jane@",
            "jane@acme",
            "jane doe@acme.com",
            "a@@b.com",
            "jane@acme..com",
            ".jane@acme.com",
            "jane@-acme.com",
            "a@b.com<script>",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
    }

    #[test]
    fn compares_as_coupa_does() {
        let email = Field::EMAIL;
        let t = |s: &str| Value::Text(s.into());
        assert!(email.same(Some(&t("Jane@Acme.com")), Some(&t("jane@acme.com"))));
        assert!(!Field::LOGIN.same(Some(&t("JDOE")), Some(&t("jdoe"))));
        assert!(Field::LOGIN.same(Some(&t("")), None));
        assert!(Field::Roles.same(Some(&set(&[])), None));
        assert!(!Field::Roles.same(Some(&set(&["Buyer"])), None));
        let flag = Field::Standard(Standard::ExpenseUser);
        assert!(!flag.same(Some(&Value::Bool(false)), None));
    }

    #[test]
    fn phones_and_approval_limits_are_checked_kept_in_csv_spelling_and_written_nested() {
        let work = Field::Standard(Standard::PhoneWork);
        assert_eq!(
            work.parse("+1 (415) 555.0100 ext 7").unwrap(),
            Some(Value::Text("+1 415-555-0100 x7".into()))
        );
        assert_eq!(work.parse("").unwrap(), Some(Value::Text(String::new())));
        let err = work.parse("555 0100").unwrap_err();
        assert!(
            err.contains("\"555 0100\"") && err.contains("xxx-yyy-zzzz"),
            "{err}"
        );

        let requisition = Field::Standard(Standard::RequisitionApprovalLimit);
        assert_eq!(
            requisition.parse("1000 usd").unwrap(),
            Some(Value::Text("1000.00 USD".into()))
        );
        assert!(requisition.parse("1000").is_err());

        let mut user = User::default();
        work.write(&mut user, &Value::Text("415-555-0100".into()));
        requisition.write(&mut user, &Value::Text("1000.00 USD".into()));
        Field::Standard(Standard::ExpenseApprovalLimit)
            .write(&mut user, &Value::Text("Director".into()));
        assert_eq!(
            serde_json::to_value(&user).unwrap(),
            serde_json::json!({
                "phone-work": {"country-code": "", "area-code": "415", "number": "555-0100",
                    "extension": ""},
                "requisition-approval-limit": {"amount": "1000.00", "currency": {"code": "USD"}},
                "expense-approval-limit": {"name": "Director"}
            })
        );
    }

    #[test]
    fn phones_compare_part_by_part_and_limits_as_decimals() {
        let t = |s: &str| Value::Text(s.into());
        let work = Field::Standard(Standard::PhoneWork);
        let user = User {
            phone_work: Some(Box::new(coupa_wire::PhoneNumber {
                area_code: Some("415".into()),
                number: Some("5550100".into()),
                ..Default::default()
            })),
            invoice_approval_limit: Some(Box::new(coupa_wire::ApprovalLimit {
                amount: Some("1000.0000".into()),
                currency: Some(Currency {
                    code: Some("USD".into()),
                    ..Currency::default()
                }),
                ..Default::default()
            })),
            ..User::default()
        };
        let held = work.read(&user);
        assert!(work.same(Some(&t("415-555-0100")), held.as_ref()));
        assert!(!work.same(Some(&t("415-555-0101")), held.as_ref()));
        assert!(!work.same(Some(&t("415-555-0100 x2")), held.as_ref()));
        assert!(work.same(Some(&t("")), None));
        let invoice = Field::Standard(Standard::InvoiceApprovalLimit);
        let held = invoice.read(&user);
        assert_eq!(held, Some(t("1000.0000 USD")));
        assert!(invoice.same(Some(&t("1000.00 USD")), held.as_ref()));
        assert!(!invoice.same(Some(&t("1000.00 EUR")), held.as_ref()));
        assert!(!invoice.same(Some(&t("1000.00 USD")), None));
    }

    #[test]
    fn values_serialize_plainly() {
        let v = serde_json::to_string(&[Value::Bool(true), Value::Text("a".into()), set(&["b"])])
            .unwrap();
        assert_eq!(v, r#"[true,"a",["b"]]"#);
        let back: Vec<Value> = serde_json::from_str(&v).unwrap();
        assert_eq!(back[2], set(&["b"]));
    }
}
