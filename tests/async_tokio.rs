//! The async layer on tokio (`reactor::Tokio`): concurrent reads, a direct-I/O copy,
//! waiting for a socket through `IOCB_CMD_POLL`, many tasks on a multi-threaded runtime,
//! and futures dropped before their completions (also run under AddressSanitizer by
//! `.ci/async-asan.sh`).
#![cfg(feature = "tokio")]

mod async_support;
mod support;

use async_support as s;
use rawaio::reactor::Tokio;
use rawaio::{AsyncContext, Op, PollFlags};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;
use support::Watchdog;
use tokio::runtime::Builder;

use s::LIMIT;
use s::on_tokio::{
    current_thread, many_tasks_share_one_context, multi_thread, run,
    tasks_that_give_up_do_not_stall_the_others,
};

#[test]
fn reads_many_files_concurrently() {
    run(current_thread(), s::read_many_files::<Tokio>(60));
}

#[test]
fn reads_many_files_concurrently_on_a_multi_threaded_runtime() {
    run(multi_thread(), s::read_many_files::<Tokio>(60));
}

#[test]
fn copies_a_file_with_direct_io() {
    run(current_thread(), s::direct_copy::<Tokio>(8));
}

#[test]
fn copies_a_file_with_direct_io_on_a_multi_threaded_runtime() {
    run(multi_thread(), s::direct_copy::<Tokio>(16));
}

#[test]
fn waits_for_a_socket_through_iocb_cmd_poll() {
    run(current_thread(), s::poll_socket::<Tokio>());
}

#[test]
fn a_poll_woken_from_another_task() {
    run(multi_thread(), async {
        let ctx = AsyncContext::<Tokio>::new(4).unwrap();
        let (a, mut b) = UnixStream::pair().unwrap();
        let waiter = tokio::spawn(ctx.submit(Op::poll(&a, PollFlags::IN)).unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "nothing was written yet");
        b.write_all(b"x").unwrap();
        let done = waiter.await.unwrap().unwrap();
        assert_ne!(done.result().unwrap() & u64::from(PollFlags::IN.bits()), 0);
    });
}

#[test]
fn many_tasks_share_one_context_on_a_multi_threaded_runtime() {
    run(
        multi_thread(),
        many_tasks_share_one_context::<Tokio>(24, 40),
    );
}

#[test]
fn many_tasks_share_one_context_on_a_current_thread_runtime() {
    run(
        current_thread(),
        many_tasks_share_one_context::<Tokio>(16, 20),
    );
}

#[test]
fn tasks_that_give_up_on_futures_do_not_stall_the_others() {
    run(
        multi_thread(),
        tasks_that_give_up_do_not_stall_the_others::<Tokio>(),
    );
}

#[test]
fn dropping_a_poll_future_cancels_the_request() {
    run(current_thread(), s::dropping_a_poll_cancels_it::<Tokio>());
}

#[test]
fn a_timed_out_poll_is_cancelled() {
    run(current_thread(), async {
        let ctx = AsyncContext::<Tokio>::new(4).unwrap();
        let (a, _b) = UnixStream::pair().unwrap();
        let poll = ctx.submit(Op::poll(&a, PollFlags::IN)).unwrap();
        let timed_out = tokio::time::timeout(Duration::from_millis(10), poll).await;
        assert!(timed_out.is_err(), "the socket never becomes readable");
        s::settle(&ctx);
    });
}

#[test]
fn dropped_futures_keep_their_buffers_until_completion() {
    run(
        current_thread(),
        s::dropped_futures_keep_their_buffers::<Tokio>(),
    );
}

#[test]
fn dropped_futures_keep_their_buffers_on_a_multi_threaded_runtime() {
    run(
        multi_thread(),
        s::dropped_futures_keep_their_buffers::<Tokio>(),
    );
}

#[test]
fn futures_outlive_the_last_context_handle() {
    run(current_thread(), s::futures_outlive_the_handle::<Tokio>());
}

#[test]
fn a_forgotten_future_stops_nothing() {
    run(
        current_thread(),
        s::a_forgotten_future_stops_nothing::<Tokio>(),
    );
}

#[test]
fn polling_after_completion_is_an_error() {
    run(
        current_thread(),
        s::polling_after_completion_is_an_error::<Tokio>(),
    );
}

#[test]
fn outside_a_runtime_is_an_error() {
    let err = AsyncContext::<Tokio>::new(4).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::Unsupported, "{err}");
}

#[test]
fn a_runtime_without_io_is_an_error() {
    let rt = Builder::new_current_thread().enable_time().build().unwrap();
    let err = rt.block_on(async { AsyncContext::<Tokio>::new(4).unwrap_err() });
    assert_eq!(err.kind(), std::io::ErrorKind::Unsupported, "{err}");
}

#[test]
fn a_bad_size_is_an_error() {
    let rt = current_thread();
    let err = rt.block_on(async { AsyncContext::<Tokio>::new(0).unwrap_err() });
    assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
}

#[test]
fn contexts_are_shareable_and_futures_spawnable() {
    s::assert_handle_and_future_traits::<Tokio>();
}

#[test]
fn futures_and_context_dropped_after_the_runtime_are_fine() {
    let _watchdog = Watchdog::new(LIMIT, "drops after the runtime");
    let (a, _b) = UnixStream::pair().unwrap();
    let file = support::TempFile::new(support::Fs::Tmpfs, "async-after-rt", b"abcdef");
    let f = file.open_ro();
    let rt = current_thread();
    let (ctx, mut polls, reads) = rt.block_on(async {
        let ctx = AsyncContext::<Tokio>::new(8).unwrap();
        let polls: Vec<_> = (0..3)
            .map(|_| ctx.submit(Op::poll(&a, PollFlags::IN)).unwrap())
            .collect();
        let reads: Vec<_> = (0..3)
            .map(|_| ctx.submit(Op::read(&f, vec![0u8; 6], 0)).unwrap())
            .collect();
        (ctx, polls, reads)
    });
    drop(rt);
    // Polled without a runtime: the reads are in the ring already, and come back; the
    // polls cannot wait any more and say so.
    for mut read in reads {
        match s::poll_once(&mut read) {
            std::task::Poll::Ready(done) => {
                assert_eq!(done.unwrap().into_buf().unwrap(), b"abcdef");
            }
            std::task::Poll::Pending => panic!("a read on tmpfs completes in io_submit"),
        }
    }
    match s::poll_once(&mut polls[0]) {
        std::task::Poll::Ready(Err(e)) => {
            let message = e.to_string();
            assert!(
                message.starts_with("rawaio::AsyncContext") && message.contains("shut down"),
                "not a clear error of rawaio's: {message}"
            );
        }
        other => panic!("a poll whose runtime is gone: {other:?}"),
    }
    drop(polls);
    s::settle(&ctx);
    drop(ctx);
}

#[test]
fn the_executor_keeps_ticking_while_requests_that_would_block_are_awaited() {
    run(current_thread(), async {
        let mut blockers = s::never_block::Blockers::<Tokio>::new();
        s::never_block::while_ticking(
            "tokio, current-thread runtime",
            tokio::time::sleep,
            Box::pin(s::never_block::every_blocking_kind(&mut blockers)),
        )
        .await;
    });
}

#[test]
fn requests_that_would_block_on_a_multi_threaded_runtime() {
    run(multi_thread(), async {
        let mut blockers = s::never_block::Blockers::<Tokio>::new();
        s::never_block::every_blocking_kind(&mut blockers).await;
    });
}

#[test]
fn the_as_given_policy_adds_no_flag_and_starts_no_thread() {
    run(
        current_thread(),
        s::never_block::as_given_starts_nothing::<Tokio>(),
    );
}

#[test]
fn a_read_at_the_end_of_a_file_is_answered_at_once() {
    run(
        current_thread(),
        s::never_block::a_read_at_the_end_of_a_file_is_answered_at_once::<Tokio>(),
    );
}

#[test]
fn direct_reads_of_cached_pages_go_again_inline() {
    run(
        current_thread(),
        s::never_block::direct_reads_of_cached_pages_go_again_inline::<Tokio>(),
    );
}

#[test]
fn without_helper_threads_the_refusal_is_the_answer() {
    run(
        current_thread(),
        s::never_block::no_helpers_means_the_refusal_is_the_answer::<Tokio>(),
    );
}

#[test]
fn a_socket_read_waiting_for_readiness_can_be_cancelled() {
    run(
        current_thread(),
        s::never_block::a_read_waiting_for_readiness_can_be_cancelled::<Tokio>(),
    );
}

#[test]
fn futures_of_refused_requests_dropped_anywhere_free_each_buffer_once() {
    run(
        current_thread(),
        s::never_block::futures_of_refused_requests_dropped_anywhere::<Tokio>(),
    );
}

#[test]
fn ten_thousand_direct_reads_from_one_task_through_a_context_of_32() {
    run(
        current_thread(),
        s::backpressure::ten_thousand_from_one_task::<Tokio>(true),
    );
}

#[test]
fn ten_thousand_cached_reads_from_one_task_through_a_context_of_32() {
    run(
        current_thread(),
        s::backpressure::ten_thousand_from_one_task::<Tokio>(false),
    );
}

#[test]
fn submit_past_the_capacity_is_refused_and_reserve_waits() {
    run(
        current_thread(),
        s::backpressure::past_the_capacity::<Tokio>(),
    );
}

#[test]
fn readiness_is_rearmed_per_wait() {
    run(
        current_thread(),
        s::readiness_is_rearmed_per_wait::<Tokio>(),
    );
}

#[test]
fn without_the_policy_submit_blocks_and_with_it_it_does_not() {
    run(
        current_thread(),
        s::never_block::as_given_blocks_in_submit_and_the_default_does_not::<Tokio>(),
    );
}

/// 24 tasks on two threads, each reading through its own `O_DIRECT` descriptor blocks it
/// has just rewritten through the page cache: the first read of each descriptor is
/// refused `RWF_NOWAIT` and goes again, and requests complete inside `io_submit` while
/// other threads reap. Every read completes and every request's room comes back (a
/// registration that came after the slot's next request used to take its place: its
/// future was never woken, and room leaked).
#[test]
fn many_tasks_reading_pages_they_rewrote_on_a_multi_threaded_runtime() {
    use rawaio::{AlignedBuf, AsyncContext, Op};
    use std::os::unix::fs::FileExt;
    use std::sync::Arc;
    run(multi_thread(), async {
        const BLOCK: usize = 4096;
        let blocks = 64;
        let file = Arc::new(support::TempFile::new(
            support::Fs::Disk,
            "async-rewrite",
            &vec![0u8; BLOCK * blocks],
        ));
        let ctx = AsyncContext::<Tokio, AlignedBuf>::new(64).unwrap();
        let tasks: Vec<_> = (0..24usize)
            .map(|t| {
                let (ctx, file) = (ctx.clone(), Arc::clone(&file));
                tokio::spawn(async move {
                    let (direct, buffered) = (file.open_direct(), file.open_rw());
                    for r in 0..40usize {
                        let b = (t * 7 + r * 13) % blocks;
                        let at = (b * BLOCK) as u64;
                        let fill = [(t * 40 + r) as u8; BLOCK];
                        buffered.write_all_at(&fill, at).unwrap();
                        let c = ctx
                            .submit(Op::read(&direct, support::aligned_zeroed(BLOCK), at))
                            .unwrap()
                            .await
                            .unwrap();
                        assert_eq!(c.result().unwrap(), BLOCK as u64);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(ctx.in_flight(), 0, "{:?}", ctx.stats());
    });
}

#[test]
fn batches_of_mixed_requests_decide_each_request_and_keep_the_rest_queued() {
    run(current_thread(), s::batch::mixed_requests::<Tokio>());
}

#[test]
fn batches_of_one_request_submit_it_in_place() {
    run(current_thread(), s::batch::single_requests::<Tokio>());
}
