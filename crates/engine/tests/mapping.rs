//! Mapping: Coupa user fields from HR columns, constants, transforms, templates, lookup tables,
//! custom fields, roles and content groups.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

mod common;

use common::{BASE, Setup};
use engine::config::Config;
use engine::detect::{AppliedState, Mode};
use engine::fields::{Field, Standard, Value};
use engine::mapping::DesiredUser;
use std::collections::BTreeSet;

const HEADER: &str = "id,emp,login,email,first,last,status,roles,dept,badge,groups";

/// Maps one row with the base configuration, where `fields` lines (`key = spec`) replace or add
/// `[fields]` entries and `sections` is appended.
fn map_one(fields: &[&str], sections: &str, row: &str) -> Result<DesiredUser, String> {
    let mut config = BASE.to_string();
    for line in fields {
        let key = line.split('=').next().unwrap().trim();
        match config
            .lines()
            .find(|l| l.split('=').next().unwrap().trim() == key)
        {
            Some(existing) => config = config.replace(existing, line),
            None => config = config.replace("[fields]\n", &format!("[fields]\n{line}\n")),
        }
    }
    config.push_str(sections);
    let setup = Setup::new(&config, "hr.csv", format!("{HEADER}\n{row}\n").as_bytes());
    let d = setup.detect(&AppliedState::new(), Mode::Delta);
    match (d.changes.into_iter().next(), d.errors.first()) {
        (Some(c), None) => Ok(c.desired.unwrap()),
        (_, Some(e)) => Err(e.to_string()),
        (None, None) => panic!("no outcome"),
    }
}

fn text(d: &DesiredUser, field: &Field) -> String {
    d.fields
        .get(field)
        .map(Value::to_plain)
        .unwrap_or_else(|| "(absent)".into())
}

const ROW: &str = "P1,E1, JDoe ,Jane.Doe@ACME.com,Jane,Doe,active,Buyer,FIN,B-7,North;South";

#[test]
fn columns_are_taken_as_they_are_unless_transformed() {
    let d = map_one(&[], "", ROW).unwrap();
    assert_eq!(text(&d, &Field::LOGIN), " JDoe ");
    let d = map_one(
        &[
            "login = { column = \"login\", transform = [\"trim\", \"lower\"] }",
            "email = { column = \"email\", transform = [\"upper\"] }",
        ],
        "",
        ROW,
    )
    .unwrap();
    assert_eq!(text(&d, &Field::LOGIN), "jdoe");
    assert_eq!(text(&d, &Field::EMAIL), "JANE.DOE@ACME.COM");
}

#[test]
fn a_template_joins_columns() {
    let d = map_one(
        &["email = { template = \"{first}.{last}@example.com\", transform = [\"lower\"] }"],
        "",
        ROW,
    )
    .unwrap();
    assert_eq!(text(&d, &Field::EMAIL), "jane.doe@example.com");
    // The joined value is validated like any other.
    let e = map_one(
        &["email = { template = \"{first} {last}@example.com\" }"],
        "",
        ROW,
    )
    .unwrap_err();
    assert!(
        e.contains("column [fields].email: email: \"Jane Doe@example.com\" is not a valid e-mail"),
        "{e}"
    );
}

#[test]
fn a_lookup_table_translates_with_a_default() {
    let spec = &[
        "department = { column = \"dept\", lookup = { FIN = \"Finance\", PUR = \"Purchasing\" }, default = \"General\" }",
    ];
    assert_eq!(
        text(
            &map_one(spec, "", ROW).unwrap(),
            &Field::Standard(Standard::Department)
        ),
        "Finance"
    );
    let other = ROW.replace(",FIN,", ",LAB,");
    assert_eq!(
        text(
            &map_one(spec, "", &other).unwrap(),
            &Field::Standard(Standard::Department)
        ),
        "General"
    );
    let empty = ROW.replace(",FIN,", ",,");
    assert_eq!(
        text(
            &map_one(spec, "", &empty).unwrap(),
            &Field::Standard(Standard::Department)
        ),
        "General"
    );

    let strict = &["department = { column = \"dept\", lookup = { FIN = \"Finance\" } }"];
    let e = map_one(strict, "", &other).unwrap_err();
    assert!(
        e.contains("column dept: department: no entry for \"LAB\" in the lookup table"),
        "{e}"
    );
}

#[test]
fn constants_and_flags() {
    let d = map_one(
        &[
            "default-currency = { constant = \"EUR\" }",
            "purchasing-user = { constant = true }",
            "expense-user = { constant = \"no\" }",
        ],
        "",
        ROW,
    )
    .unwrap();
    assert_eq!(text(&d, &Field::Standard(Standard::DefaultCurrency)), "EUR");
    assert_eq!(
        d.fields[&Field::Standard(Standard::PurchasingUser)],
        Value::Bool(true)
    );
    assert_eq!(
        d.fields[&Field::Standard(Standard::ExpenseUser)],
        Value::Bool(false)
    );
    let e = map_one(&["expense-user = \"dept\""], "", ROW).unwrap_err();
    assert!(e.contains("expense-user: expected yes/no"), "{e}");
}

#[test]
fn custom_fields_by_field_name() {
    let d = map_one(&[], "\n[custom_fields]\nbadge_no = \"badge\"\n", ROW).unwrap();
    assert_eq!(text(&d, &Field::Custom("badge_no".into())), "B-7");
}

#[test]
fn matching_on_a_custom_field_column() {
    let config = "\n[custom_fields]\nbadge = \"badge\"\n";
    let text_config = BASE.replace(
        "coupa_field = \"employee-number\"",
        "coupa_field = \"custom-fields.badge\"",
    );
    let setup = Setup::new(
        &format!("{text_config}\n{config}"),
        "hr.csv",
        format!("{HEADER}\n{ROW}\n").as_bytes(),
    );
    let d = setup.desired();
    assert_eq!(d[0].match_value, "B-7");
}

#[test]
fn roles_and_content_groups_come_in_coupa_spelling() {
    let config = "\n[content_groups]\ncolumn = \"groups\"\nseparator = \";\"\nmanaged = [\"North\", \"South\", \"West\"]";
    let d = map_one(
        &[],
        config,
        &ROW.replace(",Buyer,", ",buyer; Accounts payable ;,"),
    )
    .unwrap();
    let set =
        |names: &[&str]| Value::Set(names.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>());
    assert_eq!(d.fields[&Field::Roles], set(&["Accounts Payable", "Buyer"]));
    assert_eq!(d.fields[&Field::ContentGroups], set(&["North", "South"]));
    let d = map_one(&[], config, &ROW.replace(",Buyer,", ",,")).unwrap();
    assert_eq!(
        d.fields[&Field::Roles],
        set(&[]),
        "an empty column means no managed roles"
    );
}

#[test]
fn the_status_column_decides_active_without_regard_to_case() {
    assert!(map_one(&[], "", ROW).unwrap().active);
    assert!(
        !map_one(&[], "", &ROW.replace(",active,", ", INACTIVE ,"))
            .unwrap()
            .active
    );
    let custom = BASE.replace(
        "status_column = \"status\"",
        "status_column = \"status\"\nterminated_values = [\"L\"]",
    );
    let setup = Setup::new(
        &custom,
        "hr.csv",
        format!("{HEADER}\n{}\n", ROW.replace(",active,", ",L,")).as_bytes(),
    );
    assert!(!setup.desired()[0].active);
}

#[test]
fn an_empty_match_value_is_an_error_for_the_row() {
    let e = map_one(&[], "", &ROW.replace("P1,E1,", "P1,,")).unwrap_err();
    assert!(
        e.contains("(person P1): the employee-number to match in Coupa is empty"),
        "{e}"
    );
}

#[test]
fn configuration_sections_feed_the_mapping() {
    // A config error in a mapping section names the key, before any HR row is read.
    let text = BASE.replace("lastname = \"last\"", "lastname = { template = \"{}\" }");
    let e = Config::parse(&text, std::path::Path::new("x.toml"), &common::env).unwrap_err();
    assert!(e.to_string().contains("fields.lastname"), "{e}");
}

#[test]
fn phone_numbers_and_approval_limits_are_read_in_coupas_forms_or_refused_naming_column_and_person()
{
    let spec = &[
        "phone-work = { column = \"badge\" }",
        "requisition-approval-limit = { column = \"dept\" }",
    ];
    let phone = Field::Standard(Standard::PhoneWork);
    let limit = Field::Standard(Standard::RequisitionApprovalLimit);
    let row = |phone: &str, limit: &str| ROW.replace(",FIN,B-7,", &format!(",{limit},{phone},"));

    let d = map_one(spec, "", &row("+41 (44) 668 1800 ext 12", "1000 usd")).unwrap();
    assert_eq!(text(&d, &phone), "+41 44-668-1800 x12");
    assert_eq!(text(&d, &limit), "1000.00 USD");
    let d = map_one(spec, "", &row("415.555.0100", "Director EMEA")).unwrap();
    assert_eq!(text(&d, &phone), "415-555-0100");
    assert_eq!(text(&d, &limit), "Director EMEA");

    let e = map_one(spec, "", &row("555-0100", "Director")).unwrap_err();
    assert!(e.contains("row 2") && e.contains("P1"), "{e}");
    assert!(
        e.contains(
            "column badge: phone-work: \"555-0100\" is not a phone number Coupa can take; \
             expected xxx-yyy-zzzz or +aa xxx-yyy-zzzz"
        ),
        "{e}"
    );
    let e = map_one(spec, "", &row("415-555-0100", "1000")).unwrap_err();
    assert!(
        e.contains(
            "column dept: requisition-approval-limit: \"1000\" has no currency code; \
             expected an amount and a currency code (1000.00 USD)"
        ),
        "{e}"
    );
}
