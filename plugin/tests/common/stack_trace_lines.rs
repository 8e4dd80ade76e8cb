//! How languages print a failure one line a record: the lines a container
//! log holds for one failure, its stack trace printed after the line that
//! reports it (or starting with its own first line). Shared by
//! `stack_traces.rs` and, through `#[path]`, by the cross-crate tests'
//! `stack_traces` streams (the `.wasm` filter, the Vector pipeline).

#![allow(dead_code)]

/// A language's way of printing a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trace {
    /// The line that reports it, nothing after.
    OneLine,
    /// logback / log4j2 after the logger's line: the exception's class
    /// line, the frames, a cause, `... N more`.
    Java,
    /// An exception no code caught, in a Java thread: `Exception in thread
    /// "main" ...` instead of a logger's line, then the frames.
    JavaUncaught,
    /// Python's `logger.exception` after the logger's line: a traceback
    /// (frames with their source lines and carets) ending in the exception
    /// it caught, a blank line, the sentence that chains them, another
    /// blank line, and the traceback of the exception raised (its frames,
    /// its qualified class line).
    Python,
    /// Go after a `recover()`: the logger's line, then `debug.Stack()`.
    Go,
    /// A Go panic nothing recovered: `panic: ...` instead of a logger's line,
    /// a blank line, the goroutine's frames.
    GoPanic,
    /// Node.js `console.error(err)`: `Error: ...` instead of a logger's
    /// line, then the frames.
    Node,
    /// Ruby after the logger's line: `e.backtrace`, a location a line, in
    /// both quotings (`` `name' `` before Ruby 3.4, `'name'` since).
    Ruby,
    /// An exception no Ruby code rescued: `path:line:in 'name': message
    /// (Class)` instead of a logger's line, then `\tfrom path:line:in
    /// 'name'` lines.
    RubyUncaught,
    /// A Rust panic with `RUST_BACKTRACE=1`: `thread 'main' panicked at
    /// ...:` instead of a logger's line, the panic's message on a line of
    /// its own, `stack backtrace:`, the numbered frames with their `at`
    /// lines, the closing `note:`.
    RustPanic,
    /// An exception Node.js 20 did not catch: where it was thrown
    /// (`/app/server.js:12`), its source line, a caret, a blank line, then
    /// `Error: ...` (the error) and its frames, a blank line and `Node.js
    /// v20.11.0`.
    NodeUncaught,
    /// Python's `logger.exception` of an exception group (3.11 and later):
    /// the group's traceback behind `  | `, its sub-exceptions between
    /// rules (`  +-+---------------- 1 ----------------`).
    PythonGroup,
    /// anyhow's report of an error returned from `main` with
    /// `RUST_BACKTRACE=1`: `Error: ...` instead of a logger's line, `Caused
    /// by:` and the numbered causes, `Stack backtrace:` and its frames.
    RustAnyhow,
    /// eyre's report: `Error: ...`, the numbered causes, `Location:` and
    /// the place.
    RustEyre,
    /// A Go fatal error: `fatal error: ...` instead of a logger's line, the
    /// runtime's stack, the goroutines (frames elided in one), `go run`'s
    /// `exit status 2`.
    GoFatal,
    /// net/http's recovered panic: `http: panic serving ...` (the standard
    /// logger's time before it) instead of a logger's line, then the
    /// goroutine's stack.
    GoHttpPanic,
    /// Rails 5.0's exception log: a blank line, the exception's line, a
    /// blank line and each frame, all logged at `FATAL` by Ruby's `Logger`
    /// with the request's tag, in place of a logger's line.
    Rails5,
    /// Rails 7's: one `FATAL` record whose lines after the first (a blank
    /// one) carry only the request's tag: the exception's line (the error),
    /// a blank line, the frames.
    Rails7,
}

impl Trace {
    /// Every way of printing a trace after (or instead of) the line that
    /// reports the failure: all but [`Trace::OneLine`].
    pub const TRACES: [Trace; 17] = [
        Trace::Java,
        Trace::JavaUncaught,
        Trace::Python,
        Trace::Go,
        Trace::GoPanic,
        Trace::Node,
        Trace::Ruby,
        Trace::RubyUncaught,
        Trace::RustPanic,
        Trace::NodeUncaught,
        Trace::PythonGroup,
        Trace::RustAnyhow,
        Trace::RustEyre,
        Trace::GoFatal,
        Trace::GoHttpPanic,
        Trace::Rails5,
        Trace::Rails7,
    ];

    /// Whether the trace's other lines say nothing of their own, so that it
    /// counts exactly as [`Trace::OneLine`] does. Not so for a Rust panic:
    /// its message is a line of its own, whatever it says.
    pub fn only_continues(self) -> bool {
        self != Trace::RustPanic
    }

    /// The index in [`failure`]'s lines of the line that reports the
    /// failure, the one error: the first but where a runtime prints lines
    /// before it (Node.js's place of the throw, Rails' blank line).
    pub fn reporting_line(self) -> usize {
        match self {
            Trace::NodeUncaught => 4,
            Trace::Rails5 | Trace::Rails7 => 1,
            _ => 0,
        }
    }
}

/// Rails' request tag and Ruby's `Logger` prefix at `FATAL`.
const RAILS_FATAL: &str = "F, [2026-05-01T10:00:00.123456 #1] FATAL -- : [a1b2c3d4-req] ";

/// The lines that log one failure reported by `first` (an error line), with
/// `frames` frames. The traces that print a first line of their own put it
/// in place of `first`.
pub fn failure(trace: Trace, first: &str, frames: usize) -> Vec<String> {
    let mut lines = vec![first.to_owned()];
    let mut replace_first = |line: &str| {
        if let Some(l) = lines.first_mut() {
            *l = line.to_owned();
        }
    };
    // Both quotings, the frames alternating (`k % 2` in a match: the two
    // crates that include this file disagree on `is_multiple_of`'s MSRV).
    let rails_frame = |k: usize| match k % 2 {
        0 => format!("app/models/layer{k}.rb:{k}:in `block in call'"),
        _ => format!("app/controllers/layer{k}_controller.rb:{k}:in 'Layer{k}Controller#show'"),
    };
    match trace {
        Trace::OneLine => {}
        Trace::Java => {
            lines
                .push("org.springframework.dao.DataAccessResourceFailureException: db down".into());
            lines.extend(
                (0..frames).map(|k| format!("\tat com.example.Layer{k}.call(Layer{k}.java:{k})")),
            );
            lines.push("Caused by: java.net.ConnectException: Connection refused".into());
            lines.push("\tat java.base/sun.nio.ch.Net.connect0(Native Method)".into());
            lines.push(format!("\t... {frames} more"));
        }
        Trace::JavaUncaught => {
            replace_first("Exception in thread \"main\" java.lang.IllegalStateException: db down");
            lines.extend(
                (0..frames).map(|k| format!("\tat com.example.Layer{k}.call(Layer{k}.java:{k})")),
            );
        }
        Trace::Python => {
            lines.push("Traceback (most recent call last):".into());
            lines.push("  File \"/app/worker/db.py\", line 7, in connect".into());
            lines.push("    sock.connect(addr)".into());
            lines.push("ConnectionRefusedError: [Errno 111] Connection refused".into());
            lines.push(String::new());
            lines
                .push("During handling of the above exception, another exception occurred:".into());
            lines.push(String::new());
            lines.push("Traceback (most recent call last):".into());
            for k in 0..frames {
                lines.push(format!(
                    "  File \"/app/worker/layer{k}.py\", line {k}, in call"
                ));
                lines.push(format!("    return layer{}.call(msg)", k + 1));
            }
            lines.push("    raise OperationalException(\"db down\")".into());
            lines.push("    ~~~~~^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^".into());
            lines.push("psycopg2.OperationalError: db down".into());
        }
        Trace::Go => {
            lines.push("goroutine 42 [running]:".into());
            lines.push("runtime/debug.Stack()".into());
            lines.push("\t/usr/local/go/src/runtime/debug/stack.go:26 +0x5e".into());
            for k in 0..frames {
                lines.push(format!(
                    "main.layer{k}(0xc000120000, {{0x6e0c48, 0xc000066120}})"
                ));
                lines.push(format!("\t/app/layer{k}.go:{k} +0x1d"));
            }
            lines.push("created by main.main in goroutine 1".into());
            lines.push("\t/app/main.go:12 +0x23".into());
        }
        Trace::GoPanic => {
            replace_first("panic: db down [recovered]");
            lines.push("\tpanic: db down".into());
            lines.push(String::new());
            lines.push("goroutine 1 [running]:".into());
            lines.push("panic({0x45cc40?, 0x4fe680?})".into());
            lines.push("\t/usr/local/go/src/runtime/panic.go:770 +0x132".into());
            for k in 0..frames {
                lines.push(format!("main.layer{k}(...)"));
                lines.push(format!("\t/app/layer{k}.go:{k} +0x1d"));
            }
            lines.push("main.main()".into());
            lines.push("\t/app/main.go:12 +0x23".into());
        }
        Trace::Node => {
            replace_first("Error: db down");
            lines.extend(
                (0..frames).map(|k| format!("    at Layer{k}.call (/app/src/layer{k}.js:{k}:7)")),
            );
            lines.push("    at Object.<anonymous> (/app/index.js:1:7)".into());
        }
        Trace::Ruby => {
            for k in 0..frames {
                lines.push(if k % 2 == 0 {
                    format!("/app/lib/layer{k}.rb:{k}:in `block in call'")
                } else {
                    format!("/app/lib/layer{k}.rb:{k}:in 'Layer{k}#call'")
                });
            }
        }
        Trace::RubyUncaught => {
            replace_first("/app/lib/db.rb:12:in 'Db#connect': db down (RuntimeError)");
            lines.extend(
                (0..frames).map(|k| format!("\tfrom /app/lib/layer{k}.rb:{k}:in 'Layer{k}#call'")),
            );
            lines.push("\tfrom /app/main.rb:3:in '<main>'".into());
        }
        Trace::RustPanic => {
            replace_first("thread 'main' panicked at src/db.rs:12:5:");
            lines.push("db down".into());
            lines.push("stack backtrace:".into());
            lines.push("   0: rust_begin_unwind".into());
            lines.push(
                "             at /rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/std/src/panicking.rs:665:5"
                    .into(),
            );
            for k in 1..=frames {
                lines.push(format!("{k:4}: worker::layer{k}::call"));
                lines.push(format!("             at ./src/layer{k}.rs:{k}:9"));
            }
            lines.push(
                "note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace."
                    .into(),
            );
        }
        Trace::NodeUncaught => {
            replace_first("/app/src/db.js:12");
            lines.push("    throw new Error('db down');".into());
            lines.push("    ^".into());
            lines.push(String::new());
            lines.push("Error: db down".into());
            lines.extend(
                (0..frames).map(|k| format!("    at Layer{k}.call (/app/src/layer{k}.js:{k}:7)")),
            );
            lines.push("    at node:internal/main/run_main_module:28:49".into());
            lines.push(String::new());
            lines.push("Node.js v20.11.0".into());
        }
        Trace::PythonGroup => {
            lines.push("  + Exception Group Traceback (most recent call last):".into());
            for k in 0..frames {
                lines.push(format!(
                    "  |   File \"/app/worker/layer{k}.py\", line {k}, in call"
                ));
                lines.push(format!("  |     return layer{}.call(msg)", k + 1));
            }
            lines.push("  |     raise ExceptionGroup(\"batch failed\", errors)".into());
            lines.push("  | ExceptionGroup: batch failed (2 sub-exceptions)".into());
            lines.push("  +-+---------------- 1 ----------------".into());
            lines.push("    | Traceback (most recent call last):".into());
            lines.push("    |   File \"/app/worker/db.py\", line 7, in connect".into());
            lines.push("    |     sock.connect(addr)".into());
            lines.push("    |     ~~~~~~~~~~~~^^^^^^".into());
            lines.push("    | ConnectionRefusedError: [Errno 111] Connection refused".into());
            lines.push("    +---------------- 2 ----------------".into());
            lines.push("    | ValueError: order 5 failed: db error".into());
            lines.push("    +------------------------------------".into());
        }
        Trace::RustAnyhow => {
            replace_first("Error: connect failed");
            lines.push(String::new());
            lines.push("Caused by:".into());
            lines.push("    0: tcp connect error".into());
            lines.push("    1: Connection refused (os error 111)".into());
            lines.push(String::new());
            lines.push("Stack backtrace:".into());
            lines.push("   0: anyhow::error::<impl anyhow::Error>::msg".into());
            lines.push("             at /usr/local/cargo/registry/src/index.crates.io-6f17d22bba15001f/anyhow-1.0.86/src/error.rs:83:36".into());
            for k in 1..=frames {
                lines.push(format!("{k:4}: worker::layer{k}::call"));
                lines.push(format!("             at ./src/layer{k}.rs:{k}:9"));
            }
            lines.push(format!(
                "{:4}: <F as core::future::future::Future>::poll",
                frames + 1
            ));
        }
        Trace::RustEyre => {
            replace_first("Error: connect failed");
            lines.push(String::new());
            lines.push("Caused by:".into());
            lines.extend((0..frames).map(|k| format!("{k:5}: layer {k} failed")));
            lines.push(String::new());
            lines.push("Location:".into());
            lines.push("    src/main.rs:12:5".into());
        }
        Trace::GoFatal => {
            replace_first("fatal error: runtime: out of memory");
            lines.push(String::new());
            lines.push("runtime stack:".into());
            lines.push("runtime.throw({0x4b8a0e?, 0x0?})".into());
            lines.push(
                "\t/usr/local/go/src/runtime/panic.go:1023 +0x5c fp=0x7ffd2c1b1c58 sp=0x7ffd2c1b1c28 pc=0x43a3bc"
                    .into(),
            );
            lines.push(String::new());
            lines.push("goroutine 1 gp=0xc000002380 m=0 mp=0x5d8a20 [running]:".into());
            for k in 0..frames {
                lines.push(format!("main.layer{k}(...)"));
                lines.push(format!("\t/app/layer{k}.go:{k} +0x1d"));
            }
            lines.push("...additional frames elided...".into());
            lines.push(String::new());
            lines.push("goroutine 7 [chan receive, 5 minutes]:".into());
            lines.push("main.worker(0xc00001c0c0)".into());
            lines.push("\t/app/worker.go:8 +0x31".into());
            lines.push("...12 frames elided...".into());
            lines.push("created by main.main in goroutine 1".into());
            lines.push("\t/app/main.go:17 +0x45".into());
            lines.push("exit status 2".into());
        }
        Trace::GoHttpPanic => {
            replace_first("2024/05/01 10:00:00 http: panic serving 10.0.0.1:54321: runtime error: invalid memory address or nil pointer dereference");
            lines.push("goroutine 7 [running]:".into());
            lines.push("net/http.(*conn).serve.func1()".into());
            lines.push("\t/usr/local/go/src/net/http/server.go:1898 +0xbe".into());
            lines.push("panic({0x6c5e40?, 0x9a2a70?})".into());
            lines.push("\t/usr/local/go/src/runtime/panic.go:770 +0x132".into());
            for k in 0..frames {
                lines.push(format!(
                    "main.layer{k}(0xc000120000, {{0x6e0c48, 0xc000066120}})"
                ));
                lines.push(format!("\t/app/layer{k}.go:{k} +0x1d"));
            }
            lines.push("net/http.(*conn).serve(0xc0000a8000, {0x6e0c48, 0xc000066120})".into());
            lines.push("\t/usr/local/go/src/net/http/server.go:2039 +0x8a5".into());
            lines.push("created by net/http.(*Server).Serve in goroutine 1".into());
            lines.push("\t/usr/local/go/src/net/http/server.go:3285 +0x4b4".into());
        }
        Trace::Rails5 => {
            replace_first(&format!("{RAILS_FATAL}  "));
            lines.push(format!(
                "{RAILS_FATAL}ActiveRecord::RecordNotFound (Couldn't find Cart with 'id'=5):"
            ));
            lines.push(format!("{RAILS_FATAL}  "));
            lines.extend((0..frames).map(|k| format!("{RAILS_FATAL}{}", rails_frame(k))));
        }
        Trace::Rails7 => {
            replace_first(&format!("{RAILS_FATAL}  "));
            lines.push(
                "[a1b2c3d4-req] ActiveRecord::RecordNotFound (Couldn't find Cart with 'id'=5):"
                    .into(),
            );
            lines.push("[a1b2c3d4-req]   ".into());
            lines.extend((0..frames).map(|k| format!("[a1b2c3d4-req] {}", rails_frame(k))));
        }
    }
    lines
}
