//! The query parameters of a request (`dryRun`, `fieldManager`,
//! `labelSelector`, `fieldSelector`, `limit`, `continue`, `watch`, ...),
//! parsed and checked once; unknown parameters are ignored, as kube-apiserver
//! does.

use super::error::ApiError;

/// Parsed query parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// `dryRun=All`.
    pub dry_run: bool,
    /// `fieldManager`.
    pub field_manager: Option<String>,
    /// `force` (server-side apply).
    pub force: bool,
    /// `labelSelector`.
    pub label_selector: Option<String>,
    /// `fieldSelector`.
    pub field_selector: Option<String>,
    /// `limit`.
    pub limit: Option<usize>,
    /// `continue`.
    pub continue_token: Option<String>,
    /// `propagationPolicy` (DELETE).
    pub propagation_policy: Option<String>,
    /// `gracePeriodSeconds` (DELETE).
    pub grace_period_seconds: Option<i64>,
}

impl Query {
    /// Parses a raw query string. `watch=true` is refused with 400 rather
    /// than left hanging: the simulator serves no watches.
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut q = Query::default();
        for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            match k.as_ref() {
                "dryRun" => {
                    if v != "All" {
                        return Err(ApiError::bad_request(format!(
                            "dryRun: Unsupported value: {v:?}: supported values: \"All\""
                        )));
                    }
                    q.dry_run = true;
                }
                "fieldManager" => {
                    if v.len() > 128 {
                        return Err(ApiError::bad_request(
                            "fieldManager: Too long: may not be more than 128 bytes",
                        ));
                    }
                    q.field_manager = Some(v.into_owned());
                }
                "force" => q.force = parse_bool(&k, &v)?,
                "labelSelector" => q.label_selector = Some(v.into_owned()),
                "fieldSelector" => q.field_selector = Some(v.into_owned()),
                "limit" => {
                    q.limit = Some(v.parse().map_err(|_| {
                        ApiError::bad_request(format!("limit: invalid value {v:?}"))
                    })?)
                }
                "continue" => q.continue_token = Some(v.into_owned()).filter(|c| !c.is_empty()),
                "propagationPolicy" => q.propagation_policy = Some(v.into_owned()),
                "gracePeriodSeconds" => {
                    q.grace_period_seconds = Some(v.parse().map_err(|_| {
                        ApiError::bad_request(format!("gracePeriodSeconds: invalid value {v:?}"))
                    })?)
                }
                "watch" => {
                    let watch = parse_bool(&k, &v)?;
                    if watch {
                        return Err(ApiError::bad_request(
                            "watch is not supported by the edgeheal simulated cluster (a simulator, not kube-apiserver); poll with list or get instead",
                        ));
                    }
                }
                _ => {}
            }
        }
        Ok(q)
    }
}

fn parse_bool(k: &str, v: &str) -> Result<bool, ApiError> {
    match v {
        "true" | "1" | "" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ApiError::bad_request(format!("{k}: invalid boolean {v:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_table() {
        let ok: &[(&str, Query)] = &[
            ("", Query::default()),
            (
                "dryRun=All&fieldManager=edgeheal",
                Query {
                    dry_run: true,
                    field_manager: Some("edgeheal".into()),
                    ..Query::default()
                },
            ),
            (
                "labelSelector=app%3Dweb%2Ctier%20in%20(a)",
                Query {
                    label_selector: Some("app=web,tier in (a)".into()),
                    ..Query::default()
                },
            ),
            (
                "limit=2&continue=shop%2Fa",
                Query {
                    limit: Some(2),
                    continue_token: Some("shop/a".into()),
                    ..Query::default()
                },
            ),
            ("watch=false&pretty=true", Query::default()),
        ];
        for (raw, want) in ok {
            assert_eq!(Query::parse(Some(raw)).as_ref(), Ok(want), "{raw}");
        }
        for bad in ["dryRun=Some", "watch=true", "watch=1", "limit=x"] {
            assert_eq!(
                Query::parse(Some(bad)).err().map(|e| e.code().as_u16()),
                Some(400),
                "{bad}"
            );
        }
    }
}
