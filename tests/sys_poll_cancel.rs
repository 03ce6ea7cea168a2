//! `IOCB_CMD_POLL` on pipes through the raw layer: a poll waits for readiness, reports
//! the ready mask in `res`, and is the request `io_cancel` can cancel.

mod common;

use common::{
    Ctx, POLLIN, POLLOUT, assert_no_event, getevents, obj_of, pipe, pipe_write_byte, poll_iocb,
    reap, reap_one, submit, submit_one,
};
use rawaio::Errno;
use rawaio::abi::{io_event, iocb};
use rawaio::sys;
use std::time::Duration;

const TOKEN: u64 = 0x9011_0000_0000_0000;

fn cancel(ctx: &Ctx, cb: &mut iocb) -> Result<(), Errno> {
    let mut result = io_event::default();
    // SAFETY: `cb` is a live iocb and `result` a writable event.
    let r = unsafe { sys::io_cancel(ctx.id(), cb, &mut result) };
    // Current kernels leave `result` alone: the completion comes through the ring.
    assert_eq!(result, io_event::default(), "io_cancel wrote its result");
    r
}

#[test]
fn poll_waits_until_the_pipe_is_readable() {
    let (r, w) = pipe();
    let ctx = Ctx::new(2);
    let mut cb = poll_iocb(&r, POLLIN, TOKEN | 1);
    assert_eq!(submit_one(&ctx, &mut cb), Ok(1));

    // Nothing to read: the poll stays pending, through a zero and a short timeout.
    assert_no_event(&ctx);
    let evs = getevents(ctx.id(), 1, 1, Some(Duration::from_millis(30))).unwrap();
    assert!(evs.is_empty(), "poll completed on an empty pipe: {evs:?}");

    pipe_write_byte(&w);
    let ev = reap_one(&ctx);
    assert_eq!(ev.data, TOKEN | 1);
    assert_eq!(ev.obj, obj_of(&cb));
    assert!(ev.res > 0, "poll res is a mask: {}", ev.res);
    assert_ne!(ev.res as u64 & POLLIN, 0, "POLLIN in res {:#x}", ev.res);
    assert_eq!(
        ev.res as u64 & POLLOUT,
        0,
        "only asked-for events: {:#x}",
        ev.res
    );
    assert_eq!(ev.res2, 0);

    // One-shot: no second completion.
    assert_no_event(&ctx);
}

#[test]
fn poll_on_a_ready_pipe_completes_at_once() {
    let (r, w) = pipe();
    pipe_write_byte(&w);
    let ctx = Ctx::new(2);
    let mut rd = poll_iocb(&r, POLLIN, TOKEN | 2);
    let mut wr = poll_iocb(&w, POLLOUT, TOKEN | 3);
    assert_eq!(
        submit(&ctx, &mut [&mut rd as *mut iocb, &mut wr as *mut iocb]),
        Ok(2)
    );
    // Ready at submission: both completed inside io_submit.
    let evs = getevents(ctx.id(), 0, 4, Some(Duration::ZERO)).unwrap();
    assert_eq!(
        evs.len(),
        2,
        "both polls completed during io_submit: {evs:?}"
    );
    for ev in evs {
        match ev.data {
            d if d == TOKEN | 2 => {
                assert_eq!(ev.obj, obj_of(&rd));
                assert_eq!(ev.res as u64 & POLLIN, POLLIN);
            }
            d if d == TOKEN | 3 => {
                assert_eq!(ev.obj, obj_of(&wr));
                assert_eq!(ev.res as u64 & POLLOUT, POLLOUT);
            }
            d => panic!("unexpected event data {d:#x}"),
        }
    }
}

#[test]
fn one_write_completes_every_pending_poll() {
    let (r, w) = pipe();
    let ctx = Ctx::new(4);
    let mut cbs: Vec<iocb> = (0..3)
        .map(|k| poll_iocb(&r, POLLIN, TOKEN | 0x10 | k))
        .collect();
    let mut list: Vec<*mut iocb> = cbs.iter_mut().map(|c| c as *mut iocb).collect();
    assert_eq!(submit(&ctx, &mut list), Ok(3));
    assert_no_event(&ctx);
    pipe_write_byte(&w);
    let mut tokens: Vec<u64> = reap(&ctx, 3)
        .iter()
        .map(|ev| {
            assert_ne!(ev.res as u64 & POLLIN, 0);
            ev.data
        })
        .collect();
    tokens.sort_unstable();
    assert_eq!(tokens, [TOKEN | 0x10, TOKEN | 0x11, TOKEN | 0x12]);
}

#[test]
fn cancelled_poll_completes_with_res_0() {
    let (r, w) = pipe();
    let ctx = Ctx::new(2);
    let mut first = poll_iocb(&r, POLLIN, TOKEN | 4);
    let mut second = poll_iocb(&r, POLLIN, TOKEN | 5);
    assert_eq!(submit_one(&ctx, &mut first), Ok(1));
    assert_eq!(submit_one(&ctx, &mut second), Ok(1));
    assert_no_event(&ctx);

    // Success is reported as EINPROGRESS.
    assert_eq!(cancel(&ctx, &mut second), Err(Errno::INPROGRESS));
    let ev = reap_one(&ctx);
    assert_eq!(ev.data, TOKEN | 5, "the cancelled request's event");
    assert_eq!(ev.obj, obj_of(&second));
    assert_eq!(ev.res, 0, "a cancelled poll completes with res 0");
    assert_eq!(ev.res2, 0);

    // Gone: a second cancel finds nothing.
    assert_eq!(cancel(&ctx, &mut second), Err(Errno::INVAL));

    // The first poll is still pending and completes normally; the cancelled one does
    // not complete again.
    assert_no_event(&ctx);
    pipe_write_byte(&w);
    let ev = reap_one(&ctx);
    assert_eq!(ev.data, TOKEN | 4);
    assert_ne!(ev.res as u64 & POLLIN, 0);
    assert_no_event(&ctx);

    // Completed: it cannot be cancelled any more.
    assert_eq!(cancel(&ctx, &mut first), Err(Errno::INVAL));
}
