//! The entity table holds no more memory than its bound: `max_entities`
//! times [`edgeheal_plugin::filter::entity_bytes`], which
//! `FilterConfig::validate` keeps within `STATE_BUDGET_BYTES`. The bound is
//! what lets a configuration be refused at start instead of the `.wasm`
//! trapping at an allocation mid-stream (each trap leaks the instance's
//! stack in Fluent Bit, until it dies). Here the table is filled past its
//! cap with the heaviest entities records can make — the longest names
//! Kubernetes accepts, Event objects tracked per pod, a verdict with its
//! `why` kept for each — and the heap's live bytes are counted; and the
//! table's own part of the bound, its slots and keys, is checked alone.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use edgeheal_plugin::config::STATE_BUDGET_BYTES;
use edgeheal_plugin::filter::entity_bytes;
use edgeheal_plugin::keyed_hash::HashKey;
use edgeheal_plugin::lru::Lru;
use edgeheal_plugin::{Error, Filter, FilterConfig, ModelSet};

/// The system allocator, counting the bytes allocated and not yet freed.
struct Live;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Live {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above, with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            LIVE.fetch_add(new_size, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Live = Live;

/// Held by each test that counts live bytes, so no other test's
/// allocations are counted with its own.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn alone() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Pod `i`'s name, of the 253 bytes Kubernetes allows at most: four labels
/// of 50 letters and one of 49 digits, joined by dots.
fn long_pod_name(i: usize) -> String {
    let label = "p".repeat(50);
    format!("{label}.{label}.{label}.{label}.{i:0>49}")
}

/// A back-off event of pod `pod` and a log line of the same pod; both make
/// the pod's and its workload's entities, the event its Event-object
/// versions.
fn records(namespace: &str, pod: &str, i: usize) -> [String; 2] {
    [
        format!(
            r#"{{"metadata":{{"name":"{pod}.e{i}","namespace":"{namespace}","uid":"u{i}","resourceVersion":"{i}"}},"involvedObject":{{"kind":"Pod","namespace":"{namespace}","name":"{pod}","apiVersion":"v1","fieldPath":"spec.containers{{app}}"}},"reason":"BackOff","message":"Back-off restarting failed container","source":{{"component":"kubelet","host":"node-3"}},"firstTimestamp":"2025-03-03T10:00:00Z","lastTimestamp":"2025-03-03T10:00:00Z","count":1,"type":"Warning"}}"#
        ),
        format!(
            r#"{{"log":"GET /api 503 12ms","stream":"stdout","kubernetes":{{"pod_name":"{pod}","namespace_name":"{namespace}","container_name":"app","labels":{{"app":"w{}"}},"host":"node-3"}}}}"#,
            i % 50
        ),
    ]
}

/// Fills a filter with `config` past its cap and returns the heap bytes its
/// entity table added (the filter's other buffers, warmed beforehand with
/// the same records, are counted out).
fn table_bytes(config: FilterConfig) -> usize {
    let cap = config.max_entities;
    let models = ModelSet::from_embedded().map(Result::unwrap);
    let namespace = "n".repeat(63);
    let mut out = Vec::new();
    let mut now = 1_740_960_000_000_000_000i64;
    // Warms the buffers that are not the table's, with a cap of a few.
    let mut warm = Filter::new(
        FilterConfig {
            max_entities: 16,
            ..config.clone()
        },
        models.clone(),
    );
    for i in 0..64 {
        for r in records(&namespace, &long_pod_name(i), i) {
            now += 50_000_000;
            warm.process(b"kube.var.log", now, r.as_bytes(), &mut out);
        }
    }
    let before = LIVE.load(Ordering::Relaxed);
    let mut filter = Filter::new(config, models);
    // Three times the cap of pods, each seen a few times, so every slot is
    // reused and every verdict written; the lines' errors score.
    for i in 0..3 * cap {
        let pod = long_pod_name(i);
        for _ in 0..3 {
            for r in records(&namespace, &pod, i) {
                now += 50_000_000;
                filter.process(b"kube.var.log", now, r.as_bytes(), &mut out);
            }
        }
        assert!(filter.tracked_entities() <= cap);
    }
    assert_eq!(filter.tracked_entities(), cap);
    let grown = LIVE.load(Ordering::Relaxed) - before;
    drop(warm);
    grown
}

#[test]
fn the_entity_table_holds_no_more_than_its_bound() {
    let _alone = alone();
    for (max_entities, window_buckets) in [(2_000, 4), (300, 64)] {
        let config = FilterConfig {
            max_entities,
            window_buckets,
            warmup: 1,
            explain_normal: true,
            ..FilterConfig::default()
        };
        config.validate().unwrap();
        let bound = max_entities * entity_bytes(&config);
        let held = table_bytes(config);
        eprintln!(
            "{max_entities} entities, {window_buckets} buckets: {held} bytes held, bound {bound} ({} %)",
            100 * held / bound
        );
        assert!(held <= bound, "{held} bytes held, over the bound {bound}");
        // The bound is not a vacuous one: the heaviest entities come close.
        assert!(
            held >= bound / 3,
            "{held} bytes held, a third of the bound {bound} is not reached"
        );
    }
}

/// The entity table's own part of the bound: [`Lru::SLOT_BYTES`] an entry
/// plus its key's one copy, whose buffer holds at most the longest key the
/// slot was given. Filled three times past its cap, with keys of Kubernetes'
/// longest names coming after shorter ones (each slot's buffer grows once).
#[test]
fn the_entity_table_keeps_each_key_once_within_its_slot_bytes() {
    let key = |i: usize, long: bool| {
        let pod = if long {
            long_pod_name(i)
        } else {
            format!("web-{i}")
        };
        format!("p\u{1f}{}\u{1f}{pod}", "n".repeat(63))
    };
    let longest = key(0, true).len();
    let _alone = alone();
    for cap in [100, 1_000, 3_000] {
        let before = LIVE.load(Ordering::Relaxed);
        let mut table = Lru::<u64>::new(cap, HashKey::from_os().unwrap());
        for i in 0..3 * cap {
            let k = key(i, i >= cap);
            table.touch(&k, || 0, |v| *v = 0).unwrap();
        }
        assert_eq!(table.len(), cap);
        let held = LIVE.load(Ordering::Relaxed) - before;
        let bound = cap * (Lru::<u64>::SLOT_BYTES + longest);
        eprintln!("cap {cap}: {held} bytes held, bound {bound}");
        assert!(held <= bound, "cap {cap}: {held} bytes held, over {bound}");
        // The keys alone take most of it.
        assert!(held >= cap * longest, "cap {cap}: {held} bytes held");
        drop(table);
    }
}

#[test]
fn a_table_over_the_budget_is_refused_at_start() {
    let per_entity = entity_bytes(&FilterConfig::default()) as u64;
    let most = usize::try_from(STATE_BUDGET_BYTES / per_entity).unwrap();
    let at = |max_entities| {
        FilterConfig::from_json(format!(r#"{{"max_entities": {max_entities}}}"#).as_bytes())
    };
    assert!(at(most).is_ok(), "{most} entities fit the budget");
    match at(most + 1) {
        Err(e @ Error::StateTooLarge { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("`max_entities`"), "{msg}");
            assert!(msg.contains("1024 MiB"), "{msg}");
        }
        other => panic!("{} entities: {other:?}", most + 1),
    }
    // More buckets a window, fewer entities.
    let wide = FilterConfig::from_json(
        format!(r#"{{"max_entities": {most}, "window_buckets": 64}}"#).as_bytes(),
    );
    assert!(matches!(wide, Err(Error::StateTooLarge { .. })), "{wide:?}");
}
