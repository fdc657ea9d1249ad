//! 양식2-1 (이중화된 네트워크의 구성 증빙자료): item 2.1's four criteria with
//! their verdicts, and per host the redundancy evidence behind them — active
//! uplinks, bonds, default routes, zone and VRRP — as the agent observed it.

use super::forms::{first_row_outcomes, marks, remark, row_verdict};
use super::model::Table;
use super::{kst, outcome_ko};
use crate::catalog::Catalog;
use crate::verdict::{ItemResult, Outcome};
use gamsa_proto::v1::{evidence::Payload, Evidence, Status};

/// The form's 점검항목 text (seed 001, 양식2-1).
const CHECK_KO: &str = "□ 점검항목 물리적 또는 그에 준하는(논리적 포함) 둘 이상의 회선으로 분리되어 있는가? 둘 이상의 경로를 제공하는 내부망 및 라우터의 이중화를 구성하고 있으며, 장애 발생 시 지속적인 서비스 제공을 위한 대책을 수립하고 있는가?";

pub fn tables(catalog: &Catalog, item: &ItemResult, evidence: &[&Evidence]) -> Vec<Table> {
    let mut head = Table::new(
        "",
        &[
            ("항목", 15.0, false),
            ("분류", 35.0, false),
            ("증빙자료", 130.0, false),
        ],
    );
    head.rows.push(vec![
        item.id.clone(),
        item.title_ko.clone(),
        CHECK_KO.into(),
    ]);

    let mut checks = Table::new(
        "□ 증빙자료 (gamsa 점검 결과)",
        &[
            ("번호", 10.0, true),
            ("증빙자료", 70.0, false),
            ("Y", 8.0, true),
            ("P", 8.0, true),
            ("N", 8.0, true),
            ("N/A", 9.0, true),
            ("비고", 67.0, false),
        ],
    );
    // criteria_ko[1..=4] are the four numbered evidence headings of the form.
    let criteria = catalog
        .item(&item.id)
        .map(|d| d.criteria_ko.clone())
        .unwrap_or_default();
    for (n, row) in item.rows.iter().enumerate() {
        let v = row_verdict(item, row);
        let heading = criteria
            .get(n + 1)
            .cloned()
            .unwrap_or_else(|| row.question_ko.clone());
        let mut cells = vec![(n + 1).to_string(), heading];
        cells.extend(marks(v));
        let reason = if v == row.verdict {
            &row.reason_ko
        } else {
            &item.reason_ko
        };
        cells.push(remark(v, reason));
        checks.rows.push(cells);
    }

    let mut hosts = Table::new(
        "□ 호스트별 네트워크 이중화 증적",
        &[
            ("호스트", 24.0, false),
            ("가용 영역", 16.0, false),
            ("활성 업링크", 36.0, false),
            ("본딩", 30.0, false),
            ("기본 경로", 34.0, false),
            ("VRRP", 10.0, true),
            ("관측 시각", 16.0, false),
            ("판정", 14.0, true),
        ],
    );
    let outcomes = first_row_outcomes(item);
    for ev in evidence {
        let outcome = outcomes.get(ev.host.as_str()).copied().unwrap_or("");
        let seen = kst(ev.observed_at.map(|t| t.unix_millis()).unwrap_or(0));
        let row = match (&ev.payload, ev.status == Status::Error as i32) {
            (Some(Payload::NetworkRedundancy(r)), false) => vec![
                ev.host.clone(),
                r.zone.clone(),
                r.active_uplinks
                    .iter()
                    .map(|u| {
                        let mut s = u.name.clone();
                        if !u.addresses.is_empty() {
                            s.push_str(&format!(" ({})", u.addresses.join(", ")));
                        }
                        if u.speed_mbps > 0 {
                            s.push_str(&format!(" {}Mbps", u.speed_mbps));
                        }
                        s
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
                r.bonds
                    .iter()
                    .map(|b| {
                        format!(
                            "{} {}: 활성 {}/{} ({})",
                            b.name,
                            b.mode,
                            b.active_slaves.len(),
                            b.slaves.len(),
                            b.active_slaves.join(", ")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
                r.default_routes
                    .iter()
                    .map(|rt| {
                        format!(
                            "{} via {} dev {} metric {}",
                            rt.family, rt.gateway, rt.interface, rt.metric
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
                if r.vrrp_present { "예" } else { "아니오" }.into(),
                seen,
                outcome.into(),
            ],
            _ => vec![
                ev.host.clone(),
                String::new(),
                format!("확인 불가: {}", ev.error),
                String::new(),
                String::new(),
                String::new(),
                seen,
                outcome.into(),
            ],
        };
        hosts.rows.push(row);
    }
    if hosts.rows.is_empty() {
        hosts.rows.push(vec![
            "—".into(),
            String::new(),
            "최신 이중화 증적을 보고한 호스트 없음".into(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            outcome_ko(Outcome::Unknown).into(),
        ]);
    }
    vec![head, checks, hosts]
}
