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
}

impl Trace {
    /// Every way of printing a trace after (or instead of) the line that
    /// reports the failure: all but [`Trace::OneLine`].
    pub const TRACES: [Trace; 9] = [
        Trace::Java,
        Trace::JavaUncaught,
        Trace::Python,
        Trace::Go,
        Trace::GoPanic,
        Trace::Node,
        Trace::Ruby,
        Trace::RubyUncaught,
        Trace::RustPanic,
    ];

    /// Whether the trace's other lines say nothing of their own, so that it
    /// counts exactly as [`Trace::OneLine`] does. Not so for a Rust panic:
    /// its message is a line of its own, whatever it says.
    pub fn only_continues(self) -> bool {
        self != Trace::RustPanic
    }
}

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
    }
    lines
}
