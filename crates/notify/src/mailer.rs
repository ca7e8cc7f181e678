//! The [`Mailer`]: one way to send a [`Mail`], over SMTP or into
//! the file outbox, chosen by configuration.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret as _, SecretString};

use crate::outbox::{FileOutbox, Mail};

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain text, no TLS: only for a relay on the same host or a test server.
    None,
    /// Plain connection upgraded with `STARTTLS` (required; usually port 587).
    Starttls,
    /// TLS from the first byte (usually port 465).
    Tls,
}

/// Settings of the SMTP transport.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// Server host name (checked against its certificate with TLS).
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Transport security.
    pub security: SmtpSecurity,
    /// User name for `AUTH`, when the server wants one.
    pub username: Option<String>,
    /// Password for `AUTH`.
    pub password: Option<SecretString>,
    /// Connect, command and data timeout.
    pub timeout: Duration,
}

/// Why a message was not handed over.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Worth trying again later: the server could not be reached or talked
    /// to (refused, timeout, TLS), or the outbox could not be written.
    #[error("temporary delivery failure: {0}")]
    Transient(String),
    /// Worth trying again later: the server answered, asking for a later
    /// try (a 4xx reply).
    #[error("temporary delivery failure: {0}")]
    Deferred(String),
    /// Will fail the same way again (5xx reply, malformed address).
    #[error("permanent delivery failure: {0}")]
    Permanent(String),
}

/// What kind of failure a [`MailError`] is, for counting: one of a fixed
/// few, never anything of the message or the server's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// The message was not handed over at all (connection, TLS, timeout,
    /// outbox I/O).
    Transport,
    /// The server answered with a temporary refusal (4xx).
    Deferred,
    /// The server refused the message for good (5xx), or it could not be
    /// built or read.
    Rejected,
}

impl FailureReason {
    /// Every reason, in a fixed order.
    pub const ALL: [FailureReason; 3] = [
        FailureReason::Transport,
        FailureReason::Deferred,
        FailureReason::Rejected,
    ];

    /// The reason as a metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Transport => "transport",
            FailureReason::Deferred => "deferred",
            FailureReason::Rejected => "rejected",
        }
    }
}

impl MailError {
    /// Whether retrying cannot help.
    pub fn is_permanent(&self) -> bool {
        matches!(self, MailError::Permanent(_))
    }

    /// The kind of failure, for the failure count.
    pub fn reason(&self) -> FailureReason {
        match self {
            MailError::Transient(_) => FailureReason::Transport,
            MailError::Deferred(_) => FailureReason::Deferred,
            MailError::Permanent(_) => FailureReason::Rejected,
        }
    }
}

/// Sends messages from one sender address.
#[derive(Debug, Clone)]
pub struct Mailer {
    from: Mailbox,
    transport: Transport,
}

#[derive(Debug, Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(FileOutbox),
}

impl Mailer {
    /// A mailer writing into the file outbox.
    pub fn file(from: &str, outbox: FileOutbox) -> Result<Self, MailError> {
        Ok(Mailer {
            from: parse_mailbox(from)?,
            transport: Transport::File(outbox),
        })
    }

    /// A mailer speaking SMTP. No connection is made until the first message.
    pub fn smtp(from: &str, settings: &SmtpSettings) -> Result<Self, MailError> {
        let builder = match settings.security {
            SmtpSecurity::None => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            }
            SmtpSecurity::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.host)
                    .map_err(|e| MailError::Permanent(format!("SMTP TLS setup: {e}")))?
            }
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&settings.host)
                .map_err(|e| MailError::Permanent(format!("SMTP TLS setup: {e}")))?,
        };
        let mut builder = builder.port(settings.port).timeout(Some(settings.timeout));
        if let Some(user) = &settings.username {
            let password = settings
                .password
                .as_ref()
                .map(|p| p.expose_secret().to_owned())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(Mailer {
            from: parse_mailbox(from)?,
            transport: Transport::Smtp(builder.build()),
        })
    }

    /// Hands `message` to the transport. Returns once the SMTP server has
    /// accepted it (or the file is written).
    #[tracing::instrument(skip_all, fields(message_id = message.message_id.as_deref()))]
    pub async fn send(&self, message: &Mail) -> Result<(), MailError> {
        match &self.transport {
            Transport::File(outbox) => outbox
                .deliver(message)
                .map_err(|e| MailError::Transient(format!("outbox: {e}"))),
            Transport::Smtp(smtp) => {
                let email = build_email(&self.from, message)?;
                smtp.send(email).await.map(|_| ()).map_err(|e| {
                    if e.is_permanent() {
                        MailError::Permanent(e.to_string())
                    } else if e.is_transient() {
                        MailError::Deferred(e.to_string())
                    } else {
                        MailError::Transient(e.to_string())
                    }
                })
            }
        }
    }
}

fn parse_mailbox(raw: &str) -> Result<Mailbox, MailError> {
    raw.parse()
        .map_err(|e| MailError::Permanent(format!("address: {e}")))
}

/// The MIME message: `multipart/mixed` of an alternative (text, HTML, and
/// the calendar inline, which calendar clients act on) and `invite.ics`.
pub fn build_email(from: &Mailbox, message: &Mail) -> Result<Message, MailError> {
    let mut builder = Message::builder()
        .from(from.clone())
        .to(parse_mailbox(&message.message.to)?)
        .subject(message.message.subject.clone());
    if let Some(id) = &message.message_id {
        builder = builder.message_id(Some(format!("<{id}>")));
    }
    let text = SinglePart::plain(message.message.body.clone());
    let mut alternative = MultiPart::alternative().singlepart(text);
    if let Some(html) = &message.html {
        alternative = alternative.singlepart(SinglePart::html(html.clone()));
    }
    let body = match &message.calendar {
        None => alternative,
        Some(calendar) => {
            let inline = ContentType::parse(&format!(
                "text/calendar; charset=utf-8; method={}",
                calendar.method
            ))
            .map_err(|e| MailError::Permanent(format!("calendar part: {e}")))?;
            let file = ContentType::parse("application/ics")
                .map_err(|e| MailError::Permanent(format!("calendar part: {e}")))?;
            MultiPart::mixed()
                .multipart(
                    alternative.singlepart(
                        SinglePart::builder()
                            .header(inline)
                            .body(calendar.ics.clone()),
                    ),
                )
                .singlepart(Attachment::new("invite.ics".into()).body(calendar.ics.clone(), file))
        }
    };
    builder
        .multipart(body)
        .map_err(|e| MailError::Permanent(format!("message: {e}")))
}
