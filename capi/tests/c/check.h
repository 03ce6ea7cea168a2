/* check.h: the few helpers the C tests share. Each test program exits 0 and prints
 * "PASS <name>" when every check held; the first failed check prints where and why and
 * exits 1. */
#ifndef RAWAIO_CHECK_H
#define RAWAIO_CHECK_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libaio.h>
#ifndef RAWAIO_LIBAIO_H
#error "compiled against a libaio.h that is not rawaio's"
#endif

#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,       \
				__LINE__, #cond);                                    \
			exit(1);                                                     \
		}                                                                    \
	} while (0)

/* CHECK_EQ(call, expected): both as long, printed when they differ. */
#define CHECK_EQ(got_expr, want_expr)                                                \
	do {                                                                         \
		long got_ = (long)(got_expr), want_ = (long)(want_expr);             \
		if (got_ != want_) {                                                 \
			fprintf(stderr, "%s:%d: %s = %ld, expected %s = %ld\n",      \
				__FILE__, __LINE__, #got_expr, got_, #want_expr,      \
				want_);                                              \
			exit(1);                                                     \
		}                                                                    \
	} while (0)

/* A temporary file in the directory named by RAWAIO_TEST_DIR (or /tmp), unlinked at
 * once; opened read-write. */
static inline int temp_file(void)
{
	const char *dir = getenv("RAWAIO_TEST_DIR");
	char path[4096];
	snprintf(path, sizeof(path), "%s/rawaio-ctest-XXXXXX", dir ? dir : "/tmp");
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK(unlink(path) == 0);
	return fd;
}

static inline struct timespec ms(long milliseconds)
{
	struct timespec t = {milliseconds / 1000, (milliseconds % 1000) * 1000000L};
	return t;
}

#endif
