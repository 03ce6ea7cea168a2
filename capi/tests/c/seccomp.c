/* seccomp.c: run under a seccomp filter that answers io_pgetevents (and
 * io_pgetevents_time64) with the errno in RAWAIO_EXPECT_ERRNO (capi/tests/c_api.rs).
 * Every wait through io_getevents, io_queue_run and io_queue_wait must work as ever: the
 * library never turns io_getevents into io_pgetevents (Ubuntu's libaio did, falling back
 * only on ENOSYS, so under an EPERM filter every wait failed). io_pgetevents itself,
 * when it has to enter the kernel, fails with exactly that errno. */
#include "check.h"

#include <signal.h>

static int called;

static void on_done(io_context_t ctx, struct iocb *iocb, long res, long res2)
{
	(void)ctx;
	(void)iocb;
	(void)res2;
	CHECK_EQ(res, 4096);
	called++;
}

int main(void)
{
	const char *expect_s = getenv("RAWAIO_EXPECT_ERRNO");
	CHECK(expect_s != NULL);
	int expect = atoi(expect_s);
	CHECK(expect > 0);
	int fd = temp_file();
	static char buf[4096], back[4096];
	memset(buf, 'r', sizeof(buf));
	io_context_t ctx = 0;
	CHECK_EQ(io_queue_init(8, &ctx), 0);
	struct iocb cb, *list[1] = {&cb};
	struct io_event ev[4];
	struct timespec five = ms(5000), short_wait = ms(20), zero = ms(0);

	/* A write reaped with a timeout, a read reaped without one. */
	io_prep_pwrite(&cb, fd, buf, sizeof(buf), 0);
	CHECK_EQ(io_submit(ctx, 1, list), 1);
	CHECK_EQ(io_getevents(ctx, 1, 4, ev, &five), 1);
	CHECK_EQ((long)ev[0].res, 4096);
	io_prep_pread(&cb, fd, back, sizeof(back), 0);
	CHECK_EQ(io_submit(ctx, 1, list), 1);
	CHECK_EQ(io_getevents(ctx, 1, 4, ev, NULL), 1);
	CHECK(memcmp(buf, back, sizeof(buf)) == 0);
	/* Nothing ready: a zero timeout, and a short one that the kernel waits out. */
	CHECK_EQ(io_getevents(ctx, 0, 4, ev, &zero), 0);
	CHECK_EQ(io_getevents(ctx, 1, 1, ev, &short_wait), 0);
	CHECK_EQ(io_queue_wait(ctx, &short_wait), 0);
	/* A completion delivered by io_queue_run. */
	io_prep_pread(&cb, fd, back, sizeof(back), 0);
	io_set_callback(&cb, on_done);
	CHECK_EQ(io_submit(ctx, 1, list), 1);
	for (int i = 0; i < 500 && called == 0; i++) {
		CHECK(io_queue_run(ctx) >= 0);
		if (called == 0)
			usleep(1000);
	}
	CHECK_EQ(called, 1);
	/* io_pgetevents has to wait, so it enters the kernel: the filter's errno. */
	sigset_t mask;
	sigemptyset(&mask);
	CHECK_EQ(io_pgetevents(ctx, 1, 1, ev, &short_wait, &mask), -expect);
	CHECK_EQ(io_pgetevents(ctx, 1, 1, ev, &short_wait, NULL), -expect);
	CHECK_EQ(io_queue_release(ctx), 0);
	printf("PASS seccomp (io_pgetevents answered %d)\n", expect);
	return 0;
}
