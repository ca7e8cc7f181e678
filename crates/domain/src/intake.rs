//! The intake form: what an org asks each party before the first session.
//!
//! The form is a choice among a fixed catalogue of fields ([`IntakeField`]),
//! each of which an org turns on, and makes required or optional; the dispute
//! type offers the org's own list of options. A party's answers are checked
//! against the form ([`IntakeForm::check`]) and are case content: they are
//! kept with the case and never logged (their `Debug` output is redacted).

use std::collections::BTreeMap;
use std::fmt;

use crate::ValidationError;

/// A field the form may ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IntakeField {
    /// The kind of dispute, one of the org's options.
    DisputeType,
    /// The amount in dispute, in minor units of the org's currency.
    AmountInDispute,
    /// The language the party prefers to mediate in.
    PreferredLanguage,
    /// Free text about accessibility needs.
    AccessibilityNeeds,
    /// Whether the party needs an interpreter.
    InterpreterNeeded,
}

impl IntakeField {
    /// Every field, in the order forms show them.
    pub const ALL: [IntakeField; 5] = [
        IntakeField::DisputeType,
        IntakeField::AmountInDispute,
        IntakeField::PreferredLanguage,
        IntakeField::AccessibilityNeeds,
        IntakeField::InterpreterNeeded,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            IntakeField::DisputeType => "dispute_type",
            IntakeField::AmountInDispute => "amount_in_dispute",
            IntakeField::PreferredLanguage => "preferred_language",
            IntakeField::AccessibilityNeeds => "accessibility_needs",
            IntakeField::InterpreterNeeded => "interpreter_needed",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        crate::values::parse_one_of("field", raw, &Self::ALL, Self::as_str)
    }
}

/// One field as an org asks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldSetting {
    /// Which field.
    pub field: IntakeField,
    /// Whether an answer is required.
    pub required: bool,
}

/// An org's intake form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntakeForm {
    fields: Vec<FieldSetting>,
    dispute_types: Vec<String>,
}

impl IntakeForm {
    /// A form asking `fields` (each at most once), with `dispute_types` as
    /// the options for the dispute type (required, 1 to 30 of 1 to 100
    /// characters, when that field is asked).
    pub fn new(
        fields: Vec<FieldSetting>,
        dispute_types: Vec<String>,
    ) -> Result<Self, ValidationError> {
        let mut seen = std::collections::BTreeSet::new();
        for f in &fields {
            if !seen.insert(f.field) {
                return Err(ValidationError::new("fields", "must name each field once"));
            }
        }
        let dispute_types: Vec<String> = dispute_types
            .iter()
            .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        if dispute_types
            .iter()
            .any(|d| d.is_empty() || d.chars().count() > 100)
        {
            return Err(ValidationError::new(
                "disputeTypes",
                "each option must be 1 to 100 characters",
            ));
        }
        let unique: std::collections::BTreeSet<&String> = dispute_types.iter().collect();
        if unique.len() != dispute_types.len() || dispute_types.len() > 30 {
            return Err(ValidationError::new(
                "disputeTypes",
                "must be at most 30 different options",
            ));
        }
        if seen.contains(&IntakeField::DisputeType) && dispute_types.is_empty() {
            return Err(ValidationError::new(
                "disputeTypes",
                "must offer at least one option when the dispute type is asked",
            ));
        }
        let mut fields = fields;
        fields.sort_by_key(|f| f.field);
        Ok(IntakeForm {
            fields,
            dispute_types,
        })
    }

    /// The form new orgs start with: every field, the dispute type required.
    pub fn default_form() -> Self {
        IntakeForm {
            fields: IntakeField::ALL
                .iter()
                .map(|f| FieldSetting {
                    field: *f,
                    required: *f == IntakeField::DisputeType,
                })
                .collect(),
            dispute_types: ["Commercial", "Employment", "Family", "Neighbours", "Other"]
                .into_iter()
                .map(str::to_owned)
                .collect(),
        }
    }

    /// The fields asked, in display order.
    pub fn fields(&self) -> &[FieldSetting] {
        &self.fields
    }

    /// The dispute type's options.
    pub fn dispute_types(&self) -> &[String] {
        &self.dispute_types
    }

    /// Checks `answers` against the form: only asked fields, every required
    /// one answered, each answer of its field's shape. Empty answers count as
    /// not given. Returns the answers with blanks dropped and text trimmed.
    pub fn check(&self, answers: &Answers) -> Result<Answers, ValidationError> {
        let mut clean = BTreeMap::new();
        for (field, value) in &answers.0 {
            let Some(setting) = self.fields.iter().find(|f| f.field == *field) else {
                return Err(ValidationError::new(
                    "answers",
                    format!("{} is not asked by this form", field.as_str()),
                ));
            };
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            let bad = |m: &str| {
                ValidationError::new("answers", format!("{}: {m}", setting.field.as_str()))
            };
            match field {
                IntakeField::DisputeType => {
                    if !self.dispute_types.iter().any(|d| d == value) {
                        return Err(bad("must be one of the offered options"));
                    }
                }
                IntakeField::AmountInDispute => {
                    let n: i64 = value
                        .parse()
                        .map_err(|_| bad("must be a whole number of minor units"))?;
                    crate::money::parse_amount("answers", n)
                        .map_err(|_| bad("must be between 0 and 1000000000000"))?;
                }
                IntakeField::PreferredLanguage => {
                    if value.chars().count() > 60 {
                        return Err(bad("must be at most 60 characters"));
                    }
                }
                IntakeField::AccessibilityNeeds => {
                    if value.chars().count() > 2000 {
                        return Err(bad("must be at most 2000 characters"));
                    }
                }
                IntakeField::InterpreterNeeded => {
                    if value != "yes" && value != "no" {
                        return Err(bad("must be yes or no"));
                    }
                }
            }
            clean.insert(*field, value.to_owned());
        }
        for setting in &self.fields {
            if setting.required && !clean.contains_key(&setting.field) {
                return Err(ValidationError::new(
                    "answers",
                    format!("{} is required", setting.field.as_str()),
                ));
            }
        }
        Ok(Answers(clean))
    }
}

/// A party's answers by field. Case content: `Debug` shows only which
/// fields are answered.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Answers(pub BTreeMap<IntakeField, String>);

impl fmt::Debug for Answers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.0.keys().map(|k| k.as_str()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(pairs: &[(IntakeField, &str)]) -> Answers {
        Answers(pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect())
    }

    #[test]
    fn required_fields_must_be_answered() {
        let form = IntakeForm::default_form();
        assert!(form.check(&answers(&[])).is_err());
        assert!(form
            .check(&answers(&[(IntakeField::DisputeType, "  ")]))
            .is_err());
        let ok = form
            .check(&answers(&[
                (IntakeField::DisputeType, "Commercial"),
                (IntakeField::AccessibilityNeeds, " "),
                (IntakeField::InterpreterNeeded, "yes"),
            ]))
            .unwrap();
        assert_eq!(ok.0.len(), 2);
    }

    #[test]
    fn answers_have_their_fields_shape() {
        let form = IntakeForm::default_form();
        let with = |f: IntakeField, v: &str| {
            form.check(&answers(&[(IntakeField::DisputeType, "Family"), (f, v)]))
        };
        assert!(with(IntakeField::AmountInDispute, "12.50").is_err());
        assert!(with(IntakeField::AmountInDispute, "-1").is_err());
        assert!(with(IntakeField::AmountInDispute, "1250").is_ok());
        assert!(with(IntakeField::InterpreterNeeded, "maybe").is_err());
        assert!(with(IntakeField::DisputeType, "Piracy").is_err());
        assert!(with(IntakeField::PreferredLanguage, &"x".repeat(61)).is_err());
    }

    #[test]
    fn fields_not_asked_are_refused() {
        let form = IntakeForm::new(
            vec![FieldSetting {
                field: IntakeField::PreferredLanguage,
                required: false,
            }],
            vec![],
        )
        .unwrap();
        assert!(form
            .check(&answers(&[(IntakeField::InterpreterNeeded, "no")]))
            .is_err());
        assert!(form.check(&answers(&[])).is_ok());
    }

    #[test]
    fn forms_are_checked() {
        let f = |field| FieldSetting {
            field,
            required: false,
        };
        assert!(IntakeForm::new(vec![f(IntakeField::DisputeType)], vec![]).is_err());
        assert!(IntakeForm::new(
            vec![
                f(IntakeField::InterpreterNeeded),
                f(IntakeField::InterpreterNeeded)
            ],
            vec![]
        )
        .is_err());
        assert!(IntakeForm::new(vec![], vec!["A".into(), "A".into()]).is_err());
    }

    #[test]
    fn debug_output_hides_answers() {
        let a = answers(&[(IntakeField::AccessibilityNeeds, "wheelchair")]);
        let shown = format!("{a:?}");
        assert!(!shown.contains("wheelchair"));
        assert!(shown.contains("accessibility_needs"));
    }
}
