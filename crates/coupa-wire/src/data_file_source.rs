//! Coupa's record of one flat-file load (reference §5.6): `GET /api/data_file_sources` answers with
//! these, one per file Coupa picked up, with the load's status, counts and row-level errors.
//!
//! Every field is optional and unknown elements are kept in `extra`, as for users: the documented
//! element list is long and Coupa adds to it.

use crate::de::{opt_datetime, opt_i64, opt_object, opt_string, opt_vec};
use crate::user::UserRef;
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One load of a flat file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DataFileSource {
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
    /// `DataFileSource`, `BackgroundCsvFileLoad`…
    #[serde(
        rename = "type",
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub kind: Option<String>,
    /// The object loaded: `User` for users files.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub source_for: Option<String>,
    /// `done`, `failed`, `loading`… (see [`LoadStatus`]).
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub status: Option<String>,
    /// The file's name as Coupa keeps it; files from SFTP carry their folder in it
    /// (`_Incoming_Users_users_1.csv`).
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub file_file_name: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub file_content_type: Option<String>,
    /// A string in Coupa's answers.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub file_file_size: Option<String>,
    /// `4 rows processed, creating 0 new rows and updating 3 rows.`
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub result_text: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub progress: Option<String>,
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
    pub records_count: Option<i64>,
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub records_created: Option<i64>,
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub records_updated: Option<i64>,
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub upload_errors_count: Option<i64>,
    #[serde(
        default,
        deserialize_with = "opt_vec",
        skip_serializing_if = "Option::is_none"
    )]
    pub upload_errors: Option<Vec<UploadError>>,
    #[serde(
        default,
        deserialize_with = "opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_by: Option<Box<UserRef>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One row Coupa could not load (`UploadRowError`), or a problem with the file as a whole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct UploadError {
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    /// `UploadRowError` for a row.
    #[serde(
        rename = "type",
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub kind: Option<String>,
    /// The row of the file the error is about.
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub row: Option<i64>,
    /// The value of the row's first cell.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub first_column: Option<String>,
    /// The field refused (`email`), as Coupa names it.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub field_with_error: Option<String>,
    /// The value refused.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<String>,
    /// Coupa's messages (`Email has already been taken`).
    #[serde(
        default,
        deserialize_with = "opt_vec",
        skip_serializing_if = "Option::is_none"
    )]
    pub field_errors: Option<Vec<String>>,
}

/// Where a load stands, from Coupa's `status` word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadStatus {
    /// `Done`: the file was loaded; rows may still have failed (see the upload errors).
    Done,
    /// `Failed` or `Stopped`: the load ended without loading the file as a whole.
    Failed,
    /// Anything else Coupa documents (`Pending`, `Loading`, `Retrying`, `Submitted to Resque`,
    /// `Uploading`, `Paused`) or a word it may add: not finished.
    InProgress,
}

impl LoadStatus {
    /// Reads Coupa's status word, in any case (the documentation capitalises, samples do not).
    pub fn of(status: &str) -> LoadStatus {
        match status.trim().to_ascii_lowercase().as_str() {
            "done" => LoadStatus::Done,
            "failed" | "stopped" => LoadStatus::Failed,
            _ => LoadStatus::InProgress,
        }
    }

    pub fn is_finished(self) -> bool {
        self != LoadStatus::InProgress
    }
}

impl DataFileSource {
    /// The load's status; a record without one has not finished.
    pub fn load_status(&self) -> LoadStatus {
        self.status
            .as_deref()
            .map_or(LoadStatus::InProgress, LoadStatus::of)
    }

    /// Whether this is the load of the file dropped as `name` into the SFTP folder `folder`
    /// (`/Incoming/Users`): Coupa keeps the name alone, or prefixed with the folder it came from,
    /// slashes turned into underscores (`_Incoming_Users_<name>`).
    pub fn is_load_of(&self, folder: &str, name: &str) -> bool {
        self.file_file_name.as_deref().is_some_and(|kept| {
            kept == name
                || kept.strip_suffix(name).is_some_and(|prefix| {
                    prefix.strip_suffix('_')
                        == Some(&folder.trim_end_matches('/').replace('/', "_"))
                })
        })
    }

    /// The upload errors, none when Coupa listed none.
    pub fn errors(&self) -> &[UploadError] {
        self.upload_errors.as_deref().unwrap_or_default()
    }
}

impl UploadError {
    /// Coupa's messages, none when it gave none.
    pub fn messages(&self) -> &[String] {
        self.field_errors.as_deref().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Format, decode_list};

    /// The reference's sample answer (§5.6), with a second load still running.
    const SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<data-file-sources type="array">
 <data-file-source>
  <id type="integer">1338</id><type>DataFileSource</type><source-for>User</source-for>
  <status>done</status><file-file-name>_Incoming_Users_users_20260101.csv</file-file-name>
  <file-file-size>2048</file-file-size>
  <created-at type="dateTime">2026-01-01T12:03:00Z</created-at>
  <result-text>3 rows processed, creating 1 new rows and updating 1 rows.</result-text>
  <records-created type="integer">1</records-created>
  <upload-errors-count type="integer">1</upload-errors-count>
  <upload-errors type="array"><upload-error><type>UploadRowError</type>
   <row type="integer">3</row><first-column>jdoe</first-column>
   <field-with-error>email</field-with-error><value>x@y.com</value>
   <field-errors type="array"><field-error>Email has already been taken</field-error></field-errors>
  </upload-error></upload-errors>
  <integration-run-id nil="true"/>
 </data-file-source>
 <data-file-source>
  <id type="integer">1339</id><status>Submitted to Resque</status>
  <file-file-name>users_20260101_0002.csv</file-file-name>
  <upload-errors type="array"/>
 </data-file-source>
</data-file-sources>"#;

    #[test]
    fn decodes_the_documented_sample() {
        let sources: Vec<DataFileSource> =
            decode_list(Format::Xml, SAMPLE.as_bytes(), "data-file-sources").unwrap();
        assert_eq!(sources.len(), 2);
        let done = &sources[0];
        assert_eq!(done.id, Some(1338));
        assert_eq!(done.kind.as_deref(), Some("DataFileSource"));
        assert_eq!(done.source_for.as_deref(), Some("User"));
        assert_eq!(done.load_status(), LoadStatus::Done);
        assert_eq!(done.file_file_size.as_deref(), Some("2048"));
        assert_eq!(done.records_created, Some(1));
        assert_eq!(
            done.errors(),
            [UploadError {
                kind: Some("UploadRowError".into()),
                row: Some(3),
                first_column: Some("jdoe".into()),
                field_with_error: Some("email".into()),
                value: Some("x@y.com".into()),
                field_errors: Some(vec!["Email has already been taken".into()]),
                ..UploadError::default()
            }]
        );
        assert!(done.extra.contains_key("integration-run-id"));
        let running = &sources[1];
        assert_eq!(running.load_status(), LoadStatus::InProgress);
        assert!(running.errors().is_empty());
    }

    #[test]
    fn decodes_json_with_native_types() {
        let json = r#"[{"id": 7, "status": "failed", "file-file-name": "a.csv",
            "upload-errors": [{"row": 2, "field-errors": ["Login can't be blank"]}]}]"#;
        let sources: Vec<DataFileSource> =
            decode_list(Format::Json, json.as_bytes(), "data-file-sources").unwrap();
        assert_eq!(sources[0].load_status(), LoadStatus::Failed);
        assert_eq!(sources[0].errors()[0].row, Some(2));
        assert_eq!(sources[0].errors()[0].messages(), ["Login can't be blank"]);
    }

    #[test]
    fn status_words_in_any_case() {
        assert_eq!(LoadStatus::of("Done"), LoadStatus::Done);
        assert_eq!(LoadStatus::of(" stopped "), LoadStatus::Failed);
        for word in ["Pending", "Loading", "Retrying", "Paused", "whatever"] {
            assert!(!LoadStatus::of(word).is_finished(), "{word}");
        }
    }

    #[test]
    fn names_match_with_or_without_the_sftp_folder() {
        let named = |n: &str| DataFileSource {
            file_file_name: Some(n.into()),
            ..DataFileSource::default()
        };
        let ours = "users_20261128T120000Z_0001.csv";
        let folder = "/Incoming/Users";
        assert!(named(ours).is_load_of(folder, ours));
        assert!(named(&format!("_Incoming_Users_{ours}")).is_load_of(folder, ours));
        assert!(named(&format!("_Incoming_Users_{ours}")).is_load_of("/Incoming/Users/", ours));
        assert!(!named(&format!("_Other_{ours}")).is_load_of(folder, ours));
        assert!(!named(&format!("x{ours}")).is_load_of(folder, ours));
        assert!(!named(&format!("old_{ours}")).is_load_of(folder, ours));
        assert!(!named("users_20261128T120000Z_0001.csv.part").is_load_of(folder, ours));
        assert!(!DataFileSource::default().is_load_of(folder, ours));
    }
}
