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
use std::cell::Cell;

use edgeheal_plugin::{Filter, FilterConfig, ModelSet};

#[path = "../benches/common/mod.rs"]
mod common;

use common::{node_stream, NODE_STREAM_STEP_NS};

/// The system allocator, counting a thread's allocations while its
/// `COUNTING` is set.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above, with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Counts the allocations `f` makes on this thread (the tests run side by
/// side, each on its own).
fn allocations_in(f: impl FnOnce()) -> usize {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(Cell::get)
}

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
    allocations_in(|| pass(&mut filter, &mut out))
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

/// A full entity table reuses the evicted entry's key buffer for the key
/// that takes its place: misses that evict allocate nothing while no key is
/// longer than the ones held before (once the key was copied twice a miss,
/// into the node and the index).
#[test]
fn a_full_entity_table_allocates_nothing_on_misses() {
    use edgeheal_plugin::keyed_hash::HashKey;
    use edgeheal_plugin::lru::Lru;

    let key = |i: usize| format!("p\u{1f}shop\u{1f}web-7d4b9c8f6-{i:0>5}");
    let keys: Vec<String> = (0..5_000).map(key).collect();
    let mut table = Lru::new(500, HashKey::from_os().unwrap());
    let touch = |table: &mut Lru<u64>, k: &str| table.touch(k, || 0, |v| *v = 0).unwrap();
    // Filled twice over, so every slot has been reused once.
    for k in &keys[..1_000] {
        touch(&mut table, k);
    }
    let mut new = 0;
    let n = allocations_in(|| {
        for k in &keys[1_000..] {
            new += usize::from(touch(&mut table, k).1);
        }
    });
    assert_eq!(new, 4_000);
    assert_eq!(table.len(), 500);
    assert_eq!(n, 0, "{n} allocations over 4,000 misses");
}
