//! Service signals from logs: the workload's window of buckets (requests,
//! errors, latency) and the traffic, errors and latency families.

use super::{EntityState, Evaluated};
use crate::baseline::Ewma;
use crate::config::FilterConfig;
use crate::features;
use crate::observation::LogSignal;
use crate::sketch::LatencySketch;
use crate::verdict::Family;

/// Counts of one window bucket.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Bucket {
    lines: u32,
    requests: u32,
    errors: u32,
    latency: LatencySketch,
}

impl Bucket {
    fn add(&mut self, other: &Bucket) {
        self.lines = self.lines.saturating_add(other.lines);
        self.requests = self.requests.saturating_add(other.requests);
        self.errors = self.errors.saturating_add(other.errors);
        self.latency.merge(&other.latency);
    }

    /// What the request rate counts: requests once the entity has logged
    /// any, every line before.
    fn traffic(&self, requests: bool) -> u32 {
        if requests {
            self.requests
        } else {
            self.lines
        }
    }
}

impl EntityState {
    /// Rolls the log window forward to `ts_ns`, evaluating the service
    /// families when a bucket completes.
    pub fn advance(&mut self, ts_ns: i64, config: &FilterConfig, done: &mut Evaluated) {
        let bucket_ns = i64::from(config.bucket_seconds).saturating_mul(1_000_000_000);
        let idx = ts_ns.div_euclid(bucket_ns.max(1));
        let Some(cur) = self.current_idx else {
            self.current_idx = Some(idx);
            return;
        };
        if idx <= cur {
            return;
        }
        let len = self.ring.len().max(1);
        let gap = usize::try_from(idx.saturating_sub(cur)).unwrap_or(usize::MAX);
        // Close the current bucket, then the empty ones of the gap (at most a
        // window's worth), and evaluate once.
        for i in 0..gap.min(len + 1) {
            let bucket = if i == 0 {
                std::mem::take(&mut self.current)
            } else {
                Bucket::default()
            };
            if let Some(slot) = self.ring.get_mut(self.ring_pos) {
                *slot = bucket;
            }
            self.ring_pos = (self.ring_pos + 1) % len;
            self.filled = (self.filled + 1).min(len);
        }
        if self.ever_lines {
            self.evaluate_service(config, done);
        }
        self.current_idx = Some(idx);
    }

    /// Counts one log line into the current bucket.
    pub fn add_log(&mut self, log: &LogSignal) {
        self.ever_lines = true;
        self.current.lines = self.current.lines.saturating_add(1);
        if log.is_request {
            self.ever_requests = true;
            self.current.requests = self.current.requests.saturating_add(1);
        }
        if log.is_error() {
            self.current.errors = self.current.errors.saturating_add(1);
        }
        if let Some(ms) = log.latency_ms {
            self.current.latency.add(ms);
        }
    }

    fn evaluate_service(&mut self, config: &FilterConfig, done: &mut Evaluated) {
        let mut total = Bucket::default();
        for b in &self.ring {
            total.add(b);
        }
        let seconds = (self.filled.max(1) as f64) * f64::from(config.bucket_seconds);
        let alpha = Ewma::alpha_for_half_life(config.baseline_half_life);
        let warmup = config.warmup;

        let rate = f64::from(total.traffic(self.ever_requests)) / seconds;
        // The bucket that just closed (the newest in the ring).
        let len = self.ring.len().max(1);
        let newest = self
            .ring
            .get((self.ring_pos + len - 1) % len)
            .map_or(0, |b| b.traffic(self.ever_requests));
        let last = f64::from(newest) / f64::from(config.bucket_seconds.max(1));
        let warm = self.rate_base.count() >= warmup;
        let f = features::traffic(rate, &self.rate_base, self.rate_prev, last);
        self.rate_prev = f[0];
        self.store(Family::Traffic, &f, warm, done);
        self.rate_base.update(rate, alpha, 0.05, 0.01);

        let ratio = f64::from(total.errors) / f64::from(total.lines.max(1));
        let warm = self.error_base.count() >= warmup;
        let f = features::errors(ratio, &self.error_base);
        self.store(Family::Errors, &f, warm, done);
        self.error_base.update(ratio, alpha, 0.1, 0.005);

        if let (Some(p50), Some(p95)) = (total.latency.quantile(0.5), total.latency.quantile(0.95))
        {
            let warm = self.p95_base.count() >= warmup;
            let slow = if self.p50_base.count() > 0 {
                total
                    .latency
                    .share_above(features::SLOW_FACTOR * self.p50_base.mean())
            } else {
                0.0
            };
            let f = features::latency(p50, p95, slow, &self.p50_base, &self.p95_base);
            self.store(Family::Latency, &f, warm, done);
            self.p50_base.update(p50, alpha, 0.05, 0.1);
            self.p95_base.update(p95, alpha, 0.05, 0.1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entity::S;
    use crate::observation::LogLevel;

    fn log(status: u16, ms: f64) -> LogSignal {
        LogSignal {
            level: Some(LogLevel::Info),
            status: Some(status),
            latency_ms: Some(ms),
            is_request: true,
        }
    }

    #[test]
    fn service_families_are_evaluated_when_a_bucket_rolls() {
        let config = FilterConfig::default();
        let mut e = EntityState::new(&config);
        let mut done = Evaluated::default();
        for i in 0..15 {
            e.advance(i * S, &config, &mut done);
            e.add_log(&log(200, 10.0));
            e.add_log(&log(500, 30.0));
        }
        assert!(done.is_empty(), "no bucket completed yet");
        e.advance(15 * S, &config, &mut done);
        assert!(done.contains(Family::Traffic));
        assert!(done.contains(Family::Errors));
        assert!(done.contains(Family::Latency));
        assert!(!done.contains(Family::Cpu));
        // 30 requests in one 15 s bucket: 2/s; half of them errors.
        assert_eq!(e.family_features(Family::Errors)[0], 0.5);
        assert!(!e.is_warm(Family::Traffic));
    }

    #[test]
    fn a_traffic_surge_stands_out_after_warmup() {
        let config = FilterConfig::default();
        let mut e = EntityState::new(&config);
        let mut done = Evaluated::default();
        let mut t = 0;
        for b in 0..40 {
            let n = if b < 30 { 20 } else { 200 };
            for _ in 0..n {
                e.advance(t, &config, &mut done);
                e.add_log(&log(200, 5.0));
            }
            t += 15 * S;
        }
        e.advance(t, &config, &mut done);
        assert!(e.is_warm(Family::Traffic));
        let f = e.family_features(Family::Traffic);
        assert!(f[0] > 1.0 && f[1] > 1.0, "{f:?}");
    }
}
