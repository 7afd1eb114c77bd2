//! Helpers the end-to-end tests share: sandbox users, HR rows, and reading a run's report.
#![allow(dead_code)] // each test binary uses its own subset

use engine::run::RunReport;
use engine::store::{ChangeRecord, Outcome, RunStatus, Verdict};
use serde_json::{Value, json};
use std::collections::HashMap;

pub fn user(emp: &str, login: &str, first: &str, last: &str) -> Value {
    json!({
        "login": login,
        "email": format!("{login}@example.com"),
        "firstname": first,
        "lastname": last,
        "employee-number": emp,
        "department": {"name": "Finance"},
        "custom-fields": {"cost-center": "CC-1"},
    })
}

/// The HR row matching `user(emp, login, first, last)`: active, no managed role.
pub fn row(id: &str, emp: &str, login: &str, first: &str, last: &str) -> String {
    format!("{id},{emp},{login},{login}@example.com,{first},{last},Finance,CC-1,active,")
}

/// The answer's body as JSON.
pub async fn json_of(request: reqwest::RequestBuilder) -> Value {
    let text = request.send().await.unwrap().text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

pub fn person<'a>(report: &'a RunReport, hr_key: &str) -> &'a ChangeRecord {
    report
        .changes
        .iter()
        .find(|c| c.hr_key == hr_key)
        .unwrap_or_else(|| panic!("no record for {hr_key}: {:#?}", report.changes))
}

pub fn verdict(change: &ChangeRecord, field: &str) -> Verdict {
    change
        .fields
        .iter()
        .find(|f| f.field == field)
        .unwrap_or_else(|| panic!("no verdict for {field}: {change:#?}"))
        .verdict
}

pub fn roles(user: &Value) -> Vec<String> {
    let mut names: Vec<String> = user["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// The extra HR columns of the phone and approval-limit tests, and their rows: Jane's work phone and
/// requisition limit change; Bob's new phone cannot be read (nor is his new first name sent).
pub const PHONE_AND_LIMIT_COLUMNS: &str = "phone,limit";

pub fn phone_and_limit_rows() -> Vec<String> {
    vec![
        format!(
            "{},+1 (415) 555-0199 x7,2500 USD",
            row("P1", "E1", "jdoe", "Jane", "Doe")
        ),
        format!("{},555-0111,", row("P2", "E2", "bob", "Robert", "Two")),
    ]
}

/// What a run of `phone_and_limit_rows` must show, whichever path carried it: Jane's phone and
/// limit applied and held by Coupa, Bob's row an HR error naming column, person and the expected
/// form, and Bob untouched.
pub fn assert_phone_and_limit_outcome(report: &RunReport, users: &HashMap<String, Value>) {
    assert_eq!(
        report.run.status,
        RunStatus::Failed,
        "a row in error fails the run"
    );
    let jane = person(report, "P1");
    assert_eq!(jane.outcome, Outcome::Applied, "{jane:#?}");
    assert_eq!(verdict(jane, "phone-work"), Verdict::Applied);
    assert_eq!(
        verdict(jane, "requisition-approval-limit"),
        Verdict::Applied
    );
    assert_eq!(
        users["jdoe"]["phone-work"],
        json!({"country-code": "1", "area-code": "415", "number": "555-0199", "extension": "7"})
    );
    let limit = &users["jdoe"]["requisition-approval-limit"];
    assert_eq!(
        (&limit["amount"], &limit["currency"]["code"]),
        (&json!("2500.00"), &json!("USD"))
    );
    assert_eq!(report.hr_errors.len(), 1, "{:#?}", report.hr_errors);
    assert_eq!(report.hr_errors[0].key.as_deref(), Some("P2"));
    let error = report.hr_errors[0].to_string();
    assert!(
        error.contains(
            "hr.csv, row 3 (person P2): column phone: phone-work: \"555-0111\" is not a phone number"
        ) && error.contains("expected xxx-yyy-zzzz or +aa xxx-yyy-zzzz"),
        "{error}"
    );
    assert_eq!(users["bob"]["firstname"], "Bob");
    assert_eq!(users["bob"]["phone-work"], Value::Null);
}
