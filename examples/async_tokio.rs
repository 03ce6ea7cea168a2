//! rawaio's futures on tokio (`rawaio::reactor::Tokio`): reads many files concurrently,
//! copies a file with direct I/O, and waits for a socket through `IOCB_CMD_POLL`, in a
//! temporary directory that it removes; then all of it again busy-polling
//! (`rawaio::reactor::BusyPoll`, for a runtime given to I/O); then the same reads from
//! spawned tasks on a multi-threaded runtime, all sharing one context.
//!
//! Run: `cargo run --features tokio --example async_tokio`

#[path = "support/async_demo.rs"]
mod demo;

use rawaio::reactor::{BusyPoll, Tokio};
use rawaio::{AsyncContext, Op};
use std::fs::File;

fn main() -> demo::Result<()> {
    let scratch = demo::Scratch::new("async-tokio")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(demo::run::<Tokio>(scratch.path()))?;

    // A runtime given to I/O can busy-poll: no eventfd, and while requests are in flight
    // the runtime's thread keeps looking at the ring instead of sleeping in epoll.
    println!("busy-polling:");
    rt.block_on(demo::run::<BusyPoll>(scratch.path()))?;

    // Spawned tasks, on the worker threads of a multi-threaded runtime, share a context:
    // whichever task polls reaps for all and wakes the others.
    let path = scratch.path().join("shared");
    std::fs::write(
        &path,
        (0..=255u8).cycle().take(1 << 20).collect::<Vec<u8>>(),
    )?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let sum = rt.block_on(async {
        let ctx = AsyncContext::<Tokio>::new(32)?;
        let mut tasks = Vec::new();
        for t in 0..16u64 {
            let (ctx, file) = (ctx.clone(), File::open(&path)?);
            tasks.push(tokio::spawn(async move {
                let mut sum = 0u64;
                for i in 0..16u64 {
                    let offset = (t * 16 + i) * 4096;
                    let done = ctx
                        .submit(Op::read(&file, vec![0u8; 4096], offset))?
                        .await?;
                    sum += done
                        .buf()
                        .map_or(0, |b| b.iter().map(|&x| u64::from(x)).sum());
                }
                demo::Result::Ok(sum)
            }));
        }
        let mut sum = 0;
        for task in tasks {
            sum += task.await??;
        }
        demo::Result::Ok(sum)
    })?;
    // Every 256 bytes sum to 32640.
    assert_eq!(sum, 32640 * 4096);
    println!("16 tasks on 2 worker threads read 1 MiB through one context (sum {sum})");
    Ok(())
}
