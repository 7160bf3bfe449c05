//! The crate's layering, checked from its source: every `crate::` path in `src/` must point to a
//! top-level module of a lower layer than the one it is written in (or to the module itself), so the
//! stages never import from a stage above them and no import cycle can form between top-level modules.
//!
//! The layers, lowest first (docs/guide/architecture.md):
//!
//! 0. `base`: errors, money, usage, stats — the words every stage uses.
//! 1. `pricing`, `adapters`: what usage costs; providers' payloads turned into usage.
//! 2. `ident`: a call's identity and status, with the catalog it is priced by.
//! 3. `control`: budgets, limits, quotas, alerts.
//! 4. `persist`: the queue's messages, the writer thread, the SQLite store, sinks.
//! 5. `call`: the meter and the trackers — the hot path, which drives the stages below it.
//! 5. `report`: reads the database back (beside `call`: neither imports the other).
//!
//! Paths through the crate root (`crate::Usd`) are resolved through the root's `pub use` lines, so a
//! re-export cannot hide an upward import. Unit-test modules (`#[cfg(test)] mod tests`) are not
//! checked: a test may use anything.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Top-level module → layer.
const LAYERS: &[(&str, u8)] = &[
    ("base", 0),
    ("pricing", 1),
    ("adapters", 1),
    ("ident", 2),
    ("control", 3),
    ("report", 5),
    ("persist", 4),
    ("call", 5),
];

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("src/ is readable")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to; `None` for the crate root and the binaries.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
    match first.as_str() {
        "lib.rs" | "bin" => None,
        name => Some(name.trim_end_matches(".rs").to_owned()),
    }
}

/// The code of a file without its comments, its string literals' contents and its unit-test module.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|line| match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::` path's first segment in `code`, with the names inside `crate::{…}` groups.
fn crate_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // e.g. `$crate::` or an identifier ending in "crate"
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.push(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.push(name);
        }
    }
    out
}

/// Root name → the top-level module it is re-exported from, read from `lib.rs`'s `pub use crate::…`.
fn root_names(lib: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for statement in code_of(lib).split(';') {
        let statement = statement.trim();
        let Some(path) = statement
            .strip_prefix("pub use crate::")
            .or_else(|| statement.strip_prefix("pub use "))
        else {
            continue;
        };
        let module = path
            .split("::")
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let items = match (path.find('{'), path.rfind('}')) {
            (Some(a), Some(b)) => path[a + 1..b].to_owned(),
            _ => path.rsplit("::").next().unwrap_or_default().to_owned(),
        };
        for item in items.split(',') {
            let item = item.trim();
            let name = item.rsplit(" as ").next().unwrap_or(item).trim();
            if !name.is_empty() {
                names.insert(name.to_owned(), module.clone());
            }
        }
    }
    names
}

struct Import {
    file: PathBuf,
    from: String,
    to: String,
}

fn imports() -> Vec<Import> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = fs::read_to_string(src.join("lib.rs")).expect("src/lib.rs is readable");
    let roots = root_names(&lib);
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut out = Vec::new();
    for file in files {
        let Some(from) = module_of(&src, &file) else {
            continue;
        };
        let text = fs::read_to_string(&file).expect("a source file is readable");
        for first in crate_paths(&code_of(&text)) {
            let to = if layer(&first).is_some() {
                first
            } else if let Some(module) = roots.get(&first) {
                module.clone()
            } else {
                // Another crate's name re-exported at the root (`crate::Decimal`) or a macro.
                continue;
            };
            if to != from {
                out.push(Import {
                    file: file.clone(),
                    from: from.clone(),
                    to,
                });
            }
        }
    }
    out
}

#[test]
fn every_top_level_module_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let unknown: BTreeSet<String> = files
        .iter()
        .filter_map(|f| module_of(&src, f))
        .filter(|m| layer(m).is_none())
        .collect();
    assert!(
        unknown.is_empty(),
        "top-level modules without a layer in tests/architecture.rs: {unknown:?}"
    );
}

#[test]
fn no_module_imports_from_its_own_layer_or_above() {
    let imports = imports();
    assert!(
        imports
            .iter()
            .any(|i| i.from == "call" && i.to == "persist"),
        "the scan must see the hot path's imports (call → persist)"
    );
    let upward: Vec<String> = imports
        .iter()
        .filter(|i| layer(&i.to) >= layer(&i.from))
        .map(|i| format!("{} → {} (in {})", i.from, i.to, i.file.display()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(
        upward.is_empty(),
        "imports that point to the same layer or a higher one:\n  {}",
        upward.join("\n  ")
    );
}

#[test]
fn the_top_level_modules_form_no_cycle() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for i in imports() {
        edges.entry(i.from).or_default().insert(i.to);
    }
    // Depth-first search for a back edge.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        if let Some(cycle) = visit(node, &edges, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}", cycle.join(" → "));
        }
    }
}

#[test]
fn the_scanner_reads_groups_and_skips_comments() {
    let code = code_of(
        "use crate::base::{error::Error, money::Usd};\n// use crate::call::x;\nlet a = crate::persist::writer::Event;\n#[cfg(test)]\nmod tests { use crate::call::y; }",
    );
    assert_eq!(crate_paths(&code), ["base", "persist"]);
    let code = code_of("use crate::{Usd, Catalog as C};");
    assert_eq!(crate_paths(&code), ["Usd", "Catalog"]);
    let roots =
        root_names("pub use crate::base::money::{Usd, X};\npub use crate::call::meter::Meter;");
    assert_eq!(roots.get("Usd").map(String::as_str), Some("base"));
    assert_eq!(roots.get("Meter").map(String::as_str), Some("call"));
}
