//! The places where one architecture's ABI differs from another's, checked by what the
//! kernel does rather than by layout alone (`.ci/qemu-kernels.sh` runs them on real
//! aarch64, s390x, i686 and armv7 kernels):
//!
//! - `aio_rw_flags` and `aio_key` share a 64-bit word in swapped order on big-endian
//!   targets: the kernel must find an `RWF_*` flag where we put it, and must write the
//!   key (and read it on cancel) where we expect it;
//! - on 32-bit targets, buffer, iocb and `aio_data` addresses above 2 GiB are widened into
//!   the 64-bit fields without sign extension, and come back the same in `io_event`;
//! - on 32-bit targets the two `io_pgetevents` calls read timeouts of different widths.

mod common;

use common::{
    Ctx, POLLIN, TIMEOUT, TempFile, assert_no_event, obj_of, pipe, poll_iocb, reap_one, rw_iocb,
    submit, submit_and_reap, submit_one, tmpfs_dir,
};
use rawaio::Errno;
use rawaio::abi::{IOCB_CMD_PREAD, IOCB_CMD_PWRITE, RwfFlags, io_event, iocb};
use rawaio::sys;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

const TOKEN: u64 = 0xa5c4_0000_0000_0000;

/// A buffered file on tmpfs holding `contents`.
fn file_with(tag: &str, contents: &[u8]) -> TempFile {
    let f = TempFile::create(&tmpfs_dir(), tag, false).expect("create a tmpfs file");
    f.file.write_all_at(contents, 0).expect("fill the file");
    f
}

fn cancel(ctx: &Ctx, cb: &mut iocb) -> Result<(), Errno> {
    let mut result = io_event::default();
    // SAFETY: `cb` is a live iocb the test owns and `result` a writable event.
    unsafe { sys::io_cancel(ctx.id(), cb, &mut result) }
}

#[test]
fn the_kernel_reads_rw_flags_where_we_put_them() {
    // RWF_APPEND has a visible effect: a write "at offset 0" lands at the end of file.
    // Were aio_rw_flags and aio_key swapped (the big-endian trap), the kernel would see
    // the key's sentinel as flags (EOPNOTSUPP) or no flag at all (an overwrite at 0).
    let f = file_with("arch-append", &[b'a'; 100]);
    let data = [b'b'; 50];
    let ctx = Ctx::new(2);
    let mut cb = rw_iocb(IOCB_CMD_PWRITE, f.fd(), data.as_ptr(), 50, 0, TOKEN | 1);
    cb.set_rw_flags(RwfFlags::APPEND);
    cb.aio_key = 0x0bad_cafe;
    let ev = submit_and_reap(&ctx, &mut cb);
    assert_eq!(ev.res, 50, "the appending write");
    let mut expected = vec![b'a'; 100];
    expected.extend_from_slice(&data);
    assert_eq!(
        std::fs::read(&f.path).unwrap(),
        expected,
        "appended, not at 0"
    );
    // The kernel stored KIOCB_KEY (0) into aio_key, and left aio_rw_flags alone.
    assert_eq!(cb.aio_key, 0, "the kernel wrote the key where aio_key is");
    assert_eq!(cb.rw_flags(), RwfFlags::APPEND, "aio_rw_flags untouched");

    // An unknown RWF bit is refused at submission...
    for bit in [1u32 << 30, 1 << 24] {
        assert_eq!(bit & rawaio::abi::RWF_SUPPORTED, 0);
        let mut cb = rw_iocb(IOCB_CMD_PWRITE, f.fd(), data.as_ptr(), 50, 0, TOKEN | 2);
        cb.aio_rw_flags = bit as i32;
        assert_eq!(
            submit_one(&ctx, &mut cb),
            Err(Errno::OPNOTSUPP),
            "RWF bit {bit:#x}"
        );
        assert_no_event(&ctx);
    }
    // ...while the same bits in aio_key are not flags: the write goes through, at the
    // offset given (no RWF_APPEND this time).
    let mut cb = rw_iocb(IOCB_CMD_PWRITE, f.fd(), data.as_ptr(), 50, 10, TOKEN | 3);
    cb.aio_key = (1 << 30) | (1 << 24) | RwfFlags::APPEND.bits();
    assert_eq!(submit_and_reap(&ctx, &mut cb).res, 50);
    expected[10..60].copy_from_slice(&data);
    assert_eq!(
        std::fs::read(&f.path).unwrap(),
        expected,
        "written at offset 10"
    );
}

#[test]
fn the_kernel_reads_the_key_where_we_put_it_on_cancel() {
    let (r, _w) = pipe();
    let ctx = Ctx::new(2);
    let mut poll = poll_iocb(&r, POLLIN, TOKEN | 4);
    assert_eq!(submit_one(&ctx, &mut poll), Ok(1));
    assert_eq!(poll.aio_key, 0, "KIOCB_KEY stored on submission");
    // A wrong key is refused even with aio_rw_flags clear...
    poll.aio_key = 1;
    poll.aio_rw_flags = 0;
    assert_eq!(cancel(&ctx, &mut poll), Err(Errno::INVAL), "aio_key 1");
    // ...and the right key is accepted whatever aio_rw_flags holds.
    poll.aio_key = 0;
    poll.aio_rw_flags = -1;
    assert_eq!(cancel(&ctx, &mut poll), Err(Errno::INPROGRESS), "cancelled");
    let ev = reap_one(&ctx);
    assert_eq!((ev.data, ev.obj, ev.res), (TOKEN | 4, obj_of(&poll), 0));
}

/// Anonymous memory mapped at a fixed address, unmapped on drop.
struct Mapping {
    addr: usize,
    len: usize,
}

impl Mapping {
    /// Maps `len` bytes at the first of `candidates` that is free.
    fn at_one_of(candidates: &[usize], len: usize) -> Option<Self> {
        use rustix::mm::{MapFlags, ProtFlags, mmap_anonymous, munmap};
        for &want in candidates {
            // SAFETY: FIXED_NOREPLACE never replaces an existing mapping: the call maps
            // fresh memory at `want` or fails.
            let got = unsafe {
                mmap_anonymous(
                    want as *mut _,
                    len,
                    ProtFlags::READ | ProtFlags::WRITE,
                    MapFlags::PRIVATE | MapFlags::FIXED_NOREPLACE,
                )
            };
            match got {
                Ok(p) if p as usize == want => return Some(Mapping { addr: want, len }),
                // A kernel before 4.17 takes the flag as a hint and may map elsewhere.
                // SAFETY: `p` is the mapping just made, used by nothing.
                Ok(p) => unsafe { munmap(p, len).expect("munmap") },
                Err(_) => {}
            }
        }
        None
    }

    fn ptr(&self, offset: usize) -> *mut u8 {
        assert!(offset < self.len);
        (self.addr + offset) as *mut u8
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours and no request uses it any more (the contexts that
        // used it are declared after it and so destroyed first).
        unsafe { rustix::mm::munmap(self.addr as *mut _, self.len) }.expect("munmap");
    }
}

#[test]
fn high_addresses_survive_the_round_trip_through_the_kernel() {
    // 32-bit: above 2 GiB, where a sign-extending widening would set the upper 32 bits
    // (3 GiB is the top of user space under the usual 3G/1G split). 64-bit: above 4 GiB,
    // where a truncation to 32 bits would show.
    #[cfg(target_pointer_width = "32")]
    let candidates = [0xa000_0000usize, 0x9000_0000, 0x8800_0000, 0xb000_0000];
    #[cfg(target_pointer_width = "64")]
    let candidates = [0x5_8000_0000usize, 0x7_8000_0000, 0x3f_8000_0000];
    const PAGE: usize = 4096;
    let Some(map) = Mapping::at_one_of(&candidates, 4 * PAGE) else {
        eprintln!("skipped: no free address among {candidates:x?}");
        return;
    };
    assert!(map.addr as u64 >= 0x8000_0000);
    let f = file_with("arch-high", &[]);
    let ctx = Ctx::new(4);

    // Page 0: the two iocbs and the array of pointers to them; page 1: the data to
    // write; page 2: where it is read back.
    let cbs = map.ptr(0) as *mut iocb;
    let list = map.ptr(512) as *mut *mut iocb;
    let wbuf = map.ptr(PAGE);
    let rbuf = map.ptr(2 * PAGE);
    for i in 0..PAGE {
        // SAFETY: both pages are mapped, writable and used by nothing else yet.
        unsafe {
            *wbuf.add(i) = (i % 251) as u8;
            *rbuf.add(i) = 0xee;
        }
    }
    let mut write = rw_iocb(IOCB_CMD_PWRITE, f.fd(), wbuf, PAGE, 0, 0);
    write.set_data_addr(wbuf as usize);
    let mut read = rw_iocb(IOCB_CMD_PREAD, f.fd(), rbuf, PAGE, 0, 0);
    read.set_data_addr(rbuf as usize);
    assert_eq!(write.aio_buf, wbuf as usize as u64, "zero-extended");
    assert_eq!(write.aio_data >> 32, (wbuf as usize as u64) >> 32);

    for (k, cb) in [write, read].into_iter().enumerate() {
        // SAFETY: page 0 is mapped and writable; `cbs` is aligned for iocb (a page start)
        // and `list` for pointers; nothing else uses them.
        unsafe {
            cbs.add(k).write(cb);
            list.write(cbs.add(k));
        }
        // SAFETY: a one-element array, read by the kernel during the call.
        let list_slice = unsafe { std::slice::from_raw_parts_mut(list, 1) };
        assert_eq!(submit(&ctx, list_slice), Ok(1), "request {k}");
        let ev = reap_one(&ctx);
        let cb_addr = cbs.wrapping_add(k) as usize;
        assert_eq!(
            ev.obj, cb_addr as u64,
            "obj: the iocb's address, zero-extended"
        );
        assert_eq!(ev.obj_addr(), Some(cb_addr));
        assert_eq!(ev.data, cb.aio_data, "aio_data unchanged");
        assert_eq!(ev.res, PAGE as i64, "request {k} moved the whole page");
    }
    // SAFETY: both requests completed; the pages are ours again.
    let (w, r) = unsafe {
        (
            std::slice::from_raw_parts(wbuf, PAGE),
            std::slice::from_raw_parts(rbuf, PAGE),
        )
    };
    assert_eq!(r, w, "read back what was written from the high page");
    let mut on_disk = vec![0u8; PAGE];
    f.file.read_exact_at(&mut on_disk, 0).unwrap();
    assert_eq!(on_disk, w);
    drop(ctx);
    drop(map);
}

/// On 32-bit targets `io_pgetevents` is `io_pgetevents_time64`, reading a 16-byte
/// timespec; `io_pgetevents_time32` reads 8 bytes. A 200 ms timeout read with the wrong
/// width would be 0 s 0 ns (little-endian): a wait that does not happen.
#[test]
fn pgetevents_timeouts_are_read_with_their_width() {
    let ctx = Ctx::new(1);
    let mut ev = [io_event::default(); 1];
    let wait = Duration::from_millis(200);
    let ts = common::ts64(wait);
    let start = Instant::now();
    // SAFETY: `ev` has room for one event; `ts` is live; no signal mask.
    let r = unsafe { sys::io_pgetevents(ctx.id(), 1, 1, ev.as_mut_ptr(), &ts, std::ptr::null()) };
    if r == Err(Errno::NOSYS) {
        eprintln!("skipped: this kernel has no io_pgetevents (ENOSYS)");
        return;
    }
    assert_eq!(r, Ok(0));
    let took = start.elapsed();
    assert!(
        took >= wait - Duration::from_millis(20),
        "waited only {took:?}"
    );
    assert!(took < TIMEOUT, "waited {took:?}");

    #[cfg(target_pointer_width = "32")]
    {
        let ts = common::old_ts(wait);
        let start = Instant::now();
        // SAFETY: as above, with the 32-bit timespec.
        let r = unsafe {
            sys::io_pgetevents_time32(ctx.id(), 1, 1, ev.as_mut_ptr(), &ts, std::ptr::null())
        };
        if r == Err(Errno::NOSYS) {
            eprintln!("skipped: this kernel has no time32 io_pgetevents (ENOSYS)");
            return;
        }
        assert_eq!(r, Ok(0));
        let took = start.elapsed();
        assert!(
            took >= wait - Duration::from_millis(20),
            "time32 waited only {took:?}"
        );
        assert!(took < TIMEOUT, "time32 waited {took:?}");

        // And it reaps, with a signal mask.
        let (r, w) = pipe();
        common::pipe_write_byte(&w);
        let mut cb = poll_iocb(&r, POLLIN, TOKEN | 5);
        assert_eq!(submit_one(&ctx, &mut cb), Ok(1));
        let set = rawaio::abi::kernel_sigset_t::EMPTY;
        let usig = rawaio::abi::__aio_sigset {
            sigmask: &set,
            sigsetsize: rawaio::abi::KERNEL_SIGSET_SIZE,
        };
        let ts = common::old_ts(TIMEOUT);
        // SAFETY: as above; `usig` and the set it names are live.
        let n = unsafe { sys::io_pgetevents_time32(ctx.id(), 1, 1, ev.as_mut_ptr(), &ts, &usig) };
        assert_eq!(n, Ok(1));
        assert_eq!((ev[0].data, ev[0].obj), (TOKEN | 5, obj_of(&cb)));
    }
}
