//! Dates and times as a recipient reads them: in their time zone and locale.
//!
//! The mail's wording is English; its dates follow the recipient's locale
//! (order, clock, and the names of days and months).

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;

/// How dates and times are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Locale {
    /// British English (`en-GB`): "Sunday 28 March 2027, 09:30".
    #[default]
    En,
    /// American English (`en-US`): "Sunday, March 28, 2027, 9:30 AM".
    EnUs,
    /// French (`fr-FR`): "dimanche 28 mars 2027, 09:30".
    FrFr,
    /// German (`de-DE`): "Sonntag, 28. März 2027, 09:30".
    DeDe,
}

impl Locale {
    /// Every locale, in the order the portals offer them.
    pub const ALL: [Locale; 4] = [Locale::En, Locale::EnUs, Locale::FrFr, Locale::DeDe];

    /// The locale for a BCP 47 tag (`en-US`, `fr-FR`, …, any case); anything
    /// unknown is [`Locale::En`].
    pub fn from_tag(tag: Option<&str>) -> Self {
        Self::parse(tag.unwrap_or_default()).unwrap_or_default()
    }

    /// The locale of exactly one of the known tags (any case), or `None`.
    pub fn parse(tag: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|l| l.tag().eq_ignore_ascii_case(tag.trim()))
    }

    /// Its BCP 47 tag, as stored.
    pub fn tag(self) -> &'static str {
        match self {
            Locale::En => "en-GB",
            Locale::EnUs => "en-US",
            Locale::FrFr => "fr-FR",
            Locale::DeDe => "de-DE",
        }
    }
}

const FR_DAYS: [&str; 7] = [
    "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
];
const FR_MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];
const DE_DAYS: [&str; 7] = [
    "Montag",
    "Dienstag",
    "Mittwoch",
    "Donnerstag",
    "Freitag",
    "Samstag",
    "Sonntag",
];
const DE_MONTHS: [&str; 12] = [
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
];

/// `at` in `zone`, with the zone's abbreviation and name, e.g.
/// "Sunday 28 March 2027, 09:30 (BST, Europe/London)".
pub fn date_time(at: DateTime<Utc>, zone: Tz, locale: Locale) -> String {
    let local = at.with_timezone(&zone);
    let day = local.weekday().num_days_from_monday() as usize;
    let month = local.month0() as usize;
    let date = match locale {
        Locale::En => local.format("%A %-d %B %Y, %H:%M").to_string(),
        Locale::EnUs => local.format("%A, %B %-d, %Y, %-I:%M %p").to_string(),
        Locale::FrFr => format!(
            "{} {} {} {}, {}",
            FR_DAYS[day],
            local.day(),
            FR_MONTHS[month],
            local.year(),
            local.format("%H:%M")
        ),
        Locale::DeDe => format!(
            "{}, {}. {} {}, {}",
            DE_DAYS[day],
            local.day(),
            DE_MONTHS[month],
            local.year(),
            local.format("%H:%M")
        ),
    };
    format!("{date} ({}, {})", local.format("%Z"), zone.name())
}

/// Only the clock time of `at` in `zone`: "10:30" or "10:30 AM".
pub fn time(at: DateTime<Utc>, zone: Tz, locale: Locale) -> String {
    let local = at.with_timezone(&zone);
    match locale {
        Locale::EnUs => local.format("%-I:%M %p").to_string(),
        Locale::En | Locale::FrFr | Locale::DeDe => local.format("%H:%M").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    #[test]
    fn the_same_instant_reads_differently_across_a_dst_change() {
        let london: Tz = "Europe/London".parse().unwrap();
        // 27 March 2027 is the last Saturday in GMT; 28 March is the first in BST.
        let before = Utc.with_ymd_and_hms(2027, 3, 27, 9, 30, 0).unwrap();
        let after = Utc.with_ymd_and_hms(2027, 3, 28, 9, 30, 0).unwrap();
        assert_eq!(
            date_time(before, london, Locale::En),
            "Saturday 27 March 2027, 09:30 (GMT, Europe/London)"
        );
        assert_eq!(
            date_time(after, london, Locale::En),
            "Sunday 28 March 2027, 10:30 (BST, Europe/London)"
        );
        let new_york: Tz = "America/New_York".parse().unwrap();
        assert_eq!(
            date_time(after, new_york, Locale::EnUs),
            "Sunday, March 28, 2027, 5:30 AM (EDT, America/New_York)"
        );
        let paris: Tz = "Europe/Paris".parse().unwrap();
        assert_eq!(
            date_time(after, paris, Locale::FrFr),
            "dimanche 28 mars 2027, 11:30 (CEST, Europe/Paris)"
        );
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(
            date_time(before, berlin, Locale::DeDe),
            "Samstag, 27. März 2027, 10:30 (CET, Europe/Berlin)"
        );
    }

    #[test]
    fn tags_round_trip_and_unknown_ones_fall_back_to_british_english() {
        for l in Locale::ALL {
            assert_eq!(Locale::parse(l.tag()), Some(l));
            assert_eq!(Locale::from_tag(Some(&l.tag().to_lowercase())), l);
        }
        assert_eq!(Locale::parse("es-ES"), None);
        assert_eq!(Locale::from_tag(Some("xx")), Locale::En);
        assert_eq!(Locale::from_tag(None), Locale::En);
    }
}
