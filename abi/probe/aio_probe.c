/*
 * aio_probe.c: prints the Linux native AIO ABI as the C compiler and the system's
 * kernel headers see it, one figure per line as "NAME VALUE" (VALUE in decimal), for
 * abi/tests/c_probe.rs to compare with the rawaio-abi crate.
 *
 *   <struct>.size  <struct>.align  <struct>.<field>.offset  <struct>.<field>.size
 *   <constant> <value>             __NR_<call> <number>     arch.<property> <value>
 *
 * "align" is the alignment a type gets as a member of another struct (the offset of a
 * member that follows a char), which is what Rust's align_of reports; on i386 it differs
 * from _Alignof for 64-bit scalars.
 *
 * Most figures come from the system headers. A few structs the AIO calls use are not in
 * any uapi header (struct aio_ring lives in fs/aio.c, struct __aio_sigset in
 * include/linux/syscalls.h, the kernel's sigset_t and struct old_timespec32 in kernel
 * headers): for those, the kernel's declarations are restated below, so the figures show
 * how the C compiler lays them out for this target.
 *
 * Constants a header may lack (flags added by later kernels) are printed only when the
 * header defines them; enumerators cannot be tested with #ifdef, so only those present
 * in every header this probe supports are printed.
 *
 * Build: cc -O0 -Wall -Werror -o aio_probe aio_probe.c   (add -static for qemu-user)
 */
#include <stddef.h>
#include <stdio.h>

#include <asm/unistd.h>
#include <linux/aio_abi.h>
#include <linux/fs.h>
#include <linux/types.h>

#if defined(__has_include)
#if __has_include(<linux/time_types.h>)
#include <linux/time_types.h>
#define HAVE_TIME_TYPES 1
#endif
#if __has_include(<linux/ioprio.h>)
#include <linux/ioprio.h>
#endif
#if __has_include(<linux/version.h>)
#include <linux/version.h>
#endif
#endif

/* Restated kernel declarations (see above). Only the C layout rules are tested here. */

/* The kernel's own sigset_t: _NSIG (64) bits in unsigned longs. */
#define PROBE_NSIG 64
#define PROBE_NSIG_WORDS (PROBE_NSIG / (8 * sizeof(unsigned long)))
typedef struct {
	unsigned long sig[PROBE_NSIG_WORDS];
} kernel_sigset_t;

/* include/linux/syscalls.h: the last argument of io_pgetevents. */
struct __aio_sigset {
	const kernel_sigset_t *sigmask;
	size_t sigsetsize;
};

/* include/vdso/time32.h: the timespec of the time32 syscalls. */
struct old_timespec32 {
	__s32 tv_sec;
	__s32 tv_nsec;
};

/* fs/aio.c: the header of the completion ring mapped into user memory. */
struct aio_ring {
	unsigned id;
	unsigned nr;
	unsigned head;
	unsigned tail;
	unsigned magic;
	unsigned compat_features;
	unsigned incompat_features;
	unsigned header_length;
	struct io_event io_events[0];
};

static void figure(const char *name, long long value)
{
	printf("%s %lld\n", name, value);
}

static void figure2(const char *a, const char *b, long long value)
{
	printf("%s.%s %lld\n", a, b, value);
}

static void figure3(const char *a, const char *b, const char *c, long long value)
{
	printf("%s.%s.%s %lld\n", a, b, c, value);
}

/* sizeof and member alignment of a type, printed under NAME. */
#define TYPE(name, type)                                                  \
	do {                                                              \
		struct probe_align { char c; type x; };                   \
		figure2(name, "size", (long long)sizeof(type));            \
		figure2(name, "align",                                    \
			(long long)offsetof(struct probe_align, x));      \
	} while (0)

/* Offset and size of FIELD of TYPE, printed under NAME. */
#define FIELD(name, type, field)                                          \
	do {                                                              \
		figure3(name, #field, "offset",                           \
			(long long)offsetof(type, field));                \
		figure3(name, #field, "size",                             \
			(long long)sizeof(((type *)0)->field));           \
	} while (0)

/* A constant, printed under its own name. */
#define CONSTANT(name) figure(#name, (long long)(name))

static int big_endian(void)
{
	const unsigned int one = 1;
	return *(const unsigned char *)&one == 0;
}

int main(void)
{
	figure("arch.big_endian", big_endian());
	figure("arch.pointer_bytes", (long long)sizeof(void *));

	/* linux/aio_abi.h */
	TYPE("aio_context_t", aio_context_t);

	TYPE("iocb", struct iocb);
	FIELD("iocb", struct iocb, aio_data);
	FIELD("iocb", struct iocb, aio_key);
	FIELD("iocb", struct iocb, aio_rw_flags);
	FIELD("iocb", struct iocb, aio_lio_opcode);
	FIELD("iocb", struct iocb, aio_reqprio);
	FIELD("iocb", struct iocb, aio_fildes);
	FIELD("iocb", struct iocb, aio_buf);
	FIELD("iocb", struct iocb, aio_nbytes);
	FIELD("iocb", struct iocb, aio_offset);
	FIELD("iocb", struct iocb, aio_reserved2);
	FIELD("iocb", struct iocb, aio_flags);
	FIELD("iocb", struct iocb, aio_resfd);

	TYPE("io_event", struct io_event);
	FIELD("io_event", struct io_event, data);
	FIELD("io_event", struct io_event, obj);
	FIELD("io_event", struct io_event, res);
	FIELD("io_event", struct io_event, res2);

	/* __kernel_rwf_t arrived with RWF_* in linux/fs.h (4.6). */
#ifdef RWF_HIPRI
	TYPE("__kernel_rwf_t", __kernel_rwf_t);
#endif

	/* Enumerators present in every aio_abi.h since 4.18 (IOCB_CMD_POLL). */
	CONSTANT(IOCB_CMD_PREAD);
	CONSTANT(IOCB_CMD_PWRITE);
	CONSTANT(IOCB_CMD_FSYNC);
	CONSTANT(IOCB_CMD_FDSYNC);
	CONSTANT(IOCB_CMD_POLL);
	CONSTANT(IOCB_CMD_NOOP);
	CONSTANT(IOCB_CMD_PREADV);
	CONSTANT(IOCB_CMD_PWRITEV);

#ifdef IOCB_FLAG_RESFD
	CONSTANT(IOCB_FLAG_RESFD);
#endif
#ifdef IOCB_FLAG_IOPRIO
	CONSTANT(IOCB_FLAG_IOPRIO);
#endif

	/* linux/fs.h. RWF_SUPPORTED is left out on purpose: it is the set of the
	 * header's own kernel version, not a fixed value. */
#ifdef RWF_HIPRI
	CONSTANT(RWF_HIPRI);
#endif
#ifdef RWF_DSYNC
	CONSTANT(RWF_DSYNC);
#endif
#ifdef RWF_SYNC
	CONSTANT(RWF_SYNC);
#endif
#ifdef RWF_NOWAIT
	CONSTANT(RWF_NOWAIT);
#endif
#ifdef RWF_APPEND
	CONSTANT(RWF_APPEND);
#endif
#ifdef RWF_NOAPPEND
	CONSTANT(RWF_NOAPPEND);
#endif
#ifdef RWF_ATOMIC
	CONSTANT(RWF_ATOMIC);
#endif
#ifdef RWF_DONTCACHE
	CONSTANT(RWF_DONTCACHE);
#endif
#ifdef RWF_NOSIGNAL
	CONSTANT(RWF_NOSIGNAL);
#endif

	/* linux/ioprio.h (uapi since 5.15). The classes are enumerators, declared in
	 * every version of the header, which always defines IOPRIO_CLASS_SHIFT. */
#ifdef IOPRIO_CLASS_SHIFT
	CONSTANT(IOPRIO_CLASS_SHIFT);
	CONSTANT(IOPRIO_CLASS_NONE);
	CONSTANT(IOPRIO_CLASS_RT);
	CONSTANT(IOPRIO_CLASS_BE);
	CONSTANT(IOPRIO_CLASS_IDLE);
#endif
#ifdef IOPRIO_NR_CLASSES
	CONSTANT(IOPRIO_NR_CLASSES);
#endif
#ifdef IOPRIO_CLASS_MASK
	CONSTANT(IOPRIO_CLASS_MASK);
#endif
#ifdef IOPRIO_PRIO_MASK
	CONSTANT(IOPRIO_PRIO_MASK);
#endif
#ifdef IOPRIO_LEVEL_NR_BITS
	CONSTANT(IOPRIO_LEVEL_NR_BITS);
#endif
#ifdef IOPRIO_NR_LEVELS
	CONSTANT(IOPRIO_NR_LEVELS);
#endif
#ifdef IOPRIO_LEVEL_MASK
	CONSTANT(IOPRIO_LEVEL_MASK);
#endif

	/* asm/unistd.h */
#ifdef __NR_io_setup
	CONSTANT(__NR_io_setup);
#endif
#ifdef __NR_io_destroy
	CONSTANT(__NR_io_destroy);
#endif
#ifdef __NR_io_getevents
	CONSTANT(__NR_io_getevents);
#endif
#ifdef __NR_io_submit
	CONSTANT(__NR_io_submit);
#endif
#ifdef __NR_io_cancel
	CONSTANT(__NR_io_cancel);
#endif
#ifdef __NR_io_pgetevents
	CONSTANT(__NR_io_pgetevents);
#endif
#ifdef __NR_io_pgetevents_time64
	CONSTANT(__NR_io_pgetevents_time64);
#endif

	/* linux/time_types.h (5.1); __kernel_old_timespec joined it in 5.6. */
#ifdef HAVE_TIME_TYPES
	TYPE("__kernel_timespec", struct __kernel_timespec);
	FIELD("__kernel_timespec", struct __kernel_timespec, tv_sec);
	FIELD("__kernel_timespec", struct __kernel_timespec, tv_nsec);
#if defined(LINUX_VERSION_CODE) && defined(KERNEL_VERSION)
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 6, 0)
	TYPE("__kernel_old_timespec", struct __kernel_old_timespec);
	FIELD("__kernel_old_timespec", struct __kernel_old_timespec, tv_sec);
	FIELD("__kernel_old_timespec", struct __kernel_old_timespec, tv_nsec);
#endif
#endif
#endif

	/* The restated kernel declarations. */
	TYPE("__aio_sigset", struct __aio_sigset);
	FIELD("__aio_sigset", struct __aio_sigset, sigmask);
	FIELD("__aio_sigset", struct __aio_sigset, sigsetsize);

	TYPE("kernel_sigset_t", kernel_sigset_t);
	FIELD("kernel_sigset_t", kernel_sigset_t, sig);

	TYPE("old_timespec32", struct old_timespec32);
	FIELD("old_timespec32", struct old_timespec32, tv_sec);
	FIELD("old_timespec32", struct old_timespec32, tv_nsec);

	TYPE("aio_ring", struct aio_ring);
	FIELD("aio_ring", struct aio_ring, id);
	FIELD("aio_ring", struct aio_ring, nr);
	FIELD("aio_ring", struct aio_ring, head);
	FIELD("aio_ring", struct aio_ring, tail);
	FIELD("aio_ring", struct aio_ring, magic);
	FIELD("aio_ring", struct aio_ring, compat_features);
	FIELD("aio_ring", struct aio_ring, incompat_features);
	FIELD("aio_ring", struct aio_ring, header_length);
	FIELD("aio_ring", struct aio_ring, io_events);

	return fflush(stdout) != 0 || ferror(stdout);
}
