//! Signed snapshots through the real command line: `snapshot create`,
//! `list`, `verify` (offline, with only the public key), `diff`, and the
//! schedule while serving. A changed byte or a removed snapshot fails with
//! a message naming the file and what is wrong.

mod fixture;

use fixture::{ok, run, stderr, stdout, DataDir, Host};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Snapshot files in `dir`, oldest first.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut f: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    f.sort();
    f
}

/// The files snapshots in `dir` name (host parts, evidence contents).
fn objects(dir: &Path) -> Vec<PathBuf> {
    let Ok(fans) = std::fs::read_dir(dir.join("objects")) else {
        return vec![];
    };
    let mut f: Vec<PathBuf> = fans
        .flat_map(|fan| std::fs::read_dir(fan.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .collect();
    f.sort();
    f
}

/// Copies the files the snapshots in `from` name into `to`.
fn copy_objects(from: &Path, to: &Path) {
    for f in objects(from) {
        let dest = to.join(f.strip_prefix(from).unwrap());
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&f, dest).unwrap();
    }
}

/// `snapshot verify FILE --public-key KEY [--chain DIR]`, run offline: no
/// configuration, in a directory of its own.
fn verify(file: &Path, key: &Path, chain: Option<&Path>) -> std::process::Output {
    let mut args = vec![
        "snapshot",
        "verify",
        file.to_str().unwrap(),
        "--public-key",
        key.to_str().unwrap(),
    ];
    if let Some(c) = chain {
        args.extend(["--chain", c.to_str().unwrap()]);
    }
    run(&args)
}

/// Copies the snapshots and public key away from the collector, as an
/// auditor receives them.
fn auditor_copy(d: &DataDir) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let copy = tempfile::tempdir().unwrap();
    let chain = copy.path().join("chain");
    std::fs::create_dir(&chain).unwrap();
    for f in files(&d.snapshots()) {
        std::fs::copy(&f, chain.join(f.file_name().unwrap())).unwrap();
    }
    copy_objects(&d.snapshots(), &chain);
    let key = copy.path().join("collector.pub");
    std::fs::copy(d.public_key(), &key).unwrap();
    (copy, chain, key)
}

#[tokio::test]
async fn create_list_verify_and_diff() {
    let d = DataDir::new();
    d.add(fixture::fleet()).await;
    let first = d.cli_ok(&["snapshot", "create"]);
    let (path1, hash1) = first.trim().split_once('\t').unwrap();
    assert!(path1.ends_with(".json") && hash1.len() == 64, "{first}");
    let mode = std::fs::metadata(path1).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "snapshots are private");
    // With no collector serving, the command evaluates for itself and
    // freezes that evaluation, saying when it judged.
    let envelope: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path1).unwrap()).unwrap();
    let body = &envelope["body"];
    let evaluated = body["evaluatedAt"].as_str().expect("evaluatedAt");
    let created = body["createdAt"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(evaluated).unwrap()
            <= chrono::DateTime::parse_from_rfc3339(created).unwrap(),
        "evaluated {evaluated}, created {created}"
    );
    let first_objects = objects(&d.snapshots());
    assert!(
        first_objects.len() > fixture::fleet().len(),
        "a part per host and the evidence they cite: {first_objects:?}"
    );
    for f in &first_objects {
        let mode = std::fs::metadata(f).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}: private", f.display());
    }

    // db-1's backups move home from Tokyo, and an operator attests the
    // restore test.
    d.add(vec![Host {
        observed_ms: fixture::now(),
        ..Host::new("db-1", "db")
    }
    .backup("s3://emr-backup-kr", "KR")])
        .await;
    d.attest("emr-s014", "1.2", "1.2-2", "Y").await;
    let second = d.cli_ok(&["snapshot", "create"]);
    let (path2, hash2) = second.trim().split_once('\t').unwrap();
    assert_ne!(hash1, hash2);
    // What did not change is not written again: db-1's part and its new
    // backup evidence are; the other hosts' parts and evidence are reused.
    let added = objects(&d.snapshots()).len() - first_objects.len();
    assert!(
        (1..first_objects.len() / 2).contains(&added),
        "{added} new of {}",
        first_objects.len()
    );

    let list = d.cli_ok(&["snapshot", "list"]);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    assert!(
        lines[0].contains("#2") && lines[0].contains(hash2),
        "{list}"
    );
    assert!(
        lines[1].contains("#1") && lines[1].contains(hash1),
        "{list}"
    );
    assert!(lines[0].contains("cli:"), "who took it: {list}");

    // Offline: only the copied files and the public key.
    let (_copy, chain, key) = auditor_copy(&d);
    let copied2 = chain.join(Path::new(path2).file_name().unwrap());
    let o = verify(&copied2, &key, Some(&chain));
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("{}: verified: snapshot #2", copied2.display())),
        "{out}"
    );
    assert!(out.contains(hash2), "{out}");
    assert!(
        out.contains("host part(s) and") && out.contains("evidence file(s) verified"),
        "{out}"
    );
    assert!(
        out.contains("2 snapshot(s) verified, #1 to #2") && out.contains("first snapshot"),
        "{out}"
    );

    // What changed: 4.3 (backups home: P, since a region answers only part
    // of "physically in Korea") and 1.2 (its procedure row attested, its
    // restore-test row no longer failing on the moved backup), by id and by
    // file.
    let diff = d.cli_ok(&["snapshot", "diff", "1", "2"]);
    assert!(diff.contains("emr-s014/4.3\tN → P"), "{diff}");
    assert!(diff.contains("emr-s014/1.2\tN → P"), "{diff}");
    assert!(diff.contains("unchanged"), "{diff}");
    let copied1 = chain.join(Path::new(path1).file_name().unwrap());
    let json = ok(&[
        "snapshot",
        "diff",
        copied1.to_str().unwrap(),
        copied2.to_str().unwrap(),
        "--public-key",
        key.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let changed: Vec<(String, String, String)> = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                format!(
                    "{}/{}",
                    c["catalog"].as_str().unwrap(),
                    c["id"].as_str().unwrap()
                ),
                c["from"].as_str().unwrap_or("—").to_string(),
                c["to"].as_str().unwrap_or("—").to_string(),
            )
        })
        .collect();
    assert!(
        changed.contains(&("emr-s014/4.3".into(), "N".into(), "P".into())),
        "{changed:?}"
    );
    assert_eq!(v["from"]["sha256"], hash1);
    assert_eq!(v["to"]["sha256"], hash2);

    // Snapshots are never rewritten: the first file is byte for byte what it was.
    let o = verify(&copied1, &key, None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(path1).unwrap(),
        std::fs::read(&copied1).unwrap()
    );
}

#[tokio::test]
async fn one_changed_byte_fails_naming_the_file() {
    let d = DataDir::new();
    d.add(fixture::fleet()).await;
    d.cli_ok(&["snapshot", "create"]);
    d.cli_ok(&["snapshot", "create"]);
    let (copy, chain, key) = auditor_copy(&d);
    let original = files(&chain)[1].clone();
    let bytes = std::fs::read(&original).unwrap();

    // Each way of changing one byte, and the message that names it.
    let verdict_at = bytes
        .windows(13)
        .position(|w| w == b"\"verdict\":\"N\"")
        .unwrap()
        + 11;
    let signature_at = bytes
        .windows(13)
        .rposition(|w| w == b"\"signature\":\"")
        .unwrap()
        + 14;
    let hash_at = bytes
        .windows(10)
        .rposition(|w| w == b"\"sha256\":\"")
        .unwrap()
        + 12;
    let mut spaced = bytes.clone();
    spaced.insert(1, b' ');
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "a verdict",
            flip(&bytes, verdict_at, b'Y'),
            "content hash mismatch",
        ),
        (
            "the signature",
            flip(&bytes, signature_at, other_than(bytes[signature_at])),
            "signature does not verify",
        ),
        (
            "the recorded hash",
            flip(&bytes, hash_at, other_than(bytes[hash_at])),
            "content hash mismatch",
        ),
        (
            "a quote",
            flip(&bytes, verdict_at - 1, b' '),
            "not a gamsa snapshot",
        ),
        ("an added space", spaced, "not the canonical form"),
    ];
    for (what, changed, message) in cases {
        assert_ne!(changed, bytes, "{what}");
        let file = copy
            .path()
            .join(format!("changed-{}.json", what.replace(' ', "-")));
        std::fs::write(&file, &changed).unwrap();
        let o = verify(&file, &key, None);
        let err = stderr(&o);
        assert!(!o.status.success(), "{what}: accepted");
        assert!(
            err.contains(&file.display().to_string()) && err.contains(message),
            "{what}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }

    // In the chain directory, the chain check names the changed member.
    std::fs::write(&original, flip(&bytes, verdict_at, b'Y')).unwrap();
    let o = verify(&files(&chain)[0], &key, Some(&chain));
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(
        err.contains(&original.display().to_string()) && err.contains("altered"),
        "{err}"
    );

    // Another collector's key: the signature does not verify.
    let other = DataDir::new();
    other.cli_ok(&["snapshot", "create"]);
    let o = verify(&files(&chain)[0], &other.public_key(), None);
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("signature does not verify") && err.contains("different key"),
        "{err}"
    );
}

#[tokio::test]
async fn an_altered_or_missing_part_fails_naming_the_file() {
    let d = DataDir::new();
    d.add(fixture::fleet()).await;
    d.cli_ok(&["snapshot", "create"]);
    let (_copy, chain, key) = auditor_copy(&d);
    let snapshot = files(&chain)[0].clone();
    let all = objects(&chain);
    let text = |p: &PathBuf| std::fs::read_to_string(p).unwrap();
    let part = all
        .iter()
        .find(|p| text(p).contains("gamsa-snapshot-host/2"))
        .unwrap()
        .clone();
    let results = all
        .iter()
        .find(|p| text(p).contains("gamsa-snapshot-results/1"))
        .unwrap()
        .clone();
    let evidence = all
        .iter()
        .find(|p| text(p).contains("\"probe\":"))
        .unwrap()
        .clone();
    let index = all
        .iter()
        .find(|p| text(p).contains("gamsa-snapshot-hosts/1"))
        .unwrap()
        .clone();

    // A host's reason reworded in its results, an evidence's time moved in
    // its part, a host's part named by another hash in the index: the file
    // no longer hashes to the name it is given.
    for (file, from, to) in [
        (&results, "\"reason\":\"", "\"reason\":\"X"),
        (&part, "\"observedAt\":\"2", "\"observedAt\":\"1"),
        (&index, "\"sha256\":\"", "\"sha256\":\"0"),
    ] {
        let was = text(file);
        let altered = was.replacen(from, to, 1);
        assert_ne!(altered, was);
        std::fs::write(file, altered).unwrap();
        for o in [
            verify(&snapshot, &key, None),
            verify(&snapshot, &key, Some(&chain)),
        ] {
            let err = stderr(&o);
            assert!(!o.status.success());
            assert!(
                err.contains(&file.display().to_string()) && err.contains("was altered"),
                "{err}"
            );
        }
        std::fs::write(file, &was).unwrap();
        assert!(verify(&snapshot, &key, None).status.success());
    }

    // An evidence file removed: named, with the evidence and host citing it.
    std::fs::remove_file(&evidence).unwrap();
    let o = verify(&snapshot, &key, None);
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(
        err.contains(&evidence.display().to_string())
            && err.contains("missing")
            && err.contains("of host"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// A base64 or hex digit other than `b`.
fn other_than(b: u8) -> u8 {
    if b == b'0' {
        b'1'
    } else {
        b'0'
    }
}

fn flip(bytes: &[u8], at: usize, to: u8) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[at] = to;
    b
}

#[tokio::test]
async fn a_removed_snapshot_breaks_the_chain() {
    let d = DataDir::new();
    d.add(fixture::fleet()).await;
    for _ in 0..4 {
        d.cli_ok(&["snapshot", "create"]);
    }
    let (_copy, chain, key) = auditor_copy(&d);
    let all = files(&chain);
    assert_eq!(all.len(), 4);

    // The middle one removed: named, with its neighbours.
    std::fs::remove_file(&all[1]).unwrap();
    let o = verify(&all[3], &key, Some(&chain));
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("snapshot #2 is missing from the chain")
            && err.contains(&all[2].display().to_string())
            && err.contains(&all[0].display().to_string()),
        "{err}"
    );
    // A file that is not part of the chain is named too.
    let elsewhere = tempfile::tempdir().unwrap();
    let lone = elsewhere.path().join("00000001-20250101T000000Z.json");
    std::fs::copy(&all[0], &lone).unwrap();
    copy_objects(&chain, elsewhere.path());
    let o = verify(&all[3], &key, Some(elsewhere.path()));
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(err.contains("not part of the chain"), "{err}");

    // The oldest removed (as retention does): the rest still verifies, and
    // the summary says the predecessor was not checked.
    std::fs::copy(d.snapshots().join(all[1].file_name().unwrap()), &all[1]).unwrap();
    std::fs::remove_file(&all[0]).unwrap();
    let o = verify(&all[3], &key, Some(&chain));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("3 snapshot(s) verified, #2 to #4")
            && stdout(&o).contains("not present (removed by retention)"),
        "{}",
        stdout(&o)
    );

    // Renamed files are caught: #3's content under #2's name.
    std::fs::remove_file(&all[1]).unwrap();
    std::fs::rename(&all[2], &all[1]).unwrap();
    let o = verify(&all[3], &key, Some(&chain));
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("the file name says snapshot #2 but it holds snapshot #3"),
        "{err}"
    );
}

/// `gamsa-collector serve` on `d` with `sections` appended to its config,
/// logging into serve.log.
fn serve(d: &DataDir, sections: &str) -> std::process::Child {
    let port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let config = d.dir.path().join("collector.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[grpc]\nlisten = \"127.0.0.1:{}\"\n[http]\nlisten = \"127.0.0.1:{}\"\n{sections}",
            d.data().display(),
            port(),
            port()
        ),
    )
    .unwrap();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(d.dir.path().join("serve.log"))
        .unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_gamsa-collector"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .env_remove("GAMSA_COLLECTOR_CONFIG")
        .stderr(log)
        .spawn()
        .unwrap()
}

#[test]
fn scheduled_snapshots_while_serving_with_retention() {
    let d = DataDir::new();
    let mut serve = serve(
        &d,
        "[snapshots]\nschedule = \"* * * * * *\"\ntimezone = \"Asia/Seoul\"\nkeep = 3\n",
    );
    // Every second a snapshot; wait until retention has removed some.
    let start = std::time::Instant::now();
    let newest = loop {
        let f = if d.snapshots().exists() {
            files(&d.snapshots())
        } else {
            vec![]
        };
        let newest_seq = f
            .last()
            .and_then(|p| p.file_name()?.to_str()?.get(..8)?.parse::<u64>().ok())
            .unwrap_or(0);
        if newest_seq >= 5 {
            break f;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(120),
            "no scheduled snapshots: {}",
            fixture::read(&d.dir.path().join("serve.log"))
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(
        newest.len() <= 4,
        "retention keeps 3 (a fourth may be mid-prune): {newest:?}"
    );
    let remaining = files(&d.snapshots());
    assert!(remaining.len() <= 3 + 1, "{remaining:?}");
    let o = verify(
        remaining.last().unwrap(),
        &d.public_key(),
        Some(&d.snapshots()),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("removed by retention"),
        "{}",
        stdout(&o)
    );
    let last: serde_json::Value =
        serde_json::from_str(&fixture::read(remaining.last().unwrap())).unwrap();
    assert_eq!(last["body"]["takenBy"], "schedule");
    assert!(fixture::read(&d.dir.path().join("serve.log")).contains("scheduled snapshot taken"));
}

/// Waits until a collector answers on `d`'s control socket.
fn control_answers(d: &DataDir) -> PathBuf {
    let socket = d.data().join("collector.sock");
    gamsa_tests::wait_for_or(
        "the control socket",
        std::time::Duration::from_secs(60),
        || std::os::unix::net::UnixStream::connect(&socket).ok(),
        || fixture::read(&d.dir.path().join("serve.log")),
    );
    socket
}

/// Beside a serving collector, `snapshot create` is taken by it; a bad
/// request on its socket is refused with a reason; once it is killed, the
/// command takes the snapshot itself despite the stale socket; restarted,
/// the collector replaces that socket, verifies the snapshots stored, and
/// removes the socket when it stops. The three snapshots form one chain.
#[tokio::test(flavor = "multi_thread")]
async fn the_command_line_hands_its_snapshot_to_the_serving_collector() {
    use std::io::{BufRead, Write};
    let d = DataDir::new();
    d.add(fixture::fleet()).await;
    let mut first = serve(&d, "");
    let socket = control_answers(&d);
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the socket is the owner's only");

    let o = d.cli(&["snapshot", "create"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let handed = format!("(pid {})", first.id());
    assert!(
        stderr(&o).contains("taken by the collector serving") && stderr(&o).contains(&handed),
        "{}",
        stderr(&o)
    );
    assert!(
        stdout(&o).trim().split_once('\t').is_some(),
        "{}",
        stdout(&o)
    );
    let log = fixture::read(&d.dir.path().join("serve.log"));
    assert!(
        log.lines()
            .any(|l| l.contains("snapshot taken") && l.contains("cli:")),
        "{log}"
    );

    let mut raw = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    raw.write_all(b"{\"ask\":\"formatDisk\"}\n").unwrap();
    let mut answer = String::new();
    std::io::BufReader::new(&raw)
        .read_line(&mut answer)
        .unwrap();
    assert!(
        answer.contains("refused") && answer.contains("unreadable request"),
        "{answer}"
    );

    first.kill().unwrap();
    first.wait().unwrap();
    assert!(socket.exists(), "SIGKILL leaves the socket behind");
    let o = d.cli(&["snapshot", "create"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("no collector serves"), "{}", stderr(&o));

    let mut second = serve(&d, "");
    control_answers(&d);
    // Restarted, it verifies the snapshots stored before any page asks.
    gamsa_tests::wait_for(
        "the stored snapshots verified at start",
        std::time::Duration::from_secs(60),
        || {
            fixture::read(&d.dir.path().join("serve.log"))
                .lines()
                .any(|l| l.contains("stored snapshots verified") && l.contains("snapshots=2"))
                .then_some(())
        },
    );
    let o = d.cli(&["snapshot", "create"]);
    assert!(
        o.status.success() && stderr(&o).contains(&format!("(pid {})", second.id())),
        "{}",
        stderr(&o)
    );
    let last = PathBuf::from(stdout(&o).split('\t').next().unwrap());
    assert!(std::process::Command::new("kill")
        .arg(second.id().to_string())
        .status()
        .unwrap()
        .success());
    second.wait().unwrap();
    assert!(
        !socket.exists(),
        "a collector that stops removes its socket"
    );

    assert_eq!(files(&d.snapshots()).len(), 3);
    let o = verify(&last, &d.public_key(), Some(&d.snapshots()));
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}

/// Stops a collector started by `serve` as an operator would (SIGTERM).
fn stop(mut serving: std::process::Child) {
    let term = std::process::Command::new("kill")
        .arg(serving.id().to_string())
        .status()
        .unwrap();
    assert!(term.success());
    assert!(serving.wait().unwrap().success());
}

/// The snapshot file `create` printed, parsed.
fn created(o: &std::process::Output) -> (PathBuf, serde_json::Value) {
    assert!(o.status.success(), "{}{}", stdout(o), stderr(o));
    let path = PathBuf::from(stdout(o).split('\t').next().unwrap());
    let v = serde_json::from_str(&fixture::read(&path)).unwrap();
    (path, v)
}

/// A collector that stops cleanly prepares its last evaluation's snapshot,
/// and `snapshot create` signs it without evaluating: it verifies, and
/// answers what an evaluation of its own answers. Once something is
/// written, or the verdicts no longer stand, the command evaluates and
/// says why.
#[tokio::test(flavor = "multi_thread")]
async fn the_command_line_signs_what_a_stopping_collector_prepared() {
    let d = DataDir::new();
    d.add(fixture::fleet()).await;
    let prepared = d.data().join("snapshot-prepared.json");
    let serving = serve(&d, "[verdicts]\nrefresh = \"1h\"\n");
    control_answers(&d);
    stop(serving);
    let log = fixture::read(&d.dir.path().join("serve.log"));
    assert!(
        log.contains("snapshot prepared as the collector stops"),
        "{log}"
    );
    let file: serde_json::Value = serde_json::from_str(&fixture::read(&prepared)).unwrap();

    let o = d.cli(&["snapshot", "create"]);
    let (first, signed) = created(&o);
    assert!(
        stderr(&o).contains("signed the verdicts the collector evaluated as it stopped"),
        "{}",
        stderr(&o)
    );
    let body = &signed["body"];
    assert_eq!(body["evaluatedAt"], file["evaluatedAt"]);
    assert_eq!(body["hostIndex"], file["hostIndex"]);
    assert_eq!(body["items"], file["items"]);

    // Without it, the command evaluates here, and answers the same.
    std::fs::rename(&prepared, prepared.with_extension("kept")).unwrap();
    let o = d.cli(&["snapshot", "create"]);
    let (second, evaluated) = created(&o);
    assert!(
        stderr(&o).contains("evaluated every catalog here")
            && stderr(&o).contains("no collector prepared one"),
        "{}",
        stderr(&o)
    );
    assert_ne!(evaluated["body"]["evaluatedAt"], body["evaluatedAt"]);
    let judged = |body: &serde_json::Value| {
        let mut items = body["items"].as_array().unwrap().clone();
        for i in &mut items {
            i.as_object_mut().unwrap().remove("evaluatedAt");
        }
        items
    };
    assert_eq!(judged(&evaluated["body"]), judged(body));
    let json = d.cli_ok(&["snapshot", "diff", "1", "2", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["changes"], serde_json::json!([]), "{json}");
    for f in [&first, &second] {
        let o = verify(f, &d.public_key(), Some(&d.snapshots()));
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    }

    // Back, but the store changed since: an operator attested a row.
    std::fs::rename(prepared.with_extension("kept"), &prepared).unwrap();
    d.attest("emr-s014", "1.2", "1.2-2", "Y").await;
    let o = d.cli(&["snapshot", "create"]);
    let (_, third) = created(&o);
    assert!(
        stderr(&o).contains("the store changed since (change counter"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        third["body"]["documents"]["attestations"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // Prepared again, but a file it names is gone.
    let serving = serve(&d, "[verdicts]\nrefresh = \"1h\"\n");
    control_answers(&d);
    stop(serving);
    let file: serde_json::Value = serde_json::from_str(&fixture::read(&prepared)).unwrap();
    let object = |sha: &str| {
        d.snapshots()
            .join("objects")
            .join(&sha[..2])
            .join(format!("{sha}.json"))
    };
    let index: serde_json::Value = serde_json::from_str(&fixture::read(&object(
        file["hostIndex"][0]["sha256"].as_str().unwrap(),
    )))
    .unwrap();
    let (host, part) = (&index["hosts"][0]["host"], &index["hosts"][0]["sha256"]);
    std::fs::remove_file(object(part.as_str().unwrap())).unwrap();
    let o = d.cli(&["snapshot", "create"]);
    created(&o);
    assert!(
        stderr(&o).contains(&format!(
            "the part of host {} is gone",
            host.as_str().unwrap()
        )),
        "{}",
        stderr(&o)
    );

    // Verdicts that stand a second only (rules that read the time).
    let serving = serve(&d, "[verdicts]\nrefresh = \"1s\"\n");
    control_answers(&d);
    stop(serving);
    std::thread::sleep(std::time::Duration::from_millis(1_500));
    let o = d.cli(&["snapshot", "create"]);
    created(&o);
    assert!(stderr(&o).contains("stood only until"), "{}", stderr(&o));
}
