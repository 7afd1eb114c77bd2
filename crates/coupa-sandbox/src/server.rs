//! The shared state, the HTTP service built from every part, and serving it on a listener.

use crate::{
    SandboxConfig, SandboxError, access_log, auth, data_sources, export, faults, integrations,
    loader, mailbox, ratelimit, reference, sftp, store, users,
};
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::routing::any;
use coupa_wire::Format;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Everything a request handler can reach. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct AppState(pub(crate) Arc<Shared>);

#[derive(Debug)]
pub(crate) struct Shared {
    pub config: SandboxConfig,
    /// Users and reference data.
    pub coupa: store::Coupa,
    pub tokens: auth::Tokens,
    pub limiter: Option<ratelimit::Limiter>,
    pub faults: faults::Faults,
    pub access_log: Option<access_log::AccessLog>,
    pub mailbox: mailbox::Mailbox,
    /// The SFTP server and its drop folder, when the config asks for SFTP.
    pub sftp: Option<sftp::Sftp>,
    /// The users loader's loads (data file sources).
    pub data_sources: data_sources::DataSources,
    /// Integrations, their contacts, runs, history records and errors.
    pub integrations: integrations::Integrations,
    pub loader: loader::Loader,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The format the caller asked for with `Accept` (XML when absent, as Coupa).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wants(pub Format);

impl<S: Send + Sync> FromRequestParts<S> for Wants {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Wants, Infallible> {
        Ok(Wants(wanted_format(parts)))
    }
}

pub(crate) fn wanted_format(parts: &Parts) -> Format {
    parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .and_then(Format::from_media_type)
        .unwrap_or_default()
}

/// Builds the whole HTTP service: the API behind auth and the rate limit, the token endpoint beside
/// them, faults and the access log around everything.
pub fn app(sandbox: &Sandbox) -> Router {
    let state = sandbox.state.clone();
    let api = Router::new()
        .merge(users::routes())
        .merge(reference::routes())
        .merge(data_sources::routes())
        .merge(integrations::routes())
        // Unknown `/api` paths answer 404 from behind auth and the limiter, like the real routes.
        .route("/api/{*rest}", any(not_found))
        .layer(from_fn_with_state(state.clone(), ratelimit::layer))
        .layer(from_fn_with_state(state.clone(), auth::layer));
    let mut router = Router::new()
        .merge(api)
        .merge(auth::token_routes())
        .fallback(not_found)
        .layer(from_fn_with_state(state.clone(), faults::layer));
    // The mailbox is the sandbox's own test tool, not Coupa: no auth, no faults.
    if state.config.smtp.is_some() {
        router = router.merge(mailbox::routes());
    }
    // Coupa's Data Sources and integration runs pages; the sandbox has no UI login, so no auth either.
    router = router
        .merge(data_sources::page_routes())
        .merge(integrations::page_routes());
    router
        .layer(from_fn_with_state(state.clone(), access_log::layer))
        .with_state(state)
}

async fn not_found(Wants(format): Wants) -> crate::ApiError {
    crate::ApiError::new(StatusCode::NOT_FOUND, format, vec!["Not found".into()])
}

/// A configured sandbox, ready to serve.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub(crate) state: AppState,
}

impl Sandbox {
    /// Loads reference data and any saved state.
    pub async fn new(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        config.validate()?;
        loader::check_settings(&config)?;
        let coupa = store::Coupa::open(&config).await?;
        let data_sources = data_sources::DataSources::open(coupa.db().cloned()).await?;
        let integrations = integrations::Integrations::open(coupa.db().cloned()).await?;
        let access_log = match &config.access_log {
            Some(path) => Some(access_log::AccessLog::open(path).await?),
            None => None,
        };
        let sftp = match &config.sftp {
            Some(sftp) => Some(sftp::Sftp::prepare(sftp, config.data_dir.as_deref())?),
            None => None,
        };
        let shared = Shared {
            tokens: auth::Tokens::new(&config),
            limiter: config.rate_limit.map(ratelimit::Limiter::new),
            faults: faults::Faults::new(&config.faults),
            access_log,
            mailbox: mailbox::Mailbox::default(),
            sftp,
            data_sources,
            integrations,
            loader: loader::Loader::default(),
            coupa,
            config,
        };
        Ok(Sandbox {
            state: AppState(Arc::new(shared)),
        })
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.state.config
    }

    /// The SFTP drop folder, when the config asks for SFTP.
    pub fn drop_folder(&self) -> Option<&crate::DropFolder> {
        self.state.sftp.as_ref().map(sftp::Sftp::drop_folder)
    }

    /// Starts the SFTP server in the background when the config asks for one.
    async fn start_sftp(
        &self,
        shutdown: &CancellationToken,
    ) -> Result<Option<crate::SftpEndpoint>, SandboxError> {
        match &self.state.sftp {
            Some(sftp) => sftp.start(shutdown).await.map(Some),
            None => Ok(None),
        }
    }

    /// Starts the users loader's polling and the daily export beside the SFTP server.
    fn start_flat_file_jobs(&self, shutdown: &CancellationToken) {
        loader::spawn(&self.state, shutdown);
        export::spawn_daily(&self.state, shutdown);
    }

    /// Serves on `listener` until `shutdown` is cancelled, then finishes the requests in flight.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), SandboxError> {
        self.start_sftp(&shutdown).await?;
        self.start_flat_file_jobs(&shutdown);
        let smtp = self.bind_smtp().await?;
        self.serve_with_smtp(listener, smtp, shutdown).await
    }

    /// Binds the mailbox's SMTP listener when the config asks for one.
    async fn bind_smtp(&self) -> Result<Option<TcpListener>, SandboxError> {
        let Some(addr) = &self.state.config.smtp else {
            return Ok(None);
        };
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| SandboxError::Listen {
                addr: addr.clone(),
                source,
            })?;
        tracing::info!(addr = %listener.local_addr()?, "mailbox: SMTP listening");
        Ok(Some(listener))
    }

    async fn serve_with_smtp(
        self,
        listener: TcpListener,
        smtp: Option<TcpListener>,
        shutdown: CancellationToken,
    ) -> Result<(), SandboxError> {
        if let Some(smtp) = smtp {
            tokio::spawn(mailbox::serve(smtp, self.state.clone(), shutdown.clone()));
        }
        let app = app(&self).into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await?;
        self.state.coupa.close().await;
        if let Some(log) = &self.state.access_log {
            log.flush().await;
        }
        Ok(())
    }

    /// Binds `addr` (port 0 picks a free one) and serves in a background task.
    pub async fn spawn(self, addr: &str) -> Result<Running, SandboxError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| SandboxError::Listen {
                addr: addr.to_string(),
                source,
            })?;
        let addr = listener.local_addr()?;
        let smtp = self.bind_smtp().await?;
        let smtp_addr = smtp.as_ref().map(TcpListener::local_addr).transpose()?;
        let shutdown = CancellationToken::new();
        let sftp = self.start_sftp(&shutdown).await?;
        self.start_flat_file_jobs(&shutdown);
        let task = tokio::spawn(self.serve_with_smtp(listener, smtp, shutdown.clone()));
        Ok(Running {
            addr,
            smtp_addr,
            sftp,
            shutdown,
            task,
        })
    }
}

/// A sandbox serving in the background; dropping it does not stop it, `stop()` does.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    /// Where the mailbox's SMTP server listens, when the config asked for one.
    pub smtp_addr: Option<SocketAddr>,
    /// Where the SFTP server listens and its host key, when the config asked for one.
    pub sftp: Option<crate::SftpEndpoint>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), SandboxError>>,
}

impl Running {
    /// `http://127.0.0.1:PORT`, the base URL clients use.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn stop(self) -> Result<(), SandboxError> {
        self.shutdown.cancel();
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(SandboxError::Io(std::io::Error::other(e))),
        }
    }
}
