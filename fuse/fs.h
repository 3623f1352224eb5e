/* The filesystem the daemon serves: <mountpoint>/<target-iqn>/lun<N>, one block-image file per
 * LUN, and <mountpoint>/multipath/<identifier> per multipath device. FUSE requests become LUN
 * I/O, answered from their completion. */
#ifndef ISCSIFS_FS_H
#define ISCSIFS_FS_H

#include "channel.h"
#include "fuse_dev.h"
#include "multipath.h"

struct fs;

struct fs *fs_new(void);
/* The channels whose LUNs are shown (copied; each must outlive the fs); the tree follows
 * their starts, stops and rescans from then on. */
int fs_set_channels(struct fs *fs, struct channel **chs, int n);
/* Whether a LUN file of ch is open, or a multipath file ch is the only path of; which names
 * it ("<target>/lun1", "multipath/<id>"). */
int fs_channel_busy(struct fs *fs, struct channel *ch, char *which, size_t len);
/* Before ch stops: it stops being a path of the multipath devices. */
void fs_channel_stopping(struct fs *fs, struct channel *ch);
/* The multipath devices (for status and maps). */
struct mpath_set *fs_multipath(struct fs *fs);
/* Where to send the kernel notifications of rescans (added, removed, resized files). */
void fs_set_dev(struct fs *fs, struct fdev *dev);
/* I/O still waiting for a multipath path fails now, while it can still be answered. */
void fs_stop(struct fs *fs);
void fs_free(struct fs *fs);
/* The request handlers, for fdev_start. */
struct fdev_ops fs_dev_ops(struct fs *fs);

#endif
