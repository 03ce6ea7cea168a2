//! The io_uring engine (the `io-uring` crate): plain READ/WRITE, no SQPOLL, no registered
//! buffers or files, so that it does what the other engines do.
//!
//! Where io_uring is denied (a seccomp filter answering `io_uring_setup` with `EPERM` or
//! `ENOSYS`, as container runtimes do; `kernel.io_uring_disabled`; a kernel without it),
//! [`availability`] says so and the benchmark reports the engine as unavailable instead
//! of failing.

/// Why io_uring cannot be used here, from the errno of `io_uring_setup`.
#[cfg_attr(
    not(any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "riscv64",
        target_arch = "loongarch64",
        target_arch = "powerpc64"
    )),
    allow(dead_code)
)]
pub fn unavailable_reason(errno: Option<i32>, detail: &str) -> String {
    match errno {
        Some(libc::EPERM) => format!(
            "io_uring_setup was denied ({detail}): a seccomp filter or the kernel.io_uring_disabled sysctl forbids io_uring"
        ),
        Some(libc::ENOSYS) => format!(
            "io_uring_setup does not exist here ({detail}): the kernel lacks io_uring or a seccomp filter hides it"
        ),
        _ => format!("io_uring_setup failed: {detail}"),
    }
}

#[cfg(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64",
    target_arch = "loongarch64",
    target_arch = "powerpc64"
))]
mod imp {
    use super::unavailable_reason;
    use crate::aio::{Buf, alloc_bufs};
    use crate::engine::{Dir, Engine};
    use crate::target::Target;
    use io_uring::{IoUring, opcode, squeue, types};
    use std::io;
    use std::os::fd::AsRawFd;

    /// `io_uring_enter` flag: wait for completions.
    const IORING_ENTER_GETEVENTS: u32 = 1;

    /// `Ok` when this process may use io_uring, else why not.
    pub fn availability() -> Result<(), String> {
        match IoUring::new(2) {
            Ok(_) => Ok(()),
            Err(e) => Err(unavailable_reason(e.raw_os_error(), &e.to_string())),
        }
    }

    /// An io_uring with one buffer per slot. Prepared entries wait in `pending` and reach
    /// the submission ring only in `submit`, so that waiting for completions never
    /// submits behind the benchmark loop's back.
    pub struct UringEngine<'f> {
        ring: IoUring,
        file: &'f std::fs::File,
        bufs: Vec<Buf>,
        /// Whether the slot's buffer is named by a prepared or submitted entry.
        busy: Vec<bool>,
        pending: Vec<squeue::Entry>,
        /// Pushed to the submission ring, not yet consumed by the kernel.
        in_ring: usize,
        /// Consumed by the kernel, completion not yet reaped.
        in_flight: usize,
    }

    impl<'f> UringEngine<'f> {
        pub fn new(target: &'f Target, qd: usize, bs: usize) -> Result<Self, String> {
            let entries = qd.next_power_of_two() as u32;
            // As fio sets it up: only this thread submits, and completions run when it
            // asks for them (no interrupting task work). Kernels before 6.1 refuse these
            // flags: fall back to a plain ring.
            let ring = IoUring::builder()
                .setup_coop_taskrun()
                .setup_single_issuer()
                .setup_defer_taskrun()
                .build(entries)
                .or_else(|_| IoUring::new(entries))
                .map_err(|e| format!("io_uring_setup: {e}"))?;
            Ok(Self {
                ring,
                file: &target.file,
                bufs: alloc_bufs(qd, bs, target.mem_align)?,
                busy: vec![false; qd],
                pending: Vec::with_capacity(qd),
                in_ring: 0,
                in_flight: 0,
            })
        }

        /// Delivers every completion waiting in the completion ring.
        fn drain(&mut self, done: &mut impl FnMut(usize, i64, &[u8])) -> usize {
            let mut n = 0;
            for cqe in self.ring.completion() {
                let slot = cqe.user_data() as usize;
                self.busy[slot] = false;
                done(slot, i64::from(cqe.result()), &self.bufs[slot]);
                n += 1;
            }
            self.in_flight -= n;
            n
        }

        /// Waits until at least `want` completions are in the completion ring, without
        /// submitting anything.
        fn wait(&self, want: usize) -> io::Result<usize> {
            let want = want.min(u32::MAX as usize) as u32;
            // SAFETY: `to_submit` is 0, so no submission entry (and no memory it names)
            // is handed to the kernel, and no argument pointer is passed: the call only
            // waits for completions to appear in the ring this `IoUring` owns.
            unsafe {
                self.ring
                    .submitter()
                    .enter::<()>(0, want, IORING_ENTER_GETEVENTS, None)
            }
        }
    }

    fn retryable(e: &io::Error) -> bool {
        matches!(
            e.raw_os_error(),
            Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)
        )
    }

    impl Engine for UringEngine<'_> {
        fn depth(&self) -> usize {
            self.bufs.len()
        }

        fn buf_mut(&mut self, slot: usize) -> &mut [u8] {
            assert!(!self.busy[slot], "slot {slot} is in use");
            &mut self.bufs[slot]
        }

        fn prepare(&mut self, slot: usize, offset: u64, dir: Dir) -> Result<(), String> {
            assert!(!self.busy[slot], "slot {slot} is in use");
            let fd = types::Fd(self.file.as_raw_fd());
            let buf = &mut self.bufs[slot];
            let len = buf.len() as u32;
            let entry = match dir {
                Dir::Read => opcode::Read::new(fd, buf.as_mut_ptr(), len)
                    .offset(offset)
                    .build(),
                Dir::Write => opcode::Write::new(fd, buf.as_ptr(), len)
                    .offset(offset)
                    .build(),
            };
            self.pending.push(entry.user_data(slot as u64));
            self.busy[slot] = true;
            Ok(())
        }

        fn submit(&mut self) -> Result<usize, String> {
            let mut sq = self.ring.submission();
            let room = sq.capacity() - sq.len();
            let take = self.pending.len().min(room);
            // SAFETY: each entry names the buffer of its slot, heap memory this engine
            // owns, which is not touched (`busy`) until the entry's completion is reaped,
            // and is never freed while a request is in flight (`Drop` waits for them, or
            // leaks the buffers); the descriptor belongs to a `File` that outlives the
            // engine.
            unsafe { sq.push_multiple(&self.pending[..take]) }
                .map_err(|_| "the submission ring is full".to_owned())?;
            drop(sq);
            self.pending.drain(..take);
            self.in_ring += take;
            match self.ring.submit() {
                Ok(n) => {
                    let n = n.min(self.in_ring);
                    self.in_ring -= n;
                    self.in_flight += n;
                    Ok(n)
                }
                Err(e) if retryable(&e) => Ok(0),
                Err(e) => Err(format!("io_uring_enter: {e}")),
            }
        }

        fn reap(
            &mut self,
            min: usize,
            done: &mut impl FnMut(usize, i64, &[u8]),
        ) -> Result<usize, String> {
            let min = min.min(self.in_flight);
            let mut got = self.drain(done);
            while got < min {
                match self.wait(min - got) {
                    Ok(_) => {}
                    Err(e) if retryable(&e) => {}
                    Err(e) => return Err(format!("io_uring_enter: {e}")),
                }
                got += self.drain(done);
            }
            Ok(got)
        }
    }

    impl Drop for UringEngine<'_> {
        fn drop(&mut self) {
            // The kernel may still write into the buffers of requests in flight: wait for
            // them, and if that fails, leak the buffers rather than free them. (Entries
            // never consumed are discarded with the ring.)
            while self.in_flight > 0 {
                match self.wait(self.in_flight) {
                    Ok(_) => {}
                    Err(e) if retryable(&e) => {}
                    Err(_) => {
                        std::mem::forget(std::mem::take(&mut self.bufs));
                        return;
                    }
                }
                self.drain(&mut |_, _, _| {});
            }
        }
    }
}

#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64",
    target_arch = "loongarch64",
    target_arch = "powerpc64"
)))]
mod imp {
    //! The `io-uring` crate has no system-call bindings for this architecture.
    use crate::engine::{Dir, Engine};
    use crate::target::Target;

    pub fn availability() -> Result<(), String> {
        Err("the io-uring crate does not support this architecture".into())
    }

    pub enum UringEngine {}

    impl UringEngine {
        pub fn new(_: &Target, _: usize, _: usize) -> Result<Self, String> {
            Err(availability().unwrap_err())
        }
    }

    impl Engine for UringEngine {
        fn depth(&self) -> usize {
            match *self {}
        }
        fn buf_mut(&mut self, _: usize) -> &mut [u8] {
            match *self {}
        }
        fn prepare(&mut self, _: usize, _: u64, _: Dir) -> Result<(), String> {
            match *self {}
        }
        fn submit(&mut self) -> Result<usize, String> {
            match *self {}
        }
        fn reap(
            &mut self,
            _: usize,
            _: &mut impl FnMut(usize, i64, &[u8]),
        ) -> Result<usize, String> {
            match *self {}
        }
    }
}

pub use imp::{UringEngine, availability};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denial_is_named() {
        assert!(unavailable_reason(Some(libc::EPERM), "x").contains("denied"));
        assert!(unavailable_reason(Some(libc::ENOSYS), "x").contains("does not exist"));
        assert!(unavailable_reason(Some(libc::ENOMEM), "oom").contains("oom"));
    }
}
