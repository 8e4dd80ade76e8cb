//! The resource kinds the simulated server stores, and what differs between
//! them: status subresource, generation, unconditional updates, supported
//! field selectors, and validation (the subset of kube-apiserver's rules a
//! healer can trip over).

use super::error::{FieldError, ResourceRef};
use super::selector::LabelQuery;
use super::store::{Store, Table};
use super::world::{World, WorldError};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::{ListableResource, Metadata, NamespaceResourceScope, Resource};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use k8s_openapi::api::core::v1::Pod;

/// A namespaced resource kind the store holds.
pub trait Kind:
    Resource<Scope = NamespaceResourceScope>
    + ListableResource
    + Metadata<Ty = ObjectMeta>
    + Clone
    + Serialize
    + DeserializeOwned
    + Send
    + 'static
{
    /// `metadata.generation` is maintained (bumped on spec changes).
    const HAS_GENERATION: bool = false;
    /// `status` is a subresource: writes to the main resource keep the old status.
    const HAS_STATUS: bool = false;
    /// Updates without `metadata.resourceVersion` are allowed.
    const UNCONDITIONAL_UPDATE: bool = true;
    /// DELETE answers the deleted object (pods) rather than a `Status`.
    const RETURN_DELETED: bool = false;
    /// Field selectors served besides `metadata.name` and `metadata.namespace`.
    const FIELD_SELECTORS: &'static [&'static str] = &[];
    /// Short names for discovery.
    const SHORT_NAMES: &'static [&'static str] = &[];

    /// The table of this kind.
    fn table(store: &Store) -> &Table<Self>;
    /// The table of this kind, mutably.
    fn table_mut(store: &mut Store) -> &mut Table<Self>;

    /// Kind-specific validation; `old` is set on update.
    fn validate(&self, _old: Option<&Self>) -> Vec<FieldError> {
        Vec::new()
    }

    /// Tells the world what a client's write (`new`) or delete (`new` is
    /// `None`) means; runs after the store holds the change.
    fn notify(
        _store: &mut Store,
        _world: &mut dyn World,
        _old: Option<&Self>,
        _new: Option<&Self>,
    ) -> Result<(), WorldError> {
        Ok(())
    }

    /// The resource, for errors.
    fn resource() -> ResourceRef {
        ResourceRef {
            group: Self::GROUP,
            plural: Self::URL_PATH_SEGMENT,
            kind: Self::KIND,
        }
    }
}

macro_rules! table {
    ($field:ident) => {
        fn table(store: &Store) -> &Table<Self> {
            &store.$field
        }
        fn table_mut(store: &mut Store) -> &mut Table<Self> {
            &mut store.$field
        }
    };
}

impl Kind for Deployment {
    const HAS_GENERATION: bool = true;
    const HAS_STATUS: bool = true;
    const SHORT_NAMES: &'static [&'static str] = &["deploy"];
    table!(deployments);

    fn notify(
        store: &mut Store,
        world: &mut dyn World,
        old: Option<&Self>,
        new: Option<&Self>,
    ) -> Result<(), WorldError> {
        super::effects::deployment_changed(store, world, old, new)
    }

    fn validate(&self, old: Option<&Self>) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let Some(spec) = &self.spec else {
            errs.push(FieldError::required("spec", ""));
            return errs;
        };
        non_negative(&mut errs, "spec.replicas", spec.replicas);
        non_negative(&mut errs, "spec.minReadySeconds", spec.min_ready_seconds);
        non_negative(
            &mut errs,
            "spec.revisionHistoryLimit",
            spec.revision_history_limit,
        );
        selector_and_template(&mut errs, &spec.selector, &spec.template);
        if let Some(old_sel) = old.and_then(|o| o.spec.as_ref()).map(|s| &s.selector) {
            if *old_sel != spec.selector {
                errs.push(FieldError::invalid(
                    "spec.selector",
                    selector_value(&spec.selector),
                    "field is immutable",
                ));
            }
        }
        errs
    }
}

impl Kind for ReplicaSet {
    const HAS_GENERATION: bool = true;
    const HAS_STATUS: bool = true;
    const SHORT_NAMES: &'static [&'static str] = &["rs"];
    table!(replica_sets);

    fn validate(&self, _old: Option<&Self>) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let Some(spec) = &self.spec else {
            errs.push(FieldError::required("spec", ""));
            return errs;
        };
        non_negative(&mut errs, "spec.replicas", spec.replicas);
        match &spec.template {
            Some(t) => selector_and_template(&mut errs, &spec.selector, t),
            None => errs.push(FieldError::required("spec.template", "")),
        }
        errs
    }
}

impl Kind for Pod {
    const HAS_STATUS: bool = true;
    const RETURN_DELETED: bool = true;
    const FIELD_SELECTORS: &'static [&'static str] = &[
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ];
    const SHORT_NAMES: &'static [&'static str] = &["po"];
    table!(pods);

    fn notify(
        store: &mut Store,
        world: &mut dyn World,
        old: Option<&Self>,
        new: Option<&Self>,
    ) -> Result<(), WorldError> {
        super::effects::pod_changed(store, world, old, new)
    }

    fn validate(&self, old: Option<&Self>) -> Vec<FieldError> {
        let mut errs = Vec::new();
        match &self.spec {
            Some(spec) => pod_spec(&mut errs, "spec", spec),
            None => errs.push(FieldError::required("spec", "")),
        }
        if let (Some(old_spec), Some(new_spec)) =
            (old.and_then(|o| o.spec.as_ref()), self.spec.as_ref())
        {
            // Only container images (and a few fields we do not model) may change.
            let mut a = old_spec.clone();
            for (c, n) in a.containers.iter_mut().zip(&new_spec.containers) {
                c.image.clone_from(&n.image);
            }
            a.active_deadline_seconds = new_spec.active_deadline_seconds;
            a.tolerations.clone_from(&new_spec.tolerations);
            if a != *new_spec {
                errs.push(FieldError::forbidden(
                    "spec",
                    "pod updates may not change fields other than `spec.containers[*].image`, `spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing tolerations), `spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
                ));
            }
        }
        errs
    }
}

impl Kind for HorizontalPodAutoscaler {
    const HAS_GENERATION: bool = true;
    const HAS_STATUS: bool = true;
    const SHORT_NAMES: &'static [&'static str] = &["hpa"];
    table!(hpas);

    fn notify(
        store: &mut Store,
        world: &mut dyn World,
        old: Option<&Self>,
        new: Option<&Self>,
    ) -> Result<(), WorldError> {
        super::effects::hpa_changed(store, world, old, new)
    }

    fn validate(&self, _old: Option<&Self>) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let Some(spec) = &self.spec else {
            errs.push(FieldError::required("spec", ""));
            return errs;
        };
        let min = spec.min_replicas.unwrap_or(1);
        if min < 1 {
            errs.push(FieldError::invalid(
                "spec.minReplicas",
                min.to_string(),
                "must be greater than or equal to 1",
            ));
        }
        if spec.max_replicas < 1 {
            errs.push(FieldError::invalid(
                "spec.maxReplicas",
                spec.max_replicas.to_string(),
                "must be greater than or equal to 1",
            ));
        }
        if min > spec.max_replicas {
            errs.push(FieldError::invalid(
                "spec.minReplicas",
                min.to_string(),
                "must be less than or equal to maxReplicas",
            ));
        }
        if spec.scale_target_ref.kind.is_empty() {
            errs.push(FieldError::required("spec.scaleTargetRef.kind", ""));
        }
        if spec.scale_target_ref.name.is_empty() {
            errs.push(FieldError::required("spec.scaleTargetRef.name", ""));
        }
        errs
    }
}

impl Kind for Event {
    const FIELD_SELECTORS: &'static [&'static str] = &[
        "regarding.kind",
        "regarding.namespace",
        "regarding.name",
        "regarding.uid",
        "regarding.apiVersion",
        "regarding.resourceVersion",
        "regarding.fieldPath",
        "reason",
        "reportingController",
        "type",
    ];
    const SHORT_NAMES: &'static [&'static str] = &["ev"];
    table!(events);

    /// The strict rules of `events.k8s.io/v1` creation (`ValidateEventCreate`).
    fn validate(&self, _old: Option<&Self>) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if self.event_time.is_none() {
            errs.push(FieldError::required("eventTime", ""));
        }
        let ty = self.type_.as_deref().unwrap_or("");
        if ty != "Normal" && ty != "Warning" {
            errs.push(FieldError::invalid(
                "type",
                format!("{ty:?}"),
                format!("has invalid value: {ty}"),
            ));
        }
        if self.deprecated_first_timestamp.is_some() {
            errs.push(FieldError::invalid(
                "deprecatedFirstTimestamp",
                "",
                "needs to be unset",
            ));
        }
        if self.deprecated_last_timestamp.is_some() {
            errs.push(FieldError::invalid(
                "deprecatedLastTimestamp",
                "",
                "needs to be unset",
            ));
        }
        for (field, value, max) in [
            ("reportingController", &self.reporting_controller, 253),
            ("reportingInstance", &self.reporting_instance, 128),
            ("action", &self.action, 128),
            ("reason", &self.reason, 128),
        ] {
            match value.as_deref() {
                None | Some("") => errs.push(FieldError::required(field, "")),
                Some(v) if v.len() > max => errs.push(FieldError::too_long(field, max)),
                Some(_) => {}
            }
        }
        if self.note.as_ref().is_some_and(|n| n.len() > 1024) {
            errs.push(FieldError::too_long("note", 1024));
        }
        errs
    }
}

impl Kind for Lease {
    const UNCONDITIONAL_UPDATE: bool = false;
    table!(leases);

    fn validate(&self, _old: Option<&Self>) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if let Some(spec) = &self.spec {
            if let Some(d) = spec.lease_duration_seconds.filter(|d| *d <= 0) {
                errs.push(FieldError::invalid(
                    "spec.leaseDurationSeconds",
                    d.to_string(),
                    "must be greater than 0",
                ));
            }
            non_negative(&mut errs, "spec.leaseTransitions", spec.lease_transitions);
        }
        errs
    }
}

fn non_negative(errs: &mut Vec<FieldError>, field: &str, v: Option<i32>) {
    if let Some(v) = v.filter(|v| *v < 0) {
        errs.push(FieldError::invalid(
            field,
            v.to_string(),
            "must be greater than or equal to 0",
        ));
    }
}

fn selector_value(sel: &LabelSelector) -> String {
    LabelQuery::from_selector(sel)
        .map(|q| format!("{:?}", q.to_string()))
        .unwrap_or_default()
}

fn selector_and_template(
    errs: &mut Vec<FieldError>,
    selector: &LabelSelector,
    template: &PodTemplateSpec,
) {
    let empty = selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(|m| m.is_empty());
    if empty {
        errs.push(FieldError::required("spec.selector", ""));
    }
    match LabelQuery::from_selector(selector) {
        Err(e) => errs.push(FieldError::invalid(
            "spec.selector",
            selector_value(selector),
            e,
        )),
        Ok(q) => {
            let labels = template.metadata.as_ref().and_then(|m| m.labels.as_ref());
            if !empty && !q.matches(labels) {
                errs.push(FieldError::invalid(
                    "spec.template.metadata.labels",
                    format!("{:?}", labels.cloned().unwrap_or_default()),
                    "`selector` does not match template `labels`",
                ));
            }
        }
    }
    match &template.spec {
        Some(spec) => pod_spec(errs, "spec.template.spec", spec),
        None => errs.push(FieldError::required("spec.template.spec", "")),
    }
}

fn pod_spec(errs: &mut Vec<FieldError>, path: &str, spec: &PodSpec) {
    if spec.containers.is_empty() {
        errs.push(FieldError::required(format!("{path}.containers"), ""));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, c) in spec.containers.iter().enumerate() {
        if c.name.is_empty() {
            errs.push(FieldError::required(
                format!("{path}.containers[{i}].name"),
                "",
            ));
        } else if !seen.insert(c.name.as_str()) {
            errs.push(FieldError::duplicate(
                format!("{path}.containers[{i}].name"),
                format!("{:?}", c.name),
            ));
        }
        if c.image.as_deref().is_none_or(str::is_empty) {
            errs.push(FieldError::required(
                format!("{path}.containers[{i}].image"),
                "",
            ));
        }
    }
}

/// Validates an object name as a DNS-1123 subdomain (what most kinds require).
pub fn validate_name(name: &str) -> Vec<FieldError> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && label
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphanumeric())
                && label
                    .bytes()
                    .last()
                    .is_some_and(|b| b.is_ascii_alphanumeric())
        });
    if name.is_empty() {
        vec![FieldError::required(
            "metadata.name",
            "name or generateName is required",
        )]
    } else if ok {
        Vec::new()
    } else {
        vec![FieldError::invalid(
            "metadata.name",
            format!("{name:?}"),
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(v: serde_json::Value) -> Deployment {
        serde_json::from_value(v).unwrap_or_default()
    }

    fn fields(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(|e| e.field.clone()).collect()
    }

    #[test]
    fn deployment_validation_table() {
        let good = json!({"metadata": {"name": "web"}, "spec": {"replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "web:1"}]}}}});
        let mut negative = good.clone();
        negative["spec"]["replicas"] = json!(-1);
        let mut mismatch = good.clone();
        mismatch["spec"]["template"]["metadata"]["labels"] = json!({"app": "other"});
        let mut no_image = good.clone();
        no_image["spec"]["template"]["spec"]["containers"][0]["image"] = json!(null);
        let mut no_selector = good.clone();
        no_selector["spec"]["selector"] = json!({});
        let cases: Vec<(&str, serde_json::Value, Vec<&str>)> = vec![
            ("valid", good.clone(), vec![]),
            ("negative replicas", negative, vec!["spec.replicas"]),
            (
                "selector mismatch",
                mismatch,
                vec!["spec.template.metadata.labels"],
            ),
            (
                "missing image",
                no_image,
                vec!["spec.template.spec.containers[0].image"],
            ),
            ("empty selector", no_selector, vec!["spec.selector"]),
        ];
        for (name, v, want) in cases {
            assert_eq!(fields(&deployment(v).validate(None)), want, "{name}");
        }
        let mut other_sel = good.clone();
        other_sel["spec"]["selector"]["matchLabels"]["tier"] = json!("x");
        other_sel["spec"]["template"]["metadata"]["labels"]["tier"] = json!("x");
        let old = deployment(good);
        assert_eq!(
            fields(&deployment(other_sel).validate(Some(&old))),
            vec!["spec.selector"]
        );
    }

    #[test]
    fn hpa_and_event_and_lease_validation() {
        let hpa = |min: i32, max: i32| -> HorizontalPodAutoscaler {
            serde_json::from_value(
                json!({"metadata": {"name": "h"}, "spec": {"minReplicas": min, "maxReplicas": max,
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}}),
            )
            .unwrap_or_default()
        };
        assert!(hpa(2, 5).validate(None).is_empty());
        assert_eq!(fields(&hpa(0, 5).validate(None)), vec!["spec.minReplicas"]);
        assert_eq!(fields(&hpa(6, 5).validate(None)), vec!["spec.minReplicas"]);
        let ev: Event =
            serde_json::from_value(json!({"metadata": {"name": "e"}, "type": "Normal"}))
                .unwrap_or_default();
        assert_eq!(
            fields(&ev.validate(None)),
            vec![
                "eventTime",
                "reportingController",
                "reportingInstance",
                "action",
                "reason"
            ]
        );
        let lease: Lease = serde_json::from_value(
            json!({"metadata": {"name": "l"}, "spec": {"leaseDurationSeconds": 0}}),
        )
        .unwrap_or_default();
        assert_eq!(
            fields(&lease.validate(None)),
            vec!["spec.leaseDurationSeconds"]
        );
    }

    #[test]
    fn names() {
        let cases: &[(&str, bool)] = &[
            ("web", true),
            ("web-1.x", true),
            ("", false),
            ("Web", false),
            ("-web", false),
            ("web_1", false),
        ];
        for (name, ok) in cases {
            assert_eq!(validate_name(name).is_empty(), *ok, "{name:?}");
        }
    }
}
