//! Decodes arbitrary bytes as what the kernel hands back: `iocb`s (which `io_submit`
//! writes `aio_key` into), `io_event`s and their `res`, completion ring headers, signal
//! sets and I/O priorities. Nothing may panic, every decoder must agree with the
//! documented rule, and every encode/decode round trip must hold, byte for byte against
//! the struct's own memory.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rawaio_abi::{
    IocbFlags, RwfFlags, aio_ring, decode_res, io_event, iocb, ioprio_prio_class, ioprio_prio_data,
    ioprio_prio_value, kernel_sigset_t,
};

/// The bytes of a plain-data ABI struct as they sit in memory.
fn memory_of<T: Copy>(value: &T) -> &[u8] {
    // SAFETY: only used on the `repr(C)` ABI mirrors below, which have no padding (every
    // field is naturally aligned and they fill the struct), so every byte is initialized.
    unsafe { core::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) }
}

fn take<const N: usize>(data: &mut &[u8]) -> Option<[u8; N]> {
    let (head, rest) = data.split_first_chunk::<N>()?;
    *data = rest;
    Some(*head)
}

fn check_iocb(bytes: &[u8; 64]) {
    let cb = iocb::from_bytes(bytes);
    assert_eq!(&cb.to_bytes(), bytes, "from_bytes then to_bytes");
    assert_eq!(
        memory_of(&cb),
        bytes,
        "to_bytes is the memory the kernel reads"
    );
    assert_eq!(iocb::from_bytes(&cb.to_bytes()), cb);
    // Accessors: lossless where documented, truncating to known bits otherwise.
    assert_eq!(cb.buf_addr().is_some(), cb.aio_buf <= usize::MAX as u64);
    if let Some(addr) = cb.buf_addr() {
        assert_eq!(addr as u64, cb.aio_buf);
    }
    assert_eq!(
        cb.rw_flags().bits(),
        cb.aio_rw_flags as u32 & RwfFlags::all().bits()
    );
    assert_eq!(cb.flags().bits(), cb.aio_flags & IocbFlags::all().bits());
    // The setters touch only their own fields.
    let mut set = cb;
    set.set_rw_flags(cb.rw_flags());
    set.set_resfd(cb.aio_resfd);
    assert_eq!(set.aio_flags, cb.aio_flags | IocbFlags::RESFD.bits());
    assert_eq!(
        (set.aio_key, set.aio_data, set.aio_buf),
        (cb.aio_key, cb.aio_data, cb.aio_buf)
    );
}

fn check_event(bytes: &[u8; 32]) {
    let field = |at: usize| u64::from_ne_bytes(bytes[at..at + 8].try_into().unwrap());
    let ev = io_event {
        data: field(0),
        obj: field(8),
        res: field(16) as i64,
        res2: field(24) as i64,
    };
    assert_eq!(memory_of(&ev), bytes);
    assert_eq!(ev.result(), decode_res(ev.res));
    match decode_res(ev.res) {
        Err(errno) => {
            assert!((-4095..=-1).contains(&ev.res), "{} is not an errno", ev.res);
            assert_eq!(-i64::from(errno), ev.res);
        }
        Ok(value) => {
            assert!(!(-4095..=-1).contains(&ev.res));
            assert_eq!(value as i64, ev.res, "no value is lost");
        }
    }
    assert_eq!(
        ev.obj_addr().map(|a| a as u64),
        (ev.obj <= usize::MAX as u64).then_some(ev.obj)
    );
}

fn check_ring(bytes: &[u8; 32]) {
    let word = |i: usize| u32::from_ne_bytes(bytes[i * 4..i * 4 + 4].try_into().unwrap());
    let h = aio_ring {
        id: word(0),
        nr: word(1),
        head: word(2),
        tail: word(3),
        magic: word(4),
        compat_features: word(5),
        incompat_features: word(6),
        header_length: word(7),
        io_events: [],
    };
    assert_eq!(memory_of(&h), bytes);
    if h.is_readable() {
        assert_eq!(h.magic, rawaio_abi::AIO_RING_MAGIC);
        assert_eq!(h.incompat_features, 0);
        assert!(h.nr > 0 && h.header_length >= 32 && h.header_length.is_multiple_of(8));
    }
    match h.ready() {
        Some(n) => {
            assert!(h.head < h.nr && h.tail < h.nr);
            assert!(n < h.nr, "a ring of {} never holds {n}", h.nr);
            // Consuming `n` events from `head` lands on `tail`.
            assert_eq!(
                (u64::from(h.head) + u64::from(n)) % u64::from(h.nr),
                u64::from(h.tail)
            );
        }
        None => assert!(h.nr == 0 || h.head >= h.nr || h.tail >= h.nr),
    }
}

fn check_sigset(words: &[u8; 8], probe: u8) {
    let bits = u64::from_ne_bytes(*words);
    let mut set = kernel_sigset_t::EMPTY;
    for signo in 1..=64u32 {
        if bits & (1 << (signo - 1)) != 0 {
            assert!(set.insert(signo));
        }
    }
    assert_eq!(
        memory_of(&set),
        &bits.to_ne_bytes()[..size_of::<kernel_sigset_t>()]
    );
    let signo = u32::from(probe);
    let expected = (1..=64).contains(&signo) && bits & (1 << (signo - 1)) != 0;
    assert_eq!(set.contains(signo), expected);
    let mut copy = set;
    assert_eq!(copy.insert(signo), (1..=64).contains(&signo));
    assert_eq!(copy == set, !(1..=64).contains(&signo) || expected);
}

fn check_ioprio(class: u16, data: u16) {
    let value = ioprio_prio_value(class, data);
    assert_eq!(ioprio_prio_class(value), class & 7);
    assert_eq!(ioprio_prio_data(value), data & 0x1fff);
    assert_eq!(
        ioprio_prio_value(ioprio_prio_class(value), ioprio_prio_data(value)),
        value
    );
}

fuzz_target!(|data: &[u8]| {
    let mut data = data;
    while let Some(tag) = take::<1>(&mut data) {
        let done = match tag[0] % 5 {
            0 => take::<64>(&mut data).map(|b| check_iocb(&b)),
            1 => take::<32>(&mut data).map(|b| check_event(&b)),
            2 => take::<32>(&mut data).map(|b| check_ring(&b)),
            3 => take::<9>(&mut data).map(|b| check_sigset(b[..8].try_into().unwrap(), b[8])),
            _ => take::<4>(&mut data).map(|b| {
                check_ioprio(
                    u16::from_ne_bytes([b[0], b[1]]),
                    u16::from_ne_bytes([b[2], b[3]]),
                )
            }),
        };
        if done.is_none() {
            // Too few bytes left for one more: decode them as a zero-padded iocb.
            let mut b = [0u8; 64];
            b[..data.len()].copy_from_slice(data);
            check_iocb(&b);
            break;
        }
    }
});
