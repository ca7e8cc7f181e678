//! Validated value types.
//!
//! Each type can only be obtained through its `parse` constructor (or by
//! deserializing, which calls `parse`), so holding one is proof that the value
//! is well formed and normalised. Downstream code never re-checks.
//!
//! Two rules hold throughout:
//!
//! - A [`ValidationError`] names the field and the rule broken, never the
//!   rejected value. Errors travel to logs and to other tenants' eyes far
//!   more easily than values do.
//! - Types holding personal data or case content redact themselves in `Debug`,
//!   so that a stray `{:?}` in a log line cannot leak them. `Display` and
//!   `as_str` still give the real value, for the places that legitimately
//!   need it.

use std::fmt;

use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An input did not meet the rules for its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// The API name of the offending field, e.g. `"email"` or `"startsAt"`.
    pub field: &'static str,
    /// What is wrong, phrased to follow the field name. Never contains the
    /// rejected value.
    pub message: String,
}

impl ValidationError {
    /// Builds an error for `field`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Parses one of a closed set of names, as used by the domain's enums.
pub(crate) fn parse_one_of<T: Copy>(
    field: &'static str,
    raw: &str,
    all: &[T],
    name: impl Fn(T) -> &'static str,
) -> Result<T, ValidationError> {
    all.iter()
        .copied()
        .find(|v| name(*v) == raw)
        .ok_or_else(|| {
            let names: Vec<&str> = all.iter().map(|v| name(*v)).collect();
            ValidationError::new(field, format!("must be one of: {}", names.join(", ")))
        })
}

/// Trims `raw` and checks it is free text of 1..=`max_chars` characters
/// without control characters.
fn bounded_text(
    field: &'static str,
    raw: &str,
    max_chars: usize,
) -> Result<String, ValidationError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if text.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    if text.chars().count() > max_chars {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    Ok(text.to_owned())
}

/// `Display` shows the value itself.
macro_rules! display_as_str {
    ($ty:ident) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// `Debug` that never shows the value.
macro_rules! redacted_debug {
    ($ty:ident) => {
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($ty), "(<redacted>)"))
            }
        }
    };
}

/// `Debug` that shows the value, for types that are neither personal nor
/// confidential.
macro_rules! plain_debug {
    ($ty:ident) => {
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($ty))
                    .field(&self.as_str())
                    .finish()
            }
        }
    };
}

macro_rules! serialize_as_str {
    ($ty:ident) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}

/// Deserialization goes through `parse`, so a value read from JSON is as
/// trustworthy as one built in code.
macro_rules! deserialize_via_parse {
    ($ty:ident) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// An email address, normalised to lower case.
///
/// The whole address is lower-cased, local part included. Strictly the local
/// part is case-sensitive, but no mail system in practice treats it so, and
/// accounts and invitations are matched by address: `Ana@x.org` and
/// `ana@x.org` must be the same person.
///
/// The rules are deliberately narrower than RFC 5322 (no quoted local parts,
/// no IP-literal domains, domains in ASCII/punycode only): they accept every
/// address people actually use while keeping out what would be awkward to
/// store, compare or display.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    const FIELD: &'static str = "email";
    // Limits are in octets, per RFC 5321. For the ASCII addresses nearly
    // everyone has, octets and characters coincide.
    const MAX_LEN: usize = 254;
    const MAX_LOCAL_LEN: usize = 64;
    const MAX_LABEL_LEN: usize = 63;

    /// Trims, lower-cases and validates an email address.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let err = |message: &str| ValidationError::new(Self::FIELD, message);
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(err("must not be empty"));
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(err("must not contain spaces or control characters"));
        }
        let Some((local, domain)) = trimmed.split_once('@') else {
            return Err(err("must contain an @"));
        };
        if domain.contains('@') {
            return Err(err("must contain exactly one @"));
        }
        // Stored addresses are already folded: those are checked without
        // copying (this runs for every address a listing loads).
        let local: std::borrow::Cow<'_, str> = if local
            .bytes()
            .all(|b| b.is_ascii() && !b.is_ascii_uppercase())
        {
            local.into()
        } else {
            local.to_lowercase().into()
        };
        // ASCII-only folding: Unicode rules would turn look-alikes such as the
        // Kelvin sign into plain letters and so accept a domain nobody typed.
        // Anything non-ASCII left over is refused by the label check below.
        let domain: std::borrow::Cow<'_, str> = if domain.bytes().any(|b| b.is_ascii_uppercase()) {
            domain.to_ascii_lowercase().into()
        } else {
            domain.into()
        };
        if local.is_empty() {
            return Err(err("must have a name before the @"));
        }
        if local.len() > Self::MAX_LOCAL_LEN {
            return Err(err("must have at most 64 characters before the @"));
        }
        if local.len() + 1 + domain.len() > Self::MAX_LEN {
            return Err(err("must be at most 254 characters"));
        }
        if !domain.contains('.') {
            return Err(err("must have a domain with a dot, like example.org"));
        }
        for label in domain.split('.') {
            if label.is_empty() {
                return Err(err("must not have empty parts in the domain"));
            }
            if label.len() > Self::MAX_LABEL_LEN {
                return Err(err("must not have domain parts longer than 63 characters"));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(err(
                    "must have a domain of letters, digits and hyphens only",
                ));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(err(
                    "must not have domain parts starting or ending with a hyphen",
                ));
            }
        }
        let mut address = String::with_capacity(local.len() + 1 + domain.len());
        address.push_str(&local);
        address.push('@');
        address.push_str(&domain);
        Ok(Self(address))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        // `parse` guarantees exactly one '@'.
        self.0.rsplit_once('@').map_or("", |(_, domain)| domain)
    }
}

redacted_debug!(EmailAddress);
display_as_str!(EmailAddress);
serialize_as_str!(EmailAddress);
deserialize_via_parse!(EmailAddress);

/// How a person is named to others on the platform.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DisplayName(String);

impl DisplayName {
    const FIELD: &'static str = "displayName";
    const MAX_CHARS: usize = 200;

    /// Trims and validates a display name: 1 to 200 characters, no control
    /// characters.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        bounded_text(Self::FIELD, raw, Self::MAX_CHARS).map(Self)
    }

    /// The name as entered, trimmed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

redacted_debug!(DisplayName);
display_as_str!(DisplayName);
serialize_as_str!(DisplayName);
deserialize_via_parse!(DisplayName);

/// The URL-safe handle of an organization, e.g. `acme-mediation`.
///
/// Not trimmed or lower-cased: a slug is an identifier that appears in URLs,
/// and silently rewriting one would hand the user a different identifier
/// from the one they typed.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgSlug(String);

impl OrgSlug {
    const FIELD: &'static str = "slug";
    // 63 is the DNS label limit, which keeps slugs usable as subdomains.
    const MIN_LEN: usize = 2;
    const MAX_LEN: usize = 63;

    /// Validates a slug: 2 to 63 of `a-z`, `0-9` and `-`, starting with a
    /// letter, with no trailing or doubled hyphen.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let err = |message: &str| ValidationError::new(Self::FIELD, message);
        if !raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(err(
                "must contain only lowercase letters, digits and hyphens",
            ));
        }
        // All ASCII from here on, so bytes are characters.
        if raw.len() < Self::MIN_LEN || raw.len() > Self::MAX_LEN {
            return Err(err("must be between 2 and 63 characters"));
        }
        if !raw.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(err("must start with a letter"));
        }
        if raw.ends_with('-') {
            return Err(err("must not end with a hyphen"));
        }
        if raw.contains("--") {
            return Err(err("must not contain consecutive hyphens"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

plain_debug!(OrgSlug);
display_as_str!(OrgSlug);
serialize_as_str!(OrgSlug);
deserialize_via_parse!(OrgSlug);

/// The human-readable name of an organization.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct OrgName(String);

impl OrgName {
    const FIELD: &'static str = "name";
    const MAX_CHARS: usize = 200;

    /// Trims and validates an organization name: 1 to 200 characters, no
    /// control characters.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        bounded_text(Self::FIELD, raw, Self::MAX_CHARS).map(Self)
    }

    /// The name, trimmed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

plain_debug!(OrgName);
display_as_str!(OrgName);
serialize_as_str!(OrgName);
deserialize_via_parse!(OrgName);

/// An organization's own reference for a case, e.g. `MED-2026-0042`.
///
/// Case is preserved: references often mirror a court or file number whose
/// spelling matters to the people using it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CaseReference(String);

impl CaseReference {
    const FIELD: &'static str = "reference";
    const MAX_LEN: usize = 64;

    /// Trims and validates a reference: 1 to 64 of `A-Z`, `a-z`, `0-9`,
    /// `-`, `_`, `/` and `.`.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let err = |message: &str| ValidationError::new(Self::FIELD, message);
        let reference = raw.trim();
        if reference.is_empty() {
            return Err(err("must not be empty"));
        }
        if !reference
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/' | b'.'))
        {
            return Err(err(
                "must contain only letters, digits and the characters - _ / .",
            ));
        }
        // All ASCII from here on, so bytes are characters.
        if reference.len() > Self::MAX_LEN {
            return Err(err("must be at most 64 characters"));
        }
        Ok(Self(reference.to_owned()))
    }

    /// The reference, trimmed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

plain_debug!(CaseReference);
display_as_str!(CaseReference);
serialize_as_str!(CaseReference);
deserialize_via_parse!(CaseReference);

/// The title of a case. Titles routinely name the parties and the dispute,
/// so they are treated as confidential case content.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CaseTitle(String);

impl CaseTitle {
    const FIELD: &'static str = "title";
    const MAX_CHARS: usize = 300;

    /// Trims and validates a title: 1 to 300 characters, no control
    /// characters.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        bounded_text(Self::FIELD, raw, Self::MAX_CHARS).map(Self)
    }

    /// The title, trimmed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

redacted_debug!(CaseTitle);
display_as_str!(CaseTitle);
serialize_as_str!(CaseTitle);
deserialize_via_parse!(CaseTitle);

/// A time zone from the IANA database, such as `Europe/London`.
///
/// Sessions are stored as UTC instants; the zone says how to present them to
/// the people attending. Offsets like `UTC+3` are refused because a fixed
/// offset cannot follow daylight-saving changes, which is precisely what goes
/// wrong when a recurring schedule crosses one.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IanaTimeZone(Tz);

impl IanaTimeZone {
    const FIELD: &'static str = "timeZone";

    /// Validates a time-zone name against the IANA database, as spelled
    /// there (names are case-sensitive).
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        raw.parse::<Tz>().map(Self).map_err(|_| {
            ValidationError::new(
                Self::FIELD,
                "must be an IANA time zone name, like Europe/London",
            )
        })
    }

    /// The IANA name of the zone.
    pub fn as_str(&self) -> &str {
        self.0.name()
    }

    /// The zone, for time arithmetic.
    pub fn tz(&self) -> Tz {
        self.0
    }
}

plain_debug!(IanaTimeZone);
display_as_str!(IanaTimeZone);
serialize_as_str!(IanaTimeZone);
deserialize_via_parse!(IanaTimeZone);

/// A new password, as chosen by a user, before hashing.
///
/// Only length is checked: composition rules push people towards predictable
/// patterns, while length is what makes a password hard to guess. The upper
/// bound keeps hashing cost bounded. Not trimmed, since spaces are as good a
/// character as any.
///
/// Deliberately neither `Serialize` nor `Display`: the only thing to do with
/// a password is hash it, via [`as_str`](Self::as_str).
#[derive(Clone, PartialEq, Eq)]
pub struct PlainPassword(String);

impl PlainPassword {
    const FIELD: &'static str = "password";
    const MIN_CHARS: usize = 12;
    const MAX_CHARS: usize = 1024;

    /// Validates a new password: 12 to 1024 characters.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(ValidationError::new(
                Self::FIELD,
                "must be at least 12 characters",
            ));
        }
        if chars > Self::MAX_CHARS {
            return Err(ValidationError::new(
                Self::FIELD,
                "must be at most 1024 characters",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The password, for hashing.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

redacted_debug!(PlainPassword);
deserialize_via_parse!(PlainPassword);

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of<T>(result: Result<T, ValidationError>) -> &'static str {
        match result {
            Ok(_) => panic!("expected a validation error"),
            Err(err) => err.field,
        }
    }

    // ---- EmailAddress ----

    #[test]
    fn email_accepts_and_normalises() {
        let cases = [
            ("ana@example.org", "ana@example.org"),
            ("  Ana.Lopez@Example.ORG \n", "ana.lopez@example.org"),
            ("a+tag@mail.example.co.uk", "a+tag@mail.example.co.uk"),
            ("x@a-b.c0", "x@a-b.c0"),
            // Non-ASCII names before the @ fold by Unicode's rules (a
            // titlecase letter too), already-folded ones stay as they are.
            ("JOSÉ@Example.org", "josé@example.org"),
            ("josé@example.org", "josé@example.org"),
            ("\u{1c5}ana@example.org", "\u{1c6}ana@example.org"),
            (
                "o'brien@xn--bcher-kva.example",
                "o'brien@xn--bcher-kva.example",
            ),
        ];
        for (raw, normalised) in cases {
            let email = EmailAddress::parse(raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
            assert_eq!(email.as_str(), normalised);
            assert_eq!(email.to_string(), normalised);
        }
        assert_eq!(
            EmailAddress::parse("ANA@EXAMPLE.ORG").unwrap(),
            EmailAddress::parse("ana@example.org").unwrap()
        );
        assert_eq!(
            EmailAddress::parse("ana@mail.example.org")
                .unwrap()
                .domain(),
            "mail.example.org"
        );
    }

    #[test]
    fn email_length_limits() {
        let local_64 = "a".repeat(64);
        assert!(EmailAddress::parse(&format!("{local_64}@example.org")).is_ok());
        assert!(EmailAddress::parse(&format!("{local_64}a@example.org")).is_err());

        let label_63 = "b".repeat(63);
        assert!(EmailAddress::parse(&format!("a@{label_63}.org")).is_ok());
        assert!(EmailAddress::parse(&format!("a@{label_63}b.org")).is_err());

        // "a@" plus a domain of 63 + 1 + 63 + 1 + 63 + 1 + 60 is exactly 254.
        let long_domain = format!("{label_63}.{label_63}.{label_63}.{}", "c".repeat(60));
        let at_limit = format!("a@{long_domain}");
        assert_eq!(at_limit.len(), 254);
        assert!(EmailAddress::parse(&at_limit).is_ok());
        assert!(EmailAddress::parse(&format!("a{at_limit}")).is_err());
    }

    #[test]
    fn email_rejects_malformed_addresses() {
        let rejected = [
            "",
            "   ",
            "ana",
            "ana.example.org",
            "@example.org",
            "ana@",
            "ana@localhost",
            "ana@@example.org",
            "ana@b@example.org",
            "an a@example.org",
            "ana@exa mple.org",
            "ana\u{7}@example.org",
            "ana@example..org",
            "ana@.example.org",
            "ana@example.org.",
            "ana@-example.org",
            "ana@example-.org",
            "ana@exa_mple.org",
            "ana@exämple.org",
            "ana@[192.168.0.1]",
            "ana@\u{212A}elvin.org",
        ];
        for raw in rejected {
            assert_eq!(field_of(EmailAddress::parse(raw)), "email", "{raw:?}");
        }
    }

    #[test]
    fn email_errors_and_debug_do_not_reveal_the_address() {
        let err = EmailAddress::parse("secret.person@nowhere").unwrap_err();
        assert!(!err.to_string().contains("secret"));
        let email = EmailAddress::parse("secret.person@example.org").unwrap();
        assert_eq!(format!("{email:?}"), "EmailAddress(<redacted>)");
        assert_eq!(
            format!("{:?}", Some(&email)),
            "Some(EmailAddress(<redacted>))"
        );
    }

    #[test]
    fn email_serde_goes_through_parse() {
        let email: EmailAddress = serde_json::from_str("\" Ana@Example.org \"").unwrap();
        assert_eq!(email.as_str(), "ana@example.org");
        assert_eq!(
            serde_json::to_string(&email).unwrap(),
            "\"ana@example.org\""
        );
        let err = serde_json::from_str::<EmailAddress>("\"not-an-email\"").unwrap_err();
        assert!(err.to_string().starts_with("email: "), "{err}");
        assert!(serde_json::from_str::<EmailAddress>("42").is_err());
    }

    // ---- DisplayName ----

    #[test]
    fn display_name_rules() {
        assert_eq!(
            DisplayName::parse("  Ana López ").unwrap().as_str(),
            "Ana López"
        );
        assert_eq!(DisplayName::parse("李").unwrap().as_str(), "李");
        // 200 multi-byte characters are fine: the limit is in characters.
        assert!(DisplayName::parse(&"é".repeat(200)).is_ok());
        assert!(DisplayName::parse(&"é".repeat(201)).is_err());
        for raw in ["", "  \t ", "Ana\nLópez", "Ana\u{0}", "Ana\u{1b}[31m"] {
            assert_eq!(field_of(DisplayName::parse(raw)), "displayName", "{raw:?}");
        }
        let name = DisplayName::parse("Ana").unwrap();
        assert_eq!(format!("{name:?}"), "DisplayName(<redacted>)");
        assert_eq!(name.to_string(), "Ana");
        assert_eq!(serde_json::to_string(&name).unwrap(), "\"Ana\"");
        assert!(serde_json::from_str::<DisplayName>("\"\"").is_err());
    }

    // ---- OrgSlug ----

    #[test]
    fn slug_accepts_well_formed_slugs() {
        for raw in [
            "ab",
            "acme",
            "acme-mediation",
            "a1",
            "z9-x",
            &"a".repeat(63),
        ] {
            let slug = OrgSlug::parse(raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
            assert_eq!(slug.as_str(), raw);
        }
        assert_eq!(
            format!("{:?}", OrgSlug::parse("acme").unwrap()),
            "OrgSlug(\"acme\")"
        );
    }

    #[test]
    fn slug_rejects_malformed_slugs() {
        let too_long = "a".repeat(64);
        let rejected = [
            "",
            "a",
            too_long.as_str(),
            "Acme",
            "acme_med",
            "acme med",
            " acme",
            "1acme",
            "-acme",
            "acme-",
            "acme--med",
            "acmé",
        ];
        for raw in rejected {
            assert_eq!(field_of(OrgSlug::parse(raw)), "slug", "{raw:?}");
        }
    }

    // ---- OrgName ----

    #[test]
    fn org_name_rules() {
        assert_eq!(
            OrgName::parse(" Acme Mediation Ltd ").unwrap().as_str(),
            "Acme Mediation Ltd"
        );
        assert!(OrgName::parse(&"x".repeat(200)).is_ok());
        for raw in ["", "   ", "Acme\u{7f}", "Acme\r\nLtd", &"x".repeat(201)] {
            assert_eq!(field_of(OrgName::parse(raw)), "name", "{raw:?}");
        }
        let name: OrgName = serde_json::from_str("\"Acme\"").unwrap();
        assert_eq!(format!("{name:?}"), "OrgName(\"Acme\")");
    }

    // ---- CaseReference ----

    #[test]
    fn case_reference_rules() {
        for raw in ["MED-2026-0042", "a", "HC/2025/17.b", "x_y", &"R".repeat(64)] {
            assert_eq!(CaseReference::parse(raw).unwrap().as_str(), raw);
        }
        assert_eq!(
            CaseReference::parse("  MED-1 ").unwrap().as_str(),
            "MED-1",
            "surrounding whitespace is trimmed"
        );
        let too_long = "R".repeat(65);
        for raw in [
            "",
            "  ",
            "MED 1",
            "MED#1",
            "MÉD-1",
            "MED\t1",
            too_long.as_str(),
        ] {
            assert_eq!(field_of(CaseReference::parse(raw)), "reference", "{raw:?}");
        }
    }

    // ---- CaseTitle ----

    #[test]
    fn case_title_rules() {
        assert_eq!(
            CaseTitle::parse(" Smith v. Jones — boundary dispute ")
                .unwrap()
                .as_str(),
            "Smith v. Jones — boundary dispute"
        );
        assert!(CaseTitle::parse(&"t".repeat(300)).is_ok());
        for raw in ["", " ", "a\u{0}b", "line\nbreak", &"t".repeat(301)] {
            assert_eq!(field_of(CaseTitle::parse(raw)), "title", "{raw:?}");
        }
        let title = CaseTitle::parse("Smith v. Jones").unwrap();
        assert_eq!(format!("{title:?}"), "CaseTitle(<redacted>)");
        let json = serde_json::to_string(&title).unwrap();
        assert_eq!(serde_json::from_str::<CaseTitle>(&json).unwrap(), title);
    }

    // ---- IanaTimeZone ----

    #[test]
    fn time_zone_accepts_iana_names() {
        for raw in [
            "Europe/London",
            "America/New_York",
            "Asia/Kolkata",
            "UTC",
            "Etc/GMT+3",
        ] {
            let zone = IanaTimeZone::parse(raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
            assert_eq!(zone.as_str(), raw);
            assert_eq!(zone.tz().name(), raw);
        }
        assert_eq!(
            IanaTimeZone::parse("Europe/London").unwrap().tz(),
            chrono_tz::Europe::London
        );
    }

    #[test]
    fn time_zone_rejects_non_iana_names() {
        for raw in [
            "",
            " ",
            "UTC+3",
            "GMT+03:00",
            "+02:00",
            "Europe/Atlantis",
            "London",
        ] {
            assert_eq!(field_of(IanaTimeZone::parse(raw)), "timeZone", "{raw:?}");
        }
    }

    #[test]
    fn time_zone_serde() {
        let zone: IanaTimeZone = serde_json::from_str("\"Europe/Paris\"").unwrap();
        assert_eq!(serde_json::to_string(&zone).unwrap(), "\"Europe/Paris\"");
        assert_eq!(format!("{zone:?}"), "IanaTimeZone(\"Europe/Paris\")");
        assert!(serde_json::from_str::<IanaTimeZone>("\"UTC+3\"").is_err());
    }

    // ---- PlainPassword ----

    #[test]
    fn password_length_is_counted_in_characters() {
        assert!(PlainPassword::parse(&"a".repeat(12)).is_ok());
        assert!(PlainPassword::parse(&"a".repeat(11)).is_err());
        // 11 characters but 22 bytes: still too short.
        assert!(PlainPassword::parse(&"é".repeat(11)).is_err());
        assert!(PlainPassword::parse(&"é".repeat(12)).is_ok());
        // 1024 characters but 2048 bytes: still within the limit.
        assert!(PlainPassword::parse(&"é".repeat(1024)).is_ok());
        assert!(PlainPassword::parse(&"a".repeat(1025)).is_err());
        assert_eq!(field_of(PlainPassword::parse("")), "password");
    }

    #[test]
    fn password_is_kept_verbatim_and_never_shown() {
        let raw = "  correct horse battery staple  ";
        let password = PlainPassword::parse(raw).unwrap();
        assert_eq!(password.as_str(), raw, "passwords are not trimmed");
        assert_eq!(format!("{password:?}"), "PlainPassword(<redacted>)");
        let err = PlainPassword::parse("hunter2").unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
        let parsed: PlainPassword = serde_json::from_str("\"long enough password\"").unwrap();
        assert_eq!(parsed.as_str(), "long enough password");
        assert!(serde_json::from_str::<PlainPassword>("\"short\"").is_err());
    }

    #[test]
    fn validation_error_display() {
        let err = ValidationError::new("slug", "must start with a letter");
        assert_eq!(err.to_string(), "slug: must start with a letter");
    }
}
