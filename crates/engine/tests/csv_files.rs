//! The users files of the CSV path against Coupa's documented format (reference §5): the header
//! names and their order, every field quoted with `""` escaping, UTF-8 without BOM, Coupa's words
//! for flags and status, full role sets and `--NULL--`, keys by Coupa's matching rules, formula
//! neutralisation, splitting at 5,000 rows and 8 MB, and names that sort in load order. Every file is
//! read back with the `csv` crate's reader, a standard RFC 4180 reader.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

mod common;

use common::{BASE, Setup, coupa_user, with_roles};
use coupa_wire::User;
use coupa_wire::flatfile::{MAX_BYTES, MAX_ROWS, USER_COLUMNS};
use engine::csv::{Batch, FileRow, Layout, RowKey, UsersFile, next_stamp, write};
use engine::detect::{AppliedState, Change, ChangeKind, Mode};
use engine::fields::{Field, Standard, Value};
use engine::mapping::{DesiredUser, Mapping};
use engine::plan::{Plan, PlanOptions, build};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const HEADER: &str = "id,emp,login,email,first,last,status,roles";
const STAMP: &str = "20261128T120000Z";

/// The HR extract with `rows`, planned against `coupa`, written as users files.
fn files_for(config: &str, rows: &str, coupa: &[User]) -> (Batch, Plan) {
    let setup = Setup::new(config, "hr.csv", format!("{HEADER}\n{rows}\n").as_bytes());
    let d = setup.detect(&AppliedState::new(), Mode::Delta);
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    let mapping = Mapping::new(&setup.config);
    let plan = build(
        d.changes,
        1000,
        coupa,
        &PlanOptions::new(&setup.config, &mapping),
    );
    let layout = Layout::new(&setup.config).unwrap();
    let batch = write(&plan, coupa, &layout, STAMP);
    (batch, plan)
}

/// A file read back with the csv crate: header, then rows as header → cell.
fn read(content: &[u8]) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let mut reader = csv::ReaderBuilder::new().from_reader(content);
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(str::to_string))
                .collect()
        })
        .collect();
    (header, rows)
}

fn cell<'a>(row: &'a BTreeMap<String, String>, header: &str) -> &'a str {
    row.get(header).map_or("", String::as_str)
}

/// The stored rows of a file: who is on each, and what it asks of Coupa.
fn stored(plan: &Plan, file: &UsersFile) -> Vec<FileRow> {
    file.rows
        .iter()
        .map(|r| FileRow::of(plan, r, &AppliedState::new()))
        .collect()
}

#[test]
fn a_file_is_written_exactly_as_coupa_documents_it() {
    let coupa = vec![
        with_roles(
            coupa_user(7, "E2", "bsmith", "b@x.com", "Bob", "Smith"),
            &["User", "Buyer"],
        ),
        coupa_user(8, "E3", "cdoe", "c@x.com", "Cy", "Doe"),
    ];
    let rows = "1,E1,jdoe,jane@x.com,Jane,Doe,active,Buyer\n\
                2,E2,bsmith,b@x.com,Bob,Smith-Jones,active,\n\
                3,E3,cdoe,c@x.com,Cy,Doe,terminated,";
    let (batch, plan) = files_for(BASE, rows, &coupa);
    assert!(batch.refused.is_empty(), "{:?}", batch.refused);
    assert_eq!(batch.files.len(), 1);
    let file = &batch.files[0];
    assert_eq!(file.name, "users_20261128T120000Z_0001.csv");
    let text = String::from_utf8(file.content.clone()).unwrap();
    // Coupa's headers in documented order; every field quoted; CRLF; no BOM.
    assert_eq!(
        text,
        "\"Login\",\"Status\",\"Email\",\"First Name\",\"Last Name\",\"Employee Number\",\"User Role Names\"\r\n\
         \"jdoe\",\"\",\"jane@x.com\",\"Jane\",\"Doe\",\"E1\",\"Buyer\"\r\n\
         \"bsmith\",\"\",\"\",\"\",\"Smith-Jones\",\"E2\",\"User\"\r\n\
         \"cdoe\",\"inactive\",\"\",\"\",\"\",\"E3\",\"\"\r\n"
    );
    assert!(!file.content.starts_with(b"\xEF\xBB\xBF"));
    let order: Vec<usize> = [
        "Login",
        "Status",
        "Email",
        "Employee Number",
        "User Role Names",
    ]
    .iter()
    .map(|h| USER_COLUMNS.iter().position(|c| c.header == *h).unwrap())
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]));
    // Rows are in file order, each with its person and key.
    let keys: Vec<(String, RowKey)> = stored(&plan, file)
        .into_iter()
        .map(|r| (r.hr_key, r.key))
        .collect();
    assert_eq!(
        keys,
        [
            ("1".to_string(), RowKey::New),
            ("2".to_string(), RowKey::EmployeeNumber),
            ("3".to_string(), RowKey::EmployeeNumber)
        ]
    );
}

#[test]
fn flags_and_status_are_in_coupa_words() {
    let config = format!("{BASE}\n").replace(
        "employee-number = \"emp\"\n",
        "employee-number = \"emp\"\npurchasing-user = { constant = true }\nexpense-user = { constant = false }\n",
    );
    let mut returning = coupa_user(9, "E9", "ret", "r@x.com", "Re", "Turn");
    returning.active = Some(false);
    returning.purchasing_user = Some(true);
    returning.expense_user = Some(false);
    let (batch, _) = files_for(
        &config,
        "1,E1,jdoe,jane@x.com,Jane,Doe,active,\n9,E9,ret,r@x.com,Re,Turn,active,",
        &[returning],
    );
    let (_, rows) = read(&batch.files[0].content);
    assert_eq!(cell(&rows[0], "Purchasing User"), "Yes");
    assert_eq!(cell(&rows[0], "Expense User"), "No");
    assert_eq!(cell(&rows[1], "Status"), "active");
    assert_eq!(cell(&rows[1], "Purchasing User"), "");
}

#[test]
fn roles_list_the_whole_set_the_user_keeps_and_null_clears_them() {
    // CSV roles replace the user's set: unmanaged roles ("User", "Admin") must be listed again.
    let coupa = vec![
        with_roles(
            coupa_user(1, "E1", "a", "a@x.com", "A", "A"),
            &["User", "Admin", "Buyer"],
        ),
        with_roles(
            coupa_user(2, "E2", "b", "b@x.com", "B", "B"),
            &["Buyer", "Accounts Payable"],
        ),
        with_roles(coupa_user(3, "E3", "c", "c@x.com", "C", "C"), &["User"]),
    ];
    let rows = "1,E1,a,a@x.com,A,A,active,Accounts Payable\n\
                2,E2,b,b@x.com,B,B,active,\n\
                3,E3,c,c@x.com,C,C,active,Buyer;Accounts Payable";
    let (batch, plan) = files_for(BASE, rows, &coupa);
    let (_, rows) = read(&batch.files[0].content);
    assert_eq!(
        cell(&rows[0], "User Role Names"),
        "Accounts Payable,Admin,User"
    );
    assert_eq!(cell(&rows[1], "User Role Names"), "--NULL--");
    assert_eq!(
        cell(&rows[2], "User Role Names"),
        "Accounts Payable,Buyer,User"
    );
    let stored = stored(&plan, &batch.files[0]);
    let kept = &stored.iter().find(|r| r.hr_key == "2").unwrap().changes[0];
    assert_eq!(kept.field, Field::Roles);
    assert_eq!(kept.new, Value::Set(BTreeSet::new()));
}

#[test]
fn keys_follow_coupas_matching_rules() {
    let by_login = BASE
        .replace(
            "coupa_field = \"employee-number\"",
            "coupa_field = \"login\"",
        )
        .replace("employee-number = \"emp\"\n", "");
    let mut unchanged = coupa_user(6, "", "same", "s@x.com", "S", "O");
    unchanged.employee_number = None;
    // Matched by login: the login cannot change, so only the last name does.
    let (batch, _) = files_for(
        &by_login,
        "6,,same,s@x.com,S,Other,active,",
        std::slice::from_ref(&unchanged),
    );
    let (_, rows) = read(&batch.files[0].content);
    assert_eq!(batch.files[0].rows[0].key, RowKey::Login);
    assert_eq!(cell(&rows[0], "Login"), "same");
    assert_eq!(cell(&rows[0], "Id"), "");

    // Matched by employee number, a user with none in Coupa who gets one and a new login: only
    // Coupa's id can say who the row is about.
    let mut adds_number = coupa_user(5, "", "old.login", "n@x.com", "N", "O");
    adds_number.employee_number = None;
    let by_email = BASE.replace(
        "coupa_field = \"employee-number\"",
        "coupa_field = \"email\"",
    );
    let (batch, _) = files_for(
        &by_email,
        "5,E5,new.login,n@x.com,N,O,active,",
        &[adds_number],
    );
    let (_, rows) = read(&batch.files[0].content);
    assert_eq!(batch.files[0].rows[0].key, RowKey::Id);
    assert_eq!(cell(&rows[0], "Id"), "5");
    assert_eq!(cell(&rows[0], "Login"), "new.login");
    assert_eq!(cell(&rows[0], "Employee Number"), "E5");

    // A user with an employee number that stays: keyed by it, and the login may change.
    let (batch, _) = files_for(
        BASE,
        "7,E7,renamed,r@x.com,R,R,active,",
        &[coupa_user(7, "E7", "before", "r@x.com", "R", "R")],
    );
    let (_, rows) = read(&batch.files[0].content);
    assert_eq!(batch.files[0].rows[0].key, RowKey::EmployeeNumber);
    assert_eq!(
        (cell(&rows[0], "Id"), cell(&rows[0], "Employee Number")),
        ("", "E7")
    );
    assert_eq!(cell(&rows[0], "Login"), "renamed");
}

#[test]
fn formula_prefixes_are_neutralised_and_expected_so() {
    let (batch, plan) = files_for(
        BASE,
        "1,E1,jdoe,jane@x.com,=cmd|' /C calc'!A0,@Doe,active,",
        &[],
    );
    let (_, rows) = read(&batch.files[0].content);
    assert_eq!(cell(&rows[0], "First Name"), "'=cmd|' /C calc'!A0");
    assert_eq!(cell(&rows[0], "Last Name"), "'@Doe");
    let row = &stored(&plan, &batch.files[0])[0];
    let last = row
        .changes
        .iter()
        .find(|c| c.field == Field::Standard(Standard::Lastname))
        .unwrap();
    assert_eq!(last.new, Value::Text("'@Doe".into()));
}

#[test]
fn a_key_cell_that_would_be_neutralised_is_not_used() {
    // The neutralised cell would differ from what Coupa holds: the row is found by the login.
    let coupa = vec![coupa_user(4, "-x4", "dash", "d@x.com", "D", "D")];
    let (batch, _) = files_for(BASE, "4,-x4,dash,d@x.com,D,Dashed,active,", &coupa);
    let (_, rows) = read(&batch.files[0].content);
    assert_eq!(batch.files[0].rows[0].key, RowKey::Login);
    assert_eq!(cell(&rows[0], "Employee Number"), "");
    assert_eq!(cell(&rows[0], "Login"), "dash");
    // Neither key can be repeated exactly: Coupa's id.
    let coupa = vec![coupa_user(4, "-x4", "+dash", "d@x.com", "D", "D")];
    let (batch, _) = files_for(BASE, "4,-x4,+dash,d@x.com,D,Dashed,active,", &coupa);
    let (_, rows) = read(&batch.files[0].content);
    assert_eq!(batch.files[0].rows[0].key, RowKey::Id);
    assert_eq!(cell(&rows[0], "Id"), "4");
    assert_eq!(cell(&rows[0], "Login"), "");
}

#[test]
fn a_role_name_with_a_comma_cannot_travel_and_is_refused() {
    let config = BASE.replace(
        "managed = [\"Buyer\", \"Accounts Payable\"]",
        "managed = [\"Buyer\", \"Payables, EMEA\"]",
    );
    let (batch, plan) = files_for(
        &config,
        "1,E1,jdoe,j@x.com,J,D,active,\"Payables, EMEA\"",
        &[],
    );
    assert!(batch.files.is_empty());
    assert_eq!(batch.refused.len(), 1);
    assert_eq!(plan.people[batch.refused[0].person].hr_key, "1");
    assert!(
        batch.refused[0].message.contains("comma"),
        "{:?}",
        batch.refused
    );
}

#[test]
fn a_custom_field_needs_its_prompt_as_header() {
    let config = format!("{BASE}\n[custom_fields]\ncost-center = \"emp\"\n");
    let setup = Setup::new(&config, "hr.csv", format!("{HEADER}\n").as_bytes());
    let err = Layout::new(&setup.config).unwrap_err();
    assert!(
        err.contains("[csv.custom_field_headers]") && err.contains("cost-center"),
        "{err}"
    );
    let config = format!("{config}\n[csv.custom_field_headers]\ncost-center = \"Cost Center\"\n");
    let setup = Setup::new(&config, "hr.csv", format!("{HEADER}\n").as_bytes());
    let layout = Layout::new(&setup.config).unwrap();
    let field: Field = "custom-fields.cost-center".parse().unwrap();
    assert_eq!(layout.header(&field), Some("Cost Center"));
}

#[test]
fn every_managed_standard_field_has_a_documented_column() {
    let setup = Setup::new(BASE, "hr.csv", format!("{HEADER}\n").as_bytes());
    let layout = Layout::new(&setup.config).unwrap();
    for s in Standard::ALL {
        let header = layout.header(&Field::Standard(s)).unwrap();
        assert!(
            USER_COLUMNS.iter().any(|c| c.header == header),
            "{s:?} → {header}"
        );
    }
    assert_eq!(layout.header(&Field::ACTIVE), Some("Status"));
    assert_eq!(
        layout.header(&Field::Standard(Standard::Manager)),
        Some("Approver Login")
    );
}

/// A plan of `n` new people whose last names are `last` long.
fn big_plan(n: usize, last: usize) -> Plan {
    let changes = (0..n)
        .map(|i| {
            let mut fields = BTreeMap::new();
            let text = |s: String| Value::Text(s);
            fields.insert(Field::LOGIN, text(format!("user{i:06}")));
            fields.insert(Field::EMAIL, text(format!("user{i:06}@example.com")));
            fields.insert(Field::Standard(Standard::Firstname), text("Ann".into()));
            fields.insert(Field::Standard(Standard::Lastname), text("L".repeat(last)));
            desired_change(i, fields)
        })
        .collect();
    build(changes, n, &[], &options())
}

fn desired_change(i: usize, fields: BTreeMap<Field, Value>) -> Change {
    Change {
        hr_key: format!("P{i:06}"),
        kind: ChangeKind::New,
        match_value: format!("user{i:06}"),
        desired: Some(DesiredUser {
            hr_key: format!("P{i:06}"),
            row: i + 2,
            active: true,
            match_value: format!("user{i:06}"),
            fields,
        }),
        previous_match_value: None,
    }
}

fn options() -> PlanOptions {
    PlanOptions {
        match_field: Field::LOGIN,
        managed: BTreeMap::new(),
        empty_values: engine::config::EmptyValues::Keep,
        max_change_share: 1.0,
        max_deactivate_share: 1.0,
        safety_floor: 0,
        invite_new_users: false,
    }
}

fn layout() -> Layout {
    Layout::new(&Setup::new(BASE, "hr.csv", format!("{HEADER}\n").as_bytes()).config).unwrap()
}

/// Every row of `batch`, in order, as read back.
fn all_logins(batch: &Batch) -> Vec<String> {
    batch
        .files
        .iter()
        .flat_map(|f| read(&f.content).1)
        .map(|r| cell(&r, "Login").to_string())
        .collect()
}

#[test]
fn more_than_five_thousand_rows_split_into_files_that_sort_in_load_order() {
    let plan = big_plan(MAX_ROWS * 2 + 1, 5);
    let batch = write(&plan, &[], &layout(), STAMP);
    let sizes: Vec<usize> = batch.files.iter().map(|f| f.rows.len()).collect();
    assert_eq!(sizes, [MAX_ROWS, MAX_ROWS, 1]);
    let names: Vec<&str> = batch.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "users_20261128T120000Z_0001.csv",
            "users_20261128T120000Z_0002.csv",
            "users_20261128T120000Z_0003.csv"
        ]
    );
    let expected: Vec<String> = (0..MAX_ROWS * 2 + 1)
        .map(|i| format!("user{i:06}"))
        .collect();
    assert_eq!(all_logins(&batch), expected);
    for file in &batch.files {
        let (_, rows) = read(&file.content);
        assert_eq!(rows.len(), file.rows.len());
    }
}

#[test]
fn files_stay_under_eight_megabytes() {
    // 3,000 rows of about 4 KB: the row limit is not reached, the size limit is.
    let plan = big_plan(3000, 4000);
    let batch = write(&plan, &[], &layout(), STAMP);
    assert!(batch.files.len() >= 2, "{}", batch.files.len());
    for file in &batch.files {
        assert!(file.content.len() <= MAX_BYTES, "{}", file.content.len());
    }
    assert!(batch.files[0].content.len() > MAX_BYTES - 8000);
    assert_eq!(all_logins(&batch).len(), 3000);
}

#[test]
fn stamps_sort_after_every_earlier_file() {
    use chrono::TimeZone;
    let now = chrono::Utc
        .with_ymd_and_hms(2026, 11, 28, 12, 0, 0)
        .unwrap();
    assert_eq!(next_stamp(now, None), "20261128T120000Z");
    assert_eq!(
        next_stamp(now, Some("users_20261128T115959Z_0003.csv")),
        "20261128T120000Z"
    );
    // The same second, or a clock that went back: one second after the newest.
    assert_eq!(
        next_stamp(now, Some("users_20261128T120000Z_0001.csv")),
        "20261128T120001Z"
    );
    assert_eq!(
        next_stamp(now, Some("users_20261128T130000Z_0001.csv")),
        "20261128T130001Z"
    );
    assert!("users_20261128T120001Z_0001.csv" > "users_20261128T120000Z_0002.csv");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Any value, commas, quotes, line breaks and any Unicode included, reads back from the file
    /// as the value written (after formula neutralisation) with a standard CSV reader.
    #[test]
    fn any_value_survives_a_round_trip(
        first in "\\PC{1,40}",
        last in any::<String>().prop_filter("Coupa requires a last name", |s| !s.is_empty()),
        middle in "[\",\r\n a-zé=+@-]{0,20}",
    ) {
        let mut fields = BTreeMap::new();
        fields.insert(Field::LOGIN, Value::Text("round.trip".into()));
        fields.insert(Field::EMAIL, Value::Text("rt@example.com".into()));
        fields.insert(Field::Standard(Standard::Firstname), Value::Text(first.clone()));
        fields.insert(Field::Standard(Standard::Lastname), Value::Text(last.clone()));
        fields.insert(Field::Standard(Standard::Middlename), Value::Text(middle.clone()));
        let plan = build(vec![desired_change(0, fields)], 1, &[], &options());
        let batch = write(&plan, &[], &layout(), STAMP);
        prop_assert_eq!(batch.files.len(), 1);
        let content = &batch.files[0].content;
        prop_assert!(std::str::from_utf8(content).is_ok());
        let (header, rows) = read(content);
        prop_assert_eq!(rows.len(), 1);
        prop_assert!(header.iter().all(|h| USER_COLUMNS.iter().any(|c| c.header == h)));
        let neutral = |s: &str| coupa_wire::flatfile::neutralise_formula(s).into_owned();
        prop_assert_eq!(cell(&rows[0], "First Name"), neutral(&first));
        prop_assert_eq!(cell(&rows[0], "Last Name"), neutral(&last));
        let expected_middle = if middle.is_empty() { String::new() } else { neutral(&middle) };
        prop_assert_eq!(cell(&rows[0], "Middle Name"), expected_middle);
    }
}

#[test]
fn phone_numbers_and_approval_limits_are_written_in_coupas_spelling_and_columns() {
    let config = BASE.replace(
        "[fields]\n",
        "[fields]\nphone-work = { constant = \"+41 (44) 668 1800 ext 12\" }\n\
         phone-mobile = { constant = \"415.555.0100\" }\n\
         requisition-approval-limit = { constant = \"1000 usd\" }\n\
         expense-approval-limit = { constant = \"Director\" }\n",
    );
    let (batch, plan) = files_for(&config, "1,E1,jdoe,jane@x.com,Jane,Doe,active,", &[]);
    let (header, rows) = read(&batch.files[0].content);
    let at = |h: &str| header.iter().position(|x| x == h).unwrap();
    assert!(at("Employee Number") < at("Phone Work"));
    assert!(at("Phone Work") < at("Phone Mobile"));
    assert!(at("Phone Mobile") < at("Requisition Approval Limit"));
    assert!(at("Requisition Approval Limit") < at("Expense Approval Limit"));
    // `+41…` is not taken for a formula: Coupa reads the number as written.
    assert_eq!(cell(&rows[0], "Phone Work"), "+41 44-668-1800 x12");
    assert_eq!(cell(&rows[0], "Phone Mobile"), "415-555-0100");
    assert_eq!(cell(&rows[0], "Requisition Approval Limit"), "1000.00 USD");
    assert_eq!(cell(&rows[0], "Expense Approval Limit"), "Director");
    let row = &stored(&plan, &batch.files[0])[0];
    let phone = row
        .changes
        .iter()
        .find(|c| c.field == Field::Standard(Standard::PhoneWork))
        .unwrap();
    assert_eq!(phone.new, Value::Text("+41 44-668-1800 x12".into()));
}

#[test]
fn with_invite_new_users_a_created_row_asks_for_the_password_invitation() {
    let coupa = vec![coupa_user(7, "E2", "bsmith", "b@x.com", "Bob", "Smith")];
    let hr = "P1,E1,jdoe,j@x.com,Jane,Doe,active,\nP2,E2,bsmith,b@x.com,Bob,Smith-Jones,active,";
    let (batch, _) = files_for(
        &format!("{BASE}\n[sync]\ninvite_new_users = true\n"),
        hr,
        &coupa,
    );
    let (header, rows) = read(&batch.files[0].content);
    assert!(
        header
            .iter()
            .any(|h| h == "Generate Password And Notify User")
    );
    let jane = rows.iter().find(|r| cell(r, "Login") == "jdoe").unwrap();
    assert_eq!(cell(jane, "Generate Password And Notify User"), "Yes");
    let bob = rows.iter().find(|r| cell(r, "Login") == "bsmith").unwrap();
    assert_eq!(cell(bob, "Generate Password And Notify User"), "");

    let (batch, _) = files_for(BASE, rows_without_invite(), &coupa);
    let (header, _) = read(&batch.files[0].content);
    assert!(
        !header
            .iter()
            .any(|h| h == "Generate Password And Notify User")
    );
}

fn rows_without_invite() -> &'static str {
    "P1,E1,jdoe,j@x.com,Jane,Doe,active,"
}
