//! The seed 001 forms gamsa fills, and the checklist forms (2A, 2B, 3) built
//! from item verdicts. The evidence forms (2-1, 2-4, 2-5) are in `network`
//! and `location`. Korean text here is copied from the forms in seed 001.

use super::model::{FilledForm, Table, VerdictRow};
use crate::catalog::{Catalog, Item};
use crate::verdict::{ItemResult, Outcome, RowResult, Verdict};

/// What a form shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Item rows with Y/P/N/N/A marks; how the 항목 column reads.
    Checklist(ItemLabel),
    /// 양식2-1: network redundancy evidence per host.
    Redundancy,
    /// 양식2-4: where systems and backups are.
    Location,
    /// 양식2-5: services used, region, domestic or not.
    Services,
}

impl Kind {
    /// The probes whose evidence the form shows, if it shows evidence: each
    /// one the evaluation keeps whole (`rules::input::KEPT_WHOLE`).
    pub fn probes(self) -> Option<&'static [&'static str]> {
        match self {
            Kind::Checklist(_) => None,
            Kind::Redundancy => Some(&["redundancy"]),
            Kind::Location | Kind::Services => Some(&["region", "backup"]),
        }
    }

    /// Whether the form has a row per host (the services form groups them).
    pub fn per_host(self) -> bool {
        matches!(self, Kind::Redundancy | Kind::Location)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemLabel {
    /// "1.1" (양식2B).
    Id,
    /// "2.1. 이중화된 네트워크의 구성" (양식2A).
    IdAndTitle,
    /// The sub-area "1.1. 정보 보호 정책", questions numbered by item (양식3).
    SubArea,
    /// A catalog without a seed form: section as written, "id. title".
    Generic,
}

#[derive(Debug)]
pub struct FormSpec {
    pub catalog: &'static str,
    pub id: &'static str,
    pub title_ko: &'static str,
    pub notes_ko: &'static [&'static str],
    pub kind: Kind,
}

const LEGEND: &str =
    "* 점검 항목표 (Y: 만족함, P: 부분적으로 만족함, N: 만족하지 않음, N/A: 해당 없음)";

pub const FORMS: &[FormSpec] = &[
    FormSpec {
        catalog: "emr-s014",
        id: "2A",
        title_ko: "양식2A. EMR 점검표 (ISMS-P 또는 ISMS 제출)",
        notes_ko: &[
            "의료기관 외의 장소에 전자의무기록 보관시 필요한 추가적인 조치(일부)",
            LEGEND,
        ],
        kind: Kind::Checklist(ItemLabel::IdAndTitle),
    },
    FormSpec {
        catalog: "emr-s014",
        id: "2B",
        title_ko: "양식2B. EMR 점검표 (ISMS-P 또는 ISMS 미제출)",
        notes_ko: &[
            "※ 3-1. CC 인증제품 등 도입요건 만족의 경우” P(partial)도 가능하나, 다른 항목은 모두 Y 또는 N/A이어야 함",
            LEGEND,
        ],
        kind: Kind::Checklist(ItemLabel::Id),
    },
    FormSpec {
        catalog: "emr-s014",
        id: "2-1",
        title_ko: "양식2-1. 이중화된 네트워크의 구성 증빙자료 제출 양식",
        notes_ko: &["(1) 증빙자료 제출 양식 : 2.1 항목"],
        kind: Kind::Redundancy,
    },
    FormSpec {
        catalog: "emr-s014",
        id: "2-4",
        title_ko: "양식2-4. 물리적 위치의 한정 증빙자료 제출 양식",
        notes_ko: &["(3) 증빙자료 제출 참고자료 : 4.3 항목"],
        kind: Kind::Location,
    },
    FormSpec {
        catalog: "emr-s014",
        id: "2-5",
        title_ko: "양식2-5. 클라우드컴퓨팅 사용 서비스 규격 확인서",
        notes_ko: &[
            "아래 표에 사용중인 서비스 및 규격을 확인하여 리전 한정 서비스 여부를 표기",
            "서비스 목록은 계약서(SLA)와 일치하여야 함",
        ],
        kind: Kind::Services,
    },
    FormSpec {
        catalog: "cloud-notice",
        id: "3",
        title_ko: "양식3. 클라우드컴퓨팅 서비스 정보보호 기준 고시 항목별 점검표",
        notes_ko: &[
            "□ 클라우드컴퓨팅 서비스 정보보호 기준 고시 통제항목 점검표",
            LEGEND,
        ],
        kind: Kind::Checklist(ItemLabel::SubArea),
    },
];

/// The form `id` of `catalog`, or an error listing the forms it has.
pub fn find(catalog: &str, id: &str) -> Result<&'static FormSpec, String> {
    FORMS
        .iter()
        .find(|f| f.catalog == catalog && f.id == id)
        .ok_or_else(|| {
            let known: Vec<&str> = FORMS
                .iter()
                .filter(|f| f.catalog == catalog)
                .map(|f| f.id)
                .collect();
            if known.is_empty() {
                format!("catalog {catalog} has no seed forms; omit the form to export the whole checklist")
            } else {
                format!(
                    "catalog {catalog} has no form {id:?} (forms: {})",
                    known.join(", ")
                )
            }
        })
}

/// Items a checklist form lists: those marked for it, or all when the
/// catalog does not mark forms (cloud-notice is all of 양식3).
pub fn items_on<'a>(catalog: &'a Catalog, form: Option<&str>) -> Vec<&'a Item> {
    let marked = |i: &Item| form.is_some_and(|f| i.forms.iter().any(|x| x == f));
    if catalog.items.iter().any(marked) {
        catalog.items.iter().filter(|i| marked(i)).collect()
    } else {
        catalog.items.iter().collect()
    }
}

/// The mark column of a verdict: Y, P, N, N/A; none for UNKNOWN, which a
/// form has no box for and which must never look answered.
pub fn mark_column(v: Verdict) -> Option<usize> {
    match v {
        Verdict::Y => Some(0),
        Verdict::P => Some(1),
        Verdict::N => Some(2),
        Verdict::Na => Some(3),
        Verdict::Unknown => None,
    }
}

pub const MARK: &str = "●";

/// The 비고 text: the reason, and "확인 불가" for UNKNOWN.
pub fn remark(v: Verdict, reason_ko: &str) -> String {
    match v {
        Verdict::Unknown => format!("확인 불가 — {reason_ko}"),
        _ => format!("{} — {reason_ko}", v.as_str()),
    }
}

/// Four cells with the mark in the verdict's column.
pub fn marks(v: Verdict) -> Vec<String> {
    (0..4)
        .map(|c| {
            if mark_column(v) == Some(c) {
                MARK.to_string()
            } else {
                String::new()
            }
        })
        .collect()
}

fn leading(id: &str, parts: usize) -> String {
    id.split('.').take(parts).collect::<Vec<_>>().join(".")
}

/// Each host's outcome on the item's first row, in Korean: what the
/// evidence forms' host tables say beside each host's evidence (a map,
/// since a fleet's table has a row per host).
pub fn first_row_outcomes(item: &ItemResult) -> std::collections::HashMap<&str, &'static str> {
    item.rows
        .first()
        .map(|r| {
            r.hosts
                .iter()
                .map(|h| (h.host.as_str(), super::outcome_ko(h.outcome)))
                .collect()
        })
        .unwrap_or_default()
}

/// A row's verdict as the form shows it: an item that is NA (applicant
/// group, NA mark) is NA on every row.
pub fn row_verdict(item: &ItemResult, row: &RowResult) -> Verdict {
    if item.verdict == Verdict::Na {
        Verdict::Na
    } else {
        row.verdict
    }
}

/// The verdict rows of `items` (CSV/JSON), in form order.
pub fn verdict_rows(catalog: &Catalog, items: &[&ItemResult]) -> Vec<VerdictRow> {
    let mut out = Vec::new();
    for item in items {
        let def = catalog.item(&item.id);
        for row in &item.rows {
            let count = |o: Outcome| row.hosts.iter().filter(|h| h.outcome == o).count();
            let v = row_verdict(item, row);
            let (reason_ko, reason_en) = if v == row.verdict {
                (row.reason_ko.clone(), row.reason_en.clone())
            } else {
                (item.reason_ko.clone(), item.reason_en.clone())
            };
            out.push(VerdictRow {
                catalog: item.catalog.clone(),
                item: item.id.clone(),
                section_ko: def.and_then(|d| d.section_ko.clone()).unwrap_or_default(),
                item_title_ko: item.title_ko.clone(),
                row: row.id.clone(),
                question_ko: row.question_ko.clone(),
                question_en: row.question_en.clone(),
                verdict: v.as_str().into(),
                item_verdict: item.verdict.as_str().into(),
                kind: if row.rule.is_some() {
                    "automated"
                } else {
                    "manual"
                }
                .into(),
                highest: row
                    .highest
                    .map(|v| v.as_str().to_string())
                    .unwrap_or_default(),
                rationale_ko: row.rationale_ko.clone().unwrap_or_default(),
                rationale_en: row.rationale_en.clone().unwrap_or_default(),
                completes_ko: row.completes_ko.clone().unwrap_or_default(),
                completes_en: row.completes_en.clone().unwrap_or_default(),
                reason_ko,
                reason_en,
                hosts_pass: count(Outcome::Pass),
                hosts_fail: count(Outcome::Fail),
                hosts_unknown: count(Outcome::Unknown),
                evidence_count: row.hosts.iter().map(|h| h.evidence.len()).sum(),
                attested_by: row
                    .attestation
                    .as_ref()
                    .map(|a| a.by.clone())
                    .unwrap_or_default(),
                evaluated_at: item.evaluated_at.clone(),
            });
        }
    }
    out
}

/// The form's checklist table(s): 분류 | 항목 | 점검내용 | Y | P | N | N/A | 비고.
pub fn checklist_tables(
    label: ItemLabel,
    form: &FilledForm,
    captions: &dyn Fn(&str) -> String,
) -> Vec<Table> {
    let columns: &[(&str, f32, bool)] = &[
        ("분류", 26.0, false),
        ("항목", 22.0, false),
        ("점검내용", 66.0, false),
        ("Y", 8.0, true),
        ("P", 8.0, true),
        ("N", 8.0, true),
        ("N/A", 9.0, true),
        ("비고", 33.0, false),
    ];
    let mut tables: Vec<Table> = Vec::new();
    let mut first_of_item = "";
    for r in &form.rows {
        let caption = captions(&r.item);
        if tables.last().is_none_or(|t| t.caption != caption) {
            let mut t = Table::new(&caption, columns);
            t.merge_leading = 2;
            tables.push(t);
        }
        let section = match label {
            ItemLabel::Generic => r.section_ko.clone(),
            _ => format!("{}. {}", leading(&r.item, 1), r.section_ko),
        };
        let item_cell = match label {
            ItemLabel::Id => r.item.clone(),
            ItemLabel::IdAndTitle | ItemLabel::Generic => {
                format!("{}. {}", r.item, r.item_title_ko)
            }
            ItemLabel::SubArea => format!("{}. {}", leading(&r.item, 2), r.item_title_ko),
        };
        let question = if label == ItemLabel::SubArea && first_of_item != r.item {
            format!("{}. {}", r.item, r.question_ko)
        } else {
            r.question_ko.clone()
        };
        first_of_item = &r.item;
        let v = Verdict::parse(&r.verdict).unwrap_or(Verdict::Unknown);
        let mut row = vec![section, item_cell, question];
        row.extend(marks(v));
        row.push(remark(v, &r.reason_ko));
        if let Some(t) = tables.last_mut() {
            t.rows.push(row);
        }
    }
    tables
}

/// The table after a checklist form: for every automated row, the highest
/// verdict its evidence can give, why the evidence answers it and what it
/// does not cover, and what completes it. An auditor reads it beside the
/// marks; None when the form has no automated row.
pub fn rationale_table(form: &FilledForm) -> Option<Table> {
    let mut t = Table::new(
        "자동 점검 근거 (최고 판정: 증적만으로 줄 수 있는 가장 높은 판정)",
        &[
            ("항목", 18.0, false),
            ("최고 판정", 14.0, true),
            ("근거 및 다루지 않는 것", 96.0, false),
            ("보완 자료", 52.0, false),
        ],
    );
    t.rows = form
        .rows
        .iter()
        .filter(|r| !r.highest.is_empty())
        .map(|r| {
            vec![
                r.row.clone(),
                r.highest.clone(),
                r.rationale_ko.clone(),
                r.completes_ko.clone(),
            ]
        })
        .collect();
    (!t.rows.is_empty()).then_some(t)
}

/// 양식3's three parts: 관리적 (1-7), 물리적 (8), 기술적 (9-13) 보호조치.
pub fn cloud_notice_part(item: &str) -> String {
    let domain: u32 = leading(item, 1).parse().unwrap_or(0);
    match domain {
        1..=7 => "○ 관리적 보호조치",
        8 => "○ 물리적 보호조치",
        _ => "○ 기술적 보호조치",
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_evidence_form_shows_probes_the_evaluation_keeps_whole() {
        let kept = crate::rules::input::KEPT_WHOLE;
        for form in FORMS {
            for probe in form.kind.probes().unwrap_or_default() {
                assert!(kept.contains(probe), "form {}: {probe}", form.id);
            }
        }
    }

    #[test]
    fn every_form_names_a_catalog_and_unknown_forms_are_listed() {
        assert_eq!(find("emr-s014", "2B").unwrap().id, "2B");
        let e = find("emr-s014", "9").unwrap_err();
        assert!(e.contains("2A, 2B, 2-1, 2-4, 2-5"), "{e}");
        assert!(find("isms-p", "2B").unwrap_err().contains("no seed forms"));
        assert_eq!(cloud_notice_part("8.1.2"), "○ 물리적 보호조치");
        assert_eq!(cloud_notice_part("13.4.2"), "○ 기술적 보호조치");
        assert_eq!(marks(Verdict::Na), ["", "", "", MARK]);
        assert_eq!(marks(Verdict::Unknown), ["", "", "", ""]);
    }
}
