//! `coupa-sync check`: is everything in place for a run? Validates the configuration, reads the HR
//! extract's header, obtains a token and checks the read scope with one harmless GET
//! (`/api/users?limit=1`), and with `[integration]` looks the integration up in Coupa. Nothing is
//! written, to Coupa or to the store. Exit code 0 when every check
//! passed, 1 when one failed, 2 when the configuration itself is wrong.

use crate::Failure;
use crate::common::{ConfigArg, runtime};
use anyhow::anyhow;
use coupa_client::{ErrorKind, Query};
use engine::config::{Config, CoupaAuth, StoreBackend};
use engine::mapping::Mapping;
use futures::StreamExt;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArg,
}

/// One line of the report.
struct Line {
    ok: bool,
    what: &'static str,
    detail: String,
}

pub async fn run(args: Args) -> Result<(), Failure> {
    let config = args.config.load()?;
    let mut lines = vec![Line {
        ok: true,
        what: "configuration",
        detail: format!("{} is valid", config.file.display()),
    }];
    lines.push(hr_file(&config));
    lines.extend(coupa(&config).await?);
    lines.push(Line {
        ok: true,
        what: "store",
        detail: match config.store.backend() {
            StoreBackend::Sqlite(path) if !path.exists() => {
                format!("{} (created by the first run)", config.store.describe())
            }
            _ => config.store.describe(),
        },
    });
    let n = &config.notify;
    lines.push(Line {
        ok: true,
        what: "notify",
        detail: match (
            n.data_errors_to.is_empty(),
            n.technical_errors_to.is_empty(),
            n.webhook_url.is_some(),
        ) {
            (true, true, false) => "nobody is notified of problems ([notify] is empty)".into(),
            _ => format!(
                "data errors to [{}], technical errors to [{}]{}",
                n.data_errors_to.join(", "),
                n.technical_errors_to.join(", "),
                if n.webhook_url.is_some() {
                    ", and the webhook"
                } else {
                    ""
                }
            ),
        },
    });
    for line in &lines {
        println!(
            "{:<4}  {:<13}  {}",
            if line.ok { "ok" } else { "FAIL" },
            line.what,
            line.detail
        );
    }
    let failed = lines.iter().filter(|l| !l.ok).count();
    if failed == 0 {
        Ok(())
    } else {
        Err(Failure::Runtime(anyhow!("{failed} check(s) failed")))
    }
}

fn hr_file(config: &Config) -> Line {
    let columns = Mapping::new(config).columns();
    let count = columns.len();
    match engine::hr::open(&config.hr, columns) {
        Ok(_) => Line {
            ok: true,
            what: "HR extract",
            detail: format!(
                "{} has the {count} columns the mapping reads",
                config.hr.path.display()
            ),
        },
        Err(e) => Line {
            ok: false,
            what: "HR extract",
            detail: e.to_string(),
        },
    }
}

/// The token and the read scope, from one `GET /api/users?limit=1`.
async fn coupa(config: &Config) -> Result<Vec<Line>, Failure> {
    let file = config.file.display().to_string();
    let client = engine::run::client(&config.coupa, &file, None).map_err(runtime)?;
    let (who, scopes) = match config.coupa.auth() {
        Some(CoupaAuth::OAuth {
            client_id, scopes, ..
        }) => (format!("OAuth2 client {client_id}"), scopes.join(" ")),
        _ => ("the API key".to_string(), String::new()),
    };
    let pages = client.users().pages(Query::new().limit(1));
    let first = std::pin::pin!(pages).next().await.transpose();
    let url = &config.coupa.url;
    let lines = match first {
        Ok(_) => {
            let mut lines = vec![
                Line {
                    ok: true,
                    what: "credentials",
                    detail: if scopes.is_empty() {
                        format!("{url} accepts {who}")
                    } else {
                        format!("{url} issued a token to {who} for: {scopes}")
                    },
                },
                Line {
                    ok: true,
                    what: "read scope",
                    detail: "GET /api/users?limit=1 answered".into(),
                },
            ];
            if !scopes.is_empty() && !scopes.split(' ').any(|s| s == "core.user.write") {
                lines.push(Line {
                    ok: false,
                    what: "write scope",
                    detail: "[coupa].scopes lacks core.user.write, which sync needs".into(),
                });
            }
            if let Some(integration) = &config.integration {
                lines.push(integration_line(&client, integration).await);
            }
            lines
        }
        Err(e) => {
            let (what, detail) = match (e.kind(), e.status().map(|s| s.as_u16())) {
                (ErrorKind::Token { error, description }, _) => (
                    "credentials",
                    format!("{url} refused a token to {who}: {error} {description}"),
                ),
                (ErrorKind::Transport { .. }, _) => ("connection", format!("{url}: {e}")),
                (_, Some(401)) => ("credentials", format!("{url} rejected {who}: {e}")),
                (_, Some(403)) => ("read scope", format!("{who} may not read users: {e}")),
                _ => ("coupa", e.to_string()),
            };
            vec![Line {
                ok: false,
                what,
                detail,
            }]
        }
    };
    Ok(lines)
}

/// Whether runs can be reported: the integration is in Coupa, or the first run may register it.
async fn integration_line(
    client: &coupa_client::Client,
    integration: &engine::config::IntegrationConfig,
) -> Line {
    let code = integration.code.trim();
    let (ok, detail) = match client.integrations().find(code).await {
        Ok(Some(found)) => (
            true,
            format!(
                "Coupa has integration {code} (id {}); runs are reported in it",
                found.id.unwrap_or_default()
            ),
        ),
        Ok(None) if integration.create => (
            true,
            format!("Coupa has no integration {code} yet; the first run registers it"),
        ),
        Ok(None) => (
            false,
            format!(
                "Coupa has no integration {code} and [integration].create is false: create it in Coupa or set create = true"
            ),
        ),
        Err(e) if e.status().map(|s| s.as_u16()) == Some(403) => (
            false,
            format!("the client may not read Coupa's integrations (core.integration.read): {e}"),
        ),
        Err(e) => (false, format!("looking integration {code} up failed: {e}")),
    };
    Line {
        ok,
        what: "integration",
        detail,
    }
}
