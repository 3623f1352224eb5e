/* Multipath devices: the LUNs that channels with multipath=failover|round-robin reach through
 * different portals and that are one logical unit (the same VPD 0x83 identifier) form one
 * device. Each I/O goes down one healthy path and moves to another when that path is lost. */
#ifndef ISCSIFS_MULTIPATH_H
#define ISCSIFS_MULTIPATH_H

#include <stddef.h>
#include <stdint.h>

#include "channel.h"
#include "lun.h"

#define MPATH_MAX_PATHS 16

struct mpath_set;
struct mpath_dev;

struct mpath_set *mpath_set_new(void);
/* Once no I/O can reach a device any more. */
/* Stops the worker and fails the I/O still waiting for a path (EIO): its answers go out
 * now, while the event loops and the FUSE device are still there. */
void mpath_set_stop(struct mpath_set *set);
void mpath_set_free(struct mpath_set *set);

/* Bring the devices in line with the channels' LUN lists (running or paused channels only):
 * LUNs of multipath channels join the device of their identifier, gone ones leave. Devices
 * are never freed before mpath_set_free: a pointer to one stays valid. A path that leaves is
 * waited for until no command is being handed down it: call it holding no lock that a FUSE
 * request or the I/O path may need. */
void mpath_set_sync(struct mpath_set *set, struct channel **chs, int n);
/* Before ch stops and frees its session: its paths leave their devices; returns once no
 * command is being handed to that session. What is in flight there is sent again on another
 * path when the stop ends it. */
void mpath_release_channel(struct mpath_set *set, struct channel *ch);

int mpath_count(struct mpath_set *set);
struct mpath_dev *mpath_get(struct mpath_set *set, int i);
/* The device whose path l is or was, or NULL (then l is served on its own). */
struct mpath_dev *mpath_of_lun(struct mpath_set *set, const struct lun *l);
/* Whether ch provides the only present path of dev. */
int mpath_only_path(struct mpath_dev *dev, const struct channel *ch);

/* The identifier, which names the device. */
const char *mpath_name(const struct mpath_dev *dev);
/* Size, block size, read-only and thin provisioning of the device, as a LUN object that is
 * never used for I/O; gone while no path is present. */
struct lun *mpath_lun(struct mpath_dev *dev);

/* The lun.h I/O calls, on whichever path is healthy. When none is, they wait up to the
 * longest replacement_timeout of the paths' channels, then fail with EIO. */
void mpath_io_async(struct mpath_dev *dev, int write, uint64_t lba, uint32_t nblocks, void *buf,
		    lun_io_cb cb, void *arg);
int mpath_io(struct mpath_dev *dev, int write, uint64_t lba, uint32_t nblocks, void *buf);
int mpath_sync_cache(struct mpath_dev *dev);
int mpath_unmap(struct mpath_dev *dev, uint64_t lba, uint64_t nblocks);

enum mpath_path_state { MPATH_ACTIVE, MPATH_STANDBY, MPATH_FAILED };

struct mpath_path_info {
	const struct channel *ch;
	uint32_t lun;
	char portal[PORTAL_STR_MAX]; /* host:port of the channel's first portal */
	enum mpath_path_state state;
	char why[64];             /* why it is failed */
	uint64_t ios, failures;   /* I/Os sent down it; of those, lost with the path */
};

struct mpath_info {
	char name[96];
	uint32_t policy;          /* enum cfg_multipath */
	int present;              /* has a path */
	int waiting;              /* I/Os waiting for a path */
	int npaths;
	struct mpath_path_info paths[MPATH_MAX_PATHS];
};
void mpath_get_info(struct mpath_dev *dev, struct mpath_info *out);
const char *mpath_state_str(enum mpath_path_state st);

#endif
