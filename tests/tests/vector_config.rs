//! The shipped Vector configuration agrees with the code: the transforms load
//! the shipped VRL and Lua, the route condition reads the tag the scorer
//! writes, the healer sink signs with SigV4 for the service and region the
//! healer verifies, Kubernetes events are listed from the API server and
//! passed on per node, every input names a component, the README's wiring for
//! a sink that must acknowledge bypasses the lua scorer, and the Helm values
//! carry the same pipeline, with the rights and the token it reads with.

use std::collections::BTreeSet;
use std::fs;

use edgeheal_models::export::vector::{RUNTIME, SCORER_FILE};
use edgeheal_tests::vector::vector_dir;
use k8s_openapi::api::core::v1::{EnvVar, Secret};
use k8s_openapi::api::rbac::v1::PolicyRule;
use serde_norway::Value;

/// Where the healer listens (ARCHITECTURE.md; healer-api `POST /v1/anomalies`).
const HEALER_URI: &str = "http://edgeheal-healer.edgeheal.svc:8080/v1/anomalies";

#[test]
fn the_uri_ends_in_the_healer_route() {
    assert!(HEALER_URI.ends_with("/v1/anomalies"));
}

fn load(name: &str) -> Value {
    edgeheal_tests::vector::shipped_file(name)
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str()
        .unwrap_or_else(|| panic!("{} is not a string", path.join(".")))
}

/// `${EDGEHEAL_DIR:-/etc/vector/edgeheal}/x` → `x` under the default directory.
fn shipped_path(s: &str) -> &str {
    s.strip_prefix("${EDGEHEAL_DIR:-/etc/vector/edgeheal}")
        .unwrap_or_else(|| panic!("{s} is not under $EDGEHEAL_DIR"))
}

#[test]
fn transforms_load_the_shipped_files() {
    let v = load("vector.yaml");
    let normalize = &v["transforms"]["edgeheal_normalize"];
    assert_eq!(str_at(normalize, &["type"]), "remap");
    let file = shipped_path(str_at(normalize, &["file"]));
    assert_eq!(file, "/edgeheal-normalize.vrl");
    assert!(vector_dir().join(&file[1..]).is_file());

    let score = &v["transforms"]["edgeheal_score"];
    assert_eq!(str_at(score, &["type"]), "lua");
    assert_eq!(str_at(score, &["version"]), "2");
    let dirs = score["search_dirs"].as_sequence().unwrap();
    assert_eq!(shipped_path(dirs[0].as_str().unwrap()), "");
    let module = SCORER_FILE.strip_suffix(".lua").unwrap();
    assert_eq!(
        str_at(score, &["source"]),
        format!("edgeheal = require('{module}')")
    );
    assert_eq!(str_at(score, &["hooks", "process"]), "edgeheal.process");
    assert!(RUNTIME.contains("function M.process(event, emit)"));
    assert!(vector_dir().join(SCORER_FILE).is_file());
}

#[test]
fn anomalies_are_routed_to_the_healer_with_sigv4() {
    let v = load("vector.yaml");
    let route = &v["transforms"]["edgeheal_anomalies"];
    assert_eq!(str_at(route, &["type"]), "route");
    assert_eq!(
        str_at(route, &["route", "anomalies"]),
        ".edgeheal.anomaly == true"
    );
    // The scorer writes exactly that field, as a boolean.
    assert!(RUNTIME.contains("anomaly = v.anomaly,"));

    let healer = &v["sinks"]["edgeheal_healer"];
    assert_eq!(str_at(healer, &["type"]), "http");
    assert_eq!(str_at(healer, &["uri"]), HEALER_URI);
    assert_eq!(str_at(healer, &["method"]), "post");
    assert_eq!(str_at(healer, &["encoding", "codec"]), "json");
    assert_eq!(str_at(healer, &["auth", "strategy"]), "aws");
    assert_eq!(str_at(healer, &["auth", "service"]), "edgeheal");
    assert_eq!(str_at(healer, &["auth", "auth", "region"]), "local");
    for key in ["access_key_id", "secret_access_key"] {
        assert!(
            str_at(healer, &["auth", "auth", key]).starts_with("${EDGEHEAL_"),
            "{key} comes from the environment"
        );
    }
    let inputs = healer["inputs"].as_sequence().unwrap();
    assert_eq!(inputs.len(), 1);
    assert_eq!(inputs[0].as_str(), Some("edgeheal_anomalies.anomalies"));
}

/// The Vector release `vector.yaml` says it needs (its first line, `Vector >= 0.N`).
fn stated_vector_floor() -> u32 {
    let text = fs::read_to_string(vector_dir().join("vector.yaml")).unwrap();
    let first = text.lines().next().unwrap();
    first
        .split("Vector >= 0.")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|minor| minor.parse().ok())
        .unwrap_or_else(|| panic!("no `Vector >= 0.N` in {first:?}"))
}

/// The `http` sink signs with SigV4 (`auth.strategy: aws`) only from Vector 0.47.0
/// (vectordotdev/vector#22744, `Auth::Aws` in `src/http.rs`); before, its `auth` knows
/// `basic` and `bearer` only and the config does not load. The stated floor is at least
/// that release.
#[test]
fn the_stated_vector_release_signs_the_healer_sink() {
    let v = load("vector.yaml");
    assert_eq!(
        str_at(&v["sinks"]["edgeheal_healer"], &["auth", "strategy"]),
        "aws"
    );
    let floor = stated_vector_floor();
    assert!(
        floor >= 47,
        "Vector >= 0.{floor}: the http sink signs from 0.47"
    );
}

/// Vector retries a sink forever by default and blocks on a full buffer, which would
/// stop the route and every record on its way to the user's sink while the heal API is
/// down: the healer sink gives up after a few tries and sheds what its buffer cannot hold
/// (both counted, both alerted on in `monitoring.rs`).
#[test]
fn a_heal_api_outage_never_holds_up_the_users_records() {
    let v = load("vector.yaml");
    let healer = &v["sinks"]["edgeheal_healer"];
    assert_eq!(str_at(healer, &["buffer", "type"]), "memory");
    assert_eq!(str_at(healer, &["buffer", "when_full"]), "drop_newest");
    let max_events = healer["buffer"]["max_events"]
        .as_u64()
        .expect("buffer.max_events");
    assert!((100..=10_000).contains(&max_events), "{max_events}");
    let tries = healer["request"]["retry_attempts"]
        .as_u64()
        .expect("request.retry_attempts, else Vector retries forever");
    assert!((1..=10).contains(&tries), "{tries}");
    let timeout = healer["request"]["timeout_secs"]
        .as_u64()
        .expect("request.timeout_secs");
    assert!((1..=30).contains(&timeout), "{timeout}");
    // Memory buffers only (the alert rules count their drops as intentional, monitoring.rs).
    for (id, sink) in v["sinks"].as_mapping().unwrap() {
        let buffer_type = sink["buffer"]["type"].as_str().unwrap_or("memory");
        assert_eq!(buffer_type, "memory", "{id:?}");
    }
}

/// The Vector chart's name for a component's container port (`_helper.generateContainerPort`:
/// the id in kebab case, at most 15 characters).
fn chart_port_name(id: &str) -> String {
    let name: String = id.replace('_', "-").chars().take(15).collect();
    name.strip_suffix('-').unwrap_or(&name).to_owned()
}

/// The alert rules' Vector group reads Vector's internal metrics: the pipeline serves them
/// for Prometheus under their default names (`vector_*`), on the port the Helm values'
/// PodMonitor and scrape annotations name, and they stay out of the scored pipeline.
#[test]
fn vector_metrics_are_served_where_prometheus_scrapes() {
    let v = load("vector.yaml");
    let of_type = |section: &str, t: &str| -> Vec<String> {
        v[section]
            .as_mapping()
            .unwrap()
            .iter()
            .filter(|(_, c)| c["type"].as_str() == Some(t))
            .map(|(k, _)| k.as_str().unwrap().to_owned())
            .collect()
    };
    let sources = of_type("sources", "internal_metrics");
    assert_eq!(sources.len(), 1, "{sources:?}");
    let source = &v["sources"][sources[0].as_str()];
    assert!(
        source["namespace"].is_null() || source["namespace"].as_str() == Some("vector"),
        "the rules read vector_* names"
    );
    let exporters = of_type("sinks", "prometheus_exporter");
    assert_eq!(exporters.len(), 1, "{exporters:?}");
    let exporter = &v["sinks"][exporters[0].as_str()];
    let inputs: Vec<&str> = exporter["inputs"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    assert_eq!(inputs, [sources[0].as_str()]);
    for (id, c) in v["transforms"].as_mapping().unwrap() {
        assert!(
            !c["inputs"]
                .as_sequence()
                .unwrap()
                .iter()
                .any(|i| i.as_str() == Some(sources[0].as_str())),
            "{id:?} reads Vector's own metrics"
        );
    }
    let address = str_at(exporter, &["address"]);
    let port = address
        .rsplit_once(':')
        .map(|(_, p)| p)
        .unwrap_or_else(|| panic!("{address}: host:port"));
    assert!(address.starts_with("0.0.0.0:"), "reachable from Prometheus");

    let helm = load("helm-values.yaml");
    assert_eq!(helm["podMonitor"]["enabled"].as_bool(), Some(true));
    assert_eq!(
        str_at(&helm, &["podMonitor", "port"]),
        chart_port_name(&exporters[0])
    );
    assert_eq!(str_at(&helm, &["podMonitor", "path"]), "/metrics");
    let annotations = serde_json::to_value(&helm["podAnnotations"]).unwrap();
    let (annotated_port, path) =
        edgeheal_tests::scrape_annotations(&annotations, "helm-values.yaml");
    assert_eq!(annotated_port.to_string(), port);
    assert_eq!(path, "/metrics");
}

#[test]
fn every_input_names_a_component_and_the_user_sink_sees_every_record_but_the_samples() {
    let v = load("vector.yaml");
    let mut names = BTreeSet::new();
    for section in ["sources", "transforms"] {
        for (k, _) in v[section].as_mapping().unwrap() {
            names.insert(k.as_str().unwrap().to_owned());
        }
    }
    names.insert("edgeheal_anomalies.anomalies".to_owned());
    names.insert("edgeheal_anomalies.records".to_owned());
    for section in ["transforms", "sinks"] {
        for (k, c) in v[section].as_mapping().unwrap() {
            for input in c["inputs"].as_sequence().unwrap() {
                let input = input.as_str().unwrap();
                assert!(
                    names.contains(input),
                    "{}: unknown input {input}",
                    k.as_str().unwrap()
                );
            }
        }
    }
    // What the route passes on is run in vector_parity.rs
    // (the_users_sink_gets_every_record_but_the_cadvisor_samples).
    let user = v["sinks"]["user_sink"]["inputs"].as_sequence().unwrap();
    assert_eq!(user.len(), 1);
    assert_eq!(user[0].as_str(), Some("edgeheal_anomalies.records"));
    assert_eq!(
        v["transforms"]["edgeheal_normalize"]["inputs"]
            .as_sequence()
            .unwrap()
            .len(),
        3,
        "logs, metric samples and Kubernetes events"
    );
}

#[test]
fn unit_tests_cover_the_transforms() {
    let v = load("vector.yaml");
    let tests = v["tests"].as_sequence().unwrap();
    assert!(tests.len() >= 3);
    for t in tests {
        for input in t["inputs"].as_sequence().unwrap() {
            let at = input["insert_at"].as_str().unwrap();
            assert!(v["transforms"][at].is_mapping(), "{at}");
        }
    }
}

#[test]
fn helm_values_carry_the_same_pipeline() {
    let mut v = load("vector.yaml");
    v.as_mapping_mut().unwrap().remove("tests");
    let helm = load("helm-values.yaml");
    assert_eq!(
        helm["customConfig"], v,
        "helm-values.yaml customConfig = vector.yaml without tests"
    );
    assert_eq!(str_at(&helm, &["role"]), "Agent");
    let mounts = helm["extraVolumeMounts"].as_sequence().unwrap();
    assert!(mounts
        .iter()
        .any(|m| m["mountPath"].as_str() == Some("/etc/vector/edgeheal")));
}

/// The environment variables `text` interpolates (`${NAME}`, `${NAME:-…}`).
fn interpolated(text: &str) -> BTreeSet<String> {
    text.split("${")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

/// Vector 0.57 and later interpolate a config's `${VAR}` only with
/// `VECTOR_DANGEROUSLY_ALLOW_ENV_VAR_INTERPOLATION=true` (its 0.57 upgrade
/// guide; checked in a Vector 0.57.0 built from its sources: without it the
/// config is refused, the VRL file looked for at the literal
/// `${EDGEHEAL_DIR:-…}` path). Every variable the config reads is set by the
/// Helm values (or the chart: `VECTOR_SELF_NODE_NAME`), the values turn
/// interpolation on, and the commands `vector.yaml` gives and the README's
/// Vector step say so for a Vector run without the chart. `AWS_REGION` is
/// the sink's signing region.
#[test]
fn every_variable_the_config_reads_is_set_and_interpolated() {
    let text = fs::read_to_string(vector_dir().join("vector.yaml")).unwrap();
    let names = interpolated(&text);
    assert!(names.contains("EDGEHEAL_DIR"), "{names:?}");
    let helm = load("helm-values.yaml");
    let env: Vec<EnvVar> = to_json(&helm["env"], "env");
    for name in &names {
        assert!(
            name == "VECTOR_SELF_NODE_NAME" || env.iter().any(|e| &e.name == name),
            "vector.yaml reads {name}, which the Helm values do not set"
        );
    }
    let switch = env
        .iter()
        .find(|e| e.name == "VECTOR_DANGEROUSLY_ALLOW_ENV_VAR_INTERPOLATION")
        .expect("the Helm values turn interpolation on");
    assert_eq!(switch.value.as_deref(), Some("true"));
    // Vector builds the SigV4 sink asking AWS's default region chain too
    // (src/sinks/http/config.rs): the environment answers it with the
    // sink's own region instead of the EC2 metadata service.
    let region = env
        .iter()
        .find(|e| e.name == "AWS_REGION")
        .expect("AWS_REGION set");
    assert_eq!(
        region.value.as_deref(),
        Some(str_at(
            &load("vector.yaml"),
            &["sinks", "edgeheal_healer", "auth", "auth", "region"]
        ))
    );

    let checks: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.starts_with('#') && l.contains("VECTOR_DANGEROUSLY_ALLOW_ENV_VAR_INTERPOLATION=true")
        })
        .collect();
    assert!(
        checks.iter().any(|l| l.contains("export ")),
        "vector.yaml's local check commands set it: {checks:?}"
    );
    let readme = fs::read_to_string(edgeheal_tests::repo_root().join("README.md")).unwrap();
    assert!(
        readme
            .contains("`VECTOR_DANGEROUSLY_ALLOW_ENV_VAR_INTERPOLATION=true` in their environment"),
        "the README's Vector step says so"
    );
}

/// The service account's CA, where Kubernetes mounts it.
const SA_CA: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";

/// `%3D` and `%2C` in a query value, decoded.
fn query_value<'a>(query: &'a str, key: &str) -> String {
    let value: &'a str = query
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key} in {query}"));
    value.replace("%3D", "=").replace("%2C", ",")
}

#[test]
fn events_are_listed_from_the_api_server_and_passed_on_per_node() {
    let v = load("vector.yaml");
    let source = &v["sources"]["edgeheal_k8s_events"];
    assert_eq!(str_at(source, &["type"]), "http_client");
    let endpoint = str_at(source, &["endpoint"]);
    let (url, query) = endpoint.split_once('?').unwrap();
    assert_eq!(url, "https://kubernetes.default.svc/api/v1/events");
    // Only what the core counts restarts from: the kubelet's Pod events.
    assert_eq!(
        query_value(query, "fieldSelector"),
        "involvedObject.kind=Pod,source=kubelet"
    );
    // Any version: from memory where the API server keeps a watch cache for
    // Events (by default it keeps none, and each poll reads etcd).
    assert_eq!(query_value(query, "resourceVersion"), "0");
    // The EventList whole: one JSON document (the default framing for
    // http_client is `bytes` too; said, it cannot change under us).
    assert_eq!(str_at(source, &["decoding", "codec"]), "json");
    assert_eq!(str_at(source, &["framing", "method"]), "bytes");
    assert_eq!(str_at(source, &["auth", "strategy"]), "bearer");
    assert_eq!(
        str_at(source, &["auth", "token"]),
        "${EDGEHEAL_VECTOR_TOKEN:-}"
    );
    assert_eq!(str_at(source, &["tls", "ca_file"]), SA_CA);
    assert!(
        source["tls"].get("verify_hostname").is_none(),
        "the API server's certificate names kubernetes.default.svc"
    );
    let interval = source["scrape_interval_secs"].as_u64().unwrap();
    // Polls may still overlap (the timeout covers the headers, not the
    // body) and finish out of order: edgeheal_events_once absorbs that.
    let timeout = source["scrape_timeout_secs"].as_f64().unwrap();
    assert!(timeout < interval as f64);

    let split = &v["transforms"]["edgeheal_events"];
    assert_eq!(str_at(split, &["type"]), "remap");
    assert_eq!(split["inputs"][0].as_str(), Some("edgeheal_k8s_events"));
    let program = str_at(split, &["source"]);
    // The agent's node, from the chart's VECTOR_SELF_NODE_NAME.
    assert!(program.contains(r#"node = "${VECTOR_SELF_NODE_NAME:-}""#));
    // Polls are ten seconds apart and events stay three minutes (the core's
    // restart window): polls may fail for a while without losing anything.
    let horizon: u64 = program
        .split("to_unix_timestamp(now()) - ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("a horizon in seconds");
    assert!(
        horizon >= 3 * interval,
        "{horizon} s against {interval} s polls"
    );
    assert!(
        horizon
            >= u64::from(edgeheal_plugin::config::FilterConfig::default().restart_window_seconds),
        "{horizon} s is shorter than the restart window"
    );
    // Each version once, whatever the polls repeat.
    let once = &v["transforms"]["edgeheal_events_once"];
    assert_eq!(str_at(once, &["type"]), "dedupe");
    assert_eq!(once["inputs"][0].as_str(), Some("edgeheal_events"));
    let fields: Vec<&str> = once["fields"]["match"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(fields, ["metadata.uid", "metadata.resourceVersion"]);
    assert!(once["cache"]["num_events"].as_u64().unwrap() >= 1000);
    let inputs = v["transforms"]["edgeheal_normalize"]["inputs"]
        .as_sequence()
        .unwrap();
    assert!(inputs
        .iter()
        .any(|i| i.as_str() == Some("edgeheal_events_once")));
    // Vector interpolates the whole file, comments too: a dollar sign there
    // names a variable that must be set.
    let text = fs::read_to_string(vector_dir().join("vector.yaml")).unwrap();
    for line in text.lines().filter(|l| l.trim_start().starts_with('#')) {
        assert!(!line.contains('$'), "a dollar sign in a comment: {line}");
    }
}

/// Top-level keys of the vector/vector chart's values.yaml (chart 0.46.0, the
/// first with `rbac.extraRules`; 0.47.0 has the same).
const VECTOR_CHART_VALUES_KEYS: &[&str] = &[
    "nameOverride",
    "fullnameOverride",
    "role",
    "rollWorkload",
    "rollWorkloadSecrets",
    "rollWorkloadExtraObjects",
    "commonLabels",
    "image",
    "replicas",
    "hostAliases",
    "podManagementPolicy",
    "secrets",
    "autoscaling",
    "podDisruptionBudget",
    "rbac",
    "psp",
    "serviceAccount",
    "podAnnotations",
    "podLabels",
    "podPriorityClassName",
    "podHostNetwork",
    "podSecurityContext",
    "workloadResourceAnnotations",
    "securityContext",
    "command",
    "args",
    "env",
    "envFrom",
    "containerPorts",
    "resources",
    "lifecycle",
    "minReadySeconds",
    "updateStrategy",
    "terminationGracePeriodSeconds",
    "nodeSelector",
    "tolerations",
    "affinity",
    "topologySpreadConstraints",
    "service",
    "serviceHeadless",
    "ingress",
    "existingConfigMaps",
    "dataDir",
    "customConfig",
    "defaultVolumes",
    "defaultVolumeMounts",
    "extraVolumes",
    "extraVolumeMounts",
    "initContainers",
    "extraContainers",
    "persistence",
    "dnsPolicy",
    "dnsConfig",
    "shareProcessNamespace",
    "livenessProbe",
    "readinessProbe",
    "podMonitor",
    "logLevel",
    "haproxy",
    "extraObjects",
];

fn to_json<T: serde::de::DeserializeOwned>(v: &Value, what: &str) -> T {
    let json = serde_json::to_value(v).unwrap();
    serde_json::from_value(json).unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// The chart's own ClusterRole lists pods, namespaces and nodes; the agent
/// also reads the kubelet's cAdvisor metrics and lists Events, with the token
/// of a ServiceAccount token Secret the chart creates for its ServiceAccount.
#[test]
fn helm_values_grant_what_the_pipeline_reads() {
    let helm = load("helm-values.yaml");
    for (key, _) in helm.as_mapping().unwrap() {
        let key = key.as_str().unwrap();
        assert!(
            VECTOR_CHART_VALUES_KEYS.contains(&key),
            "`{key}` is not a vector/vector chart value"
        );
    }
    assert_eq!(helm["rbac"]["create"].as_bool(), Some(true));
    let rules: Vec<PolicyRule> = to_json(&helm["rbac"]["extraRules"], "rbac.extraRules");
    let granted = |resource: &str, verb: &str| {
        rules.iter().any(|r| {
            r.api_groups.as_deref() == Some(&[String::new()][..])
                && r.resources.iter().flatten().any(|x| x == resource)
                && r.verbs.iter().any(|x| x == verb)
        })
    };
    assert!(granted("nodes/metrics", "get"), "/metrics/cadvisor");
    assert!(granted("events", "list"), "edgeheal_k8s_events");
    assert!(
        rules.iter().all(|r| r
            .verbs
            .iter()
            .all(|v| ["get", "list"].contains(&v.as_str()))),
        "read-only"
    );

    let sa = str_at(&helm, &["serviceAccount", "name"]);
    let objects: Vec<Secret> = to_json(&helm["extraObjects"], "extraObjects");
    let env: Vec<EnvVar> = to_json(&helm["env"], "env");
    let from_secret = |name: &str| {
        env.iter()
            .find(|e| e.name == name)
            .and_then(|e| e.value_from.as_ref()?.secret_key_ref.as_ref())
            .unwrap_or_else(|| panic!("{name} from a Secret"))
    };
    let token = from_secret("EDGEHEAL_VECTOR_TOKEN");
    assert_eq!(token.key, "token");
    assert_ne!(token.optional, Some(true), "no token, no pod");
    let secret = objects
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some(token.name.as_str()))
        .expect("the token Secret is among extraObjects");
    assert_eq!(
        secret.type_.as_deref(),
        Some("kubernetes.io/service-account-token")
    );
    assert_eq!(
        secret
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("kubernetes.io/service-account.name"))
            .map(String::as_str),
        Some(sa)
    );
    assert!(secret.data.is_none() && secret.string_data.is_none());
    for name in ["EDGEHEAL_ACCESS_KEY_ID", "EDGEHEAL_SECRET_ACCESS_KEY"] {
        let key = from_secret(name);
        assert_ne!(key.optional, Some(true), "{name}: optional");
    }
}

/// The components `from` feeds, directly or through others (an input
/// `x.port` is fed by `x`).
fn downstream_of(v: &Value, from: &str) -> BTreeSet<String> {
    let mut reached = BTreeSet::from([from.to_owned()]);
    loop {
        let before = reached.len();
        for section in ["transforms", "sinks"] {
            for (k, c) in v[section].as_mapping().unwrap() {
                let fed = c["inputs"].as_sequence().unwrap().iter().any(|input| {
                    let input = input.as_str().unwrap();
                    reached.contains(input.split('.').next().unwrap_or(input))
                });
                if fed {
                    reached.insert(k.as_str().unwrap().to_owned());
                }
            }
        }
        if reached.len() == before {
            return reached;
        }
    }
}

/// README ("The tag contract"): Vector's lua transform drops an event's
/// metadata, end-to-end acknowledgements with it, so the shipped user sink,
/// which reads what the scorer emits, cannot acknowledge to the source; the
/// wiring the README gives for a sink that must, reads the source itself,
/// upstream of the scorer, and leaves the heal API fed.
#[test]
fn acknowledgements_stop_at_the_lua_scorer_and_the_readmes_durable_wiring_bypasses_it() {
    let v = load("vector.yaml");
    let lua: Vec<&str> = v["transforms"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, c)| c["type"].as_str() == Some("lua"))
        .map(|(k, _)| k.as_str().unwrap())
        .collect();
    assert_eq!(lua, ["edgeheal_score"]);
    let after_lua = downstream_of(&v, lua[0]);
    assert!(after_lua.contains("user_sink"), "{after_lua:?}");
    assert!(after_lua.contains("edgeheal_healer"), "{after_lua:?}");

    let readme = fs::read_to_string(edgeheal_tests::repo_root().join("README.md")).unwrap();
    let blocks: Vec<&str> = readme
        .split("```yaml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .filter(|b| b.contains("user_sink:"))
        .collect();
    assert_eq!(blocks.len(), 1, "one README block rewires user_sink");
    let durable: Value = serde_norway::from_str(blocks[0]).unwrap();
    let inputs = durable["sinks"]["user_sink"]["inputs"]
        .as_sequence()
        .unwrap();
    assert!(!inputs.is_empty());
    let mut rewired = v.clone();
    rewired["sinks"]["user_sink"]["inputs"] = Value::Sequence(inputs.clone());
    for input in inputs {
        let input = input.as_str().unwrap();
        assert!(v["sources"][input].is_mapping(), "{input} is no source");
        assert_eq!(
            v["sources"][input]["type"].as_str(),
            Some("kubernetes_logs")
        );
    }
    let after_lua = downstream_of(&rewired, "edgeheal_score");
    assert!(!after_lua.contains("user_sink"), "{after_lua:?}");
    assert!(after_lua.contains("edgeheal_healer"), "{after_lua:?}");
}
