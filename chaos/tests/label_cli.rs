//! `edgeheal-chaos label start|end` round trip through a real labels.json.

use std::process::Command;

fn label(out: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_edgeheal-chaos"))
        .arg("label")
        .arg("--out")
        .arg(out)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn start_then_end_writes_one_closed_window() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("labels.json");
    let target = [
        "--kind",
        "crash_loop",
        "--namespace",
        "chaos-lab",
        "--workload",
        "demo-web",
    ];
    // (edge, extra args, succeeds)
    let cases: &[(&str, &[&str], bool)] = &[
        ("end", &[], false),
        (
            "start",
            &["--id", "exp-1", "--pod", "demo-web-abc-12345"],
            true,
        ),
        ("start", &["--id", "exp-1"], false),
        ("end", &["--pod", "other"], false),
        ("end", &[], true),
        ("end", &[], false),
    ];
    for (edge, extra, ok) in cases {
        let mut args = vec![*edge];
        args.extend(target);
        args.extend(*extra);
        let o = label(&out, &args);
        assert_eq!(
            o.status.success(),
            *ok,
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let labels: Vec<edgeheal_chaos::Label> =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(labels.len(), 1);
    let l = &labels[0];
    assert_eq!(l.id, "exp-1");
    assert_eq!(l.kind, edgeheal_chaos::FaultKind::CrashLoop);
    assert_eq!(l.pod.as_deref(), Some("demo-web-abc-12345"));
    assert!(l.end_ns().unwrap() >= l.start_ns().unwrap());
    let bad = label(
        &out,
        &[
            "start",
            "--kind",
            "meteor",
            "--namespace",
            "a",
            "--workload",
            "b",
        ],
    );
    assert!(!bad.status.success());
}
