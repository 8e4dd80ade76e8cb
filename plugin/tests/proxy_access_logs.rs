//! Errors that a proxy logs for another service are not the proxy's own. An
//! Istio sidecar (`istio-proxy`) logs the calls its pod makes to other
//! services (`outbound|8080||pay.shop.svc.cluster.local`) beside the requests
//! the pod serves (`inbound|8080||`); an ingress-nginx controller logs every
//! request it passes to a backend (`[blog-www-80] ... 10.1.2.3:8080 ... 502`).
//! When `pay` or `blog-www` fails, the caller or the controller must not open
//! an `error_burst` (its action would restart a workload that is not failing),
//! while errors the workload itself returns still do.

#![allow(clippy::panic)]

use std::collections::BTreeMap;

use edgeheal_plugin::{Filter, FilterConfig, ModelSet};

#[path = "common/proxy_streams.rs"]
mod proxy_streams;
use proxy_streams::{
    anomaly_of, ingress_stream, sidecar_stream, Ingress, Sidecar, OWN_FAULT_FROM, START,
};

/// The anomalies the filter with the embedded models tags in `stream`, by
/// `entity incident`: how many, and the time of the first.
fn anomalies(stream: &[(i64, String)]) -> BTreeMap<String, (usize, i64)> {
    let models = match ModelSet::from_embedded() {
        Some(Ok(m)) => m,
        other => panic!("the filter embeds models/default: {other:?}"),
    };
    let mut filter = Filter::new(FilterConfig::default(), Some(models));
    let mut out = Vec::new();
    let mut found = BTreeMap::new();
    for (ts, record) in stream {
        filter.process(b"kube.var.log", *ts, record.as_bytes(), &mut out);
        if let Some(anomaly) = anomaly_of(&String::from_utf8_lossy(&out)) {
            found.entry(anomaly).or_insert((0, *ts)).0 += 1;
        }
    }
    found
}

/// Anomalies of any incident tagged on `entity`.
fn anomalies_of(entity: &str, found: &BTreeMap<String, (usize, i64)>) -> usize {
    let prefix = format!("{entity} ");
    found
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(_, (n, _))| n)
        .sum()
}

/// Minutes into the stream of the first `error_burst` on `entity`.
fn first_error_burst(entity: &str, found: &BTreeMap<String, (usize, i64)>) -> Option<f64> {
    let (_, first) = found.get(&format!("{entity} error_burst"))?;
    Some((first - START) as f64 / 60e9)
}

#[test]
fn a_sidecars_failing_outbound_calls_open_no_error_burst_on_the_caller() {
    let found = anomalies(&sidecar_stream(Sidecar::OutboundFails));
    assert_eq!(anomalies_of("shop/cart", &found), 0, "{found:?}");
}

/// The same, then `cart`'s own requests fail: the error burst opens then,
/// not when `pay` went down.
#[test]
fn a_sidecars_failing_inbound_requests_still_open_an_error_burst() {
    let found = anomalies(&sidecar_stream(Sidecar::OutboundThenInboundFails));
    let first = first_error_burst("shop/cart", &found);
    let own_fault = (OWN_FAULT_FROM / 60_000_000_000) as f64;
    assert!(first.is_some_and(|m| m >= own_fault), "{first:?} {found:?}");
}

#[test]
fn one_failing_backend_opens_no_error_burst_on_the_ingress_controller() {
    for fault in [Ingress::Upstream502, Ingress::NoEndpoints] {
        let found = anomalies(&ingress_stream(fault));
        assert_eq!(
            anomalies_of("ingress-nginx/ingress-nginx-controller", &found),
            0,
            "{found:?}"
        );
    }
}

/// A backend fails, then the controller fails another's requests itself:
/// the error burst opens then, not when the backend went down.
#[test]
fn errors_the_ingress_controller_answers_itself_still_open_an_error_burst() {
    let found = anomalies(&ingress_stream(Ingress::ControllerFailsToo));
    let first = first_error_burst("ingress-nginx/ingress-nginx-controller", &found);
    let own_fault = (OWN_FAULT_FROM / 60_000_000_000) as f64;
    assert!(first.is_some_and(|m| m >= own_fault), "{first:?} {found:?}");
}
