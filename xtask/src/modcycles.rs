//! Import circles between the modules of a crate: `cargo xtask modcycles`.
//!
//! Each crate's module tree is read from its roots (`src/lib.rs`,
//! `src/main.rs`, `src/bin/*`) by following `mod name;` declarations;
//! a module declared inline (`mod tests { .. }`) is a module of its own.
//! A module depends on another when it names it by a path that starts
//! with `crate::`, `super::`, `self::` or a child module's name, in a
//! `use` declaration or in code; the path resolves to the deepest module
//! it names. Two things are not dependencies: a `mod`
//! declaration (a parent that declares a child depends on it only if it
//! uses it), and a module's use of its own ancestors (`super::Error`,
//! `crate::Error`: what encloses a module is its scope, as for a device's
//! `device.rs` and its `mod.rs`). Modules in one strongly connected
//! component of more than one module form a circle: siblings or cousins
//! that use each other, directly or around a loop. A circle is shown as
//! the files of its modules (`file.rs::inline` for an inline one).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Why a crate could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ModCyclesError {
    #[error("reading {}", .0.display())]
    Read(PathBuf, #[source] std::io::Error),
    #[error("no `members` list in {}", .0.display())]
    Members(PathBuf),
}

/// The modules of one crate that import each other in a circle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Circle {
    /// Their files, relative to the crate's directory (with `::name` for
    /// an inline module), sorted.
    pub modules: Vec<String>,
}

/// The circles of every crate of the workspace at `workspace`, by crate
/// directory (relative to `workspace`).
pub fn workspace_circles(
    workspace: &Path,
) -> Result<BTreeMap<PathBuf, Vec<Circle>>, ModCyclesError> {
    let mut found = BTreeMap::new();
    for member in workspace_members(workspace)? {
        let dir = workspace.join(&member);
        found.insert(member, crate_circles(&dir)?);
    }
    Ok(found)
}

/// The member directories listed in the workspace's `Cargo.toml`.
fn workspace_members(workspace: &Path) -> Result<Vec<PathBuf>, ModCyclesError> {
    let manifest = workspace.join("Cargo.toml");
    let text = read(&manifest)?;
    let list = text
        .split_once("members")
        .and_then(|(_, rest)| rest.split_once('['))
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list)
        .ok_or_else(|| ModCyclesError::Members(manifest.clone()))?;
    Ok(list
        .split(',')
        .map(|item| item.trim().trim_matches('"'))
        .filter(|item| !item.is_empty())
        .map(PathBuf::from)
        .collect())
}

/// The circles among the modules of the crates rooted in `dir/src`.
pub fn crate_circles(dir: &Path) -> Result<Vec<Circle>, ModCyclesError> {
    let src = dir.join("src");
    let mut roots: Vec<PathBuf> = ["lib.rs", "main.rs"]
        .iter()
        .map(|name| src.join(name))
        .filter(|path| path.is_file())
        .collect();
    if let Ok(entries) = std::fs::read_dir(src.join("bin")) {
        let mut bins: Vec<PathBuf> = entries
            .flatten()
            .map(|entry| entry.path())
            .filter_map(|path| match path.extension() {
                Some(ext) if ext == "rs" => Some(path),
                _ if path.join("main.rs").is_file() => Some(path.join("main.rs")),
                _ => None,
            })
            .collect();
        bins.sort();
        roots.extend(bins);
    }
    let mut circles = Vec::new();
    for root in roots {
        let graph = ModuleGraph::read(&root)?;
        for component in graph.circles() {
            let mut modules: Vec<String> = component
                .iter()
                .map(|&module| graph.name(module, dir))
                .collect();
            modules.sort();
            let circle = Circle { modules };
            if !circles.contains(&circle) {
                circles.push(circle);
            }
        }
    }
    Ok(circles)
}

fn read(path: &Path) -> Result<String, ModCyclesError> {
    std::fs::read_to_string(path).map_err(|e| ModCyclesError::Read(path.to_path_buf(), e))
}

/// A module: its place in the tree, and the file it is written in.
#[derive(Debug)]
struct Module {
    name: String,
    parent: Option<usize>,
    children: BTreeMap<String, usize>,
    file: usize,
}

/// The module tree of one crate root and the paths each module names.
#[derive(Default)]
struct ModuleGraph {
    files: Vec<PathBuf>,
    modules: Vec<Module>,
    /// (the module a path is named in, the path's segments).
    paths: Vec<(usize, Vec<String>)>,
}

impl ModuleGraph {
    fn read(root: &Path) -> Result<Self, ModCyclesError> {
        let mut graph = ModuleGraph::default();
        graph.add_file(root, String::new(), None, true)?;
        Ok(graph)
    }

    /// Reads `path` as the file of a new module under `parent`; `owns_dir`
    /// says whether its children live beside it (`lib.rs`, `mod.rs`,
    /// `main.rs`) or in a directory of its name.
    fn add_file(
        &mut self,
        path: &Path,
        name: String,
        parent: Option<usize>,
        owns_dir: bool,
    ) -> Result<usize, ModCyclesError> {
        let text = read(path)?;
        let file = self.files.len();
        self.files.push(path.to_path_buf());
        let module = self.new_module(name, parent, file);
        let child_dir = if owns_dir {
            path.parent().map(Path::to_path_buf).unwrap_or_default()
        } else {
            path.with_extension("")
        };
        let tokens = tokenize(&text);
        // The inline modules open at each brace depth.
        let mut scopes: Vec<(usize, usize)> = Vec::new();
        let mut current = module;
        let mut depth = 0usize;
        let mut i = 0;
        while i < tokens.len() {
            match tokens[i].as_str() {
                "{" => depth += 1,
                "}" => {
                    depth = depth.saturating_sub(1);
                    if scopes.last().is_some_and(|(d, _)| *d == depth) {
                        scopes.pop();
                        current = scopes.last().map_or(module, |(_, m)| *m);
                    }
                }
                "mod" if tokens.get(i + 1).is_some_and(|t| is_ident(t)) => {
                    let name = tokens[i + 1].clone();
                    match tokens.get(i + 2).map(String::as_str) {
                        Some(";") => {
                            let (flat, nested) = (
                                child_dir.join(format!("{name}.rs")),
                                child_dir.join(&name).join("mod.rs"),
                            );
                            let child = if flat.is_file() {
                                self.add_file(&flat, name.clone(), Some(current), false)?
                            } else if nested.is_file() {
                                self.add_file(&nested, name.clone(), Some(current), true)?
                            } else {
                                // `#[path]` or generated: not followed.
                                i += 3;
                                continue;
                            };
                            self.modules[current].children.insert(name, child);
                            i += 3;
                            continue;
                        }
                        Some("{") => {
                            let inline = self.new_module(name.clone(), Some(current), file);
                            self.modules[current].children.insert(name, inline);
                            scopes.push((depth, inline));
                            current = inline;
                            depth += 1;
                            i += 3;
                            continue;
                        }
                        _ => {}
                    }
                }
                "use" => {
                    let end = tokens[i..]
                        .iter()
                        .position(|t| t == ";")
                        .map_or(tokens.len(), |p| i + p);
                    for path in use_paths(&tokens[i + 1..end]) {
                        self.paths.push((current, path));
                    }
                    i = end;
                    continue;
                }
                // A path in code, unless it continues one (`<T>::a::b`).
                token
                    if is_ident(token)
                        && tokens.get(i + 1).is_some_and(|t| t == "::")
                        && (i == 0 || tokens[i - 1] != "::") =>
                {
                    let mut path = vec![token.to_string()];
                    let mut j = i + 1;
                    while tokens.get(j).is_some_and(|t| t == "::")
                        && tokens.get(j + 1).is_some_and(|t| is_ident(t))
                    {
                        path.push(tokens[j + 1].clone());
                        j += 2;
                    }
                    self.paths.push((current, path));
                    i = j;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
        Ok(module)
    }

    fn new_module(&mut self, name: String, parent: Option<usize>, file: usize) -> usize {
        self.modules.push(Module {
            name,
            parent,
            children: BTreeMap::new(),
            file,
        });
        self.modules.len() - 1
    }

    /// The module `path`, named in module `from`, leads to, if it is one
    /// of this crate's.
    fn resolve(&self, from: usize, path: &[String]) -> Option<usize> {
        let (mut module, rest) = match path.first()?.as_str() {
            "crate" => (self.root(from), &path[1..]),
            "self" => (from, &path[1..]),
            "super" => {
                let mut module = from;
                let mut rest = path;
                while rest.first().is_some_and(|s| s == "super") {
                    module = self.modules[module].parent?;
                    rest = &rest[1..];
                }
                (module, rest)
            }
            first if self.modules[from].children.contains_key(first) => (from, path),
            _ => return None,
        };
        for segment in rest {
            match self.modules[module].children.get(segment) {
                Some(child) => module = *child,
                None => break,
            }
        }
        Some(module)
    }

    /// Whether `outer` is `inner` or one of its ancestors.
    fn encloses(&self, outer: usize, inner: usize) -> bool {
        let mut module = Some(inner);
        while let Some(m) = module {
            if m == outer {
                return true;
            }
            module = self.modules[m].parent;
        }
        false
    }

    fn root(&self, mut module: usize) -> usize {
        while let Some(parent) = self.modules[module].parent {
            module = parent;
        }
        module
    }

    /// Which modules each module depends on.
    fn edges(&self) -> Vec<BTreeSet<usize>> {
        let mut edges = vec![BTreeSet::new(); self.modules.len()];
        for (from, path) in &self.paths {
            if let Some(target) = self.resolve(*from, path) {
                if !self.encloses(target, *from) {
                    edges[*from].insert(target);
                }
            }
        }
        edges
    }

    /// `module`'s file relative to `dir`, with the names of the inline
    /// modules down to it.
    fn name(&self, module: usize, dir: &Path) -> String {
        let file = &self.files[self.modules[module].file];
        let mut inline = Vec::new();
        let mut m = module;
        while let Some(parent) = self.modules[m].parent {
            if self.modules[parent].file != self.modules[module].file {
                break;
            }
            inline.push(self.modules[m].name.as_str());
            m = parent;
        }
        let mut name = file.strip_prefix(dir).unwrap_or(file).display().to_string();
        for part in inline.iter().rev() {
            name.push_str("::");
            name.push_str(part);
        }
        name
    }

    /// The strongly connected components of more than one module (Tarjan).
    fn circles(&self) -> Vec<Vec<usize>> {
        let edges = self.edges();
        let mut tarjan = Tarjan {
            edges: &edges,
            index: vec![None; edges.len()],
            low: vec![0; edges.len()],
            on_stack: vec![false; edges.len()],
            stack: Vec::new(),
            next: 0,
            components: Vec::new(),
        };
        for file in 0..edges.len() {
            if tarjan.index[file].is_none() {
                tarjan.visit(file);
            }
        }
        tarjan
            .components
            .into_iter()
            .filter(|component| component.len() > 1)
            .collect()
    }
}

struct Tarjan<'a> {
    edges: &'a [BTreeSet<usize>],
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    next: usize,
    components: Vec<Vec<usize>>,
}

impl Tarjan<'_> {
    fn visit(&mut self, node: usize) {
        self.index[node] = Some(self.next);
        self.low[node] = self.next;
        self.next += 1;
        self.stack.push(node);
        self.on_stack[node] = true;
        for &next in &self.edges[node] {
            match self.index[next] {
                None => {
                    self.visit(next);
                    self.low[node] = self.low[node].min(self.low[next]);
                }
                Some(index) if self.on_stack[next] => {
                    self.low[node] = self.low[node].min(index);
                }
                Some(_) => {}
            }
        }
        if Some(self.low[node]) == self.index[node] {
            let mut component = Vec::new();
            while let Some(member) = self.stack.pop() {
                self.on_stack[member] = false;
                component.push(member);
                if member == node {
                    break;
                }
            }
            self.components.push(component);
        }
    }
}

fn is_ident(token: &str) -> bool {
    token
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// The paths a `use` tree names, each from its first segment
/// (`a::{b, c::d}` gives `a::b` and `a::c::d`; `a::*` gives `a`).
fn use_paths(tokens: &[String]) -> Vec<Vec<String>> {
    fn walk(tokens: &[String], i: &mut usize, prefix: &[String], out: &mut Vec<Vec<String>>) {
        let mut path = prefix.to_vec();
        while *i < tokens.len() {
            match tokens[*i].as_str() {
                "::" => *i += 1,
                "{" => {
                    *i += 1;
                    while *i < tokens.len() && tokens[*i] != "}" {
                        walk(tokens, i, &path, out);
                        if tokens.get(*i).is_some_and(|t| t == ",") {
                            *i += 1;
                        }
                    }
                    *i += 1;
                    return;
                }
                "," | "}" => break,
                "as" => *i += 2,
                "*" => *i += 1,
                token => {
                    if token != "self" || path.is_empty() {
                        path.push(token.to_string());
                    }
                    *i += 1;
                }
            }
        }
        if !path.is_empty() {
            out.push(path);
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        walk(tokens, &mut i, &[], &mut out);
        if tokens.get(i).is_some_and(|t| t == "," || t == "}") {
            i += 1;
        }
    }
    out
}

/// Rust source as identifiers, `::` and single punctuation characters;
/// comments, strings and character literals left out.
fn tokenize(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
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
        } else if c == '"' {
            i = skip_string(&chars, i + 1, None);
        } else if let Some((start, hashes)) = string_prefix(&chars, i) {
            i = skip_string(&chars, start, hashes);
        } else if c == '\'' {
            // A char literal ('a', '\n', '\u{..}') or a lifetime ('a).
            match (next, chars.get(i + 2)) {
                (Some('\\'), _) => {
                    i += 2;
                    while i < chars.len() && chars[i] != '\'' {
                        i += 1;
                    }
                    i += 1;
                }
                (Some(_), Some('\'')) => i += 3,
                _ => i += 1,
            }
        } else if is_ident_char(c) {
            let start = i;
            while i < chars.len() && is_ident_char(chars[i]) {
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect());
        } else if c == ':' && next == Some(':') {
            tokens.push("::".to_string());
            i += 2;
        } else {
            if !c.is_whitespace() {
                tokens.push(c.to_string());
            }
            i += 1;
        }
    }
    tokens
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// For a string with a prefix starting at `i` (`b"`, `r"`, `r#"`,
/// `br"`, `c"`, ...): the index after its opening quote, and for a raw
/// string its number of `#`s.
fn string_prefix(chars: &[char], i: usize) -> Option<(usize, Option<usize>)> {
    if i > 0 && is_ident_char(chars[i - 1]) {
        return None;
    }
    let mut j = i;
    if matches!(chars.get(j), Some('b' | 'c')) {
        j += 1;
        if chars.get(j) == Some(&'"') {
            return Some((j + 1, None));
        }
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = chars[j..].iter().take_while(|c| **c == '#').count();
    (chars.get(j + hashes) == Some(&'"')).then_some((j + hashes + 1, Some(hashes)))
}

/// The index after a string whose contents start at `i`: a raw one
/// (`raw_hashes` set) ends at a quote and that many `#`s and has no
/// escapes.
fn skip_string(chars: &[char], mut i: usize, raw_hashes: Option<usize>) -> usize {
    let hashes = raw_hashes.unwrap_or(0);
    while i < chars.len() {
        match chars[i] {
            '\\' if raw_hashes.is_none() => i += 2,
            '"' if chars[i + 1..]
                .iter()
                .take(hashes)
                .filter(|c| **c == '#')
                .count()
                == hashes =>
            {
                return i + 1 + hashes;
            }
            _ => i += 1,
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crate_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join("src").join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    fn circles(files: &[(&str, &str)]) -> Vec<Vec<String>> {
        let dir = crate_with(files);
        crate_circles(dir.path())
            .unwrap()
            .into_iter()
            .map(|c| c.modules)
            .collect()
    }

    #[test]
    fn a_use_circle_through_three_files_is_found() {
        let found = circles(&[
            ("lib.rs", "mod a;\nmod b;\npub mod c;\n"),
            ("a.rs", "use crate::b::B;\npub struct A;\n"),
            ("b.rs", "pub struct B(crate::c::inner::C);\n"),
            ("c/mod.rs", "pub mod inner;\n"),
            (
                "c/inner.rs",
                "use super::super::a::{self, A};\npub struct C;\n",
            ),
        ]);
        assert_eq!(found, [vec!["src/a.rs", "src/b.rs", "src/c/inner.rs"]]);
    }

    #[test]
    fn a_child_may_use_its_ancestors_but_not_a_sibling_that_uses_it() {
        let parts = [
            ("main.rs", "mod m;\nfn main() {}\npub struct Flags;\n"),
            ("m.rs", "mod a;\nmod b;\npub use a::A;\npub struct Error;\n"),
            ("m/a.rs", "pub struct A(super::Error, crate::Flags);\n"),
            ("m/b.rs", "pub struct B(super::a::A);\n"),
        ];
        assert!(circles(&parts).is_empty());
        let mut looped = parts;
        looped[2].1 = "pub struct A(super::Error, Option<Box<super::b::B>>);\n";
        assert_eq!(circles(&looped), [vec!["src/m/a.rs", "src/m/b.rs"]]);
    }

    #[test]
    fn declarations_tests_strings_and_comments_are_not_dependencies() {
        let found = circles(&[
            (
                "lib.rs",
                "pub mod a;\npub mod b;\nfn f() -> &'static str { \"crate::b::x\" }\n",
            ),
            ("a.rs", "pub fn a() { crate::b::b() } // crate::a\n"),
            (
                "b.rs",
                "pub fn b() {}\n/* crate::a::a() */\nconst R: &str = r#\"crate::a\"#;\n\
                 #[cfg(test)]\nmod tests {\n    use super::*;\n    #[test]\n    fn t() { b() }\n}\n",
            ),
        ]);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn use_trees_expand_to_each_path() {
        let tokens = tokenize("crate::a::{b, c::{d as e, self}, f::*}");
        let paths: Vec<String> = use_paths(&tokens).iter().map(|p| p.join("::")).collect();
        assert_eq!(
            paths,
            [
                "crate::a::b",
                "crate::a::c::d",
                "crate::a::c",
                "crate::a::f"
            ]
        );
    }
}
