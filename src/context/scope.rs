//! Scopes: requests whose buffers and descriptors are borrowed, on a context lent for
//! the length of a closure that cannot return before they have all completed.

use super::{Context, Kernel};
use crate::error::{Error, InvalidOp};
use crate::request::buf::IoBuf;
use crate::slots::Table;
use rustix::io::Errno;

impl<B: IoBuf> Context<B> {
    /// Runs `f` with a context whose requests may borrow their memory and descriptors:
    /// a `&mut [u8]` on the stack, a part of a larger buffer, guest memory mapped by a
    /// virtual machine monitor, any [`IoBuf`] of type `S`, and files borrowed for as long
    /// as the scope. Returns what `f` returns.
    ///
    /// The scope does not return (nor unwind past itself, if `f` panics) before every
    /// request submitted in it has completed: `POLL` requests still in flight are
    /// cancelled, every other request is waited for, and every completion not reaped by
    /// `f` is dropped. So no borrowed byte is reachable by the kernel once the borrow
    /// ends, whatever `f` does: return early, panic, or `mem::forget` a value. If that
    /// wait fails (it never does unless the process is a `fork` child or the kernel
    /// refuses the context), the kernel context is destroyed, which waits for every
    /// request, and this context is dead from then on (its calls fail with `EINVAL`);
    /// should even that fail outside a `fork` child, the process aborts rather than let
    /// the kernel write into memory that is no longer borrowed.
    ///
    /// The scope's context is this one's kernel context, lent: same ring, same eventfd,
    /// no new `io_setup`. It starts with this context idle and takes `&mut self`, so no
    /// request of this context's own can complete into the scope.
    ///
    /// # Errors
    /// [`InvalidOp::InFlight`] when this context has requests in flight (reap them
    /// first); `EINVAL` when it is dead. `f` is not run then.
    ///
    /// # Examples
    ///
    /// Read into a buffer on the stack and into two halves of another, with no `unsafe`:
    ///
    /// ```
    /// use rawaio::{Context, Op};
    ///
    /// let file = std::fs::File::open("README.md")?;
    /// let mut ctx = Context::<Vec<u8>>::new(4)?;
    /// let mut head = [0u8; 8];
    /// let mut pair = [0u8; 16];
    /// let (a, b) = pair.split_at_mut(8);
    /// let read = ctx.scope(|s| {
    ///     s.submit(Op::read(&file, &mut head[..], 0))?;
    ///     s.submit(Op::readv(&file, vec![a, b], 0))?;
    ///     let mut done = Vec::new();
    ///     while s.in_flight() > 0 {
    ///         s.reap(1, 4, None, &mut done)?;
    ///     }
    ///     Ok::<_, rawaio::Error>(done.iter().map(|c| c.result().unwrap()).sum::<u64>())
    /// })??;
    /// assert_eq!(read, 24);
    /// assert_eq!(&head, b"# rawaio");
    /// assert_eq!(&pair[..8], b"# rawaio");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// A buffer that does not outlive the scope cannot reach it:
    ///
    /// ```compile_fail
    /// use rawaio::{Context, Op};
    /// let file = std::fs::File::open("README.md").unwrap();
    /// let mut ctx = Context::<Vec<u8>>::new(4).unwrap();
    /// ctx.scope(|s| {
    ///     let mut local = [0u8; 8];
    ///     s.submit(Op::read(&file, &mut local[..], 0)).unwrap(); // `local` dies first
    /// }).unwrap();
    /// ```
    pub fn scope<S, T, F>(&mut self, f: F) -> Result<T, Error>
    where
        S: IoBuf,
        F: for<'scope> FnOnce(&'scope Context<S>) -> T,
    {
        if self.kernel.id == 0 {
            return Err(Errno::INVAL.into());
        }
        let in_flight = self.in_flight();
        if in_flight > 0 {
            return Err(InvalidOp::InFlight { count: in_flight }.into());
        }
        let kernel = std::mem::replace(&mut self.kernel, Kernel::detached());
        let guard = Lent {
            inner: Context {
                table: Table::new(kernel.ring_nr),
                kernel,
            },
            outer: self,
        };
        let result = f(&guard.inner);
        drop(guard);
        Ok(result)
    }

    /// Cancels the polls still in flight and waits for every other request, dropping
    /// their completions. Fails if waiting does.
    fn finish_scope(&self) -> Result<(), Errno> {
        let mut polls = Vec::new();
        self.table.lock().live_polls(&mut polls);
        for token in polls {
            // EINVAL: it completed meanwhile; either way its completion comes.
            let _ = self.cancel(token);
        }
        let mut done = Vec::new();
        while self.in_flight() > 0 {
            done.clear();
            if self.reap(1, self.ring_size() as usize, None, &mut done)? == 0 {
                // Nothing counted as in flight by the kernel, yet slots are taken: the
                // bookkeeping cannot be trusted, so let destruction wait instead.
                return Err(Errno::INVAL);
            }
        }
        Ok(())
    }
}

/// The scope's context, with the context it borrowed the kernel side from: dropping it
/// (on return or while unwinding) waits for the scope's requests and gives the kernel
/// side back.
struct Lent<'a, B: IoBuf, S: IoBuf> {
    inner: Context<S>,
    outer: &'a mut Context<B>,
}

impl<B: IoBuf, S: IoBuf> Drop for Lent<'_, B, S> {
    fn drop(&mut self) {
        if self.inner.finish_scope().is_ok() {
            self.outer.kernel = std::mem::replace(&mut self.inner.kernel, Kernel::detached());
            return;
        }
        // Waiting failed: destroy the kernel context, which waits for every request.
        let forked = self.inner.kernel.forked();
        if self.inner.destroy_in_place().is_err() && !forked {
            // The kernel may still write into borrowed memory that is about to be
            // released: nothing sound is left to do.
            std::process::abort();
        }
        // The outer context keeps its detached kernel side: dead, every call EINVAL.
    }
}
