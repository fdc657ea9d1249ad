//! Ack latency of an honest agent while another client floods the collector
//! with sign-ins, silent sockets or large evidence (BENCHMARKS.md, "Ingest
//! under floods"). Runs the `gamsa-collector` next to this executable:
//! `cargo build --release -p gamsa-collector && cargo run --release -p
//! gamsa-tests --bin flood -- [runs]`.

use anyhow::{Context, Result};
use gamsa_tests::raw::{batch_of, client, hello, open, OpenStream};
use gamsa_tests::{run, Collector};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ANSWER: Duration = Duration::from_secs(30);
/// Acks measured per phase.
const ACKS: usize = 40;

/// Latencies of `ACKS` one-batch round trips, 50 ms apart.
async fn acks(s: &mut OpenStream, seq: &mut u64) -> Result<Vec<Duration>> {
    let mut took = Vec::new();
    for _ in 0..ACKS {
        *seq += 1;
        let started = Instant::now();
        s.send_acked(batch_of("node-honest", *seq, 5, 100), *seq, ANSWER)
            .await?;
        took.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    took.sort();
    Ok(took)
}

fn pct(v: &[Duration], p: f64) -> Duration {
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// A flood running until `stop`; the count of what it sent.
type Flood = tokio::task::JoinHandle<u64>;

fn sign_ins(c: &Arc<Collector>, stop: &Arc<AtomicBool>) -> Vec<Flood> {
    (0..16)
        .map(|_| {
            let (port, stop) = (c.http, stop.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await
                    else {
                        continue;
                    };
                    let body = "user=kim&password=guess&csrf=t";
                    let req = format!("POST /login HTTP/1.1\r\nHost: x\r\nCookie: gamsa_login=t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                    let _ = s.write_all(req.as_bytes()).await;
                    let mut answer = Vec::new();
                    let _ = s.read_to_end(&mut answer).await;
                    n += 1;
                }
                n
            })
        })
        .collect()
}

/// Keeps `per_port` silent connections open to each port, reopening those
/// the collector closes.
fn silent_sockets(c: &Arc<Collector>, stop: &Arc<AtomicBool>, per_port: usize) -> Vec<Flood> {
    let opened = Arc::new(AtomicU64::new(0));
    [c.http, c.grpc]
        .into_iter()
        .flat_map(|port| (0..per_port).map(move |_| port))
        .map(|port| {
            let (stop, opened) = (stop.clone(), opened.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await
                    else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    opened.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                    let mut buf = [0u8; 64];
                    // Held until the collector closes it or the flood stops.
                    tokio::select! {
                        _ = s.read(&mut buf) => {}
                        _ = async { while !stop.load(Ordering::Relaxed) { tokio::time::sleep(Duration::from_millis(100)).await } } => {}
                    }
                }
                n
            })
        })
        .collect()
}

/// Another agent sending batches of 4 evidence of 60 kB, as fast as it is acked.
async fn large_evidence(c: &Arc<Collector>, stop: &Arc<AtomicBool>) -> Result<Vec<Flood>> {
    let creds = c.issue("node-big")?;
    let ch = client(c, Some(&creds)).await.map_err(anyhow::Error::msg)?;
    let mut s = open(ch, vec![hello("node-big")]).await?;
    s.next(ANSWER).await.context("welcome")?.ok();
    let stop = stop.clone();
    Ok(vec![tokio::spawn(async move {
        let mut seq = 0;
        while !stop.load(Ordering::Relaxed) {
            seq += 1;
            if s.send_acked(batch_of("node-big", seq, 4, 60_000), seq, ANSWER)
                .await
                .is_err()
            {
                break;
            }
        }
        seq
    })])
}

#[tokio::main]
async fn main() -> Result<()> {
    let runs: usize = std::env::args().nth(1).map_or(Ok(3), |a| a.parse())?;
    println!(
        "| run | flood | idle p50 | idle p95 | flood p50 | flood p95 | p50 ratio | flood sent |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for r in 1..=runs {
        let c = Arc::new(Collector::start_with(
            "",
            "login_attempts_per_address = 1000000\nlogin_attempts_per_user = 1000000",
        )?);
        let pw = c.dir.path().join("kim.pw");
        std::fs::write(&pw, "auditor-password-1")?;
        run(c
            .cmd()
            .args(["user", "add", "kim", "--role", "auditor", "--password-file"])
            .arg(&pw))?;
        let creds = c.issue("node-honest")?;
        let ch = client(&c, Some(&creds)).await.map_err(anyhow::Error::msg)?;
        let mut s = open(ch, vec![hello("node-honest")]).await?;
        s.next(ANSWER).await.context("welcome")?.ok();
        let mut seq = 0;
        acks(&mut s, &mut seq).await?; // warm-up
        for flood in ["sign-ins", "silent sockets", "large evidence"] {
            let idle = acks(&mut s, &mut seq).await?;
            let stop = Arc::new(AtomicBool::new(false));
            let tasks = match flood {
                "sign-ins" => sign_ins(&c, &stop),
                "silent sockets" => silent_sockets(&c, &stop, 1500),
                _ => large_evidence(&c, &stop).await?,
            };
            tokio::time::sleep(Duration::from_secs(2)).await;
            let during = acks(&mut s, &mut seq).await?;
            stop.store(true, Ordering::Relaxed);
            let mut sent = 0;
            for t in tasks {
                sent += t.await.unwrap_or(0);
            }
            println!(
                "| {r} | {flood} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.2} | {sent} |",
                pct(&idle, 0.5).as_secs_f64() * 1e3,
                pct(&idle, 0.95).as_secs_f64() * 1e3,
                pct(&during, 0.5).as_secs_f64() * 1e3,
                pct(&during, 0.95).as_secs_f64() * 1e3,
                pct(&during, 0.5).as_secs_f64() / pct(&idle, 0.5).as_secs_f64(),
            );
        }
    }
    Ok(())
}
