/* api.c: every function and helper of libaio.h, and the error cases of each call in
 * libaio's convention (a negative errno), against rawaio's library. */
#define _GNU_SOURCE
#include "check.h"

#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>

#ifndef RWF_DSYNC
#define RWF_DSYNC 0x2
#endif

/* The LIBAIO_0.1 variants, reachable by version only (or, in a library built without
 * symbol versions, by the library's own names). */
#ifndef RAWAIO_TEST_VERSIONED
#define io_getevents_0_1 rawaio_io_getevents_0_1
#define io_cancel_0_1 rawaio_io_cancel_0_1
#define io_queue_wait_0_1 rawaio_io_queue_wait_0_1
#endif
extern int io_getevents_0_1(io_context_t ctx, long nr, struct io_event *events,
			    struct timespec *timeout);
extern int io_cancel_0_1(io_context_t ctx, struct iocb *iocb);
extern int io_queue_wait_0_1(io_context_t ctx, struct timespec *timeout);
#ifdef RAWAIO_TEST_VERSIONED
__asm__(".symver io_getevents_0_1, io_getevents@LIBAIO_0.1");
__asm__(".symver io_cancel_0_1, io_cancel@LIBAIO_0.1");
__asm__(".symver io_queue_wait_0_1, io_queue_wait@LIBAIO_0.1");
#endif

#define BAD_CTX ((io_context_t)0x1000)

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static io_context_t setup(int n)
{
	io_context_t ctx = 0;
	CHECK_EQ(io_setup(n, &ctx), 0);
	CHECK(ctx != 0);
	return ctx;
}

/* A file holding 4 KiB of a known pattern. */
static int pattern_file(void)
{
	int fd = temp_file();
	char buf[4096];
	for (int i = 0; i < 4096; i++)
		buf[i] = (char)(i * 7 + 3);
	CHECK_EQ(pwrite(fd, buf, sizeof(buf), 0), 4096);
	return fd;
}

/* Waits (without reaping) until `n` completions signalled the eventfd `efd`. */
static void wait_eventfd(int efd, unsigned long long n)
{
	unsigned long long total = 0, v;
	while (total < n) {
		CHECK_EQ(read(efd, &v, sizeof(v)), 8);
		total += v;
	}
	CHECK_EQ(total, n);
}

static void test_setup_destroy(void)
{
	io_context_t ctx = 0;
	CHECK_EQ(io_queue_init(0, &ctx), -EINVAL);
	CHECK_EQ(io_queue_init(-5, &ctx), -EINVAL);
	CHECK_EQ(io_queue_init(4, NULL), -EFAULT);
	ctx = (io_context_t)0x1234; /* io_queue_init zeroes it first */
	CHECK_EQ(io_queue_init(4, &ctx), 0);
	CHECK(ctx != 0 && ctx != (io_context_t)0x1234);
	CHECK_EQ(io_queue_release(ctx), 0);
	CHECK_EQ(io_queue_release(ctx), -EINVAL);

	io_context_t c = (io_context_t)1;
	CHECK_EQ(io_setup(4, &c), -EINVAL); /* *ctxp must be 0 */
	c = 0;
	CHECK_EQ(io_setup(0, &c), -EINVAL);
	CHECK_EQ(io_setup(0x500000, &c), -EINVAL);
	CHECK_EQ(io_setup(-1, &c), -EINVAL); /* 0xffffffff: too many */
	CHECK_EQ(io_setup(4, (io_context_t *)8), -EFAULT);
	CHECK_EQ(io_setup(4, NULL), -EFAULT);
	CHECK(c == 0);
	FILE *f = fopen("/proc/sys/fs/aio-max-nr", "r");
	long max = 0;
	CHECK(f && fscanf(f, "%ld", &max) == 1);
	fclose(f);
	if (max + 1 < 0x400000)
		CHECK_EQ(io_setup((int)max + 1, &c), -EAGAIN);
	else
		printf("skip io_setup EAGAIN: aio-max-nr is %ld\n", max);

	c = setup(1);
	CHECK_EQ(io_destroy(c), 0);
	CHECK_EQ(io_destroy(c), -EINVAL);
	CHECK_EQ(io_destroy(0), -EINVAL);
	CHECK_EQ(io_destroy(BAD_CTX), -EINVAL);
	CHECK_EQ(io_destroy((io_context_t)-1L), -EINVAL);
}

static void test_submit_errors(void)
{
	io_context_t ctx = setup(8);
	int fd = pattern_file();
	int ro = open("/dev/null", O_RDONLY);
	CHECK(ro >= 0);
	char buf[512];
	struct iocb cb, cb2, *list[2] = {&cb, &cb2};
	struct io_event ev[4];
	struct iovec iov = {buf, sizeof(buf)};

	io_prep_pread(&cb, fd, buf, sizeof(buf), 0);
	CHECK_EQ(io_submit(ctx, -1, list), -EINVAL);
	CHECK_EQ(io_submit(ctx, 0, list), 0);
	CHECK_EQ(io_submit(BAD_CTX, 1, list), -EINVAL);
	CHECK_EQ(io_submit(0, 1, list), -EINVAL);
	CHECK_EQ(io_submit(ctx, 1, NULL), -EFAULT);
	struct iocb *bad[1] = {(struct iocb *)8};
	CHECK_EQ(io_submit(ctx, 1, bad), -EFAULT);

	io_prep_pread(&cb, 999, buf, sizeof(buf), 0);
	CHECK_EQ(io_submit(ctx, 1, list), -EBADF);
	io_prep_pwrite(&cb, ro, buf, sizeof(buf), 0);
	CHECK_EQ(io_submit(ctx, 1, list), -EBADF); /* wrong access mode */
	io_prep_pread(&cb, fd, buf, sizeof(buf), 0);
	cb.aio_lio_opcode = 9;
	CHECK_EQ(io_submit(ctx, 1, list), -EINVAL);
	cb.aio_lio_opcode = IO_CMD_NOOP;
	CHECK_EQ(io_submit(ctx, 1, list), -EINVAL);
	cb.aio_lio_opcode = 4; /* the old PREADX */
	CHECK_EQ(io_submit(ctx, 1, list), -EINVAL);
	io_prep_pread(&cb, fd, buf, sizeof(buf), 0);
	cb.u.c.__pad3 = 1; /* aio_reserved2 */
	CHECK_EQ(io_submit(ctx, 1, list), -EINVAL);
	io_prep_pread(&cb, fd, buf, sizeof(buf), -1);
	CHECK_EQ(io_submit(ctx, 1, list), -EINVAL);
	io_prep_fsync(&cb, fd);
	cb.u.c.buf = buf;
	CHECK_EQ(io_submit(ctx, 1, list), -EINVAL);
	io_prep_fdsync(&cb, fd);
	cb.u.c.nbytes = 1;
	CHECK_EQ(io_submit(ctx, 1, list), -EINVAL);
	io_prep_poll(&cb, fd, POLLIN);
	cb.u.c.offset = 8;
	CHECK_EQ(io_submit(ctx, 1, list), -EINVAL);
	io_prep_preadv2(&cb, fd, &iov, 1, 0, 0x40000000); /* an RWF bit nobody has */
	CHECK_EQ(io_submit(ctx, 1, list), -EOPNOTSUPP);

	/* Partial submission: the first is accepted, the second's error is dropped. */
	io_prep_pread(&cb, fd, buf, sizeof(buf), 0);
	io_prep_pread(&cb2, 999, buf, sizeof(buf), 0);
	CHECK_EQ(io_submit(ctx, 2, list), 1);
	CHECK_EQ(io_getevents(ctx, 1, 4, ev, NULL), 1);
	CHECK(ev[0].obj == &cb && (long)ev[0].res == 512);

	/* No free slot: EAGAIN. Polls on an empty pipe never complete on their own. */
	io_context_t small = setup(1);
	int p[2];
	CHECK(pipe(p) == 0);
	static struct iocb polls[4096];
	int n = 0, r;
	for (;;) {
		CHECK(n < 4096);
		struct iocb *one = &polls[n];
		io_prep_poll(one, p[0], POLLIN);
		r = io_submit(small, 1, &one);
		if (r != 1)
			break;
		n++;
	}
	CHECK_EQ(r, -EAGAIN);
	CHECK(n >= 1);
	for (int i = 0; i < n; i++)
		CHECK_EQ(io_cancel(small, &polls[i], ev), -EINPROGRESS);
	int got = 0;
	while (got < n) {
		r = io_getevents(small, 1, 4, ev, NULL);
		CHECK(r > 0);
		for (int i = 0; i < r; i++)
			CHECK_EQ(ev[i].res, 0);
		got += r;
	}
	CHECK_EQ(io_destroy(small), 0);
	close(p[0]);
	close(p[1]);
	close(ro);
	close(fd);
	CHECK_EQ(io_destroy(ctx), 0);
	printf("EAGAIN after %d polls in flight on a context set up for 1\n", n);
}

static void test_cancel(void)
{
	io_context_t ctx = setup(8);
	int fd = pattern_file();
	int p[2];
	CHECK(pipe(p) == 0);
	char buf[64];
	struct iocb cb, poll1, poll2, *list[1];
	struct io_event ev[2];

	io_prep_pread(&cb, fd, buf, sizeof(buf), 0);
	list[0] = &cb;
	CHECK_EQ(io_submit(ctx, 1, list), 1);
	CHECK_EQ(io_getevents(ctx, 1, 1, ev, NULL), 1);
	CHECK_EQ(io_cancel(ctx, &cb, ev), -EINVAL); /* finished, and file I/O anyway */

	io_prep_poll(&poll1, p[0], POLLIN);
	list[0] = &poll1;
	CHECK_EQ(io_submit(ctx, 1, list), 1);
	CHECK_EQ(io_cancel(BAD_CTX, &poll1, ev), -EINVAL);
	CHECK_EQ(io_cancel(ctx, (struct iocb *)8, ev), -EFAULT);
	CHECK_EQ(io_cancel(ctx, &poll1, ev), -EINPROGRESS);
	CHECK_EQ(io_getevents(ctx, 1, 2, ev, NULL), 1);
	CHECK(ev[0].obj == &poll1);
	CHECK_EQ(ev[0].res, 0);

	/* The LIBAIO_0.1 io_cancel(ctx, iocb). */
	io_prep_poll(&poll2, p[0], POLLIN);
	list[0] = &poll2;
	CHECK_EQ(io_submit(ctx, 1, list), 1);
	CHECK_EQ(io_cancel_0_1(ctx, &poll2), -EINPROGRESS);
	CHECK_EQ(io_cancel_0_1(ctx, &poll2), -EINVAL);
	CHECK_EQ(io_getevents(ctx, 1, 2, ev, NULL), 1);
	CHECK(ev[0].obj == &poll2);
	close(p[0]);
	close(p[1]);
	close(fd);
	CHECK_EQ(io_destroy(ctx), 0);
}

static volatile sig_atomic_t signals;
static void on_signal(int sig)
{
	(void)sig;
	signals++;
}

static void test_getevents(void)
{
	io_context_t ctx = setup(8);
	int fd = pattern_file();
	int efd = eventfd(0, 0);
	CHECK(efd >= 0);
	char buf[3][100];
	struct iocb cb[3], *list[3] = {&cb[0], &cb[1], &cb[2]};
	struct io_event ev[8];
	struct timespec zero = {0, 0}, t20 = ms(20);

	CHECK_EQ(io_getevents(ctx, 0, 4, ev, &zero), 0);
	CHECK_EQ(io_getevents(ctx, 1, 4, ev, &zero), 0);
	CHECK_EQ(io_getevents(ctx, 0, 4, ev, NULL), 0); /* min_nr 0 never waits */
	double t0 = now();
	CHECK_EQ(io_getevents(ctx, 1, 4, ev, &t20), 0);
	CHECK(now() - t0 >= 0.015);
	CHECK_EQ(io_getevents(ctx, -1, 4, ev, &zero), -EINVAL);
	CHECK_EQ(io_getevents(ctx, 5, 4, ev, &zero), -EINVAL);
	CHECK_EQ(io_getevents(ctx, 0, -1, ev, &zero), -EINVAL);
	CHECK_EQ(io_getevents(BAD_CTX, 1, 4, ev, &zero), -EINVAL); /* libaio: SIGSEGV */
	CHECK_EQ(io_getevents(0, 1, 4, ev, &zero), -EINVAL);
	CHECK_EQ(io_getevents((io_context_t)-4096L, 0, 4, ev, NULL), -EINVAL);
	CHECK_EQ(io_getevents(ctx, 0, 0, NULL, NULL), 0);

	for (int i = 0; i < 3; i++) {
		io_prep_pread(&cb[i], fd, buf[i], 100, i * 1000);
		io_set_eventfd(&cb[i], efd);
		cb[i].data = (void *)(long)(i + 1);
	}
	CHECK_EQ(io_submit(ctx, 3, list), 3);
	wait_eventfd(efd, 3);
	/* All three ready: served from the ring, in order, up to nr. */
	CHECK_EQ(io_getevents(ctx, 2, 2, ev, NULL), 2);
	CHECK_EQ(io_getevents(ctx, 1, 8, ev + 2, NULL), 1);
	for (int i = 0; i < 3; i++) {
		CHECK(ev[i].obj == &cb[i]);
		CHECK_EQ((long)ev[i].data, i + 1);
		CHECK_EQ((long)ev[i].res, 100);
		CHECK_EQ((long)ev[i].res2, 0);
		CHECK_EQ(buf[i][5], (char)((i * 1000 + 5) * 7 + 3));
	}
	CHECK_EQ(io_getevents(ctx, 0, 8, ev, &zero), 0);

	/* A ready event and a null array: the kernel's EFAULT, and the event stays. */
	CHECK_EQ(io_submit(ctx, 1, list), 1);
	wait_eventfd(efd, 1);
	CHECK_EQ(io_getevents(ctx, 1, 1, NULL, NULL), -EFAULT);
	CHECK_EQ(io_getevents(ctx, 1, 1, ev, NULL), 1);
	CHECK(ev[0].obj == &cb[0]);

	/* The LIBAIO_0.1 io_getevents(ctx, nr, events, timeout) waits for one. */
	CHECK_EQ(io_submit(ctx, 2, list), 2);
	wait_eventfd(efd, 2);
	CHECK_EQ(io_getevents_0_1(ctx, 8, ev, NULL), 2);
	CHECK_EQ(io_getevents_0_1(ctx, 8, ev, &t20), 0);
	CHECK_EQ(io_getevents_0_1(BAD_CTX, 8, ev, &t20), -EINVAL);

	/* EINTR: a signal while waiting with nothing reaped. */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART */
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	struct itimerval it = {{0, 0}, {0, 30000}};
	CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
	CHECK_EQ(io_getevents(ctx, 1, 1, ev, NULL), -EINTR);
	CHECK(signals == 1);

	/* io_queue_wait is io_getevents(ctx, 0, 0, NULL, timeout), in both versions. */
	CHECK_EQ(io_queue_wait(ctx, NULL), 0);
	CHECK_EQ(io_queue_wait(ctx, &t20), 0);
	CHECK_EQ(io_queue_wait(BAD_CTX, NULL), -EINVAL);
	CHECK_EQ(io_queue_wait_0_1(ctx, NULL), 0);
	CHECK_EQ(io_queue_wait_0_1(BAD_CTX, NULL), -EINVAL);
	close(efd);
	close(fd);
	CHECK_EQ(io_destroy(ctx), 0);
	CHECK_EQ(io_getevents(ctx, 0, 1, ev, &zero), -EINVAL); /* destroyed */
}

static void test_pgetevents(void)
{
	io_context_t ctx = setup(8);
	int fd = pattern_file();
	int efd = eventfd(0, 0);
	char buf[2][10];
	struct iocb cb[2], *list[2] = {&cb[0], &cb[1]};
	struct io_event ev[4];
	struct timespec zero = {0, 0}, t20 = ms(20);
	sigset_t usr1, none, old;

	int r = io_pgetevents(ctx, 0, 4, ev, &zero, NULL);
	if (r == -ENOSYS) {
		printf("skip io_pgetevents: the kernel lacks it\n");
		return;
	}
	CHECK_EQ(r, 0);
	CHECK_EQ(io_pgetevents(ctx, 1, 4, ev, &t20, NULL), 0);
	CHECK_EQ(io_pgetevents(ctx, 3, 2, ev, &zero, NULL), -EINVAL);
	CHECK_EQ(io_pgetevents(BAD_CTX, 1, 4, ev, &zero, NULL), -EINVAL);
	for (int i = 0; i < 2; i++) {
		io_prep_pread(&cb[i], fd, buf[i], 10, 0);
		io_set_eventfd(&cb[i], efd);
	}
	CHECK_EQ(io_submit(ctx, 2, list), 2);
	wait_eventfd(efd, 2);
	CHECK_EQ(io_pgetevents(ctx, 2, 4, ev, NULL, NULL), 2);
	CHECK(ev[0].obj == &cb[0] && ev[1].obj == &cb[1]);

	/* The mask applies while waiting: SIGUSR1, blocked and pending, is let in. */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigemptyset(&none);
	CHECK(pthread_sigmask(SIG_BLOCK, &usr1, &old) == 0);
	CHECK(raise(SIGUSR1) == 0);
	int before = signals;
	CHECK_EQ(io_pgetevents(ctx, 1, 4, ev, &t20, NULL), 0); /* still blocked */
	CHECK_EQ(signals, before);
	CHECK_EQ(io_pgetevents(ctx, 1, 4, ev, &t20, &usr1), 0); /* blocked by the mask too */
	CHECK_EQ(signals, before);
	CHECK_EQ(io_pgetevents(ctx, 1, 4, ev, &t20, &none), -EINTR);
	CHECK_EQ(signals, before + 1);
	CHECK(pthread_sigmask(SIG_SETMASK, &old, NULL) == 0);
	close(efd);
	close(fd);
	CHECK_EQ(io_destroy(ctx), 0);
}

/* Callbacks record what they were called with. */
static struct {
	io_context_t ctx;
	struct iocb *iocb;
	long res, res2;
} calls[16];
static int ncalls;

static void record(io_context_t ctx, struct iocb *iocb, long res, long res2)
{
	CHECK(ncalls < 16);
	calls[ncalls].ctx = ctx;
	calls[ncalls].iocb = iocb;
	calls[ncalls].res = res;
	calls[ncalls].res2 = res2;
	ncalls++;
}

static void test_helpers_and_queue_run(void)
{
	io_context_t ctx = 0;
	CHECK_EQ(io_queue_init(16, &ctx), 0);
	int fd = temp_file();
	int efd = eventfd(0, 0);
	int p[2];
	CHECK(pipe(p) == 0);
	char out[4][256], in[4][256];
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 256; j++)
			out[i][j] = (char)(i * 31 + j);
	struct iovec wv[2] = {{out[0], 256}, {out[1], 256}};
	struct iovec rv[2] = {{in[0], 256}, {in[1], 256}};
	struct iocb cb[8], *list[8];
	for (int i = 0; i < 8; i++)
		list[i] = &cb[i];

	/* Writes: pwrite, pwritev, pwritev2 (RWF_DSYNC), each with a callback. */
	io_prep_pwrite(&cb[0], fd, out[2], 256, 512);
	io_prep_pwritev(&cb[1], fd, wv, 2, 0);
	io_prep_pwritev2(&cb[2], fd, &wv[0], 1, 768, RWF_DSYNC);
	CHECK_EQ(cb[2].aio_rw_flags, RWF_DSYNC);
	for (int i = 0; i < 3; i++) {
		io_set_callback(&cb[i], record);
		io_set_eventfd(&cb[i], efd);
		CHECK_EQ(cb[i].u.c.flags, 1);
		CHECK_EQ(cb[i].u.c.resfd, efd);
	}
	CHECK_EQ(io_submit(ctx, 3, list), 3);
	wait_eventfd(efd, 3);
	ncalls = 0;
	CHECK_EQ(io_queue_run(ctx), 0);
	CHECK_EQ(ncalls, 3);
	long want[3] = {256, 512, 256};
	for (int i = 0; i < 3; i++) {
		CHECK(calls[i].ctx == ctx);
		CHECK(calls[i].iocb == &cb[i]);
		CHECK_EQ(calls[i].res, want[i]);
		CHECK_EQ(calls[i].res2, 0);
	}

	/* fsync and fdsync through their one-call helpers. */
	ncalls = 0;
	CHECK_EQ(io_fsync(ctx, &cb[3], record, fd), 1);
	CHECK_EQ(io_fdsync(ctx, &cb[4], record, fd), 1);
	CHECK_EQ(cb[3].aio_lio_opcode, IO_CMD_FSYNC);
	CHECK_EQ(cb[4].aio_lio_opcode, IO_CMD_FDSYNC);
	struct io_event ev[8];
	struct timespec t5 = ms(5000);
	/* Wait without reaping, then let io_queue_run dispatch. */
	while (ncalls < 2) {
		CHECK_EQ(io_queue_run(ctx), 0);
		if (ncalls < 2)
			usleep(1000);
	}
	CHECK(calls[0].iocb == &cb[3] || calls[0].iocb == &cb[4]);
	CHECK_EQ(calls[0].res, 0);
	CHECK_EQ(calls[1].res, 0);

	/* Reads: pread, preadv, preadv2. */
	io_prep_pread(&cb[5], fd, in[2], 256, 512);
	io_prep_preadv(&cb[6], fd, rv, 2, 0);
	io_prep_preadv2(&cb[7], fd, &rv[0], 1, 768, 0);
	CHECK_EQ(cb[7].aio_lio_opcode, IO_CMD_PREADV);
	CHECK_EQ(io_submit(ctx, 2, &list[5]), 2);
	CHECK_EQ(io_getevents(ctx, 2, 2, ev, &t5), 2);
	CHECK_EQ((long)ev[0].res + (long)ev[1].res, 256 + 512);
	CHECK(memcmp(in[2], out[2], 256) == 0);
	CHECK(memcmp(in[0], out[0], 256) == 0);
	CHECK(memcmp(in[1], out[1], 256) == 0);
	memset(in[0], 0, 256);
	CHECK_EQ(io_submit(ctx, 1, &list[7]), 1);
	CHECK_EQ(io_getevents(ctx, 1, 1, ev, &t5), 1);
	CHECK_EQ((long)ev[0].res, 256);
	CHECK(memcmp(in[0], out[0], 256) == 0);

	/* io_poll: the event carries the ready mask; the callback gets it. */
	ncalls = 0;
	CHECK_EQ(io_poll(ctx, &cb[0], record, p[0], POLLIN), 1);
	CHECK_EQ(cb[0].u.poll.events, POLLIN);
	CHECK_EQ(io_queue_run(ctx), 0);
	CHECK_EQ(ncalls, 0);
	CHECK_EQ(write(p[1], "x", 1), 1);
	while (ncalls == 0) {
		CHECK_EQ(io_queue_run(ctx), 0);
		usleep(1000);
	}
	CHECK(calls[0].iocb == &cb[0]);
	CHECK(calls[0].res & POLLIN);

	/* A null callback is skipped (libaio would call it). */
	io_prep_pread(&cb[1], fd, in[3], 16, 0);
	io_set_eventfd(&cb[1], efd);
	CHECK(cb[1].data == NULL);
	CHECK_EQ(io_submit(ctx, 1, &list[1]), 1);
	wait_eventfd(efd, 1);
	ncalls = 0;
	CHECK_EQ(io_queue_run(ctx), 0);
	CHECK_EQ(ncalls, 0);
	CHECK_EQ(io_getevents(ctx, 0, 8, ev, NULL), 0);

	CHECK_EQ(io_queue_run(BAD_CTX), -EINVAL);
	close(p[0]);
	close(p[1]);
	close(efd);
	close(fd);
	CHECK_EQ(io_queue_release(ctx), 0);
	CHECK_EQ(io_queue_run(ctx), -EINVAL);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	test_setup_destroy();
	test_submit_errors();
	test_cancel();
	test_getevents();
	test_pgetevents();
	test_helpers_and_queue_run();
	printf("PASS api\n");
	return 0;
}
