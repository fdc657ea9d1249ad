//! Files handed out over HTTP — exports, snapshots, uploaded documents and
//! the snapshot signing key — the same way by the API and the dashboard:
//! HTML inline (to read and print in the browser), everything else as an
//! attachment under a name that cannot break out of its header.

use crate::export::Output;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use ed25519_dalek::VerifyingKey;

/// `out` as a response: HTML inline, anything else as a download.
pub fn file(out: Output) -> Response {
    let disposition = if out.content_type.starts_with("text/html") {
        "inline"
    } else {
        "attachment"
    };
    (
        [
            (header::CONTENT_TYPE, out.content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("{disposition}; filename=\"{}\"", safe_name(&out.file_name)),
            ),
        ],
        out.bytes,
    )
        .into_response()
}

/// The SPKI PEM of the snapshot signing key, with its fingerprint in a header.
pub fn public_key(key: &VerifyingKey) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/x-pem-file".to_string()),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"snapshot-signing.pub\"".to_string(),
            ),
            (
                header::HeaderName::from_static("x-gamsa-key-fingerprint"),
                crate::snapshot::key::fingerprint(key),
            ),
        ],
        crate::snapshot::key::public_pem(key),
    )
        .into_response()
}

/// A file name safe inside a quoted Content-Disposition parameter.
fn safe_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._- ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.trim().is_empty() {
        "document".into()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disposition(name: &str, content_type: &'static str) -> String {
        let r = file(Output {
            bytes: vec![],
            content_type,
            file_name: name.into(),
        });
        r.headers()[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn names_cannot_leave_their_header_and_only_html_is_inline() {
        assert_eq!(
            disposition("gamsa-emr-s014-form-2B.pdf", "application/pdf"),
            "attachment; filename=\"gamsa-emr-s014-form-2B.pdf\""
        );
        assert_eq!(
            disposition("x.html", "text/html; charset=utf-8"),
            "inline; filename=\"x.html\""
        );
        assert_eq!(
            disposition("a\"; filename=\"evil.sh\r\n", "application/octet-stream"),
            "attachment; filename=\"a__ filename__evil.sh__\""
        );
        assert_eq!(
            disposition("복구 절차.pdf", "application/octet-stream"),
            "attachment; filename=\"__ __.pdf\""
        );
        assert_eq!(
            disposition("", "application/octet-stream"),
            "attachment; filename=\"document\""
        );
    }
}
