//! Errors of the simulated API server: [`ApiError`], answered as a
//! `meta.k8s.io/v1` `Status` object with the reason and code a kube-apiserver
//! uses, and [`ServerError`] for starting the server and writing a kubeconfig.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::fmt;

/// The resource an error is about (`deployments.apps`, `pods`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceRef {
    /// API group, empty for the core group.
    pub group: &'static str,
    /// Plural resource name (`deployments`).
    pub plural: &'static str,
    /// Kind (`Deployment`).
    pub kind: &'static str,
}

impl ResourceRef {
    /// `deployments.apps`, or `pods` for the core group.
    pub fn qualified_resource(&self) -> String {
        qualify(self.plural, self.group)
    }

    /// `Deployment.apps`, or `Pod` for the core group.
    pub fn qualified_kind(&self) -> String {
        qualify(self.kind, self.group)
    }
}

fn qualify(name: &str, group: &str) -> String {
    if group.is_empty() {
        name.to_owned()
    } else {
        format!("{name}.{group}")
    }
}

/// What is wrong with one field, as `k8s.io/apimachinery/pkg/util/validation/field` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// `Required value`.
    Required,
    /// `Invalid value`.
    Invalid,
    /// `Forbidden`.
    Forbidden,
    /// `Unsupported value`.
    NotSupported,
    /// `Too long`.
    TooLong,
    /// `Duplicate value`.
    Duplicate,
}

impl FieldErrorKind {
    fn reason(self) -> &'static str {
        match self {
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::Invalid => "FieldValueInvalid",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
            FieldErrorKind::NotSupported => "FieldValueNotSupported",
            FieldErrorKind::TooLong => "FieldValueTooLong",
            FieldErrorKind::Duplicate => "FieldValueDuplicate",
        }
    }
}

/// One validation failure: a field path, what is wrong, the offending value and a detail.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// Field path (`spec.replicas`).
    pub field: String,
    /// What is wrong.
    pub kind: FieldErrorKind,
    /// The offending value as Kubernetes prints it (`-1`, `"x"`), for `Invalid` and friends.
    pub value: Option<String>,
    /// Detail (`must be greater than or equal to 0`).
    pub detail: String,
}

impl FieldError {
    /// `field: Required value[: detail]`.
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            kind: FieldErrorKind::Required,
            value: None,
            detail: detail.into(),
        }
    }

    /// `field: Invalid value: value: detail`.
    pub fn invalid(
        field: impl Into<String>,
        value: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            kind: FieldErrorKind::Invalid,
            value: Some(value.into()),
            detail: detail.into(),
        }
    }

    /// `field: Forbidden: detail`.
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            kind: FieldErrorKind::Forbidden,
            value: None,
            detail: detail.into(),
        }
    }

    /// `field: Unsupported value: value: supported values: ...`.
    pub fn not_supported(
        field: impl Into<String>,
        value: impl Into<String>,
        supported: &[&str],
    ) -> Self {
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        Self {
            field: field.into(),
            kind: FieldErrorKind::NotSupported,
            value: Some(value.into()),
            detail: format!("supported values: {}", list.join(", ")),
        }
    }

    /// `field: Too long: may not be more than N bytes`.
    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        Self {
            field: field.into(),
            kind: FieldErrorKind::TooLong,
            value: None,
            detail: format!("may not be more than {max} bytes"),
        }
    }

    /// `field: Duplicate value: value`.
    pub fn duplicate(field: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            kind: FieldErrorKind::Duplicate,
            value: Some(value.into()),
            detail: String::new(),
        }
    }

    /// The message without the field path (`Invalid value: -1: must be ...`).
    pub fn body(&self) -> String {
        let head = match self.kind {
            FieldErrorKind::Required => "Required value",
            FieldErrorKind::Invalid => "Invalid value",
            FieldErrorKind::Forbidden => "Forbidden",
            FieldErrorKind::NotSupported => "Unsupported value",
            FieldErrorKind::TooLong => "Too long",
            FieldErrorKind::Duplicate => "Duplicate value",
        };
        let mut s = head.to_owned();
        if let Some(v) = &self.value {
            s.push_str(": ");
            s.push_str(v);
        }
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// An API request failed; answered as a `Status` object.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// 404: the object does not exist.
    #[error("{} {name:?} not found", resource.qualified_resource())]
    NotFound {
        /// The resource.
        resource: ResourceRef,
        /// The object name.
        name: String,
    },
    /// 404: no such path.
    #[error("the server could not find the requested resource")]
    NoRoute,
    /// 409: an object of that name exists.
    #[error("{} {name:?} already exists", resource.qualified_resource())]
    AlreadyExists {
        /// The resource.
        resource: ResourceRef,
        /// The object name.
        name: String,
    },
    /// 409: stale resourceVersion or failed precondition.
    #[error("Operation cannot be fulfilled on {} {name:?}: {reason}", resource.qualified_resource())]
    Conflict {
        /// The resource.
        resource: ResourceRef,
        /// The object name.
        name: String,
        /// Why (`the object has been modified; ...`, `Precondition failed: ...`).
        reason: String,
    },
    /// 422: the object fails validation.
    #[error("{} {name:?} is invalid: {}", resource.qualified_kind(), join_causes(causes))]
    Invalid {
        /// The resource.
        resource: ResourceRef,
        /// The object name.
        name: String,
        /// The field errors.
        causes: Vec<FieldError>,
    },
    /// 422 without field causes (a JSON patch `test` failed, say).
    #[error("{message}")]
    Unprocessable {
        /// What failed.
        message: String,
    },
    /// 400: the request is malformed.
    #[error("{message}")]
    BadRequest {
        /// What is wrong.
        message: String,
    },
    /// 401: missing or wrong bearer token.
    #[error("Unauthorized")]
    Unauthorized,
    /// 403: the simulated world refused the change (as an admission plugin would).
    #[error("{} {name:?} is forbidden: {reason}", resource.qualified_resource())]
    Forbidden {
        /// The resource.
        resource: ResourceRef,
        /// The object name.
        name: String,
        /// Why.
        reason: String,
    },
    /// 405: the verb is not served on this path.
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    /// 415: unknown patch or body content type.
    #[error("the body of the request was in an unknown format - accepted media types include: {accepted}")]
    UnsupportedMediaType {
        /// Accepted media types, comma separated.
        accepted: &'static str,
    },
    /// 500: the simulated world failed; details go to the log, not the body.
    #[error("an internal error occurred in the simulated cluster")]
    Internal,
}

fn join_causes(causes: &[FieldError]) -> String {
    match causes {
        [one] => one.to_string(),
        many => format!(
            "[{}]",
            many.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl ApiError {
    /// The HTTP status code.
    pub fn code(&self) -> StatusCode {
        match self {
            ApiError::NotFound { .. } | ApiError::NoRoute => StatusCode::NOT_FOUND,
            ApiError::AlreadyExists { .. } | ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Invalid { .. } | ApiError::Unprocessable { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `Status.reason` (`NotFound`, `Conflict`, ...).
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } | ApiError::NoRoute => "NotFound",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } => "Conflict",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::Unprocessable { .. } => "",
            ApiError::BadRequest { .. } => "BadRequest",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::Forbidden { .. } => "Forbidden",
            ApiError::MethodNotAllowed => "MethodNotAllowed",
            ApiError::UnsupportedMediaType { .. } => "UnsupportedMediaType",
            ApiError::Internal => "InternalError",
        }
    }

    /// A `BadRequest` with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            message: message.into(),
        }
    }

    /// The stale-resourceVersion conflict kube-apiserver answers.
    pub fn modified(resource: ResourceRef, name: &str) -> Self {
        ApiError::Conflict {
            resource,
            name: name.to_owned(),
            reason: "the object has been modified; please apply your changes to the latest version and try again"
                .to_owned(),
        }
    }

    /// The `Status` object, as JSON.
    pub fn status(&self) -> Value {
        let details = match self {
            ApiError::NotFound { resource, name }
            | ApiError::AlreadyExists { resource, name }
            | ApiError::Conflict { resource, name, .. }
            | ApiError::Forbidden { resource, name, .. } => Some(json!({
                "name": name,
                "group": resource.group,
                "kind": resource.plural,
            })),
            ApiError::Invalid {
                resource,
                name,
                causes,
            } => Some(json!({
                "name": name,
                "group": resource.group,
                "kind": resource.kind,
                "causes": causes.iter().map(|c| json!({
                    "reason": c.kind.reason(),
                    "message": c.body(),
                    "field": c.field,
                })).collect::<Vec<_>>(),
            })),
            _ => None,
        };
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "code": self.code().as_u16(),
        });
        if let Some(obj) = status.as_object_mut() {
            let reason = self.reason();
            if !reason.is_empty() {
                obj.insert("reason".into(), Value::from(reason));
            }
            if let Some(d) = details {
                obj.insert("details".into(), d);
            }
        }
        status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.status()).unwrap_or_default();
        (
            self.code(),
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}

/// Starting the server or writing its kubeconfig failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Reading the listener's address or serving failed.
    #[error("simulated API server: {0}")]
    Serve(#[source] std::io::Error),
    /// The kubeconfig could not be written.
    #[error("writing kubeconfig {path}: {source}")]
    WriteKubeconfig {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The kubeconfig could not be serialized.
    #[error("serializing kubeconfig: {0}")]
    Kubeconfig(#[source] serde_norway::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPLOY: ResourceRef = ResourceRef {
        group: "apps",
        plural: "deployments",
        kind: "Deployment",
    };
    const POD: ResourceRef = ResourceRef {
        group: "",
        plural: "pods",
        kind: "Pod",
    };

    #[test]
    fn status_shapes() {
        let cases: Vec<(ApiError, u16, &str, &str)> = vec![
            (
                ApiError::NotFound {
                    resource: DEPLOY,
                    name: "web".into(),
                },
                404,
                "NotFound",
                r#"deployments.apps "web" not found"#,
            ),
            (
                ApiError::modified(POD, "p"),
                409,
                "Conflict",
                r#"Operation cannot be fulfilled on pods "p": the object has been modified; please apply your changes to the latest version and try again"#,
            ),
            (
                ApiError::AlreadyExists {
                    resource: POD,
                    name: "p".into(),
                },
                409,
                "AlreadyExists",
                r#"pods "p" already exists"#,
            ),
            (
                ApiError::Invalid {
                    resource: DEPLOY,
                    name: "web".into(),
                    causes: vec![FieldError::invalid(
                        "spec.replicas",
                        "-1",
                        "must be greater than or equal to 0",
                    )],
                },
                422,
                "Invalid",
                r#"Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"#,
            ),
            (
                ApiError::Invalid {
                    resource: DEPLOY,
                    name: "web".into(),
                    causes: vec![
                        FieldError::required("spec.selector", ""),
                        FieldError::required("a", "b"),
                    ],
                },
                422,
                "Invalid",
                r#"Deployment.apps "web" is invalid: [spec.selector: Required value, a: Required value: b]"#,
            ),
            (
                ApiError::MethodNotAllowed,
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            ),
        ];
        for (err, code, reason, message) in cases {
            let s = err.status();
            assert_eq!(s["kind"], "Status");
            assert_eq!(s["apiVersion"], "v1");
            assert_eq!(s["status"], "Failure");
            assert_eq!(s["code"], code, "{message}");
            assert_eq!(s["reason"], reason, "{message}");
            assert_eq!(s["message"], message);
        }
    }

    #[test]
    fn invalid_details_carry_causes() {
        let err = ApiError::Invalid {
            resource: DEPLOY,
            name: "web".into(),
            causes: vec![FieldError::invalid(
                "spec.replicas",
                "-1",
                "must be greater than or equal to 0",
            )],
        };
        let s = err.status();
        assert_eq!(s["details"]["kind"], "Deployment");
        assert_eq!(s["details"]["group"], "apps");
        assert_eq!(s["details"]["causes"][0]["reason"], "FieldValueInvalid");
        assert_eq!(s["details"]["causes"][0]["field"], "spec.replicas");
    }
}
