//! Which opcodes and `RWF_*` flags the kernel and the file system accept: rawaio's probe
//! (zero-length requests that change no data), on the `O_DIRECT` and on the buffered
//! opening of the target.

use crate::aio;
use crate::report::{Features, FlagAnswer};
use std::fs::File;
use std::io;

/// Probes `file`; `FSYNC` and `FDSYNC` only when `sync` (they flush, which a read-only
/// run does not do to a device).
pub fn probe(file: &File, direct: bool, sync: bool) -> io::Result<Features> {
    let found = aio::probe(file, sync)?;
    Ok(Features {
        mode: if direct { "O_DIRECT" } else { "buffered" },
        opcodes: found
            .opcodes
            .iter()
            .map(|(name, _, support)| {
                let answer = support.map_or("not probed".to_owned(), |s| s.to_string());
                (name.to_owned(), answer)
            })
            .collect(),
        flags: found
            .flags
            .iter()
            .map(|f| FlagAnswer {
                flag: aio::flag_name(f.flag).to_owned(),
                read: f.read.to_string(),
                write: f.write.to_string(),
            })
            .collect(),
    })
}
