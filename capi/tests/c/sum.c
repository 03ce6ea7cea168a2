/* sum.c: writes the integers 0..N-1 to a file with asynchronous writes (io_prep_pwrite
 * and io_prep_pwritev), flushes it (io_prep_fdsync), reads it back in blocks with
 * io_prep_pread and io_prep_preadv, and checks the sum. */
#include "check.h"

#include <stdint.h>
#include <sys/uio.h>

#define N (1 << 18)
#define CHUNK 8192 /* integers per request */
#define REQS (N / CHUNK)

static int64_t values[N], back[N];

/* Submits `n` requests and reaps them all, checking each moved `bytes`. */
static void run(io_context_t ctx, struct iocb **list, int n, long bytes)
{
	int sent = 0, reaped = 0;
	while (sent < n) {
		int r = io_submit(ctx, n - sent, list + sent);
		CHECK(r > 0);
		sent += r;
	}
	struct io_event ev[REQS];
	while (reaped < n) {
		int r = io_getevents(ctx, 1, REQS, ev, NULL);
		CHECK(r > 0);
		for (int i = 0; i < r; i++)
			CHECK_EQ((long)ev[i].res, bytes);
		reaped += r;
	}
}

int main(void)
{
	int fd = temp_file();
	io_context_t ctx = 0;
	CHECK_EQ(io_setup(REQS, &ctx), 0);
	for (int i = 0; i < N; i++)
		values[i] = i;

	static struct iocb cbs[REQS];
	static struct iovec iov[REQS][2];
	struct iocb *list[REQS];
	const long bytes = CHUNK * (long)sizeof(int64_t);
	for (int r = 0; r < REQS; r++) {
		int64_t *at = values + (long)r * CHUNK;
		long long offset = (long long)r * bytes;
		if (r % 2 == 0) {
			io_prep_pwrite(&cbs[r], fd, at, bytes, offset);
		} else {
			iov[r][0].iov_base = at;
			iov[r][0].iov_len = bytes / 2;
			iov[r][1].iov_base = at + CHUNK / 2;
			iov[r][1].iov_len = bytes / 2;
			io_prep_pwritev(&cbs[r], fd, iov[r], 2, offset);
		}
		list[r] = &cbs[r];
	}
	run(ctx, list, REQS, bytes);
	io_prep_fdsync(&cbs[0], fd);
	run(ctx, list, 1, 0);

	for (int r = 0; r < REQS; r++) {
		int64_t *at = back + (long)r * CHUNK;
		long long offset = (long long)r * bytes;
		if (r % 2 == 0) {
			io_prep_pread(&cbs[r], fd, at, bytes, offset);
		} else {
			iov[r][0].iov_base = at;
			iov[r][0].iov_len = bytes / 2;
			iov[r][1].iov_base = at + CHUNK / 2;
			iov[r][1].iov_len = bytes / 2;
			io_prep_preadv(&cbs[r], fd, iov[r], 2, offset);
		}
	}
	run(ctx, list, REQS, bytes);

	int64_t sum = 0;
	for (int i = 0; i < N; i++)
		sum += back[i];
	CHECK_EQ(sum, (int64_t)N * (N - 1) / 2);
	CHECK(memcmp(values, back, sizeof(values)) == 0);
	CHECK_EQ(io_destroy(ctx), 0);
	printf("PASS sum (%d integers, sum %lld)\n", N, (long long)sum);
	return 0;
}
