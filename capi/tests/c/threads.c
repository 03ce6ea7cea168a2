/* threads.c: several threads submit to and reap from one context at once, with every
 * way of reaping mixed (io_getevents waiting and polling, io_pgetevents, io_queue_run),
 * so that user-space reaping and system-call reaping race all the time. Every request
 * must be delivered exactly once, with its own result. */
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define THREADS 4
#define PER_THREAD 20000
#define TOTAL (THREADS * PER_THREAD)
#define BATCH 8
#define CAP 96 /* requests in flight at most, below the ring's size */

static io_context_t ctx;
static int fd;
static atomic_int seen[TOTAL];
static atomic_long reaped, in_flight, by_callback;
static struct iocb cbs[TOTAL];
static char bufs[THREADS][BATCH][8];

static void check_event(struct iocb *obj, long res)
{
	long id = obj - cbs;
	CHECK(id >= 0 && id < TOTAL);
	CHECK_EQ(res, 1 + id % 7);
	CHECK_EQ(atomic_fetch_add(&seen[id], 1), 0);
	atomic_fetch_add(&reaped, 1);
	atomic_fetch_sub(&in_flight, 1);
}

static void on_done(io_context_t c, struct iocb *iocb, long res, long res2)
{
	CHECK(c == ctx);
	CHECK_EQ(res2, 0);
	check_event(iocb, res);
	atomic_fetch_add(&by_callback, 1);
}

static void reap_some(int how)
{
	struct io_event ev[16];
	struct timespec zero = {0, 0}, t1 = ms(1);
	int n;
	switch (how % 4) {
	case 0: n = io_getevents(ctx, 1, 16, ev, &t1); break;
	case 1: n = io_getevents(ctx, 0, 16, ev, &zero); break;
	case 2: n = io_pgetevents(ctx, 1, 16, ev, &t1, NULL); break;
	default:
		CHECK_EQ(io_queue_run(ctx), 0);
		return;
	}
	CHECK(n >= 0);
	for (int i = 0; i < n; i++) {
		CHECK_EQ((long)ev[i].res2, 0);
		check_event(ev[i].obj, (long)ev[i].res);
	}
}

static void *worker(void *arg)
{
	int t = (int)(intptr_t)arg;
	int next = 0, round = 0;
	while (next < PER_THREAD) {
		if (atomic_load(&in_flight) + BATCH > CAP) {
			reap_some(round++ + t);
			continue;
		}
		struct iocb *list[BATCH];
		int n = 0;
		for (; n < BATCH && next < PER_THREAD; n++, next++) {
			long id = (long)t * PER_THREAD + next;
			/* Request id reads 1 + id % 7 bytes: its result identifies it. */
			io_prep_pread(&cbs[id], fd, bufs[t][n], 1 + id % 7, id % 100);
			io_set_callback(&cbs[id], on_done);
			list[n] = &cbs[id];
		}
		atomic_fetch_add(&in_flight, n);
		int sent = 0;
		while (sent < n) {
			int r = io_submit(ctx, n - sent, list + sent);
			if (r == -EAGAIN) {
				reap_some(round++ + t);
				continue;
			}
			CHECK(r > 0);
			sent += r;
		}
		reap_some(round++ + t);
	}
	while (atomic_load(&reaped) < TOTAL)
		reap_some(round++ + t);
	return NULL;
}

int main(void)
{
	fd = temp_file();
	char data[128] = {0};
	CHECK_EQ(write(fd, data, sizeof(data)), sizeof(data));
	CHECK_EQ(io_setup(CAP, &ctx), 0);
	pthread_t threads[THREADS];
	for (int t = 0; t < THREADS; t++)
		CHECK(pthread_create(&threads[t], NULL, worker, (void *)(intptr_t)t) == 0);
	for (int t = 0; t < THREADS; t++)
		CHECK(pthread_join(threads[t], NULL) == 0);
	CHECK_EQ(atomic_load(&reaped), TOTAL);
	for (int i = 0; i < TOTAL; i++)
		CHECK_EQ(atomic_load(&seen[i]), 1);
	CHECK(atomic_load(&by_callback) > 0);
	struct io_event ev[4];
	struct timespec zero = {0, 0};
	CHECK_EQ(io_getevents(ctx, 0, 4, ev, &zero), 0);
	CHECK_EQ(io_destroy(ctx), 0);
	printf("PASS threads (%d requests by %d threads, each delivered once; %ld by callback)\n",
	       TOTAL, THREADS, (long)atomic_load(&by_callback));
	return 0;
}
