//! The Fluent Bit WASM filter ABI (wasm32 only).
//!
//! STUB — being written (helper E).
