//! The data file sources API against a mock server: the documented filters in the query string,
//! paging 50 at a time, XML's "No results" 404 as an empty answer, and row errors decoded.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use coupa_client::{Client, Credentials, LoadStatus, Query};
use secrecy::SecretString;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn client(server: &MockServer) -> Client {
    Client::builder(server.uri())
        .credentials(Credentials::api_key(SecretString::from("k".repeat(40))))
        .rate(None)
        .build()
        .unwrap()
}

fn xml(status: u16, body: String) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.into_bytes(), "application/xml")
}

fn source(id: usize, name: &str) -> String {
    format!(
        "<data-file-source><id type=\"integer\">{id}</id><source-for>User</source-for>\
         <status>done</status><file-file-name>{name}</file-file-name>\
         <upload-errors type=\"array\"/></data-file-source>"
    )
}

fn list(items: &[String]) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<data-file-sources type=\"array\">{}</data-file-sources>",
        items.concat()
    )
}

#[tokio::test]
async fn filters_by_the_documented_attributes_and_decodes_row_errors() {
    let server = MockServer::start().await;
    let failed = "<data-file-source><id type=\"integer\">9</id><status>Done</status>\
        <file-file-name>_Incoming_Users_users_1.csv</file-file-name>\
        <upload-errors type=\"array\"><upload-error><type>UploadRowError</type>\
        <row type=\"integer\">2</row><first-column></first-column>\
        <field-with-error>email</field-with-error><value>a@b.co</value>\
        <field-errors type=\"array\"><field-error>Email has already been taken</field-error>\
        </field-errors></upload-error></upload-errors></data-file-source>";
    Mock::given(method("GET"))
        .and(path("/api/data_file_sources"))
        .and(query_param("source_for", "User"))
        .and(query_param("file_file_name[contains]", "users_1.csv"))
        .respond_with(xml(200, list(&[failed.to_string()])))
        .expect(1)
        .mount(&server)
        .await;
    let query = Query::new().eq("source_for", "User").filter_by(
        "file_file_name",
        coupa_wire::Op::Contains,
        "users_1.csv",
    );
    let found = client(&server)
        .data_file_sources()
        .query(query)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert!(found[0].is_load_of("/Incoming/Users", "users_1.csv"));
    assert_eq!(found[0].load_status(), LoadStatus::Done);
    let error = &found[0].errors()[0];
    assert_eq!(error.row, Some(2));
    assert_eq!(error.field_with_error.as_deref(), Some("email"));
    assert_eq!(error.messages(), ["Email has already been taken"]);
}

#[tokio::test]
async fn pages_fifty_at_a_time_to_the_end() {
    let server = MockServer::start().await;
    let first: Vec<String> = (1..=50).map(|i| source(i, &format!("f{i}.csv"))).collect();
    Mock::given(method("GET"))
        .and(path("/api/data_file_sources"))
        .and(query_param("offset", "0"))
        .respond_with(xml(200, list(&first)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/data_file_sources"))
        .and(query_param("offset", "50"))
        .respond_with(xml(200, list(&[source(51, "f51.csv")])))
        .expect(1)
        .mount(&server)
        .await;
    let found = client(&server)
        .data_file_sources()
        .query(Query::new().eq("source_for", "User"))
        .await
        .unwrap();
    let ids: Vec<i64> = found.iter().filter_map(|s| s.id).collect();
    assert_eq!(ids, (1..=51).collect::<Vec<i64>>());
}

#[tokio::test]
async fn no_results_is_an_empty_list_not_an_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/data_file_sources"))
        .respond_with(xml(
            404,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<errors><error>No results match your search criteria.</error></errors>".into(),
        ))
        .mount(&server)
        .await;
    let found = client(&server)
        .data_file_sources()
        .query(Query::new().eq("file_file_name", "nothing.csv"))
        .await
        .unwrap();
    assert!(found.is_empty());
}
