//! `GET /sessions/{id}/calendar.ics`: "add to calendar" from the client
//! portal. The same entry the invitation mail carries (same UID and
//! `SEQUENCE`, so a calendar that already has the mailed one updates it
//! rather than adding a second), for the signed-in person on the session's
//! case or its mediator. Anyone else, and any id that is not a session of
//! theirs, gets `NOT_FOUND`.

use accord_db::{cases, jobs, members, orgs, sessions};
use accord_domain::{SessionId, SessionStatus};
use accord_notify::ics::{self, Method, Person};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::Utc;

use crate::{web, ApiError, AppState};

/// `GET /sessions/{id}/calendar.ics`
pub(crate) async fn download(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let rid = web::request_id(&headers);
    let result = entry(&state, &headers, &id, rid.clone())
        .await
        .map(|text| ("accord-session.ics".to_owned(), text.into_bytes()));
    web::download(result, "text/calendar; charset=utf-8", rid.as_deref())
}

async fn entry(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    rid: Option<String>,
) -> Result<String, ApiError> {
    let signed_in = web::lookup_session(state, headers)
        .await?
        .ok_or_else(|| ApiError::Unauthenticated("sign in first".into()))?;
    let id: SessionId = id.parse().map_err(|_| ApiError::NotFound("session"))?;
    let me = signed_in.session.user_id;
    let mut tx = state.db().tenant(signed_in.session.org_id, me, rid).await?;
    let session = sessions::get(&mut tx, id)
        .await
        .map_err(crate::graphql::types::not_found("session"))?;
    let case = cases::get(&mut tx, session.case_id).await?;
    // The attendee: the person on the case (their party id makes the UID the
    // mailed entry has), or the mediator.
    let party = cases::parties(&mut tx, case.id)
        .await?
        .into_iter()
        .find(|p| p.user_id == Some(me));
    let (participant, name, email) = match party {
        Some(p) => (
            p.id.as_uuid(),
            p.display_name.as_str().to_owned(),
            p.email.as_str().to_owned(),
        ),
        None if case.mediator_id == Some(me) => {
            let m = members::get(&mut tx, me).await?;
            (
                me.as_uuid(),
                m.display_name.as_str().to_owned(),
                m.email.as_str().to_owned(),
            )
        }
        None => return Err(ApiError::NotFound("session")),
    };
    let org = orgs::current(&mut tx).await?;
    let sequence = jobs::calendar_sequence(tx.conn(), session.id, false).await?;
    let join_url = crate::mail::session_url(state, &session);
    let text = ics::session_invite(&ics::SessionInvite {
        session_id: session.id.as_uuid(),
        participant_id: participant,
        sequence,
        method: match session.status {
            SessionStatus::Cancelled => Method::Cancel,
            SessionStatus::Scheduled | SessionStatus::Completed => Method::Request,
        },
        starts_at: session.schedule.starts_at(),
        ends_at: session.schedule.ends_at(),
        time_zone: session.schedule.time_zone().tz(),
        case_reference: case.reference.as_str(),
        organizer: Person {
            name: org.name.as_str(),
            email: &state.config().mail_from,
        },
        attendee: Person {
            name: &name,
            email: &email,
        },
        join_url: &join_url,
        stamp: Utc::now(),
    });
    tx.commit().await?;
    Ok(text)
}
