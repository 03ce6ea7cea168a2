//! The psync engine: one blocking `pread`/`pwrite` at a time per thread.

use crate::aio::{Buf, alloc_bufs};
use crate::engine::{Dir, Engine};
use crate::target::Target;
use std::fs::File;
use std::os::unix::fs::FileExt;

pub struct PsyncEngine<'f> {
    file: &'f File,
    buf: Buf,
    queued: Option<(u64, Dir)>,
    result: i64,
}

impl<'f> PsyncEngine<'f> {
    pub fn new(target: &'f Target, bs: usize) -> Result<Self, String> {
        Ok(Self {
            file: &target.file,
            buf: alloc_bufs(1, bs, target.mem_align)?.remove(0),
            queued: None,
            result: 0,
        })
    }
}

impl Engine for PsyncEngine<'_> {
    fn depth(&self) -> usize {
        1
    }

    fn buf_mut(&mut self, _slot: usize) -> &mut [u8] {
        &mut self.buf
    }

    fn prepare(&mut self, _slot: usize, offset: u64, dir: Dir) -> Result<(), String> {
        self.queued = Some((offset, dir));
        Ok(())
    }

    fn submit(&mut self) -> Result<usize, String> {
        let Some((offset, dir)) = self.queued.take() else {
            return Ok(0);
        };
        let result = match dir {
            Dir::Read => self.file.read_at(&mut self.buf, offset),
            Dir::Write => self.file.write_at(&self.buf, offset),
        };
        self.result = match result {
            Ok(n) => n as i64,
            Err(e) => -i64::from(e.raw_os_error().unwrap_or(libc::EIO)),
        };
        Ok(1)
    }

    fn reap(
        &mut self,
        _min: usize,
        done: &mut impl FnMut(usize, i64, &[u8]),
    ) -> Result<usize, String> {
        done(0, self.result, &self.buf);
        Ok(1)
    }
}
