//! Feature vectors: the fixed, named inputs of each family's forest and of the
//! incident classifier.
//!
//! Every feature is relative to the entity's own normal (EWMA baselines) or a
//! ratio, so models trained on one set of workloads carry over to workloads
//! whose absolute levels differ by orders of magnitude. The names here are the
//! `feature_names` a model file must declare, in this order.

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
    fn feature_names_are_unique() {
        let mut all: Vec<&str> = classifier_names().collect();
        all.sort_unstable();
        let n = all.len();
        all.dedup();
        assert_eq!(all.len(), n);
    }
}
