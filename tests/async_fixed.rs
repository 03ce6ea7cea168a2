//! [`AsyncFixedContext`]: fixed requests whose completions a task awaits, on tokio (its
//! own reactor, a `Relay` to it, and busy-polling) and on async-io: reads at depth, waits
//! that really wait (a poll of a socket written later), a reap future dropped while it waits, a
//! context dropped with a request in flight, and the reactor it cannot use.

mod async_support;
mod support;

use rawaio::reactor::{Driven, Reactor};
use rawaio::{AlignedBuf, AsyncFixedContext, FixedCompletion, Op};
use support::{Fs, TempFile, pattern};

const BLOCK: usize = 4096;

/// Reads a file of `depth` blocks through `depth` slots, three times over at offsets
/// that move round by round, awaiting the completions; checks every block's bytes. On
/// tmpfs the reads complete inside `io_submit`.
#[allow(dead_code)]
async fn reads_at_depth<R: Reactor>(depth: usize) {
    reads_at_depth_in::<R>(Fs::direct(), depth, 3).await;
}

/// [`reads_at_depth`] with `rounds` rounds, on `fs`: on the disk the reads complete
/// after `io_submit`, so reaps really wait for the reactor.
#[allow(dead_code)]
async fn reads_at_depth_in<R: Reactor>(fs: Fs, depth: usize, rounds: usize) {
    let contents = pattern(7, depth * BLOCK);
    let file = TempFile::new(fs, "async-fixed", &contents);
    file.open_rw().sync_all().unwrap();
    let file = file.open_direct();
    let mut ctx = AsyncFixedContext::<R, AlignedBuf>::new(depth as u32).unwrap();
    let mut free: Vec<_> = (0..depth)
        .map(|_| {
            let buf = AlignedBuf::new(BLOCK, BLOCK).unwrap();
            ctx.fixed_mut().insert(Op::read(&file, buf, 0)).unwrap()
        })
        .collect();
    let mut done = Vec::new();
    let mut waits = 0;
    for round in 0..rounds {
        for (i, slot) in free.drain(..).enumerate() {
            let block = (i + round) % depth;
            ctx.fixed_mut()
                .push_at(slot, (block * BLOCK) as u64)
                .map_err(|(_, e)| e)
                .unwrap();
        }
        let s = ctx.fixed_mut().submit();
        assert_eq!((s.accepted, s.error), (depth, None));
        let mut got = 0;
        while got < depth {
            if ctx.fixed().ready() == 0 {
                waits += 1;
            }
            let n = ctx.reap(&mut done).await.unwrap();
            assert!(n > 0, "a reap with requests in flight resolved to 0");
            got += n;
        }
        assert_eq!(got, depth);
        assert_eq!(ctx.fixed().in_flight(), 0);
        for c in done.drain(..) {
            assert_eq!(c.result(), Ok(BLOCK as u64));
            let slot = c.into_slot();
            let at = ctx.fixed().offset(&slot).unwrap() as usize;
            assert!(ctx.fixed().bufs(&slot).unwrap()[0][..] == contents[at..at + BLOCK]);
            free.push(slot);
        }
    }
    // Nothing in flight: nothing to wait for.
    assert_eq!(ctx.reap(&mut done).await.unwrap(), 0);
    assert!(done.is_empty());
    eprintln!("{fs:?}: {rounds} rounds of {depth} reads, {waits} reaps found the ring empty");
}

#[test]
fn the_registrations_error_is_the_constructors() {
    struct Refuses;
    impl Reactor for Refuses {
        fn register(_: std::os::fd::OwnedFd) -> std::io::Result<Self> {
            Err(std::io::Error::other("no runtime here"))
        }
        fn poll_read(
            &self,
            _: &mut std::task::Context<'_>,
            _: &mut dyn FnMut() -> std::io::Result<u64>,
        ) -> std::task::Poll<std::io::Result<u64>> {
            unreachable!("never registered")
        }
    }
    let err = AsyncFixedContext::<Refuses, Vec<u8>>::new(4).unwrap_err();
    assert_eq!(err.to_string(), "no runtime here");
}

#[test]
fn a_reactor_that_watches_no_eventfd_is_refused() {
    let err = AsyncFixedContext::<Driven, Vec<u8>>::new(4).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
}

/// The mask of a poll's completion.
#[allow(dead_code)]
fn mask(c: &FixedCompletion) -> u64 {
    c.result().expect("the poll's result")
}

#[cfg(feature = "tokio")]
mod on_tokio {
    use super::async_support::on_tokio::{current_thread, multi_thread, run};
    use super::*;
    use rawaio::PollFlags;
    use rawaio::reactor::{BusyPoll, Relay, Tokio};
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    #[test]
    fn reads_at_depth_on_tokio() {
        run(current_thread(), reads_at_depth::<Tokio>(32));
    }

    #[test]
    fn reads_at_depth_through_a_relay() {
        run(current_thread(), reads_at_depth::<Relay<Tokio>>(32));
    }

    #[test]
    fn reads_at_depth_on_a_multi_threaded_runtime() {
        run(multi_thread(), reads_at_depth::<Relay<Tokio>>(16));
    }

    #[test]
    fn reads_from_the_disk_wait_for_tokio() {
        run(
            current_thread(),
            reads_at_depth_in::<Tokio>(Fs::Disk, 32, 30),
        );
    }

    #[test]
    fn reads_from_the_disk_wait_for_a_relay_on_a_multi_threaded_runtime() {
        run(
            multi_thread(),
            reads_at_depth_in::<Relay<Tokio>>(Fs::Disk, 32, 30),
        );
    }

    /// A poll of a socket that nobody writes yet: the reap waits (a timeout ends it, and
    /// loses nothing), and resolves once another thread writes. Five rounds through the
    /// same slot, so that every round's wait arms the reactor again.
    async fn waits_until_the_socket_is_written<R: Reactor>() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut ctx = AsyncFixedContext::<R, Vec<u8>>::new(2).unwrap();
        let mut slot = ctx.fixed_mut().insert(Op::poll(&a, PollFlags::IN)).unwrap();
        let mut done = Vec::new();
        for round in 0..5 {
            ctx.fixed_mut().push(slot).map_err(|(_, e)| e).unwrap();
            assert_eq!(ctx.fixed_mut().submit().accepted, 1);
            let early = tokio::time::timeout(Duration::from_millis(20), ctx.reap(&mut done)).await;
            assert!(
                early.is_err(),
                "round {round}: the reap resolved before anything was written"
            );
            assert!(done.is_empty());
            let writer = std::thread::spawn({
                let mut b = b.try_clone().unwrap();
                move || {
                    std::thread::sleep(Duration::from_millis(10));
                    b.write_all(b"x").unwrap();
                }
            });
            assert_eq!(ctx.reap(&mut done).await.unwrap(), 1, "round {round}");
            writer.join().unwrap();
            let c = done.pop().unwrap();
            assert_ne!(mask(&c) & u64::from(PollFlags::IN.bits()), 0);
            slot = c.into_slot();
            let mut byte = [0u8; 1];
            (&a).read_exact(&mut byte).unwrap();
        }
        b.flush().unwrap();
    }

    #[test]
    fn reads_at_depth_busy_polling() {
        run(current_thread(), reads_at_depth::<BusyPoll>(32));
    }

    #[test]
    fn reads_from_the_disk_busy_polling() {
        run(
            current_thread(),
            reads_at_depth_in::<BusyPoll>(Fs::Disk, 32, 30),
        );
    }

    #[test]
    fn reads_from_the_disk_busy_polling_on_a_multi_threaded_runtime() {
        run(
            multi_thread(),
            reads_at_depth_in::<BusyPoll>(Fs::Disk, 32, 30),
        );
    }

    /// Busy-polling, the wait is the reap's own: each poll that finds the ring empty
    /// wakes the task again. Counts the polls of one wait of 30 ms.
    #[test]
    fn a_busy_polling_wait_ends_when_the_socket_is_written() {
        run(current_thread(), async {
            waits_until_the_socket_is_written::<BusyPoll>().await;
            let (a, mut b) = UnixStream::pair().unwrap();
            let mut ctx = AsyncFixedContext::<BusyPoll, Vec<u8>>::new(1).unwrap();
            let slot = ctx.fixed_mut().insert(Op::poll(&a, PollFlags::IN)).unwrap();
            ctx.fixed_mut().push(slot).map_err(|(_, e)| e).unwrap();
            assert_eq!(ctx.fixed_mut().submit().accepted, 1);
            let writer = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                b.write_all(b"x").unwrap();
                b
            });
            let mut done = Vec::new();
            let mut polls = 0;
            let n = std::future::poll_fn(|cx| {
                polls += 1;
                ctx.poll_reap(cx, &mut done)
            })
            .await
            .unwrap();
            assert_eq!(n, 1);
            assert!(
                polls > 10,
                "polled {polls} times in 30 ms: it did not busy-poll"
            );
            assert_ne!(mask(&done[0]) & u64::from(PollFlags::IN.bits()), 0);
            drop(writer.join().unwrap());
        });
    }

    #[test]
    fn a_wait_ends_when_the_socket_is_written() {
        run(
            current_thread(),
            waits_until_the_socket_is_written::<Tokio>(),
        );
    }

    #[test]
    fn a_relayed_wait_ends_when_the_socket_is_written() {
        run(
            current_thread(),
            waits_until_the_socket_is_written::<Relay<Tokio>>(),
        );
    }

    /// Completions posted while nobody awaits (many reads, then a poll) leave counts in
    /// the eventfd; a later wait still waits, and still ends.
    #[test]
    fn a_wait_after_completions_nobody_awaited() {
        run(current_thread(), async {
            let contents = pattern(3, 8 * BLOCK);
            let file = TempFile::new(Fs::direct(), "async-fixed-stale", &contents);
            let file = file.open_direct();
            let (a, mut b) = UnixStream::pair().unwrap();
            let mut ctx = AsyncFixedContext::<Tokio, AlignedBuf>::new(16).unwrap();
            let mut reads = Vec::new();
            for i in 0..8 {
                let buf = AlignedBuf::new(BLOCK, BLOCK).unwrap();
                let slot = ctx
                    .fixed_mut()
                    .insert(Op::read(&file, buf, (i * BLOCK) as u64))
                    .unwrap();
                ctx.fixed_mut().push(slot).map_err(|(_, e)| e).unwrap();
            }
            assert_eq!(ctx.fixed_mut().submit().accepted, 8);
            // Reaped without awaiting: the eventfd keeps its 8 counts.
            while reads.len() < 8 {
                ctx.fixed_mut()
                    .reap(1, 8, Some(Duration::from_secs(5)), &mut reads)
                    .unwrap();
            }
            assert!(reads.iter().all(|c| c.result() == Ok(BLOCK as u64)));
            let poll = ctx.fixed_mut().insert(Op::poll(&a, PollFlags::IN)).unwrap();
            ctx.fixed_mut().push(poll).map_err(|(_, e)| e).unwrap();
            assert_eq!(ctx.fixed_mut().submit().accepted, 1);
            let mut done = Vec::new();
            let early = tokio::time::timeout(Duration::from_millis(20), ctx.reap(&mut done)).await;
            assert!(early.is_err(), "the stale counts ended the wait");
            b.write_all(b"x").unwrap();
            assert_eq!(ctx.reap(&mut done).await.unwrap(), 1);
            assert_ne!(mask(&done[0]) & u64::from(PollFlags::IN.bits()), 0);
        });
    }

    /// Dropping the context with a poll in flight (and a reap future dropped while it
    /// waited) ends the poll: the kernel cancels it when the context is destroyed.
    #[test]
    fn dropping_the_context_with_a_poll_in_flight() {
        run(current_thread(), async {
            let (a, _b) = UnixStream::pair().unwrap();
            let mut ctx = AsyncFixedContext::<Relay<Tokio>, Vec<u8>>::new(1).unwrap();
            let slot = ctx.fixed_mut().insert(Op::poll(&a, PollFlags::IN)).unwrap();
            ctx.fixed_mut().push(slot).map_err(|(_, e)| e).unwrap();
            assert_eq!(ctx.fixed_mut().submit().accepted, 1);
            let mut done = Vec::new();
            let early = tokio::time::timeout(Duration::from_millis(10), ctx.reap(&mut done)).await;
            assert!(early.is_err());
            assert_eq!(ctx.fixed().in_flight(), 1);
            drop(ctx);
        });
    }

    /// A fixed context swapped in through `fixed_mut` signals an eventfd the reactor
    /// does not watch: reaping says so instead of waiting for ever.
    #[test]
    fn a_fixed_context_put_in_its_place_is_refused() {
        run(current_thread(), async {
            let (a, _b) = UnixStream::pair().unwrap();
            let mut ctx = AsyncFixedContext::<Tokio, Vec<u8>>::new(1).unwrap();
            let other = rawaio::FixedContext::with_options(
                1,
                rawaio::Options {
                    eventfd: true,
                    ..rawaio::Options::default()
                },
            )
            .unwrap();
            let mut original = std::mem::replace(ctx.fixed_mut(), other);
            let slot = ctx.fixed_mut().insert(Op::poll(&a, PollFlags::IN)).unwrap();
            ctx.fixed_mut().push(slot).map_err(|(_, e)| e).unwrap();
            assert_eq!(ctx.fixed_mut().submit().accepted, 1);
            let mut done = Vec::new();
            let err = ctx.reap(&mut done).await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
            // Put back, it works again (nothing in flight on it: 0 at once).
            std::mem::swap(ctx.fixed_mut(), &mut original);
            assert_eq!(ctx.reap(&mut done).await.unwrap(), 0);
        });
    }

    #[test]
    fn the_context_and_its_reap_move_between_threads() {
        fn sendable<T: Send>(_: &T) {}
        run(multi_thread(), async {
            let ctx = AsyncFixedContext::<Relay<Tokio>, Vec<u8>>::new(1).unwrap();
            sendable(&ctx);
            // Made on one worker, awaited on whichever runs the spawned task.
            let task = tokio::spawn(async move {
                let (mut ctx, mut done) = (ctx, Vec::new());
                let reap = ctx.reap(&mut done);
                sendable(&reap);
                reap.await.unwrap()
            });
            assert_eq!(task.await.unwrap(), 0);
        });
    }
}

#[cfg(feature = "async-io")]
mod on_async_io {
    use super::async_support::run_on_async_io;
    use super::*;
    use rawaio::reactor::AsyncIo;

    #[test]
    fn reads_at_depth_on_async_io() {
        run_on_async_io(reads_at_depth::<AsyncIo>(32));
    }

    #[test]
    fn reads_from_the_disk_wait_for_async_io() {
        run_on_async_io(reads_at_depth_in::<AsyncIo>(Fs::Disk, 32, 30));
    }
}
