//! The `edgeheal-chaos` binary.

fn main() {}
