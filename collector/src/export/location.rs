//! 양식2-4 (물리적 위치의 한정) and 양식2-5 (클라우드컴퓨팅 사용 서비스 규격
//! 확인서): where every system and backup is, from the region and backup
//! evidence. The services list groups hosts by provider and region and
//! backups by target, and says per service whether its region is in Korea.
//! Whether a service is region-restricted is a contract fact: gamsa leaves
//! that column for the SLA and says so.

use super::forms::{first_row_outcomes, marks, remark, row_verdict};
use super::kst;
use super::model::Table;
use crate::verdict::ItemResult;
use gamsa_proto::v1::{evidence::Payload, BackupArtifact, CloudRegion, Evidence, Status};
use std::collections::BTreeMap;

/// The country whose regions count as domestic.
const DOMESTIC: &str = "KR";

fn domestic(country: &str) -> &'static str {
    match country {
        "" => "확인 불가",
        DOMESTIC => "예",
        _ => "아니오",
    }
}

fn regions<'a>(evidence: &[&'a Evidence]) -> Vec<(&'a Evidence, Option<&'a CloudRegion>)> {
    evidence
        .iter()
        .filter(|e| e.probe == "region")
        .map(|e| match &e.payload {
            Some(Payload::CloudRegion(r)) if e.status != Status::Error as i32 => (*e, Some(r)),
            _ => (*e, None),
        })
        .collect()
}

fn backups<'a>(evidence: &[&'a Evidence]) -> Vec<(&'a Evidence, Option<&'a BackupArtifact>)> {
    evidence
        .iter()
        .filter(|e| e.probe == "backup")
        .map(|e| match &e.payload {
            Some(Payload::BackupArtifact(b)) if e.status != Status::Error as i32 => (*e, Some(b)),
            _ => (*e, None),
        })
        .collect()
}

fn seen(e: &Evidence) -> String {
    kst(e.observed_at.map(|t| t.unix_millis()).unwrap_or(0))
}

/// 양식2-4: item 4.3 with its verdict, system locations, backup locations.
pub fn location_tables(item: &ItemResult, evidence: &[&Evidence]) -> Vec<Table> {
    let mut head = Table::new(
        "",
        &[
            ("항목", 12.0, false),
            ("분류", 28.0, false),
            ("점검항목", 70.0, false),
            ("Y", 8.0, true),
            ("P", 8.0, true),
            ("N", 8.0, true),
            ("N/A", 9.0, true),
            ("비고", 37.0, false),
        ],
    );
    for row in &item.rows {
        let v = row_verdict(item, row);
        let mut cells = vec![
            item.id.clone(),
            item.title_ko.clone(),
            row.question_ko.clone(),
        ];
        cells.extend(marks(v));
        let reason = if v == row.verdict {
            &row.reason_ko
        } else {
            &item.reason_ko
        };
        cells.push(remark(v, reason));
        head.rows.push(cells);
    }
    let outcomes = first_row_outcomes(item);
    let per_host = |host: &str| outcomes.get(host).copied().unwrap_or("");

    let mut systems = Table::new(
        "□ 시스템의 물리적 위치 (호스트별 리전)",
        &[
            ("호스트", 26.0, false),
            ("클라우드", 16.0, false),
            ("리전", 26.0, false),
            ("가용 영역", 22.0, false),
            ("국가", 12.0, true),
            ("국내 여부", 16.0, true),
            ("확인 방법", 22.0, false),
            ("관측 시각", 24.0, false),
            ("판정", 16.0, true),
        ],
    );
    for (e, r) in regions(evidence) {
        systems.rows.push(match r {
            Some(r) => vec![
                e.host.clone(),
                r.provider.clone(),
                r.region.clone(),
                r.zone.clone(),
                r.country.clone(),
                domestic(&r.country).into(),
                r.source.clone(),
                seen(e),
                per_host(&e.host).into(),
            ],
            None => vec![
                e.host.clone(),
                String::new(),
                format!("확인 불가: {}", e.error),
                String::new(),
                String::new(),
                domestic("").into(),
                String::new(),
                seen(e),
                per_host(&e.host).into(),
            ],
        });
    }

    let mut stored = Table::new(
        "□ 백업장비(백업 데이터)의 물리적 위치",
        &[
            ("호스트", 24.0, false),
            ("백업", 22.0, false),
            ("종류", 14.0, false),
            ("저장 위치", 42.0, false),
            ("리전", 22.0, false),
            ("국가", 12.0, true),
            ("국내 여부", 16.0, true),
            ("최근 성공", 28.0, false),
        ],
    );
    for (e, b) in backups(evidence) {
        stored.rows.push(match b {
            Some(b) => vec![
                e.host.clone(),
                b.source.clone(),
                b.kind.clone(),
                b.location.clone(),
                b.region.clone(),
                b.country.clone(),
                domestic(&b.country).into(),
                b.last_success_at
                    .map(|t| kst(t.unix_millis()))
                    .unwrap_or_default(),
            ],
            None => vec![
                e.host.clone(),
                e.subject.clone(),
                String::new(),
                format!("확인 불가: {}", e.error),
                String::new(),
                String::new(),
                domestic("").into(),
                String::new(),
            ],
        });
    }
    for (t, what) in [(&mut systems, "리전"), (&mut stored, "백업")] {
        if t.rows.is_empty() {
            let mut row = vec![String::new(); t.columns.len()];
            row[0] = "—".into();
            row[3] = format!("최신 {what} 증적 없음");
            t.rows.push(row);
        }
    }
    vec![head, systems, stored]
}

/// What 양식2-5 lists as one service.
#[derive(Default)]
struct Service {
    hosts: Vec<String>,
    country: String,
}

fn provider_service(provider: &str) -> String {
    match provider {
        "aws" => "Amazon EC2".into(),
        "gcp" => "Google Compute Engine".into(),
        "azure" => "Azure Virtual Machines".into(),
        "openstack" => "OpenStack Compute".into(),
        "" => "서버".into(),
        other => format!("{other} 서버"),
    }
}

/// 양식2-5: one row per service (compute by provider and region, each
/// backup target), marked 예/아니오 under 국내 여부.
pub fn services_table(evidence: &[&Evidence]) -> Table {
    let mut services: BTreeMap<String, Service> = BTreeMap::new();
    for (e, r) in regions(evidence) {
        let Some(r) = r else { continue };
        let name = format!("{} — 리전 {}", provider_service(&r.provider), r.region);
        let s = services.entry(name).or_default();
        s.hosts.push(e.host.clone());
        s.country = r.country.clone();
    }
    for (e, b) in backups(evidence) {
        let Some(b) = b else { continue };
        let region = if b.region.is_empty() {
            String::new()
        } else {
            format!(", 리전 {}", b.region)
        };
        let name = format!("백업 {} ({}) → {}{region}", b.source, b.kind, b.location);
        let s = services.entry(name).or_default();
        s.hosts.push(e.host.clone());
        s.country = b.country.clone();
    }
    let mut t = Table::new(
        "",
        &[
            ("", 10.0, true),
            ("사용중인 서비스 목록", 78.0, false),
            ("예", 12.0, true),
            ("아니오", 13.0, true),
            ("예", 12.0, true),
            ("아니오", 13.0, true),
            ("비고", 42.0, false),
        ],
    );
    t.groups = vec![
        (String::new(), 2),
        ("리전 위치 국내 여부".into(), 2),
        ("리전 한정 서비스 여부".into(), 2),
        (String::new(), 1),
    ];
    for (n, (name, s)) in services.into_iter().enumerate() {
        let (yes, no) = match s.country.as_str() {
            DOMESTIC => (super::forms::MARK, ""),
            "" => ("", ""),
            _ => ("", super::forms::MARK),
        };
        let mut hosts = s.hosts;
        hosts.sort();
        hosts.dedup();
        let country = if s.country.is_empty() {
            "국가 확인 불가".to_string()
        } else {
            format!("국가 {}", s.country)
        };
        t.rows.push(vec![
            (n + 1).to_string(),
            name,
            yes.into(),
            no.into(),
            String::new(),
            String::new(),
            format!("{country}; 호스트 {}대: {}", hosts.len(), hosts.join(", ")),
        ]);
    }
    if t.rows.is_empty() {
        t.rows.push(vec![
            "—".into(),
            "최신 리전·백업 증적 없음".into(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    t
}
