/* What the session's files call below them (conn.c, login.c, evloop.c, the clock), in memory
 * and recorded, so that unit tests drive the session and its connections with events alone:
 * no socket, no event loop, no thread. */
#ifndef ISCSIFS_TEST_STUB_CONN_H
#define ISCSIFS_TEST_STUB_CONN_H

#include <stdint.h>
#include <time.h>

#include "conn.h"
#include "login.h"

/* A connection as the session sees it: what was done to it. */
struct conn {
	int id;
	int aborts;
	char abort_reason[160];
	int queue_fails; /* conn_queue answers -EPIPE, as for a connection that is stopping */
	int started, stopped, freed;
};

/* A PDU chain handed to conn_queue, its first header copied when it was queued. */
struct stub_chain {
	struct conn *c;
	struct txreq *first, *last;
	uint8_t bhs[BHS_LEN];
	int npdus;
	int done; /* written, or dropped by conn_stop */
};

#define STUB_MAX_CHAINS 256

extern time_t stub_now; /* what now_s() answers */
extern struct stub_chain stub_chains[STUB_MAX_CHAINS];
extern int stub_nchains;

/* login_connect's answer; NULL: it fails with -ECONNREFUSED. Called with no lock held, as the
 * real login is. */
extern int (*stub_login)(const struct login_params *lp, struct conn **out,
			 struct login_result *res, char *err, size_t errlen);

/* The writer: every chain queued and not yet written goes out, and its last PDU's sent() is
 * called, as the connection's loop does. Not with the session's lock held. */
void stub_write_all(void);
/* Chains queued on c so far, written or not. */
int stub_chains_on(const struct conn *c);
/* The last chain queued on c, or NULL. */
const struct stub_chain *stub_last_chain(const struct conn *c);
/* Forget every chain without writing it (the owned PDUs are freed); the clock back to 1000. */
void stub_reset(void);

#endif
