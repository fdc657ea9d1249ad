//! Small HTTP reads for probes (cloud metadata, the Kubernetes API): every
//! response body is bounded, every failure names the URL.

use serde::de::DeserializeOwned;

/// Largest response body a probe reads.
pub const BODY_LIMIT: usize = 32 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: {}", chain(source))]
    Request { url: String, source: reqwest::Error },
    #[error("{url}: HTTP {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url}: response larger than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("{url}: invalid JSON: {source}")]
    Json {
        url: String,
        source: serde_json::Error,
    },
}

/// An error with its causes ("error sending request: connection refused"):
/// reqwest's own message alone rarely says what went wrong.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// A successful (2xx) answer.
pub struct Response {
    pub url: String,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, FetchError> {
        serde_json::from_slice(&self.body).map_err(|source| FetchError::Json {
            url: self.url.clone(),
            source,
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).trim().to_string()
    }
}

/// Sends `req` and returns a 2xx answer with its body read up to `limit`
/// bytes; any other status is an error carrying the start of the body.
pub async fn send(req: reqwest::RequestBuilder, limit: usize) -> Result<Response, FetchError> {
    let (client, req) = req.build_split();
    let req = req.map_err(|source| FetchError::Request {
        url: source.url().map(|u| u.to_string()).unwrap_or_default(),
        source,
    })?;
    let url = req.url().to_string();
    let request_error = |source| FetchError::Request {
        url: url.clone(),
        source,
    };
    let mut resp = client.execute(req).await.map_err(request_error)?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(request_error)? {
        if body.len() + chunk.len() > limit {
            return Err(FetchError::TooLarge { url, limit });
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        return Err(FetchError::Status {
            url,
            status: status.as_u16(),
            body: String::from_utf8_lossy(&body).chars().take(200).collect(),
        });
    }
    Ok(Response { url, headers, body })
}
