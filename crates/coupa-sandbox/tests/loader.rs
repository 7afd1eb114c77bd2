//! The users flat-file loader as a connector meets it: a CSV dropped in `/Incoming/Users` (on disk,
//! or through OpenSSH's `sftp`), the loader run, then the result read back through
//! `/api/data_file_sources` (XML and JSON), `/api/users`, the `/data_sources` page, the mailbox and
//! `/Outgoing/Users`.
//!
//! The SFTP test needs `sftp` and `ssh-keygen` (Debian's openssh-client), which ./scripts/test.sh
//! installs.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

mod common;

use axum::http::StatusCode;
use common::openssh::Operator;
use common::{Answer, Api, config};
use coupa_sandbox::{LoadStatus, Sandbox, SandboxConfig, SftpConfig, SftpUser};
use coupa_wire::Format;
use coupa_wire::flatfile::{USER_COLUMNS, write_record};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tempfile::TempDir;

const ADMIN: &str = "coupa-admin@example.com";

fn loader_config(data_dir: Option<&Path>) -> SandboxConfig {
    SandboxConfig {
        sftp: Some(SftpConfig {
            users: vec![SftpUser {
                name: "connector".into(),
                password: Some("sftp-password".to_string().into()),
                authorized_keys: Vec::new(),
            }],
            ..SftpConfig::default()
        }),
        // Only makes `/mailbox/messages` answer: these tests never bind the SMTP port.
        smtp: Some("127.0.0.1:0".into()),
        admin_email: ADMIN.into(),
        data_dir: data_dir.map(Path::to_path_buf),
        ..config()
    }
}

const REFERENCE: &str = r#"{
    "departments": [{"name": "Finance"}, {"name": "R&D <Labs>"}],
    "content-groups": [{"name": "EMEA"}, {"name": "APAC"}],
    "custom-fields": [{"name": "cost-center", "prompt": "Cost Center"}],
    "approval-limits": [{"name": "Director", "amount": "25000", "currency": {"code": "EUR"}}]
}"#;

/// A sandbox with the loader's drop folder, Coupa's roles, two departments, two content groups, a
/// custom field and an approval limit.
async fn coupa() -> Api {
    coupa_in(None).await
}

async fn coupa_in(data_dir: Option<&Path>) -> Api {
    let api = Api::with(loader_config(data_dir)).await;
    api.sandbox.seed_reference(REFERENCE).await.unwrap();
    api
}

/// A users file as Coupa documents it: every field quoted, CRLF line ends.
fn csv(rows: &[&[&str]]) -> String {
    let mut out = String::new();
    for row in rows {
        write_record(&mut out, row);
    }
    out
}

/// The drop folder's root on disk.
fn root(api: &Api) -> PathBuf {
    api.sandbox.drop_folder().unwrap().root().to_path_buf()
}

fn incoming(api: &Api) -> PathBuf {
    root(api).join("Incoming/Users")
}

fn drop_file(api: &Api, name: &str, contents: impl AsRef<[u8]>) {
    std::fs::write(incoming(api).join(name), contents).unwrap();
}

/// Runs the loader once and returns the one load it made.
async fn load_one(api: &Api) -> i64 {
    let loads = api.sandbox.run_loader_once().await.unwrap();
    assert_eq!(loads.len(), 1, "{loads:?}");
    loads[0].id
}

/// Load `id` as `GET /api/data_file_sources/{id}` answers in JSON.
async fn source(api: &Api, id: i64) -> Value {
    let a = api.get_json(&format!("/api/data_file_sources/{id}")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    a.json()
}

/// The user with this login, as `GET /api/users?login=` answers in JSON.
async fn user(api: &Api, login: &str) -> Option<Value> {
    let a = api.get_json(&format!("/api/users?login={login}")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    a.json().as_array().unwrap().first().cloned()
}

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// `(row, field, value, messages)` of each upload error.
fn errors(load: &Value) -> Vec<(i64, String, String, Vec<String>)> {
    load["upload-errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_i64().unwrap(),
                e["field-with-error"].as_str().unwrap().to_string(),
                e["value"].as_str().unwrap().to_string(),
                e["field-errors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

/// Jane Doe, employee E1, created through the API.
async fn jane_e1(api: &Api) -> Value {
    api.create(
        &json!({"login": "jdoe", "email": "jdoe@example.com", "firstname": "Jane",
        "lastname": "Doe", "employee-number": "E1"}),
    )
    .await
}

const HEADER: &[&str] = &[
    "Login",
    "Email",
    "First Name",
    "Last Name",
    "Employee Number",
    "Status",
    "Department",
    "User Role Names",
    "Content Groups",
    "Cost Center",
];

#[tokio::test]
async fn a_new_user_row_creates_the_user_and_the_load_reports_it() {
    let api = coupa().await;
    drop_file(
        &api,
        "users_20260101_120000Z.csv",
        csv(&[
            HEADER,
            &[
                "jdoe",
                "jane.doe@example.com",
                "Zoë",
                "O'Brien, \"Jr.\"",
                "E100",
                "active",
                "R&D <Labs>",
                "Buyer, User",
                "EMEA",
                "CC-1",
            ],
        ]),
    );
    let id = load_one(&api).await;

    let jane = user(&api, "jdoe").await.expect("the row created jdoe");
    assert_eq!(jane["firstname"], "Zoë");
    assert_eq!(jane["lastname"], "O'Brien, \"Jr.\"");
    assert_eq!(jane["employee-number"], "E100");
    assert_eq!(jane["active"], true);
    assert_eq!(jane["department"]["name"], "R&D <Labs>");
    assert_eq!(names(&jane["roles"]), ["Buyer", "User"]);
    assert_eq!(names(&jane["content-groups"]), ["EMEA"]);
    assert_eq!(jane["custom-fields"]["cost-center"], "CC-1");

    let load = source(&api, id).await;
    assert_eq!(load["type"], "DataFileSource");
    assert_eq!(load["source-for"], "User");
    assert_eq!(load["status"], "done");
    assert_eq!(
        load["file-file-name"],
        "_Incoming_Users_users_20260101_120000Z.csv"
    );
    assert_eq!(load["file-content-type"], "text/csv");
    assert_eq!(
        load["result-text"],
        "1 rows processed, creating 1 new rows and updating 0 rows."
    );
    assert_eq!(load["records-count"], 1);
    assert_eq!(load["records-created"], 1);
    assert_eq!(load["records-updated"], 0);
    assert_eq!(load["upload-errors-count"], 0);
    assert_eq!(load["upload-errors"], json!([]));
    assert_eq!(load["created-by"]["login"], "sftp_integration@coupa.com");
    assert!(load["start-time"].is_string() && load["end-time"].is_string());
    let size =
        std::fs::metadata(root(&api).join("Incoming/Archive/Users/users_20260101_120000Z.csv"))
            .unwrap()
            .len();
    assert_eq!(load["file-file-size"], size.to_string());
    assert!(
        api.mail(Some(ADMIN)).await.is_empty(),
        "a clean load sends no notice"
    );
}

#[tokio::test]
async fn a_created_row_asking_for_the_invitation_gets_it_and_an_updated_one_does_not() {
    let api = coupa().await;
    let header: &[&str] = &[
        "Login",
        "Email",
        "First Name",
        "Last Name",
        "Generate Password And Notify User",
    ];
    drop_file(
        &api,
        "users_1.csv",
        csv(&[
            header,
            &["jdoe", "jane.doe@example.com", "Jane", "Doe", "Yes"],
            &["asmith", "ann.smith@example.com", "Ann", "Smith", "No"],
        ]),
    );
    load_one(&api).await;
    drop_file(
        &api,
        "users_2.csv",
        csv(&[
            header,
            &[
                "asmith",
                "ann.smith@example.com",
                "Ann",
                "Smith-Jones",
                "Yes",
            ],
        ]),
    );
    load_one(&api).await;

    let mails = api.mail(None).await;
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert_eq!(mails[0]["to"], json!(["jane.doe@example.com"]));
    assert!(mails[0]["body"].as_str().unwrap().contains("login jdoe"));
    assert_eq!(
        user(&api, "asmith").await.unwrap()["lastname"],
        "Smith-Jones"
    );
}

#[tokio::test]
async fn the_xml_answer_carries_coupas_element_names_and_types() {
    let api = coupa().await;
    drop_file(
        &api,
        "users.csv",
        csv(&[
            &["Login", "Email", "First Name", "Last Name"],
            &["jdoe", "jdoe@example.com", "Jane", "Doe"],
            &["bad", "not-an-email", "Bad", "Row"],
        ]),
    );
    load_one(&api).await;
    let a = api
        .get_xml("/api/data_file_sources?source_for=User&file_file_name=_Incoming_Users_users.csv")
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    for element in [
        "<data-file-sources type=\"array\">",
        "<data-file-source>",
        "<id type=\"integer\">1</id>",
        "<status>done</status>",
        "<records-created type=\"integer\">1</records-created>",
        "<upload-errors type=\"array\">",
        "<upload-error>",
        "<type>UploadRowError</type>",
        "<row type=\"integer\">3</row>",
        "<first-column>bad</first-column>",
        "<field-with-error>email</field-with-error>",
        "<value>not-an-email</value>",
        "<field-errors type=\"array\"><field-error>Email is invalid</field-error></field-errors>",
        "<start-time type=\"dateTime\">",
        "<integration-id nil=\"true\"/>",
    ] {
        assert!(a.body.contains(element), "{element} missing in {}", a.body);
    }
    let decoded =
        coupa_wire::decode_value(Format::Xml, a.body.as_bytes(), "data-file-sources").unwrap();
    assert_eq!(decoded[0]["upload-errors-count"], 1);
    assert_eq!(
        decoded[0]["result-text"],
        "2 rows processed, creating 1 new rows and updating 0 rows."
    );
}

#[tokio::test]
async fn employee_number_matches_and_the_login_may_change() {
    let api = coupa().await;
    jane_e1(&api).await;
    drop_file(
        &api,
        "u.csv",
        csv(&[
            &["Employee Number", "Login", "Last Name"],
            &["E1", "jane.smith", "Smith"],
        ]),
    );
    let id = load_one(&api).await;
    assert!(user(&api, "jdoe").await.is_none());
    let jane = user(&api, "jane.smith").await.unwrap();
    assert_eq!(
        (jane["employee-number"].as_str(), jane["lastname"].as_str()),
        (Some("E1"), Some("Smith"))
    );
    assert_eq!(
        jane["firstname"], "Jane",
        "a column not in the file is left alone"
    );
    let load = source(&api, id).await;
    assert_eq!(load["records-updated"], 1);
    assert_eq!(load["records-created"], 0);
}

#[tokio::test]
async fn a_login_keyed_row_cannot_change_the_employee_number() {
    let api = coupa().await;
    jane_e1(&api).await;
    drop_file(
        &api,
        "u.csv",
        csv(&[
            &[
                "Login",
                "Employee Number",
                "Email",
                "First Name",
                "Last Name",
            ],
            &["jdoe", "E2", "jdoe@example.com", "Jane", "Doe"],
        ]),
    );
    let id = load_one(&api).await;
    let load = source(&api, id).await;
    assert_eq!(load["status"], "done");
    assert_eq!(load["records-created"], 0);
    assert_eq!(load["records-updated"], 0);
    // Coupa takes the row for a new user, whose login and e-mail are taken.
    assert_eq!(
        errors(&load),
        [
            (
                2,
                "login".into(),
                "jdoe".into(),
                vec!["Login has already been taken".to_string()]
            ),
            (
                2,
                "email".into(),
                "jdoe@example.com".into(),
                vec!["Email has already been taken".to_string()]
            ),
        ]
    );
    assert_eq!(user(&api, "jdoe").await.unwrap()["employee-number"], "E1");
}

#[tokio::test]
async fn an_id_keyed_row_may_change_login_and_employee_number() {
    let api = coupa().await;
    let jane = jane_e1(&api).await;
    let id = jane["id"].as_i64().unwrap().to_string();
    drop_file(
        &api,
        "u.csv",
        csv(&[
            &["Id", "Login", "Employee Number"],
            &[&id, "jane", "E9"],
            &["999", "ghost", ""],
        ]),
    );
    let load = source(&api, load_one(&api).await).await;
    let jane = user(&api, "jane").await.unwrap();
    assert_eq!(jane["employee-number"], "E9");
    assert_eq!(
        errors(&load),
        [(
            3,
            "id".into(),
            "999".into(),
            vec![r#"Id unable to find valid User record with keys {"id"=>999}"#.to_string()]
        )]
    );
}

#[tokio::test]
async fn status_deactivates_and_reactivates() {
    let api = coupa().await;
    jane_e1(&api).await;
    drop_file(
        &api,
        "1.csv",
        csv(&[&["Employee Number", "Status"], &["E1", "inactive"]]),
    );
    load_one(&api).await;
    assert_eq!(user(&api, "jdoe").await.unwrap()["active"], false);
    drop_file(
        &api,
        "2.csv",
        csv(&[&["Employee Number", "Status"], &["E1", "Active"]]),
    );
    load_one(&api).await;
    assert_eq!(user(&api, "jdoe").await.unwrap()["active"], true);
}

#[tokio::test]
async fn roles_and_content_groups_are_replaced_and_null_clears_them() {
    let api = coupa().await;
    api.create(
        &json!({"login": "jdoe", "email": "jdoe@example.com", "firstname": "Jane",
        "lastname": "Doe", "roles": [{"name": "Buyer"}, {"name": "Admin"}],
        "content-groups": [{"name": "EMEA"}]}),
    )
    .await;
    assert_eq!(
        names(&user(&api, "jdoe").await.unwrap()["roles"]),
        ["Admin", "Buyer", "User"]
    );

    drop_file(
        &api,
        "1.csv",
        csv(&[
            &["Login", "User Role Names", "Content Groups"],
            &["jdoe", "Accounts Payable,User", "APAC"],
        ]),
    );
    load_one(&api).await;
    let jane = user(&api, "jdoe").await.unwrap();
    assert_eq!(
        names(&jane["roles"]),
        ["Accounts Payable", "User"],
        "the file's list replaces"
    );
    assert_eq!(names(&jane["content-groups"]), ["APAC"]);

    let before = jane["updated-at"].clone();
    drop_file(
        &api,
        "2.csv",
        csv(&[
            &["Login", "User Role Names"],
            &["jdoe", "User,Accounts Payable"],
        ]),
    );
    let same = source(&api, load_one(&api).await).await;
    assert_eq!(same["records-updated"], 1);
    assert_eq!(
        user(&api, "jdoe").await.unwrap()["updated-at"],
        before,
        "the same set again is no change"
    );

    drop_file(
        &api,
        "3.csv",
        csv(&[
            &["Login", "User Role Names", "Content Groups"],
            &["jdoe", "--NULL--", "--NULL--"],
        ]),
    );
    load_one(&api).await;
    let jane = user(&api, "jdoe").await.unwrap();
    assert_eq!(jane["roles"], json!([]));
    assert_eq!(jane["content-groups"], json!([]));
}

#[tokio::test]
async fn a_custom_field_column_is_matched_by_its_prompt_and_null_clears_it() {
    let api = coupa().await;
    api.create(
        &json!({"login": "jdoe", "email": "jdoe@example.com", "firstname": "Jane",
        "lastname": "Doe"}),
    )
    .await;
    drop_file(
        &api,
        "1.csv",
        csv(&[&["Login", "cost center"], &["jdoe", "CC-7"]]),
    );
    load_one(&api).await;
    assert_eq!(
        user(&api, "jdoe").await.unwrap()["custom-fields"]["cost-center"],
        "CC-7"
    );
    drop_file(
        &api,
        "2.csv",
        csv(&[&["Login", "Cost Center"], &["jdoe", "--NULL--"]]),
    );
    load_one(&api).await;
    assert_eq!(
        user(&api, "jdoe").await.unwrap()["custom-fields"]["cost-center"],
        Value::Null
    );
}

#[tokio::test]
async fn blank_cells_leave_values_and_address_parts_change_alone() {
    let api = coupa().await;
    api.create(
        &json!({"login": "jdoe", "email": "jdoe@example.com", "firstname": "Jane",
        "lastname": "Doe", "middlename": "Q", "default-address": {"street1": "1 Main St",
        "city": "Springfield"}}),
    )
    .await;
    drop_file(
        &api,
        "1.csv",
        csv(&[
            &["Login", "First Name", "Middle Name", "Default Address City"],
            &["jdoe", "", "--NULL--", "Shelbyville"],
        ]),
    );
    load_one(&api).await;
    let jane = user(&api, "jdoe").await.unwrap();
    assert_eq!(jane["firstname"], "Jane", "blank: unchanged");
    assert_eq!(jane["middlename"], Value::Null, "--NULL--: cleared");
    assert_eq!(jane["default-address"]["city"], "Shelbyville");
    assert_eq!(jane["default-address"]["street1"], "1 Main St");
}

#[tokio::test]
async fn bad_rows_fail_alone_and_the_admin_is_told() {
    let api = coupa().await;
    api.create(
        &json!({"login": "taken", "email": "taken@example.com", "firstname": "T",
        "lastname": "Aken"}),
    )
    .await;
    drop_file(
        &api,
        "users_bad.csv",
        csv(&[
            &[
                "Login",
                "Email",
                "First Name",
                "Last Name",
                "Department",
                "Purchasing User",
                "User Role Names",
                "Approver Login",
                "Phone Work",
            ],
            &[
                "good1",
                "good1@example.com",
                "Good",
                "One",
                "Finance",
                "Yes",
                "Buyer",
                "taken",
                "",
            ],
            &[
                "dept",
                "dept@example.com",
                "Bad",
                "Dept",
                "Marketing",
                "",
                "",
                "",
                "",
            ],
            &[
                "flag",
                "flag@example.com",
                "Bad",
                "Flag",
                "",
                "maybe",
                "",
                "",
                "",
            ],
            &[
                "dup",
                "taken@example.com",
                "Dup",
                "Email",
                "",
                "",
                "",
                "",
                "",
            ],
            &["noname", "noname@example.com", "", "", "", "", "", "", ""],
            &[
                "role",
                "role@example.com",
                "Bad",
                "Role",
                "",
                "",
                "Buyer,Wizard",
                "nobody",
                "",
            ],
            &[
                "line",
                "line@example.com",
                "Two\nLines",
                "Name",
                "",
                "",
                "",
                "",
                "",
            ],
            &[
                "phone",
                "phone@example.com",
                "Has",
                "Phone",
                "",
                "",
                "",
                "",
                "(415) 555-0100",
            ],
            &[
                "good2",
                "good2@example.com",
                "Good",
                "Two",
                "",
                "N",
                "",
                "good1",
                "",
            ],
        ]),
    );
    let id = load_one(&api).await;
    let load = source(&api, id).await;
    assert_eq!(load["status"], "done");
    assert_eq!(
        load["result-text"],
        "9 rows processed, creating 2 new rows and updating 0 rows."
    );
    let good1 = user(&api, "good1").await.unwrap();
    assert_eq!(good1["department"]["name"], "Finance");
    assert_eq!(good1["purchasing-user"], true);
    assert_eq!(good1["manager"]["login"], "taken");
    assert_eq!(
        user(&api, "good2").await.unwrap()["manager"]["login"],
        "good1",
        "rows apply in order"
    );
    for login in ["dept", "flag", "dup", "noname", "role", "line", "phone"] {
        assert!(
            user(&api, login).await.is_none(),
            "{login} must not be created"
        );
    }
    let s = |v: &str| v.to_string();
    assert_eq!(
        errors(&load),
        [
            (
                3,
                s("department.name"),
                s("Marketing"),
                vec![s(
                    r#"Department unable to find valid Department record with keys {"name"=>"Marketing"}"#
                )]
            ),
            (
                4,
                s("purchasing-user"),
                s("maybe"),
                vec![s(
                    r#"Purchasing User must be Yes or No (or True/False, Y/N, T/F), not "maybe""#
                )]
            ),
            (
                5,
                s("email"),
                s("taken@example.com"),
                vec![s("Email has already been taken")]
            ),
            (
                6,
                s("firstname"),
                s(""),
                vec![s("Firstname can't be blank")]
            ),
            (6, s("lastname"), s(""), vec![s("Lastname can't be blank")]),
            (
                7,
                s("roles"),
                s("Buyer,Wizard"),
                vec![s(
                    r#"Roles unable to find valid Role record with keys {"name"=>"Wizard"}"#
                )]
            ),
            (
                7,
                s("manager.login"),
                s("nobody"),
                vec![s(
                    r#"Manager unable to find valid User record with keys {"login"=>"nobody"}"#
                )]
            ),
            (
                8,
                s("firstname"),
                s("Two\nLines"),
                vec![s("Firstname contains a control character (U+000A)")]
            ),
            (
                9,
                s("phone-work"),
                s("(415) 555-0100"),
                vec![s(
                    r#"Phone Work must be written xxx-yyy-zzzz or +aa xxx-yyy-zzzz (an extension after " x"), not "(415) 555-0100""#
                )]
            ),
        ]
    );
    assert_eq!(load["upload-errors-count"], 9);
    let first_columns: Vec<&str> = load["upload-errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["first-column"].as_str().unwrap())
        .collect();
    assert_eq!(
        first_columns,
        [
            "dept", "flag", "dup", "noname", "noname", "role", "role", "line", "phone"
        ]
    );

    let mail = api.mail(Some(ADMIN)).await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert_eq!(
        mail[0]["subject"],
        "Coupa data file load finished with errors: _Incoming_Users_users_bad.csv"
    );
    let body = mail[0]["body"].as_str().unwrap();
    assert!(body.contains("Status:           done"), "{body}");
    assert!(
        body.contains("Row 3 (\"dept\"): department.name = \"Marketing\""),
        "{body}"
    );
    assert!(body.contains("Email has already been taken"), "{body}");
    assert!(
        body.contains(&format!("/api/data_file_sources/{id}")),
        "{body}"
    );
}

/// A load that failed as a whole: nothing applied, the reason in `result-text` and one upload error.
async fn failed(api: &Api, name: &str, contents: impl AsRef<[u8]>) -> Value {
    drop_file(api, name, contents);
    let load = source(api, load_one(api).await).await;
    assert_eq!(load["status"], "failed", "{load}");
    assert_eq!(load["records-count"], 0);
    assert_eq!(load["upload-errors-count"], 1);
    let e = &load["upload-errors"][0];
    assert_eq!(e["field-errors"][0], load["result-text"]);
    load
}

#[tokio::test]
async fn a_malformed_file_fails_whole_and_the_admin_is_told() {
    let api = coupa().await;
    let text = "\"Login\",\"Email\",\"First Name\",\"Last Name\"\r\n\
                \"ok\",\"ok@example.com\",\"O\",\"K\"\r\n\
                \"short\",\"short@example.com\"\r\n";
    let load = failed(&api, "broken.csv", text).await;
    assert_eq!(
        load["result-text"],
        "The file is not valid CSV: row 3 has 2 values, the header has 4"
    );
    assert_eq!(load["upload-errors"][0]["row"], 3);
    assert!(
        user(&api, "ok").await.is_none(),
        "a failed file applies no row"
    );
    let mail = api.mail(Some(ADMIN)).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(
        mail[0]["subject"],
        "Coupa data file load failed: _Incoming_Users_broken.csv"
    );
    assert!(
        mail[0]["body"]
            .as_str()
            .unwrap()
            .contains("row 3 has 2 values")
    );
}

#[tokio::test]
async fn an_unknown_header_fails_the_file() {
    let api = coupa().await;
    let load = failed(
        &api,
        "typo.csv",
        csv(&[&["Login", "Emial"], &["jdoe", "jdoe@example.com"]]),
    )
    .await;
    let e = &load["upload-errors"][0];
    assert_eq!(e["row"], 1);
    assert_eq!(e["field-with-error"], "Emial");
    assert!(
        load["result-text"]
            .as_str()
            .unwrap()
            .starts_with("Unknown column header 'Emial'"),
        "{load}"
    );
}

#[tokio::test]
async fn a_byte_order_mark_or_invalid_utf8_fails_the_file() {
    let api = coupa().await;
    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    with_bom.extend(csv(&[&["Login"], &["jdoe"]]).as_bytes());
    let load = failed(&api, "bom.csv", with_bom).await;
    assert!(
        load["result-text"]
            .as_str()
            .unwrap()
            .contains("byte order mark")
    );
    assert_eq!(load["upload-errors"][0]["row"], 0);

    let load = failed(
        &api,
        "latin1.csv",
        b"\"Login\",\"Last Name\"\r\n\"jdoe\",\"M\xFCller\"\r\n",
    )
    .await;
    assert!(
        load["result-text"]
            .as_str()
            .unwrap()
            .contains("not valid UTF-8"),
        "{load}"
    );
}

#[tokio::test]
async fn more_than_5000_rows_fails_the_file() {
    let api = coupa().await;
    let mut text = csv(&[&["Login", "Email", "First Name", "Last Name"]]);
    for i in 0..5001 {
        write_record(
            &mut text,
            &[&format!("u{i}"), &format!("u{i}@example.com"), "F", "L"],
        );
    }
    let load = failed(&api, "big.csv", text).await;
    assert!(
        load["result-text"]
            .as_str()
            .unwrap()
            .contains("at most 5000 rows"),
        "{load}"
    );
    assert!(user(&api, "u0").await.is_none());
}

#[tokio::test]
async fn files_load_in_alphanumeric_order_from_the_archive_and_part_files_wait() {
    let api = coupa().await;
    let header: &[&str] = &["Login", "Email", "First Name", "Last Name"];
    drop_file(
        &api,
        "users_2.csv",
        csv(&[header, &["jdoe", "jdoe@example.com", "Jane", "Second"]]),
    );
    drop_file(
        &api,
        "users_10.csv",
        csv(&[header, &["jdoe", "jdoe@example.com", "Jane", "Ten"]]),
    );
    drop_file(
        &api,
        "users_1.csv",
        csv(&[header, &["jdoe", "jdoe@example.com", "Jane", "First"]]),
    );
    drop_file(
        &api,
        "users_3.csv.part",
        csv(&[header, &["half", "half@example.com", "H", "Alf"]]),
    );

    let loads = api.sandbox.run_loader_once().await.unwrap();
    let order: Vec<&str> = loads.iter().map(|l| l.file_file_name.as_str()).collect();
    assert_eq!(
        order,
        [
            "_Incoming_Users_users_1.csv",
            "_Incoming_Users_users_10.csv",
            "_Incoming_Users_users_2.csv"
        ]
    );
    assert!(loads.iter().all(|l| l.status == LoadStatus::Done));
    assert_eq!(
        user(&api, "jdoe").await.unwrap()["lastname"],
        "Second",
        "the last name in order wins"
    );
    assert!(user(&api, "half").await.is_none());

    let mut archived: Vec<String> = std::fs::read_dir(root(&api).join("Incoming/Archive/Users"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    archived.sort();
    assert_eq!(archived, ["users_1.csv", "users_10.csv", "users_2.csv"]);
    let waiting: Vec<String> = std::fs::read_dir(incoming(&api))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(waiting, ["users_3.csv.part"]);
    assert!(
        api.sandbox.run_loader_once().await.unwrap().is_empty(),
        "a loaded file is not loaded twice"
    );
}

#[tokio::test]
async fn the_api_finds_a_load_by_file_name_date_and_status() {
    let api = coupa().await;
    let t0 = chrono::Utc::now() - chrono::Duration::seconds(5);
    drop_file(
        &api,
        "a.csv",
        csv(&[
            &["Login", "Email", "First Name", "Last Name"],
            &["a1", "a1@example.com", "A", "One"],
        ]),
    );
    drop_file(&api, "b.csv", csv(&[&["Login", "Emial"]]));
    let ids: Vec<i64> = api
        .sandbox
        .run_loader_once()
        .await
        .unwrap()
        .iter()
        .map(|l| l.id)
        .collect();
    let ids_of = |a: Answer| -> Vec<i64> {
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        a.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["id"].as_i64().unwrap())
            .collect()
    };
    // Coupa's quoted form, `'2015-04-16 22:00:00'`, URL-encoded.
    let since = t0.format("%Y-%m-%d%%20%H:%M:%S");
    for (query, want) in [
        (
            "file_file_name=_Incoming_Users_a.csv".to_string(),
            vec![ids[0]],
        ),
        (
            "file_file_name[ends_with]=b.csv&source_for=User".to_string(),
            vec![ids[1]],
        ),
        ("status=failed".to_string(), vec![ids[1]]),
        (format!("created_at[gt]=%27{since}%27"), ids.clone()),
        (
            format!("created_at[gt]={}", t0.format("%Y-%m-%dT%H:%M:%SZ")),
            ids.clone(),
        ),
        ("created_at[lt]=2020-01-01T00:00:00Z".to_string(), vec![]),
        (format!("id={}", ids[1]), vec![ids[1]]),
        ("order_by=id&dir=desc&limit=1".to_string(), vec![ids[1]]),
        ("offset=1".to_string(), vec![ids[1]]),
    ] {
        let got = ids_of(
            api.get_json(&format!("/api/data_file_sources?{query}"))
                .await,
        );
        assert_eq!(got, want, "{query}");
    }
    let none = api
        .get_xml("/api/data_file_sources?file_file_name=nothing.csv")
        .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    assert_eq!(none.errors(), ["No results match your search criteria."]);
    let bad = api
        .get_json("/api/data_file_sources?created_at[gt]=soon")
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.errors()[0].contains("date-time"), "{}", bad.body);
    let missing = api.get_json("/api/data_file_sources/999").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        missing.errors(),
        ["Couldn't find DataFileSource with 'id'=999"]
    );
    let post = api.post_json("/api/data_file_sources", &json!({})).await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn reading_loads_needs_the_common_read_scope() {
    let api = coupa().await;
    let users_only = api.token_for("core.user.read").await;
    let a = api.get_json_as(&users_only, "/api/data_file_sources").await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    let common = api.token_for("core.common.read").await;
    let a = api.get_json_as(&common, "/api/data_file_sources").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.json(), json!([]));
    let anonymous = api.get_json_as("", "/api/data_file_sources").await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_data_sources_page_lists_loads_newest_first_with_escaped_errors() {
    let api = coupa().await;
    drop_file(
        &api,
        "1_first.csv",
        csv(&[
            &["Login", "Email", "First Name", "Last Name"],
            &["ok", "ok@example.com", "O", "K"],
        ]),
    );
    drop_file(
        &api,
        "2_second.csv",
        csv(&[
            &["Login", "Department"],
            &["ok", "<script>alert(1)</script>"],
        ]),
    );
    api.sandbox.run_loader_once().await.unwrap();
    let a = api.page("/data_sources").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.content_type.starts_with("text/html"),
        "{}",
        a.content_type
    );
    let first = a.body.find("_Incoming_Users_1_first.csv").unwrap();
    let second = a.body.find("_Incoming_Users_2_second.csv").unwrap();
    assert!(second < first, "newest first");
    assert!(
        a.body
            .contains("1 rows processed, creating 1 new rows and updating 0 rows.")
    );
    assert!(a.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!a.body.contains("<script>"), "values are escaped");
    assert!(a.body.contains("department.name"));
}

#[tokio::test]
async fn the_export_writes_every_user_in_coupas_columns_and_loads_back_cleanly() {
    let api = coupa().await;
    api.create(
        &json!({"login": "jdoe", "email": "jdoe@example.com", "firstname": "Zoë",
        "lastname": "O'Brien, \"Jr.\"", "employee-number": "E1", "department": {"name": "Finance"},
        "roles": [{"name": "Buyer"}], "custom-fields": {"cost-center": "CC-1"}}),
    )
    .await;
    api.create(
        &json!({"login": "ann", "email": "ann@example.com", "firstname": "Ann",
        "lastname": "Lee", "active": false, "manager": {"login": "jdoe"}}),
    )
    .await;
    let (path, text) = export(&api).await;
    assert!(path.starts_with("/Outgoing/Users/users_export_"), "{path}");
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let mut want: Vec<String> = USER_COLUMNS.iter().map(|c| c.header.to_string()).collect();
    want.push("Cost Center".into());
    assert_eq!(headers, want);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    let cell = |row: &csv::StringRecord, header: &str| {
        row[headers.iter().position(|h| h == header).unwrap()].to_string()
    };
    assert_eq!(cell(&rows[0], "Login"), "jdoe");
    assert_eq!(cell(&rows[0], "Last Name"), "O'Brien, \"Jr.\"");
    assert_eq!(cell(&rows[0], "First Name"), "Zoë");
    assert_eq!(cell(&rows[0], "Department"), "Finance");
    assert_eq!(cell(&rows[0], "User Role Names"), "User,Buyer");
    assert_eq!(cell(&rows[0], "Cost Center"), "CC-1");
    assert_eq!(cell(&rows[0], "Status"), "active");
    assert_eq!(cell(&rows[1], "Status"), "inactive");
    assert_eq!(cell(&rows[1], "Approver Login"), "jdoe");
    assert_eq!(cell(&rows[1], "Purchasing User"), "No");

    // The export is a users file in Coupa's format: loading it back changes nothing and fails nothing.
    let jdoe_before = user(&api, "jdoe").await.unwrap();
    drop_file(&api, "roundtrip.csv", &text);
    let load = source(&api, load_one(&api).await).await;
    assert_eq!(load["upload-errors"], json!([]), "{load}");
    assert_eq!(load["records-updated"], 2);
    assert_eq!(user(&api, "jdoe").await.unwrap(), jdoe_before);
}

/// The users export's text: every user in the sandbox's memory, in the loader's columns.
async fn exported(api: &Api) -> String {
    export(api).await.1
}

/// Runs the users export: its SFTP path and its text.
async fn export(api: &Api) -> (String, String) {
    let path = api.sandbox.export_users_now().await.unwrap();
    let text = std::fs::read_to_string(root(api).join(path.trim_start_matches('/'))).unwrap();
    (path, text)
}

#[tokio::test]
async fn loads_and_their_rows_survive_a_restart_with_a_data_folder() {
    let dir = TempDir::new().unwrap();
    let api = coupa_in(Some(dir.path())).await;
    drop_file(&api, "keep.csv", csv(&[&["Login", "Emial"]]));
    let failed_id = load_one(&api).await;
    api.create(
        &json!({"login": "taken", "email": "taken@example.com", "firstname": "T",
        "lastname": "Aken"}),
    )
    .await;

    // 1,200 rows: more than one commit's worth. Bad rows: an unknown department in the first
    // hundred, an e-mail a row hundreds earlier took, the API user's e-mail near the end. One row
    // updates the API user.
    let logins: Vec<String> = (0..1200).map(|i| format!("u{i:04}")).collect();
    let bad = ["u0003", "u0700", "u1150"];
    let mut text = String::new();
    write_record(
        &mut text,
        &["Login", "Email", "First Name", "Last Name", "Department"],
    );
    for login in &logins {
        let (email, department) = match login.as_str() {
            "u0003" => ("u0003@example.com".to_string(), "Marketing"),
            "u0700" => ("u0001@example.com".to_string(), ""),
            "u1150" => ("taken@example.com".to_string(), ""),
            _ => (format!("{login}@example.com"), "Finance"),
        };
        write_record(&mut text, &[login, &email, "Row", login, department]);
        if login == "u0900" {
            write_record(&mut text, &["taken", "", "", "Renamed", ""]);
        }
    }
    drop_file(&api, "many.csv", text);
    let id = load_one(&api).await;
    let load = source(&api, id).await;
    assert_eq!(load["status"], "done", "{load}");
    assert_eq!(load["records-count"], 1201);
    assert_eq!(load["records-created"], 1197);
    assert_eq!(load["records-updated"], 1);
    let failed_rows: Vec<i64> = errors(&load).iter().map(|e| e.0).collect();
    // The header is row 1 and the update row sits after u0900 (row 902).
    assert_eq!(failed_rows, vec![5, 702, 1153], "{load}");
    let before = exported(&api).await;
    drop(api);

    let again = Api::with(loader_config(Some(dir.path()))).await;
    let failed = source(&again, failed_id).await;
    assert_eq!(failed["file-file-name"], "_Incoming_Users_keep.csv");
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["upload-errors"][0]["field-with-error"], "Emial");
    // The load's record, counts and errors as they were; the users as memory had them.
    assert_eq!(source(&again, id).await, load);
    let after = exported(&again).await;
    assert_eq!(after, before);
    let mut reader = csv::ReaderBuilder::new().from_reader(after.as_bytes());
    let login_at = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "Login")
        .unwrap();
    let mut saved: Vec<String> = reader
        .records()
        .map(|r| r.unwrap()[login_at].to_string())
        .collect();
    saved.sort();
    let mut want: Vec<String> = logins
        .iter()
        .filter(|l| !bad.contains(&l.as_str()))
        .cloned()
        .collect();
    want.push("taken".into());
    want.sort();
    assert_eq!(saved, want);
    assert_eq!(user(&again, "taken").await.unwrap()["lastname"], "Renamed");
    assert_eq!(user(&again, "u0700").await, None);
}

#[tokio::test]
async fn rows_that_cannot_be_stored_fail_and_leave_memory_as_the_database_has_it() {
    let dir = TempDir::new().unwrap();
    let api = coupa_in(Some(dir.path())).await;
    api.create(
        &json!({"login": "kept", "email": "kept@example.com", "firstname": "K",
        "lastname": "Ept"}),
    )
    .await;
    // Someone drops the users table behind the sandbox's back: no user write can be stored.
    let db = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join("sandbox.db"))
        .busy_timeout(Duration::from_secs(5));
    let mut connection = sqlx::ConnectOptions::connect(&db).await.unwrap();
    sqlx::query("DROP TABLE users")
        .execute(&mut connection)
        .await
        .unwrap();
    drop_file(
        &api,
        "unstorable.csv",
        csv(&[
            &["Login", "Email", "First Name", "Last Name", "Department"],
            &["new1", "new1@example.com", "New", "One", "Finance"],
            &["bad", "bad@example.com", "Bad", "Dept", "Marketing"],
            &["kept", "", "", "Renamed", ""],
        ]),
    );
    let load = source(&api, load_one(&api).await).await;
    assert_eq!(load["status"], "done", "{load}");
    assert_eq!(load["records-count"], 3);
    assert_eq!(load["records-created"], 0);
    assert_eq!(load["records-updated"], 0);
    let errors = errors(&load);
    let rows: Vec<(i64, &str)> = errors.iter().map(|e| (e.0, e.1.as_str())).collect();
    assert_eq!(
        rows,
        vec![(2, "base"), (3, "department.name"), (4, "base")],
        "{load}"
    );
    assert!(
        errors[0].3[0].starts_with("The row could not be saved: "),
        "{errors:?}"
    );
    // The rows that could not be stored are not in memory either.
    assert_eq!(user(&api, "new1").await, None);
    assert_eq!(user(&api, "kept").await.unwrap()["lastname"], "Ept");
}

#[tokio::test]
async fn the_loader_needs_the_drop_folder_and_sane_settings() {
    let api = Api::new().await;
    let e = api.sandbox.run_loader_once().await.unwrap_err();
    assert!(e.to_string().contains("SFTP"), "{e}");
    let bad = SandboxConfig {
        admin_email: "admin@example.com\r\nBcc: x@y.z".into(),
        ..config()
    };
    let e = Sandbox::new(bad).await.unwrap_err();
    assert!(e.to_string().contains("admin e-mail"), "{e}");
    let zero = SandboxConfig {
        loader_interval: Duration::ZERO,
        ..config()
    };
    assert!(Sandbox::new(zero).await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scheduled_loader_picks_up_a_file_on_its_own() {
    let api = Api::with(SandboxConfig {
        loader_interval: Duration::from_millis(100),
        ..loader_config(None)
    })
    .await;
    let running = api.sandbox.clone().spawn("127.0.0.1:0").await.unwrap();
    drop_file(
        &api,
        "scheduled.csv",
        csv(&[
            &["Login", "Email", "First Name", "Last Name"],
            &["sched", "sched@example.com", "S", "Ched"],
        ]),
    );
    // No timing is asserted: the test waits (up to a minute) for the loader to have run.
    let mut waited = Duration::ZERO;
    let load = loop {
        let a = api.get_json("/api/data_file_sources?status=done").await;
        if let Some(load) = a.json().as_array().unwrap().first() {
            break load.clone();
        }
        assert!(
            waited < Duration::from_secs(60),
            "the scheduled loader never loaded the file"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    };
    assert_eq!(load["file-file-name"], "_Incoming_Users_scheduled.csv");
    assert_eq!(load["records-created"], 1);
    assert!(user(&api, "sched").await.is_some());
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_uploaded_with_openssh_sftp_is_loaded() {
    let operator = Operator::new();
    let config = SandboxConfig {
        sftp: Some(SftpConfig {
            users: vec![operator.key.user()],
            ..SftpConfig::default()
        }),
        ..loader_config(None)
    };
    let api = Api::with(config).await;
    let running = api.sandbox.clone().spawn("127.0.0.1:0").await.unwrap();
    let endpoint = running.sftp.clone().unwrap();
    operator.file(
        "users.csv",
        csv(&[
            &["Login", "Email", "First Name", "Last Name"],
            &["sftp.user", "s@example.com", "Ünal", "Çelik"],
        ]),
    );
    let output = operator
        .sftp(
            &endpoint,
            "put users.csv /Incoming/Users/users_sftp.csv.part\n\
             rename /Incoming/Users/users_sftp.csv.part /Incoming/Users/users_sftp.csv\n",
        )
        .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let loads = api.sandbox.run_loader_once().await.unwrap();
    assert_eq!(loads.len(), 1);
    assert_eq!(loads[0].file_file_name, "_Incoming_Users_users_sftp.csv");
    assert_eq!(loads[0].records_created, 1);
    assert_eq!(user(&api, "sftp.user").await.unwrap()["lastname"], "Çelik");
    running.stop().await.unwrap();
}

#[tokio::test]
async fn phone_and_approval_limit_cells_are_applied_and_malformed_ones_fail_their_row() {
    let api = coupa().await;
    let header: &[&str] = &[
        "Login",
        "Email",
        "First Name",
        "Last Name",
        "Phone Work",
        "Phone Mobile",
        "Requisition Approval Limit",
        "Expense Approval Limit",
    ];
    let row = |login: &'static str, cells: [&'static str; 4]| -> Vec<String> {
        let mut row = vec![
            login.to_string(),
            format!("{login}@example.com"),
            "A".to_string(),
            "B".to_string(),
        ];
        row.extend(cells.iter().map(|c| c.to_string()));
        row
    };
    let rows = [
        row(
            "jdoe",
            [
                "+41 44-668-1800 x12",
                "415-555-0100",
                "1000 USD",
                "director",
            ],
        ),
        row("shortphone", ["", "555-0100", "", ""]),
        row("badcurrency", ["", "", "1000 XYZ", ""]),
        row("comma", ["", "", "", "1,000.00 USD"]),
        row("nolimit", ["", "", "Chief", ""]),
    ];
    let mut all: Vec<Vec<&str>> = vec![header.to_vec()];
    all.extend(rows.iter().map(|r| r.iter().map(String::as_str).collect()));
    let refs: Vec<&[&str]> = all.iter().map(Vec::as_slice).collect();
    drop_file(&api, "users_limits.csv", csv(&refs));
    let load = source(&api, load_one(&api).await).await;
    assert_eq!(
        load["result-text"],
        "5 rows processed, creating 1 new rows and updating 0 rows."
    );
    let jdoe = user(&api, "jdoe").await.unwrap();
    assert_eq!(
        jdoe["phone-work"],
        json!({"country-code": "41", "area-code": "44", "number": "668-1800", "extension": "12"})
    );
    assert_eq!(
        jdoe["phone-mobile"],
        json!({"area-code": "415", "number": "555-0100"})
    );
    let limit = &jdoe["requisition-approval-limit"];
    assert_eq!(
        (&limit["amount"], &limit["currency"]["code"]),
        (&json!("1000.00"), &json!("USD"))
    );
    assert_eq!(jdoe["expense-approval-limit"]["name"], "Director");
    for login in ["shortphone", "badcurrency", "comma", "nolimit"] {
        assert!(
            user(&api, login).await.is_none(),
            "{login} must not be created"
        );
    }
    let s = |v: &str| v.to_string();
    assert_eq!(
        errors(&load),
        [
            (
                3,
                s("phone-mobile"),
                s("555-0100"),
                vec![s(
                    r#"Phone Mobile must be written xxx-yyy-zzzz or +aa xxx-yyy-zzzz (an extension after " x"), not "555-0100""#
                )]
            ),
            (
                4,
                s("requisition-approval-limit"),
                s("1000 XYZ"),
                vec![s(
                    r#"Requisition approval limit currency unable to find valid Currency record with keys {"code"=>"XYZ"}"#
                )]
            ),
            (
                5,
                s("expense-approval-limit"),
                s("1,000.00 USD"),
                vec![s(
                    r#"Expense Approval Limit must be an amount and a currency code (1000.00 USD) or the name of an approval limit, not "1,000.00 USD""#
                )]
            ),
            (
                6,
                s("requisition-approval-limit"),
                s("Chief"),
                vec![s(
                    r#"Requisition approval limit unable to find valid ApprovalLimit record with keys {"name"=>"Chief"}"#
                )]
            ),
        ]
    );

    // --NULL-- clears a phone number and a limit; a blank cell leaves the other ones.
    drop_file(
        &api,
        "users_limits_2.csv",
        csv(&[
            &["Login", "Phone Work", "Requisition Approval Limit"],
            &["jdoe", "--NULL--", "--NULL--"],
        ]),
    );
    let load = source(&api, load_one(&api).await).await;
    assert_eq!(load["upload-errors-count"], 0, "{load}");
    let jdoe = user(&api, "jdoe").await.unwrap();
    assert_eq!(jdoe["phone-work"], Value::Null);
    assert_eq!(jdoe["requisition-approval-limit"], Value::Null);
    assert_eq!(jdoe["phone-mobile"]["area-code"], "415");
    assert_eq!(jdoe["expense-approval-limit"]["name"], "Director");
}
