/* header_probe.c: what rawaio's libaio.h makes of the kernel's structures on the target
 * it is compiled for, for capi/tests/header_layout.rs to compare with rawaio-abi.
 *
 * Prints "NAME VALUE" lines: field offsets and sizes, the values it used, the 64 bytes
 * each io_prep_* helper leaves in a struct iocb (as hex), and the fields of a struct
 * io_event decoded from the 32 bytes (hex) given as argv[1]. Needs no library: only the
 * header's inline helpers run. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <libaio.h>
#ifndef RAWAIO_LIBAIO_H
#error "not rawaio's libaio.h"
#endif

#define FIGURE(name, value) printf("%s %lld\n", name, (long long)(value))
#define OFFSET(type, field) FIGURE("offset." #type "." #field, offsetof(struct type, field))
#define SIZE(type, field) FIGURE("size." #type "." #field, sizeof(((struct type *)0)->field))

static void bytes(const char *name, const struct iocb *cb)
{
	const unsigned char *p = (const unsigned char *)cb;
	printf("bytes.%s ", name);
	for (size_t i = 0; i < sizeof(*cb); i++)
		printf("%02x", p[i]);
	printf("\n");
}

static void callback(io_context_t ctx, struct iocb *iocb, long res, long res2)
{
	(void)ctx, (void)iocb, (void)res, (void)res2;
}

int main(int argc, char **argv)
{
	FIGURE("size.iocb", sizeof(struct iocb));
	FIGURE("size.io_event", sizeof(struct io_event));
	FIGURE("size.pointer", sizeof(void *));
	FIGURE("big_endian", __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__);
	OFFSET(iocb, data);
	OFFSET(iocb, key);
	OFFSET(iocb, aio_rw_flags);
	OFFSET(iocb, aio_lio_opcode);
	OFFSET(iocb, aio_reqprio);
	OFFSET(iocb, aio_fildes);
	OFFSET(iocb, u.c.buf);
	OFFSET(iocb, u.c.nbytes);
	OFFSET(iocb, u.c.offset);
	OFFSET(iocb, u.c.__pad3);
	OFFSET(iocb, u.c.flags);
	OFFSET(iocb, u.c.resfd);
	OFFSET(iocb, u.v.vec);
	OFFSET(iocb, u.v.nr);
	OFFSET(iocb, u.v.offset);
	OFFSET(iocb, u.poll.events);
	OFFSET(iocb, u.saddr.addr);
	OFFSET(iocb, u.saddr.len);
	OFFSET(io_event, data);
	OFFSET(io_event, obj);
	OFFSET(io_event, res);
	OFFSET(io_event, res2);
	SIZE(iocb, aio_lio_opcode);
	SIZE(iocb, aio_reqprio);
	SIZE(iocb, aio_fildes);
	SIZE(iocb, u.c.offset);
	SIZE(io_event, res);

	/* Values that show truncation or sign extension: the high bit of a 32-bit word
	 * set, more than 32 bits where a long has them. */
	uintptr_t buf = sizeof(void *) == 8 ? (uintptr_t)0x7f1234567890ULL : (uintptr_t)0x89abcdefUL;
	size_t count = sizeof(size_t) == 8 ? (size_t)0x123456789ULL : (size_t)0x89abcdefUL;
	long long offset = 0x1122334455LL;
	FIGURE("input.buf", buf);
	FIGURE("input.count", count);
	FIGURE("input.offset", offset);
	FIGURE("input.callback", (uintptr_t)(void *)callback);

	struct iocb cb;
	memset(&cb, 0xa5, sizeof(cb)); /* every helper must clear it */
	io_prep_pread(&cb, 7, (void *)buf, count, offset);
	bytes("pread", &cb);
	memset(&cb, 0xa5, sizeof(cb));
	io_prep_pwrite(&cb, 7, (void *)buf, count, offset);
	bytes("pwrite", &cb);
	memset(&cb, 0xa5, sizeof(cb));
	io_prep_preadv(&cb, 7, (const struct iovec *)buf, 3, offset);
	bytes("preadv", &cb);
	memset(&cb, 0xa5, sizeof(cb));
	io_prep_pwritev(&cb, 7, (const struct iovec *)buf, 3, offset);
	bytes("pwritev", &cb);
	memset(&cb, 0xa5, sizeof(cb));
	io_prep_preadv2(&cb, 7, (const struct iovec *)buf, 3, offset, 0x8);
	bytes("preadv2", &cb);
	memset(&cb, 0xa5, sizeof(cb));
	io_prep_pwritev2(&cb, 7, (const struct iovec *)buf, 3, offset, 0x12);
	bytes("pwritev2", &cb);
	memset(&cb, 0xa5, sizeof(cb));
	io_prep_fsync(&cb, 7);
	bytes("fsync", &cb);
	memset(&cb, 0xa5, sizeof(cb));
	io_prep_fdsync(&cb, 7);
	bytes("fdsync", &cb);
	memset(&cb, 0xa5, sizeof(cb));
	io_prep_poll(&cb, 7, 0x3);
	bytes("poll", &cb);
	io_prep_pread(&cb, 7, (void *)buf, count, offset);
	io_set_eventfd(&cb, 9);
	io_set_callback(&cb, callback);
	bytes("pread_eventfd_callback", &cb);

	if (argc > 1) {
		struct io_event ev;
		if (strlen(argv[1]) != 2 * sizeof(ev)) {
			fprintf(stderr, "argv[1]: %zu hex digits, not %zu\n", strlen(argv[1]),
				2 * sizeof(ev));
			return 1;
		}
		unsigned char *p = (unsigned char *)&ev;
		for (size_t i = 0; i < sizeof(ev); i++) {
			unsigned v;
			if (sscanf(argv[1] + 2 * i, "%2x", &v) != 1) {
				fprintf(stderr, "argv[1]: not hex\n");
				return 1;
			}
			p[i] = (unsigned char)v;
		}
		FIGURE("event.data", (uintptr_t)ev.data);
		FIGURE("event.obj", (uintptr_t)ev.obj);
		FIGURE("event.res", (long)ev.res);
		FIGURE("event.res2", (long)ev.res2);
	}
	return 0;
}
