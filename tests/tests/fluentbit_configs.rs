//! The shipped Fluent Bit configurations (classic and YAML) agree with each
//! other and with the code: the wasm filter's path, function, event format and
//! sizes; the rewrite_tag rule on the `edgeheal` tags; the `http` output to the
//! healer's route with SigV4; the ahead-of-time compile command they and the
//! README give.

use edgeheal_tests::exec_wasi::ExecWasiConfig;
use edgeheal_tests::fluentbit_config::{
    is_on, one, shipped, shipped_text, size_to_binary_bytes, size_to_bytes, FluentBitConfig,
    Section,
};
use edgeheal_tests::fluentbit_harness::{wamr_app_heap, FilterWasmConfig};
use edgeheal_tests::{repo_root, CONFIG_PATH, FUNCTION_NAME, HEALER_ROUTE};

/// The tag anomalous records are re-emitted under.
const ANOMALY_TAG: &str = "edgeheal.anomalies";

/// `[SERVICE] multiline_buffer_limit` when the config does not set it
/// (`FLB_ML_BUFFER_LIMIT_DEFAULT_STR`, include/fluent-bit/multiline/flb_ml.h),
/// read as binary bytes (`flb_ml_create`): the size Fluent Bit joins a line's
/// CRI parts up to.
const MULTILINE_BUFFER_LIMIT_DEFAULT: &str = "2MB";

/// Most JSON bytes Fluent Bit writes for one byte of a string when it hands a
/// record to the filter (`flb_msgpack_to_json_str` → `flb_utils_write_str`,
/// src/flb_utils.c, with json.escape_unicode on or off): a control character
/// or DEL becomes `\u00XX`. Other bytes take at most 3 (an invalid byte
/// becomes U+FFFD; a 2-byte sequence `\uXXXX` with escape_unicode on).
const JSON_ESCAPE_FACTOR: u64 = 6;

/// Room in the heap for everything but the joined line: the tag copy, the
/// kubernetes filter's metadata (`Labels On`; a Pod, labels and all, is at
/// most etcd's default 1.5 MiB request), `time`, `stream`, `_p` and the
/// allocator's block headers.
const RECORD_OVERHEAD: u64 = 2 << 20;

/// Whether a `Match` / `Match_Regex` of a section covers `tag`.
fn matches(section: &Section, tag: &str) -> bool {
    if let Some(pattern) = section.get("match") {
        return wildcard(pattern, tag);
    }
    match section.get("match_regex") {
        Some(regex) => simple_regex(regex, tag),
        None => false,
    }
}

/// Fluent Bit's `*` wildcard match (`flb_router_match`).
fn wildcard(pattern: &str, tag: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == tag,
        Some((head, tail)) => {
            tag.starts_with(head) && {
                let rest = &tag[head.len()..];
                (0..=rest.len()).any(|i| wildcard(tail, &rest[i..]))
            }
        }
    }
}

/// The one regex shape the configs use: `^(a\..*|b)$`.
fn simple_regex(regex: &str, tag: &str) -> bool {
    let inner = regex
        .strip_prefix("^(")
        .and_then(|r| r.strip_suffix(")$"))
        .unwrap_or_else(|| panic!("unexpected match_regex {regex}"));
    inner.split('|').any(|alt| match alt.strip_suffix(".*") {
        Some(prefix) => tag.starts_with(&prefix.replace("\\.", ".")),
        None => tag == alt.replace("\\.", "."),
    })
}

#[test]
fn classic_and_yaml_describe_the_same_pipeline() {
    let configs = shipped();
    let (_, classic) = &configs[0];
    let (_, yaml) = &configs[1];
    let plugins = |c: &FluentBitConfig| -> Vec<(String, String)> {
        c.sections
            .iter()
            .filter(|s| s.kind != "SERVICE")
            .map(|s| (s.kind.clone(), s.name()))
            .collect()
    };
    assert_eq!(plugins(classic), plugins(yaml));
    for (a, b) in classic.sections.iter().zip(&yaml.sections) {
        let mut ka: Vec<_> = a
            .entries
            .iter()
            .map(|(k, v)| (k, v.to_ascii_lowercase()))
            .collect();
        let mut kb: Vec<_> = b
            .entries
            .iter()
            .map(|(k, v)| (k, v.to_ascii_lowercase()))
            .collect();
        ka.sort();
        kb.sort();
        assert_eq!(ka, kb, "{} {}", a.kind, a.name());
    }
}

#[test]
fn the_wasm_filter_is_configured_as_the_code_expects() {
    let harness = FilterWasmConfig::default();
    for (file, config) in shipped() {
        let wasm = one(&config, "FILTER", "wasm", file);
        assert_eq!(wasm.get("function_name"), Some(FUNCTION_NAME), "{file}");
        assert_eq!(wasm.get("event_format"), Some("json"), "{file}: json only");
        let path = wasm.get("wasm_path").expect("wasm_path");
        assert!(path.ends_with("/edgeheal_plugin.wasm"), "{file}: {path}");
        assert_eq!(
            edgeheal_tests::plugin_wasm()
                .file_name()
                .and_then(|n| n.to_str()),
            path.rsplit('/').next()
        );
        let accessible = wasm.get("accessible_paths").expect("accessible_paths");
        let config_dir = CONFIG_PATH
            .rsplit_once('/')
            .map(|(d, _)| d)
            .unwrap_or_default();
        assert!(
            accessible.split(',').any(|p| p.trim() == config_dir),
            "{file}: {accessible} must include {config_dir}"
        );

        let stack = size_to_bytes(wasm.get("wasm_stack_size").expect("stack")).expect("size");
        assert!(stack >= 256_000, "{file}: wasm_stack_size {stack}");
        assert_eq!(
            stack, harness.stack_size,
            "{file}: the harness runs with the shipped stack"
        );
        let heap = size_to_bytes(wasm.get("wasm_heap_size").expect("heap")).expect("size");
        assert_eq!(
            heap, harness.heap_size,
            "{file}: the harness runs with the shipped heap"
        );
        // The shipped heap must hold the largest record the filter can be
        // handed: a CRI line's parts joined up to multiline_buffer_limit (not
        // Buffer_Max_Size, which bounds one part), every byte escaped to the
        // worst, plus metadata. A record that does not fit reaches the filter
        // as NULL and its body is lost for every output.
        let tail = one(&config, "INPUT", "tail", file);
        assert_eq!(tail.get("multiline.parser"), Some("cri"), "{file}");
        let service = one(&config, "SERVICE", "", file);
        let default = size_to_binary_bytes(MULTILINE_BUFFER_LIMIT_DEFAULT).expect("size");
        let joined = size_to_binary_bytes(
            service
                .get("multiline_buffer_limit")
                .unwrap_or(MULTILINE_BUFFER_LIMIT_DEFAULT),
        )
        .expect("multiline_buffer_limit");
        assert!(
            joined > 0,
            "{file}: no multiline limit, no heap holds a join"
        );
        assert!(
            joined >= default,
            "{file}: multiline_buffer_limit {joined} < {default} cuts the normal output's lines too"
        );
        let part =
            size_to_bytes(tail.get("buffer_max_size").expect("buffer_max_size")).expect("size");
        assert!(
            part <= joined,
            "{file}: one part {part} above the join {joined}"
        );
        let record = JSON_ESCAPE_FACTOR * joined + RECORD_OVERHEAD;
        let (_, usable) = wamr_app_heap(heap);
        assert!(
            usable >= record,
            "{file}: heap {usable} for records of up to {record} bytes of JSON"
        );
        assert!(
            is_on(tail.get("skip_long_lines").unwrap_or("off")),
            "{file}"
        );

        // The filter sees container logs and events, never its own re-emitted anomalies.
        assert!(
            matches(wasm, "kube.var.log.containers.a_b_c-1.log"),
            "{file}"
        );
        assert!(matches(wasm, "k8s_events"), "{file}");
        assert!(!matches(wasm, ANOMALY_TAG), "{file}");
        let events = one(&config, "INPUT", "kubernetes_events", file);
        assert_eq!(events.get("tag"), Some("k8s_events"), "{file}");
        // With a database, Fluent Bit 4.2.8 emits each Event object once (it
        // filters by uid), so the later occurrences of a repeated back-off
        // would never arrive; without one the relists' copies are passed over
        // by the core (plugin/tests/event_relists.rs).
        assert_eq!(
            events.get("db"),
            None,
            "{file}: kubernetes_events without db"
        );
        let k8s = one(&config, "FILTER", "kubernetes", file);
        assert!(
            matches(k8s, "kube.var.log.containers.a_b_c-1.log"),
            "{file}"
        );
        assert!(
            !is_on(k8s.get("merge_log").unwrap_or("off")),
            "{file}: the core reads `log`"
        );
    }
}

#[test]
fn anomalies_are_re_emitted_and_sent_signed_to_the_healer() {
    for (file, config) in shipped() {
        let order: Vec<String> = config.of_kind("FILTER").map(Section::name).collect();
        assert_eq!(
            order,
            ["kubernetes", "grep", "wasm", "rewrite_tag"],
            "{file}"
        );

        let rewrite = one(&config, "FILTER", "rewrite_tag", file);
        let rules = rewrite.all("rule");
        assert_eq!(rules.len(), 1, "{file}");
        let parts: Vec<&str> = rules[0].split_whitespace().collect();
        // KEY REGEX NEW_TAG KEEP. The key is a string tag field (rewrite_tag
        // cannot match booleans), true exactly for anomalies.
        assert_eq!(parts.len(), 4, "{file}: {}", rules[0]);
        assert_eq!(parts[0], "$edgeheal['severity']", "{file}");
        assert_eq!(parts[1], "^(warning|critical)$", "{file}");
        assert_eq!(parts[2], ANOMALY_TAG, "{file}");
        assert!(is_on(parts[3]), "{file}: keep the original record");
        assert!(
            matches(rewrite, "kube.x") && !matches(rewrite, ANOMALY_TAG),
            "{file}"
        );

        let http = one(&config, "OUTPUT", "http", file);
        assert_eq!(http.get("uri"), Some(HEALER_ROUTE), "{file}");
        assert_eq!(http.get("format"), Some("json"), "{file}");
        assert!(is_on(http.get("aws_auth").unwrap_or("off")), "{file}");
        assert_eq!(http.get("aws_service"), Some("edgeheal"), "{file}");
        assert_eq!(http.get("aws_region"), Some("local"), "{file}");
        assert!(
            http.get("aws_service_name").is_none(),
            "{file}: not an out_http option"
        );
        assert!(
            matches(http, ANOMALY_TAG) && !matches(http, "kube.x"),
            "{file}"
        );
        assert!(http.get("retry_limit").is_some(), "{file}");
        // A chunk's JSON can pass the healer's 4 MiB ingest.max_body_bytes,
        // and a 413 is dropped without a retry. 4.2.8 compresses before it
        // signs and signs Content-Encoding with the rest (plugins/out_http/
        // http.c, src/flb_signv4.c), as the healer requires
        // (healer-api/tests/auth_matrix.rs).
        assert_eq!(http.get("compress"), Some("gzip"), "{file}");
        // storage.total_limit_size bounds filesystem chunks only: the queue it
        // caps exists only when the emitter buffers on disk, which keeps
        // anomalies through a restart and through a healer outage until the
        // chunk's retries run out (Retry_Limit; about 30-315 s with the
        // default scheduler), when it is dropped.
        assert_eq!(
            rewrite.get("emitter_storage.type"),
            Some("filesystem"),
            "{file}"
        );
        assert!(http.get("storage.total_limit_size").is_some(), "{file}");
        let service = one(&config, "SERVICE", "", file);
        assert!(service.get("storage.path").is_some(), "{file}");
        assert!(
            is_on(service.get("json.convert_nan_to_null").unwrap_or("off")),
            "{file}: a NaN would reach the filter as `nan`, not JSON"
        );

        // The normal output still gets every original record, and not the
        // sampler's records, which only the scorer reads.
        let normal: Vec<&Section> = config
            .of_kind("OUTPUT")
            .filter(|s| s.name() != "http" && s.name() != "null")
            .collect();
        assert_eq!(normal.len(), 1, "{file}");
        assert!(
            matches(normal[0], "kube.var.log.containers.x.log"),
            "{file}"
        );
        assert!(matches(normal[0], "k8s_events"), "{file}");
        assert!(!matches(normal[0], SAMPLES_TAG), "{file}");
    }
}

#[test]
fn every_option_is_one_fluent_bit_4_2_knows() {
    // Option names from the v4.2.8 sources (config maps of each plugin plus
    // the generic input/filter/output properties), checked when written.
    let known: &[(&str, &str, &[&str])] = &[
        (
            "SERVICE",
            "",
            &[
                "flush",
                "log_level",
                "daemon",
                "http_server",
                "http_listen",
                "http_port",
                "health_check",
                "storage.path",
                "json.convert_nan_to_null",
                "parsers_file",
            ],
        ),
        (
            "INPUT",
            "tail",
            &[
                "name",
                "tag",
                "path",
                "multiline.parser",
                "db",
                "mem_buf_limit",
                "buffer_max_size",
                "skip_long_lines",
                "refresh_interval",
            ],
        ),
        (
            "INPUT",
            "kubernetes_events",
            &[
                "name",
                "tag",
                "kube_url",
                "interval_sec",
                "kube_retention_time",
            ],
        ),
        (
            "INPUT",
            "exec_wasi",
            &[
                "name",
                "tag",
                "wasi_path",
                "accessible_paths",
                "parser",
                "interval_sec",
                "wasm_stack_size",
            ],
        ),
        (
            "FILTER",
            "kubernetes",
            &[
                "name",
                "match",
                "kube_url",
                "kube_tag_prefix",
                "merge_log",
                "labels",
                "annotations",
                "buffer_size",
            ],
        ),
        ("FILTER", "grep", &["name", "match", "exclude"]),
        (
            "FILTER",
            "wasm",
            &[
                "name",
                "alias",
                "match_regex",
                "wasm_path",
                "function_name",
                "event_format",
                "accessible_paths",
                "wasm_heap_size",
                "wasm_stack_size",
            ],
        ),
        (
            "FILTER",
            "rewrite_tag",
            &[
                "name",
                "match_regex",
                "rule",
                "emitter_name",
                "emitter_storage.type",
                "emitter_mem_buf_limit",
            ],
        ),
        ("OUTPUT", "stdout", &["name", "match_regex", "format"]),
        ("OUTPUT", "null", &["name", "match"]),
        (
            "OUTPUT",
            "http",
            &[
                "name",
                "alias",
                "match",
                "host",
                "port",
                "uri",
                "format",
                "json_date_key",
                "json_date_format",
                "aws_auth",
                "aws_service",
                "aws_region",
                "tls",
                "retry_limit",
                "storage.total_limit_size",
                "compress",
            ],
        ),
    ];
    for (file, config) in shipped() {
        for section in &config.sections {
            let name = if section.kind == "SERVICE" {
                String::new()
            } else {
                section.name()
            };
            let allowed = known
                .iter()
                .find(|(k, n, _)| *k == section.kind && *n == name)
                .map(|(_, _, keys)| *keys)
                .unwrap_or_else(|| panic!("{file}: unexpected {} {name}", section.kind));
            for (key, _) in &section.entries {
                assert!(
                    allowed.contains(&key.as_str()),
                    "{file}: {} {name}: {key}",
                    section.kind
                );
            }
        }
        assert!(
            shipped_text(file).contains("Target Fluent Bit >= 4.1.2"),
            "{file} states the minimum version"
        );
    }
}

/// `flb_env_var_translate` (src/flb_env.c): `${VAR}` and `${VAR:-default}`,
/// the default when the variable is unset or empty.
fn expand(value: &str, env: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let end = rest[start..].find('}').expect("closing brace") + start;
        out.push_str(&rest[..start]);
        let var = &rest[start + 2..end];
        let (name, default) = match var.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (var, None),
        };
        match (env.iter().find(|(k, _)| *k == name), default) {
            (Some((_, "")), Some(d)) => out.push_str(d),
            (Some((_, v)), _) => out.push_str(v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => {}
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Every node's `kubernetes_events` input lists the whole cluster's events;
/// the grep filter before the wasm filter passes on only the ones its own
/// kubelet reported, and with `NODE_NAME` unset it passes on all of them.
#[test]
fn each_node_passes_on_only_its_own_kubelets_events() {
    use onig::{Regex, RegexOptions, Syntax};
    for (file, config) in shipped() {
        let grep = one(&config, "FILTER", "grep", file);
        assert!(matches(grep, "k8s_events"), "{file}");
        assert!(
            !matches(grep, "kube.var.log.containers.a_b_c-1.log"),
            "{file}"
        );
        let rules = grep.all("exclude");
        assert_eq!(rules.len(), 1, "{file}");
        let (field, pattern) = rules[0].split_once(' ').expect("field and regex");
        assert_eq!(field, "$source['host']", "{file}");
        // (NODE_NAME, host, passed on?)
        let cases: &[(Option<&str>, &str, bool)] = &[
            (Some("node-3"), "node-3", true),
            (Some("node-3"), "node-4", false),
            (Some("node-3"), "node-30", false),
            (Some("node-3"), "xnode-3", false),
            (
                Some("ip-10-0-1-5.ec2.internal"),
                "ip-10-0-1-5.ec2.internal",
                true,
            ),
            (
                Some("ip-10-0-1-5.ec2.internal"),
                "ip-10-0-1-6.ec2.internal",
                false,
            ),
            (None, "node-4", true),
            (Some(""), "node-4", true),
        ];
        for (node, host, passed) in cases {
            let env: Vec<(&str, &str)> = node.iter().map(|n| ("NODE_NAME", *n)).collect();
            let source = expand(pattern, &env);
            let regex =
                Regex::with_options(&source, RegexOptions::REGEX_OPTION_NONE, Syntax::ruby())
                    .unwrap_or_else(|e| panic!("{file}: {source}: {e}"));
            assert_eq!(
                regex.find(host).is_none(),
                *passed,
                "{file}: NODE_NAME={node:?}, source.host={host}: {source}"
            );
        }
    }
}

/// The tag of the sampler's records (`exec_wasi` input).
const SAMPLES_TAG: &str = "edgeheal.samples";

/// The `exec_wasi` input runs the sampler the tests run, where the wasm
/// filter's module lies, with the two directories it reads (fixed in the
/// program: exec_wasi passes it no arguments or environment) accessible, a
/// `json` parser the image has, and its records through the filter and
/// rewrite_tag but to no log output.
#[test]
fn the_sampler_input_is_configured_as_the_code_expects() {
    for (file, config) in shipped() {
        let input = one(&config, "INPUT", "exec_wasi", file);
        assert_eq!(input.get("tag"), Some(SAMPLES_TAG), "{file}");
        let path = input.get("wasi_path").expect("wasi_path");
        let (dir, name) = path.rsplit_once('/').expect("an absolute path");
        assert_eq!(
            edgeheal_tests::sampler_wasm()
                .file_name()
                .and_then(|n| n.to_str()),
            Some(name),
            "{file}"
        );
        let filter = one(&config, "FILTER", "wasm", file);
        let filter_dir = filter
            .get("wasm_path")
            .and_then(|p| p.rsplit_once('/'))
            .map(|(d, _)| d);
        assert_eq!(
            Some(dir),
            filter_dir,
            "{file}: one directory for both modules"
        );
        let accessible: Vec<&str> = input
            .get("accessible_paths")
            .expect("accessible_paths")
            .split(',')
            .map(str::trim)
            .collect();
        assert_eq!(
            accessible,
            [
                edgeheal_sampler::CONTAINERS_DIR,
                edgeheal_sampler::CGROUP_ROOTS[0]
            ],
            "{file}"
        );
        // The stock parsers file of the Fluent Bit image holds `json`.
        assert_eq!(input.get("parser"), Some("json"), "{file}");
        let service = one(&config, "SERVICE", "", file);
        assert_eq!(
            service.get("parsers_file"),
            Some("/fluent-bit/etc/parsers.conf"),
            "{file}"
        );
        let stack = size_to_bytes(input.get("wasm_stack_size").expect("stack")).expect("size");
        assert!(stack >= 256_000, "{file}: wasm_stack_size {stack}");
        assert_eq!(
            stack,
            ExecWasiConfig::default().stack_size,
            "{file}: the stand-in runs with the shipped stack"
        );
        // A CPU rate needs counters some seconds apart.
        let interval: u64 = input
            .get("interval_sec")
            .and_then(|v| v.parse().ok())
            .expect("interval_sec");
        assert!((10..=60).contains(&interval), "{file}: {interval}");

        assert!(
            matches(filter, SAMPLES_TAG),
            "{file}: the filter scores them"
        );
        let rewrite = one(&config, "FILTER", "rewrite_tag", file);
        assert!(matches(rewrite, SAMPLES_TAG), "{file}: anomalies are sent");
        let null = one(&config, "OUTPUT", "null", file);
        assert!(
            matches(null, SAMPLES_TAG) && !matches(null, "kube.x"),
            "{file}"
        );
    }
}

/// The `flb-wamrc` commands in `text`: from the name to the end of its line
/// or code span, those that write an output (`-o`), each with its line number.
fn wamrc_commands(text: &str) -> Vec<(usize, &str)> {
    text.lines()
        .enumerate()
        .flat_map(|(n, line)| {
            line.match_indices("flb-wamrc ").filter_map(move |(at, _)| {
                let rest = &line[at..];
                let command = rest.split('`').next().unwrap_or(rest).trim_end();
                command.contains(" -o ").then_some((n + 1, command))
            })
        })
        .collect()
}

/// The ahead-of-time commands the configs and the README give build a module
/// every node of the architecture can run: without `--cpu`, `flb-wamrc`
/// compiles for the build machine's CPU (AVX-512 on a recent Xeon), which
/// Fluent Bit's loader does not check (SIGILL on a node without it), and the
/// default code model needs the code mapped within the low 2 GB.
#[test]
fn ahead_of_time_commands_target_a_cpu_every_node_has() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    for (file, text) in [
        ("fluent-bit.conf", shipped_text("fluent-bit.conf")),
        ("fluent-bit.yaml", shipped_text("fluent-bit.yaml")),
        ("README.md", readme),
    ] {
        let commands = wamrc_commands(&text);
        assert!(
            !commands.is_empty(),
            "{file}: an flb-wamrc command for the .aot"
        );
        for (line, command) in commands {
            for flag in ["--target=x86_64", "--cpu=x86-64-v2", "--size-level=0"] {
                assert!(
                    command.split_whitespace().any(|w| w == flag),
                    "{file}:{line}: `{command}` lacks {flag}"
                );
            }
            assert!(
                command.ends_with("-o edgeheal_plugin.aot edgeheal_plugin.wasm"),
                "{file}:{line}: `{command}` compiles the filter"
            );
        }
        // The arm64 variant names a generic CPU and the same code model.
        for arm in text.lines().filter(|l| l.contains("--target=aarch64")) {
            assert!(
                arm.contains("--cpu=generic") && arm.contains("--size-level=0"),
                "{file}: {arm}"
            );
        }
    }
}

#[test]
fn wamrc_commands_are_found_where_written() {
    let text = "a\n  flb-wamrc --cpu=x -o out in\nsee `flb-wamrc -o a b` and flb-wamrc alone\n";
    assert_eq!(
        wamrc_commands(text),
        vec![(2, "flb-wamrc --cpu=x -o out in"), (3, "flb-wamrc -o a b")]
    );
}
