//! Coupa's Integrations APIs (reference §7), through which a connector reports its own runs into
//! Coupa: the integration (the registry entry, `/api/integrations`), who is alerted for it
//! (`/api/integration_contacts`), each run (`/api/integration_runs`) and the per-record outcomes
//! of a run (`/api/integration_history_records` and `/api/integration_errors`, one shape).
//!
//! As for users, every field is optional and unknown elements are kept in `extra`.

use crate::de::{opt_bool, opt_datetime, opt_i64, opt_object, opt_string, opt_vec};
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The registry entry for a connector. `name` and `code` are unique; `code` is how runs and
/// records name it (`{"integration":{"code":"HR_USERS"}}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Integration {
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
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    /// The object the integration moves: `User`.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub business_object: Option<String>,
    /// `to_coupa` or `from_coupa`.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub direction: Option<String>,
    /// The system on the other side, free text (`Workday`).
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_system: Option<String>,
    /// `payroll`, `erp`, `hr`, `third_party_partner`, `third_party_vendor`, `other`, `internal`.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_system_type: Option<String>,
    /// `flat_file`, `api`, `corporate_credit_card_file`, `json`, `xml`, `original_format`.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub integration_type: Option<String>,
    /// Read-only: whether Coupa ships the integration.
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub standard: Option<bool>,
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
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An integration named by code or id, as runs and records refer to it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct IntegrationRef {
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
}

impl IntegrationRef {
    pub fn code(code: impl Into<String>) -> IntegrationRef {
        IntegrationRef {
            id: None,
            code: Some(code.into()),
        }
    }
}

/// Who is alerted about an integration's errors: a user (or a group, a supplier…) and for which
/// kind of alert.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct IntegrationContact {
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub integration: Option<IntegrationRef>,
    /// `User`, `UserGroup`, `ApprovalGroup`, `Supplier`, `SupplierUser`.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub contactable_type: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub contactable_id: Option<i64>,
    /// `Technical`, `Functional` or `Both` (see [`AlertType`]).
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub contact_alert_type: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Which contacts an alert is for: technical problems (the connection, Coupa refusing the
/// connector) or functional ones (the data of a record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertType {
    Technical,
    Functional,
    Both,
}

impl AlertType {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertType::Technical => "Technical",
            AlertType::Functional => "Functional",
            AlertType::Both => "Both",
        }
    }

    /// Coupa's word, any case.
    pub fn parse(word: &str) -> Option<AlertType> {
        [AlertType::Technical, AlertType::Functional, AlertType::Both]
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(word.trim()))
    }

    /// Whether a contact for `self` is alerted about an alert of type `alert`.
    pub fn covers(self, alert: AlertType) -> bool {
        self == AlertType::Both || alert == AlertType::Both || self == alert
    }
}

/// One run of an integration. Created `pending`; its state actions (`PUT /{id}/run`, `/fail`,
/// `/success`…) move it on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct IntegrationRun {
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub integration: Option<IntegrationRef>,
    /// `pending`, `running`, `paused`, `successful`, `failed` (see [`RunState`]).
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub status: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_datetime",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_time: Option<DateTime<FixedOffset>>,
    #[serde(
        default,
        deserialize_with = "opt_datetime",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_time: Option<DateTime<FixedOffset>>,
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub total_records: Option<i64>,
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub records_processed: Option<i64>,
    #[serde(
        default,
        deserialize_with = "opt_vec",
        skip_serializing_if = "Option::is_none"
    )]
    pub integration_errors: Option<Vec<IntegrationRecord>>,
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
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Where a run stands, and the state actions that move it (`PUT /api/integration_runs/{id}/<action>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunState {
    Pending,
    Running,
    Paused,
    Successful,
    Failed,
}

impl RunState {
    /// The word in a run's `status`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Pending => "pending",
            RunState::Running => "running",
            RunState::Paused => "paused",
            RunState::Successful => "successful",
            RunState::Failed => "failed",
        }
    }

    /// The state action that puts a run in this state: `run`, `pending`, `pause`, `success`, `fail`.
    pub fn action(self) -> &'static str {
        match self {
            RunState::Pending => "pending",
            RunState::Running => "run",
            RunState::Paused => "pause",
            RunState::Successful => "success",
            RunState::Failed => "fail",
        }
    }

    /// A `status` word, any case (`started` is an older word for `running`).
    pub fn parse(word: &str) -> Option<RunState> {
        match word.trim().to_ascii_lowercase().as_str() {
            "pending" => Some(RunState::Pending),
            "running" | "started" => Some(RunState::Running),
            "paused" => Some(RunState::Paused),
            "successful" => Some(RunState::Successful),
            "failed" | "errored" => Some(RunState::Failed),
            _ => None,
        }
    }

    /// The state a state action leads to (`finish` is `success`).
    pub fn from_action(action: &str) -> Option<RunState> {
        match action {
            "pending" => Some(RunState::Pending),
            "run" => Some(RunState::Running),
            "pause" => Some(RunState::Paused),
            "success" | "finish" => Some(RunState::Successful),
            "fail" => Some(RunState::Failed),
            _ => None,
        }
    }
}

/// The outcome of one record of a run: an integration history record
/// (`/api/integration_history_records`) or an integration error (`/api/integration_errors`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct IntegrationRecord {
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    /// `User` for users.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub document_type: Option<String>,
    /// The Coupa id of the record, when it has one.
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub document_id: Option<i64>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub document_status: Option<String>,
    /// The record's key in the other system, for a record with no Coupa id yet.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub external_id: Option<String>,
    /// `Success` or `Error`.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub status: Option<String>,
    /// `Technical`, `Functional` or `Both`: which contacts are alerted.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub contact_alert_type: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub integration: Option<IntegrationRef>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub integration_run: Option<RunRef>,
    #[serde(
        default,
        deserialize_with = "opt_vec",
        skip_serializing_if = "Option::is_none"
    )]
    pub responses: Option<Vec<IntegrationResponse>>,
    /// Read-only: set by `PUT /{id}/resolve`.
    #[serde(
        default,
        deserialize_with = "opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub resolved: Option<bool>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub integration_filename: Option<String>,
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
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A run named by id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RunRef {
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
}

/// What the other system answered for a record (`IntegrationRecordResponse`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct IntegrationResponse {
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub response_code: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub response_message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Format, decode, encode};

    #[test]
    fn a_record_round_trips_in_both_formats_with_coupa_names() {
        let record = IntegrationRecord {
            document_type: Some("User".into()),
            document_id: Some(281),
            external_id: Some("P0042".into()),
            status: Some("Error".into()),
            contact_alert_type: Some(AlertType::Functional.as_str().into()),
            integration: Some(IntegrationRef::code("HR_USERS")),
            integration_run: Some(RunRef { id: Some(7) }),
            responses: Some(vec![IntegrationResponse {
                response_code: Some("400".into()),
                response_message: Some("Email is invalid".into()),
            }]),
            ..IntegrationRecord::default()
        };
        let json = String::from_utf8(encode(Format::Json, "integration-error", &record)).unwrap();
        assert!(
            json.contains(r#""contact-alert-type":"Functional""#),
            "{json}"
        );
        assert!(json.contains(r#""integration-run":{"id":7}"#), "{json}");
        for format in [Format::Json, Format::Xml] {
            let body = encode(format, "integration-error", &record);
            let back: IntegrationRecord = decode(format, &body, "integration-error").unwrap();
            assert_eq!(back, record, "{format:?}");
        }
    }

    #[test]
    fn run_states_and_actions_use_coupa_words() {
        assert_eq!(RunState::from_action("finish"), Some(RunState::Successful));
        assert_eq!(RunState::from_action("run"), Some(RunState::Running));
        assert_eq!(RunState::from_action("delete"), None);
        assert_eq!(RunState::parse("Started"), Some(RunState::Running));
        for state in [
            RunState::Pending,
            RunState::Running,
            RunState::Paused,
            RunState::Successful,
            RunState::Failed,
        ] {
            assert_eq!(RunState::parse(state.as_str()), Some(state));
            assert_eq!(RunState::from_action(state.action()), Some(state));
        }
    }

    #[test]
    fn a_both_contact_hears_every_alert_and_the_others_their_own() {
        assert!(AlertType::Both.covers(AlertType::Technical));
        assert!(AlertType::Functional.covers(AlertType::Functional));
        assert!(!AlertType::Functional.covers(AlertType::Technical));
        assert_eq!(AlertType::parse(" technical "), Some(AlertType::Technical));
        assert_eq!(AlertType::parse("urgent"), None);
    }
}
