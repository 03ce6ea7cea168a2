//! Encode/decode round trips of every ABI mirror in both byte orders.
//!
//! Each type gets a reference encoder written here from the kernel header's field list
//! (offset, width and, for `iocb`, the byte-order-dependent `PADDED` placement of
//! `aio_key` and `aio_rw_flags`). The properties, for arbitrary field values:
//! - decode(encode(v, order), order) == v, for little- and big-endian;
//! - the two orders differ exactly by reversing each field's bytes (and, for `iocb`,
//!   by swapping the places of `aio_key` and `aio_rw_flags`);
//! - encode(v, native order) is the value's own memory, and for `iocb` also
//!   `iocb::to_bytes`, whose inverse `iocb::from_bytes` gives `v` back.
//!
//! Run natively (little-endian x86_64) and under qemu-user on s390x (big-endian) and
//! i686 (32-bit) by `.ci/cross-abi.sh`, so the native-memory property checks both
//! layouts for real.

use proptest::prelude::*;
use rawaio::abi::{
    __aio_sigset, __kernel_old_timespec, __kernel_timespec, aio_ring, io_event, iocb,
    kernel_sigset_t, old_timespec32,
};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Order {
    Little,
    Big,
}

const NATIVE: Order = if cfg!(target_endian = "little") {
    Order::Little
} else {
    Order::Big
};

/// One field: its offset and width, for one byte order.
struct Writer {
    bytes: Vec<u8>,
    order: Order,
}

impl Writer {
    fn new(size: usize, order: Order) -> Self {
        Self {
            bytes: vec![0; size],
            order,
        }
    }

    fn put(&mut self, at: usize, value: u64, width: usize) {
        let le = value.to_le_bytes();
        let field = &mut self.bytes[at..at + width];
        field.copy_from_slice(&le[..width]);
        if self.order == Order::Big {
            field.reverse();
        }
    }
}

fn get(bytes: &[u8], order: Order, at: usize, width: usize) -> u64 {
    let mut field = bytes[at..at + width].to_vec();
    if order == Order::Big {
        field.reverse();
    }
    let mut le = [0u8; 8];
    le[..width].copy_from_slice(&field);
    u64::from_le_bytes(le)
}

const WORD: usize = size_of::<usize>();

/// `(offset, width)` of every field, in declaration order.
trait Abi: Sized + Copy + PartialEq + std::fmt::Debug {
    const SIZE: usize;
    fn fields(order: Order) -> Vec<(usize, usize)>;
    fn values(&self) -> Vec<u64>;
    fn from_values(values: &[u64]) -> Self;

    fn encode(&self, order: Order) -> Vec<u8> {
        let mut w = Writer::new(Self::SIZE, order);
        for ((at, width), value) in Self::fields(order).into_iter().zip(self.values()) {
            w.put(at, value, width);
        }
        w.bytes
    }

    fn decode(bytes: &[u8], order: Order) -> Self {
        let values: Vec<u64> = Self::fields(order)
            .into_iter()
            .map(|(at, width)| get(bytes, order, at, width))
            .collect();
        Self::from_values(&values)
    }
}

/// The value's own bytes.
fn memory_of<T: Copy>(value: &T) -> Vec<u8> {
    // SAFETY: only used on the ABI mirrors, `repr(C)` structs without padding (their
    // fields are naturally aligned and fill them), so every byte is initialized.
    unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) }.to_vec()
}

impl Abi for iocb {
    const SIZE: usize = 64;
    fn fields(order: Order) -> Vec<(usize, usize)> {
        // PADDED(x, y): `x` first on little-endian, `y` first on big-endian.
        let (key, rw_flags) = match order {
            Order::Little => (8, 12),
            Order::Big => (12, 8),
        };
        vec![
            (0, 8),
            (key, 4),
            (rw_flags, 4),
            (16, 2),
            (18, 2),
            (20, 4),
            (24, 8),
            (32, 8),
            (40, 8),
            (48, 8),
            (56, 4),
            (60, 4),
        ]
    }
    fn values(&self) -> Vec<u64> {
        vec![
            self.aio_data,
            self.aio_key.into(),
            self.aio_rw_flags as u32 as u64,
            self.aio_lio_opcode.into(),
            self.aio_reqprio as u16 as u64,
            self.aio_fildes.into(),
            self.aio_buf,
            self.aio_nbytes,
            self.aio_offset as u64,
            self.aio_reserved2,
            self.aio_flags.into(),
            self.aio_resfd.into(),
        ]
    }
    fn from_values(v: &[u64]) -> Self {
        iocb {
            aio_data: v[0],
            aio_key: v[1] as u32,
            aio_rw_flags: v[2] as u32 as i32,
            aio_lio_opcode: v[3] as u16,
            aio_reqprio: v[4] as u16 as i16,
            aio_fildes: v[5] as u32,
            aio_buf: v[6],
            aio_nbytes: v[7],
            aio_offset: v[8] as i64,
            aio_reserved2: v[9],
            aio_flags: v[10] as u32,
            aio_resfd: v[11] as u32,
        }
    }
}

impl Abi for io_event {
    const SIZE: usize = 32;
    fn fields(_: Order) -> Vec<(usize, usize)> {
        vec![(0, 8), (8, 8), (16, 8), (24, 8)]
    }
    fn values(&self) -> Vec<u64> {
        vec![self.data, self.obj, self.res as u64, self.res2 as u64]
    }
    fn from_values(v: &[u64]) -> Self {
        io_event {
            data: v[0],
            obj: v[1],
            res: v[2] as i64,
            res2: v[3] as i64,
        }
    }
}

impl Abi for aio_ring {
    const SIZE: usize = 32;
    fn fields(_: Order) -> Vec<(usize, usize)> {
        (0..8).map(|i| (i * 4, 4)).collect()
    }
    fn values(&self) -> Vec<u64> {
        [
            self.id,
            self.nr,
            self.head,
            self.tail,
            self.magic,
            self.compat_features,
            self.incompat_features,
            self.header_length,
        ]
        .map(u64::from)
        .to_vec()
    }
    fn from_values(v: &[u64]) -> Self {
        aio_ring {
            id: v[0] as u32,
            nr: v[1] as u32,
            head: v[2] as u32,
            tail: v[3] as u32,
            magic: v[4] as u32,
            compat_features: v[5] as u32,
            incompat_features: v[6] as u32,
            header_length: v[7] as u32,
            io_events: [],
        }
    }
}

impl Abi for kernel_sigset_t {
    const SIZE: usize = 8;
    fn fields(_: Order) -> Vec<(usize, usize)> {
        (0..8 / WORD).map(|i| (i * WORD, WORD)).collect()
    }
    fn values(&self) -> Vec<u64> {
        self.sig.iter().map(|&w| w as u64).collect()
    }
    fn from_values(v: &[u64]) -> Self {
        let mut set = kernel_sigset_t::EMPTY;
        for (w, &value) in set.sig.iter_mut().zip(v) {
            *w = value as usize;
        }
        set
    }
}

impl Abi for __aio_sigset {
    const SIZE: usize = 2 * WORD;
    fn fields(_: Order) -> Vec<(usize, usize)> {
        vec![(0, WORD), (WORD, WORD)]
    }
    fn values(&self) -> Vec<u64> {
        vec![self.sigmask as usize as u64, self.sigsetsize as u64]
    }
    fn from_values(v: &[u64]) -> Self {
        __aio_sigset {
            sigmask: v[0] as usize as *const kernel_sigset_t,
            sigsetsize: v[1] as usize,
        }
    }
}

impl Abi for __kernel_timespec {
    const SIZE: usize = 16;
    fn fields(_: Order) -> Vec<(usize, usize)> {
        vec![(0, 8), (8, 8)]
    }
    fn values(&self) -> Vec<u64> {
        vec![self.tv_sec as u64, self.tv_nsec as u64]
    }
    fn from_values(v: &[u64]) -> Self {
        __kernel_timespec {
            tv_sec: v[0] as i64,
            tv_nsec: v[1] as i64,
        }
    }
}

impl Abi for __kernel_old_timespec {
    const SIZE: usize = 2 * WORD;
    fn fields(_: Order) -> Vec<(usize, usize)> {
        vec![(0, WORD), (WORD, WORD)]
    }
    fn values(&self) -> Vec<u64> {
        vec![self.tv_sec as usize as u64, self.tv_nsec as usize as u64]
    }
    fn from_values(v: &[u64]) -> Self {
        __kernel_old_timespec {
            tv_sec: v[0] as usize as isize,
            tv_nsec: v[1] as usize as isize,
        }
    }
}

impl Abi for old_timespec32 {
    const SIZE: usize = 8;
    fn fields(_: Order) -> Vec<(usize, usize)> {
        vec![(0, 4), (4, 4)]
    }
    fn values(&self) -> Vec<u64> {
        vec![self.tv_sec as u32 as u64, self.tv_nsec as u32 as u64]
    }
    fn from_values(v: &[u64]) -> Self {
        old_timespec32 {
            tv_sec: v[0] as u32 as i32,
            tv_nsec: v[1] as u32 as i32,
        }
    }
}

/// The properties every type shares.
fn check<T: Abi>(v: T) {
    assert_eq!(size_of::<T>(), T::SIZE);
    let le = v.encode(Order::Little);
    let be = v.encode(Order::Big);
    assert_eq!(T::decode(&le, Order::Little), v);
    assert_eq!(T::decode(&be, Order::Big), v);
    // The orders differ by each field's bytes reversed, at each order's offsets.
    for ((le_field, be_field), _) in T::fields(Order::Little)
        .into_iter()
        .zip(T::fields(Order::Big))
        .zip(v.values())
    {
        let (a, w) = le_field;
        let (b, _) = be_field;
        let mut reversed = le[a..a + w].to_vec();
        reversed.reverse();
        assert_eq!(be[b..b + w], reversed[..]);
    }
    // The native encoding is the value's memory, and decodes from it.
    let native = v.encode(NATIVE);
    assert_eq!(memory_of(&v), native, "{v:?}");
    assert_eq!(T::decode(&memory_of(&v), NATIVE), v);
}

/// Any usize-wide value (addresses and `long`s are word-sized on 32-bit targets).
fn word() -> impl Strategy<Value = usize> {
    any::<usize>()
}

fn cases() -> ProptestConfig {
    // Under qemu-user the cross script lowers this through PROPTEST_CASES.
    ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(512),
    )
}

fn arb_iocb() -> impl Strategy<Value = iocb> {
    (
        (any::<u64>(), any::<u32>(), any::<i32>(), any::<u16>()),
        (any::<i16>(), any::<u32>(), any::<u64>(), any::<u64>()),
        (any::<i64>(), any::<u64>(), any::<u32>(), any::<u32>()),
    )
        .prop_map(
            |((data, key, rw, op), (prio, fd, buf, n), (off, r2, fl, rfd))| iocb {
                aio_data: data,
                aio_key: key,
                aio_rw_flags: rw,
                aio_lio_opcode: op,
                aio_reqprio: prio,
                aio_fildes: fd,
                aio_buf: buf,
                aio_nbytes: n,
                aio_offset: off,
                aio_reserved2: r2,
                aio_flags: fl,
                aio_resfd: rfd,
            },
        )
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn iocb_round_trips(cb in arb_iocb()) {
        check(cb);
        let native = cb.encode(NATIVE);
        prop_assert_eq!(&cb.to_bytes()[..], &native[..]);
        prop_assert_eq!(iocb::from_bytes(&cb.to_bytes()), cb);
        // PADDED: the key and the RWF flags trade places with the byte order.
        let be = cb.encode(Order::Big);
        prop_assert_eq!(&be[8..12], &(cb.aio_rw_flags as u32).to_be_bytes());
        prop_assert_eq!(&be[12..16], &cb.aio_key.to_be_bytes());
        let le = cb.encode(Order::Little);
        prop_assert_eq!(&le[8..12], &cb.aio_key.to_le_bytes());
        prop_assert_eq!(&le[12..16], &(cb.aio_rw_flags as u32).to_le_bytes());
    }

    #[test]
    fn iocb_setters_store_addresses_zero_extended(addr in word(), len in word(), flags in any::<u32>()) {
        let mut cb = iocb::default();
        cb.set_buf(addr as *const u8, len);
        cb.set_rw_flags(rawaio::RwfFlags::from_bits_retain(flags));
        prop_assert_eq!(cb.aio_buf, addr as u64);
        prop_assert_eq!(cb.aio_nbytes, len as u64);
        prop_assert_eq!(cb.buf_addr(), Some(addr));
        prop_assert_eq!(cb.aio_rw_flags as u32, flags);
        prop_assert_eq!(cb.aio_flags, 0);
        check(cb);
    }

    #[test]
    fn io_event_round_trips(data in any::<u64>(), obj in any::<u64>(), res in any::<i64>(), res2 in any::<i64>()) {
        let ev = io_event { data, obj, res, res2 };
        check(ev);
        prop_assert_eq!(ev.obj_addr(), usize::try_from(obj).ok());
    }

    #[test]
    fn aio_ring_round_trips(w in proptest::array::uniform8(any::<u32>())) {
        check(aio_ring::from_values(&w.map(u64::from)));
    }

    #[test]
    fn sigsets_round_trip(bits in any::<u64>()) {
        let mut set = kernel_sigset_t::EMPTY;
        for signo in 1..=64 {
            if bits & (1 << (signo - 1)) != 0 {
                prop_assert!(set.insert(signo));
            }
        }
        for signo in 0..=65 {
            prop_assert_eq!(set.contains(signo), (1..=64).contains(&signo) && bits & (1 << (signo - 1)) != 0);
        }
        check(set);
        check(__aio_sigset { sigmask: &set, sigsetsize: rawaio::abi::KERNEL_SIGSET_SIZE });
    }

    #[test]
    fn timespecs_round_trip(sec in any::<i64>(), nsec in any::<i64>(), w0 in word(), w1 in word(), s in any::<i32>(), n in any::<i32>()) {
        check(__kernel_timespec { tv_sec: sec, tv_nsec: nsec });
        check(__kernel_old_timespec { tv_sec: w0 as isize, tv_nsec: w1 as isize });
        check(old_timespec32 { tv_sec: s, tv_nsec: n });
    }
}
