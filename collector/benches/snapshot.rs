//! A snapshot's own memory and time at fleet scale: the heap it takes above
//! what the collector held before, counted by the allocator.
//!
//! Why counted and not read from the RSS: the collector's allocator keeps
//! freed memory for reuse, so the rise of the process's RSS while a
//! snapshot is taken says as much about what the evaluation freed just
//! before as about the snapshot (the fleet benchmark saw 42 and 220 MiB for
//! the same build). Here every allocation is counted: the peak of the bytes
//! live while the snapshot is taken, less those live before, is what it
//! needed.
//!
//! `cargo bench -p gamsa-collector --bench snapshot`
//! Environment: GAMSA_BENCH_HOSTS (10000), GAMSA_BENCH_EVIDENCE (a file of
//! one host's evidence as `gamsa-agent scan --once --format json` writes
//! it; default `target/fleet-evidence.ndjson`, which `bench/fleet.sh`
//! makes), GAMSA_BENCH_PG_URL (unset: SQLite in a temporary directory;
//! set: a scratch schema on that PostgreSQL server, dropped afterwards),
//! GAMSA_LOG (the collector's log on stderr; warnings unless set).
//!
//! A collector (`server::start`, its kept evaluation running) is filled
//! with each host's copy of the evidence through the store; once its kept
//! evaluation includes them, two snapshots are taken through the
//! collector's own snapshots: the first writes every object, the second
//! (nothing changed) reuses them. Then, the collector stopped, as
//! `snapshot create` with no collector serving and nothing prepared: the
//! latest evidence read and the fleet evaluated whole, for comparison, then
//! the snapshot (which evaluates a range of hosts at a time).

use futures::StreamExt;
use gamsa_collector::{config::Config, server};
use gamsa_proto::v1::Evidence;
use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The collector binary's allocator, counting the bytes live and the most
/// live since the count was last reset.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = mimalloc::MiMalloc.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = mimalloc::MiMalloc.alloc_zeroed(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        mimalloc::MiMalloc.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = mimalloc::MiMalloc.realloc(ptr, layout, new_size);
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// This process's `VmHWM` or `VmRSS`, in bytes.
fn status_bytes(field: &str) -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse::<usize>().ok())
        .map_or(0, |kib| kib * 1024)
}

fn read_template(path: &str) -> Vec<Evidence> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!("{path}: {e} (make it with `gamsa-agent scan --once --format json`, or run bench/fleet.sh once)")
    });
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(n, l)| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("{path} line {}: {e}", n + 1))
        })
        .collect()
}

fn main() {
    // The collector's log on stderr, at `GAMSA_LOG` (e.g. `gamsa_collector::rules=debug`
    // says which rules a whole evaluation's time goes to).
    gamsa_proto::config::LogConfig {
        level: "warn".into(),
        ..Default::default()
    }
    .init();
    let hosts: usize = std::env::var("GAMSA_BENCH_HOSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let path = std::env::var("GAMSA_BENCH_EVIDENCE").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../target/fleet-evidence.ndjson"
        )
        .into()
    });
    let template = read_template(&path);
    let bytes: usize = template
        .iter()
        .map(|e| serde_json::to_vec(e).map_or(0, |v| v.len()))
        .sum();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    config.snapshots.enabled = false;
    config.verdicts.refresh = Duration::from_secs(1800);
    config.grpc.listen = "127.0.0.1:0".parse().unwrap();
    config.http.listen = "127.0.0.1:0".parse().unwrap();
    let scratch = std::env::var("GAMSA_BENCH_PG_URL")
        .ok()
        .map(|url| gamsa_tests::pg::Scratch::create_on(&url, "gamsa_bench"));
    if let Some(s) = &scratch {
        config.store.url = s.url.clone();
    }
    let store_name = if scratch.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    println!(
        "snapshot bench: {hosts} hosts, {store_name}; {} evidence a host, {bytes} bytes of JSON ({path})",
        template.len()
    );
    gamsa_collector::pki::init_ca(&gamsa_collector::pki::PkiPaths::new(dir.path()), &[]).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let running = server::start(&config).await.unwrap();
        let state = &running.state;
        let started = Instant::now();
        let now = gamsa_proto::Timestamp::from_unix_millis(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64,
        );
        // Hosts written 16 at a time, as many agents' streams would.
        let fill = (0..hosts).map(|i| {
            let (store, template) = (state.store.clone(), &template);
            async move {
                let name = format!("fleet-{i:05}");
                gamsa_collector::grpc::enrol::bind(store.as_ref(), &name, &name)
                    .await
                    .unwrap();
                let evidence = template
                    .iter()
                    .enumerate()
                    .map(|(n, t)| Evidence {
                        id: format!("{name}-{n}"),
                        agent_id: name.clone(),
                        host: name.clone(),
                        observed_at: Some(now),
                        ..t.clone()
                    })
                    .collect();
                store.insert_batch(evidence).await.unwrap();
            }
        });
        futures::stream::iter(fill)
            .buffer_unordered(16)
            .collect::<Vec<()>>()
            .await;
        println!(
            "fill: {} evidence through the store in {:.1} s",
            hosts * template.len(),
            started.elapsed().as_secs_f64()
        );
        // Wait for a kept evaluation that includes the fill; the next is
        // due a refresh (30 minutes here) later, or at a change, so none
        // runs beside the snapshots.
        let counter = state.store.change_counter().await.unwrap();
        let kept = &state.verdicts;
        let e = loop {
            if let Ok(e) = kept.get().await {
                if e.counter >= counter {
                    break e;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        println!(
            "kept evaluation: {:.1} s, {} items",
            e.took.as_secs_f64(),
            e.items.len()
        );
        for name in ["first (every object written)", "second (nothing changed)"] {
            // Until what the evaluation let go of is freed: the heap
            // counted before is then what the collector holds at rest.
            loop {
                let a = LIVE.load(Ordering::Relaxed);
                tokio::time::sleep(Duration::from_secs(2)).await;
                if LIVE.load(Ordering::Relaxed).abs_diff(a) < 1 << 20 {
                    break;
                }
            }
            let live = LIVE.load(Ordering::Relaxed);
            PEAK.store(live, Ordering::Relaxed);
            // Writing 5 to clear_refs resets VmHWM to the RSS now (proc(5)).
            let _ = std::fs::write("/proc/self/clear_refs", "5");
            let rss = status_bytes("VmRSS");
            let t = Instant::now();
            let created = state.snapshots.create("bench").await.unwrap();
            let took = t.elapsed();
            let peak = PEAK.load(Ordering::Relaxed);
            let after = kept.get().await.unwrap().as_of_ms;
            println!(
                "snapshot {name}: {:.2} s; heap {:.0} MiB live before, at most +{:.0} MiB while taken, +{:.0} MiB after; process RSS {:.0} MiB before, peak RSS +{:.0} MiB (VmHWM, reset before); {} ({})",
                took.as_secs_f64(),
                mib(live),
                mib(peak - live),
                mib(LIVE.load(Ordering::Relaxed).saturating_sub(live)),
                mib(rss),
                mib(status_bytes("VmHWM").saturating_sub(rss)),
                created.entry.id,
                if after == e.as_of_ms {
                    "no kept evaluation meanwhile"
                } else {
                    "a kept evaluation ran meanwhile: its memory is counted too"
                },
            );
        }
        running.stop().await.unwrap();
        // As `gamsa-collector snapshot create` with no collector serving
        // and nothing prepared: a state of its own, whose snapshot
        // evaluates the fleet a range of hosts at a time (`by_hosts`).
        // First the reading and the whole evaluation alone, for comparison,
        // then the snapshot, each from the heap the state holds at rest.
        let cli = server::open_state(&config).await.unwrap();
        for name in [
            "latest evidence read",
            "evaluation alone",
            "fleet rules and the first range read",
            "snapshot",
        ] {
            let live = LIVE.load(Ordering::Relaxed);
            PEAK.store(live, Ordering::Relaxed);
            let _ = std::fs::write("/proc/self/clear_refs", "5");
            let rss = status_bytes("VmRSS");
            let t = Instant::now();
            let what = match name {
                "snapshot" => cli.snapshots.create("bench").await.unwrap().entry.id,
                "fleet rules and the first range read" => {
                    let hosts = gamsa_collector::by_hosts::HOSTS_PER_RANGE;
                    let walk = gamsa_collector::by_hosts::ByHosts::start(
                        cli.checklists.clone(),
                        cli.store.as_ref(),
                        hosts,
                    );
                    match walk.await.unwrap() {
                        Ok(_) => "the walk by ranges of hosts started".to_string(),
                        Err(whole) => format!("the fleet is to be evaluated whole: {whole}"),
                    }
                }
                "evaluation alone" => {
                    let items = cli.checklists.evaluate(cli.store.as_ref(), &[], None).await;
                    let items = items.unwrap();
                    let held = LIVE.load(Ordering::Relaxed).saturating_sub(live);
                    format!("{} items, +{:.0} MiB held by them", items.len(), mib(held))
                }
                _ => {
                    let latest = cli.checklists.read_latest(cli.store.as_ref()).await;
                    format!(
                        "{} evidence, +{:.0} MiB held once read",
                        latest.unwrap().len(),
                        mib(LIVE.load(Ordering::Relaxed).saturating_sub(live))
                    )
                }
            };
            println!(
                "with no collector serving, {name}: {:.2} s; heap {:.0} MiB live before, at most +{:.0} MiB while taken; process RSS {:.0} MiB before, peak RSS +{:.0} MiB; {what}",
                t.elapsed().as_secs_f64(),
                mib(live),
                mib(PEAK.load(Ordering::Relaxed) - live),
                mib(rss),
                mib(status_bytes("VmHWM").saturating_sub(rss)),
            );
        }
    });
}
