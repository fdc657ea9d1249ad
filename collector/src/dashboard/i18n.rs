//! The dashboard's two languages. Korean is the language of the checklists
//! and of most auditors; English is for everyone else.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ko,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Lang {
        if s == "en" {
            Lang::En
        } else {
            Lang::Ko
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Ko => "ko",
            Lang::En => "en",
        }
    }

    /// Picks the Korean or English text.
    pub fn pick<'a>(self, ko: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Ko => ko,
            Lang::En => en,
        }
    }

    /// A host's reason as the rules engine words it (English, since it is
    /// also the API's and the snapshots'), in this language: the engine's
    /// fixed phrases are translated, and what follows them (probe names,
    /// errors, the rule's own detail) is kept as observed.
    pub fn host_reason(self, reason: &str) -> String {
        if self == Lang::En {
            return reason.to_string();
        }
        const FIXED: &[(&str, &str)] = &[
            ("fails", "미충족"),
            ("passes", "충족"),
            ("evidence does not tell", "증거로 판단할 수 없음"),
        ];
        const PREFIXED: &[(&str, &str)] = &[
            (
                "observed evidence passes, but could not check: ",
                "관측된 증거는 충족하나 점검하지 못함: ",
            ),
            ("could not check: ", "점검하지 못함: "),
            ("rule error: ", "규칙 오류: "),
            ("not expected to show ", "증거 대상 아님: "),
            ("outside ", "대상 호스트 밖: "),
        ];
        if let Some((_, ko)) = FIXED.iter().find(|(en, _)| *en == reason) {
            return (*ko).to_string();
        }
        if let Some(probes) = reason
            .strip_prefix("no fresh ")
            .and_then(|r| r.strip_suffix(" evidence"))
        {
            return format!("최신 {probes} 증거 없음");
        }
        for (en, ko) in PREFIXED {
            if let Some(rest) = reason.strip_prefix(en) {
                return format!("{ko}{rest}");
            }
        }
        reason.to_string()
    }

    /// A fixed UI string.
    pub fn t(self, key: &str) -> &'static str {
        let (ko, en) = match key {
            "sign_in" => ("로그인", "Sign in"),
            "sign_out" => ("로그아웃", "Sign out"),
            "user" => ("사용자", "User"),
            "password" => ("비밀번호", "Password"),
            "bad_login" => (
                "사용자 이름 또는 비밀번호가 올바르지 않습니다.",
                "Wrong user name or password.",
            ),
            "hosts" => ("호스트", "Hosts"),
            "availability" => ("가용률", "Availability"),
            "availability_formula" => (
                "가용률 = 100 × (1 − 장애 시간(분) / 해당 월의 시간(분)), UTC 기준 월.",
                "Availability = 100 × (1 − outage minutes / minutes in the month), months in UTC.",
            ),
            "availability_truncated" => (
                "읽은 증거가 상한에 도달하여 가장 오래된 보고가 빠졌습니다.",
                "The read reached its limit: the oldest reports are missing.",
            ),
            "min_outage" => ("장애로 집계하는 최소 시간", "Counted as an outage from"),
            "no_services" => (
                "합성 점검(synthetic) 증거가 있는 서비스가 없습니다.",
                "No service has synthetic check evidence.",
            ),
            "service" => ("서비스", "Service"),
            "vantage_points" => ("점검 위치", "Vantage points"),
            "vantage_point" => ("점검 위치", "Vantage point"),
            "vantage_problems" => (
                "한 점검 위치만의 실패 (서비스 장애 아님)",
                "One vantage point failing alone (not a service outage)",
            ),
            "quorum" => ("정족수", "quorum"),
            "up_now" => ("현재 상태", "Now"),
            "up" => ("정상", "up"),
            "down" => ("장애", "down"),
            "target" => ("목표", "Target"),
            "met" => ("충족", "met"),
            "not_met" => ("미달", "not met"),
            "outages" => ("장애", "Outages"),
            "outages_per_year" => ("연간 환산 장애 건수", "Outages per year"),
            "minutes" => ("분", "min"),
            "start" => ("시작", "Start"),
            "end" => ("종료", "End"),
            "duration" => ("지속 시간", "Duration"),
            "ongoing" => ("진행 중", "ongoing"),
            "findings" => ("발견 사항 이력", "Findings history"),
            "findings_note" => (
                "호스트가 규칙을 충족하지 못한 점검 항목과 그 이력입니다. 신규: 비교 시점에 없던 것, 재발: 비교 시점과 지금 모두 있는 것, 조치됨: 최신 증적으로 충족이 확인된 것. 최신 증적이 없는 호스트의 발견 사항은 조치된 것으로 보지 않습니다.",
                "Checklist items a host fails, with their history. New: absent then, present now; recurring: present then and now; fixed: shown passing by fresh evidence. Findings of a host without fresh evidence are never counted fixed.",
            ),
            "last_assessment" => ("최근 평가", "Last assessment"),
            "since_previous" => ("이전 평가 대비", "Since the previous assessment"),
            "since_year" => ("1년 전 대비", "Since a year earlier"),
            "no_assessment" => ("평가 기록 없음", "no assessment recorded"),
            "history_short" => ("이력이 1년에 못 미침; 최초 평가", "the history does not reach back a year; first assessment"),
            "open_only" => ("미조치만", "open only"),
            "findings_report" => ("발견 사항 보고서", "Findings report"),
            "no_findings" => ("발견 사항 없음", "No findings"),
            "found_first" => ("최초 발견", "First seen"),
            "found_last" => ("최근 발견", "Last seen"),
            "fixed_at" => ("조치", "Fixed"),
            "not_fixed" => ("미조치", "open"),
            "times_open" => ("발생 횟수", "times open"),
            "item" => ("항목", "Item"),
            "title" => ("제목", "Title"),
            "verdict" => ("판정", "Verdict"),
            "reason" => ("근거", "Reason"),
            "group" => ("신청 유형", "Applicant group"),
            "all_groups" => ("전체", "All"),
            "show" => ("보기", "Show"),
            "question" => ("질문", "Question"),
            "rows" => ("점검 항목", "Checklist rows"),
            "evidence" => ("증적", "Evidence"),
            "evidence_examples" => ("증적 자료 예시", "Evidence examples"),
            "evidence_unread" => (
                "이 페이지에 요약하지 않은 증적(각 호스트 페이지에 전문)",
                "Evidence not summarized on this page (whole on each host's page)",
            ),
            "more_lines" => ("호스트 페이지에서 나머지 보기:", "more on the host's page:"),
            "criteria" => ("세부 기준", "Detailed criteria"),
            "host" => ("호스트", "Host"),
            "outcome" => ("결과", "Outcome"),
            "automated" => ("자동 점검", "Automated"),
            "manual" => ("수동 확인", "Manual"),
            "highest" => ("최고 판정", "Highest verdict"),
            "answers_full" => ("증적이 질문 전체에 답함", "evidence answers the whole question"),
            "answers_partial" => ("증적은 질문의 일부만 답함", "evidence answers part of the question"),
            "rationale" => ("근거", "Why this evidence"),
            "completes" => ("보완 자료", "Completed by"),
            "attest" => ("증빙 등록", "Add documentary evidence"),
            "comment" => ("의견", "Comment"),
            "file" => ("파일", "File"),
            "row" => ("점검 항목", "Row"),
            "save" => ("저장", "Save"),
            "mark_na" => ("해당없음 지정", "Mark not applicable"),
            "justification" => ("사유", "Justification"),
            "last_seen" => ("최근 수신", "Last seen"),
            "version" => ("버전", "Version"),
            "probes" => ("프로브", "Probes"),
            "status" => ("상태", "Status"),
            "stale" => ("수신 지연", "Stale"),
            "connected" => ("연결됨", "Connected"),
            "disconnected" => ("연결 끊김", "Disconnected"),
            "evaluated_at" => ("평가 시각", "Evaluated at"),
            "observed_at" => ("관측 시각", "Observed at"),
            "read_only" => (
                "감사인 권한은 읽기 전용입니다.",
                "Auditors have read-only access.",
            ),
            "na_mark" => ("해당없음 지정", "Marked not applicable"),
            "attestations" => ("등록된 증빙", "Documentary evidence"),
            "by" => ("등록자", "By"),
            "print" => ("인쇄", "Print"),
            "catalogs" => ("점검 기준", "Catalogs"),
            "agent" => ("에이전트", "Agent"),
            "probe" => ("프로브", "Probe"),
            "subject" => ("대상", "Subject"),
            "items" => ("항목", "items"),
            "snapshots" => ("스냅샷", "Snapshots"),
            "snapshot" => ("스냅샷", "Snapshot"),
            "exports" => ("내보내기", "Exports"),
            "export" => ("내보내기", "Export"),
            "access_log" => ("접근 기록", "Access log"),
            "form" => ("양식", "Form"),
            "more_options" => ("다른 형식·옵션", "more formats and options"),
            "history" => ("판정 이력", "Verdict history"),
            "history_note" => (
                "서명된 스냅샷에 기록된 판정(신청 유형 미적용), 오래된 것부터; 마지막은 현재 판정.",
                "Verdicts as recorded in the signed snapshots (without applicant group), oldest first; the last is the current verdict.",
            ),
            "now" => ("현재", "now"),
            "created" => ("생성 시각", "Created"),
            "ago" => ("전", "ago"),
            "health" => ("상태 점검", "Health"),
            "revoked" => ("폐기됨", "revoked"),
            "revoked_note" => (
                "폐기된 에이전트: 증적은 이력으로 보관되며 판정에는 쓰이지 않습니다.",
                "Revoked agent: its evidence is kept for history and no longer counts in verdicts.",
            ),
            "capabilities" => ("기능", "capabilities"),
            "stale_hosts" => (
                "개 호스트가 15분 넘게 수신되지 않았습니다.",
                "host(s) not heard from for more than 15 minutes.",
            ),
            "stale_note" => (
                "15분 넘게 수신 없음: 이 호스트의 증적은 곧 확인 불가가 됩니다.",
                "Nothing received for over 15 minutes: this host's evidence will soon be UNKNOWN.",
            ),
            "create_snapshot" => ("지금 스냅샷 생성", "Take a snapshot now"),
            "download" => ("내려받기", "Download"),
            "compare" => ("비교", "Compare"),
            "from" => ("이전", "From"),
            "to" => ("이후", "To"),
            "public_key" => ("서명 공개키", "Signing public key"),
            "fingerprint" => ("지문(SHA-256)", "Fingerprint (SHA-256)"),
            "verify_howto" => (
                "내려받은 스냅샷은 공개키만으로 오프라인 검증할 수 있습니다:",
                "A downloaded snapshot verifies offline with the public key alone:",
            ),
            "taken_by" => ("생성자", "Taken by"),
            "size" => ("크기", "Size"),
            "changed" => ("판정이 바뀐 항목", "Items that changed verdict"),
            "unchanged" => ("변경 없음", "unchanged"),
            "no_snapshots" => ("아직 스냅샷이 없습니다.", "No snapshots yet."),
            "schedule" => ("예약", "Schedule"),
            "encrypt_to" => ("age 수신자 공개키로 암호화 (선택)", "Encrypt to age recipient (optional)"),
            "redact_ips" => ("IP 주소 가리기", "Redact IP addresses"),
            "format" => ("형식", "Format"),
            "whole_checklist" => ("전체 점검표", "Whole checklist"),
            "when" => ("시각", "When"),
            "who" => ("누가", "Who"),
            "action" => ("행위", "Action"),
            "what" => ("대상", "What"),
            "role" => ("역할", "Role"),
            "exports_note" => (
                "내보내기와 스냅샷 내려받기는 모두 접근 기록에 남습니다. 조직 밖으로 나가는 사본은 IP 주소를 가리고 암호화하십시오.",
                "Every export and snapshot download is recorded in the access log. Redact IP addresses and encrypt copies that leave the organisation.",
            ),
            "search" => ("검색", "Search"),
            "host_or_agent" => ("호스트·에이전트 이름", "host or agent name"),
            "outcome_fail" => ("미충족 있음", "failing"),
            "outcome_unknown" => ("확인 불가 있음", "unknown"),
            "outcome_pass" => ("모두 충족", "passing"),
            "health_ok" => ("정상", "OK"),
            "health_error" => ("프로브 오류", "probe errors"),
            "no_evidence" => ("증적 없음", "no evidence"),
            "label" => ("레이블", "Label"),
            "labels" => ("레이블", "Labels"),
            "clear" => ("초기화", "clear"),
            "showing" => ("표시", "Showing"),
            "page" => ("쪽", "page"),
            "previous" => ("이전", "previous"),
            "next" => ("다음", "next"),
            "results" => ("점검 결과", "Results"),
            "items_failing" => ("개 항목 미충족", "items failing"),
            "items_unknown" => ("개 항목 확인 불가", "items unknown"),
            "first_seen" => ("최초 수신", "First seen"),
            "peer" => ("접속 주소", "Peer"),
            "failing_rows" => ("미충족 점검 항목", "Rows this host fails"),
            "no_failing_rows" => ("미충족 점검 항목이 없습니다.", "This host fails no row."),
            "unknown_rows" => ("확인 불가 점검 항목", "Rows that cannot be told for this host"),
            "remediation" => ("조치 방법", "Remediation"),
            "latest_evidence" => ("최신 증적", "Latest evidence"),
            "verdicts_as_of" => ("판정 기준 시각", "Verdicts as of"),
            "store_change" => ("저장소 변경", "store change"),
            "evaluation_pending" => (
                "이후 변경된 내용을 반영한 평가가 진행 중입니다",
                "an evaluation including later changes is on its way",
            ),
            "trend" => ("판정 추이", "Verdict trend"),
            "trend_note" => (
                "스냅샷별 항목 수(오래된 것부터, 최근 60개)",
                "items per snapshot, oldest first (the last 60)",
            ),
            "what_changed" => ("최근 스냅샷 이후 바뀐 판정", "What changed since the last snapshot"),
            "since_snapshot" => ("현재 판정과 비교한 스냅샷", "Current verdicts compared with snapshot"),
            "nothing_changed" => ("바뀐 판정이 없습니다.", "No verdict changed."),
            "then" => ("스냅샷", "Then"),
            "edition" => ("기준 문서", "Source edition"),
            "config_changes" => ("설정 변경 이력", "Configuration changes"),
            "config_changes_note" => (
                "에이전트가 감시하는 설정 파일의 변경(수 초 내 보고), 최근 것부터. 비밀 정보가 담긴 파일은 변경 사실만 표시합니다.",
                "Changes to the configuration files the agent watches (reported within seconds), newest first. Secret-bearing files show only that they changed.",
            ),
            "period_from" => ("시작일", "From"),
            "period_to" => ("종료일", "To"),
            "no_changes" => ("이 기간에 변경이 없습니다.", "No change in this period."),
            "path" => ("경로", "Path"),
            "change" => ("변경", "Change"),
            "owner_mode" => ("소유자·권한", "Owner, mode"),
            "changed_lines" => ("변경된 줄", "Changed lines"),
            "secret" => ("비밀", "secret"),
            "diff_cut" => ("(일부만 표시)", "(cut short)"),
            _ => ("?", "?"),
        };
        self.pick(ko, en)
    }
}

#[cfg(test)]
mod host_reason_tests {
    use super::Lang;

    #[test]
    fn the_engines_phrases_are_korean_on_korean_pages() {
        assert_eq!(Lang::Ko.host_reason("fails"), "미충족");
        assert_eq!(
            Lang::Ko.host_reason("no fresh tls and ports evidence"),
            "최신 tls and ports 증거 없음"
        );
        assert_eq!(
            Lang::Ko.host_reason("could not check: timeout"),
            "점검하지 못함: timeout"
        );
        assert_eq!(Lang::En.host_reason("fails"), "fails");
        assert_eq!(Lang::Ko.host_reason("something new"), "something new");
    }
}
