//! PNG score timelines for `edgeheal eval --report`: for one representative
//! labelled window per incident kind, the workload's score per scrape
//! interval around it, the labelled windows shaded, anomaly-tagged intervals
//! marked and the window family's warning and critical thresholds drawn.
//!
//! Text is rasterized with `ab_glyph` from a font compiled into the binary
//! (Ubuntu Light from `epaint_default_fonts`, Ubuntu Font Licence 1.0), so
//! plots need no system fonts.

use std::path::{Path, PathBuf};
use std::sync::Once;

use edgeheal_plugin::model::ModelSet;
use edgeheal_plugin::verdict::Incident;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::dataset::Window;
use crate::error::Error;
use crate::evaluate::Evaluation;

/// Width of every plot, pixels.
pub const PLOT_WIDTH: u32 = 1200;
/// Height of every plot, pixels.
pub const PLOT_HEIGHT: u32 = 500;

/// Minutes of context drawn before and after a window.
const CONTEXT_MIN: f64 = 40.0;

const FONT: &str = "sans-serif";
static FONT_ONCE: Once = Once::new();

fn register_font() {
    FONT_ONCE.call_once(|| {
        // The bytes are a valid TrueType font; failing would only lose text.
        let _ = plotters::style::register_font(
            FONT,
            FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        );
    });
}

/// The file a kind's timeline is written to.
pub fn timeline_file(kind: Incident) -> String {
    format!("timeline-{}.png", kind.as_str())
}

/// Shade colour per incident kind.
fn kind_color(kind: Incident) -> RGBColor {
    match kind {
        Incident::CpuSaturation => RGBColor(230, 126, 34),
        Incident::MemoryLeak => RGBColor(155, 89, 182),
        Incident::TrafficSurge => RGBColor(52, 152, 219),
        Incident::ErrorBurst => RGBColor(231, 76, 60),
        Incident::LatencySpike => RGBColor(241, 196, 15),
        Incident::CrashLoop => RGBColor(127, 140, 141),
        Incident::Unknown => RGBColor(149, 165, 166),
    }
}

/// Writes one timeline per incident kind that has a labelled window with a
/// scored workload (the first such window in label order) into `dir`.
/// Returns the files written.
pub fn write_timelines(
    dir: &Path,
    ev: &Evaluation,
    models: &ModelSet,
) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    register_font();
    let mut written = Vec::new();
    for kind in Incident::CLASSES {
        let pick = ev.windows.iter().find(|(k, w)| {
            w.incident == kind && ev.timelines.get(k).is_some_and(|t| !t.points.is_empty())
        });
        let Some((key, window)) = pick else { continue };
        let path = dir.join(timeline_file(kind));
        draw(&path, key, window, ev, models).map_err(|problem| Error::Plot {
            path: path.clone(),
            problem,
        })?;
        written.push(path);
    }
    Ok(written)
}

fn draw(
    path: &Path,
    key: &str,
    window: &Window,
    ev: &Evaluation,
    models: &ModelSet,
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let origin = window.start_ns;
    let minutes = |ts: i64| (ts - origin) as f64 / 60e9;
    let x0 = -CONTEXT_MIN;
    let x1 = minutes(window.end_ns) + CONTEXT_MIN;
    let points: Vec<(f64, f64, bool)> = ev
        .timelines
        .get(key)
        .map(|t| {
            t.points
                .iter()
                .map(|(ts, s, a)| (minutes(*ts), *s, *a))
                .filter(|(x, _, _)| *x >= x0 && *x <= x1)
                .collect()
        })
        .unwrap_or_default();

    let root = BitMapBackend::new(path, (PLOT_WIDTH, PLOT_HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let title = format!(
        "{} — {} ({}, {:.0} min)",
        window.entity,
        window.incident.as_str(),
        window.id,
        minutes(window.end_ns)
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 24))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, 0f64..1.02f64)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("minutes from the labelled fault start")
        .y_desc("anomaly score (max over families)")
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 16))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(|e| err(&e))?;

    // Every labelled window of this workload in view, shaded by kind.
    let mut shaded: Vec<Incident> = Vec::new();
    for (k, w) in &ev.windows {
        if k != key || minutes(w.end_ns) < x0 || minutes(w.start_ns) > x1 {
            continue;
        }
        let color = kind_color(w.incident);
        let rect = Rectangle::new(
            [
                (minutes(w.start_ns).max(x0), 0.0),
                (minutes(w.end_ns).min(x1), 1.02),
            ],
            color.mix(0.22).filled(),
        );
        let series = chart
            .draw_series(std::iter::once(rect))
            .map_err(|e| err(&e))?;
        if !shaded.contains(&w.incident) {
            shaded.push(w.incident);
            series
                .label(format!("labelled {}", w.incident.as_str()))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 20, y + 6)], color.mix(0.4).filled())
                });
        }
    }

    chart
        .draw_series(LineSeries::new(
            points.iter().map(|(x, s, _)| (*x, *s)),
            BLUE.stroke_width(2),
        ))
        .map_err(|e| err(&e))?
        .label("score per interval")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    chart
        .draw_series(
            points
                .iter()
                .filter(|(_, _, a)| *a)
                .map(|(x, s, _)| Circle::new((*x, *s), 3, RED.filled())),
        )
        .map_err(|e| err(&e))?
        .label("anomaly tagged")
        .legend(|(x, y)| Circle::new((x + 10, y), 3, RED.filled()));

    if let Some(forest) = window.incident.family().and_then(|f| models.forest(f)) {
        let t = forest.thresholds();
        let family = forest.family().as_str();
        for (value, name, color) in [
            (t.warning, "warning", RGBColor(243, 156, 18)),
            (t.critical, "critical", RGBColor(192, 57, 43)),
        ] {
            chart
                .draw_series(LineSeries::new(
                    vec![(x0, value), (x1, value)],
                    color.stroke_width(1),
                ))
                .map_err(|e| err(&e))?
                .label(format!("{family} {name} {value:.3}"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::{Metrics, Timeline};
    use std::collections::BTreeMap;

    const NS: i64 = 1_000_000_000;

    fn evaluation() -> Evaluation {
        let mut windows = Vec::new();
        let mut timelines = BTreeMap::new();
        for (i, kind) in [Incident::CpuSaturation, Incident::CrashLoop]
            .into_iter()
            .enumerate()
        {
            let key = format!("0:ns/w{i}");
            let start = 3600 * NS;
            windows.push((
                key.clone(),
                Window {
                    id: format!("f{i}"),
                    incident: kind,
                    start_ns: start,
                    end_ns: start + 900 * NS,
                    entity: format!("ns/w{i}"),
                    pod: None,
                },
            ));
            let points = (0..480)
                .map(|k| {
                    let ts = k * 15 * NS;
                    let inside = ts >= start && ts <= start + 900 * NS;
                    (ts, if inside { 0.85 } else { 0.45 }, inside)
                })
                .collect();
            timelines.insert(key, Timeline { points });
        }
        Evaluation {
            metrics: Metrics::default(),
            timelines,
            windows,
        }
    }

    #[test]
    fn writes_one_png_per_kind_with_a_window_at_the_documented_size() {
        let dir = tempfile::tempdir().unwrap();
        let models = ModelSet::from_embedded()
            .expect("models/default is embedded")
            .unwrap();
        let files = write_timelines(dir.path(), &evaluation(), &models).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["timeline-cpu_saturation.png", "timeline-crash_loop.png"]
        );
        for f in &files {
            let decoder = png::Decoder::new(std::fs::File::open(f).unwrap());
            let mut reader = decoder.read_info().unwrap();
            let mut buf = vec![0; reader.output_buffer_size()];
            let frame = reader.next_frame(&mut buf).unwrap();
            assert_eq!((frame.width, frame.height), (PLOT_WIDTH, PLOT_HEIGHT));
            // Not a blank canvas: the shading, the line and the text differ
            // from the white background.
            let bytes = &buf[..frame.buffer_size()];
            let non_white = bytes
                .chunks(3)
                .filter(|p| p.iter().any(|c| *c < 200))
                .count();
            assert!(
                non_white > 5000,
                "{}: {non_white} drawn pixels",
                f.display()
            );
        }
    }
}
