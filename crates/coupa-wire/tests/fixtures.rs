//! The recorded Coupa payloads in `fixtures/` decode to the values Coupa's documentation describes, and
//! every one survives decode → encode → decode in both formats.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use coupa_wire::{
    ErrorsBody, Format, NO_RESULTS, Role, User, decode, decode_list, encode, encode_list,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// decode → encode → decode gives the same user, in both formats.
fn assert_round_trips(user: &User) {
    for format in [Format::Xml, Format::Json] {
        let body = encode(format, "user", user);
        let back: User = decode(format, &body, "user").unwrap();
        assert_eq!(
            &back,
            user,
            "{format:?}:\n{}",
            String::from_utf8_lossy(&body)
        );
    }
}

#[test]
fn users_by_login_response_decodes_every_typed_leaf() {
    let users: Vec<User> = decode_list(
        Format::Xml,
        &fixture("users-by-login.response.xml"),
        "users",
    )
    .unwrap();
    assert_eq!(users.len(), 1);
    let u = &users[0];
    assert_eq!(u.id, Some(281));
    assert_eq!(u.login.as_deref(), Some("USER_TEST"));
    assert_eq!(u.email.as_deref(), Some("user_test_new_email@coupa.com"));
    assert_eq!(u.purchasing_user, Some(true));
    assert_eq!(u.sourcing_user, Some(false));
    assert_eq!(u.active, Some(true));
    // `<employee-number />` is an empty string; `<phone-work nil="true" />` is no value.
    assert_eq!(u.employee_number.as_deref(), Some(""));
    assert_eq!(u.phone_work, None);
    assert_eq!(u.salesforce_id, None);
    assert_eq!(u.account_security_type, Some(0));
    assert_eq!(u.business_group_security_type, Some(1));
    assert_eq!(
        u.authentication_method.as_deref(),
        Some("coupa_credentials")
    );
    assert_eq!(u.mention_name.as_deref(), Some("usertestnewlastname"));
    assert_eq!(u.roles, Some(vec![]));
    assert_eq!(
        u.created_at.map(|t| t.to_rfc3339()),
        Some("2016-06-30T07:51:11+00:00".to_string())
    );
    // The global-namespace custom field is kept, not dropped.
    assert_eq!(
        u.extra.get("test-cust-field").and_then(|v| v.as_str()),
        Some("TEST_CUSTOM_FIELD")
    );
    assert_round_trips(u);
    let list = encode_list(Format::Xml, "users", &users);
    assert_eq!(
        decode_list::<User>(Format::Xml, &list, "users").unwrap(),
        users
    );
}

/// Drift check: every element of the recorded response is a modelled field, except the one custom field
/// that Coupa's global namespace puts at the top level. A new Coupa element shows up here.
#[test]
fn users_by_login_response_has_no_unmodelled_elements() {
    let users: Vec<User> = decode_list(
        Format::Xml,
        &fixture("users-by-login.response.xml"),
        "users",
    )
    .unwrap();
    let unmodelled: Vec<&String> = users[0].extra.keys().collect();
    assert_eq!(unmodelled, ["test-cust-field"]);
}

#[test]
fn create_request_is_the_same_user_in_xml_and_json() {
    let xml: User = decode(Format::Xml, &fixture("user-create.request.xml"), "user").unwrap();
    let json: User = decode(Format::Json, &fixture("user-create.request.json"), "user").unwrap();
    assert_eq!(xml, json);
    assert_eq!(xml.login.as_deref(), Some("jdoe"));
    assert_eq!(xml.active, Some(true));
    assert_eq!(xml.expense_user, Some(true));
    assert_eq!(xml.inventory_user, Some(false));
    assert_eq!(xml.employee_number.as_deref(), Some("E1001"));
    assert_eq!(
        xml.default_currency
            .as_ref()
            .and_then(|c| c.code.as_deref()),
        Some("EUR")
    );
    assert!(xml.extra.is_empty(), "{:?}", xml.extra);
    assert_round_trips(&xml);
}

#[test]
fn update_request_carries_names_email_and_the_read_only_fullname() {
    let u: User = decode(Format::Xml, &fixture("user-update.request.xml"), "user").unwrap();
    assert_eq!(u.lastname.as_deref(), Some("TEST NEW LASTNAME"));
    assert_eq!(u.email.as_deref(), Some("user_test_new_email@coupa.com"));
    assert_eq!(u.fullname.as_deref(), Some("USER TEST"));
    assert_round_trips(&u);
}

#[test]
fn roles_and_custom_field_request_decodes_an_untyped_collection() {
    let u: User = decode(
        Format::Xml,
        &fixture("user-roles-and-custom-field.request.xml"),
        "user",
    )
    .unwrap();
    assert_eq!(u.roles, Some(vec![Role::named("Buyer")]));
    let cf = u.custom_fields.as_ref().unwrap();
    assert_eq!(
        cf.get("cost-center").and_then(|v| v.as_str()),
        Some("CC-4711")
    );
    assert_round_trips(&u);
}

#[test]
fn deactivate_request_is_active_false_and_nothing_else() {
    let u: User = decode(Format::Xml, &fixture("user-deactivate.request.xml"), "user").unwrap();
    assert_eq!(
        u,
        User {
            active: Some(false),
            ..User::default()
        }
    );
    assert_round_trips(&u);
}

#[test]
fn an_empty_roles_element_is_an_empty_list_not_absent() {
    let u: User = decode(Format::Xml, b"<user><roles/></user>", "user").unwrap();
    assert_eq!(u.roles, Some(vec![]));
    let u: User = decode(Format::Json, br#"{"roles":[]}"#, "user").unwrap();
    assert_eq!(u.roles, Some(vec![]));
}

#[test]
fn error_bodies_decode_in_both_formats() {
    let want = ErrorsBody::new([
        "Login has already been taken",
        "Email has already been taken",
    ]);
    assert_eq!(
        ErrorsBody::decode(Format::Xml, &fixture("errors-taken.response.xml")).unwrap(),
        want
    );
    assert_eq!(
        ErrorsBody::decode(Format::Json, &fixture("errors-taken.response.json")).unwrap(),
        want
    );
    let none = ErrorsBody::decode(Format::Xml, &fixture("errors-no-results.response.xml")).unwrap();
    assert!(none.is_no_results());
    assert_eq!(none.messages, [NO_RESULTS]);
    assert!(!want.is_no_results());
}

#[test]
fn decode_errors_name_the_field() {
    let err =
        decode::<User>(Format::Json, br#"{"login":"x","active":"maybe"}"#, "user").unwrap_err();
    assert!(err.to_string().contains("active"), "{err}");
    let err = decode::<User>(
        Format::Xml,
        br#"<user><roles type="array"><role><id>x</id></role></roles></user>"#,
        "user",
    )
    .unwrap_err();
    assert!(err.to_string().contains("roles"), "{err}");
    let err = decode::<User>(Format::Xml, b"<users type=\"array\"/>", "user").unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected root element <user>, found <users>"
    );
}

#[test]
fn the_password_never_shows_in_debug() {
    let u: User = decode(
        Format::Json,
        br#"{"login":"x","password":"hunter2-secret"}"#,
        "user",
    )
    .unwrap();
    assert!(!format!("{u:?}").contains("hunter2"));
    // …but it is what the encoder sends.
    assert!(
        String::from_utf8(encode(Format::Xml, "user", &u))
            .unwrap()
            .contains("hunter2-secret")
    );
}

/// Every header of Coupa's recorded users template is one the flat-file table knows, and writing that
/// header row back gives the recorded bytes (every field quoted).
#[test]
fn users_import_header_is_known_column_by_column() {
    use coupa_wire::flatfile::{column_by_header, write_record};
    let recorded = String::from_utf8(fixture("users-import.header.csv")).unwrap();
    let headers: Vec<String> = recorded
        .trim_end()
        .split(',')
        .map(|h| h.trim_matches('"').to_string())
        .collect();
    for h in &headers {
        assert!(column_by_header(h).is_some(), "unknown header {h}");
    }
    let mut written = String::new();
    write_record(&mut written, &headers);
    assert_eq!(written.trim_end(), recorded.trim_end());
}
