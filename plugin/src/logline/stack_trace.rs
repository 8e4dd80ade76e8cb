//! Stack traces that reach the core one line a record.
//!
//! The shipped pipelines join only the CRI runtime's partial lines (Fluent
//! Bit's `multiline.parser cri`, Vector's `kubernetes_logs`), so each line of
//! a Java, Python, Go, Node.js, .NET, Ruby or Rust stack trace is a record
//! of its own. One failure is one error: the line that reports it (a
//! logger's line with its level, or a trace's own first line that says it
//! failed, such as `Exception in thread "main" ...`); the lines after it
//! only continue it. Counted as lines, a 60-frame trace hid an error burst
//! behind 60 lines of no level (the error ratio fell), and in a workload
//! that logs no requests it read as a surge of traffic. [`classify`] tells those continuation
//! lines apart by their first bytes, so they count as nothing of their own.
//!
//! Continuations, after any leading spaces or tabs (`ws`):
//! - frames: ws + `at ` + a non-space (Java `\tat com.x.Y.f(Y.java:12)`,
//!   Node.js and .NET `    at f (file.js:1:2)`, Rust's `at src/main.rs:4:5`);
//!   Python's ws + `File "` (`  File "/app/x.py", line 10, in f`); Go's
//!   `\t/usr/local/go/src/runtime/panic.go:770 +0x132` (a tab, an absolute
//!   path with `.go:` in it) and its function lines at the left margin
//!   (`main.main()`, `net/http.(*conn).serve(0xc000a8000, {0x6e0c48, 0x1})`,
//!   `panic({0x45cc40?, 0x4fe680?})`, `main.f(...)`: a name without spaces
//!   holding a `.` (or `panic`) before the first `(`, and arguments that are
//!   none, `...`, or start with `0x` or `{`), `created by main.main`,
//!   `goroutine 7 [running]:`, `[signal SIGSEGV: ...]` and a tab +
//!   `panic: ` (a panic raised while the one above it panicked); Ruby's
//!   backtrace lines, ws + a location that ends the line
//!   (`` /app/x.rb:12:in `block in f' ``, `/app/x.rb:12:in 'Foo#bar'` since
//!   Ruby 3.4), or after ws + `from ` (`\tfrom /app/x.rb:12:in 'f'`); Rust's
//!   `stack backtrace:`, its frames numbered in four columns (`   0:
//!   rust_begin_unwind`, then ws + `at ...`; the frame a symbol with no
//!   spaces or with `::`, `<T as Trait>::f` or an address, so that a numbered list's
//!   `   1: first step done` is no frame) and the `note: ...
//!   RUST_BACKTRACE=...` that closes a panic;
//! - anyhow's and eyre's report of an error (after `Error: connect failed`,
//!   an error by its level word): `Caused by:` alone on its line (at any
//!   indentation), the causes numbered in five columns (`    0: tcp connect
//!   error`, `   12: ...`), `Stack backtrace:` and eyre's `Location:` alone;
//! - Go's `runtime stack:` alone (a fatal error's stack), `...additional
//!   frames elided...` and `...12 frames elided...`, and `exit status 2`
//!   (`go run`'s) at the left margin; its goroutine headers in any state
//!   (`goroutine 1 [chan receive, 5 minutes]:`) are above;
//! - Node.js's uncaught exception around its `Error: ...` (the error): where
//!   it was thrown, alone at the left margin (`/app/server.js:12`,
//!   `node:events:497`, `file:///app/server.mjs:12`), a caret line (`^`, at
//!   the margin too) and the closing `Node.js v20.11.0`. Its source line is
//!   read like Python's (below) when four spaces in, else it is a line of
//!   its own;
//! - Python's exception group (3.11 and later), indented by an even number
//!   of spaces: `+ Exception Group Traceback (most recent call last):`
//!   alone, any line after `| ` (or `|` alone: the group's frames, source
//!   lines, `ExceptionGroup: ...` and its sub-exceptions' lines, `and 3
//!   more exceptions`) and the rules `+-+---------------- 1 ---...`,
//!   `+---------------- 2 ---...`, `+-------...`;
//! - Rails' exception log: a line of Ruby's `Logger` (`F, [2026-05-01T10:
//!   00:00.123456 #1] FATAL -- : `, any level) or with the request's tags
//!   alone (`[a1b2c3] `), whose message after the tags is a bare backtrace
//!   location (`app/controllers/x.rb:12:in 'show'`) or nothing: Rails 5.0
//!   logged each frame at `FATAL`, later versions the first frame and the
//!   blank lines around the exception's line, the rest with the tags alone
//!   (see `ruby_logged`);
//! - an exception's class line, ws + a class name ending in `Exception` or
//!   `Error`, alone or with `:` and a message on the same line
//!   (`org.x.DataAccessException: db down`, .NET's indented `System.
//!   InvalidOperationException: boom`, Python's closing `ValueError: bad`;
//!   see `exception_class_line`);
//! - Java's ws + `... 12 more` / `... 3 common frames omitted`, `Caused by: `
//!   (at any indentation), ws + `Suppressed: `; .NET's `--- End of ...`;
//! - Python's `Traceback (most recent call last):` alone on its line, ws +
//!   carets (`    ~~~^^^`, 3.11 and later), ws + `[Previous line repeated
//!   996 more times]`, and the two sentences that join chained tracebacks
//!   (`During handling of the above exception, ...`, `The above exception
//!   was the direct cause of the following exception:`).
//!
//! Python prints each frame's source line indented by exactly four spaces
//! (`    raise PaymentError(reply)`). Four spaces alone do not make a
//! continuation (Python's own `%(levelname)8s` pads `INFO` to `    INFO`), so
//! such a line is [`TraceLine::MaybeSource`]: the reader takes it as a
//! continuation only when it states nothing — no level of its own, no
//! status, no latency (see [`crate::logline::read_line_in`]).
//!
//! A blank line (spaces, tabs and line ends only: Python prints them
//! between chained tracebacks, Go after `panic:`) is [`TraceLine::Blank`]:
//! it says nothing either, in a trace or out of one (it once counted as a
//! line, and in a workload that logs no requests as traffic).
//!
//! A trace's own first line that says it failed but names no level is
//! [`TraceLine::Crash`], an error unless it states a level or a request
//! status: Rust's `thread 'main' panicked at src/main.rs:2:5:`, Ruby's
//! `/app/x.rb:12:in 'Db#connect': db down (RuntimeError)` (an exception
//! nothing rescued) and Rails' line of the exception with the request's
//! tags alone or none (`[a1b2c3] ActiveRecord::RecordNotFound (Couldn't
//! find Cart with 'id'=5):`, Rails 5.1 and later; the class namespaced or
//! ending in `Error` or `Exception`). (Go's `panic: ...`, `fatal error: ...`
//! and net/http's `http: panic serving ...`, Node.js's and anyhow's `Error:
//! ...` are errors by their level word, and Rails 5.0's line of the
//! exception by its `FATAL`. A Rust panic's message, on the line after
//! since Rust 1.73, is a line of its own: alone it is any text.)
//!
//! What one line cannot tell: an application's own line that starts with a
//! class name (`ValidationError: user not found`, no level) reads as an
//! exception's class line and says nothing, as Python's closing line after
//! a logged exception must; a numbered list indented to five columns reads
//! as anyhow's causes; a Node.js exception whose class is not `Error`
//! (`TypeError: ...`) after the place it was thrown counts no error, as
//! `console.error(err)` of it does not (the process exits, and the pod's
//! restart is counted).
//!
//! Anything else is a line of its own, whatever it holds.
//!
//! # Which line is the one error
//!
//! Each line is read by itself. The core's per-entity state is a workload's
//! window, into which its pods' lines interleave, not the line before in one
//! container's stream; and Vector's `remap`, which reads lines as this does
//! (`edgeheal-normalize.vrl`), keeps nothing from one event to the next. A
//! line alone cannot tell a trace logged after the logger's line from one
//! printed with no logger line before it: the same class line, the same
//! `Traceback` header. The reading is the one that is right for a logged
//! exception, the common case in a service: the logger's line is the error
//! and the class line, the header and Python's closing `ValueError: bad`
//! say nothing (they once counted a second error, or a line, for every
//! logged exception). A trace with no logger line before it counts one error
//! where its first line says so by itself — Java's `Exception in thread
//! "main" ...`, .NET's `Unhandled exception. ...`, Python's `Exception in
//! thread ...:` for a thread, Node.js's `Error: ...`, Go's `panic: ...`,
//! Rust's `thread '...' panicked at ...`, Ruby's `x.rb:12:in 'f': boom
//! (RuntimeError)` — and none where it opens with a class line or a bare
//! `Traceback` header: `e.printStackTrace()`, Node.js's `console.error(err)`
//! of a `TypeError`, and an exception that ends Python's main thread, whose
//! process exits (its container's restart is what the pod's restart signals
//! count).
//!
//! A class line or a `Traceback` header with more lines after it in the same
//! record (a trace joined into one record upstream) is a line of its own,
//! read as free text.
//!
//! Only the first bytes of a line are tested, and its last for Go's
//! function lines and Ruby's locations (a line that ends in `)` or `'` has
//! its first word read; an exception's class name is read to its end, and
//! the rest of the line only when the name is one): this runs for every log
//! record, in the `.wasm` under an interpreter.

use memchr::memmem;

/// What a line is to a stack trace printed one line a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceLine {
    /// A line of its own (a trace's first line is one).
    Own,
    /// A line that only continues the trace above it: a frame, a `Caused
    /// by:`, a `... 12 more`.
    Continuation,
    /// Indented by exactly four spaces, as Python indents a frame's source
    /// line: a continuation when it states nothing of its own.
    MaybeSource,
    /// A trace's own first line that names no level: Rust's `thread
    /// 'main' panicked at src/main.rs:2:5:`, Ruby's `/app/x.rb:12:in 'f':
    /// boom (RuntimeError)` when nothing rescued the exception. An error,
    /// unless it states a level or a request status of its own.
    Crash,
    /// Spaces, tabs and line ends only: says nothing, as a continuation
    /// (Python's traces hold such lines between chained tracebacks, Go's
    /// after `panic:`, and any program may print one).
    Blank,
}

/// Python's header of a traceback, alone on its line.
const TRACEBACK: &[u8] = b"Traceback (most recent call last):";

/// Python's sentences between the tracebacks of chained exceptions.
const CHAINED: [&[u8]; 2] = [
    b"During handling of the above exception, another exception occurred",
    b"The above exception was the direct cause of the following exception",
];

/// What `line` is to a stack trace, from its first bytes (see the module
/// documentation).
pub fn classify(line: &str) -> TraceLine {
    let b = line.as_bytes();
    let ws = b
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t'))
        .unwrap_or(b.len());
    let rest = b.get(ws..).unwrap_or_default();
    let Some(&first) = rest.first() else {
        return TraceLine::Blank;
    };
    if first.is_ascii_whitespace() && rest.trim_ascii_start().is_empty() {
        return TraceLine::Blank;
    }
    // Java's cause (anyhow's and eyre's `Caused by:` alone on its line) and
    // .NET's inner-exception end stand indented or not.
    let either = match first {
        b'C' => rest.starts_with(b"Caused by: ") || rest.trim_ascii_end() == b"Caused by:",
        b'-' => rest.starts_with(b"--- End of "),
        _ => false,
    };
    // A name starts here: an exception's class, a Go function.
    let name = first.is_ascii_alphabetic() || first == b'_';
    // Ruby's backtrace lines end in a quote, its uncaught exception's first
    // line in a parenthesis: only those lines are read for a location.
    let last = rest.trim_ascii_end().last().copied();
    let continuation = either
        || if ws > 0 {
            indented_continuation(b, ws, rest)
        } else {
            margin_continuation(first, rest) || (name && go_function_line(rest))
        }
        || (name && exception_class_line(rest))
        || (last == Some(b'\'') && ruby_frame(rest));
    if continuation {
        return TraceLine::Continuation;
    }
    if ws == 0 {
        // Ruby's Logger (`F, [2026-05-01T10:00:00.123456 #1] FATAL -- : `)
        // and the request's tags (`[a1b2c3] `) before a message.
        if let Some(message) = ruby_logged(first, rest) {
            return message;
        }
    }
    if ws == 0
        && match first {
            b't' => rest
                .strip_prefix(b"thread '")
                .is_some_and(|r| memmem::find(r, b"' panicked at ").is_some()),
            _ if last == Some(b')') => ruby_uncaught(rest),
            _ if last == Some(b':') => first.is_ascii_uppercase() && rails_exception(rest),
            _ => false,
        }
    {
        TraceLine::Crash
    } else if ws == 4 && b.get(..4) == Some(b"    ") {
        TraceLine::MaybeSource
    } else {
        TraceLine::Own
    }
}

/// The continuations at the left margin that only some languages print
/// there; `first` is the line's first byte.
fn margin_continuation(first: u8, rest: &[u8]) -> bool {
    match first {
        b'c' => rest
            .strip_prefix(b"created by ")
            .is_some_and(qualified_name),
        b'g' => goroutine_header(rest),
        b'[' => rest.starts_with(b"[signal SIG"),
        b'D' | b'T' => {
            CHAINED.iter().any(|s| rest.starts_with(s))
                || rest
                    .strip_prefix(TRACEBACK)
                    .is_some_and(|r| r.trim_ascii().is_empty())
        }
        // Rust's backtrace header (anyhow's and eyre's capitalize it, and
        // eyre's `Location:` follows its causes) and the note that closes
        // a panic.
        b's' | b'S' | b'L' => matches!(
            rest.trim_ascii_end(),
            b"stack backtrace:" | b"Stack backtrace:" | b"Location:"
        ),
        // Go: the stack of a fatal error on the system stack, `go run`'s
        // `exit status 2`, frames left out (`...additional frames
        // elided...`, `...12 frames elided...` since Go 1.21).
        b'r' => rest.trim_ascii_end() == b"runtime stack:",
        b'e' => rest.strip_prefix(b"exit status ").is_some_and(|r| {
            let r = r.trim_ascii_end();
            !r.is_empty() && r.iter().all(u8::is_ascii_digit)
        }),
        b'.' => {
            let r = rest.trim_ascii_end();
            r.starts_with(b"...") && r.ends_with(b" frames elided...")
        }
        // Node.js's uncaught exception: where it was thrown
        // (`/app/server.js:12`, `node:events:497`,
        // `file:///app/server.mjs:12`), the caret under its source line, and
        // the version that closes it (`Node.js v20.11.0`).
        b'n' if rest.starts_with(b"note: ") => memmem::find(rest, b"`RUST_BACKTRACE=").is_some(),
        b'/' | b'n' | b'f' => node_location(rest),
        b'^' => rest
            .trim_ascii_end()
            .iter()
            .all(|c| matches!(c, b'^' | b'~')),
        b'N' => rest.strip_prefix(b"Node.js v").is_some_and(|r| {
            let r = r.trim_ascii_end();
            r.first().is_some_and(u8::is_ascii_digit)
                && r.iter().all(|c| c.is_ascii_digit() || *c == b'.')
        }),
        _ => false,
    }
}

/// The continuations that start after `ws` bytes of spaces and tabs; `rest`
/// is the line from its first other byte.
fn indented_continuation(line: &[u8], ws: usize, rest: &[u8]) -> bool {
    match rest.first() {
        Some(b'a') => rest
            .strip_prefix(b"at ")
            .and_then(<[u8]>::first)
            .is_some_and(|c| !c.is_ascii_whitespace()),
        Some(b'.') => rest
            .strip_prefix(b"... ")
            .and_then(<[u8]>::first)
            .is_some_and(u8::is_ascii_digit),
        Some(b'F') => rest.starts_with(b"File \""),
        Some(b'S') => rest.starts_with(b"Suppressed: "),
        Some(b'[') => rest.starts_with(b"[Previous line repeated "),
        Some(b'^' | b'~') => rest
            .trim_ascii_end()
            .iter()
            .all(|c| matches!(c, b'^' | b'~')),
        Some(b'/') => {
            ws == 1 && line.first() == Some(&b'\t') && memmem::find(rest, b".go:").is_some()
        }
        // Go's panic raised while another panicked (`panic: x [recovered]`
        // first, at the margin).
        Some(b'p') => ws == 1 && line.first() == Some(&b'\t') && rest.starts_with(b"panic: "),
        // Ruby's `\tfrom /app/x.rb:12:in 'f'`.
        Some(b'f') => rest.strip_prefix(b"from ").is_some_and(ruby_frame),
        // Rust's numbered frame, its number right-aligned in four columns
        // (`   0: rust_begin_unwind`, `  12: app::main`), then a symbol (no
        // spaces, or `<T as Trait>::f`) or an address (`0x55d0c5d0b0f0 -
        // ...`); anyhow's and eyre's numbered cause, its number in five
        // (`    0: tcp connect error`).
        Some(b'0'..=b'9') => {
            let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
            let Some(after) = rest.get(digits..).and_then(|r| r.strip_prefix(b": ")) else {
                return false;
            };
            let spaces = line.get(..ws).is_some_and(|w| w.iter().all(|&c| c == b' '));
            spaces
                && match ws + digits {
                    4 => rust_frame_symbol(after),
                    5 => true,
                    _ => false,
                }
        }
        // Python's exception group (3.11 and later), two spaces a level:
        // its header (`  + Exception Group Traceback (most recent call
        // last):`), the lines within it after `| `, and the rules between
        // its exceptions (`  +-+---------------- 1 ----------------`,
        // `    +------------------------------------`).
        Some(b'|' | b'+') => {
            ws % 2 == 0
                && line.get(..ws).is_some_and(|w| w.iter().all(|&c| c == b' '))
                && exception_group_line(rest)
        }
        _ => false,
    }
}

/// Node.js's line that says where an uncaught exception was thrown, at the
/// left margin and alone: a path (`/app/server.js`, `file:///app/x.mjs`,
/// `node:internal/process/promises`), `:` and the line number.
fn node_location(rest: &[u8]) -> bool {
    let line = rest.trim_ascii_end();
    let digits = line.iter().rev().take_while(|c| c.is_ascii_digit()).count();
    let Some(path) = line
        .len()
        .checked_sub(digits + 1)
        .and_then(|colon| line.get(..colon).filter(|_| line.get(colon) == Some(&b':')))
    else {
        return false;
    };
    let named = match path
        .strip_prefix(b"node:")
        .or_else(|| path.strip_prefix(b"file:///"))
    {
        Some(p) => p,
        None => path.strip_prefix(b"/").unwrap_or_default(),
    };
    digits > 0 && !named.is_empty() && !path.iter().any(u8::is_ascii_whitespace)
}

/// A Rust backtrace frame's text after its number: a symbol with no spaces
/// (`rust_begin_unwind`) or a path (`anyhow::error::<impl anyhow::Error>::
/// msg`), a trait's method (`<F as core::future::Future>::poll`) or, with
/// `RUST_BACKTRACE=full`,
/// an address (`    0x55d0c5d0b0f0 - std::...`). A numbered list's item
/// (`   1: first step done`) is none.
fn rust_frame_symbol(after: &[u8]) -> bool {
    let text = after.trim_ascii();
    text.starts_with(b"<")
        || text.starts_with(b"0x")
        || (!text.is_empty() && !text.iter().any(u8::is_ascii_whitespace))
        || memmem::find(text, b"::").is_some()
}

/// A line of Python's exception group from its `|` or `+` (`rest`, after
/// the indentation): `| ` and anything (or `|` alone), `+ Exception Group
/// Traceback (most recent call last):`, and the rules `+-+----...` and
/// `+----...`.
fn exception_group_line(rest: &[u8]) -> bool {
    match rest.split_first() {
        Some((b'|', after)) => after.first().is_none_or(u8::is_ascii_whitespace),
        Some((b'+', after)) => {
            after.starts_with(b"-+--")
                || after.starts_with(b"---")
                || after
                    .strip_prefix(b" Exception Group Traceback (most recent call last):")
                    .is_some_and(|r| r.trim_ascii().is_empty())
        }
        _ => false,
    }
}

/// A line Ruby's `Logger` wrote (`F, [2026-05-01T10:00:00.123456 #1] FATAL
/// -- progname: `), or one with the request's tags only (`[a1b2c3] `, as
/// Rails writes the lines after the first of its exception's log), when its
/// message after the tags is a bare backtrace location (`app/x.rb:12:in
/// 'f'`) or nothing: Rails 5.0 logged each frame of an exception at
/// `FATAL`, later versions the first, and the blank lines around the
/// exception's line. That continues a trace; an exception's line with the
/// tags only (`[a1b2c3] ActiveRecord::RecordNotFound (...):`, Rails 5.1
/// and later) is its [`TraceLine::Crash`]. `None` for anything else.
fn ruby_logged(first: u8, rest: &[u8]) -> Option<TraceLine> {
    let logger = first != b'[';
    let mut message = if logger {
        ruby_logger_message(rest)?
    } else {
        rest
    };
    let mut tags = 0;
    while let Some(tag) = message.strip_prefix(b"[") {
        let close = tag.iter().position(|&c| c == b']')?;
        message = tag.get(close + 1..)?.strip_prefix(b" ")?;
        tags += 1;
    }
    if !logger && tags == 0 {
        return None;
    }
    if message.trim_ascii().is_empty() || ruby_frame(message) {
        Some(TraceLine::Continuation)
    } else if !logger
        && message.first().is_some_and(u8::is_ascii_uppercase)
        && rails_exception(message)
    {
        Some(TraceLine::Crash)
    } else {
        None
    }
}

/// The message of a line Ruby's `Logger` formatted (`%.1s, [%s #%d] %5s --
/// %s: %s`): after the severity's letter, `, [`, the time and pid up to
/// the first `]`, a space, the severity right-aligned, ` -- `, the program's
/// name up to the first `:`, and a space.
fn ruby_logger_message(rest: &[u8]) -> Option<&[u8]> {
    let (letter, after) = rest.split_first()?;
    if !letter.is_ascii_uppercase() {
        return None;
    }
    let stamp = after.strip_prefix(b", [")?;
    let close = stamp.iter().position(|&c| c == b']')?;
    let padded = stamp.get(close + 1..)?.strip_prefix(b" ")?;
    let pad = padded.iter().take_while(|&&c| c == b' ').count();
    let severity = padded.get(pad..)?;
    let letters = severity
        .iter()
        .take_while(|c| c.is_ascii_uppercase())
        .count();
    if letters == 0 {
        return None;
    }
    let progname = severity.get(letters..)?.strip_prefix(b" -- ")?;
    let colon = progname.iter().position(|&c| c == b':')?;
    progname.get(colon + 1..)?.strip_prefix(b" ")
}

/// The line Rails logs for an exception (`ActiveRecord::RecordNotFound
/// (Couldn't find Cart with 'id'=5):`, `NoMethodError (undefined method
/// 'x' for nil):`): a class name (letters, digits, `_`, `::`) that is
/// namespaced or ends in `Error` or `Exception`, ` (`, its message and `):`,
/// on one line.
fn rails_exception(s: &[u8]) -> bool {
    let len = s
        .iter()
        .position(|&c| !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b':')))
        .unwrap_or(s.len());
    let Some((name, after)) = s.split_at_checked(len) else {
        return false;
    };
    let line = after.trim_ascii_end();
    !name.is_empty()
        && line.starts_with(b" (")
        && line.ends_with(b"):")
        && (memmem::find(name, b"::").is_some()
            || name.ends_with(b"Error")
            || name.ends_with(b"Exception"))
        && !line.contains(&b'\n')
}

/// The rest of a Ruby backtrace line after the quote that opens its method,
/// when `s` starts with the location: a path, `:`, a line number, `:in `,
/// and `` ` `` (before Ruby 3.4) or `'` (`/app/x.rb:12:in 'Foo#bar'`,
/// `` app/models/cart.rb:7:in `block in save' ``). The path is a word of
/// its own.
fn ruby_location(s: &[u8]) -> Option<&[u8]> {
    let word_len = s.iter().position(u8::is_ascii_whitespace)?;
    let (word, rest) = s.split_at_checked(word_len)?;
    let place = word.strip_suffix(b":in")?;
    let colon = place.iter().rposition(|&c| c == b':')?;
    let (path, number) = (place.get(..colon)?, place.get(colon + 1..)?);
    if path.is_empty() || number.is_empty() || !number.iter().all(u8::is_ascii_digit) {
        return None;
    }
    match rest.strip_prefix(b" ")?.split_first()? {
        (b'`' | b'\'', method) => Some(method),
        _ => None,
    }
}

/// A Ruby backtrace line: a location whose method's name closes the line
/// (`/app/x.rb:12:in 'Foo#bar'`), with no other line after it in the record.
fn ruby_frame(s: &[u8]) -> bool {
    ruby_location(s.trim_ascii_end())
        .is_some_and(|method| method.ends_with(b"'") && !method.contains(&b'\n'))
}

/// The first line Ruby prints for an exception nothing rescued: a location,
/// the message and the class (`/app/x.rb:12:in 'Db#connect': db down
/// (RuntimeError)`), on one line.
fn ruby_uncaught(s: &[u8]) -> bool {
    ruby_location(s.trim_ascii_end()).is_some_and(|after| {
        after.ends_with(b")") && !after.contains(&b'\n') && memmem::find(after, b"': ").is_some()
    })
}

/// The bytes of a class name: ASCII letters and digits, `_`, `$`, `.` (one
/// load a byte, where the tests were a few compares). Indexed at compile
/// time, where an index out of bounds fails the build.
#[allow(clippy::indexing_slicing)]
const CLASS_NAME_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        table[c] = b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'.');
        c += 1;
    }
    table
};

/// An exception's class line, `rest` from its first byte after spaces and
/// tabs: a class name (ASCII letters, digits, `_`, `$` and dots, starting
/// with a letter or `_`) that ends in `Exception` or `Error`, alone or
/// followed by `:` and a message on the same line (`java.lang.
/// NullPointerException`, `org.x.DataAccessException: db down`, Python's
/// `ValueError: bad`). `Error` alone is no class name here: `Error: ...` is
/// Node.js's first line of a trace and many a program's error line. Only
/// the name's bytes are read on other lines, and it is short or stops at the
/// first other byte (`2024-05-01`, `INFO`, `level=`).
fn exception_class_line(rest: &[u8]) -> bool {
    if !rest
        .first()
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
    {
        return false;
    }
    let len = rest
        .iter()
        .position(|&c| {
            !CLASS_NAME_BYTES
                .get(usize::from(c))
                .copied()
                .unwrap_or(false)
        })
        .unwrap_or(rest.len());
    let Some((name, after)) = rest.split_at_checked(len) else {
        return false;
    };
    if !(name.ends_with(b"Exception") || name.ends_with(b"Error")) || name == b"Error" {
        return false;
    }
    match after.trim_ascii_end().split_first() {
        None => true,
        // A message on the same line: a trace joined into one record
        // upstream is a line of its own.
        Some((b':', message)) => {
            message.first().is_none_or(u8::is_ascii_whitespace) && !message.contains(&b'\n')
        }
        Some(_) => false,
    }
}

/// `goroutine 7 [running]:` (Go 1.21 and later may put `gp=... m=...`
/// before the bracket).
fn goroutine_header(rest: &[u8]) -> bool {
    let Some(after) = rest.strip_prefix(b"goroutine ") else {
        return false;
    };
    after.first().is_some_and(u8::is_ascii_digit) && after.trim_ascii_end().ends_with(b"]:")
}

/// A Go function line of a trace: `main.main()`, `main.f(...)`,
/// `net/http.(*conn).serve(0xc000a8000, {0x6e0c48, 0x1})`,
/// `panic({0x45cc40?, 0x4fe680?})`.
fn go_function_line(rest: &[u8]) -> bool {
    let line = rest.trim_ascii_end();
    let Some(inner) = line.strip_suffix(b")") else {
        return false;
    };
    let Some(open) = inner.iter().position(|&c| c == b'(') else {
        return false;
    };
    let name = inner.get(..open).unwrap_or_default();
    if name.iter().any(u8::is_ascii_whitespace) || !(name.contains(&b'.') || name == b"panic") {
        return false;
    }
    let args_from = inner.iter().rposition(|&c| c == b'(').map_or(0, |p| p + 1);
    let args = inner.get(args_from..).unwrap_or_default();
    args.is_empty() || args == b"..." || args.starts_with(b"0x") || args.starts_with(b"{")
}

/// A package-qualified Go function name starts `f` (`main.main`,
/// `net/http.(*Server).Serve in goroutine 1`): its first word holds a `.`.
fn qualified_name(f: &[u8]) -> bool {
    let word = f.split(u8::is_ascii_whitespace).next().unwrap_or_default();
    word.first()
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
        && word.contains(&b'.')
}

#[cfg(test)]
mod tests {
    use super::*;
    use TraceLine::*;

    #[test]
    fn continuation_lines_of_stack_traces() {
        let cases: &[(&str, TraceLine)] = &[
            // Java (logback, log4j2, printStackTrace).
            ("\tat com.example.Layer1.call(Layer1.java:12)", Continuation),
            ("\tat java.base/java.lang.Thread.run(Thread.java:1583) [na:na]", Continuation),
            ("    at com.example.Cart.save(Cart.java:40) ~[app.jar:1.0]", Continuation),
            ("\t... 12 more", Continuation),
            ("\t... 58 common frames omitted", Continuation),
            ("Caused by: java.net.ConnectException: Connection refused", Continuation),
            ("\tCaused by: java.io.IOException: x", Continuation),
            ("\tSuppressed: java.io.IOException: close failed", Continuation),
            ("\t\t... 3 more\n", Continuation),
            // The exception's class line, after the logger's line that
            // reported it (.NET's logger indents it).
            ("java.lang.NullPointerException: boom", Continuation),
            (
                "org.springframework.dao.DataAccessResourceFailureException: db down",
                Continuation,
            ),
            ("java.lang.IllegalStateException: boom\n", Continuation),
            ("java.lang.NullPointerException", Continuation),
            ("java.lang.OutOfMemoryError: Java heap space", Continuation),
            ("com.example.Cart$CheckoutException: empty cart", Continuation),
            ("kotlin.UninitializedPropertyAccessException:", Continuation),
            ("      System.InvalidOperationException: boom", Continuation),
            ("\tjava.io.IOException: x\r\n", Continuation),
            // The lines that report it are lines of their own.
            (
                "Exception in thread \"main\" java.lang.IllegalStateException: boom",
                Own,
            ),
            (
                "2024-05-01 10:00:00.123 ERROR 1 --- [nio-8080-exec-1] o.a.c.c.C.[dispatcherServlet] : Servlet.service() threw exception",
                Own,
            ),
            // A trace joined into one record upstream is one line.
            ("java.lang.IllegalStateException: boom\n\tat a.B.c(B.java:1)", Own),
            ("java.lang.IllegalStateException:\nboom", Own),
            // Python. The header and the exception's line close a
            // traceback that the logger's line reported.
            ("Traceback (most recent call last):", Continuation),
            ("Traceback (most recent call last):\r\n", Continuation),
            (
                "Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>",
                Own,
            ),
            ("  File \"/app/worker.py\", line 10, in <module>", Continuation),
            ("    File \"/usr/lib/python3.12/x.py\", line 3, in f", Continuation),
            ("    raise PaymentException(reply)", MaybeSource),
            ("    return self.handle(request)\n", MaybeSource),
            ("    ~~~~~~~~~~~~^^^^^^^^^", Continuation),
            ("        ^^^^^^", Continuation),
            ("  [Previous line repeated 996 more times]", Continuation),
            (
                "During handling of the above exception, another exception occurred:",
                Continuation,
            ),
            (
                "The above exception was the direct cause of the following exception:",
                Continuation,
            ),
            ("ValueError: bad", Continuation),
            ("KeyError: 'cart'", Continuation),
            ("Exception: boom", Continuation),
            ("ConnectionRefusedError: [Errno 111] Connection refused", Continuation),
            ("psycopg2.OperationalError: db down", Continuation),
            (
                "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='x', port=443)",
                Continuation,
            ),
            ("ValueError:x", Own),
            ("ValueError is not raised", Own),
            ("ValueError(\"x\")", Own),
            // Go.
            ("panic: runtime error: index out of range [5] with length 3", Own),
            ("goroutine 1 [running]:", Continuation),
            ("goroutine 18 [chan receive, 2 minutes]:\n", Continuation),
            ("goroutine 1 gp=0xc000002380 m=0 mp=0x5d8a20 [running]:", Continuation),
            ("main.main()", Continuation),
            ("main.process(...)", Continuation),
            ("runtime/debug.Stack()", Continuation),
            (
                "net/http.(*conn).serve(0xc0000a8000, {0x6e0c48, 0xc000066120})",
                Continuation,
            ),
            ("panic({0x45cc40?, 0x4fe680?})", Continuation),
            ("\t/usr/local/go/src/runtime/panic.go:770 +0x132", Continuation),
            ("\t/app/main.go:12 +0x1d", Continuation),
            ("created by net/http.(*Server).Serve in goroutine 1", Continuation),
            ("created by main.main", Continuation),
            (
                "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x48f4a3]",
                Continuation,
            ),
            ("\tpanic: db down", Continuation),
            ("panic: db down [recovered]", Own),
            ("\t\tpanic: x", Own),
            ("  panic: x", Own),
            // Ruby: backtrace lines, bare (`e.backtrace`) or after `from`
            // (an exception nothing rescued), in both quotings.
            ("\tfrom /app/x.rb:12:in 'foo'", Continuation),
            ("\tfrom /app/x.rb:12:in `foo'", Continuation),
            ("/app/x.rb:12:in `block in foo'", Continuation),
            ("/app/x.rb:12:in 'Foo#bar'\n", Continuation),
            ("app/controllers/cart_controller.rb:7:in `show'", Continuation),
            ("<internal:kernel>:187:in 'Kernel#loop'", Continuation),
            (
                "  /usr/local/bundle/gems/rack-3.0.8/lib/rack/builder.rb:12:in `call'",
                Continuation,
            ),
            ("\t ... 5 levels...", Continuation),
            // Its first line when nothing rescued it: the error.
            ("/app/x.rb:12:in 'foo': boom (RuntimeError)", Crash),
            (
                "/app/x.rb:12:in `foo': undefined method `x' for nil (NoMethodError)\r\n",
                Crash,
            ),
            ("from /app/x.rb:12:in 'foo'", Own),
            ("\tfrom here on, retry", Own),
            ("/app/x.rb:12:in foo", Own),
            ("/app/x.rb:12:in '", Own),
            ("x.rb:in 'foo'", Own),
            ("/app/x.rb:a:in 'foo'", Own),
            (":12:in 'foo'", Own),
            ("/app/x.rb:12:in 'foo'\n\tfrom /app/y.rb:1:in 'bar'", Own),
            ("/app/x.rb:12:in 'foo': boom", Own),
            ("\t/app/x.rb:12:in 'foo': boom (RuntimeError)", Own),
            // Rust: a panic's first line is the error; the backtrace
            // (`RUST_BACKTRACE=1` or `full`) and the closing note continue it.
            ("thread 'main' panicked at src/main.rs:2:5:", Crash),
            (
                "thread 'tokio-runtime-worker' panicked at 'db down', src/db.rs:12:5",
                Crash,
            ),
            ("thread '<unnamed>' panicked at src/lib.rs:1:1:\n", Crash),
            ("stack backtrace:", Continuation),
            ("   0: rust_begin_unwind", Continuation),
            ("  12: worker::layer12::call", Continuation),
            (" 123: std::rt::lang_start", Continuation),
            (
                "   0:     0x55d0c5d0b0f0 - std::backtrace_rs::backtrace::libunwind::trace::h5a1b",
                Continuation,
            ),
            (
                "             at /rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/std/src/panicking.rs:665:5",
                Continuation,
            ),
            (
                "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
                Continuation,
            ),
            (
                "note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.",
                Continuation,
            ),
            ("thread 'main' started", Own),
            ("thread main panicked at x", Own),
            ("  thread 'main' panicked at x", Own),
            ("note: disk almost full", Own),
            ("stack backtrace: none", Own),
            ("  0: x", Own),
            ("    0: x", Continuation),
            ("   0:x", Own),
            ("\t  0: x", Own),
            ("   a: x", Own),
            // Node.js and .NET.
            ("Error: db down", Own),
            ("Error", Own),
            ("    at Layer0 (/app/src/layer.js:1:2)", Continuation),
            ("    at async Promise.all (index 0)", Continuation),
            ("    at Object.<anonymous> (/app/index.js:1:7)", Continuation),
            (
                "   at Shop.Cart.Save() in /src/Cart.cs:line 42",
                Continuation,
            ),
            ("--- End of stack trace from previous location ---", Continuation),
            ("   --- End of inner exception stack trace ---", Continuation),
            // Node.js's uncaught exception around its `Error: ...`.
            ("/app/server.js:12", Continuation),
            ("node:internal/process/promises:289\n", Continuation),
            ("file:///app/server.mjs:3", Continuation),
            ("^", Continuation),
            ("Node.js v20.11.0", Continuation),
            ("/app/server.js", Own),
            ("/app/server.js:12 started", Own),
            ("/:12", Own),
            ("node::12", Own),
            ("nodes:12", Own),
            ("file:///:3", Own),
            ("Node.js v20 started", Own),
            ("Node.js version 20", Own),
            // Python's exception groups.
            ("  + Exception Group Traceback (most recent call last):", Continuation),
            ("  | ExceptionGroup: batch failed (2 sub-exceptions)", Continuation),
            ("      | ValueError: x", Continuation),
            ("  |", Continuation),
            ("  +-+---------------- 1 ----------------", Continuation),
            ("    +------------------------------------", Continuation),
            ("   | odd indentation", Own),
            ("\t| a tab", Own),
            ("  |x", Own),
            ("  + added", Own),
            ("  +-", Own),
            ("| at the margin", Own),
            // anyhow and eyre.
            ("Caused by:", Continuation),
            ("  Caused by:\r\n", Continuation),
            ("Caused by:x", Own),
            ("    1: Connection refused (os error 111)", Continuation),
            ("   12: x y", Continuation),
            ("Stack backtrace:", Continuation),
            ("Location:", Continuation),
            ("Location: eu-west-1", Own),
            // Rust frames are symbols; numbered lists are not.
            ("   1: first step done", Own),
            ("   3: <F as core::future::future::Future>::poll", Continuation),
            ("   4: std::rt::lang_start::{{closure}}", Continuation),
            ("   5: ", Own),
            // Go.
            ("runtime stack:", Continuation),
            ("exit status 2", Continuation),
            ("exit status", Own),
            ("exit status 2 of 3", Own),
            ("...additional frames elided...", Continuation),
            ("...12 frames elided...", Continuation),
            ("... frames elided...", Continuation),
            ("...frames elided...", Own),
            ("runtime stack: 3", Own),
            // Rails.
            (
                "F, [2026-05-01T10:00:00.123456 #1] FATAL -- : [a1b2c3] app/controllers/x.rb:12:in 'show'",
                Continuation,
            ),
            ("E, [2026-05-01T10:00:00.123456 #1] ERROR -- web: [a] [b]  ", Continuation),
            ("I, [2026-05-01T10:00:00.123456 #1]  INFO -- : ", Continuation),
            ("[a1b2c3] app/controllers/x.rb:12:in `show'", Continuation),
            ("[a1b2c3] [u-5]   ", Continuation),
            ("[a1b2c3] ActiveRecord::RecordNotFound (Couldn't find Cart with 'id'=5):", Crash),
            ("NoMethodError (undefined method 'x' for nil):", Crash),
            ("ActionController::RoutingError (No route matches [GET] \"/x\"):", Crash),
            (
                "F, [2026-05-01T10:00:00.123456 #1] FATAL -- : [a1b2c3] ActiveRecord::RecordNotFound (x):",
                Own,
            ),
            ("F, [2026-05-01T10:00:00.123456 #1] FATAL -- : [a1b2c3] boom", Own),
            ("F, [x] FATAL -- : [a]x app/x.rb:1:in 'f'", Own),
            ("[a1b2c3]x app/x.rb:12:in 'show'", Own),
            ("[a1b2c3] [b app/x.rb:12:in 'show'", Own),
            ("[worker] started", Own),
            ("Processing (batch 5):", Own),
            ("Cart (5 items):", Own),
            ("  NoMethodError (x):", Own),
            // Blank lines (Python's between chained tracebacks, Go's after
            // `panic:`, any other).
            ("", Blank),
            ("    ", Blank),
            ("\t", Blank),
            ("\n", Blank),
            (" \t \r\n", Blank),
            ("\u{c}", Blank),
            // Not continuations.
            ("\r\nx", Own),
            (" \u{b}", Own),
            ("\u{a0}", Own),
            ("at the door", Own),
            ("  at ", Own),
            ("    INFO worker started", MaybeSource),
            ("     five spaces", Own),
            ("   three spaces", Own),
            ("\tindented by a tab", Own),
            (
                "      Request finished HTTP/1.1 GET http://localhost:5000/api - 500 - text/plain 12.3ms",
                Own,
            ),
            ("\t/etc/config.yaml loaded", Own),
            ("  /app/main.go:12", Own),
            ("goroutine leak suspected in worker", Own),
            ("goroutine 5 started", Own),
            ("created by user alice", Own),
            ("ERROR: db down", Own),
            ("uvicorn.error: started", Own),
            ("app.Exceptions: 3", Own),
            ("Errors: 3", Own),
            ("_Error: x", Continuation),
            ("9Error: x", Own),
            ("Caused by nothing", Own),
            ("Order.created(id=5)", Own),
            ("main.main() returned", Own),
            ("started main loop()", Own),
            ("cart (v2)", Own),
            ("[signal] reload", Own),
            ("\t... more to come", Own),
            ("^^^ look above", Own),
            ("  ^^ x", Own),
            ("2024-05-01 10:00:00 INFO GET /x 200", Own),
            ("{\"level\":\"error\"}", Own),
            ("I0501 10:00:00.000000       1 main.go:1] started", Own),
        ];
        let wrong: Vec<String> = cases
            .iter()
            .filter(|(line, want)| classify(line) != *want)
            .map(|(line, want)| format!("{line:?}: {:?}, not {want:?}", classify(line)))
            .collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn never_panics_on_odd_text() {
        for line in [
            "(",
            ")",
            "()",
            "a)",
            "a.()",
            "a.b(",
            ".)",
            "goroutine ",
            "goroutine 1",
            "created by ",
            "\t/",
            "\t/.go:",
            " at",
            " ...",
            " ... ",
            "é(",
            "é.x()",
            "\u{0}",
            ":in '",
            "x:1:in",
            "x:1:in ",
            "x:1:in '",
            ":1:in ''",
            "\tfrom ",
            "\tfrom x:1:in '",
            "thread '",
            "thread '' panicked at ",
            "note: ",
            " 1",
            "   1",
            "   1:",
            "é:1:in 'é'",
            "Error",
            "Exception:",
            "Exception:\n",
            "Traceback (most recent call last):",
            ":1",
            "/:",
            "node:",
            "file:///",
            "^~",
            "Node.js v",
            "  |",
            "  +",
            "    1: ",
            "   1:",
            "exit status ",
            "......",
            "[",
            "[]",
            "[] ",
            "[a",
            "F, [",
            "F, [] ",
            "F, [] X -- ",
            "F, [] X -- :",
            "F, [] X -- : [",
            "A (",
            "A ():",
            "A::B (",
        ] {
            let _ = classify(line);
        }
    }
}
