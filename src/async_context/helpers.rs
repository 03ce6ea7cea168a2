//! The helper threads of an [`AsyncContext`](super::AsyncContext): a small bounded pool
//! that resubmits, without `RWF_NOWAIT`, the requests the kernel refused and that only a
//! blocking submission can finish (a buffered read of data not in the page cache, a
//! buffered write on a file system that cannot take `RWF_NOWAIT` writes).
//!
//! Each helper has an AIO context of its own (one request in flight), which owns the
//! request's buffers while the kernel may use them, as any [`Context`] does; the helper
//! blocks in its `io_submit` (or its wait) instead of the executor. Threads start on
//! demand, up to the policy's limit, and exit after [`HELPER_IDLE`] without work, or
//! once the async context is gone and their queue is empty.

use super::job::Job;
use super::policy::HELPER_IDLE;
use super::waiters::{After, Waiters};
use crate::context::Context;
use crate::request::buf::IoBuf;
use crate::request::op::{Bufs, Op};
use rustix::io::Errno;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

/// The pool: a queue of jobs and the threads that take them.
pub(super) struct Pool<B> {
    inner: Arc<PoolInner<B>>,
}

struct PoolInner<B> {
    state: Mutex<PoolState<B>>,
    work: Condvar,
    max: usize,
}

struct PoolState<B> {
    queue: VecDeque<Job<B>>,
    threads: usize,
    idle: usize,
    closed: bool,
}

impl<B> PoolInner<B> {
    fn lock(&self) -> MutexGuard<'_, PoolState<B>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<B: IoBuf + 'static> Pool<B> {
    /// A pool of at most `max` threads, none started.
    pub(super) fn new(max: usize) -> Self {
        Self {
            inner: Arc::new(PoolInner {
                state: Mutex::new(PoolState {
                    queue: VecDeque::new(),
                    threads: 0,
                    idle: 0,
                    closed: false,
                }),
                work: Condvar::new(),
                max,
            }),
        }
    }

    /// Whether the pool may run anything at all.
    pub(super) fn enabled(&self) -> bool {
        self.inner.max > 0
    }

    /// Queues `job`, starting a thread if none is idle and the limit allows; the job's
    /// completion goes to `waiters`. Gives the job back if no thread can run it.
    #[allow(clippy::result_large_err)] // the rare way back; boxing would cost every job
    pub(super) fn push(&self, job: Job<B>, waiters: &Arc<Waiters<B>>) -> Result<(), Job<B>> {
        let mut st = self.inner.lock();
        if st.closed || self.inner.max == 0 {
            return Err(job);
        }
        st.queue.push_back(job);
        if st.idle >= st.queue.len() || st.threads >= self.inner.max {
            drop(st);
            self.inner.work.notify_one();
            return Ok(());
        }
        st.threads += 1;
        drop(st);
        let pool = Arc::clone(&self.inner);
        let waiters = Arc::clone(waiters);
        let spawned = std::thread::Builder::new()
            .name("rawaio-helper".into())
            .spawn(move || helper(&pool, &waiters));
        if spawned.is_err() {
            let mut st = self.inner.lock();
            st.threads -= 1;
            if st.threads == 0 {
                // Nobody will ever take it.
                return st.queue.pop_back().map_or(Ok(()), Err);
            }
        }
        Ok(())
    }

    /// Stops taking jobs: the queued ones are dropped (their futures are gone with the
    /// context), the running ones finish, and every thread exits.
    pub(super) fn close(&self) {
        let queued = {
            let mut st = self.inner.lock();
            st.closed = true;
            std::mem::take(&mut st.queue)
        };
        self.inner.work.notify_all();
        drop(queued);
    }
}

/// A helper thread: takes jobs until the pool closes or it has been idle for
/// [`HELPER_IDLE`].
fn helper<B: IoBuf + 'static>(pool: &PoolInner<B>, waiters: &Waiters<B>) {
    // One request at a time: a context of one event (created on first use).
    let mut ctx: Option<Result<Context<B>, Errno>> = None;
    loop {
        let job = {
            let mut st = pool.lock();
            loop {
                if let Some(job) = st.queue.pop_front() {
                    break job;
                }
                if st.closed {
                    st.threads -= 1;
                    return;
                }
                st.idle += 1;
                let (guard, timeout) = pool
                    .work
                    .wait_timeout(st, HELPER_IDLE)
                    .unwrap_or_else(PoisonError::into_inner);
                st = guard;
                st.idle -= 1;
                if timeout.timed_out() && st.queue.is_empty() {
                    st.threads -= 1;
                    return;
                }
            }
        };
        let ctx = ctx
            .get_or_insert_with(|| Context::new(1).map_err(|e| e.errno().unwrap_or(Errno::AGAIN)));
        let completion = match ctx {
            Ok(ctx) => run(ctx, job),
            Err(e) => job.complete(-i64::from(e.raw_os_error())),
        };
        let mut after = After::new();
        waiters
            .lock()
            .settle_away(completion, &waiters.counts, &mut after);
        after.wake_and_drop();
    }
}

/// Runs a job to its end on `ctx`: the request without `RWF_NOWAIT` (only its rest, if
/// it was cut short). The completion carries the original token and every buffer.
fn run<B: IoBuf>(ctx: &Context<B>, mut job: Job<B>) -> crate::Completion<B> {
    match std::mem::replace(&mut job.bufs, Bufs::None) {
        Bufs::Many(bufs) if job.done > 0 => run_parts(ctx, job, bufs),
        bufs => {
            let op = job.shell.op(&job.fd, bufs, false, job.done);
            let (res, bufs) = once(ctx, op);
            job.bufs = bufs;
            job.complete(res)
        }
    }
}

/// The rest of a vectored transfer cut short: buffer after buffer, as plain requests,
/// until one is short or fails.
fn run_parts<B: IoBuf>(ctx: &Context<B>, mut job: Job<B>, bufs: Vec<B>) -> crate::Completion<B> {
    let mut skip = job.done;
    let mut offset = job.shell.offset;
    let mut out = Vec::with_capacity(bufs.len());
    let mut moved = 0i64;
    let mut error = None;
    let mut stopped = false;
    for buf in bufs {
        let len = buf.io_len() as u64;
        if stopped || skip >= len {
            skip -= skip.min(len);
            offset += len;
            out.push(buf);
            continue;
        }
        let op = job
            .shell
            .plain_part(&job.fd, buf, offset + skip, skip as usize);
        let (res, back) = once(ctx, op);
        out.extend(back.into_vec());
        if res < 0 {
            error = Some(res);
            stopped = true;
        } else {
            moved += res;
            stopped = (res as u64) < len - skip;
        }
        offset += len;
        skip = 0;
    }
    job.bufs = Bufs::Many(out);
    job.complete(match error {
        Some(e) if moved == 0 => e,
        _ => moved,
    })
}

/// Submits `op` and waits for its completion: its result and its buffers.
fn once<B: IoBuf>(ctx: &Context<B>, op: Op<'_, B>) -> (i64, Bufs<B>) {
    let token = match ctx.submit(op) {
        Ok(token) => token,
        Err(rejected) => {
            let errno = rejected.error.errno().unwrap_or(Errno::INVAL);
            return (-i64::from(errno.raw_os_error()), rejected.op.bufs);
        }
    };
    let mut done = Vec::with_capacity(1);
    loop {
        match ctx.reap(1, 1, None, &mut done) {
            Ok(_) => {
                if let Some(c) = done.pop() {
                    debug_assert_eq!(c.token(), token);
                    return (c.res, c.bufs);
                }
            }
            // The context cannot be reaped: its table keeps the buffers until it is
            // destroyed (which waits for the request).
            Err(e) => return (-i64::from(e.raw_os_error()), Bufs::None),
        }
    }
}
