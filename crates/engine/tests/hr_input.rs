//! Bad HR input: every row that fails validation is named (file, row, person, column), is kept away
//! from Coupa, and does not stop the other rows.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

mod common;

use common::{BASE, HR_HEADER, Setup, coupa_user};
use engine::detect::{AppliedState, Mode};
use engine::fields::{Field, Value};
use engine::hr::{FileError, RowError};
use engine::mapping::Mapping;
use engine::plan::{PlanOptions, build};

const JANE: &str = "P1,E1,jdoe,jane.doe@acme.com,Jane,Doe,active,Buyer";
const ROB: &str = "P3,E3,rsmith,rob.smith@acme.com,Rob,Smith,active,";

fn first_run(rows: &str) -> (Setup, engine::detect::Detection) {
    let setup = Setup::csv(rows);
    let detection = setup.detect(&AppliedState::new(), Mode::Delta);
    (setup, detection)
}

fn keys(detection: &engine::detect::Detection) -> Vec<&str> {
    detection
        .changes
        .iter()
        .map(|c| c.hr_key.as_str())
        .collect()
}

fn only_error(detection: &engine::detect::Detection) -> &RowError {
    assert_eq!(detection.errors.len(), 1, "{:#?}", detection.errors);
    &detection.errors[0]
}

#[test]
fn a_row_without_a_key_is_named_and_the_others_go_through() {
    let (_s, d) = first_run(&format!(
        "{JANE}\n,E2,bob,bob@acme.com,Bob,Brown,active,\n{ROB}"
    ));
    assert_eq!(keys(&d), ["P1", "P3"]);
    let e = only_error(&d);
    assert_eq!((e.row, e.key.as_deref()), (3, None));
    let shown = e.to_string();
    assert!(
        shown.contains("hr.csv, row 3: column id: the HR key is missing"),
        "{shown}"
    );
}

#[test]
fn duplicate_keys_reject_every_row_with_that_key() {
    let (_s, d) = first_run(&format!(
        "{JANE}\nP2,E2,bob,bob@acme.com,Bob,Brown,active,\n{ROB}\nP2,E9,bob2,bob2@acme.com,Bob,Brown,active,"
    ));
    assert_eq!(keys(&d), ["P1", "P3"], "neither P2 row is guessed at");
    let rows: Vec<usize> = d.errors.iter().map(|e| e.row).collect();
    assert_eq!(rows, [3, 5]);
    assert!(
        d.errors[0].to_string().contains("also appears on row 5"),
        "{}",
        d.errors[0]
    );
    assert!(
        d.errors[1].to_string().contains("also appears on row 3"),
        "{}",
        d.errors[1]
    );
    assert_eq!(d.errors[0].key.as_deref(), Some("P2"));
}

#[test]
fn a_duplicate_of_an_unchanged_person_is_rejected_too() {
    let setup = Setup::csv(JANE);
    let applied = common::applied(&setup.desired());
    setup.rewrite_hr(&format!(
        "{HR_HEADER}\n{JANE}\nP1,E1,jdoe,other@acme.com,Jane,Doe,active,\n"
    ));
    let d = setup.detect(&applied, Mode::Delta);
    assert_eq!(d.unchanged, 0);
    assert!(d.changes.is_empty());
    assert_eq!(d.errors.len(), 2);
}

#[test]
fn an_invalid_email_names_row_column_and_person() {
    let (_s, d) = first_run(&format!("{JANE}\nP2,E2,bob,bob@,Bob,Brown,active,\n{ROB}"));
    assert_eq!(keys(&d), ["P1", "P3"]);
    let shown = only_error(&d).to_string();
    assert!(
        shown.contains(
            "hr.csv, row 3 (person P2): column email: email: \"bob@\" is not a valid e-mail address"
        ),
        "{shown}"
    );
}

#[test]
fn over_long_names_are_refused() {
    let long = "A".repeat(41);
    let (_s, d) = first_run(&format!(
        "{JANE}\nP2,E2,bob,bob@acme.com,{long},Brown,active,"
    ));
    assert_eq!(keys(&d), ["P1"]);
    let shown = only_error(&d).to_string();
    assert!(
        shown.contains("column first: firstname: is 41 characters long; Coupa allows at most 40"),
        "{shown}"
    );
}

#[test]
fn markup_quotes_and_control_characters_are_refused() {
    let (_s, d) = first_run(&format!(
        "{JANE}\nP2,E2,bob,bob@acme.com,Bob,<script>x</script>,active,\nP4,E4,amy,amy@acme.com,\"Amy \"\"the\"\" One\",Ames,active,\nP5,E5,cy,cy@acme.com,C\u{7}y,Cole,active,\nP6,E6,ol,ol@acme.com,Olivia,O'Brien,active,"
    ));
    assert_eq!(
        keys(&d),
        ["P1", "P6"],
        "an apostrophe is a name, not an attack"
    );
    let shown: Vec<String> = d.errors.iter().map(ToString::to_string).collect();
    assert!(
        shown[0].contains("(person P2): column last: contains markup"),
        "{}",
        shown[0]
    );
    assert!(
        shown[1].contains("(person P4): column first: contains a double quote"),
        "{}",
        shown[1]
    );
    assert!(
        shown[2].contains("(person P5): column first: contains a control character (U+0007)"),
        "{}",
        shown[2]
    );
}

#[test]
fn a_file_that_is_not_utf8_fails_only_its_bad_rows() {
    let mut bytes = format!("{HR_HEADER}\n{JANE}\n").into_bytes();
    // "Müller" as Latin-1, as an old HR export writes it.
    bytes.extend_from_slice(b"P2,E2,mm,m@acme.com,Max,M\xfcller,active,\n");
    bytes.extend_from_slice(format!("{ROB}\n").as_bytes());
    let setup = Setup::new(BASE, "hr.csv", &bytes);
    let d = setup.detect(&AppliedState::new(), Mode::Delta);
    assert_eq!(keys(&d), ["P1", "P3"]);
    let shown = only_error(&d).to_string();
    assert!(
        shown.contains("row 3 (person P2): column last: is not valid UTF-8"),
        "{shown}"
    );
    assert!(shown.contains("export the file as UTF-8"), "{shown}");
}

#[test]
fn a_header_missing_a_mapped_column_stops_before_any_row() {
    let setup = Setup::new(
        BASE,
        "hr.csv",
        format!("id,emp,login,email,first,surname,status,roles\n{JANE}\n").as_bytes(),
    );
    let e = setup
        .try_detect(&AppliedState::new(), Mode::Delta)
        .unwrap_err();
    assert!(matches!(&e, FileError::MissingColumns { missing, .. } if missing[0].name == "last"));
    let shown = e.to_string();
    assert!(shown.contains("hr.csv"), "{shown}");
    assert!(
        shown.contains("column \"last\" (used by [fields].lastname)"),
        "{shown}"
    );
    assert!(
        shown.contains("it has: id, emp, login, email, first, surname"),
        "{shown}"
    );
}

#[test]
fn a_short_row_is_a_row_error() {
    let (_s, d) = first_run(&format!("{JANE}\nP2,E2,bob\n{ROB}"));
    assert_eq!(keys(&d), ["P1", "P3"]);
    let shown = only_error(&d).to_string();
    assert!(
        shown.contains("row 3 (person P2): the row has 3 fields, the header has 8"),
        "{shown}"
    );
}

#[test]
fn a_byte_order_mark_and_padded_headers_are_accepted() {
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(
        format!("id, emp,login,email,first,last,status,roles\n{JANE}\n").as_bytes(),
    );
    let setup = Setup::new(BASE, "hr.csv", &bytes);
    let d = setup.detect(&AppliedState::new(), Mode::Delta);
    assert_eq!(keys(&d), ["P1"]);
    assert!(d.errors.is_empty());
}

#[test]
fn a_role_the_connector_does_not_manage_is_refused() {
    let (_s, d) = first_run("P1,E1,jdoe,jane.doe@acme.com,Jane,Doe,active,Buyer;Admin");
    let shown = only_error(&d).to_string();
    assert!(
        shown.contains("column roles: \"Admin\" not in [roles].managed (Accounts Payable, Buyer)"),
        "{shown}"
    );
}

#[test]
fn json_lines_are_read_line_by_line_with_the_same_checks() {
    let config = BASE.replace(
        "path = \"hr.csv\"",
        "path = \"hr.jsonl\"\nformat = \"jsonl\"",
    );
    let mut text = String::new();
    text.push_str(r#"{"id":"P1","emp":1001,"login":"jdoe","email":"jane.doe@acme.com","first":"Jane","last":"Doe","status":"active","roles":["Buyer","Accounts Payable"]}"#);
    text.push_str("\n\n{not json}\n");
    text.push_str(r#"{"id":"P3","emp":"E3","login":"rob","email":"rob@acme.com","first":"Rob","last":"<b>Smith</b>"}"#);
    text.push('\n');
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(b"{\"id\":\"P4\",\"last\":\"M\xfcller\"}\n");
    let setup = Setup::new(&config, "hr.jsonl", &bytes);
    let d = setup.detect(&AppliedState::new(), Mode::Delta);
    assert_eq!(keys(&d), ["P1"]);
    let desired = d.changes[0].desired.as_ref().unwrap();
    assert_eq!(desired.match_value, "1001", "numbers are read as text");
    assert_eq!(
        desired.fields[&Field::Roles],
        Value::Set(["Accounts Payable".to_string(), "Buyer".to_string()].into())
    );
    let shown: Vec<String> = d.errors.iter().map(ToString::to_string).collect();
    assert_eq!(shown.len(), 3, "{shown:#?}");
    assert!(
        shown[0].contains("hr.jsonl, row 3: is not a JSON object"),
        "{}",
        shown[0]
    );
    assert!(
        shown[1].contains("row 4 (person P3): column last: contains markup"),
        "{}",
        shown[1]
    );
    assert!(
        shown[2].contains("row 5: is not valid UTF-8"),
        "{}",
        shown[2]
    );
}

#[test]
fn every_problem_of_a_row_is_reported_at_once() {
    let (_s, d) = first_run(&format!(
        "P2,E2,bob,bob@,{},Brown,active,Admin",
        "B".repeat(50)
    ));
    let e = only_error(&d);
    let columns: Vec<&str> = e
        .problems
        .iter()
        .filter_map(|p| p.column.as_deref())
        .collect();
    assert_eq!(columns, ["email", "first", "roles"]);
}

#[test]
fn nothing_is_sent_to_coupa_for_a_row_that_failed() {
    let (setup, d) = first_run(&format!("{JANE}\nP2,E2,bob,bob@,Bob,Brown,active,"));
    assert!(
        !d.errors.is_empty(),
        "the run reports the bad row, so its exit code can say so"
    );
    let mapping = Mapping::new(&setup.config);
    let options = PlanOptions::new(&setup.config, &mapping);
    // Both people exist in Coupa with other last names: only Jane's row may lead to a call.
    let coupa = vec![
        coupa_user(10, "E1", "jdoe", "jane.doe@acme.com", "Jane", "Old"),
        coupa_user(11, "E2", "bob", "bob@acme.com", "Bob", "Old"),
    ];
    let plan = build(d.changes, d.people_in_extract, &coupa, &options);
    let calls = plan.calls();
    assert!(!calls.is_empty());
    assert!(
        calls
            .iter()
            .all(|c| c.hr_key == "P1" && c.user_id == Some(10))
    );
}
