/* The per-thread record of lockrank.h. */
#include <stdio.h>
#include <stdlib.h>

#include "lockrank.h"

#ifdef ISCSIFS_LOCK_CHECKS
static const char *const names[] = {
	[LOCK_FS_REFRESH] = "the fs refresh lock",
	[LOCK_FS_TREE] = "fs->lock",
	[LOCK_MPATH_SET] = "a multipath set lock",
	[LOCK_MPATH_DEV] = "a multipath device lock",
	[LOCK_CHANNEL] = "a channel lock",
};

static __thread unsigned held;             /* bit r: a lock of rank r is held */
static __thread const char *where_file[8]; /* where each was taken */
static __thread int where_line[8];

void lockrank_take(enum lock_rank r, const char *file, int line)
{
	if (held >> r) {
		int top = 31 - __builtin_clz(held);

		fprintf(stderr, "iscsifs: lock order broken: %s taken at %s:%d while %s (taken at "
			"%s:%d) is held\n", names[r], file, line, names[top], where_file[top],
			where_line[top]);
		abort();
	}
	held |= 1u << r;
	where_file[r] = file;
	where_line[r] = line;
}

void lockrank_drop(enum lock_rank r)
{
	held &= ~(1u << r);
}
#else
/* ISO C wants something in a translation unit. */
typedef int lockrank_unused;
#endif
