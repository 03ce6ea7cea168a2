//! The parts that `aio-bench` and `aio-qualify` share: sizes as people write them, and
//! what a path is (which file system, whether a block device).
//!
//! The binaries are the point of this crate; this library exists so that both parse
//! `4k` and print `128m` the same way. It is not meant as a stable API.

pub mod size;
pub mod target_kind;
