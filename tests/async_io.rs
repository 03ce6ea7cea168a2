//! The async layer on async-io (`reactor::AsyncIo`): concurrent reads, a direct-I/O copy,
//! waiting for a socket through `IOCB_CMD_POLL`, one context shared by threads each
//! running its own executor, and futures dropped before their completions (also run under
//! AddressSanitizer by `.ci/async-asan.sh`).
#![cfg(feature = "async-io")]

mod async_support;
mod support;

use async_support as s;
use rawaio::reactor::AsyncIo;
use rawaio::{AsyncContext, Op, PollFlags};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;
use support::Watchdog;

use s::{LIMIT, run_on_async_io as run};

#[test]
fn reads_many_files_concurrently() {
    run(s::read_many_files::<AsyncIo>(60));
}

#[test]
fn copies_a_file_with_direct_io() {
    run(s::direct_copy::<AsyncIo>(8));
}

#[test]
fn waits_for_a_socket_through_iocb_cmd_poll() {
    run(s::poll_socket::<AsyncIo>());
}

#[test]
fn a_poll_woken_from_another_thread() {
    run(async {
        let ctx = AsyncContext::<AsyncIo>::new(4).unwrap();
        let (a, mut b) = UnixStream::pair().unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            b.write_all(b"x").unwrap();
            b
        });
        let done = ctx
            .submit(Op::poll(&a, PollFlags::IN))
            .unwrap()
            .await
            .unwrap();
        assert_ne!(done.result().unwrap() & u64::from(PollFlags::IN.bits()), 0);
        drop(writer.join().unwrap());
    });
}

#[test]
fn threads_with_their_own_executors_share_one_context() {
    let _watchdog = Watchdog::new(LIMIT, "threads sharing a context");
    let (ctx, _file, jobs) = s::shared_context_jobs::<AsyncIo>(8, 40);
    let threads: Vec<_> = jobs
        .into_iter()
        .map(|job| std::thread::spawn(move || async_io::block_on(job)))
        .collect();
    let checked: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(checked, 8 * (40 + 14));
    assert_eq!(ctx.in_flight(), 0);
}

#[test]
fn many_jobs_on_one_thread_share_one_context() {
    run(async {
        let (ctx, _file, jobs) = s::shared_context_jobs::<AsyncIo>(16, 20);
        let checked: usize = s::join_all(jobs).await.into_iter().sum();
        assert_eq!(checked, 16 * (20 + 7));
        assert_eq!(ctx.in_flight(), 0);
    });
}

#[test]
fn dropping_a_poll_future_cancels_the_request() {
    run(s::dropping_a_poll_cancels_it::<AsyncIo>());
}

#[test]
fn dropped_futures_keep_their_buffers_until_completion() {
    run(s::dropped_futures_keep_their_buffers::<AsyncIo>());
}

#[test]
fn futures_outlive_the_last_context_handle() {
    run(s::futures_outlive_the_handle::<AsyncIo>());
}

#[test]
fn a_forgotten_future_stops_nothing() {
    run(s::a_forgotten_future_stops_nothing::<AsyncIo>());
}

#[test]
fn polling_after_completion_is_an_error() {
    run(s::polling_after_completion_is_an_error::<AsyncIo>());
}

#[test]
fn contexts_are_shareable_and_futures_spawnable() {
    s::assert_handle_and_future_traits::<AsyncIo>();
}

/// async-io's timer, as the ticker's sleep.
async fn sleep(d: Duration) {
    async_io::Timer::after(d).await;
}

#[test]
fn the_executor_keeps_ticking_while_requests_that_would_block_are_awaited() {
    let mut blockers = s::never_block::Blockers::<AsyncIo>::new();
    run(s::never_block::while_ticking(
        "async-io, block_on",
        sleep,
        Box::pin(s::never_block::every_blocking_kind(&mut blockers)),
    ));
}

#[test]
fn the_as_given_policy_adds_no_flag_and_starts_no_thread() {
    run(s::never_block::as_given_starts_nothing::<AsyncIo>());
}

#[test]
fn a_read_at_the_end_of_a_file_is_answered_at_once() {
    run(s::never_block::a_read_at_the_end_of_a_file_is_answered_at_once::<AsyncIo>());
}

#[test]
fn direct_reads_of_cached_pages_go_again_inline() {
    run(s::never_block::direct_reads_of_cached_pages_go_again_inline::<AsyncIo>());
}

#[test]
fn a_socket_read_waiting_for_readiness_can_be_cancelled() {
    run(s::never_block::a_read_waiting_for_readiness_can_be_cancelled::<AsyncIo>());
}

#[test]
fn futures_of_refused_requests_dropped_anywhere_free_each_buffer_once() {
    run(s::never_block::futures_of_refused_requests_dropped_anywhere::<AsyncIo>());
}

#[test]
fn ten_thousand_direct_reads_from_one_task_through_a_context_of_32() {
    run(s::backpressure::ten_thousand_from_one_task::<AsyncIo>(true));
}

#[test]
fn submit_past_the_capacity_is_refused_and_reserve_waits() {
    run(s::backpressure::past_the_capacity::<AsyncIo>());
}

#[test]
fn readiness_is_rearmed_per_wait() {
    run(s::readiness_is_rearmed_per_wait::<AsyncIo>());
}

#[test]
fn batches_of_mixed_requests_decide_each_request_and_keep_the_rest_queued() {
    run(s::batch::mixed_requests::<AsyncIo>());
}

#[test]
fn batches_of_one_request_submit_it_in_place() {
    run(s::batch::single_requests::<AsyncIo>());
}
