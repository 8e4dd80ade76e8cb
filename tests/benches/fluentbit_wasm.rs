//! The `.wasm` filter in wasmtime (called the Fluent Bit way: copies into the
//! app heap, strlen and copy of the result) against the native core on the
//! same mixed stream, and against a JSON-passthrough wasm module in the same
//! harness. Criterion measures each; a final table prints the throughputs and
//! both ratios side by side from one run.
//!
//! `cargo bench -p edgeheal-tests --bench fluentbit_wasm`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};

use edgeheal_tests::fluentbit_harness::{FilterWasmConfig, FluentBitWasm};
use edgeheal_tests::records::{MixedStream, StreamRecord};
use edgeheal_tests::{
    native_filter, passthrough_wasm, plugin_wasm, FUNCTION_NAME, PASSTHROUGH_FUNCTION,
};

const BATCH: usize = 4_096;

fn stream() -> Vec<StreamRecord> {
    MixedStream::new(2025).take(BATCH).collect()
}

fn instance(path: &std::path::Path, function: &str) -> FluentBitWasm {
    match FluentBitWasm::load(
        path,
        &FilterWasmConfig {
            function_name: function.to_string(),
            ..FilterWasmConfig::default()
        },
    ) {
        Ok(fb) => fb,
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

/// One pass of the batch through each contender.
struct Contenders {
    records: Vec<StreamRecord>,
    native: edgeheal_plugin::Filter,
    out: Vec<u8>,
    wasm: FluentBitWasm,
    passthrough: FluentBitWasm,
}

impl Contenders {
    fn new() -> Contenders {
        Contenders {
            records: stream(),
            native: native_filter(),
            out: Vec::with_capacity(1 << 16),
            wasm: instance(plugin_wasm(), FUNCTION_NAME),
            passthrough: instance(passthrough_wasm(), PASSTHROUGH_FUNCTION),
        }
    }

    fn native_pass(&mut self) -> usize {
        let mut bytes = 0;
        for r in &self.records {
            self.native.process(
                r.tag.as_bytes(),
                r.time.as_filter_sees_ns(),
                &r.json,
                &mut self.out,
            );
            bytes += black_box(&self.out).len();
        }
        bytes
    }

    fn wasm_pass(&mut self) -> usize {
        run_wasm(&mut self.wasm, FUNCTION_NAME, &self.records)
    }

    fn passthrough_pass(&mut self) -> usize {
        run_wasm(&mut self.passthrough, PASSTHROUGH_FUNCTION, &self.records)
    }
}

fn run_wasm(fb: &mut FluentBitWasm, function: &str, records: &[StreamRecord]) -> usize {
    let mut bytes = 0;
    for r in records {
        match fb.call_function_format_json(function, r.tag.as_bytes(), r.time, &r.json) {
            Ok(out) => bytes += black_box(out).len(),
            Err(why) => panic!("{function}: {why:?}"),
        }
    }
    bytes
}

fn criterion_benches(c: &mut Criterion, k: &mut Contenders) {
    let mut group = c.benchmark_group("fluentbit_filter");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    group.bench_function("native_core", |b| b.iter(|| k.native_pass()));
    group.bench_function("wasm_filter", |b| b.iter(|| k.wasm_pass()));
    group.bench_function("wasm_passthrough", |b| b.iter(|| k.passthrough_pass()));
    group.finish();
}

/// Records per second over at least `budget`, best of three rounds.
fn rate(budget: Duration, mut pass: impl FnMut() -> usize) -> f64 {
    let mut best = 0.0f64;
    for _ in 0..3 {
        let start = Instant::now();
        let mut records = 0usize;
        while start.elapsed() < budget / 3 {
            black_box(pass());
            records += BATCH;
        }
        best = best.max(records as f64 / start.elapsed().as_secs_f64());
    }
    best
}

fn main() {
    let mut k = Contenders::new();
    let mut c = Criterion::default().configure_from_args();
    criterion_benches(&mut c, &mut k);
    c.final_summary();

    let budget = Duration::from_secs(3);
    let native = rate(budget, || k.native_pass());
    let wasm = rate(budget, || k.wasm_pass());
    let passthrough = rate(budget, || k.passthrough_pass());
    println!();
    println!("mixed stream, {BATCH} records per pass, wasmtime (Cranelift), one core:");
    println!(
        "  {:<40} {:>12.0} records/s",
        "native core (Filter::process)", native
    );
    println!(
        "  {:<40} {:>12.0} records/s",
        "edgeheal_plugin.wasm (Fluent Bit ABI)", wasm
    );
    println!(
        "  {:<40} {:>12.0} records/s",
        "passthrough wasm (Fluent Bit ABI)", passthrough
    );
    println!(
        "  native / wasm filter      = {:.2}x   (target: within 2x)",
        native / wasm
    );
    println!(
        "  wasm filter / passthrough = {:.2}    (share of passthrough throughput; Fluent Bit 4.2 target ≥ 0.75 under WAMR)",
        wasm / passthrough
    );
}
