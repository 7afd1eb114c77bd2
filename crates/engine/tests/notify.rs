//! Notifications end to end: a run's digest goes to a real SMTP server (the sandbox's mailbox) and to
//! a webhook, routed by kind, one message per recipient group, nothing when the run went well.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use chrono::{TimeZone, Utc};
use coupa_sandbox::{Running, Sandbox, SandboxConfig};
use engine::config::{NotifyConfig, SmtpConfig};
use engine::notify::{self, Channel, Digest, NotifyError, Problem, ProblemKind};
use engine::store::{
    ChangeRecord, FieldVerdict, Outcome, RunCounts, RunMode, RunRecord, RunStatus, Verdict,
};
use secrecy::SecretString;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn run(status: RunStatus) -> RunRecord {
    RunRecord {
        id: 42,
        started_at: Utc.with_ymd_and_hms(2026, 3, 1, 6, 0, 0).unwrap(),
        finished_at: Some(Utc.with_ymd_and_hms(2026, 3, 1, 6, 2, 0).unwrap()),
        mode: RunMode::Api,
        dry_run: false,
        status,
        counts: RunCounts {
            people: 5,
            updated: 2,
            unchanged: 0,
            failed: 3,
            ..RunCounts::default()
        },
        note: None,
        coupa_run_id: None,
    }
}

fn person(hr_key: &str, login: &str, outcome: Outcome) -> ChangeRecord {
    ChangeRecord {
        run_id: 42,
        hr_key: hr_key.into(),
        login: Some(login.into()),
        coupa_id: Some(12),
        action: "update".into(),
        outcome,
        fields: vec![],
        errors: vec![],
        technical_error: None,
    }
}

fn sent(field: &str, value: &str, verdict: Verdict) -> FieldVerdict {
    FieldVerdict {
        field: field.into(),
        old: Some("old".into()),
        new: Some(value.into()),
        verdict,
        kept: None,
        message: None,
    }
}

/// Two data problems (a refused field, an ignored one), a plan refusal, a technical failure, and one
/// person without problems.
fn changes() -> Vec<ChangeRecord> {
    let mut refused = person("E1001", "jdoe", Outcome::Failed);
    refused.fields = vec![
        sent("lastname", "Doe", Verdict::Applied),
        sent("email", "jd@x.test", Verdict::Failed),
    ];
    refused.errors = vec!["Email has already been taken".into()];
    let mut ignored = person("E1002", "asmith", Outcome::Applied);
    ignored.fields = vec![FieldVerdict {
        kept: Some("Sales".into()),
        ..sent("department", "R&D <EMEA>", Verdict::Ignored)
    }];
    let mut ambiguous = person("E1005", "ckent", Outcome::Skipped);
    ambiguous.action = "error".into();
    ambiguous.coupa_id = None;
    ambiguous.errors =
        vec!["2 Coupa users have login \"ckent\" (ids 5, 6); fix the duplicate in Coupa".into()];
    let mut timed_out = person("E1003", "bwayne", Outcome::Failed);
    timed_out.fields = vec![sent("active", "false", Verdict::Pending)];
    timed_out.technical_error = Some("PUT /api/users/12: timed out after 4 attempts".into());
    let mut fine = person("E1004", "dprince", Outcome::Applied);
    fine.fields = vec![sent("firstname", "Diana", Verdict::Applied)];
    vec![refused, ignored, ambiguous, timed_out, fine]
}

async fn mailbox() -> Running {
    let config = SandboxConfig {
        smtp: Some("127.0.0.1:0".into()),
        ..SandboxConfig::default()
    };
    Sandbox::new(config)
        .await
        .unwrap()
        .spawn("127.0.0.1:0")
        .await
        .unwrap()
}

fn config(
    smtp_port: u16,
    data: &[&str],
    technical: &[&str],
    webhook: Option<String>,
) -> NotifyConfig {
    NotifyConfig {
        smtp: Some(SmtpConfig {
            host: "127.0.0.1".into(),
            port: smtp_port,
            from: "coupa-sync@example.test".into(),
            username: None,
            password: None,
            password_env: None,
            starttls: false,
        }),
        data_errors_to: data.iter().map(|s| s.to_string()).collect(),
        technical_errors_to: technical.iter().map(|s| s.to_string()).collect(),
        webhook_url: webhook.map(SecretString::from),
        webhook_url_env: None,
    }
}

async fn messages(sandbox: &Running, to: Option<&str>) -> Vec<Value> {
    let url = match to {
        Some(to) => format!("{}/mailbox/messages?to={to}", sandbox.url()),
        None => format!("{}/mailbox/messages", sandbox.url()),
    };
    let body = reqwest::get(url).await.unwrap().text().await.unwrap();
    serde_json::from_str::<Vec<Value>>(&body).unwrap()
}

fn assert_all_delivered(deliveries: &[notify::Delivery]) {
    for d in deliveries {
        assert!(d.result.is_ok(), "{:?}: {:?}", d.channel, d.result);
    }
}

#[tokio::test]
async fn data_and_technical_problems_reach_their_own_recipients() {
    let sandbox = mailbox().await;
    let port = sandbox.smtp_addr.unwrap().port();
    let config = config(
        port,
        &["hr-data@example.test"],
        &["it-ops@example.test", "oncall@example.test"],
        None,
    );
    let digest = Digest::new(&run(RunStatus::Failed), &changes(), vec![]);
    let deliveries = notify::send(&config, &digest).await;
    assert_eq!(deliveries.len(), 2);
    assert_all_delivered(&deliveries);
    assert_eq!(
        messages(&sandbox, None).await.len(),
        2,
        "one message per group"
    );

    let data = messages(&sandbox, Some("hr-data@example.test")).await;
    assert_eq!(data.len(), 1);
    assert_eq!(
        data[0]["subject"],
        "coupa-sync run 42: 3 people with errors"
    );
    assert_eq!(data[0]["from"], "coupa-sync@example.test");
    let body = data[0]["body"].as_str().unwrap();
    for line in [
        "coupa-sync run 42 (API, started 2026-03-01 06:00:00 UTC) failed.",
        "Data errors, to fix in HR or in Coupa (3):",
        "1. HR key E1001, login jdoe: email, sent \"jd@x.test\": Email has already been taken",
        "2. HR key E1002, login asmith: department, sent \"R&D <EMEA>\": Coupa accepted the update but kept \"Sales\"",
        "3. HR key E1005, login ckent: 2 Coupa users have login \"ckent\" (ids 5, 6); fix the duplicate in Coupa",
        "Details: coupa-sync log --run 42 --errors",
    ] {
        assert!(body.contains(line), "missing {line:?} in:\n{body}");
    }
    assert!(!body.contains("timed out"), "{body}");
    assert!(!body.contains("E1004"), "{body}");

    let technical = messages(&sandbox, Some("it-ops@example.test")).await;
    assert_eq!(technical.len(), 1);
    assert_eq!(
        technical[0]["to"],
        serde_json::json!(["it-ops@example.test", "oncall@example.test"])
    );
    assert_eq!(
        technical[0]["subject"],
        "coupa-sync run 42: 1 person with errors"
    );
    let body = technical[0]["body"].as_str().unwrap();
    assert!(
        body.contains(
            "1. HR key E1003, login bwayne: PUT /api/users/12: timed out after 4 attempts"
        ),
        "{body}"
    );
    assert!(!body.contains("Email has already been taken"), "{body}");
    sandbox.stop().await.unwrap();
}

#[tokio::test]
async fn one_list_hears_about_everything_in_one_message() {
    let sandbox = mailbox().await;
    let port = sandbox.smtp_addr.unwrap().port();
    let config = config(port, &[], &["it-ops@example.test"], None);
    let stop = Problem::run_level(
        ProblemKind::Technical,
        "safety stop: this run would deactivate 40 of 100 users",
    );
    let digest = Digest::new(&run(RunStatus::Stopped), &changes(), vec![stop]);
    let deliveries = notify::send(&config, &digest).await;
    assert_eq!(deliveries.len(), 1);
    assert_all_delivered(&deliveries);
    let all = messages(&sandbox, None).await;
    assert_eq!(all.len(), 1);
    assert_eq!(
        all[0]["subject"],
        "coupa-sync run 42: 4 people with errors, run stopped"
    );
    let body = all[0]["body"].as_str().unwrap();
    assert!(
        body.contains("Data errors, to fix in HR or in Coupa (3):"),
        "{body}"
    );
    assert!(
        body.contains("Technical errors, for whoever runs coupa-sync (2):"),
        "{body}"
    );
    assert!(
        body.contains("1. The run: safety stop: this run would deactivate 40 of 100 users"),
        "{body}"
    );
    sandbox.stop().await.unwrap();
}

#[tokio::test]
async fn a_run_without_problems_sends_nothing() {
    let sandbox = mailbox().await;
    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&hook)
        .await;
    let port = sandbox.smtp_addr.unwrap().port();
    let config = config(
        port,
        &["a@example.test"],
        &["b@example.test"],
        Some(hook.uri()),
    );
    let fine: Vec<ChangeRecord> = changes()
        .into_iter()
        .filter(|c| c.hr_key == "E1004")
        .collect();
    let digest = Digest::new(&run(RunStatus::Succeeded), &fine, vec![]);
    assert!(digest.is_empty());
    assert!(notify::send(&config, &digest).await.is_empty());
    assert!(messages(&sandbox, None).await.is_empty());
    hook.verify().await;
    sandbox.stop().await.unwrap();
}

#[tokio::test]
async fn the_webhook_gets_one_json_text_message() {
    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/T000/B000/token"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(1)
        .mount(&hook)
        .await;
    let mut config = config(
        1,
        &[],
        &[],
        Some(format!("{}/services/T000/B000/token", hook.uri())),
    );
    config.smtp = None;
    let digest = Digest::new(&run(RunStatus::Failed), &changes(), vec![]);
    let deliveries = notify::send(&config, &digest).await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].channel, Channel::Webhook);
    assert_all_delivered(&deliveries);

    let requests = hook.received_requests().await.unwrap();
    let request = &requests[0];
    assert_eq!(
        request.headers.get("content-type").unwrap(),
        "application/json"
    );
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    let object = body.as_object().unwrap();
    assert_eq!(
        object.len(),
        1,
        "only \"text\", as Slack and Teams expect: {body}"
    );
    let text = object["text"].as_str().unwrap();
    assert!(
        text.starts_with("*coupa-sync run 42: 4 people with errors*\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "• HR key E1001, login jdoe: email, sent \"jd@x.test\": Email has already been taken"
        ),
        "{text}"
    );
    // Slack's three markup characters are escaped.
    assert!(text.contains("sent \"R&amp;D &lt;EMEA&gt;\""), "{text}");
    assert!(
        text.contains("• HR key E1003, login bwayne: PUT /api/users/12"),
        "{text}"
    );
}

#[tokio::test]
async fn many_problems_are_all_in_the_mail_and_counted_in_the_webhook() {
    let sandbox = mailbox().await;
    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hook)
        .await;
    let port = sandbox.smtp_addr.unwrap().port();
    let config = config(port, &["hr@example.test"], &[], Some(hook.uri()));
    let failed: Vec<ChangeRecord> = (0..100)
        .map(|i| {
            let mut c = person(&format!("E{i:04}"), &format!("user{i}"), Outcome::Failed);
            c.fields = vec![FieldVerdict {
                message: Some("Email is invalid".into()),
                ..sent("email", &format!("user{i}@"), Verdict::Failed)
            }];
            c
        })
        .collect();
    let digest = Digest::new(&run(RunStatus::Failed), &failed, vec![]);
    assert_all_delivered(&notify::send(&config, &digest).await);

    let mail = messages(&sandbox, None).await;
    let body = mail[0]["body"].as_str().unwrap();
    assert_eq!(
        mail[0]["subject"],
        "coupa-sync run 42: 100 people with errors"
    );
    for i in 0..100 {
        let line =
            format!("HR key E{i:04}, login user{i}: email, sent \"user{i}@\": Email is invalid");
        assert!(body.contains(&line), "missing {line}");
    }
    let requests = hook.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    let text = body["text"].as_str().unwrap();
    assert_eq!(text.matches("• HR key").count(), 20);
    assert!(text.contains("… and 80 more."), "{text}");
    sandbox.stop().await.unwrap();
}

#[tokio::test]
async fn failures_to_notify_are_reported_each_and_the_webhook_url_stays_secret() {
    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
        .mount(&hook)
        .await;
    // A port nobody listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let secret_path = "/hooks/SECRET-TOKEN-123";
    let config = config(
        closed,
        &["hr@example.test"],
        &["ops@example.test"],
        Some(format!("{}{secret_path}", hook.uri())),
    );
    let digest = Digest::new(&run(RunStatus::Failed), &changes(), vec![]);
    let deliveries = notify::send(&config, &digest).await;
    assert_eq!(
        deliveries.len(),
        3,
        "both e-mails and the webhook were tried"
    );
    for d in &deliveries[..2] {
        assert!(
            matches!(d.result, Err(NotifyError::Smtp { .. })),
            "{:?}",
            d.result
        );
    }
    let webhook = deliveries[2].result.as_ref().unwrap_err().to_string();
    assert!(
        webhook.contains("500") && webhook.contains("boom"),
        "{webhook}"
    );
    assert!(!webhook.contains("SECRET-TOKEN"), "{webhook}");

    // No server at all: the error says so, still without the URL.
    let config = NotifyConfig {
        webhook_url: Some(SecretString::from(format!(
            "http://127.0.0.1:{closed}{secret_path}"
        ))),
        ..config
    };
    let deliveries = notify::send(&config, &digest).await;
    let webhook = deliveries[2].result.as_ref().unwrap_err().to_string();
    assert!(
        webhook.starts_with("notify: webhook not delivered:"),
        "{webhook}"
    );
    assert!(!webhook.contains("SECRET-TOKEN"), "{webhook}");
}
