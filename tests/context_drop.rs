//! Ownership of buffers in flight: dropping a busy context waits for the kernel before
//! freeing them, leaking it leaks them, a refused request hands its buffer back, and a
//! `fork` child can neither use the parent's context nor steal its completions.

mod support;

use rawaio::{Completion, Context, Errno, Error, Op, PollFlags};
use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};
use support::{
    DropCheck, DropLog, Fs, TIMEOUT, TempFile, Tracked, Watchdog, assert_nothing_within, pipe,
    reap_one, write_byte,
};

const POLLIN: u64 = 0x001;

#[test]
fn drop_with_hundreds_in_flight_waits_then_frees_each_buffer_once() {
    const WRITES: usize = 200;
    const LEN: usize = 64 * 1024;
    let (r, _w) = pipe();
    // Written and synced in full first, so that the direct writes below are overwrites,
    // which ext4 runs asynchronously (an extending write completes inside io_submit).
    let file = TempFile::new(Fs::Disk, "drop-busy", &vec![0u8; WRITES * LEN]);
    file.open_rw().sync_all().unwrap();
    let f = file.open_direct();
    let fill = |id: usize| (id % 251) as u8 + 1;
    // When a buffer is freed, its write must be on file already: read the region back
    // through a second, buffered descriptor.
    let reader = file.open_ro();
    let check: DropCheck = Box::new(move |id| {
        let mut region = vec![0u8; LEN];
        reader.read_exact_at(&mut region, (id * LEN) as u64).is_ok()
            && region.iter().all(|&b| b == fill(id))
    });
    let log = DropLog::with_check(WRITES, Some(check));
    let ctx = Context::<Tracked>::new(128).unwrap();
    let mut ops: VecDeque<Op<Tracked>> = (0..WRITES)
        .map(|id| {
            let buf = Tracked::filled(&log, id, LEN, fill(id));
            Op::write(&f, buf, (id * LEN) as u64).user_data(id as u64)
        })
        .collect();
    for i in 0..8 {
        ops.push_back(Op::poll(&r, PollFlags::IN).user_data(1000 + i));
    }
    let mut tokens = Vec::new();
    let s = ctx.submit_batch(&mut ops, &mut tokens);
    assert_eq!(
        s,
        rawaio::Submitted {
            accepted: WRITES + 8,
            error: None
        }
    );
    let in_flight = ctx.in_flight();
    assert_eq!(in_flight, WRITES + 8);
    assert_eq!(log.total(), 0, "the context owns every buffer");

    let ready = ctx.ready();
    let start = Instant::now();
    {
        let _watchdog = Watchdog::new(Duration::from_secs(20), "drop(Context)");
        drop(ctx);
    }
    eprintln!(
        "drop with {in_flight} requests unreaped ({ready} completions in the ring) took {:?}",
        start.elapsed()
    );
    assert!(
        log.each_once(),
        "every buffer dropped exactly once after drop returned"
    );
    assert_eq!(log.total(), WRITES);
    assert_eq!(log.corrupted(), 0, "no buffer changed under the kernel");
    assert_eq!(
        log.failed_checks(),
        0,
        "a buffer was freed before its write finished"
    );
    // Every write had finished when the buffers were freed.
    let contents = file.contents();
    assert_eq!(contents.len(), WRITES * LEN);
    for id in 0..WRITES {
        let chunk = &contents[id * LEN..(id + 1) * LEN];
        assert!(
            chunk.iter().all(|&b| b == fill(id)),
            "write {id} is incomplete"
        );
    }
}

#[test]
fn forgetting_a_busy_context_never_frees_its_buffers() {
    let (r, _w) = pipe();
    let file = TempFile::new(Fs::Tmpfs, "drop-forget", &[]);
    let f = file.open_rw();
    let log = DropLog::new(4);
    let ctx = Context::<Tracked>::new(4).unwrap();
    ctx.submit(Op::poll(&r, PollFlags::IN)).unwrap();
    for id in 0..4 {
        let buf = Tracked::filled(&log, id, 4096, 0x5a);
        ctx.submit(Op::write(&f, buf, id as u64 * 4096)).unwrap();
    }
    assert_eq!(ctx.in_flight(), 5);
    std::mem::forget(ctx);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(log.total(), 0, "a leaked context leaks its buffers");

    // The process carries on: another context works as usual.
    let ctx = Context::<Vec<u8>>::new(4).unwrap();
    ctx.submit(Op::read(&f, vec![0u8; 4096], 0)).unwrap();
    let c = reap_one(&ctx);
    assert_eq!(c.result(), Ok(4096));
    assert_eq!(c.into_buf().unwrap(), vec![0x5a; 4096]);
    assert_eq!(log.total(), 0);
}

#[test]
fn refused_requests_hand_their_custom_buffers_back() {
    let file = TempFile::new(Fs::Tmpfs, "drop-refused", b"original");
    let rw = file.open_rw();
    let ro = file.open_ro();
    let log = DropLog::new(5);
    let ctx = Context::<Tracked>::new(4).unwrap();

    // Refused by the kernel.
    let rejected = ctx
        .submit(Op::write(&ro, Tracked::filled(&log, 0, 512, 1), 0))
        .unwrap_err();
    assert_eq!(rejected.error, Error::Os(Errno::BADF));
    assert_eq!(log.count(0), 0);
    let bufs = rejected.op.into_bufs();
    assert_eq!(bufs.len(), 1);
    assert_eq!(bufs[0].id(), 0);
    assert!(bufs[0].bytes().iter().all(|&b| b == 1));
    assert_eq!(log.count(0), 0, "handed back, not dropped");
    drop(bufs);
    assert_eq!(log.count(0), 1);

    // Refused by rawaio.
    let rejected = ctx
        .submit(Op::read(&rw, Tracked::zeroed(&log, 1, 512), u64::MAX))
        .unwrap_err();
    assert!(matches!(rejected.error, Error::Invalid(_)));
    assert_eq!(log.count(1), 0);
    drop(rejected);
    assert_eq!(log.count(1), 1);

    // Left in a batch's queue after a refusal.
    let mut ops = VecDeque::from([
        Op::write(&rw, Tracked::filled(&log, 2, 512, 2), 0),
        Op::write(&ro, Tracked::filled(&log, 3, 512, 3), 0),
    ]);
    let mut tokens = Vec::new();
    let s = ctx.submit_batch(&mut ops, &mut tokens);
    assert_eq!((s.accepted, s.error), (1, Some(Error::Os(Errno::BADF))));
    assert_eq!((log.count(2), log.count(3)), (0, 0));
    let c = reap_one(&ctx);
    assert_eq!(c.result(), Ok(512));
    assert_eq!(log.count(2), 0, "the completion holds the buffer");
    drop(c);
    assert_eq!(
        log.count(2),
        1,
        "dropping a completion drops its buffer once"
    );
    drop(ops);
    assert_eq!(log.count(3), 1);

    // A completion whose buffer is taken back.
    ctx.submit(Op::write(&rw, Tracked::filled(&log, 4, 512, 4), 0))
        .unwrap();
    let buf = reap_one(&ctx).into_buf().unwrap();
    assert_eq!((buf.id(), log.count(4)), (4, 0));
    drop(buf);
    assert_eq!(log.count(4), 1);
    drop(ctx);
    assert!(log.each_once());
    assert_eq!(log.corrupted(), 0);
}

// ---------------------------------------------------------------------------------------
// fork
// ---------------------------------------------------------------------------------------

/// What the child found, as bits of its exit status (0: all as expected).
const CHILD_REAP_NOT_EINVAL: i32 = 1;
const CHILD_REAPED_SOMETHING: i32 = 2;
const CHILD_SUBMIT_NOT_EINVAL: i32 = 4;
const CHILD_WAIT_NOT_EINVAL: i32 = 8;
const CHILD_NO_GO: i32 = 16;
const CHILD_SAW_READY: i32 = 32;
const CHILD_CLAIMS_RING: i32 = 64;
/// The child's queries describing the parent's ring rather than its own situation.
const CHILD_QUERY_BITS: i32 = CHILD_SAW_READY | CHILD_CLAIMS_RING;

/// Runs in the fork child: only system calls and memory allocated before the fork.
fn child(
    ctx: &Context<Vec<u8>>,
    go: &OwnedFd,
    file: &std::fs::File,
    buf: Vec<u8>,
    done: &mut Vec<Completion<Vec<u8>>>,
) -> i32 {
    let mut code = 0;
    // Wait until the parent's poll has completed and its event sits in the ring.
    let mut byte = [0u8; 1];
    if rustix::io::read(go, &mut byte) != Ok(1) {
        code |= CHILD_NO_GO;
    }
    if ctx.ready() != 0 {
        code |= CHILD_SAW_READY;
    }
    if ctx.reaps_in_user_space() {
        code |= CHILD_CLAIMS_RING;
    }
    if ctx.reap(0, 8, Some(Duration::ZERO), done) != Err(Errno::INVAL) {
        code |= CHILD_REAP_NOT_EINVAL;
    }
    match ctx.submit(Op::write(file, buf, 0)) {
        Err(rejected) if rejected.error == Error::Os(Errno::INVAL) => {}
        _ => code |= CHILD_SUBMIT_NOT_EINVAL,
    }
    if ctx.reap(1, 8, Some(Duration::from_millis(50)), done) != Err(Errno::INVAL) {
        code |= CHILD_WAIT_NOT_EINVAL;
    }
    if !done.is_empty() {
        code |= CHILD_REAPED_SOMETHING;
    }
    code
}

/// Waits for `pid` for at most [`TIMEOUT`], killing it if it takes longer.
fn wait_child(pid: libc::pid_t) -> libc::c_int {
    let deadline = Instant::now() + TIMEOUT;
    let mut status = 0;
    loop {
        // SAFETY: `pid` is our child; `status` is writable.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return status;
        }
        assert_eq!(r, 0, "waitpid failed");
        if Instant::now() >= deadline {
            // SAFETY: killing and reaping our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("the fork child hung");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs the child scenario and returns its exit code, after checking that the parent's
/// pending poll completes exactly once, in the parent.
fn fork_scenario() -> i32 {
    let (r, w) = pipe();
    let (go_r, go_w) = pipe();
    let file = TempFile::new(Fs::Tmpfs, "drop-fork", &[]);
    let f = file.open_rw();
    let ctx = Context::<Vec<u8>>::new(8).unwrap();
    assert!(ctx.reaps_in_user_space());
    let token = ctx
        .submit(Op::poll(&r, PollFlags::IN).user_data(77))
        .unwrap();
    // Allocated before the fork, for the child.
    let child_buf = vec![1u8; 16];
    let mut child_done = Vec::with_capacity(16);

    // SAFETY: the child runs only `child`, which makes system calls and uses memory
    // allocated before the fork (no lock another thread could hold: the context's locks
    // are only taken by this thread), then leaves with `_exit`, running no destructors.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = child(&ctx, &go_r, &f, child_buf, &mut child_done);
        // SAFETY: ends the child at once, without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    drop(go_r);

    write_byte(&w);
    let deadline = Instant::now() + TIMEOUT;
    while ctx.ready() == 0 {
        assert!(Instant::now() < deadline, "the poll did not complete");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(ctx.ready(), 1);
    rustix::io::write(&go_w, b"g").unwrap();
    let status = wait_child(pid);
    assert!(libc::WIFEXITED(status), "child status {status:#x}");
    let code = libc::WEXITSTATUS(status);

    // The event is still there for the parent, exactly once.
    assert_eq!(ctx.ready(), 1, "the child consumed the parent's event");
    let mut done = Vec::new();
    assert_eq!(ctx.reap(1, 8, Some(TIMEOUT), &mut done), Ok(1));
    assert_eq!((done[0].token(), done[0].user_data()), (token, 77));
    assert_ne!(done[0].result().unwrap() & POLLIN, 0);
    assert_nothing_within(&ctx, Duration::from_millis(20));

    // And the parent's context keeps working.
    ctx.submit(Op::write(&f, b"parent".to_vec(), 0)).unwrap();
    assert_eq!(reap_one(&ctx).result(), Ok(6));
    assert_eq!(
        file.contents(),
        b"parent",
        "the child's write never happened"
    );
    assert_eq!(ctx.in_flight(), 0);
    code
}

#[test]
fn fork_child_cannot_use_the_context_nor_steal_its_completions() {
    let code = fork_scenario();
    assert_eq!(code & !CHILD_QUERY_BITS, 0, "child exit code {code:#x}");
}

/// In a fork child, `ready()` should not count the parent's completions, which the child
/// can never reap, nor `reaps_in_user_space()` claim the ring the child may not use.
#[test]
fn fork_child_queries_do_not_describe_the_parents_ring() {
    let code = fork_scenario();
    let mut wrong = Vec::new();
    if code & CHILD_SAW_READY != 0 {
        wrong.push("ready() counted the parent's completion");
    }
    if code & CHILD_CLAIMS_RING != 0 {
        wrong.push("reaps_in_user_space() was true");
    }
    assert!(wrong.is_empty(), "in the fork child: {wrong:?}");
}
