//! The `edgeheal` binary.

fn main() {}
