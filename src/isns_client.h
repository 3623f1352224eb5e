/* The initiator's iSNS client: registers the initiator node, keeps the list of targets its
 * discovery domains show current (state change notifications, and a periodic query), looks
 * a target's portal up for a channel, and deregisters at the end. */
#ifndef ISCSIFS_ISNS_CLIENT_H
#define ISCSIFS_ISNS_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "isns.h"
#include "portal.h"

struct isns_client_config {
	const char *server;         /* a host in portal.h's written form */
	uint16_t port;
	const char *initiator_name;
	const char *initiator_alias; /* "" or NULL: none */
	uint32_t query_interval;    /* seconds between queries (the fallback to SCNs) */
};

struct isns_status {
	char server[PORTAL_STR_MAX]; /* "host:port" */
	int registered;
	char scn_addr[PORTAL_STR_MAX]; /* where the server sends SCNs: "addr:port", "" if none */
	char last_error[320];      /* "" after a successful exchange */
	int ntargets;
	unsigned long scns;        /* SCNs received */
	unsigned long changes;     /* times the target list changed after the first query */
	time_t last_scn, last_change, last_query;
	char last_scn_text[320];   /* "object added: iqn..." */
};

struct isns_client;

/* Copies the strings. NULL when out of memory. */
struct isns_client *isns_client_new(const struct isns_client_config *cfg);
/* Register (once, now, within a few seconds) and start the thread that keeps the target list
 * current. A server that cannot be reached is no error: 1 is returned with the reason in err,
 * and the thread keeps trying every query_interval. 0 when registered, -errno on failure. */
int isns_client_start(struct isns_client *c, char *err, size_t errlen);
/* Deregister, stop the thread, free. */
void isns_client_free(struct isns_client *c);

/* Ask the server now for target's portal (the first one listed). 0, or -errno with why. */
int isns_client_lookup(struct isns_client *c, const char *target, char *addr, size_t addrlen,
		       uint16_t *port, char *err, size_t errlen);
/* The targets as last queried; *out is malloc'd (free it). */
int isns_client_targets(struct isns_client *c, struct isns_target **out, int *count);
void isns_client_status(struct isns_client *c, struct isns_status *st);

#endif
