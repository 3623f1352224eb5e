/* The lock order check (lockrank.h): locks taken in the written order pass, in any order
 * they may be released; one taken below a lock held stops the process. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "lockrank.h"

static void test_written_order_passes(void **state)
{
	(void)state;
	LOCKRANK_TAKE(LOCK_FS_REFRESH);
	LOCKRANK_TAKE(LOCK_FS_TREE);
	LOCKRANK_TAKE(LOCK_MPATH_SET);
	LOCKRANK_TAKE(LOCK_MPATH_DEV);
	LOCKRANK_DROP(LOCK_MPATH_SET); /* released out of order: still fine */
	LOCKRANK_TAKE(LOCK_CHANNEL);
	LOCKRANK_DROP(LOCK_CHANNEL);
	LOCKRANK_DROP(LOCK_MPATH_DEV);
	LOCKRANK_DROP(LOCK_FS_TREE);
	LOCKRANK_DROP(LOCK_FS_REFRESH);
	/* Once all are let go, any may be taken again. */
	LOCKRANK_TAKE(LOCK_CHANNEL);
	LOCKRANK_DROP(LOCK_CHANNEL);
	LOCKRANK_TAKE(LOCK_FS_TREE);
	LOCKRANK_DROP(LOCK_FS_TREE);
}

/* Whether taking second while first is held aborts the process (run in a child). */
static int aborts(enum lock_rank first, enum lock_rank second)
{
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* The message goes to stderr, which the test's log keeps: silence it here. */
		if (!freopen("/dev/null", "w", stderr))
			_exit(2);
		LOCKRANK_TAKE(first);
		LOCKRANK_TAKE(second);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void test_against_the_order_aborts(void **state)
{
	(void)state;
#ifndef ISCSIFS_LOCK_CHECKS
	skip(); /* configured without --enable-lock-checks: nothing is checked */
#endif
	assert_true(aborts(LOCK_CHANNEL, LOCK_FS_TREE));
	assert_true(aborts(LOCK_MPATH_DEV, LOCK_MPATH_SET));
	assert_true(aborts(LOCK_FS_TREE, LOCK_FS_REFRESH));
	assert_true(aborts(LOCK_CHANNEL, LOCK_CHANNEL)); /* two channels' locks at once */
	assert_false(aborts(LOCK_FS_TREE, LOCK_CHANNEL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_written_order_passes),
		cmocka_unit_test(test_against_the_order_aborts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
