/* A session in memory for unit tests of its state machines: its connections, a few READ
 * tasks, and helpers that feed it events the way the daemon's threads do (the connection
 * layer is stub_conn.c's). Single-threaded: the helpers take the session's lock where the
 * code they call expects it. */
#ifndef ISCSIFS_TEST_SESSION_FIXTURE_H
#define ISCSIFS_TEST_SESSION_FIXTURE_H

#include "session_int.h"
#include "stub_conn.h"

#define NSLOTS 16
#define NTASKS 8
#define TIME2WAIT 2   /* DefaultTime2Wait */
#define REPLACEMENT 120
#define SECOND_LIFE 8 /* conns[i + SECOND_LIFE]: connection i after a new login */

struct fx {
	struct session s;
	struct scsi_task *slots[NSLOTS];
	int free_slots[NSLOTS];
	struct conn conns[SESSION_MAX_CONNS];
	struct session_portal portal;
	struct scsi_task tasks[NTASKS];
	uint8_t bufs[NTASKS][512];
	int ntasks;
	struct scsi_task *done[NTASKS];
	int ndone;
};


/* A session of nconns connections, all FREE, as session_new leaves it; the stubs reset. */
struct fx *fx_new(int nconns, uint32_t replacement_timeout, int fast_fail);
void fx_free(struct fx *f);
struct sconn *sc_of(struct fx *f, int i);
/* What install_conn does to slot i, without the socket. */
void attach(struct fx *f, int i, struct conn *c);
/* The drivers; the tasks an event ends are completed (recorded in f->done). */
int sev(struct fx *f, enum sess_event ev, struct sconn *cause);
int cev(struct fx *f, int i, enum conn_event ev);
/* Connection i joins the running session, as add_conn does. */
void join(struct fx *f, int i, struct conn *c);
/* The first login, as session_login does it: connection 0 leads, the others join. */
void log_in(struct fx *f);
/* A READ of one block, as the FUSE side submits it; what goes out is written at once. */
struct scsi_task *submit(struct fx *f);
int was_done(const struct fx *f, const struct scsi_task *t);
/* PDUs from the target on connection i (rx_end), their sequence numbers in order. */
int rx(struct fx *f, int i, struct pdu_hdr *h);
int rx_async(struct fx *f, int i, uint8_t event);
int rx_logout_rsp(struct fx *f, int i, uint32_t itt, uint8_t response);
int rx_scsi_good(struct fx *f, struct scsi_task *t);
/* Connection i's loop reports it gone (on_failed). */
void lose(struct fx *f, int i, const char *reason);
void locked_retire_all(struct fx *f);
/* Fields of a queued chain's first PDU. */
uint8_t chain_opcode(const struct stub_chain *ch);
uint32_t chain_itt(const struct stub_chain *ch);
uint32_t chain_cmd_sn(const struct stub_chain *ch);
uint8_t logout_reason(const struct stub_chain *ch); /* RFC 7143 11.14.1 */
uint16_t logout_cid(const struct stub_chain *ch);

#endif
