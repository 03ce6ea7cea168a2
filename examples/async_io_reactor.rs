//! rawaio's futures on the async-io reactor (`rawaio::reactor::AsyncIo`, the reactor of
//! smol and async-std): reads many files concurrently, copies a file with direct I/O, and
//! waits for a socket through `IOCB_CMD_POLL`, in a temporary directory that it removes;
//! then several threads, each blocked in its own `async_io::block_on`, share one context.
//!
//! Run: `cargo run --features async-io --example async_io_reactor`

#[path = "support/async_demo.rs"]
mod demo;

use rawaio::reactor::AsyncIo;
use rawaio::{AsyncContext, Op};
use std::fs::File;

fn main() -> demo::Result<()> {
    let scratch = demo::Scratch::new("async-io")?;
    async_io::block_on(demo::run::<AsyncIo>(scratch.path()))?;

    let path = scratch.path().join("shared");
    std::fs::write(
        &path,
        (0..=255u8).cycle().take(1 << 20).collect::<Vec<u8>>(),
    )?;
    let ctx = AsyncContext::<AsyncIo>::new(32)?;
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let (ctx, path) = (ctx.clone(), path.clone());
            std::thread::spawn(move || -> demo::Result<u64> {
                let file = File::open(path)?;
                async_io::block_on(async {
                    let mut sum = 0u64;
                    for i in 0..64u64 {
                        let offset = (t * 64 + i) * 4096;
                        let done = ctx
                            .submit(Op::read(&file, vec![0u8; 4096], offset))?
                            .await?;
                        sum += done
                            .buf()
                            .map_or(0, |b| b.iter().map(|&x| u64::from(x)).sum());
                    }
                    Ok(sum)
                })
            })
        })
        .collect();
    let mut sum = 0;
    for t in threads {
        sum += t.join().map_err(|_| "a thread panicked")??;
    }
    assert_eq!(sum, 32640 * 4096);
    println!("4 threads, each with its own executor, read 1 MiB through one context (sum {sum})");
    Ok(())
}
