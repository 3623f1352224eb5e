/* One configured channel (howto section 2 B): one session to one target node, and its LUNs. */
#ifndef ISCSIFS_CHANNEL_H
#define ISCSIFS_CHANNEL_H

#include <pthread.h>
#include <stddef.h>

#include "config.h"
#include "lun.h"
#include "session.h"

/* Finds the portal of target (iSNS): 0, or -errno with the reason in err. */
typedef int (*channel_resolver)(void *arg, const char *target, char *addr, size_t addrlen,
				uint16_t *port, char *err, size_t errlen);

struct channel {
	const struct cfg *cfg;
	const struct cfg_channel *cc;
	char label[16];            /* "ch0" */
	char target_name[CFG_NAME_MAX];
	enum { CH_STOPPED, CH_RUNNING, CH_PAUSED } state; /* changed by one thread at a time */
	struct session *sess;
	struct chap_secrets chap; /* points into cfg: the secrets are not copied */
	struct session_portal portals[SESSION_MAX_CONNS]; /* point into cfg */

	/* LUNs ever seen: pointers stay valid until channel_stop; a LUN that went away is
	 * marked gone, never freed early, so open files keep a valid object. */
	pthread_mutex_t lock;
	struct lun **luns;
	int nluns, cap;

	/* Rescans run on their own thread: they need the receive thread to answer. */
	pthread_t rescan_thread;
	pthread_cond_t rescan_cond;
	int rescan_requested, rescan_stop, rescan_running;
	void (*on_change)(void *arg);
	void *change_arg;

	/* A CHANNEL line with the address "isns": the portal is asked for at each start. */
	channel_resolver resolve;
	void *resolve_arg;
	char isns_addr[PORTAL_HOST_MAX];
	uint16_t isns_port;
};

void channel_init(struct channel *ch, const struct cfg *cfg, const struct cfg_channel *cc);
/* Stopped: discover the target if the CHANNEL line names none, log in, scan the LUNs (on
 * failure the channel stays stopped, nothing left running). Paused: log in again and send
 * what waits. Running: nothing. */
int channel_start(struct channel *ch, char *err, size_t errlen);
/* Log out; I/O on the channel's files waits until channel_start. */
void channel_pause(struct channel *ch);
/* Log out; the LUN files go. */
void channel_stop(struct channel *ch);
/* At the end: log out and fail what waits, keeping every object (a worker may still hold
 * a LUN), so that channel_destroy can follow once nothing uses them. */
void channel_logout(struct channel *ch);
/* "running", "recovering", "paused" or "stopped". */
const char *channel_state_str(struct channel *ch);
/* Called (on the rescan thread, or the caller's) after the LUN list or a capacity changed. */
void channel_set_change_callback(struct channel *ch, void (*fn)(void *arg), void *arg);
/* Who finds the portal of a channel whose CHANNEL line says "isns". */
void channel_set_resolver(struct channel *ch, channel_resolver fn, void *arg);
/* The first portal as it is used: "addr:port", or "isns" before the first lookup. */
void channel_portal_str(const struct channel *ch, char *out, size_t outlen);
/* Ask for a rescan; returns at once. */
void channel_request_rescan(struct channel *ch);
/* Stop the rescan thread (and so the change callbacks from it). */
void channel_stop_rescans(struct channel *ch);
/* Stop, then free everything: only once no file of the channel can be reached. */
void channel_destroy(struct channel *ch);

#endif
