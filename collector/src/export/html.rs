//! Printable HTML of a filled form: the form's tables with its Korean column
//! headers, A4 print CSS, header rows repeated on every printed page. One
//! self-contained file (no scripts, no external resources) that opens
//! anywhere and prints like the paper form. Text is escaped by maud.

use super::model::{FilledForm, Table};
use maud::{html, Markup, DOCTYPE};

const CSS: &str = r#"
@page { size: A4; margin: 15mm; }
body { font-family: "NanumGothic", "Noto Sans CJK KR", "Malgun Gothic", sans-serif; font-size: 9pt; color: #000; margin: 0 auto; max-width: 180mm; }
h1 { font-size: 14pt; margin: 0 0 4mm; }
p.note { margin: 1mm 0; }
dl.fields { display: grid; grid-template-columns: max-content auto; gap: 1mm 4mm; margin: 3mm 0 4mm; }
dl.fields dt { font-weight: bold; }
dl.fields dd { margin: 0; }
h2 { font-size: 10pt; margin: 5mm 0 2mm; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; margin-bottom: 4mm; }
th, td { border: 0.3mm solid #000; padding: 1mm 1.2mm; vertical-align: top; word-break: keep-all; overflow-wrap: anywhere; }
th { background: #e6e6e6; text-align: center; font-weight: bold; }
td.mark { text-align: center; vertical-align: middle; }
thead { display: table-header-group; }
tr { page-break-inside: avoid; break-inside: avoid; }
footer { font-size: 8pt; margin-top: 4mm; color: #333; }
@media print { body { max-width: none; } }
"#;

fn table(t: &Table) -> Markup {
    let total: f32 = t.columns.iter().map(|c| c.width_mm).sum::<f32>().max(1.0);
    html! {
        @if !t.caption.is_empty() { h2 { (t.caption) } }
        table {
            colgroup {
                @for c in &t.columns {
                    col style=(format!("width:{:.2}%", c.width_mm / total * 100.0));
                }
            }
            thead {
                @if !t.groups.is_empty() {
                    tr {
                        @for (label, span) in &t.groups { th colspan=(span) { (label) } }
                    }
                }
                tr { @for c in &t.columns { th { (c.label) } } }
            }
            tbody {
                @for r in 0..t.rows.len() {
                    tr {
                        @for (c, col) in t.columns.iter().enumerate() {
                            td class=[col.mark.then_some("mark")] { (t.shown(r, c)) }
                        }
                    }
                }
            }
        }
    }
}

pub fn render(form: &FilledForm) -> String {
    html! {
        (DOCTYPE)
        html lang="ko" {
            head {
                meta charset="utf-8";
                title { (form.title_ko) }
                style { (maud::PreEscaped(CSS)) }
            }
            body {
                h1 { (form.title_ko) }
                @for n in &form.notes_ko { p.note { (n) } }
                dl.fields {
                    @for (k, v) in &form.fields { dt { (k) } dd { (v) } }
                }
                @for t in &form.tables { (table(t)) }
                footer {
                    p { "비고 열은 gamsa가 증적으로 판정한 근거입니다. 증적으로 판단할 수 없는 항목은 증빙 자료가 제출되기 전까지 ‘확인 불가’로 남으며, 어느 칸에도 표시하지 않습니다." }
                    @if form.redacted { p { "IP 주소는 키 기반 레이블(ip-…, ip6-…)로 대체되었습니다." } }
                    p { "생성: gamsa " (env!("CARGO_PKG_VERSION")) ", " (form.generated_at) }
                }
            }
        }
    }
    .into_string()
}
