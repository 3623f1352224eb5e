/* One iSCSI session: the CmdSN window, the task table and the connections under it (MC/S,
 * RFC 7143 4.2). Callers hand in SCSI tasks; each completes exactly once through its done()
 * callback, which runs on a connection's event loop (or on the caller's thread, when the
 * session is down, or the thread that let go of its last PDU). */
#ifndef ISCSIFS_SESSION_H
#define ISCSIFS_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "chap.h"
#include "conn.h"
#include "keys.h"
#include "portal.h"

enum task_dir { TASK_DIR_NONE, TASK_DIR_READ, TASK_DIR_WRITE };

#define TASK_GAPS 4 /* runs of missing Data-In one read may wait for at a time */

struct scsi_task {
	/* Set by the caller. */
	uint64_t lun;       /* 8-byte LUN as on the wire */
	uint8_t cdb[16];
	unsigned cdb_len;
	enum task_dir dir;
	void *buf;          /* read: filled in place; write: sent from; valid until done() */
	uint32_t len;       /* expected data transfer length */
	void (*done)(struct scsi_task *t);
	void *priv;

	/* Results, valid in done(). */
	int result;         /* 0: the target gave a SCSI status; -errno: transport failure */
	uint8_t status;
	uint8_t sense[96];
	uint32_t sense_len;
	uint32_t residual;  /* bytes not transferred (underflow) */

	/* Session-private. */
	struct session *sess;
	struct sconn *sc;  /* the connection it is allegiant to, while it has one */
	struct scsi_task *next;
	struct txreq tx;
	uint64_t seq;      /* submission order, kept across a session recovery */
	uint32_t itt, cmd_sn, xferred;
	uint32_t data_sn;  /* the DataSN the next new Data-In must carry (RFC 7143 11.7.5) */
	/* ErrorRecoveryLevel 1 (RFC 7143 7.9, 11.16): runs of Data-In asked for again with a
	 * SNACK; the end of the data before the first of them and of the latest Data-In; a
	 * DataACK owed once the runs are in (ack_sn, its BegRun, non-zero); the StatSN of a
	 * status that waits for them (TASK_HELD). */
	struct { uint32_t beg, len; } gaps[TASK_GAPS];
	int ngaps;
	uint32_t contig_end, high_end;
	uint32_t ack_sn, ack_ttt;
	uint64_t ack_lun;
	uint32_t held_stat_sn;
	int resends;       /* times its command went again with its tag and CmdSN (7.2.1) */
	int slot, retries;
	int timeouts;      /* times it was aborted for taking longer than command_timeout */
	time_t deadline;   /* monotonic seconds; past it the task is aborted */
	enum {
		TASK_QUEUED,   /* waiting for the CmdSN window or a connection */
		TASK_SENT,     /* sent, allegiant to sc, no result yet */
		TASK_ABORTING, /* an ABORT TASK for it is out */
		TASK_DELAYED,  /* the target was busy: sent again at retry_at */
		TASK_TX_DONE,  /* its result is in; done() once the writer lets go of its PDUs */
		TASK_TX_RETRY, /* sent again once the writer lets go of its PDUs */
		TASK_HELD,     /* its status is in, Data-In asked for again is not (ERL 1) */
		TASK_REASSIGNING, /* a TASK REASSIGN moves it to sc (ERL 2, RFC 7143 7.2.2) */
	} tstate;
	int tx_refs;       /* queued PDU chains the writer has not finished with */
	time_t retry_at;
};

/* Where a connection goes: one CHANNEL line. */
struct session_portal {
	const char *addr;   /* a host in portal.h's written form, resolved at each login */
	uint16_t port;
	const char *netdev; /* "" or NULL = any device; else SO_BINDTODEVICE */
};

#define SESSION_MAX_CONNS 16

struct session_config {
	const char *label;            /* "ch0" in log lines */
	const char *initiator_name;
	const char *initiator_alias;
	const char *target_name;
	/* Connection i goes to portals[i % nportals]; the first that answers leads. */
	const struct session_portal *portals;
	int nportals;
	uint32_t nconns;              /* connections wanted; at most MaxConnections, 16 */
	const struct key_set *admin_keys;
	const struct chap_secrets *chap; /* NULL: no CHAP */
	int login_timeout;
	uint32_t max_tasks;           /* commands in flight, at most 1024 */
	uint32_t nopout_timeout;      /* ping after this long without a PDU from the target; 0 off */
	uint32_t nopout_response_timeout; /* drop the connection when the ping is not answered */
	uint32_t command_timeout;     /* abort a command after this long; also bounds each TMF */
	uint32_t replacement_timeout; /* how long I/O waits for a lost session before EIO */
	/* A multipath member: when the session is lost, every task without a status ends at once
	 * with -ENOTCONN (another path may take it) and new tasks fail the same way until it is
	 * back; reconnecting goes on in the background. */
	int fast_fail;
	/* A unit attention or asynchronous SCSI event arrived (on the connection's event loop,
	 * session lock held: only note it). */
	void (*on_unit_attention)(void *arg, uint64_t lun, uint8_t asc, uint8_t ascq);
	void *ua_arg;
};

struct session;

/* The config's strings must outlive the session. */
struct session *session_new(const struct session_config *cfg);
/* Connect, log in, enter full-feature phase. 0 or -errno with a reason. */
int session_login(struct session *s, char *err, size_t errlen);
/* Start a task; done() is called exactly once. Never waits: a task that finds the task
 * table full waits in line for a free place, without its thread. */
void session_submit(struct session *s, struct scsi_task *t);
/* Run a task and wait for it; returns t->result. Not on an event loop. */
int session_exec(struct session *s, struct scsi_task *t);
/* Log out (waiting a bounded time for the answer) and stop the connection. */
void session_logout(struct session *s);
void session_free(struct session *s);

/* Pause (howto section 3 D): log out but keep every task; I/O waits until resumed. */
void session_pause(struct session *s);
/* Log in again after a pause and send what waits. 0 or -errno with a reason. */
int session_resume(struct session *s, char *err, size_t errlen);

enum session_status { SESSION_UP, SESSION_RECOVERING, SESSION_PAUSED, SESSION_DOWN };

enum sconn_state { SCONN_DOWN, SCONN_LOGGING_IN, SCONN_UP, SCONN_FAILED, SCONN_CLEANING };

struct sconn_info {
	uint16_t cid;
	enum sconn_state state;
	char addr[PORTAL_HOST_MAX];
	uint16_t port;
	char netdev[32];
	char reason[160];         /* why it was lost, while it is not up */
	uint32_t inflight;        /* commands allegiant to it */
	uint64_t commands;
	uint64_t bytes_sent, bytes_received;
	int header_digest, data_digest;
	uint32_t max_xmit_dsl;
};

struct session_info {
	enum session_status status;
	char isid[16];            /* hex */
	uint16_t tsih;
	char reason[160];         /* why it is recovering */
	long down_for;            /* seconds since the loss */
	long io_fails_in;         /* seconds until waiting I/O fails; -1 once it does */
	int attempts;             /* reconnection attempts so far */
	uint32_t inflight;        /* commands without a status */
	uint64_t commands;        /* commands sent */
	uint64_t bytes_sent, bytes_received;
	/* Error recovery at levels 1 and 2: SNACKs sent, commands sent again with their tag
	 * and CmdSN (within a connection), tasks moved to another connection with TASK
	 * REASSIGN, and those the target would not move (sent again as at level 0). */
	uint64_t snacks, resent, reassigned, not_reassigned;
	uint32_t erl_offered;     /* the ErrorRecoveryLevel asked for; params has the granted */
	struct iscsi_params params;
	int nconns;               /* entries in conns */
	uint32_t conns_wanted;    /* configured, bounded by MaxConnections */
	struct sconn_info conns[SESSION_MAX_CONNS];
};
const char *sconn_state_str(enum sconn_state st);
void session_get_info(struct session *s, struct session_info *out);
/* Only the status, without the lock: cheap enough to ask before each I/O. */
enum session_status session_status(const struct session *s);

const struct iscsi_params *session_params(const struct session *s);
uint16_t session_tsih(const struct session *s);

#endif
