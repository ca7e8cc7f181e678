//! Message templates, kept as files in `templates/`: `<name>.txt` (whose first
//! line is `Subject: …`) and `<name>.html`. Placeholders are `{{name}}`;
//! values are inserted as they are in the text and subject and HTML-escaped
//! in the HTML. Nothing else is interpreted, so a value can never become
//! markup or another placeholder.

/// A message template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// A session invitation (new session, or a party added to a case with one).
    SessionInvitation,
    /// A session moved to a new time.
    SessionRescheduled,
    /// A session called off.
    SessionCancelled,
    /// A reminder before a session.
    SessionReminder,
    /// A new account invited into an org: choose a password.
    MemberInvitation,
    /// An existing account added to another org.
    MemberAdded,
    /// A password-reset link.
    PasswordReset,
    /// A renewed invite link (resend or re-invite), with the case's next
    /// session if it has one.
    InvitationLink,
}

impl Template {
    /// Every template, for tests.
    pub const ALL: [Template; 8] = [
        Template::SessionInvitation,
        Template::SessionRescheduled,
        Template::SessionCancelled,
        Template::SessionReminder,
        Template::MemberInvitation,
        Template::MemberAdded,
        Template::PasswordReset,
        Template::InvitationLink,
    ];

    fn sources(self) -> (&'static str, &'static str) {
        macro_rules! files {
            ($name:literal) => {
                (
                    include_str!(concat!("../templates/", $name, ".txt")),
                    include_str!(concat!("../templates/", $name, ".html")),
                )
            };
        }
        match self {
            Template::SessionInvitation => files!("session_invitation"),
            Template::SessionRescheduled => files!("session_rescheduled"),
            Template::SessionCancelled => files!("session_cancelled"),
            Template::SessionReminder => files!("session_reminder"),
            Template::MemberInvitation => files!("member_invitation"),
            Template::MemberAdded => files!("member_added"),
            Template::PasswordReset => files!("password_reset"),
            Template::InvitationLink => files!("invitation_link"),
        }
    }
}

/// A rendered message.
#[derive(Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rendered { .. }")
    }
}

/// A template that names a placeholder it was given no value for.
#[derive(Debug, thiserror::Error)]
#[error("template {template:?} has no value for {{{{{name}}}}}")]
pub struct TemplateError {
    template: Template,
    name: String,
}

/// Renders `template` with `values` (name, value).
pub fn render(template: Template, values: &[(&str, &str)]) -> Result<Rendered, TemplateError> {
    let (text, html) = template.sources();
    let (subject_line, text) = text.split_once('\n').unwrap_or((text, ""));
    let subject = subject_line
        .strip_prefix("Subject: ")
        .unwrap_or(subject_line);
    let plain = |s: &str| s.to_owned();
    Ok(Rendered {
        subject: substitute(template, subject.trim(), values, &plain)?,
        text: substitute(template, text.trim_start_matches('\n'), values, &plain)?,
        html: substitute(template, html, values, &escape_html)?,
    })
}

fn substitute(
    template: Template,
    source: &str,
    values: &[(&str, &str)],
    encode: &dyn Fn(&str) -> String,
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let name = after[..end].trim();
        let value = values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .ok_or_else(|| TemplateError {
                template,
                name: name.to_owned(),
            })?;
        out.push_str(&encode(value));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUES: &[(&str, &str)] = &[
        ("name", "Ada <script>alert(1)</script> & co"),
        ("org", "Acme Mediation"),
        ("reference", "ACME-1"),
        ("when", "Sunday 28 March 2027, 10:30 (BST, Europe/London)"),
        (
            "previous",
            "Saturday 27 March 2027, 09:30 (GMT, Europe/London)",
        ),
        ("duration", "90 minutes"),
        ("link", "https://accord.example/sessions/1?a=1&b=2"),
        ("lead", "24 hours"),
        ("lifetime", "3 days"),
        (
            "expires",
            "Sunday 11 April 2027, 10:30 (BST, Europe/London)",
        ),
        (
            "session",
            "Your next session: Sunday 28 March 2027, 10:30 (90 minutes).",
        ),
    ];

    #[test]
    fn every_template_renders_and_escapes_values_in_html() {
        for t in Template::ALL {
            let r = render(t, VALUES).unwrap();
            assert!(!r.subject.is_empty() && !r.subject.contains('\n'), "{t:?}");
            assert!(!r.text.contains("{{"), "{t:?}");
            assert!(!r.html.contains("<script>"), "{t:?}");
            if r.text.contains("Ada <script>") {
                assert!(r.html.contains("Ada &lt;script&gt;"), "{t:?}");
            }
            if r.text.contains("&b=2") {
                assert!(r.html.contains("a=1&amp;b=2"), "{t:?}");
            }
        }
    }

    #[test]
    fn a_missing_value_is_an_error() {
        assert!(render(Template::PasswordReset, &[]).is_err());
    }

    #[test]
    fn a_value_cannot_inject_a_placeholder() {
        let r = render(
            Template::MemberAdded,
            &[("name", "{{org}}"), ("org", "Acme"), ("link", "x")],
        )
        .unwrap();
        assert!(r.text.contains("{{org}}"));
    }
}
