//! A JSON-passthrough Fluent Bit WASM filter: returns every record unchanged.
//!
//! It is the baseline for the edgeheal filter's overhead, under the same ABI
//! (six i32 parameters, NUL-terminated result in one reusable buffer,
//! `_initialize` as a WASI reactor) and in the same harness. Built for
//! `wasm32-wasip1` only; on other targets the crate is empty.
//!
//! It also exports misbehaving filters, so the harness can show what Fluent
//! Bit does with each: `passthrough_trap` always traps,
//! `passthrough_deep_trap` traps with a 64 KiB frame on the shadow stack
//! when the record asks it to (as a filter that panicked deep in a call),
//! `passthrough_bad_pointer` returns a pointer outside linear memory,
//! `passthrough_array` returns JSON that is not an object, and
//! `passthrough_unparseable` returns no JSON at all.

#[cfg(target_arch = "wasm32")]
mod abi {
    use std::cell::RefCell;

    thread_local! {
        static OUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }

    extern "C" {
        fn __wasm_call_ctors();
    }

    /// WASI reactor entry point (see `plugin/src/fluentbit.rs`).
    #[no_mangle]
    pub extern "C" fn _initialize() {
        // SAFETY: linker-synthesized, no arguments; the host calls this once.
        unsafe { __wasm_call_ctors() };
    }

    /// Returns the record as it came, NUL-terminated; `""` when it is missing.
    ///
    /// # Safety
    ///
    /// `record`, when not NULL, points to `record_len` readable bytes.
    #[no_mangle]
    pub unsafe extern "C" fn passthrough(
        _tag: *const u8,
        _tag_len: u32,
        _time_sec: u32,
        _time_nsec: u32,
        record: *const u8,
        record_len: u32,
    ) -> *const u8 {
        OUT.with(|out| {
            let mut out = out.borrow_mut();
            out.clear();
            if !record.is_null() {
                // SAFETY: guaranteed by the caller (Fluent Bit's copy).
                let body = unsafe { core::slice::from_raw_parts(record, record_len as usize) };
                out.extend_from_slice(body);
            }
            out.push(0);
            out.as_ptr()
        })
    }

    /// Always traps (`unreachable`), like a filter that panicked.
    #[no_mangle]
    pub extern "C" fn passthrough_trap(
        _tag: *const u8,
        _tag_len: u32,
        _time_sec: u32,
        _time_nsec: u32,
        _record: *const u8,
        _record_len: u32,
    ) -> *const u8 {
        core::arch::wasm32::unreachable()
    }

    /// Copies the record through a 64 KiB buffer on the shadow stack (the
    /// stack in linear memory that `__stack_pointer` points into), then
    /// traps if the record starts with `{"trap"`, and returns it otherwise.
    /// A trap unwinds nothing: the frame's 64 KiB are never given back, as
    /// with a Rust filter that panicked (`panic = "abort"`) inside a call
    /// holding large locals. The module's stack is 1 MiB (the wasm32
    /// linker's default), so about 15 such traps leave no stack, and every
    /// call after, trapping or not, traps at its first frame: the instance
    /// is dead for good.
    ///
    /// # Safety
    ///
    /// `record`, when not NULL, points to `record_len` readable bytes.
    #[no_mangle]
    pub unsafe extern "C" fn passthrough_deep_trap(
        _tag: *const u8,
        _tag_len: u32,
        _time_sec: u32,
        _time_nsec: u32,
        record: *const u8,
        record_len: u32,
    ) -> *const u8 {
        let body: &[u8] = if record.is_null() {
            &[]
        } else {
            // SAFETY: guaranteed by the caller (Fluent Bit's copy).
            unsafe { core::slice::from_raw_parts(record, record_len as usize) }
        };
        let mut frame = [0u8; 64 * 1024];
        let n = body.len().min(frame.len());
        frame[..n].copy_from_slice(&body[..n]);
        // The frame's address escapes: it lives in linear memory.
        let frame = core::hint::black_box(&mut frame);
        if frame.starts_with(br#"{"trap""#) {
            core::arch::wasm32::unreachable()
        }
        OUT.with(|out| {
            let mut out = out.borrow_mut();
            out.clear();
            out.extend_from_slice(&frame[..n]);
            out.push(0);
            out.as_ptr()
        })
    }

    /// Returns a pointer past the end of linear memory.
    #[no_mangle]
    pub extern "C" fn passthrough_bad_pointer(
        _tag: *const u8,
        _tag_len: u32,
        _time_sec: u32,
        _time_nsec: u32,
        _record: *const u8,
        _record_len: u32,
    ) -> *const u8 {
        usize::MAX as *const u8
    }

    /// Returns `[1]`: JSON, but not an object.
    #[no_mangle]
    pub extern "C" fn passthrough_array(
        _tag: *const u8,
        _tag_len: u32,
        _time_sec: u32,
        _time_nsec: u32,
        _record: *const u8,
        _record_len: u32,
    ) -> *const u8 {
        c"[1]".as_ptr().cast()
    }

    /// Returns `{"log":`: not JSON at all.
    #[no_mangle]
    pub extern "C" fn passthrough_unparseable(
        _tag: *const u8,
        _tag_len: u32,
        _time_sec: u32,
        _time_nsec: u32,
        _record: *const u8,
        _record_len: u32,
    ) -> *const u8 {
        c"{\"log\":".as_ptr().cast()
    }
}
