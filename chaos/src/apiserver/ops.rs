//! The verbs, generic over the stored [`Kind`]s: get, list (label and field
//! selectors, `limit`/`continue`), create, replace, patch (all four patch
//! types), delete (preconditions, propagation), with `dryRun=All`,
//! `fieldManager`, optimistic concurrency on `metadata.resourceVersion`, and
//! the world told about every committed change.

use super::controller::reconcile;
use super::error::{ApiError, FieldError, ResourceRef};
use super::kinds::{validate_name, Kind};
use super::patch::{apply_patch, parse_body, strategic_merge, PatchKind};
use super::query::Query;
use super::selector::{FieldQuery, LabelQuery};
use super::state::Inner;
use super::world::WorldError;
use axum::http::StatusCode;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions;
use serde_json::{json, Map, Value};

/// How an object is being written (for `managedFields`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// POST
    Create,
    /// PUT, or a non-apply PATCH
    Update,
    /// Server-side apply
    Apply,
}

/// Who writes, for `managedFields`.
#[derive(Debug, Clone)]
pub(crate) struct Writer<'a> {
    /// `fieldManager`, or the client's user-agent product.
    pub manager: &'a str,
    /// The subresource written through (`scale`), if any.
    pub subresource: Option<&'a str>,
}

fn to_json<K: Kind>(obj: &K) -> Value {
    serde_json::to_value(obj).unwrap_or(Value::Null)
}

fn world_error(resource: ResourceRef, name: &str, e: WorldError) -> ApiError {
    match e {
        WorldError::Rejected(reason) => ApiError::Forbidden {
            resource,
            name: name.to_owned(),
            reason,
        },
        WorldError::Failed(detail) => {
            tracing::error!(resource = %resource.qualified_resource(), %name, %detail, "simulated world failed");
            ApiError::Internal
        }
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |cur, k| cur.get(k))
        .and_then(Value::as_str)
}

/// GET one object.
pub(crate) fn get<K: Kind>(inner: &Inner, ns: &str, name: &str) -> Result<Value, ApiError> {
    inner
        .store
        .get::<K>(ns, name)
        .map(to_json)
        .ok_or_else(|| ApiError::NotFound {
            resource: K::resource(),
            name: name.to_owned(),
        })
}

/// GET a collection (`ns` `None`: all namespaces).
pub(crate) fn list<K: Kind>(inner: &Inner, ns: Option<&str>, q: &Query) -> Result<Value, ApiError> {
    let labels = LabelQuery::parse(q.label_selector.as_deref().unwrap_or(""))?;
    let fields = FieldQuery::parse(
        q.field_selector.as_deref().unwrap_or(""),
        K::FIELD_SELECTORS,
    )?;
    let start = q.continue_token.as_deref().unwrap_or("");
    let mut items: Vec<(String, Value)> = Vec::new();
    for obj in K::table(&inner.store).iter_ns(ns) {
        let m = obj.metadata();
        let key = format!(
            "{}/{}",
            m.namespace.as_deref().unwrap_or(""),
            m.name.as_deref().unwrap_or("")
        );
        if !start.is_empty() && key.as_str() <= start {
            continue;
        }
        if !labels.matches(m.labels.as_ref()) {
            continue;
        }
        let mut v = to_json(obj);
        if !fields.matches(&v) {
            continue;
        }
        if let Some(o) = v.as_object_mut() {
            o.remove("kind");
            o.remove("apiVersion");
        }
        items.push((key, v));
    }
    let mut meta = Map::new();
    meta.insert(
        "resourceVersion".into(),
        Value::from(inner.store.resource_version().to_string()),
    );
    if let Some(limit) = q.limit.filter(|l| *l > 0 && *l < items.len()) {
        let remaining = items.len() - limit;
        items.truncate(limit);
        if let Some((last, _)) = items.last() {
            meta.insert("continue".into(), Value::from(last.clone()));
            meta.insert("remainingItemCount".into(), Value::from(remaining));
        }
    }
    Ok(json!({
        "kind": K::LIST_KIND,
        "apiVersion": K::API_VERSION,
        "metadata": meta,
        "items": items.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
    }))
}

/// POST: create from `body`.
pub(crate) fn create<K: Kind>(
    inner: &mut Inner,
    ns: &str,
    q: &Query,
    body: Value,
    w: &Writer<'_>,
) -> Result<Value, ApiError> {
    write::<K>(inner, ns, None, None, body, q, Op::Create, w)
}

/// PUT: replace `name` with `body`.
pub(crate) fn replace<K: Kind>(
    inner: &mut Inner,
    ns: &str,
    name: &str,
    q: &Query,
    body: Value,
    w: &Writer<'_>,
) -> Result<Value, ApiError> {
    let old = inner
        .store
        .get::<K>(ns, name)
        .cloned()
        .ok_or_else(|| ApiError::NotFound {
            resource: K::resource(),
            name: name.to_owned(),
        })?;
    write::<K>(inner, ns, Some(name), Some(old), body, q, Op::Update, w)
}

/// PATCH `name`; server-side apply of a missing object creates it (201).
pub(crate) fn patch<K: Kind>(
    inner: &mut Inner,
    ns: &str,
    name: &str,
    q: &Query,
    kind: PatchKind,
    body: &[u8],
    w: &Writer<'_>,
) -> Result<(StatusCode, Value), ApiError> {
    let old = inner.store.get::<K>(ns, name).cloned();
    if kind == PatchKind::Apply {
        if q.field_manager.as_deref().is_none_or(str::is_empty) {
            return Err(ApiError::bad_request(
                "PATCH, fieldManager is required for apply requests",
            ));
        }
        let applied = parse_body(body, true)?;
        if str_at(&applied, &["apiVersion"]) != Some(K::API_VERSION)
            || str_at(&applied, &["kind"]) != Some(K::KIND)
        {
            return Err(ApiError::bad_request(format!(
                "apply patches must set apiVersion {:?} and kind {:?}",
                K::API_VERSION,
                K::KIND
            )));
        }
        return match old {
            None => Ok((
                StatusCode::CREATED,
                write::<K>(inner, ns, Some(name), None, applied, q, Op::Apply, w)?,
            )),
            Some(old) => {
                let mut live = to_json(&old);
                strategic_merge(&mut live, &applied)?;
                Ok((
                    StatusCode::OK,
                    write::<K>(inner, ns, Some(name), Some(old), live, q, Op::Apply, w)?,
                ))
            }
        };
    }
    let old = old.ok_or_else(|| ApiError::NotFound {
        resource: K::resource(),
        name: name.to_owned(),
    })?;
    let mut live = to_json(&old);
    apply_patch(kind, &mut live, body)?;
    Ok((
        StatusCode::OK,
        write::<K>(inner, ns, Some(name), Some(old), live, q, Op::Update, w)?,
    ))
}

/// The common write path: identity and system fields, optimistic
/// concurrency, generation, managedFields, decoding, validation, dry run,
/// commit, the world, the controllers.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write<K: Kind>(
    inner: &mut Inner,
    ns: &str,
    url_name: Option<&str>,
    old: Option<K>,
    mut obj: Value,
    q: &Query,
    op: Op,
    w: &Writer<'_>,
) -> Result<Value, ApiError> {
    let res = K::resource();
    for (field, want) in [("apiVersion", K::API_VERSION), ("kind", K::KIND)] {
        if let Some(got) = obj
            .get(field)
            .and_then(Value::as_str)
            .filter(|g| !g.is_empty() && *g != want)
        {
            return Err(ApiError::bad_request(format!(
                "the {field} in the data ({got}) does not match the expected {field} ({want})"
            )));
        }
    }
    let Some(root) = obj.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    };
    let meta_slot = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta_slot.is_object() {
        *meta_slot = Value::Object(Map::new());
    }
    let mut meta = meta_slot.as_object().cloned().unwrap_or_default();
    match meta.get("namespace").and_then(Value::as_str) {
        Some(n) if !n.is_empty() && n != ns => return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => {
            meta.insert("namespace".into(), Value::from(ns));
        }
    }
    let name = match (
        meta.get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty()),
        url_name,
    ) {
        (Some(n), Some(u)) if n != u => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({u})"
            )))
        }
        (Some(n), _) => n.to_owned(),
        (None, Some(u)) => u.to_owned(),
        (None, None) => match meta
            .get("generateName")
            .and_then(Value::as_str)
            .filter(|g| !g.is_empty())
        {
            Some(prefix) => {
                let mut ids = inner.store.ids.clone();
                let mut n = format!("{prefix}{}", ids.suffix(5));
                while inner.store.get::<K>(ns, &n).is_some() {
                    n = format!("{prefix}{}", ids.suffix(5));
                }
                if !q.dry_run {
                    inner.store.ids = ids;
                }
                n
            }
            None => {
                return Err(ApiError::Invalid {
                    resource: res,
                    name: String::new(),
                    causes: validate_name(""),
                })
            }
        },
    };
    meta.insert("name".into(), Value::from(name.clone()));
    let now = inner.store.now_time();
    let mut causes = Vec::new();
    match &old {
        Some(old_obj) => {
            let old_json = to_json(old_obj);
            let old_meta = old_obj.metadata();
            let old_rv = old_meta.resource_version.clone().unwrap_or_default();
            match meta
                .get("resourceVersion")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
            {
                Some(rv) if rv != old_rv => return Err(ApiError::modified(res, &name)),
                Some(_) => {}
                None if !K::UNCONDITIONAL_UPDATE && op != Op::Apply => {
                    causes.push(FieldError::invalid(
                        "metadata.resourceVersion",
                        "0x0",
                        "must be specified for an update",
                    ))
                }
                None => {}
            }
            let old_uid = old_meta.uid.clone().unwrap_or_default();
            if let Some(uid) = meta
                .get("uid")
                .and_then(Value::as_str)
                .filter(|u| !u.is_empty() && *u != old_uid)
            {
                return Err(ApiError::Conflict {
                    resource: res,
                    name,
                    reason: format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {old_uid}"),
                });
            }
            for key in [
                "uid",
                "creationTimestamp",
                "generation",
                "deletionTimestamp",
                "managedFields",
            ] {
                match old_json["metadata"].get(key) {
                    Some(v) => meta.insert(key.into(), v.clone()),
                    None => meta.remove(key),
                };
            }
            meta.insert("resourceVersion".into(), Value::from(old_rv));
            if K::HAS_STATUS {
                match old_json.get("status") {
                    Some(s) => root.insert("status".into(), s.clone()),
                    None => root.remove("status"),
                };
            }
            if K::HAS_GENERATION {
                let spec_changed = root.get("spec") != old_json.get("spec");
                let annotations_changed = K::KIND == "Deployment"
                    && meta.get("annotations") != old_json["metadata"].get("annotations");
                if spec_changed || annotations_changed {
                    let g = old_meta.generation.unwrap_or(1) + 1;
                    meta.insert("generation".into(), Value::from(g));
                }
            }
        }
        None => {
            if inner.store.get::<K>(ns, &name).is_some() {
                return Err(ApiError::AlreadyExists {
                    resource: res,
                    name,
                });
            }
            causes.extend(validate_name(&name));
            let uid = if q.dry_run {
                inner.store.ids.clone().uid()
            } else {
                inner.store.new_uid()
            };
            meta.insert("uid".into(), Value::from(uid));
            meta.insert(
                "creationTimestamp".into(),
                serde_json::to_value(&now).unwrap_or(Value::Null),
            );
            for key in [
                "resourceVersion",
                "deletionTimestamp",
                "managedFields",
                "generation",
            ] {
                meta.remove(key);
            }
            if K::HAS_GENERATION {
                meta.insert("generation".into(), Value::from(1));
            }
            if K::HAS_STATUS {
                root.remove("status");
                if K::KIND == "Pod" {
                    root.insert(
                        "status".into(),
                        json!({"phase": "Pending", "qosClass": "BestEffort"}),
                    );
                }
            }
        }
    }
    record_manager::<K>(&mut meta, w, op, &now);
    root.insert("metadata".into(), Value::Object(meta));
    let typed: K = serde_json::from_value(obj)
        .map_err(|e| ApiError::bad_request(format!("error decoding {} {name:?}: {e}", K::KIND)))?;
    causes.extend(typed.validate(old.as_ref()));
    if !causes.is_empty() {
        return Err(ApiError::Invalid {
            resource: res,
            name,
            causes,
        });
    }
    if q.dry_run {
        return Ok(to_json(&typed));
    }
    let stored = inner.store.put(typed);
    if let Err(e) = K::notify(
        &mut inner.store,
        inner.world.as_mut(),
        old.as_ref(),
        Some(&stored),
    ) {
        match old {
            Some(o) => {
                inner.store.put(o);
            }
            None => {
                inner.store.remove::<K>(ns, &name);
            }
        }
        return Err(world_error(res, &name, e));
    }
    reconcile(&mut inner.store, inner.world.as_mut(), inner.mode);
    Ok(to_json(&stored))
}

fn record_manager<K: Kind>(
    meta: &mut Map<String, Value>,
    w: &Writer<'_>,
    op: Op,
    now: &impl serde::Serialize,
) {
    let operation = if op == Op::Apply { "Apply" } else { "Update" };
    let mut entries: Vec<Value> = meta
        .get("managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    entries.retain(|e| {
        !(e.get("manager").and_then(Value::as_str) == Some(w.manager)
            && e.get("operation").and_then(Value::as_str) == Some(operation)
            && e.get("subresource").and_then(Value::as_str) == w.subresource)
    });
    let mut entry = json!({
        "manager": w.manager,
        "operation": operation,
        "apiVersion": K::API_VERSION,
        "time": now,
        "fieldsType": "FieldsV1",
        "fieldsV1": {},
    });
    if let (Some(sub), Some(o)) = (w.subresource, entry.as_object_mut()) {
        o.insert("subresource".into(), Value::from(sub));
    }
    entries.push(entry);
    meta.insert("managedFields".into(), Value::Array(entries));
}

/// DELETE with `DeleteOptions` (preconditions, dry run, propagation).
pub(crate) fn delete<K: Kind>(
    inner: &mut Inner,
    ns: &str,
    name: &str,
    q: &Query,
    opts: &DeleteOptions,
) -> Result<Value, ApiError> {
    let res = K::resource();
    let old = inner
        .store
        .get::<K>(ns, name)
        .cloned()
        .ok_or_else(|| ApiError::NotFound {
            resource: res,
            name: name.to_owned(),
        })?;
    let meta = old.metadata();
    let uid = meta.uid.clone().unwrap_or_default();
    let rv = meta.resource_version.clone().unwrap_or_default();
    if let Some(pre) = &opts.preconditions {
        if let Some(p) = pre.uid.as_deref().filter(|p| *p != uid) {
            return Err(ApiError::Conflict {
                resource: res,
                name: name.to_owned(),
                reason: format!(
                    "Precondition failed: UID in precondition: {p}, UID in object meta: {uid}"
                ),
            });
        }
        if let Some(p) = pre.resource_version.as_deref().filter(|p| *p != rv) {
            return Err(ApiError::Conflict {
                resource: res,
                name: name.to_owned(),
                reason: format!(
                    "Precondition failed: ResourceVersion in precondition: {p}, ResourceVersion in object meta: {rv}"
                ),
            });
        }
    }
    let mut dry_run = q.dry_run;
    for d in opts.dry_run.iter().flatten() {
        if d != "All" {
            return Err(ApiError::bad_request(format!(
                "dryRun: Unsupported value: {d:?}: supported values: \"All\""
            )));
        }
        dry_run = true;
    }
    let policy = opts
        .propagation_policy
        .clone()
        .or_else(|| q.propagation_policy.clone());
    if let Some(p) = policy
        .as_deref()
        .filter(|p| !matches!(*p, "Orphan" | "Background" | "Foreground"))
    {
        return Err(ApiError::bad_request(format!(
            "propagationPolicy: Unsupported value: {p:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
        )));
    }
    let response = if K::RETURN_DELETED {
        let mut v = to_json(&old);
        let grace = opts
            .grace_period_seconds
            .or(q.grace_period_seconds)
            .unwrap_or(30);
        v["metadata"]["deletionTimestamp"] =
            serde_json::to_value(inner.store.now_time()).unwrap_or(Value::Null);
        v["metadata"]["deletionGracePeriodSeconds"] = Value::from(grace);
        v
    } else {
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {"name": name, "group": res.group, "kind": res.plural, "uid": uid},
        })
    };
    if dry_run {
        return Ok(response);
    }
    inner.store.remove::<K>(ns, name);
    if let Err(e) = K::notify(&mut inner.store, inner.world.as_mut(), Some(&old), None) {
        inner.store.put(old);
        return Err(world_error(res, name, e));
    }
    if policy.as_deref() != Some("Orphan") {
        inner.store.collect_garbage(&uid);
    }
    reconcile(&mut inner.store, inner.world.as_mut(), inner.mode);
    Ok(response)
}
