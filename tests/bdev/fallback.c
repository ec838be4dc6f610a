/* SPDX-License-Identifier: MIT */
/*
 * Test the silent fallback from io_uring to the sync engine.  Each case
 * runs in a child process that first installs a seccomp filter making one
 * io_uring system call fail, as container sandboxes do:
 *  - io_uring_setup fails with ENOSYS (kernel without io_uring);
 *  - io_uring_setup fails with EPERM (io_uring disabled by policy);
 *  - io_uring_setup works but io_uring_enter fails with EPERM (the ring
 *    can be made but not used: caught by the probe at open).
 * In every case bdev_open() must succeed with the "sync" engine and the
 * device must work.  Without a filter the engine is "io_uring" when the
 * kernel offers it.  Skipped on architectures the filter does not know.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "iomap/bdev.h"
#include "iomap/bio.h"

#if defined(__x86_64__)
#define T_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define T_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

static char path[256];

#ifdef T_AUDIT_ARCH
/* Make system call @nr fail with @err in this process from now on. */
static void deny_syscall(long nr, int err)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, T_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K,
			 SECCOMP_RET_ERRNO | ((unsigned int)err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(filter) / sizeof(filter[0]), .filter = filter };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		t_fail("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		t_fail("PR_SET_SECCOMP: %s", strerror(errno));
}
#define T_HAVE_FILTER true
#else
static void deny_syscall(long nr, int err)
{
	t_fail("no seccomp filter for this architecture");
}
#define T_HAVE_FILTER false
#endif

/* Open, check the engine, write and read back a block, close. */
static void use_device(unsigned int flags, const char *want_engine)
{
	struct bdev_open_opts opts = { .flags = flags | BDEV_O_CREATE, .size = 1024 * 1024 };
	uint8_t *buf = t_aligned_alloc(4096, 8192);
	struct bdev *bd;
	struct bio *bio;

	t_assert_eq(bdev_open(path, &opts, &bd), 0);
	if (strcmp(bdev_engine_name(bd), want_engine) != 0)
		t_fail("engine %s, expected %s", bdev_engine_name(bd), want_engine);
	t_fill_pattern(buf, 4096, 8192, 5);
	bio = bio_alloc(bd, 1, BIO_OP_WRITE, BIO_FUA);
	t_assert(bio_add(bio, buf, 4096, NULL));
	bio->bi_sector = 16;
	t_assert_eq(bio_submit_wait(bio), 0);
	bio_put(bio);
	bio = bio_alloc(bd, 1, BIO_OP_READ, 0);
	t_assert(bio_add(bio, buf + 4096, 4096, NULL));
	bio->bi_sector = 16;
	t_assert_eq(bio_submit_wait(bio), 0);
	bio_put(bio);
	t_assert_eq(t_check_pattern(buf + 4096, 4096, 8192, 5), -1);
	t_assert_eq(bdev_flush(bd), 0);
	bdev_close(bd);
	free(buf);
}

/* In a child: deny system call @nr with @err (none if nr < 0), then use_device(). */
static void run_child(const char *what, long nr, int err, unsigned int flags,
		      const char *want_engine)
{
	pid_t pid = fork();
	int status;

	t_assert(pid >= 0);
	if (pid == 0) {
		if (nr >= 0)
			deny_syscall(nr, err);
		use_device(flags, want_engine);
		exit(T_EXIT_PASS);
	}
	t_assert_eq(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != T_EXIT_PASS)
		t_fail("%s: child failed (status %#x)", what, status);
}

/* Also on failure, but only in the parent: children share the file. */
static pid_t parent;

static void remove_tmp(void)
{
	if (getpid() == parent)
		unlink(path);
}

/* Does this kernel let us use io_uring at all? */
static bool uring_available(void)
{
	struct bdev_open_opts opts = { .flags = BDEV_O_CREATE, .size = 1024 * 1024 };
	struct bdev *bd;
	bool ok;

	t_assert_eq(bdev_open(path, &opts, &bd), 0);
	ok = strcmp(bdev_engine_name(bd), "io_uring") == 0;
	bdev_close(bd);
	return ok;
}

int main(void)
{
	const char *base = getenv("TMPDIR");
	int fd;

	snprintf(path, sizeof(path), "%s/bdev-fallback-XXXXXX", base ? base : "/tmp");
	fd = mkstemp(path);
	t_assert(fd >= 0);
	close(fd);
	parent = getpid();
	atexit(remove_tmp);
	if (!T_HAVE_FILTER)
		return T_EXIT_SKIP;
	if (uring_available())
		run_child("no filter", -1, 0, 0, "io_uring");
	else
		printf("io_uring unavailable here: only the fallbacks are tested\n");
	run_child("BDEV_O_NO_URING", -1, 0, BDEV_O_NO_URING, "sync");
	run_child("setup ENOSYS", __NR_io_uring_setup, ENOSYS, 0, "sync");
	run_child("setup EPERM", __NR_io_uring_setup, EPERM, BDEV_O_DIRECT, "sync");
	run_child("enter EPERM", __NR_io_uring_enter, EPERM, 0, "sync");
	return T_EXIT_PASS;
}
