//! Conflicts of interest between a mediator and the people on a case.
//!
//! A mediator declares relationships ([`Declaration`]): an organisation, a
//! person (by email address) or an email domain. Before they are assigned to
//! a case, [`find_conflicts`] compares the case's people with those
//! declarations and with the people on the mediator's other cases in the org,
//! current and past. People are matched by what identifies them (the email
//! address, its domain, the organisation they are on the case for), never by
//! name: two different people called John Smith are not a conflict.
//!
//! Domains of public mail providers identify nobody, so a shared
//! `gmail.com` between a former party and a new one is not a conflict; a
//! mediator may still declare such a domain explicitly.

use std::collections::BTreeSet;

use crate::{EmailAddress, ValidationError};

/// What a declaration names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeclarationKind {
    /// An organisation (company, public body) the mediator is tied to.
    Organization,
    /// A person, by email address.
    Person,
    /// Everyone with an address at an email domain.
    EmailDomain,
}

impl DeclarationKind {
    /// Every kind.
    pub const ALL: [DeclarationKind; 3] = [
        DeclarationKind::Organization,
        DeclarationKind::Person,
        DeclarationKind::EmailDomain,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeclarationKind::Organization => "organization",
            DeclarationKind::Person => "person",
            DeclarationKind::EmailDomain => "email_domain",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        crate::values::parse_one_of("kind", raw, &Self::ALL, Self::as_str)
    }
}

/// An organisation's name folded for comparison: trimmed, inner white space
/// collapsed, case-folded. `ACME  Ltd` and `acme ltd` are one organisation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrganizationName(String);

impl OrganizationName {
    /// Parses a name of 1 to 200 characters.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let folded = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        let folded = folded.to_lowercase();
        if folded.is_empty() || folded.chars().count() > 200 {
            return Err(ValidationError::new(
                "organization",
                "must be 1 to 200 characters",
            ));
        }
        if folded.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "organization",
                "must not contain control characters",
            ));
        }
        Ok(OrganizationName(folded))
    }

    /// The folded name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A mail domain, lower-cased, e.g. `acme.example`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailDomain(String);

impl MailDomain {
    /// Parses a domain (an `@` in front is allowed and dropped).
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let trimmed = raw.trim().trim_start_matches('@');
        // Validate through the email parser so both agree on what a domain is.
        let email = EmailAddress::parse(&format!("x@{trimmed}")).map_err(|_| {
            ValidationError::new("domain", "must be a mail domain such as acme.example")
        })?;
        Ok(MailDomain(email.domain().to_owned()))
    }

    /// The domain of an address.
    pub fn of(email: &EmailAddress) -> Self {
        MailDomain(email.domain().to_owned())
    }

    /// The domain.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it is a public mail provider's, which identifies nobody.
    pub fn is_public_provider(&self) -> bool {
        const PUBLIC: &[&str] = &[
            "gmail.com",
            "googlemail.com",
            "outlook.com",
            "hotmail.com",
            "hotmail.co.uk",
            "live.com",
            "msn.com",
            "yahoo.com",
            "yahoo.co.uk",
            "icloud.com",
            "me.com",
            "aol.com",
            "proton.me",
            "protonmail.com",
            "gmx.de",
            "gmx.net",
            "web.de",
            "mail.com",
            "orange.fr",
            "free.fr",
        ];
        PUBLIC.contains(&self.0.as_str())
    }
}

/// A declared relationship, parsed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Declaration {
    /// An organisation.
    Organization(OrganizationName),
    /// A person by email.
    Person(EmailAddress),
    /// An email domain.
    EmailDomain(MailDomain),
}

impl Declaration {
    /// Parses `value` as a declaration of `kind`.
    pub fn parse(kind: DeclarationKind, value: &str) -> Result<Self, ValidationError> {
        Ok(match kind {
            DeclarationKind::Organization => {
                Declaration::Organization(OrganizationName::parse(value)?)
            }
            DeclarationKind::Person => Declaration::Person(EmailAddress::parse(value)?),
            DeclarationKind::EmailDomain => Declaration::EmailDomain(MailDomain::parse(value)?),
        })
    }

    /// Its kind.
    pub fn kind(&self) -> DeclarationKind {
        match self {
            Declaration::Organization(_) => DeclarationKind::Organization,
            Declaration::Person(_) => DeclarationKind::Person,
            Declaration::EmailDomain(_) => DeclarationKind::EmailDomain,
        }
    }

    /// The normalised value, as stored.
    pub fn value(&self) -> &str {
        match self {
            Declaration::Organization(o) => o.as_str(),
            Declaration::Person(e) => e.as_str(),
            Declaration::EmailDomain(d) => d.as_str(),
        }
    }
}

/// Someone on a case, as conflict checks see them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person<K> {
    /// The caller's key for them (a party id), handed back in conflicts.
    pub key: K,
    /// Their address.
    pub email: EmailAddress,
    /// The organisation they are on the case for, when known.
    pub organization: Option<OrganizationName>,
}

/// What made a conflict.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConflictReason {
    /// The mediator declared this person.
    DeclaredPerson,
    /// The mediator declared the person's organisation.
    DeclaredOrganization,
    /// The mediator declared the person's email domain.
    DeclaredDomain,
    /// The same person (by email) is on another of the mediator's cases.
    SamePersonOnOtherCase,
    /// Someone of the same organisation is on another of the mediator's cases.
    SameOrganizationOnOtherCase,
    /// Someone at the same (non-public) email domain is on another of the
    /// mediator's cases.
    SameDomainOnOtherCase,
}

impl ConflictReason {
    /// The stable name.
    pub fn as_str(&self) -> &'static str {
        match self {
            ConflictReason::DeclaredPerson => "declared_person",
            ConflictReason::DeclaredOrganization => "declared_organization",
            ConflictReason::DeclaredDomain => "declared_domain",
            ConflictReason::SamePersonOnOtherCase => "same_person_on_other_case",
            ConflictReason::SameOrganizationOnOtherCase => "same_organization_on_other_case",
            ConflictReason::SameDomainOnOtherCase => "same_domain_on_other_case",
        }
    }
}

/// One conflict: who on the case, why, and (for matches on other cases)
/// which case.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Conflict<K, C> {
    /// The person on the case being assigned.
    pub person: K,
    /// Why.
    pub reason: ConflictReason,
    /// What matched: the address, domain or folded organisation name.
    pub matched: String,
    /// The other case, for matches there.
    pub other_case: Option<C>,
}

/// The conflicts between the case's `people` and the mediator's
/// `declarations` and `other_cases` (their people, per case), sorted and
/// without duplicates.
pub fn find_conflicts<K: Clone + Ord, C: Clone + Ord, K2>(
    people: &[Person<K>],
    declarations: &[Declaration],
    other_cases: &[(C, Vec<Person<K2>>)],
) -> Vec<Conflict<K, C>> {
    let mut found = BTreeSet::new();
    for p in people {
        let domain = MailDomain::of(&p.email);
        for d in declarations {
            let (hit, reason) = match d {
                Declaration::Person(e) => (*e == p.email, ConflictReason::DeclaredPerson),
                Declaration::EmailDomain(dd) => (*dd == domain, ConflictReason::DeclaredDomain),
                Declaration::Organization(o) => (
                    p.organization.as_ref() == Some(o),
                    ConflictReason::DeclaredOrganization,
                ),
            };
            if hit {
                found.insert(Conflict {
                    person: p.key.clone(),
                    reason,
                    matched: d.value().to_owned(),
                    other_case: None,
                });
            }
        }
        for (case, others) in other_cases {
            for o in others {
                let mut add = |reason: ConflictReason, matched: &str| {
                    found.insert(Conflict {
                        person: p.key.clone(),
                        reason,
                        matched: matched.to_owned(),
                        other_case: Some(case.clone()),
                    });
                };
                if o.email == p.email {
                    add(ConflictReason::SamePersonOnOtherCase, p.email.as_str());
                    // The same person: domain and organisation add nothing.
                    continue;
                }
                if let (Some(a), Some(b)) = (&p.organization, &o.organization) {
                    if a == b {
                        add(ConflictReason::SameOrganizationOnOtherCase, a.as_str());
                    }
                }
                if !domain.is_public_provider() && MailDomain::of(&o.email) == domain {
                    add(ConflictReason::SameDomainOnOtherCase, domain.as_str());
                }
            }
        }
    }
    found.into_iter().collect()
}

/// Checks an override's written reason: 10 to 2000 characters of text.
pub fn parse_override_reason(raw: &str) -> Result<String, ValidationError> {
    let trimmed = raw.trim();
    let n = trimmed.chars().count();
    if !(10..=2000).contains(&n) {
        return Err(ValidationError::new(
            "reason",
            "must explain the override in 10 to 2000 characters",
        ));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(key: u32, email: &str, org: Option<&str>) -> Person<u32> {
        Person {
            key,
            email: EmailAddress::parse(email).unwrap(),
            organization: org.map(|o| OrganizationName::parse(o).unwrap()),
        }
    }

    #[test]
    fn declarations_parse_and_normalise() {
        let o = Declaration::parse(DeclarationKind::Organization, "  ACME   Ltd ").unwrap();
        assert_eq!(o.value(), "acme ltd");
        let d = Declaration::parse(DeclarationKind::EmailDomain, "@Acme.Example").unwrap();
        assert_eq!(d.value(), "acme.example");
        let p = Declaration::parse(DeclarationKind::Person, "Jo@Acme.Example").unwrap();
        assert_eq!(p.value(), "jo@acme.example");
        assert!(Declaration::parse(DeclarationKind::EmailDomain, "not a domain").is_err());
        assert!(Declaration::parse(DeclarationKind::Person, "nobody").is_err());
        assert!(Declaration::parse(DeclarationKind::Organization, "   ").is_err());
        for k in DeclarationKind::ALL {
            assert_eq!(DeclarationKind::parse(k.as_str()), Ok(k));
        }
    }

    #[test]
    fn each_declaration_kind_matches() {
        let people = [
            person(1, "jo@acme.example", None),
            person(2, "sam@other.example", Some("Globex Corp")),
            person(3, "kim@bank.example", None),
        ];
        let declared = [
            Declaration::parse(DeclarationKind::Person, "jo@acme.example").unwrap(),
            Declaration::parse(DeclarationKind::Organization, "globex  corp").unwrap(),
            Declaration::parse(DeclarationKind::EmailDomain, "bank.example").unwrap(),
        ];
        let found = find_conflicts::<u32, u32, u32>(&people, &declared, &[]);
        let got: Vec<(u32, ConflictReason)> =
            found.iter().map(|c| (c.person, c.reason.clone())).collect();
        assert_eq!(
            got,
            vec![
                (1, ConflictReason::DeclaredPerson),
                (2, ConflictReason::DeclaredOrganization),
                (3, ConflictReason::DeclaredDomain),
            ]
        );
    }

    #[test]
    fn other_cases_match_by_email_organisation_and_private_domain() {
        let people = [
            person(1, "jo@acme.example", None),
            person(2, "sam@gmail.com", Some("Globex")),
            person(3, "pat@gmail.com", None),
            person(4, "lee@initech.example", None),
        ];
        let other = vec![(
            99u32,
            vec![
                person(10, "jo@acme.example", None),
                person(11, "someone@gmail.com", Some("globex")),
                person(12, "boss@initech.example", None),
            ],
        )];
        let found = find_conflicts(&people, &[], &other);
        let got: Vec<(u32, ConflictReason, Option<u32>)> = found
            .iter()
            .map(|c| (c.person, c.reason.clone(), c.other_case))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, ConflictReason::SamePersonOnOtherCase, Some(99)),
                (2, ConflictReason::SameOrganizationOnOtherCase, Some(99)),
                (4, ConflictReason::SameDomainOnOtherCase, Some(99)),
            ]
        );
    }

    #[test]
    fn the_same_name_is_not_a_conflict() {
        // Names are not even part of a Person: two John Smiths at different
        // addresses and organisations never match.
        let people = [person(1, "john.smith@north.example", Some("North Ltd"))];
        let other = vec![(
            7u32,
            vec![person(2, "john.smith@south.example", Some("South Ltd"))],
        )];
        let declared =
            [Declaration::parse(DeclarationKind::Person, "john.smith@east.example").unwrap()];
        assert!(find_conflicts(&people, &declared, &other).is_empty());
    }

    #[test]
    fn override_reasons_must_say_something() {
        assert!(parse_override_reason("too short").is_err());
        assert!(parse_override_reason(&"x".repeat(2001)).is_err());
        assert_eq!(
            parse_override_reason("  Disclosed to both parties, who agreed in writing. ").unwrap(),
            "Disclosed to both parties, who agreed in writing."
        );
    }
}
