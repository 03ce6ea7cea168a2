//! What every engine offers the benchmark loop.

/// The direction of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    Read,
    Write,
}

/// An engine's side of the loop: `depth()` slots, each owning one buffer of `bs` bytes.
/// A slot is free (its buffer the driver's to fill) until `prepare`d, then in flight
/// until its completion is handed to `reap`'s callback.
pub trait Engine {
    fn depth(&self) -> usize;
    /// The buffer of a free slot, to fill before a write.
    fn buf_mut(&mut self, slot: usize) -> &mut [u8];
    /// Queues a request on a free slot; it goes to the kernel at the next `submit`.
    fn prepare(&mut self, slot: usize, offset: u64, dir: Dir) -> Result<(), String>;
    /// Submits the queued requests; returns how many were accepted (from the front of
    /// the queue: the rest stay queued, in order). 0 means the queue is full for now.
    fn submit(&mut self) -> Result<usize, String>;
    /// Waits for at least `min` completions and calls `done(slot, result, buffer)` for
    /// each one reaped (`result`: bytes transferred, or a negative errno); returns how
    /// many it reaped.
    fn reap(
        &mut self,
        min: usize,
        done: &mut impl FnMut(usize, i64, &[u8]),
    ) -> Result<usize, String>;
}
