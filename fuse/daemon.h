/* The running daemon: the configurations it loaded, its channels (and those a reload retired),
 * the file system and the iSNS client they are served through. */
#ifndef ISCSIFS_DAEMON_H
#define ISCSIFS_DAEMON_H

#include <pthread.h>
#include <stdio.h>

#include "channel.h"
#include "config.h"
#include "fs.h"
#include "isns_client.h"

/* Where to read the configuration again on reload. */
struct cfg_sources {
	const char *settings; /* NULL: the default iscsifs.conf */
	const char *initiator, *auth, *maps, *initiatorname; /* NULL: from the settings */
};

/* The protection from writeback deadlocks that the kernel granted (iscsifs.c asks before any
 * thread exists): 0 granted, else the errno of the refusal (ENOSYS: not asked, as for mlockall
 * in a sanitizer build). */
struct writeback_guard {
	int io_flusher;
	int mlock;
};

struct daemon {
	pthread_mutex_t lock;  /* the lists below; one command runs at a time anyway */
	struct cfg_sources src;
	struct cfg **cfgs;     /* every configuration loaded; channels point into them */
	int ncfgs;
	struct channel **chs;  /* the configured channels, in configuration order */
	int nchs;
	struct channel **retired; /* removed by a reload: kept until exit */
	int nretired;
	struct fs *fs;
	struct fdev *dev;      /* the FUSE device, once mounted */
	const char *mountpoint;
	struct isns_client *isns; /* NULL: no ISNS= line when the daemon started */
	struct writeback_guard wb;
};

/* What a daemon running with these refusals risks, for the warning at start and status. */
#define WRITEBACK_RISK \
	"a file system on a loop device over a LUN file can deadlock under memory pressure"
/* One line on the guard (no newline), as status and the warning at start say it. */
void writeback_guard_text(const struct writeback_guard *wb, char *out, size_t outlen);

/* Load the configuration named by d->src into a new struct cfg. */
int daemon_load_config(struct daemon *d, struct cfg **out, char *err, size_t errlen);
/* Make a channel object for each CHANNEL of c (none started). */
int daemon_add_channels(struct daemon *d, struct cfg *c);
/* Re-read the configuration: new channels start, removed ones stop, changed ones restart,
 * unchanged ones are left alone; a busy channel that would stop keeps running. 0 when all of
 * it was done; -1 when some was not, each thing that was not a line in out. */
int daemon_reload(struct daemon *d, FILE *out);
/* At exit, once no new request reaches the file system: every channel logs out and what
 * waits for a target fails, the objects stay. */
void daemon_logout(struct daemon *d);
/* Stop and free every channel (at exit, once nothing uses them). */
void daemon_free(struct daemon *d);

/* The configuration loaded last: its maps and mount root are the ones in force. */
const struct cfg *daemon_cfg(const struct daemon *d);
/* The file that serves l of ch: its multipath file when it is a path of one. */
void daemon_lun_file(const struct daemon *d, struct channel *ch, const struct lun *l, char *out,
		     size_t len);
/* Where the map scripts mount a DEVICE line's name: <mount_root>/<target>/<name>. */
void daemon_map_dir(const struct cfg *c, struct channel *ch, const char *name, char *out,
		    size_t len);

#endif
