//! The `.wasm` filter under the Fluent Bit harness: the ABI contract, parity
//! with the native core, the NULL-record path, large and hostile records, the
//! runtime configuration file, traps, and bounded memory over a million pods.

use edgeheal_plugin::{Filter, FilterConfig, ModelSet};
use edgeheal_tests::fluentbit_harness::{
    module_shape, wamr_app_heap, CallStats, DropReason, EventTime, FilterOutcome, FilterWasmConfig,
    FluentBitWasm,
};
use edgeheal_tests::json_check::{is_json_object, member_value, remove_member};
use edgeheal_tests::records::MixedStream;
use edgeheal_tests::records::StreamRecord;
use edgeheal_tests::{native_filter, passthrough_wasm, plugin_wasm, same_as_native, FUNCTION_NAME};

#[path = "../../plugin/tests/common/proxy_streams.rs"]
mod proxy_streams;

const T0: EventTime = EventTime {
    sec: 1_748_736_000,
    nsec: 250_000_000,
};

fn load(config: &FilterWasmConfig) -> FluentBitWasm {
    match FluentBitWasm::load(plugin_wasm(), config) {
        Ok(fb) => fb,
        Err(e) => panic!("loading {}: {e}", plugin_wasm().display()),
    }
}

fn shipped() -> FluentBitWasm {
    load(&FilterWasmConfig::default())
}

/// The `edgeheal` object of a kept output, as text.
fn tags(body: &[u8]) -> String {
    let value = member_value(body, "edgeheal")
        .unwrap_or_else(|| panic!("no edgeheal member in {}", String::from_utf8_lossy(body)));
    String::from_utf8_lossy(value).into_owned()
}

fn kept(outcome: &FilterOutcome, fb: &FluentBitWasm) -> Vec<u8> {
    match outcome {
        FilterOutcome::Kept(body) => body.clone(),
        FilterOutcome::Dropped(why) => panic!("dropped: {why:?}; stats {:?}", fb.stats()),
    }
}

#[test]
fn artifact_exports_the_fluent_bit_abi() {
    let shape = module_shape(plugin_wasm()).expect("module shape");
    let exports: Vec<(&str, &str)> = shape
        .exports
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    assert!(
        exports.contains(&(FUNCTION_NAME, "func(i32 i32 i32 i32 i32 i32) -> (i32)")),
        "{exports:?}"
    );
    assert!(
        exports.contains(&("_initialize", "func() -> ()")),
        "{exports:?}"
    );
    assert!(exports.contains(&("memory", "memory")), "{exports:?}");
    // Exporting malloc/free would make WAMR disable the app heap and allocate
    // Fluent Bit's copies with the module's own allocator; exporting
    // __heap_base would move the heap into the module's data area. Neither is
    // what the NULL-record behaviour was measured with.
    for forbidden in ["malloc", "free", "__heap_base", "__data_end", "_start"] {
        assert!(
            !exports.iter().any(|(n, _)| *n == forbidden),
            "{forbidden} exported: {exports:?}"
        );
    }
    // No command-style export wrappers: _initialize referencing
    // __wasm_call_ctors keeps wasm-ld from wrapping every export.
    assert!(
        !exports.iter().any(|(n, _)| n.ends_with(".command_export")),
        "{exports:?}"
    );
    for (module, name) in &shape.imports {
        assert_eq!(module, "wasi_snapshot_preview1", "import {module}::{name}");
    }
    // Exactly what the adapter uses: its config file, stderr, the
    // environment and exit that std's start-up links, and `random_get` for
    // the entity table's hash key (which Fluent Bit's WAMR provides with
    // `getrandom(2)`; when it fails, the filter runs on a fixed key: see
    // `a_host_without_randomness_gets_the_same_bytes_and_one_warning`).
    let mut names: Vec<&str> = shape.imports.iter().map(|(_, n)| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "environ_get",
            "environ_sizes_get",
            "fd_close",
            "fd_fdstat_get",
            "fd_prestat_dir_name",
            "fd_prestat_get",
            "fd_read",
            "fd_write",
            "path_open",
            "proc_exit",
            "random_get",
        ]
    );
}

/// The entity table's hash key comes from `random_get`. A host that fails
/// it gets a filter that runs on the fixed key: no trap, the same bytes as
/// the native core (whose key is another), and one line on stderr saying so.
#[test]
fn a_host_without_randomness_gets_the_same_bytes_and_one_warning() {
    let warning = "the entity table hashes pod and workload names under a fixed public key";
    let mut fb = load(&FilterWasmConfig {
        random_get_fails: true,
        ..FilterWasmConfig::default()
    });
    let mut native = native_filter();
    let records: Vec<_> = MixedStream::new(11).take(500).collect();
    for record in std::iter::repeat_n(&records, 2).flatten() {
        same_as_native(&mut native, &mut fb, record);
    }
    let stats = fb.stats();
    assert_eq!((stats.traps, stats.null_records, stats.dropped), (0, 0, 0));
    let stderr = fb.stderr_text();
    assert_eq!(stderr.matches(warning).count(), 1, "{stderr}");
    assert!(stderr.contains("[edgeheal] "), "{stderr}");

    let mut keyed = shipped();
    let mut native = native_filter();
    for record in &records {
        same_as_native(&mut native, &mut keyed, record);
    }
    assert!(
        !keyed.stderr_text().contains(warning),
        "{}",
        keyed.stderr_text()
    );
}

#[test]
fn native_and_wasm_outputs_are_byte_identical_on_a_mixed_stream() {
    let mut fb = shipped();
    let mut native = native_filter();
    let mut compared = 0;
    // Five times over the same records: after the first, each `kubernetes`
    // object is one the parse has kept (the stream draws pod ids and
    // container hashes afresh for every record, so it never repeats one).
    let records: Vec<_> = MixedStream::new(42).take(1_000).collect();
    for record in std::iter::repeat_n(&records, 5).flatten() {
        let wasm = same_as_native(&mut native, &mut fb, record);
        assert!(is_json_object(&wasm), "{}", String::from_utf8_lossy(&wasm));
        compared += 1;
    }
    assert_eq!(compared, 5_000);
    let stats = fb.stats();
    assert_eq!((stats.traps, stats.null_records, stats.dropped), (0, 0, 0));
    assert_eq!(
        fb.heap_in_use(),
        0,
        "Fluent Bit frees both copies after every call"
    );
}

/// Stack traces printed one line a record (their frames carry no signal)
/// and warnings naming an exception: the `.wasm` tags them byte for byte as
/// the native core does, error bursts and no traffic surge.
#[test]
fn stack_traces_are_tagged_alike_in_the_wasm() {
    let mut fb = shipped();
    let mut native = native_filter();
    let (mut bursts, mut surges) = (0, 0);
    let records = edgeheal_tests::stack_traces::stream_records(5, 1500, 3, 12);
    for record in &records {
        let wasm = same_as_native(&mut native, &mut fb, record);
        let tag = tags(&wasm);
        bursts += usize::from(tag.contains(r#""incident":"error_burst""#));
        surges += usize::from(tag.contains(r#""incident":"traffic_surge""#));
    }
    assert!(records.len() > 20_000, "{} records", records.len());
    // The traces are errors, not traffic (the consumer logs no requests).
    assert!(bursts > 1_000, "{bursts} records tagged error_burst");
    assert_eq!(surges, 0, "records tagged traffic_surge");
    let stats = fb.stats();
    assert_eq!((stats.traps, stats.null_records, stats.dropped), (0, 0, 0));
}

/// The mixed stream's Fluent Bit container logs as they arrive when the
/// `kubernetes` filter got no metadata: no `kubernetes` object, the kubelet's
/// 64-hex container id in the tag. The `.wasm` names them from the tag as
/// the native core does, byte for byte.
#[test]
fn logs_named_only_by_their_tag_are_tagged_alike_in_the_wasm() {
    let mut fb = shipped();
    let mut native = native_filter();
    let mut named = 0;
    let mut compared = 0;
    for mut record in MixedStream::new(11).take(3_000) {
        let Some(file) = record.tag.strip_prefix("kube.var.log.containers.") else {
            continue;
        };
        let Some((names, _id)) = file.trim_end_matches(".log").rsplit_once('-') else {
            continue;
        };
        let Some(bare) = remove_member(&record.json, "kubernetes") else {
            continue;
        };
        let pod = names.split('_').next().unwrap_or_default().to_string();
        record.tag = format!("kube.var.log.containers.{names}-{}.log", "0ac1".repeat(16));
        record.json = bare;
        let wasm = same_as_native(&mut native, &mut fb, &record);
        compared += 1;
        let tag = tags(&wasm);
        if tag.contains(&format!(r#""pod":"{pod}""#)) && !tag.contains(r#""entity":null"#) {
            named += 1;
        }
    }
    assert!(compared > 300, "{compared} container logs");
    assert_eq!(named, compared, "every one is named by its tag");
    assert_eq!(fb.stats().traps, 0);
}

/// A proxy's access log (an Istio sidecar's outbound calls failing, an
/// ingress-nginx backend failing behind its controller) is tagged by the
/// `.wasm` byte for byte as natively, and blames neither the caller nor the
/// controller; the sidecar's own inbound errors still open an error burst.
#[test]
fn proxy_lines_are_tagged_alike_in_the_wasm_and_blame_no_caller() {
    use proxy_streams::{anomaly_of, ingress_stream, sidecar_stream, Ingress, Sidecar};
    let anomalies = |stream: Vec<(i64, String)>| {
        let mut fb = shipped();
        let mut native = native_filter();
        let mut found = std::collections::BTreeMap::<String, usize>::new();
        for (ts, json) in stream {
            let record = StreamRecord {
                tag: "kube.var.log.containers.proxy.log".into(),
                time: EventTime {
                    sec: ts.div_euclid(1_000_000_000),
                    nsec: ts.rem_euclid(1_000_000_000) as u32,
                },
                json: json.into_bytes(),
            };
            let wasm = same_as_native(&mut native, &mut fb, &record);
            if let Some(anomaly) = anomaly_of(&String::from_utf8_lossy(&wasm)) {
                *found.entry(anomaly).or_default() += 1;
            }
        }
        assert_eq!(fb.stats().traps, 0);
        found
    };
    let caller = anomalies(sidecar_stream(Sidecar::OutboundFails));
    assert!(
        !caller.keys().any(|k| k.starts_with("shop/cart ")),
        "{caller:?}"
    );
    let controller = anomalies(ingress_stream(Ingress::Upstream502));
    assert!(
        !controller
            .keys()
            .any(|k| k.starts_with("ingress-nginx/ingress-nginx-controller ")),
        "{controller:?}"
    );
    let served = anomalies(sidecar_stream(Sidecar::OutboundThenInboundFails));
    assert!(served.contains_key("shop/cart error_burst"), "{served:?}");
}

#[test]
fn every_output_keeps_the_input_and_carries_the_tag_object() {
    let mut fb = shipped();
    for record in MixedStream::new(3).take(2_000) {
        let body = kept(
            &fb.filter(record.tag.as_bytes(), record.time, &record.json),
            &fb,
        );
        let restored = remove_member(&body, "edgeheal").expect("an object");
        let original = remove_member(&record.json, "edgeheal").expect("an object");
        assert_eq!(
            String::from_utf8_lossy(&restored),
            String::from_utf8_lossy(&original),
            "output {}",
            String::from_utf8_lossy(&body)
        );
    }
}

#[test]
fn null_record_is_reported_with_its_size_and_never_traps() {
    // Fluent Bit's default 8 KiB heap: WAMR rounds it up to one page (64 KiB
    // less 1 KiB of its own), so a 100,000-byte record cannot be copied.
    let mut fb = load(&FilterWasmConfig {
        heap_size: 8_192,
        ..FilterWasmConfig::default()
    });
    let record = format!(r#"{{"log":"{}"}}"#, "x".repeat(99_990));
    assert_eq!(record.len(), 100_000);
    let body = kept(&fb.filter(b"kube.big", T0, record.as_bytes()), &fb);
    let tags = tags(&body);
    assert!(tags.contains(r#""kind":"unknown""#), "{tags}");
    assert!(
        tags.contains("record of 100000 bytes exceeded wasm_heap_size"),
        "{tags}"
    );
    assert!(tags.contains(r#""anomaly":false"#), "{tags}");
    assert_eq!(
        fb.stats(),
        CallStats {
            calls: 1,
            traps: 0,
            null_records: 1,
            dropped: 0,
            double_frees: 0,
        }
    );
    // The instance is fine afterwards.
    let small = br#"{"log":"ok"}"#;
    let body = kept(&fb.filter(b"kube.small", T0, small), &fb);
    assert_eq!(
        remove_member(&body, "edgeheal").as_deref(),
        Some(&small[..])
    );
}

/// The largest record the shipped configs mean to hand the filter: a CRI
/// line joined up to Fluent Bit's default `multiline_buffer_limit` (2 MiB),
/// every byte a control character, which Fluent Bit's JSON writes as
/// `\u00XX` (6 bytes each; `flb_utils_write_str`), with the CRI parser's
/// fields and kubernetes metadata. It fits the shipped heap and leaves whole.
#[test]
fn a_two_mib_line_of_control_characters_fits_the_shipped_heap() {
    let record = format!(
        r#"{{"time":"2025-06-01T00:00:00.250000000Z","stream":"stdout","_p":"F","log":"{}","kubernetes":{{"pod_name":"big-7d9f8b6c5d-x2k4q","namespace_name":"shop","labels":{{"app":"big"}},"host":"node-1","container_name":"app"}}}}"#,
        "\\u0001".repeat(2 << 20)
    );
    assert!(record.len() > 6 * (2 << 20));
    let mut fb = shipped();
    let body = kept(
        &fb.filter(
            b"kube.var.log.containers.big-7d9f8b6c5d-x2k4q_shop_app-0123.log",
            T0,
            record.as_bytes(),
        ),
        &fb,
    );
    assert_eq!(fb.stats().null_records, 0, "{}", tags(&body));
    assert_eq!(
        remove_member(&body, "edgeheal").as_deref(),
        Some(record.as_bytes())
    );
}

/// The output buffer holds one record at a time: a second large record
/// reuses the room the first one took. Reserving the new record's room on
/// top of the last output (still in the buffer) grew it to twice the largest
/// record, a cost the DaemonSet's memory budget does not count.
#[test]
fn a_second_large_record_reuses_the_output_buffer() {
    let record = format!(
        r#"{{"log":"{}","kubernetes":{{"pod_name":"big-7d9f8b6c5d-x2k4q","namespace_name":"shop"}}}}"#,
        "x".repeat(5 << 20)
    );
    let mut fb = shipped();
    let mut grown = Vec::new();
    for _ in 0..3 {
        let body = kept(&fb.filter(b"kube.big", T0, record.as_bytes()), &fb);
        assert_eq!(
            remove_member(&body, "edgeheal").as_deref(),
            Some(record.as_bytes())
        );
        grown.push(fb.memory_bytes());
    }
    assert_eq!(
        grown[0], grown[2],
        "linear memory after each record: {grown:?}"
    );
}

#[test]
fn records_over_the_shipped_heap_pass_with_a_larger_one_and_are_reported_with_the_shipped_one() {
    let heap = FilterWasmConfig::default().heap_size;
    let (_, usable) = wamr_app_heap(heap);
    let big = format!(
        r#"{{"log":"{}","kubernetes":{{"pod_name":"big-7d9f8b6c5d-x2k4q","namespace_name":"shop"}}}}"#,
        // `a\"b ` is five bytes.
        "a\\\"b ".repeat(usize::try_from(usable).expect("heap fits usize") / 5)
    );
    assert!(big.len() as u64 > usable);

    let mut roomy = load(&FilterWasmConfig {
        heap_size: 2 * heap,
        ..FilterWasmConfig::default()
    });
    let body = kept(&roomy.filter(b"kube.big", T0, big.as_bytes()), &roomy);
    assert_eq!(
        remove_member(&body, "edgeheal").as_deref(),
        Some(big.as_bytes())
    );

    let mut shipped = shipped();
    let body = kept(&shipped.filter(b"kube.big", T0, big.as_bytes()), &shipped);
    assert!(tags(&body).contains(&format!("record of {} bytes exceeded", big.len())));
    assert_eq!(shipped.stats().null_records, 1);
    assert_eq!(shipped.stats().traps, 0);
}

#[test]
fn hostile_inputs_never_trap_and_always_come_back_as_json_objects() {
    let deep_object = format!(
        r#"{{"a":{}1{}}}"#,
        r#"{"b":"#.repeat(10_000),
        "}".repeat(10_000)
    );
    let deep_array = format!(r#"{{"a":{}{}}}"#, "[".repeat(10_000), "]".repeat(10_000));
    let unbalanced = "[".repeat(100_000);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("deep object", deep_object.into_bytes()),
        ("deep array", deep_array.into_bytes()),
        ("unbalanced", unbalanced.into_bytes()),
        (
            "invalid utf-8 in a string",
            b"{\"log\":\"\xff\xfe\xc3\x28\"}".to_vec(),
        ),
        ("invalid utf-8 bare", b"\xff\xff\xff".to_vec()),
        ("not json", b"hello world".to_vec()),
        ("array", b"[1,2,3]".to_vec()),
        ("string", b"\"x\"".to_vec()),
        ("truncated", br#"{"log":"abc"#.to_vec()),
        ("trailing garbage", br#"{"a":1}xyz"#.to_vec()),
        ("duplicate keys", br#"{"a":1,"a":2}"#.to_vec()),
        ("empty", Vec::new()),
        ("lone surrogate", br#"{"m":"\ud800"}"#.to_vec()),
        ("control chars", b"{\"m\":\"a\x01b\"}".to_vec()),
        (
            "huge number",
            format!(r#"{{"n":{}}}"#, "9".repeat(5_000)).into_bytes(),
        ),
        (
            "existing edgeheal",
            br#"{"edgeheal":{"kind":"log"},"log":"x"}"#.to_vec(),
        ),
        ("edgeheal not an object", br#"{"edgeheal":42}"#.to_vec()),
        // What Fluent Bit's msgpack-to-JSON writes for a NaN double unless
        // `json.convert_nan_to_null` is on, and for an infinite one always:
        // read, and left with them replaced.
        ("nan", br#"{"cpu_p":nan,"log":"x"}"#.to_vec()),
        ("inf", br#"{"cpu_p":inf,"mem":-inf}"#.to_vec()),
        // What no `%g` writes: no JSON.
        ("infinity", br#"{"cpu_p":Infinity,"log":"x"}"#.to_vec()),
        ("nans", br#"{"cpu_p":nans,"log":"x"}"#.to_vec()),
    ];
    let replaced = |name: &str| match name {
        "nan" => Some(br#"{"cpu_p":null,"log":"x"}"#.to_vec()),
        "inf" => Some(br#"{"cpu_p":1e+999,"mem":-1e+999}"#.to_vec()),
        _ => None,
    };
    let mut fb = shipped();
    let mut read = Vec::new();
    for (name, input) in &cases {
        let outcome = fb.filter(b"kube.hostile", T0, input);
        let body = match outcome {
            FilterOutcome::Kept(body) => body,
            FilterOutcome::Dropped(why) => panic!("{name}: dropped ({why:?})"),
        };
        assert!(
            is_json_object(&body),
            "{name}: {}",
            String::from_utf8_lossy(&body)
        );
        assert!(member_value(&body, "edgeheal").is_some(), "{name}");
        match member_value(&body, "raw") {
            // A record the filter could read leaves with its bytes (but
            // non-finite numbers, replaced).
            None => {
                let original = replaced(name)
                    .or_else(|| remove_member(input, "edgeheal"))
                    .unwrap_or_else(|| input.clone());
                assert_eq!(remove_member(&body, "edgeheal"), Some(original), "{name}");
                read.push(*name);
            }
            // One it could not is kept whole, as text, beside the reason.
            Some(raw) => {
                let raw: String =
                    serde_json::from_slice(raw).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(raw, String::from_utf8_lossy(input), "{name}");
                let tags = member_value(&body, "edgeheal").unwrap_or_default();
                assert!(
                    std::str::from_utf8(tags).is_ok_and(|t| t.contains("\"error\":\"")),
                    "{name}"
                );
            }
        }
    }
    for name in [
        "duplicate keys",
        "existing edgeheal",
        "edgeheal not an object",
        "huge number",
        "nan",
        "inf",
    ] {
        assert!(read.contains(&name), "{name} was not read: {read:?}");
    }
    for name in ["infinity", "nans", "not json", "array", "truncated"] {
        assert!(!read.contains(&name), "{name} was read");
    }
    // Byte-exact robustness beyond what Fluent Bit can send: NULs inside.
    let nul = b"{\"log\":\"a\0b\"}";
    let outcome = fb.filter_exact(FUNCTION_NAME, b"kube.nul", T0, nul);
    assert!(
        matches!(outcome, FilterOutcome::Kept(ref b) if is_json_object(b)),
        "{outcome:?}"
    );
    assert_eq!(fb.stats().traps, 0);
}

/// Records with the non-finite numbers Fluent Bit's msgpack-to-JSON writes
/// (`%.16g`: `inf`, `-inf`, `nan`, `-nan`), as a Fluent Bit `cpu` / `mem`
/// input, a metric sample and a container log carry them: the `.wasm` reads
/// them and writes the native core's bytes, the record with only the tokens
/// replaced (`1e+999`, `-1e+999`, `null`); near misses are kept as text alike.
/// A 4 MiB record of them fits the shipped heap and memory.
#[test]
fn fluent_bit_s_non_finite_numbers_are_replaced_alike_in_the_wasm() {
    let many = format!(
        r#"{{"samples":[{}],"kubernetes":{{"pod_name":"web-7d9f8b6c5d-x2k4q","namespace_name":"shop"}}}}"#,
        ["inf", "-inf", "nan", "-nan"].repeat(1 << 18).join(",")
    );
    let cases: Vec<(&str, String, Option<String>)> = vec![
        (
            "node.node-1.cpu",
            r#"{"cpu_p":inf,"user_p":nan,"system_p":-nan,"cpu0.p_cpu":inf,"cpu0.p_user":20.0}"#.into(),
            Some(r#"{"cpu_p":1e+999,"user_p":null,"system_p":null,"cpu0.p_cpu":1e+999,"cpu0.p_user":20.0}"#.into()),
        ),
        (
            "node.node-1.mem",
            r#"{"Mem.total":67108864,"Mem.used":16777216,"Mem.free":-inf,"Swap.total":0,"Swap.used":0,"Swap.free":nan}"#.into(),
            Some(r#"{"Mem.total":67108864,"Mem.used":16777216,"Mem.free":-1e+999,"Swap.total":0,"Swap.used":0,"Swap.free":null}"#.into()),
        ),
        (
            "edgeheal.metrics",
            r#"{"metric":"container_memory_working_set_bytes","value":nan,"labels":{"namespace":"shop","pod":"web-7d9f8b6c5d-x2k4q","container":"app"}}"#.into(),
            Some(r#"{"metric":"container_memory_working_set_bytes","value":null,"labels":{"namespace":"shop","pod":"web-7d9f8b6c5d-x2k4q","container":"app"}}"#.into()),
        ),
        (
            "kube.var.log.containers.web-7d9f8b6c5d-x2k4q_shop_app-0123.log",
            r#"{"log":"inf -nan","log_processed":{"level":"error","v":[-inf,{"w":nan}]},"edgeheal":{"score":-nan},"kubernetes":{"pod_name":"web-7d9f8b6c5d-x2k4q","namespace_name":"shop"}}"#.into(),
            Some(r#"{"log":"inf -nan","log_processed":{"level":"error","v":[-1e+999,{"w":null}]},"kubernetes":{"pod_name":"web-7d9f8b6c5d-x2k4q","namespace_name":"shop"}}"#.into()),
        ),
        (
            "kube.big",
            many.clone(),
            Some(many.replace("-inf", "-1e+999").replace("-nan", "null").replace("nan", "null").replace("inf", "1e+999")),
        ),
        ("kube.x", r#"{"a":infinity}"#.into(), None),
        ("kube.x", r#"{"a":nana}"#.into(), None),
        ("kube.x", r#"{"a":-in}"#.into(), None),
        ("kube.x", r#"{inf:1}"#.into(), None),
    ];
    assert!(many.len() > 4 << 20);
    let mut fb = shipped();
    let mut native = native_filter();
    for (tag, json, replaced) in cases {
        let record = StreamRecord {
            tag: tag.into(),
            time: T0,
            json: json.clone().into_bytes(),
        };
        let wasm = same_as_native(&mut native, &mut fb, &record);
        assert!(is_json_object(&wasm), "{tag}");
        match replaced {
            Some(replaced) => {
                assert!(member_value(&wasm, "raw").is_none(), "{}", tags(&wasm));
                assert!(
                    remove_member(&wasm, "edgeheal") == Some(replaced.into_bytes()),
                    "{tag}: {}",
                    tags(&wasm)
                );
            }
            None => {
                let raw: String =
                    serde_json::from_slice(member_value(&wasm, "raw").unwrap_or_default())
                        .unwrap_or_default();
                assert_eq!(raw, json);
            }
        }
    }
    let stats = fb.stats();
    assert_eq!((stats.traps, stats.null_records, stats.dropped), (0, 0, 0));
}

#[test]
fn event_time_is_passed_truncated_to_32_bits_as_fluent_bit_does() {
    // Year 2200: tv_sec does not fit in 32 bits; both sides see the same time.
    let late = EventTime {
        sec: 7_258_118_400,
        nsec: 5,
    };
    let mut fb = shipped();
    let mut native = native_filter();
    let record = br#"{"log":"no time field here"}"#;
    let mut out = Vec::new();
    native.process(b"kube.t", late.as_filter_sees_ns(), record, &mut out);
    let wasm = fb
        .call_function_format_json(FUNCTION_NAME, b"kube.t", late, record)
        .expect("a result");
    assert_eq!(
        String::from_utf8_lossy(&wasm),
        String::from_utf8_lossy(&out)
    );
}

/// A directory holding `config.json` (when given), removed when dropped.
fn config_dir(name: &str, config: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(&format!("edgeheal-fb-{}-", name.replace(' ', "-")))
        .tempdir()
        .expect("temp dir");
    if let Some(text) = config {
        std::fs::write(dir.path().join("config.json"), text).expect("config");
    }
    dir
}

/// The shipped filter with `config` mounted at `/etc/edgeheal`; keep the
/// returned directory alive while the filter runs.
fn with_config(name: &str, config: Option<&str>) -> (FluentBitWasm, tempfile::TempDir) {
    let dir = config_dir(name, config);
    let fb = load(&FilterWasmConfig {
        accessible_paths: vec![(dir.path().to_path_buf(), "/etc/edgeheal".to_string())],
        ..FilterWasmConfig::default()
    });
    (fb, dir)
}

#[test]
fn runtime_configuration_is_read_once_and_a_bad_file_keeps_the_defaults() {
    let record = br#"{"log":"hello"}"#;
    let cases: &[(&str, Option<&str>, Option<&str>)] = &[
        ("absent", None, None),
        (
            "valid",
            Some(
                r#"{"filter":{"max_entities":128,"bucket_seconds":10,"merge_log_key":"app_json"}}"#,
            ),
            None,
        ),
        ("empty object", Some("{}"), None),
        ("syntax", Some("{\"filter\":"), Some("EOF")),
        (
            "unknown top key",
            Some(r#"{"filters":{}}"#),
            Some("filters"),
        ),
        (
            "unknown filter key",
            Some(r#"{"filter":{"max_entitys":5}}"#),
            Some("max_entitys"),
        ),
        (
            "out of range",
            Some(r#"{"filter":{"max_entities":1}}"#),
            Some("max_entities"),
        ),
        (
            "empty merge_log_key",
            Some(r#"{"filter":{"merge_log_key":""}}"#),
            Some("merge_log_key"),
        ),
        (
            "missing models",
            Some(r#"{"models":"/etc/edgeheal/nope"}"#),
            Some("models"),
        ),
    ];
    for (name, config, complaint) in cases {
        let (mut fb, _dir) = with_config(name, *config);
        for _ in 0..3 {
            let body = kept(&fb.filter(b"kube.cfg", T0, record), &fb);
            assert_eq!(
                remove_member(&body, "edgeheal").as_deref(),
                Some(&record[..])
            );
        }
        let stderr = fb.stderr_text();
        match complaint {
            None => assert_eq!(stderr, "", "{name}"),
            Some(word) => {
                assert_eq!(stderr.lines().count(), 1, "{name}: said once: {stderr}");
                assert!(
                    stderr.contains("/etc/edgeheal/config.json"),
                    "{name}: {stderr}"
                );
                assert!(stderr.contains(word), "{name}: {stderr}");
            }
        }
    }
}

#[test]
fn a_mounted_configuration_and_model_set_are_what_the_filter_runs() {
    // The scikit-learn parity set (a memory forest and a classifier), mounted
    // beside a configuration that names it and changes the window and cap.
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin/tests/fixtures/sklearn");
    let dir = config_dir(
        "models",
        Some(
            r#"{"filter":{"max_entities":16,"bucket_seconds":5,"window_buckets":3},
                "models":"/etc/edgeheal/models"}"#,
        ),
    );
    let models_dir = dir.path().join("models");
    std::fs::create_dir(&models_dir).expect("models dir");
    for file in ["manifest.json", "memory.json", "incident.json"] {
        std::fs::copy(fixture.join(file), models_dir.join(file)).expect("copy model");
    }
    let mut fb = load(&FilterWasmConfig {
        accessible_paths: vec![(dir.path().to_path_buf(), "/etc/edgeheal".to_string())],
        ..FilterWasmConfig::default()
    });

    let read = |file: &str| std::fs::read(fixture.join(file)).ok();
    let models = ModelSet::from_manifest(&read("manifest.json").expect("manifest"), read)
        .expect("the fixture set loads natively");
    assert!(
        models.id().starts_with("sklearn-parity@"),
        "{}",
        models.id()
    );
    let config = FilterConfig {
        max_entities: 16,
        bucket_seconds: 5,
        window_buckets: 3,
        ..FilterConfig::default()
    };
    let mut native = Filter::new(config, Some(models.clone()));
    let mut defaults = Filter::new(FilterConfig::default(), Some(models.clone()));
    let model_tag = format!("\"model\":\"{}\"", models.id());

    let (mut out, mut default_out) = (Vec::new(), Vec::new());
    let mut differs_from_defaults = 0;
    for record in MixedStream::new(7).take(3_000) {
        let (tag, ns) = (record.tag.as_bytes(), record.time.as_filter_sees_ns());
        native.process(tag, ns, &record.json, &mut out);
        defaults.process(tag, ns, &record.json, &mut default_out);
        let wasm = kept(&fb.filter(tag, record.time, &record.json), &fb);
        assert!(
            wasm == out,
            "the mounted set and settings are not what runs:\nnative: {}\nwasm:   {}",
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&wasm)
        );
        assert!(tags(&wasm).contains(&model_tag), "{}", tags(&wasm));
        differs_from_defaults += usize::from(out != default_out);
    }
    // Not vacuous: under the default settings the same set tags otherwise.
    assert!(differs_from_defaults > 0);
    assert_eq!(
        fb.stderr_text(),
        "",
        "a good configuration is read silently"
    );
}

/// The JSON-passthrough module with an app heap of `heap_size` bytes.
fn passthrough(heap_size: u64) -> FluentBitWasm {
    FluentBitWasm::load(
        passthrough_wasm(),
        &FilterWasmConfig {
            function_name: edgeheal_tests::PASSTHROUGH_FUNCTION.to_string(),
            heap_size,
            ..FilterWasmConfig::default()
        },
    )
    .expect("passthrough module")
}

#[test]
fn a_trap_drops_the_record_and_the_instance_lives_on() {
    let mut fb = passthrough(FilterWasmConfig::default().heap_size);
    let record = br#"{"log":"x"}"#;
    for _ in 0..20 {
        let outcome = fb.filter_exact(edgeheal_tests::TRAP_FUNCTION, b"t", T0, record);
        assert!(
            matches!(outcome, FilterOutcome::Dropped(DropReason::Trap(_))),
            "{outcome:?}"
        );
    }
    assert_eq!(fb.stats().traps, 20);
    assert_eq!(fb.stats().dropped, 20);
    assert_eq!(fb.heap_in_use(), 0, "copies are freed after a trap too");
    assert_eq!(
        fb.filter(b"t", T0, record),
        FilterOutcome::Kept(record.to_vec())
    );
    // An empty result drops the record (the passthrough returns "" for NULL).
    let mut small = passthrough(8_192);
    let big = format!(r#"{{"log":"{}"}}"#, "y".repeat(70_000));
    assert_eq!(
        small.filter(b"t", T0, big.as_bytes()),
        FilterOutcome::Dropped(DropReason::Empty)
    );
    assert_eq!(
        small.filter_exact("no_such_function", b"t", T0, record),
        FilterOutcome::Dropped(DropReason::FunctionNotFound)
    );
}

/// A trap gives back no shadow stack: ARCHITECTURE.md's "after ~15 traps
/// the instance is dead for good", reproduced. The frameless trap above
/// leaks nothing, so its instance lives on; a trap holding a 64 KiB frame
/// leaks the frame, and once the module's 1 MiB stack is gone every call
/// traps, the records that would pass too. (Why the filter must never trap,
/// not even once an hour.)
#[test]
fn traps_that_hold_a_frame_leak_the_stack_until_the_instance_dies() {
    let mut fb = passthrough(FilterWasmConfig::default().heap_size);
    let f = edgeheal_tests::DEEP_TRAP_FUNCTION;
    let good = br#"{"log":"x"}"#;
    let bad = br#"{"trap":true}"#;
    assert_eq!(
        fb.filter_exact(f, b"t", T0, good),
        FilterOutcome::Kept(good.to_vec())
    );
    let mut traps = 0;
    // Each trap, then a record that should pass: alive until it is not.
    let dead_after = loop {
        assert!(traps < 64, "still alive after {traps} traps");
        let outcome = fb.filter_exact(f, b"t", T0, bad);
        assert!(
            matches!(outcome, FilterOutcome::Dropped(DropReason::Trap(_))),
            "{outcome:?}"
        );
        traps += 1;
        match fb.filter_exact(f, b"t", T0, good) {
            FilterOutcome::Kept(out) => assert_eq!(out, good),
            FilterOutcome::Dropped(DropReason::Trap(_)) => break traps,
            other => panic!("after {traps} traps: {other:?}"),
        }
    };
    assert!(
        (12..=16).contains(&dead_after),
        "dead after {dead_after} traps"
    );
    // Dead for good: nothing passes any more, and nothing revives it.
    for _ in 0..5 {
        assert!(matches!(
            fb.filter_exact(f, b"t", T0, good),
            FilterOutcome::Dropped(DropReason::Trap(_))
        ));
    }
    assert_eq!(fb.heap_in_use(), 0, "copies are freed after a trap too");
}

#[test]
fn a_result_fluent_bit_cannot_take_drops_the_record() {
    let mut fb = passthrough(FilterWasmConfig::default().heap_size);
    let record = br#"{"log":"x"}"#;
    // A pointer outside linear memory fails the address check.
    assert_eq!(
        fb.filter_exact(edgeheal_tests::BAD_POINTER_FUNCTION, b"t", T0, record),
        FilterOutcome::Dropped(DropReason::InvalidReturn(u32::MAX))
    );
    // Text that is no JSON at all, first in its chunk: dropped.
    assert_eq!(
        fb.filter_exact(edgeheal_tests::UNPARSEABLE_FUNCTION, b"t", T0, record),
        FilterOutcome::Dropped(DropReason::Unparseable { double_free: false })
    );
    // JSON that is not an object is "invalid JSON format", but was packed.
    assert_eq!(
        fb.filter_exact(edgeheal_tests::ARRAY_FUNCTION, b"t", T0, record),
        FilterOutcome::Dropped(DropReason::NotAnObject)
    );
    // After a packed result in the same chunk, Fluent Bit 4.2.8 frees that
    // result's buffer again; a new chunk starts clean.
    assert_eq!(
        fb.filter_exact(edgeheal_tests::UNPARSEABLE_FUNCTION, b"t", T0, record),
        FilterOutcome::Dropped(DropReason::Unparseable { double_free: true })
    );
    fb.end_chunk();
    assert_eq!(
        fb.filter_exact(edgeheal_tests::UNPARSEABLE_FUNCTION, b"t", T0, record),
        FilterOutcome::Dropped(DropReason::Unparseable { double_free: false })
    );
    assert_eq!(fb.stats().dropped, 5);
    assert_eq!(fb.stats().double_frees, 1);
    assert_eq!(fb.stats().traps, 0);
    assert_eq!(fb.heap_in_use(), 0, "the copies are freed");
    assert_eq!(
        fb.filter(b"t", T0, record),
        FilterOutcome::Kept(record.to_vec())
    );
}

/// Linear memory the instance may use after a million distinct pods: the
/// 16 MB app heap, the entity table at its cap (4096 entities by default) and
/// the output buffer, with room to spare. The state must stop growing once
/// the entity cap is reached.
const MEMORY_BOUND_AFTER_1M_PODS: u64 = 72 << 20;

#[test]
fn memory_stays_bounded_over_one_million_distinct_pods() {
    let mut fb = shipped();
    let start = fb.memory_bytes();
    let mut at_200k = 0;
    for (n, record) in MixedStream::distinct_pods(9).take(1_000_000).enumerate() {
        let outcome = fb.filter(record.tag.as_bytes(), record.time, &record.json);
        if n % 997 == 0 {
            let body = kept(&outcome, &fb);
            assert!(is_json_object(&body));
        }
        if n == 200_000 {
            at_200k = fb.memory_bytes();
        }
    }
    let end = fb.memory_bytes();
    let stats = fb.stats();
    assert_eq!((stats.traps, stats.dropped), (0, 0), "{stats:?}");
    assert!(
        end <= MEMORY_BOUND_AFTER_1M_PODS,
        "linear memory {end} bytes after 1M pods (started at {start})"
    );
    assert!(
        end - at_200k <= 8 << 20,
        "memory kept growing after the entity cap: {at_200k} → {end}"
    );
}

/// Names longer than Kubernetes allows name no entity: records whose pod
/// and namespace names are 100 KB each, all different, leave the state (and
/// the tags) as small as short names do. Kept, each key would hold both
/// names twice over (pod and workload), 400 KB a record.
#[test]
fn memory_stays_bounded_over_distinct_overlong_names() {
    let mut fb = shipped();
    let start = fb.memory_bytes();
    let filler = "a".repeat(100_000);
    for n in 0..1_000 {
        let record = format!(
            r#"{{"log":"ERROR boom","kubernetes":{{"pod_name":"p{n}-{filler}","namespace_name":"n{n}-{filler}","container_name":"app","host":"node-1"}}}}"#
        );
        let time = EventTime {
            sec: T0.sec + i64::from(n),
            nsec: 0,
        };
        let outcome = fb.filter(b"kube.var.log", time, record.as_bytes());
        let body = kept(&outcome, &fb);
        let tags = tags(&body);
        assert!(
            tags.len() < 2048 && tags.contains(r#""pod":null"#),
            "record {n}: {}",
            &tags[..tags.len().min(300)]
        );
        assert_eq!(
            remove_member(&body, "edgeheal").as_deref(),
            Some(record.as_bytes())
        );
    }
    let end = fb.memory_bytes();
    let stats = fb.stats();
    assert_eq!((stats.traps, stats.dropped), (0, 0), "{stats:?}");
    assert!(
        end - start <= 16 << 20,
        "linear memory grew from {start} to {end} bytes over 1,000 overlong names"
    );
}

/// A record that is no JSON object is passed on as its text under `raw`,
/// escaped: up to six times its size. When that does not fit in linear
/// memory, the text goes (the tags say so) and the instance stays; smaller
/// unreadable records keep theirs, and good records are tagged as before.
#[test]
fn an_unreadable_record_too_large_to_keep_as_text_costs_its_text_not_the_instance() {
    let config = FilterWasmConfig {
        memory_limit: 48 << 20,
        ..FilterWasmConfig::default()
    };
    let mut fb = load(&config);
    // Control bytes: no JSON, and six bytes each once escaped (42 MB).
    let huge = vec![0x01u8; 7_000_000];
    let body = kept(&fb.filter(b"kube.var.log", T0, &huge), &fb);
    assert!(is_json_object(&body));
    let said = tags(&body);
    assert!(
        said.contains("did not fit in memory and is not kept")
            && said.contains(r#""kind":"unknown""#),
        "{said}"
    );
    assert_eq!(member_value(&body, "raw"), None);
    let small = b"\x01not json\xff";
    let body = kept(&fb.filter(b"kube.var.log", T0, small), &fb);
    let text = [&br#""\u0001not json"#[..], "\u{fffd}\"".as_bytes()].concat();
    assert_eq!(member_value(&body, "raw"), Some(&text[..]));
    let good = br#"{"log":"ERROR boom","kubernetes":{"pod_name":"web-7d4b9c8f6-x2x9z","namespace_name":"shop"}}"#;
    let body = kept(&fb.filter(b"kube.var.log", T0, good), &fb);
    assert_eq!(remove_member(&body, "edgeheal").as_deref(), Some(&good[..]));
    assert!(tags(&body).contains(r#""entity":"shop/web""#));
    let stats = fb.stats();
    assert_eq!((stats.traps, stats.dropped), (0, 0), "{stats:?}");
}
