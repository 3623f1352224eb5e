/* Between the file tree (fs.c) and the I/O path (fs_io.c): the node the kernel's inode number
 * names, and the few calls each side makes of the other. Not for other files. */
#ifndef ISCSIFS_FS_INT_H
#define ISCSIFS_FS_INT_H

#include <pthread.h>
#include <stdint.h>

#include "fs.h"
#include "fuse_dev.h"
#include "lun.h"
#include "multipath.h"

/* The write gate of a file: aligned writes (asynchronous: they leave it from a receive thread)
 * share it; a read-modify-write waits for them and holds it alone, so no aligned write to the
 * same blocks can land between its read and its write. fs_io.c owns it. */
struct fs_gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int aligned_writes, rmw_active;
};

/* Written by the tree under fs->lock for writing while the node is not yet reachable; then
 * only removed, size_seen (tree, under that lock) and opens (atomic) change. */
struct fs_node {
	uint64_t parent;
	char name[256];
	int is_dir;
	int removed;       /* the LUN went away: no longer listed or found by name */
	int opens;         /* open file handles (atomic): a busy channel is not stopped */
	struct channel *owner; /* the channel whose target directory this is */
	int is_link;       /* by-id and by-path entries: symbolic links to LUN files */
	struct lun *link_lun;
	char link[512];
	uint64_t size_seen; /* size the kernel was last told about */
	struct lun *lun;      /* of a multipath file: the device's shape only */
	struct mpath_dev *mp; /* a multipath file: I/O goes through the device */
	struct fs_gate gate;
};

static inline int fs_node_is_file(const struct fs_node *n)
{
	return !n->is_dir && !n->is_link;
}

/* fs.c: the node of an inode number, or NULL. Nodes are never freed while mounted. */
struct fs_node *fs_node_of(struct fs *fs, uint64_t ino);

/* fs_io.c */
void fs_gate_init(struct fs_gate *g);
void fs_gate_destroy(struct fs_gate *g);
/* Fill in the handlers of open files: open, release, read, write, fsync, fallocate. */
void fs_io_ops(struct fdev_ops *o);

#endif
