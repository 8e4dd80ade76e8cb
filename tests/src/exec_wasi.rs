//! A Fluent Bit 4.2 `exec_wasi` input stand-in: runs a WASI program in
//! wasmtime and turns what it prints into records exactly the way Fluent Bit
//! (through WAMR 2.4.1) does.
//!
//! Replicated from Fluent Bit v4.2.8, `plugins/in_exec_wasi/in_exec_wasi.c`,
//! `in_exec_wasi_collect`, once per `interval_sec`:
//!
//! - stdout goes to a fresh `tmpfile()`; `flb_wasm_instantiate` makes a new
//!   instance each time (nothing carries over from one run to the next) with
//!   `accessible_paths` as WASI preopens, no arguments and no environment
//!   (`wasm_runtime_set_wasi_args_ex(module, dirs, n, NULL, 0, NULL, 0, NULL,
//!   0, ...)`), and `flb_wasm_call_wasi_main` runs `_start`;
//! - then the file is read back with `fgets(buf, buf_size)`: a line longer
//!   than `buf_size - 1` bytes arrives in pieces, each piece a line of its
//!   own; a trailing `\n` is chomped;
//! - with a parser, each piece goes through it (here the `json` format: a
//!   JSON object becomes the record's body; anything else is "parser returned
//!   an error" and no record); the record's time is the parser's, or now.
//!
//! What the program writes to stderr goes to Fluent Bit's log; it is kept
//! here for tests. The module is compiled once per test process (the filter
//! harness's cache); Fluent Bit reads and loads it on every run, which
//! changes nothing a run can see.

use std::path::{Path, PathBuf};
use std::time::Duration;

use wasmtime::{Linker, Store};

use crate::fluentbit_harness::{self, FLB_WASM_DEFAULT_SIZE};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::preview1::WasiP1Ctx;
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::{DirPerms, FilePerms, HostWallClock, I32Exit};

/// `buf_size`'s default (`DEFAULT_BUF_SIZE`).
pub const DEFAULT_BUF_SIZE: usize = 4096;

/// How the `[INPUT] Name exec_wasi` section is configured.
#[derive(Debug, Clone)]
pub struct ExecWasiConfig {
    /// `accessible_paths`, as (host directory, path the guest sees). Fluent
    /// Bit uses one string for both; tests map temporary directories.
    pub accessible_paths: Vec<(PathBuf, String)>,
    /// `buf_size`: the longest line `fgets` reads in one piece, plus one.
    pub buf_size: usize,
    /// `wasm_stack_size` in bytes (below 8 KiB, Fluent Bit uses 8 KiB).
    pub stack_size: u64,
    /// `parser` names a `json` parser.
    pub json_parser: bool,
}

impl Default for ExecWasiConfig {
    /// The shipped `exec_wasi` input (`pipeline-configs/fluent-bit/`):
    /// `parser json`, `wasm_stack_size 256K`, the default `buf_size`, no
    /// accessible paths.
    fn default() -> Self {
        ExecWasiConfig {
            accessible_paths: Vec::new(),
            buf_size: DEFAULT_BUF_SIZE,
            stack_size: 256_000,
            json_parser: true,
        }
    }
}

/// What one collection produced.
#[derive(Debug, Clone, Default)]
pub struct Collection {
    /// The records' bodies as JSON text, in order.
    pub records: Vec<String>,
    /// Pieces the parser refused ("parser returned an error").
    pub parse_errors: usize,
    /// What the program wrote to stderr.
    pub stderr: String,
}

/// A wall clock stopped at a given time since the epoch (the sampler stamps
/// its records with it).
struct FixedClock(Duration);

impl HostWallClock for FixedClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }
    fn now(&self) -> Duration {
        self.0
    }
}

/// One run of `wasm_path`, as one `in_exec_wasi_collect`, with the guest's
/// wall clock at `now` since the epoch.
pub fn collect(
    wasm_path: &Path,
    config: &ExecWasiConfig,
    now: Duration,
) -> wasmtime::Result<Collection> {
    let module = fluentbit_harness::module(
        wasm_path,
        config.stack_size.max(FLB_WASM_DEFAULT_SIZE),
        false,
    )
    .map_err(wasmtime::Error::msg)?;
    let engine = module.engine().clone();
    let stdout = MemoryOutputPipe::new(64 << 20);
    let stderr = MemoryOutputPipe::new(1 << 20);
    let mut wasi = WasiCtxBuilder::new();
    wasi.stdout(stdout.clone())
        .stderr(stderr.clone())
        .wall_clock(FixedClock(now));
    for (host, guest) in &config.accessible_paths {
        wasi.preopened_dir(host, guest, DirPerms::READ, FilePerms::READ)?;
    }
    let mut store: Store<WasiP1Ctx> = Store::new(&engine, wasi.build_p1());
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::preview1::add_to_linker_sync(&mut linker, |s: &mut WasiP1Ctx| s)?;
    let instance = linker.instantiate(&mut store, &module)?;
    let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
    if let Err(e) = start.call(&mut store, ()) {
        // `proc_exit` ends the run; anything else is a trap, as in WAMR.
        if e.downcast_ref::<I32Exit>().is_none() {
            return Err(e);
        }
    }
    drop(store);

    let text = stdout.contents();
    let mut out = Collection {
        stderr: String::from_utf8_lossy(&stderr.contents()).into_owned(),
        ..Collection::default()
    };
    for piece in fgets_pieces(&text, config.buf_size) {
        if !config.json_parser {
            out.records.push(
                serde_json::json!({"wasi_stdout": String::from_utf8_lossy(piece)}).to_string(),
            );
            continue;
        }
        match serde_json::from_slice::<serde_json::Value>(piece) {
            Ok(v) if v.is_object() => out.records.push(v.to_string()),
            _ => out.parse_errors += 1,
        }
    }
    Ok(out)
}

/// The pieces a loop of `fgets(buf, buf_size, f)` reads, each chomped of one
/// trailing `\n`.
pub fn fgets_pieces(text: &[u8], buf_size: usize) -> Vec<&[u8]> {
    let max = buf_size.saturating_sub(1).max(1);
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let line_end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let take = line_end.min(max);
        let (piece, tail) = rest.split_at(take);
        pieces.push(piece.strip_suffix(b"\n").unwrap_or(piece));
        rest = tail;
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::fgets_pieces;

    #[test]
    fn fgets_reads_long_lines_in_pieces() {
        let text = b"abc\n0123456789\n\nxy";
        let pieces: Vec<&[u8]> = fgets_pieces(text, 5);
        assert_eq!(
            pieces,
            vec![&b"abc"[..], b"0123", b"4567", b"89", b"", b"xy"]
        );
        assert_eq!(fgets_pieces(b"a\n", 4096), vec![&b"a"[..]]);
    }
}
