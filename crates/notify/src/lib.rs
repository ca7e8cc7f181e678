//! Accord's outgoing mail.
//!
//! - [`Mailer`] sends one rendered [`Mail`], over SMTP (lettre:
//!   plain, `STARTTLS` or TLS, optional `AUTH`, timeouts) or into the
//!   [`FileOutbox`] (the embedded default), chosen by configuration.
//! - [`templates`] renders the text and HTML bodies from files in
//!   `templates/`; [`when`] writes dates in the recipient's zone and locale.
//! - [`ics`] builds the calendar invitation each participant receives.
//! - [`worker`] drains the Postgres job queue of `accord-db` (`jobs`):
//!   messages are rendered and enqueued in the same transaction as the change
//!   that causes them, and the worker sends each at least once, retrying with
//!   back-off. See [`worker`] for the one window in which a message can be
//!   sent twice.

pub mod ics;
pub mod mailer;
pub mod outbox;
pub mod templates;
pub mod when;
pub mod worker;

pub use mailer::{FailureReason, MailError, Mailer, SmtpSecurity, SmtpSettings};
pub use outbox::{CalendarPart, FileOutbox, Mail, OutboundMessage};
