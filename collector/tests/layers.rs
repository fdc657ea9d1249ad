//! The collector's layer order, checked against its sources: every
//! `crate::…` path (in `use` trees, expressions and types) and every
//! `super::…` path that climbs to the crate root is an import of one
//! top-level module by another. ARCHITECTURE.md states the same order and
//! invariants in words; a new module must be placed in a layer here too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom to top. A module may import from its own layer and those below,
/// never from above.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "leaves",
        &["actor", "clock", "private", "records", "verdict", "metrics"],
    ),
    (
        "storage and identity",
        &["store", "retention", "pki", "tls", "tokens"],
    ),
    ("the rules engine", &["catalog", "expectations", "rules"]),
    (
        "answers",
        &[
            "checklists",
            "by_hosts",
            "evaluation",
            "access_log",
            "report",
            "availability",
            "assessment",
            "inventory",
        ],
    ),
    (
        "what leaves the collector",
        &["export", "snapshot", "download", "findings"],
    ),
    ("domain operations", &["operations"]),
    ("configuration", &["config"]),
    ("server state", &["state"]),
    ("servers", &["api", "dashboard", "grpc", "control"]),
    ("wiring", &["server"]),
];

type Graph = BTreeMap<String, BTreeSet<String>>;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// `dir`'s `.rs` files, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file: `api/checklists.rs` → [api, checklists],
/// `api/mod.rs` → [api].
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let file = parts.pop().unwrap();
    let stem = file.trim_end_matches(".rs");
    if stem != "mod" {
        parts.push(stem.to_string());
    }
    parts
}

/// `text` without comments, string and character literals (replaced by
/// spaces), so that only code is scanned.
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < c.len() {
        let at = |j: usize| c.get(j).copied().unwrap_or(' ');
        if at(i) == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if at(i) == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if at(i) == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if at(i) == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if at(i) == 'r'
            && (at(i + 1) == '"' || (at(i + 1) == '#' && matches!(at(i + 2), '"' | '#')))
        {
            // A raw string: r"…", r#"…"#, r##"…"##.
            let hashes = c[i + 1..].iter().take_while(|&&h| h == '#').count();
            i += 2 + hashes;
            let end: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            while i < c.len() && !c[i..].starts_with(&end) {
                i += 1;
            }
            i += end.len();
            out.push_str("\"\"");
        } else if at(i) == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if at(i) == '\'' && (at(i + 1) == '\\' || at(i + 2) == '\'') {
            // A character literal ('"', '\n', '\''); a lifetime has no closing quote.
            i += if at(i + 1) == '\\' { 3 } else { 2 };
            while i < c.len() && c[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(at(i));
            i += 1;
        }
    }
    out
}

#[derive(Debug, PartialEq)]
enum Token {
    Ident(String),
    PathSep,
    Open,
    Close,
    Comma,
    Other(char),
}

fn tokens(code: &str) -> Vec<Token> {
    let c: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Token::Ident(c[start..i].iter().collect()));
            continue;
        }
        match ch {
            ':' if c.get(i + 1) == Some(&':') => {
                out.push(Token::PathSep);
                i += 1;
            }
            '{' => out.push(Token::Open),
            '}' => out.push(Token::Close),
            ',' => out.push(Token::Comma),
            w if w.is_whitespace() => {}
            other => out.push(Token::Other(other)),
        }
        i += 1;
    }
    out
}

/// The first segment of each path of a `{…}` use tree starting at `t[i]`
/// (just after the opening brace); returns them and the index after the
/// closing brace.
fn use_tree_heads(t: &[Token], mut i: usize) -> (Vec<String>, usize) {
    let mut heads = Vec::new();
    let mut depth = 1;
    let mut expect_head = true;
    while i < t.len() && depth > 0 {
        match &t[i] {
            Token::Open => depth += 1,
            Token::Close => depth -= 1,
            Token::Comma if depth == 1 => expect_head = true,
            Token::Ident(name) if depth == 1 && expect_head => {
                heads.push(name.clone());
                expect_head = false;
            }
            _ => {}
        }
        i += 1;
    }
    (heads, i)
}

/// The top-level modules `text` (the file of module `module`) refers to
/// through `crate::` or through `super::` climbing to the crate root.
/// Inline modules (`mod tests { … }`) count for `super::`.
fn references(text: &str, module: &[String]) -> BTreeSet<String> {
    let t = tokens(&code_only(text));
    let mut found = BTreeSet::new();
    // The brace depths at which inline modules open.
    let mut inline: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < t.len() {
        match &t[i] {
            Token::Open => depth += 1,
            Token::Close => {
                depth = depth.saturating_sub(1);
                if inline.last() == Some(&depth) {
                    inline.pop();
                }
            }
            Token::Ident(kw)
                if kw == "mod"
                    && matches!(t.get(i + 1), Some(Token::Ident(_)))
                    && t.get(i + 2) == Some(&Token::Open) =>
            {
                inline.push(depth);
                depth += 1;
                i += 3;
                continue;
            }
            Token::Ident(start)
                if (start == "crate" || start == "super")
                    && t.get(i + 1) == Some(&Token::PathSep)
                    && !matches!(i.checked_sub(1).map(|p| &t[p]), Some(Token::Other('$'))) =>
            {
                // How far below the crate root the path starts.
                let mut level = module.len() + inline.len();
                let mut j = i;
                if start == "crate" {
                    level = 0;
                    j += 2;
                } else {
                    while t.get(j) == Some(&Token::Ident("super".into()))
                        && t.get(j + 1) == Some(&Token::PathSep)
                    {
                        level = level.saturating_sub(1);
                        j += 2;
                    }
                }
                if level == 0 {
                    match t.get(j) {
                        Some(Token::Ident(name)) => {
                            found.insert(name.clone());
                        }
                        Some(Token::Open) => {
                            let (heads, end) = use_tree_heads(&t, j + 1);
                            found.extend(heads);
                            i = end;
                            continue;
                        }
                        _ => {}
                    }
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    found
}

/// The import graph of the top-level modules under `src` (lib.rs declares
/// them and main.rs is another crate: neither is a node).
fn graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<String> = files
        .iter()
        .map(|f| module_path(f.strip_prefix(src).unwrap()))
        .filter(|m| !m.is_empty())
        .map(|m| m[0].clone())
        .filter(|m| m != "lib" && m != "main")
        .collect();
    let mut g = Graph::new();
    for f in &files {
        let path = module_path(f.strip_prefix(src).unwrap());
        let Some(top) = path.first().filter(|t| modules.contains(*t)) else {
            continue;
        };
        let text = std::fs::read_to_string(f).unwrap();
        let edges = g.entry(top.clone()).or_default();
        for r in references(&text, &path) {
            if modules.contains(&r) && &r != top {
                edges.insert(r);
            }
        }
    }
    g
}

/// Circles of two or more modules (strongly connected components).
fn circles(g: &Graph) -> Vec<Vec<String>> {
    struct Tarjan<'g> {
        g: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        found: Vec<Vec<String>>,
    }
    impl<'g> Tarjan<'g> {
        fn visit(&mut self, v: &'g str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            for w in self.g.get(v).into_iter().flatten() {
                if !self.index.contains_key(w.as_str()) {
                    self.visit(w);
                    self.low.insert(v, self.low[v].min(self.low[w.as_str()]));
                } else if self.stack.contains(&w.as_str()) {
                    self.low.insert(v, self.low[v].min(self.index[w.as_str()]));
                }
            }
            if self.low[v] == self.index[v] {
                let at = self.stack.iter().position(|x| *x == v).unwrap();
                let component: Vec<String> = self.stack.drain(at..).map(str::to_string).collect();
                if component.len() > 1 {
                    self.found.push(component);
                }
            }
        }
    }
    let mut t = Tarjan {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.found
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, ms)| ms.contains(&module))
}

fn imports<'g>(g: &'g Graph, module: &str) -> &'g BTreeSet<String> {
    g.get(module)
        .unwrap_or_else(|| panic!("no module {module} in collector/src"))
}

/// What of `module`'s imports is not in `allowed`.
fn beyond(g: &Graph, module: &str, allowed: &[&str]) -> Vec<String> {
    imports(g, module)
        .iter()
        .filter(|m| !allowed.contains(&m.as_str()))
        .cloned()
        .collect()
}

#[test]
fn no_import_circles_between_top_level_modules() {
    let g = graph(&src());
    assert!(g.len() > 10, "found the modules: {g:?}");
    let found = circles(&g);
    assert!(found.is_empty(), "import circles: {found:?}\ngraph: {g:#?}");
}

#[test]
fn every_module_sits_in_a_layer_and_imports_only_downwards() {
    let g = graph(&src());
    let unplaced: Vec<&String> = g.keys().filter(|m| layer_of(m).is_none()).collect();
    assert!(
        unplaced.is_empty(),
        "{unplaced:?}: place them in LAYERS here and in ARCHITECTURE.md"
    );
    for (_, modules) in LAYERS {
        for m in *modules {
            assert!(g.contains_key(*m), "LAYERS names {m}, which is gone");
        }
    }
    let upward: Vec<String> = g
        .iter()
        .flat_map(|(m, to)| to.iter().map(move |t| (m, t)))
        .filter(|(m, t)| layer_of(t) > layer_of(m))
        .map(|(m, t)| {
            let name = |x: &str| LAYERS[layer_of(x).unwrap()].0;
            format!("{m} ({}) imports {t} ({})", name(m), name(t))
        })
        .collect();
    assert!(
        upward.is_empty(),
        "imports from a higher layer: {upward:#?}"
    );
}

#[test]
fn the_written_invariants_hold() {
    let g = graph(&src());
    let leaves = LAYERS[0].1;
    for leaf in leaves {
        let allowed: &[&str] = if *leaf == "verdict" {
            &["records"]
        } else {
            &[]
        };
        assert_eq!(
            beyond(&g, leaf, allowed),
            Vec::<String>::new(),
            "the leaf {leaf} knows nothing of the collector"
        );
    }
    assert_eq!(
        beyond(&g, "store", leaves),
        Vec::<String>::new(),
        "the store knows nothing of rules, catalogs or HTTP: it imports only leaves"
    );
    for engine in ["rules", "catalog", "expectations"] {
        assert_eq!(
            beyond(
                &g,
                engine,
                &[leaves, &["catalog", "expectations", "rules"][..]].concat()
            ),
            Vec::<String>::new(),
            "{engine}: rules and catalogs know nothing of the store"
        );
    }
    for (a, b) in [("api", "dashboard"), ("dashboard", "api")] {
        assert!(
            !imports(&g, a).contains(b),
            "the API and the dashboard are siblings: {a} imports {b}"
        );
    }
    let config = layer_of("config").unwrap();
    let state = layer_of("state").unwrap();
    for (m, to) in &g {
        let layer = layer_of(m).unwrap_or(usize::MAX);
        assert!(
            !(layer < config && to.contains("config")),
            "{m}: only modules above config read the whole configuration"
        );
        assert!(
            !(layer < state && to.contains("state")),
            "{m}: only the servers see AppState"
        );
    }
}

#[test]
fn owner_only_files_are_made_in_private_rs_alone() {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut elsewhere = Vec::new();
    for f in files {
        let code = code_only(&std::fs::read_to_string(&f).unwrap());
        for mark in ["OpenOptionsExt", "DirBuilderExt", "from_mode("] {
            if code.contains(mark) && !f.ends_with("private.rs") {
                elsewhere.push(format!("{}: {mark}", f.display()));
            }
        }
    }
    assert!(
        elsewhere.is_empty(),
        "file modes set outside private.rs: {elsewhere:#?}"
    );
}

#[test]
fn references_are_found_in_every_form_and_only_in_code() {
    let text = r#"
        use crate::{store::Store, verdict::{Verdict, Outcome}, clock};
        use super::super::pki::PkiPaths;
        use super::sibling;
        fn f() -> crate::records::Access { crate :: tokens::hash("crate::api"); todo!() }
        // crate::dashboard in a comment
        /* crate::server in a block */
        const C: char = '"'; const S: &str = "crate::state";
        macro_rules! m { () => { $crate::grpc::x() } }
        fn g<'a>(x: &'a str) -> &'a str { crate::report::f(x) }
        mod tests {
            use super::super::super::config::Config;
            use super::*;
        }
    "#;
    let module = ["export".to_string(), "forms".to_string()];
    let found: Vec<String> = references(text, &module).into_iter().collect();
    assert_eq!(
        found,
        ["clock", "config", "pki", "records", "report", "store", "tokens", "verdict"]
    );
}
