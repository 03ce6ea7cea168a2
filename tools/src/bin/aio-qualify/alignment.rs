//! The direct-I/O alignment, tried: reads at ever larger offset-and-length alignments,
//! then at ever larger buffer-address alignments, until one works.

use crate::aio::{self, Outcome, TrialMemory};
use crate::report::{Alignment, Trial};
use std::fs::File;
use std::io;

/// Offsets and lengths tried, smallest first.
const OFFSETS: [usize; 8] = [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536];
/// Buffer-address alignments tried, smallest first (1: any address).
const MEMORY: [usize; 13] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096];

/// Tries reads on `file` (open with `O_DIRECT`, at least 128 KiB long).
pub fn measure(file: &File) -> io::Result<Alignment> {
    let reported = aio::reported_alignment(file);
    let mut mem = TrialMemory::new(*OFFSETS.last().unwrap())?;
    // Offsets and lengths: `a` bytes at offset `a`, into a page-aligned buffer.
    let mut offset_trials = Vec::new();
    let mut offset = None;
    for a in OFFSETS {
        let outcome = mem.read(file, a as u64, a, 0)?;
        offset_trials.push(trial(a, outcome));
        if matches!(outcome, Outcome::Done(_)) {
            offset = Some(a);
            break;
        }
    }
    // Addresses: one block of the working length at offset 0, into memory exactly `m`
    // bytes past a page boundary (aligned to `m`, not to `2m`).
    let mut memory_trials = Vec::new();
    let mut memory = None;
    if let Some(len) = offset {
        for m in MEMORY {
            let outcome = mem.read(file, 0, len, m % 4096)?;
            memory_trials.push(trial(m, outcome));
            if matches!(outcome, Outcome::Done(_)) {
                memory = Some(m);
                break;
            }
        }
    }
    Ok(Alignment {
        reported_memory: reported.map(|r| r.0 as u64),
        reported_offset: reported.map(|r| r.1 as u64),
        offset: offset.map(|v| v as u64),
        offset_trials,
        memory: memory.map(|v| v as u64),
        memory_trials,
    })
}

fn trial(bytes: usize, outcome: Outcome) -> Trial {
    Trial {
        bytes: bytes as u64,
        result: match outcome {
            Outcome::Done(_) => "ok".into(),
            Outcome::Refused(e) | Outcome::Failed(e) => aio::errno_name(e),
        },
    }
}
