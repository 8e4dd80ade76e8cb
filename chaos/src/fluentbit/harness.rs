//! A Fluent Bit 4.2 `filter_wasm` stand-in: loads a `.wasm` filter in wasmtime
//! and calls it exactly the way Fluent Bit (through WAMR 2.4.1) does.
//!
//! Replicated from Fluent Bit v4.2.8:
//!
//! - `plugins/filter_wasm/filter_wasm.c`, `cb_wasm_init`: one instance per
//!   `[FILTER]`, created once and kept across every batch (≥ 4.1.2);
//!   `wasm_heap_size` / `wasm_stack_size` below the 8 KiB default are ignored
//!   (`FLB_WASM_DEFAULT_HEAP_SIZE`, `include/fluent-bit/wasm/flb_wasm.h`).
//! - `src/wasm/flb_wasm.c`, `flb_wasm_instantiate`: WAMR is given the heap size
//!   at instantiation and the `accessible_paths` as WASI preopens, each visible
//!   in the guest under the same path string as on the host.
//! - WAMR `core/iwasm/interpreter/wasm_runtime.c`, `memory_instantiate`: a module
//!   that exports neither `malloc`/`free` nor `__heap_base` (ours, checked by a
//!   test) gets its app heap "before new page": `ceil(heap / 64 KiB)` pages are
//!   added after the initial memory and the heap is that many pages minus
//!   1 KiB. `execute_post_instantiate_functions` then calls `_initialize` for a
//!   module that imports WASI. Here: the memory grows by those pages right after
//!   instantiation, then `_initialize` runs — the same layout.
//! - `flb_wasm_call_function_format_json`: tag and record are copied with
//!   `wasm_runtime_module_dup_data(ptr, len + 1)` (NUL-terminated) from that
//!   heap; a failed copy is offset 0 and the call is still made (so
//!   `record == NULL` with the real `record_len`). Arguments are six `uint32_t`
//!   slots: tag, tag_len, `tv_sec` (truncated to 32 bits), `tv_nsec`, record,
//!   record_len. A trap is logged, the exception cleared, the copies freed and
//!   NULL returned; the instance lives on (with whatever the trap left behind,
//!   e.g. a Rust shadow stack pointer that never got restored). The result is
//!   checked with `wasm_runtime_validate_app_str_addr` (in bounds, NUL before
//!   the end of memory), copied with `strdup`, and never freed in the module.
//! - `cb_wasm_filter`: the record JSON comes from `flb_msgpack_to_json_str` and
//!   its length from `strlen` (so it never holds a NUL). A NULL result drops the
//!   event; so does an empty string; otherwise `flb_pack_json` must read the
//!   text as a JSON object, or the event is dropped ("invalid JSON format",
//!   rollback). A kept event keeps its timestamp and metadata; only the body is
//!   replaced.
//!
//! The app heap allocator mimics WAMR's `ems` allocator closely enough for
//! "does this copy fit": 8-byte aligned blocks with a 4-byte header, first fit.
//! `wasm_stack_size` maps to wasmtime's `max_wasm_stack` (WAMR interprets, so
//! its frames are larger; the filter has no recursion either way).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use wasmtime::{
    Engine, Instance, Memory, Module, Store, StoreLimits, StoreLimitsBuilder, TypedFunc,
};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::preview1::WasiP1Ctx;
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::{DirPerms, FilePerms};

/// A filter function as Fluent Bit calls it: six `uint32_t` slots, a pointer back.
type FilterFunc = TypedFunc<(i32, i32, i32, i32, i32, i32), i32>;

/// WAMR's page size.
const PAGE: u64 = 65_536;
/// Fluent Bit's floor for `wasm_heap_size` and `wasm_stack_size` (8 KiB).
pub const FLB_WASM_DEFAULT_SIZE: u64 = 8_192;
/// WAMR's `APP_HEAP_SIZE_MAX` (1 GiB).
const APP_HEAP_SIZE_MAX: u64 = 1 << 30;
/// ems block header (`HMU_SIZE`).
const HMU_SIZE: u32 = 4;

/// How the `[FILTER] Name wasm` section is configured.
#[derive(Debug, Clone)]
pub struct FilterWasmConfig {
    /// `function_name`.
    pub function_name: String,
    /// `wasm_heap_size` in bytes.
    pub heap_size: u64,
    /// `wasm_stack_size` in bytes.
    pub stack_size: u64,
    /// `accessible_paths`, as (host directory, path the guest sees). Fluent Bit
    /// uses one string for both; tests map a temporary directory instead.
    pub accessible_paths: Vec<(PathBuf, String)>,
    /// Most bytes linear memory may grow to (Fluent Bit: 4 GiB); a tighter
    /// bound turns runaway growth into a visible failure in tests.
    pub memory_limit: usize,
    /// Count the wasm operators the module executes (wasmtime fuel, one unit
    /// per operator), for [`FluentBitWasm::operators`]. Costs speed: for
    /// measuring what an interpreter such as WAMR would have to execute, not
    /// for timing.
    pub count_operators: bool,
    /// Make WASI's `random_get` fail (with `EIO`, as WAMR reports a failed
    /// `getrandom(2)`), to check what the module does on a host without
    /// randomness. Not a Fluent Bit setting.
    pub random_get_fails: bool,
}

impl Default for FilterWasmConfig {
    /// The shipped configuration (`pipeline-configs/fluent-bit/`):
    /// `function_name edgeheal_filter`, `wasm_heap_size 16M`,
    /// `wasm_stack_size 256K` (Fluent Bit sizes are decimal), no accessible paths.
    fn default() -> Self {
        FilterWasmConfig {
            function_name: super::FUNCTION_NAME.to_string(),
            heap_size: 16_000_000,
            stack_size: 256_000,
            accessible_paths: Vec::new(),
            memory_limit: 1 << 30,
            count_operators: false,
            random_get_fails: false,
        }
    }
}

/// Why the harness could not load or set up a module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// wasmtime could not compile, link or instantiate the module.
    #[error("wasmtime: {0:#}")]
    Wasmtime(wasmtime::Error),
    /// The module exports no linear memory named `memory`.
    #[error("the module exports no memory")]
    NoMemory,
    /// The app heap could not be inserted into linear memory.
    #[error("failed to insert app heap of {0} bytes into linear memory")]
    Heap(u64),
    /// `_initialize` trapped.
    #[error("_initialize failed: {0:#}")]
    Initialize(wasmtime::Error),
}

/// Why an event did not come out of the filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropReason {
    /// The function named by `function_name` is not exported (or has another type).
    FunctionNotFound,
    /// The call trapped (message); Fluent Bit logs "Got exception running wasm code".
    Trap(String),
    /// The returned pointer failed `wasm_runtime_validate_app_str_addr`.
    InvalidReturn(u32),
    /// The function returned an empty string.
    Empty,
    /// The returned text is JSON but not an object ("invalid JSON format"):
    /// `flb_pack_json` packed it, and the packed copy is freed.
    NotAnObject,
    /// The returned text is not JSON at all ("invalid JSON format"). In
    /// Fluent Bit 4.2.8 this is worse than a drop when a record before it in
    /// the same chunk was packed (`double_free`): `cb_wasm_filter` keeps one
    /// `json_buf` for the chunk, frees it after each record without clearing
    /// it, and a failed `flb_pack_json` leaves it pointing at the freed
    /// buffer, which is then freed again.
    Unparseable {
        /// A record before it in the chunk was packed: real Fluent Bit frees
        /// that record's buffer a second time.
        double_free: bool,
    },
}

/// What Fluent Bit does with one event after the filter ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterOutcome {
    /// The event continues with this JSON text as its body.
    Kept(Vec<u8>),
    /// The event is gone.
    Dropped(DropReason),
}

impl FilterOutcome {
    /// The body text, if the event was kept.
    pub fn kept(&self) -> Option<&[u8]> {
        match self {
            FilterOutcome::Kept(body) => Some(body),
            FilterOutcome::Dropped(_) => None,
        }
    }
}

/// A Fluent Bit event time (`struct flb_time`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTime {
    /// Seconds since the Unix epoch (`tv_sec`, 64-bit on the host).
    pub sec: i64,
    /// Nanoseconds (`tv_nsec`).
    pub nsec: u32,
}

impl EventTime {
    /// Nanoseconds since the epoch as the wasm filter reconstructs them from
    /// the 32-bit `time_sec` it receives (see the adapter's `event_time_ns`).
    pub fn as_filter_sees_ns(self) -> i64 {
        i64::from(self.sec as u32) * 1_000_000_000 + i64::from(self.nsec.min(999_999_999))
    }
}

/// Counters over the life of one instance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallStats {
    /// Calls made.
    pub calls: u64,
    /// Calls that trapped (each one a dropped event).
    pub traps: u64,
    /// Calls where the record copy did not fit the heap (`record == NULL`).
    pub null_records: u64,
    /// Events dropped for any reason.
    pub dropped: u64,
    /// Unparseable results after a packed one in the same chunk: each a
    /// double free in Fluent Bit 4.2.8 (see [`DropReason::Unparseable`]).
    pub double_frees: u64,
}

struct HostState {
    wasi: WasiP1Ctx,
    limits: StoreLimits,
}

/// WAMR's app heap, modelled: a region of linear memory the host allocates from.
#[derive(Debug)]
struct AppHeap {
    /// Free blocks as (start offset, size), sorted by start and never
    /// touching (freeing coalesces). Between calls the heap is one block,
    /// so a short list serves where a tree would cost more than the search.
    free: Vec<(u32, u32)>,
    /// Allocated blocks: (payload offset, block start, block size). A filter
    /// call holds two (tag and record), so a short list serves, as the
    /// header ems keeps before each payload does.
    used: Vec<(u32, u32, u32)>,
    /// Usable heap bytes (after WAMR's page rounding and 1 KiB cut).
    size: u64,
}

impl AppHeap {
    fn new(offset: u64, size: u64) -> AppHeap {
        // ems aligns the pool to 8 and pads 4 so payloads land 8-aligned.
        let base = offset.div_ceil(8) * 8 + u64::from(HMU_SIZE);
        let end = offset + size;
        let len = end.saturating_sub(base) & !7;
        let mut free = Vec::new();
        if len > 0 {
            free.push((base as u32, len as u32));
        }
        AppHeap {
            free,
            used: Vec::new(),
            size,
        }
    }

    /// The block ems takes for a payload of `size` bytes: header included,
    /// rounded up to 8, at least 16; `None` past what the heap can address.
    fn block_size(size: u64) -> Option<u32> {
        let block = (size + u64::from(HMU_SIZE)).div_ceil(8) * 8;
        u32::try_from(block.max(16)).ok()
    }

    /// `wasm_runtime_module_malloc`: a payload offset, or 0 when it does not fit.
    fn malloc(&mut self, size: u64) -> u32 {
        let Some(block) = AppHeap::block_size(size) else {
            return 0;
        };
        // First fit, lowest address first.
        let Some(i) = self.free.iter().position(|&(_, len)| len >= block) else {
            return 0;
        };
        let (start, len) = self.free[i];
        if len > block {
            self.free[i] = (start + block, len - block);
        } else {
            self.free.remove(i);
        }
        let payload = start + HMU_SIZE;
        self.used.push((payload, start, block));
        payload
    }

    /// `wasm_runtime_module_dup_data(data, len + 1)`: a NUL-terminated copy in
    /// the heap, inside `memory`, or 0.
    fn dup_data(&mut self, memory: &Memory, store: &mut Store<HostState>, data: &[u8]) -> u32 {
        let offset = self.malloc(data.len() as u64 + 1);
        if offset == 0 {
            return 0;
        }
        let mem = memory.data_mut(store);
        let start = offset as usize;
        match mem.get_mut(start..start + data.len() + 1) {
            Some(dst) => {
                if let Some((last, body)) = dst.split_last_mut() {
                    body.copy_from_slice(data);
                    *last = 0;
                }
                offset
            }
            None => {
                self.free(offset);
                0
            }
        }
    }

    /// `wasm_runtime_module_free`, coalescing neighbours.
    fn free(&mut self, payload: u32) {
        let Some(i) = self.used.iter().position(|(p, _, _)| *p == payload) else {
            return;
        };
        let (_, start, len) = self.used.swap_remove(i);
        // Where the block goes among the free ones, and whether it joins the
        // one after it, the one before it, or both.
        let at = self.free.partition_point(|&(s, _)| s < start);
        let joins_next = self.free.get(at).is_some_and(|&(s, _)| s == start + len);
        let joins_prev = at
            .checked_sub(1)
            .and_then(|p| self.free.get(p))
            .is_some_and(|&(s, l)| s + l == start);
        match (joins_prev, joins_next) {
            (true, true) => {
                let (_, next_len) = self.free.remove(at);
                self.free[at - 1].1 += len + next_len;
            }
            (true, false) => self.free[at - 1].1 += len,
            (false, true) => self.free[at] = (start, len + self.free[at].1),
            (false, false) => self.free.insert(at, (start, len)),
        }
    }
}

/// One `[FILTER] Name wasm` instance: the module, instantiated once.
pub struct FluentBitWasm {
    store: Store<HostState>,
    instance: Instance,
    memory: Memory,
    heap: AppHeap,
    /// Functions called so far, by name (a filter calls one).
    functions: Vec<(String, Option<FilterFunc>)>,
    function_name: String,
    stats: CallStats,
    stderr: MemoryOutputPipe,
    last_drop: Option<DropReason>,
    /// A result of the current chunk was packed (`json_buf` is set).
    packed_in_chunk: bool,
}

type ModuleCache = Mutex<HashMap<(PathBuf, u64, bool), Module>>;

/// Compiled modules, shared by every instance in the test process (compiling
/// is the slow part; instances are cheap).
fn module_cache() -> &'static ModuleCache {
    static CACHE: OnceLock<ModuleCache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

fn engine(stack_size: u64, fuel: bool) -> Result<Engine, HarnessError> {
    static ENGINES: OnceLock<Mutex<HashMap<(u64, bool), Engine>>> = OnceLock::new();
    let engines = ENGINES.get_or_init(|| Mutex::new(HashMap::new()));
    let mut engines = engines.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(engine) = engines.get(&(stack_size, fuel)) {
        return Ok(engine.clone());
    }
    let mut config = wasmtime::Config::new();
    config.max_wasm_stack(usize::try_from(stack_size).unwrap_or(usize::MAX));
    config.consume_fuel(fuel);
    let engine = Engine::new(&config).map_err(HarnessError::Wasmtime)?;
    engines.insert((stack_size, fuel), engine.clone());
    Ok(engine)
}

/// `path` compiled for a `wasm_stack_size` of `stack_size` (and with fuel
/// metering when `fuel`), once per test process: also for other Fluent Bit
/// stand-ins that run a module, such as `exec_wasi`'s.
pub fn module(path: &Path, stack_size: u64, fuel: bool) -> Result<Module, HarnessError> {
    let key = (path.to_path_buf(), stack_size, fuel);
    let mut cache = module_cache().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(module) = cache.get(&key) {
        return Ok(module.clone());
    }
    let module =
        Module::from_file(&engine(stack_size, fuel)?, path).map_err(HarnessError::Wasmtime)?;
    cache.insert(key, module.clone());
    Ok(module)
}

/// The heap WAMR 2.4.1 inserts for `wasm_heap_size = configured`: pages added
/// after the initial memory, and the usable bytes.
pub fn wamr_app_heap(configured: u64) -> (u64, u64) {
    let heap = configured.max(FLB_WASM_DEFAULT_SIZE).div_ceil(8) * 8;
    let heap = heap.min(APP_HEAP_SIZE_MAX);
    let pages = heap.div_ceil(PAGE);
    (pages, pages * PAGE - 1024)
}

impl FluentBitWasm {
    /// Loads and instantiates `wasm_path` as `cb_wasm_init` does, inserts the
    /// app heap and runs `_initialize`.
    pub fn load(
        wasm_path: &Path,
        config: &FilterWasmConfig,
    ) -> Result<FluentBitWasm, HarnessError> {
        let stack_size = config.stack_size.max(FLB_WASM_DEFAULT_SIZE);
        let module = module(wasm_path, stack_size, config.count_operators)?;
        let engine = module.engine().clone();

        let stderr = MemoryOutputPipe::new(1 << 20);
        let mut wasi = WasiCtxBuilder::new();
        wasi.stderr(stderr.clone()).inherit_stdout();
        for (host, guest) in &config.accessible_paths {
            wasi.preopened_dir(host, guest, DirPerms::READ, FilePerms::READ)
                .map_err(HarnessError::Wasmtime)?;
        }
        let state = HostState {
            wasi: wasi.build_p1(),
            limits: StoreLimitsBuilder::new()
                .memory_size(config.memory_limit)
                .build(),
        };
        let mut store = Store::new(&engine, state);
        store.limiter(|s| &mut s.limits);
        if config.count_operators {
            store.set_fuel(u64::MAX).map_err(HarnessError::Wasmtime)?;
        }
        let mut linker = wasmtime::Linker::new(&engine);
        wasmtime_wasi::preview1::add_to_linker_sync(&mut linker, |s: &mut HostState| &mut s.wasi)
            .map_err(HarnessError::Wasmtime)?;
        if config.random_get_fails {
            const ERRNO_IO: i32 = 29;
            linker.allow_shadowing(true);
            linker
                .func_wrap(
                    "wasi_snapshot_preview1",
                    "random_get",
                    |_buf: i32, _len: i32| -> i32 { ERRNO_IO },
                )
                .map_err(HarnessError::Wasmtime)?;
        }
        let instance = linker
            .instantiate(&mut store, &module)
            .map_err(HarnessError::Wasmtime)?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or(HarnessError::NoMemory)?;

        // memory_instantiate: "Insert app heap before new page".
        let (pages, usable) = wamr_app_heap(config.heap_size);
        let offset = memory
            .grow(&mut store, pages)
            .map_err(|_| HarnessError::Heap(config.heap_size))?
            * PAGE;
        let heap = AppHeap::new(offset, usable);

        // execute_post_instantiate_functions: `_initialize` for a WASI reactor.
        if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
            init.call(&mut store, ())
                .map_err(HarnessError::Initialize)?;
        }

        Ok(FluentBitWasm {
            store,
            instance,
            memory,
            heap,
            functions: Vec::new(),
            function_name: config.function_name.clone(),
            stats: CallStats::default(),
            stderr,
            last_drop: None,
            packed_in_chunk: false,
        })
    }

    /// One event through the filter, as `cb_wasm_filter` handles it in
    /// `event_format json` mode: `json` is the record as
    /// `flb_msgpack_to_json_str` wrote it (its length taken with `strlen`, so
    /// it is cut at a NUL, as in Fluent Bit).
    pub fn filter(&mut self, tag: &[u8], time: EventTime, json: &[u8]) -> FilterOutcome {
        let json = json.split(|&b| b == 0).next().unwrap_or_default();
        let name = std::mem::take(&mut self.function_name);
        let outcome = self.filter_exact(&name, tag, time, json);
        self.function_name = name;
        outcome
    }

    /// Like [`filter`](Self::filter) but with `record` passed byte for byte
    /// (NULs included) to the function `function_name`: for robustness tests
    /// that go beyond what Fluent Bit can send.
    pub fn filter_exact(
        &mut self,
        function_name: &str,
        tag: &[u8],
        time: EventTime,
        record: &[u8],
    ) -> FilterOutcome {
        let outcome = match self.call_function_format_json(function_name, tag, time, record) {
            Err(reason) => FilterOutcome::Dropped(reason),
            Ok(text) if text.is_empty() => FilterOutcome::Dropped(DropReason::Empty),
            Ok(text) if super::json_text::is_json_object(&text) => FilterOutcome::Kept(text),
            Ok(text) if super::json_text::is_valid_json(&text) => {
                FilterOutcome::Dropped(DropReason::NotAnObject)
            }
            Ok(_) => FilterOutcome::Dropped(DropReason::Unparseable {
                double_free: self.packed_in_chunk,
            }),
        };
        match &outcome {
            FilterOutcome::Kept(_) | FilterOutcome::Dropped(DropReason::NotAnObject) => {
                self.packed_in_chunk = true;
            }
            FilterOutcome::Dropped(_) => {}
        }
        if let FilterOutcome::Dropped(reason) = &outcome {
            self.stats.dropped += 1;
            if matches!(reason, DropReason::Unparseable { double_free: true }) {
                self.stats.double_frees += 1;
            }
            self.last_drop = Some(reason.clone());
        }
        outcome
    }

    /// Ends the current chunk: `cb_wasm_filter` returns, and the next call
    /// starts a chunk with no packed buffer. Until this is called, every call
    /// belongs to one chunk.
    pub fn end_chunk(&mut self) {
        self.packed_in_chunk = false;
    }

    /// `flb_wasm_call_function_format_json`: the string the function returned
    /// (what `flb_strdup` copies), or why Fluent Bit got NULL.
    pub fn call_function_format_json(
        &mut self,
        function_name: &str,
        tag: &[u8],
        time: EventTime,
        record: &[u8],
    ) -> Result<Vec<u8>, DropReason> {
        // Looked up by name on every call, as Fluent Bit does (WAMR compares
        // the name with each export's); the typed handle is made once a name.
        let known = self
            .functions
            .iter()
            .position(|(name, _)| name == function_name);
        let at = match known {
            Some(at) => at,
            None => {
                let found = self
                    .instance
                    .get_typed_func(&mut self.store, function_name)
                    .ok();
                self.functions.push((function_name.to_string(), found));
                self.functions.len() - 1
            }
        };
        let Some((_, Some(func))) = self.functions.get(at) else {
            return Err(DropReason::FunctionNotFound);
        };
        self.stats.calls += 1;
        let tag_buffer = self.heap.dup_data(&self.memory, &mut self.store, tag);
        let record_buffer = self.heap.dup_data(&self.memory, &mut self.store, record);
        if record_buffer == 0 {
            self.stats.null_records += 1;
        }
        let args = (
            tag_buffer as i32,
            tag.len() as u32 as i32,
            time.sec as u32 as i32,
            time.nsec as i32,
            record_buffer as i32,
            record.len() as u32 as i32,
        );
        let result = func.call(&mut self.store, args);
        let result = match result {
            Err(trap) => {
                self.stats.traps += 1;
                Err(DropReason::Trap(format!("{trap:#}")))
            }
            Ok(ptr) => self
                .read_c_str(ptr as u32)
                .ok_or(DropReason::InvalidReturn(ptr as u32)),
        };
        // cleanup: the copies are freed after every call, trap or not.
        self.heap.free(tag_buffer);
        self.heap.free(record_buffer);
        result
    }

    /// `wasm_runtime_validate_app_str_addr` + `strdup`: the bytes from `ptr`
    /// to the first NUL, if `ptr` is inside memory and a NUL follows.
    fn read_c_str(&self, ptr: u32) -> Option<Vec<u8>> {
        let mem = self.memory.data(&self.store);
        let tail = mem.get(ptr as usize..)?;
        let len = memchr::memchr(0, tail)?;
        tail.get(..len).map(<[u8]>::to_vec)
    }

    /// Counters so far.
    pub fn stats(&self) -> CallStats {
        self.stats
    }

    /// Why the last dropped event was dropped.
    pub fn last_drop(&self) -> Option<&DropReason> {
        self.last_drop.as_ref()
    }

    /// Current size of linear memory in bytes (app heap included).
    pub fn memory_bytes(&self) -> u64 {
        self.memory.data_size(&self.store) as u64
    }

    /// Usable bytes of the app heap.
    pub fn heap_bytes(&self) -> u64 {
        self.heap.size
    }

    /// Wasm operators executed since loading (`_initialize` included), when
    /// loaded with [`FilterWasmConfig::count_operators`].
    pub fn operators(&self) -> Option<u64> {
        self.store.get_fuel().ok().map(|left| u64::MAX - left)
    }

    /// Bytes the app heap has handed out and not yet got back (0 between calls).
    pub fn heap_in_use(&self) -> u64 {
        self.heap
            .used
            .iter()
            .map(|&(_, _, len)| u64::from(len))
            .sum()
    }

    /// What the module wrote to stderr so far.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents()).into_owned()
    }
}

/// Names and types of a module's exports and imports, for contract checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleShape {
    /// `(name, description)` of every export, e.g. `("edgeheal_filter", "func(i32 i32 i32 i32 i32 i32) -> (i32)")`.
    pub exports: Vec<(String, String)>,
    /// `(module, name)` of every import.
    pub imports: Vec<(String, String)>,
    /// Initial and maximum pages of the exported memory.
    pub memory_pages: Option<(u64, Option<u64>)>,
}

/// The shape of the module at `path`.
pub fn module_shape(path: &Path) -> Result<ModuleShape, HarnessError> {
    let module = module(path, 256 << 10, false)?;
    let describe = |ty: wasmtime::ExternType| match ty {
        wasmtime::ExternType::Func(f) => {
            let list = |v: Vec<String>| v.join(" ");
            format!(
                "func({}) -> ({})",
                list(f.params().map(|p| p.to_string()).collect()),
                list(f.results().map(|p| p.to_string()).collect())
            )
        }
        wasmtime::ExternType::Global(g) => format!("global {}", g.content()),
        wasmtime::ExternType::Memory(_) => "memory".to_string(),
        wasmtime::ExternType::Table(_) => "table".to_string(),
        wasmtime::ExternType::Tag(_) => "tag".to_string(),
    };
    let memory_pages = module.exports().find_map(|e| match e.ty() {
        wasmtime::ExternType::Memory(m) => Some((m.minimum(), m.maximum())),
        _ => None,
    });
    Ok(ModuleShape {
        exports: module
            .exports()
            .map(|e| (e.name().to_string(), describe(e.ty())))
            .collect(),
        imports: module
            .imports()
            .map(|i| (i.module().to_string(), i.name().to_string()))
            .collect(),
        memory_pages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::rng_for;
    use rand::RngExt;

    /// Random mallocs and frees against the heap's own bookkeeping: blocks
    /// lie inside the region and never overlap, each malloc takes the
    /// lowest-addressed free block that fits, the free list stays sorted and
    /// coalesced, and freeing everything gives back the one block it began as.
    #[test]
    fn the_app_heap_is_first_fit_and_coalesces() {
        let (offset, size) = (65_536 * 3, 16_384);
        let mut heap = AppHeap::new(offset, size);
        let initial = heap.free.clone();
        assert_eq!(initial.len(), 1);
        let (region_start, region_end) = (offset as u32, (offset + size) as u32);
        let mut rng = rng_for(11, 0);
        let mut live: Vec<u32> = Vec::new();
        let mut failed = 0;
        for step in 0..20_000 {
            if live.is_empty() || rng.random::<f64>() < 0.55 {
                let want = rng.random_range(0..2_000u64);
                let block = AppHeap::block_size(want).unwrap();
                let fits = heap.free.iter().find(|&&(_, len)| len >= block).copied();
                let payload = heap.malloc(want);
                match fits {
                    None => {
                        assert_eq!(payload, 0, "step {step}: nothing fits {block}");
                        failed += 1;
                    }
                    Some((start, _)) => {
                        assert_eq!(payload, start + HMU_SIZE, "step {step}: first fit");
                        live.push(payload);
                    }
                }
            } else {
                let victim = live.swap_remove(rng.random_range(0..live.len()));
                heap.free(victim);
            }
            // Free blocks sorted, apart, inside the region; used blocks
            // disjoint from them and from each other.
            let mut blocks: Vec<(u32, u32, bool)> =
                heap.free.iter().map(|&(s, l)| (s, l, true)).collect();
            blocks.extend(heap.used.iter().map(|&(_, s, l)| (s, l, false)));
            blocks.sort_unstable();
            for pair in blocks.windows(2) {
                let ((s0, l0, free0), (s1, _, free1)) = (pair[0], pair[1]);
                assert!(
                    s0 + l0 <= s1,
                    "step {step}: {:?} overlaps {:?}",
                    pair[0],
                    pair[1]
                );
                assert!(
                    !(free0 && free1 && s0 + l0 == s1),
                    "step {step}: not coalesced"
                );
            }
            for &(s, l, _) in &blocks {
                assert!(s >= region_start && s + l <= region_end, "step {step}");
            }
        }
        assert!(
            failed > 0,
            "the heap never filled up: the test is too gentle"
        );
        for payload in live.drain(..) {
            heap.free(payload);
        }
        assert_eq!(heap.free, initial);
        assert!(heap.used.is_empty());
        // Freeing what was never handed out changes nothing.
        heap.free(12_345);
        assert_eq!(heap.free, initial);
    }
}
