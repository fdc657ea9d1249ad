//! Bad input at the collector's edges: one clear error line naming the file
//! or setting, a non-zero exit, and nothing stored lost.

use std::process::{Command, Output};

fn collector(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gamsa-collector"))
        .args(args)
        .env_remove("GAMSA_COLLECTOR_CONFIG")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn invalid_config_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[grpc]\nlisten = \"127.0.0.1:1\"\nlistne = 2\n").unwrap();
    let o = collector(&["serve", "--config", cfg.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("c.toml: line 3") && err.contains("listne"),
        "{err}"
    );
    let o = collector(&["serve", "--config", "/nonexistent/c.toml"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("/nonexistent/c.toml"), "{}", stderr(&o));
}

#[test]
fn missing_ca_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let o = collector(&["serve", "--data-dir", dir.path().to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("ca.crt: missing"), "{}", stderr(&o));
}

#[test]
fn port_in_use_names_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    assert!(collector(&["ca", "init", "--data-dir", data])
        .status
        .success());
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!("data_dir = \"{data}\"\n[grpc]\nlisten = \"127.0.0.1:{port}\"\n[http]\nlisten = \"127.0.0.1:0\"\n"),
    )
    .unwrap();
    let o = collector(&["serve", "--config", cfg.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(&format!("grpc.listen = \"127.0.0.1:{port}\"")),
        "{}",
        stderr(&o)
    );
}

#[test]
fn corrupt_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    assert!(collector(&["ca", "init", "--data-dir", data])
        .status
        .success());
    let db = dir.path().join("gamsa.db");
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&db, &garbage).unwrap();
    let o = collector(&["agent", "list", "--data-dir", data]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("gamsa.db"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(&db).unwrap(),
        garbage,
        "the file must not be rewritten"
    );
}

#[test]
fn existing_ca_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    assert!(collector(&["ca", "init", "--data-dir", data])
        .status
        .success());
    let before = std::fs::read(dir.path().join("pki/ca.key")).unwrap();
    let o = collector(&["ca", "init", "--data-dir", data]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("refusing to overwrite"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read(dir.path().join("pki/ca.key")).unwrap(),
        before
    );
}
