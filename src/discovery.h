/* Target discovery: SendTargets over a discovery session (RFC 7143 appendix C). */
#ifndef ISCSIFS_DISCOVERY_H
#define ISCSIFS_DISCOVERY_H

#include <stddef.h>
#include <stdint.h>

#include "portal.h"

#define DISC_MAX_ADDRS 8

struct disc_target {
	char name[224];                 /* as the target wrote it (not checked here) */
	char addrs[DISC_MAX_ADDRS][PORTAL_STR_MAX + 8]; /* TargetAddress values as sent:
							 * "host:port,tpgt" */
	int naddrs;
	int name_too_long;              /* name holds only its start */
};

struct disc_request {
	const char *addr;
	uint16_t port;
	const char *netdev;
	const char *initiator_name;
	const char *label;
	int timeout_s;
};

/* Log in as a discovery session, ask SendTargets=All, log out. *out is malloc'd (free it). */
int discovery_sendtargets(const struct disc_request *rq, struct disc_target **out, int *count,
			  char *err, size_t errlen);

#endif
