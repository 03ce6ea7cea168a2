//! Round trips through the real kernel with the raw layer: `PWRITE`, `PREAD`, `FSYNC`,
//! `FDSYNC`, `PWRITEV`, `PREADV` and a batch of requests in one `io_submit`, on
//! `O_DIRECT` files on tmpfs and ext4.

mod common;

use common::{
    AlignedBuf, BLOCK, Ctx, TempFile, bare_iocb, ext4_dir, obj_of, pattern, reap, rw_iocb, submit,
    submit_and_reap, tmpfs_dir,
};
use rawaio::abi::{
    IOCB_CMD_FDSYNC, IOCB_CMD_FSYNC, IOCB_CMD_PREAD, IOCB_CMD_PREADV, IOCB_CMD_PWRITE,
    IOCB_CMD_PWRITEV, iocb,
};
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// `struct iovec`: `{ void *iov_base; size_t iov_len; }`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct Iovec {
    base: *mut c_void,
    len: usize,
}

const _: () = assert!(std::mem::size_of::<Iovec>() == 2 * std::mem::size_of::<usize>());

/// Tokens with the top bit set, so that a truncated or sign-mangled `aio_data` shows.
const TOKEN: u64 = 0xfeed_5eed_0000_0000;

/// Writes several blocks, reads them back, then `FSYNC` and `FDSYNC`.
fn write_read_sync(dir: &Path) {
    let Some(f) = TempFile::create_direct(dir, "rw") else {
        return;
    };
    const BLOCKS: usize = 4;
    let len = BLOCKS * BLOCK;
    // Written at an offset of two blocks, so that offset handling is exercised too.
    let offset = 2 * BLOCK;
    let wbuf = AlignedBuf::filled(len, |i| pattern(1, offset + i));
    let mut rbuf = AlignedBuf::filled(len, |_| 0xee);
    let ctx = Ctx::new(4);

    let mut w = rw_iocb(
        IOCB_CMD_PWRITE,
        f.fd(),
        wbuf.as_ptr(),
        len,
        offset as i64,
        TOKEN | 1,
    );
    let ev = submit_and_reap(&ctx, &mut w);
    assert_eq!(ev.res, len as i64, "PWRITE wrote every byte");
    assert_eq!(ev.res2, 0);

    // The data really reached the file, at the right offset.
    assert_eq!(f.file.metadata().unwrap().len(), (offset + len) as u64);

    let mut r = rw_iocb(
        IOCB_CMD_PREAD,
        f.fd(),
        rbuf.as_mut_ptr(),
        len,
        offset as i64,
        TOKEN | 2,
    );
    let ev = submit_and_reap(&ctx, &mut r);
    assert_eq!(ev.res, len as i64, "PREAD read every byte");
    assert_eq!(ev.res2, 0);
    assert!(
        rbuf.as_slice() == wbuf.as_slice(),
        "read back what was written"
    );

    // The hole before the data reads as zeros.
    let mut hole = AlignedBuf::filled(BLOCK, |_| 0xee);
    let mut r = rw_iocb(
        IOCB_CMD_PREAD,
        f.fd(),
        hole.as_mut_ptr(),
        BLOCK,
        0,
        TOKEN | 3,
    );
    let ev = submit_and_reap(&ctx, &mut r);
    assert_eq!(ev.res, BLOCK as i64);
    assert!(
        hole.as_slice().iter().all(|&b| b == 0),
        "hole reads as zeros"
    );

    // A read past the end is short: only the bytes that exist.
    let mut r = rw_iocb(
        IOCB_CMD_PREAD,
        f.fd(),
        rbuf.as_mut_ptr(),
        len,
        (offset + len - BLOCK) as i64,
        TOKEN | 4,
    );
    let ev = submit_and_reap(&ctx, &mut r);
    assert_eq!(
        ev.res, BLOCK as i64,
        "read at EOF - 1 block returns 1 block"
    );

    let mut s = bare_iocb(IOCB_CMD_FSYNC, f.fd(), TOKEN | 5);
    let ev = submit_and_reap(&ctx, &mut s);
    assert_eq!(ev.res, 0, "FSYNC succeeds");
    assert_eq!(ev.res2, 0);

    let mut s = bare_iocb(IOCB_CMD_FDSYNC, f.fd(), TOKEN | 6);
    let ev = submit_and_reap(&ctx, &mut s);
    assert_eq!(ev.res, 0, "FDSYNC succeeds");
    assert_eq!(ev.res2, 0);
}

/// `PWRITEV` from three buffers, `PREADV` into three differently split buffers.
fn vectored(dir: &Path) {
    let Some(f) = TempFile::create_direct(dir, "vec") else {
        return;
    };
    let sizes_w = [BLOCK, 2 * BLOCK, BLOCK];
    let sizes_r = [2 * BLOCK, BLOCK, BLOCK];
    let total: usize = sizes_w.iter().sum();
    let offset = BLOCK;
    let mut start = 0;
    let wbufs: Vec<AlignedBuf> = sizes_w
        .iter()
        .map(|&n| {
            let b = AlignedBuf::filled(n, |i| pattern(2, offset + start + i));
            start += n;
            b
        })
        .collect();
    let mut rbufs: Vec<AlignedBuf> = sizes_r
        .iter()
        .map(|&n| AlignedBuf::filled(n, |_| 0xee))
        .collect();
    let wvec: Vec<Iovec> = wbufs
        .iter()
        .map(|b| Iovec {
            base: b.as_ptr() as *mut c_void,
            len: b.len(),
        })
        .collect();
    let rvec: Vec<Iovec> = rbufs
        .iter_mut()
        .map(|b| Iovec {
            base: b.as_mut_ptr().cast(),
            len: b.len(),
        })
        .collect();
    let ctx = Ctx::new(2);

    let mut w = iocb {
        aio_lio_opcode: IOCB_CMD_PWRITEV,
        aio_fildes: f.fd(),
        aio_offset: offset as i64,
        aio_data: TOKEN | 0x10,
        ..iocb::default()
    };
    w.set_iovecs(wvec.as_ptr(), wvec.len());
    assert_eq!(w.aio_nbytes, 3, "aio_nbytes holds the iovec count");
    let ev = submit_and_reap(&ctx, &mut w);
    assert_eq!(ev.res, total as i64, "PWRITEV wrote every iovec");

    // Checked with an ordinary read too: the three buffers landed in order.
    // (An aligned buffer: the descriptor is O_DIRECT.)
    let mut plain = AlignedBuf::new(total);
    f.file
        .read_exact_at(plain.as_mut_slice(), offset as u64)
        .unwrap();
    let expected: Vec<u8> = wbufs.iter().flat_map(|b| b.as_slice().to_vec()).collect();
    assert!(plain.as_slice() == expected, "PWRITEV data in file order");

    let mut r = iocb {
        aio_lio_opcode: IOCB_CMD_PREADV,
        aio_fildes: f.fd(),
        aio_offset: offset as i64,
        aio_data: TOKEN | 0x11,
        ..iocb::default()
    };
    r.set_iovecs(rvec.as_ptr(), rvec.len());
    let ev = submit_and_reap(&ctx, &mut r);
    assert_eq!(ev.res, total as i64, "PREADV filled every iovec");
    let got: Vec<u8> = rbufs.iter().flat_map(|b| b.as_slice().to_vec()).collect();
    assert!(got == expected, "PREADV scattered the data in order");
}

/// Eight writes in one `io_submit`, all reaped; then eight reads in one `io_submit`.
fn batch(dir: &Path) {
    let Some(f) = TempFile::create_direct(dir, "batch") else {
        return;
    };
    const N: usize = 8;
    // Each request covers its own block, each with its own 2-block buffer.
    let len = 2 * BLOCK;
    let wbufs: Vec<AlignedBuf> = (0..N)
        .map(|k| AlignedBuf::filled(len, |i| pattern(3, k * len + i)))
        .collect();
    let mut rbufs: Vec<AlignedBuf> = (0..N).map(|_| AlignedBuf::filled(len, |_| 0xee)).collect();
    let ctx = Ctx::new(N as u32);

    let mut writes: Vec<iocb> = wbufs
        .iter()
        .enumerate()
        .map(|(k, b)| {
            rw_iocb(
                IOCB_CMD_PWRITE,
                f.fd(),
                b.as_ptr(),
                len,
                (k * len) as i64,
                TOKEN | 0x100 | k as u64,
            )
        })
        .collect();
    let mut list: Vec<*mut iocb> = writes.iter_mut().map(|c| c as *mut iocb).collect();
    assert_eq!(submit(&ctx, &mut list), Ok(N), "all 8 writes accepted");
    let by_token: BTreeMap<u64, (u64, i64)> = reap(&ctx, N)
        .into_iter()
        .map(|ev| (ev.data, (ev.obj, ev.res)))
        .collect();
    assert_eq!(by_token.len(), N, "8 distinct completions");
    for (k, cb) in writes.iter().enumerate() {
        let (obj, res) = by_token[&(TOKEN | 0x100 | k as u64)];
        assert_eq!(obj, obj_of(cb), "write {k}: obj is its iocb");
        assert_eq!(res, len as i64, "write {k}: full length");
    }
    assert_eq!(f.file.metadata().unwrap().len(), (N * len) as u64);

    let mut reads: Vec<iocb> = rbufs
        .iter_mut()
        .enumerate()
        .map(|(k, b)| {
            rw_iocb(
                IOCB_CMD_PREAD,
                f.fd(),
                b.as_mut_ptr(),
                len,
                (k * len) as i64,
                TOKEN | 0x200 | k as u64,
            )
        })
        .collect();
    // Submitted in reverse order, to show that nothing depends on file order.
    let mut list: Vec<*mut iocb> = reads.iter_mut().rev().map(|c| c as *mut iocb).collect();
    assert_eq!(submit(&ctx, &mut list), Ok(N), "all 8 reads accepted");
    let events = reap(&ctx, N);
    let mut seen = [false; N];
    for ev in events {
        let k = (ev.data & 0xff) as usize;
        assert_eq!(ev.data, TOKEN | 0x200 | k as u64);
        assert!(!seen[k], "read {k} completed twice");
        seen[k] = true;
        assert_eq!(ev.obj, obj_of(&reads[k]), "read {k}: obj is its iocb");
        assert_eq!(ev.res, len as i64, "read {k}: full length");
    }
    for (k, (r, w)) in rbufs.iter().zip(&wbufs).enumerate() {
        assert!(
            r.as_slice() == w.as_slice(),
            "read {k} got block {k}'s data"
        );
    }
}

#[test]
fn write_read_sync_tmpfs() {
    write_read_sync(&tmpfs_dir());
}

#[test]
fn write_read_sync_ext4() {
    write_read_sync(&ext4_dir().0);
}

#[test]
fn vectored_tmpfs() {
    vectored(&tmpfs_dir());
}

#[test]
fn vectored_ext4() {
    vectored(&ext4_dir().0);
}

#[test]
fn batch_of_8_tmpfs() {
    batch(&tmpfs_dir());
}

#[test]
fn batch_of_8_ext4() {
    batch(&ext4_dir().0);
}
