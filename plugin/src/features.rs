//! Feature vectors: the fixed, named inputs of each family's forest and of the
//! incident classifier.
//!
//! Every feature is relative to the entity's own normal (EWMA baselines) or a
//! ratio, so models trained on one set of workloads carry over to workloads
//! whose absolute levels differ by orders of magnitude, and one-sided (only
//! rises above normal count). The names here are the
//! `feature_names` a model file must declare, in this order.

use crate::baseline::Ewma;
use crate::verdict::Family;

/// Feature names of the `cpu` family.
pub const CPU: &[&str] = &["cpu_log_ratio", "cpu_held"];
/// Feature names of the `memory` family.
pub const MEMORY: &[&str] = &["mem_log_ratio", "mem_trend"];
/// Context of the `memory` family (see [`context`]).
pub const MEMORY_CONTEXT: &[&str] = &["mem_held", "mem_rise"];
/// Context of the `traffic` family (see [`context`]).
pub const TRAFFIC_CONTEXT: &[&str] = &["rate_last_log_ratio", "rate_now_log_ratio"];
/// Feature names of the `traffic` family.
pub const TRAFFIC: &[&str] = &["rate_log_ratio", "rate_held"];
/// Feature names of the `errors` family.
pub const ERRORS: &[&str] = &["error_ratio", "error_ratio_delta", "error_log_ratio"];
/// Context of the `errors` family (see [`context`]).
pub const ERRORS_CONTEXT: &[&str] = &["error_excess"];
/// Feature names of the `latency` family.
pub const LATENCY: &[&str] = &["p50_log_ratio", "p95_log_ratio", "slow_share"];
/// Feature names of the `restarts` family.
pub const RESTARTS: &[&str] = &["restarts", "backoffs", "oom_kills", "unhealthy"];

/// Most features any family has.
pub const MAX_FAMILY_FEATURES: usize = 4;

/// Number of features the incident classifier sees: every family's features
/// and context, concatenated in [`Family::ALL`] order.
pub const CLASSIFIER_LEN: usize = CPU.len()
    + MEMORY.len()
    + MEMORY_CONTEXT.len()
    + TRAFFIC.len()
    + TRAFFIC_CONTEXT.len()
    + ERRORS.len()
    + ERRORS_CONTEXT.len()
    + LATENCY.len()
    + RESTARTS.len();

/// The feature names of a family's forest, in vector order.
pub fn names(family: Family) -> &'static [&'static str] {
    match family {
        Family::Cpu => CPU,
        Family::Memory => MEMORY,
        Family::Traffic => TRAFFIC,
        Family::Errors => ERRORS,
        Family::Latency => LATENCY,
        Family::Restarts => RESTARTS,
    }
}

/// A family's *context*: values the entity keeps next to the family's
/// features that the classifier sees and the family's forest does not.
/// Context tells incident kinds apart without moving the score: a memory
/// step when a flood lands is as anomalous as a leak's growth, and only how
/// long the rise has held says which it is; a flood shows in the newest
/// bucket's request rate a window before the window's rate catches up, and
/// in the current bucket's rate so far ([`traffic_now`]) before that bucket
/// closes.
pub fn context(family: Family) -> &'static [&'static str] {
    match family {
        Family::Memory => MEMORY_CONTEXT,
        Family::Traffic => TRAFFIC_CONTEXT,
        Family::Errors => ERRORS_CONTEXT,
        _ => &[],
    }
}

/// A family's values as the entity stores them: its forest features, then its
/// context.
pub fn width(family: Family) -> usize {
    names(family).len() + context(family).len()
}

/// Offset of a family's values (features, then context) in the classifier
/// vector.
pub fn classifier_offset(family: Family) -> usize {
    Family::ALL
        .iter()
        .take_while(|f| **f != family)
        .map(|f| width(*f))
        .sum()
}

/// The classifier's feature names, in vector order.
pub fn classifier_names() -> impl Iterator<Item = &'static str> {
    Family::ALL
        .into_iter()
        .flat_map(|f| names(f).iter().chain(context(f)).copied())
}

/// Smallest request rate (per second) the traffic ratios resolve.
const RATE_EPS: f64 = 0.01;
/// Smallest CPU (cores) the CPU ratios resolve.
const CPU_EPS: f64 = 0.005;
/// Smallest memory (bytes) the memory ratios resolve.
const MEM_EPS: f64 = 1024.0 * 1024.0;

/// Natural log of a ratio with both sides lifted by `eps`, clamped to ±20 so a
/// zero never turns into infinity.
pub fn log_ratio(x: f64, base: f64, eps: f64) -> f64 {
    let r = ((x.max(0.0) + eps) / (base.max(0.0) + eps)).ln();
    if r.is_finite() {
        r.clamp(-20.0, 20.0)
    } else {
        0.0
    }
}

/// The part of a deviation above normal. Every incident kind is an excess
/// (more CPU, memory, traffic, errors or latency than the entity's normal),
/// so the features are one-sided: a drop below the baseline, as when a
/// restarted pod comes back with an empty heap and idle CPU or load moves to
/// other replicas, reads as normal instead of as an anomaly the forests would
/// score as high as a rise.
fn up(x: f64) -> f64 {
    if x > 0.0 {
        x
    } else {
        0.0
    }
}

fn finite_or_zero(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        0.0
    }
}

/// Smallest error ratio the error ratios resolve.
const ERROR_EPS: f64 = 0.01;
/// A request is slow when it takes this many times the baseline median.
pub const SLOW_FACTOR: f64 = 4.0;

/// `cpu` family features for `cores` against its baseline; `prev` is the
/// previous evaluation's log ratio. `cpu_held` is the smaller of the two log
/// ratios: how far above normal CPU has *stayed*, so a single noisy sample
/// does not stand out the way a sustained rise does. (Shares of the limit are
/// left out: they are absolute levels, and differ between workloads.)
pub fn cpu(cores: f64, base: &Ewma, prev: f64) -> [f64; 2] {
    let r = up(log_ratio(cores, base.mean(), CPU_EPS));
    [r, r.min(prev)]
}

/// `memory` family features for `bytes` against its baseline, with `trend`
/// the smoothed relative growth per minute, then its context `mem_held` and
/// `mem_rise` with `prev` the previous evaluation's log ratio. `mem_held` (as
/// [`cpu`]'s `held`) tells growth that has built up over samples, as a leak's
/// does, from a step in one sample, as when a traffic flood's in-flight
/// requests land on the heap; `mem_rise` is that step, the rise since the
/// previous sample. The classifier's trees split one feature at a time, so
/// "held far below the level" took two splits with few rows to place them:
/// a flood's first scrape (a step of 0.16-0.34 over the baseline, held
/// 0-0.09) was named `memory_leak` (a leak's first alarm: held within 0.07 of
/// the level).
pub fn memory(bytes: f64, base: &Ewma, trend: f64, prev: f64) -> [f64; 4] {
    let r = up(log_ratio(bytes, base.mean(), MEM_EPS));
    [
        r,
        up(finite_or_zero(trend).clamp(-100.0, 100.0)),
        r.min(prev),
        up(r - prev),
    ]
}

/// `traffic` family features for the window's request rate (per second);
/// `prev` is the previous evaluation's log ratio (see [`cpu`] for `held`).
/// Then its context: the rate of the window's newest bucket, `last`, against
/// the same baseline, and `rate_now_log_ratio`, which is 0 here: the bucket
/// that starts when the window rolls holds nothing yet. The scorer reads it
/// at each record it scores ([`traffic_now`]).
pub fn traffic(rate: f64, base: &Ewma, prev: f64, last: f64) -> [f64; 4] {
    let r = up(log_ratio(rate, base.mean(), RATE_EPS));
    [
        r,
        r.min(prev),
        up(log_ratio(last, base.mean(), RATE_EPS)),
        0.0,
    ]
}

/// Index of `rate_now_log_ratio` among the traffic family's values
/// (features, then context).
pub const RATE_NOW: usize = TRAFFIC.len() + 1;

/// `rate_now_log_ratio`, the traffic context read when a record is scored:
/// the `so_far` requests of the current, not yet closed bucket over its
/// first `seconds` against the baseline rate, with one request added to
/// both sides so a bucket's first few seconds (a line or none) read as
/// normal. A flood's in-flight requests step the pods' memory at their
/// first scrape after its onset, which can come up to a bucket before the
/// window rolls and its features see the flood; its lines so far do.
pub fn traffic_now(so_far: f64, seconds: f64, base: &Ewma) -> f64 {
    if seconds > 0.0 {
        up(log_ratio(
            so_far / seconds,
            base.mean(),
            (1.0 / seconds).max(RATE_EPS),
        ))
    } else {
        0.0
    }
}

/// `errors` family features for the window's `errors` among its `lines`,
/// then its context `error_excess`: the errors beyond those the baseline
/// ratio expects of that many lines.
pub fn errors(errors: f64, lines: f64, base: &Ewma) -> [f64; 4] {
    let ratio = errors / lines.max(1.0);
    [
        ratio,
        up(ratio - base.mean()),
        up(log_ratio(ratio, base.mean(), ERROR_EPS)),
        up(finite_or_zero(errors - lines * base.mean())),
    ]
}

/// `latency` family features for the window's p50 and p95 (ms) and the share
/// of its requests slower than [`SLOW_FACTOR`] × the baseline median.
pub fn latency(p50: f64, p95: f64, slow_share: f64, base50: &Ewma, base95: &Ewma) -> [f64; 3] {
    [
        up(log_ratio(p50, base50.mean(), 0.1)),
        up(log_ratio(p95, base95.mean(), 0.1)),
        finite_or_zero(slow_share).clamp(0.0, 1.0),
    ]
}

/// Whether a family's features carry a verdict Kubernetes already reached:
/// a container in `BackOff`, an OOM kill, or repeated restarts in the
/// restart window. Such signals never occur on fault-free time, so an
/// isolation forest fitted there cannot split on them (a feature constant on
/// the training rows is never chosen); the scorer gives them the top score.
pub fn decisive(family: Family, values: &[f64]) -> bool {
    match (family, values) {
        (Family::Restarts, [restarts, backoffs, oom_kills, ..]) => {
            *backoffs >= 1.0 || *oom_kills >= 1.0 || *restarts >= 2.0
        }
        _ => false,
    }
}

/// A family's score: the forest's score of its features, or 1 (the top of
/// the range) when the features are [`decisive`].
pub fn family_score(family: Family, values: &[f64], forest_score: f64) -> f64 {
    if decisive(family, values) {
        1.0
    } else {
        forest_score
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifier_layout_is_the_concatenation_of_families() {
        let all: Vec<&str> = classifier_names().collect();
        assert_eq!(all.len(), CLASSIFIER_LEN);
        for f in Family::ALL {
            let off = classifier_offset(f);
            assert_eq!(all.get(off..off + names(f).len()), Some(names(f)));
            let ctx = off + names(f).len()..off + width(f);
            assert_eq!(all.get(ctx), Some(context(f)));
            assert!(width(f) <= MAX_FAMILY_FEATURES);
        }
        assert!(all.contains(&"mem_held") && !names(Family::Memory).contains(&"mem_held"));
    }

    #[test]
    fn held_memory_tells_growth_from_a_step() {
        let mut base = Ewma::default();
        for _ in 0..50 {
            base.update(100e6, 0.1, 0.02, 1e6);
        }
        // A leak: the rise was nearly as high one sample before.
        let leak = memory(130e6, &base, 0.1, 1.2f64.ln());
        assert!((leak[2] - 1.2f64.ln()).abs() < 1e-9, "{leak:?}");
        // A step: the same level out of nowhere holds nothing yet.
        let step = memory(130e6, &base, 0.1, 0.0);
        assert_eq!(step[..2], leak[..2]);
        assert_eq!(step[2], 0.0);
    }

    #[test]
    fn the_rise_of_memory_is_the_step_since_the_previous_sample() {
        let mut base = Ewma::default();
        for _ in 0..50 {
            base.update(100e6, 0.1, 0.02, 1e6);
        }
        let level = memory(130e6, &base, 0.1, 0.0)[0];
        assert!(level > 0.2, "{level}");
        // (previous log ratio, rise): a step out of nowhere, a leak's
        // growth, a level that fell back.
        let cases = [(0.0, level), (level - 0.05, 0.05), (level + 0.5, 0.0)];
        for (prev, rise) in cases {
            let f = memory(130e6, &base, 0.1, prev);
            assert!((f[3] - rise).abs() < 1e-9, "{prev}: {f:?}");
            // What has held and what is new make the level.
            assert!((f[2] + f[3] - level).abs() < 1e-9, "{f:?}");
        }
        assert_eq!(context(Family::Memory), &["mem_held", "mem_rise"]);
    }

    /// `rate_now_log_ratio`: the current bucket's requests so far against
    /// what the baseline rate expects of that time, one request added to
    /// both. (requests so far, seconds into the bucket, want.)
    #[test]
    fn the_rate_so_far_is_read_against_the_baseline() {
        let mut base = Ewma::default();
        for _ in 0..50 {
            base.update(2.0, 0.1, 0.05, 0.0);
        }
        let b = base.mean();
        let cases: &[(f64, f64, f64)] = &[
            // Three times the baseline's requests over 7 s.
            (
                3.0 * 7.0 * b,
                7.0,
                ((3.0 * 7.0 * b + 1.0) / (7.0 * b + 1.0)).ln(),
            ),
            // A bucket's first line, 0.1 s in, reads as less than a flood.
            (1.0, 0.1, (2.0 / (0.1 * b + 1.0)).ln()),
            // As expected, or fewer: normal.
            (7.0 * b, 7.0, 0.0),
            (0.0, 7.0, 0.0),
            // No time into the bucket, or a record behind its start.
            (5.0, 0.0, 0.0),
            (5.0, -1.0, 0.0),
            (5.0, f64::NAN, 0.0),
        ];
        for (so_far, seconds, want) in cases {
            let got = traffic_now(*so_far, *seconds, &base);
            assert!((got - want).abs() < 1e-9, "{so_far} in {seconds} s: {got}");
        }
        assert!(traffic_now(1.0, 0.1, &base) < 1.0);
        assert_eq!(
            context(Family::Traffic),
            &["rate_last_log_ratio", "rate_now_log_ratio"]
        );
        assert_eq!(
            TRAFFIC
                .iter()
                .chain(TRAFFIC_CONTEXT)
                .position(|n| *n == "rate_now_log_ratio"),
            Some(RATE_NOW)
        );
    }

    #[test]
    fn features_are_relative_to_the_baseline() {
        // The same relative excursion gives the same features at any scale
        // above the resolution floors (RATE_EPS damps rates near zero).
        for scale in [1.0, 30.0, 1000.0] {
            let mut base = Ewma::default();
            for i in 0..50 {
                base.update(scale * (1.0 + 0.01 * f64::from(i % 3)), 0.1, 0.05, 0.0);
            }
            let f = traffic(3.0 * base.mean(), &base, 3f64.ln(), 3.0 * base.mean());
            assert!((f[0] - 3f64.ln()).abs() < 0.05, "{scale}: {f:?}");
            assert!((f[1] - 3f64.ln()).abs() < 0.05, "{scale}: {f:?}");
            // A rise that was not there the evaluation before is not held.
            let f = traffic(3.0 * base.mean(), &base, 0.0, 0.0);
            assert_eq!(f[1], 0.0, "{scale}: {f:?}");
        }
    }

    #[test]
    fn drops_below_the_baseline_read_as_normal() {
        let mut base = Ewma::default();
        for _ in 0..50 {
            base.update(100.0, 0.1, 0.05, 0.0);
        }
        let all: Vec<f64> = cpu(1.0, &base, 0.0)
            .into_iter()
            .chain(memory(1.0, &base, -5.0, 3.0))
            .chain(traffic(1.0, &base, 0.0, 1.0))
            .chain(latency(1.0, 1.0, 0.0, &base, &base))
            .collect();
        assert!(all.iter().all(|x| *x == 0.0), "{all:?}");
        let mut errors_base = Ewma::default();
        for _ in 0..50 {
            errors_base.update(0.2, 0.1, 0.05, 0.0);
        }
        // The ratio itself stays: it is a level, not a deviation.
        assert_eq!(errors(1.0, 100.0, &errors_base), [0.01, 0.0, 0.0, 0.0]);
        // Rises are untouched.
        assert!((cpu(300.0, &base, 5.0)[0] - 3f64.ln()).abs() < 0.01);
        assert!(memory(300.0, &base, 0.5, 0.0)[1] == 0.5);
    }

    #[test]
    fn degenerate_inputs_give_finite_features() {
        let base = Ewma::default();
        let all: Vec<f64> = cpu(f64::NAN, &base, 0.0)
            .into_iter()
            .chain(memory(f64::INFINITY, &base, f64::NAN, f64::NAN))
            .chain(traffic(-1.0, &base, f64::NAN, f64::NAN))
            .chain(errors(0.0, 0.0, &base))
            .chain(latency(0.0, 1e300, f64::NAN, &base, &base))
            .collect();
        assert!(all.iter().all(|x| x.is_finite()), "{all:?}");
    }

    /// The error ratio of a quiet workload's window moves by whole errors:
    /// one error among 12 lines is a ratio of 0.083, as high as a burst's on a
    /// busy one. `error_excess` says how many errors that is beyond the
    /// baseline's expectation, which the classifier weighs with the ratio.
    #[test]
    fn error_excess_counts_the_errors_beyond_the_baseline() {
        let mut base = Ewma::default();
        for _ in 0..50 {
            base.update(0.004, 0.1, 0.1, 0.005);
        }
        let one = errors(1.0, 12.0, &base);
        assert!((one[0] - 1.0 / 12.0).abs() < 1e-12, "{one:?}");
        assert!(
            (one[3] - (1.0 - 12.0 * base.mean())).abs() < 1e-12,
            "{one:?}"
        );
        // A burst on a busy workload: the same ratio, a hundred times the
        // errors.
        let busy = errors(100.0, 1200.0, &base);
        assert_eq!(busy[..3], one[..3]);
        assert!(busy[3] > 90.0, "{busy:?}");
        // Fewer errors than expected count as none.
        assert_eq!(errors(1.0, 1000.0, &base)[3], 0.0);
        assert_eq!(context(Family::Errors), &["error_excess"]);
    }

    #[test]
    fn only_kubernetes_failure_verdicts_are_decisive() {
        let cases: &[(Family, &[f64], bool)] = &[
            (Family::Restarts, &[0.0, 0.0, 0.0, 5.0], false),
            (Family::Restarts, &[1.0, 0.0, 0.0, 0.0], false),
            (Family::Restarts, &[2.0, 0.0, 0.0, 0.0], true),
            (Family::Restarts, &[0.0, 1.0, 0.0, 0.0], true),
            (Family::Restarts, &[0.0, 0.0, 1.0, 0.0], true),
            (Family::Restarts, &[0.0, 1.0], false),
            (Family::Cpu, &[9.0, 9.0, 9.0], false),
        ];
        for (family, values, want) in cases {
            assert_eq!(decisive(*family, values), *want, "{family:?} {values:?}");
            let s = family_score(*family, values, 0.4);
            assert_eq!(s, if *want { 1.0 } else { 0.4 });
        }
    }

    #[test]
    fn feature_names_are_unique() {
        let mut all: Vec<&str> = classifier_names().collect();
        all.sort_unstable();
        let n = all.len();
        all.dedup();
        assert_eq!(all.len(), n);
    }
}
