/* One configured channel (howto section 2 B): one session to one target node, and its LUNs.
 *
 * Threads. The lifecycle calls (channel_start, _pause, _stop, _logout, _free) come from one
 * thread at a time: main at start and at exit, the control thread in between. Each channel has
 * a rescan thread; receive threads ask it for rescans. Other threads (the rescan threads,
 * whose refresh of the file tree and of the multipath devices reads every channel, and the
 * control thread's status) read a channel through the calls below, which take its lock.
 *
 * Lock order: a lock may be taken while holding only locks above it.
 *   fs refresh lock (fuse/fs.c: one refresh at a time; held across mpath_set_sync's wait)
 *   fs->lock        (fuse/fs.c: the tree; rwlock, never held across a wait)
 *   mpath set lock  (src/multipath.c: the devices, the queue of I/O waiting for a path)
 *   mpath device lock
 *   session lock    (src/session*.c: a session's tasks and connections)
 *   channel lock    (here: state, target name, session pointer, portal in use, LUN list,
 *                    rescan requests)
 * The channel lock is taken last: nothing is taken while it is held. The session lock is held
 * when a unit attention asks for a rescan (channel_request_rescan); none of the others nests
 * with it. None of the fs, multipath or channel locks is held across a wait for another thread
 * (a condition wait lets its own lock go), except the fs refresh lock: nothing such a wait
 * depends on (FUSE requests, the I/O path, the event loops) ever takes it. Builds configured
 * with --enable-lock-checks (on with --enable-sanitizers) check this order for every lock in
 * the list but the session's (src/lockrank.h). */
#ifndef ISCSIFS_CHANNEL_H
#define ISCSIFS_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "lun.h"
#include "session.h"

struct channel;

enum channel_state { CH_STOPPED, CH_RUNNING, CH_PAUSED };

/* Finds the portal of target (iSNS): 0, or -errno with the reason in err. */
typedef int (*channel_resolver)(void *arg, const char *target, char *addr, size_t addrlen,
				uint16_t *port, char *err, size_t errlen);

/* A stopped channel for cc of cfg (both must outlive it), or NULL without memory. */
struct channel *channel_new(const struct cfg *cfg, const struct cfg_channel *cc);
/* Stopped: discover the target if the CHANNEL line names none, log in, scan the LUNs (on
 * failure the channel stays stopped, nothing left running). Paused: log in again and send
 * what waits. Running: nothing. */
int channel_start(struct channel *ch, char *err, size_t errlen);
/* Log out; I/O on the channel's files waits until channel_start. */
void channel_pause(struct channel *ch);
/* Log out; the LUN files go. */
void channel_stop(struct channel *ch);
/* At the end: log out and fail what waits, keeping every object (a worker may still hold
 * a LUN), so that channel_free can follow once nothing uses them. */
void channel_logout(struct channel *ch);
/* Stop, then free everything: only once no file of the channel can be reached. */
void channel_free(struct channel *ch);

/* Set at channel_new and never changed: no lock. */
int channel_id(const struct channel *ch);
const char *channel_label(const struct channel *ch); /* "ch0" */
const struct cfg_channel *channel_conf(const struct channel *ch); /* its CHANNEL lines */
const struct cfg *channel_conf_all(const struct channel *ch); /* the configuration of those */

/* What other threads may ask at any time. */
enum channel_state channel_state(struct channel *ch);
/* "running", "recovering", "paused" or "stopped". */
const char *channel_state_str(struct channel *ch);
/* The target's name as the channel uses it (named or discovered) into out: 1, or 0 and ""
 * while it is not known. */
int channel_target_name(struct channel *ch, char *out, size_t outlen);
/* The first portal as the last login used it (for an iSNS channel, the one iSNS gave): 1,
 * or 0 before the first login. */
int channel_portal_in_use(struct channel *ch, char *host, size_t hostlen, uint16_t *port);
/* The first portal as it is used: "addr:port", or "isns" before the first lookup. */
void channel_portal_str(struct channel *ch, char *out, size_t outlen);
/* The session's state into out: 1, or 0 when the channel has no session. */
int channel_session_info(struct channel *ch, struct session_info *out);
/* Every LUN the channel has seen, gone ones included, into a malloc'd array: the count, or
 * -ENOMEM. The LUNs themselves stay valid until channel_free. */
int channel_luns(struct channel *ch, struct lun ***out);
/* The LUN of that number that is there, or NULL. */
struct lun *channel_find_lun(struct channel *ch, uint32_t number);
/* Whether l is one of the channel's LUNs (gone or not). */
int channel_has_lun(struct channel *ch, const struct lun *l);

/* Called (on the rescan thread, or the caller's) after the LUN list or a capacity changed. */
void channel_set_change_callback(struct channel *ch, void (*fn)(void *arg), void *arg);
/* Who finds the portal of a channel whose CHANNEL line says "isns" (before channel_start). */
void channel_set_resolver(struct channel *ch, channel_resolver fn, void *arg);
/* Ask for a rescan; returns at once. */
void channel_request_rescan(struct channel *ch);
/* Stop the rescan thread (and so the change callbacks from it). */
void channel_stop_rescans(struct channel *ch);

#endif
