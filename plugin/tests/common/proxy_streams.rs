//! The proxy streams of `proxy_access_logs.rs` (and of the cross-crate
//! tests that run them through the `.wasm` filter and the Vector pipeline):
//! an Istio sidecar's access log and an ingress-nginx controller's, thirty
//! minutes each, with a fault from minute 20. Records are Fluent Bit `tail` +
//! `kubernetes` records, each with its event time.

#![allow(dead_code)]

use edgeheal_plugin::timestamp::write_rfc3339;

const S: i64 = 1_000_000_000;
/// The streams' start, 2024-05-01T10:00:00Z.
pub const START: i64 = 1_714_557_600 * S;
/// The other service's fault starts at minute 20 (after [`START`]).
pub const FAULT_FROM: i64 = 20 * 60 * S;
/// The logging workload's own fault, where there is one, at minute 25; the
/// streams end at minute 30.
pub const OWN_FAULT_FROM: i64 = 25 * 60 * S;
const END: i64 = 30 * 60 * S;

/// Deterministic noise for durations (xorshift64).
struct Noise(u64);

impl Noise {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// What fails, and from when, in the sidecar stream.
#[derive(Clone, Copy, PartialEq)]
pub enum Sidecar {
    /// From minute 20, `cart`'s calls to `pay` (`pay` is down).
    OutboundFails,
    /// As [`Sidecar::OutboundFails`], and from minute 25 `cart`'s own
    /// requests too.
    OutboundThenInboundFails,
}

/// `shop/cart`'s two pods: the `istio-proxy` container logs, every second
/// and for each pod, five requests `cart` serves and five calls it makes to
/// `pay`, in Istio's default access-log format.
pub fn sidecar_stream(fault: Sidecar) -> Vec<(i64, String)> {
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::new();
    let pods = ["cart-7d4b9c8f6-x2x9z", "cart-7d4b9c8f6-b4k8m"];
    let mut at = 0;
    while at < END {
        let outbound_fails = at >= FAULT_FROM;
        let inbound_fails = at >= OWN_FAULT_FROM && fault == Sidecar::OutboundThenInboundFails;
        for (p, pod) in pods.iter().enumerate() {
            for i in 0..5i64 {
                let ts = START + at + (p as i64 * 5 + i) * S / 10;
                let (code, flags, details) = if inbound_fails {
                    (
                        503,
                        "UF",
                        "upstream_reset_before_response_started{connection_failure}",
                    )
                } else {
                    (200, "-", "via_upstream")
                };
                let ms = 5 + noise.below(15);
                let inbound = format!(
                    r#"[{}] "GET /cart HTTP/1.1" {code} {flags} {details} - "-" 0 91 {ms} {} "-" "curl/8.5.0" "5a1b" "cart:8080" "10.0.0.9:8080" inbound|8080|| 127.0.0.6:44021 10.0.0.9:8080 10.0.0.2:40000 outbound_.8080_._.cart.shop.svc.cluster.local default"#,
                    time(ts),
                    ms.saturating_sub(1),
                );
                out.push((
                    ts,
                    record(ts, "shop", pod, "istio-proxy", "app", "cart", &inbound),
                ));
                let ts = ts + S / 20;
                let (code, flags, details) = if outbound_fails {
                    (
                        503,
                        "UF,URX",
                        "upstream_reset_before_response_started{connection_failure}",
                    )
                } else {
                    (200, "-", "via_upstream")
                };
                let outbound = format!(
                    r#"[{}] "POST /price HTTP/1.1" {code} {flags} {details} - "-" 0 91 {} - "-" "grpc-go/1.60" "7c2d" "pay:8080" "10.0.0.7:8080" outbound|8080||pay.shop.svc.cluster.local 10.0.0.9:51234 10.96.0.12:8080 10.0.0.9:40418 - default"#,
                    time(ts),
                    3 + noise.below(8),
                );
                out.push((
                    ts,
                    record(ts, "shop", pod, "istio-proxy", "app", "cart", &outbound),
                ));
            }
        }
        at += S;
    }
    out
}

/// What fails, and from when, in the ingress stream.
#[derive(Clone, Copy, PartialEq)]
pub enum Ingress {
    /// From minute 20, `blog-www`'s pods answer 502 through the controller.
    Upstream502,
    /// From minute 20, `blog-www` has no ready endpoint: the controller
    /// answers 503 itself, no upstream tried.
    NoEndpoints,
    /// As [`Ingress::Upstream502`], and from minute 25 the controller fails
    /// `ml-api`'s requests itself (500, no upstream tried).
    ControllerFailsToo,
}

/// `ingress-nginx/ingress-nginx-controller`'s two pods, each passing one
/// request a second to each of four backends, in ingress-nginx's default
/// `log-format-upstream`.
pub fn ingress_stream(fault: Ingress) -> Vec<(i64, String)> {
    let mut noise = Noise(0x2545_f491_4f6c_dd1d);
    let mut out = Vec::new();
    let pods = [
        "ingress-nginx-controller-5d7f9c8b6-x2x9z",
        "ingress-nginx-controller-5d7f9c8b6-b4k8m",
    ];
    let backends = ["shop-web-80", "shop-cart-80", "ml-api-80", "blog-www-80"];
    let mut at = 0;
    while at < END {
        for (p, pod) in pods.iter().enumerate() {
            for (b, backend) in backends.iter().enumerate() {
                let ts = START + at + (p as i64 * 4 + b as i64) * S / 8;
                let rt = 5 + noise.below(25);
                let (status, upstream) = match (*backend, fault) {
                    ("blog-www-80", Ingress::NoEndpoints) if at >= FAULT_FROM => {
                        (503, "- - - -".to_owned())
                    }
                    ("blog-www-80", _) if at >= FAULT_FROM => {
                        (502, format!("10.1.2.{}:8080 150 0.{rt:03} 502", 3 + b))
                    }
                    ("ml-api-80", Ingress::ControllerFailsToo) if at >= OWN_FAULT_FROM => {
                        (500, "- - - -".to_owned())
                    }
                    _ => (200, format!("10.1.2.{}:8080 150 0.{rt:03} 200", 3 + b)),
                };
                let line = format!(
                    r#"10.0.0.1 - - [01/May/2024:10:00:00 +0000] "GET / HTTP/1.1" {status} 150 "-" "curl/8.5.0" 100 0.{rt:03} [{backend}] [] {upstream} 0d1b5a8e4f6c2b3a"#
                );
                out.push((
                    ts,
                    record(
                        ts,
                        "ingress-nginx",
                        pod,
                        "controller",
                        "app.kubernetes.io/name",
                        "ingress-nginx",
                        &line,
                    ),
                ));
            }
        }
        at += S;
    }
    out
}

fn time(ts: i64) -> String {
    let mut buf = Vec::new();
    write_rfc3339(&mut buf, ts);
    String::from_utf8_lossy(&buf).into_owned()
}

/// A Fluent Bit `tail` + `kubernetes` record of `line`.
fn record(
    ts: i64,
    ns: &str,
    pod: &str,
    container: &str,
    label: &str,
    app: &str,
    line: &str,
) -> String {
    let hash = pod.rsplit('-').nth(1).unwrap_or_default();
    format!(
        r#"{{"time":"{}","stream":"stdout","_p":"F","log":{},"kubernetes":{{"pod_name":"{pod}","namespace_name":"{ns}","container_name":"{container}","host":"node-1","labels":{{"{label}":"{app}","pod-template-hash":"{hash}"}}}}}}"#,
        time(ts),
        serde_json::to_string(line).unwrap_or_default(),
    )
}

/// `entity incident` of an output that `text` tags anomalous.
pub fn anomaly_of(text: &str) -> Option<String> {
    if !text.contains(r#""anomaly":true"#) {
        return None;
    }
    let field = |name: &str| {
        let key = format!(r#""{name}":""#);
        text.split_once(&key)
            .and_then(|(_, rest)| rest.split_once('"'))
            .map_or("", |(value, _)| value)
            .to_owned()
    };
    Some(format!("{} {}", field("entity"), field("incident")))
}
