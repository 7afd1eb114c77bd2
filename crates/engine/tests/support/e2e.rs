//! Helpers the end-to-end tests share: sandbox users, HR rows, and reading a run's report.
#![allow(dead_code)] // each test binary uses its own subset

use engine::run::RunReport;
use engine::store::{ChangeRecord, Verdict};
use serde_json::{Value, json};

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
