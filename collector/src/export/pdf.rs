//! PDF of a filled form, generated in Rust with printpdf: A4 pages, the
//! form's tables with header rows repeated on every page, Korean text in a
//! TrueType font read at run time (default Debian's fonts-nanum NanumGothic,
//! `[export] pdf_font`) and embedded as a subset, so the PDF shows and
//! extracts (pdftotext, copy-paste) the same Hangul on any machine.
//!
//! Why not headless Chromium: a browser is a 300 MB dependency and a process
//! to babysit on the collector; the forms are plain tables, which a small
//! layout routine here draws exactly.

use super::model::{FilledForm, Table};
use printpdf::{
    Codepoint, Color, FontId, Greyscale, Mm, Op, PaintMode, ParsedFont, PdfDocument, PdfFontHandle,
    PdfPage, PdfSaveOptions, Point, Pt, Rect, TextItem,
};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("PDF font {path}: {message} (install Debian's fonts-nanum or set [export] pdf_font to a TrueType font with Hangul)")]
    Font { path: PathBuf, message: String },
    #[error("compressing the PDF's streams: {0}")]
    Compress(std::io::Error),
    #[error("writing the PDF: {0}")]
    Write(std::io::Error),
}

/// The zlib level of the file's streams (pages, the font subset, its
/// character map). printpdf compresses at the best level (9), which took
/// more of a form's making than laying it out: for nia-ops's checklist
/// (13 streams, 540 KB) about 36 ms at 9 and 7 ms at 3, for a file a few
/// percent larger (zlib's figures; level 1 makes it a quarter larger).
const STREAM_LEVEL: flate2::Compression = flate2::Compression::new(3);

const PAGE_W: f32 = 210.0;
const PAGE_H: f32 = 297.0;
const MARGIN: f32 = 15.0;
const BOTTOM: f32 = PAGE_H - MARGIN - 6.0;
const PAD_X: f32 = 1.2;
const PAD_Y: f32 = 1.0;
const TABLE_PT: f32 = 7.5;
const LINE: f32 = 1.3;
const PT_MM: f32 = 25.4 / 72.0;

struct Font {
    parsed: Arc<ParsedFont>,
    id: FontId,
    units_per_em: f32,
    /// Glyph id and advance width (font units) per character: the cmap
    /// lookup is slow, line breaking measures the same characters again and
    /// again, and text handed to printpdf as characters is looked up twice
    /// more when saved (half of a form's time), so it is handed as glyphs.
    glyphs: RefCell<HashMap<char, (u16, f32)>>,
}

impl Font {
    fn glyph(&self, c: char) -> (u16, f32) {
        *self.glyphs.borrow_mut().entry(c).or_insert_with(|| {
            let gid = self.parsed.lookup_glyph_index(c as u32).unwrap_or(0);
            (gid, f32::from(self.parsed.get_horizontal_advance(gid)))
        })
    }

    /// Width of `text` in millimetres at `size` points.
    fn width(&self, text: &str, size: f32) -> f32 {
        self.mm(text.chars().map(|c| self.glyph(c).1).sum(), size)
    }

    /// `units` (font units) in millimetres at `size` points.
    fn mm(&self, units: f32, size: f32) -> f32 {
        units / self.units_per_em * size * PT_MM
    }

    /// `text` as glyphs, each with the character it shows (what a reader
    /// extracts or copies).
    fn codepoints(&self, text: &str) -> Vec<Codepoint> {
        text.chars()
            .map(|c| Codepoint::with_cid(self.glyph(c).0, 0.0, c.to_string()))
            .collect()
    }

    /// `text` broken into lines no wider than `max` mm: at spaces where
    /// possible (Korean separates words with spaces), else between
    /// characters. A line's width is added to as it grows, in the order of
    /// its characters (the sum `width` would make), not measured again for
    /// each word: a long cell's wrapping was quadratic in its words.
    fn wrap(&self, text: &str, size: f32, max: f32) -> Vec<String> {
        let space = self.glyph(' ').1;
        let mut lines = Vec::new();
        for para in text.split('\n') {
            let (mut line, mut wide) = (String::new(), 0.0f32);
            for word in para.split(' ') {
                let mut with = if line.is_empty() { 0.0 } else { wide + space };
                for c in word.chars() {
                    with += self.glyph(c).1;
                }
                if self.mm(with, size) <= max {
                    if !line.is_empty() {
                        line.push(' ');
                    }
                    line.push_str(word);
                    wide = with;
                    continue;
                }
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                let (mut chars, mut units) = (0, 0.0f32);
                for c in word.chars() {
                    let g = self.glyph(c).1;
                    line.push(c);
                    (chars, units) = (chars + 1, units + g);
                    if self.mm(units, size) > max && chars > 1 {
                        line.pop();
                        lines.push(std::mem::replace(&mut line, c.to_string()));
                        (chars, units) = (1, g);
                    }
                }
                wide = units;
            }
            lines.push(line);
        }
        lines
    }
}

/// A font file as parsed, and the size and modification time it had.
type Parsed = (u64, Option<SystemTime>, Arc<ParsedFont>);

/// The font at `path`, parsed once while the file stays the same: parsing
/// a Hangul font (NanumGothic is 4.7 MB) took most of a small PDF's time.
/// One entry per font path the configuration names.
fn parse_font(path: &Path) -> Result<Arc<ParsedFont>, PdfError> {
    static PARSED: OnceLock<Mutex<HashMap<PathBuf, Parsed>>> = OnceLock::new();
    let err = |message: String| PdfError::Font {
        path: path.to_path_buf(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let (len, modified) = (meta.len(), meta.modified().ok());
    let parsed = PARSED.get_or_init(Default::default);
    if let Some((l, m, font)) = parsed.lock().ok().and_then(|p| p.get(path).cloned()) {
        if (l, m) == (len, modified) {
            return Ok(font);
        }
    }
    let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let font = ParsedFont::from_bytes(&bytes, 0, &mut Vec::new())
        .ok_or_else(|| err("not a TrueType/OpenType font".into()))?;
    if font.lookup_glyph_index('가' as u32).is_none() {
        return Err(err("has no Hangul glyphs".into()));
    }
    let font = Arc::new(font);
    if let Ok(mut p) = parsed.lock() {
        p.insert(path.to_path_buf(), (len, modified, font.clone()));
    }
    Ok(font)
}

fn load_font(path: &Path, doc: &mut PdfDocument) -> Result<Font, PdfError> {
    let parsed = parse_font(path)?;
    let units_per_em = f32::from(parsed.pdf_font_metrics.units_per_em.max(1));
    let id = doc.add_font(&parsed);
    Ok(Font {
        parsed,
        id,
        units_per_em,
        glyphs: RefCell::default(),
    })
}

/// Pages being laid out, top to bottom; `y` is millimetres from the top.
struct Layout<'a> {
    font: &'a Font,
    pages: Vec<Vec<Op>>,
    y: f32,
}

fn grey(percent: f32) -> Color {
    Color::Greyscale(Greyscale {
        percent,
        icc_profile: None,
    })
}

fn rect(x: f32, top: f32, w: f32, h: f32, mode: PaintMode) -> Op {
    let mut r = Rect::from_xywh(
        Mm(x).into_pt(),
        Mm(PAGE_H - top - h).into_pt(),
        Mm(w).into_pt(),
        Mm(h).into_pt(),
    );
    r.mode = Some(mode);
    Op::DrawRectangle { rectangle: r }
}

impl Layout<'_> {
    fn ops(&mut self) -> &mut Vec<Op> {
        if self.pages.is_empty() {
            self.pages.push(vec![]);
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    fn new_page(&mut self) {
        self.pages.push(vec![]);
        self.y = MARGIN;
    }

    /// One line of text with its baseline placed for a line box at `top`.
    fn text(&mut self, x: f32, top: f32, size: f32, text: &str) {
        if text.is_empty() {
            return;
        }
        let baseline = top + size * PT_MM * 0.95;
        let font = self.font.id.clone();
        let glyphs = self.font.codepoints(text);
        self.ops().extend([
            Op::StartTextSection,
            Op::SetFillColor { col: grey(0.0) },
            Op::SetFont {
                font: PdfFontHandle::External(font),
                size: Pt(size),
            },
            Op::SetTextCursor {
                pos: Point::new(Mm(x), Mm(PAGE_H - baseline)),
            },
            Op::ShowText {
                items: vec![TextItem::GlyphIds(glyphs)],
            },
            Op::EndTextSection,
        ]);
    }

    /// A wrapped paragraph across the full width.
    fn paragraph(&mut self, text: &str, size: f32, gap_after: f32) {
        for line in self.font.wrap(text, size, PAGE_W - 2.0 * MARGIN) {
            if self.y + size * PT_MM * LINE > BOTTOM {
                self.new_page();
            }
            self.text(MARGIN, self.y, size, &line);
            self.y += size * PT_MM * LINE;
        }
        self.y += gap_after;
    }

    /// One table row of cells (x, width, text, centred); `shade` for headers.
    fn row(&mut self, cells: &[(f32, f32, String, bool)], shade: bool) -> f32 {
        let lh = TABLE_PT * PT_MM * LINE;
        let wrapped: Vec<Vec<String>> = cells
            .iter()
            .map(|(_, w, text, _)| self.font.wrap(text, TABLE_PT, w - 2.0 * PAD_X))
            .collect();
        let max_lines = ((BOTTOM - MARGIN - 2.0 * PAD_Y) / lh).floor() as usize;
        let lines = wrapped
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(1)
            .clamp(1, max_lines);
        let h = lines as f32 * lh + 2.0 * PAD_Y;
        let top = self.y;
        for ((x, w, _, centred), text) in cells.iter().zip(&wrapped) {
            if shade {
                self.ops().extend([
                    Op::SetFillColor { col: grey(0.9) },
                    rect(*x, top, *w, h, PaintMode::Fill),
                ]);
            }
            self.ops().extend([
                Op::SetOutlineColor { col: grey(0.0) },
                Op::SetOutlineThickness { pt: Pt(0.6) },
                rect(*x, top, *w, h, PaintMode::Stroke),
            ]);
            for (n, line) in text.iter().take(lines).enumerate() {
                let tx = if *centred || shade {
                    x + (w - self.font.width(line, TABLE_PT)) / 2.0
                } else {
                    x + PAD_X
                };
                self.text(tx, top + PAD_Y + n as f32 * lh, TABLE_PT, line);
            }
        }
        h
    }

    fn height(&self, cells: &[(f32, f32, String, bool)]) -> f32 {
        let lh = TABLE_PT * PT_MM * LINE;
        let lines = cells
            .iter()
            .map(|(_, w, text, _)| self.font.wrap(text, TABLE_PT, w - 2.0 * PAD_X).len())
            .max()
            .unwrap_or(1);
        lines as f32 * lh + 2.0 * PAD_Y
    }

    fn header(&mut self, t: &Table, xs: &[(f32, f32)]) {
        if !t.groups.is_empty() {
            let mut cells = Vec::new();
            let mut col = 0;
            for (label, span) in &t.groups {
                let end = (col + span).min(xs.len());
                if col < end {
                    let x = xs[col].0;
                    let w: f32 = xs[col..end].iter().map(|c| c.1).sum();
                    cells.push((x, w, label.clone(), true));
                }
                col = end;
            }
            self.y += self.row(&cells, true);
        }
        let cells: Vec<_> = t
            .columns
            .iter()
            .zip(xs)
            .map(|(c, (x, w))| (*x, *w, c.label.clone(), true))
            .collect();
        self.y += self.row(&cells, true);
    }

    fn table(&mut self, t: &Table) {
        let total: f32 = t.columns.iter().map(|c| c.width_mm).sum::<f32>().max(1.0);
        let scale = (PAGE_W - 2.0 * MARGIN) / total;
        let mut x = MARGIN;
        let xs: Vec<(f32, f32)> = t
            .columns
            .iter()
            .map(|c| {
                let w = c.width_mm * scale;
                x += w;
                (x - w, w)
            })
            .collect();
        if !t.caption.is_empty() {
            if self.y + 20.0 > BOTTOM {
                self.new_page();
            }
            self.paragraph(&t.caption, 9.0, 1.0);
        }
        if self.y + 20.0 > BOTTOM {
            self.new_page();
        }
        self.header(t, &xs);
        for r in 0..t.rows.len() {
            let mut cells = row_cells(t, r, &xs, r == 0);
            if self.y + self.height(&cells) > BOTTOM {
                self.new_page();
                self.header(t, &xs);
                cells = row_cells(t, r, &xs, true);
            }
            self.y += self.row(&cells, false);
        }
        self.y += 4.0;
    }
}

/// Row `r`'s cells; merged leading cells are blank unless `full` (the first
/// row on a page prints them again).
fn row_cells(t: &Table, r: usize, xs: &[(f32, f32)], full: bool) -> Vec<(f32, f32, String, bool)> {
    t.columns
        .iter()
        .zip(xs)
        .enumerate()
        .map(|(c, (col, (x, w)))| {
            let text = if full {
                t.rows[r].get(c).cloned().unwrap_or_default()
            } else {
                t.shown(r, c).to_string()
            };
            (*x, *w, text, col.mark)
        })
        .collect()
}

pub fn render(form: &FilledForm, font_path: &Path) -> Result<Vec<u8>, PdfError> {
    let mut doc = PdfDocument::new(&form.title_ko);
    let font = load_font(font_path, &mut doc)?;
    let mut l = Layout {
        font: &font,
        pages: vec![vec![]],
        y: MARGIN,
    };
    l.paragraph(&form.title_ko, 13.0, 2.0);
    for n in &form.notes_ko {
        l.paragraph(n, 8.0, 0.5);
    }
    l.y += 1.5;
    for (k, v) in &form.fields {
        l.paragraph(&format!("{k}: {v}"), 8.0, 0.0);
    }
    l.y += 3.0;
    for t in &form.tables {
        l.table(t);
    }
    l.paragraph(
        "비고 열은 gamsa가 증적으로 판정한 근거입니다. 증적으로 판단할 수 없는 항목은 증빙 자료가 제출되기 전까지 ‘확인 불가’로 남으며, 어느 칸에도 표시하지 않습니다.",
        7.0,
        0.5,
    );
    if form.redacted {
        l.paragraph(
            "IP 주소는 키 기반 레이블(ip-…, ip6-…)로 대체되었습니다.",
            7.0,
            0.5,
        );
    }
    let total = l.pages.len();
    let mut pages = std::mem::take(&mut l.pages);
    for (n, ops) in pages.iter_mut().enumerate() {
        let footer = format!(
            "{} — {}/{} — gamsa {}",
            form.title_ko,
            n + 1,
            total,
            form.generated_at
        );
        l.pages = vec![std::mem::take(ops)];
        l.text(MARGIN, PAGE_H - MARGIN + 2.0, 6.5, &footer);
        *ops = l.pages.pop().unwrap_or_default();
    }
    let pages: Vec<PdfPage> = pages
        .into_iter()
        .map(|ops| PdfPage::new(Mm(PAGE_W), Mm(PAGE_H), ops))
        .collect();
    let uncompressed = PdfSaveOptions {
        optimize: false,
        ..PdfSaveOptions::default()
    };
    let mut doc = doc
        .with_pages(pages)
        .to_lopdf_document(&uncompressed, &mut Vec::new());
    for object in doc.objects.values_mut() {
        if let lopdf::Object::Stream(stream) = object {
            compress(stream).map_err(PdfError::Compress)?;
        }
    }
    let mut out = Vec::new();
    doc.save_to(&mut out).map_err(PdfError::Write)?;
    Ok(out)
}

/// Compresses `stream` at [`STREAM_LEVEL`] as printpdf's optimisation
/// would: not one that is filtered already or must stay as it is, nor
/// where compression does not pay.
fn compress(stream: &mut lopdf::Stream) -> std::io::Result<()> {
    use std::io::Write;
    if !stream.allows_compression || stream.dict.get(b"Filter").is_ok() {
        return Ok(());
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), STREAM_LEVEL);
    z.write_all(&stream.content)?;
    let compressed = z.finish()?;
    if compressed.len() < stream.content.len() {
        stream.dict.set("Filter", "FlateDecode");
        stream.set_content(compressed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_font_is_parsed_again_only_when_its_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("font.ttf");
        std::fs::copy(super::super::DEFAULT_PDF_FONT, &path)
            .expect("fonts-nanum (tests/run.sh installs it)");
        let first = parse_font(&path).unwrap();
        assert!(Arc::ptr_eq(&first, &parse_font(&path).unwrap()));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend([0; 4]);
        std::fs::write(&path, bytes).unwrap();
        assert!(!Arc::ptr_eq(&first, &parse_font(&path).unwrap()));
        std::fs::write(&path, b"not a font").unwrap();
        assert!(parse_font(&path)
            .unwrap_err()
            .to_string()
            .contains("not a TrueType"));
    }

    /// The wrapping as it was, measuring the whole line again for each word
    /// and character: what `wrap` must still give.
    fn measured_again(font: &Font, text: &str, size: f32, max: f32) -> Vec<String> {
        let mut lines = Vec::new();
        for para in text.split('\n') {
            let mut line = String::new();
            for word in para.split(' ') {
                let candidate = if line.is_empty() {
                    word.to_string()
                } else {
                    format!("{line} {word}")
                };
                if font.width(&candidate, size) <= max {
                    line = candidate;
                    continue;
                }
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                for c in word.chars() {
                    line.push(c);
                    if font.width(&line, size) > max && line.chars().count() > 1 {
                        line.pop();
                        lines.push(std::mem::replace(&mut line, c.to_string()));
                    }
                }
            }
            lines.push(line);
        }
        lines
    }

    #[test]
    fn wrapping_gives_the_lines_measuring_each_line_again_gave() {
        let mut doc = PdfDocument::new("wrap");
        let font = load_font(Path::new(super::super::DEFAULT_PDF_FONT), &mut doc)
            .expect("fonts-nanum (tests/run.sh installs it)");
        let long_word = "가".repeat(60);
        let texts = [
            String::new(),
            "  leading and  double  spaces ".into(),
            "비고 열은 gamsa가 증적으로 판정한 근거입니다. 증적으로 판단할 수 없는 항목은 증빙 자료가 제출되기 전까지 ‘확인 불가’로 남습니다.".into(),
            format!("짧은 {long_word} 뒤\n둘째 줄 {long_word}"),
            "sshd_config: PermitRootLogin no; PasswordAuthentication no; MaxAuthTries 4; \
             Ciphers aes256-gcm@openssh.com,chacha20-poly1305@openssh.com"
                .into(),
            "x".into(),
        ];
        let mut broken = 0;
        for text in &texts {
            for (size, max) in [(7.5, 30.6), (7.5, 63.6), (8.0, 180.0), (13.0, 5.0)] {
                let lines = font.wrap(text, size, max);
                assert_eq!(
                    lines,
                    measured_again(&font, text, size, max),
                    "{text:?} {max}"
                );
                broken += lines.len().saturating_sub(1);
            }
        }
        assert!(broken > 20, "the texts are broken into lines: {broken}");
    }
}
