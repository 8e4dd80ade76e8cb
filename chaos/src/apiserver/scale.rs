//! The `/scale` subresource of Deployments: an `autoscaling/v1` `Scale`
//! read from the Deployment, and written back as a change of
//! `spec.replicas` only (resourceVersion precondition, dry run, managedFields
//! with `subresource: scale`).

use super::error::{ApiError, FieldError, ResourceRef};
use super::ops::{self, Op, Writer};
use super::patch::{apply_patch, PatchKind};
use super::query::Query;
use super::selector::LabelQuery;
use super::state::Inner;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v1::{Scale, ScaleSpec, ScaleStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::Resource;
use serde_json::Value;

const SCALE: ResourceRef = ResourceRef {
    group: "autoscaling",
    plural: "scale",
    kind: "Scale",
};

/// The `Scale` of a Deployment.
pub fn scale_of(d: &Deployment) -> Scale {
    let spec = d.spec.as_ref();
    Scale {
        metadata: ObjectMeta {
            name: d.metadata.name.clone(),
            namespace: d.metadata.namespace.clone(),
            uid: d.metadata.uid.clone(),
            resource_version: d.metadata.resource_version.clone(),
            creation_timestamp: d.metadata.creation_timestamp.clone(),
            ..ObjectMeta::default()
        },
        spec: Some(ScaleSpec {
            replicas: Some(spec.and_then(|s| s.replicas).unwrap_or(1)),
        }),
        status: Some(ScaleStatus {
            replicas: d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0),
            selector: spec
                .and_then(|s| LabelQuery::from_selector(&s.selector).ok())
                .map(|q| q.to_string()),
        }),
    }
}

fn deployment(inner: &Inner, ns: &str, name: &str) -> Result<Deployment, ApiError> {
    inner
        .store
        .get::<Deployment>(ns, name)
        .cloned()
        .ok_or_else(|| ApiError::NotFound {
            resource: ResourceRef {
                group: Deployment::GROUP,
                plural: Deployment::URL_PATH_SEGMENT,
                kind: Deployment::KIND,
            },
            name: name.to_owned(),
        })
}

fn to_json(s: &Scale) -> Value {
    serde_json::to_value(s).unwrap_or(Value::Null)
}

/// GET `.../deployments/{name}/scale`.
pub(crate) fn get(inner: &Inner, ns: &str, name: &str) -> Result<Value, ApiError> {
    Ok(to_json(&scale_of(&deployment(inner, ns, name)?)))
}

/// PATCH `.../deployments/{name}/scale`.
pub(crate) fn patch(
    inner: &mut Inner,
    ns: &str,
    name: &str,
    q: &Query,
    kind: PatchKind,
    body: &[u8],
    w: &Writer<'_>,
) -> Result<Value, ApiError> {
    let d = deployment(inner, ns, name)?;
    let mut v = to_json(&scale_of(&d));
    apply_patch(kind, &mut v, body)?;
    write(inner, ns, name, q, d, v, w)
}

/// PUT `.../deployments/{name}/scale`.
pub(crate) fn replace(
    inner: &mut Inner,
    ns: &str,
    name: &str,
    q: &Query,
    body: Value,
    w: &Writer<'_>,
) -> Result<Value, ApiError> {
    let d = deployment(inner, ns, name)?;
    write(inner, ns, name, q, d, body, w)
}

fn write(
    inner: &mut Inner,
    ns: &str,
    name: &str,
    q: &Query,
    d: Deployment,
    scale: Value,
    w: &Writer<'_>,
) -> Result<Value, ApiError> {
    let scale: Scale = serde_json::from_value(scale)
        .map_err(|e| ApiError::bad_request(format!("error decoding Scale: {e}")))?;
    if let Some(n) = scale.metadata.name.as_deref().filter(|n| *n != name) {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        )));
    }
    let replicas = scale.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
    if replicas < 0 {
        return Err(ApiError::Invalid {
            resource: SCALE,
            name: name.to_owned(),
            causes: vec![FieldError::invalid(
                "spec.replicas",
                replicas.to_string(),
                "must be greater than or equal to 0",
            )],
        });
    }
    let mut dv = serde_json::to_value(&d).unwrap_or(Value::Null);
    dv["spec"]["replicas"] = Value::from(replicas);
    if let Some(rv) = scale.metadata.resource_version.filter(|r| !r.is_empty()) {
        dv["metadata"]["resourceVersion"] = Value::from(rv);
    }
    let sub = Writer {
        manager: w.manager,
        subresource: Some("scale"),
    };
    let out = ops::write::<Deployment>(inner, ns, Some(name), Some(d), dv, q, Op::Update, &sub)?;
    let written: Deployment = serde_json::from_value(out)
        .map_err(|e| ApiError::bad_request(format!("error decoding Deployment: {e}")))?;
    Ok(to_json(&scale_of(&written)))
}
