//! Reporting each run into Coupa's Integrations APIs (reference §7), when `[integration]` is set:
//! the run opens an integration run (`pending`), moves it to `running` with the number of people
//! once the plan is known, records one integration error per person with a problem (and per problem
//! of the run as a whole) through `create_alert`, so Coupa alerts the integration's contacts, and
//! ends it `successful` or `failed`. With `history = "all"`, every person changed also gets a
//! history record. Reporting never changes a run's outcome: its own failures are technical problems
//! in the run's digest.

use crate::config::{History, IntegrationConfig};
use crate::notify::{Digest, Problem, ProblemKind};
use crate::store::{ChangeRecord, Outcome, RunMode};
use coupa_client::{Client, Integrations, RecordLog};
use coupa_wire::{
    AlertType, Integration, IntegrationRecord, IntegrationRef, IntegrationResponse, IntegrationRun,
    RunRef, RunState,
};
use std::collections::{BTreeMap, HashMap};

/// What was reported into Coupa for one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    pub code: String,
    /// The integration run's id in Coupa.
    pub run_id: i64,
    /// `Successful` or `Failed`; `Running` or `Pending` when the last state action failed.
    pub state: RunState,
    /// Integration errors recorded, of which `alerts` through `create_alert`.
    pub errors: usize,
    pub alerts: usize,
    /// History records of people changed (`history = "all"`).
    pub history: usize,
}

/// An open integration run.
#[derive(Debug)]
pub struct Reporter {
    integrations: Integrations,
    config: IntegrationConfig,
    run_id: i64,
    state: RunState,
}

fn problem(message: String) -> Problem {
    Problem::run_level(ProblemKind::Technical, message)
}

impl Reporter {
    /// Finds the integration (creating it when allowed) and opens a pending run of it.
    pub async fn open(
        client: &Client,
        config: &IntegrationConfig,
        via: RunMode,
    ) -> Result<Reporter, Problem> {
        let integrations = client.integrations();
        let code = config.code.trim();
        let found = integrations.find(code).await.map_err(|e| {
            problem(format!(
                "could not look up integration {code:?} in Coupa to report this run: {e}"
            ))
        })?;
        if found.is_none() {
            if !config.create {
                return Err(problem(format!(
                    "Coupa has no integration with code {code:?}, and [integration].create is false: create it in Coupa (Setup > Integrations) or set create = true; this run is not reported"
                )));
            }
            integrations
                .create(&integration(config, via))
                .await
                .map_err(|e| {
                    problem(format!(
                        "could not create integration {code:?} in Coupa to report this run: {e}"
                    ))
                })?;
        }
        let run = integrations.start_run(code).await.map_err(|e| {
            problem(format!(
                "could not start a run of integration {code:?} in Coupa: {e}"
            ))
        })?;
        let run_id = run.id.ok_or_else(|| {
            problem(format!(
                "Coupa answered the new run of integration {code:?} without an id"
            ))
        })?;
        Ok(Reporter {
            integrations,
            config: config.clone(),
            run_id,
            state: RunState::Pending,
        })
    }

    /// The integration run's id in Coupa.
    pub fn run_id(&self) -> i64 {
        self.run_id
    }

    /// The plan is known: the run is `running`, with this many people to handle.
    pub async fn running(&mut self, total: usize) -> Result<(), Problem> {
        let body = IntegrationRun {
            total_records: Some(i64::try_from(total).unwrap_or(i64::MAX)),
            ..IntegrationRun::default()
        };
        self.integrations
            .move_run(self.run_id, RunState::Running, Some(&body))
            .await
            .map_err(|e| self.failed_action(RunState::Running, &e))?;
        self.state = RunState::Running;
        Ok(())
    }

    fn failed_action(&self, state: RunState, e: &coupa_client::Error) -> Problem {
        problem(format!(
            "could not mark integration run {} of {:?} {} in Coupa: {e}",
            self.run_id,
            self.config.code.trim(),
            state.as_str()
        ))
    }

    /// Records the run's problems (and, with `history = "all"`, its people changed) in the
    /// integration run, then ends it. `succeeded` is the run's own verdict; a run that recorded
    /// integration errors ends `failed`, as Coupa marks a run successful only without errors.
    pub async fn finish(
        mut self,
        digest: &Digest,
        changes: &[ChangeRecord],
        succeeded: bool,
    ) -> (Reported, Vec<Problem>) {
        let mut problems = Vec::new();
        let coupa_ids: HashMap<&str, i64> = changes
            .iter()
            .filter_map(|c| Some((c.hr_key.as_str(), c.coupa_id?)))
            .collect();
        let mut reported = Reported {
            code: self.config.code.trim().to_string(),
            run_id: self.run_id,
            state: self.state,
            errors: 0,
            alerts: 0,
            history: 0,
        };
        for record in self.error_records(digest, &coupa_ids) {
            let alert = reported.alerts < self.config.max_alerts;
            match self
                .integrations
                .record(RecordLog::Errors, &record, alert)
                .await
            {
                Ok(_) => {
                    reported.errors += 1;
                    reported.alerts += usize::from(alert);
                }
                Err(e) => {
                    let whom = record
                        .external_id
                        .as_deref()
                        .map_or("a problem of the run".to_string(), |k| {
                            format!("HR key {k}")
                        });
                    problems.push(problem(format!(
                        "could not record {whom} as an integration error of run {} in Coupa (the rest were not sent): {e}",
                        self.run_id
                    )));
                    break;
                }
            }
        }
        if self.config.history == History::All && problems.is_empty() {
            for record in self.history_records(changes) {
                if let Err(e) = self
                    .integrations
                    .record(RecordLog::History, &record, false)
                    .await
                {
                    problems.push(problem(format!(
                        "could not record HR key {} as a history record of integration run {} in Coupa (the rest were not sent): {e}",
                        record.external_id.as_deref().unwrap_or_default(),
                        self.run_id
                    )));
                    break;
                }
                reported.history += 1;
            }
        }
        let end = if succeeded && reported.errors == 0 && problems.is_empty() {
            RunState::Successful
        } else {
            RunState::Failed
        };
        match self.integrations.move_run(self.run_id, end, None).await {
            Ok(_) => self.state = end,
            Err(e) => problems.push(self.failed_action(end, &e)),
        }
        reported.state = self.state;
        (reported, problems)
    }

    /// One integration error per person with problems (every problem a response), then one per
    /// problem of the run as a whole.
    fn error_records(
        &self,
        digest: &Digest,
        coupa_ids: &HashMap<&str, i64>,
    ) -> Vec<IntegrationRecord> {
        let mut by_person: BTreeMap<&str, Vec<&Problem>> = BTreeMap::new();
        let mut of_run = Vec::new();
        for p in &digest.problems {
            match &p.hr_key {
                Some(key) => by_person.entry(key).or_default().push(p),
                None => of_run.push(p),
            }
        }
        let run_records = of_run.into_iter().map(|p| self.error(None, None, &[p]));
        let person_records = by_person
            .into_iter()
            .map(|(key, ps)| self.error(Some(key), coupa_ids.get(key).copied(), &ps));
        run_records.chain(person_records).collect()
    }

    fn error(
        &self,
        hr_key: Option<&str>,
        coupa_id: Option<i64>,
        problems: &[&Problem],
    ) -> IntegrationRecord {
        let data = problems.iter().any(|p| p.kind == ProblemKind::Data);
        let technical = problems.iter().any(|p| p.kind == ProblemKind::Technical);
        // Data problems are for the people who own the data (functional contacts), technical
        // ones for whoever runs the connector.
        let alert = match (data, technical) {
            (true, true) => AlertType::Both,
            (true, false) => AlertType::Functional,
            _ => AlertType::Technical,
        };
        IntegrationRecord {
            document_type: hr_key.map(|_| "User".to_string()),
            document_id: coupa_id,
            external_id: hr_key.map(str::to_string),
            status: Some("Error".into()),
            contact_alert_type: Some(alert.as_str().into()),
            integration: Some(IntegrationRef::code(self.config.code.trim())),
            integration_run: Some(RunRef {
                id: Some(self.run_id),
            }),
            responses: Some(problems.iter().map(|p| response(p)).collect()),
            ..IntegrationRecord::default()
        }
    }

    /// A history record for each person whose change landed.
    fn history_records(&self, changes: &[ChangeRecord]) -> Vec<IntegrationRecord> {
        changes
            .iter()
            .filter(|c| c.outcome == Outcome::Applied && !c.has_problem())
            .filter_map(|c| {
                Some(IntegrationRecord {
                    document_type: Some("User".into()),
                    document_id: Some(c.coupa_id?),
                    external_id: Some(c.hr_key.clone()),
                    status: Some("Success".into()),
                    contact_alert_type: Some(AlertType::Functional.as_str().into()),
                    integration: Some(IntegrationRef::code(self.config.code.trim())),
                    integration_run: Some(RunRef {
                        id: Some(self.run_id),
                    }),
                    responses: Some(vec![IntegrationResponse {
                        response_code: Some("OK".into()),
                        response_message: Some(past_tense(&c.action)),
                    }]),
                    ..IntegrationRecord::default()
                })
            })
            .collect()
    }
}

/// The integration coupa-sync registers when Coupa has none with the configured code.
fn integration(config: &IntegrationConfig, via: RunMode) -> Integration {
    Integration {
        name: Some(config.name.trim().to_string()),
        code: Some(config.code.trim().to_string()),
        description: Some(
            "Coupa users kept in step with the HR system by coupa-sync (ERP Integration Adapters, User Integration Scenarios 1.1-1.8)".into(),
        ),
        business_object: Some("User".into()),
        direction: Some("to_coupa".into()),
        end_system: Some(config.end_system.trim().to_string()),
        end_system_type: Some("hr".into()),
        integration_type: Some(
            match via {
                RunMode::Api => "api",
                RunMode::Csv => "flat_file",
            }
            .into(),
        ),
        ..Integration::default()
    }
}

/// One problem as Coupa's response: the field as the code (else the kind of problem), and what
/// was sent and what Coupa said as the message.
fn response(p: &Problem) -> IntegrationResponse {
    let code = match (&p.field, p.kind) {
        (Some(field), _) => field.clone(),
        (None, ProblemKind::Data) => "data".into(),
        (None, ProblemKind::Technical) => "technical".into(),
    };
    let mut message = String::new();
    if let Some(login) = &p.login {
        message.push_str(&format!("login {login}: "));
    }
    if let (Some(field), Some(value)) = (&p.field, &p.value_sent) {
        message.push_str(&format!("{field} sent {value:?}: "));
    }
    message.push_str(&p.coupa_message);
    IntegrationResponse {
        response_code: Some(code),
        response_message: Some(message),
    }
}

/// `update` → `updated`, as the message of a history record.
fn past_tense(action: &str) -> String {
    match action {
        "create" => "created".into(),
        "update" => "updated".into(),
        "reactivate" => "reactivated".into(),
        "deactivate" => "deactivated".into(),
        other => other.to_string(),
    }
}
