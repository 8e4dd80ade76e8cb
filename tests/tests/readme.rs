//! The READMEs name what exists. Every `cargo` command they give (in a code block or inline)
//! names a package of the workspace and, for `--test`, `--bench` and `--bin`, a target that
//! package has; `cargo test` gets at most one test-name filter before `--` (cargo refuses a
//! second), and each filter is part of a name among the tests it selects, so it runs
//! something. Every heal API config key they name (`engine.max_record_age_secs`) is one the
//! config accepts, and the heal API README's YAML examples are valid configs.
//!
//! The filter check reads names from the sources (`fn` and `mod` names, file stems): a test's
//! name is its module path and function name, so a filter that matches a test is part of one
//! of those. Commands for other tools (kubectl, helm, Fluent Bit) are not checked here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use edgeheal_tests::repo_root;
use serde_json::Value;

/// The READMEs, by path from the repository root.
const READMES: &[&str] = &["README.md", "healer-api/README.md", "chaos/k8s/README.md"];

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A piece of code a README shows: a line of a fenced block (with its `\` continuations
/// joined) or an inline code span, whitespace collapsed, with the line it starts on.
struct Snippet {
    line: usize,
    text: String,
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The code of a Markdown text: fenced blocks line by line, and inline spans (delimited by
/// runs of equal numbers of backticks, possibly over several lines) outside them.
fn snippets(markdown: &str) -> (Vec<Snippet>, Vec<(String, String)>) {
    let mut out = Vec::new();
    let mut blocks = Vec::new();
    let mut prose = String::new();
    let mut prose_lines = Vec::new();
    let mut fence: Option<(String, usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        let number = i + 1;
        if line.trim_start().starts_with("```") {
            match fence.take() {
                Some((lang, start, body)) => {
                    let joined = body.replace("\\\n", " ");
                    for (j, code) in joined.lines().enumerate() {
                        out.push(Snippet {
                            line: start + 1 + j,
                            text: collapse(code),
                        });
                    }
                    blocks.push((lang, body));
                }
                None => {
                    let lang = line.trim_start().trim_start_matches('`').trim().to_owned();
                    fence = Some((lang, number, String::new()));
                }
            }
            prose.push('\n');
            prose_lines.push(number);
            continue;
        }
        match &mut fence {
            Some((_, _, body)) => {
                body.push_str(line);
                body.push('\n');
                prose.push('\n');
            }
            None => {
                prose.push_str(line);
                prose.push('\n');
            }
        }
        prose_lines.push(number);
    }
    let bytes = prose.as_bytes();
    let line_at = |at: usize| prose[..at].matches('\n').count() + 1;
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] != b'`' {
            at += 1;
            continue;
        }
        let run = bytes[at..].iter().take_while(|&&b| b == b'`').count();
        let start = at + run;
        let mut close = None;
        let mut k = start;
        while k < bytes.len() {
            if bytes[k] == b'`' {
                let n = bytes[k..].iter().take_while(|&&b| b == b'`').count();
                if n == run {
                    close = Some(k);
                    break;
                }
                k += n;
            } else {
                k += 1;
            }
        }
        match close {
            Some(end) => {
                out.push(Snippet {
                    line: line_at(start),
                    text: collapse(&prose[start..end]),
                });
                at = end + run;
            }
            None => at = start,
        }
    }
    out.sort_by_key(|s| s.line);
    (out, blocks)
}

/// What a package of the workspace builds, as cargo itself sees it.
#[derive(Default)]
struct Package {
    dir: PathBuf,
    tests: BTreeSet<String>,
    benches: BTreeSet<String>,
    bins: BTreeSet<String>,
}

/// The packages of the workspace by name, with their targets (auto-discovered and declared),
/// from `cargo metadata --no-deps`: the cargo running these tests reads the manifests.
fn packages() -> BTreeMap<String, Package> {
    let output = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(repo_root())
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata is JSON");
    let mut out = BTreeMap::new();
    for package in metadata["packages"].as_array().expect("packages") {
        let name = package["name"].as_str().expect("a package name").to_owned();
        let manifest = PathBuf::from(package["manifest_path"].as_str().expect("manifest_path"));
        let mut p = Package {
            dir: manifest
                .parent()
                .expect("a manifest's directory")
                .to_path_buf(),
            ..Package::default()
        };
        for target in package["targets"].as_array().expect("targets") {
            let target_name = target["name"].as_str().expect("a target name").to_owned();
            for kind in target["kind"].as_array().expect("target kinds") {
                match kind.as_str() {
                    Some("test") => p.tests.insert(target_name.clone()),
                    Some("bench") => p.benches.insert(target_name.clone()),
                    Some("bin") => p.bins.insert(target_name.clone()),
                    _ => false,
                };
            }
        }
        out.insert(name, p);
    }
    assert!(
        out.contains_key("edgeheal-plugin"),
        "cargo metadata lists the workspace"
    );
    out
}

/// Every `fn` and `mod` name and file stem in the `.rs` files under `dir`: the parts a test's
/// name is made of.
fn name_parts(dir: &Path, out: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        if path.is_dir() {
            if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                out.insert(name.to_owned());
            }
            name_parts(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            if let Some(stem) = path.file_stem().and_then(|n| n.to_str()) {
                out.insert(stem.to_owned());
            }
            let text = read(&path);
            for keyword in ["fn ", "mod "] {
                for part in text.split(keyword).skip(1) {
                    let name: String = part
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        out.insert(name);
                    }
                }
            }
        }
    }
}

/// A `cargo` command as the README gives it, or the part of one that names a target.
#[derive(Debug, Default)]
struct Cargo {
    subcommand: String,
    package: Option<String>,
    tests: Vec<String>,
    benches: Vec<String>,
    bins: Vec<String>,
    lib: bool,
    /// Positional arguments before `--`.
    before: Vec<String>,
    /// Arguments after `--`.
    after: Vec<String>,
}

/// Options of the cargo subcommands the READMEs use that take a value.
const VALUE_OPTIONS: &[&str] = &[
    "-p",
    "--package",
    "--test",
    "--bench",
    "--bin",
    "--example",
    "--target",
    "--profile",
    "--features",
    "-F",
    "--manifest-path",
    "-j",
    "--jobs",
    "--color",
    "--message-format",
    "--target-dir",
];

fn parse_cargo(words: &[&str]) -> Cargo {
    let mut cargo = Cargo::default();
    let mut words = words.iter().copied();
    while let Some(word) = words.next() {
        if word == "--" {
            cargo.after = words.by_ref().map(str::to_owned).collect();
            break;
        }
        if let Some(option) = VALUE_OPTIONS.iter().find(|o| **o == word) {
            let value = words.next().unwrap_or_default().to_owned();
            match *option {
                "-p" | "--package" => cargo.package = Some(value),
                "--test" => cargo.tests.push(value),
                "--bench" => cargo.benches.push(value),
                "--bin" => cargo.bins.push(value),
                _ => {}
            }
        } else if word == "--lib" {
            cargo.lib = true;
        } else if word.starts_with('-') {
            // A flag (`--release`, `--workspace`, `--all-targets`, `-D` after `--`).
        } else if cargo.subcommand.is_empty() {
            cargo.subcommand = word.to_owned();
        } else {
            cargo.before.push(word.to_owned());
        }
    }
    cargo
}

/// The cargo commands of a snippet: from each `cargo` word to the end of its command (a
/// shell operator, a redirection or a comment). A snippet that starts with `--test` (or
/// `... --test`) continues the command before it and takes its package.
fn cargo_commands(text: &str) -> Vec<(bool, Vec<&str>)> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let stop = |w: &&str| ["&&", "||", ";", "|", "<", ">", "#", "&"].contains(w);
    let mut out = Vec::new();
    let continued = match words.first() {
        Some(&"...") => words.get(1) == Some(&"--test"),
        Some(&"--test") => true,
        _ => false,
    };
    if continued {
        let from = usize::from(words[0] == "...");
        out.push((
            true,
            words[from..]
                .iter()
                .copied()
                .take_while(|w| !stop(w))
                .collect(),
        ));
        return out;
    }
    for (i, word) in words.iter().enumerate() {
        if *word == "cargo" && words.get(i + 1).is_some_and(|w| !w.starts_with('-')) {
            out.push((
                false,
                words[i + 1..]
                    .iter()
                    .copied()
                    .take_while(|w| !stop(w))
                    .collect(),
            ));
        }
    }
    out
}

#[test]
fn every_cargo_command_names_a_package_target_and_tests_that_exist() {
    let packages = packages();
    let mut checked = 0;
    let mut problems = Vec::new();
    for readme in READMES {
        let (snippets, _) = snippets(&read(&repo_root().join(readme)));
        let mut last_package: Option<String> = None;
        for snippet in &snippets {
            for (continued, words) in cargo_commands(&snippet.text) {
                let mut words = words;
                if continued {
                    words.insert(0, "test");
                }
                let cargo = parse_cargo(&words);
                let at = format!("{readme}:{} `{}`", snippet.line, snippet.text);
                let package = if continued {
                    last_package.clone()
                } else {
                    last_package.clone_from(&cargo.package);
                    cargo.package.clone()
                };
                let is_test = cargo.subcommand == "test";
                if !["test", "bench", "build", "run", "doc", "fmt", "clippy"]
                    .contains(&cargo.subcommand.as_str())
                {
                    problems.push(format!("{at}: unknown cargo subcommand"));
                    continue;
                }
                checked += 1;
                let named = !cargo.tests.is_empty()
                    || !cargo.benches.is_empty()
                    || !cargo.bins.is_empty()
                    || cargo.lib;
                let Some(name) = package else {
                    if named {
                        problems.push(format!("{at}: names a target but no package (-p)"));
                    }
                    continue;
                };
                let Some(pkg) = packages.get(&name) else {
                    problems.push(format!("{at}: no package {name} in the workspace"));
                    continue;
                };
                for (kind, wanted, have) in [
                    ("--test", &cargo.tests, &pkg.tests),
                    ("--bench", &cargo.benches, &pkg.benches),
                    ("--bin", &cargo.bins, &pkg.bins),
                ] {
                    for target in wanted.iter().filter(|t| !have.contains(*t)) {
                        problems.push(format!(
                            "{at}: {name} has no {kind} {target} (it has {have:?})"
                        ));
                    }
                }
                if !is_test {
                    continue;
                }
                if cargo.before.len() > 1 {
                    problems.push(format!(
                        "{at}: cargo test takes one test-name filter before `--`, given {:?}",
                        cargo.before
                    ));
                }
                let filters: Vec<&String> = cargo
                    .before
                    .iter()
                    .chain(cargo.after.iter().filter(|a| !a.starts_with('-')))
                    .collect();
                if filters.is_empty() {
                    continue;
                }
                let mut parts = BTreeSet::new();
                if cargo.tests.is_empty() && !cargo.lib {
                    for dir in ["src", "tests", "benches"] {
                        name_parts(&pkg.dir.join(dir), &mut parts);
                    }
                }
                if cargo.lib {
                    name_parts(&pkg.dir.join("src"), &mut parts);
                }
                if !cargo.tests.is_empty() {
                    name_parts(&pkg.dir.join("tests"), &mut parts);
                }
                for filter in filters {
                    if !parts.iter().any(|p| p.contains(filter.as_str())) {
                        problems.push(format!(
                            "{at}: the filter {filter:?} is part of no test name there"
                        ));
                    }
                }
            }
        }
    }
    assert!(checked >= 50, "only {checked} cargo commands found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The minimal heal API config of the heal API README, which the other keys are set in.
fn minimal_config(blocks: &[(String, String)]) -> Value {
    let (_, text) = blocks
        .iter()
        .find(|(lang, text)| lang == "yaml" && text.starts_with("mode: shadow"))
        .expect("the heal API README's minimal config");
    serde_norway::from_str(text).expect("YAML")
}

fn load(config: &Value) -> Result<edgeheal_healer::Config, String> {
    edgeheal_healer::Config::from_yaml(&config.to_string()).map_err(|e| e.to_string())
}

#[test]
fn every_config_key_the_readmes_name_is_one_the_heal_api_accepts() {
    let (_, blocks) = snippets(&read(&repo_root().join("healer-api/README.md")));
    let minimal = minimal_config(&blocks);
    load(&minimal).expect("the minimal config is valid");
    let mut checked = BTreeSet::new();
    let mut problems = Vec::new();
    for readme in READMES {
        let (snippets, _) = snippets(&read(&repo_root().join(readme)));
        for snippet in &snippets {
            let key = snippet.text.as_str();
            let dotted = key.contains('.')
                && key.split('.').all(|p| {
                    !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                });
            if !dotted {
                continue;
            }
            let path: Vec<&str> = key.split('.').collect();
            // Only keys of the heal API's config: a first part it takes at top level (others
            // are Kubernetes fields, Fluent Bit keys, file names).
            let mut probe = minimal.clone();
            probe[path[0]] = Value::Null;
            if load(&probe).is_err_and(|e| e.contains("unknown field")) {
                continue;
            }
            let mut config = minimal.clone();
            let mut at = &mut config;
            for part in &path[..path.len() - 1] {
                if !at[*part].is_object() {
                    at[*part] = Value::Object(Default::default());
                }
                at = &mut at[*part];
            }
            at[path[path.len() - 1]] = Value::Null;
            if let Err(e) = load(&config) {
                if e.contains("unknown field") {
                    problems.push(format!("{readme}:{} `{key}`: {e}", snippet.line));
                }
            }
            checked.insert(key.to_owned());
        }
    }
    assert!(
        checked.len() >= 30,
        "only {} keys found: {checked:?}",
        checked.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_heal_api_readmes_yaml_examples_are_valid_configs() {
    let (_, blocks) = snippets(&read(&repo_root().join("healer-api/README.md")));
    let minimal = minimal_config(&blocks);
    let mut examples = 0;
    for (lang, text) in blocks.iter().filter(|(lang, _)| lang == "yaml") {
        let example: Value = serde_norway::from_str(text).expect("YAML");
        let Value::Object(keys) = &example else {
            panic!("a {lang} example that is no mapping: {text}");
        };
        // A fragment (the soft heal's) is set in the minimal config.
        let mut config = if keys.contains_key("store") {
            Value::Object(Default::default())
        } else {
            minimal.clone()
        };
        for (key, value) in keys {
            config[key.as_str()] = value.clone();
        }
        if let Err(e) = load(&config) {
            panic!("{text}\nis not a valid config: {e}");
        }
        examples += 1;
    }
    assert!(examples >= 3, "{examples} YAML examples");
}
