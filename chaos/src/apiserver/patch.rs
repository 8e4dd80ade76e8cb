//! The four PATCH flavours kube-apiserver accepts, applied to an object's
//! JSON: JSON patch (RFC 6902), JSON merge patch (RFC 7386), strategic merge
//! patch (lists merged by their patch merge key, `$patch` directives), and
//! server-side apply (simplified: the applied configuration is merged into
//! the live object; no per-field ownership or conflicts).

use super::error::ApiError;
use serde_json::{Map, Value};

/// The media types accepted for PATCH.
pub const PATCH_MEDIA_TYPES: &str = "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml";

/// A PATCH flavour, from the request's `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/json-patch+json`
    Json,
    /// `application/merge-patch+json`
    Merge,
    /// `application/strategic-merge-patch+json`
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply)
    Apply,
}

impl PatchKind {
    /// The flavour of a `Content-Type` (parameters such as `charset` ignored);
    /// anything else is 415.
    pub fn from_content_type(ct: Option<&str>) -> Result<Self, ApiError> {
        let base = ct
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match base.as_str() {
            "application/json-patch+json" => Ok(PatchKind::Json),
            "application/merge-patch+json" => Ok(PatchKind::Merge),
            "application/strategic-merge-patch+json" => Ok(PatchKind::Strategic),
            "application/apply-patch+yaml" => Ok(PatchKind::Apply),
            _ => Err(ApiError::UnsupportedMediaType {
                accepted: PATCH_MEDIA_TYPES,
            }),
        }
    }
}

/// Parses a request body as JSON, or YAML (server-side apply bodies, `application/yaml`).
pub fn parse_body(body: &[u8], yaml: bool) -> Result<Value, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => Ok(v),
        Err(json_err) if yaml => serde_norway::from_slice::<Value>(body).map_err(|e| {
            ApiError::bad_request(format!("error decoding YAML: {e}; as JSON: {json_err}"))
        }),
        Err(e) => Err(ApiError::bad_request(format!(
            "error decoding the request body: {e}"
        ))),
    }
}

/// Applies a JSON, merge or strategic merge patch (`body`) to `target`.
/// Apply patches are merged by [`strategic_merge`] by the caller, which also
/// handles object creation.
pub fn apply_patch(kind: PatchKind, target: &mut Value, body: &[u8]) -> Result<(), ApiError> {
    match kind {
        PatchKind::Json => {
            let patch: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding JSON patch: {e}")))?;
            json_patch::patch(target, &patch).map_err(|e| ApiError::Unprocessable {
                message: e.to_string(),
            })
        }
        PatchKind::Merge => {
            let patch = parse_body(body, false)?;
            if !patch.is_object() {
                return Err(ApiError::bad_request("a merge patch must be a JSON object"));
            }
            json_patch::merge(target, &patch);
            Ok(())
        }
        PatchKind::Strategic | PatchKind::Apply => {
            let patch = parse_body(body, kind == PatchKind::Apply)?;
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "a strategic merge patch must be a JSON object",
                ));
            }
            strategic_merge(target, &patch)
        }
    }
}

/// The patch merge key of a list field, as the Kubernetes API types declare
/// it (`patchMergeKey`); lists without one are replaced whole.
fn merge_key(field: &str) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims" => "name",
        "readinessGates" => "conditionType",
        "ports" => "containerPort",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "ownerReferences" => "uid",
        "conditions" => "type",
        "hostAliases" => "ip",
        "topologySpreadConstraints" => "topologyKey",
        _ => return None,
    })
}

/// Lists of scalars merged as sets (`patchStrategy: merge` on a `[]string`).
fn merges_primitives(field: &str) -> bool {
    field == "finalizers"
}

/// Strategic merge of `patch` into `target`: maps merge key by key (`null`
/// deletes), lists with a merge key merge element by element, `$patch:
/// replace|delete` and `$deleteFromPrimitiveList/<field>` are honoured, and
/// `$setElementOrder/...` / `$retainKeys` are accepted and ignored.
pub fn strategic_merge(target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    let Some(pmap) = patch.as_object() else {
        *target = patch.clone();
        return Ok(());
    };
    match pmap.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            *target = Value::Object(strip_directives(pmap));
            return Ok(());
        }
        Some("delete") => {
            *target = Value::Object(Map::new());
            return Ok(());
        }
        Some("merge") | None => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown patch type: {other:?} in map"
            )))
        }
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Some(tmap) = target.as_object_mut() else {
        return Ok(());
    };
    for (k, v) in pmap {
        if k == "$patch" || k == "$retainKeys" || k.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(list_field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            let Some(remove) = v.as_array() else {
                return Err(ApiError::bad_request(
                    "$deleteFromPrimitiveList must hold a list",
                ));
            };
            if let Some(Value::Array(items)) = tmap.get_mut(list_field) {
                items.retain(|i| !remove.contains(i));
            }
            continue;
        }
        match v {
            Value::Null => {
                tmap.remove(k);
            }
            Value::Object(o) if o.get("$patch").and_then(Value::as_str) == Some("delete") => {
                tmap.remove(k);
            }
            Value::Object(_) => {
                let slot = tmap.entry(k.clone()).or_insert(Value::Null);
                strategic_merge(slot, v)?;
            }
            Value::Array(items) => {
                let slot = tmap.entry(k.clone()).or_insert(Value::Array(Vec::new()));
                merge_list(slot, items, k)?;
            }
            scalar => {
                tmap.insert(k.clone(), scalar.clone());
            }
        }
    }
    Ok(())
}

fn strip_directives(m: &Map<String, Value>) -> Map<String, Value> {
    m.iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn merge_list(target: &mut Value, items: &[Value], field: &str) -> Result<(), ApiError> {
    if items
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        *target = Value::Array(
            items
                .iter()
                .filter(|i| i.get("$patch").is_none())
                .map(|i| {
                    i.as_object()
                        .map_or_else(|| i.clone(), |o| Value::Object(strip_directives(o)))
                })
                .collect(),
        );
        return Ok(());
    }
    if merges_primitives(field) {
        let mut cur = target.as_array().cloned().unwrap_or_default();
        for i in items {
            if !cur.contains(i) {
                cur.push(i.clone());
            }
        }
        *target = Value::Array(cur);
        return Ok(());
    }
    let Some(key) = merge_key(field).filter(|_| items.iter().all(Value::is_object)) else {
        *target = Value::Array(items.to_vec());
        return Ok(());
    };
    let mut cur = target.as_array().cloned().unwrap_or_default();
    for item in items {
        let Some(id) = item.get(key) else {
            return Err(ApiError::bad_request(format!(
                "map: {item} does not contain declared merge key: {key}"
            )));
        };
        let pos = cur.iter().position(|c| c.get(key) == Some(id));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(p), true) => {
                cur.remove(p);
            }
            (None, true) => {}
            (Some(p), false) => {
                if let Some(slot) = cur.get_mut(p) {
                    strategic_merge(slot, item)?;
                }
            }
            (None, false) => {
                let mut fresh = Value::Null;
                strategic_merge(&mut fresh, item)?;
                cur.push(fresh);
            }
        }
    }
    *target = Value::Array(cur);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_types() {
        let cases: &[(Option<&str>, Option<PatchKind>)] = &[
            (Some("application/json-patch+json"), Some(PatchKind::Json)),
            (
                Some("application/merge-patch+json; charset=utf-8"),
                Some(PatchKind::Merge),
            ),
            (
                Some("application/strategic-merge-patch+json"),
                Some(PatchKind::Strategic),
            ),
            (Some("application/apply-patch+yaml"), Some(PatchKind::Apply)),
            (Some("application/json"), None),
            (Some("text/plain"), None),
            (None, None),
        ];
        for (ct, want) in cases {
            assert_eq!(PatchKind::from_content_type(*ct).ok(), *want, "{ct:?}");
        }
        let err = PatchKind::from_content_type(Some("application/json")).err();
        assert_eq!(err.map(|e| e.code().as_u16()), Some(415));
    }

    #[test]
    fn strategic_merge_table() {
        let live = json!({
            "metadata": {"annotations": {"a": "1", "b": "2"}, "finalizers": ["x"]},
            "spec": {"template": {"metadata": {"annotations": {"keep": "me"}}, "spec": {"containers": [
                {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}]},
                {"name": "side", "image": "side:1"}
            ]}}}
        });
        let cases: Vec<(&str, Value, Value)> = vec![
            (
                "restartedAt annotation added, others kept",
                json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"}}}}}),
                json!({"keep": "me", "kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"}),
            ),
            (
                "null deletes a key",
                json!({"metadata": {"annotations": {"a": null}}}),
                json!({"b": "2"}),
            ),
            (
                "containers merge by name",
                json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}}),
                json!(["app:2", "side:1"]),
            ),
            (
                "$patch delete removes an element",
                json!({"spec": {"template": {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}}}),
                json!(["app:1"]),
            ),
            (
                "$patch replace on a list",
                json!({"spec": {"template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "o:1"}]}}}}),
                json!(["o:1"]),
            ),
            (
                "finalizers merge as a set",
                json!({"metadata": {"finalizers": ["y", "x"]}}),
                json!(["x", "y"]),
            ),
        ];
        for (name, patch, want) in cases {
            let mut obj = live.clone();
            strategic_merge(&mut obj, &patch).unwrap_or_else(|e| panic!("{name}: {e}"));
            let got = match name {
                n if n.contains("annotation") || n.contains("null") => {
                    if n.contains("null") {
                        obj["metadata"]["annotations"].clone()
                    } else {
                        obj["spec"]["template"]["metadata"]["annotations"].clone()
                    }
                }
                n if n.contains("finalizers") => obj["metadata"]["finalizers"].clone(),
                _ => Value::Array(
                    obj["spec"]["template"]["spec"]["containers"]
                        .as_array()
                        .map(|cs| cs.iter().map(|c| c["image"].clone()).collect())
                        .unwrap_or_default(),
                ),
            };
            assert_eq!(got, want, "{name}");
        }
        // env inside a merged container keeps its entries
        let mut obj = live.clone();
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "env": [{"name": "B", "value": "2"}]}]}}}});
        strategic_merge(&mut obj, &patch).unwrap_or_default();
        assert_eq!(
            obj["spec"]["template"]["spec"]["containers"][0]["env"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
    }

    #[test]
    fn json_and_merge_patches() {
        let mut obj = json!({"spec": {"replicas": 2, "paused": true}});
        apply_patch(
            PatchKind::Merge,
            &mut obj,
            br#"{"spec":{"replicas":5,"paused":null}}"#,
        )
        .unwrap_or_default();
        assert_eq!(obj, json!({"spec": {"replicas": 5}}));
        apply_patch(
            PatchKind::Json,
            &mut obj,
            br#"[{"op":"replace","path":"/spec/replicas","value":7}]"#,
        )
        .unwrap_or_default();
        assert_eq!(obj["spec"]["replicas"], 7);
        let failed = apply_patch(
            PatchKind::Json,
            &mut obj,
            br#"[{"op":"test","path":"/spec/replicas","value":1}]"#,
        );
        assert_eq!(failed.err().map(|e| e.code().as_u16()), Some(422));
        let bad = apply_patch(PatchKind::Json, &mut obj, b"{not json");
        assert_eq!(bad.err().map(|e| e.code().as_u16()), Some(400));
        let yaml = apply_patch(PatchKind::Apply, &mut obj, b"spec:\n  replicas: 9\n");
        assert!(yaml.is_ok());
        assert_eq!(obj["spec"]["replicas"], 9);
    }
}
