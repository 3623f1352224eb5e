/* What `initiator-ctl status` shows, gathered once into one struct (status.c) that the two
 * renderers (status_render.c) print as text or as JSON without looking at anything live. */
#ifndef ISCSIFS_STATUS_H
#define ISCSIFS_STATUS_H

#include <stdint.h>
#include <time.h>

#include "daemon.h"
#include "evloop.h"
#include "multipath.h"
#include "session.h"
#include "workq.h"

#define STATUS_PATH_MAX 1024

/* A DEVICE line of a LUN, and whether its mount point is mounted now. */
struct status_map {
	int partition;
	char name[256];
	char dir[STATUS_PATH_MAX];
	int mounted;
};

struct status_lun {
	uint32_t number;
	char file[STATUS_PATH_MAX]; /* the LUN file, or the multipath file it is a path of */
	uint64_t size, nblocks;
	uint32_t block_size;
	char vendor[9], product[17];
	char ident[96];
	int read_only, thin;
	unsigned long long reads, read_bytes, writes, write_bytes, scsi_errors;
	struct status_map *maps;
	int nmaps;
};

struct status_channel {
	int id;
	const char *state;               /* "running", "recovering", "paused", "stopped" */
	char target[CFG_NAME_MAX];       /* "" while it is not known */
	char portal[PORTAL_STR_MAX + 16];
	char netdev[CFG_IFNAME_MAX];     /* of the first portal */
	int have_session;
	struct session_info session;
	struct status_lun *luns;         /* the LUNs that are there, in the channel's order */
	int nluns;
};

struct status_path {
	int channel;
	uint32_t lun;
	char portal[PORTAL_STR_MAX];
	enum mpath_path_state state;
	char why[64];
	uint64_t ios, failures;
};

struct status_mpath {
	char name[96];
	char file[STATUS_PATH_MAX];
	uint32_t policy;                 /* enum cfg_multipath */
	uint64_t size;
	uint32_t block_size;
	int waiting;
	int npaths;
	struct status_path paths[MPATH_MAX_PATHS];
};

struct daemon_status {
	long pid;
	const char *mountpoint;
	int whole;                       /* no channel named: the text starts with the daemon */
	struct writeback_guard wb;
	int have_fuse;                   /* mounted */
	const char *fuse_transport;
	unsigned long long fuse_requests;
	unsigned fuse_inflight;
	struct evloop_stats *loops;
	unsigned nloops;
	struct workq_stats workers;
	int have_isns;
	struct isns_status isns;
	time_t now;                      /* when it was gathered, for the iSNS times */
	struct status_channel *channels; /* those asked for */
	int nchannels;
	struct status_mpath *mpaths;     /* the devices with a path on one of them */
	int nmpaths;
};

/* Gather the status of the n channels in sel (whole: they are all, none was named) and of
 * the daemon into st. 0, or -ENOMEM with st freed. */
int status_gather(struct daemon *d, struct channel **sel, int n, int whole,
		  struct daemon_status *st);
void status_free(struct daemon_status *st);

#endif
