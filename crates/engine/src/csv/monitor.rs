//! Waiting for Coupa's loads: Coupa picks files up every 3 to 6 minutes and records each load in
//! `/api/data_file_sources`. The monitor asks, file by file and by our file names only (a file
//! someone else dropped is never taken for ours), until every load has finished or the time is up.

use coupa_client::{DataFileSource, DataFileSources};
use coupa_wire::{Op, Query};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// How long to wait, and how often to ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patience {
    pub timeout: Duration,
    pub poll: Duration,
}

/// What the wait found.
#[derive(Debug, Default)]
pub struct Loads {
    /// Files whose load finished, with Coupa's record of it.
    pub finished: BTreeMap<String, DataFileSource>,
    /// Files whose load did not finish in time, with the last status seen (if any).
    pub waiting: BTreeMap<String, Option<String>>,
    /// The last failure to ask Coupa, if asking failed on the last round (a refusal, such as a
    /// token without the scope, ends the wait at once).
    pub last_error: Option<String>,
}

/// The query for one file's loads: users loads whose name ends with ours (Coupa keeps files from
/// SFTP under a name prefixed with their folder, `_Incoming_Users_<name>`).
pub fn query_for(name: &str) -> Query {
    Query::new()
        .eq("source_for", "User")
        .filter_by("file_file_name", Op::EndsWith, name)
}

/// The newest finished load of `name` (dropped into `folder`) among `found`; a load still running
/// is not an answer yet, and its status is the error.
pub fn finished_load(
    found: Vec<DataFileSource>,
    folder: &str,
    name: &str,
) -> Result<DataFileSource, Option<String>> {
    let ours: Vec<DataFileSource> = found
        .into_iter()
        .filter(|s| s.is_load_of(folder, name))
        .collect();
    let status = ours
        .iter()
        .max_by_key(|s| s.id)
        .and_then(|s| s.status.clone());
    ours.into_iter()
        .filter(|s| s.load_status().is_finished())
        .max_by_key(|s| s.id)
        .ok_or(status)
}

/// Asks about every file in `names` (dropped into `folder`) now, then every `patience.poll`, until
/// each load has finished or `patience.timeout` has passed.
pub async fn wait(
    sources: &DataFileSources,
    folder: &str,
    names: &[String],
    patience: Patience,
) -> Loads {
    let deadline = Instant::now() + patience.timeout;
    let mut loads = Loads {
        waiting: names.iter().map(|n| (n.clone(), None)).collect(),
        ..Loads::default()
    };
    loop {
        loads.last_error = None;
        let asking: Vec<String> = loads.waiting.keys().cloned().collect();
        for name in asking {
            match sources.query(query_for(&name)).await {
                Ok(found) => match finished_load(found, folder, &name) {
                    Ok(load) => {
                        loads.waiting.remove(&name);
                        loads.finished.insert(name, load);
                    }
                    Err(status) => {
                        loads.waiting.insert(name, status);
                    }
                },
                Err(e) => {
                    tracing::warn!(file = %name, error = %e, "asking Coupa about a load failed");
                    loads.last_error = Some(e.to_string());
                    // Refused (a missing scope, a wrong URL): asking again will not help.
                    if e.status()
                        .is_some_and(|s| s.is_client_error() && s.as_u16() != 429)
                    {
                        return loads;
                    }
                }
            }
        }
        if loads.waiting.is_empty() || Instant::now() >= deadline {
            return loads;
        }
        tokio::time::sleep(patience.poll.min(deadline - Instant::now())).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(id: i64, name: &str, status: &str) -> DataFileSource {
        DataFileSource {
            id: Some(id),
            file_file_name: Some(name.into()),
            status: Some(status.into()),
            ..DataFileSource::default()
        }
    }

    #[test]
    fn asks_by_the_documented_filters() {
        assert_eq!(
            query_for("users_20261128T120000Z_0001.csv").to_query_string(),
            "source_for=User&file_file_name[ends_with]=users_20261128T120000Z_0001.csv"
        );
    }

    #[test]
    fn only_our_finished_loads_answer() {
        let (folder, ours) = ("/Incoming/Users", "users_1.csv");
        let found = vec![
            load(1, "other_users_1.csv", "done"),
            load(2, "_Incoming_Users_users_1.csv", "loading"),
        ];
        assert_eq!(
            finished_load(found, folder, ours).unwrap_err().as_deref(),
            Some("loading")
        );
        let found = vec![
            load(3, "_Incoming_Users_users_1.csv", "failed"),
            load(4, "_Incoming_Users_users_1.csv", "Done"),
            load(5, "xusers_1.csv", "done"),
        ];
        assert_eq!(finished_load(found, folder, ours).unwrap().id, Some(4));
        assert_eq!(finished_load(Vec::new(), folder, ours).unwrap_err(), None);
    }
}
