/* The filesystem the daemon serves: <mountpoint>/<target-iqn>/lun<N>, one block-image file per
 * LUN. FUSE requests become LUN I/O; reads are answered from the receive thread. */
#ifndef ISCSIFS_FS_H
#define ISCSIFS_FS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include "channel.h"

struct fs;

/* Build the tree from the started channels (they must outlive the fs). */
struct fs *fs_new(struct channel *channels, int nchannels);
/* Where to send the kernel notifications of rescans (added, removed, resized files). */
void fs_set_session(struct fs *fs, struct fuse_session *se);
void fs_free(struct fs *fs);
const struct fuse_lowlevel_ops *fs_ops(void);

#endif
