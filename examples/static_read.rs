//! The libc-free proof: one real AIO read of a temporary file, with every AIO call made
//! by rawaio's own inline assembly. Built for `x86_64-unknown-linux-musl` it is a fully
//! static binary that links nothing of libaio:
//!
//! ```text
//! cargo build --release --example static_read --target x86_64-unknown-linux-musl
//! ./target/x86_64-unknown-linux-musl/release/examples/static_read
//! ```

use rawaio::abi::{IOCB_CMD_PREAD, aio_context_t, io_event, iocb};
use rawaio::sys;
use std::os::fd::AsRawFd;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join(format!("rawaio-static-read-{}", std::process::id()));
    let message = b"read through io_submit by rawaio, without libaio\n";
    std::fs::write(&path, message)?;
    let file = std::fs::File::open(&path)?;
    std::fs::remove_file(&path)?;

    let mut buf = [0u8; 128];
    let mut cb = iocb {
        aio_lio_opcode: IOCB_CMD_PREAD,
        aio_fildes: file.as_raw_fd() as u32,
        ..iocb::default()
    };
    cb.set_buf(buf.as_mut_ptr(), buf.len());
    let mut list = [&mut cb as *mut iocb];
    let mut event = [io_event::default()];
    let mut ctx: aio_context_t = 0;
    // SAFETY: `ctx` is zeroed for io_setup; `buf`, `cb` and `file` outlive the request,
    // which is reaped before the context is destroyed.
    let reaped = unsafe {
        sys::io_setup(1, &mut ctx)?;
        let submitted = sys::io_submit(ctx, 1, list.as_mut_ptr());
        let reaped = submitted.and_then(|_| {
            loop {
                match sys::io_getevents(ctx, 1, 1, event.as_mut_ptr(), std::ptr::null()) {
                    Err(sys::Errno::INTR) => continue,
                    other => break other,
                }
            }
        });
        sys::io_destroy(ctx)?;
        reaped?
    };
    let n =
        usize::try_from(event[0].res).map_err(|_| format!("read failed: res {}", event[0].res))?;
    assert_eq!(reaped, 1);
    print!(
        "static_read: {n} bytes: {}",
        String::from_utf8_lossy(&buf[..n])
    );
    if &buf[..n] != message {
        return Err("the bytes read differ from the file".into());
    }
    Ok(())
}
