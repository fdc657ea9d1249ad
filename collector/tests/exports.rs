//! Exports through the real command line: 양식2B as PDF, rendered with
//! poppler (`pdftoppm`) and read back (`pdftotext -bbox`): the Korean
//! questions and the Y/P/N marks are where the form puts them; CSV and JSON
//! parse and agree with `report`; `--encrypt-to` output decrypts with the
//! real `age`; `--redact-ips` leaves no IP address in any format.

mod fixture;

use fixture::{stderr, DataDir, ADDRESSES};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Command;

/// The fleet, with documentary evidence that puts Y, P and N marks on 양식2B.
async fn filled() -> DataDir {
    let d = DataDir::new();
    d.add(fixture::fleet()).await;
    d.attest("emr-s014", "1.3", "1.3-1", "Y").await;
    d.attest("emr-s014", "1.2", "1.2-2", "N").await;
    d.attest("emr-s014", "3.1", "3.1-1", "P").await;
    d
}

/// `export ARGS --output FILE`, returning the file's bytes.
fn export(d: &DataDir, args: &[&str], name: &str) -> Vec<u8> {
    let out = d.dir.path().join(name);
    let mut all = vec!["export"];
    all.extend(args);
    all.extend(["--output", out.to_str().unwrap()]);
    d.cli_ok(&all);
    std::fs::read(&out).unwrap()
}

fn tool(cmd: &mut Command) -> Vec<u8> {
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (tests/run.sh installs it)"));
    assert!(o.status.success(), "{cmd:?}: {}", stderr(&o));
    o.stdout
}

/// One word of `pdftotext -bbox`, positions in points from the page's top left.
#[derive(Debug, Clone)]
struct Word {
    page: usize,
    x0: f64,
    y0: f64,
    x1: f64,
    text: String,
}

fn attr(tag: &str, name: &str) -> f64 {
    let start = tag.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
    let len = tag[start..].find('"').unwrap();
    tag[start..start + len].parse().unwrap()
}

fn words(pdf: &Path) -> Vec<Word> {
    let html = String::from_utf8(tool(
        Command::new("pdftotext").arg("-bbox").arg(pdf).arg("-"),
    ))
    .unwrap();
    let mut page = 0;
    let mut out = Vec::new();
    for line in html.lines().map(str::trim) {
        if line.starts_with("<page ") {
            page += 1;
        } else if let Some(rest) = line.strip_prefix("<word ") {
            let (tag, text) = rest.split_once('>').unwrap();
            let text = text.trim_end_matches("</word>");
            out.push(Word {
                page,
                x0: attr(tag, "xMin"),
                y0: attr(tag, "yMin"),
                x1: attr(tag, "xMax"),
                text: text
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&quot;", "\"")
                    .replace("&apos;", "'")
                    .replace("&amp;", "&"),
            });
        }
    }
    out
}

/// CSV bytes (with their byte order mark) as records keyed by header.
fn csv_rows(bytes: &[u8]) -> Vec<BTreeMap<String, String>> {
    let text = std::str::from_utf8(bytes).unwrap();
    let text = text
        .strip_prefix('\u{feff}')
        .expect("a UTF-8 byte order mark");
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn squeeze(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

#[tokio::test]
async fn form_2b_pdf_shows_korean_questions_and_marks_in_their_columns() {
    let d = filled().await;
    let pdf_bytes = export(
        &d,
        &["--catalog", "emr-s014", "--form", "2B", "--format", "pdf"],
        "2B.pdf",
    );
    assert!(pdf_bytes.starts_with(b"%PDF-"));
    let rows = csv_rows(&export(
        &d,
        &["--catalog", "emr-s014", "--form", "2B", "--format", "csv"],
        "2B.csv",
    ));
    assert!(rows.len() > 20, "{rows:?}");
    let pdf = d.dir.path().join("2B.pdf");

    // Rendered: every page becomes a real image.
    let prefix = d.dir.path().join("page");
    tool(
        Command::new("pdftoppm")
            .args(["-r", "60", "-png"])
            .arg(&pdf)
            .arg(&prefix),
    );
    let pages: Vec<_> = std::fs::read_dir(d.dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name().unwrap().to_string_lossy().starts_with("page")
                && p.extension().is_some_and(|e| e == "png")
        })
        .collect();
    assert!(!pages.is_empty());
    for p in &pages {
        let png = std::fs::read(p).unwrap();
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 20_000,
            "{}: {} bytes",
            p.display(),
            png.len()
        );
    }

    let words = words(&pdf);
    let all: String = words.iter().map(|w| w.text.as_str()).collect();
    assert!(all.contains("양식2B.EMR점검표"), "{all}");
    // The columns, from the header row on each page.
    let header = |page: usize, label: &str| {
        words
            .iter()
            .find(|w| {
                w.page == page
                    && w.text == label
                    && words.iter().any(|h| {
                        h.page == page && h.text == "점검내용" && (h.y0 - w.y0).abs() < 1.0
                    })
            })
            .unwrap_or_else(|| panic!("page {page}: no header {label}"))
            .clone()
    };
    let page_count = words.iter().map(|w| w.page).max().unwrap();
    assert_eq!(page_count, pages.len());
    let first_question = rows[0]["questionKo"].split(' ').next().unwrap().to_string();
    let question_left = words.iter().find(|w| w.text == first_question).unwrap().x0;

    // Every question is printed, whole, in the 점검내용 column.
    let mut column_text = String::new();
    let mut marks: BTreeMap<&str, usize> = BTreeMap::new();
    let mut ids: Vec<(usize, f64, String)> = Vec::new();
    let mut dots: Vec<(usize, f64, &str)> = Vec::new();
    // The checklist's pages; the rationale table of the automated rows follows.
    assert!(all.contains("자동점검근거"), "{all}");
    let checklist_pages =
        (1..=page_count).filter(|p| words.iter().any(|w| w.page == *p && w.text == "점검내용"));
    for page in checklist_pages {
        let y = header(page, "Y");
        let cols: Vec<(&str, Word)> = ["Y", "P", "N", "N/A"]
            .iter()
            .map(|l| (*l, header(page, l)))
            .collect();
        let mut on_page: Vec<&Word> = words
            .iter()
            .filter(|w| w.page == page && w.y0 > y.y0 + 1.0)
            .collect();
        on_page.sort_by(|a, b| (a.y0, a.x0).partial_cmp(&(b.y0, b.x0)).unwrap());
        for w in on_page {
            if w.x0 >= question_left - 0.5 && w.x1 <= y.x0 {
                column_text.push_str(&w.text);
            } else if w.text == "●" {
                let centre = (w.x0 + w.x1) / 2.0;
                let (label, _) = cols
                    .iter()
                    .min_by(|a, b| {
                        let d = |h: &Word| ((h.x0 + h.x1) / 2.0 - centre).abs();
                        d(&a.1).partial_cmp(&d(&b.1)).unwrap()
                    })
                    .unwrap();
                *marks.entry(label).or_default() += 1;
                dots.push((page, w.y0, label));
            } else if w.x1 < question_left
                && w.text.split('.').count() == 2
                && w.text.chars().all(|c| c.is_ascii_digit() || c == '.')
            {
                ids.push((page, w.y0, w.text.clone()));
            }
        }
    }
    for r in &rows {
        assert!(
            column_text.contains(&squeeze(&r["questionKo"])),
            "question of {} not in the 점검내용 column: {}",
            r["row"],
            r["questionKo"]
        );
    }
    // One mark per answered row, in the column of its verdict.
    let expected = |v: &str| rows.iter().filter(|r| r["verdict"] == v).count();
    for (label, verdict) in [("Y", "Y"), ("P", "P"), ("N", "N"), ("N/A", "NA")] {
        assert_eq!(
            marks.get(label).copied().unwrap_or(0),
            expected(verdict),
            "{label} marks: {marks:?}"
        );
    }
    for v in ["Y", "P", "N"] {
        assert!(expected(v) > 0, "the fleet gives 양식2B {v} rows: {rows:?}");
    }
    // Row by row: the mark on the line of an item's first row is its verdict.
    for item in ["1.2", "3.1", "4.3"] {
        let (page, y, _) = ids
            .iter()
            .find(|(_, _, t)| t == item)
            .unwrap_or_else(|| panic!("{item} in {ids:?}"));
        let (_, _, label) = dots
            .iter()
            .find(|(p, dy, _)| p == page && (dy - y).abs() < 1.5)
            .unwrap_or_else(|| panic!("no mark on the line of {item}"));
        let first = rows.iter().find(|r| r["item"] == item).unwrap();
        assert_eq!(
            *label,
            if first["verdict"] == "NA" {
                "N/A"
            } else {
                first["verdict"].as_str()
            },
            "{item}"
        );
    }
}

#[tokio::test]
async fn csv_and_json_agree_with_the_report() {
    let d = filled().await;
    for group in [None, Some("II-2")] {
        let mut args = vec!["--catalog", "emr-s014"];
        if let Some(g) = group {
            args.extend(["--group", g]);
        }
        let mut report_args = vec!["report"];
        report_args.extend(&args);
        report_args.extend(["--format", "json"]);
        let report: serde_json::Value = serde_json::from_str(&d.cli_ok(&report_args)).unwrap();
        let report = report.as_array().unwrap();

        let mut csv_args = args.clone();
        csv_args.extend(["--format", "csv"]);
        let rows = csv_rows(&export(&d, &csv_args, "all.csv"));
        let mut json_args = args.clone();
        json_args.extend(["--format", "json"]);
        let json: serde_json::Value =
            serde_json::from_slice(&export(&d, &json_args, "all.json")).unwrap();

        let report_rows: usize = report
            .iter()
            .map(|i| i["rows"].as_array().unwrap().len())
            .sum();
        assert_eq!(rows.len(), report_rows, "one CSV line per checklist row");
        assert_eq!(json["form"]["rows"].as_array().unwrap().len(), report_rows);
        for item in report {
            let id = item["id"].as_str().unwrap();
            let verdict = item["verdict"].as_str().unwrap();
            let json_item = json["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["id"] == id)
                .unwrap();
            assert_eq!(json_item["verdict"], verdict, "{id} ({group:?})");
            for row in item["rows"].as_array().unwrap() {
                let row_id = row["id"].as_str().unwrap();
                let line = rows
                    .iter()
                    .find(|r| r["row"] == row_id)
                    .unwrap_or_else(|| panic!("{row_id}"));
                let row_verdict = if verdict == "NA" {
                    "NA"
                } else {
                    row["verdict"].as_str().unwrap()
                };
                assert_eq!(line["verdict"], row_verdict, "{row_id} ({group:?})");
                assert_eq!(line["itemVerdict"], verdict, "{row_id}");
                assert_eq!(line["questionKo"], row["questionKo"].as_str().unwrap());
                let json_row = json["form"]["rows"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|r| r["row"] == row_id)
                    .unwrap();
                assert_eq!(json_row["verdict"], row_verdict);
            }
        }
        if group.is_some() {
            assert!(
                rows.iter().any(|r| r["verdict"] == "NA"),
                "II-2 makes rows NA"
            );
        }
    }
    // An unknown form or format is one clear error.
    let o = d.cli(&[
        "export",
        "--catalog",
        "emr-s014",
        "--form",
        "9",
        "--format",
        "csv",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no form \"9\" (forms: 2A, 2B, 2-1, 2-4, 2-5)"),
        "{}",
        stderr(&o)
    );
    let o = d.cli(&["export", "--catalog", "emr-s014", "--format", "docx"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("docx"), "{}", stderr(&o));
}

#[tokio::test]
async fn encrypted_exports_decrypt_with_the_age_cli() {
    let d = filled().await;
    let identity = d.dir.path().join("auditor.key");
    tool(Command::new("age-keygen").arg("-o").arg(&identity));
    let recipient = fixture::read(&identity)
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_string))
        .unwrap();

    let plain = export(
        &d,
        &[
            "--catalog",
            "emr-s014",
            "--form",
            "2-1",
            "--format",
            "ndjson",
        ],
        "plain.ndjson",
    );
    let sealed = export(
        &d,
        &[
            "--catalog",
            "emr-s014",
            "--form",
            "2-1",
            "--format",
            "ndjson",
            "--encrypt-to",
            &recipient,
        ],
        "sealed.age",
    );
    assert!(sealed.starts_with(b"age-encryption.org/v1\n"));
    assert!(!String::from_utf8_lossy(&sealed).contains("192.168.7.21"));
    let opened = tool(
        Command::new("age")
            .arg("--decrypt")
            .arg("-i")
            .arg(&identity)
            .arg(d.dir.path().join("sealed.age")),
    );
    assert_eq!(opened, plain, "the decrypted export is the export");
    assert!(String::from_utf8_lossy(&opened).contains("192.168.7.21"));

    let pdf = export(
        &d,
        &[
            "--catalog",
            "emr-s014",
            "--form",
            "2B",
            "--format",
            "pdf",
            "--encrypt-to",
            &recipient,
        ],
        "2B.pdf.age",
    );
    assert!(!pdf.starts_with(b"%PDF"));
    let opened = tool(
        Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(&identity)
            .arg(d.dir.path().join("2B.pdf.age")),
    );
    assert!(opened.starts_with(b"%PDF-"));

    // Another identity cannot open it; a malformed recipient is named.
    let other = d.dir.path().join("other.key");
    tool(Command::new("age-keygen").arg("-o").arg(&other));
    let o = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&other)
        .arg(d.dir.path().join("sealed.age"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let o = d.cli(&[
        "export",
        "--catalog",
        "emr-s014",
        "--format",
        "csv",
        "--encrypt-to",
        "age1nope",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("age recipient \"age1nope\""),
        "{}",
        stderr(&o)
    );
}

/// Every IP address in `text`: whole runs of hex digits, ':' and '.', and
/// dotted quads inside them ("10.0.0.5:443").
fn addresses(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for run in text.split(|c: char| !(c.is_ascii_hexdigit() || c == ':' || c == '.')) {
        let run = run.trim_matches('.');
        if run.is_empty() {
            continue;
        }
        if run.contains(':') && run != "::" && run.parse::<IpAddr>().is_ok() {
            found.push(run.to_string());
        }
        for part in run.split(':') {
            if part.parse::<Ipv4Addr>().is_ok() {
                found.push(part.to_string());
            }
        }
    }
    found
}

#[tokio::test]
async fn redaction_leaves_no_ip_address_in_any_format() {
    let d = filled().await;
    let cases: &[(&[&str], &str)] = &[
        (&["--form", "2-1", "--format", "html"], "html"),
        (&["--form", "2-1", "--format", "json"], "json"),
        (&["--form", "2-1", "--format", "pdf"], "pdf"),
        (&["--form", "2-4", "--format", "html"], "html"),
        (&["--form", "2-5", "--format", "csv"], "csv"),
        (&["--format", "ndjson"], "ndjson"),
        (&["--format", "json"], "json"),
        (&["--form", "2B", "--format", "html"], "html"),
    ];
    let text = |bytes: Vec<u8>, ext: &str, name: &str| -> String {
        if ext == "pdf" {
            let path = d.dir.path().join(name);
            String::from_utf8(tool(Command::new("pdftotext").arg(&path).arg("-"))).unwrap()
        } else {
            String::from_utf8(bytes).unwrap()
        }
    };
    let mut seen_plain = std::collections::BTreeSet::new();
    let mut labels = Vec::new();
    for (n, (args, ext)) in cases.iter().enumerate() {
        let mut plain_args = vec!["--catalog", "emr-s014"];
        plain_args.extend(*args);
        let plain_name = format!("plain-{n}.{ext}");
        let plain = text(export(&d, &plain_args, &plain_name), ext, &plain_name);
        seen_plain.extend(addresses(&plain));

        let mut redacted_args = plain_args.clone();
        redacted_args.push("--redact-ips");
        let name = format!("redacted-{n}.{ext}");
        let redacted = text(export(&d, &redacted_args, &name), ext, &name);
        assert_eq!(
            addresses(&redacted),
            Vec::<String>::new(),
            "{args:?}: {redacted}"
        );
        for a in ADDRESSES {
            assert!(!redacted.contains(a), "{args:?} still holds {a}");
        }
        labels.push(
            redacted
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .filter(|w| w.starts_with("ip-") || w.starts_with("ip6-"))
                .map(str::to_string)
                .collect::<std::collections::BTreeSet<String>>(),
        );
    }
    // The unredacted exports held them all (so the check above can fail).
    for a in ADDRESSES {
        assert!(
            seen_plain.iter().any(|s| s == a),
            "{a} in the plain exports: {seen_plain:?}"
        );
    }
    // The same address has the same label in every export: the host named
    // 10.1.2.3 in 양식2-1 and in the evidence.
    let common: Vec<&String> = labels[0].intersection(&labels[5]).collect();
    assert!(!common.is_empty(), "{:?} / {:?}", labels[0], labels[5]);
}
