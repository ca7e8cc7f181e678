//! The demo organization that `accord dev` creates on first start.

use accord_db::{audit, cases, lookup, orgs, sessions, AdminDb, Db};
use accord_domain::{
    CaseReference, CaseTitle, DisplayName, EmailAddress, IanaTimeZone, OrgName, OrgSlug, PartyKind,
    PlainPassword, Role, Schedule, SessionDuration,
};
use chrono::{Days, NaiveTime, TimeZone, Utc};

use crate::config::Config;

/// The slug of the demo organization.
pub const DEMO_ORG: &str = "demo";
/// The password every demo account gets. Demo data only.
pub const DEMO_PASSWORD: &str = "demo-password-accord";

/// A demo account to print.
#[derive(Debug)]
pub struct Login {
    pub role: Role,
    pub email: &'static str,
}

const PEOPLE: [(&str, &str, Role); 4] = [
    ("admin@demo.accord.test", "Ada Admin", Role::OrgAdmin),
    ("mediator@demo.accord.test", "Mo Mediator", Role::Mediator),
    ("party.one@demo.accord.test", "Pat Claimant", Role::Party),
    (
        "party.two@demo.accord.test",
        "Robin Respondent",
        Role::Party,
    ),
];

/// Creates the demo org (one admin, one mediator, two parties, one case with a
/// scheduled session) unless it exists, and returns the logins.
pub async fn demo(admin: &AdminDb) -> anyhow::Result<Vec<Login>> {
    let logins = PEOPLE
        .iter()
        .map(|(email, _, role)| Login { role: *role, email })
        .collect();
    let app = Db::from_pool(admin.pool().clone());
    let slug = OrgSlug::parse(DEMO_ORG)?;
    // Seeded means the demo admin exists; an org left behind by an interrupted
    // seed is reused rather than blocking every later start.
    if lookup::user_by_email(&app, &EmailAddress::parse(PEOPLE[0].0)?)
        .await?
        .is_some()
    {
        return Ok(logins);
    }
    let org = match lookup::org_by_slug(&app, &slug).await? {
        Some(org) => org,
        None => orgs::create(admin, &slug, &OrgName::parse("Demo Mediation Services")?).await?,
    };

    let mut ids = Vec::new();
    let mut tx = admin.system_tenant(org, None).await?;
    for (email, name, role) in PEOPLE {
        let invited = crate::cli::invite(
            &mut tx,
            &EmailAddress::parse(email)?,
            &DisplayName::parse(name)?,
            role,
        )
        .await?;
        ids.push(invited.member.user_id);
    }
    tx.commit().await?;

    let hash = accord_auth::password::hash_password(&PlainPassword::parse(DEMO_PASSWORD)?)?;
    for id in &ids {
        let mut utx = app.user(*id).await?;
        accord_db::auth::set_password_hash(&mut utx, &hash).await?;
        utx.commit().await?;
    }

    let mut tx = app.tenant(org, ids[0], None).await?;
    let case = cases::create(
        &mut tx,
        &CaseReference::parse("DEMO-0001")?,
        &CaseTitle::parse("Harbour Lane Bakery v. Quayside Properties: commercial lease dispute")?,
        Some(ids[1]),
    )
    .await?;
    audit::append(&mut tx, "case.create", "case", Some(case.id.as_uuid())).await?;
    for (email, name, _) in &PEOPLE[2..] {
        let party = cases::add_party(
            &mut tx,
            case.id,
            PartyKind::Party,
            &DisplayName::parse(name)?,
            &EmailAddress::parse(email)?,
        )
        .await?;
        audit::append(&mut tx, "party.add", "party", Some(party.id.as_uuid())).await?;
    }
    let zone = IanaTimeZone::parse("Europe/London")?;
    let tomorrow = Utc::now().with_timezone(&zone.tz()).date_naive() + Days::new(1);
    let start_local = tomorrow.and_time(NaiveTime::from_hms_opt(10, 0, 0).unwrap_or_default());
    let starts_at = zone
        .tz()
        .from_local_datetime(&start_local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc::now() + chrono::Duration::days(1));
    let schedule = Schedule::new(starts_at, zone, SessionDuration::from_minutes(120)?);
    let session = sessions::schedule(&mut tx, case.id, &schedule).await?;
    audit::append(
        &mut tx,
        "session.schedule",
        "session",
        Some(session.id.as_uuid()),
    )
    .await?;
    tx.commit().await?;
    Ok(logins)
}

/// Prints where to go and how to sign in.
pub fn print_banner(config: &Config, logins: &[Login]) {
    let base = config.http.public_url.as_str().trim_end_matches('/');
    println!();
    println!("Accord is starting (development mode).");
    println!("  Admin portal:  {base}/admin/   (org admins and mediators; the session console)");
    println!("  Client portal: {base}/         (parties, counsel, interpreters)");
    println!("  GraphQL API:   {base}/graphql   (GraphiQL in a browser)");
    println!(
        "  Media:         UDP {} (sfu.udp_bind)",
        config.sfu.udp_bind
    );
    println!(
        "  Outbox:        {}   (password and invitation mail, as files)",
        config.outbox.dir.display()
    );
    println!();
    println!("Demo organization \"{DEMO_ORG}\"; every account's password is {DEMO_PASSWORD}");
    for login in logins {
        let portal = match login.role {
            Role::OrgAdmin | Role::Mediator => format!("{base}/admin/"),
            Role::Party | Role::Observer => format!("{base}/"),
        };
        println!("  {:<10} {:<30} {portal}", login.role.as_str(), login.email);
    }
    println!();
}
