//! The Coupa user (reference §1.2) with every documented element, and the records it refers to.
//!
//! Every field is optional: a PUT carries only what changes, and Coupa omits what a caller did not ask
//! for (`fields=`, `return_object`). Unknown elements are kept in `extra`, so old "global namespace"
//! custom fields (`<test-cust-field>`) and fields Coupa adds later survive a decode → encode.

use crate::de::{opt_bool, opt_datetime, opt_i64, opt_map, opt_object, opt_string, opt_vec};
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A Coupa user, as `GET /api/users/{id}` returns it and as `POST`/`PUT` accept it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct User {
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(
        default,
        deserialize_with = "opt_datetime",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_at: Option<DateTime<FixedOffset>>,
    #[serde(
        default,
        deserialize_with = "opt_datetime",
        skip_serializing_if = "Option::is_none"
    )]
    pub updated_at: Option<DateTime<FixedOffset>>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_by: Option<Box<UserRef>>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub updated_by: Option<Box<UserRef>>,

    /// Required on create, unique. Coupa's usual key for `GET /api/users?login=…`.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub login: Option<String>,
    /// Required on create, unique.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub email: Option<String>,
    /// Required on create, at most 40 characters.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub firstname: Option<String>,
    /// Required on create, at most 40 characters.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub lastname: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub middlename: Option<String>,
    /// Read-only: derived by Coupa from the names.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub fullname: Option<String>,
    /// Unique; the HR system's cross-reference.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub employee_number: Option<String>,
    /// Unique; derived from the names when absent.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub mention_name: Option<String>,
    /// `false` is a deactivated user (Coupa has no DELETE).
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub active: Option<bool>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub salesforce_id: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub salesforce_enabled: Option<bool>,
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub api_user: Option<bool>,
    /// `coupa_credentials`, `ldap` or `saml` (an XML `type="symbol"`).
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub authentication_method: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub sso_identifier: Option<String>,
    /// Write-only. Held as a secret: `Debug` never shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<crate::Password>,
    /// Send Coupa's invitation e-mail so the user sets a password.
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub generate_password_and_notify: Option<bool>,
    /// 0 none, 1 default chart of accounts only, 2 account groups.
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub account_security_type: Option<i64>,
    /// 0 no content restriction, 1 basic and selected content groups.
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub business_group_security_type: Option<i64>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_locale: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_currency: Option<Box<Currency>>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub department: Option<Box<Department>>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub manager: Option<Box<UserRef>>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub phone_work: Option<Box<PhoneNumber>>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub phone_mobile: Option<Box<PhoneNumber>>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_address: Option<Box<Address>>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_account: Option<Box<Account>>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_account_type: Option<Box<AccountType>>,

    /// On a PUT, Coupa merges these into the user's roles; an empty list clears them.
    #[serde(
        default,
        deserialize_with = "opt_vec",
        skip_serializing_if = "Option::is_none"
    )]
    pub roles: Option<Vec<Role>>,
    #[serde(
        default,
        deserialize_with = "opt_vec",
        skip_serializing_if = "Option::is_none"
    )]
    pub content_groups: Option<Vec<ContentGroup>>,
    #[serde(
        default,
        deserialize_with = "opt_vec",
        skip_serializing_if = "Option::is_none"
    )]
    pub account_groups: Option<Vec<NamedRef>>,
    #[serde(
        default,
        deserialize_with = "opt_vec",
        skip_serializing_if = "Option::is_none"
    )]
    pub approval_groups: Option<Vec<NamedRef>>,
    #[serde(
        default,
        deserialize_with = "opt_vec",
        skip_serializing_if = "Option::is_none"
    )]
    pub user_groups: Option<Vec<NamedRef>>,
    #[serde(
        default,
        deserialize_with = "opt_vec",
        skip_serializing_if = "Option::is_none"
    )]
    pub working_warehouses: Option<Vec<NamedRef>>,
    #[serde(
        default,
        deserialize_with = "opt_vec",
        skip_serializing_if = "Option::is_none"
    )]
    pub inventory_organizations: Option<Vec<NamedRef>>,
    #[serde(
        default,
        deserialize_with = "opt_vec",
        skip_serializing_if = "Option::is_none"
    )]
    pub expenses_delegated_to: Option<Vec<UserRef>>,
    #[serde(
        default,
        deserialize_with = "opt_vec",
        skip_serializing_if = "Option::is_none"
    )]
    pub can_expense_for: Option<Vec<UserRef>>,

    /// Write-only shortcut that sets the requisition, expense and invoice limits.
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub approval_limit: Option<Box<ApprovalLimit>>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub requisition_approval_limit: Option<Box<ApprovalLimit>>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub expense_approval_limit: Option<Box<ApprovalLimit>>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub invoice_approval_limit: Option<Box<ApprovalLimit>>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub contract_approval_limit: Option<Box<ApprovalLimit>>,
    /// Write-only shortcut for the requisition and expense self-approval limits.
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub self_approval_limit: Option<Box<ApprovalLimit>>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub requisition_self_approval_limit: Option<Box<ApprovalLimit>>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub expense_self_approval_limit: Option<Box<ApprovalLimit>>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub contract_self_approval_limit: Option<Box<ApprovalLimit>>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub invoice_self_approval_limit: Option<Box<ApprovalLimit>>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub escalation_threshold: Option<Box<ApprovalLimit>>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub work_confirmation_approval_limit: Option<Box<ApprovalLimit>>,

    // Licence flags.
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub purchasing_user: Option<bool>,
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub expense_user: Option<bool>,
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub sourcing_user: Option<bool>,
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub inventory_user: Option<bool>,
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub contracts_user: Option<bool>,
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub analytics_user: Option<bool>,
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub ccw_user: Option<bool>,
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub risk_assess_user: Option<bool>,
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub supply_chain_user: Option<bool>,
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub travel_user: Option<bool>,
    #[serde(
        default,
        alias = "treasury_user",
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub treasury_user: Option<bool>,
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub clm_advanced_user: Option<bool>,
    #[serde(
        default,
        alias = "category_planner_user",
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub category_planner_user: Option<bool>,
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub aic_user: Option<bool>,
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub spend_guard_user: Option<bool>,
    #[serde(
        default,
        alias = "invoicing_user",
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub invoicing_user: Option<bool>,
    #[serde(
        default,
        alias = "category_strategy_user",
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub category_strategy_user: Option<bool>,
    #[serde(
        default,
        alias = "msp_user",
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub msp_user: Option<bool>,

    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub country_of_residence: Option<Box<Country>>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub legal_entity: Option<Box<NamedRef>>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub seniority_level: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub business_function: Option<String>,
    /// `ERP` (default) or `CoupaPay`.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub employee_payment_channel: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub allow_employee_payment_account_creation: Option<bool>,
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub allow_user_to_upload_invoice_from_mobile: Option<bool>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub pcard: Option<Box<Pcard>>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub avatar_thumb_url: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub edit_invoice_on_quick_entry: Option<bool>,
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub eligible_for_virtual_cards: Option<bool>,
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub supplier_id: Option<i64>,
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub supplier_user: Option<bool>,
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub support_user: Option<bool>,

    /// Custom fields by field name (`<custom-fields><cost-center>…</cost-center></custom-fields>`).
    #[serde(
        default,
        deserialize_with = "opt_map",
        skip_serializing_if = "Option::is_none"
    )]
    pub custom_fields: Option<Map<String, Value>>,
    /// Elements this model does not name: global-namespace custom fields and fields Coupa adds later.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Coupa's `UserSimple`: how a user is referred to from another record (manager, created-by).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct UserRef {
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub login: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub email: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub employee_number: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub firstname: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub lastname: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub fullname: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub salesforce_id: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub avatar_thumb_url: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_datetime",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_at: Option<DateTime<FixedOffset>>,
    #[serde(
        default,
        deserialize_with = "opt_datetime",
        skip_serializing_if = "Option::is_none"
    )]
    pub updated_at: Option<DateTime<FixedOffset>>,
}

/// A currency, referred to by its `code` (`EUR`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Currency {
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub code: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub decimals: Option<i64>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub symbol: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub enabled: Option<bool>,
}

/// A department, referred to by `name`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Department {
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub active: Option<bool>,
}

/// A role, referred to by `name` (`Buyer`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Role {
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub omnipotent: Option<bool>,
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub system_role: Option<bool>,
}

impl Role {
    /// A reference to a role by name, as a PUT sends it.
    pub fn named(name: impl Into<String>) -> Role {
        Role {
            name: Some(name.into()),
            ..Role::default()
        }
    }
}

/// A content group (Coupa's `BusinessGroup`), referred to by `name`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ContentGroup {
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
}

impl ContentGroup {
    /// A reference to a content group by name.
    pub fn named(name: impl Into<String>) -> ContentGroup {
        ContentGroup {
            name: Some(name.into()),
            ..ContentGroup::default()
        }
    }
}

/// Any record referred to by id or name: account groups, approval and user groups, warehouses,
/// inventory organisations, legal entities.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct NamedRef {
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
}

/// A phone number, in Coupa's four parts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PhoneNumber {
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub country_code: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub area_code: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub number: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub extension: Option<String>,
}

/// A country, referred to by its `code`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Country {
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub code: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
}

/// A ship-to address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Address {
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub location_code: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub street1: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub street2: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub street3: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub street4: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub city: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub state: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub postal_code: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub country: Option<Country>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub attention: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub local_tax_number: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub active: Option<bool>,
}

/// A chart-of-accounts type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct AccountType {
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub active: Option<bool>,
}

/// An account, referred to by its full `code`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Account {
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub code: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub active: Option<bool>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub account_type: Option<AccountType>,
}

/// An approval limit: an amount in a currency, for a subject (`requisition_header`…).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ApprovalLimit {
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    /// A decimal, kept as Coupa's text (`"1000.00"`) so no precision is lost.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub amount: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub currency: Option<Currency>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub subject: Option<String>,
}

/// A purchasing card.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Pcard {
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub number: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub expiry: Option<String>,
}

#[cfg(test)]
mod tests {
    /// The sandbox holds 100,000 users in memory: nested records are boxed to keep a user small.
    #[test]
    fn a_user_stays_small() {
        assert!(
            std::mem::size_of::<super::User>() < 1200,
            "{}",
            std::mem::size_of::<super::User>()
        );
    }
}
