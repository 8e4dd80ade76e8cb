//! The filter allocates nothing per record once warm: a busy node's stream
//! (the filter bench's, 400 pods of 40 workloads) is run twice to grow the
//! buffers and entity table, then again, counting the heap allocations of
//! the third pass. In Fluent Bit every allocation is a call into the
//! module's allocator, for each of many thousands of records a second; a
//! per-record clone of the configuration (once it held a `String`) crept in
//! and no test saw it. What remains is rare: an entity's cached verdict
//! text grows its buffer when a verdict longer than any before comes (14
//! reallocations over 4,000 records with the embedded models). Records with
//! Fluent Bit's non-finite numbers, read as their text with them replaced,
//! allocate nothing either once one has been.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use edgeheal_plugin::{Filter, FilterConfig, ModelSet};

#[path = "../benches/common/mod.rs"]
mod common;

use common::{node_stream, NODE_STREAM_STEP_NS};

/// The system allocator, counting allocations while `COUNTING` is set.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above, with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations of a third pass over the node stream, after two; with
/// `non_finite`, every tenth record carries Fluent Bit's `inf` and `-nan`.
fn third_pass_allocations(
    models: Option<ModelSet>,
    config: FilterConfig,
    non_finite: bool,
) -> usize {
    let mut records = node_stream(4_000);
    if non_finite {
        for r in records.iter_mut().step_by(10) {
            assert_eq!(r.first(), Some(&b'{'));
            r.splice(1..1, br#""fb":[inf,-nan],"#.iter().copied());
        }
    }
    let mut filter = Filter::new(config, models);
    let mut out = Vec::new();
    let mut now = 1_740_960_000_000_000_000i64;
    let mut pass = |filter: &mut Filter, out: &mut Vec<u8>| {
        for r in &records {
            now += NODE_STREAM_STEP_NS;
            filter.process(b"kube.var.log", now, r, out);
        }
    };
    pass(&mut filter, &mut out);
    pass(&mut filter, &mut out);
    ALLOCATIONS.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    pass(&mut filter, &mut out);
    COUNTING.store(false, Ordering::Relaxed);
    ALLOCATIONS.load(Ordering::Relaxed)
}

#[test]
fn a_warm_filter_allocates_nothing_per_record() {
    let embedded = ModelSet::from_embedded().map(|m| m.unwrap());
    let cases = [
        (
            "embedded models",
            embedded.clone(),
            FilterConfig::default(),
            false,
        ),
        ("no models", None, FilterConfig::default(), false),
        (
            "another merge_log_key",
            None,
            FilterConfig {
                merge_log_key: "app_json".to_owned(),
                ..FilterConfig::default()
            },
            false,
        ),
        (
            "non-finite numbers",
            embedded,
            FilterConfig::default(),
            true,
        ),
    ];
    for (name, models, config, non_finite) in cases {
        let n = third_pass_allocations(models, config, non_finite);
        assert!(n <= 40, "{name}: {n} allocations over 4,000 records");
    }
}
