//! `[integration]`: reporting each run into Coupa's Integrations APIs (reference §7), so Coupa
//! shows the runs on the integration's page and alerts its contacts about the people who failed.

use serde::Deserialize;

/// `[integration]`. Without this section, runs are not reported into Coupa.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationConfig {
    /// The integration's code in Coupa, e.g. `HR_USERS`.
    pub code: String,
    /// Its name, used when coupa-sync creates it.
    #[serde(default = "default_name")]
    pub name: String,
    /// The HR system, as Coupa's `end-system` shows it.
    #[serde(default = "default_end_system")]
    pub end_system: String,
    /// Create the integration when Coupa has none with this code (default true).
    #[serde(default = "yes")]
    pub create: bool,
    /// Which people get a record in the run: `errors` (an integration error each, the default)
    /// or `all` (also a history record for every person changed, one more call each).
    #[serde(default)]
    pub history: History,
    /// At most this many integration errors per run go through `create_alert` (an e-mail from Coupa
    /// to the integration's contacts each); the rest are recorded without an alert (default 50).
    #[serde(default = "default_max_alerts")]
    pub max_alerts: usize,
}

/// Which people get a record in the integration run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum History {
    #[default]
    Errors,
    All,
}

/// The scopes the Integrations APIs need.
pub const INTEGRATION_SCOPES: [&str; 2] = ["core.integration.read", "core.integration.write"];

fn default_name() -> String {
    "coupa-sync: users from HR".into()
}
fn default_end_system() -> String {
    "HR".into()
}
fn default_max_alerts() -> usize {
    50
}
fn yes() -> bool {
    true
}

impl IntegrationConfig {
    /// Checks the section; `oauth_scopes` is `[coupa].scopes` when the connector uses OAuth2.
    pub(super) fn validate(&self, oauth_scopes: Option<&[String]>) -> Result<(), (String, String)> {
        let code = self.code.trim();
        if code.is_empty() || code.len() > 255 || code.chars().any(char::is_control) {
            return Err((
                "integration.code".into(),
                format!("{:?} is not an integration code", self.code),
            ));
        }
        if self.name.trim().is_empty() {
            return Err(("integration.name".into(), "must not be empty".into()));
        }
        if self.end_system.trim().is_empty() {
            return Err(("integration.end_system".into(), "must not be empty".into()));
        }
        if let Some(scopes) = oauth_scopes {
            let missing: Vec<&str> = INTEGRATION_SCOPES
                .into_iter()
                .filter(|s| !scopes.iter().any(|have| have == s))
                .collect();
            if !missing.is_empty() {
                return Err((
                    "coupa.scopes".into(),
                    format!(
                        "[integration] reports runs through Coupa's Integrations APIs: add {} to the scopes (and grant them to the OAuth2 client in Coupa)",
                        missing
                            .iter()
                            .map(|s| format!("{s:?}"))
                            .collect::<Vec<_>>()
                            .join(" and ")
                    ),
                ));
            }
        }
        Ok(())
    }
}
