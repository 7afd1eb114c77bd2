//! The Integrations APIs (reference §7) as a connector meets them: registering its integration,
//! logging a run with its errors and history records, the run's state actions, the alert e-mails,
//! the scopes, a restart with a data folder and the integration runs page.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

mod common;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use common::{ACCEPT_JSON, ACCEPT_XML, Answer, Api, CLIENT, JSON_IN, SECRET, config, person};
use coupa_sandbox::SandboxConfig;
use coupa_wire::{Format, IntegrationRun};
use serde_json::{Value, json};
use std::path::Path;
use tempfile::TempDir;

const ADMIN: &str = "coupa-admin@example.com";

fn integrations_config(data_dir: Option<&Path>) -> SandboxConfig {
    SandboxConfig {
        // Only makes `/mailbox/messages` answer: these tests never send over SMTP.
        smtp: Some("127.0.0.1:0".into()),
        admin_email: ADMIN.into(),
        data_dir: data_dir.map(Path::to_path_buf),
        ..config()
    }
}

async fn coupa() -> Api {
    Api::with(integrations_config(None)).await
}

fn hr_users() -> Value {
    json!({
        "name": "HR users",
        "code": "HR_USERS",
        "business-object": "User",
        "direction": "to_coupa",
        "end-system": "Workday",
        "end-system-type": "hr",
        "integration-type": "api",
    })
}

fn created(a: &Answer) -> Value {
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    a.json()
}

fn ok(a: &Answer) -> Value {
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    a.json()
}

fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap()
}

/// The integration `HR_USERS` and one run of it, pending.
async fn integration_and_run(api: &Api) -> (i64, i64) {
    let integration = created(&api.post_json("/api/integrations", &hr_users()).await);
    let run = created(
        &api.post_json(
            "/api/integration_runs",
            &json!({"integration": {"code": "HR_USERS"}}),
        )
        .await,
    );
    (id(&integration), id(&run))
}

/// A run's state action: `PUT` with no body.
async fn put(api: &Api, uri: &str) -> Answer {
    api.send(Method::PUT, uri, &ACCEPT_JSON, Body::empty())
        .await
}

async fn error_for(api: &Api, run: i64, external_id: &str, message: &str) -> Value {
    created(
        &api.post_json(
            "/api/integration_errors",
            &json!({
                "document-type": "User",
                "external-id": external_id,
                "status": "Error",
                "contact-alert-type": "Functional",
                "integration-run": {"id": run},
                "responses": [{"response-code": "400", "response-message": message}],
            }),
        )
        .await,
    )
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array().unwrap().iter().map(id).collect()
}

#[tokio::test]
async fn the_connector_recipe_in_json_over_a_real_listener() {
    let api = coupa().await;
    let ann = api.create(&person("ann", "Ann", "Lee")).await;
    let bob = api.create(&person("bob", "Bob", "Ray")).await;
    let running = api.sandbox.clone().spawn("127.0.0.1:0").await.unwrap();
    let base = running.url();
    let http = reqwest::Client::new();
    let token = common::http_token(
        &http,
        &base,
        CLIENT,
        SECRET,
        "core.integration.read core.integration.write",
    )
    .await;
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut req = http
            .request(method, format!("{base}{path}"))
            .bearer_auth(&token)
            .header("accept", "application/json");
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        async move {
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let body: Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
            (status, body)
        }
    };

    // 1. Look for the integration, register it when missing, name who is alerted.
    let (status, found) = call(
        reqwest::Method::GET,
        "/api/integrations?code=HR_USERS",
        None,
    )
    .await;
    assert_eq!((status, found), (200, json!([])));
    let (status, integration) =
        call(reqwest::Method::POST, "/api/integrations", Some(hr_users())).await;
    assert_eq!(status, 201, "{integration}");
    assert_eq!(integration["code"], "HR_USERS");
    assert_eq!(integration["standard"], false);
    let (status, found) = call(
        reqwest::Method::GET,
        "/api/integrations?code=hr_users",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(ids(&found), [id(&integration)]);
    let (status, contact) = call(
        reqwest::Method::POST,
        "/api/integration_contacts",
        Some(
            json!({"integration": {"code": "HR_USERS"}, "contactable-type": "User",
            "contactable-id": id(&ann), "contact-alert-type": "Functional"}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{contact}");
    assert_eq!(contact["integration"]["id"], id(&integration));

    // 2. A run, started with its record count (Coupa's samples spell it total_records).
    let (status, run) = call(
        reqwest::Method::POST,
        "/api/integration_runs",
        Some(json!({"integration": {"code": "HR_USERS"}})),
    )
    .await;
    assert_eq!(status, 201, "{run}");
    assert_eq!(run["status"], "pending");
    assert_eq!(run["integration-errors"], json!([]));
    let run_id = id(&run);
    let (status, started) = call(
        reqwest::Method::PUT,
        &format!("/api/integration_runs/{run_id}/run"),
        Some(json!({"total_records": 3})),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["status"], "running");
    assert_eq!(started["total-records"], 3);
    assert!(started["start-time"].is_string(), "{started}");

    // 3. One person failed, one was updated.
    let (status, error) = call(
        reqwest::Method::POST,
        "/api/integration_errors/create_alert",
        Some(json!({
            "document-type": "User", "document-id": id(&bob), "external-id": "P0002",
            "status": "Error", "contact-alert-type": "Functional",
            "integration-run": {"id": run_id},
            "responses": [{"response-code": "400", "response-message": "Email has already been taken"}],
        })),
    )
    .await;
    assert_eq!(status, 201, "{error}");
    assert_eq!(error["resolved"], false);
    assert_eq!(error["integration"]["code"], "HR_USERS");
    let (status, history) = call(
        reqwest::Method::POST,
        "/api/integration_history_records",
        Some(json!({
            "document-type": "User", "document-id": id(&ann), "external-id": "P0001",
            "status": "Success", "contact-alert-type": "Functional",
            "integration": {"code": "HR_USERS"}, "integration-run": {"id": run_id},
            "responses": [{"response-code": "OK", "response-message": "updated"}],
        })),
    )
    .await;
    assert_eq!(status, 201, "{history}");

    // 4. The run has an unresolved error, so it cannot succeed; the connector fails it.
    let (status, refused) = call(
        reqwest::Method::PUT,
        &format!("/api/integration_runs/{run_id}/success"),
        None,
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    let (status, failed) = call(
        reqwest::Method::PUT,
        &format!("/api/integration_runs/{run_id}/fail"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{failed}");
    assert_eq!(failed["status"], "failed");
    assert!(failed["end-time"].is_string());
    assert_eq!(ids(&failed["integration-errors"]), [id(&error)]);
    assert_eq!(
        failed["integration-errors"][0]["responses"][0]["response-message"],
        "Email has already been taken"
    );

    // The contact was alerted at her address.
    let mail = api.mail(Some("ann@example.com")).await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    let body = mail[0]["body"].as_str().unwrap();
    assert!(body.contains("HR_USERS"), "{body}");
    assert!(body.contains("Email has already been taken"), "{body}");
    running.stop().await.unwrap();
}

#[tokio::test]
async fn the_connector_recipe_in_xml() {
    let api = coupa().await;
    let none = api.get_xml("/api/integrations?code=HR_USERS").await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    assert_eq!(none.errors(), ["No results match your search criteria."]);
    let integration = api
        .post_xml(
            "/api/integrations",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<integration><name>HR users</name>\
             <code>HR_USERS</code><business-object>User</business-object>\
             <direction>to_coupa</direction><end-system>Workday</end-system>\
             <end-system-type>hr</end-system-type></integration>",
        )
        .await;
    assert_eq!(
        integration.status,
        StatusCode::CREATED,
        "{}",
        integration.body
    );
    assert!(
        integration.body.contains("<code>HR_USERS</code>"),
        "{}",
        integration.body
    );
    let run = api
        .post_xml(
            "/api/integration_runs",
            "<integration-run><integration><code>HR_USERS</code></integration></integration-run>",
        )
        .await;
    assert_eq!(run.status, StatusCode::CREATED, "{}", run.body);
    let run: IntegrationRun =
        coupa_wire::decode(Format::Xml, run.body.as_bytes(), "integration-run").unwrap();
    let run_id = run.id.unwrap();
    assert_eq!(run.status.as_deref(), Some("pending"));
    let started = api
        .put_xml(
            &format!("/api/integration_runs/{run_id}/run"),
            "<integration-run><total-records type=\"integer\">2</total-records></integration-run>",
        )
        .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let error = api
        .post_xml(
            "/api/integration_errors/create_alert",
            &format!(
                "<integration-error><document-type>User</document-type>\
                 <external-id>P0009</external-id><status>Error</status>\
                 <contact-alert-type>Technical</contact-alert-type>\
                 <integration-run><id type=\"integer\">{run_id}</id></integration-run>\
                 <responses type=\"array\"><response><response-code>503</response-code>\
                 <response-message>Coupa unavailable</response-message></response>\
                 </responses></integration-error>"
            ),
        )
        .await;
    assert_eq!(error.status, StatusCode::CREATED, "{}", error.body);
    assert!(error.body.starts_with("<?xml"), "{}", error.body);
    let shown = api
        .get_xml(&format!("/api/integration_runs/{run_id}"))
        .await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    let shown: IntegrationRun =
        coupa_wire::decode(Format::Xml, shown.body.as_bytes(), "integration-run").unwrap();
    assert_eq!(shown.status.as_deref(), Some("running"));
    assert_eq!(shown.total_records, Some(2));
    let errors = shown.integration_errors.unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].external_id.as_deref(), Some("P0009"));
    let responses = errors[0].responses.as_ref().unwrap();
    assert_eq!(responses[0].response_code.as_deref(), Some("503"));
    assert_eq!(
        responses[0].response_message.as_deref(),
        Some("Coupa unavailable")
    );
    let failed = api
        .send(
            Method::PUT,
            &format!("/api/integration_runs/{run_id}/fail"),
            &ACCEPT_XML,
            Body::empty(),
        )
        .await;
    assert_eq!(failed.status, StatusCode::OK, "{}", failed.body);
    assert!(
        failed.body.contains("<status>failed</status>"),
        "{}",
        failed.body
    );
    // No contact: the technical alert went to the admin.
    let mail = api.mail(Some(ADMIN)).await;
    assert_eq!(mail.len(), 1);
    assert!(
        mail[0]["body"]
            .as_str()
            .unwrap()
            .contains("503: Coupa unavailable")
    );
}

#[tokio::test]
async fn validation_messages_name_the_field_and_the_value() {
    let api = coupa().await;
    let empty = api.post_json("/api/integrations", &json!({})).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        empty.errors(),
        [
            "Name can't be blank",
            "Code can't be blank",
            "Business object can't be blank",
            "End system can't be blank",
            "Direction can't be blank",
            "End system type can't be blank",
        ]
    );
    assert!(
        empty.json()["errors"]["integration"].is_array(),
        "{}",
        empty.body
    );
    let mut bad = hr_users();
    bad["direction"] = json!("sideways");
    bad["end-system-type"] = json!("mainframe");
    bad["integration-type"] = json!("carrier_pigeon");
    let bad = api.post_json("/api/integrations", &bad).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        bad.errors(),
        [
            "Direction must be one of to_coupa, from_coupa (found \"sideways\")",
            "End system type must be one of payroll, erp, hr, third_party_partner, \
             third_party_vendor, other, internal (found \"mainframe\")",
            "Integration type must be one of flat_file, api, corporate_credit_card_file, json, \
             xml, original_format (found \"carrier_pigeon\")",
        ]
    );
    created(&api.post_json("/api/integrations", &hr_users()).await);
    let mut twin = hr_users();
    twin["code"] = json!("hr_users");
    twin["name"] = json!("HR USERS");
    let twin = api.post_json("/api/integrations", &twin).await;
    assert_eq!(twin.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        twin.errors(),
        ["Name has already been taken", "Code has already been taken"]
    );

    let no_integration = api.post_json("/api/integration_runs", &json!({})).await;
    assert_eq!(no_integration.errors(), ["Integration can't be blank"]);
    let unknown = api
        .post_json(
            "/api/integration_runs",
            &json!({"integration": {"code": "NOPE"}}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        unknown.errors(),
        [
            "Unable to find valid Integration record for integration with keys {code: \"NOPE\"}. \
          Possible keys are [id, code]."
        ]
    );
    assert!(unknown.json()["errors"]["integration_run"].is_array());

    let history = api
        .post_json(
            "/api/integration_history_records",
            &json!({"status": "Success"}),
        )
        .await;
    assert_eq!(history.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        history.errors(),
        [
            "Contact alert type can't be blank",
            "Document type can't be blank",
            "Document id can't be blank",
        ]
    );
    let error = api
        .post_json(
            "/api/integration_errors",
            &json!({"document-type": "Invoice", "contact-alert-type": "Urgent"}),
        )
        .await;
    assert_eq!(
        error.errors(),
        [
            "Contact alert type must be one of Technical, Functional, Both (found \"Urgent\")",
            "Integration run can't be blank",
            "Document type must be one of User, Supplier, Account, Address, Department, \
             Contract, ExpenseReport, InvoiceHeader, OrderHeader, RequisitionHeader, Payment \
             (found \"Invoice\")",
        ]
    );
    let unknown_run = api
        .post_json(
            "/api/integration_errors",
            &json!({"contact-alert-type": "Technical", "integration-run-id": 99,
                "document-type": "User", "document-id": 42}),
        )
        .await;
    assert_eq!(
        unknown_run.errors(),
        [
            "Unable to find valid IntegrationRun record for integration-run with keys {id: 99}. \
             Possible keys are [id].",
            "Unable to find valid User record for document with keys {id: 42}. Possible keys \
             are [id].",
        ]
    );

    let contact = api
        .post_json(
            "/api/integration_contacts",
            &json!({"integration": {"id": 7}, "contactable-type": "Robot",
                "contact-alert-type": "Both"}),
        )
        .await;
    assert_eq!(
        contact.errors(),
        [
            "Unable to find valid Integration record for integration with keys {id: 7}. \
             Possible keys are [id, code].",
            "Contactable type must be one of User, UserGroup, ApprovalGroup, Supplier, \
             SupplierUser (found \"Robot\")",
            "Contactable id can't be blank",
        ]
    );
    let no_user = api
        .post_json(
            "/api/integration_contacts",
            &json!({"integration": {"code": "HR_USERS"}, "contactable-type": "User",
                "contactable-id": 404, "contact-alert-type": "Both"}),
        )
        .await;
    assert_eq!(
        no_user.errors(),
        [
            "Unable to find valid User record for contactable with keys {id: 404}. Possible keys \
          are [id]."
        ]
    );
    let not_json = api
        .send(
            Method::POST,
            "/api/integration_runs",
            &JSON_IN,
            "{\"integration\": [1]}",
        )
        .await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    assert!(
        not_json.errors()[0].contains("integration"),
        "{}",
        not_json.body
    );
}

#[tokio::test]
async fn an_integration_is_read_and_partly_updated_by_id() {
    let api = coupa().await;
    let (integration, _) = integration_and_run(&api).await;
    let other = created(
        &api.post_json(
            "/api/integrations",
            &json!({"name": "Payroll", "code": "PAY", "business-object": "User",
                "direction": "from_coupa", "end-system": "ADP", "end-system-type": "payroll"}),
        )
        .await,
    );
    let updated = ok(&api
        .put_json(
            &format!("/api/integrations/{integration}"),
            &json!({"end-system": "SAP SuccessFactors", "standard": true}),
        )
        .await);
    assert_eq!(updated["end-system"], "SAP SuccessFactors");
    assert_eq!(updated["code"], "HR_USERS");
    assert_eq!(updated["standard"], false, "standard is read-only");
    let taken = api
        .put_json(
            &format!("/api/integrations/{}", id(&other)),
            &json!({"code": "HR_USERS"}),
        )
        .await;
    assert_eq!(taken.errors(), ["Code has already been taken"]);
    let shown = ok(&api
        .get_json(&format!("/api/integrations/{integration}"))
        .await);
    assert_eq!(shown["end-system"], "SAP SuccessFactors");
    let missing = api.get_json("/api/integrations/99").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.errors(), ["Couldn't find Integration with 'id'=99"]);
    let found = ok(&api.get_json("/api/integrations?direction=from_coupa").await);
    assert_eq!(ids(&found), [id(&other)]);
    let found = ok(&api
        .get_json("/api/integrations?business_object=user&order_by=code&dir=desc")
        .await);
    assert_eq!(ids(&found), [id(&other), integration]);
}

#[tokio::test]
async fn success_waits_for_every_error_to_be_resolved_and_finished_runs_stay_finished() {
    let api = coupa().await;
    let (_, run) = integration_and_run(&api).await;
    let pending = ok(&api.get_json(&format!("/api/integration_runs/{run}")).await);
    assert!(pending["start-time"].is_null());
    let running = ok(&put(&api, &format!("/api/integration_runs/{run}/run")).await);
    assert_eq!(running["status"], "running");
    let started_at = running["start-time"].clone();
    assert!(started_at.is_string());
    let paused = ok(&put(&api, &format!("/api/integration_runs/{run}/pause")).await);
    assert_eq!(paused["status"], "paused");
    let again = ok(&put(&api, &format!("/api/integration_runs/{run}/run")).await);
    assert_eq!(
        again["start-time"], started_at,
        "a resumed run keeps its start"
    );

    let first = error_for(&api, run, "P1", "Login has already been taken").await;
    let second = error_for(&api, run, "P2", "Email is invalid").await;
    for action in ["success", "finish"] {
        let refused = put(&api, &format!("/api/integration_runs/{run}/{action}")).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{action}");
        assert_eq!(
            refused.errors(),
            [format!(
                "Integration run {run} has 2 unresolved integration error(s): resolve them \
                 before marking the run successful, or fail the run"
            )]
        );
    }
    let resolved = ok(&put(
        &api,
        &format!("/api/integration_errors/{}/resolve", id(&first)),
    )
    .await);
    assert_eq!(resolved["resolved"], true);
    let refused = put(&api, &format!("/api/integration_runs/{run}/success")).await;
    assert!(
        refused.errors()[0].contains("has 1 unresolved"),
        "{}",
        refused.body
    );
    ok(&put(
        &api,
        &format!("/api/integration_errors/{}/resolve", id(&second)),
    )
    .await);
    let done = ok(&put(&api, &format!("/api/integration_runs/{run}/success")).await);
    assert_eq!(done["status"], "successful");
    assert!(done["end-time"].is_string(), "{done}");
    assert_eq!(done["integration-errors"][1]["resolved"], true);

    for action in ["run", "pending", "pause", "fail", "success"] {
        let refused = put(&api, &format!("/api/integration_runs/{run}/{action}")).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{action}");
        assert!(
            refused.errors()[0].contains(&format!("Integration run {run} is already successful")),
            "{}",
            refused.body
        );
    }
    // The watermark of what was exported may still be saved.
    let marked = ok(&api
        .put_json(
            &format!("/api/integration_runs/{run}/max_updated_at"),
            &json!({"max-updated-at": "2026-03-01T04:00:00Z"}),
        )
        .await);
    assert_eq!(marked["max-updated-at"], "2026-03-01T04:00:00+00:00");
    let bad = api
        .put_json(
            &format!("/api/integration_runs/{run}/max_updated_at"),
            &json!({"max-updated-at": "yesterday"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.errors()[0].contains("\"yesterday\""), "{}", bad.body);

    // A failed run is finished too; an unknown run or action is not found.
    let run2 = id(&created(
        &api.post_json("/api/integration_runs", &json!({"integration": {"id": 1}}))
            .await,
    ));
    let failed = ok(&put(&api, &format!("/api/integration_runs/{run2}/fail")).await);
    assert!(failed["end-time"].is_string());
    let refused = put(&api, &format!("/api/integration_runs/{run2}/run")).await;
    assert_eq!(
        refused.errors(),
        [format!(
            "Integration run {run2} is already failed; a finished run cannot be moved to running"
        )]
    );
    let missing = put(&api, "/api/integration_runs/99/run").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        missing.errors(),
        ["Couldn't find IntegrationRun with 'id'=99"]
    );
    assert_eq!(
        put(&api, &format!("/api/integration_runs/{run2}/explode"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let unresolved = ok(&put(
        &api,
        &format!("/api/integration_errors/{}/unresolve", id(&first)),
    )
    .await);
    assert_eq!(unresolved["resolved"], false);
}

#[tokio::test]
async fn create_alert_mails_the_contacts_it_concerns_or_else_the_admin() {
    let api = coupa().await;
    let ann = api.create(&person("ann", "Ann", "Lee")).await;
    let bob = api.create(&person("bob", "Bob", "Ray")).await;
    let cid = api.create(&person("cid", "Cid", "Moe")).await;
    let (_, run) = integration_and_run(&api).await;
    for (contactable_type, who, alert) in [
        ("User", id(&ann), "Functional"),
        ("User", id(&bob), "Technical"),
        ("User", id(&cid), "Both"),
        ("UserGroup", 5, "Functional"),
    ] {
        created(
            &api.post_json(
                "/api/integration_contacts",
                &json!({"integration": {"code": "HR_USERS"}, "contactable-type": contactable_type,
                    "contactable-id": who, "contact-alert-type": alert}),
            )
            .await,
        );
    }
    let contacts = ok(&api
        .get_json("/api/integration_contacts?integration[code]=HR_USERS&contact_alert_type=Both")
        .await);
    assert_eq!(contacts.as_array().unwrap().len(), 1);
    assert_eq!(contacts[0]["contactable-id"], id(&cid));

    // A plain POST alerts nobody.
    error_for(&api, run, "P0", "quiet").await;
    let alerted = created(
        &api.post_json(
            "/api/integration_errors/create_alert",
            &json!({
                "document-type": "User", "document-id": id(&ann), "external-id": "P0042",
                "status": "Error", "contact-alert-type": "Functional",
                "integration-run": {"id": run},
                "responses": [
                    {"response-code": "400", "response-message": "Email has already been taken"},
                    {"response-code": "400", "response-message": "Login can't be blank"},
                ],
            }),
        )
        .await,
    );
    for to in ["ann@example.com", "cid@example.com"] {
        let mail = api.mail(Some(to)).await;
        assert_eq!(mail.len(), 1, "{to}: {mail:?}");
        let subject = mail[0]["subject"].as_str().unwrap();
        assert!(
            subject.contains("HR_USERS") && subject.contains("P0042"),
            "{subject}"
        );
        let body = mail[0]["body"].as_str().unwrap();
        for text in [
            "HR_USERS",
            &format!("Run:          {run}"),
            &format!("Document:     User {}", id(&ann)),
            "External id:  P0042",
            "400: Email has already been taken",
            "400: Login can't be blank",
            &format!("integration error {}", id(&alerted)),
        ] {
            assert!(body.contains(text), "{text:?} missing from {body}");
        }
    }
    assert!(
        api.mail(Some("bob@example.com")).await.is_empty(),
        "Technical only"
    );
    assert!(
        api.mail(Some(ADMIN)).await.is_empty(),
        "contacts were found"
    );

    // A technical history record alert reaches the technical contacts; with none, the admin.
    created(
        &api.post_json(
            "/api/integration_history_records/create_alert",
            &json!({"document-type": "User", "document-id": id(&bob), "status": "Error",
                "contact-alert-type": "Technical", "integration": {"code": "HR_USERS"},
                "responses": [{"response-code": "500", "response-message": "timeout"}]}),
        )
        .await,
    );
    assert_eq!(api.mail(Some("bob@example.com")).await.len(), 1);
    assert_eq!(api.mail(Some("cid@example.com")).await.len(), 2);
    assert_eq!(api.mail(Some("ann@example.com")).await.len(), 1);
    created(
        &api.post_json(
            "/api/integrations",
            &json!({"name": "Payroll", "code": "PAY", "business-object": "User",
                "direction": "from_coupa", "end-system": "ADP", "end-system-type": "payroll"}),
        )
        .await,
    );
    let pay_run = id(&created(
        &api.post_json(
            "/api/integration_runs",
            &json!({"integration": {"code": "PAY"}}),
        )
        .await,
    ));
    created(
        &api.post_json(
            "/api/integration_errors/create_alert",
            &json!({"contact-alert-type": "Technical", "integration-run-id": pay_run,
                "external-id": "E-7", "responses": [{"response-code": "401",
                "response-message": "Invalid or expired access token"}]}),
        )
        .await,
    );
    let mail = api.mail(Some(ADMIN)).await;
    assert_eq!(mail.len(), 1);
    let body = mail[0]["body"].as_str().unwrap();
    assert!(body.contains("PAY") && body.contains("E-7"), "{body}");
    assert!(
        body.contains("401: Invalid or expired access token"),
        "{body}"
    );
}

#[tokio::test]
async fn lists_filter_with_coupas_conditions() {
    let api = coupa().await;
    let ann = api.create(&person("ann", "Ann", "Lee")).await;
    let (_, run) = integration_and_run(&api).await;
    let other_run = id(&created(
        &api.post_json(
            "/api/integration_runs",
            &json!({"integration": {"code": "HR_USERS"}}),
        )
        .await,
    ));
    ok(&put(&api, &format!("/api/integration_runs/{other_run}/run")).await);
    let p1 = error_for(&api, run, "P1", "one").await;
    let p2 = created(
        &api.post_json(
            "/api/integration_errors",
            &json!({"document-type": "User", "document-id": id(&ann), "external-id": "P2",
                "status": "Error", "contact-alert-type": "Technical",
                "integration-run-id": other_run}),
        )
        .await,
    );
    ok(&put(
        &api,
        &format!("/api/integration_errors/{}/resolve", id(&p1)),
    )
    .await);
    let cases = [
        ("resolved=false", vec![id(&p2)]),
        ("resolved=true", vec![id(&p1)]),
        (
            &*format!("document-type=User&document-id={}", id(&ann)),
            vec![id(&p2)],
        ),
        (
            &*format!("document_type=user&document_id={}", id(&ann)),
            vec![id(&p2)],
        ),
        (&*format!("integration-run-id={run}"), vec![id(&p1)]),
        (&*format!("integration_run[id]={other_run}"), vec![id(&p2)]),
        (
            "external_id[in]=P1,P2&order_by=id&dir=desc",
            vec![id(&p2), id(&p1)],
        ),
        ("status=Error&limit=1&offset=1", vec![id(&p2)]),
    ];
    for (query, want) in cases {
        let found = ok(&api
            .get_json(&format!("/api/integration_errors?{query}"))
            .await);
        assert_eq!(ids(&found), want, "{query}");
    }
    let found = ok(&api.get_json("/api/integration_runs?status=running").await);
    assert_eq!(ids(&found), [other_run]);
    assert_eq!(ids(&found[0]["integration-errors"]), [id(&p2)]);
    let found = ok(&api
        .get_json("/api/integration_runs?integration[code]=HR_USERS&created_at[gt]=2020-01-01")
        .await);
    assert_eq!(ids(&found), [run, other_run]);
    let found = ok(&api
        .get_json("/api/integration_runs?integration[id]=2")
        .await);
    assert_eq!(found, json!([]));
    let bad = api.get_json("/api/integration_errors?owner=me").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        bad.errors(),
        ["Unknown search attribute owner for integration errors"]
    );
    let shown = ok(&api
        .get_json(&format!("/api/integration_errors/{}", id(&p1)))
        .await);
    assert_eq!(shown["external-id"], "P1");
    assert_eq!(
        api.get_json("/api/integration_history_records/1")
            .await
            .errors(),
        ["Couldn't find IntegrationHistoryRecord with 'id'=1"]
    );
}

#[tokio::test]
async fn undocumented_record_actions_are_left_out() {
    let api = coupa().await;
    for path in [
        "/api/integration_errors/mark_exported",
        "/api/integration_errors/create_alert_and_mark_exported",
        "/api/integration_history_records/acknowledge",
    ] {
        let a = api.post_json(path, &json!({})).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}: {}", a.body);
        assert!(a.errors()[0].contains("not emulated"), "{}", a.body);
    }
    let delete = api
        .send(
            Method::DELETE,
            "/api/integrations/1",
            &ACCEPT_JSON,
            Body::empty(),
        )
        .await;
    assert_eq!(delete.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn reads_need_the_integration_read_scope_and_writes_the_write_scope() {
    let api = coupa().await;
    let (_, run) = integration_and_run(&api).await;
    let read_only = api.token_for("core.integration.read").await;
    let users = api.token_for("core.user.read core.user.write").await;
    for path in [
        "/api/integrations",
        "/api/integration_contacts",
        "/api/integration_runs",
        "/api/integration_history_records",
        "/api/integration_errors",
    ] {
        let read = api
            .send_as(&read_only, Method::GET, path, &JSON_IN, Body::empty())
            .await;
        assert_eq!(read.status, StatusCode::OK, "{path}: {}", read.body);
        let write = api
            .send_as(&read_only, Method::POST, path, &JSON_IN, "{}")
            .await;
        assert_eq!(write.status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(
            write.errors(),
            ["Access token lacks the scope core.integration.write"]
        );
        let other = api
            .send_as(&users, Method::GET, path, &JSON_IN, Body::empty())
            .await;
        assert_eq!(other.status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(
            other.errors(),
            ["Access token lacks the scope core.integration.read"]
        );
    }
    let action = api
        .send_as(
            &read_only,
            Method::PUT,
            &format!("/api/integration_runs/{run}/run"),
            &JSON_IN,
            Body::empty(),
        )
        .await;
    assert_eq!(action.status, StatusCode::FORBIDDEN);
    let writer = api.token_for("core.integration.write").await;
    let action = api
        .send_as(
            &writer,
            Method::PUT,
            &format!("/api/integration_runs/{run}/run"),
            &JSON_IN,
            Body::empty(),
        )
        .await;
    assert_eq!(action.status, StatusCode::OK, "{}", action.body);
}

#[tokio::test]
async fn integration_records_survive_a_restart_with_a_data_folder() {
    let dir = TempDir::new().unwrap();
    let (run, error) = {
        let api = Api::with(integrations_config(Some(dir.path()))).await;
        let ann = api.create(&person("ann", "Ann", "Lee")).await;
        let (_, run) = integration_and_run(&api).await;
        created(
            &api.post_json(
                "/api/integration_contacts",
                &json!({"integration": {"code": "HR_USERS"}, "contactable-type": "User",
                    "contactable-id": id(&ann), "contact-alert-type": "Both"}),
            )
            .await,
        );
        ok(&api
            .put_json(
                &format!("/api/integration_runs/{run}/run"),
                &json!({"total-records": 5}),
            )
            .await);
        let error = error_for(&api, run, "P7", "Email is invalid").await;
        ok(&put(
            &api,
            &format!("/api/integration_errors/{}/resolve", id(&error)),
        )
        .await);
        created(
            &api.post_json(
                "/api/integration_history_records",
                &json!({"document-type": "User", "document-id": id(&ann), "status": "Success",
                    "contact-alert-type": "Functional", "integration-run": {"id": run}}),
            )
            .await,
        );
        let running = api.sandbox.clone().spawn("127.0.0.1:0").await.unwrap();
        running.stop().await.unwrap();
        (run, id(&error))
    };
    let api = Api::with(integrations_config(Some(dir.path()))).await;
    let shown = ok(&api.get_json(&format!("/api/integration_runs/{run}")).await);
    assert_eq!(shown["status"], "running");
    assert_eq!(shown["total-records"], 5);
    assert_eq!(ids(&shown["integration-errors"]), [error]);
    assert_eq!(shown["integration-errors"][0]["resolved"], true);
    assert_eq!(
        shown["integration-errors"][0]["responses"][0]["response-message"],
        "Email is invalid"
    );
    let contacts = ok(&api.get_json("/api/integration_contacts").await);
    assert_eq!(contacts[0]["contact-alert-type"], "Both");
    let history = ok(&api.get_json("/api/integration_history_records").await);
    assert_eq!(history[0]["status"], "Success");
    // The code is still taken, and new ids continue after the stored ones.
    let twin = api.post_json("/api/integrations", &hr_users()).await;
    assert_eq!(
        twin.errors(),
        ["Name has already been taken", "Code has already been taken"]
    );
    let next = created(
        &api.post_json(
            "/api/integration_runs",
            &json!({"integration": {"code": "HR_USERS"}}),
        )
        .await,
    );
    assert_eq!(id(&next), run + 1);
    let done = ok(&put(&api, &format!("/api/integration_runs/{run}/success")).await);
    assert_eq!(done["status"], "successful");
}

#[tokio::test]
async fn the_runs_page_lists_runs_newest_first_with_escaped_errors() {
    let api = coupa().await;
    let (integration, first) = integration_and_run(&api).await;
    ok(&api
        .put_json(
            &format!("/api/integration_runs/{first}/run"),
            &json!({"total-records": 12}),
        )
        .await);
    error_for(&api, first, "O'Brien & Co", "<script>alert(1)</script>").await;
    let second = id(&created(
        &api.post_json(
            "/api/integration_runs",
            &json!({"integration": {"code": "HR_USERS"}}),
        )
        .await,
    ));
    let page = api
        .page(&format!("/integrations/{integration}/integration_runs"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.content_type.starts_with("text/html"),
        "{}",
        page.content_type
    );
    let body = &page.body;
    let newest = body.find(&format!("Run #{second}")).unwrap();
    let oldest = body.find(&format!("Run #{first}")).unwrap();
    assert!(newest < oldest, "newest first");
    assert!(
        body.contains("<td class=\"running\">running</td>"),
        "{body}"
    );
    assert!(
        body.contains("<td class=\"pending\">pending</td>"),
        "{body}"
    );
    assert!(
        body.contains("<tr><th>Total records</th><td>12</td></tr>"),
        "{body}"
    );
    assert!(body.contains("O&#39;Brien &amp; Co"), "{body}");
    assert!(
        body.contains("400: &lt;script&gt;alert(1)&lt;/script&gt;"),
        "{body}"
    );
    assert!(!body.contains("<script>"), "values are escaped");
    assert!(
        body.contains("<td>no</td>"),
        "the error is unresolved: {body}"
    );
    let missing = api.page("/integrations/99/integration_runs").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}
