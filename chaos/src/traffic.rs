//! Normal load and how a pod responds to it: the daily cycle, short bursts,
//! slow drift, and queueing (latency that rises with utilisation, shedding
//! past saturation).

use crate::clock::NS_PER_S;
use crate::random::{chance, std_normal, uniform, SimRng};

/// The daily traffic cycle at `ts_ns` (UTC): 1.0 on average, lowest around
/// 04:00, highest in the afternoon, with a small evening shoulder.
pub fn diurnal(ts_ns: i64, amplitude: f64) -> f64 {
    let day_s = ts_ns.rem_euclid(86_400 * NS_PER_S) as f64 / 1e9;
    let phase = std::f64::consts::TAU * (day_s / 86_400.0);
    // Peak at ~16:00, trough at ~04:00.
    let main = -(phase - std::f64::consts::TAU * (4.0 / 24.0)).cos();
    let shoulder = 0.15 * (2.0 * phase - std::f64::consts::TAU * (20.0 / 24.0)).cos();
    (1.0 + amplitude * (main + shoulder)).max(0.05)
}

/// Per-workload load variation on top of the daily cycle: a slow
/// log-normal drift and occasional short bursts that decay within minutes.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadVariation {
    drift: f64,
    burst: f64,
}

impl Default for LoadVariation {
    fn default() -> Self {
        LoadVariation {
            drift: 0.0,
            burst: 0.0,
        }
    }
}

/// Mean number of bursts per hour.
const BURSTS_PER_HOUR: f64 = 1.5;
/// Decay time constant of a burst, seconds.
const BURST_DECAY_S: f64 = 90.0;

impl LoadVariation {
    /// Advances by `dt_s` and returns the multiplier for this tick.
    pub fn step(&mut self, rng: &mut SimRng, dt_s: f64) -> f64 {
        let keep = (-dt_s / 900.0).exp();
        self.drift = keep * self.drift + (1.0 - keep * keep).sqrt() * 0.06 * std_normal(rng);
        self.burst *= (-dt_s / BURST_DECAY_S).exp();
        if chance(rng, BURSTS_PER_HOUR * dt_s / 3600.0) {
            self.burst += uniform(rng, 0.15, 0.5);
        }
        let jitter = 1.0 + 0.03 * std_normal(rng);
        (self.drift.exp() * (1.0 + self.burst) * jitter).max(0.05)
    }
}

/// How one pod serves `rate` requests/s when it can serve `capacity`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Service {
    /// Mean latency multiplier over the idle service time.
    pub latency_factor: f64,
    /// Fraction of requests rejected (503) because the pod is saturated.
    pub shed: f64,
    /// Utilisation, capped at 1.
    pub utilisation: f64,
}

/// M/M/1-like response: latency `1/(1-ρ)` up to ρ = 0.95, shedding past 1.
pub fn serve(rate: f64, capacity: f64) -> Service {
    let rho = if capacity > 0.0 { rate / capacity } else { 1.0 };
    let capped = rho.clamp(0.0, 0.95);
    Service {
        latency_factor: 1.0 / (1.0 - capped),
        shed: if rho > 1.0 { 1.0 - 1.0 / rho } else { 0.0 },
        utilisation: rho.min(1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::rng_for;

    #[test]
    fn diurnal_cycle() {
        let h = |hour: i64| hour * 3600 * NS_PER_S;
        let mean: f64 = (0..24 * 60)
            .map(|m| diurnal(m * 60 * NS_PER_S, 0.5))
            .sum::<f64>()
            / (24.0 * 60.0);
        let cases: &[(&str, bool)] = &[
            ("mean is one", (mean - 1.0).abs() < 0.01),
            (
                "afternoon above night",
                diurnal(h(16), 0.5) > 1.8 * diurnal(h(4), 0.5),
            ),
            ("flat without amplitude", diurnal(h(7), 0.0) == 1.0),
        ];
        for (what, ok) in cases {
            assert!(ok, "{what}");
        }
    }

    type QueueCase = (f64, f64, (f64, f64), (f64, f64));

    #[test]
    fn queueing() {
        // (rate, capacity, latency factor range, shed range)
        let cases: &[QueueCase] = &[
            (0.0, 10.0, (1.0, 1.0), (0.0, 0.0)),
            (5.0, 10.0, (2.0, 2.0), (0.0, 0.0)),
            (9.0, 10.0, (9.9, 10.1), (0.0, 0.0)),
            (20.0, 10.0, (19.9, 20.1), (0.49, 0.51)),
        ];
        for &(rate, cap, (lmin, lmax), (smin, smax)) in cases {
            let s = serve(rate, cap);
            assert!(
                (lmin..=lmax).contains(&s.latency_factor),
                "{rate}/{cap}: {s:?}"
            );
            assert!((smin..=smax).contains(&s.shed), "{rate}/{cap}: {s:?}");
        }
    }

    #[test]
    fn load_variation_stays_near_one() {
        let mut rng = rng_for(1, 0);
        let mut v = LoadVariation::default();
        let samples: Vec<f64> = (0..5760).map(|_| v.step(&mut rng, 15.0)).collect();
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        let max = samples.iter().cloned().fold(0.0, f64::max);
        assert!((0.9..1.25).contains(&mean), "mean {mean}");
        assert!(max < 2.5, "max {max}");
    }
}
