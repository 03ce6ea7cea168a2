//! Writes a temporary file through AIO, reads it back through AIO, checks it and says
//! what it did. `O_DIRECT` is used where the file system supports it.
//!
//! Run: `cargo run --release --example roundtrip [DIR]` (default: the system temp dir).

use rawaio::abi::{IOCB_CMD_FSYNC, IOCB_CMD_PREAD, IOCB_CMD_PWRITE, aio_context_t, io_event, iocb};
use rawaio::sys;
use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::time::Instant;

const BLOCK: usize = 4096;
const BLOCKS: usize = 64;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .map_or_else(std::env::temp_dir, Into::into);
    let path = dir.join(format!("rawaio-roundtrip-{}", std::process::id()));
    let open = |direct: bool| {
        let flags = if direct {
            rustix::fs::OFlags::DIRECT.bits() as i32
        } else {
            0
        };
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .custom_flags(flags)
            .open(&path)
    };
    let (file, direct) = match open(true) {
        Ok(f) => (f, true),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            // The refused open may have created the file (tmpfs before Linux 6.6 does):
            // it is ours, as `create_new` found nothing there.
            let _ = std::fs::remove_file(&path);
            (open(false)?, false)
        }
        Err(e) => return Err(e.into()),
    };
    let result = run(&file);
    std::fs::remove_file(&path)?;
    let (written, read, elapsed) = result?;
    println!(
        "rawaio round trip: {} ({}), wrote {written} bytes in {BLOCKS} requests, read back {read} bytes, all verified, {:.2?}",
        path.display(),
        if direct { "O_DIRECT" } else { "buffered" },
        elapsed
    );
    Ok(())
}

/// A zeroed, page-aligned allocation, freed on drop.
struct Aligned {
    ptr: *mut u8,
    layout: Layout,
}

impl Aligned {
    fn new(len: usize) -> Self {
        let layout = Layout::from_size_align(len, BLOCK).expect("valid layout");
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        assert!(!ptr.is_null(), "out of memory");
        Self { ptr, layout }
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` holds `layout.size()` initialized bytes that `self` owns.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.layout.size()) }
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.ptr, self.layout) }
    }
}

/// Submits every iocb, then reaps one completion per iocb; returns the total of `res`.
///
/// # Safety
/// Every buffer the iocbs name must stay valid until this returns.
unsafe fn run_batch(
    ctx: aio_context_t,
    cbs: &mut [iocb],
) -> Result<u64, Box<dyn std::error::Error>> {
    let mut list: Vec<*mut iocb> = cbs.iter_mut().map(|cb| cb as *mut iocb).collect();
    let mut done = 0;
    while done < list.len() {
        let rest = &mut list[done..];
        // SAFETY: the pointers are to live iocbs; the caller keeps the buffers valid.
        done += unsafe { sys::io_submit(ctx, rest.len() as isize, rest.as_mut_ptr()) }?;
    }
    let mut events = vec![io_event::default(); cbs.len()];
    let mut reaped = 0;
    let mut total = 0u64;
    while reaped < cbs.len() {
        let want = (cbs.len() - reaped) as isize;
        let out = events[reaped..].as_mut_ptr();
        // SAFETY: `out` has room for `want` events; a null timeout waits.
        let n = match unsafe { sys::io_getevents(ctx, 1, want, out, std::ptr::null()) } {
            Err(sys::Errno::INTR) => continue,
            other => other?,
        };
        for ev in &events[reaped..reaped + n] {
            let res = u64::try_from(ev.res)
                .map_err(|_| format!("request {} failed: res {}", ev.data, ev.res))?;
            total += res;
        }
        reaped += n;
    }
    Ok(total)
}

fn run(
    file: &std::fs::File,
) -> Result<(u64, u64, std::time::Duration), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let fd = file.as_raw_fd() as u32;
    let mut out = Aligned::new(BLOCK * BLOCKS);
    for (i, b) in out.as_mut_slice().iter_mut().enumerate() {
        *b = (i * 7 + i / BLOCK) as u8;
    }
    let mut back = Aligned::new(BLOCK * BLOCKS);
    let request = |opcode, buf: *mut u8, block: usize| {
        let mut cb = iocb {
            aio_lio_opcode: opcode,
            aio_fildes: fd,
            aio_data: block as u64,
            ..iocb::default()
        };
        // `block < BLOCKS`: the address stays inside the allocation.
        cb.set_buf(buf.wrapping_add(block * BLOCK), BLOCK);
        cb.aio_offset = (block * BLOCK) as i64;
        cb
    };
    let mut ctx: aio_context_t = 0;
    // SAFETY: `ctx` is a zeroed handle for io_setup to fill.
    unsafe { sys::io_setup(BLOCKS as u32, &mut ctx) }?;
    let mut writes: Vec<iocb> = (0..BLOCKS)
        .map(|b| request(IOCB_CMD_PWRITE, out.ptr, b))
        .collect();
    let mut sync = [iocb {
        aio_lio_opcode: IOCB_CMD_FSYNC,
        aio_fildes: fd,
        ..iocb::default()
    }];
    let mut reads: Vec<iocb> = (0..BLOCKS)
        .map(|b| request(IOCB_CMD_PREAD, back.ptr, b))
        .collect();
    // SAFETY: `out` and `back` outlive every batch, each of which is fully reaped, and the
    // context is destroyed below before they are dropped.
    let outcome = unsafe {
        run_batch(ctx, &mut writes).and_then(|w| {
            run_batch(ctx, &mut sync)?;
            Ok((w, run_batch(ctx, &mut reads)?))
        })
    };
    // SAFETY: every request was reaped or the batch failed; destroy waits for any left.
    unsafe { sys::io_destroy(ctx) }?;
    let (written, read) = outcome?;
    if back.as_mut_slice() != out.as_mut_slice() {
        return Err("data read back differs from data written".into());
    }
    Ok((written, read, start.elapsed()))
}
