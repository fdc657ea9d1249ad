//! Printing evidence for people and pipes: NDJSON (one canonical-JSON evidence
//! per line) or a table with one row per evidence (its one-line summary from
//! `gamsa_proto::summary`), and, on a terminal, a progress line while probes
//! run, naming what is awaited and how far the port scan is.

use gamsa_proto::summary::summary;
use gamsa_proto::v1::{Evidence, Status};
use std::io::Write;

/// One line of NDJSON.
pub fn json_line(ev: &Evidence) -> String {
    serde_json::to_string(ev).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

fn status_name(ev: &Evidence) -> &'static str {
    if ev.status == Status::Error as i32 {
        "ERROR"
    } else {
        "OK"
    }
}

/// Writes evidence as an aligned table.
pub fn write_table(out: &mut impl Write, evidence: &[Evidence]) -> std::io::Result<()> {
    let rows: Vec<[String; 4]> = evidence
        .iter()
        .map(|e| {
            [
                e.probe.clone(),
                e.subject.clone(),
                status_name(e).into(),
                summary(e),
            ]
        })
        .collect();
    let headers = ["PROBE", "SUBJECT", "STATUS", "SUMMARY"];
    let mut widths = headers.map(str::len);
    for r in &rows {
        for i in 0..3 {
            widths[i] = widths[i].max(r[i].chars().count());
        }
    }
    writeln!(
        out,
        "{:w0$}  {:w1$}  {:w2$}  {}",
        headers[0],
        headers[1],
        headers[2],
        headers[3],
        w0 = widths[0],
        w1 = widths[1],
        w2 = widths[2]
    )?;
    for r in rows {
        writeln!(
            out,
            "{:w0$}  {:w1$}  {:w2$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        )?;
    }
    Ok(())
}

/// Frames of the spinner.
const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
/// Quiet this long, so that a quick scan prints no progress at all.
const PROGRESS_DELAY: std::time::Duration = std::time::Duration::from_millis(300);
const PROGRESS_TICK: std::time::Duration = std::time::Duration::from_millis(100);

/// What the progress line calls a running probe: its name, and for the
/// port scan how many of its connection attempts are done.
fn running_label(probe: &str, control: &crate::probes::ControlState) -> String {
    match control.port_scan.get() {
        Some((done, total)) if probe == "port_scan" => {
            format!("port_scan ({done}/{total} ports)")
        }
        _ => probe.to_string(),
    }
}

/// One progress line: "⠹ 12s · 6/8 probes done · running: port_scan, tls".
pub fn progress_line(
    frame: usize,
    elapsed: std::time::Duration,
    total: usize,
    running: &[&str],
) -> String {
    format!(
        "{} {}s · {}/{total} probes done · running: {}",
        SPINNER[frame % SPINNER.len()],
        elapsed.as_secs(),
        total - running.len(),
        running.join(", ")
    )
}

/// A progress line on a terminal, redrawn in place until [`Progress::finish`].
/// Draws nothing during the first moment, nor when `out` is not a terminal.
pub struct Progress {
    running: std::sync::Arc<std::sync::Mutex<Vec<&'static str>>>,
    ticker: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
}

impl Progress {
    /// Starts drawing to `out` (stderr) when `tty`; `probes` are the names
    /// of the probes about to run, `control` the state they report into.
    pub fn start(
        probes: Vec<&'static str>,
        control: std::sync::Arc<crate::probes::ControlState>,
        tty: bool,
        mut out: impl Write + Send + 'static,
    ) -> Self {
        let total = probes.len();
        let running = std::sync::Arc::new(std::sync::Mutex::new(probes));
        let ticker = tty.then(|| {
            let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
            let running = running.clone();
            let task = tokio::spawn(async move {
                let started = tokio::time::Instant::now();
                tokio::select! {
                    _ = tokio::time::sleep(PROGRESS_DELAY) => {}
                    _ = &mut stopped => return,
                }
                let mut tick = tokio::time::interval(PROGRESS_TICK);
                let mut drawn = false;
                for frame in 0.. {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = &mut stopped => break,
                    }
                    let names = running.lock().map(|r| r.clone()).unwrap_or_default();
                    let labels: Vec<String> =
                        names.iter().map(|n| running_label(n, &control)).collect();
                    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
                    let line = progress_line(frame, started.elapsed(), total, &labels);
                    drawn = write!(out, "\r\x1b[2K{line}")
                        .and_then(|()| out.flush())
                        .is_ok();
                }
                if drawn {
                    let _ = write!(out, "\r\x1b[2K").and_then(|()| out.flush());
                }
            });
            (stop, task)
        });
        Self { running, ticker }
    }

    /// `probe` has finished.
    pub fn done(&self, probe: &str) {
        if let Ok(mut r) = self.running.lock() {
            if let Some(i) = r.iter().position(|n| *n == probe) {
                r.remove(i);
            }
        }
    }

    /// Stops drawing and clears the line.
    pub async fn finish(self) {
        if let Some((stop, task)) = self.ticker {
            let _ = stop.send(());
            let _ = task.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_names_what_still_runs() {
        let line = progress_line(
            2,
            std::time::Duration::from_millis(12_400),
            8,
            &["port_scan", "tls"],
        );
        assert_eq!(line, "⠹ 12s · 6/8 probes done · running: port_scan, tls");
    }

    #[test]
    fn the_port_scan_says_how_far_it_is() {
        let control = crate::probes::ControlState::default();
        assert_eq!(running_label("port_scan", &control), "port_scan");
        control.port_scan.begin(65_535);
        for _ in 0..1200 {
            control.port_scan.step();
        }
        assert_eq!(
            running_label("port_scan", &control),
            "port_scan (1200/65535 ports)"
        );
        assert_eq!(running_label("tls", &control), "tls");
    }
}
