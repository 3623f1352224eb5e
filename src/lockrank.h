/* The lock order of channel.h, checked at run time in builds configured with
 * --enable-lock-checks (on with --enable-sanitizers): each thread keeps the ranks of the
 * locks it holds, and taking one whose rank is not above all of them aborts, naming both.
 * Elsewhere the calls compile to nothing. */
#ifndef ISCSIFS_LOCKRANK_H
#define ISCSIFS_LOCKRANK_H

/* In the order they may be taken. The session's lock (between the multipath device's and
 * the channel's) is not checked. */
enum lock_rank {
	LOCK_FS_REFRESH = 1,
	LOCK_FS_TREE,
	LOCK_MPATH_SET,
	LOCK_MPATH_DEV,
	LOCK_CHANNEL,
};

#ifdef ISCSIFS_LOCK_CHECKS
void lockrank_take(enum lock_rank r, const char *file, int line);
void lockrank_drop(enum lock_rank r);
#define LOCKRANK_TAKE(r) lockrank_take((r), __FILE__, __LINE__)
#define LOCKRANK_DROP(r) lockrank_drop(r)
#else
#define LOCKRANK_TAKE(r) ((void)(r))
#define LOCKRANK_DROP(r) ((void)(r))
#endif

#endif
