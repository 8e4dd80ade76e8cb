//! The Fluent Bit WASM filter ABI (wasm32 only): `edgeheal_filter` and `_initialize`.
//!
//! Target Fluent Bit ≥ 4.1.2, where one instance lives for the life of the
//! `[FILTER]` section, so the [`Filter`] kept here (per-entity windows,
//! baselines, verdicts) persists across calls. What Fluent Bit 4.2 does on its
//! side (`src/wasm/flb_wasm.c`, `flb_wasm_call_function_format_json`):
//!
//! - it copies the tag and the record into the module's memory with
//!   `wasm_runtime_module_dup_data(len + 1)`, NUL-terminated, from WAMR's app
//!   heap of `wasm_heap_size` bytes; a copy that does not fit comes back as 0,
//!   and the call still happens, with `record == NULL` and the real length;
//! - it passes `tv_sec` through a `uint32_t` argument slot: the seconds are
//!   truncated to 32 bits (see [`event_time_ns`]);
//! - it reads the returned pointer with `strlen` and copies the string; it never
//!   frees it. An empty string drops the record (`plugins/filter_wasm/filter_wasm.c`,
//!   `cb_wasm_filter`), and so does text that is not a JSON object; text that
//!   is no JSON at all is worse in 4.2.8: after a packed record in the same
//!   chunk, that record's buffer is freed a second time.
//!
//! So: one reusable output buffer, the result always a NUL-terminated JSON
//! object without any interior NUL (by construction: the parse accepts no raw
//! control byte anywhere in a record, and every string the filter writes
//! escapes them; `tests/tests/fluentbit_props.rs` checks it on arbitrary
//! bytes, reading the result with `strlen` as Fluent Bit does), and no path
//! that can trap — a trap drops the record and leaks the shadow stack, and
//! after a handful the instance is dead for good. Everything here returns a
//! value instead of panicking. Memory is bounded rather than every
//! allocation made fallible: the output buffer, a record kept whole as
//! text (`raw`) and a record's text with Fluent Bit's `inf` / `nan` tokens
//! replaced (see [`crate::json::NonFinite`]) are reserved fallibly first, as
//! they grow with a record's size; the parse's buffers grow with the record
//! too, which Fluent Bit bounds by `wasm_heap_size` before the call; and the
//! entity table, which grows with the pods seen, is held to `max_entities`
//! and, by the configuration's check, to [`STATE_BUDGET_BYTES`] in all.
//!
//! [`STATE_BUDGET_BYTES`]: crate::config::STATE_BUDGET_BYTES
//!
//! The entity table's hash key is drawn once, when the instance is set up,
//! through WASI's `random_get` (see [`crate::keyed_hash`]); if the host
//! fails it, the filter runs on a fixed key and says so in one line on
//! stderr.
//!
//! Runtime configuration is read once, through WASI, from
//! [`CONFIG_PATH`] (Fluent Bit must list `/etc/edgeheal` in `accessible_paths`):
//! `{"filter": <FilterConfig>, "models": "<dir with manifest.json>"}`. An absent
//! file means defaults, silently; a bad one means defaults and one line on stderr.

use std::cell::{Cell, RefCell};
use std::io::{Read as _, Write as _};

use crate::config::FilterConfig;
use crate::filter::Filter;
use crate::model::{ModelSet, MANIFEST, MAX_FILE_BYTES};
use crate::tags::write_error_tags;

/// Where the optional runtime configuration is read from.
pub const CONFIG_PATH: &str = "/etc/edgeheal/config.json";

/// A configuration file larger than this is rejected unread.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Extra output capacity reserved beyond the record: the `edgeheal` object and
/// the NUL. Tags are a few hundred bytes; the reserve avoids reallocation.
const TAG_RESERVE: usize = 16 * 1024;

/// What `edgeheal_filter` returns when even the error record cannot be built:
/// a valid JSON object, so Fluent Bit keeps the event and the loss is visible.
const FALLBACK: &[u8] =
    b"{\"edgeheal\":{\"kind\":\"unknown\",\"anomaly\":false,\"error\":\"edgeheal filter out of memory\"}}\0";

/// The filter and its reusable output buffer: the state of the instance.
struct Instance {
    filter: Filter,
    /// The record Fluent Bit copies back; reused, never freed by the host.
    out: Vec<u8>,
    /// Scratch for the error text of records that could not be read.
    scratch: String,
}

thread_local! {
    // wasm32-wasip1 is single-threaded: a thread-local is the instance's global.
    static INSTANCE: RefCell<Option<Instance>> = const { RefCell::new(None) };
    static CTORS_RAN: Cell<bool> = const { Cell::new(false) };
}

extern "C" {
    /// Synthesized by `wasm-ld`: runs the static constructors (C ones from
    /// wasi-libc included). Referencing it is also what stops `wasm-ld` from
    /// treating the cdylib as a "command" and wrapping every export in
    /// ctor/dtor calls.
    fn __wasm_call_ctors();
}

/// WASI reactor entry point, called once by the host after instantiation
/// (WAMR: `execute_post_instantiate_functions`). Mirrors wasi-libc's
/// `crt1-reactor.c` (which Rust does not link into a cdylib on stable): run the
/// constructors once, then set the filter up (reading the configuration).
/// Idempotent rather than trapping on a second call.
#[no_mangle]
pub extern "C" fn _initialize() {
    run_ctors_once();
    let _ = INSTANCE.try_with(|cell| {
        if let Ok(mut slot) = cell.try_borrow_mut() {
            if slot.is_none() {
                *slot = Some(Instance::new());
            }
        }
    });
}

fn run_ctors_once() {
    let first = CTORS_RAN
        .try_with(|ran| !ran.replace(true))
        .unwrap_or(false);
    if first {
        // SAFETY: `__wasm_call_ctors` is defined by the linker and takes no
        // arguments; it runs at most once, before any other use of the module.
        unsafe { __wasm_call_ctors() };
    }
}

/// The Fluent Bit filter function (`function_name edgeheal_filter`,
/// `event_format json`). Exactly six i32 parameters, as Fluent Bit calls it.
///
/// Returns a pointer to a NUL-terminated JSON object valid until the next call.
///
/// # Safety
///
/// `tag` (when not NULL) must point to `tag_len` readable bytes and `record`
/// (when not NULL) to `record_len` readable bytes in this module's memory, as
/// Fluent Bit guarantees. Ranges that lie outside linear memory are treated as
/// missing rather than read.
#[no_mangle]
pub unsafe extern "C" fn edgeheal_filter(
    tag: *const u8,
    tag_len: u32,
    time_sec: u32,
    time_nsec: u32,
    record: *const u8,
    record_len: u32,
) -> *const u8 {
    run_ctors_once();
    // SAFETY: forwarded from this function's contract; `guest_slice` checks
    // the range against the memory size.
    let tag = unsafe { guest_slice(tag, tag_len) }.unwrap_or(&[]);
    let body = unsafe { guest_slice(record, record_len) };
    let time_ns = event_time_ns(time_sec, time_nsec);
    INSTANCE
        .try_with(|cell| match cell.try_borrow_mut() {
            Ok(mut slot) => {
                let instance = slot.get_or_insert_with(Instance::new);
                instance.call(tag, time_ns, body, record_len)
            }
            Err(_) => FALLBACK.as_ptr(),
        })
        .unwrap_or(FALLBACK.as_ptr())
}

/// The Fluent Bit event time in nanoseconds since the Unix epoch.
///
/// Fluent Bit passes `tv_sec` through a `uint32_t` slot, so the seconds arrive
/// modulo 2^32. Read as unsigned they are exact from 1970 until
/// 2106-02-07T06:28:15Z, which covers every event time this filter will see;
/// no reconstruction is attempted (it would need a clock call per record, and
/// records usually carry their own time, which normalization prefers).
/// Nanoseconds past 999,999,999 are clamped.
pub fn event_time_ns(time_sec: u32, time_nsec: u32) -> i64 {
    i64::from(time_sec) * 1_000_000_000 + i64::from(time_nsec.min(999_999_999))
}

/// The bytes `[ptr, ptr + len)` of linear memory, or `None` when `ptr` is NULL
/// or the range does not lie inside the current memory.
///
/// # Safety
///
/// A non-NULL `ptr` with an in-bounds range must not be concurrently mutated
/// for the returned lifetime (true for Fluent Bit's copies during a call).
unsafe fn guest_slice<'a>(ptr: *const u8, len: u32) -> Option<&'a [u8]> {
    if ptr.is_null() {
        return None;
    }
    let start = ptr as usize as u64;
    let end = start + u64::from(len);
    let memory_bytes = core::arch::wasm32::memory_size(0) as u64 * 65_536;
    if end > memory_bytes {
        return None;
    }
    // SAFETY: the range is non-NULL and inside linear memory, which is always
    // readable in wasm32; the caller guarantees no concurrent mutation.
    Some(unsafe { core::slice::from_raw_parts(ptr, len as usize) })
}

impl Instance {
    fn new() -> Instance {
        let (config, models) = runtime_config();
        let filter = Filter::new(config, models);
        if let Some(warning) = filter.hash_key_source().fallback_warning() {
            let _ = writeln!(std::io::stderr(), "[edgeheal] random_get: {warning}");
        }
        Instance {
            filter,
            out: Vec::new(),
            scratch: String::new(),
        }
    }

    /// One call: the tagged record (or the lost-record report) in `out`,
    /// NUL-terminated, and a pointer to it.
    fn call(
        &mut self,
        tag: &[u8],
        time_ns: i64,
        body: Option<&[u8]>,
        record_len: u32,
    ) -> *const u8 {
        match body {
            Some(record) => {
                // Room for this record on top of nothing: the last output is
                // spent (Fluent Bit copied it), and reserving on top of it
                // would grow the buffer to twice the largest record.
                self.out.clear();
                let need = record.len().saturating_add(TAG_RESERVE);
                if self.out.try_reserve(need).is_err() {
                    self.report(time_ns, ReportKind::OutOfMemory(record.len()));
                } else {
                    self.filter.process(tag, time_ns, record, &mut self.out);
                }
            }
            None => self.report(time_ns, ReportKind::Lost(record_len)),
        }
        if self.out.try_reserve(1).is_err() {
            return FALLBACK.as_ptr();
        }
        self.out.push(0);
        self.out.as_ptr()
    }

    /// Replaces the output with a small record saying why the body is not there.
    fn report(&mut self, time_ns: i64, kind: ReportKind) {
        self.scratch.clear();
        let _ = match kind {
            ReportKind::Lost(n) => std::fmt::Write::write_fmt(
                &mut self.scratch,
                format_args!("record of {n} bytes exceeded wasm_heap_size"),
            ),
            ReportKind::OutOfMemory(n) => std::fmt::Write::write_fmt(
                &mut self.scratch,
                format_args!("record of {n} bytes exceeded the filter's memory"),
            ),
        };
        self.out.clear();
        if self.out.try_reserve(1024).is_err() {
            return;
        }
        self.out.extend_from_slice(b"{\"edgeheal\":");
        write_error_tags(
            &mut self.out,
            time_ns,
            self.filter.model_id(),
            &self.scratch,
        );
        self.out.push(b'}');
    }
}

/// Why a record's body is replaced by a report.
#[derive(Clone, Copy)]
enum ReportKind {
    /// Fluent Bit passed NULL: the copy did not fit `wasm_heap_size` (length).
    Lost(u32),
    /// The output buffer could not be reserved (record length).
    OutOfMemory(usize),
}

/// The runtime configuration file's shape.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RuntimeConfig {
    /// Filter configuration (state bounds, window geometry).
    #[serde(default)]
    filter: Option<serde_json::Value>,
    /// A directory holding `manifest.json` and the model files it names.
    #[serde(default)]
    models: Option<String>,
}

/// The filter configuration and models in force: [`CONFIG_PATH`] when present
/// and valid, otherwise the defaults and the embedded models.
fn runtime_config() -> (FilterConfig, Option<ModelSet>) {
    let defaults = || (FilterConfig::default(), embedded_models());
    match read_config() {
        Ok(None) => defaults(),
        Ok(Some(found)) => found,
        Err(why) => {
            let _ = writeln!(
                std::io::stderr(),
                "[edgeheal] {CONFIG_PATH}: {why}; using the default configuration"
            );
            defaults()
        }
    }
}

/// `Ok(None)` when the file does not exist.
fn read_config() -> Result<Option<(FilterConfig, Option<ModelSet>)>, String> {
    let file = match std::fs::File::open(CONFIG_PATH) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let mut text = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(|e| e.to_string())?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(format!("larger than {MAX_CONFIG_BYTES} bytes"));
    }
    let runtime: RuntimeConfig = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
    let config = match runtime.filter {
        Some(value) => {
            let config: FilterConfig = serde_json::from_value(value)
                .map_err(|e| format!("invalid filter configuration: {e}"))?;
            config.validate().map_err(|e| e.to_string())?;
            config
        }
        None => FilterConfig::default(),
    };
    let models = match runtime.models {
        Some(dir) => Some(load_models(&dir)?),
        None => embedded_models(),
    };
    Ok(Some((config, models)))
}

/// The models compiled into the artifact (`models/default/`), if any. Embedded
/// models that fail to load are reported once on stderr and not used (the
/// filter then tags with `score: null`, `model: "none"`).
fn embedded_models() -> Option<ModelSet> {
    match ModelSet::from_embedded()? {
        Ok(models) => Some(models),
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "[edgeheal] embedded models: {e}; scoring disabled"
            );
            None
        }
    }
}

/// Models from a directory holding `manifest.json` and the files it lists
/// (the override named by the configuration file), every file size-bounded.
fn load_models(dir: &str) -> Result<ModelSet, String> {
    let dir = std::path::Path::new(dir);
    let manifest = read_bounded(&dir.join(MANIFEST)).map_err(|e| format!("models: {e}"))?;
    ModelSet::from_manifest(&manifest, |file| read_bounded(&dir.join(file)).ok())
        .map_err(|e| format!("models in {}: {e}", dir.display()))
}

/// A whole file, refused past [`MAX_FILE_BYTES`].
fn read_bounded(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(format!(
            "{}: larger than {MAX_FILE_BYTES} bytes",
            path.display()
        ));
    }
    Ok(bytes)
}
