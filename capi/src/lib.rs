//! `librawaio`: a drop-in replacement for libaio, built on [`rawaio`].
//!
//! This crate builds `librawaio.so` and `librawaio.a`, which export libaio's functions
//! (`io_setup`, `io_submit`, `io_getevents`, `io_queue_run`, ...) with libaio's
//! signatures, return convention and symbol versions, and `include/libaio.h`, a header
//! source-compatible with libaio's. A program written for libaio links against it
//! unchanged (`-lrawaio`), or runs with it preloaded (`LD_PRELOAD=librawaio.so`).
//!
//! What it does better than libaio: `io_getevents` and `io_pgetevents` copy ready
//! completions straight from the kernel's ring, without a system call, whenever the call
//! would not block, safely when several threads reap one context; and an invalid
//! context handle gives `-EINVAL` instead of a crash (except the old handle of a ring
//! the program itself moved with `mremap` or unmapped, until its context is destroyed).
//! See `docs/libaio.md`.
//!
//! The system calls are rawaio's own (inline assembly); the C library is not used for
//! any of them.

#![deny(unsafe_code)]

pub mod exports;
mod registry;
