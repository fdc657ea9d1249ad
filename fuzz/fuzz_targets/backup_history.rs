//! The backup probe's history on arbitrary tool output: `restic snapshots
//! --json` and `pgbackrest info --output=json` (each read from a file, as a
//! backup job may leave it), pgBackRest's restore log and a directory of
//! dump files, summarised against cron and interval schedules, retention
//! and a second copy. The input's first bytes choose the schedules; the rest
//! is split between the files. Error evidence is expected; a panic (an
//! overflow in the run arithmetic, say) or a hang is a bug.

#![no_main]

use gamsa_agent::config::Config;
use gamsa_agent::probes::kube::KubernetesConfig;
use gamsa_agent::probes::{backup::BackupProbe, ControlState, Probe, ProbeContext};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

const SCHEDULES: &[&str] = &[
    "cron = \"30 1 * * *\"\ncron_timezone = \"Asia/Seoul\"",
    "cron = \"*/5 * * * 0,7\"",
    "cron = \"0 0 29 2 *\"",
    "every = \"1s\"",
    "every = \"3650d\"",
];

fuzz_target!(|input: (u8, u8, Vec<u8>, Vec<u8>, Vec<u8>, Vec<(u16, u32)>)| {
    let (a, b, restic, pgbackrest, restore_log, dumps) = input;
    let Ok(dir) = tempfile::Builder::new().prefix("fuzz-backup").tempdir_in("/dev/shm") else {
        return;
    };
    let root = dir.path();
    let write = |rel: &str, bytes: &[u8]| {
        let path = root.join(rel);
        let _ = std::fs::create_dir_all(path.parent().unwrap_or(root));
        let _ = std::fs::write(path, bytes);
    };
    write("var/backups/restic.json", &restic);
    write("var/backups/pgbackrest.json", &pgbackrest);
    write("var/log/pgbackrest/demo-restore.log", &restore_log);
    let now = std::time::SystemTime::now();
    for (i, (name, age)) in dumps.iter().take(50).enumerate() {
        let path = root.join(format!("backup/pg/{name}-{i}.sql.gz"));
        write(&format!("backup/pg/{name}-{i}.sql.gz"), b"dump");
        if let Ok(f) = std::fs::File::options().write(true).open(&path) {
            let _ = f.set_modified(now - std::time::Duration::from_secs(u64::from(*age)));
        }
    }
    let first = SCHEDULES[a as usize % SCHEDULES.len()];
    let second = SCHEDULES[b as usize % SCHEDULES.len()];
    let toml = format!(
        r#"
[collector]
endpoints = ["https://127.0.0.1:1"]

[probes.backup]
history = "31d"
max_runs = 100

[[probes.backup.sources]]
name = "restic"
kind = "restic"
max_age = "26h"
path = "/var/backups/restic.json"
retention = "30d"
copies = [{{ location = "second", path = "/var/backups/pgbackrest.json" }}]
{first}

[[probes.backup.sources]]
name = "pg"
kind = "pgbackrest"
stanza = "demo"
max_age = "26h"
path = "/var/backups/pgbackrest.json"
retention = "7d"
{second}

[[probes.backup.sources]]
name = "dumps"
kind = "files"
max_age = "26h"
path = "/backup/pg/*.sql.gz"
retention = "1d"
{first}
"#
    );
    let config = match Config::parse(&toml, "fuzz.toml") {
        Ok(c) => c,
        Err(e) => panic!("the fuzz target's own configuration: {e}"),
    };
    let ctx = ProbeContext {
        agent_id: "fuzz".into(),
        host: "fuzz".into(),
        host_root: root.to_path_buf(),
        labels: Default::default(),
        control: Arc::new(ControlState::default()),
    };
    let probe = BackupProbe::new(config.probes.backup, KubernetesConfig::default());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let evidence = runtime.block_on(probe.run(&ctx));
    assert_eq!(evidence.len(), 3, "one evidence per source");
});
