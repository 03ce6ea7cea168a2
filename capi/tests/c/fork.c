/* fork.c: a child never takes its parent's completions. Every call on an inherited
 * context fails with -EINVAL in the child, even with completions sitting in the ring
 * (which this library would otherwise reap in user space); the child's own contexts
 * work; and the parent still gets every completion. */
#include "check.h"

#include <sys/eventfd.h>
#include <sys/wait.h>

static void child(io_context_t inherited, int fd)
{
	struct io_event ev[4];
	struct timespec zero = {0, 0};
	char buf[16];
	struct iocb cb, *list[1] = {&cb};

	CHECK_EQ(io_getevents(inherited, 0, 4, ev, &zero), -EINVAL);
	CHECK_EQ(io_getevents(inherited, 1, 4, ev, NULL), -EINVAL);
	CHECK_EQ(io_pgetevents(inherited, 0, 4, ev, &zero, NULL), -EINVAL);
	CHECK_EQ(io_queue_run(inherited), -EINVAL);
	io_prep_pread(&cb, fd, buf, sizeof(buf), 0);
	CHECK_EQ(io_submit(inherited, 1, list), -EINVAL);
	CHECK_EQ(io_destroy(inherited), -EINVAL);

	/* A context of the child's own, reaped in user space. */
	for (int round = 0; round < 2; round++) {
		io_context_t mine = 0;
		CHECK_EQ(io_setup(4, &mine), 0);
		CHECK_EQ(io_submit(mine, 1, list), 1);
		CHECK_EQ(io_getevents(mine, 1, 4, ev, NULL), 1);
		CHECK((long)ev[0].res == 16 && ev[0].obj == &cb);
		CHECK_EQ(io_destroy(mine), 0);
	}
	exit(0);
}

int main(void)
{
	int fd = temp_file();
	CHECK_EQ(write(fd, "0123456789abcdefghij", 20), 20);
	int efd = eventfd(0, 0);
	io_context_t ctx = 0;
	CHECK_EQ(io_setup(8, &ctx), 0);

	char buf[3][16];
	struct iocb cb[3], *list[3] = {&cb[0], &cb[1], &cb[2]};
	for (int i = 0; i < 3; i++) {
		io_prep_pread(&cb[i], fd, buf[i], 16, i);
		io_set_eventfd(&cb[i], efd);
	}
	CHECK_EQ(io_submit(ctx, 3, list), 3);
	unsigned long long total = 0, v;
	while (total < 3) {
		CHECK_EQ(read(efd, &v, 8), 8);
		total += v;
	}
	/* Three completions wait in the ring while the child runs. */
	for (int round = 0; round < 2; round++) {
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0)
			child(ctx, fd);
		int status;
		CHECK_EQ(waitpid(pid, &status, 0), pid);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	struct io_event ev[4];
	CHECK_EQ(io_getevents(ctx, 3, 4, ev, NULL), 3);
	for (int i = 0; i < 3; i++) {
		CHECK(ev[i].obj == &cb[i]);
		CHECK_EQ((long)ev[i].res, 16);
		CHECK_EQ(buf[i][0], "0123456789abcdefghij"[i]);
	}
	/* And the parent's context still works. */
	CHECK_EQ(io_submit(ctx, 1, list), 1);
	CHECK_EQ(io_getevents(ctx, 1, 4, ev, NULL), 1);
	CHECK_EQ(io_destroy(ctx), 0);
	printf("PASS fork\n");
	return 0;
}
