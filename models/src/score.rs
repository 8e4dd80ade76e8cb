//! `edgeheal score`: the edge filter natively over an NDJSON stream — one
//! [`Filter`] for the whole stream, so per-entity state carries across lines
//! exactly as in the Fluent Bit instance, and each output line is the bytes
//! the wasm filter returns for that record.
//!
//! Event time: Fluent Bit hands the filter its own event time with each
//! record; a plain stream has none. A record that carries no time of its own
//! gets the latest record time seen so far in the stream; before any record
//! carried one, `start_ns` (the command passes the wall-clock time it started).
//! A record's own time is the one the filter read while tagging it
//! ([`Filter::record_time`]: a top-level time, an Event's own times, a log
//! line's), as the replay of a run takes it.
//!
//! Like the Fluent Bit filter, the command says once on stderr when the
//! operating system gave no random bytes for the entity table's hash key
//! ([`warn_of_fallback_key`]).

use std::io::{BufRead, Write};

use edgeheal_plugin::keyed_hash::KeySource;
use edgeheal_plugin::Filter;

use crate::dataset::next_line;
use crate::error::Error;

/// Writes one line to `err` when the filter's entity table runs on the
/// fixed fallback key because the operating system gave no random bytes
/// ([`KeySource::fallback_warning`]), as the Fluent Bit filter writes on its
/// log; nothing otherwise. `edgeheal score` calls it once, with stderr.
pub fn warn_of_fallback_key(source: KeySource, mut err: impl Write) {
    if let Some(warning) = source.fallback_warning() {
        let _ = writeln!(err, "edgeheal score: getrandom: {warning}");
    }
}

/// The tag `edgeheal score` passes by default.
pub const SCORE_TAG: &str = "kube.edgeheal";

/// Scores every line of `input` into `output`; returns the number of lines.
pub fn score_stream(
    filter: &mut Filter,
    tag: &[u8],
    start_ns: i64,
    mut input: impl BufRead,
    mut output: impl Write,
) -> Result<u64, Error> {
    let stdin = std::path::PathBuf::from("<stdin>");
    let stdout = std::path::PathBuf::from("<stdout>");
    let mut line = Vec::with_capacity(4096);
    let mut out = Vec::with_capacity(8192);
    let mut latest: Option<i64> = None;
    let mut n = 0;
    while next_line(&mut input, &mut line).map_err(Error::io(&stdin))? {
        let event_time = latest.unwrap_or(start_ns);
        filter.process(tag, event_time, &line, &mut out);
        if let Some(t) = filter.record_time() {
            latest = Some(latest.map_or(t, |l| l.max(t)));
        }
        out.push(b'\n');
        output.write_all(&out).map_err(Error::io(&stdout))?;
        n += 1;
    }
    output.flush().map_err(Error::io(&stdout))?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeheal_plugin::FilterConfig;

    /// `input`'s lines scored by [`score_stream`] with the default filter, the first record's
    /// event time 42: a line out for each line in.
    fn scored(input: &str) -> Vec<String> {
        let mut filter = Filter::new(FilterConfig::default(), None);
        let mut out = Vec::new();
        let n = score_stream(
            &mut filter,
            SCORE_TAG.as_bytes(),
            42,
            input.as_bytes(),
            &mut out,
        )
        .unwrap();
        assert_eq!(n, input.lines().count() as u64);
        let lines: Vec<String> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(lines.len() as u64, n);
        lines
    }

    #[test]
    fn state_carries_across_lines_and_output_matches_the_filter() {
        let input = "{\"time\":\"2025-03-03T00:00:00Z\",\"log\":\"GET / 200\",\"kubernetes\":{\"pod_name\":\"web-5d9c7b6f4-abcde\",\"namespace_name\":\"shop\"}}\n\
                     not json\n\
                     {\"log\":\"no time here\",\"kubernetes\":{\"pod_name\":\"web-5d9c7b6f4-abcde\",\"namespace_name\":\"shop\"}}\n";
        let lines = scored(input);
        // The same records through a fresh filter, one by one, give the same bytes.
        let mut again = Filter::new(FilterConfig::default(), None);
        let mut buf = Vec::new();
        let t0 = 1_740_960_000_000_000_000;
        for (i, (src, want)) in input.lines().zip(&lines).enumerate() {
            let event_time = if i == 0 { 42 } else { t0 };
            again.process(SCORE_TAG.as_bytes(), event_time, src.as_bytes(), &mut buf);
            assert_eq!(std::str::from_utf8(&buf).unwrap(), *want);
        }
        // The timeless record got the previous record's time.
        assert!(
            lines[2].contains("\"ts\":\"2025-03-03T00:00:00"),
            "{}",
            lines[2]
        );
        assert!(lines[1].contains("\"error\""), "{}", lines[1]);
    }

    #[test]
    fn the_fallback_key_is_warned_of_once_and_only_it() {
        use edgeheal_plugin::keyed_hash::KeyError;
        let failed = KeySource::Fallback(KeyError::Os(getrandom::Error::UNSUPPORTED));
        let mut err = Vec::new();
        warn_of_fallback_key(failed, &mut err);
        let text = String::from_utf8(err).unwrap();
        assert_eq!(
            text,
            format!(
                "edgeheal score: getrandom: {}\n",
                failed.fallback_warning().unwrap()
            )
        );
        assert!(text.contains("fixed public key"), "{text}");
        for source in [KeySource::Os, KeySource::Given] {
            let mut err = Vec::new();
            warn_of_fallback_key(source, &mut err);
            assert!(err.is_empty(), "{source:?}");
        }
        // A filter whose key the OS gave says nothing.
        let mut err = Vec::new();
        warn_of_fallback_key(
            Filter::new(FilterConfig::default(), None).hash_key_source(),
            &mut err,
        );
        assert!(err.is_empty());
    }

    /// A record with Fluent Bit's non-finite numbers is read as the filter
    /// reads it, its time too: the record after it, which carries none,
    /// gets it (it got the time before it, or the start, as though the
    /// record had been no JSON).
    #[test]
    fn a_record_with_non_finite_numbers_gives_its_time_to_the_next() {
        let kubernetes =
            r#""kubernetes":{"pod_name":"web-5d9c7b6f4-abcde","namespace_name":"shop"}"#;
        let input = format!(
            "{{\"time\":\"2025-03-03T00:00:00Z\",\"log\":\"GET / 200\",{kubernetes}}}\n\
             {{\"time\":\"2025-03-03T00:05:00Z\",\"cpu_p\":inf,\"mem\":-nan,\"log\":\"GET / 200\",{kubernetes}}}\n\
             {{\"log\":\"no time here\",{kubernetes}}}\n"
        );
        let lines = scored(&input);
        // The filter reads the record, with its numbers replaced.
        assert!(
            lines[1].contains(r#""cpu_p":1e+999,"mem":null,"#),
            "{}",
            lines[1]
        );
        assert_ts(&lines[1..=2], "2025-03-03T00:05:00");
    }

    /// A Kubernetes Event carries its time as its own `lastTimestamp`, not
    /// under a top-level time key; the filter reads it, and so does the
    /// stream's fallback for the timeless record after it, as the replay of
    /// a run does.
    #[test]
    fn an_events_own_time_is_the_fallback_for_the_next_record() {
        let input = "{\"kind\":\"Event\",\"reason\":\"BackOff\",\"type\":\"Warning\",\
                     \"lastTimestamp\":\"2025-03-03T00:07:00Z\",\
                     \"involvedObject\":{\"kind\":\"Pod\",\"name\":\"web-5d9c7b6f4-abcde\",\"namespace\":\"shop\"}}\n\
                     {\"log\":\"no time here\",\"kubernetes\":{\"pod_name\":\"web-5d9c7b6f4-abcde\",\"namespace_name\":\"shop\"}}\n";
        let lines = scored(input);
        assert!(lines[0].contains("\"kind\":\"event\""), "{}", lines[0]);
        assert_ts(&lines, "2025-03-03T00:07:00");
    }

    /// Each of `lines` has a `ts` tag starting with `prefix`.
    fn assert_ts(lines: &[String], prefix: &str) {
        for line in lines {
            assert!(line.contains(&format!("\"ts\":\"{prefix}")), "{line}");
        }
    }
}
