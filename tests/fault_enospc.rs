//! Fault: the file system fills up (`ENOSPC`).
//!
//! A 64 KiB tmpfs is mounted on a directory of our own (and unmounted at the end).
//! Expected outcome:
//! - a buffered write larger than the free space completes *short*, with what fit;
//! - the next write completes with `ENOSPC` in its completion (never at submission),
//!   with its buffer handed back unchanged;
//! - a batch of writes into the full file system: every one completes exactly once,
//!   each with `ENOSPC`;
//! - once space is freed, writes succeed again on the same context, and the data that
//!   did fit is intact.
//!
//! Needs `CAP_SYS_ADMIN` to mount; without it the test says so and skips.

mod support;

use rawaio::{Context, Errno, Op};
use std::collections::VecDeque;
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use support::{pattern, reap_n, reap_one};

const SIZE: usize = 64 * 1024;

/// A tmpfs of `SIZE` bytes mounted on a fresh directory, unmounted and removed on drop.
struct TinyFs {
    dir: PathBuf,
}

impl TinyFs {
    fn mount() -> Result<Self, std::io::Error> {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("rawaio-enospc-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let target = CString::new(dir.as_os_str().as_bytes()).unwrap();
        let options = CString::new(format!("size={SIZE},mode=0700")).unwrap();
        // SAFETY: every pointer is a valid NUL-terminated string that outlives the call.
        let r = unsafe {
            libc::mount(
                c"rawaio-enospc".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                options.as_ptr().cast(),
            )
        };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            let _ = std::fs::remove_dir(&dir);
            return Err(e);
        }
        Ok(Self { dir })
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let target = CString::new(self.dir.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid path string; MNT_DETACH so a straggling descriptor cannot keep
        // the mount alive.
        let r = unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        assert_eq!(r, 0, "umount: {}", std::io::Error::last_os_error());
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn open(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .expect("create on the tiny tmpfs")
}

#[test]
fn enospc_short_write_then_errors_then_recovery() {
    let fs = match TinyFs::mount() {
        Ok(fs) => fs,
        Err(e) => {
            eprintln!("skipping: cannot mount a tmpfs ({e}); needs CAP_SYS_ADMIN");
            return;
        }
    };
    let path = fs.dir.join("full");
    let file = open(&path);
    let ctx = Context::<Vec<u8>>::new(16).unwrap();

    // 1. Larger than the file system: short, with what fit (whole pages).
    let big = pattern(1, 2 * SIZE);
    ctx.submit(Op::write(&file, big.clone(), 0)).unwrap();
    let c = reap_one(&ctx);
    let fitted = c.result().expect("a partial write reports what it wrote") as usize;
    eprintln!(
        "a {} byte write into a {SIZE} byte tmpfs wrote {fitted}",
        big.len()
    );
    assert!(c.is_short());
    assert!(
        fitted > 0 && fitted <= SIZE && fitted % 4096 == 0,
        "{fitted}"
    );
    assert_eq!(
        c.into_buf().unwrap(),
        big,
        "the buffer comes back unchanged"
    );

    // 2. Full: the next write fails in its completion, not at submission.
    let more = pattern(2, 4096);
    ctx.submit(Op::write(&file, more.clone(), fitted as u64))
        .expect("ENOSPC is not known at submission");
    let c = reap_one(&ctx);
    assert_eq!(c.result(), Err(Errno::NOSPC));
    assert!(!c.is_short());
    assert_eq!(c.into_buf().unwrap(), more);

    // 3. A batch into the full file system: each completes once, each with ENOSPC.
    let mut ops: VecDeque<Op<Vec<u8>>> = (0..8)
        .map(|i| {
            Op::write(&file, vec![i as u8; 4096], (fitted + i * 4096) as u64).user_data(i as u64)
        })
        .collect();
    let mut tokens = Vec::new();
    let s = ctx.submit_batch(&mut ops, &mut tokens);
    assert_eq!((s.accepted, s.error), (8, None));
    let mut done = Vec::new();
    reap_n(&ctx, 8, &mut done);
    let mut seen: Vec<u64> = done.iter().map(|c| c.user_data()).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..8).collect::<Vec<_>>());
    assert!(done.iter().all(|c| c.result() == Err(Errno::NOSPC)));
    assert_eq!(ctx.in_flight(), 0);

    // 4. Freed: the same context writes again, and what fit before is intact.
    let mut kept = vec![0u8; fitted];
    assert_eq!(file.read_at(&mut kept, 0).unwrap(), fitted);
    assert_eq!(kept, big[..fitted]);
    file.set_len(0).unwrap();
    let again = pattern(3, SIZE / 2);
    ctx.submit(Op::write(&file, again.clone(), 0)).unwrap();
    assert_eq!(reap_one(&ctx).result(), Ok(again.len() as u64));
    let mut back = vec![0u8; again.len()];
    file.read_exact_at(&mut back, 0).unwrap();
    assert_eq!(back, again);
    drop(ctx);
    drop(file);
    drop(fs);
}
