//! Agreements as printable PDFs, and `GET /agreements/{id}/pdf`.
//!
//! An agreement sent for signature is printed once, at that moment, and the
//! PDF's bytes are sealed beside its text: the SHA-256 the signatories'
//! devices sign is the SHA-256 of exactly those bytes, so the file a party
//! downloads, reads and keeps is the thing they signed (`accord agreement
//! verify` hashes the stored file again). A draft prints on request for its
//! mediator, marked as a draft, and is never stored.
//!
//! The text is the mediator's Markdown, printed plainly: `#` and `##`
//! headings in bold, every other line a paragraph wrapped to the page, list
//! markers kept as typed, `**` and `__` emphasis markers dropped.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use uuid::Uuid;

use crate::pdf::{Document, Font, PAGE_HEIGHT, PAGE_WIDTH};
use crate::{web, ApiError, AppState};

const LEFT: f32 = 64.0;
const RIGHT: f32 = PAGE_WIDTH - 64.0;
const TOP: f32 = PAGE_HEIGHT - 64.0;
const BOTTOM: f32 = 72.0;

/// What an agreement prints, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Printable {
    /// The org the mediation runs under.
    pub org: String,
    /// "Settlement agreement" or "Agreement to mediate".
    pub kind: &'static str,
    /// The case's reference.
    pub case_reference: String,
    /// The agreement's id, printed so the file names its record.
    pub agreement: Uuid,
    /// Its version.
    pub version: i32,
    /// Its title.
    pub title: String,
    /// Its text (Markdown).
    pub body: String,
    /// Who signs, by name, in the order they are listed on the case.
    pub signatories: Vec<String>,
    /// A draft prints with a mark saying so.
    pub draft: bool,
}

impl Printable {
    /// The PDF. The same agreement always prints the same bytes.
    pub(crate) fn pdf(&self) -> Vec<u8> {
        let mut w = Writer::new(self);
        w.line(9.0, Font::Regular, &self.org);
        w.gap(4.0);
        w.line(
            9.0,
            Font::Regular,
            &format!("{}, case {}", self.kind, self.case_reference),
        );
        w.line(
            9.0,
            Font::Regular,
            &format!("Agreement {} · version {}", self.agreement, self.version),
        );
        if self.draft {
            w.gap(6.0);
            w.line(11.0, Font::Bold, "DRAFT: not sent for signature");
        }
        w.gap(18.0);
        w.paragraph(18.0, Font::Bold, &self.title, 0.0);
        w.gap(10.0);
        for raw in self.body.lines() {
            let line = raw.trim_end();
            if line.trim().is_empty() {
                w.gap(7.0);
                continue;
            }
            if let Some(h) = line.strip_prefix("## ") {
                w.gap(8.0);
                w.paragraph(12.5, Font::Bold, &plain(h), 0.0);
                w.gap(2.0);
            } else if let Some(h) = line.strip_prefix("# ") {
                w.gap(10.0);
                w.paragraph(15.0, Font::Bold, &plain(h), 0.0);
                w.gap(3.0);
            } else {
                // A list item's continuation lines hang under its text.
                let text = plain(line);
                let hang = list_marker(&text).map_or(0.0, |m| width(m, 10.5, Font::Regular));
                w.paragraph(10.5, Font::Regular, &text, hang);
            }
        }
        w.gap(28.0);
        w.keep(40.0 + 46.0 * self.signatories.len() as f32);
        w.line(12.5, Font::Bold, "Signatures");
        w.gap(4.0);
        w.paragraph(
            9.0,
            Font::Regular,
            "Each signatory signs this file's SHA-256 with the device their invitation registered, \
             with their typed name and the time. The signatures are kept with the case; \
             `accord agreement verify` checks them against this file.",
            0.0,
        );
        for name in &self.signatories {
            w.gap(14.0);
            w.line(10.5, Font::Bold, name);
            w.line(
                9.0,
                Font::Regular,
                "Signed electronically with a registered device",
            );
        }
        w.finish(&format!("{}: {}", self.kind, self.title))
    }
}

/// Lays text out top to bottom, starting pages as they fill.
struct Writer<'a> {
    doc: Document,
    y: f32,
    page: usize,
    of: &'a Printable,
}

impl<'a> Writer<'a> {
    fn new(of: &'a Printable) -> Self {
        let mut w = Writer {
            doc: Document::default(),
            y: TOP,
            page: 0,
            of,
        };
        w.new_page();
        w
    }

    fn new_page(&mut self) {
        self.doc.page();
        self.page += 1;
        self.y = TOP;
        // Every page names the agreement, so a loose page is still placeable.
        let foot = format!(
            "{} · case {} · version {} · page {}",
            self.of.kind, self.of.case_reference, self.of.version, self.page
        );
        self.doc.text(LEFT, 40.0, 8.0, Font::Regular, &foot);
    }

    /// Starts a new page unless `height` points still fit on this one.
    fn keep(&mut self, height: f32) {
        if self.y - height < BOTTOM && self.y < TOP {
            self.new_page();
        }
    }

    fn gap(&mut self, points: f32) {
        self.y -= points;
    }

    /// One line, not wrapped (short texts of the header).
    fn line(&mut self, size: f32, font: Font, text: &str) {
        self.keep(size * 1.35);
        self.y -= size * 1.35;
        self.doc.text(LEFT, self.y, size, font, text);
    }

    /// `text` wrapped to the page; lines after the first start `hang` points in.
    fn paragraph(&mut self, size: f32, font: Font, text: &str, hang: f32) {
        for (i, l) in wrap(text, size, font, RIGHT - LEFT, hang)
            .into_iter()
            .enumerate()
        {
            self.keep(size * 1.4);
            self.y -= size * 1.4;
            let x = if i == 0 { LEFT } else { LEFT + hang };
            self.doc.text(x, self.y, size, font, &l);
        }
    }

    fn finish(self, title: &str) -> Vec<u8> {
        self.doc.finish(title)
    }
}

/// The line without Markdown's emphasis markers.
fn plain(line: &str) -> String {
    line.replace("**", "").replace("__", "")
}

/// A list item's marker with its space (`- `, `* `, `12. `), if it has one.
fn list_marker(line: &str) -> Option<&str> {
    let trimmed = line.trim_start();
    let indent = line.len() - trimmed.len();
    if trimmed.starts_with("- ") || trimmed.starts_with("* ") {
        return Some(&line[..indent + 2]);
    }
    let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 && trimmed[digits..].starts_with(". ") {
        return Some(&line[..indent + digits + 2]);
    }
    None
}

/// Helvetica's advance widths (thousandths of the size) for ASCII 32 to 126.
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278,
    278, // ' ' to '/'
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, // digits
    278, 278, 584, 584, 584, 556, 1015, // ':' to '@'
    667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667,
    611, 722, 667, 944, 667, 667, 611, // 'A' to 'Z'
    278, 278, 278, 469, 556, 333, // '[' to '`'
    556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500,
    278, 556, 500, 722, 500, 500, 500, // 'a' to 'z'
    334, 260, 334, 584, // '{' to '~'
];

/// The printed width of `text` in points. Bold is taken 10 % wider than
/// regular, and anything outside ASCII as wide as an `M`, so that a line
/// measured here never runs past the margin.
fn width(text: &str, size: f32, font: Font) -> f32 {
    let units: u32 = text
        .chars()
        .map(|c| match (font, c as u32) {
            (Font::Mono, _) => 600,
            (_, n @ 32..=126) => u32::from(HELVETICA[(n - 32) as usize]),
            _ => 833,
        })
        .sum();
    let scale = if font == Font::Bold { 1.1 } else { 1.0 };
    units as f32 / 1000.0 * size * scale
}

/// `text` broken at spaces into lines at most `max` points wide (the first
/// line the full width, the others `hang` points narrower); a word longer
/// than a line is broken where it must.
fn wrap(text: &str, size: f32, font: Font, max: f32, hang: f32) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    let limit = |lines: &Vec<String>| if lines.is_empty() { max } else { max - hang };
    for word in text.split(' ') {
        let candidate = if current.is_empty() {
            word.to_owned()
        } else {
            format!("{current} {word}")
        };
        if width(&candidate, size, font) <= limit(&lines) {
            current = candidate;
            continue;
        }
        if !current.is_empty() {
            lines.push(std::mem::take(&mut current));
        }
        // The word alone: split it if it is wider than a whole line.
        let mut rest = word.to_owned();
        while width(&rest, size, font) > limit(&lines) {
            let mut cut = 0;
            for (i, c) in rest.char_indices() {
                if width(&rest[..i + c.len_utf8()], size, font) > limit(&lines) {
                    break;
                }
                cut = i + c.len_utf8();
            }
            let cut = cut.max(rest.chars().next().map_or(1, char::len_utf8));
            lines.push(rest[..cut].to_owned());
            rest = rest[cut..].to_owned();
        }
        current = rest;
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    lines
}

/// `GET /agreements/{id}/pdf`: the agreement as sent for signature (the
/// stored file the signatures are over), or a draft's preview for its
/// mediator. Anyone who may not read it gets `NOT_FOUND`.
pub(crate) async fn download(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let rid = web::request_id(&headers);
    let result = fetch(&state, &headers, &id, rid.clone()).await;
    web::download(result, "application/pdf", rid.as_deref())
}

async fn fetch(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    rid: Option<String>,
) -> Result<(String, Vec<u8>), ApiError> {
    let signed_in = web::lookup_session(state, headers)
        .await?
        .ok_or_else(|| ApiError::Unauthenticated("sign in first".into()))?;
    let id: Uuid = id.parse().map_err(|_| ApiError::NotFound("agreement"))?;
    let vault = crate::graphql::messages::vault_of(state)?;
    let mut tx = state
        .db()
        .tenant(signed_in.session.org_id, signed_in.session.user_id, rid)
        .await?;
    let printed = crate::graphql::agreements::printed(&mut tx, &vault, id).await?;
    tx.commit().await?;
    Ok(printed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdf::extract_text;

    fn agreement(body: &str) -> Printable {
        Printable {
            org: "Eastside Mediation".into(),
            kind: "Settlement agreement",
            case_reference: "E-1".into(),
            agreement: Uuid::nil(),
            version: 2,
            title: "Settlement agreement".into(),
            body: body.into(),
            signatories: vec!["Ann Example".into(), "Bo Example".into()],
            draft: false,
        }
    }

    #[test]
    fn the_text_headings_and_signatories_print_and_the_bytes_are_stable() {
        let a = agreement(
            "# Terms\n\n1. The respondent pays **6 000 EUR**.\n2. Each side bears its costs.",
        );
        let pdf = a.pdf();
        assert_eq!(pdf, a.pdf(), "the same agreement prints the same bytes");
        let text = extract_text(&pdf);
        for expected in [
            "Eastside Mediation",
            "Settlement agreement, case E-1",
            "Terms",
            "1. The respondent pays 6 000 EUR.",
            "2. Each side bears its costs.",
            "Signatures",
            "Ann Example",
            "Bo Example",
        ] {
            assert!(text.iter().any(|t| t == expected), "{expected} in {text:?}");
        }
        assert!(!text.iter().any(|t| t.contains("DRAFT")), "{text:?}");
        let mut draft = a.clone();
        draft.draft = true;
        assert!(extract_text(&draft.pdf())
            .iter()
            .any(|t| t.starts_with("DRAFT")));
    }

    #[test]
    fn long_lines_wrap_inside_the_margins_and_long_texts_take_pages() {
        let long = "The parties agree that ".repeat(40);
        for (size, font) in [(10.5, Font::Regular), (18.0, Font::Bold)] {
            let lines = wrap(long.trim(), size, font, RIGHT - LEFT, 12.0);
            assert!(lines.len() > 3, "{lines:?}");
            for (i, l) in lines.iter().enumerate() {
                let room = if i == 0 {
                    RIGHT - LEFT
                } else {
                    RIGHT - LEFT - 12.0
                };
                assert!(width(l, size, font) <= room, "{l}");
            }
            assert_eq!(lines.join(" "), long.trim());
        }
        // A word wider than the page is cut, never lost.
        let word = "x".repeat(400);
        let lines = wrap(&word, 10.5, Font::Regular, RIGHT - LEFT, 0.0);
        assert!(lines.len() > 1);
        assert_eq!(lines.concat(), word);
        let body = (1..=120)
            .map(|i| format!("{i}. Clause {i} of the agreement."))
            .collect::<Vec<_>>()
            .join("\n");
        let pdf = agreement(&body).pdf();
        let text = extract_text(&pdf);
        assert!(text
            .iter()
            .any(|t| t == "120. Clause 120 of the agreement."));
        assert!(text.iter().any(|t| t.ends_with("page 3")), "{text:?}");
        let pages = lopdf::Document::load_mem(&pdf).map(|d| d.get_pages().len());
        assert_eq!(pages.ok(), Some(3));
    }

    #[test]
    fn list_markers_are_found_as_typed() {
        assert_eq!(list_marker("12. Terms"), Some("12. "));
        assert_eq!(list_marker("- a"), Some("- "));
        assert_eq!(list_marker("  * b"), Some("  * "));
        assert_eq!(list_marker("1.5 million"), None);
        assert_eq!(list_marker("Terms"), None);
    }
}
