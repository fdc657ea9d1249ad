//! Control-file stanzas (`Field: value`, continuation lines indented,
//! stanzas apart by a blank line) as dpkg's status file and apt's package
//! lists write them, streamed: only the fields asked for are kept, so a
//! status file of thousands of packages costs one stanza of memory.

use super::super::{io_error, read_lines_from};
use std::collections::BTreeMap;
use std::path::Path;

/// The most bytes read of one status file or package list (decompressed):
/// Debian's whole main archive list is about 100 MiB.
pub const MAX_BYTES: u64 = 256 * 1024 * 1024;
/// The most stanzas read of one file.
pub const MAX_STANZAS: usize = 200_000;

/// Streams the stanzas of `reader` (named `path` in errors), calling `each`
/// with the `fields` asked for (absent ones empty) and the stanza's first
/// line number. A field line outside `Name: value` form is an error naming
/// the file and line.
pub fn stanzas(
    reader: impl std::io::Read,
    path: &Path,
    fields: &[&str],
    mut each: impl FnMut(&BTreeMap<&str, String>, usize),
) -> Result<(), String> {
    let mut current: BTreeMap<&str, String> = fields.iter().map(|f| (*f, String::new())).collect();
    let (mut n, mut start, mut count) = (0usize, 0usize, 0usize);
    let mut failed: Option<String> = None;
    let mut open = false;
    let read = read_lines_from(reader, path, MAX_BYTES, |line| {
        n += 1;
        if failed.is_some() {
            return;
        }
        if line.trim().is_empty() {
            if open {
                count += 1;
                if count > MAX_STANZAS {
                    failed = Some(format!(
                        "{}: more than {MAX_STANZAS} entries",
                        path.display()
                    ));
                    return;
                }
                each(&current, start);
                current.values_mut().for_each(String::clear);
                open = false;
            }
            return;
        }
        if line.starts_with([' ', '\t']) {
            if !open {
                failed = Some(format!(
                    "{} line {n}: a continuation line outside an entry",
                    path.display()
                ));
            }
            return;
        }
        let Some((name, value)) = line.split_once(':') else {
            failed = Some(format!(
                "{} line {n}: '{}' is not a 'Field: value' line",
                path.display(),
                line.chars().take(60).collect::<String>().escape_debug()
            ));
            return;
        };
        if !open {
            open = true;
            start = n;
        }
        if let Some(v) = fields
            .iter()
            .find(|f| f.eq_ignore_ascii_case(name))
            .and_then(|f| current.get_mut(f))
        {
            v.clear();
            v.push_str(value.trim());
        }
    });
    if let Some(why) = failed {
        return Err(why);
    }
    read.map_err(|e| io_error(path, &e))?;
    if open {
        each(&current, start);
    }
    Ok(())
}

/// One installed package of the dpkg database.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Installed {
    pub name: String,
    pub architecture: String,
    pub version: String,
}

/// Whether a `Status:` value ("want flag status") leaves the package's
/// files on the host: every status but `not-installed` and `config-files`.
pub fn files_present(status: &str) -> bool {
    let state = status.split_whitespace().nth(2).unwrap_or("");
    !state.is_empty() && state != "not-installed" && state != "config-files"
}

/// The installed packages of `var/lib/dpkg/status` under `root`, sorted;
/// `None` when there is no dpkg database.
pub fn installed(root: &Path) -> Result<Option<Vec<Installed>>, String> {
    let host = Path::new("/var/lib/dpkg/status");
    let local = root.join("var/lib/dpkg/status");
    let file = match std::fs::File::open(&local) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(host, &e)),
    };
    let mut out = Vec::new();
    let mut bad: Option<String> = None;
    stanzas(
        file,
        host,
        &["Package", "Status", "Version", "Architecture"],
        |f, line| {
            if bad.is_some() || !files_present(&f["Status"]) {
                return;
            }
            if f["Package"].is_empty() || f["Version"].is_empty() {
                bad = Some(format!(
                    "{} line {line}: an installed package without Package or Version",
                    host.display()
                ));
                return;
            }
            if let Err(e) = super::debversion::check(&f["Version"]) {
                bad = Some(format!("{} line {line}: {e}", host.display()));
                return;
            }
            out.push(Installed {
                name: f["Package"].clone(),
                architecture: f["Architecture"].clone(),
                version: f["Version"].clone(),
            });
        },
    )?;
    if let Some(why) = bad {
        return Err(why);
    }
    out.sort();
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_packages_whose_files_are_there() {
        assert!(files_present("install ok installed"));
        assert!(files_present("hold ok half-configured"));
        assert!(!files_present("deinstall ok config-files"));
        assert!(!files_present("purge ok not-installed"));
        assert!(!files_present(""));
    }

    #[test]
    fn stanzas_keep_the_fields_asked_for() {
        let text = "Package: a\nVersion: 1\nDescription: x\n long\n .\n\n\nPackage: b\nVersion: 2";
        let mut got = Vec::new();
        stanzas(
            text.as_bytes(),
            Path::new("t"),
            &["Package", "Version"],
            |f, l| got.push((f["Package"].clone(), f["Version"].clone(), l)),
        )
        .unwrap();
        assert_eq!(
            got,
            [("a".into(), "1".into(), 1), ("b".into(), "2".into(), 8)]
        );
        let err = stanzas(
            "Package: a\nnonsense\n".as_bytes(),
            Path::new("t"),
            &[],
            |_, _| {},
        )
        .unwrap_err();
        assert!(err.starts_with("t line 2:"), "{err}");
    }
}
