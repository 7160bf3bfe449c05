//! The crate's layering, checked from its source.
//!
//! Every path a file of `src/` names (in `use` trees, nested groups included, and in expressions:
//! `crate::…`, `super::…`, `self::…`, a child module's name) is resolved to the file that defines
//! it, following the `pub use` re-exports of `lib.rs` and of each folder's `mod.rs`. Then:
//!
//! - a top-level module imports only from a lower layer than its own (so no cycle can form between
//!   them);
//! - within each folder, the files (and sub-folders, each taken as one) form no cycle;
//! - the database bindings (`rusqlite`, `postgres`) are named only where the layering allows them
//!   (see [`DATABASE_OUTSIDE_PERSIST`]);
//! - no string literal outside `persist/` is a SQL statement;
//! - no public item is reachable at two public paths (the crate root and its `pub mod`s).
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
//! Comments, the contents of string and character literals, and unit-test modules
//! (`#[cfg(test)] mod …`) are not read: a test may use anything.

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

/// Files outside `persist/` that still name a database binding, each with the reason. The list only
/// shrinks: a file not on it that names `rusqlite` or `postgres` fails the test, and so does a file
/// on it that no longer does.
const DATABASE_OUTSIDE_PERSIST: &[&str] = &[];

/// Cycles between the files of a folder still to be broken, each with the reason. The list only
/// shrinks: a cycle not on it fails the test, and so does one on it that is gone.
const KNOWN_FILE_CYCLES: &[&str] = &[];

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

/// A file's module path: `src/call/meter.rs` → `call::meter`, `src/call/mod.rs` → `call`, `lib.rs`
/// → the root (empty); `None` for the binaries.
fn module_path(src: &Path, file: &Path) -> Option<Vec<String>> {
    let rel = file.strip_prefix(src).ok()?;
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.first().is_some_and(|p| p == "bin") {
        return None;
    }
    let last = parts.pop()?;
    match last.as_str() {
        "lib.rs" | "mod.rs" => {}
        name => parts.push(name.trim_end_matches(".rs").to_owned()),
    }
    Some(parts)
}

/// The code of a file without its comments, the contents of its string and character literals, and
/// its unit-test modules. Strings become `""`, so a `//` or a brace inside one changes nothing.
fn code_of(text: &str) -> String {
    without_test_modules(&scan(text, &mut None))
}

/// The contents of the string literals of `text` outside comments and unit-test modules.
fn literals_of(text: &str) -> Vec<String> {
    let mut literals = Some(Vec::new());
    let code = without_test_modules(&scan(text, &mut literals));
    let literals = literals.unwrap_or_default();
    // What is left of the code holds each literal kept as `"N"`, N its index.
    code.split('"')
        .skip(1)
        .step_by(2)
        .filter_map(|n| n.parse::<usize>().ok())
        .filter_map(|n| literals.get(n).cloned())
        .collect()
}

/// `text` without comments, each string literal emptied (or, when `literals` is given, replaced by
/// its index there, its contents pushed) and each character literal blanked.
fn scan(text: &str, literals: &mut Option<Vec<String>>) -> String {
    let mut literal = |contents: &[char], out: &mut String| match literals {
        Some(list) => {
            out.push_str(&format!("\"{}\"", list.len()));
            list.push(contents.iter().collect());
        }
        None => out.push_str("\"\""),
    };
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
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
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !chars[..i]
                .last()
                .is_some_and(|p| p.is_alphanumeric() || *p == '_')
        {
            // A raw string: r"…", r#"…"#, …
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            let start = j;
            let mut end = chars.len();
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (0..hashes).all(|k| chars.get(j + 1 + k) == Some(&'#')) {
                    end = j;
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            literal(&chars[start..end], &mut out);
            i = j;
        } else if c == '"' {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '"' {
                if chars[j] == '\\' {
                    j += 1;
                }
                j += 1;
            }
            literal(
                &chars[(i + 1).min(chars.len())..j.min(chars.len())],
                &mut out,
            );
            i = j + 1;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if next == Some('\\') {
                let mut j = i + 2;
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                out.push_str("' '");
                i = j + 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                out.push_str("' '");
                i += 3;
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// `code` without the `#[cfg(test)] mod NAME { … }` blocks.
fn without_test_modules(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(i) = rest.find("#[cfg(test)]") {
        let after = rest[i + "#[cfg(test)]".len()..].trim_start();
        let is_module = after.starts_with("mod ") || after.starts_with("pub(crate) mod ");
        let open = after.find('{');
        match (is_module, open) {
            (true, Some(open)) if !after[..open].contains(';') => {
                out.push_str(&rest[..i]);
                let body = &after[open..];
                let mut depth = 0;
                let mut end = body.len();
                for (k, c) in body.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = k + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                rest = &body[end..];
            }
            _ => {
                out.push_str(&rest[..i + "#[cfg(test)]".len()]);
                rest = &rest[i + "#[cfg(test)]".len()..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The paths a `use` tree names, each with the name it is known by (`a::{b, c::{d, e as f}, self}`
/// → `a::b` as `b`, `a::c::d` as `d`, `a::c::e` as `f`, `a` as `a`).
fn use_tree(tree: &str) -> Vec<(Vec<String>, String)> {
    fn parse(tree: &str, prefix: &[String], out: &mut Vec<(Vec<String>, String)>) {
        let tree = tree.trim();
        if tree.is_empty() {
            return;
        }
        match tree.find('{') {
            Some(open) => {
                let head = tree[..open].trim().trim_end_matches("::");
                let mut path = prefix.to_vec();
                path.extend(segments(head));
                let close = tree.rfind('}').unwrap_or(tree.len());
                for item in split_top(&tree[open + 1..close]) {
                    parse(item, &path, out);
                }
            }
            None => {
                let (tree, alias) = match tree.split_once(" as ") {
                    Some((t, a)) => (t, Some(a.trim().to_owned())),
                    None => (tree, None),
                };
                let mut path = prefix.to_vec();
                for s in segments(tree) {
                    if s != "self" || path.is_empty() {
                        path.push(s);
                    }
                }
                let name = alias.unwrap_or_else(|| path.last().cloned().unwrap_or_default());
                out.push((path, name));
            }
        }
    }
    let mut out = Vec::new();
    parse(tree, &[], &mut out);
    out
}

fn segments(path: &str) -> Vec<String> {
    path.split("::")
        .map(|s| s.trim().trim_start_matches("r#").to_owned())
        .filter(|s| !s.is_empty() && s != "*")
        .collect()
}

/// `a, b::{c, d}, e` split at the commas outside braces.
fn split_top(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// A parsed file: the paths it names, and the `use` items it re-exports (`pub use` of any
/// visibility), by the name they are re-exported under.
#[derive(Default)]
struct Names {
    paths: Vec<Vec<String>>,
    exports: BTreeMap<String, Vec<String>>,
    /// The re-exports that are `pub` (not `pub(crate)` or narrower).
    public: BTreeMap<String, Vec<String>>,
}

/// Every `use` tree and every `crate::`, `super::` or `self::` path of `code`.
fn names_of(code: &str) -> Names {
    let mut names = Names::default();
    let mut rest = String::new();
    let mut text = code;
    // `use` statements, found at a word boundary.
    while let Some(i) = find_word(text, "use") {
        let Some(end) = text[i..].find(';') else {
            break;
        };
        let statement = &text[i + 3..i + end];
        let before = text[..i].trim_end();
        let exported = before.ends_with("pub") || before.ends_with(')');
        rest.push_str(&text[..i]);
        let public = before.ends_with("pub") && !before.ends_with("(pub");
        for (path, name) in use_tree(statement) {
            if public {
                names.public.insert(name.clone(), path.clone());
            }
            if exported {
                names.exports.insert(name, path.clone());
            }
            names.paths.push(path);
        }
        text = &text[i + end + 1..];
    }
    rest.push_str(text);
    // Paths in expressions and types.
    for start in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(k) = rest[from..].find(start) {
            let at = from + k;
            from = at + start.len();
            if rest[..at]
                .chars()
                .last()
                .is_some_and(|c| is_ident(c) || c == ':' || c == '$')
            {
                continue;
            }
            let path: String = rest[at..]
                .chars()
                .take_while(|c| is_ident(*c) || *c == ':')
                .collect();
            names.paths.push(segments(&path));
        }
    }
    names
}

/// The position of `word` in `text` as a whole word.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(k) = text[from..].find(word) {
        let at = from + k;
        let before = text[..at].chars().last();
        let after = text[at + word.len()..].chars().next();
        if !before.is_some_and(is_ident) && after.is_some_and(char::is_whitespace) {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// The crate's files, as modules.
struct Crate {
    /// Module path → its file and what it names.
    modules: BTreeMap<Vec<String>, (PathBuf, Names)>,
}

impl Crate {
    fn read() -> Crate {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let modules = files
            .into_iter()
            .filter_map(|file| {
                let module = module_path(&src, &file)?;
                let text = fs::read_to_string(&file).expect("a source file is readable");
                Some((module, (file, names_of(&code_of(&text)))))
            })
            .collect();
        Crate { modules }
    }

    /// The absolute path `path` names from inside `module`, or `None` for another crate's.
    fn absolute(&self, module: &[String], path: &[String]) -> Option<Vec<String>> {
        let (first, rest) = path.split_first()?;
        let mut base: Vec<String> = match first.as_str() {
            "crate" => Vec::new(),
            "self" => module.to_vec(),
            "super" => {
                let mut m = module.to_vec();
                m.pop();
                let mut rest = rest;
                while rest.first().is_some_and(|s| s == "super") {
                    m.pop();
                    rest = &rest[1..];
                }
                m.extend(rest.iter().cloned());
                return Some(m);
            }
            name => {
                // A child module of this one, named without `self::`.
                let mut child = module.to_vec();
                child.push(name.to_owned());
                if self.modules.contains_key(&child) {
                    child.extend(rest.iter().cloned());
                    return Some(child);
                }
                return None;
            }
        };
        base.extend(rest.iter().cloned());
        Some(base)
    }

    /// The module (file) that defines what `path` names: the longest prefix that is a module, then
    /// through that module's re-exports.
    fn target(&self, path: &[String], depth: u8) -> Vec<String> {
        let mut prefix = path.to_vec();
        while !prefix.is_empty() && !self.modules.contains_key(&prefix) {
            prefix.pop();
        }
        if depth < 8
            && let Some(name) = path.get(prefix.len())
            && let Some((_, names)) = self.modules.get(&prefix)
            && let Some(exported) = names.exports.get(name)
            && let Some(next) = self.absolute(&prefix, exported)
            && next != path
        {
            return self.target(&next, depth + 1);
        }
        prefix
    }

    /// The item `path` names, through the re-exports on its way: its defining module's path and its
    /// name.
    fn item(&self, path: &[String], depth: u8) -> Vec<String> {
        let mut prefix = path.to_vec();
        while !prefix.is_empty() && !self.modules.contains_key(&prefix) {
            prefix.pop();
        }
        if depth < 8
            && let Some(name) = path.get(prefix.len())
            && let Some((_, names)) = self.modules.get(&prefix)
            && let Some(exported) = names.exports.get(name)
            && let Some(mut next) = self.absolute(&prefix, exported)
        {
            next.extend(path[prefix.len() + 1..].iter().cloned());
            if next != path {
                return self.item(&next, depth + 1);
            }
        }
        path.to_vec()
    }

    /// Every import between two modules: (from, to, file).
    fn imports(&self) -> Vec<(Vec<String>, Vec<String>, PathBuf)> {
        let mut out = Vec::new();
        for (module, (file, names)) in &self.modules {
            for path in &names.paths {
                let Some(absolute) = self.absolute(module, path) else {
                    continue;
                };
                let to = self.target(&absolute, 0);
                if &to != module {
                    out.push((module.clone(), to, file.clone()));
                }
            }
        }
        out
    }
}

/// The first cycle in `edges`, if any.
fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
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
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut Vec::new(), &mut done))
}

#[test]
fn every_top_level_module_has_a_layer() {
    let unknown: BTreeSet<String> = Crate::read()
        .modules
        .keys()
        .filter_map(|m| m.first().cloned())
        .filter(|m| layer(m).is_none())
        .collect();
    assert!(
        unknown.is_empty(),
        "top-level modules without a layer in tests/architecture.rs: {unknown:?}"
    );
}

#[test]
fn no_module_imports_from_its_own_layer_or_above() {
    let imports = Crate::read().imports();
    let top = |m: &[String]| m.first().cloned().unwrap_or_default();
    assert!(
        imports
            .iter()
            .any(|(from, to, _)| top(from) == "call" && top(to) == "persist"),
        "the scan must see the hot path's imports (call → persist)"
    );
    let upward: BTreeSet<String> = imports
        .iter()
        .filter(|(from, to, _)| {
            let (f, t) = (top(from), top(to));
            !f.is_empty() && !t.is_empty() && f != t && layer(&t) >= layer(&f)
        })
        .map(|(from, to, file)| format!("{} → {} (in {})", top(from), top(to), file.display()))
        .collect();
    assert!(
        upward.is_empty(),
        "imports that point to the same layer or a higher one:\n  {}",
        upward.into_iter().collect::<Vec<_>>().join("\n  ")
    );
}

#[test]
fn the_top_level_modules_form_no_cycle() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to, _) in Crate::read().imports() {
        if let (Some(f), Some(t)) = (from.first(), to.first())
            && f != t
        {
            edges.entry(f.clone()).or_default().insert(t.clone());
        }
    }
    if let Some(cycle) = cycle(&edges) {
        panic!("import cycle: {}", cycle.join(" → "));
    }
}

/// Within each folder, its files and sub-folders (each sub-folder one node, `mod.rs` the folder's
/// own node) import each other without a cycle.
#[test]
fn the_files_of_each_folder_form_no_cycle() {
    let krate = Crate::read();
    let folders: BTreeSet<Vec<String>> = krate
        .modules
        .iter()
        .filter(|(_, (file, _))| file.ends_with("mod.rs") || file.ends_with("lib.rs"))
        .map(|(m, _)| m.clone())
        .collect();
    let mut cycles = Vec::new();
    for folder in &folders {
        // The node of `folder` a module lies in: `mod` for the folder's own file, else the child.
        let node = |m: &[String]| -> Option<String> {
            if !m.starts_with(folder) {
                return None;
            }
            Some(
                m.get(folder.len())
                    .cloned()
                    .unwrap_or_else(|| "mod".to_owned()),
            )
        };
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to, _) in krate.imports() {
            if let (Some(f), Some(t)) = (node(&from), node(&to))
                && f != t
            {
                edges.entry(f).or_default().insert(t);
            }
        }
        if let Some(cycle) = cycle(&edges) {
            cycles.push(format!("{}: {}", folder.join("::"), cycle.join(" → ")));
        }
    }
    let known: Vec<String> = KNOWN_FILE_CYCLES.iter().map(|c| (*c).to_owned()).collect();
    let new: Vec<&String> = cycles.iter().filter(|c| !known.contains(c)).collect();
    assert!(
        new.is_empty(),
        "cycles between the files of a folder:\n  {}",
        new.iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join("\n  ")
    );
    let gone: Vec<&String> = known.iter().filter(|c| !cycles.contains(c)).collect();
    assert!(
        gone.is_empty(),
        "these cycles are gone: take them off KNOWN_FILE_CYCLES: {gone:?}"
    );
}

#[test]
fn the_database_bindings_are_named_only_where_allowed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let krate = Crate::read();
    let mut named = BTreeSet::new();
    for (module, (file, names)) in &krate.modules {
        let text = code_of(&fs::read_to_string(file).expect("readable"));
        let binds = names.paths.iter().any(|p| {
            p.first()
                .is_some_and(|s| s == "rusqlite" || s == "postgres")
        }) || text.contains("rusqlite::")
            || text.contains("postgres::");
        if binds && module.first().is_none_or(|m| m != "persist") {
            let rel = file.strip_prefix(root).unwrap_or(file);
            named.insert(rel.display().to_string());
        }
    }
    let allowed: BTreeSet<String> = DATABASE_OUTSIDE_PERSIST
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let new: Vec<_> = named.difference(&allowed).collect();
    assert!(
        new.is_empty(),
        "files outside persist/ that name rusqlite or postgres (SQL belongs in persist): {new:?}"
    );
    let gone: Vec<_> = allowed.difference(&named).collect();
    assert!(
        gone.is_empty(),
        "these no longer name a database binding: take them off DATABASE_OUTSIDE_PERSIST: {gone:?}"
    );
}

/// The modules of the public API: the crate root and the `pub mod`s of `lib.rs` (the others are
/// private, so what they define is public only where a public module re-exports it).
fn public_modules(krate: &Crate) -> Vec<Vec<String>> {
    let (lib, _) = &krate.modules[&Vec::new()];
    let code = code_of(&fs::read_to_string(lib).expect("lib.rs is readable"));
    let mut out = vec![Vec::new()];
    let mut text = code.as_str();
    while let Some(i) = find_word(text, "mod") {
        let before = text[..i].trim_end();
        let after = text[i + 3..].trim_start();
        let name: String = after.chars().take_while(|c| is_ident(*c)).collect();
        // `pub mod name;`, a file of its own (not an inline module such as `guide`'s chapters).
        let declared = after[name.len()..].trim_start().starts_with(';');
        if declared
            && before.ends_with("pub")
            && !before.ends_with("(pub")
            && krate.modules.contains_key(&vec![name.clone()])
        {
            out.push(vec![name]);
        }
        text = &text[i + 3..];
    }
    out
}

#[test]
fn no_public_name_is_at_two_paths() {
    let krate = Crate::read();
    let modules = public_modules(&krate);
    assert!(
        modules.len() >= 5,
        "the public modules were not found: {modules:?}"
    );
    // Item → the public paths it is reachable at.
    let mut at: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
    for module in &modules {
        let (_, names) = &krate.modules[module];
        for (name, path) in &names.public {
            let item = match krate.absolute(module, path) {
                Some(absolute) => krate.item(&absolute, 0),
                // Another crate's item (`chrono`, `Decimal`).
                None => [vec!["extern".to_owned()], path.clone()].concat(),
            };
            let public = ["callmeter".to_owned()]
                .iter()
                .chain(module)
                .chain([name])
                .cloned()
                .collect::<Vec<_>>()
                .join("::");
            at.entry(item).or_default().push(public);
        }
    }
    let twice: Vec<_> = at.values().filter(|paths| paths.len() > 1).collect();
    assert!(twice.is_empty(), "public names at two paths: {twice:?}");
    assert!(
        at.len() > 100,
        "only {} public names found: the scan lost some",
        at.len()
    );
}

/// Whether a string literal is a SQL statement (callmeter writes SQL's keywords in capitals).
fn is_sql(literal: &str) -> bool {
    let words: Vec<&str> = literal.split_whitespace().collect();
    let has = |w: &str| words.contains(&w);
    let pair = |a: &str, b: &str| words.windows(2).any(|p| p[0] == a && p[1] == b);
    (has("SELECT") && has("FROM"))
        || pair("INSERT", "INTO")
        || pair("INSERT", "OR")
        || (has("UPDATE") && has("SET"))
        || pair("DELETE", "FROM")
        || pair("CREATE", "TABLE")
        || pair("CREATE", "INDEX")
        || has("PRAGMA")
        || literal.trim_start().starts_with("PRAGMA")
}

#[test]
fn every_sql_statement_is_in_persist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let persist = root.join("src").join("persist");
    let mut outside = Vec::new();
    let mut inside = 0;
    for file in &files {
        let text = fs::read_to_string(file).expect("readable");
        for literal in literals_of(&text) {
            if !is_sql(&literal) {
                continue;
            }
            if file.starts_with(&persist) {
                inside += 1;
            } else {
                let rel = file.strip_prefix(root).unwrap_or(file);
                let first = literal.split_whitespace().collect::<Vec<_>>().join(" ");
                outside.push(format!(
                    "{}: {}",
                    rel.display(),
                    first.chars().take(60).collect::<String>()
                ));
            }
        }
    }
    assert!(
        outside.is_empty(),
        "SQL outside src/persist/ (queries belong in persist, reports read through persist::read):\n{}",
        outside.join("\n")
    );
    // The scan sees the statements where they are.
    assert!(
        inside > 40,
        "only {inside} SQL statements found in persist/"
    );
}

#[test]
fn the_scanner_finds_sql_in_literals_but_not_in_comments_or_tests() {
    let text = "// SELECT a FROM b\n\
                const Q: &str = \"SELECT x\\\" FROM t\";\n\
                const R: &str = r#\"DELETE FROM \"t\"\"#;\n\
                const S: &str = \"selected from the menu\";\n\
                #[cfg(test)]\nmod tests { const T: &str = \"UPDATE t SET a = 1\"; }\n";
    let sql: Vec<String> = literals_of(text)
        .into_iter()
        .filter(|l| is_sql(l))
        .collect();
    assert_eq!(sql, ["SELECT x\\\" FROM t", "DELETE FROM \"t\""]);
}

#[test]
fn the_scanner_reads_nested_groups_strings_and_comments() {
    let code = code_of(
        "use crate::{a::{b, c::D}, e::f as G};\n\
         let s = \"// not a comment { \"; let u = crate::h::I;\n\
         let r = r#\"crate::j\"#; let c = '{'; let l: &'a str = x;\n\
         /* crate::k */ // crate::l\n\
         #[cfg(test)]\nmod tests { use crate::m; fn f() { let x = \"}\"; } }\n\
         fn after() { crate::n::O; }",
    );
    let names = names_of(&code);
    let paths: Vec<String> = names.paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        paths,
        [
            "crate::a::b",
            "crate::a::c::D",
            "crate::e::f",
            "crate::h::I",
            "crate::n::O"
        ]
    );
    let names = names_of(&code_of("pub(crate) use self::x::{Y as Z, W};"));
    assert_eq!(
        names.exports.get("Z").map(|p| p.join("::")).as_deref(),
        Some("self::x::Y")
    );
    assert_eq!(
        names.exports.get("W").map(|p| p.join("::")).as_deref(),
        Some("self::x::W")
    );
}
