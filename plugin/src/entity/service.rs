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
    /// families when a bucket completes (or moves its clock back, see
    /// [`crate::entity`] on clock steps).
    pub fn advance(&mut self, ts_ns: i64, config: &FilterConfig, done: &mut Evaluated) {
        let bucket_ns = i64::from(config.bucket_seconds).saturating_mul(1_000_000_000);
        let idx = ts_ns.div_euclid(bucket_ns.max(1));
        let Some(cur) = self.current_idx else {
            self.current_idx = Some(idx);
            return;
        };
        let len = self.ring.len().max(1);
        if idx <= cur {
            if super::steps_back(cur, idx, bucket_ns, len, &mut self.service_behind) {
                // The window starts over at `idx`: its buckets hold the
                // stamp's gap and the run's records in one bucket.
                self.ring.iter_mut().for_each(|b| *b = Bucket::default());
                self.current = Bucket::default();
                self.ring_pos = 0;
                self.filled = 0;
                self.current_idx = Some(idx);
            }
            return;
        }
        self.service_behind = None;
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

    /// Counts one log line stamped `ts_ns` into the current bucket (the
    /// window advanced to it first), unless it is far behind the window's
    /// clock (see [`crate::entity`]): lines hours old, from a file lagging
    /// behind the others, are not current traffic.
    pub fn add_log(&mut self, ts_ns: i64, log: &LogSignal, config: &FilterConfig) {
        let bucket_ns = i64::from(config.bucket_seconds).saturating_mul(1_000_000_000);
        if let Some(cur) = self.current_idx {
            let idx = ts_ns.div_euclid(bucket_ns.max(1));
            if super::far_behind(cur, idx, bucket_ns, self.ring.len().max(1)) {
                return;
            }
        }
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

    /// The traffic context `rate_now_log_ratio` at `ts_ns` (see
    /// [`features::traffic_now`]): the current bucket's requests so far over
    /// the time from its start to `ts_ns`, against the rate baseline. A
    /// record behind the bucket's start reads as normal.
    pub fn traffic_now(&self, ts_ns: i64, config: &FilterConfig) -> f64 {
        let Some(cur) = self.current_idx else {
            return 0.0;
        };
        let bucket_ns = i64::from(config.bucket_seconds).saturating_mul(1_000_000_000);
        let into = ts_ns
            .saturating_sub(cur.saturating_mul(bucket_ns))
            .clamp(0, bucket_ns);
        features::traffic_now(
            f64::from(self.current.traffic(self.ever_requests)),
            into as f64 / 1e9,
            &self.rate_base,
        )
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

        let warm = self.error_base.count() >= warmup;
        let f = features::errors(
            f64::from(total.errors),
            f64::from(total.lines),
            &self.error_base,
        );
        self.store(Family::Errors, &f, warm, done);
        // `error_ratio`, the window's errors over its lines.
        self.error_base.update(f[0], alpha, 0.1, 0.005);

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
            e.add_log(i * S, &log(200, 10.0), &config);
            e.add_log(i * S, &log(500, 30.0), &config);
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
                e.add_log(t, &log(200, 5.0), &config);
            }
            t += 15 * S;
        }
        e.advance(t, &config, &mut done);
        assert!(e.is_warm(Family::Traffic));
        let f = e.family_features(Family::Traffic);
        assert!(f[0] > 1.0 && f[1] > 1.0, "{f:?}");
    }

    /// Whether a bucket rolls at `t` seconds.
    fn rolls(e: &mut EntityState, config: &FilterConfig, t: i64) -> bool {
        let mut done = Evaluated::default();
        e.advance(t * S, config, &mut done);
        e.add_log(t * S, &log(200, 5.0), config);
        done.contains(Family::Traffic)
    }

    #[test]
    fn one_record_stamped_years_ahead_does_not_hold_the_window() {
        let config = FilterConfig::default();
        let mut e = EntityState::new(&config);
        let year = 365 * 86_400;
        assert!(!rolls(&mut e, &config, 1_000));
        assert!(rolls(&mut e, &config, 1_015));
        assert!(rolls(&mut e, &config, 1_000 + 10 * year));
        // Back at real time, records are late ones until sixteen of them,
        // in time order, have covered a window (60 s): then the clock moves
        // back to them and the window rolls on from there.
        for i in 0..15 {
            assert!(!rolls(&mut e, &config, 1_020 + 5 * i));
        }
        assert_eq!(e.current_idx, Some((1_000 + 10 * year) / 15));
        assert!(!rolls(&mut e, &config, 1_095));
        assert_eq!(e.current_idx, Some(1_095 / 15));
        assert!(rolls(&mut e, &config, 1_110));
        assert!(rolls(&mut e, &config, 1_125));
    }

    #[test]
    fn late_records_from_a_lagging_file_do_not_move_the_clock() {
        let config = FilterConfig::default();
        let mut e = EntityState::new(&config);
        assert!(!rolls(&mut e, &config, 10_000));
        // Nine minutes behind (within CLOCK_STEP_NS), for minutes.
        for i in 0..50 {
            assert!(!rolls(&mut e, &config, 10_000 - 540 + 6 * i));
        }
        // An hour behind for minutes, but with records at the clock between.
        for i in 0..50 {
            let t = if i % 2 == 0 { 6_400 + 6 * i } else { 10_001 };
            assert!(!rolls(&mut e, &config, t));
        }
        // An hour behind, many, but out of time order (old events replayed
        // in name order).
        for i in 0..50 {
            assert!(!rolls(&mut e, &config, 6_400 + (i * 37) % 300));
        }
        assert_eq!(e.current_idx, Some(10_000 / 15));
        assert!(rolls(&mut e, &config, 10_020));
    }

    #[test]
    fn two_clocks_in_one_workload_do_not_swing_the_window() {
        // An app stamps some lines in local time two hours ahead (taken as
        // UTC); its other lines carry the node's time.
        let config = FilterConfig::default();
        let mut e = EntityState::new(&config);
        let mut rolled = 0;
        for i in 0..600 {
            let t = 50_000 + i;
            let stamp = if i % 4 == 0 { t + 7_200 } else { t };
            rolled += usize::from(rolls(&mut e, &config, stamp));
        }
        // The window rolls as the ahead clock does, once a bucket: the
        // first record is ahead, the last at 50_596 + 7_200.
        assert_eq!(rolled, (57_796 / 15 - 57_200 / 15) as usize);
        assert_eq!(e.current_idx, Some((50_000 + 596 + 7_200) / 15));
    }

    /// Lines from a file far behind the others (a backlog read at ten
    /// times real time during a DaemonSet rollout) once counted as current
    /// traffic: hour-old lines read as a critical traffic surge. A line
    /// behind the clock counts while it is within ten minutes (ordinary lag
    /// between a node's files); past that it is history, unless a run of
    /// such lines moves the clock back to them. (lag of the late lines in
    /// seconds, requests in the current bucket after them.)
    #[test]
    fn lines_far_behind_the_clock_are_not_current_traffic() {
        let config = FilterConfig::default();
        let now = 100_000 * S;
        let cases: &[(i64, u32)] = &[(30, 1 + 100), (540, 1 + 100), (660, 1), (3_600, 1)];
        for (lag, want) in cases {
            let mut e = EntityState::new(&config);
            let mut done = Evaluated::default();
            e.advance(now, &config, &mut done);
            e.add_log(now, &log(200, 5.0), &config);
            // A late line every 100 ms of its own time, interleaved with
            // live lines at the clock.
            for i in 0..100 {
                let t = now - lag * S + i * 100_000_000;
                e.advance(t, &config, &mut done);
                e.add_log(t, &log(200, 5.0), &config);
                e.advance(now, &config, &mut done);
            }
            assert_eq!(e.current.requests, *want, "lag {lag} s");
        }
        // An hour behind with no live line between: sixteen lines in time
        // order over a window move the clock back, and they count there.
        let mut e = EntityState::new(&config);
        let mut done = Evaluated::default();
        e.advance(now, &config, &mut done);
        let first = now - 3_600 * S;
        for i in 0..75 {
            let t = first + i * S;
            e.advance(t, &config, &mut done);
            e.add_log(t, &log(200, 5.0), &config);
        }
        let last = first + 74 * S;
        assert_eq!(e.current_idx, Some(last.div_euclid(15 * S)));
        let in_bucket = (last.div_euclid(15 * S) * 15 * S..=last).step_by(S as usize);
        assert_eq!(e.current.requests as usize, in_bucket.count());
    }
}
