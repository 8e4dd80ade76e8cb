//! `report.md` and `metrics.json`: an evaluation written for people and for
//! machines.

use std::fmt::Write as _;
use std::path::Path;

use crate::baseline::BaselineMetrics;
use crate::error::Error;
use crate::evaluate::{Metrics, UntrueAlarm, WindowOutcome};

/// Markdown describing the baselines: the static thresholds and how the raw
/// forests were fitted.
pub fn baseline_notes(b: &BaselineMetrics, train: &[String]) -> String {
    let t = &b.thresholds;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "\n## Baselines\n\nBoth read raw per-workload values per scrape interval (CPU and memory summed over \
         the workload's containers, request rate, error ratio and latency over the last {} intervals, restarts and \
         BackOff/OOMKilled events over the last {} s) and are scored by the same rules as edgeheal.\n",
        b.raw.window_intervals, b.raw.restart_window_s
    );
    let _ = writeln!(
        md,
        "- **static_thresholds** (fixed, global; an HPA target or alert rule): CPU > {:.0} % of limit \
         (> {} cores without a limit), memory > {:.0} % of limit, error ratio > {:.0} % (at least {} lines), \
         p95 latency > {} ms, request rate > {} req/s, restarts + BackOff + OOMKilled > {} in the restart window. \
         The incident is the rule exceeded by the largest factor.",
        t.cpu_of_limit * 100.0,
        t.cpu_cores_unlimited,
        t.memory_of_limit * 100.0,
        t.error_ratio * 100.0,
        t.error_min_lines,
        t.latency_p95_ms,
        t.request_rate,
        t.restarts
    );
    match &b.raw_forests {
        Some(f) => {
            let fits: Vec<String> = f
                .fits
                .iter()
                .map(|(family, fit)| {
                    format!(
                        "{family} ({} rows, threshold {:.4})",
                        fit.fit_rows, fit.threshold
                    )
                })
                .collect();
            let _ = writeln!(
                md,
                "- **raw_isolation_forest**: one isolation forest (100 trees, ψ = 256) per metric type on raw values \
                 pooled over all workloads (cpu: cores; memory: bytes; traffic: req/s; errors: ratio; latency: \
                 p50, p95 ms; restarts: restarts, BackOff, OOMKilled), fitted on the fault-free time of {} and \
                 calibrated like edgeheal's forests (0.01 false alarms per entity-hour per type on that data): {}. \
                 The incident is the type whose score is furthest above its threshold.",
                train.join("; "),
                fits.join(", ")
            );
        }
        None => {
            let _ = writeln!(
                md,
                "- **raw_isolation_forest**: not run (pass `--baseline-train DIR` with training runs)."
            );
        }
    }
    md
}

/// Writes `metrics.json` (the model's figures at the top level, the other
/// rows under `baselines.<name>`) and `report.md` into `dir`; `notes` is
/// Markdown appended to the report (baseline descriptions, plots).
pub fn write_report(
    dir: &Path,
    model_id: &str,
    data: &[String],
    rows: &[(&str, &Metrics)],
    notes: &str,
) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let Some((_, main)) = rows.first() else {
        return Err(Error::parameter("rows", "nothing to report"));
    };
    let mut json = serde_json::to_value(main).map_err(|source| Error::Json {
        path: dir.join("metrics.json"),
        source,
    })?;
    if let Some(obj) = json.as_object_mut() {
        obj.insert("model".into(), model_id.into());
        obj.insert("data".into(), data.into());
        let mut baselines = serde_json::Map::new();
        for (name, m) in rows.iter().skip(1) {
            if let Ok(v) = serde_json::to_value(m) {
                baselines.insert((*name).to_owned(), v);
            }
        }
        obj.insert("baselines".into(), baselines.into());
    }
    let path = dir.join("metrics.json");
    let mut bytes = serde_json::to_vec_pretty(&json).map_err(|source| Error::Json {
        path: path.clone(),
        source,
    })?;
    bytes.push(b'\n');
    std::fs::write(&path, bytes).map_err(Error::io(&path))?;

    let mut md = String::new();
    let _ = writeln!(
        md,
        "# edgeheal evaluation\n\nModel `{model_id}` on: {}.\n",
        data.join("; ")
    );
    let _ = writeln!(
        md,
        "| detector | recall | precision | F1 | MTTD p50 (s / intervals) | MTTD p95 (s / intervals) | false alarms / workload-h | kind accuracy |\n|---|---|---|---|---|---|---|---|"
    );
    for (name, m) in rows {
        let _ = writeln!(
            md,
            "| {name} | {:.3} | {:.3} | {:.3} | {:.0} / {:.2} | {:.0} / {:.2} | {:.3} | {:.3} |",
            m.recall,
            m.precision,
            m.f1,
            m.mttd_seconds_p50,
            m.mttd_intervals_p50,
            m.mttd_seconds_p95,
            m.mttd_intervals_p95,
            m.false_alarms_per_entity_hour,
            m.classification_accuracy
        );
    }
    let _ = writeln!(
        md,
        "\n{} windows, {} detected; {} alarms, {} false, over {:.1} fault-free workload-hours.\n",
        main.windows, main.detected, main.alarms, main.false_alarms, main.fault_free_entity_hours
    );
    let _ = writeln!(md, "## Per incident kind\n\n| kind | windows | detected | recall | precision | F1 |\n|---|---|---|---|---|---|");
    for (kind, k) in &main.per_kind {
        let _ = writeln!(
            md,
            "| {kind} | {} | {} | {:.3} | {:.3} | {:.3} |",
            k.windows, k.detected, k.recall, k.precision, k.f1
        );
    }
    if rows.len() > 1 {
        let names: Vec<&str> = rows.iter().map(|(n, _)| *n).collect();
        let _ = writeln!(
            md,
            "\n## Recall per incident kind, by detector\n\n| kind | {} |\n|---|{}",
            names.join(" | "),
            "---|".repeat(names.len())
        );
        for kind in main.per_kind.keys() {
            let cells: Vec<String> = rows
                .iter()
                .map(|(_, m)| {
                    m.per_kind
                        .get(kind)
                        .map_or("-".into(), |k| format!("{:.3}", k.recall))
                })
                .collect();
            let _ = writeln!(md, "| {kind} | {} |", cells.join(" | "));
        }
    }
    let _ = writeln!(
        md,
        "\n## Confusion (true kind → named kind, detected windows)\n"
    );
    for (truth, row) in &main.confusion {
        let cells: Vec<String> = row.iter().map(|(p, n)| format!("{p}: {n}")).collect();
        let _ = writeln!(md, "- {truth} → {}", cells.join(", "));
    }
    let _ = writeln!(
        md,
        "\n## Alarms that were not true, by alarm kind\n\nEvery one is listed in `untrue-alarms.csv` \
         (entity, start, kind, class, whether it started on a critical score, the workload's previous window \
         and the seconds since its end).\n\n| kind | false | after-effect | started critical |\n|---|---|---|---|"
    );
    for (kind, c) in &main.untrue {
        let _ = writeln!(
            md,
            "| {kind} | {} | {} | {} |",
            c.false_alarms, c.after_effect, c.critical
        );
    }
    let path = dir.join("untrue-alarms.csv");
    std::fs::write(&path, untrue_csv(&main.untrue_alarms)).map_err(Error::io(&path))?;
    let path = dir.join("windows.csv");
    std::fs::write(&path, windows_csv(&main.window_outcomes)).map_err(Error::io(&path))?;
    md.push_str(notes);
    let _ = writeln!(
        md,
        "\n## Definitions\n\nAn alarm is a run of anomaly-tagged records of one workload and one incident kind (points \
         under 60 s apart merge), as the healer dedupes incidents per entity and kind, so a fault starting while an alarm \
         of another kind is open counts as a new incident. A window is detected when an alarm of its workload (any kind) \
         starts in [start, end + 60 s] (one starting at a whole second, as a Kubernetes event is stamped, from the start \
         of the second the window starts in); the earliest such alarm detects it, and time to detect is its start minus \
         the window start (0 at the least). An alarm starting outside every window of its workload (+ 300 s after-effect margin) is false; \
         false alarms are per fault-free workload-hour (a node's own records, `_/<node>` samples and Node events, \
         are no workload's: neither their time nor their alarms count). A detected window is classified correctly when its detecting \
         alarm's kind is the window's kind."
    );
    let path = dir.join("report.md");
    std::fs::write(&path, md).map_err(Error::io(&path))?;
    Ok(())
}

/// Two CSV cells for an optional (incident kind, seconds): both empty when absent.
fn kind_and_seconds(cell: Option<&(String, f64)>) -> (String, String) {
    cell.map_or((String::new(), String::new()), |(k, s)| {
        (k.clone(), format!("{s:.0}"))
    })
}

/// `windows.csv`: one row per labelled window, detected or not.
fn windows_csv(windows: &[WindowOutcome]) -> String {
    let mut out = String::from(
        "entity,incident,start_ns,end_ns,detected,named,seconds_to_detect,open_at_start\n",
    );
    for w in windows {
        let (named, delay) = kind_and_seconds(w.detected.as_ref());
        let _ = writeln!(
            out,
            "{},{},{},{},{},{named},{delay},{}",
            w.entity,
            w.incident,
            w.start_ns,
            w.end_ns,
            w.detected.is_some(),
            w.open_at_start.join(" ")
        );
    }
    out
}

/// `untrue-alarms.csv`: one row per alarm that was not true.
fn untrue_csv(alarms: &[UntrueAlarm]) -> String {
    let mut out =
        String::from("entity,start_ns,incident,class,critical,previous_window,seconds_after_it\n");
    for a in alarms {
        let (prev, after) = kind_and_seconds(a.after.as_ref());
        let _ = writeln!(
            out,
            "{},{},{},{},{},{prev},{after}",
            a.entity, a.start_ns, a.incident, a.class, a.critical
        );
    }
    out
}
