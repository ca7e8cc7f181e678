//! The mail a change causes, rendered and enqueued in the change's own
//! transaction (`accord_db::jobs`), for the worker of `accord-notify` to send.
//!
//! Session mail goes to each person on the case, with their own calendar
//! entry (`accord_notify::ics`) and times in their own zone and locale (their
//! account's choice, else the org's; a zone falls back to the session's when
//! the org has none, a locale to British English).
//! Invitations carry a fresh single-use invite link
//! (`accord_db::invitations::issue`) in the body only; the calendar entry
//! and reminders carry the session page, since calendars are shared and
//! synchronised. Each person's pending mail for a session is one group, so a
//! move or a cancellation withdraws what has not gone out yet (an invitation
//! held up by a mail server that is down, reminders) and enqueues its
//! replacement.

use accord_db::cases::{Case, Party};
use accord_db::sessions::Session;
use accord_db::{invitations, jobs, orgs, TenantTx};
use accord_domain::{EmailAddress, PartyId};
use accord_notify::ics::{self, Method, Person};
use accord_notify::templates::{self, Template};
use accord_notify::when::{self, Locale};
use accord_notify::worker::MailJob;
use accord_notify::{CalendarPart, Mail, OutboundMessage};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::{ApiError, AppState};

/// What happened to a session.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SessionChange {
    /// Newly scheduled (or a person newly added to a case with a scheduled session).
    Scheduled,
    /// Moved; `previous` was its start.
    Rescheduled {
        /// The start before the move.
        previous: DateTime<Utc>,
    },
    /// Called off.
    Cancelled,
}

fn template_error(e: templates::TemplateError) -> ApiError {
    ApiError::Internal(format!("mail template: {e}"))
}

fn to_job(
    kind: &str,
    key: String,
    group: Option<String>,
    mail: Mail,
    invitation_id: Option<uuid::Uuid>,
    run_at: DateTime<Utc>,
) -> Result<jobs::NewJob, ApiError> {
    let recipient = mail.message.to.clone();
    let subject = mail.message.subject.clone();
    let payload = serde_json::to_value(MailJob {
        mail,
        invitation_id,
    })
    .map_err(|e| ApiError::Internal(format!("mail job: {e}")))?;
    Ok(jobs::NewJob {
        kind: kind.to_owned(),
        idempotency_key: key,
        group_key: group,
        recipient,
        subject,
        payload,
        run_at,
    })
}

/// The `Message-ID` of a job's message.
fn message_id(key: &str, state: &AppState) -> String {
    let host = state
        .config()
        .public_url
        .host_str()
        .unwrap_or("accord.invalid");
    let local: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '.'
            }
        })
        .collect();
    format!("{local}@{host}")
}

fn render(
    template: Template,
    to: &str,
    values: &[(&str, &str)],
    key: &str,
    state: &AppState,
) -> Result<Mail, ApiError> {
    let r = templates::render(template, values).map_err(template_error)?;
    Ok(Mail {
        message: OutboundMessage {
            to: to.to_owned(),
            subject: r.subject,
            body: r.text,
        },
        html: Some(r.html),
        calendar: None,
        message_id: Some(message_id(key, state)),
    })
}

fn minutes_words(minutes: u32) -> String {
    match minutes {
        m if m % 60 == 0 && m >= 60 => {
            let h = m / 60;
            format!("{h} hour{}", if h == 1 { "" } else { "s" })
        }
        m => format!("{m} minute{}", if m == 1 { "" } else { "s" }),
    }
}

/// The zone and locale a recipient reads mail in: their own choice, else the
/// org's; a zone lastly `fallback` (the session's), a locale British English.
pub(crate) fn reader_clock(
    reader: Option<&jobs::ReaderPreferences>,
    org: &orgs::OrgSettings,
    fallback: Tz,
) -> (Tz, Locale) {
    let zone = reader
        .and_then(|r| r.time_zone.as_deref())
        .and_then(|z| z.parse::<Tz>().ok())
        .or_else(|| org.time_zone.as_ref().map(|z| z.tz()))
        .unwrap_or(fallback);
    let locale = reader
        .and_then(|r| r.locale.as_deref())
        .and_then(Locale::parse)
        .or_else(|| org.locale.as_deref().and_then(Locale::parse))
        .unwrap_or_default();
    (zone, locale)
}

/// The client portal's page of a session.
pub(crate) fn session_url(state: &AppState, session: &Session) -> String {
    format!(
        "{}/sessions/{}",
        state.config().public_url.as_str().trim_end_matches('/'),
        session.id.as_uuid()
    )
}

/// Enqueues the mail `change` causes for everyone on the session's case (or
/// only `only`), and their reminders.
pub(crate) async fn session_changed(
    tx: &mut TenantTx,
    state: &AppState,
    session: &Session,
    case: &Case,
    change: SessionChange,
    only: Option<PartyId>,
) -> Result<(), ApiError> {
    let org = orgs::current(tx).await?;
    let parties: Vec<Party> = accord_db::cases::parties(tx, case.id)
        .await?
        .into_iter()
        .filter(|p| only.is_none_or(|o| o == p.id))
        .collect();
    if parties.is_empty() {
        return Ok(());
    }
    let raise = matches!(
        change,
        SessionChange::Rescheduled { .. } | SessionChange::Cancelled
    );
    let sequence = jobs::calendar_sequence(tx.conn(), session.id, raise).await?;
    let users: Vec<_> = parties.iter().filter_map(|p| p.user_id).collect();
    let readers = jobs::preferences_of(tx.conn(), &users).await?;
    let settings = orgs::settings(tx).await?;
    let leads = settings.reminder_lead_minutes.clone();
    let session_zone = session.schedule.time_zone().tz();
    let page = session_url(state, session);
    let now = Utc::now();
    let starts_at = session.schedule.starts_at();
    let duration = minutes_words(session.schedule.duration().minutes());
    let from = state.config().mail_from.clone();

    for party in parties {
        let reader = party.user_id.and_then(|u| readers.get(&u));
        let (zone, locale) = reader_clock(reader, &settings, session_zone);
        let group = format!(
            "session:{}:party:{}",
            session.id.as_uuid(),
            party.id.as_uuid()
        );
        jobs::cancel_group(tx.conn(), &group).await?;
        let when_text = when::date_time(starts_at, zone, locale);
        let previous_text = match change {
            SessionChange::Rescheduled { previous } => when::date_time(previous, zone, locale),
            _ => String::new(),
        };
        let (template, method, kind) = match change {
            SessionChange::Scheduled => (
                Template::SessionInvitation,
                Method::Request,
                "mail.session_invitation",
            ),
            SessionChange::Rescheduled { .. } => (
                Template::SessionRescheduled,
                Method::Request,
                "mail.session_rescheduled",
            ),
            SessionChange::Cancelled => (
                Template::SessionCancelled,
                Method::Cancel,
                "mail.session_cancelled",
            ),
        };
        // An invitation carries a new invite link; a cancellation none.
        let issued = match method {
            Method::Request => Some(invitations::issue(tx, party.id, None).await?),
            Method::Cancel => None,
        };
        let link = match &issued {
            Some(i) => invitations::invite_url(state.config().public_url.as_str(), &i.token),
            None => page.clone(),
        };
        let key = match &issued {
            Some(i) => format!("{group}:seq:{sequence}:invitation:{}", i.id),
            None => format!("{group}:seq:{sequence}:cancel"),
        };
        let values = [
            ("name", party.display_name.as_str()),
            ("org", org.name.as_str()),
            ("reference", case.reference.as_str()),
            ("when", when_text.as_str()),
            ("previous", previous_text.as_str()),
            ("duration", duration.as_str()),
            ("link", link.as_str()),
        ];
        let mut message = render(template, party.email.as_str(), &values, &key, state)?;
        message.calendar = Some(CalendarPart {
            method: method.as_str().to_owned(),
            ics: ics::session_invite(&ics::SessionInvite {
                session_id: session.id.as_uuid(),
                participant_id: party.id.as_uuid(),
                sequence,
                method,
                starts_at,
                ends_at: session.schedule.ends_at(),
                time_zone: session_zone,
                case_reference: case.reference.as_str(),
                organizer: Person {
                    name: org.name.as_str(),
                    email: &from,
                },
                attendee: Person {
                    name: party.display_name.as_str(),
                    email: party.email.as_str(),
                },
                join_url: &page,
                stamp: now,
            }),
        });
        let job = to_job(
            kind,
            key.clone(),
            // A cancellation is never withdrawn; an invitation is, by the next change.
            issued.as_ref().map(|_| group.clone()),
            message,
            issued.as_ref().map(|i| i.id),
            now,
        )?;
        jobs::enqueue(tx.conn(), &job).await?;

        if method == Method::Cancel {
            continue;
        }
        for lead in &leads {
            let lead_minutes = u32::try_from(*lead).unwrap_or(0);
            let run_at = starts_at - Duration::minutes(i64::from(lead_minutes));
            if run_at <= now {
                continue;
            }
            let lead_text = minutes_words(lead_minutes);
            let key = format!("{group}:seq:{sequence}:reminder:{lead_minutes}");
            let values = [
                ("name", party.display_name.as_str()),
                ("org", org.name.as_str()),
                ("reference", case.reference.as_str()),
                ("when", when_text.as_str()),
                ("duration", duration.as_str()),
                ("link", page.as_str()),
                ("lead", lead_text.as_str()),
            ];
            let message = render(
                Template::SessionReminder,
                party.email.as_str(),
                &values,
                &key,
                state,
            )?;
            let job = to_job(
                "mail.session_reminder",
                key,
                Some(group.clone()),
                message,
                None,
                run_at,
            )?;
            jobs::enqueue(tx.conn(), &job).await?;
        }
    }
    Ok(())
}

/// Enqueues the mail carrying a renewed invite link (resend or re-invite)
/// for `party`, naming the invitation so that the worker records its
/// delivery. When the case has a session ahead, the mail gives its time and
/// carries its calendar entry like the first invitation: `METHOD:REQUEST`,
/// the same UID, and the session's current `SEQUENCE` (a new link changes
/// nothing in the calendar, so the sequence is not raised).
pub(crate) async fn invitation_renewed(
    tx: &mut TenantTx,
    state: &AppState,
    party: &Party,
    case: &Case,
    issued: &invitations::Issued,
) -> Result<(), ApiError> {
    let org = orgs::current(tx).await?;
    let settings = orgs::settings(tx).await?;
    let users: Vec<_> = party.user_id.into_iter().collect();
    let readers = jobs::preferences_of(tx.conn(), &users).await?;
    let session = match invitations::next_session(tx, case.id).await? {
        Some(id) => Some(accord_db::sessions::get(tx, id).await?),
        None => None,
    };
    let fallback = session
        .as_ref()
        .map_or(chrono_tz::UTC, |s| s.schedule.time_zone().tz());
    let reader = party.user_id.and_then(|u| readers.get(&u));
    let (zone, locale) = reader_clock(reader, &settings, fallback);
    let link = invitations::invite_url(state.config().public_url.as_str(), &issued.token);
    let expires = when::date_time(issued.expires_at, zone, locale);
    let session_line = match &session {
        Some(s) => format!(
            "Your next session: {} ({}). The calendar invitation is attached.",
            when::date_time(s.schedule.starts_at(), zone, locale),
            minutes_words(s.schedule.duration().minutes()),
        ),
        None => "No session is scheduled yet: you will get a calendar invitation when one is."
            .to_owned(),
    };
    let key = format!("invitation:{}", issued.id);
    let values = [
        ("name", party.display_name.as_str()),
        ("org", org.name.as_str()),
        ("reference", case.reference.as_str()),
        ("session", session_line.as_str()),
        ("link", link.as_str()),
        ("expires", expires.as_str()),
    ];
    let mut message = render(
        Template::InvitationLink,
        party.email.as_str(),
        &values,
        &key,
        state,
    )?;
    let mut group = None;
    if let Some(session) = &session {
        let sequence = jobs::calendar_sequence(tx.conn(), session.id, false).await?;
        let page = session_url(state, session);
        let from = state.config().mail_from.clone();
        message.calendar = Some(CalendarPart {
            method: Method::Request.as_str().to_owned(),
            ics: ics::session_invite(&ics::SessionInvite {
                session_id: session.id.as_uuid(),
                participant_id: party.id.as_uuid(),
                sequence,
                method: Method::Request,
                starts_at: session.schedule.starts_at(),
                ends_at: session.schedule.ends_at(),
                time_zone: session.schedule.time_zone().tz(),
                case_reference: case.reference.as_str(),
                organizer: Person {
                    name: org.name.as_str(),
                    email: &from,
                },
                attendee: Person {
                    name: party.display_name.as_str(),
                    email: party.email.as_str(),
                },
                join_url: &page,
                stamp: Utc::now(),
            }),
        });
        // Withdrawn with the person's other pending mail for the session
        // when it moves or is called off (its replacement carries a link).
        group = Some(format!(
            "session:{}:party:{}",
            session.id.as_uuid(),
            party.id.as_uuid()
        ));
    }
    let job = to_job(
        "mail.invitation_link",
        key,
        group,
        message,
        Some(issued.id),
        Utc::now(),
    )?;
    jobs::enqueue(tx.conn(), &job).await?;
    Ok(())
}

/// Enqueues the mail for a member invited into the org: a password-setup
/// link for a new account (`link`), or word that they were added.
pub(crate) async fn member_invited(
    tx: &mut TenantTx,
    state: &AppState,
    email: &EmailAddress,
    name: &str,
    setup_link: Option<(&str, &str)>,
) -> Result<(), ApiError> {
    let org = orgs::current(tx).await?;
    let sign_in = format!(
        "{}/",
        state.config().public_url.as_str().trim_end_matches('/')
    );
    let key = format!(
        "member:{}:{}:{}",
        org.id.as_uuid(),
        email.as_str(),
        uuid::Uuid::now_v7()
    );
    let message = match setup_link {
        Some((link, lifetime)) => render(
            Template::MemberInvitation,
            email.as_str(),
            &[
                ("name", name),
                ("org", org.name.as_str()),
                ("link", link),
                ("lifetime", lifetime),
            ],
            &key,
            state,
        )?,
        None => render(
            Template::MemberAdded,
            email.as_str(),
            &[
                ("name", name),
                ("org", org.name.as_str()),
                ("link", &sign_in),
            ],
            &key,
            state,
        )?,
    };
    let job = to_job(
        "mail.member_invitation",
        key,
        None,
        message,
        None,
        Utc::now(),
    )?;
    jobs::enqueue(tx.conn(), &job).await?;
    Ok(())
}

/// Enqueues a plain message (composed elsewhere) in the caller's transaction.
pub(crate) async fn enqueue_plain(
    conn: &mut sqlx::PgConnection,
    state: &AppState,
    kind: &str,
    message: OutboundMessage,
) -> Result<(), ApiError> {
    let key = format!("{kind}:{}", uuid::Uuid::now_v7());
    let mut mail = Mail::from(message);
    mail.message_id = Some(message_id(&key, state));
    let job = to_job(kind, key, None, mail, None, Utc::now())?;
    jobs::enqueue(conn, &job).await?;
    Ok(())
}

/// Enqueues a password-reset mail on an unscoped connection (account-level
/// mail, no org).
pub(crate) async fn password_reset(
    conn: &mut sqlx::PgConnection,
    state: &AppState,
    email: &EmailAddress,
    link: &str,
    lifetime: &str,
) -> Result<(), ApiError> {
    let key = format!("password_reset:{}", uuid::Uuid::now_v7());
    let message = render(
        Template::PasswordReset,
        email.as_str(),
        &[("link", link), ("lifetime", lifetime)],
        &key,
        state,
    )?;
    let job = to_job("mail.password_reset", key, None, message, None, Utc::now())?;
    jobs::enqueue(conn, &job).await?;
    Ok(())
}
