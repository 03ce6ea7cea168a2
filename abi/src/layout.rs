//! Layout proofs: the size, alignment and offset of every field of every mirror,
//! asserted at compile time for the target being built, against the kernel header's
//! numbers.
//!
//! Each struct's assertion list must name every field: an exhaustive destructuring
//! pattern makes a missing field a compile error, and each field's declared type is
//! checked too. The same lists are kept as data in [`STRUCTS`], so that tests can show
//! that the fields tile the struct and can compare every figure with the C compiler's.
//!
//! ```
//! let iocb = rawaio_abi::layout::STRUCTS.iter().find(|s| s.name == "iocb").unwrap();
//! assert_eq!(iocb.size, 64);
//! assert_eq!(iocb.field("aio_buf").unwrap().offset, 24);
//! ```

use crate::{
    __aio_sigset, __kernel_old_timespec, __kernel_rwf_t, __kernel_timespec, aio_context_t,
    aio_ring, io_event, iocb, kernel_sigset_t, old_timespec32,
};
use static_assertions::const_assert_eq;

/// One field of a mirrored struct.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// The field's name, as in the kernel header.
    pub name: &'static str,
    /// Its offset in bytes.
    pub offset: usize,
    /// Its size in bytes.
    pub size: usize,
}

/// The asserted layout of one mirrored struct on the target being built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StructLayout {
    /// The struct's name, as in the kernel header.
    pub name: &'static str,
    /// `sizeof`.
    pub size: usize,
    /// `_Alignof` (the alignment the struct has as a member of another struct).
    pub align: usize,
    /// Every field, in declaration order.
    pub fields: &'static [Field],
}

impl StructLayout {
    /// The field called `name`, if there is one.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// The alignment of a 64-bit integer inside a struct: 4 on i386, 8 everywhere else.
const ALIGN64: usize = if cfg!(target_arch = "x86") { 4 } else { 8 };
/// The size and alignment of a pointer, `long` and `size_t`.
const WORD: usize = core::mem::size_of::<usize>();
const_assert_eq!(
    WORD,
    if cfg!(target_pointer_width = "64") {
        8
    } else {
        4
    }
);

/// Asserts a struct's layout at compile time and records it as a [`StructLayout`].
macro_rules! check_struct {
    ($const_name:ident, $ty:ident, size $size:expr, align $align:expr, {
        $($field:ident: $fty:ty = $offset:expr),+ $(,)?
    }) => {
        const_assert_eq!(core::mem::size_of::<$ty>(), $size);
        const_assert_eq!(core::mem::align_of::<$ty>(), $align);
        $(
            const_assert_eq!(memoffset::offset_of!($ty, $field), $offset);
        )+
        const _: () = {
            // Every field named, with its declared type: a missing, extra or retyped
            // field does not compile.
            #[allow(dead_code)]
            fn complete(value: $ty) {
                let $ty { $($field),+ } = value;
                $(let _: $fty = $field;)+
            }
        };
        #[doc = concat!("The asserted layout of `", stringify!($ty), "`.")]
        pub const $const_name: StructLayout = StructLayout {
            name: stringify!($ty),
            size: $size,
            align: $align,
            fields: &[$(Field {
                name: stringify!($field),
                offset: $offset,
                size: core::mem::size_of::<$fty>(),
            }),+],
        };
    };
}

check_struct!(IOCB, iocb, size 64, align ALIGN64, {
    aio_data: u64 = 0,
    aio_key: u32 = if cfg!(target_endian = "little") { 8 } else { 12 },
    aio_rw_flags: __kernel_rwf_t = if cfg!(target_endian = "little") { 12 } else { 8 },
    aio_lio_opcode: u16 = 16,
    aio_reqprio: i16 = 18,
    aio_fildes: u32 = 20,
    aio_buf: u64 = 24,
    aio_nbytes: u64 = 32,
    aio_offset: i64 = 40,
    aio_reserved2: u64 = 48,
    aio_flags: u32 = 56,
    aio_resfd: u32 = 60,
});

check_struct!(IO_EVENT, io_event, size 32, align ALIGN64, {
    data: u64 = 0,
    obj: u64 = 8,
    res: i64 = 16,
    res2: i64 = 24,
});

check_struct!(AIO_RING, aio_ring, size 32, align ALIGN64, {
    id: u32 = 0,
    nr: u32 = 4,
    head: u32 = 8,
    tail: u32 = 12,
    magic: u32 = 16,
    compat_features: u32 = 20,
    incompat_features: u32 = 24,
    header_length: u32 = 28,
    io_events: [io_event; 0] = 32,
});

check_struct!(AIO_SIGSET, __aio_sigset, size 2 * WORD, align WORD, {
    sigmask: *const kernel_sigset_t = 0,
    sigsetsize: usize = WORD,
});

check_struct!(KERNEL_SIGSET, kernel_sigset_t, size 8, align WORD, {
    sig: [usize; 64 / usize::BITS as usize] = 0,
});

check_struct!(KERNEL_TIMESPEC, __kernel_timespec, size 16, align ALIGN64, {
    tv_sec: i64 = 0,
    tv_nsec: i64 = 8,
});

check_struct!(KERNEL_OLD_TIMESPEC, __kernel_old_timespec, size 2 * WORD, align WORD, {
    tv_sec: isize = 0,
    tv_nsec: isize = WORD,
});

check_struct!(OLD_TIMESPEC32, old_timespec32, size 8, align 4, {
    tv_sec: i32 = 0,
    tv_nsec: i32 = 4,
});

const_assert_eq!(core::mem::size_of::<aio_context_t>(), WORD);
const_assert_eq!(
    crate::AIO_RING_HEADER_SIZE,
    core::mem::size_of::<aio_ring>()
);

/// Every mirrored struct's layout on the target being built.
pub const STRUCTS: [StructLayout; 8] = [
    IOCB,
    IO_EVENT,
    AIO_RING,
    AIO_SIGSET,
    KERNEL_SIGSET,
    KERNEL_TIMESPEC,
    KERNEL_OLD_TIMESPEC,
    OLD_TIMESPEC32,
];

#[cfg(test)]
mod tests {
    use super::*;

    /// None of these structs has padding, so listed fields that tile the struct from 0 to
    /// its size, without gap or overlap, are all of its fields.
    #[test]
    fn every_assertion_list_names_every_field() {
        for layout in STRUCTS {
            let mut fields = [Field {
                name: "",
                offset: 0,
                size: 0,
            }; 16];
            let fields = &mut fields[..layout.fields.len()];
            fields.copy_from_slice(layout.fields);
            fields.sort_by_key(|f| (f.offset, f.size));
            let mut end = 0;
            for f in fields.iter() {
                assert_eq!(
                    f.offset, end,
                    "{}.{}: gap or overlap before it",
                    layout.name, f.name
                );
                end = f.offset + f.size;
            }
            assert_eq!(
                end, layout.size,
                "{}: fields stop short of the size",
                layout.name
            );
        }
    }

    #[test]
    fn byte_order_swaps_key_and_rw_flags() {
        let key = IOCB.field("aio_key").unwrap().offset;
        let rw = IOCB.field("aio_rw_flags").unwrap().offset;
        if cfg!(target_endian = "big") {
            assert_eq!((rw, key), (8, 12));
        } else {
            assert_eq!((key, rw), (8, 12));
        }
        // Whatever the order, the pair fills one 64-bit word right after aio_data.
        assert_eq!(key.min(rw), 8);
    }
}
