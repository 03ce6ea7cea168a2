//! The async layer busy-polling the ring (`reactor::BusyPoll`): no eventfd, and the
//! executor never sleeps while requests are in flight. The shared scenarios on tokio
//! (current-thread and multi-threaded) and on async-io; the poller's hand-over when it
//! resolves or is dropped; no spinning once nothing is in flight; a hand-written executor
//! that polls only what was woken; and a reactor that claims both to watch the eventfd
//! and to busy-poll, refused. (`AsyncFixedContext` busy-polling: `tests/async_fixed.rs`.)
#![cfg(all(feature = "tokio", feature = "async-io"))]

mod async_support;
mod support;

use async_support as s;
use rawaio::reactor::{BusyPoll, Reactor};
use rawaio::{AlignedBuf, AsyncContext, AsyncFixedContext, Op, PollFlags};
use std::future::Future;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;
use support::{Fs, TempFile, Watchdog, pattern};

use s::LIMIT;
use s::on_tokio::{
    current_thread, many_tasks_share_one_context, multi_thread, run,
    tasks_that_give_up_do_not_stall_the_others,
};

/// A tokio runtime with no I/O driver and no timer: `BusyPoll` needs neither.
fn bare_current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

#[test]
fn reads_many_files_concurrently() {
    run(current_thread(), s::read_many_files::<BusyPoll>(60));
}

#[test]
fn reads_many_files_concurrently_on_a_multi_threaded_runtime() {
    run(multi_thread(), s::read_many_files::<BusyPoll>(60));
}

#[test]
fn reads_many_files_concurrently_on_async_io() {
    s::run_on_async_io(s::read_many_files::<BusyPoll>(60));
}

#[test]
fn reads_on_a_runtime_without_io_or_timers() {
    let _watchdog = Watchdog::new(LIMIT, "a runtime without a driver");
    bare_current_thread().block_on(s::read_many_files::<BusyPoll>(40));
}

#[test]
fn copies_a_file_with_direct_io() {
    run(current_thread(), s::direct_copy::<BusyPoll>(8));
}

#[test]
fn copies_a_file_with_direct_io_on_a_multi_threaded_runtime() {
    run(multi_thread(), s::direct_copy::<BusyPoll>(16));
}

#[test]
fn waits_for_a_socket_through_iocb_cmd_poll() {
    run(current_thread(), s::poll_socket::<BusyPoll>());
}

#[test]
fn a_poll_written_from_another_thread() {
    run(current_thread(), async {
        let ctx = AsyncContext::<BusyPoll>::new(4).unwrap();
        let (a, mut b) = UnixStream::pair().unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            b.write_all(b"x").unwrap();
            b
        });
        let (done, polls) = Counted::new(ctx.submit(Op::poll(&a, PollFlags::IN)).unwrap()).await;
        let done = done.unwrap();
        assert_ne!(done.result().unwrap() & u64::from(PollFlags::IN.bits()), 0);
        // Nothing but the poller's own wake-ups brought the task back meanwhile.
        assert!(
            polls > 10,
            "polled {polls} times in 30 ms: the future did not busy-poll"
        );
        drop(writer.join().unwrap());
    });
}

#[test]
fn many_tasks_share_one_context_on_a_multi_threaded_runtime() {
    run(
        multi_thread(),
        many_tasks_share_one_context::<BusyPoll>(24, 40),
    );
}

#[test]
fn many_tasks_share_one_context_on_a_current_thread_runtime() {
    run(
        current_thread(),
        many_tasks_share_one_context::<BusyPoll>(16, 20),
    );
}

#[test]
fn tasks_that_give_up_on_futures_do_not_stall_the_others() {
    run(
        multi_thread(),
        tasks_that_give_up_do_not_stall_the_others::<BusyPoll>(),
    );
}

/// Two polls in two tasks: the first polled is the poller. When its socket is written it
/// resolves, and the other must take over, or it would never see its own socket's
/// completion (nothing else looks at the ring).
#[test]
fn the_poller_hands_over_when_it_resolves() {
    run(current_thread(), async {
        let ctx = AsyncContext::<BusyPoll>::new(4).unwrap();
        let (a, mut a_w) = UnixStream::pair().unwrap();
        let (b, mut b_w) = UnixStream::pair().unwrap();
        let first = tokio::spawn(ctx.submit(Op::poll(&a, PollFlags::IN)).unwrap());
        tokio::task::yield_now().await;
        let second = tokio::spawn(Counted::new(
            ctx.submit(Op::poll(&b, PollFlags::IN)).unwrap(),
        ));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!first.is_finished() && !second.is_finished());
        a_w.write_all(b"a").unwrap();
        first.await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!second.is_finished(), "nothing was written to b yet");
        b_w.write_all(b"b").unwrap();
        let (done, polls) = second.await.unwrap();
        assert!(done.unwrap().result().unwrap() > 0);
        assert!(
            polls > 10,
            "polled {polls} times: it never took over as the poller"
        );
    });
}

/// The poller's task goes (aborted, its future dropped): another waiting future takes
/// over.
#[test]
fn the_poller_hands_over_when_it_is_dropped() {
    run(current_thread(), async {
        let ctx = AsyncContext::<BusyPoll>::new(4).unwrap();
        let (a, _a_w) = UnixStream::pair().unwrap();
        let (b, mut b_w) = UnixStream::pair().unwrap();
        let first = tokio::spawn(ctx.submit(Op::poll(&a, PollFlags::IN)).unwrap());
        tokio::task::yield_now().await;
        let second = tokio::spawn(ctx.submit(Op::poll(&b, PollFlags::IN)).unwrap());
        tokio::time::sleep(Duration::from_millis(10)).await;
        first.abort();
        assert!(first.await.unwrap_err().is_cancelled());
        tokio::time::sleep(Duration::from_millis(10)).await;
        b_w.write_all(b"b").unwrap();
        assert!(second.await.unwrap().unwrap().result().unwrap() > 0);
        s::settle(&ctx);
    });
}

/// Once nothing is in flight, nothing wakes the task: a sleep after the last completion
/// is polled a handful of times, not thousands.
#[test]
fn nothing_spins_once_nothing_is_in_flight() {
    run(current_thread(), async {
        let ctx = AsyncContext::<BusyPoll, AlignedBuf>::new(16).unwrap();
        let file = TempFile::new(Fs::Disk, "busy-idle", &pattern(1, 64 * 1024));
        let f = file.open_direct();
        let (a, mut a_w) = UnixStream::pair().unwrap();
        // Spinning first (a poll in flight, and reads), then nothing in flight.
        let poll = ctx.submit(Op::poll(&a, PollFlags::IN)).unwrap();
        let reads: Vec<_> = (0..8u64)
            .map(|i| {
                ctx.submit(Op::read(&f, support::aligned_zeroed(4096), i * 4096))
                    .unwrap()
            })
            .collect();
        for r in s::join_all(reads).await {
            assert_eq!(r.unwrap().result().unwrap(), 4096);
        }
        a_w.write_all(b"x").unwrap();
        poll.await.unwrap();
        assert_eq!(ctx.in_flight(), 0);
        let ((), polls) =
            Counted::new(Box::pin(tokio::time::sleep(Duration::from_millis(50)))).await;
        assert!(
            polls <= 3,
            "a sleep polled {polls} times: something still spins"
        );
    });
}

/// An executor of our own that polls the task only when it was woken (and fails when it
/// was not woken and the task is still pending): busy-polling futures keep it going by
/// waking their own task.
#[test]
fn a_hand_written_executor_that_polls_only_when_woken() {
    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::Release);
        }
    }
    let _watchdog = Watchdog::new(LIMIT, "a hand-written executor");
    let ctx = AsyncContext::<BusyPoll, AlignedBuf>::new(16).unwrap();
    let file = TempFile::new(Fs::Disk, "busy-hand", &pattern(2, 256 * 1024));
    let f = file.open_direct();
    let mut task = pin!(async {
        let mut total = 0;
        for round in 0..20u64 {
            let reads: Vec<_> = (0..16u64)
                .map(|i| {
                    let at = ((round * 16 + i) % 64) * 4096;
                    ctx.submit(Op::read(&f, support::aligned_zeroed(4096), at).user_data(at))
                        .unwrap()
                })
                .collect();
            for r in s::join_all(reads).await {
                let c = r.unwrap();
                let at = c.user_data() as usize;
                assert_eq!(c.result().unwrap(), 4096);
                assert_eq!(&c.into_buf().unwrap()[..], &file.contents()[at..at + 4096]);
                total += 1;
            }
        }
        total
    });
    let woken = Arc::new(Flag(AtomicBool::new(true)));
    let waker = Waker::from(Arc::clone(&woken));
    let total = loop {
        assert!(
            woken.0.swap(false, Ordering::Acquire),
            "the task is pending and nothing woke it: it would never be polled again"
        );
        if let Poll::Ready(total) = task.as_mut().poll(&mut Context::from_waker(&waker)) {
            break total;
        }
    };
    assert_eq!(total, 320);
}

#[test]
fn dropping_a_poll_future_cancels_the_request() {
    run(
        current_thread(),
        s::dropping_a_poll_cancels_it::<BusyPoll>(),
    );
}

#[test]
fn dropped_futures_keep_their_buffers_until_completion() {
    run(
        current_thread(),
        s::dropped_futures_keep_their_buffers::<BusyPoll>(),
    );
}

#[test]
fn dropped_futures_keep_their_buffers_on_a_multi_threaded_runtime() {
    run(
        multi_thread(),
        s::dropped_futures_keep_their_buffers::<BusyPoll>(),
    );
}

#[test]
fn futures_outlive_the_last_context_handle() {
    run(
        current_thread(),
        s::futures_outlive_the_handle::<BusyPoll>(),
    );
}

#[test]
fn a_forgotten_future_stops_nothing() {
    run(
        current_thread(),
        s::a_forgotten_future_stops_nothing::<BusyPoll>(),
    );
}

#[test]
fn polling_after_completion_is_an_error() {
    run(
        current_thread(),
        s::polling_after_completion_is_an_error::<BusyPoll>(),
    );
}

#[test]
fn contexts_are_shareable_and_futures_spawnable() {
    s::assert_handle_and_future_traits::<BusyPoll>();
}

#[test]
fn the_executor_keeps_ticking_while_requests_that_would_block_are_awaited() {
    run(current_thread(), async {
        let mut blockers = s::never_block::Blockers::<BusyPoll>::new();
        s::never_block::while_ticking(
            "tokio, current-thread runtime, busy-polling",
            tokio::time::sleep,
            Box::pin(s::never_block::every_blocking_kind(&mut blockers)),
        )
        .await;
    });
}

#[test]
fn requests_that_would_block_on_a_multi_threaded_runtime() {
    run(multi_thread(), async {
        let mut blockers = s::never_block::Blockers::<BusyPoll>::new();
        s::never_block::every_blocking_kind(&mut blockers).await;
    });
}

#[test]
fn a_socket_read_waiting_for_readiness_can_be_cancelled() {
    run(
        current_thread(),
        s::never_block::a_read_waiting_for_readiness_can_be_cancelled::<BusyPoll>(),
    );
}

#[test]
fn futures_of_refused_requests_dropped_anywhere_free_each_buffer_once() {
    run(
        current_thread(),
        s::never_block::futures_of_refused_requests_dropped_anywhere::<BusyPoll>(),
    );
}

#[test]
fn ten_thousand_direct_reads_from_one_task_through_a_context_of_32() {
    run(
        current_thread(),
        s::backpressure::ten_thousand_from_one_task::<BusyPoll>(true),
    );
}

#[test]
fn submit_past_the_capacity_is_refused_and_reserve_waits() {
    run(
        current_thread(),
        s::backpressure::past_the_capacity::<BusyPoll>(),
    );
}

#[test]
fn readiness_is_rearmed_per_wait() {
    run(
        current_thread(),
        s::readiness_is_rearmed_per_wait::<BusyPoll>(),
    );
}

#[test]
fn batches_of_mixed_requests() {
    run(current_thread(), s::batch::mixed_requests::<BusyPoll>());
}

/// A reactor that says it both watches the eventfd and busy-polls.
struct Both;

impl Reactor for Both {
    const BUSY_POLLS: bool = true;

    fn register(_eventfd: OwnedFd) -> std::io::Result<Self> {
        Ok(Both)
    }

    fn poll_read(
        &self,
        _cx: &mut Context<'_>,
        _read: &mut dyn FnMut() -> std::io::Result<u64>,
    ) -> Poll<std::io::Result<u64>> {
        unreachable!("never registered")
    }
}

#[test]
fn a_reactor_that_watches_and_busy_polls_is_refused() {
    let err = AsyncContext::<Both>::new(4).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    let err = AsyncFixedContext::<Both>::new(4).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
}

/// Counts how many times `F` is polled until it resolves.
struct Counted<F> {
    future: F,
    polls: Arc<AtomicUsize>,
}

impl<F> Counted<F> {
    fn new(future: F) -> Self {
        Self {
            future,
            polls: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl<F: Future + Unpin> Future for Counted<F> {
    type Output = (F::Output, usize);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let polls = self.polls.fetch_add(1, Ordering::Relaxed) + 1;
        Pin::new(&mut self.future).poll(cx).map(|v| (v, polls))
    }
}
