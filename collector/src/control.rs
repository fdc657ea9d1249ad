//! The control socket: `<data_dir>/collector.sock`, through which the
//! command line asks the collector serving that data directory to do what
//! needs its kept state.
//!
//! Why: a snapshot freezes the kept evaluation. A separate process has
//! none, so `gamsa-collector snapshot create` on its own reads every
//! evidence and evaluates every catalog (at 10,000 hosts: minutes and
//! gigabytes). Beside a serving collector, the command hands the snapshot
//! to it and waits, as the API and the schedule do.
//!
//! Who may ask is decided by the file system, as for the signing key in the
//! same directory: the socket is the owner's only (0600), and a peer of
//! another user (root excepted) is refused. The protocol is one JSON line
//! each way. Without a collector serving (no socket, or a stale one left by
//! a crash), `ask` answers `None` and the command does the work itself.

use crate::actor::Actor;
use crate::snapshot::Snapshots;
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::{UnixListener, UnixStream};
use tokio_util::codec::{Framed, LinesCodec};

/// A request line is a command name and a login: far below this.
const MAX_LINE: usize = 64 * 1024;

/// Where the collector serving `data_dir` listens.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("collector.sock")
}

/// What the command line asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ask", rename_all = "camelCase")]
pub enum Request {
    /// Take a snapshot now, recorded as taken by `login` on the command line.
    CreateSnapshot { login: String },
}

/// What the collector answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "camelCase")]
pub enum Reply {
    Snapshot {
        path: PathBuf,
        sha256: String,
        /// Files retention removed.
        removed: Vec<PathBuf>,
        /// The serving collector's process id, for the operator's record.
        pid: u32,
    },
    Refused {
        error: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: the collector closed the connection before answering")]
    NoAnswer { path: PathBuf },
    #[error("{path}: unreadable answer: {reason}")]
    Unreadable { path: PathBuf, reason: String },
}

/// Sends `request` to the collector serving `data_dir` and waits for its
/// answer; `None` when no collector serves it.
pub async fn ask(data_dir: &Path, request: &Request) -> Result<Option<Reply>, ControlError> {
    let path = socket_path(data_dir);
    let io = |source| ControlError::Io {
        path: path.clone(),
        source,
    };
    let unreadable = |reason: String| ControlError::Unreadable {
        path: path.clone(),
        reason,
    };
    let stream = match UnixStream::connect(&path).await {
        Ok(s) => s,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => {
            return Ok(None)
        }
        Err(e) => return Err(io(e)),
    };
    let mut framed = Framed::new(stream, LinesCodec::new_with_max_length(MAX_LINE));
    let line = serde_json::to_string(request).expect("a request serialises");
    framed
        .send(line)
        .await
        .map_err(|e| io(std::io::Error::other(e)))?;
    let answer = framed
        .next()
        .await
        .ok_or_else(|| ControlError::NoAnswer { path: path.clone() })?
        .map_err(|e| unreadable(e.to_string()))?;
    serde_json::from_str(&answer)
        .map(Some)
        .map_err(|e| unreadable(e.to_string()))
}

/// Binds the socket for `data_dir`, replacing one a crashed collector left.
/// `None` (with a warning) when another collector already serves it, or
/// the socket cannot be made: the command line then works on its own.
pub async fn bind(data_dir: &Path) -> Option<UnixListener> {
    let path = socket_path(data_dir);
    if UnixStream::connect(&path).await.is_ok() {
        tracing::warn!(socket = %path.display(), "another collector serves this data directory's control socket; the command line's snapshots go to it");
        return None;
    }
    let _ = std::fs::remove_file(&path);
    let bound = UnixListener::bind(&path).and_then(|l| {
        crate::private::owner_only(&path)?;
        Ok(l)
    });
    match bound {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::warn!(socket = %path.display(), error = %e, "no control socket: `snapshot create` will evaluate on its own");
            None
        }
    }
}

/// Answers requests on `listener` until `shutdown`, then removes the socket.
pub async fn serve(
    listener: UnixListener,
    data_dir: PathBuf,
    snapshots: Arc<Snapshots>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(answer(stream, snapshots.clone()));
                }
                Err(e) => {
                    // Out of descriptors, say: not a reason to spin.
                    tracing::warn!(error = %e, "control socket: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            },
        }
    }
    let _ = std::fs::remove_file(socket_path(&data_dir));
}

/// One connection: one request, one answer.
async fn answer(stream: UnixStream, snapshots: Arc<Snapshots>) {
    let peer = stream.peer_cred().ok().map(|c| c.uid());
    let mut framed = Framed::new(stream, LinesCodec::new_with_max_length(MAX_LINE));
    let Some(line) = framed.next().await else {
        return;
    };
    let own = crate::actor::own_uid();
    let reply = match (line, peer) {
        (_, None) => Reply::Refused {
            error: "the peer's user is unknown".into(),
        },
        (_, Some(uid)) if uid != 0 && uid != own => Reply::Refused {
            error: format!("uid {uid} is not this collector's user (uid {own})"),
        },
        (Err(e), _) => Reply::Refused {
            error: format!("unreadable request: {e}"),
        },
        (Ok(line), _) => match serde_json::from_str::<Request>(&line) {
            Err(e) => Reply::Refused {
                error: format!("unreadable request: {e}"),
            },
            Ok(Request::CreateSnapshot { login }) => create_snapshot(&snapshots, login).await,
        },
    };
    if let Reply::Refused { error } = &reply {
        tracing::warn!(%error, "control socket: request refused");
    }
    let line = serde_json::to_string(&reply).expect("a reply serialises");
    let _ = framed.send(line).await;
}

async fn create_snapshot(snapshots: &Snapshots, login: String) -> Reply {
    match crate::operations::create_snapshot(snapshots, &Actor::Cli { login }).await {
        Ok(c) => Reply::Snapshot {
            path: c.entry.path,
            sha256: c.sha256,
            removed: c.removed.into_iter().map(|r| r.path).collect(),
            pid: std::process::id(),
        },
        Err(e) => Reply::Refused {
            error: format!("{e:#}"),
        },
    }
}
