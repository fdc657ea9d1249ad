//! Configuration files of host services, read under the host root: what the
//! `services`, `logging` and `authentication` probes share.
//!
//! These probes read dozens of small files that may be absent, and any of
//! them may be hostile (enormous, binary, a FIFO, a symlink loop). Every
//! read here is bounded in bytes, every directory listing in entries, and
//! anything that cannot be read becomes a notice naming the file, never a
//! silent default; an absent file is simply absent. `tokens` splits the
//! brace-and-semicolon syntax of named.conf and syslog-ng.conf.

use super::{io_error, read_bounded};
use std::path::{Path, PathBuf};

/// The most bytes read from one configuration file.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// The most files read from one directory or pattern.
pub const MAX_FILES: usize = 256;
/// The most entries (rules, units, services, exports) kept of one kind.
pub const MAX_ENTRIES: usize = 10_000;
/// How deep includes may nest.
pub const MAX_DEPTH: usize = 8;

/// The host's files under its root, with what was read and what could not be.
pub struct HostFiles<'a> {
    pub root: &'a Path,
    /// Host paths of the files read, in order.
    pub read: Vec<String>,
    pub notices: Vec<String>,
}

impl<'a> HostFiles<'a> {
    pub fn new(root: &'a Path) -> Self {
        Self {
            root,
            read: Vec::new(),
            notices: Vec::new(),
        }
    }

    /// `/etc/x` → `<root>/etc/x`.
    pub fn local(&self, host: &str) -> PathBuf {
        self.root.join(host.trim_start_matches('/'))
    }

    /// The path exists (a symlink is followed).
    pub fn exists(&self, host: &str) -> bool {
        self.local(host).exists()
    }

    /// A file's text: `None` when absent (no notice), not a regular file,
    /// larger than [`MAX_FILE_BYTES`] or not text (a notice naming it).
    pub fn text(&mut self, host: &str) -> Option<String> {
        let local = self.local(host);
        match std::fs::metadata(&local) {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                self.notices.push(format!("{host}: not a regular file"));
                return None;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                self.notices.push(io_error(Path::new(host), &e));
                return None;
            }
        }
        match read_bounded(&local, MAX_FILE_BYTES) {
            Ok(t) => {
                self.read.push(host.to_string());
                Some(t)
            }
            Err(e) => {
                let why = if e.kind() == std::io::ErrorKind::InvalidData {
                    "not text (invalid UTF-8)".to_string()
                } else {
                    e.to_string()
                };
                self.notices
                    .push(io_error(Path::new(host), &std::io::Error::other(why)));
                None
            }
        }
    }

    /// The first of `candidates` that exists, read.
    pub fn first(&mut self, candidates: &[&str]) -> Option<(String, String)> {
        let host = candidates.iter().find(|c| self.exists(c))?;
        Some((host.to_string(), self.text(host)?))
    }

    /// Host paths of the entries of a directory whose names `keep` accepts,
    /// sorted, at most [`MAX_FILES`]; an absent directory has none.
    pub fn list(&mut self, dir: &str, keep: impl Fn(&str) -> bool) -> Vec<String> {
        let rd = match std::fs::read_dir(self.local(dir)) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return vec![],
            Err(e) => {
                self.notices.push(io_error(Path::new(dir), &e));
                return vec![];
            }
        };
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| keep(n))
            .take(MAX_ENTRIES)
            .collect();
        names.sort();
        if names.len() > MAX_FILES {
            self.notices.push(format!(
                "{dir}: more than {MAX_FILES} entries, the rest not read"
            ));
            names.truncate(MAX_FILES);
        }
        let dir = dir.trim_end_matches('/');
        names.into_iter().map(|n| format!("{dir}/{n}")).collect()
    }

    /// Host paths of the regular files matching a glob of host paths,
    /// sorted, at most [`MAX_FILES`].
    pub fn glob(&mut self, pattern: &str) -> Vec<String> {
        let root = self.root.display().to_string();
        let local = self.local(pattern).display().to_string();
        let Ok(paths) = glob::glob(&local) else {
            self.notices.push(format!("{pattern}: not a valid pattern"));
            return vec![];
        };
        let mut out: Vec<String> = paths
            .filter_map(Result::ok)
            .take(MAX_ENTRIES)
            .filter(|p| p.is_file())
            .filter_map(|p| {
                let s = p.display().to_string();
                let rel = s.strip_prefix(root.trim_end_matches('/'))?;
                Some(format!("/{}", rel.trim_start_matches('/')))
            })
            .collect();
        out.sort();
        if out.len() > MAX_FILES {
            self.notices.push(format!(
                "{pattern}: more than {MAX_FILES} files, the rest not read"
            ));
            out.truncate(MAX_FILES);
        }
        out
    }
}

/// One token of a brace-structured configuration (named.conf,
/// syslog-ng.conf): a word, a quoted string (without its quotes) or one of
/// `{ } ; ( ) ,`, with the line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub text: String,
    pub quoted: bool,
    pub line: u32,
}

/// Splits `text` into tokens, leaving out `#`, `//` and `/* */` comments.
pub fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1u32;
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            c if c.is_whitespace() => {}
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut star = false;
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                    }
                    if star && c == '/' {
                        break;
                    }
                    star = c == '*';
                }
            }
            '"' | '\'' => {
                let start = line;
                let mut s = String::new();
                while let Some(d) = chars.next() {
                    match d {
                        '\\' => {
                            if let Some(e) = chars.next() {
                                s.push(e);
                            }
                        }
                        d if d == c => break,
                        d => {
                            if d == '\n' {
                                line += 1;
                            }
                            s.push(d)
                        }
                    }
                }
                out.push(Token {
                    text: s,
                    quoted: true,
                    line: start,
                });
            }
            '{' | '}' | ';' | '(' | ')' | ',' => out.push(Token {
                text: c.to_string(),
                quoted: false,
                line,
            }),
            c => {
                let mut s = c.to_string();
                while let Some(&d) = chars.peek() {
                    if d.is_whitespace() || "{};(),\"'#".contains(d) {
                        break;
                    }
                    s.push(d);
                    chars.next();
                }
                out.push(Token {
                    text: s,
                    quoted: false,
                    line,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_leave_comments_out_and_keep_lines() {
        let t = tokens(
            "options { // c\n allow-transfer { \"10.0.0.2\"; none; }; /* x\n y */ };\n# z\nzone",
        );
        let texts: Vec<&str> = t.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "options",
                "{",
                "allow-transfer",
                "{",
                "10.0.0.2",
                ";",
                "none",
                ";",
                "}",
                ";",
                "}",
                ";",
                "zone"
            ]
        );
        assert_eq!(t[2].line, 2);
        assert!(t[4].quoted);
        assert_eq!(t.last().unwrap().line, 5);
    }
}
