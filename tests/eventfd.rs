//! `rawaio::eventfd::EventFd` against the real kernel: counter semantics, descriptor
//! flags and conversions, and the kernel adding 1 per `IOCB_FLAG_RESFD` completion.

mod common;

use rawaio::abi::{__kernel_old_timespec, IOCB_CMD_PREAD, aio_context_t, io_event, iocb};
use rawaio::eventfd::EventFd;
use rustix::fs::OFlags;
use rustix::io::FdFlags;
use std::io;
use std::os::fd::{AsFd, AsRawFd, IntoRawFd, OwnedFd};

#[test]
fn write_then_read_returns_the_sum_and_resets() {
    let efd = EventFd::new().unwrap();
    efd.write(3).unwrap();
    assert_eq!(efd.read().unwrap(), 3);
    assert_eq!(efd.read().unwrap(), 0);
    efd.write(2).unwrap();
    efd.write(5).unwrap();
    assert_eq!(efd.read().unwrap(), 7);
    assert_eq!(efd.read().unwrap(), 0);
}

#[test]
fn a_new_eventfd_reads_zero_without_blocking() {
    let efd = EventFd::new().unwrap();
    assert_eq!(efd.read().unwrap(), 0);
}

#[test]
fn write_rejects_u64_max_and_overflow() {
    let efd = EventFd::new().unwrap();
    let err = efd.write(u64::MAX).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    efd.write(u64::MAX - 1).unwrap();
    // The counter is full: another 1 would block, and nothing is added.
    let err = efd.write(1).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    assert_eq!(efd.read().unwrap(), u64::MAX - 1);
}

#[test]
fn descriptor_is_a_nonblocking_cloexec_eventfd() {
    let efd = EventFd::new().unwrap();
    let raw = efd.as_raw_fd();
    assert!(raw >= 0);
    assert_eq!(raw, efd.as_fd().as_raw_fd());
    let status = rustix::fs::fcntl_getfl(&efd).unwrap();
    assert!(status.contains(OFlags::NONBLOCK), "{status:?}");
    assert!(status.contains(OFlags::RDWR), "{status:?}");
    assert!(
        rustix::io::fcntl_getfd(&efd)
            .unwrap()
            .contains(FdFlags::CLOEXEC)
    );
    let link = std::fs::read_link(format!("/proc/self/fd/{raw}")).unwrap();
    assert_eq!(link.to_str(), Some("anon_inode:[eventfd]"));
}

#[test]
fn into_owned_fd_keeps_the_same_eventfd() {
    let efd = EventFd::new().unwrap();
    let raw = efd.as_raw_fd();
    efd.write(4).unwrap();
    let owned = OwnedFd::from(efd);
    assert_eq!(owned.as_raw_fd(), raw);
    let mut buf = [0u8; 8];
    assert_eq!(rustix::io::read(&owned, &mut buf).unwrap(), 8);
    assert_eq!(u64::from_ne_bytes(buf), 4);
}

#[test]
fn into_raw_fd_leaves_the_descriptor_open() {
    let efd = EventFd::new().unwrap();
    let expected = efd.as_raw_fd();
    let raw = efd.into_raw_fd();
    assert_eq!(raw, expected);
    // Still open after the EventFd is gone. Taking it back needs `unsafe`, so this
    // one descriptor is left open until the test process exits.
    let link = std::fs::read_link(format!("/proc/self/fd/{raw}")).unwrap();
    assert_eq!(link.to_str(), Some("anon_inode:[eventfd]"));
}

#[test]
fn debug_names_the_type() {
    let efd = EventFd::new().unwrap();
    assert!(format!("{efd:?}").starts_with("EventFd"));
}

/// The kernel adds exactly 1 per completion of a request with `IOCB_FLAG_RESFD`, and
/// nothing for a request without it.
#[test]
fn kernel_adds_one_per_resfd_completion() {
    const SIGNALLED: usize = 3;
    const CONTENT: &[u8; 16] = b"resfd completion";
    let temp = common::TempFile::create(&common::tmpfs_dir(), "eventfd", false).unwrap();
    std::fs::write(&temp.path, CONTENT).unwrap();
    let file = &temp.file;
    let efd = EventFd::new().unwrap();
    let mut bufs = [[0u8; 16]; SIGNALLED + 1];
    let mut cbs = [iocb::default(); SIGNALLED + 1];
    for (i, (cb, buf)) in cbs.iter_mut().zip(bufs.iter_mut()).enumerate() {
        cb.aio_lio_opcode = IOCB_CMD_PREAD;
        cb.aio_fildes = file.as_raw_fd() as u32;
        cb.aio_data = i as u64;
        cb.set_buf(buf.as_mut_ptr(), buf.len());
        if i < SIGNALLED {
            cb.set_resfd(efd.as_raw_fd() as u32);
        }
    }
    let mut list: Vec<*mut iocb> = cbs.iter_mut().map(|cb| cb as *mut iocb).collect();
    let mut events = [io_event::default(); SIGNALLED + 1];
    let timeout = __kernel_old_timespec {
        tv_sec: 5,
        tv_nsec: 0,
    };
    let mut ctx: aio_context_t = 0;
    // SAFETY: `ctx` is a zeroed handle that io_setup may write.
    match unsafe { rawaio::sys::io_setup(8, &mut ctx) } {
        Ok(()) => {}
        Err(rawaio::Errno::NOSYS) => {
            eprintln!("skipped: io_setup gives ENOSYS (kernel without CONFIG_AIO, or qemu-user)");
            return;
        }
        Err(e) => panic!("io_setup: {e}"),
    }
    let mut reaped = 0;
    // SAFETY: the iocbs, their buffers, `file` and `efd` outlive the requests: the
    // context is destroyed (which waits for anything in flight) before they go away.
    let submitted = unsafe { rawaio::sys::io_submit(ctx, list.len() as isize, list.as_mut_ptr()) };
    if submitted.is_ok() {
        while reaped < list.len() {
            // SAFETY: `events` has room for every request from `reaped` on.
            let n = unsafe {
                rawaio::sys::io_getevents(
                    ctx,
                    1,
                    (list.len() - reaped) as isize,
                    events[reaped..].as_mut_ptr(),
                    &timeout,
                )
            };
            match n {
                Ok(0) | Err(_) => break,
                Ok(n) => reaped += n,
            }
        }
    }
    // SAFETY: nothing the context's requests use has been freed yet.
    unsafe { rawaio::sys::io_destroy(ctx) }.unwrap();

    assert_eq!(submitted.unwrap(), SIGNALLED + 1);
    assert_eq!(reaped, SIGNALLED + 1, "every request completes within 5 s");
    for event in &events {
        assert_eq!(event.res, 16, "{event:?}");
    }
    assert_eq!(efd.read().unwrap(), SIGNALLED as u64);
    assert_eq!(efd.read().unwrap(), 0);
    for buf in &bufs {
        assert_eq!(buf, CONTENT);
    }
}
