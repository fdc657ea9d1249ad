//! Serving the HTTP router under the limits of `[http]`, over HTTPS or plain
//! HTTP (`http.tls`).
//!
//! `axum::serve` has no header-read timeout, so a client trickling its
//! headers one byte at a time (slowloris) would hold a connection forever.
//! This accept loop serves each connection with hyper's own header timeout,
//! caps open connections, and answers 408 to a request not done in time.
//!
//! hyper's timeouts start only once it knows the protocol, and protocol
//! sniffing (HTTP/1.1 or h2c) waits for bytes: a socket that sends nothing,
//! or one byte, or an unfinished TLS handshake, would hold a slot forever,
//! and HTTP/2 has no idle timeout at all. So each connection also has a
//! watchdog: it is closed when no request has begun within
//! `http.header_timeout`, and afterwards when no request is in progress and
//! no byte has moved for `http.idle_timeout`.

use crate::config::HttpConfig;
use axum::extract::{ConnectInfo, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower_http::add_extension::AddExtension;
use tower_http::timeout::TimeoutLayer;

/// How long open requests may finish after shutdown begins.
const DRAIN: Duration = Duration::from_secs(10);

/// What one connection is doing, for its watchdog.
struct Activity {
    opened: Instant,
    /// Requests begun, and those not yet answered.
    begun: AtomicU64,
    in_progress: AtomicUsize,
    /// Milliseconds after `opened` of the last byte read or written.
    last_io_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            begun: AtomicU64::new(0),
            in_progress: AtomicUsize::new(0),
            last_io_ms: AtomicU64::new(0),
        }
    }

    fn moved(&self) {
        let ms = self.opened.elapsed().as_millis() as u64;
        self.last_io_ms.store(ms, Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        self.opened.elapsed().saturating_sub(Duration::from_millis(
            self.last_io_ms.load(Ordering::Relaxed),
        ))
    }

    /// Resolves when the connection should be closed.
    async fn idle(&self, header_timeout: Duration, idle_timeout: Duration) {
        tokio::time::sleep(header_timeout).await;
        if self.begun.load(Ordering::Relaxed) == 0 {
            return;
        }
        loop {
            let quiet = self.quiet_for();
            if self.in_progress.load(Ordering::Relaxed) == 0 && quiet >= idle_timeout {
                return;
            }
            tokio::time::sleep(
                idle_timeout
                    .saturating_sub(quiet)
                    .max(Duration::from_millis(100)),
            )
            .await;
        }
    }
}

/// Counts a request in progress on its connection's `Activity`.
async fn track(req: Request, next: Next) -> Response {
    let Some(activity) = req.extensions().get::<Arc<Activity>>().cloned() else {
        return next.run(req).await;
    };
    activity.begun.fetch_add(1, Ordering::Relaxed);
    activity.in_progress.fetch_add(1, Ordering::Relaxed);
    let resp = next.run(req).await;
    activity.in_progress.fetch_sub(1, Ordering::Relaxed);
    activity.moved();
    resp
}

/// A connection's byte stream, noting each read and write on its `Activity`.
struct Watched<T> {
    io: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.moved();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.moved();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A plain or TLS byte stream.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &HttpConfig,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let app = app
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(axum::middleware::from_fn(track));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let (header_timeout, idle_timeout) = (limits.header_timeout, limits.idle_timeout);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit?,
            _ = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "http accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let activity = Arc::new(Activity::new());
        // Handlers see the client's address (sign-in throttling) as
        // `ConnectInfo`; `track` sees the connection's activity.
        let service = TowerToHyperService::new(AddExtension::new(
            AddExtension::new(app.clone(), ConnectInfo(peer)),
            activity.clone(),
        ));
        let (builder, watcher, tls) = (builder.clone(), graceful.watcher(), tls.clone());
        tokio::spawn(async move {
            let serving = async {
                let io = match handshake(tcp, tls).await {
                    Ok(io) => io,
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "https handshake failed");
                        return;
                    }
                };
                let io = Watched {
                    io,
                    activity: activity.clone(),
                };
                let conn = builder
                    .serve_connection(TokioIo::new(io), service)
                    .into_owned();
                if let Err(e) = watcher.watch(conn).await {
                    tracing::debug!(%peer, error = %e, "http connection ended");
                }
            };
            tokio::select! {
                _ = serving => {}
                _ = activity.idle(header_timeout, idle_timeout) => {
                    tracing::debug!(%peer, "http connection closed: idle");
                }
            }
            drop(permit);
        });
    }
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("http requests still open after {DRAIN:?}; closing them");
    }
    Ok(())
}

/// The connection's byte stream: TLS when `tls` is given.
async fn handshake(tcp: TcpStream, tls: Option<TlsAcceptor>) -> std::io::Result<Box<dyn Io>> {
    Ok(match tls {
        Some(acceptor) => Box::new(acceptor.accept(tcp).await?),
        None => Box::new(tcp),
    })
}
