//! Quality floors of the embedded default models on a small deterministic
//! run that no training or calibration used (chaos seed 4242, 5 simulated
//! hours, fleet a). The floors sit below what today's models reach on it
//! with some margin, so a regression fails here quickly; the full figures
//! and their targets (recall ≥ 0.95, precision ≥ 0.90, …) are measured on
//! held-out 24 h runs and stated in the README with the command that
//! produces them.

use edgeheal_chaos::generate::{generate, GenerateConfig, DEFAULT_START_NS};
use edgeheal_chaos::{FleetName, ScheduleConfig};
use edgeheal_models::dataset::Dataset;
use edgeheal_models::evaluate::{evaluate, EvalConfig};
use edgeheal_plugin::model::ModelSet;

/// Chaos seed of the floor run; never used for training.
const SEED: u64 = 4242;
/// Simulated hours of the floor run.
const HOURS: f64 = 5.0;

#[test]
fn default_models_meet_the_quality_floors_on_a_held_out_run() {
    let tmp = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    generate(&GenerateConfig {
        seed: SEED,
        hours: HOURS,
        interval_s: 15,
        fleet: FleetName::A,
        start_ns: DEFAULT_START_NS,
        schedule: ScheduleConfig::default(),
        split: false,
        out: tmp.path().to_owned(),
    })
    .unwrap();
    let generated = started.elapsed();
    let models = ModelSet::from_embedded()
        .expect("models/default is embedded")
        .unwrap();
    let data = Dataset::open(tmp.path()).unwrap();
    assert!(data.windows().len() >= 18, "a run with every kind of fault");
    let m = evaluate(&models, &[data], &EvalConfig::default())
        .unwrap()
        .metrics;
    eprintln!(
        "generated in {:.1} s, evaluated in {:.1} s: recall {:.3} precision {:.3} mttd p50 {:.2} intervals, \
         false alarms/workload-h {:.3}, kind accuracy {:.3}",
        generated.as_secs_f64(),
        (started.elapsed() - generated).as_secs_f64(),
        m.recall,
        m.precision,
        m.mttd_intervals_p50,
        m.false_alarms_per_entity_hour,
        m.classification_accuracy
    );
    // Today's models (default@1bb3fba0df2d: one-sided features, classifier
    // context features, candidates confirmed by the classifier, critical
    // scores vetoed when it finds them fault-free, ongoing incidents keeping
    // their kind, alarms per workload and incident kind; two training runs;
    // `mem_trend` smoothed over about 20 samples) reach recall 0.96,
    // precision 1.00, MTTD p50 1.35 intervals, 0 false alarms per
    // workload-hour and kind accuracy 0.96 on this run
    // (default@9191ab621867: 0.96, 1.00, 1.31, 0, 0.92;
    // default@9d2a9845d36c: 0.96, 0.98, 1.26, 0.044, 0.92;
    // default@201d9c0cff5a: 0.96, 0.93, 1.55, 0.13, 0.88).
    let floors = [
        ("recall", m.recall, 0.85),
        ("precision", m.precision, 0.85),
        ("classification_accuracy", m.classification_accuracy, 0.80),
    ];
    for (name, value, floor) in floors {
        assert!(
            value >= floor,
            "{name} {value:.3} is below its floor {floor}"
        );
    }
    let ceilings = [
        (
            "false_alarms_per_entity_hour",
            m.false_alarms_per_entity_hour,
            0.2,
        ),
        ("mttd_intervals_p50", m.mttd_intervals_p50, 2.0),
    ];
    for (name, value, ceiling) in ceilings {
        assert!(
            value <= ceiling,
            "{name} {value:.3} is above its ceiling {ceiling}"
        );
    }
}
