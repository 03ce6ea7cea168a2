/*
 * libaio.h: the libaio interface, as provided by librawaio (rawaio's C library).
 *
 * Source-compatible with libaio's header: the same types, structure and field names,
 * the same layout on every byte order and word size, the same inline helpers. Link with
 * -lrawaio (or -l:librawaio.a), or run a program built for libaio with
 * LD_PRELOAD=librawaio.so. See docs/libaio.md in the rawaio repository.
 *
 * Layout. The kernel's structures hold every pointer and `long` in a 64-bit slot. On
 * 64-bit targets the C type fills it; on 32-bit ones it takes the half where a 64-bit
 * load finds the low bits (the first on little-endian targets, the second on big-endian
 * ones) and a padding word the other half. The same rule places `key` and
 * `aio_rw_flags`, and a poll request's event mask.
 *
 * Every function returns a negative errno on failure (-EINVAL, -EAGAIN, ...), never -1.
 */
#ifndef __LIBAIO_H
#define __LIBAIO_H
#define RAWAIO_LIBAIO_H 1

#include <signal.h>
#include <string.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct timespec;
struct sockaddr;
struct iovec;

/* A context handle: the address of the kernel's completion ring for it. */
typedef struct io_context *io_context_t;

/* Request opcodes (the kernel's IOCB_CMD_*). NOOP is refused by the kernel. */
typedef enum io_iocb_cmd {
	IO_CMD_PREAD = 0,
	IO_CMD_PWRITE = 1,
	IO_CMD_FSYNC = 2,
	IO_CMD_FDSYNC = 3,
	IO_CMD_POLL = 5,
	IO_CMD_NOOP = 6,
	IO_CMD_PREADV = 7,
	IO_CMD_PWRITEV = 8,
} io_iocb_cmd_t;

#if !defined(__BYTE_ORDER__) || !defined(__SIZEOF_LONG__) || !defined(__SIZEOF_POINTER__)
#error "libaio.h (rawaio) needs a compiler that predefines __BYTE_ORDER__, __SIZEOF_LONG__ and __SIZEOF_POINTER__ (GCC, Clang)"
#endif
#if __SIZEOF_LONG__ != __SIZEOF_POINTER__
#error "libaio.h (rawaio): long and pointers of different sizes are not supported"
#endif

/*
 * _RAWAIO_WORD(decl, pad): a pointer- or long-sized member `decl` in a 64-bit slot.
 * _RAWAIO_PAIR(low, high): two 32-bit members sharing a 64-bit slot, `low` in the
 * half a little-endian 64-bit load reads as its low bits.
 */
#if __SIZEOF_LONG__ == 8
#define _RAWAIO_WORD(decl, pad) decl
#elif __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define _RAWAIO_WORD(decl, pad) decl; unsigned pad
#elif __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define _RAWAIO_WORD(decl, pad) unsigned pad; decl
#else
#error "libaio.h (rawaio): unknown byte order"
#endif

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define _RAWAIO_PAIR(low, high) low; high
#else
#define _RAWAIO_PAIR(low, high) high; low
#endif

/* IO_CMD_POLL: the poll(2) events to wait for. The result is the ready events. */
struct io_iocb_poll {
	_RAWAIO_PAIR(int events, unsigned __pad1);
};

/* Kept for layout compatibility: no kernel opcode uses it. */
struct io_iocb_sockaddr {
	_RAWAIO_WORD(struct sockaddr *addr, __pad1);
	_RAWAIO_WORD(unsigned long len, __pad2);
};

/* IO_CMD_PREAD, IO_CMD_PWRITE (and the fields every opcode shares: flags, resfd). */
struct io_iocb_common {
	_RAWAIO_WORD(void *buf, __pad1);
	_RAWAIO_WORD(unsigned long nbytes, __pad2);
	long long offset;
	long long __pad3;	/* the kernel's aio_reserved2: must be 0 */
	unsigned flags;		/* IOCB_FLAG_RESFD (1), IOCB_FLAG_IOPRIO (2) */
	unsigned resfd;		/* the eventfd signalled when flags has IOCB_FLAG_RESFD */
};

/* IO_CMD_PREADV, IO_CMD_PWRITEV. */
struct io_iocb_vector {
	_RAWAIO_WORD(const struct iovec *vec, __pad1);
	_RAWAIO_WORD(unsigned long nr, __pad2);
	long long offset;
};

/* One request: the kernel's struct iocb (64 bytes). */
struct iocb {
	_RAWAIO_WORD(void *data, __pad1);	/* returned in io_event.data */
	_RAWAIO_PAIR(unsigned key, unsigned aio_rw_flags);	/* key: the kernel's; aio_rw_flags: RWF_* */
	short aio_lio_opcode;	/* an io_iocb_cmd_t */
	short aio_reqprio;
	int aio_fildes;
	union {
		struct io_iocb_common c;
		struct io_iocb_vector v;
		struct io_iocb_poll poll;
		struct io_iocb_sockaddr saddr;
	} u;
};

/* One completion: the kernel's struct io_event (32 bytes). Cast res to long: a
 * negative value is -errno. */
struct io_event {
	_RAWAIO_WORD(void *data, __pad1);	/* the request's iocb.data */
	_RAWAIO_WORD(struct iocb *obj, __pad2);	/* the request's iocb, as submitted */
	_RAWAIO_WORD(unsigned long res, __pad3);
	_RAWAIO_WORD(unsigned long res2, __pad4);
};

/* The kernel's io_pgetevents signal-mask argument (libaio declares these too). */
struct io_sigset {
	unsigned long ss;
	unsigned long ss_len;
};

struct io_sigset_compat {
	_RAWAIO_WORD(unsigned long ss, __ss_pad);
	unsigned long ss_len;
};

#undef _RAWAIO_WORD
#undef _RAWAIO_PAIR

#if defined(__cplusplus) && __cplusplus >= 201103L
#define _RAWAIO_ASSERT(what, why) static_assert(what, why)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define _RAWAIO_ASSERT(what, why) _Static_assert(what, why)
#endif
#ifdef _RAWAIO_ASSERT
_RAWAIO_ASSERT(sizeof(struct iocb) == 64, "struct iocb is 64 bytes");
_RAWAIO_ASSERT(sizeof(struct io_event) == 32, "struct io_event is 32 bytes");
#undef _RAWAIO_ASSERT
#endif

/* What io_queue_run calls for each completion (stored in iocb.data). */
typedef void (*io_callback_t)(io_context_t ctx, struct iocb *iocb, long res, long res2);

/* Context management. io_queue_init is io_setup with *ctxp zeroed first and
 * maxevents <= 0 refused (-EINVAL); io_queue_release is io_destroy. */
extern int io_queue_init(int maxevents, io_context_t *ctxp);
extern int io_queue_release(io_context_t ctx);
/* Returns 0 at once on a live context (libaio's io_getevents(ctx, 0, 0, NULL, t)). */
extern int io_queue_wait(io_context_t ctx, struct timespec *timeout);
/* Calls the callback of every completion ready now; 0, or a negative errno. */
extern int io_queue_run(io_context_t ctx);

/* The system calls. */
extern int io_setup(int maxevents, io_context_t *ctxp);
extern int io_destroy(io_context_t ctx);
extern int io_submit(io_context_t ctx, long nr, struct iocb *ios[]);
/* -EINPROGRESS means cancelled: the event still arrives through io_getevents. */
extern int io_cancel(io_context_t ctx, struct iocb *iocb, struct io_event *evt);
extern int io_getevents(io_context_t ctx, long min_nr, long nr, struct io_event *events,
			struct timespec *timeout);
extern int io_pgetevents(io_context_t ctx, long min_nr, long nr, struct io_event *events,
			 struct timespec *timeout, sigset_t *sigmask);

/* Helpers. Each io_prep_* clears the whole iocb first. */

static inline void io_set_callback(struct iocb *iocb, io_callback_t cb)
{
	iocb->data = (void *)cb;
}

static inline void __rawaio_prep(struct iocb *iocb, int fd, short opcode)
{
	memset(iocb, 0, sizeof(*iocb));
	iocb->aio_lio_opcode = opcode;
	iocb->aio_fildes = fd;
}

static inline void __rawaio_prep_rw(struct iocb *iocb, int fd, short opcode, void *buf,
				    unsigned long nbytes, long long offset)
{
	__rawaio_prep(iocb, fd, opcode);
	iocb->u.c.buf = buf;
	iocb->u.c.nbytes = nbytes;
	iocb->u.c.offset = offset;
}

static inline void io_prep_pread(struct iocb *iocb, int fd, void *buf, size_t count,
				 long long offset)
{
	__rawaio_prep_rw(iocb, fd, IO_CMD_PREAD, buf, count, offset);
}

static inline void io_prep_pwrite(struct iocb *iocb, int fd, void *buf, size_t count,
				  long long offset)
{
	__rawaio_prep_rw(iocb, fd, IO_CMD_PWRITE, buf, count, offset);
}

/* The vectored forms keep the iovec array's address in u.c.buf and its length in
 * u.c.nbytes, where the kernel reads them (u.v names the same slots). */
static inline void io_prep_preadv(struct iocb *iocb, int fd, const struct iovec *iov,
				  int iovcnt, long long offset)
{
	__rawaio_prep_rw(iocb, fd, IO_CMD_PREADV, (void *)iov, iovcnt, offset);
}

static inline void io_prep_pwritev(struct iocb *iocb, int fd, const struct iovec *iov,
				   int iovcnt, long long offset)
{
	__rawaio_prep_rw(iocb, fd, IO_CMD_PWRITEV, (void *)iov, iovcnt, offset);
}

/* flags: RWF_* (RWF_NOWAIT, RWF_HIPRI, ...), stored in aio_rw_flags. */
static inline void io_prep_preadv2(struct iocb *iocb, int fd, const struct iovec *iov,
				   int iovcnt, long long offset, int flags)
{
	io_prep_preadv(iocb, fd, iov, iovcnt, offset);
	iocb->aio_rw_flags = flags;
}

static inline void io_prep_pwritev2(struct iocb *iocb, int fd, const struct iovec *iov,
				    int iovcnt, long long offset, int flags)
{
	io_prep_pwritev(iocb, fd, iov, iovcnt, offset);
	iocb->aio_rw_flags = flags;
}

static inline void io_prep_fsync(struct iocb *iocb, int fd)
{
	__rawaio_prep(iocb, fd, IO_CMD_FSYNC);
}

static inline void io_prep_fdsync(struct iocb *iocb, int fd)
{
	__rawaio_prep(iocb, fd, IO_CMD_FDSYNC);
}

/* events: poll(2) events (POLLIN, ...). The only opcode io_cancel can cancel. */
static inline void io_prep_poll(struct iocb *iocb, int fd, int events)
{
	__rawaio_prep(iocb, fd, IO_CMD_POLL);
	iocb->u.poll.events = events;
}

/* Asks the kernel to add 1 to the eventfd `eventfd` when the request completes. Call it
 * after io_prep_*, which clears it. */
static inline void io_set_eventfd(struct iocb *iocb, int eventfd)
{
	iocb->u.c.flags |= 1; /* IOCB_FLAG_RESFD */
	iocb->u.c.resfd = eventfd;
}

/* Prepare, set the callback and submit one request: 1, or a negative errno. */
static inline int io_fsync(io_context_t ctx, struct iocb *iocb, io_callback_t cb, int fd)
{
	io_prep_fsync(iocb, fd);
	io_set_callback(iocb, cb);
	return io_submit(ctx, 1, &iocb);
}

static inline int io_fdsync(io_context_t ctx, struct iocb *iocb, io_callback_t cb, int fd)
{
	io_prep_fdsync(iocb, fd);
	io_set_callback(iocb, cb);
	return io_submit(ctx, 1, &iocb);
}

static inline int io_poll(io_context_t ctx, struct iocb *iocb, io_callback_t cb, int fd,
			  int events)
{
	io_prep_poll(iocb, fd, events);
	io_set_callback(iocb, cb);
	return io_submit(ctx, 1, &iocb);
}

#ifdef __cplusplus
}
#endif

#endif /* __LIBAIO_H */
