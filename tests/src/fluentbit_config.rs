//! Reads Fluent Bit configurations in both formats into one shape, so tests
//! can check the shipped `pipeline-configs/fluent-bit/` against the code.
//!
//! - Classic (`.conf`): `[SECTION]` headers, then `Key Value` lines; `#`
//!   comments; keys are case-insensitive (Fluent Bit compares them with
//!   `strcasecmp`), so they are lower-cased here. `@INCLUDE` / `@SET` are not
//!   used by the shipped files and are rejected.
//! - YAML: `service:` and `pipeline: {inputs, filters, outputs}`, each plugin a
//!   map with `name`; scalar values are kept as their text.
//!
//! Sizes are read the way Fluent Bit reads them (`src/flb_utils.c`): plugin
//! options (`FLB_CONFIG_MAP_SIZE`) with `flb_utils_size_to_bytes`, where `K`,
//! `M`, `G` (optionally with `B`) are decimal; `[SERVICE]
//! multiline_buffer_limit` with `flb_utils_size_to_binary_bytes`, where they
//! (and `KiB`, `MiB`, `GiB`) are binary.

use std::collections::BTreeMap;

/// The text of a file of the shipped `pipeline-configs/fluent-bit/`.
pub fn shipped_text(name: &str) -> String {
    let path = crate::repo_root()
        .join("pipeline-configs/fluent-bit")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The shipped `pipeline-configs/fluent-bit/` configurations, each with its file name: the
/// classic `fluent-bit.conf` and `fluent-bit.yaml`.
pub fn shipped() -> Vec<(&'static str, FluentBitConfig)> {
    vec![
        (
            "fluent-bit.conf",
            parse_classic(&shipped_text("fluent-bit.conf")).expect("classic config parses"),
        ),
        (
            "fluent-bit.yaml",
            parse_yaml(&shipped_text("fluent-bit.yaml")).expect("yaml config parses"),
        ),
    ]
}

/// The one `kind` section of plugin `name` in `config` (read from `file`); panics unless there
/// is exactly one.
pub fn one<'a>(
    config: &'a FluentBitConfig,
    kind: &'a str,
    name: &'a str,
    file: &str,
) -> &'a Section {
    let found = config.plugins(kind, name);
    assert_eq!(found.len(), 1, "{file}: one {kind} {name}");
    found[0]
}

/// A section: `SERVICE`, `INPUT`, `FILTER`, `OUTPUT`, `PARSER`, ...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Upper-cased section kind.
    pub kind: String,
    /// `(key, value)` in file order; keys lower-cased; a key may repeat (`Rule`).
    pub entries: Vec<(String, String)>,
}

impl Section {
    /// The first value of `key` (case-insensitive).
    pub fn get(&self, key: &str) -> Option<&str> {
        let key = key.to_ascii_lowercase();
        self.entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`.
    pub fn all(&self, key: &str) -> Vec<&str> {
        let key = key.to_ascii_lowercase();
        self.entries
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The plugin name (`Name`), lower-cased.
    pub fn name(&self) -> String {
        self.get("name").unwrap_or_default().to_ascii_lowercase()
    }
}

/// A whole configuration: its sections in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FluentBitConfig {
    /// Sections in file order.
    pub sections: Vec<Section>,
}

impl FluentBitConfig {
    /// Sections of a kind (`INPUT`, `FILTER`, `OUTPUT`, `SERVICE`).
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Section> + 'a {
        self.sections.iter().filter(move |s| s.kind == kind)
    }

    /// The plugins of a kind with the given name.
    pub fn plugins<'a>(&'a self, kind: &'a str, name: &'a str) -> Vec<&'a Section> {
        self.of_kind(kind).filter(|s| s.name() == name).collect()
    }
}

/// Why a configuration could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A classic-format line that is neither a section, a comment nor `Key Value`.
    #[error("line {line}: {problem}")]
    Classic {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// The YAML is not valid YAML.
    #[error("yaml: {0}")]
    Yaml(#[from] serde_norway::Error),
    /// The YAML has an unexpected shape.
    #[error("yaml: {0}")]
    YamlShape(String),
}

/// Reads the classic format.
pub fn parse_classic(text: &str) -> Result<FluentBitConfig, ConfigError> {
    let mut sections: Vec<Section> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let bad = |problem: &str| ConfigError::Classic {
            line: n + 1,
            problem: problem.to_string(),
        };
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('@') {
            return Err(bad("@INCLUDE / @SET are not supported here"));
        }
        if let Some(kind) = line.strip_prefix('[') {
            let kind = kind
                .strip_suffix(']')
                .ok_or_else(|| bad("unterminated section header"))?;
            sections.push(Section {
                kind: kind.trim().to_ascii_uppercase(),
                entries: Vec::new(),
            });
            continue;
        }
        if !raw.starts_with([' ', '\t']) {
            return Err(bad("entries must be indented under a section"));
        }
        let section = sections
            .last_mut()
            .ok_or_else(|| bad("entry before any section"))?;
        let (key, value) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| bad("expected `Key Value`"))?;
        section
            .entries
            .push((key.to_ascii_lowercase(), value.trim().to_string()));
    }
    Ok(FluentBitConfig { sections })
}

/// Reads the YAML format.
pub fn parse_yaml(text: &str) -> Result<FluentBitConfig, ConfigError> {
    use serde_norway::Value;
    let shape = |what: &str| ConfigError::YamlShape(what.to_string());
    let root: BTreeMap<String, Value> = serde_norway::from_str(text)?;
    let mut sections = Vec::new();
    if let Some(service) = root.get("service") {
        sections.push(Section {
            kind: "SERVICE".to_string(),
            entries: entries(service).ok_or_else(|| shape("service must be a map"))?,
        });
    }
    let pipeline = root.get("pipeline").ok_or_else(|| shape("no `pipeline`"))?;
    for (key, kind) in [
        ("inputs", "INPUT"),
        ("filters", "FILTER"),
        ("outputs", "OUTPUT"),
    ] {
        let Some(list) = pipeline.get(key) else {
            continue;
        };
        let list = list
            .as_sequence()
            .ok_or_else(|| shape("pipeline sections must be lists"))?;
        for plugin in list {
            sections.push(Section {
                kind: kind.to_string(),
                entries: entries(plugin).ok_or_else(|| shape("plugins must be maps"))?,
            });
        }
    }
    Ok(FluentBitConfig { sections })
}

fn entries(value: &serde_norway::Value) -> Option<Vec<(String, String)>> {
    use serde_norway::Value;
    let map = value.as_mapping()?;
    let mut out = Vec::new();
    for (k, v) in map {
        let key = k.as_str()?.to_ascii_lowercase();
        let scalar = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => Some(if *b { "on" } else { "off" }.to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        match v {
            // A list value is the YAML spelling of a repeated key (`rule`).
            Value::Sequence(items) => {
                for item in items {
                    out.push((key.clone(), scalar(item)?));
                }
            }
            other => out.push((key, scalar(other)?)),
        }
    }
    Some(out)
}

/// A size's number and its unit, upper-cased.
fn number_and_unit(text: &str) -> Option<(f64, String)> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let value = text.get(..digits_end)?.parse().ok()?;
    Some((value, text.get(digits_end..)?.to_ascii_uppercase()))
}

/// `flb_utils_size_to_bytes`: `"256K"` → 256,000; `None` where Fluent Bit
/// returns -1.
pub fn size_to_bytes(text: &str) -> Option<u64> {
    let (value, unit) = number_and_unit(text)?;
    let scale = match unit.as_str() {
        "" => 1.0,
        "K" | "KB" => 1e3,
        "M" | "MB" => 1e6,
        "G" | "GB" => 1e9,
        _ => return None,
    };
    Some((value * scale) as u64)
}

/// `flb_utils_size_to_binary_bytes`: `"2MB"` → 2,097,152; `"false"` → 0 (no
/// limit); `None` where Fluent Bit returns -1.
pub fn size_to_binary_bytes(text: &str) -> Option<u64> {
    if text.trim().eq_ignore_ascii_case("false") {
        return Some(0);
    }
    let (value, unit) = number_and_unit(text)?;
    let scale: u64 = match unit.as_str() {
        "" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return None,
    };
    Some((value * scale as f64) as u64)
}

/// Fluent Bit's boolean spelling (`flb_utils_bool`): on/true/yes/1.
pub fn is_on(value: &str) -> bool {
    matches!(
        value.to_ascii_lowercase().as_str(),
        "on" | "true" | "yes" | "1"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_decimal() {
        let cases: &[(&str, Option<u64>)] = &[
            ("8M", Some(8_000_000)),
            ("256K", Some(256_000)),
            ("4mb", Some(4_000_000)),
            ("1G", Some(1_000_000_000)),
            ("8192", Some(8192)),
            ("1.5M", Some(1_500_000)),
            ("4MiB", None),
        ];
        for (text, want) in cases {
            assert_eq!(size_to_bytes(text), *want, "{text}");
        }
    }

    #[test]
    fn multiline_buffer_limits_are_binary() {
        let cases: &[(&str, Option<u64>)] = &[
            ("2MB", Some(2_097_152)),
            ("2M", Some(2_097_152)),
            ("2MiB", Some(2_097_152)),
            ("512k", Some(524_288)),
            ("1G", Some(1 << 30)),
            ("65536", Some(65_536)),
            ("false", Some(0)),
            ("2MX", None),
            ("2XB", None),
        ];
        for (text, want) in cases {
            assert_eq!(size_to_binary_bytes(text), *want, "{text}");
        }
    }

    #[test]
    fn classic_and_yaml_read_alike() {
        let classic = "[SERVICE]\n    Flush 1\n# c\n[FILTER]\n    Name  wasm\n    Rule  a b c true\n    Rule  d e f false\n";
        let yaml = "service:\n  flush: 1\npipeline:\n  filters:\n    - name: wasm\n      rule:\n        - a b c true\n        - d e f false\n";
        let a = parse_classic(classic).unwrap();
        let b = parse_yaml(yaml).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.plugins("FILTER", "wasm")[0].all("rule").len(), 2);
        assert!(parse_classic("Name x\n").is_err());
        assert!(parse_classic("[INPUT\n").is_err());
    }
}
