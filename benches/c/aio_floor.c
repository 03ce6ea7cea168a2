/*
 * The floor rawaio is measured against: the least a program can do to keep `qd` random
 * O_DIRECT reads in flight with Linux native AIO. Raw system calls (no libaio), `batch`
 * iocbs per io_submit, completions taken from the ring in user space, io_getevents only
 * to block when the ring is empty. No latency bookkeeping, no verification.
 *
 *   aio_floor PATH [qd=128] [batch=32] [bs=4096] [seconds=5] [reap=ring] [ios=0]
 *
 * reap: how completions are taken.
 *   ring       from the ring; io_getevents(1, qd) only when it is empty (the default);
 *   spin       from the ring only, spinning while it is empty (never a system call);
 *   getevents  every reap an io_getevents(1, qd) call (what libaio does);
 *   eventfd    as ring, but every iocb signals an eventfd (IOCB_FLAG_RESFD), which the loop
 *              reads, and polls when the ring is empty: the floor of any design that learns
 *              of completions through an eventfd, as rawaio's async path does;
 *   epoll      as eventfd, with the eventfd registered in an epoll instance (EPOLLIN |
 *              EPOLLET, as tokio and mio register it), waited on with epoll_wait: the
 *              floor of an async runtime whose reactor is epoll;
 *   relay      as epoll, but the iocbs signal an eventfd that is in no epoll instance; only
 *              when the ring is empty does the loop arm an IOCB_CMD_POLL of that eventfd
 *              whose own completion signals a second eventfd, the one in epoll: an epoll
 *              reactor told of completions once per wait instead of once per completion
 *              (two more system calls per wait).
 * With qd = batch = 1, "spin" and "getevents" are the submit(1) + ring-spin and
 * submit(1) + io_getevents loops. ios > 0 stops after that many I/Os (for instruction
 * counts under callgrind, which must not depend on time).
 *
 * Prints one line: "ios=N seconds=S iops=I usr_us_per_io=U sys_us_per_io=Y" (CPU time from
 * getrusage over the whole process).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef BLKGETSIZE64
#include <linux/fs.h>
#endif
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>

struct ring {
	unsigned id, nr, head, tail, magic, compat, incompat, header_length;
	struct io_event events[];
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH [qd] [batch] [bs] [seconds] [ring|spin|getevents] [ios]\n",
			argv[0]);
		return 2;
	}
	int qd = argc > 2 ? atoi(argv[2]) : 128;
	int batch = argc > 3 ? atoi(argv[3]) : 32;
	long bs = argc > 4 ? atol(argv[4]) : 4096;
	double seconds = argc > 5 ? atof(argv[5]) : 5;
	const char *reap = argc > 6 ? argv[6] : "ring";
	uint64_t max_ios = argc > 7 ? strtoull(argv[7], NULL, 10) : 0;
	int spin = !strcmp(reap, "spin"), getevents = !strcmp(reap, "getevents");
	int efd = -1, epfd = -1, wfd = -1;
	int relay = !strcmp(reap, "relay"), use_epoll = relay || !strcmp(reap, "epoll");
	if (use_epoll || !strcmp(reap, "eventfd")) {
		efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (efd < 0) {
			perror("eventfd");
			return 1;
		}
	} else if (!spin && !getevents && strcmp(reap, "ring")) {
		fprintf(stderr, "reap: ring, spin, getevents, eventfd, epoll or relay\n");
		return 2;
	}
	if (use_epoll) {
		/* The descriptor epoll watches: the iocbs' eventfd, or (relay) a second one. */
		wfd = relay ? eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) : efd;
		struct epoll_event e = { .events = EPOLLIN | EPOLLET, .data.fd = wfd };
		epfd = epoll_create1(EPOLL_CLOEXEC);
		if (wfd < 0 || epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, wfd, &e) < 0) {
			perror("epoll");
			return 1;
		}
	}
	if (max_ios == 0)
		max_ios = UINT64_MAX;
	if (qd < 1 || batch < 1 || batch > qd || bs < 512) {
		fprintf(stderr, "bad arguments\n");
		return 2;
	}
	int fd = open(argv[1], O_RDONLY | O_DIRECT);
	if (fd < 0) {
		perror("open");
		return 1;
	}
	struct stat st;
	fstat(fd, &st);
	uint64_t size = st.st_size;
	if (S_ISBLK(st.st_mode))
		ioctl(fd, BLKGETSIZE64, &size);
	uint64_t blocks = size / bs;
	if (blocks == 0) {
		fprintf(stderr, "target too small\n");
		return 1;
	}

	aio_context_t ctx = 0;
	/* relay: room for the poll request too. */
	if (syscall(SYS_io_setup, qd + relay, &ctx) < 0) {
		perror("io_setup");
		return 1;
	}
	struct ring *ring = (struct ring *)ctx;
	if (ring->magic != 0xa10a10a1 || ring->incompat != 0) {
		fprintf(stderr, "ring not readable in user space\n");
		return 1;
	}
	struct io_event *ev = (struct io_event *)((char *)ring + ring->header_length);
	unsigned nr = ring->nr;

	char *mem;
	if (posix_memalign((void **)&mem, 4096, (size_t)qd * bs))
		return 1;
	memset(mem, 0, (size_t)qd * bs);
	struct iocb *cbs = calloc(qd, sizeof *cbs);
	struct iocb **free_cbs = calloc(qd, sizeof *free_cbs);
	struct io_event *got = calloc(qd + 1, sizeof *got);
	/* relay: the poll of the iocbs' eventfd, its completion signalling wfd. */
	struct iocb pcb = { .aio_fildes = efd, .aio_lio_opcode = IOCB_CMD_POLL, .aio_buf = POLLIN,
			    .aio_data = UINT64_MAX, .aio_flags = IOCB_FLAG_RESFD, .aio_resfd = wfd };
	struct iocb *pcbs[1] = { &pcb };
	for (int i = 0; i < qd; i++) {
		cbs[i].aio_fildes = fd;
		cbs[i].aio_lio_opcode = IOCB_CMD_PREAD;
		cbs[i].aio_buf = (uint64_t)(uintptr_t)(mem + (size_t)i * bs);
		cbs[i].aio_nbytes = bs;
		cbs[i].aio_data = i;
		if (efd >= 0) {
			cbs[i].aio_flags = IOCB_FLAG_RESFD;
			cbs[i].aio_resfd = efd;
		}
		free_cbs[i] = &cbs[i];
	}
	int nfree = qd;
	uint64_t ios = 0;
	double start = now(), end = start + seconds, t = start;
	unsigned long loops = 0;
	while (t < end && ios < max_ios) {
		while (nfree >= batch) {
			struct iocb **b = free_cbs + nfree - batch;
			for (int i = 0; i < batch; i++)
				b[i]->aio_offset = (next() % blocks) * bs;
			long r = syscall(SYS_io_submit, ctx, batch, b);
			if (r <= 0) {
				perror("io_submit");
				return 1;
			}
			/* Accepted iocbs are the first r of the batch; keep the rest free. */
			memmove(b, b + r, (batch - r) * sizeof *b);
			nfree -= r;
		}
		int n = 0;
		while (!getevents) {
			unsigned head = ring->head;
			unsigned tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
			while (head != tail) {
				got[n++] = ev[head];
				if (++head == nr)
					head = 0;
			}
			if (n) {
				__atomic_store_n(&ring->head, head, __ATOMIC_RELEASE);
				break;
			}
			if (!spin)
				break;
		}
		if (n == 0 && efd >= 0) {
			/* Drain the counter, then wait for it if the ring is still empty. */
			uint64_t count;
			if (read(efd, &count, sizeof count) < 0) {
				if (relay && syscall(SYS_io_submit, ctx, 1, pcbs) != 1) {
					perror("io_submit (poll)");
					return 1;
				}
				if (epfd >= 0) {
					struct epoll_event e;
					epoll_wait(epfd, &e, 1, -1);
					if (relay && read(wfd, &count, sizeof count) < 0) {
						perror("read");
						return 1;
					}
				} else {
					struct pollfd p = { .fd = efd, .events = POLLIN };
					poll(&p, 1, -1);
				}
			}
			continue;
		}
		if (n == 0) {
			n = syscall(SYS_io_getevents, ctx, 1, qd, got, NULL);
			if (n < 0) {
				perror("io_getevents");
				return 1;
			}
		}
		for (int i = 0; i < n; i++) {
			if (got[i].data == UINT64_MAX) {
				/* relay: the poll's own completion. */
				ios--;
				continue;
			}
			if ((long)got[i].res != bs) {
				fprintf(stderr, "short read: %lld\n", (long long)got[i].res);
				return 1;
			}
			free_cbs[nfree++] = &cbs[got[i].data];
		}
		ios += n;
		if ((++loops & 63) == 0)
			t = now();
	}
	t = now();
	syscall(SYS_io_destroy, ctx);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double usr = ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec;
	double sys = ru.ru_stime.tv_sec * 1e6 + ru.ru_stime.tv_usec;
	printf("ios=%llu seconds=%.3f iops=%.0f usr_us_per_io=%.4f sys_us_per_io=%.4f\n",
	       (unsigned long long)ios, t - start, ios / (t - start), usr / ios, sys / ios);
	return 0;
}
