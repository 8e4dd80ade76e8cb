//! Free-text log lines, the last shape [`crate::logline`] tries: the level a
//! line announces and, where its words say so, the request it describes and
//! how long something took.
//!
//! - Level words: `ERROR`, `[warn]`, `error:`, klog `E0501`, Go `panic:`.
//!   A crash report (Java's `Exception` anywhere in the line, Python's
//!   `Traceback (most recent call last)`) is an error only when the line
//!   states no level and no request status of its own: `WARN ...
//!   (java.net.SocketTimeoutException: Read timed out), retrying` is a
//!   warning, `Exception in thread "main" ...` an error.
//! - Requests logged as text (Spring Boot's `CommonsRequestLoggingFilter`
//!   style, hand-rolled loggers, morgan's `dev` / `tiny` / `short` formats,
//!   ASP.NET Core's `Request finished` line): an HTTP method, a path or an
//!   absolute URL, and a status within the next few words —
//!   `GET /api/items completed 200 in 12ms`,
//!   `POST /pay failed with 503 after 2.5s: upstream timeout`,
//!   `GET /api/items 500 12.345 ms - 52`,
//!   `Request finished HTTP/1.1 GET http://x/api - 500 - text/plain 12.3456ms`.
//! - Durations: `duration: 5.620 ms` (PostgreSQL's
//!   `log_min_duration_statement`), `took 12ms`, `elapsed: 1.5 s`
//!   anywhere; `in 12ms` / `after 12ms` only after a request's path — on
//!   other lines they say when something will happen (`retrying in 5s`),
//!   not how long it took; a duration among the few words right after a
//!   request's status (`500 12.345 ms`, `500 52 - 12.345 ms`).

use crate::decimal::parse_f64;
use std::sync::LazyLock;

use memchr::memmem::Finder;

use crate::logline::{is_http_method, level_token, unit_ms, SCAN_HEAD};
use crate::observation::{LogLevel, LogSignal};
use crate::swar::{equal_bytes, first_flagged, HI, LO};

/// Words after a request's path among which its status must be.
const STATUS_WITHIN: usize = 4;

/// Words after a request's status among which a duration is its latency
/// (morgan's `tiny`: `500 52 - 12.345 ms`; ASP.NET Core's: `500 -
/// text/plain 12.3456ms`).
const DURATION_AFTER_STATUS: usize = 3;

/// Duration keywords read anywhere in a line.
const DURATION_ANYWHERE: [&str; 5] = ["duration: ", "duration=", "took ", "elapsed: ", "elapsed "];

/// Duration keywords read only after a request's path.
const DURATION_AFTER_REQUEST: [&str; 2] = [" in ", " after "];

/// Searchers for the keywords read after a request's path, built once:
/// building one costs more than searching a line with it.
static AFTER_REQUEST: LazyLock<[Finder<'static>; DURATION_AFTER_REQUEST.len()]> =
    LazyLock::new(|| DURATION_AFTER_REQUEST.map(Finder::new));

/// Words that make a line a crash report, wherever they are in it.
const CRASH_WORDS: [&str; 2] = ["Exception", "Traceback (most recent call last)"];

/// Rails' request summary starts with this word (see [`rails_completed`]).
const COMPLETED: &str = "Completed ";

/// The first four bytes of `s` as one number (0 when shorter): a keyword
/// is tested whole only where its first four bytes are.
const fn prefix(s: &[u8]) -> u32 {
    match s.first_chunk::<4>() {
        Some(four) => u32::from_le_bytes(*four),
        None => 0,
    }
}

/// [`prefix`] of each [`DURATION_ANYWHERE`] keyword.
const DURATION_PREFIXES: [u32; DURATION_ANYWHERE.len()] = [
    prefix(DURATION_ANYWHERE[0].as_bytes()),
    prefix(DURATION_ANYWHERE[1].as_bytes()),
    prefix(DURATION_ANYWHERE[2].as_bytes()),
    prefix(DURATION_ANYWHERE[3].as_bytes()),
    prefix(DURATION_ANYWHERE[4].as_bytes()),
];

/// [`prefix`] of each [`CRASH_WORDS`] word.
const CRASH_PREFIXES: [u32; CRASH_WORDS.len()] = [
    prefix(CRASH_WORDS[0].as_bytes()),
    prefix(CRASH_WORDS[1].as_bytes()),
];

/// What one pass over a line finds: where each [`DURATION_ANYWHERE`]
/// keyword first starts in its head, and whether a [`CRASH_WORDS`] word is
/// anywhere in it. One pass over the bytes, testing the keywords only where
/// two bytes can start one. In the `.wasm`, without SIMD, a substring search
/// per keyword went over the line seven times, each with a searcher's
/// setup: about 6.9k wasm operators for a 120-byte line; a test of every
/// byte about 3k; eight places at a time, about 40 % of that.
#[derive(Debug, Default)]
struct Keywords {
    duration: [Option<usize>; DURATION_ANYWHERE.len()],
    crash: bool,
    /// Where the first [`COMPLETED`] that starts a word is in the head.
    completed: Option<usize>,
}

impl Keywords {
    /// Scans `line`, whose head (read for durations) is its first `head` bytes.
    /// Eight places at a time, a place is tested only where the first two
    /// bytes of a keyword are ([`keyword_starts`]): a test per byte cost
    /// about 20 wasm operators a byte of a line.
    fn scan(line: &str, head: usize) -> Keywords {
        let b = line.as_bytes();
        let mut found = Keywords::default();
        let mut durations_left = DURATION_ANYWHERE.len();
        let mut pos = 0;
        while let Some(nine) = b.get(pos..).and_then(|r| r.first_chunk::<9>()) {
            let (Some(here), Some(next)) = (nine.first_chunk::<8>(), nine.last_chunk::<8>()) else {
                break;
            };
            let (here, next) = (u64::from_le_bytes(*here), u64::from_le_bytes(*next));
            let mut starts = keyword_starts(here, next);
            while starts != 0 {
                let i = pos + (starts.trailing_zeros() / 8) as usize;
                if found.test_at(b, i, head, &mut durations_left) {
                    return found;
                }
                starts &= starts - 1;
            }
            pos += 8;
        }
        for i in pos..b.len() {
            if found.test_at(b, i, head, &mut durations_left) {
                break;
            }
        }
        found
    }

    /// Tests the place `i` of `b` for the keywords that may start there.
    /// Returns whether nothing is left to find.
    #[inline]
    fn test_at(&mut self, b: &[u8], i: usize, head: usize, durations_left: &mut usize) -> bool {
        match b.get(i) {
            Some(b'd' | b't' | b'e') if i < head && *durations_left > 0 => {
                let rest = b.get(i..head).unwrap_or_default();
                let four = prefix(rest);
                let keys = self.duration.iter_mut().zip(DURATION_ANYWHERE);
                for ((slot, key), key_four) in keys.zip(DURATION_PREFIXES) {
                    if four == key_four && slot.is_none() && rest.starts_with(key.as_bytes()) {
                        *slot = Some(i);
                        *durations_left -= 1;
                    }
                }
            }
            Some(b'E' | b'T') if !self.crash => {
                let rest = b.get(i..).unwrap_or_default();
                let four = prefix(rest);
                self.crash = CRASH_WORDS
                    .iter()
                    .zip(CRASH_PREFIXES)
                    .any(|(w, w_four)| four == w_four && rest.starts_with(w.as_bytes()));
            }
            Some(b'C') if i < head && self.completed.is_none() => {
                let word_start = i == 0 || b.get(i - 1).is_some_and(u8::is_ascii_whitespace);
                let rest = b.get(i..head).unwrap_or_default();
                if word_start && rest.starts_with(COMPLETED.as_bytes()) {
                    self.completed = Some(i);
                }
            }
            _ => return false,
        }
        self.crash && ((*durations_left == 0 && self.completed.is_some()) || i >= head)
    }
}

/// The places among eight (`here`, and `next`: the same bytes one place on)
/// where a keyword's first two bytes are (`du`ration, `to`ok, `el`apsed,
/// `Ex`ception, `Tr`aceback, `Co`mpleted), flagged in bit 7 of each byte: every such
/// place, and maybe a few others ([`equal_bytes`]), which
/// [`Keywords::test_at`] tells apart.
#[inline(always)]
fn keyword_starts(here: u64, next: u64) -> u64 {
    let pair = |a: u8, b: u8| equal_bytes(here, a) & equal_bytes(next, b) & HI;
    pair(b'd', b'u')
        | pair(b't', b'o')
        | pair(b'e', b'l')
        | pair(b'E', b'x')
        | pair(b'T', b'r')
        | pair(b'C', b'o')
}

/// The part of a line searched for a request and a latency.
fn scan_head(line: &str) -> &str {
    line.get(..line.len().min(SCAN_HEAD)).unwrap_or(line)
}

/// Reads a free-text line.
#[cfg(test)]
pub(crate) fn read(line: &str) -> LogSignal {
    read_stating(line).0
}

/// Reads a free-text line: what it says, and whether it states its level
/// itself (klog's letter or a level word; not a crash word alone).
pub(crate) fn read_stating(line: &str) -> (LogSignal, bool) {
    let head = scan_head(line);
    let stated = stated_level(head);
    // A crash word is looked for past the head only where it could count: on a line that
    // states no level (see [`level`]); durations and `Completed` stay within the head.
    let keywords = Keywords::scan(if stated.is_some() { head } else { line }, head.len());
    let request = request(head).or_else(|| rails_completed(head, keywords.completed?));
    let status = request.as_ref().and_then(|r| r.status).map(|(s, _)| s);
    let signal = LogSignal {
        level: level(stated, keywords.crash, status.is_some()),
        status,
        latency_ms: latency(head, &keywords, request.as_ref()),
        is_request: status.is_some(),
    };
    (signal, stated.is_some())
}

/// The level a free-text line states itself: klog's letter, else a level
/// word. For a line whose pairs carry a status (`E0501 ... statusCode=503`):
/// its status, not a crash word, says whether it failed (see [`level`]).
pub(crate) fn read_stated_level(line: &str) -> Option<LogLevel> {
    stated_level(scan_head(line))
}

/// A request a line describes.
struct Request {
    /// The status, with the byte offset just past it.
    status: Option<(u16, usize)>,
    /// Byte offset just past the path.
    after_path: usize,
}

/// Whitespace-separated words with their byte offsets.
#[derive(Clone)]
struct Words<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Iterator for Words<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<(usize, &'a str)> {
        let b = self.text.as_bytes();
        while b.get(self.pos).is_some_and(u8::is_ascii_whitespace) {
            self.pos += 1;
        }
        let start = self.pos;
        while b.get(self.pos).is_some_and(|c| !c.is_ascii_whitespace()) {
            self.pos += 1;
        }
        // Whitespace is ASCII, so both ends are on character boundaries.
        let word = self.text.get(start..self.pos)?;
        (!word.is_empty()).then_some((start, word))
    }
}

/// The first HTTP method followed by a path, with the status among the next
/// [`STATUS_WITHIN`] words: the first word that starts with `/` (or is an
/// absolute `http://` / `https://` URL) and follows a method word. Found
/// from the `/`s (a fast byte search), not by testing every word for a
/// method.
fn request(head: &str) -> Option<Request> {
    let b = head.as_bytes();
    let mut from = 0;
    while let Some(i) = b.get(from..).and_then(|rest| memchr::memchr(b'/', rest)) {
        let mut at = from + i;
        from = at + 1;
        // An absolute URL's first `/` stands for the `/` that starts a path.
        if at > 0 && b.get(at - 1) == Some(&b':') {
            let word_start = b
                .get(..at)
                .and_then(|w| w.iter().rposition(u8::is_ascii_whitespace))
                .map_or(0, |p| p + 1);
            let scheme = b.get(word_start..at + 2).unwrap_or_default();
            if scheme == b"http://" || scheme == b"https://" {
                at = word_start;
            }
        }
        // The word before, if the `/` starts a word.
        let Some(before) = b.get(..at) else { break };
        let Some(end) = before.iter().rposition(|c| !c.is_ascii_whitespace()) else {
            continue;
        };
        if end + 1 == at {
            continue;
        }
        let start = before
            .get(..end)
            .and_then(|w| w.iter().rposition(u8::is_ascii_whitespace))
            .map_or(0, |p| p + 1);
        // Whitespace is ASCII, so the word's ends are character boundaries.
        if !head.get(start..=end).is_some_and(is_http_method) {
            continue;
        }
        let after_path = b
            .get(at..)
            .and_then(|p| p.iter().position(u8::is_ascii_whitespace))
            .map_or(b.len(), |p| at + p);
        let status = Words {
            text: head,
            pos: after_path,
        }
        .take(STATUS_WITHIN)
        .find_map(|(at, w)| Some((status_word(w)?, at + w.len())));
        return Some(Request { status, after_path });
    }
    None
}

/// Rails' request summary, when no method and path came first:
/// `Completed 500 Internal Server Error in 12ms (ActiveRecord: 1.2ms)`. The
/// status is the word after the first [`COMPLETED`] that starts a word (`at`,
/// as [`Keywords`] found it); a duration after ` in ` follows it (see
/// [`latency`]).
fn rails_completed(head: &str, at: usize) -> Option<Request> {
    let (start, word) = Words {
        text: head,
        pos: at + COMPLETED.len(),
    }
    .next()?;
    let status = status_word(word)?;
    Some(Request {
        status: Some((status, start + word.len())),
        after_path: start + word.len(),
    })
}

/// A word that is an HTTP status: three digits in 100..=599, maybe followed
/// by punctuation (`503:`, `(200)` is not one).
fn status_word(w: &str) -> Option<u16> {
    let w = w.trim_end_matches([':', ',', ';', '.']);
    if w.len() != 3 || !w.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    w.parse().ok().filter(|s| (100..=599).contains(s))
}

/// The first duration after a keyword: anywhere for [`DURATION_ANYWHERE`]
/// (where `keywords` found each first), past the request's path for
/// [`DURATION_AFTER_REQUEST`]. Each keyword in turn, at its first place.
/// Else the first of the [`DURATION_AFTER_STATUS`] words after the
/// request's status that starts a duration.
fn latency(head: &str, keywords: &Keywords, request: Option<&Request>) -> Option<f64> {
    let anywhere = keywords
        .duration
        .iter()
        .zip(DURATION_ANYWHERE)
        .find_map(|(at, key)| duration_at(head.get((*at)? + key.len()..)?));
    anywhere
        .or_else(|| {
            let text = head.get(request?.after_path..)?;
            AFTER_REQUEST.iter().find_map(|key| {
                let at = key.find(text.as_bytes())?;
                duration_at(text.get(at + key.needle().len()..)?)
            })
        })
        .or_else(|| duration_after_status(head, request?.status?.1))
}

/// A duration starting one of the [`DURATION_AFTER_STATUS`] words from
/// `pos` (just past a request's status).
fn duration_after_status(head: &str, pos: usize) -> Option<f64> {
    Words { text: head, pos }
        .take(DURATION_AFTER_STATUS)
        .find_map(|(at, _)| duration_at(head.get(at..)?))
}

/// A duration at the start of `s`: a number, an optional space, a unit
/// (`5.620 ms`, `12ms`, `1.5s`, `250µs`, `3 seconds`), in milliseconds.
fn duration_at(s: &str) -> Option<f64> {
    let s = s.trim_start_matches(' ');
    let digits = s
        .bytes()
        .take_while(|c| c.is_ascii_digit() || *c == b'.')
        .count();
    let num = parse_f64(s.get(..digits)?)?;
    let rest = s.get(digits..)?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let unit_len = rest
        .find(|c: char| c.is_ascii_whitespace() || matches!(c, ':' | ',' | ';' | ')' | ']'))
        .unwrap_or(rest.len());
    let unit = rest.get(..unit_len)?.trim_end_matches('.');
    let mul = match unit {
        "milliseconds" | "millis" | "msec" => 1.0,
        "seconds" | "second" => 1e3,
        "microseconds" => 1e-3,
        u => unit_ms(u)?,
    };
    let ms = num * mul;
    (ms.is_finite() && ms >= 0.0).then_some(ms)
}

/// The first level word among the letter runs of `b` that counts: an
/// upper-case one anywhere, a lower-case or capitalized one only before a
/// colon or bracket (`[error]`, `error:`, `Error:`). Runs of three to
/// thirteen letters (`informational`) are looked up. A run's ends are found
/// eight bytes at a time ([`letter_flags`]): in the `.wasm`, without SIMD, a
/// test per byte cost about 20 operators a byte of a line.
fn level_in_words(b: &[u8]) -> Option<LogLevel> {
    let mut from = 0;
    loop {
        let start = next_letter_edge::<true>(b, from);
        if start >= b.len() {
            return None;
        }
        let end = next_letter_edge::<false>(b, start);
        let len = end - start;
        from = end + 1;
        if !(3..=13).contains(&len) {
            continue;
        }
        let Some(word) = b.get(start..end) else {
            continue;
        };
        let Some(level) = level_token(word) else {
            continue;
        };
        let after = b.get(end).copied().unwrap_or(b' ');
        if word.iter().all(u8::is_ascii_uppercase) || matches!(after, b':' | b']') {
            return Some(level);
        }
    }
}

/// Bit 7 set in each byte of `v` that is an ASCII letter, clear in every
/// other. Lower-cased (bit 5 set), a letter is a byte from `a` to `z`; with
/// bit 7 cleared first, adding to each byte never carries into the next.
#[inline(always)]
fn letter_flags(v: u64) -> u64 {
    let y = (v | (LO * 0x20)) & !HI;
    let from_a = y.wrapping_add(LO * (0x80 - u64::from(b'a')));
    let past_z = y.wrapping_add(LO * (0x80 - u64::from(b'z') - 1));
    from_a & !past_z & !v & HI
}

/// The offset of the first byte at or after `from` that is an ASCII letter
/// (`LETTER`) or is not one (`!LETTER`); `b.len()` when there is none.
#[inline]
fn next_letter_edge<const LETTER: bool>(b: &[u8], from: usize) -> usize {
    let flags = |v| {
        let letters = letter_flags(v);
        if LETTER {
            letters
        } else {
            !letters
        }
    };
    first_flagged(b, from, flags, |c| c.is_ascii_alphabetic() == LETTER).unwrap_or(b.len())
}

/// The level a free-text line states itself: klog's letter
/// (`E0501 10:00:00.000000 ...`), else the first level word that counts
/// ([`level_in_words`]).
fn stated_level(head: &str) -> Option<LogLevel> {
    let b = head.as_bytes();
    if b.len() > 5
        && b.get(1..5)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    {
        let klog = match b.first() {
            Some(b'I') => Some(LogLevel::Info),
            Some(b'W') => Some(LogLevel::Warn),
            Some(b'E') => Some(LogLevel::Error),
            Some(b'F') => Some(LogLevel::Fatal),
            _ => None,
        };
        if klog.is_some() {
            return klog;
        }
    }
    level_in_words(b)
}

/// The level of a free-text line: the one it states (`stated`), else error
/// when it reports a crash (`crash`: it has a [`CRASH_WORDS`] word) and has
/// no request status. (Go's `panic:` is a level word, fatal; its
/// `goroutine 7 [running]:` continues a trace, see
/// [`crate::logline::stack_trace`].)
///
/// A crash word never overrides a level the line states: `WARN ... (java.
/// net.SocketTimeoutException: Read timed out), retrying`, klog's `I0501
/// ... Exception count=0` and `[INFO] Exception mapper ready` are what they
/// say, and `GET /api/exceptions?type=NullPointerException 200 12ms` is
/// told by its status. Without a level, `Exception in thread "main" ...`
/// and `caught Exception in handler` are errors. (Python's `Traceback (most
/// recent call last):` alone on its line, and an exception's class line,
/// continue a trace and are not read here: see
/// [`crate::logline::stack_trace`].)
fn level(stated: Option<LogLevel>, crash: bool, status: bool) -> Option<LogLevel> {
    if stated.is_some() || status {
        return stated;
    }
    crash.then_some(LogLevel::Error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Xorshift;
    use LogLevel::*;

    fn sig(level: Option<LogLevel>, status: Option<u16>, ms: Option<f64>) -> LogSignal {
        LogSignal {
            level,
            status,
            latency_ms: ms,
            is_request: status.is_some(),
        }
    }

    #[test]
    fn requests_and_durations_in_text() {
        let cases: &[(&str, LogSignal)] = &[
            // Spring Boot style request logging.
            (
                "2025-03-03 00:00:00.413  INFO 65 --- [nio-8080-exec-3] c.e.web.RequestLoggingFilter    : GET /suggest completed 200 in 10ms",
                sig(Some(Info), Some(200), Some(10.0)),
            ),
            (
                "2025-03-03 00:00:00.413 ERROR 65 --- [nio-8080-exec-3] c.e.web.RequestLoggingFilter    : POST /pay failed with 503 after 2.5s: service unavailable",
                sig(Some(Error), Some(503), Some(2500.0)),
            ),
            // A duration needs its keyword, or to follow the status closely.
            ("GET /x 404 12 ms", sig(None, Some(404), Some(12.0))),
            ("GET /x 404 a b c 12 ms", sig(None, Some(404), None)),
            ("GET /x 404 12 apples", sig(None, Some(404), None)),
            ("12 ms GET /x 404", sig(None, Some(404), None)),
            // morgan (Node.js): `dev`, `tiny`, `short`.
            ("GET /api/items 500 12.345 ms - 52", sig(None, Some(500), Some(12.345))),
            ("POST /pay 503 52 - 812.004 ms", sig(None, Some(503), Some(812.004))),
            (
                "10.0.0.1 - GET /api HTTP/1.1 502 52 - 3.1 ms",
                sig(None, Some(502), Some(3.1)),
            ),
            // ASP.NET Core's request summary (its console logger's second line).
            (
                "      Request finished HTTP/1.1 GET http://localhost:5000/api/items?id=7 - 500 - text/plain;+charset=utf-8 12.3456ms",
                sig(None, Some(500), Some(12.3456)),
            ),
            (
                "info: Microsoft.AspNetCore.Hosting.Diagnostics[2] Request finished HTTP/2 POST https://shop.example/pay - 200 0 - 503.1022ms",
                sig(Some(Info), Some(200), Some(503.1022)),
            ),
            // An absolute URL is a path only after a method.
            ("fetched http://x/y 503", sig(None, None, None)),
            ("GET ftp://x/y 503", sig(None, None, None)),
            ("GET xhttp://x/y 503", sig(None, None, None)),
            ("DELETE /items/7 -> 204 (took 3.5ms)", sig(None, Some(204), Some(3.5))),
            // PostgreSQL log_min_duration_statement.
            (
                "2025-03-03 00:00:00.367 UTC [66] LOG:  duration: 5.620 ms  statement: SELECT * FROM events WHERE id = 85580",
                sig(None, None, Some(5.62)),
            ),
            ("job finished, took 1.5 seconds", sig(None, None, Some(1500.0))),
            ("sync done elapsed: 250µs", sig(None, None, Some(0.25))),
            // `in` / `after` say how long only after a request's path.
            ("WARN connection lost, retrying in 5s", sig(Some(Warn), None, None)),
            ("GET /health in 5s", sig(None, None, Some(5000.0))),
            ("restart after 30s", sig(None, None, None)),
            // A method without a path, a path without a method, no status.
            ("GET request queued", sig(None, None, None)),
            ("served /index.html 200", sig(None, None, None)),
            ("GET /x completed", sig(None, None, None)),
            // Not statuses: four digits, out of range, far from the path.
            ("GET /x took 1200 ms", sig(None, None, Some(1200.0))),
            ("GET /x 700 in 3ms", sig(None, None, Some(3.0))),
            ("GET /x a b c d 200", sig(None, None, None)),
            // Rails' request summary.
            (
                "I, [2026-11-23T10:00:00.123456 #1]  INFO -- : [9f1c] Completed 500 Internal Server Error in 12ms (ActiveRecord: 1.2ms | Allocations: 123)",
                sig(Some(Info), Some(500), Some(12.0)),
            ),
            ("Completed 200 OK in 3ms", sig(None, Some(200), Some(3.0))),
            ("xCompleted 500 in 3ms Completed 404 in 5ms", sig(None, Some(404), Some(5.0))),
            ("Completed 99 in 3ms", sig(None, None, None)),
            ("Task Completed successfully in 3ms", sig(None, None, None)),
            // Not durations.
            ("took a while", sig(None, None, None)),
            ("duration: unknown", sig(None, None, None)),
            ("took 5 apples", sig(None, None, None)),
            ("took 12", sig(None, None, None)),
            ("duration: 1e999 ms", sig(None, None, None)),
        ];
        for (line, want) in cases {
            assert_eq!(read(line), *want, "{line}");
        }
    }

    /// The reading as it was written first, one substring search per
    /// keyword and every word tested for a method: the one-pass reading
    /// must give the same.
    fn read_by_searches(line: &str) -> LogSignal {
        let head = scan_head(line);
        let mut request = None;
        let mut words = Words { text: head, pos: 0 };
        let mut prev_method = false;
        while let Some((at, word)) = words.next() {
            let path = word.starts_with('/')
                || word.starts_with("http://")
                || word.starts_with("https://");
            if prev_method && path {
                let status = words
                    .clone()
                    .take(STATUS_WITHIN)
                    .find_map(|(at, w)| Some((status_word(w)?, at + w.len())));
                request = Some((status, at + word.len()));
                break;
            }
            prev_method = is_http_method(word);
        }
        if request.is_none() {
            // Rails: the first word `Completed` with a space after it, and a status next.
            let mut words = Words { text: head, pos: 0 };
            while let Some((at, word)) = words.next() {
                if word == "Completed"
                    && head
                        .get(at + word.len()..)
                        .is_some_and(|r| r.starts_with(' '))
                {
                    request = words.next().and_then(|(at, w)| {
                        let end = at + w.len();
                        Some((Some((status_word(w)?, end)), end))
                    });
                    break;
                }
            }
        }
        let keys = DURATION_ANYWHERE.iter().map(|k| (*k, 0));
        let after = request.map(|(_, after)| after);
        let keys = keys.chain(
            after
                .into_iter()
                .flat_map(|from| DURATION_AFTER_REQUEST.iter().map(move |k| (*k, from))),
        );
        let after_status = request.and_then(|(s, _)| s).map(|(_, end)| end);
        let latency_ms = keys
            .clone()
            .find_map(|(key, from)| {
                let text = head.get(from..)?;
                let at = memchr::memmem::find(text.as_bytes(), key.as_bytes())?;
                duration_at(text.get(at + key.len()..)?)
            })
            .or_else(|| {
                // A duration in one of the three words after the status.
                let mut words = Words {
                    text: head,
                    pos: after_status?,
                };
                (0..3).find_map(|_| {
                    let (at, _) = words.next()?;
                    duration_at(head.get(at..)?)
                })
            });
        let crash = CRASH_WORDS
            .iter()
            .any(|w| memchr::memmem::find(line.as_bytes(), w.as_bytes()).is_some());
        let status = request.and_then(|(s, _)| s).map(|(s, _)| s);
        LogSignal {
            level: level(stated_level(head), crash, status.is_some()),
            status,
            latency_ms,
            is_request: status.is_some(),
        }
    }

    #[test]
    fn one_pass_reads_what_searches_read() {
        let pieces = [
            "GET",
            "POST",
            "Completed",
            "Completed ",
            "500",
            "get",
            "DELETE",
            "/",
            "/api/x",
            "/é",
            "http://x/y",
            "https://shop/",
            "http:/",
            "ms",
            " ms",
            "12.5",
            "-",
            "200",
            "503:",
            "404,",
            "99",
            "took",
            "took ",
            "duration: ",
            "duration=",
            "elapsed: ",
            "elapsed ",
            " in ",
            " after ",
            "12ms",
            "1.5s",
            "250µs",
            "3 seconds",
            "Exception",
            "Excep",
            "Traceback (most recent call last)",
            "Trace",
            "ERROR",
            "warn:",
            "[info]",
            "panic:",
            "goroutine ",
            "mistook ",
            "dura",
            "e",
            "t",
            "d",
            "T",
            "E",
            " ",
            "  ",
            "\t",
            "\n",
            "\r",
            "\x0b",
            "\x0c",
            "é",
            "µ",
            ":",
            "]",
            "x",
        ];
        let mut rng = Xorshift(0x5eed_f00d_cafe_d00d);
        let mut checked = 0;
        for round in 0..40_000 {
            let n = 1 + (rng.next_u64() % 24) as usize;
            let mut line = String::new();
            for _ in 0..n {
                let p = pieces[(rng.next_u64() % pieces.len() as u64) as usize];
                line.push_str(p);
                if rng.next_u64() % 3 == 0 {
                    line.push(' ');
                }
            }
            // Some lines past the head, keywords across its end.
            if round % 10 == 0 {
                let pad = SCAN_HEAD - (rng.next_u64() % 40) as usize;
                line = format!("{}{line}", "a".repeat(pad));
            }
            assert_eq!(read(&line), read_by_searches(&line), "{line:?}");
            checked += usize::from(read(&line) != LogSignal::default());
        }
        assert!(checked > 10_000, "{checked} lines with a signal");
        // Each keyword at every place of the last eight-byte words and the
        // bytes after them, which the pass tests one by one.
        for key in [
            "Exception",
            "Traceback (most recent call last)",
            "took 5ms",
            "elapsed: 2s",
        ] {
            for pad in 0..20 {
                let line = format!("{}{key}", "a ".repeat(pad / 2) + &"b".repeat(pad % 2));
                assert_eq!(read(&line), read_by_searches(&line), "{line:?}");
                assert_ne!(read(&line), LogSignal::default(), "{line:?}");
            }
        }
    }

    /// The letter runs as a test per byte finds them (the reading before
    /// [`letter_flags`]), the oracle for [`level_in_words`].
    fn level_in_words_byte_by_byte(b: &[u8]) -> Option<LogLevel> {
        let mut from = 0;
        while let Some(rest) = b.get(from..) {
            let start = from + rest.iter().position(u8::is_ascii_alphabetic)?;
            let run = b.get(start..).unwrap_or_default();
            let len = run
                .iter()
                .position(|c| !c.is_ascii_alphabetic())
                .unwrap_or(run.len());
            from = start + len + 1;
            if !(3..=13).contains(&len) {
                continue;
            }
            let Some(word) = run.get(..len) else { continue };
            let Some(level) = level_token(word) else {
                continue;
            };
            let after = run.get(len).copied().unwrap_or(b' ');
            if word.iter().all(u8::is_ascii_uppercase) || matches!(after, b':' | b']') {
                return Some(level);
            }
        }
        None
    }

    #[test]
    fn letter_flags_flag_the_ascii_letters() {
        for c in 0..=255u8 {
            for at in 0..8 {
                // The byte among neighbours of every kind (letters, `@`, `[`, `` ` ``, `{`, high bytes).
                for fill in [b'a', b'Z', b'@', b'[', b'`', b'{', 0x80, 0xff, b' '] {
                    let mut word = [fill; 8];
                    word[at] = c;
                    let flags = letter_flags(u64::from_le_bytes(word));
                    for (i, &byte) in word.iter().enumerate() {
                        let flagged = flags >> (8 * i + 7) & 1 == 1;
                        assert_eq!(flagged, byte.is_ascii_alphabetic(), "{word:?} byte {i}");
                    }
                    assert_eq!(flags & !HI, 0);
                }
            }
        }
    }

    #[test]
    fn level_words_are_found_eight_bytes_at_a_time_as_byte_by_byte() {
        let pieces: [&[u8]; 26] = [
            b"Information",
            b"fail",
            b"ERROR",
            b"error",
            b"Error",
            b"WARN",
            b"warning",
            b"Info",
            b"FATAL",
            b"crit",
            b"emergency",
            b"EMERGENCY",
            b"debugging",
            b"x",
            b"abcdefghijk",
            b" ",
            b"  ",
            b":",
            b"]",
            b"[",
            b"-",
            b"9",
            b"\xc3\xa9",
            b"\xff",
            b"@",
            b"`",
        ];
        let mut rng = Xorshift(0x1e7e_1e7e_5eed_0001);
        let mut found = 0;
        for _ in 0..40_000 {
            let mut line = Vec::new();
            for _ in 0..rng.next_u64() % 12 {
                let piece = pieces[(rng.next_u64() % pieces.len() as u64) as usize];
                line.extend_from_slice(piece);
            }
            let want = level_in_words_byte_by_byte(&line);
            assert_eq!(
                level_in_words(&line),
                want,
                "{:?}",
                String::from_utf8_lossy(&line)
            );
            found += usize::from(want.is_some());
        }
        assert!(found > 5_000, "{found} lines with a level word");
        // Runs that end exactly at the end, and across eight-byte words.
        for line in [
            &b"ERROR"[..],
            b"1234567ERROR",
            b"12345678ERROR:",
            b"abcdefgh error]",
        ] {
            assert_eq!(level_in_words(line), level_in_words_byte_by_byte(line));
        }
    }

    #[test]
    fn never_panics_on_odd_text() {
        for line in [
            "",
            " ",
            "GET",
            "GET /",
            "GET / 2",
            "took ",
            "duration: .",
            "duration: 1.2.3 ms",
            "GET /é 200 in 5µs",
            "µµµ took 5µ",
            "GET\t/x\t500\tin\t1ms",
        ] {
            let _ = read(line);
        }
        assert_eq!(read("GET /é 200 in 5µs").latency_ms, Some(0.005));
        assert_eq!(read("GET\t/x\t500\tafter 1ms").status, Some(500));
    }
}
