//! The run's account: timeline lines, the per-fault table (time to detect
//! in seconds and sample intervals, time to remediate, action, outcome),
//! `report.md`, and a PNG timeline drawn with plotters (its font ships in a
//! crate, so no system fonts are needed).

use std::fmt::Write as _;
use std::path::Path;

use super::driver::{intended_incident, FaultOutcome, LoopReport, Step, TimelineEntry};
use super::LoopError;

/// `+MM:SS` of simulated time since the end of warm-up.
pub fn clock(t_ns: i64, t0_ns: i64) -> String {
    let s = (t_ns - t0_ns) / 1_000_000_000;
    let sign = if s < 0 { "-" } else { "+" };
    let s = s.abs();
    format!("{sign}{:02}:{:02}", s / 60, s % 60)
}

/// One timeline line, as printed while the loop runs.
pub fn timeline_line(e: &TimelineEntry, t0_ns: i64) -> String {
    let fault = e
        .fault
        .map_or("   ".to_owned(), |i| format!("f{:<2}", i + 1));
    format!(
        "{} {fault} {:<16} {:<18} {}",
        clock(e.t_ns, t0_ns),
        e.step.as_str(),
        e.entity,
        e.text
    )
}

/// The outcome column of a fault.
pub fn outcome(f: &FaultOutcome) -> String {
    let Some(inc) = f.incident() else {
        return if f.first_tag.is_some() {
            "tagged, no incident".into()
        } else {
            "not detected".into()
        };
    };
    let state = &inc.incident.state;
    let refusal = inc
        .decisions
        .iter()
        .find(|d| d.outcome == "refused")
        .map(|d| d.reason.split(':').next().unwrap_or("").to_owned());
    match (state.as_str(), refusal) {
        ("escalated", Some(code)) => format!("escalated ({code})"),
        (s, _) if f.cleared_ns.is_some() => format!("{s}, fault cleared"),
        (s, _) => s.to_owned(),
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

/// Median time to detect over the faults that were detected, seconds.
pub fn median_detect_s(r: &LoopReport) -> Option<f64> {
    median(r.faults.iter().filter_map(FaultOutcome::detect_s).collect())
}

/// The per-fault table (Markdown, also readable as plain text).
pub fn fault_table(r: &LoopReport) -> String {
    let iv = f64::from(r.interval_s);
    let mut s = String::new();
    s.push_str("| fault | kind | workload | detect (s) | detect (intervals) | first tag class | incident | action | remediate (s) | outcome |\n");
    s.push_str("|---|---|---|---:|---:|---|---|---|---:|---|\n");
    for (i, f) in r.faults.iter().enumerate() {
        let detect = f.detect_s();
        let inc = f.incident();
        let action = match f.remediation() {
            Some((a, _)) => a,
            None => inc
                .and_then(|h| h.actions.first())
                .map_or("-".into(), |a| format!("{} ({})", a.action, a.result)),
        };
        let _ = writeln!(
            s,
            "| f{} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            i + 1,
            f.planned.kind.as_str(),
            f.planned.workload,
            detect.map_or("-".into(), |d| format!("{d:.0}")),
            detect.map_or("-".into(), |d| format!("{:.1}", d / iv)),
            f.first_tag
                .as_ref()
                .map_or("-".into(), |(_, c, _)| c.clone()),
            inc.map_or("-".into(), |h| format!(
                "#{} {}",
                h.incident.id, h.incident.kind
            )),
            action,
            f.remediate_s().map_or("-".into(), |d| format!("{d:.0}")),
            outcome(f)
        );
    }
    s
}

/// Summary lines under the table.
pub fn summary(r: &LoopReport) -> String {
    let iv = f64::from(r.interval_s);
    let mut s = String::new();
    let detected = r.faults.iter().filter(|f| f.first_tag.is_some()).count();
    let _ = writeln!(
        s,
        "- detected {detected}/{} faults; median time to detect {}",
        r.faults.len(),
        median_detect_s(r).map_or("-".into(), |m| format!(
            "{m:.0} s ({:.1} intervals)",
            m / iv
        ))
    );
    let remediated: Vec<f64> = r
        .faults
        .iter()
        .filter_map(FaultOutcome::remediate_s)
        .collect();
    let _ = writeln!(
        s,
        "- remediated {}/{} faults; median time to remediate {}",
        remediated.len(),
        r.faults.len(),
        median(remediated).map_or("-".into(), |m| format!("{m:.0} s"))
    );
    let missed: Vec<String> = r
        .faults
        .iter()
        .enumerate()
        .filter(|(_, f)| f.first_tag.is_none())
        .map(|(i, f)| {
            format!(
                "f{} {} on {}: highest score {}",
                i + 1,
                f.planned.kind.as_str(),
                f.planned.workload,
                f.max_score
                    .as_ref()
                    .map_or("-".into(), |(s, fam)| format!("{s:.2} ({fam} family)"))
            )
        })
        .collect();
    if !missed.is_empty() {
        let _ = writeln!(s, "- not detected: {}", missed.join("; "));
    }
    let misclassified: Vec<String> = r
        .faults
        .iter()
        .enumerate()
        .filter_map(|(i, f)| {
            let inc = f.incident()?;
            (inc.incident.kind != intended_incident(f.planned.kind)).then(|| {
                format!(
                    "f{} {} opened as {}",
                    i + 1,
                    f.planned.kind.as_str(),
                    inc.incident.kind
                )
            })
        })
        .collect();
    if !misclassified.is_empty() {
        let _ = writeln!(
            s,
            "- incident class differs from the fault: {}",
            misclassified.join("; ")
        );
    }
    let _ = writeln!(
        s,
        "- false alarms (incidents on workloads no fault hit): {}{}",
        r.unattributed.len(),
        if r.unattributed.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                r.unattributed
                    .iter()
                    .map(|h| format!(
                        "#{} {} {} {}",
                        h.incident.id, h.incident.entity, h.incident.kind, h.incident.state
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    let _ = writeln!(
        s,
        "- actions: at most {} in any {} s window (budget {})",
        r.max_actions_in_budget_window(),
        r.budget.1,
        r.budget.0
    );
    let _ = writeln!(
        s,
        "- {} records through the filter ({} dropped by it), {} anomalous posted ({} of them about no workload, \
         e.g. node-level `_/<node>`: stored by the heal API as not actionable); {} simulated minutes in {:.1} s wall",
        r.records,
        r.filter_dropped,
        r.posted,
        r.not_actionable,
        (r.end_ns - r.t0_ns) / 60_000_000_000,
        r.wall.as_secs_f64()
    );
    s
}

/// Writes `report.md` and `timeline.png` into `dir` (created).
pub fn write(r: &LoopReport, dir: &Path, command: &str) -> Result<(), LoopError> {
    std::fs::create_dir_all(dir).map_err(|e| LoopError::Io(dir.display().to_string(), e))?;
    let mut md = String::new();
    let _ = writeln!(md, "# edgeheal closed-loop demo\n");
    let _ = writeln!(
        md,
        "Simulated cluster (`edgeheal-chaos` simulator, not a real cluster), filter: {}, \
         heal API in enforce mode. Times are simulated, relative to the end of warm-up; \
         one sample interval is {} s.\n",
        r.filter, r.interval_s
    );
    let _ = writeln!(md, "Command: `{command}`\n");
    let _ = writeln!(md, "## Per fault\n");
    md.push_str(&fault_table(r));
    md.push('\n');
    md.push_str(&summary(r));
    let _ = writeln!(md, "\n![timeline](timeline.png)\n");
    let _ = writeln!(md, "## Timeline\n\n```");
    for e in &r.timeline {
        let _ = writeln!(md, "{}", timeline_line(e, r.t0_ns));
    }
    let _ = writeln!(md, "```");
    let path = dir.join("report.md");
    std::fs::write(&path, md).map_err(|e| LoopError::Io(path.display().to_string(), e))?;
    chart(r, &dir.join("timeline.png"))
}

fn color(step: Step) -> plotters::style::RGBColor {
    use plotters::style::RGBColor;
    match step {
        Step::Injected => RGBColor(40, 40, 40),
        Step::FirstTag => RGBColor(230, 140, 0),
        Step::Opened => RGBColor(30, 100, 220),
        Step::Action => RGBColor(0, 160, 80),
        Step::Cleared => RGBColor(140, 60, 200),
        Step::Resolved => RGBColor(0, 110, 50),
        Step::FloorRestored => RGBColor(0, 150, 170),
        Step::Escalated | Step::Failed => RGBColor(210, 30, 30),
    }
}

/// Draws one row per fault: its window as a bar, and a marker per timeline step.
fn chart(r: &LoopReport, path: &Path) -> Result<(), LoopError> {
    use plotters::prelude::*;
    let err = |e: String| LoopError::Chart(e);
    plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        epaint_default_fonts::UBUNTU_LIGHT,
    )
    .map_err(|_| err("font".into()))?;
    let minutes = |t: i64| (t - r.t0_ns) as f64 / 60e9;
    let x_end = minutes(r.end_ns).max(1.0);
    let rows = r.faults.len().max(1) as f64;
    let root =
        BitMapBackend::new(path, (1200, 120 + 60 * r.faults.len() as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "edgeheal closed loop (simulated minutes since warm-up)",
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(260)
        .build_cartesian_2d(-1.0..x_end, -0.5..rows - 0.5)
        .map_err(|e| err(e.to_string()))?;
    let labels: Vec<String> = r
        .faults
        .iter()
        .enumerate()
        .map(|(i, f)| {
            format!(
                "f{} {} {}",
                i + 1,
                f.planned.kind.as_str(),
                f.planned.workload
            )
        })
        .collect();
    chart
        .configure_mesh()
        .y_labels(r.faults.len().max(1))
        .y_label_formatter(&|y| {
            let i = y.round() as usize;
            labels
                .get(r.faults.len().saturating_sub(1 + i))
                .cloned()
                .unwrap_or_default()
        })
        .x_desc("minutes")
        .draw()
        .map_err(|e| err(e.to_string()))?;
    let row = |i: usize| (r.faults.len() - 1 - i) as f64;
    for (i, f) in r.faults.iter().enumerate() {
        let Some(on) = f.onset_ns else { continue };
        let end = f
            .cleared_ns
            .unwrap_or(on + i64::try_from(f.planned.duration_s).unwrap_or(0) * 1_000_000_000)
            .min(r.end_ns);
        let y = row(i);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(minutes(on), y - 0.18), (minutes(end), y + 0.18)],
                RGBColor(220, 220, 235).filled(),
            )))
            .map_err(|e| err(e.to_string()))?;
    }
    for step in [
        Step::Injected,
        Step::FirstTag,
        Step::Opened,
        Step::Action,
        Step::Cleared,
        Step::Resolved,
        Step::FloorRestored,
        Step::Escalated,
    ] {
        let c = color(step);
        let points: Vec<(f64, f64)> = r
            .timeline
            .iter()
            .filter(|e| e.step == step || (step == Step::Escalated && e.step == Step::Failed))
            .filter_map(|e| e.fault.map(|i| (minutes(e.t_ns), row(i))))
            .collect();
        chart
            .draw_series(points.into_iter().map(|p| Circle::new(p, 6, c.filled())))
            .map_err(|e| err(e.to_string()))?
            .label(step.as_str())
            .legend(move |(x, y)| Circle::new((x, y), 5, c.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_and_median() {
        assert_eq!(clock(90_000_000_000, 0), "+01:30");
        assert_eq!(clock(0, 30_000_000_000), "-00:30");
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }
}
