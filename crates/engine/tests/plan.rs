//! The plan, scenario by scenario (Coupa's playbook 1.1 to 1.7), and every case where the plan
//! refuses to guess.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

mod common;

use common::{BASE, Setup, applied, coupa_user, with_roles};
use coupa_wire::{Format, User};
use engine::detect::{AppliedState, Mode};
use engine::fields::{Field, Standard, Value};
use engine::mapping::Mapping;
use engine::plan::{
    Action, FieldChange, Method, Plan, PlanError, PlanOptions, Step, build, key_lookups,
    match_lookup,
};
use std::collections::BTreeSet;

const HEADER: &str = "id,emp,login,email,first,last,status,roles,cc";

/// Matching by login, as the playbook does, without an employee-number mapping.
fn by_login() -> String {
    BASE.replace(
        "coupa_field = \"employee-number\"",
        "coupa_field = \"login\"",
    )
    .replace("employee-number = \"emp\"\n", "")
}

fn setup(config: &str, rows: &str) -> Setup {
    Setup::new(config, "hr.csv", format!("{HEADER}\n{rows}\n").as_bytes())
}

fn plan_with(setup: &Setup, applied: &AppliedState, coupa: &[User]) -> Plan {
    let d = setup.detect(applied, Mode::Delta);
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    let mapping = Mapping::new(&setup.config);
    let options = PlanOptions::new(&setup.config, &mapping);
    let population = d.population();
    build(d.changes, population, coupa, &options)
}

fn plan(config: &str, rows: &str, coupa: &[User]) -> Plan {
    plan_with(&setup(config, rows), &AppliedState::new(), coupa)
}

fn action(plan: &Plan) -> &Action {
    assert_eq!(plan.people.len(), 1, "{plan}");
    &plan.people[0].action
}

fn xml(user: &User) -> String {
    String::from_utf8(coupa_wire::encode(Format::Xml, "user", user)).unwrap()
}

fn set(names: &[&str]) -> Value {
    Value::Set(names.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>())
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

/// USER_TEST as Coupa returns it in the playbook (`GET /api/users?login=USER_TEST`).
fn user_test() -> User {
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../coupa-wire/tests/fixtures/users-by-login.response.xml"
    ))
    .unwrap();
    coupa_wire::decode_list::<User>(Format::Xml, &body, "users")
        .unwrap()
        .remove(0)
}

#[test]
fn scenario_1_1_a_new_person_is_created_with_every_mapped_field() {
    let config = format!(
        "{}\n[sync]\nempty_values = \"keep\"\n",
        BASE.replace("[fields]\n", "[fields]\ndefault-currency = { constant = \"EUR\" }\npurchasing-user = { constant = true }\n")
    );
    let plan = plan(
        &config,
        "P1,E1001,jdoe,jdoe@example.com,Jane,Doe,active,Buyer,",
        &[],
    );
    let Action::Create { changes } = action(&plan) else {
        panic!("expected a create: {plan}")
    };
    assert!(changes.iter().all(|c| c.old.is_none()));
    let calls = plan.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (calls[0].method, calls[0].step, calls[0].path().as_str()),
        (Method::Post, Step::Create, "/api/users")
    );
    let body = &calls[0].body;
    assert_eq!(body.login.as_deref(), Some("jdoe"));
    assert_eq!(body.email.as_deref(), Some("jdoe@example.com"));
    assert_eq!(body.employee_number.as_deref(), Some("E1001"));
    assert_eq!(body.active, Some(true));
    assert_eq!(body.purchasing_user, Some(true));
    assert_eq!(
        body.default_currency
            .as_ref()
            .and_then(|c| c.code.as_deref()),
        Some("EUR")
    );
    let roles: Vec<_> = body
        .roles
        .as_ref()
        .unwrap()
        .iter()
        .map(|r| r.name.clone().unwrap())
        .collect();
    assert_eq!(roles, ["Buyer"]);
    assert_eq!(plan.summary.create, 1);
}

#[test]
fn scenario_1_2_only_the_fields_that_differ_are_put() {
    let plan = plan(
        &by_login(),
        "P1,,USER_TEST,user_test_newer@coupa.com,user,test newest lastname,active,,",
        &[user_test()],
    );
    assert_eq!(
        action(&plan),
        &Action::Update {
            id: 281,
            changes: vec![
                FieldChange {
                    field: Field::EMAIL,
                    old: Some(text("user_test_new_email@coupa.com")),
                    new: text("user_test_newer@coupa.com"),
                },
                FieldChange {
                    field: Field::Standard(Standard::Lastname),
                    old: Some(text("test new lastname")),
                    new: text("test newest lastname"),
                },
            ]
        }
    );
    let calls = plan.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (calls[0].method, calls[0].path().as_str()),
        (Method::Put, "/api/users/281")
    );
    let body = xml(&calls[0].body);
    assert!(
        body.contains("<email>user_test_newer@coupa.com</email>"),
        "{body}"
    );
    assert!(
        body.contains("<lastname>test newest lastname</lastname>"),
        "{body}"
    );
    for unchanged in ["<login>", "<firstname>", "<roles", "<active"] {
        assert!(
            !body.contains(unchanged),
            "{unchanged} must not be sent: {body}"
        );
    }
}

#[test]
fn scenario_1_3_a_custom_field_is_put_by_field_name() {
    let config = format!("{}\n[custom_fields]\ncost-center = \"cc\"\n", by_login());
    let plan = plan(
        &config,
        "P1,,USER_TEST,user_test_new_email@coupa.com,user,test new lastname,active,,CC-4711",
        &[user_test()],
    );
    let Action::Update { changes, .. } = action(&plan) else {
        panic!("expected an update: {plan}")
    };
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].field, Field::Custom("cost-center".into()));
    let body = xml(&plan.calls()[0].body);
    assert!(
        body.contains("<custom-fields><cost-center>CC-4711</cost-center></custom-fields>"),
        "{body}"
    );
}

#[test]
fn scenario_1_4_a_leaver_is_deactivated() {
    let plan = plan(
        &by_login(),
        "P1,,USER_TEST,user_test@coupa.com,user,test,terminated,,",
        &[user_test()],
    );
    assert_eq!(action(&plan), &Action::Deactivate { id: 281 });
    let calls = plan.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].step, Step::Deactivate);
    assert_eq!(
        calls[0].body,
        User {
            active: Some(false),
            ..User::default()
        }
    );

    let mut inactive = user_test();
    inactive.active = Some(false);
    let plan = self::plan(
        &by_login(),
        "P1,,USER_TEST,user_test@coupa.com,user,test,terminated,,",
        &[inactive],
    );
    assert!(matches!(action(&plan), Action::Nothing { .. }));
    assert!(plan.calls().is_empty());

    let plan = self::plan(
        &by_login(),
        "P1,,USER_TEST,user_test@coupa.com,user,test,terminated,,",
        &[],
    );
    assert!(matches!(action(&plan), Action::Nothing { reason } if reason.contains("not in Coupa")));
}

#[test]
fn scenario_1_4_someone_gone_from_a_full_extract_is_deactivated() {
    let config = by_login().replace("[hr]", "[hr]\nmissing = \"deactivate\"");
    let s = setup(
        &config,
        "P1,,USER_TEST,user_test_new_email@coupa.com,user,test new lastname,active,,\nP2,,jdoe,jdoe@example.com,Jane,Doe,active,,",
    );
    let state = applied(&s.desired());
    s.rewrite_hr(&format!(
        "{HEADER}\nP2,,jdoe,jdoe@example.com,Jane,Doe,active,,\n"
    ));
    let plan = plan_with(&s, &state, &[user_test()]);
    assert_eq!(action(&plan), &Action::Deactivate { id: 281 });
    assert_eq!(plan.people[0].row, None);
}

#[test]
fn scenario_1_5_a_returning_person_is_reactivated_with_their_changes() {
    let mut inactive = user_test();
    inactive.active = Some(false);
    let plan = plan(
        &by_login(),
        "P1,,USER_TEST,user_test_new_email@coupa.com,User,test new lastname,active,,",
        &[inactive],
    );
    let Action::Reactivate { id: 281, changes } = action(&plan) else {
        panic!("expected a reactivation: {plan}")
    };
    assert_eq!(
        changes[0],
        FieldChange {
            field: Field::ACTIVE,
            old: Some(Value::Bool(false)),
            new: Value::Bool(true)
        }
    );
    assert_eq!(changes[1].field, Field::Standard(Standard::Firstname));
    let calls = plan.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].step, Step::Reactivate);
    assert_eq!(calls[0].body.active, Some(true));
    assert_eq!(calls[0].body.firstname.as_deref(), Some("User"));
}

#[test]
fn scenario_1_6_an_added_role_is_put_with_the_roles_kept() {
    let coupa = with_roles(
        coupa_user(7, "E1", "jdoe", "jdoe@example.com", "Jane", "Doe"),
        &["User"],
    );
    let plan = plan(
        BASE,
        "P1,E1,jdoe,jdoe@example.com,Jane,Doe,active,Buyer,",
        &[coupa],
    );
    assert_eq!(
        action(&plan),
        &Action::Update {
            id: 7,
            changes: vec![FieldChange {
                field: Field::Roles,
                old: Some(set(&["User"])),
                new: set(&["Buyer", "User"])
            }]
        }
    );
    let calls = plan.calls();
    assert_eq!(calls.len(), 1, "an addition needs no clearing");
    let body = xml(&calls[0].body);
    assert!(
        body.contains("<role><name>Buyer</name></role>")
            && body.contains("<role><name>User</name></role>"),
        "{body}"
    );
}

#[test]
fn scenario_1_7_a_removed_role_is_cleared_then_the_rest_set() {
    let coupa = with_roles(
        coupa_user(7, "E1", "jdoe", "jdoe@example.com", "Jane", "Doe"),
        &["User", "Buyer", "Accounts Payable"],
    );
    let plan = plan(
        BASE,
        "P1,E1,jdoe,jdoe@example.com,Jane,Doe,active,Buyer,",
        &[coupa],
    );
    let calls = plan.calls();
    let steps: Vec<Step> = calls.iter().map(|c| c.step).collect();
    assert_eq!(steps, [Step::ClearRoles, Step::SetRoles]);
    assert_eq!(
        calls[0].body,
        User {
            roles: Some(Vec::new()),
            ..User::default()
        }
    );
    let clear = xml(&calls[0].body);
    assert!(
        clear.contains("<roles") && !clear.contains("<role>"),
        "an empty roles list: {clear}"
    );
    let kept: Vec<_> = calls[1]
        .body
        .roles
        .as_ref()
        .unwrap()
        .iter()
        .map(|r| r.name.clone().unwrap())
        .collect();
    assert_eq!(kept, ["Buyer", "User"], "the unmanaged User role stays");
    assert!(
        calls
            .iter()
            .all(|c| c.user_id == Some(7) && c.method == Method::Put)
    );
}

#[test]
fn removing_every_managed_role_needs_only_the_clear_when_nothing_else_is_kept() {
    let coupa = with_roles(
        coupa_user(7, "E1", "jdoe", "jdoe@example.com", "Jane", "Doe"),
        &["Buyer"],
    );
    let plan = plan(
        BASE,
        "P1,E1,jdoe,jdoe@example.com,Jane,Doe,active,,",
        &[coupa],
    );
    let steps: Vec<Step> = plan.calls().iter().map(|c| c.step).collect();
    assert_eq!(steps, [Step::ClearRoles]);
}

#[test]
fn field_updates_and_a_role_removal_go_in_order() {
    let coupa = with_roles(
        coupa_user(7, "E1", "jdoe", "jdoe@example.com", "Jane", "Doe"),
        &["Buyer", "User"],
    );
    let plan = plan(
        BASE,
        "P1,E1,jdoe,jdoe@example.com,Jane,Smith,active,Accounts Payable,",
        &[coupa],
    );
    let calls = plan.calls();
    let steps: Vec<Step> = calls.iter().map(|c| c.step).collect();
    assert_eq!(steps, [Step::Update, Step::ClearRoles, Step::SetRoles]);
    assert_eq!(calls[0].body.lastname.as_deref(), Some("Smith"));
    assert!(calls[0].body.roles.is_none());
}

#[test]
fn nothing_is_done_when_coupa_is_up_to_date() {
    let coupa = with_roles(
        coupa_user(7, "E1", "JDoe", "JDOE@example.com", "Jane", "Doe"),
        &["User", "Buyer"],
    );
    let plan = plan(
        BASE,
        "P1,E1,JDoe,jdoe@example.com,Jane,Doe,active,Buyer,",
        &[coupa],
    );
    assert!(
        matches!(action(&plan), Action::Nothing { .. }),
        "e-mail case is not a difference: {plan}"
    );
    assert!(plan.calls().is_empty());
    assert_eq!(plan.summary.nothing, 1);
}

#[test]
fn empty_hr_values_keep_coupa_values_unless_configured_to_clear() {
    let config = BASE.replace("[fields]\n", "[fields]\nmiddlename = \"cc\"\n");
    let mut coupa = coupa_user(7, "E1", "jdoe", "jdoe@example.com", "Jane", "Doe");
    coupa.middlename = Some("Q".into());
    let row = "P1,E1,jdoe,jdoe@example.com,Jane,Doe,active,,";
    assert!(matches!(
        action(&plan(&config, row, &[coupa.clone()])),
        Action::Nothing { .. }
    ));
    let clearing = format!("{config}\n[sync]\nempty_values = \"clear\"\n");
    let p = plan(&clearing, row, &[coupa]);
    assert_eq!(
        action(&p),
        &Action::Update {
            id: 7,
            changes: vec![FieldChange {
                field: Field::Standard(Standard::Middlename),
                old: Some(text("Q")),
                new: text("")
            }]
        }
    );
}

#[test]
fn two_coupa_users_for_one_person_is_an_error_not_a_guess() {
    let coupa = [
        coupa_user(7, "E1", "jdoe", "jdoe@example.com", "Jane", "Doe"),
        coupa_user(8, "e1", "jdoe2", "jdoe2@example.com", "Jane", "Doe"),
    ];
    let plan = plan(
        BASE,
        "P1,E1,jdoe,jdoe@example.com,Jane,Doe,active,,",
        &coupa,
    );
    assert_eq!(
        action(&plan),
        &Action::Error {
            error: PlanError::Ambiguous {
                field: Field::EMPLOYEE_NUMBER,
                value: "E1".into(),
                ids: vec![7, 8]
            }
        }
    );
    assert!(plan.calls().is_empty());
    assert!(
        plan.to_string().contains(
            "ERROR for person P1 (row 2): 2 Coupa users have employee-number \"E1\" (ids 7, 8)"
        ),
        "{plan}"
    );
}

#[test]
fn the_same_user_returned_by_both_lookup_rounds_is_one_user() {
    let jane = coupa_user(7, "E1", "jdoe", "jdoe@example.com", "Jane", "Doe");
    let plan = plan(
        BASE,
        "P1,E1,jdoe,jdoe@example.com,Jane,Doe,active,,",
        &[jane.clone(), jane],
    );
    assert!(matches!(action(&plan), Action::Nothing { .. }), "{plan}");
}

#[test]
fn a_create_whose_login_is_taken_is_refused() {
    let other = coupa_user(9, "E77", "jdoe", "someone@example.com", "John", "Doe");
    let plan = plan(
        BASE,
        "P1,E1,jdoe,jdoe@example.com,Jane,Doe,active,,",
        &[other],
    );
    let Action::Error { error } = action(&plan) else {
        panic!("{plan}")
    };
    assert!(matches!(error, PlanError::KeyTaken { field, id: 9, .. } if *field == Field::LOGIN));
    assert!(
        error
            .to_string()
            .contains("login \"jdoe\" already belongs to Coupa user 9 (login jdoe)"),
        "{error}"
    );
}

#[test]
fn an_update_to_an_email_another_user_holds_is_refused() {
    let coupa = [
        coupa_user(7, "E1", "jdoe", "jdoe@example.com", "Jane", "Doe"),
        coupa_user(9, "E2", "jsmith", "jane@example.com", "Jane", "Smith"),
    ];
    let plan = plan(
        BASE,
        "P1,E1,jdoe,Jane@example.com,Jane,Doe,active,,",
        &coupa,
    );
    assert!(
        matches!(
            action(&plan),
            Action::Error {
                error: PlanError::KeyTaken { id: 9, .. }
            }
        ),
        "{plan}"
    );
}

#[test]
fn two_people_claiming_one_login_are_both_refused() {
    let plan = plan(
        BASE,
        "P1,E1,jdoe,jdoe@example.com,Jane,Doe,active,,\nP2,E2,JDOE,john.doe@example.com,John,Doe,active,,",
        &[],
    );
    assert_eq!(plan.summary.errors, 2, "{plan}");
    let Action::Error {
        error: PlanError::ClaimedTwice { others, .. },
    } = &plan.people[0].action
    else {
        panic!("{plan}")
    };
    assert_eq!(others, &["P2"]);
}

#[test]
fn an_employee_number_change_on_a_user_matched_by_login_is_refused() {
    let config = BASE.replace(
        "coupa_field = \"employee-number\"",
        "coupa_field = \"login\"",
    );
    let coupa = coupa_user(7, "E1", "jdoe", "jdoe@example.com", "Jane", "Doe");
    let plan = plan(
        &config,
        "P1,E9,jdoe,jdoe@example.com,Jane,Doe,active,,",
        &[coupa],
    );
    assert_eq!(
        action(&plan),
        &Action::Error {
            error: PlanError::ForbiddenKeyChange {
                field: Field::EMPLOYEE_NUMBER,
                old: "E1".into(),
                new: "E9".into()
            }
        }
    );
    // Setting a first employee number is not a change of key.
    let mut blank = coupa_user(7, "", "jdoe", "jdoe@example.com", "Jane", "Doe");
    blank.employee_number = None;
    let plan = self::plan(
        &config,
        "P1,E9,jdoe,jdoe@example.com,Jane,Doe,active,,",
        &[blank],
    );
    assert!(matches!(action(&plan), Action::Update { .. }), "{plan}");
}

#[test]
fn a_match_key_that_moved_in_hr_is_refused_rather_than_duplicated() {
    let s = setup(BASE, "P1,E1,jdoe,jdoe@example.com,Jane,Doe,active,,");
    let state = applied(&s.desired());
    s.rewrite_hr(&format!(
        "{HEADER}\nP1,E1-NEW,jdoe,jdoe@example.com,Jane,Doe,active,,\n"
    ));
    let jane = coupa_user(7, "E1", "jdoe", "jdoe@example.com", "Jane", "Doe");
    let plan = plan_with(&s, &state, std::slice::from_ref(&jane));
    assert!(
        matches!(
            action(&plan),
            Action::Error { error: PlanError::MatchKeyChanged { old, new, .. } } if old == "E1" && new == "E1-NEW"
        ),
        "{plan}"
    );
    // Once someone changed it in Coupa too, the person is found and nothing is refused.
    let mut moved = jane;
    moved.employee_number = Some("E1-NEW".into());
    let plan = plan_with(&s, &state, &[moved]);
    assert!(matches!(action(&plan), Action::Nothing { .. }), "{plan}");
}

#[test]
fn a_create_without_the_fields_coupa_requires_is_refused() {
    let plan = plan(BASE, "P1,E1,jdoe,,Jane,,active,,", &[]);
    assert_eq!(
        action(&plan),
        &Action::Error {
            error: PlanError::MissingRequired {
                fields: vec![Field::EMAIL, Field::Standard(Standard::Lastname)]
            }
        }
    );
}

fn many(n: usize, status: impl Fn(usize) -> &'static str) -> (String, Vec<User>) {
    let rows = (0..n)
        .map(|i| format!("P{i},E{i},u{i},u{i}@example.com,F,L,{},,", status(i)))
        .collect::<Vec<_>>()
        .join("\n");
    let coupa = (0..n)
        .map(|i| {
            coupa_user(
                i as i64 + 1,
                &format!("E{i}"),
                &format!("u{i}"),
                &format!("u{i}@example.com"),
                "F",
                "L",
            )
        })
        .collect();
    (rows, coupa)
}

#[test]
fn the_safety_threshold_stops_mass_deactivation_unless_forced() {
    // 12 of 100 leave: over 5% and over the floor of 10.
    let (rows, coupa) = many(100, |i| if i < 12 { "terminated" } else { "active" });
    let plan = plan(BASE, &rows, &coupa);
    assert_eq!(plan.summary.deactivate, 12);
    let stop = plan.ensure_safe(false).unwrap_err();
    assert_eq!(
        (stop.what, stop.count, stop.population),
        ("deactivate", 12, 100)
    );
    assert!(
        stop.to_string()
            .contains("[sync].max_deactivate_share = 0.05"),
        "{stop}"
    );
    assert!(
        plan.to_string().contains("--force"),
        "the rendering says how to go on"
    );
    assert!(plan.ensure_safe(true).is_ok());

    // 8 leavers are under the floor; a share of 0.2 allows 12.
    let (rows, coupa) = many(100, |i| if i < 8 { "terminated" } else { "active" });
    assert!(plan_for_ok(&rows, &coupa, BASE));
    let relaxed = format!("{BASE}\n[sync]\nmax_deactivate_share = 0.2\n");
    let (rows, coupa) = many(100, |i| if i < 12 { "terminated" } else { "active" });
    assert!(plan_for_ok(&rows, &coupa, &relaxed));
}

fn plan_for_ok(rows: &str, coupa: &[User], config: &str) -> bool {
    plan(config, rows, coupa).ensure_safe(false).is_ok()
}

#[test]
fn the_safety_threshold_counts_updates_too() {
    let (rows, coupa) = many(40, |_| "active");
    let rows = rows.replace(",F,L,", ",F,Changed,");
    let plan = plan(BASE, &rows, &coupa);
    let stop = plan.safety.as_ref().expect("40 of 40 changed");
    assert_eq!((stop.what, stop.key), ("change", "max_change_share"));
    // Creations change no existing user: a first load is not stopped.
    let plan = self::plan(BASE, &rows, &[]);
    assert_eq!(plan.summary.create, 40);
    assert!(plan.safety.is_none());
}

#[test]
fn lookups_ask_coupa_for_the_match_values_then_the_new_keys() {
    let s = setup(
        BASE,
        "P1,E1,jdoe,jdoe@example.com,Jane,Doe,active,,\nP2,E2,bob,bob@example.com,Bob,Brown,active,,\nP3,E3,amy,amy@example.com,Amy,Ames,terminated,,",
    );
    let d = s.detect(&AppliedState::new(), Mode::Delta);
    let round_one = match_lookup(&d.changes, &Field::EMPLOYEE_NUMBER);
    assert_eq!(round_one.values, ["E1", "E2", "E3"]);
    assert_eq!(
        round_one.queries()[0].to_query_string(),
        "employee_number[in]=E1%2CE2%2CE3"
    );

    // Jane is found and keeps her keys; Bob is not found (to be created): his login and e-mail are
    // checked; Amy is leaving, so her keys do not matter.
    let found = [coupa_user(
        7,
        "E1",
        "jdoe",
        "jdoe@example.com",
        "Jane",
        "Doe",
    )];
    let round_two = key_lookups(&d.changes, &found, &Field::EMPLOYEE_NUMBER);
    let asked: Vec<(String, Vec<String>)> = round_two
        .iter()
        .map(|l| (l.field.to_string(), l.values.clone()))
        .collect();
    assert_eq!(
        asked,
        [
            ("login".into(), vec!["bob".into()]),
            ("email".into(), vec!["bob@example.com".into()])
        ]
    );
}

#[test]
fn the_plan_renders_for_people_and_as_json() {
    let coupa = [user_test()];
    let plan = plan(
        &by_login(),
        "P1,,USER_TEST,user_test_new_email@coupa.com,user,Test,active,Buyer,\nP2,,jdoe,jdoe@example.com,Jane,Doe,active,,",
        &coupa,
    );
    let shown = plan.to_string();
    assert!(shown.contains("update Coupa user 281 for person P1 (row 2) [new in HR]\n    lastname: \"test new lastname\" → \"Test\"\n    roles: [] → [Buyer]\n"), "{shown}");
    assert!(
        shown.contains("create person P2 (row 3) [new in HR]\n    login: (none) → \"jdoe\""),
        "{shown}"
    );
    assert!(shown.contains("1 to create, 1 to update, 0 to reactivate, 0 to deactivate, 0 up to date, 0 in error; 2 API calls"), "{shown}");

    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["summary"]["calls"], 2);
    let first = &json["people"][0];
    assert_eq!(first["action"]["action"], "update");
    assert_eq!(first["action"]["id"], 281);
    assert_eq!(first["action"]["changes"][0]["field"], "lastname");
    assert_eq!(first["action"]["changes"][0]["old"], "test new lastname");
    assert_eq!(first["change"]["kind"], "new");
}

#[test]
fn a_successful_person_is_recorded_and_not_handed_on_again() {
    let s = setup(
        BASE,
        "P1,E1,jdoe,jdoe@example.com,Jane,Doe,active,,\nP2,E2,bob,bob@,Bob,Brown,active,,",
    );
    let mut state = AppliedState::new();
    let d = s.detect(&state, Mode::Delta);
    let mapping = Mapping::new(&s.config);
    let population = d.population();
    let plan = build(
        d.changes,
        population,
        &[],
        &PlanOptions::new(&s.config, &mapping),
    );
    for person in &plan.people {
        person.record_in(&mut state);
    }
    assert_eq!(state.len(), 1);
    let again = s.detect(&state, Mode::Delta);
    assert!(again.changes.is_empty());
    assert_eq!(
        again.errors.len(),
        1,
        "the bad row is reported again until HR fixes it"
    );
}

#[test]
fn a_person_deactivated_for_being_absent_is_seen_returning() {
    let config = BASE.replace("[hr]", "[hr]\nmissing = \"deactivate\"");
    let both = "P1,E1,jdoe,jdoe@example.com,Jane,Doe,active,,\nP2,E2,bob,bob@example.com,Bob,Brown,active,,";
    let s = setup(&config, both);
    let mut state = applied(&s.desired());
    let bob = coupa_user(8, "E2", "bob", "bob@example.com", "Bob", "Brown");

    s.rewrite_hr(&format!(
        "{HEADER}\nP1,E1,jdoe,jdoe@example.com,Jane,Doe,active,,\n"
    ));
    let plan = plan_with(&s, &state, std::slice::from_ref(&bob));
    assert_eq!(action(&plan), &Action::Deactivate { id: 8 });
    plan.people[0].record_in(&mut state);
    assert!(!state.get("P2").unwrap().active);

    // Still absent next time: nothing more to do.
    assert!(s.detect(&state, Mode::Delta).changes.is_empty());

    s.rewrite_hr(&format!("{HEADER}\n{both}\n"));
    let mut inactive = bob;
    inactive.active = Some(false);
    let plan = plan_with(&s, &state, &[inactive]);
    assert_eq!(plan.people[0].change, engine::detect::ChangeKind::Returned);
    assert!(
        matches!(action(&plan), Action::Reactivate { id: 8, .. }),
        "{plan}"
    );
}

#[test]
fn a_person_in_error_is_not_recorded() {
    let coupa = [
        coupa_user(7, "E1", "jdoe", "jdoe@example.com", "Jane", "Doe"),
        coupa_user(8, "E1", "jdoe2", "jdoe2@example.com", "Jane", "Doe"),
    ];
    let plan = plan(
        BASE,
        "P1,E1,jdoe,jdoe@example.com,Jane,Doe,active,,",
        &coupa,
    );
    assert!(plan.people[0].applied_after(None).is_none());
}

#[test]
fn phone_numbers_compare_part_by_part_and_approval_limits_as_decimal_amounts() {
    let mut coupa = coupa_user(7, "E1", "jdoe", "jdoe@example.com", "Jane", "Doe");
    coupa.phone_work = Some(Box::new(coupa_wire::PhoneNumber {
        country_code: Some("1".into()),
        area_code: Some("415".into()),
        number: Some("5550100".into()),
        ..Default::default()
    }));
    coupa.requisition_approval_limit = Some(Box::new(coupa_wire::ApprovalLimit {
        amount: Some("1000.0000".into()),
        currency: Some(coupa_wire::Currency {
            code: Some("USD".into()),
            ..Default::default()
        }),
        ..Default::default()
    }));
    let row = |value: &str| format!("P1,E1,jdoe,jdoe@example.com,Jane,Doe,active,,{value}");
    let nothing = |config: &str, value: &str| {
        let p = plan(config, &row(value), &[coupa.clone()]);
        matches!(action(&p), Action::Nothing { .. })
    };

    let phones = BASE.replace("[fields]\n", "[fields]\nphone-work = \"cc\"\n");
    assert!(
        nothing(&phones, "+1 (415) 555-0100"),
        "the same digits in each part"
    );
    assert!(
        nothing(&phones, ""),
        "an empty HR value keeps Coupa's by default"
    );
    let p = plan(&phones, &row("+1 415-555-0199 x7"), &[coupa.clone()]);
    assert_eq!(
        action(&p),
        &Action::Update {
            id: 7,
            changes: vec![FieldChange {
                field: Field::Standard(Standard::PhoneWork),
                old: Some(text("+1 415-5550100")),
                new: text("+1 415-555-0199 x7")
            }]
        }
    );
    let sent = p.calls()[0].body.phone_work.clone().unwrap();
    assert_eq!(
        [
            sent.country_code,
            sent.area_code,
            sent.number,
            sent.extension
        ],
        [Some("1"), Some("415"), Some("555-0199"), Some("7")].map(|s| s.map(String::from))
    );
    assert!(
        !nothing(&phones, "+1 415-555-0100 x7"),
        "an extension is a part"
    );

    let limits = BASE.replace(
        "[fields]\n",
        "[fields]\nrequisition-approval-limit = \"cc\"\n",
    );
    assert!(nothing(&limits, "1000 USD"));
    assert!(nothing(&limits, "1000.00 usd"));
    assert!(!nothing(&limits, "1000.00 EUR"));
    assert!(
        !nothing(&limits, "Director"),
        "a name is compared with the limit's name"
    );
    let p = plan(&limits, &row("1500 USD"), &[coupa.clone()]);
    let Action::Update { changes, .. } = action(&p) else {
        panic!("expected an update: {p}")
    };
    assert_eq!(
        (changes[0].old.clone(), changes[0].new.clone()),
        (Some(text("1000.0000 USD")), text("1500.00 USD"))
    );
    let sent = p.calls()[0]
        .body
        .requisition_approval_limit
        .clone()
        .unwrap();
    assert_eq!(sent.amount.as_deref(), Some("1500.00"));
    assert_eq!(sent.currency.and_then(|c| c.code).as_deref(), Some("USD"));
}

#[test]
fn with_invite_new_users_a_create_asks_coupa_for_the_password_invitation_and_an_update_does_not() {
    let rows = "P1,E1001,jdoe,jdoe@example.com,Jane,Doe,active,,\nP2,E1002,asmith,asmith@example.com,Ann,Smith-Jones,active,,";
    let coupa = [coupa_user(
        2,
        "E1002",
        "asmith",
        "asmith@example.com",
        "Ann",
        "Smith",
    )];
    let invited = plan(
        &format!("{BASE}\n[sync]\ninvite_new_users = true\n"),
        rows,
        &coupa,
    );
    let calls = invited.calls();
    let post = calls.iter().find(|c| c.method == Method::Post).unwrap();
    assert_eq!(post.body.generate_password_and_notify, Some(true));
    assert!(xml(&post.body).contains("<generate-password-and-notify type=\"boolean\">true"));
    let put = calls.iter().find(|c| c.method == Method::Put).unwrap();
    assert_eq!(put.body.generate_password_and_notify, None);

    let by_default = plan(BASE, rows, &coupa);
    assert!(
        by_default
            .calls()
            .iter()
            .all(|c| c.body.generate_password_and_notify.is_none())
    );
}
