//! `report.md` and `metrics.json`: an evaluation written for people and for
//! machines.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::Error;
use crate::evaluate::Metrics;

/// Writes `metrics.json` (the model's figures under `model`, baselines under
/// their names) and `report.md` into `dir`.
pub fn write_report(
    dir: &Path,
    model_id: &str,
    data: &[String],
    rows: &[(&str, &Metrics)],
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
        "| detector | recall | precision | F1 | MTTD p50 (s / intervals) | MTTD p95 (s / intervals) | false alarms / entity-h | kind accuracy |\n|---|---|---|---|---|---|---|---|"
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
        "\n## Definitions\n\nAn alarm is a run of anomaly-tagged records of one workload (points under 60 s apart merge). \
         A window is detected when an alarm of its workload starts in [start, end + 60 s]; time to detect is that start \
         minus the window start. An alarm starting outside every window of its workload (+ 300 s after-effect margin) is \
         false; false alarms are per fault-free workload-hour. An alarm's incident is its most frequent incident tag in \
         its first 60 s."
    );
    let path = dir.join("report.md");
    std::fs::write(&path, md).map_err(Error::io(&path))?;
    Ok(())
}
