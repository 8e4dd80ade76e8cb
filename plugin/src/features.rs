//! Feature vectors: the fixed, named inputs of each family's forest and of the
//! incident classifier.
//!
//! Every feature is relative to the entity's own normal (EWMA baselines) or a
//! ratio, so models trained on one set of workloads carry over to workloads
//! whose absolute levels differ by orders of magnitude. The names here are the
//! `feature_names` a model file must declare, in this order.

use crate::baseline::Ewma;
use crate::verdict::Family;

/// Feature names of the `cpu` family.
pub const CPU: &[&str] = &["cpu_z", "cpu_log_ratio", "cpu_of_limit"];
/// Feature names of the `memory` family.
pub const MEMORY: &[&str] = &["mem_z", "mem_log_ratio", "mem_of_limit", "mem_trend"];
/// Feature names of the `traffic` family.
pub const TRAFFIC: &[&str] = &["rate_z", "rate_log_ratio"];
/// Feature names of the `errors` family.
pub const ERRORS: &[&str] = &["error_ratio", "error_ratio_delta", "error_rate_z"];
/// Feature names of the `latency` family.
pub const LATENCY: &[&str] = &["p50_log_ratio", "p95_log_ratio", "p95_z"];
/// Feature names of the `restarts` family.
pub const RESTARTS: &[&str] = &["restarts", "backoffs", "oom_kills", "unhealthy"];

/// Most features any family has.
pub const MAX_FAMILY_FEATURES: usize = 4;

/// Number of features the incident classifier sees: every family's, concatenated
/// in [`Family::ALL`] order.
pub const CLASSIFIER_LEN: usize =
    CPU.len() + MEMORY.len() + TRAFFIC.len() + ERRORS.len() + LATENCY.len() + RESTARTS.len();

/// The feature names of a family, in vector order.
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

/// Offset of a family's features in the classifier vector.
pub fn classifier_offset(family: Family) -> usize {
    Family::ALL
        .iter()
        .take_while(|f| **f != family)
        .map(|f| names(*f).len())
        .sum()
}

/// The classifier's feature names, in vector order.
pub fn classifier_names() -> impl Iterator<Item = &'static str> {
    Family::ALL
        .into_iter()
        .flat_map(|f| names(f).iter().copied())
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

fn finite_or_zero(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        0.0
    }
}

/// `cpu` family features for `cores` against its baseline and limit (0 when unknown).
pub fn cpu(cores: f64, base: &Ewma, limit: Option<f64>) -> [f64; 3] {
    [
        base.z(cores, 0.05, CPU_EPS),
        log_ratio(cores, base.mean(), CPU_EPS),
        limit
            .filter(|l| *l > 0.0)
            .map_or(0.0, |l| finite_or_zero(cores / l)),
    ]
}

/// `memory` family features for `bytes` against its baseline and limit, with
/// `trend` the smoothed relative growth per minute.
pub fn memory(bytes: f64, base: &Ewma, limit: Option<f64>, trend: f64) -> [f64; 4] {
    [
        base.z(bytes, 0.02, MEM_EPS),
        log_ratio(bytes, base.mean(), MEM_EPS),
        limit
            .filter(|l| *l > 0.0)
            .map_or(0.0, |l| finite_or_zero(bytes / l)),
        finite_or_zero(trend).clamp(-100.0, 100.0),
    ]
}

/// `traffic` family features for a request rate (per second).
pub fn traffic(rate: f64, base: &Ewma) -> [f64; 2] {
    [
        base.z(rate, 0.05, RATE_EPS),
        log_ratio(rate, base.mean(), RATE_EPS),
    ]
}

/// `errors` family features for an error ratio (0..1).
pub fn errors(ratio: f64, base: &Ewma) -> [f64; 3] {
    [ratio, ratio - base.mean(), base.z(ratio, 0.1, 0.005)]
}

/// `latency` family features for the window's p50 and p95 (ms).
pub fn latency(p50: f64, p95: f64, base50: &Ewma, base95: &Ewma) -> [f64; 3] {
    [
        log_ratio(p50, base50.mean(), 0.1),
        log_ratio(p95, base95.mean(), 0.1),
        base95.z(p95, 0.05, 0.1),
    ]
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
            assert!(names(f).len() <= MAX_FAMILY_FEATURES);
        }
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
            let f = traffic(3.0 * base.mean(), &base);
            assert!(f[0] > 10.0, "{scale}: {f:?}");
            assert!((f[1] - 3f64.ln()).abs() < 0.05, "{scale}: {f:?}");
        }
    }

    #[test]
    fn degenerate_inputs_give_finite_features() {
        let base = Ewma::default();
        let all: Vec<f64> = cpu(f64::NAN, &base, Some(0.0))
            .into_iter()
            .chain(memory(f64::INFINITY, &base, Some(f64::NAN), f64::NAN))
            .chain(traffic(-1.0, &base))
            .chain(errors(0.0, &base))
            .chain(latency(0.0, 1e300, &base, &base))
            .collect();
        assert!(all.iter().all(|x| x.is_finite()), "{all:?}");
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
