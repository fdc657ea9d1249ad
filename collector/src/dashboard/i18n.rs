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
            "criteria" => ("세부 기준", "Detailed criteria"),
            "host" => ("호스트", "Host"),
            "outcome" => ("결과", "Outcome"),
            "automated" => ("자동 점검", "Automated"),
            "manual" => ("수동 확인", "Manual"),
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
            _ => ("?", "?"),
        };
        self.pick(ko, en)
    }
}
