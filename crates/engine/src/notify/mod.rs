//! Notifications: when a run has problems, one digest per run (never one message per error), by
//! e-mail and by webhook. Data problems go to `data_errors_to`, technical ones to
//! `technical_errors_to`; when only one list is set it hears about both. A failure to notify is
//! returned to the caller to log, and never touches the run's record.

mod digest;
mod email;
mod webhook;

pub(crate) use digest::names_field;
pub use digest::{Digest, Problem, ProblemKind};

use crate::config::NotifyConfig;
use std::collections::BTreeSet;

/// Where one message went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    Email { to: Vec<String> },
    Webhook,
}

/// One message and whether it was delivered.
#[derive(Debug)]
pub struct Delivery {
    pub channel: Channel,
    pub result: Result<(), NotifyError>,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("notify: {address:?} is not an e-mail address: {message}")]
    Address { address: String, message: String },
    #[error("notify: e-mail to {to} not sent: {message}")]
    Smtp { to: String, message: String },
    #[error("notify: recipients are set but [notify.smtp] is not")]
    NoSmtp,
    #[error("notify: webhook not delivered: {0}")]
    Webhook(String),
}

/// Who gets which problems: one group per distinct recipient list.
fn groups(config: &NotifyConfig) -> Vec<(Vec<String>, Vec<ProblemKind>)> {
    use ProblemKind::{Data, Technical};
    let data = &config.data_errors_to;
    let technical = &config.technical_errors_to;
    let same = data.iter().collect::<BTreeSet<_>>() == technical.iter().collect::<BTreeSet<_>>();
    match (data.is_empty(), technical.is_empty()) {
        (true, true) => vec![],
        (false, true) => vec![(data.clone(), vec![Data, Technical])],
        (true, false) => vec![(technical.clone(), vec![Data, Technical])],
        (false, false) if same => vec![(data.clone(), vec![Data, Technical])],
        (false, false) => vec![
            (data.clone(), vec![Data]),
            (technical.clone(), vec![Technical]),
        ],
    }
}

/// Sends the digest of a run: one e-mail per recipient group that has problems, and one webhook
/// message. Nothing is sent for a run without problems. Each message is tried even when another
/// failed; the result says what happened to each.
pub async fn send(config: &NotifyConfig, digest: &Digest) -> Vec<Delivery> {
    let mut deliveries = Vec::new();
    if digest.is_empty() {
        return deliveries;
    }
    let mails: Vec<(Vec<String>, Digest)> = groups(config)
        .into_iter()
        .map(|(to, kinds)| (to, digest.only(&kinds)))
        .filter(|(_, part)| !part.is_empty())
        .collect();
    if !mails.is_empty() {
        let transport = match &config.smtp {
            Some(smtp) => email::transport(smtp).map(|t| (smtp, t)),
            None => Err(NotifyError::NoSmtp),
        };
        for (to, part) in mails {
            let result = match &transport {
                Ok((smtp, transport)) => email::send(transport, smtp, &to, &part).await,
                Err(e) => Err(same_error(e)),
            };
            deliveries.push(Delivery {
                channel: Channel::Email { to },
                result,
            });
        }
    }
    if let Some(url) = &config.webhook_url {
        deliveries.push(Delivery {
            channel: Channel::Webhook,
            result: webhook::post(url, digest).await,
        });
    }
    deliveries
}

/// A transport that could not be built fails every e-mail the same way.
fn same_error(e: &NotifyError) -> NotifyError {
    match e {
        NotifyError::NoSmtp => NotifyError::NoSmtp,
        other => NotifyError::Smtp {
            to: String::new(),
            message: other.to_string(),
        },
    }
}
