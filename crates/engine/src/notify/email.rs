//! E-mail over SMTP with lettre: plain SMTP or STARTTLS, optional login, one plain-text message per
//! recipient group.

use super::NotifyError;
use super::digest::Digest;
use crate::config::SmtpConfig;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;
use std::time::Duration;

pub(super) type Transport = AsyncSmtpTransport<Tokio1Executor>;

pub(super) fn transport(smtp: &SmtpConfig) -> Result<Transport, NotifyError> {
    let builder = if smtp.starttls {
        Transport::starttls_relay(&smtp.host).map_err(|e| NotifyError::Smtp {
            to: String::new(),
            message: e.to_string(),
        })?
    } else {
        // Plain SMTP: for a relay on the same host or network, and for the sandbox's mailbox.
        Transport::builder_dangerous(&smtp.host)
    };
    let mut builder = builder
        .port(smtp.port)
        .timeout(Some(Duration::from_secs(30)));
    if let (Some(username), Some(password)) = (&smtp.username, &smtp.password) {
        builder = builder.credentials(Credentials::new(
            username.clone(),
            password.expose_secret().to_owned(),
        ));
    }
    Ok(builder.build())
}

pub(super) async fn send(
    transport: &Transport,
    smtp: &SmtpConfig,
    to: &[String],
    digest: &Digest,
) -> Result<(), NotifyError> {
    let mut message = Message::builder()
        .from(mailbox(&smtp.from)?)
        .subject(digest.subject());
    for recipient in to {
        message = message.to(mailbox(recipient)?);
    }
    let message = message
        .header(ContentType::TEXT_PLAIN)
        .body(digest.text())
        .map_err(|e| NotifyError::Smtp {
            to: to.join(", "),
            message: e.to_string(),
        })?;
    transport
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| NotifyError::Smtp {
            to: to.join(", "),
            message: e.to_string(),
        })
}

fn mailbox(address: &str) -> Result<Mailbox, NotifyError> {
    address
        .parse()
        .map_err(|e: lettre::address::AddressError| NotifyError::Address {
            address: address.to_string(),
            message: e.to_string(),
        })
}
