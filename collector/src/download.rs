//! Files handed out over HTTP — exports, snapshots, uploaded documents and
//! the snapshot signing key — the same way by the API and the dashboard:
//! HTML inline (to read and print in the browser), everything else as an
//! attachment under a name that cannot break out of its header.

use crate::export::body::Body;
use crate::export::Output;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use ed25519_dalek::VerifyingKey;

/// `out` as a response: HTML inline, anything else as a download; one in
/// a temporary file is sent from it a piece at a time, a stream as it is
/// made (without a length: a maker's failure cuts the download short).
pub fn file(out: Output) -> Response {
    let disposition = if out.content_type.starts_with("text/html") {
        "inline"
    } else {
        "attachment"
    };
    let mut answer = (
        [
            (header::CONTENT_TYPE, out.content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("{disposition}; filename=\"{}\"", safe_name(&out.file_name)),
            ),
        ],
        (),
    )
        .into_response();
    if let Some(len) = out.body.known_len() {
        answer
            .headers_mut()
            .insert(header::CONTENT_LENGTH, header::HeaderValue::from(len));
    }
    *answer.body_mut() = match out.body {
        Body::Bytes(b) => axum::body::Body::from(b),
        Body::File { file, .. } => {
            axum::body::Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
                tokio::fs::File::from_std(file),
                crate::export::body::READ_PIECE,
            ))
        }
        Body::Stream(pieces) => {
            axum::body::Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(pieces))
        }
    };
    answer
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
            body: vec![].into(),
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

    #[tokio::test]
    async fn an_output_in_a_file_is_sent_whole_with_its_length() {
        use std::io::Write;
        let mut spool = crate::export::body::Spool::default();
        let line = b"{\"finding\":1}\n";
        let lines = crate::export::body::IN_MEMORY / line.len() + 100;
        for _ in 0..lines {
            spool.write_all(line).unwrap();
        }
        let body = spool.finish().unwrap();
        assert!(matches!(body, Body::File { .. }));
        let r = file(Output {
            body,
            content_type: "application/x-ndjson",
            file_name: "fleet.ndjson".into(),
        });
        let n = lines * line.len();
        assert_eq!(r.headers()[header::CONTENT_LENGTH], n.to_string().as_str());
        let sent = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(sent.len(), n);
        assert!(sent.chunks(line.len()).all(|c| c == line));
    }

    #[tokio::test]
    async fn a_stream_is_sent_without_a_length_and_a_failure_cuts_it_short() {
        let r = file(Output {
            body: crate::export::body::streamed("test".into(), |out| {
                out.write_all(b"{\"finding\":1}\n")?;
                Err(std::io::Error::other("the store went away"))
            }),
            content_type: "application/x-ndjson",
            file_name: "fleet.ndjson".into(),
        });
        assert!(r.headers().get(header::CONTENT_LENGTH).is_none());
        let e = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("the store went away"), "{e}");
    }
}
