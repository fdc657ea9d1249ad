//! One sink of verdict changes: its configuration, a bounded queue, and the
//! task that delivers each change with retries. Offering a change never
//! waits: a full queue drops it and counts it (`findings_dropped`).

use super::{syslog, webhook, Change};
use crate::metrics::{finding, Delivery};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// `[[findings.sinks]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// `tcp://host:port` or `udp://host:port`: syslog (RFC 5424; over TCP
    /// framed by octet counting, RFC 6587); `http://…` or `https://…`: a
    /// webhook, sent the change as an OCSF Compliance Finding (JSON POST).
    pub url: String,
    /// The sink's name in metrics and logs; default its scheme, host and port.
    #[serde(default)]
    pub name: String,
    /// Time one attempt may take.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Where a sink sends.
#[derive(Debug, Clone)]
pub enum Target {
    Syslog(syslog::Transport, String),
    Webhook(url::Url),
}

impl SinkConfig {
    pub fn target(&self) -> Result<Target, String> {
        let url = url::Url::parse(&self.url).map_err(|e| format!("{:?}: {e}", self.url))?;
        let addr = || match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => Ok(format!("{h}:{p}")),
            _ => Err(format!("{:?}: host and port required", self.url)),
        };
        Ok(match url.scheme() {
            "tcp" => Target::Syslog(syslog::Transport::Tcp, addr()?),
            "udp" => Target::Syslog(syslog::Transport::Udp, addr()?),
            "http" | "https" => Target::Webhook(url),
            s => {
                return Err(format!(
                    "{:?}: scheme {s:?}, expected tcp, udp (syslog), http or https (webhook)",
                    self.url
                ))
            }
        })
    }

    fn label(&self) -> String {
        if !self.name.is_empty() {
            return self.name.clone();
        }
        match url::Url::parse(&self.url) {
            Ok(u) => format!(
                "{}://{}{}",
                u.scheme(),
                u.host_str().unwrap_or_default(),
                u.port().map(|p| format!(":{p}")).unwrap_or_default()
            ),
            Err(_) => self.url.clone(),
        }
    }
}

/// A running sink: changes offered here are delivered in the background.
pub struct Queue {
    name: String,
    tx: mpsc::Sender<Arc<Change>>,
}

impl Queue {
    pub fn start(config: &SinkConfig, queue: usize, attempts: u32) -> Result<Queue, String> {
        let target = config.target()?;
        let name = config.label();
        let (tx, rx) = mpsc::channel(queue);
        crate::metrics::sink_started(&name);
        tokio::spawn(deliver(name.clone(), target, config.timeout, attempts, rx));
        Ok(Queue { name, tx })
    }

    /// Queues `change`, or drops and counts it when the queue is full.
    pub fn offer(&self, change: Arc<Change>) {
        if self.tx.try_send(change).is_err() {
            finding(&self.name, Delivery::Dropped);
            tracing::warn!(sink = %self.name, "verdict change dropped: the sink's queue is full");
        }
    }
}

/// Delivers queued changes one by one until the queue is closed.
async fn deliver(
    name: String,
    target: Target,
    timeout: Duration,
    attempts: u32,
    mut rx: mpsc::Receiver<Arc<Change>>,
) {
    let hostname = sysinfo::System::host_name().unwrap_or_default();
    let client = reqwest::Client::builder().timeout(timeout).build();
    while let Some(change) = rx.recv().await {
        let mut delay = Duration::from_secs(1);
        for attempt in 1..=attempts {
            let sent = match &target {
                Target::Syslog(transport, addr) => {
                    let line = syslog::line(&change, &hostname);
                    syslog::send(*transport, addr, &line, timeout)
                        .await
                        .map_err(|e| format!("{addr}: {e}"))
                }
                Target::Webhook(url) => match &client {
                    Ok(c) => webhook::send(c, url, &change).await,
                    Err(e) => Err(format!("HTTP client: {e}")),
                },
            };
            match sent {
                Ok(()) => {
                    finding(&name, Delivery::Sent);
                    break;
                }
                Err(e) if attempt == attempts => {
                    finding(&name, Delivery::Failed);
                    tracing::warn!(sink = %name, error = %e, item = %change.item.id, "verdict change not delivered; given up");
                }
                Err(e) => {
                    tracing::debug!(sink = %name, error = %e, attempt, "verdict change not delivered; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(60));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Verdict;

    /// Offering never waits: with the delivery task not yet run, a queue
    /// of one takes one change and drops (and counts) the rest.
    #[tokio::test(flavor = "current_thread")]
    async fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let config: SinkConfig = toml::from_str(&format!(
            "url = \"udp://{}\"\nname = \"full-queue-test\"",
            receiver.local_addr().unwrap()
        ))
        .unwrap();
        let queue = Queue::start(&config, 1, 1).unwrap();
        let change = Arc::new(Change {
            catalog: toml::from_str(
                "id = \"c\"\ntitle_ko = \"\"\ntitle_en = \"\"\nversion = \"1\"\nsource = \"\"\nfreshness = \"1h\"",
            )
            .unwrap(),
            item: super::super::tests::item("c", "1", Verdict::N),
            before: Some(Verdict::Y),
            at_ms: 0,
        });
        for _ in 0..5 {
            queue.offer(change.clone());
        }
        let text = crate::metrics::render();
        assert!(
            text.contains("gamsa_collector_findings_dropped_total{sink=\"full-queue-test\"} 4"),
            "{text}"
        );
    }
}
