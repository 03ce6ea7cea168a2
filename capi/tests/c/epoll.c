/* epoll.c: an event loop as libaio programs write it: requests carry a callback
 * (io_set_callback) and signal an eventfd (io_set_eventfd); epoll waits on the eventfd,
 * and io_queue_run dispatches the callbacks, which submit the next request. */
#include "check.h"

#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#define BLOCKS 64
#define BLOCK 4096
#define DEPTH 8

static int fd, efd;
static io_context_t ctx;
static struct iocb cbs[DEPTH];
static char bufs[DEPTH][BLOCK];
static int next_block, done, seen[BLOCKS];

static void on_read(io_context_t c, struct iocb *iocb, long res, long res2);

static void submit_next(struct iocb *iocb)
{
	if (next_block == BLOCKS)
		return;
	int slot = (int)(iocb - cbs);
	io_prep_pread(iocb, fd, bufs[slot], BLOCK, (long long)next_block * BLOCK);
	io_set_callback(iocb, on_read);
	io_set_eventfd(iocb, efd);
	next_block++;
	CHECK_EQ(io_submit(ctx, 1, &iocb), 1);
}

static void on_read(io_context_t c, struct iocb *iocb, long res, long res2)
{
	CHECK(c == ctx);
	CHECK_EQ(res, BLOCK);
	CHECK_EQ(res2, 0);
	int slot = (int)(iocb - cbs);
	CHECK(slot >= 0 && slot < DEPTH);
	long long offset = iocb->u.c.offset;
	int block = (int)(offset / BLOCK);
	uint32_t *words = (uint32_t *)bufs[slot];
	for (int i = 0; i < BLOCK / 4; i++)
		CHECK_EQ(words[i], (uint32_t)(block * 1000003u + i));
	seen[block]++;
	done++;
	submit_next(iocb);
}

int main(void)
{
	fd = temp_file();
	static uint32_t data[BLOCKS][BLOCK / 4];
	for (int b = 0; b < BLOCKS; b++)
		for (int i = 0; i < BLOCK / 4; i++)
			data[b][i] = (uint32_t)(b * 1000003u + i);
	CHECK_EQ(write(fd, data, sizeof(data)), sizeof(data));

	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	CHECK(efd >= 0);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK(ep >= 0);
	struct epoll_event want = {.events = EPOLLIN, .data.fd = efd};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &want) == 0);
	CHECK_EQ(io_queue_init(DEPTH, &ctx), 0);

	for (int i = 0; i < DEPTH; i++)
		submit_next(&cbs[i]);
	int wakeups = 0;
	unsigned long long signalled = 0;
	while (done < BLOCKS) {
		struct epoll_event got;
		int n = epoll_wait(ep, &got, 1, 5000);
		CHECK_EQ(n, 1);
		CHECK(got.data.fd == efd);
		uint64_t count;
		CHECK_EQ(read(efd, &count, sizeof(count)), 8);
		CHECK(count >= 1);
		signalled += count;
		wakeups++;
		CHECK_EQ(io_queue_run(ctx), 0);
	}
	/* Every block read once; every completion signalled the eventfd once. */
	for (int b = 0; b < BLOCKS; b++)
		CHECK_EQ(seen[b], 1);
	uint64_t rest = 0;
	if (read(efd, &rest, sizeof(rest)) == 8)
		signalled += rest;
	CHECK_EQ(signalled, BLOCKS);
	CHECK_EQ(io_queue_release(ctx), 0);
	printf("PASS epoll (%d blocks, %d wakeups)\n", BLOCKS, wakeups);
	return 0;
}
