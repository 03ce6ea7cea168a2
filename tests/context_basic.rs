//! The safe API against the real kernel, one request at a time: creating a context,
//! every kind of request with owned buffers (`O_DIRECT` with `AlignedBuf`, buffered with
//! `Vec<u8>`), what a completion reports, and the checks that refuse a request before
//! the kernel sees it, handing its buffers back.

mod support;

use rawaio::abi::{
    IOCB_CMD_FDSYNC, IOCB_CMD_FSYNC, IOCB_CMD_NOOP, IOCB_CMD_POLL, IOCB_CMD_PREAD, IOCB_CMD_PREADV,
    IOCB_CMD_PWRITE, IOCB_CMD_PWRITEV, iocb,
};
use rawaio::direct::MisalignedPart;
use rawaio::{
    AlignedBuf, Context, Errno, Error, InvalidOp, IoClass, IoPriority, Op, Options, PollFlags,
    RwfFlags,
};
use std::collections::VecDeque;
use std::os::fd::AsRawFd;
use std::time::Duration;
use support::{
    Fs, TempFile, aligned_with, aligned_zeroed, assert_nothing_within, pattern, pipe, reap_n,
    reap_one, write_byte,
};

const POLLIN: u64 = 0x001;
const POLLOUT: u64 = 0x004;

#[test]
fn new_reports_sizes_and_reaps_in_user_space_by_default() {
    let ctx = Context::<Vec<u8>>::new(8).unwrap();
    assert_eq!(ctx.requested_size(), 8);
    assert!(ctx.ring_size() >= 8, "ring {}", ctx.ring_size());
    assert!(ctx.reaps_in_user_space());
    assert_ne!(ctx.raw(), 0);
    assert_eq!((ctx.in_flight(), ctx.ready()), (0, 0));
    assert!(ctx.eventfd().is_none());
    drop(ctx);

    let ctx = Context::<Vec<u8>>::with_options(
        128,
        Options {
            user_space_reaping: false,
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(ctx.requested_size(), 128);
    assert!(ctx.ring_size() >= 128, "ring {}", ctx.ring_size());
    assert!(!ctx.reaps_in_user_space());
    eprintln!("Context::new(128): ring_size {}", ctx.ring_size());
    drop(ctx);

    assert_eq!(
        Context::<Vec<u8>>::new(0).unwrap_err(),
        Error::Os(Errno::INVAL)
    );
    assert_eq!(
        Context::<Vec<u8>>::new(u32::MAX).unwrap_err(),
        Error::Os(Errno::INVAL)
    );
    // Above the system-wide budget (65536 by default): EAGAIN.
    let max_nr: u64 = std::fs::read_to_string("/proc/sys/fs/aio-max-nr")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    if max_nr < 1_000_000 {
        // EAGAIN, explained: what was asked, what the budget is.
        let error = Context::<Vec<u8>>::new(1_000_000).unwrap_err();
        assert_eq!(error.errno(), Some(Errno::AGAIN));
        match error {
            Error::Budget(b) => {
                assert_eq!((b.requested, b.max), (1_000_000, max_nr));
                assert!(b.free() < 1_000_000);
                let text = error.to_string();
                assert!(text.contains("1000000 events") && text.contains("fs.aio-max-nr="));
                eprintln!("{text}");
            }
            other => panic!("expected the budget explained, got {other:?}"),
        }
    }
}

#[test]
fn eventfd_option_counts_one_per_completion() {
    let file = TempFile::new(Fs::Tmpfs, "basic-eventfd", &[]);
    let f = file.open_rw();
    let ctx = Context::<Vec<u8>>::with_options(
        8,
        Options {
            eventfd: true,
            ..Options::default()
        },
    )
    .unwrap();
    let efd = ctx.eventfd().expect("an eventfd was asked for");
    assert_eq!(efd.read().unwrap(), 0);
    for i in 0..3u64 {
        ctx.submit(Op::write(&f, vec![i as u8; 10], i * 10))
            .unwrap();
    }
    let mut done = Vec::new();
    reap_n(&ctx, 3, &mut done);
    assert_eq!(efd.read().unwrap(), 3);
    assert_eq!(efd.read().unwrap(), 0);
}

/// Write then read back 8 KiB at offset 4096 with `O_DIRECT` and page-aligned buffers.
fn direct_round_trip(fs: Fs) {
    let file = TempFile::new(fs, "basic-direct", &[]);
    let f = file.open_direct();
    assert!(rawaio::direct::is_direct(&f).unwrap());
    let align = rawaio::direct::dio_align(&f).unwrap();
    eprintln!("{fs:?}: dio_align {align:?}");
    let ctx = Context::<AlignedBuf>::new(8).unwrap();
    let data = pattern(1, 8192);

    let token = ctx
        .submit(
            Op::write(&f, aligned_with(&data), 4096)
                .user_data(0xfeed_f00d)
                .aligned_to(align),
        )
        .unwrap();
    let c = reap_one(&ctx);
    assert_eq!(c.token(), token);
    assert_eq!(c.user_data(), 0xfeed_f00d);
    assert_eq!(c.opcode(), IOCB_CMD_PWRITE);
    assert_eq!(c.result(), Ok(8192));
    assert_eq!(c.raw_result(), 8192);
    assert_eq!(c.requested_len(), 8192);
    assert!(!c.is_short());
    assert_eq!(
        &c.into_buf().unwrap()[..],
        &data[..],
        "write buffer comes back"
    );

    let token = ctx
        .submit(Op::read(&f, aligned_zeroed(8192), 4096).user_data(7))
        .unwrap();
    let c = reap_one(&ctx);
    assert_eq!((c.token(), c.user_data()), (token, 7));
    assert_eq!(c.opcode(), IOCB_CMD_PREAD);
    assert_eq!(c.result(), Ok(8192));
    assert!(!c.is_short());
    let buf = c.into_buf().unwrap();
    assert_eq!(&buf[..], &data[..], "read buffer comes back filled");
    assert_eq!(buf.align(), 4096);
    assert_eq!(ctx.in_flight(), 0);
    drop(ctx);

    let mut expected = vec![0u8; 4096];
    expected.extend_from_slice(&data);
    assert_eq!(file.contents(), expected);
}

#[test]
fn direct_read_write_on_tmpfs() {
    if !Fs::tmpfs_takes_o_direct_or_skip() {
        return;
    }
    direct_round_trip(Fs::Tmpfs);
}

#[test]
fn direct_read_write_on_disk() {
    direct_round_trip(Fs::Disk);
}

#[test]
fn buffered_read_write_with_vec() {
    let file = TempFile::new(Fs::Tmpfs, "basic-buffered", &[]);
    let f = file.open_rw();
    let ctx = Context::<Vec<u8>>::new(4).unwrap();
    let data = pattern(2, 777);
    let token = ctx
        .submit(Op::write(&f, data.clone(), 3).user_data(1))
        .unwrap();
    let c = reap_one(&ctx);
    assert_eq!((c.token(), c.user_data(), c.result()), (token, 1, Ok(777)));
    assert_eq!(c.buf(), Some(&data));
    assert_eq!(c.into_buf(), Some(data.clone()));

    let c = {
        ctx.submit(Op::read(&f, vec![0xAAu8; 777], 3).user_data(2))
            .unwrap();
        reap_one(&ctx)
    };
    assert_eq!((c.user_data(), c.result()), (2, Ok(777)));
    assert_eq!(c.into_buf(), Some(data.clone()));
    let mut expected = vec![0u8; 3];
    expected.extend_from_slice(&data);
    assert_eq!(file.contents(), expected);
}

#[test]
fn vectored_read_write_buffered() {
    let file = TempFile::new(Fs::Tmpfs, "basic-vectored", &[]);
    let f = file.open_rw();
    let ctx = Context::<Vec<u8>>::new(4).unwrap();
    let parts = vec![pattern(3, 100), pattern(4, 1), pattern(5, 3000)];
    let data = parts.concat();

    ctx.submit(Op::writev(&f, parts.clone(), 10).user_data(11))
        .unwrap();
    let c = reap_one(&ctx);
    assert_eq!(c.opcode(), IOCB_CMD_PWRITEV);
    assert_eq!((c.user_data(), c.result()), (11, Ok(3101)));
    assert_eq!(c.requested_len(), 3101);
    assert!(!c.is_short());
    assert_eq!(c.buf(), Some(&parts[0]), "buf() is the first buffer");
    assert_eq!(c.into_bufs(), parts, "every buffer comes back, in order");

    // Split differently on the way back, and ask for more than there is.
    ctx.submit(
        Op::readv(&f, vec![vec![0u8; 3000], vec![0u8; 101], vec![0u8; 50]], 10).user_data(12),
    )
    .unwrap();
    let c = reap_one(&ctx);
    assert_eq!(c.opcode(), IOCB_CMD_PREADV);
    assert_eq!((c.user_data(), c.result()), (12, Ok(3101)));
    assert_eq!(c.requested_len(), 3151);
    assert!(c.is_short());
    let bufs = c.into_bufs();
    assert_eq!(bufs.len(), 3);
    assert_eq!(bufs[..2].concat(), data);
    assert_eq!(
        bufs[2],
        vec![0u8; 50],
        "nothing read past the end of the file"
    );
}

#[test]
fn vectored_read_write_direct() {
    let file = TempFile::new(Fs::direct(), "basic-vectored-direct", &[]);
    let f = file.open_direct();
    let ctx = Context::<AlignedBuf>::new(4).unwrap();
    let a = pattern(6, 4096);
    let b = pattern(7, 8192);
    ctx.submit(Op::writev(
        &f,
        vec![aligned_with(&a), aligned_with(&b)],
        4096,
    ))
    .unwrap();
    let c = reap_one(&ctx);
    assert_eq!(c.result(), Ok(12288));
    let back = c.into_bufs();
    assert_eq!((&back[0][..], &back[1][..]), (&a[..], &b[..]));

    ctx.submit(Op::readv(
        &f,
        vec![aligned_zeroed(8192), aligned_zeroed(4096)],
        4096,
    ))
    .unwrap();
    let c = reap_one(&ctx);
    assert_eq!(c.result(), Ok(12288));
    let got: Vec<u8> = c.into_bufs().iter().flat_map(|b| b.to_vec()).collect();
    assert_eq!(got, [a, b].concat());
}

#[test]
fn fsync_and_fdsync_complete_with_zero_and_no_buffer() {
    for fs in [Fs::Tmpfs, Fs::Disk] {
        let file = TempFile::new(fs, "basic-fsync", b"some data");
        let f = file.open_rw();
        let ctx = Context::<Vec<u8>>::new(4).unwrap();
        let t1 = ctx.submit(Op::fsync(&f).user_data(21)).unwrap();
        let t2 = ctx.submit(Op::fdsync(&f).user_data(22)).unwrap();
        assert_ne!(t1, t2);
        let mut done = Vec::new();
        reap_n(&ctx, 2, &mut done);
        done.sort_by_key(|c| c.user_data());
        assert_eq!(done[0].token(), t1);
        assert_eq!(done[0].opcode(), IOCB_CMD_FSYNC);
        assert_eq!(done[1].token(), t2);
        assert_eq!(done[1].opcode(), IOCB_CMD_FDSYNC);
        for c in done {
            assert_eq!(c.result(), Ok(0), "{fs:?}");
            assert_eq!(c.requested_len(), 0);
            assert!(!c.is_short());
            assert!(c.buf().is_none());
            assert!(c.into_bufs().is_empty());
        }
    }
}

#[test]
fn poll_completes_with_the_ready_mask() {
    let (r, w) = pipe();
    let ctx = Context::<Vec<u8>>::new(4).unwrap();
    let token = ctx
        .submit(Op::poll(&r, PollFlags::IN).user_data(31))
        .unwrap();
    assert_nothing_within(&ctx, Duration::from_millis(30));
    assert!(ctx.is_in_flight(token));
    assert_eq!(ctx.in_flight(), 1);

    write_byte(&w);
    let c = reap_one(&ctx);
    assert_eq!(
        (c.token(), c.user_data(), c.opcode()),
        (token, 31, IOCB_CMD_POLL)
    );
    let mask = c.result().unwrap();
    assert_ne!(mask & POLLIN, 0, "mask {mask:#x}");
    assert_eq!(c.requested_len(), 0);
    assert!(c.into_buf().is_none());
    assert!(!ctx.is_in_flight(token));

    // The write end of an empty pipe is writable at once.
    ctx.submit(Op::poll(&w, PollFlags::OUT)).unwrap();
    let mask = reap_one(&ctx).result().unwrap();
    assert_ne!(mask & POLLOUT, 0, "mask {mask:#x}");
}

#[test]
fn short_read_at_end_of_file() {
    let data = pattern(8, 1000);
    let file = TempFile::new(Fs::Tmpfs, "basic-short", &data);
    let f = file.open_rw();
    let ctx = Context::<Vec<u8>>::new(4).unwrap();
    ctx.submit(Op::read(&f, vec![0u8; 4096], 0)).unwrap();
    let c = reap_one(&ctx);
    assert_eq!(c.result(), Ok(1000));
    assert_eq!(c.raw_result(), 1000);
    assert_eq!(c.requested_len(), 4096);
    assert!(c.is_short());
    let buf = c.into_buf().unwrap();
    assert_eq!(&buf[..1000], &data[..]);
    assert!(buf[1000..].iter().all(|&b| b == 0));

    // Entirely past the end: 0 bytes, short.
    ctx.submit(Op::read(&f, vec![0u8; 16], 5000)).unwrap();
    let c = reap_one(&ctx);
    assert_eq!(c.result(), Ok(0));
    assert!(c.is_short());
}

#[test]
fn short_direct_read_at_end_of_file() {
    for fs in [Fs::direct(), Fs::Disk] {
        let data = pattern(9, 1000);
        let file = TempFile::new(fs, "basic-short-direct", &data);
        let f = file.open_direct();
        let ctx = Context::<AlignedBuf>::new(4).unwrap();
        ctx.submit(Op::read(&f, aligned_zeroed(4096), 0)).unwrap();
        let c = reap_one(&ctx);
        assert_eq!(c.result(), Ok(1000), "{fs:?}");
        assert!(c.is_short());
        assert_eq!(&c.into_buf().unwrap()[..1000], &data[..]);
    }
}

#[test]
fn misaligned_direct_io_fails_with_einval() {
    let file = TempFile::new(Fs::Disk, "basic-misaligned", &pattern(10, 8192));
    let f = file.open_direct();
    let ctx = Context::<AlignedBuf>::new(4).unwrap();
    // A misaligned offset, then a misaligned length: EINVAL at submission or in the
    // completion, the buffer coming back either way.
    for (len, offset) in [(4096, 1), (100, 0)] {
        match ctx.submit(Op::read(&f, aligned_zeroed(len), offset).user_data(41)) {
            Err(rejected) => {
                eprintln!("misaligned ({len}, {offset}): refused at submission");
                assert_eq!(rejected.error, Error::Os(Errno::INVAL));
                assert_eq!(rejected.op.get_user_data(), 41);
                assert_eq!(rejected.op.into_bufs().len(), 1);
            }
            Ok(token) => {
                eprintln!("misaligned ({len}, {offset}): failed in the completion");
                let c = reap_one(&ctx);
                assert_eq!((c.token(), c.user_data()), (token, 41));
                assert_eq!(c.raw_result(), -i64::from(Errno::INVAL.raw_os_error()));
                assert_eq!(c.result(), Err(Errno::INVAL));
                assert!(!c.is_short(), "an error is not a short transfer");
                assert_eq!(c.into_buf().unwrap().len(), len);
            }
        }
        assert_eq!(ctx.in_flight(), 0);
    }
}

#[test]
fn wrong_access_mode_is_refused_at_submission_with_the_buffer_back() {
    let file = TempFile::new(Fs::Tmpfs, "basic-ebadf", b"read only");
    let ro = file.open_ro();
    let ctx = Context::<Vec<u8>>::new(4).unwrap();
    let rejected = ctx
        .submit(Op::write(&ro, b"abc".to_vec(), 0).user_data(51))
        .unwrap_err();
    assert_eq!(rejected.error, Error::Os(Errno::BADF));
    assert!(rejected.to_string().contains("not submitted"), "{rejected}");
    assert_eq!(rejected.op.get_user_data(), 51);
    assert_eq!(rejected.op.into_bufs(), vec![b"abc".to_vec()]);
    assert_eq!(ctx.in_flight(), 0);
    assert_eq!(file.contents(), b"read only");
}

#[test]
fn unsupported_rw_flags_are_refused_by_the_kernel_with_the_buffer_back() {
    let file = TempFile::new(Fs::Tmpfs, "basic-rwf", &[]);
    let f = file.open_rw();
    let ctx = Context::<Vec<u8>>::new(4).unwrap();
    let data = pattern(12, 64);

    // RWF_ATOMIC on a buffered tmpfs file, and a bit no kernel knows.
    for flags in [RwfFlags::ATOMIC, RwfFlags::from_bits_retain(1 << 30)] {
        let rejected = ctx
            .submit(Op::write(&f, data.clone(), 0).rw_flags(flags).user_data(61))
            .unwrap_err();
        match rejected.error {
            Error::Os(e) => assert!(
                e == Errno::OPNOTSUPP || e == Errno::INVAL,
                "{flags:?}: unexpected {e:?}"
            ),
            e => panic!("{flags:?} refused by rawaio, not the kernel: {e}"),
        }
        eprintln!("{flags:?} on buffered tmpfs: {:?}", rejected.error);
        assert_eq!(rejected.op.get_user_data(), 61);
        assert_eq!(rejected.op.into_bufs(), vec![data.clone()]);
        assert_eq!(ctx.in_flight(), 0);
    }
    assert!(file.contents().is_empty(), "nothing was written");

    // A supported flag goes through.
    ctx.submit(Op::write(&f, data.clone(), 0).rw_flags(RwfFlags::DSYNC))
        .unwrap();
    assert_eq!(reap_one(&ctx).result(), Ok(64));
    assert_eq!(file.contents(), data);
}

#[test]
fn io_priority_best_effort_is_accepted() {
    let prio = IoPriority::new(IoClass::BestEffort, 4).unwrap();
    assert_eq!(prio.value(), (2 << 13) | 4);
    assert_eq!(
        IoPriority::new(IoClass::BestEffort, 8),
        Err(InvalidOp::PriorityLevel { level: 8 })
    );
    let file = TempFile::new(Fs::Tmpfs, "basic-ioprio", &[]);
    let f = file.open_rw();
    let ctx = Context::<Vec<u8>>::new(4).unwrap();
    ctx.submit(Op::write(&f, vec![5u8; 300], 0).priority(prio))
        .unwrap();
    assert_eq!(reap_one(&ctx).result(), Ok(300));
    ctx.submit(Op::read(&f, vec![0u8; 300], 0).priority(prio))
        .unwrap();
    let c = reap_one(&ctx);
    assert_eq!(c.result(), Ok(300));
    assert_eq!(c.into_buf().unwrap(), vec![5u8; 300]);
}

#[test]
fn rw_flags_on_sync_and_poll_are_refused_before_the_kernel() {
    let file = TempFile::new(Fs::Tmpfs, "basic-flags-sync", b"x");
    let f = file.open_rw();
    let (r, _w) = pipe();
    let ctx = Context::<Vec<u8>>::new(4).unwrap();
    for op in [
        Op::<Vec<u8>>::fsync(&f).rw_flags(RwfFlags::DSYNC),
        Op::fdsync(&f).rw_flags(RwfFlags::SYNC),
        Op::poll(&r, PollFlags::IN).rw_flags(RwfFlags::NOWAIT),
    ] {
        let opcode = op.opcode();
        // The kernel would say Os(EINVAL): Invalid proves rawaio refused it first.
        let rejected = ctx.submit(op.user_data(71)).unwrap_err();
        assert_eq!(
            rejected.error,
            Error::Invalid(InvalidOp::FlagsNotAllowed),
            "opcode {opcode}"
        );
        assert_eq!(rejected.op.get_user_data(), 71);
        assert_eq!(rejected.op.opcode(), opcode);
    }
    // The same through a batch: nothing accepted, the op left in the queue.
    let mut ops = VecDeque::from([Op::<Vec<u8>>::fsync(&f).rw_flags(RwfFlags::DSYNC)]);
    let mut tokens = Vec::new();
    let s = ctx.submit_batch(&mut ops, &mut tokens);
    assert_eq!(s.accepted, 0);
    assert_eq!(s.error, Some(Error::Invalid(InvalidOp::FlagsNotAllowed)));
    assert_eq!((ops.len(), tokens.len()), (1, 0));
    assert_eq!(ctx.in_flight(), 0);
}

#[test]
fn offsets_beyond_loff_t_are_refused_before_the_kernel() {
    let file = TempFile::new(Fs::Tmpfs, "basic-offset", &[]);
    let f = file.open_rw();
    let ctx = Context::<Vec<u8>>::new(4).unwrap();
    let rejected = ctx
        .submit(Op::read(&f, vec![9u8; 16], u64::MAX))
        .unwrap_err();
    assert_eq!(
        rejected.error,
        Error::Invalid(InvalidOp::OffsetTooLarge {
            offset: u64::MAX,
            len: 16
        })
    );
    assert_eq!(rejected.op.into_bufs(), vec![vec![9u8; 16]]);

    // The last byte must stay below i64::MAX.
    let rejected = ctx
        .submit(Op::write(&f, vec![1u8; 16], i64::MAX as u64 - 15))
        .unwrap_err();
    assert!(matches!(
        rejected.error,
        Error::Invalid(InvalidOp::OffsetTooLarge { len: 16, .. })
    ));
    assert_eq!(ctx.in_flight(), 0);
}

/// The part, value and alignment of a misalignment error.
fn misaligned(error: Error) -> (MisalignedPart, u64, usize) {
    match error {
        Error::Invalid(InvalidOp::Misaligned(m)) => (m.part(), m.value(), m.required()),
        other => panic!("expected a misalignment, got {other:?}"),
    }
}

#[test]
fn alignment_checks_refuse_misaligned_requests_before_submission() {
    let file = TempFile::new(Fs::Disk, "basic-align", &pattern(13, 8192));
    let f = file.open_direct();
    let align = rawaio::direct::dio_align(&f).unwrap();
    assert!(align.offset > 1 && align.memory > 1, "{align:?}");
    let ctx = Context::<AlignedBuf>::new(4).unwrap();

    let rejected = ctx
        .submit(Op::read(&f, aligned_zeroed(4096), 100).check_alignment(4096, 4096))
        .unwrap_err();
    assert_eq!(
        misaligned(rejected.error),
        (MisalignedPart::Offset, 100, 4096)
    );
    assert_eq!(rejected.op.into_bufs()[0].len(), 4096);

    let rejected = ctx
        .submit(Op::write(&f, aligned_with(&[7u8; 100]), 0).aligned_to(align))
        .unwrap_err();
    assert_eq!(
        misaligned(rejected.error),
        (MisalignedPart::Length, 100, align.offset)
    );
    assert_eq!(&rejected.op.into_bufs()[0][..], &[7u8; 100][..]);

    // A buffer address one byte past a page boundary.
    let ctx_slices = Context::<&'static mut [u8]>::new(4).unwrap();
    let leaked: &'static mut [u8] = Box::leak(vec![0u8; 8192].into_boxed_slice());
    let skip = (4097 - leaked.as_ptr() as usize % 4096) % 4096;
    let slice = &mut leaked[skip..skip + 4096];
    let addr = slice.as_ptr() as u64;
    assert_eq!(addr % 4096, 1);
    let rejected = ctx_slices
        .submit(Op::read(&f, slice, 0).aligned_to(align))
        .unwrap_err();
    assert_eq!(
        misaligned(rejected.error),
        (MisalignedPart::Address, addr, align.memory)
    );
    let back = rejected.op.into_bufs();
    assert_eq!(back[0].as_ptr() as u64, addr, "the same slice comes back");
    assert_eq!(ctx.in_flight() + ctx_slices.in_flight(), 0);

    // An aligned request passes the same check and completes.
    ctx.submit(Op::read(&f, aligned_zeroed(4096), 4096).aligned_to(align))
        .unwrap();
    let c = reap_one(&ctx);
    assert_eq!(c.result(), Ok(4096));
    assert_eq!(&c.into_buf().unwrap()[..], &pattern(13, 8192)[4096..]);
}

#[test]
fn submit_raw_with_a_caller_managed_buffer() {
    let data = pattern(14, 512);
    let file = TempFile::new(Fs::Tmpfs, "basic-raw", &data);
    let f = file.open_rw();
    // Declared before the context, so the context (which waits for the request) is
    // dropped first even if the test fails.
    let mut buf = vec![0u8; 512];
    let ctx = Context::<Vec<u8>>::new(4).unwrap();

    let mut cb = iocb {
        aio_lio_opcode: IOCB_CMD_PREAD,
        aio_fildes: f.as_raw_fd() as u32,
        aio_data: 0xdead_beef,
        ..iocb::default()
    };
    cb.set_buf(buf.as_mut_ptr(), buf.len());
    // SAFETY: `buf` is neither touched nor freed until the request is reaped below (or,
    // if the test fails first, until the context is dropped).
    let token = unsafe { ctx.submit_raw(&cb) }.unwrap();
    assert_eq!(cb.aio_data, 0xdead_beef, "the caller's iocb is left alone");
    assert!(ctx.is_in_flight(token));
    let c = reap_one(&ctx);
    assert_eq!(c.token(), token);
    assert_eq!(c.opcode(), IOCB_CMD_PREAD);
    assert_eq!(c.result(), Ok(512));
    assert!(c.buf().is_none());
    assert!(c.into_buf().is_none());
    assert_eq!(buf, data);

    // A request the kernel refuses: the error, and nothing left in flight.
    let bad = iocb {
        aio_lio_opcode: IOCB_CMD_NOOP,
        aio_fildes: f.as_raw_fd() as u32,
        ..iocb::default()
    };
    // SAFETY: the request names no memory.
    let err = unsafe { ctx.submit_raw(&bad) }.unwrap_err();
    assert_eq!(err, Error::Os(Errno::INVAL));
    assert_eq!(ctx.in_flight(), 0);
}
