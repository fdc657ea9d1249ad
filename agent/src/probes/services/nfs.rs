//! NFS exports: `/etc/exports` and `/etc/exports.d/*.exports`, one entry per
//! client of each line (exports(5): `path [client[(options)]]...`, a bare
//! `(options)` or no client at all exporting to every host).

use super::super::config_files::{HostFiles, MAX_ENTRIES};
use gamsa_proto::v1::NfsExport;

pub fn exports(f: &mut HostFiles) -> Vec<NfsExport> {
    let mut files = vec!["/etc/exports".to_string()];
    files.extend(f.list("/etc/exports.d", |n| n.ends_with(".exports")));
    let mut out = Vec::new();
    for file in files {
        if let Some(text) = f.text(&file) {
            parse(&file, &text, &mut out);
        }
    }
    out.truncate(MAX_ENTRIES);
    out
}

fn parse(file: &str, text: &str, out: &mut Vec<NfsExport>) {
    let mut pending = String::new();
    let mut start = 0;
    for (n, line) in text.lines().enumerate() {
        if pending.is_empty() {
            start = n as u32 + 1;
        }
        let line = line.split('#').next().unwrap_or_default();
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let entry = std::mem::take(&mut pending);
        let mut words = entry.split_whitespace();
        let Some(path) = words.next() else { continue };
        let path = path.trim_matches('"').to_string();
        // `-options` after the path are the defaults of the line's clients.
        let mut defaults: Vec<String> = vec![];
        let mut clients = Vec::new();
        for w in words {
            if let Some(opts) = w.strip_prefix('-') {
                defaults = opts.split(',').map(String::from).collect();
                continue;
            }
            let (client, options) = match w.split_once('(') {
                Some((c, o)) => (
                    c,
                    o.trim_end_matches(')')
                        .split(',')
                        .map(String::from)
                        .collect(),
                ),
                None => (w, defaults.clone()),
            };
            clients.push((client.to_string(), options));
        }
        if clients.is_empty() {
            clients.push((String::new(), defaults));
        }
        for (client, options) in clients {
            out.push(NfsExport {
                file: file.into(),
                line: start,
                path: path.clone(),
                everyone: client.is_empty() || client == "*",
                client,
                options,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_options_and_everyone() {
        let mut out = vec![];
        parse(
            "/etc/exports",
            "# c\n/srv/a 10.0.0.0/24(rw,sync) *(ro)\n/srv/b \\\n  (rw,no_root_squash)\n/srv/c\n",
            &mut out,
        );
        let got: Vec<(&str, &str, bool, u32)> = out
            .iter()
            .map(|e| (e.path.as_str(), e.client.as_str(), e.everyone, e.line))
            .collect();
        assert_eq!(
            got,
            [
                ("/srv/a", "10.0.0.0/24", false, 2),
                ("/srv/a", "*", true, 2),
                ("/srv/b", "", true, 3),
                ("/srv/c", "", true, 5)
            ]
        );
        assert_eq!(out[2].options, ["rw", "no_root_squash"]);
    }
}
