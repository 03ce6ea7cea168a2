//! [`Preemption`]: "your time slice is over", read from an AIO completion ring without a
//! system call.
//!
//! Seastar's reactor keeps a second AIO context whose only request is an
//! `IOCB_CMD_POLL` on a timerfd: when the timer expires, the kernel completes the poll
//! from the timer's wake-up and writes its event into that context's ring, which is
//! mapped into the process. Whether the slice is over is then whether the ring's `head`
//! and `tail` differ: two loads, where asking the clock or the timerfd would be a
//! system call (or a vDSO call and a comparison on every check).

use crate::context::Context;
use crate::request::op::Op;
use crate::ring::Peek;
use rustix::event::PollFlags;
use rustix::io::Errno;
use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, timerfd_create, timerfd_settime,
};
use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

/// A flag that rises every `period`, checked with two loads from memory.
///
/// It owns a timerfd (`CLOCK_MONOTONIC`, periodic) and an AIO context of its own whose
/// one request polls the timerfd; [`should_yield`](Self::should_yield) compares the
/// head and tail of that context's completion ring. A task loop checks it between tasks
/// (or inside a long computation), yields to its runtime when it is up, and calls
/// [`rearm`](Self::rearm) when it starts its next slice.
///
/// Any thread may check it (it is `Send` and `Sync`); re-arming takes `&mut`. In a
/// `fork` child it says nothing useful (the child cannot use the context).
///
/// # Examples
///
/// ```
/// use rawaio::reactor::Preemption;
/// use std::time::{Duration, Instant};
///
/// let mut slice = Preemption::new(Duration::from_millis(2))?;
/// let start = Instant::now();
/// let mut work = 0u64;
/// while !slice.should_yield() {
///     work += 1; // a long computation, checking the flag as it goes
///     assert!(start.elapsed() < Duration::from_secs(5));
/// }
/// // Time to let the runtime run other tasks; then a new slice.
/// slice.rearm()?;
/// # let _ = work;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Preemption {
    /// Destroyed first: that cancels the poll, which holds its own reference to the
    /// timer.
    ctx: Context<Vec<u8>>,
    timer: OwnedFd,
    peek: Peek,
    period: Duration,
    armed: bool,
    done: Vec<crate::Completion<Vec<u8>>>,
}

fn timespec(d: Duration) -> rustix::time::Timespec {
    rustix::time::Timespec {
        tv_sec: d.as_secs().try_into().unwrap_or(i64::MAX as _),
        tv_nsec: d.subsec_nanos().into(),
    }
}

impl Preemption {
    /// A flag that rises every `period` (from now), with its timer and context.
    ///
    /// # Errors
    /// - `EINVAL` for a zero `period`;
    /// - those of `timerfd_create(2)`, `timerfd_settime(2)`, and of
    ///   [`Context::new`] (a spent `aio-max-nr` budget);
    /// - [`Unsupported`](io::ErrorKind::Unsupported) when the kernel's completion ring
    ///   cannot be read from user space, or the kernel has no `IOCB_CMD_POLL` (before
    ///   Linux 4.18).
    pub fn new(period: Duration) -> io::Result<Self> {
        if period.is_zero() {
            return Err(Errno::INVAL.into());
        }
        let timer = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::CLOEXEC | TimerfdFlags::NONBLOCK,
        )?;
        let ctx = Context::new(1)?;
        let peek = ctx.ring_peek().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                "rawaio::reactor::Preemption: the completion ring cannot be read from user space",
            )
        })?;
        let mut flag = Self {
            ctx,
            timer,
            peek,
            period,
            armed: false,
            done: Vec::with_capacity(1),
        };
        flag.set_period(period)?;
        flag.arm()?;
        Ok(flag)
    }

    /// Whether the slice is over: the timer expired since the last
    /// [`rearm`](Self::rearm). Two loads from the ring's header; no system call, no
    /// lock.
    #[inline]
    pub fn should_yield(&self) -> bool {
        !matches!(self.peek.ready(), Ok(0))
    }

    /// Starts a new slice: takes the timer's event from the ring (in user space), reads
    /// the timerfd (which resets it) and submits a new poll, if the flag had risen;
    /// otherwise does nothing.
    ///
    /// # Errors
    /// Those of `read(2)` on the timerfd and of submitting the poll.
    pub fn rearm(&mut self) -> io::Result<()> {
        if self.armed && !self.should_yield() {
            return Ok(());
        }
        self.done.clear();
        self.ctx.reap_ready(&mut self.done)?;
        if !self.done.is_empty() {
            self.armed = false;
        }
        self.done.clear();
        let mut count = [0u8; 8];
        match rustix::io::read(&self.timer, &mut count) {
            Ok(_) | Err(Errno::AGAIN) => {}
            Err(e) => return Err(e.into()),
        }
        self.arm()
    }

    /// Changes the period; the next expiration is one new period from now.
    ///
    /// # Errors
    /// `EINVAL` for a zero period; those of `timerfd_settime(2)`.
    pub fn set_period(&mut self, period: Duration) -> io::Result<()> {
        if period.is_zero() {
            return Err(Errno::INVAL.into());
        }
        let spec = Itimerspec {
            it_interval: timespec(period),
            it_value: timespec(period),
        };
        timerfd_settime(&self.timer, TimerfdTimerFlags::empty(), &spec)?;
        self.period = period;
        Ok(())
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    fn arm(&mut self) -> io::Result<()> {
        if !self.armed {
            self.ctx
                .submit(Op::poll(&self.timer, PollFlags::IN))
                .map_err(|r| io::Error::from(r.error))?;
            self.armed = true;
        }
        Ok(())
    }
}

impl fmt::Debug for Preemption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Preemption")
            .field("period", &self.period)
            .field("should_yield", &self.should_yield())
            .finish_non_exhaustive()
    }
}
