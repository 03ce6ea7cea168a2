/* mremap.c: a ring the program moves with mremap (as CRIU does when it restores a
 * process). The kernel then knows the context by its new address only: the new handle
 * works (through the system calls), and once the context is destroyed through it, the
 * old handle gives -EINVAL, as the kernel says, instead of this library reading the ring
 * where it used to be (which is gone: a SIGSEGV). Other contexts are left alone. */
#define _GNU_SOURCE
#include "check.h"

#include <sys/eventfd.h>
#include <sys/mman.h>

/* The first fields of the kernel's struct aio_ring (fs/aio.c), enough to size it. */
struct ring_start {
	unsigned id, nr, head, tail;
};

static size_t ring_bytes(io_context_t ctx)
{
	const struct ring_start *ring = (const void *)ctx;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	/* A 32-byte header, then nr 32-byte events, in whole pages. */
	size_t bytes = 32 + (size_t)ring->nr * sizeof(struct io_event);
	return (bytes + page - 1) / page * page;
}

/* Moves the ring of ctx elsewhere and leaves an inaccessible mapping where it was, so
 * that reading the old address faults. Returns the new handle. */
static io_context_t move_ring(io_context_t ctx, size_t len)
{
	void *to = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(to != MAP_FAILED);
	void *moved = mremap((void *)ctx, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	CHECK(moved == to);
	void *hole = mmap((void *)ctx, len, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	CHECK(hole == (void *)ctx);
	return (io_context_t)moved;
}

/* One read of 16 bytes on ctx, waited for on its eventfd, so that its completion sits
 * in the ring. */
static void complete_one(io_context_t ctx, struct iocb *cb, int fd, char *buf, int efd)
{
	struct iocb *list[1] = {cb};
	unsigned long long n;
	io_prep_pread(cb, fd, buf, 16, 0);
	io_set_eventfd(cb, efd);
	CHECK_EQ(io_submit(ctx, 1, list), 1);
	CHECK_EQ(read(efd, &n, sizeof(n)), sizeof(n));
	CHECK_EQ(n, 1);
}

int main(void)
{
	int fd = temp_file();
	CHECK_EQ(write(fd, "0123456789abcdef", 16), 16);
	int efd = eventfd(0, 0);
	CHECK(efd >= 0);
	char buf[16];
	struct iocb cb, *list[1] = {&cb};
	struct io_event ev[4];
	struct timespec zero = {0, 0}, wait = ms(5000);

	io_context_t other = 0, old = 0;
	CHECK_EQ(io_setup(4, &other), 0);
	CHECK_EQ(io_setup(4, &old), 0);
	size_t len = ring_bytes(old);

	/* Moved with a completion in it: the kernel hands it out through the new handle. */
	complete_one(old, &cb, fd, buf, efd);
	io_context_t ctx = move_ring(old, len);
	CHECK(ctx != old);
	CHECK_EQ(io_submit(old, 1, list), -EINVAL);
	CHECK_EQ(io_getevents(ctx, 1, 4, ev, &wait), 1);
	CHECK(ev[0].obj == &cb);
	CHECK_EQ((long)ev[0].res, 16);
	CHECK_EQ(memcmp(buf, "0123456789abcdef", 16), 0);

	/* The new handle keeps working: every call, by the system calls. */
	complete_one(ctx, &cb, fd, buf, efd);
	CHECK_EQ(io_getevents(ctx, 0, 4, ev, &zero), 1);
	CHECK(ev[0].obj == &cb);
	complete_one(ctx, &cb, fd, buf, efd);
	CHECK_EQ(io_pgetevents(ctx, 1, 4, ev, &wait, NULL), 1);
	CHECK_EQ(io_queue_run(ctx), 0);
	CHECK_EQ(io_queue_wait(ctx, &zero), 0);

	/* Destroyed through the new handle: the old one is no context for the kernel, nor
	 * for this library, which no longer reads the ring at the old address. */
	CHECK_EQ(io_destroy(ctx), 0);
	CHECK_EQ(io_getevents(old, 0, 4, ev, &zero), -EINVAL);
	CHECK_EQ(io_getevents(old, 1, 4, ev, &zero), -EINVAL);
	CHECK_EQ(io_pgetevents(old, 0, 4, ev, &zero, NULL), -EINVAL);
	CHECK_EQ(io_queue_run(old), -EINVAL);
	CHECK_EQ(io_destroy(old), -EINVAL);
	CHECK_EQ(io_getevents(ctx, 0, 4, ev, &zero), -EINVAL);
	CHECK_EQ(io_destroy(ctx), -EINVAL);

	/* The context that was never moved is untouched, its completions all there. */
	complete_one(other, &cb, fd, buf, efd);
	complete_one(other, &cb, fd, buf, efd);
	CHECK_EQ(io_getevents(other, 2, 4, ev, &zero), 2);
	CHECK(ev[0].obj == &cb && ev[1].obj == &cb);
	CHECK_EQ(io_destroy(other), 0);

	CHECK_EQ(munmap((void *)old, len), 0);
	close(efd);
	close(fd);
	printf("PASS mremap\n");
	return 0;
}
