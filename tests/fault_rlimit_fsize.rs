//! Fault: the file-size limit (`RLIMIT_FSIZE`) is reached.
//!
//! Limits and signal dispositions are per process, so this binary holds this one test.
//! `SIGXFSZ` (whose default action kills the process) is ignored, as a server would.
//! Expected outcome, for buffered writes on tmpfs and `O_DIRECT` writes on disk alike:
//! - a write that crosses the limit completes *short*, with the bytes below the limit;
//! - a write at or beyond the limit completes with `EFBIG`; the process survives;
//! - writes below the limit are unaffected, and raising the limit back makes writes
//!   beyond it work again on the same context;
//! - `write_all_at` across the limit resubmits the short part's rest, meets `EFBIG`, and
//!   reports how far it got with the buffer back.

mod support;

use rawaio::{AlignedBuf, Context, Errno, Op};
use std::os::unix::fs::FileExt;
use support::{Fs, TempFile, aligned_with, pattern, reap_one};

const LIMIT: u64 = 64 * 1024;

fn set_fsize_soft_limit(limit: libc::rlim_t) -> libc::rlim_t {
    // SAFETY: plain calls on a local, valid rlimit.
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut rl), 0);
        let old = rl.rlim_cur;
        rl.rlim_cur = limit;
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &rl), 0);
        old
    }
}

fn check<B: rawaio::IoBufMut>(
    ctx: &Context<B>,
    file: &std::fs::File,
    readback: &std::fs::File,
    make: impl Fn(&[u8]) -> B,
    what: &str,
) {
    // Crossing the limit: short, up to the limit.
    let data = pattern(7, 32 * 1024);
    ctx.submit(Op::write(file, make(&data), LIMIT - 16 * 1024))
        .unwrap();
    let c = reap_one(ctx);
    assert_eq!(
        c.result(),
        Ok(16 * 1024),
        "{what}: a write across the limit"
    );
    assert!(c.is_short());

    // At the limit: EFBIG, and we are still here (SIGXFSZ ignored).
    ctx.submit(Op::write(file, make(&data[..4096]), LIMIT))
        .unwrap();
    assert_eq!(
        reap_one(ctx).result(),
        Err(Errno::FBIG),
        "{what}: at the limit"
    );
    ctx.submit(Op::write(file, make(&data[..4096]), 10 * LIMIT))
        .unwrap();
    assert_eq!(reap_one(ctx).result(), Err(Errno::FBIG), "{what}: beyond");

    // Below: fine.
    ctx.submit(Op::write(file, make(&data[..8192]), 0)).unwrap();
    assert_eq!(reap_one(ctx).result(), Ok(8192), "{what}: below the limit");
    let mut back = vec![0u8; 16 * 1024];
    readback
        .read_exact_at(&mut back, LIMIT - 16 * 1024)
        .unwrap();
    assert_eq!(back, data[..16 * 1024], "{what}: the part that fit");
}

#[test]
fn rlimit_fsize_gives_short_writes_then_efbig_without_killing_the_process() {
    // SAFETY: ignoring a signal changes no memory; this binary has no other test.
    let previous = unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    assert_ne!(previous, libc::SIG_ERR);
    let buffered = TempFile::new(Fs::Tmpfs, "fault-fsize", &[]);
    let direct = TempFile::new(Fs::Disk, "fault-fsize-direct", &[]);
    let old = set_fsize_soft_limit(LIMIT as libc::rlim_t);

    let ctx = Context::<Vec<u8>>::new(4).unwrap();
    check(
        &ctx,
        &buffered.open_rw(),
        &buffered.open_ro(),
        |b: &[u8]| b.to_vec(),
        "buffered",
    );
    // A whole write across the limit: the short part is resubmitted, which meets EFBIG;
    // the caller learns how far it got and gets the buffer back.
    let f = buffered.open_rw();
    let data = pattern(9, 32 * 1024);
    let incomplete = ctx
        .write_all_at(&f, data.clone(), LIMIT - 8 * 1024, &mut Vec::new())
        .unwrap_err();
    assert_eq!(incomplete.transferred, 8 * 1024);
    assert_eq!(
        incomplete.error.raw_os_error(),
        Some(Errno::FBIG.raw_os_error())
    );
    assert_eq!(incomplete.buf.as_deref(), Some(&data[..]));
    let mut back = vec![0u8; 8 * 1024];
    buffered
        .open_ro()
        .read_exact_at(&mut back, LIMIT - 8 * 1024)
        .unwrap();
    assert_eq!(
        back,
        data[..8 * 1024],
        "the part below the limit was written"
    );
    assert_eq!(ctx.in_flight(), 0);

    let dctx = Context::<AlignedBuf>::new(4).unwrap();
    check(
        &dctx,
        &direct.open_direct(),
        &direct.open_ro(),
        aligned_with,
        "O_DIRECT",
    );

    // The limit lifted: beyond it works again, on the same contexts.
    set_fsize_soft_limit(old);
    let (bf, df) = (buffered.open_rw(), direct.open_direct());
    ctx.submit(Op::write(&bf, vec![1u8; 4096], 10 * LIMIT))
        .unwrap();
    assert_eq!(reap_one(&ctx).result(), Ok(4096));
    dctx.submit(Op::write(&df, aligned_with(&[2u8; 4096]), 10 * LIMIT))
        .unwrap();
    assert_eq!(reap_one(&dctx).result(), Ok(4096));
}
