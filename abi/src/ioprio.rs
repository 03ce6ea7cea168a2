//! I/O priority values for `aio_reqprio` (`linux/ioprio.h`).

/// Bits the class is shifted by in an I/O priority value.
pub const IOPRIO_CLASS_SHIFT: u16 = 13;
/// Number of priority classes the encoding leaves room for.
pub const IOPRIO_NR_CLASSES: u16 = 8;
/// Mask of the class once shifted down.
pub const IOPRIO_CLASS_MASK: u16 = IOPRIO_NR_CLASSES - 1;
/// Mask of the class-specific data (level and hints).
pub const IOPRIO_PRIO_MASK: u16 = (1 << IOPRIO_CLASS_SHIFT) - 1;
/// No class: the task's default (derived from its CPU nice value).
pub const IOPRIO_CLASS_NONE: u16 = 0;
/// Real-time class (levels 0 to 7, 0 highest); needs `CAP_SYS_ADMIN` or `CAP_SYS_NICE`.
pub const IOPRIO_CLASS_RT: u16 = 1;
/// Best-effort class (levels 0 to 7, 0 highest).
pub const IOPRIO_CLASS_BE: u16 = 2;
/// Idle class: served only when nothing else wants the disk.
pub const IOPRIO_CLASS_IDLE: u16 = 3;
/// Bits of the data that hold the priority level.
pub const IOPRIO_LEVEL_NR_BITS: u16 = 3;
/// Number of levels in the RT and BE classes.
pub const IOPRIO_NR_LEVELS: u16 = 1 << IOPRIO_LEVEL_NR_BITS;
/// Mask of the level within the data.
pub const IOPRIO_LEVEL_MASK: u16 = IOPRIO_NR_LEVELS - 1;

/// Builds an I/O priority value (`IOPRIO_PRIO_VALUE(class, data)`): the class in the top
/// 3 bits, the data (normally a level 0 to 7) in the low 13. Out-of-range parts are
/// masked, as the C macro's users expect.
///
/// ```
/// use rawaio_abi::{ioprio_prio_value, ioprio_prio_class, ioprio_prio_data, IOPRIO_CLASS_BE};
/// let prio = ioprio_prio_value(IOPRIO_CLASS_BE, 4);
/// assert_eq!(prio, 0x4004);
/// assert_eq!((ioprio_prio_class(prio), ioprio_prio_data(prio)), (IOPRIO_CLASS_BE, 4));
/// ```
pub const fn ioprio_prio_value(class: u16, data: u16) -> u16 {
    ((class & IOPRIO_CLASS_MASK) << IOPRIO_CLASS_SHIFT) | (data & IOPRIO_PRIO_MASK)
}

/// The class of an I/O priority value (`IOPRIO_PRIO_CLASS`).
pub const fn ioprio_prio_class(ioprio: u16) -> u16 {
    (ioprio >> IOPRIO_CLASS_SHIFT) & IOPRIO_CLASS_MASK
}

/// The data (level and hints) of an I/O priority value (`IOPRIO_PRIO_DATA`).
pub const fn ioprio_prio_data(ioprio: u16) -> u16 {
    ioprio & IOPRIO_PRIO_MASK
}
