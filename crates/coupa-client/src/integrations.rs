//! The Integrations APIs (reference §7): how a connector reports its own runs into Coupa, so that
//! Coupa shows each run on the integration's page and alerts the integration's contacts about the
//! records that failed.

use crate::client::{Client, Outgoing};
use crate::decode;
use crate::error::Result;
use crate::page::{self, INTEGRATIONS};
use bytes::Bytes;
use coupa_wire::{
    Integration, IntegrationContact, IntegrationRecord, IntegrationRef, IntegrationRun, Query,
    RunState,
};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Which per-record log a record goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordLog {
    /// `/api/integration_history_records`: what happened to a record, success or not.
    History,
    /// `/api/integration_errors`: a record that failed, tied to its run.
    Errors,
}

impl RecordLog {
    fn path(self) -> &'static str {
        match self {
            RecordLog::History => "/api/integration_history_records",
            RecordLog::Errors => "/api/integration_errors",
        }
    }

    fn root(self) -> &'static str {
        match self {
            RecordLog::History => "integration-history-record",
            RecordLog::Errors => "integration-error",
        }
    }
}

/// `/api/integrations`, `/api/integration_runs` and the per-record logs. Get it with
/// [`Client::integrations`].
#[derive(Debug, Clone)]
pub struct Integrations {
    client: Client,
}

impl Integrations {
    pub(crate) fn new(client: Client) -> Integrations {
        Integrations { client }
    }

    /// The integration with this code, if Coupa has one.
    pub async fn find(&self, code: &str) -> Result<Option<Integration>> {
        let query = Query::new().eq("code", code);
        let found: Vec<Integration> = page::fetch(&self.client, INTEGRATIONS, &query).await?;
        let wanted = code.trim();
        Ok(found.into_iter().find(|i| {
            i.code
                .as_deref()
                .is_some_and(|c| c.trim().eq_ignore_ascii_case(wanted))
        }))
    }

    /// `POST /api/integrations`: registers the connector.
    pub async fn create(&self, integration: &Integration) -> Result<Integration> {
        self.send(
            Method::POST,
            "/api/integrations".into(),
            "integration",
            Some(integration),
        )
        .await
    }

    /// `POST /api/integration_contacts`: someone Coupa alerts about the integration's records.
    pub async fn add_contact(&self, contact: &IntegrationContact) -> Result<IntegrationContact> {
        self.send(
            Method::POST,
            "/api/integration_contacts".into(),
            "integration-contact",
            Some(contact),
        )
        .await
    }

    /// `POST /api/integration_runs`: a new run of the integration `code`, in state `pending`.
    pub async fn start_run(&self, code: &str) -> Result<IntegrationRun> {
        let run = IntegrationRun {
            integration: Some(IntegrationRef::code(code)),
            ..IntegrationRun::default()
        };
        self.send(
            Method::POST,
            "/api/integration_runs".into(),
            "integration-run",
            Some(&run),
        )
        .await
    }

    /// `PUT /api/integration_runs/{id}/<action>`: moves run `id` to `state` (`run`, `success`,
    /// `fail`…), with the body given (the `run` action takes `total-records`).
    pub async fn move_run(
        &self,
        id: i64,
        state: RunState,
        body: Option<&IntegrationRun>,
    ) -> Result<IntegrationRun> {
        let path = format!("/api/integration_runs/{id}/{}", state.action());
        self.send(Method::PUT, path, "integration-run", body).await
    }

    /// `GET /api/integration_runs/{id}`.
    pub async fn run(&self, id: i64) -> Result<IntegrationRun> {
        let out = Outgoing::new(Method::GET, format!("/api/integration_runs/{id}"));
        let answer = self.client.send(&out).await?;
        decode::one(&answer, self.client.format(), "integration-run")
    }

    /// `POST` a record to `log`; with `alert`, through `/create_alert`, so Coupa alerts the
    /// integration's contacts.
    pub async fn record(
        &self,
        log: RecordLog,
        record: &IntegrationRecord,
        alert: bool,
    ) -> Result<IntegrationRecord> {
        let path = if alert {
            format!("{}/create_alert", log.path())
        } else {
            log.path().to_string()
        };
        self.send(Method::POST, path, log.root(), Some(record))
            .await
    }

    async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: String,
        root: &str,
        body: Option<&B>,
    ) -> Result<T> {
        let format = self.client.format();
        let out = Outgoing {
            method,
            path,
            body: body.map(|b| Bytes::from(coupa_wire::encode(format, root, b))),
            logged_body: None,
        };
        let answer = self.client.send(&out).await?;
        decode::one(&answer, format, root)
    }
}
