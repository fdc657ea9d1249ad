//! Accuracy of the `tls` probe against real servers on loopback: Debian's
//! `openssl s_server` and nginx, the machine's PostgreSQL, a throwaway
//! PostgreSQL cluster without TLS, and aiosmtpd with and without STARTTLS.
//! Accepted versions, cipher suites and certificate facts must equal what
//! sslyze reports for the same servers in the same test.
//!
//! Needs: Debian `openssl`, `nginx`, `postgresql` (and its server on
//! 127.0.0.1:5432, as on this machine kind); PyPI `sslyze`, `aiosmtpd`.
//! A missing tool fails the test with its name.
//!
//! Debian's OpenSSL 3 is built without SSL 3.0, RC4, DES, 3DES and EXPORT
//! suites, so no server here can offer them: SSL 3.0 is only checked as
//! refused, and those suites by the unit tests of the parser and classifier.

use gamsa_agent::probes::tls::legacy::{SSL3, TLS10, TLS11, TLS12, TLS13};
use gamsa_agent::probes::tls::suites::weakness;
use gamsa_agent::probes::tls::{self, Starttls, TlsProbe, TlsTarget};
use gamsa_agent::probes::{Probe, ProbeContext};
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- tools --

/// Runs `cmd args`, failing the test with what to install if it is missing.
fn run(cmd: &str, args: &[&str], package: &str) -> std::process::Output {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} is needed for this test (install {package}): {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn openssl(args: &[&str]) {
    run("openssl", args, "Debian package openssl");
}

/// A server process, killed when the test ends.
struct Server {
    child: std::process::Child,
    port: u16,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `cmd` and waits until it listens on `port`. Its stderr goes to a
/// file: a pipe nobody reads would fill up and stall a chatty server.
fn spawn(cmd: &mut Command, port: u16, what: &str) -> Server {
    let log = tempfile::NamedTempFile::new().unwrap();
    let child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start {cmd:?}: {e}"));
    let mut server = Server {
        child,
        port,
        _dir: None,
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = server.child.try_wait() {
            let err = std::fs::read_to_string(log.path()).unwrap_or_default();
            panic!("{what} exited ({status}): {err}");
        }
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

// ------------------------------------------------------------------ PKI --

/// A test CA and certificates it signs, made with the openssl CLI (which,
/// unlike rcgen, can make RSA-1024 keys and SHA-1 signatures).
struct Pki {
    dir: tempfile::TempDir,
}

struct Leaf {
    cert: PathBuf,
    key: PathBuf,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let p = |f: &str| dir.path().join(f).display().to_string();
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &p("ca.key"),
            "-out",
            &p("ca.pem"),
            "-days",
            "3650",
            "-subj",
            "/O=Gamsa Test/CN=Gamsa Test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        Self { dir }
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn path(&self, f: &str) -> String {
        self.dir.path().join(f).display().to_string()
    }

    /// A server certificate for `san`, signed by the CA.
    fn leaf(&self, name: &str, san: &str, bits: u32, digest: &str) -> Leaf {
        let (key, csr, cert, ext) = (
            self.path(&format!("{name}.key")),
            self.path(&format!("{name}.csr")),
            self.path(&format!("{name}.pem")),
            self.path(&format!("{name}.ext")),
        );
        std::fs::write(
            &ext,
            format!(
                "subjectAltName=DNS:{san}\nbasicConstraints=CA:FALSE\n\
                 keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
            ),
        )
        .unwrap();
        openssl(&[
            "req",
            "-new",
            "-newkey",
            &format!("rsa:{bits}"),
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/O=Gamsa Test/CN={san}"),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &self.path("ca.pem"),
            "-CAkey",
            &self.path("ca.key"),
            "-CAcreateserial",
            "-days",
            "90",
            &format!("-{digest}"),
            "-extfile",
            &ext,
            "-out",
            &cert,
        ]);
        Leaf {
            cert: cert.into(),
            key: key.into(),
        }
    }

    fn self_signed(&self, name: &str) -> Leaf {
        let (key, cert) = (
            self.path(&format!("{name}.key")),
            self.path(&format!("{name}.pem")),
        );
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &cert,
            "-days",
            "30",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ]);
        Leaf {
            cert: cert.into(),
            key: key.into(),
        }
    }

    /// Valid in 2020 only, signed by the CA (rcgen: openssl 3.0's x509
    /// command cannot back-date).
    fn expired(&self) -> Leaf {
        use rcgen::{date_time_ymd, CertificateParams, DnType, Issuer, KeyPair};
        let ca_key =
            KeyPair::from_pem(&std::fs::read_to_string(self.path("ca.key")).unwrap()).unwrap();
        let issuer =
            Issuer::from_ca_cert_pem(&std::fs::read_to_string(self.ca()).unwrap(), ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".into()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2020, 12, 31);
        let cert = params.signed_by(&key, &issuer).unwrap();
        let leaf = Leaf {
            cert: self.path("expired.pem").into(),
            key: self.path("expired.key").into(),
        };
        std::fs::write(&leaf.cert, cert.pem()).unwrap();
        std::fs::write(&leaf.key, key.serialize_pem()).unwrap();
        leaf
    }
}

// -------------------------------------------------------------- servers --

fn s_server(leaf: &Leaf, args: &[&str]) -> Server {
    let port = free_port();
    let mut cmd = Command::new("openssl");
    cmd.args([
        "s_server",
        "-quiet",
        "-www",
        "-accept",
        &format!("127.0.0.1:{port}"),
    ])
    .arg("-cert")
    .arg(&leaf.cert)
    .arg("-key")
    .arg(&leaf.key)
    .args(args);
    spawn(&mut cmd, port, "openssl s_server (Debian package openssl)")
}

/// nginx in the foreground with its own prefix; `plain_port`, if given,
/// also serves plain HTTP there.
fn nginx(leaf: &Leaf, protocols: &str, ciphers: &str, plain_port: Option<u16>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let d = dir.path().display();
    let plain = plain_port
        .map(|p| format!("server {{ listen 127.0.0.1:{p}; return 200 \"plain\"; }}"))
        .unwrap_or_default();
    let conf = format!(
        "daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;
         events {{ worker_connections 256; }}
         http {{
           access_log off;
           client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
           uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
           server {{
             listen 127.0.0.1:{port} ssl;
             ssl_certificate {}; ssl_certificate_key {};
             ssl_protocols {protocols}; ssl_ciphers '{ciphers}';
             return 200 \"ok\";
           }}
           {plain}
         }}",
        leaf.cert.display(),
        leaf.key.display()
    );
    std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
    let mut cmd = Command::new("nginx");
    cmd.arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .args(["-e", "stderr"]);
    let mut server = spawn(&mut cmd, port, "nginx (Debian package nginx)");
    server._dir = Some(dir);
    server
}

// ---------------------------------------------------------------- probe --

fn context(host_root: &Path) -> ProbeContext {
    ProbeContext {
        agent_id: "test-agent".into(),
        host: "localhost".into(),
        host_root: host_root.to_path_buf(),
        labels: Default::default(),
        control: Default::default(),
    }
}

fn target(port: u16, sni: &str, starttls: Starttls) -> TlsTarget {
    TlsTarget {
        address: format!("127.0.0.1:{port}"),
        sni: sni.into(),
        starttls,
    }
}

fn config(targets: Vec<TlsTarget>, ca: &Path) -> tls::Config {
    tls::Config {
        discover_local: false,
        targets,
        ca_bundle: ca.to_path_buf(),
        ..tls::Config::default()
    }
}

/// The probe's evidence, as the JSON the collector receives.
async fn probe(config: tls::Config, host_root: &Path) -> Vec<Value> {
    TlsProbe::new(config)
        .run(&context(host_root))
        .await
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect()
}

fn by_subject<'a>(evidence: &'a [Value], subject: &str) -> &'a Value {
    evidence
        .iter()
        .find(|e| e["subject"] == subject)
        .unwrap_or_else(|| panic!("no evidence for {subject} in {evidence:#?}"))
}

// --------------------------------------------------------------- sslyze --

/// sslyze's results for `targets` ("host:port{ip}"), in the same order.
fn sslyze(targets: &[String], ca: &Path, extra: &[&str]) -> Vec<Value> {
    let out = tempfile::NamedTempFile::new().unwrap();
    let mut args: Vec<String> = [
        "-m",
        "sslyze",
        "--quiet",
        "--sslv3",
        "--tlsv1",
        "--tlsv1_1",
        "--tlsv1_2",
        "--tlsv1_3",
        "--certinfo",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("--certinfo_ca_file={}", ca.display()));
    args.push(format!("--json_out={}", out.path().display()));
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(targets.iter().cloned());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    run("python3", &argv, "PyPI package sslyze");
    let text = std::fs::read_to_string(out.path()).unwrap();
    let json: Value = serde_json::from_str(&quote_big_numbers(&text)).unwrap();
    let results = json["server_scan_results"].as_array().unwrap().clone();
    targets
        .iter()
        .map(|t| {
            let port: u64 = t
                .split(':')
                .nth(1)
                .unwrap()
                .split('{')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let r = results
                .iter()
                .find(|r| r["server_location"]["port"] == port)
                .unwrap_or_else(|| panic!("sslyze has no result for {t}"));
            assert_eq!(
                r["scan_status"], "COMPLETED",
                "sslyze could not scan {t}: {r:#}"
            );
            r.clone()
        })
        .collect()
}

/// sslyze writes RSA moduli as bare integers, too big for serde_json:
/// quote every integer of more than 18 digits.
fn quote_big_numbers(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    let mut chars = json.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            in_string = escaped || c != '"';
            escaped = !escaped && c == '\\';
            out.push(c);
        } else if c.is_ascii_digit() {
            let mut digits = c.to_string();
            while let Some(d) = chars.next_if(char::is_ascii_digit) {
                digits.push(d);
            }
            if digits.len() > 18 {
                out.push('"');
                out.push_str(&digits);
                out.push('"');
            } else {
                out.push_str(&digits);
            }
        } else {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

const VERSIONS: [(&str, &str, u16); 5] = [
    ("ssl_3_0_cipher_suites", "TLS_VERSION_SSL3", SSL3),
    ("tls_1_0_cipher_suites", "TLS_VERSION_TLS1_0", TLS10),
    ("tls_1_1_cipher_suites", "TLS_VERSION_TLS1_1", TLS11),
    ("tls_1_2_cipher_suites", "TLS_VERSION_TLS1_2", TLS12),
    ("tls_1_3_cipher_suites", "TLS_VERSION_TLS1_3", TLS13),
];

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn suite_names(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|c| c["cipher_suite"]["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn epoch(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp()
}

fn fingerprint_hex(b64: &str) -> String {
    use base64::Engine;
    hex::encode(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
}

/// Every way our evidence differs from sslyze's result for the same server.
/// Suites sslyze's OpenSSL does not know (it never offers them) are left out
/// of the suite comparison.
fn differences(ours: &Value, theirs: &Value) -> Vec<String> {
    let mut diffs = Vec::new();
    let ep = &ours["tlsEndpoint"];
    let scan = &theirs["scan_result"];
    let (mut versions, mut accepted, mut tested, mut weak) = (
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
    );
    for (key, label, code) in VERSIONS {
        let result = &scan[key]["result"];
        let acc = suite_names(&result["accepted_cipher_suites"]);
        if !acc.is_empty() {
            versions.insert(label.to_string());
        }
        weak.extend(acc.iter().filter(|n| weakness(n, code).is_some()).cloned());
        tested.extend(acc.iter().cloned());
        tested.extend(suite_names(&result["rejected_cipher_suites"]));
        accepted.extend(acc);
    }
    let mut check = |what: &str, a: String, b: String| {
        if a != b {
            diffs.push(format!("{what}: ours {a} / sslyze {b}"));
        }
    };
    check(
        "acceptedVersions",
        format!("{:?}", strings(&ep["acceptedVersions"])),
        format!("{versions:?}"),
    );
    let ours_accepted: BTreeSet<_> = strings(&ep["acceptedCipherSuites"])
        .intersection(&tested)
        .cloned()
        .collect();
    check(
        "acceptedCipherSuites",
        format!("{ours_accepted:?}"),
        format!("{accepted:?}"),
    );
    let ours_weak: BTreeSet<_> = strings(&ep["weakCipherSuites"])
        .intersection(&tested)
        .cloned()
        .collect();
    check(
        "weakCipherSuites",
        format!("{ours_weak:?}"),
        format!("{weak:?}"),
    );

    let deployment = &scan["certificate_info"]["result"]["certificate_deployments"][0];
    let chain = deployment["received_certificate_chain"].as_array().unwrap();
    let ours_chain = ep["chain"].as_array().cloned().unwrap_or_default();
    check(
        "chain length",
        ours_chain.len().to_string(),
        chain.len().to_string(),
    );
    check(
        "leaf",
        ep["leaf"].to_string(),
        ours_chain.first().cloned().unwrap_or_default().to_string(),
    );
    let now = chrono::Utc::now().timestamp();
    for (i, (o, t)) in ours_chain.iter().zip(chain).enumerate() {
        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
        check(
            &format!("chain[{i}].subject"),
            s(&o["subject"]),
            s(&t["subject"]["rfc4514_string"]),
        );
        check(
            &format!("chain[{i}].issuer"),
            s(&o["issuer"]),
            s(&t["issuer"]["rfc4514_string"]),
        );
        check(
            &format!("chain[{i}].dnsNames"),
            format!("{:?}", strings(&o["dnsNames"])),
            format!("{:?}", strings(&t["subject_alternative_name"]["dns_names"])),
        );
        for (ours_key, their_key) in [
            ("notBefore", "not_valid_before"),
            ("notAfter", "not_valid_after"),
        ] {
            check(
                &format!("chain[{i}].{ours_key}"),
                epoch(&s(&o[ours_key])).to_string(),
                epoch(&s(&t[their_key])).to_string(),
            );
        }
        let days = (epoch(&s(&t["not_valid_after"])) - now).div_euclid(86_400);
        // Our clock read came a little earlier than `now`: it may still be
        // the day before a boundary.
        let ours_days: i64 = s(&o["daysRemaining"]).parse().unwrap_or(i64::MIN);
        if ours_days != days && ours_days != days + 1 {
            check(
                &format!("chain[{i}].daysRemaining"),
                ours_days.to_string(),
                days.to_string(),
            );
        }
        let algorithm = match t["public_key"]["algorithm"].as_str() {
            Some("RSAPublicKey") => "RSA",
            Some("EllipticCurvePublicKey" | "ECPublicKey") => "EC",
            other => other.unwrap_or("?"),
        };
        check(
            &format!("chain[{i}].keyAlgorithm"),
            s(&o["keyAlgorithm"]),
            algorithm.into(),
        );
        check(
            &format!("chain[{i}].keyBits"),
            o["keyBits"].to_string(),
            t["public_key"]["key_size"].to_string(),
        );
        check(
            &format!("chain[{i}].signatureAlgorithm"),
            s(&o["signatureAlgorithm"]),
            s(&t["signature_algorithm_oid"]["name"]),
        );
        check(
            &format!("chain[{i}].sha256Fingerprint"),
            s(&o["sha256Fingerprint"]),
            fingerprint_hex(&s(&t["fingerprint_sha256"])),
        );
        check(
            &format!("chain[{i}].selfSigned"),
            o["selfSigned"].as_bool().unwrap_or(false).to_string(),
            (t["subject"]["rfc4514_string"] == t["issuer"]["rfc4514_string"]).to_string(),
        );
    }
    // sslyze validates chain and name together against the supplied CA.
    let supplied = deployment["path_validation_results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["trust_store"]["name"] == "Supplied CA file")
        .expect("sslyze result for the supplied CA file");
    let ours_valid = ep["chainTrusted"].as_bool().unwrap_or(false)
        && ep["hostnameMatches"].as_bool().unwrap_or(false);
    check(
        "chainTrusted && hostnameMatches",
        ours_valid.to_string(),
        supplied["was_validation_successful"].to_string(),
    );
    diffs
}

fn assert_same_as_sslyze(name: &str, ours: &Value, theirs: &Value) {
    assert_eq!(ours["status"], "STATUS_OBSERVED", "{name}: {ours:#}");
    let diffs = differences(ours, theirs);
    assert!(
        diffs.is_empty(),
        "{name} differs from sslyze:\n{}",
        diffs.join("\n")
    );
}

fn versions(ev: &Value) -> Vec<String> {
    strings(&ev["tlsEndpoint"]["acceptedVersions"])
        .into_iter()
        .collect()
}

fn leaf<'a>(ev: &'a Value, field: &str) -> &'a Value {
    &ev["tlsEndpoint"]["leaf"][field]
}

fn flag(ev: &Value, field: &str) -> bool {
    ev["tlsEndpoint"][field].as_bool().unwrap_or(false)
}

// ---------------------------------------------------------------- tests --

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_and_suites_match_sslyze() {
    let pki = Pki::new();
    let good = pki.leaf("good", "localhost", 2048, "sha256");
    let tls10_only = s_server(&good, &["-tls1", "-cipher", "ALL:@SECLEVEL=0"]);
    let all = nginx(
        &good,
        "TLSv1 TLSv1.1 TLSv1.2 TLSv1.3",
        "ALL:eNULL:@SECLEVEL=0",
        None,
    );
    let tls12_only = nginx(&good, "TLSv1.2", "ECDHE+AESGCM:ECDHE+CHACHA20", None);
    let tls13_only = s_server(&good, &["-tls1_3"]);
    let servers = [
        ("TLS 1.0 only", &tls10_only),
        ("1.0–1.3", &all),
        ("1.2 only", &tls12_only),
        ("1.3 only", &tls13_only),
    ];

    let targets = servers
        .iter()
        .map(|(_, s)| target(s.port, "localhost", Starttls::None))
        .collect();
    let ours = probe(config(targets, &pki.ca()), Path::new("/nonexistent")).await;
    let names: Vec<String> = servers
        .iter()
        .map(|(_, s)| format!("localhost:{}{{127.0.0.1}}", s.port))
        .collect();
    let theirs = sslyze(&names, &pki.ca(), &[]);
    for ((name, server), their) in servers.iter().zip(&theirs) {
        assert_same_as_sslyze(
            name,
            by_subject(&ours, &format!("127.0.0.1:{}", server.port)),
            their,
        );
    }

    // And on their own terms, whatever sslyze says.
    let ev = |s: &Server| by_subject(&ours, &format!("127.0.0.1:{}", s.port)).clone();
    assert_eq!(versions(&ev(&tls10_only)), vec!["TLS_VERSION_TLS1_0"]);
    let weak = strings(&ev(&tls10_only)["tlsEndpoint"]["weakCipherSuites"]);
    assert!(weak.contains("TLS_RSA_WITH_AES_128_CBC_SHA"), "{weak:?}");
    assert_eq!(
        versions(&ev(&all)),
        vec![
            "TLS_VERSION_TLS1_0",
            "TLS_VERSION_TLS1_1",
            "TLS_VERSION_TLS1_2",
            "TLS_VERSION_TLS1_3"
        ]
    );
    let weak = strings(&ev(&all)["tlsEndpoint"]["weakCipherSuites"]);
    for expected in [
        "TLS_ECDHE_RSA_WITH_NULL_SHA",
        "TLS_ECDH_anon_WITH_AES_128_CBC_SHA",
        "TLS_RSA_WITH_NULL_MD5",
        "TLS_RSA_WITH_AES_256_CBC_SHA",
    ] {
        assert!(weak.contains(expected), "{expected} missing from {weak:?}");
    }
    assert!(flag(&ev(&all), "cipherSuitesComplete"));
    assert_eq!(versions(&ev(&tls12_only)), vec!["TLS_VERSION_TLS1_2"]);
    assert_eq!(
        ev(&tls12_only)["tlsEndpoint"]["weakCipherSuites"],
        serde_json::json!([])
    );
    assert_eq!(versions(&ev(&tls13_only)), vec!["TLS_VERSION_TLS1_3"]);
    for s in [&tls10_only, &all, &tls12_only, &tls13_only] {
        let e = ev(s);
        assert!(
            flag(&e, "tlsOffered") && flag(&e, "chainTrusted") && flag(&e, "hostnameMatches"),
            "{e:#}"
        );
        assert_eq!(leaf(&e, "subject"), "CN=localhost,O=Gamsa Test");
    }
    // TLS 1.0 only: rustls cannot connect, the chain comes from the legacy handshake.
    let notices = strings(&ev(&tls10_only)["tlsEndpoint"]["notices"]);
    assert!(
        notices
            .iter()
            .any(|n| n.contains("from the TLS 1.0 handshake")),
        "{notices:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_facts_match_sslyze() {
    let pki = Pki::new();
    let legacy = ["-cipher", "DEFAULT:@SECLEVEL=0"];
    let expired = s_server(&pki.expired(), &legacy);
    let self_signed = s_server(&pki.self_signed("self"), &legacy);
    let wrong_host = s_server(&pki.leaf("wrong", "other.example", 2048, "sha256"), &legacy);
    let rsa1024 = s_server(&pki.leaf("small", "localhost", 1024, "sha256"), &legacy);
    let sha1 = s_server(&pki.leaf("sha1", "localhost", 2048, "sha1"), &legacy);
    let servers = [
        ("expired", &expired),
        ("self-signed", &self_signed),
        ("wrong hostname", &wrong_host),
        ("RSA-1024", &rsa1024),
        ("SHA-1", &sha1),
    ];
    let targets = servers
        .iter()
        .map(|(_, s)| target(s.port, "localhost", Starttls::None))
        .collect();
    let ours = probe(config(targets, &pki.ca()), Path::new("/nonexistent")).await;
    let names: Vec<String> = servers
        .iter()
        .map(|(_, s)| format!("localhost:{}{{127.0.0.1}}", s.port))
        .collect();
    let theirs = sslyze(&names, &pki.ca(), &[]);
    for ((name, server), their) in servers.iter().zip(&theirs) {
        let ev = by_subject(&ours, &format!("127.0.0.1:{}", server.port));
        assert_same_as_sslyze(name, ev, their);
    }
    let ev = |s: &Server| by_subject(&ours, &format!("127.0.0.1:{}", s.port)).clone();
    let e = ev(&expired);
    assert!(
        leaf(&e, "daysRemaining").as_str().unwrap().starts_with('-'),
        "{e:#}"
    );
    assert!(!flag(&e, "chainTrusted") && flag(&e, "hostnameMatches"));
    assert!(
        e["tlsEndpoint"]["chainError"]
            .as_str()
            .unwrap()
            .contains("certificate expired"),
        "{e:#}"
    );
    let e = ev(&self_signed);
    assert!(leaf(&e, "selfSigned").as_bool().unwrap() && !flag(&e, "chainTrusted"));
    let e = ev(&wrong_host);
    assert!(flag(&e, "chainTrusted") && !flag(&e, "hostnameMatches"));
    assert_eq!(leaf(&e, "dnsNames"), &serde_json::json!(["other.example"]));
    let e = ev(&rsa1024);
    assert_eq!(leaf(&e, "keyBits"), 1024);
    assert!(flag(&e, "chainTrusted"));
    let e = ev(&sha1);
    assert_eq!(leaf(&e, "signatureAlgorithm"), "sha1WithRSAEncryption");
    assert!(!flag(&e, "chainTrusted"));
}

/// The value of a PostgreSQL setting on the machine's server.
fn pg_setting(name: &str) -> String {
    let out = run(
        "psql",
        &[
            "-h",
            "127.0.0.1",
            "-p",
            "5432",
            "-U",
            "postgres",
            "-Atc",
            &format!("show {name}"),
        ],
        "Debian package postgresql-client, and PostgreSQL on 127.0.0.1:5432",
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_starttls_on_the_machine_server_matches_sslyze() {
    let ssl = pg_setting("ssl");
    let targets = vec![target(5432, "localhost", Starttls::Postgres)];
    if ssl != "on" {
        let ours = probe(config(targets, Path::new("")), Path::new("/nonexistent")).await;
        let ev = by_subject(&ours, "127.0.0.1:5432");
        assert!(!flag(ev, "tlsOffered"), "server has ssl={ssl}: {ev:#}");
        return;
    }
    // Trust the server's own certificate, so that trust is comparable.
    let cert = PathBuf::from(pg_setting("ssl_cert_file"));
    let ours = probe(config(targets, &cert), Path::new("/nonexistent")).await;
    let theirs = sslyze(
        &["localhost:5432{127.0.0.1}".into()],
        &cert,
        &["--starttls=postgres"],
    );
    let ev = by_subject(&ours, "127.0.0.1:5432");
    assert_eq!(ev["status"], "STATUS_OBSERVED", "{ev:#}");
    let diffs = differences(ev, &theirs[0]);
    // Debian's snakeoil certificate has no Authority Key Identifier, which
    // pyca/cryptography (sslyze) requires by the CA/Browser Forum profile
    // and WebPKI does not: the one allowed difference, and only for that.
    if !diffs.is_empty() {
        let supplied = theirs[0]["scan_result"]["certificate_info"]["result"]
            ["certificate_deployments"][0]["path_validation_results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["trust_store"]["name"] == "Supplied CA file")
            .unwrap()
            .clone();
        assert_eq!(
            diffs,
            vec!["chainTrusted && hostnameMatches: ours true / sslyze false"]
        );
        assert!(
            supplied["validation_error"]
                .as_str()
                .unwrap_or("")
                .contains("2.5.29.35"),
            "{supplied:#}"
        );
    }
    assert!(flag(ev, "tlsOffered"));
    assert_eq!(ev["tlsEndpoint"]["starttls"], "postgres");
}

/// A throwaway PostgreSQL cluster with `ssl = off`, run as the postgres user.
fn postgres_without_tls() -> Server {
    use std::os::unix::process::CommandExt;
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .expect("Debian package postgresql is needed for this test")
        .flatten()
        .map(|e| e.path().join("bin"))
        .find(|b| b.join("initdb").exists())
        .expect("no /usr/lib/postgresql/*/bin/initdb (Debian package postgresql)");
    let id = |flag: &str| -> u32 {
        String::from_utf8(
            run(
                "id",
                &[flag, "postgres"],
                "a postgres user (Debian package postgresql)",
            )
            .stdout,
        )
        .unwrap()
        .trim()
        .parse()
        .unwrap()
    };
    let (uid, gid) = (id("-u"), id("-g"));
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
    let data = dir.path().join("data");
    let status = Command::new(bin.join("initdb"))
        .args(["-A", "trust", "-U", "postgres", "-D"])
        .arg(&data)
        .uid(uid)
        .gid(gid)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "initdb failed");
    let port = free_port();
    let mut cmd = Command::new(bin.join("postgres"));
    cmd.arg("-D")
        .arg(&data)
        .args([
            "-p",
            &port.to_string(),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "ssl=off",
            "-k",
        ])
        .arg(dir.path())
        .uid(uid)
        .gid(gid);
    let mut server = spawn(&mut cmd, port, "postgres (Debian package postgresql)");
    server._dir = Some(dir);
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_without_tls_is_a_finding_not_an_error() {
    let pg = postgres_without_tls();
    let ours = probe(
        config(vec![target(pg.port, "", Starttls::Postgres)], Path::new("")),
        Path::new("/nonexistent"),
    )
    .await;
    let ev = by_subject(&ours, &format!("127.0.0.1:{}", pg.port));
    assert_eq!(ev["status"], "STATUS_OBSERVED", "{ev:#}");
    assert!(!flag(ev, "tlsOffered"));
    assert_eq!(ev["tlsEndpoint"]["acceptedVersions"], serde_json::json!([]));
    let notices = strings(&ev["tlsEndpoint"]["notices"]);
    assert!(
        notices.iter().any(|n| n.contains("answered 'N'")),
        "{notices:?}"
    );
}

const SMTP_SERVER: &str = "
import ssl, sys
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink
context = None
if len(sys.argv) > 2:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[2], sys.argv[3])
Controller(Sink(), hostname='127.0.0.1', port=int(sys.argv[1]), tls_context=context).start()
sys.stdin.read()
";

/// aiosmtpd on loopback, offering STARTTLS with `leaf` if given.
fn smtp(leaf: Option<&Leaf>) -> Server {
    let port = free_port();
    let mut cmd = Command::new("python3");
    cmd.args(["-c", SMTP_SERVER, &port.to_string()]);
    if let Some(l) = leaf {
        cmd.arg(&l.cert).arg(&l.key);
    }
    spawn(&mut cmd, port, "aiosmtpd (PyPI package aiosmtpd)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_starttls_matches_sslyze_and_its_absence_is_a_finding() {
    let pki = Pki::new();
    let with_tls = smtp(Some(&pki.leaf("mail", "localhost", 2048, "sha256")));
    let without = smtp(None);
    let targets = vec![
        target(with_tls.port, "localhost", Starttls::Smtp),
        target(without.port, "localhost", Starttls::Smtp),
    ];
    let ours = probe(config(targets, &pki.ca()), Path::new("/nonexistent")).await;
    let theirs = sslyze(
        &[format!("localhost:{}{{127.0.0.1}}", with_tls.port)],
        &pki.ca(),
        &["--starttls=smtp"],
    );
    let ev = by_subject(&ours, &format!("127.0.0.1:{}", with_tls.port));
    assert_same_as_sslyze("SMTP STARTTLS", ev, &theirs[0]);
    assert!(flag(ev, "tlsOffered") && flag(ev, "chainTrusted"));
    let ev = by_subject(&ours, &format!("127.0.0.1:{}", without.port));
    assert_eq!(ev["status"], "STATUS_OBSERVED", "{ev:#}");
    assert!(!flag(ev, "tlsOffered"));
    let notices = strings(&ev["tlsEndpoint"]["notices"]);
    assert!(
        notices.iter().any(|n| n.contains("no STARTTLS")),
        "{notices:?}"
    );
}

/// A `/proc/net/tcp{,6}` pair listing `ports` as listening on `addr`.
fn fake_proc(listeners: &[(&str, u16)]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let net = root.path().join("proc/net");
    std::fs::create_dir_all(&net).unwrap();
    let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
    let (mut v4, mut v6) = (header.to_string(), header.to_string());
    for (i, (addr, port)) in listeners.iter().enumerate() {
        let row = format!(
            "{i}: {addr}:{port:04X} 00000000:0000 0A 0:0 0:0 0 0 0 {} 1\n",
            1000 + i
        );
        if addr.len() == 8 {
            v4.push_str(&row)
        } else {
            v6.push_str(&row)
        }
    }
    std::fs::write(net.join("tcp"), v4).unwrap();
    std::fs::write(net.join("tcp6"), v6).unwrap();
    root
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_reports_tls_listeners_and_skips_the_rest() {
    let pki = Pki::new();
    let good = pki.leaf("good", "localhost", 2048, "sha256");
    let plain_port = free_port();
    let tls = nginx(&good, "TLSv1.2 TLSv1.3", "HIGH", Some(plain_port));
    // Accepts connections (the kernel does) and never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let closed_port = free_port();
    let root = fake_proc(&[
        ("0100007F", tls.port),
        ("00000000000000000000000000000000", tls.port), // [::]: the same service
        ("0100007F", plain_port),
        ("0100007F", silent_port),
        ("0100007F", closed_port),
    ]);
    let mut cfg = config(Vec::new(), &pki.ca());
    cfg.discover_local = true;
    cfg.timeout = Duration::from_secs(1);
    let started = Instant::now();
    let ours = probe(cfg, root.path()).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let subjects: Vec<&str> = ours
        .iter()
        .map(|e| e["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        subjects,
        vec![format!("127.0.0.1:{}", tls.port)],
        "{ours:#?}"
    );
    let ev = &ours[0];
    assert_eq!(ev["status"], "STATUS_OBSERVED");
    // Discovered listeners are named by the host's name ("localhost" here).
    assert_eq!(ev["tlsEndpoint"]["sni"], "localhost");
    assert!(flag(ev, "chainTrusted") && flag(ev, "hostnameMatches"));
    drop(silent);
}

/// Answers every ClientHello on a loopback port with `payload`, then waits
/// for the client to hang up (closing first would reset the connection and
/// lose the payload), or with `close`, shuts its side down at once.
fn hostile_server(payload: Vec<u8>, close: bool) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let payload = payload.clone();
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut conn = conn;
                let _ = conn.read(&mut [0u8; 4096]);
                let _ = conn.write_all(&payload);
                if close {
                    let _ = conn.shutdown(std::net::Shutdown::Write);
                }
                let _ = std::io::copy(&mut conn, &mut std::io::sink());
            });
        }
    });
    port
}

fn hostile(payload: Vec<u8>) -> u16 {
    hostile_server(payload, false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_servers_become_error_evidence_within_bounds() {
    // 1 MiB of TLS warning alerts: valid framing, no verdict, ever.
    let alerts: Vec<u8> = std::iter::repeat_n([21u8, 3, 3, 0, 2, 1, 112], 150_000)
        .flatten()
        .collect();
    // A record header announcing 65535 bytes.
    let oversized = vec![22u8, 3, 3, 0xff, 0xff, 1, 2, 3];
    let http = b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec();
    let (a, o, h) = (hostile(alerts), hostile(oversized), hostile(http));
    // A handshake record announcing 100 bytes, 3 sent, then the server closes.
    let m = hostile_server(vec![22u8, 3, 3, 0, 100, 2, 0, 0], true);
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let s = silent.local_addr().unwrap().port();
    let targets = [a, o, h, m, s]
        .iter()
        .map(|p| target(*p, "", Starttls::None))
        .collect();
    let mut cfg = config(targets, Path::new(""));
    cfg.timeout = Duration::from_secs(1);
    let started = Instant::now();
    let ours = probe(cfg, Path::new("/nonexistent")).await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    let error = |port: u16| {
        let ev = by_subject(&ours, &format!("127.0.0.1:{port}"));
        assert_eq!(ev["status"], "STATUS_ERROR", "{ev:#}");
        ev["error"].as_str().unwrap().to_string()
    };
    assert!(error(a).contains("flight too long"), "{}", error(a));
    assert!(error(o).contains("record too long"), "{}", error(o));
    assert!(error(h).contains("does not speak TLS"), "{}", error(h));
    assert!(error(s).contains("no answer within"), "{}", error(s));
    assert!(error(m).contains("closed"), "{}", error(m));
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_budget_bounds_enumeration_and_says_so() {
    let pki = Pki::new();
    let all = nginx(
        &pki.leaf("good", "localhost", 2048, "sha256"),
        "TLSv1 TLSv1.1 TLSv1.2 TLSv1.3",
        "ALL:eNULL:@SECLEVEL=0",
        None,
    );
    let mut cfg = config(
        vec![target(all.port, "localhost", Starttls::None)],
        &pki.ca(),
    );
    cfg.max_connections = 8;
    let ours = probe(cfg, Path::new("/nonexistent")).await;
    let ev = by_subject(&ours, &format!("127.0.0.1:{}", all.port));
    assert_eq!(versions(ev).len(), 4, "{ev:#}");
    assert!(!flag(ev, "cipherSuitesComplete"));
    let notices = strings(&ev["tlsEndpoint"]["notices"]);
    assert!(
        notices
            .iter()
            .any(|n| n.contains("connection budget spent")),
        "{notices:?}"
    );
    // The certificate handshake ran before enumeration spent the budget.
    assert_eq!(leaf(ev, "subject"), "CN=localhost,O=Gamsa Test");
    assert!(
        !notices.iter().any(|n| n.contains("certificate chain from")),
        "{notices:?}"
    );
}
