//! The configuration file: what a user gets for each mistake, and where secrets go.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

mod common;

use common::{BASE, SECRET, env};
use engine::config::{Config, ConfigError, CoupaAuth, HrFormat, Missing, StoreBackend};
use engine::fields::Field;
use secrecy::ExposeSecret;
use std::path::Path;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("/etc/coupa-sync/sync.toml"), &env)
}

/// The error text, which must name the file and the key.
fn error(text: &str) -> String {
    let e = parse(text).expect_err("the configuration should be refused");
    let shown = e.to_string();
    assert!(
        shown.contains("/etc/coupa-sync/sync.toml"),
        "no file in: {shown}"
    );
    shown
}

#[test]
fn the_quickstart_example_loads_and_its_hr_file_is_clean() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let config = Config::parse(&text, &path, &env).unwrap();
    assert_eq!(config.coupa.url, "http://127.0.0.1:4010");
    assert!(config.hr.path.ends_with("examples/hr.csv"));
    assert_eq!(config.match_rule.coupa_field, Field::LOGIN);
    match config.coupa.auth() {
        Some(CoupaAuth::OAuth {
            client_id,
            client_secret,
            scopes,
        }) => {
            assert_eq!(client_id, "coupa-sync");
            assert_eq!(client_secret.expose_secret(), SECRET);
            assert_eq!(scopes, ["core.user.read", "core.user.write"]);
        }
        other => panic!("expected OAuth credentials, got {other:?}"),
    }

    let mapping = engine::mapping::Mapping::new(&config);
    let source = engine::hr::open(&config.hr, mapping.columns()).unwrap();
    let detection = engine::detect::detect(
        &mapping,
        mapping.read(source),
        &engine::detect::AppliedState::new(),
        engine::detect::DetectOptions::default(),
    )
    .unwrap();
    assert!(detection.errors.is_empty(), "{:?}", detection.errors);
    let user_test = detection
        .changes
        .iter()
        .find(|c| c.match_value == "USER_TEST")
        .expect("the playbook's USER_TEST is in the example");
    let fields = &user_test.desired.as_ref().unwrap().fields;
    assert_eq!(fields[&Field::EMAIL].to_plain(), "user_test@coupa.com");
    assert_eq!(detection.changes.len(), 4);
}

#[test]
fn defaults_fill_what_is_left_out() {
    let config = parse(BASE).unwrap();
    assert_eq!(config.hr.format, HrFormat::Csv);
    assert_eq!(config.hr.missing, Missing::Ignore);
    assert_eq!(config.hr.delimiter, b',');
    assert_eq!(config.hr.terminated_values, ["terminated", "inactive"]);
    assert_eq!(config.coupa.rate_per_second, 20);
    assert_eq!(config.sync.max_deactivate_share, 0.05);
    assert_eq!(
        config.store.path.as_deref(),
        Some(Path::new("/etc/coupa-sync/coupa-sync.db"))
    );
    // Relative paths are taken from the configuration file's directory.
    assert_eq!(config.hr.path, Path::new("/etc/coupa-sync/hr.csv"));
}

#[test]
fn a_misspelt_key_is_named_with_its_section_and_line() {
    let text = BASE.replace("client_id = ", "client_secrt = \"x\"\nclient_id = ");
    let shown = error(&text);
    assert!(shown.contains("coupa"), "{shown}");
    assert!(shown.contains("unknown field `client_secrt`"), "{shown}");
    assert!(shown.contains("line 4"), "{shown}");
}

#[test]
fn an_unknown_section_is_named() {
    let shown = error(&format!("{BASE}\n[matching]\nx = 1\n"));
    assert!(shown.contains("unknown field `matching`"), "{shown}");
}

#[test]
fn an_unknown_coupa_field_lists_the_known_ones() {
    let shown = error(&BASE.replace("login = \"login\"", "logn = \"login\""));
    assert!(shown.contains("fields"), "{shown}");
    assert!(shown.contains("unknown Coupa user field `logn`"), "{shown}");
    assert!(shown.contains("login, email, firstname"), "{shown}");
}

#[test]
fn a_value_of_the_wrong_type_names_its_key() {
    let shown = error(&BASE.replace("client_id = ", "rate_per_second = \"fast\"\nclient_id = "));
    assert!(shown.contains("coupa.rate_per_second"), "{shown}");
    let shown = error(&BASE.replace("[hr]", "[hr]\nformat = \"xlsx\""));
    assert!(shown.contains("hr.format"), "{shown}");
    assert!(shown.contains("csv") && shown.contains("jsonl"), "{shown}");
}

#[test]
fn a_bad_transform_or_template_names_the_field() {
    let shown = error(&BASE.replace(
        "email = \"email\"",
        "email = { column = \"email\", transform = [\"capitalize\"] }",
    ));
    assert!(shown.contains("fields.email.transform"), "{shown}");
    assert!(shown.contains("`trim`"), "{shown}");

    let shown = error(&BASE.replace(
        "email = \"email\"",
        "email = { template = \"{first.x@acme.com\" }",
    ));
    assert!(shown.contains("fields.email"), "{shown}");
    assert!(shown.contains("unclosed"), "{shown}");

    let shown = error(&BASE.replace(
        "email = \"email\"",
        "email = { column = \"email\", constant = \"x@y.z\" }",
    ));
    assert!(
        shown.contains("fields.email") && shown.contains("exactly one of"),
        "{shown}"
    );

    let shown = error(&BASE.replace(
        "email = \"email\"",
        "email = { column = \"email\", colour = 1 }",
    ));
    assert!(
        shown.contains("fields.email") && shown.contains("`colour`"),
        "{shown}"
    );
}

#[test]
fn an_unset_secret_variable_is_named_but_not_guessed() {
    let text = BASE.replace("COUPA_CLIENT_SECRET", "NOT_SET_ANYWHERE");
    let shown = error(&text);
    assert!(shown.contains("coupa.client_secret_env"), "{shown}");
    assert!(shown.contains("NOT_SET_ANYWHERE"), "{shown}");
}

#[test]
fn credentials_must_be_one_complete_method() {
    let both = BASE.replace(
        "client_secret_env = \"COUPA_CLIENT_SECRET\"",
        "client_secret_env = \"COUPA_CLIENT_SECRET\"\nclient_secret = \"inline\"",
    );
    assert!(error(&both).contains("not both"));
    let none = BASE
        .replace("client_id = \"coupa-sync\"\n", "")
        .replace("client_secret_env = \"COUPA_CLIENT_SECRET\"\n", "");
    let shown = error(&none);
    assert!(shown.contains(": coupa: no credentials"), "{shown}");
    let no_id = BASE.replace("client_id = \"coupa-sync\"\n", "");
    assert!(error(&no_id).contains("coupa.client_id"));
    let key_and_client = BASE.replace("[hr]", "api_key = \"k\"\n[hr]");
    assert!(error(&key_and_client).contains("coupa.api_key"));
}

#[test]
fn no_secret_shows_in_debug_output() {
    let text = format!(
        "{}\n[notify]\nwebhook_url = \"https://hooks.example.com/T0KEN-in-url\"\ndata_errors_to = [\"hr@example.com\"]\n\n[notify.smtp]\nhost = \"mail.example.com\"\nfrom = \"sync@example.com\"\nusername = \"sync\"\npassword = \"smtp-pa55word\"\n",
        BASE
    );
    let config = parse(&text).unwrap();
    let debug = format!("{config:?}");
    for secret in [SECRET, "T0KEN-in-url", "smtp-pa55word"] {
        assert!(
            !debug.contains(secret),
            "{secret} leaked into Debug: {debug}"
        );
    }
    assert!(
        debug.contains("mail.example.com"),
        "Debug still shows the rest"
    );

    let legacy = BASE.replace("client_id = \"coupa-sync\"\n", "").replace(
        "client_secret_env = \"COUPA_CLIENT_SECRET\"",
        "api_key = \"0123456789abcdef-api-key\"",
    );
    let config = parse(&legacy).unwrap();
    assert!(!format!("{config:?}").contains("0123456789abcdef-api-key"));
    assert!(
        matches!(config.coupa.auth(), Some(CoupaAuth::ApiKey(k)) if k.expose_secret() == "0123456789abcdef-api-key")
    );
}

#[test]
fn a_bad_webhook_url_is_refused_without_being_shown() {
    let text = format!("{BASE}\n[notify]\nwebhook_url = \"ftp://secret-token@host\"\n");
    let shown = error(&text);
    assert!(shown.contains("notify.webhook_url"), "{shown}");
    assert!(!shown.contains("secret-token"), "{shown}");
}

#[test]
fn the_match_rule_is_checked_against_the_mapping() {
    let shown = error(&BASE.replace(
        "coupa_field = \"employee-number\"",
        "coupa_field = \"firstname\"",
    ));
    assert!(shown.contains("match.coupa_field"), "{shown}");

    let unmapped = BASE.replace(
        "coupa_field = \"employee-number\"",
        "coupa_field = \"custom-fields.badge\"",
    );
    let shown = error(&unmapped);
    assert!(shown.contains("match.hr_column"), "{shown}");
    let with_column = unmapped.replace(
        "coupa_field = \"custom-fields.badge\"",
        "coupa_field = \"custom-fields.badge\"\nhr_column = \"badge\"",
    );
    assert!(parse(&with_column).is_ok());

    let inconsistent = BASE.replace(
        "coupa_field = \"employee-number\"",
        "coupa_field = \"employee-number\"\nhr_column = \"badge\"",
    );
    let shown = error(&inconsistent);
    assert!(
        shown.contains("match.hr_column") && shown.contains("\"badge\""),
        "{shown}"
    );
}

#[test]
fn fields_that_have_their_own_section_are_refused_in_fields() {
    for (line, section) in [
        ("active = \"status\"", "status_column"),
        ("roles = \"roles\"", "[roles]"),
        ("\"custom-fields.badge\" = \"b\"", "[custom_fields]"),
    ] {
        let text = BASE.replace("login = \"login\"", &format!("login = \"login\"\n{line}"));
        let shown = error(&text);
        assert!(shown.contains(section), "{line}: {shown}");
    }
}

#[test]
fn the_fields_coupa_requires_for_a_create_must_be_mapped() {
    let shown = error(&BASE.replace("email = \"email\"\n", ""));
    assert!(shown.contains(": fields: map email"), "{shown}");
}

#[test]
fn shares_and_recipients_are_checked() {
    let shown = error(&format!("{BASE}\n[sync]\nmax_deactivate_share = 5\n"));
    assert!(shown.contains("sync.max_deactivate_share"), "{shown}");
    let shown = error(&format!(
        "{BASE}\n[notify]\ndata_errors_to = [\"hr@example.com\"]\n"
    ));
    assert!(
        shown.contains("notify.data_errors_to") && shown.contains("[notify.smtp]"),
        "{shown}"
    );
    let shown = error(&format!(
        "{BASE}\n[notify]\ntechnical_errors_to = [\"not-an-address\"]\n[notify.smtp]\nhost = \"h\"\nfrom = \"a@b.co\"\n"
    ));
    assert!(
        shown.contains("notify.technical_errors_to") && shown.contains("not-an-address"),
        "{shown}"
    );
    let shown = error(&format!("{BASE}\n[roles.x]\n"));
    assert!(shown.contains("roles"), "{shown}");
    let shown = error(&BASE.replace(
        "managed = [\"Buyer\", \"Accounts Payable\"]",
        "managed = []",
    ));
    assert!(shown.contains("roles.managed"), "{shown}");
    let shown = error(&BASE.replace("[hr]", "[hr]\ndelimiter = \"ab\""));
    assert!(shown.contains("hr.delimiter"), "{shown}");
    let shown = error(&BASE.replace(
        "url = \"http://127.0.0.1:4010\"",
        "url = \"127.0.0.1:4010\"",
    ));
    assert!(shown.contains("coupa.url"), "{shown}");
}

#[test]
fn a_toml_syntax_error_gives_the_line() {
    let shown = error("[coupa]\nurl = \"http://x\n");
    assert!(shown.contains("line 2"), "{shown}");
}

#[test]
fn an_unreadable_file_is_named() {
    let e = Config::load(Path::new("/nonexistent/dir/sync.toml")).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }));
    assert!(e.to_string().contains("/nonexistent/dir/sync.toml"));
}

#[test]
fn integration_reporting_needs_its_scopes_and_has_defaults() {
    let with_scopes = BASE.replace(
        "client_secret_env = \"COUPA_CLIENT_SECRET\"",
        "client_secret_env = \"COUPA_CLIENT_SECRET\"\nscopes = [\"core.user.read\", \"core.user.write\", \"core.integration.read\", \"core.integration.write\"]",
    );
    let config = parse(&format!(
        "{with_scopes}\n[integration]\ncode = \"HR_USERS\"\n"
    ))
    .unwrap();
    let integration = config.integration.unwrap();
    assert_eq!(integration.code, "HR_USERS");
    assert!(integration.create);
    assert_eq!(integration.history, engine::config::History::Errors);
    assert_eq!(integration.max_alerts, 50);

    let shown = error(&format!("{BASE}\n[integration]\ncode = \"HR_USERS\"\n"));
    assert!(shown.contains("coupa.scopes"), "{shown}");
    assert!(
        shown.contains("\"core.integration.read\" and \"core.integration.write\""),
        "{shown}"
    );

    let shown = error(&format!("{with_scopes}\n[integration]\ncode = \"  \"\n"));
    assert!(shown.contains("integration.code"), "{shown}");
    let shown = error(&format!(
        "{with_scopes}\n[integration]\ncode = \"HR_USERS\"\nhistory = \"some\"\n"
    ));
    assert!(shown.contains("history"), "{shown}");
}

const DATABASE_URL: &str = "postgres://coupa_sync:db-pa55word@db.internal:5433/coupa_sync";

/// `text` with `COUPA_SYNC_DATABASE_URL` set to `url`.
fn parse_with_database_url(text: &str, url: &str) -> Result<Config, ConfigError> {
    Config::parse(
        text,
        Path::new("/etc/coupa-sync/sync.toml"),
        &|name| match name {
            "COUPA_SYNC_DATABASE_URL" => Some(url.to_owned()),
            other => env(other),
        },
    )
}

#[test]
fn a_postgres_store_is_read_from_its_variable_and_its_password_is_never_shown() {
    let text = format!("{BASE}\n[store]\nurl_env = \"COUPA_SYNC_DATABASE_URL\"\n");
    let config = parse_with_database_url(&text, DATABASE_URL).unwrap();
    match config.store.backend() {
        StoreBackend::Postgres(url) => assert_eq!(url.expose_secret(), DATABASE_URL),
        StoreBackend::Sqlite(path) => panic!("expected PostgreSQL, got the file {path:?}"),
    }
    assert_eq!(config.store.path, None);
    assert_eq!(
        config.store.describe(),
        "PostgreSQL postgres://coupa_sync@db.internal:5433/coupa_sync"
    );
    let debug = format!("{config:?}");
    assert!(!debug.contains("db-pa55word"), "{debug}");
    assert!(debug.contains("COUPA_SYNC_DATABASE_URL"), "{debug}");

    // Inline (discouraged) works the same and is not shown either.
    let inline = format!("{BASE}\n[store]\nurl = \"{DATABASE_URL}\"\n");
    let config = parse(&inline).unwrap();
    assert!(matches!(config.store.backend(), StoreBackend::Postgres(_)));
    assert!(!format!("{config:?}").contains("db-pa55word"));
}

#[test]
fn the_store_is_a_file_or_a_database_not_both_and_a_bad_url_is_not_shown() {
    let both =
        format!("{BASE}\n[store]\npath = \"runs.db\"\nurl_env = \"COUPA_SYNC_DATABASE_URL\"\n");
    let shown = parse_with_database_url(&both, DATABASE_URL)
        .unwrap_err()
        .to_string();
    assert!(shown.contains("store.url_env"), "{shown}");
    assert!(shown.contains("not both"), "{shown}");

    let from_env = format!("{BASE}\n[store]\nurl_env = \"COUPA_SYNC_DATABASE_URL\"\n");
    for bad in [
        "mysql://coupa_sync:db-pa55word@db.internal/coupa_sync",
        "postgres://coupa_sync:db-pa55word@db.internal:notaport/coupa_sync",
    ] {
        let shown = parse_with_database_url(&from_env, bad)
            .unwrap_err()
            .to_string();
        assert!(shown.contains("store.url_env"), "{shown}");
        assert!(shown.contains("COUPA_SYNC_DATABASE_URL"), "{shown}");
        assert!(shown.contains("not a PostgreSQL URL"), "{shown}");
        assert!(!shown.contains("db-pa55word"), "{shown}");
    }

    let unset = error(&format!(
        "{BASE}\n[store]\nurl_env = \"NO_SUCH_DATABASE_URL\"\n"
    ));
    assert!(unset.contains("store.url_env"), "{unset}");
    assert!(unset.contains("NO_SUCH_DATABASE_URL"), "{unset}");

    let inline = error(&format!(
        "{BASE}\n[store]\nurl = \"postgres://u:inline-pa55@h:99999/db\"\n"
    ));
    assert!(inline.contains("store.url:"), "{inline}");
    assert!(!inline.contains("inline-pa55"), "{inline}");
}
