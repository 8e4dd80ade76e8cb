//! The `edgeheal-healer` binary.

fn main() {}
