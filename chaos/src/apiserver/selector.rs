//! Label and field selectors: the `labelSelector=` / `fieldSelector=` query
//! strings of list requests, and `metav1.LabelSelector` objects (Deployment
//! and ReplicaSet selectors), with their string form (`Scale.status.selector`).

use super::error::ApiError;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::Value;
use std::collections::BTreeMap;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    /// `k=v`, `k==v`
    Equals(String, String),
    /// `k!=v` (also matches when `k` is absent)
    NotEquals(String, String),
    /// `k in (a,b)`
    In(String, Vec<String>),
    /// `k notin (a,b)` (also matches when `k` is absent)
    NotIn(String, Vec<String>),
    /// `k`
    Exists(String),
    /// `!k`
    DoesNotExist(String),
}

/// A parsed label selector: every requirement must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelQuery {
    reqs: Vec<Requirement>,
}

impl LabelQuery {
    /// Parses the `labelSelector` query string (`app=web,tier in (a,b),!canary`).
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        for part in split_top_level(s) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            reqs.push(parse_requirement(part)?);
        }
        Ok(Self { reqs })
    }

    /// The requirements of a `metav1.LabelSelector`. An operator other than
    /// In/NotIn/Exists/DoesNotExist yields an error.
    pub fn from_selector(sel: &LabelSelector) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for (k, v) in sel.match_labels.iter().flatten() {
            reqs.push(Requirement::Equals(k.clone(), v.clone()));
        }
        for e in sel.match_expressions.iter().flatten() {
            let values = e.values.clone().unwrap_or_default();
            reqs.push(match e.operator.as_str() {
                "In" => Requirement::In(e.key.clone(), values),
                "NotIn" => Requirement::NotIn(e.key.clone(), values),
                "Exists" => Requirement::Exists(e.key.clone()),
                "DoesNotExist" => Requirement::DoesNotExist(e.key.clone()),
                other => return Err(format!("{other:?} is not a valid label selector operator")),
            });
        }
        Ok(Self { reqs })
    }

    /// True when the query has no requirement (matches everything).
    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k));
        self.reqs.iter().all(|r| match r {
            Requirement::Equals(k, v) => get(k) == Some(v),
            Requirement::NotEquals(k, v) => get(k) != Some(v),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.contains(x)),
            Requirement::NotIn(k, vs) => !get(k).is_some_and(|x| vs.contains(x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::DoesNotExist(k) => get(k).is_none(),
        })
    }
}

impl std::fmt::Display for LabelQuery {
    /// The canonical string form, requirements sorted by key (`app=web,tier in (a,b)`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts: Vec<(String, String)> = self
            .reqs
            .iter()
            .map(|r| match r {
                Requirement::Equals(k, v) => (k.clone(), format!("{k}={v}")),
                Requirement::NotEquals(k, v) => (k.clone(), format!("{k}!={v}")),
                Requirement::In(k, vs) => (k.clone(), format!("{k} in ({})", sorted(vs).join(","))),
                Requirement::NotIn(k, vs) => {
                    (k.clone(), format!("{k} notin ({})", sorted(vs).join(",")))
                }
                Requirement::Exists(k) => (k.clone(), k.clone()),
                Requirement::DoesNotExist(k) => (k.clone(), format!("!{k}")),
            })
            .collect();
        parts.sort();
        let joined: Vec<String> = parts.into_iter().map(|(_, s)| s).collect();
        f.write_str(&joined.join(","))
    }
}

fn sorted(vs: &[String]) -> Vec<String> {
    let mut v = vs.to_vec();
    v.sort();
    v
}

fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
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

fn bad(s: &str, why: &str) -> ApiError {
    ApiError::bad_request(format!("unable to parse requirement: {why}: {s:?}"))
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 317
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn valid_value(v: &str) -> bool {
    v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn parse_requirement(part: &str) -> Result<Requirement, ApiError> {
    if let Some(k) = part.strip_prefix('!') {
        let k = k.trim();
        return if valid_key(k) {
            Ok(Requirement::DoesNotExist(k.to_owned()))
        } else {
            Err(bad(part, "invalid key"))
        };
    }
    for (op, ctor) in [("!=", 0u8), ("==", 1), ("=", 1)] {
        if let Some((k, v)) = part.split_once(op) {
            let (k, v) = (k.trim(), v.trim());
            if !valid_key(k) || !valid_value(v) {
                return Err(bad(part, "invalid key or value"));
            }
            return Ok(if ctor == 0 {
                Requirement::NotEquals(k.to_owned(), v.to_owned())
            } else {
                Requirement::Equals(k.to_owned(), v.to_owned())
            });
        }
    }
    let words: Vec<&str> = part
        .splitn(3, char::is_whitespace)
        .filter(|w| !w.is_empty())
        .collect();
    match words.as_slice() {
        [k] if valid_key(k) => Ok(Requirement::Exists((*k).to_owned())),
        [k, rest @ ..] if !rest.is_empty() => {
            let rest = part[k.len()..].trim_start();
            let (notin, list) = if let Some(r) = rest.strip_prefix("notin") {
                (true, r)
            } else if let Some(r) = rest.strip_prefix("in") {
                (false, r)
            } else {
                return Err(bad(part, "unknown operator"));
            };
            let list = list.trim();
            let inner = list
                .strip_prefix('(')
                .and_then(|l| l.strip_suffix(')'))
                .ok_or_else(|| bad(part, "expected a parenthesized list"))?;
            let values: Vec<String> = inner
                .split(',')
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .collect();
            if !valid_key(k) || values.is_empty() || !values.iter().all(|v| valid_value(v)) {
                return Err(bad(part, "invalid key or values"));
            }
            Ok(if notin {
                Requirement::NotIn((*k).to_owned(), values)
            } else {
                Requirement::In((*k).to_owned(), values)
            })
        }
        _ => Err(bad(part, "invalid requirement")),
    }
}

/// A parsed field selector (`metadata.name=web-x,spec.nodeName!=n1`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldQuery {
    reqs: Vec<(String, bool, String)>,
}

impl FieldQuery {
    /// Parses the `fieldSelector` query string; only the fields in `supported`
    /// (besides `metadata.name` and `metadata.namespace`) are accepted, as the
    /// real server does per resource.
    pub fn parse(s: &str, supported: &[&str]) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, true, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: {s:?}; can't understand {part:?}"
                )));
            };
            let field = field.trim();
            if !(field == "metadata.name"
                || field == "metadata.namespace"
                || supported.contains(&field))
            {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field}"
                )));
            }
            reqs.push((field.to_owned(), equal, value.trim().to_owned()));
        }
        Ok(Self { reqs })
    }

    /// Whether the object (as JSON) satisfies every requirement; absent fields read as "".
    pub fn matches(&self, obj: &Value) -> bool {
        self.reqs.iter().all(|(field, equal, value)| {
            let mut cur = obj;
            for seg in field.split('.') {
                cur = cur.get(seg).unwrap_or(&Value::Null);
            }
            let actual = match cur {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (actual == *value) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn label_selector_table() {
        let web = labels(&[("app", "web"), ("tier", "front")]);
        let cases: &[(&str, bool)] = &[
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app=api", false),
            ("app!=api", true),
            ("missing!=x", true),
            ("app=web,tier=front", true),
            ("app=web,tier=back", false),
            ("tier in (front,back)", true),
            ("tier in (back)", false),
            ("tier notin (back)", true),
            ("missing notin (back)", true),
            ("app", true),
            ("missing", false),
            ("!missing", true),
            ("!app", false),
            ("app=web, tier in (front, back), !canary", true),
        ];
        for (sel, want) in cases {
            let q = LabelQuery::parse(sel).unwrap_or_else(|e| panic!("{sel}: {e}"));
            assert_eq!(q.matches(Some(&web)), *want, "{sel}");
        }
        for bad in ["app in web", "a b c", "=x", "app=va lue"] {
            assert!(LabelQuery::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn selector_string_form() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("tier", "front"), ("app", "web")])),
            match_expressions: None,
        };
        let q = LabelQuery::from_selector(&sel).unwrap_or_default();
        assert_eq!(q.to_string(), "app=web,tier=front");
        assert_eq!(LabelQuery::parse(&q.to_string()).ok(), Some(q));
    }

    #[test]
    fn field_selector_table() {
        let pod =
            json!({"metadata": {"name": "web-1", "namespace": "shop"}, "spec": {"nodeName": "n1"}});
        let cases: &[(&str, bool)] = &[
            ("metadata.name=web-1", true),
            ("metadata.name=web-2", false),
            ("metadata.name!=web-2", true),
            ("metadata.namespace=shop,spec.nodeName=n1", true),
            ("spec.nodeName==n2", false),
            ("status.phase=", true),
        ];
        for (sel, want) in cases {
            let q = FieldQuery::parse(sel, &["spec.nodeName", "status.phase"]).unwrap_or_default();
            assert_eq!(q.matches(&pod), *want, "{sel}");
        }
        let err = FieldQuery::parse("spec.bogus=x", &["spec.nodeName"]).err();
        assert_eq!(
            err.map(|e| e.to_string()),
            Some("field label not supported: spec.bogus".to_owned())
        );
    }
}
