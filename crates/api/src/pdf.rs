//! Printable records (invoices, credit notes, agreements) as PDF: A4 pages
//! of positioned text lines in three of the standard fonts every reader has
//! (Helvetica, Helvetica-Bold, Courier), so nothing is embedded. The layout
//! (where each line goes, where it wraps, when a page fills) is the callers';
//! this module hands the pages to `printpdf`, which writes them as a PDF 1.4
//! file through `lopdf`'s object model.
//!
//! Text is WinAnsi-encoded (Latin-1 plus the euro sign, typographic quotes
//! and dashes); a character outside it prints as `?`. The title in the
//! document information is UTF-16, so it keeps every character.
//!
//! The same document prints the same bytes, always: an agreement's
//! signatures are over its PDF's SHA-256, and `accord agreement verify`
//! hashes the stored file again. printpdf gives each file a random id and
//! stamps dates, so [`Document::finish`] takes its object model and writes
//! it with no dates and an id derived from the content. Content streams stay
//! uncompressed, so a file's text is plain in its bytes; [`extract_text`]
//! reads the text runs back through lopdf (which would decompress them too).

use lopdf::content::Content;
use lopdf::{Encoding, Object, StringFormat};
use printpdf::{
    BuiltinFont, Op, PdfDocument, PdfFontHandle, PdfPage, PdfSaveOptions, Pt, Rect, TextItem,
    TextMatrix,
};
use sha2::{Digest, Sha256};

/// A4 in points.
pub(crate) const PAGE_WIDTH: f32 = 595.0;
/// A4 in points.
pub(crate) const PAGE_HEIGHT: f32 = 842.0;

/// The version written in the file's header: nothing in these files needs
/// more than PDF 1.4 (printpdf itself writes 1.3).
const PDF_VERSION: &str = "1.4";

/// A typeface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Font {
    /// Helvetica.
    Regular,
    /// Helvetica-Bold.
    Bold,
    /// Courier, for figures that line up.
    Mono,
}

impl Font {
    fn builtin(self) -> BuiltinFont {
        match self {
            Font::Regular => BuiltinFont::Helvetica,
            Font::Bold => BuiltinFont::HelveticaBold,
            Font::Mono => BuiltinFont::Courier,
        }
    }
}

/// A document being written, page by page: each page is the printpdf
/// operations that draw it.
#[derive(Debug, Default)]
pub(crate) struct Document {
    pages: Vec<Vec<Op>>,
}

impl Document {
    /// Starts a new page; text goes on the newest page.
    pub(crate) fn page(&mut self) {
        self.pages.push(Vec::new());
    }

    /// Writes `text` with its left edge at `x`, baseline at `y`.
    pub(crate) fn text(&mut self, x: f32, y: f32, size: f32, font: Font, text: &str) {
        if self.pages.is_empty() {
            self.page();
        }
        // A line break or tab inside a run is a space on the page (printpdf
        // would print it as `?`, as it does any character outside WinAnsi).
        let text: String = text
            .chars()
            .map(|c| {
                if matches!(c, '\t' | '\n' | '\r') {
                    ' '
                } else {
                    c
                }
            })
            .collect();
        if let Some(page) = self.pages.last_mut() {
            page.extend([
                Op::StartTextSection,
                Op::SetFont {
                    font: PdfFontHandle::Builtin(font.builtin()),
                    size: Pt(size),
                },
                Op::SetTextMatrix {
                    matrix: TextMatrix::Translate(Pt(hundredths(x)), Pt(hundredths(y))),
                },
                Op::ShowText {
                    items: vec![TextItem::Text(text)],
                },
                Op::EndTextSection,
            ]);
        }
    }

    /// Writes `text` in Courier with its right edge at `right` (Courier's
    /// glyphs are all 600/1000 of the size wide).
    pub(crate) fn mono_right(&mut self, right: f32, y: f32, size: f32, text: &str) {
        let width = text.chars().count() as f32 * size * 0.6;
        self.text(right - width, y, size, Font::Mono, text);
    }

    /// The finished file.
    pub(crate) fn finish(mut self, title: &str) -> Vec<u8> {
        if self.pages.is_empty() {
            self.page();
        }
        let a4 = || Rect::from_wh(Pt(PAGE_WIDTH), Pt(PAGE_HEIGHT));
        let mut doc = PdfDocument::new(title);
        doc.metadata.info.producer = "Accord".to_owned();
        doc.pages = self
            .pages
            .into_iter()
            .map(|ops| PdfPage {
                media_box: a4(),
                trim_box: a4(),
                crop_box: a4(),
                ops,
            })
            .collect();
        let options = PdfSaveOptions {
            // Uncompressed, and no unreferenced objects to prune.
            optimize: false,
            subset_fonts: false,
            secure: true,
            image_optimization: None,
        };
        let mut warnings = Vec::new();
        let mut pdf = doc.to_lopdf_document(&options, &mut warnings);
        for w in &warnings {
            tracing::warn!(warning = ?w, "printing a PDF");
        }
        pdf.version = PDF_VERSION.to_owned();
        // printpdf dates the file (the epoch unless told otherwise) and gives
        // it a random id. A reprint must be byte for byte the same, so the
        // dates go (they are optional) and the id becomes the file's own
        // digest: the same document, the same id; another, another.
        let info = pdf.trailer.get(b"Info").and_then(Object::as_reference);
        if let Ok(info) = info.and_then(|id| pdf.get_dictionary_mut(id)) {
            info.remove(b"CreationDate");
            info.remove(b"ModDate");
            // printpdf writes every field it knows, most of them empty.
            let empty: Vec<Vec<u8>> = info
                .iter()
                .filter(|(_, v)| matches!(v, Object::String(s, _) if s.is_empty()))
                .map(|(k, _)| k.clone())
                .collect();
            for key in empty {
                info.remove(&key);
            }
        }
        pdf.trailer.remove(b"ID");
        let digest = Sha256::digest(save(&mut pdf));
        let id = Object::String(digest[..16].to_vec(), StringFormat::Hexadecimal);
        pdf.trailer.set("ID", Object::Array(vec![id.clone(), id]));
        save(&mut pdf)
    }
}

/// `points` to a hundredth, far finer than print: positions summed from
/// line heights otherwise carry float noise into the file (`749.69995`).
fn hundredths(points: f32) -> f32 {
    (points * 100.0).round() / 100.0
}

/// The file's bytes, with an end-of-line after lopdf's closing `%%EOF`, as
/// most writers end a file.
fn save(pdf: &mut lopdf::Document) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into memory: the only error lopdf could report is the writer's.
    if let Err(e) = pdf.save_to(&mut out) {
        tracing::error!(error = %e, "writing a PDF into memory");
    }
    out.push(b'\n');
    out
}

/// The text runs of the pages of a PDF this module wrote (now or with its
/// earlier hand-written writer: agreements sealed then are verified with
/// this), in drawing order, one per text-showing operator, decoded from
/// WinAnsi (the encoding of the fonts it uses). A file that does not parse
/// as a PDF has none.
pub fn extract_text(pdf: &[u8]) -> Vec<String> {
    let Ok(doc) = lopdf::Document::load_mem(pdf) else {
        return Vec::new();
    };
    let win_ansi = Encoding::SimpleEncoding(b"WinAnsiEncoding");
    let decode = |o: &Object| -> String {
        o.as_str()
            .ok()
            .and_then(|bytes| lopdf::Document::decode_text(&win_ansi, bytes).ok())
            .unwrap_or_default()
    };
    let mut runs = Vec::new();
    for page in doc.get_pages().into_values() {
        let Ok(content) = Content::decode(&doc.get_page_content(page)) else {
            continue;
        };
        for op in content.operations {
            let shown = match (op.operator.as_str(), op.operands.as_slice()) {
                ("Tj" | "'", [s]) | ("\"", [_, _, s]) => decode(s),
                ("TJ", [Object::Array(items)]) => items.iter().map(decode).collect(),
                _ => continue,
            };
            runs.push(shown);
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut d = Document::default();
        d.text(50.0, 800.0, 18.0, Font::Bold, "Invoice INV-000007");
        d.text(
            50.0,
            770.0,
            10.0,
            Font::Regular,
            "Smith (Ltd) \\ Jones – 1 234 €",
        );
        d.mono_right(545.0, 750.0, 10.0, "140.00 EUR");
        d.page();
        d.text(
            50.0,
            800.0,
            10.0,
            Font::Regular,
            "Zoë on page two; 日本 is not WinAnsi",
        );
        d.finish("Invoice INV-000007")
    }

    #[test]
    fn the_text_reads_back_with_escapes_and_winansi() {
        assert_eq!(
            extract_text(&sample()),
            [
                "Invoice INV-000007",
                "Smith (Ltd) \\ Jones – 1 234 €",
                "140.00 EUR",
                "Zoë on page two; ?? is not WinAnsi",
            ]
        );
    }

    fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
        hay.get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    }

    /// The decimal number at the start of `bytes`.
    fn number(bytes: &[u8]) -> usize {
        let digits: String = bytes
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .map(|b| char::from(*b))
            .collect();
        digits.parse().unwrap_or(usize::MAX)
    }

    #[test]
    fn files_printed_before_printpdf_still_read_back() {
        // Agreements sealed before the move to printpdf keep the bytes the
        // hand-written writer printed; `verify` reads their text with this.
        let earlier = include_bytes!("../tests/fixtures/invoice-printed-before-printpdf.pdf");
        assert_eq!(extract_text(earlier), extract_text(&sample()));
    }

    #[test]
    fn the_cross_reference_table_points_at_each_object() {
        let pdf = sample();
        assert!(pdf.starts_with(b"%PDF-1.4\n"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        let tail = find(&pdf, b"startxref\n", 0).map(|p| p + 10).unwrap_or(0);
        let xref = number(&pdf[tail..]);
        assert!(pdf[xref..].starts_with(b"xref\n0 "), "a table at startxref");
        // Each subsection: "first count", then `count` entries of 20 bytes;
        // object 0 is the head of the free list, every other entry in use
        // points at "N 0 obj".
        let mut at = xref + b"xref\n".len();
        let mut in_use = 0;
        while !pdf[at..].starts_with(b"trailer") {
            let first = number(&pdf[at..]);
            let space = find(&pdf, b" ", at).unwrap_or(at);
            let count = number(&pdf[space + 1..]);
            at = find(&pdf, b"\n", at).map_or(pdf.len(), |p| p + 1);
            for i in 0..count {
                let entry = &pdf[at + 20 * i..at + 20 * i + 20];
                let id = first + i;
                if id == 0 {
                    assert_eq!(entry, b"0000000000 65535 f \n");
                    continue;
                }
                assert_eq!(&entry[10..], b" 00000 n \n", "object {id}");
                let offset = number(entry);
                let head = format!("{id} 0 obj\n");
                assert!(pdf[offset..].starts_with(head.as_bytes()), "object {id}");
                in_use += 1;
            }
            at += 20 * count;
        }
        assert!(in_use >= 10, "{in_use} objects");
        // Two pages, each content stream exactly as long as it says (the
        // fonts are the standard ones, so no font program is embedded).
        let mut at = 0;
        let mut streams = 0;
        while let Some(l) = find(&pdf, b"/Length ", at) {
            let n = number(&pdf[l + 8..]);
            let body = find(&pdf, b"stream\n", l).map(|b| b + 7).unwrap_or(0);
            assert_eq!(find(&pdf, b"\nendstream", body), Some(body + n));
            at = body;
            streams += 1;
        }
        assert_eq!(streams, 2);
    }

    #[test]
    fn it_parses_as_a_pdf_of_a4_pages_in_the_standard_fonts_with_its_title() {
        let doc = lopdf::Document::load_mem(&sample()).unwrap_or_default();
        assert_eq!(doc.version, "1.4");
        let pages = doc.get_pages();
        assert_eq!(pages.len(), 2);
        for page in pages.into_values() {
            let page = doc.get_dictionary(page).cloned().unwrap_or_default();
            let media_box: Vec<f32> = page
                .get(b"MediaBox")
                .and_then(Object::as_array)
                .map(|a| a.iter().filter_map(|n| n.as_float().ok()).collect())
                .unwrap_or_default();
            assert_eq!(media_box, [0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT]);
        }
        let mut fonts: Vec<(String, String)> = doc
            .objects
            .values()
            .filter_map(|o| o.as_dict().ok())
            .filter(|d| d.has_type(b"Font"))
            .map(|d| {
                let name = |key: &[u8]| {
                    d.get(key)
                        .and_then(Object::as_name)
                        .map(|n| String::from_utf8_lossy(n).into_owned())
                        .unwrap_or_default()
                };
                assert!(!d.has(b"FontDescriptor"), "nothing embedded");
                (name(b"BaseFont"), name(b"Encoding"))
            })
            .collect();
        fonts.sort();
        assert_eq!(
            fonts,
            [
                ("Courier".to_owned(), "WinAnsiEncoding".to_owned()),
                ("Helvetica".to_owned(), "WinAnsiEncoding".to_owned()),
                ("Helvetica-Bold".to_owned(), "WinAnsiEncoding".to_owned()),
            ]
        );
        let info = doc
            .trailer
            .get(b"Info")
            .and_then(Object::as_reference)
            .and_then(|id| doc.get_dictionary(id))
            .cloned()
            .unwrap_or_default();
        let title = info.get(b"Title").and_then(lopdf::decode_text_string);
        assert_eq!(title.ok().as_deref(), Some("Invoice INV-000007"));
        let producer = info.get(b"Producer").and_then(lopdf::decode_text_string);
        assert_eq!(producer.ok().as_deref(), Some("Accord"));
        assert!(!info.has(b"CreationDate") && !info.has(b"ModDate"));
    }

    #[test]
    fn the_same_document_prints_the_same_bytes_and_another_its_own_id() {
        let id = |pdf: &[u8]| {
            lopdf::Document::load_mem(pdf)
                .ok()
                .and_then(|d| d.trailer.get(b"ID").ok().cloned())
        };
        let pdf = sample();
        assert_eq!(pdf, sample());
        let mut other = Document::default();
        other.text(50.0, 800.0, 18.0, Font::Bold, "Invoice INV-000008");
        let other = other.finish("Invoice INV-000008");
        assert!(id(&pdf).is_some());
        assert_ne!(id(&pdf), id(&other));
    }
}
