/* The running daemon as the control socket sees it: its configuration, its channels and the
 * commands initiator-ctl sends (howto section 3). */
#ifndef ISCSIFS_CONTROL_H
#define ISCSIFS_CONTROL_H

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
/* The control socket's handler: arg is the daemon. */
int daemon_command(void *arg, int argc, char **argv, FILE *out);
/* At exit, once no new request reaches the file system: every channel logs out and what
 * waits for a target fails, the objects stay. */
void daemon_logout(struct daemon *d);
/* Stop and free every channel (at exit, once nothing uses them). */
void daemon_free(struct daemon *d);

#endif
