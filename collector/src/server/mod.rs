//! Starting the collector: open the store, bind both listeners and the
//! control socket, serve until shutdown. Every startup failure names the
//! file or setting at fault.

mod http;

use crate::config::Config;
use crate::pki::PkiPaths;
use crate::state::AppState;
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// What every HTTP answer carries. The dashboard's pages have one inline
/// `<style>` block and `style` attributes, no script but the print link.
const SECURITY_HEADERS: [(&str, &str); 4] = [
    (
        "content-security-policy",
        "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-hashes' 'sha256-MguIPR6qNR8D3B+eAlK+bIRTZe8t3wkOY4B/56Me9FU='; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
];

/// The HTTP side: the API and the dashboard on one listener, under one
/// body limit, every answer with `SECURITY_HEADERS` (and HSTS over HTTPS).
fn http_app(state: AppState) -> axum::Router {
    use axum::http::{HeaderName, HeaderValue};
    use tower_http::set_header::SetResponseHeaderLayer;
    let mut headers: Vec<(&str, &str)> = SECURITY_HEADERS.to_vec();
    if state.http.serves_tls() {
        headers.push(("strict-transport-security", "max-age=31536000"));
    }
    let mut app = crate::api::routes(&state)
        .merge(crate::dashboard::routes(&state))
        .layer(axum::extract::DefaultBodyLimit::max(
            state.http.max_body_bytes,
        ));
    for (name, value) in headers {
        app = app.layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        ));
    }
    app.with_state(state)
}

/// The HTTPS acceptor for `[http]`, when it serves HTTPS: its configured
/// certificate, else the collector's own.
fn https(
    config: &crate::config::HttpConfig,
    pki: &PkiPaths,
) -> anyhow::Result<Option<tokio_rustls::TlsAcceptor>> {
    if !config.serves_tls() {
        return Ok(None);
    }
    let (cert, key) = if config.tls_cert.as_os_str().is_empty() {
        (pki.server_cert(), pki.server_key())
    } else {
        (config.tls_cert.clone(), config.tls_key.clone())
    };
    let tls = crate::tls::https_config(&cert, &key).context("http.tls_cert / http.tls_key")?;
    Ok(Some(tokio_rustls::TlsAcceptor::from(tls)))
}

/// A running collector.
pub struct Running {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub state: AppState,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

async fn bind(addr: SocketAddr, setting: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("{setting} = \"{addr}\": cannot listen"))
}

/// Creates the CA and the collector's certificate for `grpc.server_names`
/// and `extra_names`, with the snapshot signing and IP redaction keys: they
/// travel with the CA (replicas share them; `pki/` is a read-only Secret
/// in Kubernetes). What `open_state` then requires.
pub fn init(config: &Config, extra_names: &[String]) -> anyhow::Result<PkiPaths> {
    let mut names = config.grpc.server_names.clone();
    names.extend_from_slice(extra_names);
    let paths = PkiPaths::new(&config.data_dir);
    crate::pki::init_ca(&paths, &names)?;
    crate::snapshot::key::load_or_create(&config.data_dir)?;
    crate::export::redact::Redactor::load_or_create(&config.data_dir)?;
    Ok(paths)
}

pub async fn open_state(config: &Config) -> anyhow::Result<AppState> {
    let pki = PkiPaths::new(&config.data_dir);
    for f in [pki.ca_cert(), pki.server_cert(), pki.server_key()] {
        if !f.exists() {
            anyhow::bail!(
                "{}: missing; run `gamsa-collector ca init --data-dir {}` first",
                f.display(),
                config.data_dir.display()
            );
        }
    }
    let store = crate::store::open(&config.store_location()).await?;
    let collector_id = crate::pki::common_name(
        &crate::tls::certs_from_pem(&crate::pki::read(&pki.server_cert())?)
            .map_err(|e| anyhow::anyhow!("{}: {e}", pki.server_cert().display()))?[0],
    )
    .unwrap_or_else(|| "gamsa collector".into());
    let checklists = Arc::new(
        crate::checklists::Checklists::load(&config.catalog_dirs)?
            .expecting(&config.expectations)?,
    );
    let verdicts = crate::evaluation::Kept::new(config.verdicts.clone());
    let snapshots = crate::snapshot::Snapshots::new(
        &config.data_dir,
        config.snapshots.clone(),
        collector_id.clone(),
        checklists.clone(),
        store.clone(),
    )
    .with_kept(verdicts.clone());
    Ok(AppState {
        store,
        pki,
        collector_id,
        checklists,
        verdicts,
        tallies: Arc::default(),
        made: Arc::default(),
        http: Arc::new(crate::config::HttpConfig {
            // Cookies are `Secure` whenever the port serves HTTPS.
            secure_cookies: config.http.secure_cookies || config.http.serves_tls(),
            ..config.http.clone()
        }),
        agents: Arc::default(),
        snapshots: Arc::new(snapshots),
        export: Arc::new(config.export.clone()),
        availability: Arc::new(config.availability.clone()),
        inventory: Arc::default(),
    })
}

pub async fn start(config: &Config) -> anyhow::Result<Running> {
    let state = open_state(config).await?;
    let grpc = bind(config.grpc.listen, "grpc.listen").await?;
    let http = bind(config.http.listen, "http.listen").await?;
    let grpc_addr = grpc.local_addr()?;
    let http_addr = http.local_addr()?;
    let (shutdown, rx) = tokio::sync::watch::channel(false);
    crate::snapshot::schedule::spawn(&config.snapshots, state.snapshots.clone(), rx.clone())?;
    let stored = state.snapshots.clone();
    tokio::spawn(async move { stored.verify_stored().await });
    crate::snapshot::reports::spawn(
        state.snapshots.clone(),
        crate::snapshot::reports::Settings {
            reports: config.reports.clone(),
            export: config.export.clone(),
            availability: config.availability.clone(),
        },
        rx.clone(),
    );
    state
        .verdicts
        .spawn(state.checklists.clone(), state.store.clone(), rx.clone())?;
    crate::findings::spawn(
        &config.findings,
        state.checklists.clone(),
        state.verdicts.clone(),
        state.store.clone(),
        crate::snapshot::schedule::holder().to_string(),
        rx.clone(),
    )?;
    crate::retention::spawn(
        &config.retention,
        state.store.clone(),
        crate::snapshot::schedule::holder().to_string(),
        rx.clone(),
    )?;
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    let grpc_task = tokio::spawn(crate::grpc::serve(
        grpc,
        state.clone(),
        config.grpc.clone(),
        config.ingest.clone(),
        wait(rx.clone()),
    ));
    let mut tasks = vec![grpc_task];
    if let Some(listener) = crate::control::bind(&config.data_dir).await {
        let serving = crate::control::serve(
            listener,
            config.data_dir.clone(),
            state.snapshots.clone(),
            wait(rx.clone()),
        );
        tasks.push(tokio::spawn(async move {
            serving.await;
            Ok(())
        }));
    }
    let app = http_app(state.clone());
    let https = https(&config.http, &state.pki)?;
    let http_shutdown = wait(rx);
    let limits = config.http.clone();
    let http_task = tokio::spawn(async move {
        http::serve(http, app, &limits, https, http_shutdown)
            .await
            .context("http server")
    });
    let scheme = if config.http.serves_tls() {
        "https"
    } else {
        "http"
    };
    tracing::info!(%grpc_addr, %http_addr, scheme, "collector listening");
    tasks.push(http_task);
    Ok(Running {
        grpc_addr,
        http_addr,
        state,
        shutdown,
        tasks,
    })
}

impl Running {
    /// Waits until a server fails or `stop` resolves, then shuts down.
    pub async fn run_until(
        mut self,
        stop: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let first = futures::future::select_all(self.tasks.iter_mut());
        tokio::select! {
            (res, _, _) = first => {
                res.context("server task")??;
                anyhow::bail!("a server stopped unexpectedly");
            }
            _ = stop => {}
        }
        let snapshots = self.state.snapshots.clone();
        self.stop().await?;
        prepare_snapshot(&snapshots).await;
        Ok(())
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            if let Ok(Err(e)) = tokio::time::timeout(std::time::Duration::from_secs(10), t)
                .await
                .unwrap_or(Ok(Ok(())))
            {
                tracing::warn!(error = %e, "server shut down with an error");
            }
        }
        Ok(())
    }
}

/// How long a stopping collector spends preparing the command line's
/// snapshot at most: well within the time service managers give a stop
/// (systemd 90 s, Kubernetes 30 s).
const PREPARE_WITHIN: std::time::Duration = std::time::Duration::from_secs(20);

/// Once nothing is served: the last evaluation and its host parts, for a
/// `snapshot create` while the collector is stopped (`snapshot::prepared`).
/// Not prepared is only slower.
async fn prepare_snapshot(snapshots: &crate::snapshot::Snapshots) {
    match tokio::time::timeout(PREPARE_WITHIN, snapshots.prepare()).await {
        Ok(Ok(Some(p))) => tracing::info!(
            hosts = p.hosts,
            took_ms = p.took.as_millis() as u64,
            stands_until = %chrono::DateTime::from_timestamp_millis(p.stands_until_ms)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "snapshot prepared as the collector stops"
        ),
        Ok(Ok(None)) => tracing::info!(
            "no snapshot prepared as the collector stops: the store changed while it evaluated"
        ),
        Ok(Err(e)) => {
            tracing::warn!(error = %format!("{e:#}"), "preparing a snapshot as the collector stops failed")
        }
        Err(_) => tracing::warn!(
            within_s = PREPARE_WITHIN.as_secs(),
            "no snapshot prepared as the collector stops: it took too long"
        ),
    }
}
