//! A small PDF 1.4 writer for printable records (invoices, credit notes):
//! A4 pages of positioned text lines in the three standard fonts every
//! reader has (Helvetica, Helvetica-Bold, Courier), so nothing is embedded
//! and the bytes are plain and checkable. Text is WinAnsi-encoded (Latin-1
//! plus the euro sign and a few dashes and quotes); a character outside it
//! prints as `?`. Content streams are uncompressed, so the text of a page can
//! be read back ([`extract_text`], which the tests use).

use std::fmt::Write as _;

/// A4 in points.
pub(crate) const PAGE_WIDTH: f32 = 595.0;
/// A4 in points.
pub(crate) const PAGE_HEIGHT: f32 = 842.0;

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
    fn resource(self) -> &'static str {
        match self {
            Font::Regular => "F1",
            Font::Bold => "F2",
            Font::Mono => "F3",
        }
    }
}

/// One run of text at a position (points from the page's bottom left).
#[derive(Clone, Debug)]
struct Run {
    x: f32,
    y: f32,
    size: f32,
    font: Font,
    text: String,
}

/// A document being written, page by page.
#[derive(Debug, Default)]
pub(crate) struct Document {
    pages: Vec<Vec<Run>>,
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
        if let Some(page) = self.pages.last_mut() {
            page.push(Run {
                x,
                y,
                size,
                font,
                text: text.to_owned(),
            });
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
        // Objects: 1 catalog, 2 page tree, 3-5 fonts, 6 info, then a page
        // and its content stream per page.
        let first_page = 7;
        let kids: String = (0..self.pages.len())
            .map(|i| format!("{} 0 R", first_page + 2 * i))
            .collect::<Vec<_>>()
            .join(" ");
        let mut objects: Vec<Vec<u8>> = vec![
            b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
            format!(
                "<< /Type /Pages /Kids [{kids}] /Count {} >>",
                self.pages.len()
            )
            .into_bytes(),
            font_object("Helvetica"),
            font_object("Helvetica-Bold"),
            font_object("Courier"),
        ];
        let mut info = b"<< /Producer (Accord) /Title ".to_vec();
        info.extend(literal(title));
        info.extend_from_slice(b" >>");
        objects.push(info);
        for (i, runs) in self.pages.iter().enumerate() {
            let content_id = first_page + 2 * i + 1;
            objects.push(
                format!(
                    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] \
                     /Resources << /Font << /F1 3 0 R /F2 4 0 R /F3 5 0 R >> >> \
                     /Contents {content_id} 0 R >>"
                )
                .into_bytes(),
            );
            let stream = content(runs);
            let mut obj = format!("<< /Length {} >>\nstream\n", stream.len()).into_bytes();
            obj.extend(stream);
            obj.extend_from_slice(b"\nendstream");
            objects.push(obj);
        }
        let mut out: Vec<u8> = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
        let mut offsets: Vec<usize> = Vec::with_capacity(objects.len());
        for (i, body) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend(format!("{} 0 obj\n", i + 1).into_bytes());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\nendobj\n");
        }
        let xref = out.len();
        let mut table = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
        for o in &offsets {
            let _ = writeln!(table, "{o:010} 00000 n ");
        }
        let _ = write!(
            table,
            "trailer\n<< /Size {} /Root 1 0 R /Info 6 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        );
        out.extend(table.into_bytes());
        self.pages.clear();
        out
    }
}

fn font_object(base: &str) -> Vec<u8> {
    format!("<< /Type /Font /Subtype /Type1 /BaseFont /{base} /Encoding /WinAnsiEncoding >>")
        .into_bytes()
}

fn content(runs: &[Run]) -> Vec<u8> {
    let mut s = Vec::new();
    for r in runs {
        s.extend(
            format!(
                "BT /{} {:.1} Tf 1 0 0 1 {:.2} {:.2} Tm ",
                r.font.resource(),
                r.size,
                r.x,
                r.y
            )
            .into_bytes(),
        );
        s.extend(literal(&r.text));
        s.extend_from_slice(b" Tj ET\n");
    }
    s
}

/// `text` as a PDF literal string in WinAnsi, with `(`, `)` and `\` escaped.
fn literal(text: &str) -> Vec<u8> {
    let mut out = vec![b'('];
    for c in text.chars() {
        let byte = match c {
            '\u{20}'..='\u{7e}' => c as u8,
            '\u{a0}'..='\u{ff}' => c as u32 as u8,
            '€' => 0x80,
            '’' => 0x92,
            '–' => 0x96,
            '—' => 0x97,
            '\t' | '\n' | '\r' => b' ',
            _ => b'?',
        };
        if matches!(byte, b'(' | b')' | b'\\') {
            out.push(b'\\');
        }
        out.push(byte);
    }
    out.push(b')');
    out
}

/// The text runs of the page content of a PDF this module wrote (or any PDF
/// whose content streams are uncompressed and draw literal strings), in
/// drawing order, decoded from WinAnsi.
pub fn extract_text(pdf: &[u8]) -> Vec<String> {
    let mut runs = Vec::new();
    let mut at = 0;
    while let Some(start) = find(pdf, b">>\nstream\n", at) {
        let body = start + b">>\nstream\n".len();
        let Some(end) = find(pdf, b"\nendstream", body) else {
            break;
        };
        let stream = &pdf[body..end];
        let mut j = 0;
        while j < stream.len() {
            if stream[j] != b'(' {
                j += 1;
                continue;
            }
            let mut text = String::new();
            let mut k = j + 1;
            while k < stream.len() && stream[k] != b')' {
                if stream[k] == b'\\' && k + 1 < stream.len() {
                    k += 1;
                }
                text.push(match stream[k] {
                    0x80 => '€',
                    0x92 => '’',
                    0x96 => '–',
                    0x97 => '—',
                    other => char::from(other),
                });
                k += 1;
            }
            runs.push(text);
            j = k + 1;
        }
        at = end;
    }
    runs
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
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

    #[test]
    fn the_cross_reference_table_points_at_each_object() {
        let pdf = sample();
        assert!(pdf.starts_with(b"%PDF-1.4\n"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        let tail = find(&pdf, b"startxref\n", 0).map(|p| p + 10).unwrap_or(0);
        let digits: String = pdf[tail..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .map(|b| char::from(*b))
            .collect();
        let xref: usize = digits.parse().unwrap_or(usize::MAX);
        assert!(pdf[xref..].starts_with(b"xref\n0 11\n0000000000 65535 f \n"));
        // Ten objects (catalog, page tree, three fonts, info, two pages and
        // their contents), each entry 20 bytes, each pointing at "N 0 obj".
        let entries = xref + b"xref\n0 11\n0000000000 65535 f \n".len();
        for i in 0..10 {
            let entry = &pdf[entries + 20 * i..entries + 20 * i + 20];
            let offset: usize = String::from_utf8_lossy(&entry[..10])
                .parse()
                .unwrap_or(usize::MAX);
            assert_eq!(&entry[10..], b" 00000 n \n");
            let head = format!("{} 0 obj\n", i + 1);
            assert!(
                pdf[offset..].starts_with(head.as_bytes()),
                "object {}",
                i + 1
            );
        }
        // Two pages, each content stream exactly as long as it says.
        let mut at = 0;
        let mut streams = 0;
        while let Some(l) = find(&pdf, b"<< /Length ", at) {
            let digits: String = pdf[l + 11..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .map(|b| char::from(*b))
                .collect();
            let n: usize = digits.parse().unwrap_or(usize::MAX);
            let body = find(&pdf, b"stream\n", l).map(|b| b + 7).unwrap_or(0);
            assert_eq!(find(&pdf, b"\nendstream", body), Some(body + n));
            at = body;
            streams += 1;
        }
        assert_eq!(streams, 2);
    }
}
