//! Hostile bodies under the size limits cost little memory to refuse. A test binary of its own
//! so that a counting global allocator can measure the peak of heap in use while one body is
//! decoded: a JSON array of 15 million zeros gzips to 31 KiB and, built whole before its count
//! was checked, took 512 MiB; a record holding such an array, or msgpack nils (one byte each),
//! took as much or more. With the shipped limits each is refused having built at most the
//! records allowed.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use edgeheal_healer::config::IngestConfig;
use edgeheal_healer::decode::{self, DecodeLimits, Format};

/// The system allocator, counting the bytes in use and their peak.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let now = IN_USE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // Old and new blocks may both be live while the data is copied.
            grew(new_size);
            IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The most heap `f` had in use at once beyond what was in use before it, and its result.
fn peak_of<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let base = IN_USE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (PEAK.load(Ordering::Relaxed) - base, out)
}

const MIB: usize = 1 << 20;

/// A msgpack array header of `n` elements.
fn msgpack_array(n: u32) -> Vec<u8> {
    let mut out = Vec::new();
    rmp::encode::write_array_len(&mut out, n).unwrap();
    out
}

/// One test, so that no other test's allocations count in its peaks.
#[test]
fn hostile_bodies_under_the_size_limits_are_refused_in_bounded_memory() {
    let ingest = IngestConfig::default();
    let limits = DecodeLimits::of(&ingest);
    let size = ingest.max_decompressed_bytes - MIB;
    let record = common::record("shop/cart", "crash_loop", Some("cart-1"));
    let record_json = record.to_string();
    let record_msgpack = rmp_serde::to_vec_named(&record).unwrap();

    // `[0,0,...]`: the reviewer's body.
    let mut zeros = Vec::with_capacity(size);
    zeros.push(b'[');
    while zeros.len() < size - 2 {
        zeros.extend_from_slice(b"0,");
    }
    zeros.extend_from_slice(b"0]");

    // Valid records, as many as the size limit lets in (four times as many as allowed).
    let n = size / (record_json.len() + 1);
    assert!(n > 3 * ingest.max_records, "{n}");
    let mut array = Vec::with_capacity(n * (record_json.len() + 1));
    array.push(b'[');
    for i in 0..n {
        if i > 0 {
            array.push(b',');
        }
        array.extend_from_slice(record_json.as_bytes());
    }
    array.push(b']');
    let ndjson = format!("{record_json}\n").repeat(n).into_bytes();
    let msgpack_stream = record_msgpack.repeat(n);
    let mut msgpack_many = msgpack_array(n as u32);
    for _ in 0..n {
        msgpack_many.extend_from_slice(&record_msgpack);
    }

    // One record holding an array of zeros as long as the limit lets it be.
    let head = record_json.strip_suffix('}').unwrap();
    let mut one_record = Vec::with_capacity(size);
    one_record.extend_from_slice(head.as_bytes());
    one_record.extend_from_slice(b",\"x\":[0");
    while one_record.len() < size - 3 {
        one_record.extend_from_slice(b",0");
    }
    one_record.extend_from_slice(b"]}");

    // One msgpack record with an array of nils, a byte each.
    let nils = size - record_msgpack.len() - 16;
    let mut msgpack_nils = record_msgpack.clone();
    assert_eq!(msgpack_nils[0] & 0xf0, 0x80, "a fixmap");
    msgpack_nils[0] += 1;
    msgpack_nils.extend_from_slice(&[0xa1, b'x']);
    msgpack_nils.extend(msgpack_array(nils as u32));
    msgpack_nils.resize(msgpack_nils.len() + nils, 0xc0);

    let cases: Vec<(&str, Format, Vec<u8>, &str)> = vec![
        ("[0,0,...]", Format::Json, zeros, "record 0: "),
        ("JSON array", Format::Json, array, "more than 20000 records"),
        ("NDJSON", Format::Json, ndjson, "more than 20000 records"),
        (
            "msgpack stream",
            Format::Msgpack,
            msgpack_stream,
            "more than 20000 records",
        ),
        (
            "msgpack array",
            Format::Msgpack,
            msgpack_many,
            "more than 20000 records",
        ),
        (
            "one JSON record of zeros",
            Format::Json,
            one_record,
            "record 0 holds more than 10000 values",
        ),
        (
            "one msgpack record of nils",
            Format::Msgpack,
            msgpack_nils,
            "record 0 holds more than 10000 values",
        ),
    ];
    // What the records allowed take once decoded, the most any of these bodies may cost.
    let allowed = vec![record.clone(); ingest.max_records];
    let allowed = serde_json::to_vec(&allowed).unwrap();
    let mut charged = 0;
    let base = IN_USE.load(Ordering::Relaxed);
    let (kept, records) = peak_of(|| {
        decode::decode_charged(Format::Json, &allowed, limits, &mut |n| {
            charged += n;
            true
        })
    });
    let retained = IN_USE.load(Ordering::Relaxed) - base;
    assert_eq!(records.unwrap().len(), ingest.max_records);
    // The memory budget of bodies in flight is charged for what the records keep (the peak
    // passes it by the record being built and the list's move when it grows).
    assert!(
        charged >= retained,
        "{charged} bytes charged, {retained} kept"
    );
    // Kept as their text and tags, the records allowed take less than the largest body.
    assert!(
        kept < ingest.max_decompressed_bytes,
        "{kept} bytes for {} records",
        ingest.max_records
    );
    for (name, format, body, want) in cases {
        assert!(body.len() <= ingest.max_decompressed_bytes, "{name}");
        let (peak, res) = peak_of(|| decode::decode(format, &body, limits));
        eprintln!(
            "{name}: {} MiB body, peak {:.1} MiB (the records allowed: {:.1} MiB)",
            body.len() / MIB,
            peak as f64 / MIB as f64,
            kept as f64 / MIB as f64
        );
        assert!(
            peak <= kept + MIB,
            "{name}: {peak} bytes at the peak, more than the {kept} the records allowed take"
        );
        let err = res.err().unwrap_or_else(|| panic!("{name}: accepted"));
        assert!(err.to_string().contains(want), "{name}: {err}");
    }
}
