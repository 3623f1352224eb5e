/* Inside a session: what the session's files share (task.c: the task table and the CmdSN
 * window; session_rx.c: what arrives; session_tmf.c: task management, timeouts, pings;
 * session_fsm.c: the session and connection state machines; session_recovery.c: losses,
 * cleanups, reinstatement, the timer; session.c: the public lifecycle). Everything here is
 * under the session's lock unless it says otherwise. */
#ifndef ISCSIFS_SESSION_INT_H
#define ISCSIFS_SESSION_INT_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "fsm.h"
#include "login.h"
#include "session.h"

#define MAX_SLOTS 1024
#define SLOT_BITS 10
#define TASK_RETRIES 8
/* A command the target let go of when aborted (it had lost it, or ended it) is sent again
 * this many times before the application gets EIO, as a SCSI layer's error handler does. */
#define TIMEOUT_RETRIES 2
#define LOGOUT_WAIT_S 5

/* Tags: tasks below 0x80000000, pings 0x80000000.., task management 0xc0000000.., the
 * Logout that closes a lost connection 0xe0000000 | CID, the session's Logout RSVD_TAG - 1. */
#define PING_TAG(n) (0x80000000u | ((n) & 0x3fffffffu))
#define TMF_TAG(n) (0xc0000000u | ((n) & 0x1fffffffu))
#define CLEANUP_TAG(cid) (0xe0000000u | (cid))
#define LOGOUT_TAG (RSVD_TAG - 1)

/* The session (RFC 7143 8.3, with the administrator's pause). Tasks are kept in every state
 * but FREE; whether new I/O waits or fails is may_wait(). */
enum sess_state {
	SS_FREE,          /* Q1: not logged in: I/O fails */
	SS_ACTIVE,        /* Q2: the first leading login is under way */
	SS_LOGGED_IN,     /* Q3: at least one connection is up */
	SS_DROPPING,      /* Q3, every connection being dropped to reinstate the session */
	SS_TARGET_LOGOUT, /* Q3, logging out at the target's request, to log in again */
	SS_FAILED,        /* Q4: every connection lost; tasks wait for the reinstatement */
	SS_EXPIRED,       /* Q4 past replacement_timeout: I/O fails; reinstatement goes on */
	SS_LOGGING_OUT,   /* logging out for good */
	SS_PAUSING,       /* logging out for a pause: I/O waits */
	SS_PAUSED,        /* logged out on purpose: I/O waits for the resume */
	SS_RESUMING,      /* the leading login of a resume is under way: I/O waits */
	SS_NSTATES
};

enum sess_event {
	SE_LOGIN,               /* a leading login starts */
	SE_LOGIN_OK,            /* it succeeded */
	SE_LOGIN_FAILED,        /* it failed */
	SE_CONN_LOST,           /* a connection is lost while others carry on */
	SE_LAST_CONN_LOST,      /* the last connection is lost */
	SE_REPLACEMENT_TIMEOUT, /* replacement_timeout passed since the loss */
	SE_REINSTATED,          /* a reinstatement login succeeded */
	SE_DROP_ALL,            /* a cleanup or a reset failed: reinstate the session */
	SE_TARGET_LOGOUT,       /* the target asks the only connection to log out */
	SE_LOGOUT,              /* the administrator logs out */
	SE_LOGOUT_DONE,         /* answered, or not within LOGOUT_WAIT_S */
	SE_PAUSE,
	SE_NEVENTS
};

/* A connection of the session (RFC 7143 8.1 for an initiator, 8.2 for the cleanup). */
enum conn_state {
	CS_FREE,           /* S1: down; logged in again when its time comes */
	CS_IN_LOGIN,       /* S2/S4: connecting and logging in, on a thread of its own */
	CS_IN_LOGIN_STALE, /* the session moved on while that login ran: its result goes */
	CS_LOGGED_IN,      /* S5 */
	CS_IN_LOGOUT,      /* S6: the target asked it to log out; the Logout is on it */
	CS_CLEANUP_WAIT,   /* S8/R1: lost; its tasks wait for the target to let go of them */
	CS_IN_CLEANUP,     /* R2: a Logout for its CID is out on another connection */
	/* ErrorRecoveryLevel 2: connection recovery (RFC 7143 7.1.4, 7.2.2). */
	CS_IN_RECOVERY,    /* R2: a Logout "remove the connection for recovery" is out */
	CS_REASSIGN_WAIT,  /* logged out for recovery: the target's Time2Wait before TASK REASSIGN */
	CS_REASSIGNING,    /* TASK REASSIGN moves its tasks to the other connections */
	CS_NSTATES
};

enum conn_event {
	CE_LOGIN,            /* T1/T4 */
	CE_LOGIN_OK,         /* T5 */
	CE_LOGIN_FAILED,     /* T7 */
	CE_LOST,             /* T15/T16: reset, disconnect, unanswered ping, protocol error */
	CE_LOGOUT_REQUESTED, /* T11+T10: AsyncEvent 1 or 4 while others carry on */
	CE_LOGOUT_OK,        /* T13, M3 */
	CE_LOGOUT_FAILED,    /* T17, M4 */
	CE_CLEANUP,          /* M2: DefaultTime2Wait over, a Logout for its CID elsewhere */
	CE_NOTHING_TO_CLEAN, /* no task of ours there: the next login with its CID ends it */
	CE_SESSION_DOWN,     /* T2/T7/T8/T18: the session is reinstated, paused, logged out */
	CE_RECOVER,          /* M2 at ErrorRecoveryLevel 2: a Logout reason 2 for its CID elsewhere */
	CE_REASSIGN,         /* the Logout Response's Time2Wait is over: TASK REASSIGN its tasks */
	CE_REASSIGNED,       /* every task of it moved, or sent again where it would not move */
	CE_RETAIN_EXPIRED,   /* Time2Retain passed with no connection to take its tasks */
	CE_NEVENTS
};

/* Waiting between attempts: DefaultTime2Wait, then doubling, up to max_s (one policy for
 * every reconnection: a connection's login, a session's reinstatement). */
struct backoff {
	int attempts;
	time_t next; /* monotonic seconds */
};

/* One connection of the session; its CID is its index. */
struct sconn {
	struct session *s;
	uint16_t cid;
	enum conn_state state; /* assigned by conn_event() alone */
	struct conn *conn;     /* from login until retired (it may outlive LOGGED_IN) */
	const struct session_portal *portal;
	uint32_t exp_stat_sn;
	uint32_t max_xmit_dsl;
	int header_digest, data_digest;
	time_t last_rx, ping_sent; /* ping_sent: when the outstanding ping went; 0 = none */
	uint32_t ping_itt;
	struct txreq ping_tx;      /* owned by the connection only while queued */
	uint32_t active;           /* tasks allegiant to it */
	uint32_t notice_wait;      /* AsyncEvent 2 for it: seconds to wait once it is gone */
	uint64_t commands;
	uint64_t old_tx, old_rx;   /* bytes of its retired connections (atomic) */
	struct backoff retry;      /* FREE: when to log in again; CLEANUP_WAIT: to clean up */
	char reason[160];
	struct txreq cleanup_tx;
	time_t cleanup_deadline;
	/* ErrorRecoveryLevel 1 (RFC 7143 4.2.2.2, 7.9): statuses received at or beyond
	 * exp_stat_sn (bit i: StatSN exp_stat_sn + i), those not acknowledged until their
	 * task's Data-In is in, one past the highest StatSN seen, and whether the Data-In being
	 * received is a copy already in place. */
	uint64_t stat_got, stat_held;
	uint32_t next_stat_sn;
	int rx_dup;
	/* ErrorRecoveryLevel 2: the Logout Response's Time2Wait and Time2Retain (11.15), and its
	 * tasks with a TASK REASSIGN out. */
	uint16_t time2wait, time2retain;
	uint32_t reassigning;
};

struct tmf {
	int in_use, function;
	uint32_t itt, ref_itt;
	uint64_t lun;
	time_t deadline;
	struct sconn *sc;
	struct sconn *from; /* TASK REASSIGN: the lost connection the task comes from */
	struct txreq tx;
};

struct session {
	struct session_config cfg;
	pthread_mutex_t lock;
	pthread_cond_t cond;   /* the end of a logout, of a login thread */
	enum sess_state state; /* assigned by sess_event() alone */
	struct sconn sc[SESSION_MAX_CONNS];
	int nsc;           /* configured connections */
	int nup;           /* of them LOGGED_IN */
	uint32_t want;     /* connections to keep: configured, bounded by MaxConnections */
	struct iscsi_params params;
	uint8_t isid[6];
	uint16_t tsih;
	uint32_t cmd_sn, exp_cmd_sn, max_cmd_sn;
	uint32_t itt_gen, ping_seq, rr;

	struct scsi_task **slots;
	int *free_slots;
	int nfree;
	struct scsi_task *pend_head, *pend_tail; /* waiting for the CmdSN window */
	struct scsi_task *slot_head, *slot_tail; /* waiting for a place in the table */
	unsigned loop_base; /* connection i goes to event loop loop_base + i */

	struct txreq logout_tx;
	uint32_t notice_wait;  /* AsyncEvent 2 or 3: the target's wait before the next login */

	/* The timer thread: pings, timeouts, cleanups, logins, reinstatement. */
	pthread_t timer;
	pthread_cond_t timer_cond;
	int timer_running, timer_stop; /* the thread, not the protocol */

	struct tmf tmfs[8]; /* task management requests in flight (RFC 7143 11.5) */
	uint32_t tmf_seq;

	/* Session recovery (RFC 7143 6.3.5: reinstatement with the same ISID). */
	uint64_t next_seq;
	time_t fail_time;
	struct backoff retry;
	char lost_reason[160];

	uint64_t commands;     /* sent, for status */
	uint64_t snacks, resent, reassigned, not_reassigned; /* error recovery, for status */
};

time_t now_s(void);

/* session_fsm.c: the drivers. They log each transition (debug), assign the state, and run
 * its action; an event with no row is refused: logged as a warning, the connection failed
 * (cause, for the session machine), -EPROTO. Tasks an action ends go on done_list, for the
 * caller to complete once it has dropped the lock. */
int sess_event(struct session *s, enum sess_event ev, struct sconn *cause,
	       struct scsi_task **done_list);
int conn_event(struct sconn *sc, enum conn_event ev, struct scsi_task **done_list);
extern const struct fsm session_fsm, connection_fsm;
/* Whether new and waiting I/O may still wait for the session; what it ends with otherwise. */
int may_wait(const struct session *s);
int no_wait_error(const struct session *s);
/* Whether commands may go out now. */
int can_send(const struct session *s);

/* The backoff policy: the next attempt after this failure (wait_s at least). */
void backoff_failed(struct backoff *b, uint32_t wait_s, uint32_t max_s, time_t now);
void backoff_reset(struct backoff *b, time_t when);

/* task.c */
struct scsi_task *task_lookup(struct session *s, uint32_t itt);
struct sconn *pick_conn(struct session *s);
void queue_chain(struct sconn *sc, struct scsi_task *t, struct txreq *first,
		 struct txreq *last);
void send_task(struct session *s, struct scsi_task *t, int retry);
/* The command again, with its tag and CmdSN, on its connection (RFC 7143 7.2.1). */
void resend_command(struct session *s, struct scsi_task *t);
/* After its connection is gone at the target: retried with its tag and CmdSN when the target
 * has not acknowledged it (it may have left a gap in the command order; 1), else anew (0). */
int reissue_task(struct session *s, struct scsi_task *t, struct scsi_task **done_list);
void start_task(struct session *s, struct scsi_task *t, struct scsi_task **done_list);
void complete_task(struct session *s, struct scsi_task *t, struct scsi_task **done_list);
void restart_task(struct session *s, struct scsi_task *t, struct scsi_task **done_list);
void finish_task(struct session *s, struct scsi_task *t, struct scsi_task **done_list);
void detach(struct scsi_task *t);
void run_done(struct scsi_task *list); /* without the lock */
void update_window(struct session *s, uint32_t exp, uint32_t max);
void flush_pending(struct session *s);
void fail_all(struct session *s, struct scsi_task **done_list);
/* Every live task sent again in the order the application issued them. */
void resend_live(struct session *s, struct scsi_task **done_list);

/* session_rx.c: the connection handler's receive callbacks. */
int rx_begin(void *arg, const struct pdu_hdr *h, void **dst, char *err, size_t errlen);
int rx_end(void *arg, const struct pdu_hdr *h, void *data, char *err, size_t errlen);

/* session_snack.c: recovery within a connection, at ErrorRecoveryLevel 1 and 2 (RFC 7143
 * 7.1, 7.2, 11.16). */
static inline int erl(const struct session *s)
{
	return (int)s->params.error_recovery_level;
}
/* The ErrorRecoveryLevel the channel asks for (0 unless its line sets it). */
uint32_t erl_offered(const struct session *s);
/* A Data-In's DataSN: the next one, one after a run that went missing (a Data/R2T SNACK asks
 * for it), one asked for again, or a copy already in place (*dst left NULL). */
int erl_datain_begin(struct session *s, struct sconn *sc, struct scsi_task *t,
		     const struct pdu_hdr *h, void **dst, char *err, size_t errlen);
/* A Data-In is in: its DataACK (A bit), and what waited for the runs it completes. */
void erl_datain_end(struct session *s, struct sconn *sc, struct scsi_task *t,
		    const struct pdu_hdr *h, struct scsi_task **done_list);
/* A PDU's StatSN: 0 to take it, 1 for a copy of one taken (dropped), -EPROTO. A gap gets a
 * Status SNACK. */
int erl_stat_sn(struct session *s, struct sconn *sc, const struct pdu_hdr *h, char *err,
		size_t errlen);
/* Acknowledge what can be (ExpStatSN), after a PDU. */
void erl_stat_ack(struct sconn *sc);
/* A read's status (stat_sn; the target's count of Data-In, 0 when it gave none): 1 when it
 * waits for Data-In asked for again (TASK_HELD), 0 to finish the task now, -EPROTO. */
int erl_hold_status(struct session *s, struct sconn *sc, struct scsi_task *t, uint32_t stat_sn,
		    uint32_t target_data_sns, char *err, size_t errlen);
/* A held task goes another way (aborted, its connection gone): its status is acknowledged. */
void erl_release(struct sconn *sc, struct scsi_task *t);
/* The conn_handler's digest_error. */
int erl_digest_error(void *arg, const struct pdu_hdr *h, char *err, size_t errlen);
/* A Reject at ErrorRecoveryLevel 1 or more: 0 when recovered (a command sent again, a
 * Data-Out the target asks for again), -EPROTO to drop the connection (err set when there is
 * more to say than the reason). */
int erl_reject(struct session *s, struct sconn *sc, const struct pdu_hdr *h, const void *data,
	       char *err, size_t errlen);
/* A command with a later CmdSN than some of sc's ended while the target still expects an
 * earlier one: those never arrived and go again with their tag and CmdSN. */
void erl_plug_gaps(struct session *s, struct sconn *sc, uint32_t done_cmd_sn);

/* session_tmf.c */
int send_tmf(struct session *s, int function, uint64_t lun, struct scsi_task *t);
/* TASK REASSIGN (ErrorRecoveryLevel 2, RFC 7143 7.2.2, 11.5.1) for the tasks of lost
 * connection from, each to the least busy connection, as many as there is room for; the
 * number still waiting. */
int reassign_tasks(struct session *s, struct sconn *from, struct scsi_task **done_list);
void on_tmf_response(struct session *s, const struct pdu_hdr *h, struct scsi_task **done_list);
void check_timeouts(struct session *s, time_t now);
void check_liveness(struct session *s, struct sconn *sc, time_t now);
void tmfs_forget(struct session *s, struct sconn *only); /* NULL: all */

/* session_recovery.c */
void on_failed(void *arg, int error, const char *reason); /* connection handler */
void drop_all(struct session *s, const char *why, struct scsi_task **done_list);
int start_cleanup(struct session *s, struct sconn *sc, struct sconn *via, int reason);
int queue_logout(struct session *s, struct sconn *sc);
void retire_conn(struct session *s, struct sconn *sc);
void retire_all(struct session *s);
void wait_logins(struct session *s);
int install_conn(struct session *s, struct sconn *sc, struct conn *c,
		 const struct login_result *res, int leading, char *err, size_t errlen);
/* The leading login of session_login and session_resume (state ACTIVE or RESUMING); no lock
 * held. Then a connection joins: sc IN_LOGIN, lock held (dropped meanwhile). */
int login_lead(struct session *s, char *err, size_t errlen);
void add_conn(struct session *s, struct sconn *sc);
int start_timer(struct session *s, char *err, size_t errlen);
void timer_stop(struct session *s);
int logout_and_wait(struct session *s);
uint32_t time2wait(const struct session *s);
uint32_t wait_after_loss(const struct session *s, uint32_t *notice);

#endif
