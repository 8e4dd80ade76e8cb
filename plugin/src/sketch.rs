//! A small fixed-size latency sketch: a log-scale histogram with 72 bins from
//! 0.1 ms growing by 1.5× per bin (the last one starts at about 3.2 × 10¹¹),
//! so quantiles are within about ±22% of the truth with constant memory and
//! O(1) insertion.
//!
//! The range is far wider than any request takes in milliseconds on purpose.
//! Go services log a `time.Duration` as integer nanoseconds (slog's and
//! logrus's JSON, Echo's `latency`), under the same bare `latency` or
//! `duration` key that Node, Python and nginx fill with milliseconds, and
//! nothing in the line says which. The latency features are ratios to the
//! entity's own baseline, so a service that keeps one unit is read right in
//! any unit the sketch spans: nanoseconds up to about five minutes land in
//! bins of their own, as milliseconds up to twelve minutes did in the first
//! 40 bins (which are unchanged). A 40-bin sketch put every nanosecond value
//! above 0.74 ms into its top bin, and the latency family saw nothing.

/// Number of bins.
pub const BINS: usize = 72;
const MIN_MS: f64 = 0.1;
const GROWTH: f64 = 1.5;

/// A latency histogram over milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencySketch {
    bins: [u32; BINS],
    count: u32,
}

impl Default for LatencySketch {
    fn default() -> Self {
        LatencySketch {
            bins: [0; BINS],
            count: 0,
        }
    }
}

fn bin_of(ms: f64) -> usize {
    if ms.is_nan() || ms <= MIN_MS {
        return 0;
    }
    let i = (ms / MIN_MS).ln() / GROWTH.ln();
    if i >= (BINS - 1) as f64 {
        BINS - 1
    } else {
        // 0 <= i < BINS - 1 here.
        i as usize
    }
}

/// The representative value of a bin: its geometric midpoint.
fn bin_value(bin: usize) -> f64 {
    MIN_MS * GROWTH.powf(bin as f64 + 0.5)
}

impl LatencySketch {
    /// Adds one latency sample in milliseconds (negative and NaN count as the lowest bin).
    pub fn add(&mut self, ms: f64) {
        if let Some(b) = self.bins.get_mut(bin_of(ms)) {
            *b = b.saturating_add(1);
            self.count = self.count.saturating_add(1);
        }
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &LatencySketch) {
        for (a, b) in self.bins.iter_mut().zip(other.bins.iter()) {
            *a = a.saturating_add(*b);
        }
        self.count = self.count.saturating_add(other.count);
    }

    /// Number of samples.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Empties the sketch.
    pub fn clear(&mut self) {
        *self = LatencySketch::default();
    }

    /// The `q` quantile (0..=1) in milliseconds, or `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * f64::from(self.count)).ceil().max(1.0);
        let mut seen = 0.0;
        for (i, n) in self.bins.iter().enumerate() {
            seen += f64::from(*n);
            if seen >= rank {
                return Some(bin_value(i));
            }
        }
        Some(bin_value(BINS - 1))
    }

    /// Share (0..1) of the samples whose bin lies wholly above `ms` (0 when empty).
    pub fn share_above(&self, ms: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let first = if ms.is_nan() { 0 } else { bin_of(ms) + 1 };
        let above: f64 = self.bins.iter().skip(first).map(|n| f64::from(*n)).sum();
        above / f64::from(self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_bin_error() {
        let mut s = LatencySketch::default();
        for i in 1..=1000 {
            s.add(f64::from(i));
        }
        for (q, truth) in [(0.5, 500.0), (0.95, 950.0), (0.99, 990.0)] {
            let got = s.quantile(q).unwrap();
            assert!((got / truth - 1.0).abs() < 0.25, "q{q}: {got} vs {truth}");
        }
    }

    #[test]
    fn edge_values_never_panic() {
        let mut s = LatencySketch::default();
        assert_eq!(s.quantile(0.5), None);
        for v in [f64::NAN, -1.0, 0.0, f64::INFINITY, 1e300, f64::MIN_POSITIVE] {
            s.add(v);
        }
        assert_eq!(s.count(), 6);
        assert!(s.quantile(1.0).unwrap().is_finite());
        let mut t = LatencySketch::default();
        t.merge(&s);
        assert_eq!(t, s);
        assert!((0.0..=1.0).contains(&s.share_above(f64::NAN)));
        assert_eq!(LatencySketch::default().share_above(1.0), 0.0);
    }

    #[test]
    fn nanosecond_durations_keep_their_ratios() {
        // The same latencies in ms and in ns (a Go `time.Duration` read as
        // ms): each quantile is the same multiple of its baseline.
        let (mut ms, mut ns) = (LatencySketch::default(), LatencySketch::default());
        let (mut ms_slow, mut ns_slow) = (LatencySketch::default(), LatencySketch::default());
        for i in 1..=1000 {
            let v = 2.0 + f64::from(i) / 100.0;
            ms.add(v);
            ns.add(v * 1e6);
            ms_slow.add(v * 8.0);
            ns_slow.add(v * 8.0 * 1e6);
        }
        for q in [0.5, 0.95] {
            let ratio_ms = ms_slow.quantile(q).unwrap() / ms.quantile(q).unwrap();
            let ratio_ns = ns_slow.quantile(q).unwrap() / ns.quantile(q).unwrap();
            assert!(
                ratio_ms > 5.0 && ratio_ns > 5.0,
                "q{q}: {ratio_ms} {ratio_ns}"
            );
            assert!(
                (ratio_ns / ratio_ms - 1.0).abs() < 0.6,
                "q{q}: {ratio_ms} {ratio_ns}"
            );
            let truth = ns.quantile(q).unwrap() / 1e6;
            assert!((ms.quantile(q).unwrap() / truth - 1.0).abs() < 0.6, "q{q}");
        }
        // Five minutes in ns is still below the top bin.
        let mut long = LatencySketch::default();
        long.add(300e9);
        assert!(long.quantile(0.5).unwrap() < 300e9 * 1.5);
        assert_eq!(bin_of(300e9), BINS - 2);
    }

    #[test]
    fn bins_below_twelve_minutes_are_those_of_the_first_forty() {
        // Widening the range moved no value in the first 40 bins' range:
        // the features of millisecond services are as they were.
        for ms in [0.05, 0.1, 0.2, 1.0, 37.0, 999.0, 6e4, 7.3e5] {
            let old = ((ms / MIN_MS).ln() / GROWTH.ln()).max(0.0) as usize;
            assert_eq!(bin_of(ms), old.min(39), "{ms}");
        }
        assert!(bin_value(39) < 1e6 && bin_value(40) > 1e6);
    }

    #[test]
    fn share_above_counts_bins_past_the_value() {
        let mut s = LatencySketch::default();
        for _ in 0..90 {
            s.add(10.0);
        }
        for _ in 0..10 {
            s.add(200.0);
        }
        let cases = [(1.0, 1.0), (40.0, 0.1), (1000.0, 0.0)];
        for (ms, want) in cases {
            assert!((s.share_above(ms) - want).abs() < 1e-12, "{ms}");
        }
    }
}
