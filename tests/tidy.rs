//! Tidy tests: the shape of the house, checked on every `cargo test` (in the spirit of
//! rust-analyzer's `tidy.rs`). Plain std: they read the sources from `CARGO_MANIFEST_DIR`.
//!
//! - a capability reads and writes only its own storage (`features/<a>/store.rs`);
//! - the domain crate stays free of I/O crates;
//! - every `.rs` file opens with a `//!` line saying what it holds;
//! - the top-level modules, and the capabilities under `features/`, form no new cycles.
//!
//! Each check has an allow-list of today's exceptions, commented. They are debts to pay
//! down, not licences: an entry that is no longer needed fails the test too, so the lists
//! only ever shrink.
//!
//! How paths are found: every `crate::a::b::...` (and `super::...`, resolved against the
//! file's module) outside `//` comments, with `use` groups (`crate::a::{b, c::d}`) expanded.
//! A path reached only through an alias (`use crate::features::points; points::store::f()`)
//! is not seen; write the full path in the `use`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, sorted, as paths relative to the repository root.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root().join(dir)];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("read a directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(
                    path.strip_prefix(root())
                        .expect("under the root")
                        .to_path_buf(),
                );
            }
        }
    }
    out.sort();
    out
}

fn read(rel: &Path) -> String {
    fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("read {}: {e}", rel.display()))
}

/// A relative path with `/` separators, for messages and allow-lists.
fn slash(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

// ---------------------------------------------------------------------------------------------
// Paths in the source

/// The module path of a file of the main crate: `src/features/qr/http.rs` is
/// `[features, qr, http]`, `src/features/qr/mod.rs` is `[features, qr]`.
fn module_of(rel: &str) -> Vec<String> {
    let inner = rel.strip_prefix("src/").expect("a file under src/");
    let inner = inner.strip_suffix(".rs").expect("a .rs file");
    let mut parts: Vec<String> = inner.split('/').map(str::to_owned).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The source without `//` comment lines (doc comments name paths that are not dependencies).
fn code_of(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Parses a path tree at `s[*i..]` (after a `::`): `a::b`, `a::{b, c::{d}}`, `*`, `self`.
fn parse_tree(s: &[u8], i: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    while *i < s.len() && s[*i].is_ascii_whitespace() {
        *i += 1;
    }
    if *i < s.len() && s[*i] == b'{' {
        *i += 1;
        loop {
            while *i < s.len() && (s[*i].is_ascii_whitespace() || s[*i] == b',') {
                *i += 1;
            }
            if *i >= s.len() || s[*i] == b'}' {
                *i += 1;
                return;
            }
            parse_tree(s, i, prefix.clone(), out);
            // Skip `as alias` and anything else up to the next item of this group.
            let mut depth = 0;
            while *i < s.len() {
                match s[*i] {
                    b'{' => depth += 1,
                    b'}' if depth == 0 => break,
                    b'}' => depth -= 1,
                    b',' if depth == 0 => break,
                    _ => {}
                }
                *i += 1;
            }
        }
    }
    let start = *i;
    while *i < s.len() && is_ident_byte(s[*i]) {
        *i += 1;
    }
    let ident = String::from_utf8_lossy(&s[start..*i]).into_owned();
    let named = !ident.is_empty();
    let mut path = prefix;
    if named && ident != "self" {
        path.push(ident);
    }
    if named && s[*i..].starts_with(b"::") {
        *i += 2;
        parse_tree(s, i, path, out);
    } else {
        out.push(path);
    }
}

/// Every absolute module path a file of the main crate names, `crate::` left off
/// (`features::qr::store::StoreCode` is `[features, qr, store, StoreCode]`).
fn paths_in(rel: &str, text: &str) -> Vec<Vec<String>> {
    let code = code_of(text);
    let s = code.as_bytes();
    let here = module_of(rel);
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let boundary = i == 0 || !is_ident_byte(s[i - 1]) && s[i - 1] != b':';
        if boundary && s[i..].starts_with(b"crate::") {
            let mut j = i + "crate::".len();
            parse_tree(s, &mut j, Vec::new(), &mut out);
            i = j.max(i + 1);
        } else if boundary && s[i..].starts_with(b"super::") {
            // `super` of a file's module; inside an inline `mod tests` this is one level too
            // high, which only ever names the parent of the file (not another capability).
            let mut base = here.clone();
            let mut j = i;
            while s[j..].starts_with(b"super::") {
                base.pop();
                j += "super::".len();
            }
            parse_tree(s, &mut j, base, &mut out);
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// Capabilities: `features/<name>`, except `campaigns`, whose two halves are separate
/// capabilities (`campaigns/premium`, `campaigns/rebates`).
fn capabilities() -> BTreeSet<String> {
    let mut caps = BTreeSet::new();
    for entry in fs::read_dir(root().join("src/features")).expect("src/features") {
        let path = entry.expect("entry").path();
        if !path.is_dir() {
            continue;
        }
        let name = path
            .file_name()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        if name == "campaigns" {
            for sub in fs::read_dir(&path).expect("src/features/campaigns") {
                let sub = sub.expect("entry").path();
                if sub.is_dir() {
                    caps.insert(format!(
                        "campaigns/{}",
                        sub.file_name().expect("a name").to_string_lossy()
                    ));
                }
            }
        } else {
            caps.insert(name);
        }
    }
    caps
}

/// The capability a module path (without `crate::`) lies in, and the rest of the path in it:
/// `[features, campaigns, rebates, store, X]` is `("campaigns/rebates", [store, X])`.
fn capability_of<'a>(
    path: &'a [String],
    caps: &BTreeSet<String>,
) -> Option<(String, &'a [String])> {
    if path.first().map(String::as_str) != Some("features") {
        return None;
    }
    let two = path.get(1..3).map(|p| p.join("/"));
    if let Some(two) = two.filter(|t| caps.contains(t)) {
        return Some((two, &path[3..]));
    }
    let one = path.get(1)?;
    caps.contains(one).then(|| (one.clone(), &path[2..]))
}

/// All `.rs` files of the main crate's `src/` with their text.
fn main_crate_sources() -> Vec<(String, String)> {
    rust_files(Path::new("src"))
        .into_iter()
        .map(|p| {
            let text = read(&p);
            (slash(&p), text)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// a. A capability's storage is its own

/// Files that reach into a capability's `store` from outside it, as
/// `(file, capability whose store it uses)`. A capability asks another capability's use-cases
/// (its `mod.rs`), not its tables. Each line would be a debt; the test fails on a new one and
/// on a line no longer needed. None is left (the writer's `Known` names no capability: each
/// implements `writer::Fact` for the rows it wants remembered): keep it so.
const FOREIGN_STORE_ALLOWED: &[(&str, &str)] = &[];

#[test]
fn capabilities_use_only_their_own_store() {
    let caps = capabilities();
    let allowed: BTreeSet<(String, String)> = FOREIGN_STORE_ALLOWED
        .iter()
        .map(|(f, c)| (f.to_string(), c.to_string()))
        .collect();
    let mut found = BTreeSet::new();
    for (rel, text) in main_crate_sources() {
        let own = module_of(&rel);
        let own_cap = capability_of(&own, &caps).map(|(c, _)| c);
        let mut paths = paths_in(&rel, &text);
        if rel == "src/main.rs" {
            // The binary names the library as `machipay::`.
            paths.extend(machipay_paths(&text));
        }
        for path in paths {
            let Some((cap, rest)) = capability_of(&path, &caps) else {
                continue;
            };
            if rest.first().map(String::as_str) == Some("store") && own_cap.as_ref() != Some(&cap) {
                found.insert((rel.clone(), cap));
            }
        }
    }
    let new: Vec<_> = found.difference(&allowed).collect();
    let stale: Vec<_> = allowed.difference(&found).collect();
    assert!(
        new.is_empty() && stale.is_empty(),
        "a capability's `store` is used from outside it.\n\
         New uses (ask the capability's use-cases instead, or add a commented entry to \
         FOREIGN_STORE_ALLOWED): {new:#?}\n\
         Entries no longer needed (remove them from FOREIGN_STORE_ALLOWED): {stale:#?}"
    );
}

/// `machipay::a::b` paths of the binary, as `[a, b]`.
fn machipay_paths(text: &str) -> Vec<Vec<String>> {
    let code = code_of(text);
    let s = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let boundary = i == 0 || !is_ident_byte(s[i - 1]) && s[i - 1] != b':';
        if boundary && s[i..].starts_with(b"machipay::") {
            let mut j = i + "machipay::".len();
            parse_tree(s, &mut j, Vec::new(), &mut out);
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// b. The domain crate does no I/O

/// Crates that do I/O or bring a runtime: never a dependency of the domain.
const DOMAIN_FORBIDDEN: &[&str] = &[
    "axum",
    "sqlx",
    "tokio",
    "hyper",
    "tower",
    "tower-http",
    "reqwest",
];

/// Today's dependencies of `machipay-domain`. A new one is a decision: add it here, with a
/// word on why the pure domain needs it.
const DOMAIN_DEPENDENCIES: &[&str] = &[
    "chrono",       // dates, the JST calendar
    "csv",          // the bank and registry file formats
    "encoding_rs",  // Shift_JIS for the Zengin transfer file
    "hex",          // digests shown as text
    "hmac",         // signed QR payloads and tokens
    "rand",         // codes, tokens and ids
    "rust_decimal", // rates (never money)
    "serde",        // the types the API shows
    "serde_json",   // ditto
    "sha2",         // digests of tokens and PINs
    "thiserror",    // domain errors
    "utoipa",       // schema derives only (no server)
    "uuid",         // ids
];

/// Names of the crates in `[dependencies]` (and `[target.*.dependencies]`) of a Cargo.toml.
fn dependencies(toml: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_deps = false;
    for line in toml.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            let header = line.trim_matches(|c| c == '[' || c == ']');
            if let Some(name) = header.strip_prefix("dependencies.") {
                out.push(name.trim().to_owned());
                in_deps = false;
            } else {
                in_deps = header == "dependencies"
                    || header.starts_with("target.") && header.ends_with(".dependencies");
            }
            continue;
        }
        if !in_deps || line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((name, _)) = line.split_once('=') {
            out.push(name.trim().trim_matches('"').to_owned());
        }
    }
    out
}

#[test]
fn domain_crate_has_no_io_dependencies() {
    let toml = read(Path::new("crates/machipay-domain/Cargo.toml"));
    let deps = dependencies(&toml);
    assert!(
        deps.contains(&"chrono".to_owned()),
        "parsed no dependencies: {deps:?}"
    );
    let forbidden: Vec<_> = deps
        .iter()
        .filter(|d| DOMAIN_FORBIDDEN.contains(&d.as_str()))
        .collect();
    assert!(
        forbidden.is_empty(),
        "the domain crate must not depend on I/O crates (they belong to the service): {forbidden:?}"
    );
    let unknown: Vec<_> = deps
        .iter()
        .filter(|d| !DOMAIN_DEPENDENCIES.contains(&d.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "new dependencies of the domain crate: {unknown:?}. If the pure domain really needs \
         them, add them to DOMAIN_DEPENDENCIES in tests/tidy.rs with the reason."
    );
}

// ---------------------------------------------------------------------------------------------
// c. Every file says what it holds

#[test]
fn every_rust_file_opens_with_a_module_doc() {
    let mut dirs = vec![
        PathBuf::from("src"),
        PathBuf::from("tests"),
        PathBuf::from("examples"),
    ];
    for entry in fs::read_dir(root().join("crates")).expect("crates/") {
        let path = entry.expect("entry").path();
        dirs.push(
            path.strip_prefix(root())
                .expect("under the root")
                .join("src"),
        );
    }
    let mut missing = Vec::new();
    for dir in dirs {
        for file in rust_files(&dir) {
            let text = read(&file);
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            if !first.starts_with("//!") {
                missing.push(slash(&file));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "these files do not open with a `//!` line saying what they hold: {missing:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// d. No new module cycles

/// Edges between top-level modules of the main crate that close today's cycles, as
/// `(from, to)`. The check removes them and requires what is left to be acyclic; an entry
/// whose edge is gone fails too. The modules stack up
/// `error < db < writer < app < http < features < demo`. None is left (the writer's `Known`
/// names no capability; each implements `writer::Fact` for its rows): keep it so.
const TOP_LEVEL_CYCLE_EDGES: &[(&str, &str)] = &[];

/// Edges between capabilities that close today's cycles, as `(from, to)`, checked the same
/// way as [`TOP_LEVEL_CYCLE_EDGES`]. The order they break is `directory < reports <
/// merchants < payments < campaigns/premium < campaigns/rebates < expiry < points`: payments
/// is the core the campaigns and the point card build on. None is left: keep it so.
const CAPABILITY_CYCLE_EDGES: &[(&str, &str)] = &[];

/// Strongly connected components with more than one node (or a self-loop), by Tarjan.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'g>(st: &mut State<'g>, v: &'g str) {
        st.index.insert(v, st.next);
        st.low.insert(v, st.next);
        st.next += 1;
        st.stack.push(v);
        st.on_stack.insert(v);
        let graph = st.graph;
        for w in graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !st.index.contains_key(w) {
                visit(st, w);
                let low = st.low[v].min(st.low[w]);
                st.low.insert(v, low);
            } else if st.on_stack.contains(w) {
                let low = st.low[v].min(st.index[w]);
                st.low.insert(v, low);
            }
        }
        if st.low[v] == st.index[v] {
            let mut component = Vec::new();
            while let Some(w) = st.stack.pop() {
                st.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            let self_loop = graph.get(v).is_some_and(|n| n.contains(v));
            if component.len() > 1 || self_loop {
                component.sort();
                st.out.push(component);
            }
        }
    }
    let mut st = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !st.index.contains_key(v.as_str()) {
            visit(&mut st, v);
        }
    }
    st.out
}

/// Fails if the graph, less the allowed edges, has a cycle, or an allowed edge is gone.
fn assert_acyclic(
    what: &str,
    list: &str,
    edges: &BTreeMap<(String, String), BTreeSet<String>>,
    allowed: &[(&str, &str)],
) {
    let allowed: BTreeSet<(String, String)> = allowed
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        if !allowed.contains(&(from.clone(), to.clone())) {
            graph.entry(from.clone()).or_default().insert(to.clone());
        }
    }
    let found = cycles(&graph);
    let explained: Vec<String> = found
        .iter()
        .map(|component| {
            let mut lines = vec![format!("cycle among {component:?}, through:")];
            for ((from, to), files) in edges {
                if component.contains(from) && component.contains(to) && graph[from].contains(to) {
                    lines.push(format!("  {from} -> {to}: {files:?}"));
                }
            }
            lines.join("\n")
        })
        .collect();
    let stale: Vec<_> = allowed.iter().filter(|e| !edges.contains_key(*e)).collect();
    assert!(
        found.is_empty() && stale.is_empty(),
        "{what}: new cycles (point the dependency the other way, or add a commented edge to \
         {list}):\n{}\nEdges in {list} that no longer exist (remove them): {stale:?}",
        explained.join("\n")
    );
}

#[test]
fn top_level_modules_form_no_new_cycles() {
    let mut edges: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for (rel, text) in main_crate_sources() {
        let here = module_of(&rel);
        let Some(from) = here.first().cloned() else {
            continue;
        }; // lib.rs, main.rs
        for path in paths_in(&rel, &text) {
            let Some(to) = path.first() else { continue };
            if *to != from {
                edges
                    .entry((from.clone(), to.clone()))
                    .or_default()
                    .insert(rel.clone());
            }
        }
    }
    assert!(
        edges.contains_key(&("features".into(), "db".into())),
        "parsed no paths: {edges:?}"
    );
    assert_acyclic(
        "top-level modules",
        "TOP_LEVEL_CYCLE_EDGES",
        &edges,
        TOP_LEVEL_CYCLE_EDGES,
    );
}

#[test]
fn capabilities_form_no_new_cycles() {
    let caps = capabilities();
    let mut edges: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for (rel, text) in main_crate_sources() {
        let Some((from, _)) = capability_of(&module_of(&rel), &caps) else {
            continue;
        };
        for path in paths_in(&rel, &text) {
            let Some((to, _)) = capability_of(&path, &caps) else {
                continue;
            };
            if to != from {
                edges
                    .entry((from.clone(), to))
                    .or_default()
                    .insert(rel.clone());
            }
        }
    }
    assert!(!edges.is_empty(), "parsed no paths between capabilities");
    assert_acyclic(
        "capabilities",
        "CAPABILITY_CYCLE_EDGES",
        &edges,
        CAPABILITY_CYCLE_EDGES,
    );
}

// ---------------------------------------------------------------------------------------------
// The parser itself

#[test]
fn paths_are_found_in_use_groups_and_super() {
    let text = "//! x\n\
        // crate::comment::ignored\n\
        use crate::features::{directory::store::{self as dir, Merchant}, qr};\n\
        use super::store::Row;\n\
        fn f() { crate::db::Db::open(); }\n";
    let paths: Vec<String> = paths_in("src/features/points/mod.rs", text)
        .iter()
        .map(|p| p.join("::"))
        .collect();
    assert_eq!(
        paths,
        [
            "features::directory::store",
            "features::directory::store::Merchant",
            "features::qr",
            "features::store::Row",
            "db::Db::open",
        ]
    );
    let paths: Vec<String> = paths_in("src/features/points/cards.rs", "use super::store::Row;")
        .iter()
        .map(|p| p.join("::"))
        .collect();
    assert_eq!(paths, ["features::points::store::Row"]);
}
