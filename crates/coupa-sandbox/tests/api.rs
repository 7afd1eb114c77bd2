//! The sandbox's users API and reference data, driven with raw HTTP requests and compared with
//! Coupa's recorded payloads (tests/fixtures).
// Helpers outside `#[test]` functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use common::{ACCEPT_JSON, Answer, Api, JSON_IN, XML_IN, config, fixture, person};
use coupa_wire::{Format, User};
use serde_json::{Value, json};
use std::collections::BTreeSet;

fn id_of(user: &Value) -> i64 {
    user["id"].as_i64().unwrap()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// A sandbox with a department, a content group and a custom field defined, and a few users.
async fn populated() -> Api {
    let api = Api::new().await;
    api.sandbox
        .seed_reference(
            r#"{"departments": [{"name": "Finance"}, {"name": "Legal"}],
                "content-groups": [{"name": "EMEA"}, {"name": "APAC"}],
                "custom-fields": [{"name": "cost-center", "prompt": "Cost Center"}]}"#,
        )
        .await
        .unwrap();
    api.create(
        &json!({"login": "boss", "email": "boss@corp.com", "firstname": "Ada", "lastname": "King",
        "employee-number": "E001", "department": {"name": "Finance"}, "roles": [{"name": "Admin"}],
        "custom-fields": {"cost-center": "CC-1"}}),
    )
    .await;
    api.create(&json!({"login": "jdoe", "email": "jdoe@corp.com", "firstname": "Jane", "lastname": "Doe",
        "employee-number": "E002", "manager": {"login": "boss"}, "department": {"name": "Legal"},
        "default-currency": {"code": "EUR"}, "roles": [{"name": "Buyer"}], "content-groups": [{"name": "EMEA"}],
        "custom-fields": {"cost-center": "CC-2"}, "purchasing-user": true}))
        .await;
    api.create(&json!({"login": "asmith", "email": "alice.smith@other.org", "firstname": "Alice", "lastname": "Smith",
        "employee-number": "E003", "manager": {"employee-number": "E001"}, "active": false}))
        .await;
    api.create(
        &json!({"login": "bjones", "email": "bob@corp.com", "firstname": "Bob", "lastname": "Jones",
        "manager": {"email": "jdoe@corp.com"}, "middlename": "Q"}),
    )
    .await;
    api
}

// ---------------------------------------------------------------------------------------------
// The playbook and the recorded payloads

#[tokio::test]
async fn playbook_get_by_login_then_put_matches_the_recorded_payloads() {
    let api = Api::new().await;
    let created = api
        .create(
            &json!({"login": "USER_TEST", "email": "user_test@coupa.com", "firstname": "USER",
            "lastname": "TEST", "purchasing-user": true, "expense-user": true,
            "business-group-security-type": 1, "default-locale": "en"}),
        )
        .await;

    // 1.2 Modify a User: GET by login (XML) to find the id.
    let found = api.get_xml("/api/users?login=USER_TEST").await;
    assert_eq!(found.status, StatusCode::OK);
    assert!(found.content_type.starts_with("application/xml"));
    let ours =
        coupa_wire::decode_list::<User>(Format::Xml, found.body.as_bytes(), "users").unwrap();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].id, Some(id_of(&created)));

    // Every element of Coupa's recorded answer is in ours, with the same XML type attribute (the
    // recorded `test-cust-field` is a custom field that instance defines and this one does not).
    let (_, recorded) =
        coupa_wire::xml::read(fixture("users-by-login.response.xml").as_bytes()).unwrap();
    let (_, answered) = coupa_wire::xml::read(found.body.as_bytes()).unwrap();
    let recorded_keys: BTreeSet<&String> = recorded[0].as_object().unwrap().keys().collect();
    let answered_keys: BTreeSet<&String> = answered[0].as_object().unwrap().keys().collect();
    let missing: Vec<_> = recorded_keys
        .difference(&answered_keys)
        .filter(|k| k.as_str() != "test-cust-field")
        .collect();
    assert!(missing.is_empty(), "missing elements: {missing:?}");
    for line in fixture("users-by-login.response.xml").lines() {
        if let Some(rest) = line.trim().strip_prefix('<')
            && let Some((name, attrs)) = rest.split_once(' ')
            && let Some(typ) = attrs
                .split('"')
                .nth(1)
                .filter(|_| attrs.starts_with("type="))
            && name != "users"
        {
            let want = format!("<{name} type=\"{typ}\"");
            assert!(found.body.contains(&want), "{want} not in {}", found.body);
        }
    }
    let (root, users) = coupa_wire::xml::read(found.body.as_bytes()).unwrap();
    assert_eq!(root, "users");
    assert!(users.is_array());
    assert!(found.body.contains("<users type=\"array\">"));

    // Then PUT the recorded update; it also sends the read-only fullname, which is ignored.
    let put = api
        .put_xml(
            &format!("/api/users/{}", id_of(&created)),
            &fixture("user-update.request.xml"),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let updated: User = coupa_wire::decode(Format::Xml, put.body.as_bytes(), "user").unwrap();
    assert_eq!(updated.lastname.as_deref(), Some("TEST NEW LASTNAME"));
    assert_eq!(
        updated.email.as_deref(),
        Some("user_test_new_email@coupa.com")
    );
    assert_eq!(updated.fullname.as_deref(), Some("USER TEST NEW LASTNAME"));
    assert_eq!(updated.login.as_deref(), Some("USER_TEST"));
    assert_eq!(
        updated.purchasing_user,
        Some(true),
        "elements not sent keep their value"
    );
}

#[tokio::test]
async fn create_from_the_xml_and_the_json_fixture_gives_the_same_user() {
    let (xml_api, json_api) = (Api::new().await, Api::new().await);
    let from_xml = xml_api
        .send(
            Method::POST,
            "/api/users",
            &XML_IN,
            fixture("user-create.request.xml"),
        )
        .await;
    let from_json = json_api
        .send(
            Method::POST,
            "/api/users",
            &JSON_IN,
            fixture("user-create.request.json"),
        )
        .await;
    assert_eq!(from_xml.status, StatusCode::CREATED, "{}", from_xml.body);
    assert_eq!(from_json.status, StatusCode::CREATED, "{}", from_json.body);
    let mut a = xml_api.user(1).await;
    let mut b = json_api.user(1).await;
    for u in [&mut a, &mut b] {
        let m = u.as_object_mut().unwrap();
        m.remove("created-at");
        m.remove("updated-at");
    }
    assert_eq!(a, b);
    assert_eq!(a["login"], "jdoe");
    assert_eq!(a["fullname"], "Jane Doe");
    assert_eq!(a["mention-name"], "janedoe");
    assert_eq!(a["active"], true);
    assert_eq!(a["purchasing-user"], true);
    assert_eq!(a["sourcing-user"], false);
    assert_eq!(a["contracts-user"], false, "licence flags default to false");
    assert_eq!(a["authentication-method"], "coupa_credentials");
    assert_eq!(a["default-currency"]["code"], "EUR");
    assert_eq!(
        a["roles"],
        json!([{"id": 1, "name": "User", "description": "Default role for every user", "omnipotent": false, "system-role": true}])
    );
    assert_eq!(a["api-user"], false);
    // The XML answer is a <user> with the new id.
    let created: User = coupa_wire::decode(Format::Xml, from_xml.body.as_bytes(), "user").unwrap();
    assert_eq!(created.id, Some(1));
    assert!(created.created_at.is_some() && created.created_at == created.updated_at);
}

#[tokio::test]
async fn roles_merge_and_an_empty_list_clears_them() {
    let api = populated().await;
    let jdoe = api.get_json("/api/users?login=jdoe").await.json()[0].clone();
    let uri = format!("/api/users/{}", id_of(&jdoe));
    let role_names = |u: &Value| {
        sorted(
            u["roles"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["name"].as_str().unwrap().to_string())
                .collect(),
        )
    };
    assert_eq!(role_names(&jdoe), ["Buyer", "User"]);

    // Playbook 1.6 + 1.3: add a role and set a custom field.
    let put = api
        .put_xml(&uri, &fixture("user-roles-and-custom-field.request.xml"))
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let now = api.user(id_of(&jdoe)).await;
    assert_eq!(
        role_names(&now),
        ["Buyer", "User"],
        "Buyer was there already: no duplicate"
    );
    assert_eq!(now["custom-fields"]["cost-center"], "CC-4711");

    let put = api.put_xml(&uri, "<user><roles><role><name>Accounts Payable</name></role><role><name>Admin</name></role></roles></user>").await;
    assert_eq!(put.status, StatusCode::OK);
    assert_eq!(
        role_names(&api.user(id_of(&jdoe)).await),
        ["Accounts Payable", "Admin", "Buyer", "User"]
    );

    // Playbook 1.7: clear with an empty list, then put back the ones to keep.
    assert_eq!(
        api.put_xml(&uri, "<user><roles/></user>").await.status,
        StatusCode::OK
    );
    assert_eq!(
        role_names(&api.user(id_of(&jdoe)).await),
        Vec::<String>::new()
    );
    api.put_xml(
        &uri,
        "<user><roles><role><name>User</name></role></roles></user>",
    )
    .await;
    assert_eq!(role_names(&api.user(id_of(&jdoe)).await), ["User"]);
    assert_eq!(
        api.put_json(&uri, &json!({"roles": []})).await.status,
        StatusCode::OK
    );
    assert_eq!(
        role_names(&api.user(id_of(&jdoe)).await),
        Vec::<String>::new()
    );

    // Content groups follow the same rule.
    api.put_json(&uri, &json!({"content-groups": [{"name": "APAC"}]}))
        .await;
    let groups: Vec<String> = api.user(id_of(&jdoe)).await["content-groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sorted(groups), ["APAC", "EMEA"]);
    api.put_json(&uri, &json!({"content-groups": []})).await;
    assert_eq!(api.user(id_of(&jdoe)).await["content-groups"], json!([]));
}

#[tokio::test]
async fn unknown_references_leave_the_value_unchanged_and_answer_200() {
    let api = populated().await;
    let jdoe = api.get_json("/api/users?login=jdoe").await.json()[0].clone();
    let uri = format!("/api/users/{}", id_of(&jdoe));
    let put = api
        .put_json(&uri, &json!({"department": {"name": "Nowhere"}, "default-currency": {"code": "XXX"},
            "roles": [{"name": "Wizard"}], "content-groups": [{"name": "Mars"}], "manager": {"login": "ghost"},
            "lastname": "Doe-Smith"}))
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let after = put.json();
    assert_eq!(
        after["lastname"], "Doe-Smith",
        "the rest of the PUT applies"
    );
    for key in [
        "department",
        "default-currency",
        "roles",
        "content-groups",
        "manager",
    ] {
        assert_eq!(after[key], jdoe[key], "{key} changed");
    }
    // A known reference does change: by name, by code, by login/email/employee number.
    let after = api
        .put_json(
            &uri,
            &json!({"department": {"name": "finance"}, "default-currency": {"code": "GBP"},
            "manager": {"employee-number": "E003"}}),
        )
        .await
        .json();
    assert_eq!(
        after["department"]["name"], "Finance",
        "names compare case-insensitively"
    );
    assert_eq!(after["default-currency"]["code"], "GBP");
    assert_eq!(after["manager"]["login"], "asmith");
    assert_eq!(after["manager"]["fullname"], "Alice Smith");
    // Keys that name two different users find none: no change.
    let after = api
        .put_json(
            &uri,
            &json!({"manager": {"login": "boss", "email": "bob@corp.com"}}),
        )
        .await
        .json();
    assert_eq!(after["manager"]["login"], "asmith");

    // On create the same: the user is created without the unknown reference.
    let created = api
        .create(
            &json!({"login": "nodept", "email": "n@corp.com", "firstname": "No", "lastname": "Dept",
            "department": {"name": "Nowhere"}, "roles": [{"name": "Wizard"}]}),
        )
        .await;
    assert_eq!(created["department"], Value::Null);
    assert_eq!(
        created["roles"].as_array().unwrap().len(),
        1,
        "only the default role User"
    );
    assert_eq!(
        created["default-currency"]["code"], "USD",
        "the reporting currency by default"
    );
}

#[tokio::test]
async fn custom_fields_are_set_by_name_and_undefined_ones_ignored() {
    let api = populated().await;
    let jdoe = api.get_json("/api/users?login=jdoe").await.json()[0].clone();
    let uri = format!("/api/users/{}", id_of(&jdoe));
    let put = api
        .put_xml(&uri, "<user><custom-fields><cost_center>CC-9</cost_center><shoe-size>44</shoe-size></custom-fields></user>")
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let after = api.user(id_of(&jdoe)).await;
    assert_eq!(after["custom-fields"], json!({"cost-center": "CC-9"}));
    assert!(!put.body.contains("shoe"));
    // An empty value clears it.
    api.put_json(&uri, &json!({"custom-fields": {"cost-center": ""}}))
        .await;
    assert_eq!(
        api.user(id_of(&jdoe)).await["custom-fields"],
        json!({"cost-center": null})
    );
    // A value that is not a single value is refused, naming the field.
    let bad = api
        .put_json(&uri, &json!({"custom-fields": {"cost-center": ["a"]}}))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.errors(), ["Cost center must be a single value"]);
}

#[tokio::test]
async fn read_only_and_unknown_elements_are_ignored() {
    let api = populated().await;
    let jdoe = api.get_json("/api/users?login=jdoe").await.json()[0].clone();
    let uri = format!("/api/users/{}", id_of(&jdoe));
    let put = api
        .put_xml(&uri, r#"<user><id type="integer">999</id><created-at>2001-01-01T00:00:00Z</created-at>
            <fullname>Someone Else</fullname><api-user type="boolean">true</api-user><favourite-colour>red</favourite-colour>
            <avatar-thumb-url>http://x</avatar-thumb-url></user>"#)
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(
        api.user(id_of(&jdoe)).await,
        jdoe,
        "nothing changed, not even updated-at"
    );
    assert!(api.get_json("/api/users/999").await.status == StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn deactivate_with_the_recorded_payload() {
    let api = populated().await;
    let uri = "/api/users/2";
    let put = api
        .put_xml(uri, &fixture("user-deactivate.request.xml"))
        .await;
    assert_eq!(put.status, StatusCode::OK);
    assert_eq!(api.user(2).await["active"], false);
    assert_eq!(
        sorted(api.get_json("/api/users?status=inactive").await.logins()),
        ["asmith", "jdoe"]
    );
    // PATCH is the same partial update.
    let patch = api
        .send(
            Method::PATCH,
            uri,
            &XML_IN,
            "<user><active>true</active></user>",
        )
        .await;
    assert_eq!(patch.status, StatusCode::OK, "{}", patch.body);
    assert_eq!(api.user(2).await["active"], true);
}

#[tokio::test]
async fn updated_at_moves_on_every_change_only() {
    let api = populated().await;
    let before = api.user(2).await;
    let first = api
        .put_json("/api/users/2", &json!({"middlename": "A"}))
        .await
        .json();
    let second = api
        .put_json("/api/users/2", &json!({"middlename": "B"}))
        .await
        .json();
    let same = api
        .put_json("/api/users/2", &json!({"middlename": "B"}))
        .await
        .json();
    let t = |u: &Value| {
        chrono::DateTime::parse_from_rfc3339(u["updated-at"].as_str().unwrap()).unwrap()
    };
    assert!(t(&first) > t(&before));
    assert!(t(&second) > t(&first));
    assert_eq!(t(&same), t(&second));
    assert_eq!(first["created-at"], before["created-at"]);
}

// ---------------------------------------------------------------------------------------------
// Queries

async fn logins(api: &Api, query: &str) -> Vec<String> {
    let a = api.get_json(&format!("/api/users?{query}")).await;
    assert_eq!(a.status, StatusCode::OK, "{query}: {}", a.body);
    a.logins()
}

#[tokio::test]
async fn every_operator() {
    let api = populated().await;
    let cases: &[(&str, &[&str])] = &[
        ("login=jdoe", &["jdoe"]),
        ("login=JDOE", &["jdoe"]),
        ("email[contains]=corp", &["boss", "jdoe", "bjones"]),
        ("email[starts_with]=ALICE", &["asmith"]),
        ("email[ends_with]=.org", &["asmith"]),
        ("id[gt]=2", &["asmith", "bjones"]),
        ("id[lt]=2", &["boss"]),
        ("id[gt_or_eq]=2", &["jdoe", "asmith", "bjones"]),
        ("id[lt_or_eq]=2", &["boss", "jdoe"]),
        ("login[not_eq]=jdoe", &["boss", "asmith", "bjones"]),
        ("login[in]=jdoe,bjones,nobody", &["jdoe", "bjones"]),
        ("employee_number[in]=E003,E001", &["boss", "asmith"]),
        ("login[not_in]=jdoe,bjones", &["boss", "asmith"]),
        ("employee_number[blank]=true", &["bjones"]),
        ("middlename[blank]=false", &["bjones"]),
        ("active=true", &["boss", "jdoe", "bjones"]),
        ("active=false", &["asmith"]),
        ("purchasing_user=true&active=true", &["jdoe"]),
        ("lastname[gt]=k", &["boss", "asmith"]),
        (
            "created_at[gt]=2000-01-01",
            &["boss", "jdoe", "asmith", "bjones"],
        ),
        ("created_at[lt]=2000-01-01T00:00:00Z", &[]),
        (
            "updated_at[gt_or_eq]=%272000-01-01%2000:00:00%27",
            &["boss", "jdoe", "asmith", "bjones"],
        ),
        ("fullname=jane+doe", &["jdoe"]),
        // A missing value matches no comparison, as in SQL.
        ("employee_number[not_eq]=E001", &["jdoe", "asmith"]),
        (
            "status=active&email[ends_with]=corp.com",
            &["boss", "jdoe", "bjones"],
        ),
    ];
    for (query, want) in cases {
        assert_eq!(logins(&api, query).await, *want, "{query}");
    }
}

#[tokio::test]
async fn dashed_and_underscored_names_are_the_same() {
    let api = populated().await;
    for (dashed, underscored) in [
        ("employee-number=E002", "employee_number=E002"),
        ("mention-name=janedoe", "mention_name=janedoe"),
        ("purchasing-user=true", "purchasing_user=true"),
        ("default-currency[code]=EUR", "default_currency[code]=EUR"),
        (
            "custom-fields[cost-center]=CC-2",
            "custom_fields[cost_center]=CC-2",
        ),
    ] {
        assert_eq!(logins(&api, dashed).await, ["jdoe"], "{dashed}");
        assert_eq!(logins(&api, underscored).await, ["jdoe"], "{underscored}");
    }
}

#[tokio::test]
async fn association_brackets() {
    let api = populated().await;
    let cases: &[(&str, &[&str])] = &[
        ("manager[login]=boss", &["jdoe", "asmith"]),
        ("manager[login][starts_with]=jd", &["bjones"]),
        ("manager[employee_number]=E001", &["jdoe", "asmith"]),
        ("manager_id=1", &["jdoe", "asmith"]),
        ("roles[name]=Buyer", &["jdoe"]),
        ("roles[name]=User", &["boss", "jdoe", "asmith", "bjones"]),
        ("roles[name][in]=Admin,Buyer", &["boss", "jdoe"]),
        ("roles[name][not_eq]=Admin", &["jdoe", "asmith", "bjones"]),
        ("department[name]=Legal", &["jdoe"]),
        ("department[name][blank]=true", &["asmith", "bjones"]),
        ("default_currency[code]=USD", &["boss", "asmith", "bjones"]),
        ("content_groups[name]=EMEA", &["jdoe"]),
        (
            "content_groups[name][blank]=true",
            &["boss", "asmith", "bjones"],
        ),
        (
            "custom_fields[cost-center][starts_with]=CC",
            &["boss", "jdoe"],
        ),
        ("custom_fields[cost-center]=CC-1", &["boss"]),
    ];
    for (query, want) in cases {
        assert_eq!(logins(&api, query).await, *want, "{query}");
    }
}

#[tokio::test]
async fn paging_edges() {
    let api = Api::new().await;
    let users: Vec<User> = (1..=60)
        .map(|i| {
            serde_json::from_value(person(&format!("u{i:02}"), "Test", &format!("User{i}")))
                .unwrap()
        })
        .collect();
    let ids = api.sandbox.seed_users(users).await.unwrap();
    assert_eq!(ids, (1..=60).collect::<Vec<i64>>());
    let ids_of = |a: &Answer| {
        a.json()
            .as_array()
            .unwrap()
            .iter()
            .map(id_of)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids_of(&api.get_json("/api/users").await),
        (1..=50).collect::<Vec<_>>(),
        "first 50 from id 1"
    );
    assert_eq!(
        ids_of(&api.get_json("/api/users?limit=100").await).len(),
        50,
        "limit over 50 gives 50"
    );
    assert_eq!(
        ids_of(&api.get_json("/api/users?limit=2&offset=10").await),
        [11, 12]
    );
    assert_eq!(
        ids_of(&api.get_json("/api/users?offset=50").await),
        (51..=60).collect::<Vec<_>>()
    );
    let past = api.get_json("/api/users?offset=60").await;
    assert_eq!((past.status, past.json()), (StatusCode::OK, json!([])));
    let past = api.get_xml("/api/users?offset=500").await;
    assert_eq!(past.status, StatusCode::NOT_FOUND);
    let zero = api.get_json("/api/users?limit=0").await;
    assert_eq!(zero.status, StatusCode::BAD_REQUEST);
    assert_eq!(zero.errors(), ["limit must be at least 1"]);
}

#[tokio::test]
async fn order_by_and_dir() {
    let api = populated().await;
    assert_eq!(
        logins(&api, "dir=desc").await,
        ["bjones", "asmith", "jdoe", "boss"]
    );
    assert_eq!(
        logins(&api, "order_by=firstname").await,
        ["boss", "asmith", "bjones", "jdoe"]
    );
    assert_eq!(
        logins(&api, "order_by=lastname&dir=desc").await,
        ["asmith", "boss", "bjones", "jdoe"]
    );
    assert_eq!(
        logins(&api, "order_by=employee_number&dir=asc&limit=2").await,
        ["bjones", "boss"],
        "null first"
    );
    assert_eq!(
        logins(&api, "order_by=login&offset=1&limit=2&active=true").await,
        ["boss", "jdoe"]
    );
    let bad = api.get_json("/api/users?order_by=shoe_size").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.errors(), ["Unknown order_by attribute shoe_size"]);
}

#[tokio::test]
async fn return_object_and_fields_trim_the_answer() {
    let api = populated().await;
    let limited = api
        .get_json("/api/users?login=jdoe&return_object=limited")
        .await
        .json();
    assert_eq!(limited, json!([{"id": 2}]));
    let shallow = api
        .get_json("/api/users?login=jdoe&return_object=shallow")
        .await
        .json();
    let u = &shallow[0];
    assert_eq!(
        u["manager"],
        json!({"id": 1, "login": "boss", "email": "boss@corp.com"})
    );
    assert_eq!(u["department"], json!({"id": 2, "name": "Legal"}));
    assert_eq!(u["default-currency"], json!({"id": 2, "code": "EUR"}));
    let role_ids: Vec<Value> = u["roles"].as_array().unwrap().clone();
    assert_eq!(
        role_ids,
        [
            json!({"id": 1, "name": "User"}),
            json!({"id": 2, "name": "Buyer"})
        ]
    );
    assert_eq!(u["firstname"], "Jane", "own attributes stay");

    let fields = api
        .get_json("/api/users?login=jdoe&fields=%5B%22id%22%2C%22login%22%2C%7B%22roles%22%3A%5B%22name%22%5D%7D%2C%7B%22manager%22%3A%5B%22login%22%5D%7D%2C%7B%22custom_fields%22%3A%7B%7D%7D%5D")
        .await
        .json();
    assert_eq!(
        fields,
        json!([{"id": 2, "login": "jdoe", "roles": [{"name": "User"}, {"name": "Buyer"}],
            "manager": {"login": "boss"}, "custom-fields": {"cost-center": "CC-2"}}])
    );
    // The same in XML.
    let xml = api
        .get_xml("/api/users?login=jdoe&fields=%5B%22employee_number%22%5D")
        .await;
    assert_eq!(xml.status, StatusCode::OK, "{}", xml.body);
    assert_eq!(
        xml.body,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<users type=\"array\"><user><employee-number>E002</employee-number></user></users>\n"
    );
    let bad = api
        .get_json("/api/users?fields=%5B%22shoe-size%22%5D")
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.errors(), ["Unknown field \"shoe-size\" in fields"]);

    // On writes: none gives an empty body, limited the id.
    let none = api
        .put_json(
            "/api/users/2?return_object=none",
            &json!({"middlename": "X"}),
        )
        .await;
    assert_eq!((none.status, none.body.as_str()), (StatusCode::OK, ""));
    assert_eq!(api.user(2).await["middlename"], "X");
    let created = api
        .post_json(
            "/api/users?return_object=limited",
            &person("new1", "New", "One"),
        )
        .await;
    assert_eq!(
        (created.status, created.json()),
        (StatusCode::CREATED, json!({"id": 5}))
    );
}

#[tokio::test]
async fn no_results_is_an_xml_404_and_an_empty_json_list() {
    let api = populated().await;
    let xml = api.get_xml("/api/users?login=nobody").await;
    assert_eq!(xml.status, StatusCode::NOT_FOUND);
    let recorded = coupa_wire::ErrorsBody::decode(
        Format::Xml,
        fixture("errors-no-results.response.xml").as_bytes(),
    )
    .unwrap();
    assert_eq!(xml.errors(), recorded.messages);
    let json = api.get_json("/api/users?login=nobody").await;
    assert_eq!((json.status, json.body.as_str()), (StatusCode::OK, "[]"));
}

#[tokio::test]
async fn unknown_attributes_operators_and_values_are_400_naming_them() {
    let api = populated().await;
    let cases = [
        (
            "shoe_size=44",
            "Unknown search attribute shoe_size: users have no such attribute",
        ),
        ("login[fuzzy]=x", "Unknown operator [fuzzy] in login[fuzzy]"),
        (
            "manager[shoe_size]=1",
            "Unknown search attribute manager[shoe_size]: users have no such attribute",
        ),
        (
            "manager[login][fuzzy]=x",
            "Unknown operator [fuzzy] in manager[login][fuzzy]",
        ),
        (
            "custom_fields[undefined]=x",
            "Unknown search attribute custom_fields[undefined]: users have no such attribute",
        ),
        (
            "created_at[contains]=2020",
            "Operator contains does not apply to created_at[contains], which is a date-time",
        ),
        (
            "id[gt]=abc",
            "id[gt]: expected a whole number, found \"abc\"",
        ),
        (
            "active=maybe",
            "active: expected true or false, found \"maybe\"",
        ),
        (
            "created_at[gt]=yesterday",
            "created_at[gt]: expected an ISO-8601 date-time, found \"yesterday\"",
        ),
        (
            "login[blank]=perhaps",
            "login[blank]: expected true or false, found \"perhaps\"",
        ),
        (
            "filter=default_users_filter",
            "API filter \"default_users_filter\" does not exist",
        ),
    ];
    for (query, message) in cases {
        for answer in [
            api.get_json(&format!("/api/users?{query}")).await,
            api.get_xml(&format!("/api/users?{query}")).await,
        ] {
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
            assert_eq!(answer.errors(), [message], "{query}");
        }
    }
}

#[tokio::test]
async fn an_indexed_lookup_sees_renames() {
    let api = populated().await;
    api.put_json(
        "/api/users/2",
        &json!({"login": "jane.doe", "email": "JANE@corp.com"}),
    )
    .await;
    assert_eq!(logins(&api, "login=jdoe").await, Vec::<String>::new());
    assert_eq!(logins(&api, "login=jane.doe").await, ["jane.doe"]);
    assert_eq!(logins(&api, "email=jane@CORP.com").await, ["jane.doe"]);
    assert_eq!(
        logins(&api, "login[in]=jane.doe,boss&active=true").await,
        ["boss", "jane.doe"]
    );
    // The old login is free again.
    api.create(&person("jdoe", "Other", "Person")).await;
}

// ---------------------------------------------------------------------------------------------
// Validation

#[tokio::test]
async fn create_reports_every_missing_required_field() {
    let api = Api::new().await;
    let a = api
        .post_json("/api/users", &json!({"middlename": "x"}))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        a.errors(),
        [
            "Login can't be blank",
            "Email can't be blank",
            "Firstname can't be blank",
            "Lastname can't be blank"
        ]
    );
    assert_eq!(
        api.get_json("/api/users").await.body,
        "[]",
        "nothing was stored"
    );
}

#[tokio::test]
async fn duplicates_answer_like_the_recorded_error_bodies() {
    let api = Api::new().await;
    api.create(&person("jdoe", "Jane", "Doe")).await;
    let mut dup = person("JDoe", "Janet", "Doe");
    dup["email"] = json!("jdoe@example.com");
    let json = api.post_json("/api/users", &dup).await;
    assert_eq!(json.status, StatusCode::BAD_REQUEST);
    let recorded: Value = serde_json::from_str(&fixture("errors-taken.response.json")).unwrap();
    assert_eq!(json.json(), recorded);
    let xml = api
        .send(
            Method::POST,
            "/api/users",
            &[
                ("accept", "application/xml"),
                ("content-type", "application/json"),
            ],
            dup.to_string(),
        )
        .await;
    assert_eq!(xml.status, StatusCode::BAD_REQUEST);
    assert_eq!(xml.body.trim(), fixture("errors-taken.response.xml").trim());
}

#[tokio::test]
async fn every_validation_message() {
    let api = populated().await;
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            json!({"firstname": "x".repeat(41)}),
            vec!["Firstname is too long (maximum is 40 characters)"],
        ),
        (
            json!({"lastname": "é".repeat(41)}),
            vec!["Lastname is too long (maximum is 40 characters)"],
        ),
        (
            json!({"login": "l".repeat(256), "email": format!("{}@x.com", "e".repeat(250))}),
            vec![
                "Login is too long (maximum is 255 characters)",
                "Email is too long (maximum is 255 characters)",
            ],
        ),
        (
            json!({"login": "j"}),
            vec!["Login is too short (minimum is 2 characters)"],
        ),
        (json!({"email": "not-an-address"}), vec!["Email is invalid"]),
        (
            json!({"email": "BOSS@corp.com"}),
            vec!["Email has already been taken"],
        ),
        (
            json!({"employee-number": "E001"}),
            vec!["Employee number has already been taken"],
        ),
        (
            json!({"mention-name": "adaking"}),
            vec!["Mention name has already been taken"],
        ),
        (json!({"firstname": " "}), vec!["Firstname can't be blank"]),
        (json!({"firstname": ""}), vec!["Firstname can't be blank"]),
        (
            json!({"default-locale": "en-GB-oxendict"}),
            vec!["Default locale is too long (maximum is 10 characters)"],
        ),
        (
            json!({"authentication-method": "SAML"}),
            vec!["Authentication method is not included in the list"],
        ),
        (
            json!({"account-security-type": 7}),
            vec!["Account security type is not included in the list"],
        ),
        (
            json!({"active": "maybe"}),
            vec!["Invalid request body: field `active`: expected true or false, found \"maybe\""],
        ),
        (
            json!({"lastname": "Doe\u{0}"}),
            vec!["Lastname contains a control character (U+0000)"],
        ),
        (
            json!({"phone-work": {"number": "1\n2"}}),
            vec!["Phone work number contains a control character (U+000A)"],
        ),
    ];
    let before = api.user(2).await;
    for (body, messages) in cases {
        let a = api.put_json("/api/users/2", &body).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}: {}", a.body);
        assert_eq!(a.errors(), messages, "{body}");
    }
    assert_eq!(
        api.user(2).await,
        before,
        "no rejected write changed the user"
    );
}

// ---------------------------------------------------------------------------------------------
// Bad input

#[tokio::test]
async fn bad_requests_get_coupa_error_bodies_and_change_nothing() {
    let api = populated().await;
    let before = api.user(2).await;
    let cases: Vec<(Option<&str>, Body, StatusCode, &str)> = vec![
        (
            Some("text/plain"),
            Body::from("<user/>"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Content-Type \"text/plain\": send application/xml or application/json",
        ),
        (
            Some("application/xml"),
            Body::from("<user><login>x</user>"),
            StatusCode::BAD_REQUEST,
            "Invalid request body: malformed XML",
        ),
        (
            Some("application/json"),
            Body::from("{\"login\": "),
            StatusCode::BAD_REQUEST,
            "Invalid request body: malformed JSON",
        ),
        (
            Some("application/json"),
            Body::from("[1]"),
            StatusCode::BAD_REQUEST,
            "Invalid request body: expected a JSON object for a user",
        ),
        (
            Some("application/xml"),
            Body::from("<users/>"),
            StatusCode::BAD_REQUEST,
            "Invalid request body: expected root element <user>, found <users>",
        ),
        (
            None,
            Body::from("login=x"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "No Content-Type, and the body is neither XML nor JSON",
        ),
        (
            None,
            Body::from(""),
            StatusCode::BAD_REQUEST,
            "The request body is empty",
        ),
        (
            Some("application/xml"),
            Body::from(format!(
                "<user><middlename>{}</middlename></user>",
                "x".repeat(1 << 20)
            )),
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request body is larger than the limit of 1048576 bytes",
        ),
    ];
    for (content_type, body, status, message) in cases {
        let mut headers = vec![("accept", "application/json")];
        headers.extend(content_type.map(|t| ("content-type", t)));
        let a = api.send(Method::PUT, "/api/users/2", &headers, body).await;
        assert_eq!(a.status, status, "{message}: {}", a.body);
        let errors = a.errors();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with(message),
            "{} does not start with {message}",
            errors[0]
        );
    }
    assert_eq!(api.user(2).await, before);
}

#[tokio::test]
async fn a_body_without_content_type_is_sniffed() {
    let api = Api::new().await;
    let xml = api.send(Method::POST, "/api/users", &ACCEPT_JSON, "  <user><login>xx</login><email>x@y.com</email><firstname>X</firstname><lastname>Y</lastname></user>").await;
    assert_eq!(xml.status, StatusCode::CREATED, "{}", xml.body);
    let json = api
        .send(
            Method::POST,
            "/api/users",
            &ACCEPT_JSON,
            person("yy", "Y", "Y").to_string(),
        )
        .await;
    assert_eq!(json.status, StatusCode::CREATED, "{}", json.body);
    // A JSON body wrapped in its resource name is read too.
    let wrapped = api
        .post_json("/api/users", &json!({"user": person("zz", "Z", "Z")}))
        .await;
    assert_eq!(wrapped.status, StatusCode::CREATED, "{}", wrapped.body);
}

#[tokio::test]
async fn markup_is_stored_as_text_and_escaped() {
    let api = Api::new().await;
    let created = api
        .create(&person("mk", "<b>Jane</b>", "O'Neil & \"Co\""))
        .await;
    let xml = api
        .get_xml(&format!("/api/users/{}", id_of(&created)))
        .await;
    assert!(
        xml.body
            .contains("<firstname>&lt;b&gt;Jane&lt;/b&gt;</firstname>"),
        "{}",
        xml.body
    );
    let back: User = coupa_wire::decode(Format::Xml, xml.body.as_bytes(), "user").unwrap();
    assert_eq!(back.firstname.as_deref(), Some("<b>Jane</b>"));
    assert_eq!(back.lastname.as_deref(), Some("O'Neil & \"Co\""));
    assert_eq!(
        logins(&api, "firstname=%3Cb%3EJane%3C%2Fb%3E").await,
        ["mk"]
    );
}

#[tokio::test]
async fn ids_that_are_not_users_are_404() {
    let api = populated().await;
    for uri in [
        "/api/users/abc",
        "/api/users/999",
        "/api/users/-1",
        "/api/users/1.5",
    ] {
        let a = api.get_xml(uri).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{uri}");
        let id = uri.rsplit('/').next().unwrap();
        assert_eq!(a.errors(), [format!("Couldn't find User with 'id'={id}")]);
        let put = api.put_json(uri, &json!({"firstname": "X"})).await;
        assert_eq!(put.status, StatusCode::NOT_FOUND, "{uri}");
    }
    let delete = api
        .send(Method::DELETE, "/api/users/1", &ACCEPT_JSON, Body::empty())
        .await;
    assert_eq!(delete.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        delete.errors(),
        ["DELETE is not supported on users; deactivate a user with active=false"]
    );
}

// ---------------------------------------------------------------------------------------------
// Reference data

#[tokio::test]
async fn reference_endpoints_list_and_add_records() {
    let api = Api::new().await;
    let roles: Vec<String> = api
        .get_json("/api/roles")
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        roles,
        [
            "User",
            "Buyer",
            "Accounts Payable",
            "Central Receiving",
            "Accounting Supervisor",
            "Edit as Approver",
            "Inventory Manager",
            "Admin"
        ]
    );
    let eur = api.get_json("/api/currencies?code=eur").await.json();
    assert_eq!(
        eur,
        json!([{"id": 2, "code": "EUR", "name": "Euro", "decimals": 2, "symbol": "€", "enabled": true}])
    );
    assert!(
        api.get_json("/api/currencies?limit=100")
            .await
            .json()
            .as_array()
            .unwrap()
            .len()
            >= 12
    );

    let dept = api
        .post_xml(
            "/api/departments",
            "<department><name>R&amp;D</name></department>",
        )
        .await;
    assert_eq!(dept.status, StatusCode::CREATED, "{}", dept.body);
    assert!(dept.body.contains("<name>R&amp;D</name>"), "{}", dept.body);
    let dup = api
        .post_json("/api/departments", &json!({"name": "r&d"}))
        .await;
    assert_eq!(dup.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        dup.json(),
        json!({"errors": {"department": ["Name has already been taken"]}})
    );
    let blank = api
        .post_json("/api/business_groups", &json!({"description": "no name"}))
        .await;
    assert_eq!(blank.errors(), ["Name can't be blank"]);
    let long = api
        .post_json("/api/business_groups", &json!({"name": "g".repeat(101)}))
        .await;
    assert_eq!(
        long.errors(),
        ["Name is too long (maximum is 100 characters)"]
    );
    assert_eq!(
        api.post_json("/api/business_groups", &json!({"name": "EMEA"}))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        api.post_json(
            "/api/roles",
            &json!({"name": "Expense Approver", "system-role": true})
        )
        .await
        .json()["system-role"],
        false
    );
    assert_eq!(
        api.post_json("/api/custom_fields", &json!({"name": "cost-center"}))
            .await
            .json(),
        json!({"id": 1, "name": "cost-center", "prompt": "cost-center"})
    );
    assert_eq!(
        api.post_json("/api/currencies", &json!({"code": "XYZ"}))
            .await
            .status,
        StatusCode::METHOD_NOT_ALLOWED
    );

    // A user may now refer to them.
    let u = api.create(&json!({"login": "rd", "email": "rd@x.com", "firstname": "R", "lastname": "D",
        "department": {"name": "R&D"}, "content-groups": [{"name": "emea"}], "roles": [{"name": "Expense Approver"}],
        "custom-fields": {"cost-center": "7"}})).await;
    assert_eq!(u["department"]["name"], "R&D");
    assert_eq!(u["content-groups"][0]["name"], "EMEA");
    assert_eq!(u["roles"].as_array().unwrap().len(), 2);
    assert_eq!(u["custom-fields"], json!({"cost-center": "7"}));

    let none = api.get_xml("/api/departments?name=nothing").await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    let bad = api.get_json("/api/departments?name[contains]=R").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn reference_data_needs_the_common_scopes() {
    let api = Api::new().await;
    let users_only = api.token_for("core.user.read core.user.write").await;
    let a = api
        .send_as(
            &users_only,
            Method::GET,
            "/api/departments",
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let read_only = api.token_for("core.common.read").await;
    let a = api
        .send_as(
            &read_only,
            Method::POST,
            "/api/departments",
            &JSON_IN,
            r#"{"name":"X"}"#,
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = api
        .send_as(
            &read_only,
            Method::GET,
            "/api/departments",
            &JSON_IN,
            Body::empty(),
        )
        .await;
    assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, "[]"));
}

#[tokio::test]
async fn the_reference_file_seeds_setup_records_and_users() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reference.json");
    std::fs::write(&path, r#"{
        "reporting-currency": "EUR",
        "departments": [{"name": "Finance"}, {"name": "Old", "active": false}],
        "content-groups": [{"name": "EMEA", "description": "Europe"}],
        "custom-fields": [{"name": "cost_center", "prompt": "Cost Center"}],
        "roles": [{"name": "Expense Approver"}],
        "currencies": [{"code": "THB", "name": "Thai Baht", "decimals": 2, "symbol": "฿"}],
        "users": [
            {"login": "boss", "email": "boss@x.com", "firstname": "Ada", "lastname": "King", "department": {"name": "Finance"}},
            {"login": "jdoe", "email": "jdoe@x.com", "firstname": "Jane", "lastname": "Doe", "manager": {"login": "boss"},
             "roles": [{"name": "Expense Approver"}], "default-currency": {"code": "THB"}, "custom-fields": {"cost-center": "CC-1"}}
        ]}"#).unwrap();
    let mut cfg = config();
    cfg.reference = Some(path.clone());
    let api = Api::with(cfg).await;
    let jdoe = api.user(2).await;
    assert_eq!(jdoe["manager"]["login"], "boss");
    assert_eq!(jdoe["default-currency"]["code"], "THB");
    assert_eq!(jdoe["custom-fields"], json!({"cost_center": "CC-1"}));
    assert_eq!(api.user(1).await["default-currency"]["code"], "EUR");
    assert_eq!(
        api.get_json("/api/departments?name=old").await.json()[0]["active"],
        false
    );

    for (text, message) in [
        (
            r#"{"departments": [{"name": "A"}, {"name": ""}]}"#,
            "departments[1]: Name can't be blank",
        ),
        (
            r#"{"users": [{"login": "x"}]}"#,
            "users[0] (login x): Login is too short (minimum is 2 characters); Email can't be blank; Firstname can't be blank; Lastname can't be blank",
        ),
        (
            r#"{"users": [{"login": "xx", "active": "perhaps"}]}"#,
            "users[0]: field `active`: expected true or false, found \"perhaps\"",
        ),
        (r#"{"department": []}"#, "unknown field `department`"),
        (
            r#"{"reporting-currency": "XXX"}"#,
            "reporting-currency: no currency has the code \"XXX\"",
        ),
        ("{", "EOF while parsing"),
    ] {
        std::fs::write(&path, text).unwrap();
        let mut cfg = config();
        cfg.reference = Some(path.clone());
        let err = coupa_sandbox::Sandbox::new(cfg)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("reference file {}: ", path.display())),
            "{err}"
        );
        assert!(err.contains(message), "{err} does not contain {message}");
    }
    let missing = dir.path().join("absent.json");
    let mut cfg = config();
    cfg.reference = Some(missing.clone());
    let err = coupa_sandbox::Sandbox::new(cfg)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "reference file {}: cannot read it",
            missing.display()
        )),
        "{err}"
    );
}

#[tokio::test]
async fn seed_users_goes_through_validation() {
    let api = Api::new().await;
    let users: Vec<User> = vec![
        serde_json::from_value(person("aa", "A", "A")).unwrap(),
        serde_json::from_value(person("aa", "B", "B")).unwrap(),
    ];
    let err = api.sandbox.seed_users(users).await.unwrap_err();
    assert_eq!(err.entry, "users[1] (login aa)");
    assert_eq!(
        err.messages,
        [
            "Login has already been taken",
            "Email has already been taken"
        ]
    );
    assert_eq!(api.get_json("/api/users").await.logins(), ["aa"]);
}

// ---------------------------------------------------------------------------------------------
// Persistence and a real listener

#[tokio::test]
async fn a_data_dir_keeps_users_and_setup_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.data_dir = Some(dir.path().join("state"));
    let before = {
        let api = Api::with(cfg.clone()).await;
        api.post_json("/api/departments", &json!({"name": "Finance"}))
            .await;
        api.post_json("/api/custom_fields", &json!({"name": "cost-center"}))
            .await;
        api.create(&person("boss", "Ada", "King")).await;
        let jdoe = api
            .create(&json!({"login": "jdoe", "email": "j@x.com", "firstname": "Jane", "lastname": "Doe",
                "department": {"name": "Finance"}, "manager": {"login": "boss"}, "roles": [{"name": "Buyer"}],
                "custom-fields": {"cost-center": "CC-1"}}))
            .await;
        api.put_json(
            &format!("/api/users/{}", id_of(&jdoe)),
            &json!({"lastname": "Doe-Smith"}),
        )
        .await;
        let rejected = api.put_json("/api/users/2", &json!({"email": "bad"})).await;
        assert_eq!(rejected.status, StatusCode::BAD_REQUEST);
        let before = api.user(2).await;
        let running = api.sandbox.clone().spawn("127.0.0.1:0").await.unwrap();
        running.stop().await.unwrap();
        before
    };
    assert!(dir.path().join("state/sandbox.db").exists());
    let api = Api::with(cfg).await;
    assert_eq!(api.user(2).await, before);
    assert_eq!(before["lastname"], "Doe-Smith");
    assert_eq!(
        logins(&api, "login=JDOE").await,
        ["jdoe"],
        "indexes are rebuilt"
    );
    assert_eq!(
        api.get_json("/api/departments")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        api.get_json("/api/roles")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        8,
        "standard roles not added twice"
    );
    // New ids continue after the stored ones.
    assert_eq!(id_of(&api.create(&person("third", "T", "Hird")).await), 3);
    assert_eq!(
        api.create(&person("boss2", "Ada", "King")).await["mention-name"],
        "adaking1"
    );
}

#[tokio::test]
async fn a_real_listener_answers_raw_http() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let api = populated().await;
    let running = api.sandbox.clone().spawn("127.0.0.1:0").await.unwrap();
    let mut tcp = tokio::net::TcpStream::connect(running.addr).await.unwrap();
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        common::CLIENT,
        common::SECRET
    );
    let request = format!(
        "POST /oauth2/token HTTP/1.1\r\nHost: sandbox\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    tcp.read_to_string(&mut raw).await.unwrap();
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    let body: Value = serde_json::from_str(raw.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    let token = body["access_token"].as_str().unwrap();

    let mut tcp = tokio::net::TcpStream::connect(running.addr).await.unwrap();
    let request = format!(
        "GET /api/users?login=jdoe HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Bearer {token}\r\nAccept: application/xml\r\nConnection: close\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    tcp.read_to_string(&mut raw).await.unwrap();
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(
        raw.to_ascii_lowercase()
            .contains("content-type: application/xml"),
        "{raw}"
    );
    let body = raw.split("\r\n\r\n").nth(1).unwrap();
    let users = coupa_wire::decode_list::<User>(Format::Xml, body.as_bytes(), "users").unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].login.as_deref(), Some("jdoe"));
    running.stop().await.unwrap();
}

/// A sandbox that knows a named approval limit.
async fn with_director_limit() -> Api {
    let api = Api::new().await;
    api.sandbox
        .seed_reference(
            r#"{"approval-limits": [{"name": "Director", "amount": "25000",
                "currency": {"code": "EUR"}}]}"#,
        )
        .await
        .unwrap();
    api
}

#[tokio::test]
async fn phone_numbers_and_approval_limits_round_trip_as_nested_records_in_json_and_xml() {
    let api = with_director_limit().await;
    let mut body = person("jdoe", "Jane", "Doe");
    body["phone-work"] =
        json!({"country-code": "+41", "area-code": "44", "number": "668-1800", "extension": "12"});
    body["requisition-approval-limit"] = json!({"amount": "1000", "currency": {"code": "usd"}});
    body["expense-approval-limit"] = json!({"name": "director"});
    let id = id_of(&api.create(&body).await);

    let user = api.user(id).await;
    assert_eq!(
        user["phone-work"],
        json!({"country-code": "41", "area-code": "44", "number": "668-1800", "extension": "12"})
    );
    assert_eq!(user["phone-mobile"], Value::Null);
    let limit = &user["requisition-approval-limit"];
    assert_eq!(
        (&limit["amount"], &limit["currency"]["code"]),
        (&json!("1000.00"), &json!("USD"))
    );
    let director = &user["expense-approval-limit"];
    assert_eq!(director["name"], "Director");
    assert_eq!(
        (&director["amount"], &director["currency"]["code"]),
        (&json!("25000.00"), &json!("EUR"))
    );

    // The same user in XML: nested elements, read back by the wire model.
    let xml = api.get_xml(&format!("/api/users/{id}")).await;
    assert!(
        xml.body
            .contains("<phone-work><country-code>41</country-code>"),
        "{}",
        xml.body
    );
    let decoded: User = coupa_wire::decode(Format::Xml, xml.body.as_bytes(), "user").unwrap();
    let phone = decoded.phone_work.unwrap();
    assert_eq!(
        (phone.area_code.as_deref(), phone.number.as_deref()),
        (Some("44"), Some("668-1800"))
    );
    let limit = decoded.expense_approval_limit.unwrap();
    assert_eq!(limit.name.as_deref(), Some("Director"));

    // An XML write: a mobile number, an invoice limit; a phone sent with every part blank is cleared.
    let put = api
        .put_xml(
            &format!("/api/users/{id}"),
            "<user><phone-mobile><area-code>415</area-code><number>555-0100</number></phone-mobile>\
             <phone-work><number></number></phone-work>\
             <invoice-approval-limit><amount>250.5</amount><currency><code>EUR</code></currency>\
             </invoice-approval-limit></user>",
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let user = api.user(id).await;
    assert_eq!(user["phone-work"], Value::Null);
    assert_eq!(
        user["phone-mobile"],
        json!({"area-code": "415", "number": "555-0100"})
    );
    assert_eq!(user["invoice-approval-limit"]["amount"], "250.50");
    assert_eq!(
        user["requisition-approval-limit"]["amount"], "1000.00",
        "limits not sent stay"
    );
}

#[tokio::test]
async fn malformed_phones_unknown_currencies_and_unknown_limits_are_refused_by_name() {
    let api = with_director_limit().await;
    let id = id_of(&api.create(&person("jdoe", "Jane", "Doe")).await);
    let before = api.user(id).await;
    let cases = [
        (
            json!({"phone-work": {"area-code": "4l5", "number": "555-0100"}}),
            vec!["Phone work area code is invalid"],
        ),
        (
            json!({"phone-mobile": {"area-code": "415"}}),
            vec!["Phone mobile number can't be blank"],
        ),
        (
            json!({"requisition-approval-limit": {"amount": "1000", "currency": {"code": "XYZ"}}}),
            vec![
                r#"Requisition approval limit currency unable to find valid Currency record with keys {"code"=>"XYZ"}"#,
            ],
        ),
        (
            json!({"contract-approval-limit": {"amount": "1,000.00", "currency": {"code": "USD"}}}),
            vec!["Contract approval limit amount is not a number"],
        ),
        (
            json!({"invoice-self-approval-limit": {"name": "Chief"}}),
            vec![
                r#"Invoice self approval limit unable to find valid ApprovalLimit record with keys {"name"=>"Chief"}"#,
            ],
        ),
    ];
    for (body, messages) in cases {
        let a = api.put_json(&format!("/api/users/{id}"), &body).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}: {}", a.body);
        assert_eq!(a.errors(), messages, "{body}");
    }
    assert_eq!(
        api.user(id).await,
        before,
        "no refused write changed the user"
    );
}

#[tokio::test]
async fn approval_limits_are_listed_and_added_with_an_existing_currency() {
    let api = with_director_limit().await;
    let list = api.get_json("/api/approval_limits").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(list.json()[0]["name"], "Director");
    let bad = api
        .post_json(
            "/api/approval_limits",
            &json!({"name": "Odd", "amount": "x", "currency": {"code": "XYZ"}}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert_eq!(
        bad.errors(),
        [
            "Amount is not a number",
            r#"Currency unable to find valid Currency record with keys {"code"=>"XYZ"}"#
        ]
    );
    let added = api
        .post_json(
            "/api/approval_limits",
            &json!({"name": "Manager", "amount": "5000", "currency": {"code": "USD"}}),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    let mut body = json!({"requisition-approval-limit": {"name": "Manager"}});
    let id = id_of(&api.create(&person("jdoe", "Jane", "Doe")).await);
    let put = api.put_json(&format!("/api/users/{id}"), &body).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    body = api.user(id).await;
    assert_eq!(body["requisition-approval-limit"]["amount"], "5000.00");
}
