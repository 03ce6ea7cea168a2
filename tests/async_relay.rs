//! The async layer behind `reactor::Relay`, which tells the runtime's reactor of
//! completions through a poll request once per wait: the shared scenarios on tokio
//! (both runtimes) and on async-io, with the waits that make the relay fire (a socket
//! written later, many tasks on two threads, futures dropped while they wait).
#![cfg(any(feature = "tokio", feature = "async-io"))]

mod async_support;
mod support;

use async_support as s;

#[cfg(feature = "tokio")]
mod on_tokio {
    use super::s;
    use super::s::on_tokio::{current_thread, multi_thread, run};
    use rawaio::reactor::{Relay, Tokio};
    use rawaio::{AsyncContext, Op, PollFlags};
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    type R = Relay<Tokio>;

    #[test]
    fn reads_many_files_concurrently() {
        run(current_thread(), s::read_many_files::<R>(60));
    }

    #[test]
    fn copies_a_file_with_direct_io_on_a_multi_threaded_runtime() {
        run(multi_thread(), s::direct_copy::<R>(16));
    }

    #[test]
    fn waits_for_a_socket_through_iocb_cmd_poll() {
        run(current_thread(), s::poll_socket::<R>());
    }

    #[test]
    fn a_poll_woken_from_another_task_again_and_again() {
        // Each round the task really waits: the relay's poll fires once per round.
        run(multi_thread(), async {
            let ctx = AsyncContext::<R>::new(4).unwrap();
            let (a, mut b) = UnixStream::pair().unwrap();
            for round in 0..5 {
                let waiter = tokio::spawn(ctx.submit(Op::poll(&a, PollFlags::IN)).unwrap());
                tokio::time::sleep(Duration::from_millis(10)).await;
                assert!(
                    !waiter.is_finished(),
                    "round {round}: nothing was written yet"
                );
                b.write_all(b"x").unwrap();
                let done = waiter.await.unwrap().unwrap();
                assert_ne!(done.result().unwrap() & u64::from(PollFlags::IN.bits()), 0);
                let mut byte = [0u8; 1];
                std::io::Read::read_exact(&mut &a, &mut byte).unwrap();
            }
        });
    }

    #[test]
    fn many_tasks_share_one_context_on_a_multi_threaded_runtime() {
        run(
            multi_thread(),
            s::on_tokio::many_tasks_share_one_context::<R>(24, 40),
        );
    }

    #[test]
    fn dropped_futures_keep_their_buffers_until_completion() {
        run(multi_thread(), s::dropped_futures_keep_their_buffers::<R>());
    }

    #[test]
    fn dropping_a_poll_future_cancels_the_request() {
        run(current_thread(), s::dropping_a_poll_cancels_it::<R>());
    }

    #[test]
    fn submit_past_the_capacity_is_refused_and_reserve_waits() {
        run(current_thread(), s::backpressure::past_the_capacity::<R>());
    }

    #[test]
    fn ten_thousand_direct_reads_from_one_task_through_a_context_of_32() {
        run(
            current_thread(),
            s::backpressure::ten_thousand_from_one_task::<R>(true),
        );
    }

    #[test]
    fn readiness_is_rearmed_per_wait() {
        run(current_thread(), s::readiness_is_rearmed_per_wait::<R>());
    }

    #[test]
    fn outside_a_runtime_the_inner_reactor_says_so() {
        let err = AsyncContext::<R>::new(4).unwrap_err();
        assert!(err.to_string().contains("tokio"), "{err}");
    }
}

#[cfg(feature = "async-io")]
mod on_async_io {
    use super::s;
    use super::s::run_on_async_io as run;
    use rawaio::reactor::{AsyncIo, Relay};

    type R = Relay<AsyncIo>;

    #[test]
    fn reads_many_files_concurrently() {
        run(s::read_many_files::<R>(60));
    }

    #[test]
    fn copies_a_file_with_direct_io() {
        run(s::direct_copy::<R>(8));
    }

    #[test]
    fn waits_for_a_socket_through_iocb_cmd_poll() {
        run(s::poll_socket::<R>());
    }

    #[test]
    fn dropped_futures_keep_their_buffers_until_completion() {
        run(s::dropped_futures_keep_their_buffers::<R>());
    }

    #[test]
    fn readiness_is_rearmed_per_wait() {
        run(s::readiness_is_rearmed_per_wait::<R>());
    }
}
