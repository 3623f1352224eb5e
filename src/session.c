/* Session: CmdSN/ExpCmdSN/MaxCmdSN window (RFC 7143 4.2.2.1), task tags, Data-In placed
 * straight into the caller's buffer, R2T answered with Data-Out from the caller's buffer, and
 * the connections under it (MC/S): each task is allegiant to the one it was sent on. */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evloop.h"
#include "log.h"
#include "login.h"
#include "pdu.h"
#include "portal.h"
#include "scsi.h"
#include "session.h"

#define MAX_SLOTS 1024
#define SLOT_BITS 10
#define TASK_RETRIES 8
/* A command the target let go of when aborted (it had lost it, or ended it) is sent again
 * this many times before the application gets EIO, as a SCSI layer's error handler does. */
#define TIMEOUT_RETRIES 2
#define LOGOUT_WAIT_S 5
#define ADD_BACKOFF_MAX 30

/* Tags: tasks below 0x80000000, pings 0x80000000.., task management 0xc0000000.., the
 * Logout that closes a lost connection 0xe0000000 | CID, the session's Logout RSVD_TAG - 1. */
#define PING_TAG(n) (0x80000000u | ((n) & 0x3fffffffu))
#define TMF_TAG(n) (0xc0000000u | ((n) & 0x1fffffffu))
#define CLEANUP_TAG(cid) (0xe0000000u | (cid))
#define LOGOUT_TAG (RSVD_TAG - 1)

/* RECOVERING: every connection is lost; tasks are kept and resent once logged in again. */
enum session_state {
	SS_NEW,
	SS_LOGGED_IN, /* at least one connection is up */
	SS_RECOVERING,
	SS_PAUSING, /* logging out for a pause: I/O waits */
	SS_PAUSED,  /* logged out on purpose: I/O waits for session_resume */
	SS_LOGGING_OUT,
	SS_LOGGED_OUT
};

/* One connection of the session; its CID is its index. A lost connection (FAILED) keeps its
 * tasks until a Logout "close the connection" for its CID, sent on another connection,
 * tells that the target has let go of them (CLEANING); then they go on other connections and
 * the connection is logged in again (DOWN -> LOGGING_IN -> UP). */
struct sconn {
	struct session *s;
	uint16_t cid;
	enum sconn_state state;
	struct conn *conn; /* set while UP and CLEANING; FAILED and DOWN until retired */
	const struct session_portal *portal;
	uint32_t exp_stat_sn;
	uint32_t max_xmit_dsl;
	int header_digest, data_digest;
	time_t last_rx, ping_sent; /* ping_sent 0 = no ping outstanding */
	uint32_t ping_itt;
	struct txreq ping_tx;      /* owned by the connection only while queued */
	uint32_t active;           /* tasks allegiant to it */
	uint32_t notice_wait;      /* AsyncEvent 2 for it: seconds to wait once it is gone */
	uint64_t commands;
	uint64_t old_tx, old_rx;   /* bytes of its retired connections (atomic) */
	time_t next_attempt;       /* DOWN: when to log in again; FAILED: when to clean up */
	int attempts;
	char reason[160];
	struct txreq cleanup_tx;
	time_t cleanup_deadline;
	int self_logout;           /* the target asked for this connection's logout */
};

struct session {
	struct session_config cfg;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum session_state state;
	struct sconn sc[SESSION_MAX_CONNS];
	int nsc;           /* configured connections */
	int nup;           /* of them UP */
	uint32_t want;     /* connections to keep: configured, bounded by MaxConnections */
	uint32_t generation; /* a login of another generation is stale */
	int login_threads; /* adding connections */
	int dropping_all;  /* the next loss ends the session: it is reinstated */
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
	int logout_answered;
	int logout_requested;  /* the target asked for it (AsyncEvent 1): log out, then in again */
	uint32_t notice_wait;  /* AsyncEvent 2 or 3: the target's wait before the next login */

	/* Liveness (RFC 7143 11.18): a NOP-Out ping after nopout_timeout of silence. */
	pthread_t timer;
	pthread_cond_t timer_cond;
	int timer_running, timer_stop;

	/* Task management requests in flight (RFC 7143 11.5). */
	struct tmf {
		int in_use, function;
		uint32_t itt, ref_itt;
		uint64_t lun;
		time_t deadline;
		struct sconn *sc;
		struct txreq tx;
	} tmfs[8];
	uint32_t tmf_seq;

	/* Session recovery (RFC 7143 6.3.5: reinstatement with the same ISID). */
	uint64_t next_seq;
	time_t fail_time, next_attempt;
	int attempts;
	int expired;           /* past replacement_timeout: I/O fails until logged in again */
	char lost_reason[160];

	uint64_t commands;     /* sent, for status */
};

static time_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

struct session *session_new(const struct session_config *cfg)
{
	struct session *s = calloc(1, sizeof(*s));
	uint32_t n = cfg->max_tasks ? cfg->max_tasks : 128;

	if (!s)
		return NULL;
	if (n > MAX_SLOTS)
		n = MAX_SLOTS;
	s->cfg = *cfg;
	s->cfg.max_tasks = n;
	s->nsc = cfg->nconns ? (int)cfg->nconns : 1;
	if (s->nsc > SESSION_MAX_CONNS)
		s->nsc = SESSION_MAX_CONNS;
	s->want = 1;
	for (int i = 0; i < s->nsc; i++) {
		s->sc[i].s = s;
		s->sc[i].cid = (uint16_t)i;
		s->sc[i].portal = &cfg->portals[i % (cfg->nportals > 0 ? cfg->nportals : 1)];
	}
	s->slots = calloc(n, sizeof(*s->slots));
	s->free_slots = calloc(n, sizeof(*s->free_slots));
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	pthread_cond_init(&s->timer_cond, NULL);
	if (!s->slots || !s->free_slots) {
		session_free(s);
		return NULL;
	}
	for (uint32_t i = 0; i < n; i++)
		s->free_slots[s->nfree++] = (int)(n - 1 - i);
	{
		static unsigned sessions; /* spreads sessions over the loops */

		s->loop_base = __atomic_fetch_add(&sessions, 1, __ATOMIC_RELAXED);
	}
	/* ISID type "random" (RFC 7143 10.12.5): kept for the life of the session object, so a
	 * re-login reinstates rather than adds a session. */
	s->isid[0] = 0x80;
	RAND_bytes(s->isid + 1, 5);
	params_defaults(&s->params);
	return s;
}

const struct iscsi_params *session_params(const struct session *s)
{
	return &s->params;
}

uint16_t session_tsih(const struct session *s)
{
	return s->tsih;
}

const char *sconn_state_str(enum sconn_state st)
{
	switch (st) {
	case SCONN_UP: return "logged in";
	case SCONN_LOGGING_IN: return "logging in";
	case SCONN_FAILED: return "failed";
	case SCONN_CLEANING: return "cleaning up";
	default: return "down";
	}
}

/* A live task by tag; tasks whose result is already in are not live. */
static struct scsi_task *task_lookup(struct session *s, uint32_t itt)
{
	uint32_t slot = itt & (MAX_SLOTS - 1);
	struct scsi_task *t;

	if (slot >= s->cfg.max_tasks)
		return NULL;
	t = s->slots[slot];
	return t && t->itt == itt && !t->awaiting_tx ? t : NULL;
}

static void start_task(struct session *s, struct scsi_task *t, struct scsi_task **done_list);
static void complete_task(struct session *s, struct scsi_task *t, struct scsi_task **done_list);
static void run_done(struct scsi_task *list);
static void on_tmf_response(struct session *s, const struct pdu_hdr *h,
			    struct scsi_task **done_list);
static void check_recovery(struct session *s, time_t now);
static int queue_logout(struct session *s, struct sconn *sc);
static void resend_live(struct session *s);
static void cleanup_done(struct session *s, struct sconn *sc, uint8_t response,
			 struct scsi_task **done_list);

/* The writer is done with one of the task's PDU chains. */
static void tx_sent(void *ctx, int err)
{
	struct scsi_task *t = ctx;
	struct session *s = t->sess;
	struct scsi_task *done_list = NULL;

	(void)err; /* a failed write fails the connection, which fails the task */
	pthread_mutex_lock(&s->lock);
	if (--t->tx_refs == 0 && t->awaiting_tx) {
		t->awaiting_tx = 0;
		if (t->retry_pending) {
			t->retry_pending = 0;
			start_task(s, t, &done_list);
		} else {
			complete_task(s, t, &done_list);
		}
	}
	pthread_mutex_unlock(&s->lock);
	run_done(done_list);
}

/* The task no longer counts against its connection. Lock held. */
static void detach(struct scsi_task *t)
{
	if (t->sc) {
		t->sc->active--;
		t->sc = NULL;
	}
}

/* The connection with the fewest tasks, among those up; ties go round in turn. Lock held. */
static struct sconn *pick_conn(struct session *s)
{
	struct sconn *best = NULL;
	int start = (int)(s->rr++ % (uint32_t)s->nsc);

	for (int k = 0; k < s->nsc; k++) {
		struct sconn *sc = &s->sc[(start + k) % s->nsc];

		if (sc->state == SCONN_UP && (!best || sc->active < best->active))
			best = sc;
	}
	return best;
}

/* Whether commands may go out now. Lock held. */
static int can_send(const struct session *s)
{
	return s->state == SS_LOGGED_IN && s->nup > 0 && !s->logout_requested;
}

/* Queue a chain whose last PDU holds a reference on the task. Lock held. */
static void queue_chain(struct sconn *sc, struct scsi_task *t, struct txreq *first,
			struct txreq *last)
{
	last->sent = tx_sent;
	last->ctx = t;
	t->tx_refs++;
	if (conn_queue(sc->conn, first, last) < 0)
		t->tx_refs--; /* the connection is going down and will take the task with it */
}

/* Build the command PDU and any unsolicited data (ImmediateData, InitialR2T=No) and queue them
 * on the least busy connection. A retry (RFC 7143 7.2.1) keeps the tag and CmdSN. Called with
 * the lock held, can_send() true and, unless a retry, the window open. */
static void send_task(struct session *s, struct scsi_task *t, int retry)
{
	const struct iscsi_params *p = &s->params;
	struct sconn *sc = pick_conn(s);
	uint32_t imm = 0, unsol = 0, off;
	struct txreq *first = &t->tx, *last = &t->tx;
	uint32_t data_sn = 0;

	if (!retry)
		t->cmd_sn = s->cmd_sn++;
	t->sc = sc;
	sc->active++;
	sc->commands++;
	s->commands++;
	t->deadline = now_s() + (s->cfg.command_timeout ? s->cfg.command_timeout : 30);
	if (t->dir == TASK_DIR_WRITE) {
		/* Unsolicited data: immediate data, plus Data-Out PDUs when InitialR2T=No, all
		 * within FirstBurstLength (RFC 7143 13.10, 13.11, 13.14). */
		uint32_t limit = t->len < p->first_burst_length ? t->len : p->first_burst_length;

		if (p->immediate_data)
			imm = limit < sc->max_xmit_dsl ? limit : sc->max_xmit_dsl;
		unsol = p->initial_r2t ? imm : limit;
	}
	memset(&t->tx, 0, sizeof(t->tx));
	pdu_build_scsi_cmd(t->tx.bhs, t->dir == TASK_DIR_READ, t->dir == TASK_DIR_WRITE, t->lun,
			   t->itt, t->len, t->cmd_sn, sc->exp_stat_sn, t->cdb, t->cdb_len, imm,
			   unsol == imm);
	t->tx.data = t->buf;
	t->tx.dsl = imm;
	/* Unsolicited Data-Out PDUs up to FirstBurstLength (RFC 7143 11.7). The chain's last PDU
	 * holds the task: until it is written, the task's memory is still in use. */
	for (off = imm; off < unsol;) {
		uint32_t n = unsol - off < sc->max_xmit_dsl ? unsol - off : sc->max_xmit_dsl;
		struct txreq *d = calloc(1, sizeof(*d));

		if (!d)
			break; /* the target will ask with an R2T for what is missing */
		d->owned = 1;
		d->data = (uint8_t *)t->buf + off;
		d->dsl = n;
		pdu_build_data_out(d->bhs, off + n == unsol, t->lun, t->itt, RSVD_TAG,
				   sc->exp_stat_sn, data_sn++, off, n);
		last->next = d;
		last = d;
		off += n;
	}
	queue_chain(sc, t, first, last);
}

/* Send what the window allows from the pending list. Lock held. */
static void flush_pending(struct session *s)
{
	while (can_send(s) && s->pend_head && sn_le(s->cmd_sn, s->max_cmd_sn)) {
		struct scsi_task *t = s->pend_head;

		s->pend_head = t->next;
		if (!s->pend_head)
			s->pend_tail = NULL;
		t->next = NULL;
		send_task(s, t, 0);
	}
}

/* Whether new and waiting I/O may still wait for the session. Lock held. */
static int may_wait(const struct session *s)
{
	return s->state == SS_LOGGED_IN || s->state == SS_PAUSING || s->state == SS_PAUSED ||
	       (s->state == SS_RECOVERING && !s->expired && !s->cfg.fast_fail);
}

/* What a task that may not wait ends with. Lock held. */
static int no_wait_error(const struct session *s)
{
	return s->state == SS_RECOVERING && s->cfg.fast_fail ? -ENOTCONN : -EIO;
}

static void start_task(struct session *s, struct scsi_task *t, struct scsi_task **done_list)
{
	detach(t);
	if (!may_wait(s)) {
		t->result = no_wait_error(s);
		complete_task(s, t, done_list);
		return;
	}
	t->delayed = 0;
	t->itt = (++s->itt_gen << SLOT_BITS | (uint32_t)t->slot) & 0x7fffffff;
	if (t->itt == RSVD_TAG)
		t->itt = (uint32_t)t->slot;
	t->xferred = 0;
	t->data_sn = 0;
	t->status = 0;
	t->sense_len = 0;
	t->residual = 0;
	t->result = 0;
	t->next = NULL;
	if (can_send(s) && !s->pend_head && sn_le(s->cmd_sn, s->max_cmd_sn)) {
		send_task(s, t, 0);
		return;
	}
	if (s->pend_tail)
		s->pend_tail->next = t;
	else
		s->pend_head = t;
	s->pend_tail = t;
}

/* Give t a place in the table and start it. Lock held. */
static void admit(struct session *s, struct scsi_task *t, struct scsi_task **done_list)
{
	t->slot = s->free_slots[--s->nfree];
	s->slots[t->slot] = t;
	t->sc = NULL;
	t->seq = s->next_seq++;
	t->retries = 0;
	t->timeouts = 0;
	t->aborting = 0;
	t->tx_refs = 0;
	t->awaiting_tx = 0;
	t->retry_pending = 0;
	start_task(s, t, done_list);
}

void session_submit(struct session *s, struct scsi_task *t)
{
	struct scsi_task *done_list = NULL;

	t->sess = s;
	t->next = NULL;
	pthread_mutex_lock(&s->lock);
	if (!may_wait(s)) {
		t->result = no_wait_error(s);
		t->next = done_list;
		done_list = t;
	} else if (s->nfree == 0 || s->slot_head) {
		/* In line for a place: complete_task hands it the next one that frees. */
		if (s->slot_tail)
			s->slot_tail->next = t;
		else
			s->slot_head = t;
		s->slot_tail = t;
	} else {
		admit(s, t, &done_list);
	}
	pthread_mutex_unlock(&s->lock);
	run_done(done_list);
}

struct sync_wait {
	pthread_mutex_t m;
	pthread_cond_t c;
	int done;
};

static void sync_done(struct scsi_task *t)
{
	struct sync_wait *w = t->priv;

	pthread_mutex_lock(&w->m);
	w->done = 1;
	pthread_cond_signal(&w->c);
	pthread_mutex_unlock(&w->m);
}

int session_exec(struct session *s, struct scsi_task *t)
{
	struct sync_wait w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

	if (evloop_current()) {
		/* The loop would wait for itself. */
		log_err("%s: internal error: a synchronous command on an event loop", s->cfg.label);
		t->result = -EDEADLK;
		return t->result;
	}
	t->done = sync_done;
	t->priv = &w;
	session_submit(s, t);
	pthread_mutex_lock(&w.m);
	while (!w.done)
		pthread_cond_wait(&w.c, &w.m);
	pthread_mutex_unlock(&w.m);
	pthread_mutex_destroy(&w.m);
	pthread_cond_destroy(&w.c);
	return t->result;
}

/* Take a finished task out of the table, or mark it to be when the writer lets go of it;
 * the caller runs done() after dropping the lock. Lock held. */
static void complete_task(struct session *s, struct scsi_task *t, struct scsi_task **done_list)
{
	detach(t);
	if (t->tx_refs) {
		t->awaiting_tx = 1;
		return;
	}
	s->slots[t->slot] = NULL;
	s->free_slots[s->nfree++] = t->slot;
	t->next = *done_list;
	*done_list = t;
	if (s->slot_head) {
		struct scsi_task *w = s->slot_head;

		s->slot_head = w->next;
		if (!s->slot_head)
			s->slot_tail = NULL;
		w->next = NULL;
		admit(s, w, done_list);
	}
}

static void run_done(struct scsi_task *list)
{
	while (list) {
		struct scsi_task *next = list->next;

		list->next = NULL;
		list->done(list);
		list = next;
	}
}

/* Send t again as a new task, at once or, while the writer still holds one of its PDU chains,
 * as soon as it lets go (tx_sent). Lock held. */
static void restart_task(struct session *s, struct scsi_task *t, struct scsi_task **done_list)
{
	detach(t);
	if (t->tx_refs) {
		t->awaiting_tx = 1;
		t->retry_pending = 1;
		return;
	}
	start_task(s, t, done_list);
}

/* A status arrived. Unit attentions and busy targets are retried here, a bounded number of
 * times, so every layer above sees only final results. Lock held. */
static void finish_task(struct session *s, struct scsi_task *t, struct scsi_task **done_list)
{
	if (t->result == 0 && t->status != SCSI_STATUS_GOOD && t->retries < TASK_RETRIES) {
		struct scsi_sense sn;

		scsi_sense_parse(t->sense, t->sense_len, &sn);
		if (scsi_status_to_errno(t->status, &sn) == -EAGAIN) {
			if (sn.valid && sn.key == SENSE_UNIT_ATTENTION) {
				const char *what = scsi_asc_name(sn.asc, sn.ascq);

				/* A thin pool nearing full is for the operator to act on. */
				log_msg(sn.asc == 0x38 && sn.ascq == 0x07 ? LOG_LVL_WARN : LOG_LVL_INFO,
					"%s: unit attention on LUN %u: %02x/%02x%s%s%s", s->cfg.label,
					scsi_lun_number(t->lun), sn.asc, sn.ascq, what ? " (" : "",
					what ? what : "", what ? ")" : "");
				if (s->cfg.on_unit_attention)
					s->cfg.on_unit_attention(s->cfg.ua_arg, t->lun, sn.asc,
								 sn.ascq);
			}
			t->retries++;
			if (t->tx_refs || sn.key == SENSE_UNIT_ATTENTION) {
				restart_task(s, t, done_list);
			} else {
				/* Becoming ready, busy, task set full: wait before asking again,
				 * 1, 2, 4... seconds; the timer thread sends it. */
				detach(t);
				t->delayed = 1;
				t->itt = RSVD_TAG; /* nothing may arrive for the old tag */
				t->retry_at = now_s() + (1 << (t->retries < 4 ? t->retries - 1 : 3));
			}
			return;
		}
	}
	complete_task(s, t, done_list);
}

static void update_window(struct session *s, uint32_t exp, uint32_t max)
{
	/* RFC 7143 4.2.2.1: ignore values where MaxCmdSN < ExpCmdSN - 1. */
	if (sn_lt(max, exp - 1))
		return;
	if (sn_lt(s->exp_cmd_sn, exp))
		s->exp_cmd_sn = exp;
	if (sn_lt(s->max_cmd_sn, max))
		s->max_cmd_sn = max;
	flush_pending(s);
}

static int rx_begin(void *arg, const struct pdu_hdr *h, void **dst, char *err, size_t errlen)
{
	struct sconn *sc = arg;
	struct session *s = sc->s;
	struct scsi_task *t;
	int r = 0;

	if (h->opcode != OP_DATA_IN)
		return 0;
	pthread_mutex_lock(&s->lock);
	t = task_lookup(s, h->itt);
	if (!t || t->dir != TASK_DIR_READ) {
		snprintf(err, errlen, "SCSI Data-In for %s task tag 0x%08x",
			 t ? "a non-read" : "an unknown", h->itt);
		r = -EPROTO;
	} else if (t->sc != sc) {
		snprintf(err, errlen, "SCSI Data-In for task 0x%08x on connection %u, not on the "
			 "one it was sent on", h->itt, sc->cid);
		r = -EPROTO;
	} else if ((uint64_t)h->u.data_in.offset + h->dsl > t->len) {
		snprintf(err, errlen,
			 "SCSI Data-In at offset %u of %u bytes beyond the %u-byte buffer (task 0x%08x)",
			 h->u.data_in.offset, h->dsl, t->len, h->itt);
		r = -EPROTO;
	} else if (s->params.data_pdu_in_order && s->params.data_sequence_in_order &&
		   h->u.data_in.offset != t->xferred) {
		snprintf(err, errlen, "SCSI Data-In at offset %u, expected %u (data out of order)",
			 h->u.data_in.offset, t->xferred);
		r = -EPROTO;
	} else if (h->u.data_in.data_sn != t->data_sn) {
		/* A Data-In was lost (RFC 7143 7.9): at ErrorRecoveryLevel 0 the connection
		 * goes and the command is sent again once it is back. */
		snprintf(err, errlen, "SCSI Data-In with DataSN %u where %u was due (task 0x%08x)",
			 h->u.data_in.data_sn, t->data_sn, h->itt);
		r = -EPROTO;
	} else {
		t->data_sn++;
		*dst = (uint8_t *)t->buf + h->u.data_in.offset;
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* The residual count of a status, with the underflow flag (Data-In or SCSI Response). */
static void take_residual(struct scsi_task *t, uint8_t flags, uint32_t residual)
{
	if (flags & FL_UNDERFLOW)
		t->residual = residual > t->len ? t->len : residual;
}

/* Answer an R2T with Data-Out PDUs from the task's buffer (RFC 7143 11.8). Lock held. */
static int answer_r2t(struct session *s, struct sconn *sc, const struct pdu_hdr *h, char *err,
		      size_t errlen)
{
	struct scsi_task *t = task_lookup(s, h->itt);
	uint32_t off = h->u.r2t.offset, want = h->u.r2t.length, end, data_sn = 0;
	struct txreq *first = NULL, *last = NULL;

	if (!t || t->dir != TASK_DIR_WRITE || t->sc != sc) {
		snprintf(err, errlen, "R2T for %s task tag 0x%08x",
			 !t ? "an unknown" : t->dir != TASK_DIR_WRITE ? "a non-write"
								      : "another connection's",
			 h->itt);
		return -EPROTO;
	}
	if (want == 0 || (uint64_t)off + want > t->len || want > s->params.max_burst_length) {
		snprintf(err, errlen,
			 "R2T asks for %u bytes at offset %u of a %u-byte write (MaxBurstLength %u)",
			 want, off, t->len, s->params.max_burst_length);
		return -EPROTO;
	}
	for (end = off + want; off < end;) {
		uint32_t n = end - off < sc->max_xmit_dsl ? end - off : sc->max_xmit_dsl;
		struct txreq *d = calloc(1, sizeof(*d));

		if (!d) {
			snprintf(err, errlen, "out of memory answering an R2T");
			while (first) {
				struct txreq *next = first->next;

				free(first);
				first = next;
			}
			return -ENOMEM;
		}
		d->owned = 1;
		d->data = (uint8_t *)t->buf + off;
		d->dsl = n;
		pdu_build_data_out(d->bhs, off + n == end, t->lun, t->itt, h->u.r2t.ttt, sc->exp_stat_sn,
				   data_sn++, off, n);
		if (last)
			last->next = d;
		else
			first = d;
		last = d;
		off += n;
	}
	queue_chain(sc, t, first, last);
	return 0;
}

static void answer_nop_in(struct session *s, struct sconn *sc, const struct pdu_hdr *h,
			  const void *data)
{
	struct txreq *r = calloc(1, sizeof(*r) + h->dsl);

	if (!r)
		return;
	r->owned = 1;
	if (h->dsl) {
		memcpy(r + 1, data, h->dsl); /* ping data goes back (RFC 7143 11.18) */
		r->data = r + 1;
		r->dsl = h->dsl;
	}
	pdu_build_nop_out(r->bhs, h->lun, RSVD_TAG, h->u.nop_in.ttt, s->cmd_sn, sc->exp_stat_sn,
			  h->dsl);
	conn_queue(sc->conn, r, r);
}

static const char *reject_reason(uint8_t r)
{
	switch (r) {
	case 0x02: return "data (payload) digest error";
	case 0x03: return "SNACK reject";
	case 0x04: return "protocol error";
	case 0x05: return "command not supported";
	case 0x06: return "immediate command reject";
	case 0x07: return "task in progress";
	case 0x08: return "invalid data ack";
	case 0x09: return "invalid PDU field";
	case 0x0a: return "long operation reject";
	case 0x0b: return "negotiation reset";
	case 0x0c: return "waiting for logout";
	default: return "unknown reason";
	}
}

/* Drop every connection: the session is reinstated. Lock held. */
static void drop_all(struct session *s, const char *why)
{
	s->dropping_all = 1;
	for (int i = 0; i < s->nsc; i++)
		if (s->sc[i].conn && (s->sc[i].state == SCONN_UP || s->sc[i].state == SCONN_CLEANING))
			conn_abort(s->sc[i].conn, why);
}

/* Queue a Logout "close the connection" (RFC 7143 11.14.1, reason 1) for sc's CID on via:
 * the target then ends every task allegiant to sc. Lock held. */
static int start_cleanup(struct session *s, struct sconn *sc, struct sconn *via)
{
	memset(&sc->cleanup_tx, 0, sizeof(sc->cleanup_tx));
	pdu_build_logout(sc->cleanup_tx.bhs, 1, CLEANUP_TAG(sc->cid), sc->cid, s->cmd_sn,
			 via->exp_stat_sn);
	if (conn_queue(via->conn, &sc->cleanup_tx, &sc->cleanup_tx) < 0)
		return -EPIPE;
	sc->state = SCONN_CLEANING;
	sc->cleanup_deadline = now_s() + LOGOUT_WAIT_S * 2;
	return 0;
}

/* AsyncEvent 1 (RFC 7143 11.9.1): the target wants a connection logged out. With others up,
 * only this one goes and comes back; alone, the session logs out and in again. Lock held. */
static void on_logout_request(struct session *s, struct sconn *sc, const char *asks)
{
	if (sc->state != SCONN_UP || s->state != SS_LOGGED_IN || s->logout_requested)
		return;
	if (s->nup > 1) {
		log_info("%s: %s asks for %s on connection %u; logging it out and in again",
			 s->cfg.label, s->cfg.target_name, asks, sc->cid);
		s->nup--;
		sc->self_logout = 1;
		snprintf(sc->reason, sizeof(sc->reason), "logged out at the target's request");
		if (start_cleanup(s, sc, sc) < 0)
			conn_abort(sc->conn, "cannot send the Logout the target asked for");
		return;
	}
	log_info("%s: %s asks for %s; logging out and in again", s->cfg.label, s->cfg.target_name,
		 asks);
	s->logout_requested = 1;
	queue_logout(s, sc);
}

/* AsyncEvent 2 (this connection, Parameter1 its CID) or 3 (all of them) (RFC 7143 11.9.1):
 * the target will drop them and wants Parameter2 seconds before a login. Lock held. */
static void on_drop_notice(struct session *s, const struct pdu_hdr *h)
{
	uint32_t cid = h->u.async.param1, wait = h->u.async.param2;

	if (wait > 3600)
		wait = 3600; /* DefaultTime2Wait's range */
	if (h->u.async.event == 2 && s->nup > 1) {
		for (int i = 0; i < s->nsc; i++)
			if (s->sc[i].cid == cid && s->sc[i].state == SCONN_UP) {
				s->sc[i].notice_wait = wait;
				log_info("%s: %s will drop connection %u; %u s before it logs in again",
					 s->cfg.label, s->cfg.target_name, cid, wait);
			}
		return;
	}
	s->notice_wait = wait;
	log_info("%s: %s will drop the session's connections; %u s before logging in again",
		 s->cfg.label, s->cfg.target_name, wait);
}

static int rx_end(void *arg, const struct pdu_hdr *h, void *data, char *err, size_t errlen)
{
	struct sconn *sc = arg;
	struct session *s = sc->s;
	struct scsi_task *t, *done_list = NULL;
	int r = 0;

	pthread_mutex_lock(&s->lock);
	sc->last_rx = now_s();
	/* StatSN (RFC 7143 4.2.2.2) counts per connection. At ErrorRecoveryLevel 0 each status
	 * carries exactly the next number; a gap means a lost or invented status and ends the
	 * connection. Other PDUs that advance it must stay near it. */
	{
		int strict = h->opcode == OP_SCSI_RSP || h->opcode == OP_TMF_RSP ||
			     h->opcode == OP_TEXT_RSP || h->opcode == OP_LOGOUT_RSP ||
			     (h->opcode == OP_DATA_IN && (h->flags & FL_STATUS));
		int advances = strict || h->opcode == OP_ASYNC || h->opcode == OP_REJECT ||
			       (h->opcode == OP_NOP_IN && h->itt != RSVD_TAG);
		int32_t gap = (int32_t)(h->stat_sn - sc->exp_stat_sn);

		if ((strict && gap != 0) || (advances && (gap < -65536 || gap > 65536))) {
			snprintf(err, errlen, "%s with StatSN 0x%08x where 0x%08x was due",
				 pdu_opcode_name(h->opcode), h->stat_sn, sc->exp_stat_sn);
			pthread_mutex_unlock(&s->lock);
			return -EPROTO;
		}
		if (advances && gap >= 0)
			sc->exp_stat_sn = h->stat_sn + 1;
	}
	update_window(s, h->exp_cmd_sn, h->max_cmd_sn);

	switch (h->opcode) {
	case OP_DATA_IN:
		t = task_lookup(s, h->itt);
		if (!t) { /* rx_begin checked it; the table does not change in between */
			snprintf(err, errlen, "SCSI Data-In for a vanished task 0x%08x", h->itt);
			r = -EPROTO;
			break;
		}
		t->xferred += h->dsl;
		if (h->flags & FL_STATUS) {
			t->status = h->u.data_in.status;
			take_residual(t, h->flags, h->u.data_in.residual);
			finish_task(s, t, &done_list);
		}
		break;
	case OP_SCSI_RSP:
		t = task_lookup(s, h->itt);
		if (!t || t->sc != sc) {
			snprintf(err, errlen, "SCSI Response for %s task tag 0x%08x",
				 t ? "another connection's" : "an unknown", h->itt);
			r = -EPROTO;
			break;
		}
		if (h->u.scsi_rsp.response != 0) {
			log_warn("%s: target failed the command (iSCSI response 0x%02x)", s->cfg.label,
				 h->u.scsi_rsp.response);
			t->result = -EIO;
		}
		t->status = h->u.scsi_rsp.status;
		if (h->dsl >= 2) {
			uint32_t sl = get_be16(data);

			if (sl > h->dsl - 2)
				sl = h->dsl - 2;
			if (sl > sizeof(t->sense))
				sl = sizeof(t->sense);
			memcpy(t->sense, (uint8_t *)data + 2, sl);
			t->sense_len = sl;
		}
		take_residual(t, h->flags, h->u.scsi_rsp.residual);
		finish_task(s, t, &done_list);
		break;
	case OP_R2T:
		r = answer_r2t(s, sc, h, err, errlen);
		break;
	case OP_NOP_IN:
		if (h->u.nop_in.ttt != RSVD_TAG)
			answer_nop_in(s, sc, h, data);
		else if (h->itt == sc->ping_itt && sc->ping_sent)
			sc->ping_sent = 0; /* our ping answered */
		else if (h->itt != RSVD_TAG) {
			snprintf(err, errlen, "NOP-In for an unknown ping tag 0x%08x", h->itt);
			r = -EPROTO;
		}
		break;
	case OP_ASYNC:
		log_info("%s: asynchronous message on connection %u, event %u (code %u)",
			 s->cfg.label, sc->cid, h->u.async.event, h->u.async.vcode);
		/* Event 1: log out (RFC 7143 11.9.1), at once; the tasks go on as after a loss.
		 * Event 4, a request to negotiate parameters, must be met with a Text Request or
		 * a Logout: the Logout, since the login that follows negotiates them all. */
		if (h->u.async.event == 1)
			on_logout_request(s, sc, "a logout");
		else if (h->u.async.event == 4)
			on_logout_request(s, sc, "parameter negotiation");
		else if (h->u.async.event == 2 || h->u.async.event == 3)
			on_drop_notice(s, h);
		/* Event 0 carries SCSI sense data: a unit attention sent without a command. */
		if (h->u.async.event == 0 && h->dsl >= 2 && s->cfg.on_unit_attention) {
			struct scsi_sense sn;
			uint32_t sl = get_be16(data);

			if (sl > h->dsl - 2)
				sl = h->dsl - 2;
			scsi_sense_parse((uint8_t *)data + 2, sl, &sn);
			if (sn.valid)
				s->cfg.on_unit_attention(s->cfg.ua_arg, h->lun, sn.asc, sn.ascq);
		}
		break;
	case OP_REJECT:
		snprintf(err, errlen, "the target rejected a PDU: %s", reject_reason(h->u.reject.reason));
		r = -EPROTO;
		break;
	case OP_TMF_RSP:
		on_tmf_response(s, h, &done_list);
		break;
	case OP_LOGOUT_RSP:
		if (h->itt != LOGOUT_TAG) {
			uint32_t cid = h->itt & 0xffffu;

			if ((h->itt & 0xffff0000u) != CLEANUP_TAG(0) || cid >= (uint32_t)s->nsc ||
			    s->sc[cid].state != SCONN_CLEANING) {
				snprintf(err, errlen, "Logout Response for an unknown tag 0x%08x",
					 h->itt);
				r = -EPROTO;
				break;
			}
			cleanup_done(s, &s->sc[cid], h->u.logout_rsp.response, &done_list);
			break;
		}
		if (s->logout_requested && s->state == SS_LOGGED_IN) {
			snprintf(err, errlen, "logged out at the target's request");
			r = -ECONNRESET; /* drops the connection: the session recovers */
			break;
		}
		s->logout_answered = 1;
		pthread_cond_broadcast(&s->cond);
		break;
	default:
		log_dbg("%s: ignoring %s", s->cfg.label, pdu_opcode_name(h->opcode));
		break;
	}
	pthread_mutex_unlock(&s->lock);
	run_done(done_list);
	return r;
}

/* Fail every task in the table and in the queue. Lock held. */
static void fail_all(struct session *s, struct scsi_task **done_list)
{
	for (uint32_t i = 0; i < s->cfg.max_tasks; i++) {
		struct scsi_task *t = s->slots[i];

		if (!t || t->awaiting_tx)
			continue; /* those complete when the send thread lets go */
		t->result = no_wait_error(s);
		complete_task(s, t, done_list);
	}
	s->pend_head = s->pend_tail = NULL; /* pending tasks are in the table too */
	while (s->slot_head) {
		struct scsi_task *t = s->slot_head;

		s->slot_head = t->next;
		t->result = no_wait_error(s);
		t->next = *done_list;
		*done_list = t;
	}
	s->slot_tail = NULL;
	pthread_cond_broadcast(&s->cond);
}

static uint32_t time2wait(const struct session *s)
{
	return s->params.default_time2wait ? s->params.default_time2wait : 1;
}

/* The wait before logging in again after a loss: DefaultTime2Wait, or longer when the target
 * said it would drop the connection and gave its own (AsyncEvent 2 and 3); that is used once. */
static uint32_t wait_after_loss(const struct session *s, uint32_t *notice)
{
	uint32_t w = time2wait(s);

	if (*notice > w)
		w = *notice;
	*notice = 0;
	return w;
}

/* A connection is gone. With others up, its tasks wait for the cleanup (timer thread). The
 * last one: keep the tasks for resending after a reinstatement, except those that had already
 * timed out and been aborted, which end with EIO (their timeout is the application's
 * answer); the timer thread reconnects. Receive thread of the lost connection. */
static void on_failed(void *arg, int error, const char *reason)
{
	struct sconn *sc = arg;
	struct session *s = sc->s;
	struct scsi_task *done_list = NULL;

	(void)error;
	pthread_mutex_lock(&s->lock);
	if (sc->state == SCONN_CLEANING && sc->self_logout) {
		/* Closed by the target before its Logout Response came: the deadline decides. */
	} else if (sc->state == SCONN_UP && s->state == SS_LOGGED_IN && s->nup > 1 &&
		   !s->logout_requested && !s->dropping_all) {
		s->nup--;
		sc->state = SCONN_FAILED;
		sc->ping_sent = 0;
		/* DefaultTime2Wait before cleanup */
		sc->next_attempt = now_s() + wait_after_loss(s, &sc->notice_wait);
		snprintf(sc->reason, sizeof(sc->reason), "%s", reason);
		for (size_t i = 0; i < sizeof(s->tmfs) / sizeof(s->tmfs[0]); i++)
			if (s->tmfs[i].in_use && s->tmfs[i].sc == sc)
				s->tmfs[i].in_use = 0;
		log_err("%s: connection %u to %s:%u lost: %s; %d connection(s) carry on",
			s->cfg.label, sc->cid, sc->portal->addr, sc->portal->port, reason, s->nup);
		pthread_cond_broadcast(&s->timer_cond);
	} else if (sc->state == SCONN_UP && s->state == SS_LOGGED_IN) {
		s->nup = 0;
		sc->state = SCONN_FAILED;
		snprintf(sc->reason, sizeof(sc->reason), "%s", reason);
		if (s->logout_requested)
			log_info("%s: %s; logging in again", s->cfg.label, reason);
		else
			log_err("%s: connection to %s lost: %s; recovering the session",
				s->cfg.label, s->cfg.target_name, reason);
		s->logout_requested = 0;
		s->dropping_all = 0;
		snprintf(s->lost_reason, sizeof(s->lost_reason), "%s", reason);
		s->state = SS_RECOVERING;
		s->generation++;
		s->fail_time = now_s();
		s->next_attempt = s->fail_time + wait_after_loss(s, &s->notice_wait);
		s->attempts = 0;
		s->expired = 0;
		memset(s->tmfs, 0, sizeof(s->tmfs));
		s->pend_head = s->pend_tail = NULL; /* all live tasks are resent in order */
		for (uint32_t i = 0; i < s->cfg.max_tasks; i++) {
			struct scsi_task *t = s->slots[i];

			if (t && !t->awaiting_tx && t->aborting) {
				t->result = -EIO;
				complete_task(s, t, &done_list);
			}
		}
		if (s->cfg.replacement_timeout == 0 || s->cfg.fast_fail) {
			s->expired = !s->cfg.fast_fail;
			fail_all(s, &done_list);
		}
		pthread_cond_broadcast(&s->timer_cond);
	}
	pthread_mutex_unlock(&s->lock);
	run_done(done_list);
}

/* The target has closed a lost connection (or refused to): its tasks go on the others.
 * Those the target had acknowledged (CmdSN below ExpCmdSN) are gone there and start anew;
 * the others may have left a gap in the CmdSN order, so they are retried with their tag
 * and CmdSN (RFC 7143 7.2.1: allowed on another connection once the original is logged
 * out). Lock held. */
static void cleanup_done(struct session *s, struct sconn *sc, uint8_t response,
			 struct scsi_task **done_list)
{
	struct scsi_task **live;
	int n = 0, retried = 0;

	/* 0: closed; 1: CID not found, which also means nothing of it is left. */
	if (response > 1) {
		char why[160];

		snprintf(why, sizeof(why), "the target could not close lost connection %u "
			 "(Logout response %u); reinstating the session", sc->cid, response);
		log_err("%s: %s", s->cfg.label, why);
		drop_all(s, why);
		return;
	}
	live = calloc(s->cfg.max_tasks, sizeof(*live));
	if (!live) {
		drop_all(s, "out of memory moving commands off a lost connection");
		return;
	}
	for (uint32_t i = 0; i < s->cfg.max_tasks; i++) {
		struct scsi_task *t = s->slots[i];

		if (t && t->sc == sc && !t->awaiting_tx)
			live[n++] = t;
	}
	sc->state = SCONN_DOWN;
	sc->self_logout = 0;
	sc->next_attempt = now_s() + 1;
	sc->attempts = 0;
	for (int i = 0; i < n; i++) {
		struct scsi_task *t = live[i];

		detach(t);
		if (t->aborting) {
			t->result = -EIO; /* timed out before: the application has its answer */
			complete_task(s, t, done_list);
		} else if (!sn_lt(t->cmd_sn, s->exp_cmd_sn) && can_send(s)) {
			t->xferred = 0;
			t->data_sn = 0;
			t->status = 0;
			t->sense_len = 0;
			t->residual = 0;
			send_task(s, t, 1);
			retried++;
		} else {
			start_task(s, t, done_list);
		}
	}
	free(live);
	log_info("%s: connection %u closed at the target; %d command(s) retried and %d sent "
		 "again on the other connection(s)",
		 s->cfg.label, sc->cid, retried, n - retried);
}

/* Task management requests go on the connection of the task they name, or the least busy.
 * Lock held. */
static int send_tmf(struct session *s, int function, uint64_t lun, struct scsi_task *t)
{
	struct sconn *sc = t ? t->sc : pick_conn(s);
	struct tmf *m = NULL;

	if (!sc || sc->state != SCONN_UP)
		return -EPIPE;
	for (size_t i = 0; i < sizeof(s->tmfs) / sizeof(s->tmfs[0]) && !m; i++)
		if (!s->tmfs[i].in_use)
			m = &s->tmfs[i];
	if (!m)
		return -EBUSY;
	memset(m, 0, sizeof(*m));
	m->in_use = 1;
	m->function = function;
	m->itt = TMF_TAG(++s->tmf_seq);
	m->ref_itt = t ? t->itt : RSVD_TAG;
	m->lun = lun;
	m->sc = sc;
	m->deadline = now_s() + (s->cfg.command_timeout ? s->cfg.command_timeout : 30);
	pdu_build_tmf(m->tx.bhs, function, lun, m->itt, m->ref_itt, s->cmd_sn, sc->exp_stat_sn,
		      t ? t->cmd_sn : 0);
	if (conn_queue(sc->conn, &m->tx, &m->tx) < 0) {
		m->in_use = 0;
		return -EPIPE;
	}
	return 0;
}

/* Fail a task that was aborted (or whose LUN was reset). Lock held. */
static void abort_done(struct session *s, struct scsi_task *t, struct scsi_task **done_list)
{
	t->result = -EIO;
	complete_task(s, t, done_list);
}

/* The abort did not work: reset the LUN; if that cannot be sent, reinstate the session. */
static void escalate(struct session *s, uint64_t lun, const char *why)
{
	log_warn("%s: %s; resetting LUN %u", s->cfg.label, why, scsi_lun_number(lun));
	if (send_tmf(s, TMF_LOGICAL_UNIT_RESET, lun, NULL) < 0)
		drop_all(s, "cannot send LOGICAL UNIT RESET");
}

static void on_tmf_response(struct session *s, const struct pdu_hdr *h,
			    struct scsi_task **done_list)
{
	uint8_t response = h->u.tmf_rsp.response;
	struct tmf *m = NULL;

	for (size_t i = 0; i < sizeof(s->tmfs) / sizeof(s->tmfs[0]) && !m; i++)
		if (s->tmfs[i].in_use && s->tmfs[i].itt == h->itt)
			m = &s->tmfs[i];
	if (!m) {
		log_warn("%s: Task Management Response for an unknown tag 0x%08x", s->cfg.label,
			 h->itt);
		return;
	}
	m->in_use = 0;
	if (m->function == TMF_ABORT_TASK) {
		struct scsi_task *t = task_lookup(s, m->ref_itt);

		if (!t)
			return; /* its status arrived first */
		if ((response == 0 || response == 1) && t->timeouts < TIMEOUT_RETRIES) {
			/* The target has no such task now (RFC 7143 11.6.1): a new one with a new
			 * tag and CmdSN cannot meet the old one there. */
			t->timeouts++;
			t->aborting = 0;
			log_warn("%s: command 0x%08x to LUN %u aborted after %u s (%s); sending it "
				 "again", s->cfg.label, t->itt, scsi_lun_number(t->lun),
				 s->cfg.command_timeout, tmf_response_str(response));
			restart_task(s, t, done_list);
		} else if (response == 0 || response == 1) {
			log_warn("%s: command 0x%08x to LUN %u aborted after %u s, %d time(s); "
				 "failing it", s->cfg.label, t->itt, scsi_lun_number(t->lun),
				 s->cfg.command_timeout, t->timeouts + 1);
			abort_done(s, t, done_list);
		} else {
			char why[96];

			snprintf(why, sizeof(why), "ABORT TASK refused: %s",
				 tmf_response_str(response));
			escalate(s, t->lun, why);
		}
		return;
	}
	if (response != 0) {
		char why[96];

		snprintf(why, sizeof(why), "LOGICAL UNIT RESET failed: %s",
			 tmf_response_str(response));
		drop_all(s, why);
		return;
	}
	log_warn("%s: LUN %u reset", s->cfg.label, scsi_lun_number(m->lun));
	/* A reset ends every task of the LUN (SAM-5 5.7) that the target has seen; none of them
	 * will answer now. */
	for (uint32_t i = 0; i < s->cfg.max_tasks; i++) {
		struct scsi_task *t = s->slots[i];

		if (t && !t->awaiting_tx && t->lun == m->lun && t->sc)
			abort_done(s, t, done_list);
	}
}

/* Commands past their deadline, and task management requests past theirs. Lock held. */
static void check_timeouts(struct session *s, time_t now)
{
	for (size_t i = 0; i < sizeof(s->tmfs) / sizeof(s->tmfs[0]); i++) {
		struct tmf *m = &s->tmfs[i];

		if (!m->in_use || now < m->deadline)
			continue;
		m->in_use = 0;
		if (m->function == TMF_ABORT_TASK)
			escalate(s, m->lun, "no answer to ABORT TASK");
		else
			drop_all(s, "no answer to LOGICAL UNIT RESET");
	}
	for (uint32_t i = 0; i < s->cfg.max_tasks; i++) {
		struct scsi_task *t = s->slots[i];

		if (t && t->delayed && now >= t->retry_at) {
			struct scsi_task *done_list = NULL;

			start_task(s, t, &done_list);
			if (done_list) {
				pthread_mutex_unlock(&s->lock);
				run_done(done_list);
				pthread_mutex_lock(&s->lock);
			}
			continue;
		}
		/* Not sent yet (waiting for the CmdSN window), or waiting for its lost connection
		 * to be cleaned up: no timeout. */
		if (!t || !t->sc || t->sc->state != SCONN_UP || t->delayed || t->awaiting_tx ||
		    t->aborting || now < t->deadline)
			continue;
		t->aborting = 1;
		log_warn("%s: command 0x%08x (opcode 0x%02x) to LUN %u timed out after %u s; aborting",
			 s->cfg.label, t->itt, t->cdb[0], scsi_lun_number(t->lun),
			 s->cfg.command_timeout);
		if (send_tmf(s, TMF_ABORT_TASK, t->lun, t) < 0)
			escalate(s, t->lun, "cannot send ABORT TASK");
	}
}

static void send_ping(struct session *s, struct sconn *sc)
{
	sc->ping_itt = PING_TAG(++s->ping_seq);
	memset(&sc->ping_tx, 0, sizeof(sc->ping_tx));
	/* An immediate ping to LUN 0 that asks for an answer: valid ITT, reserved TTT. */
	pdu_build_nop_out(sc->ping_tx.bhs, 0, sc->ping_itt, RSVD_TAG, s->cmd_sn, sc->exp_stat_sn,
			  0);
	sc->ping_sent = now_s();
	if (conn_queue(sc->conn, &sc->ping_tx, &sc->ping_tx) < 0)
		sc->ping_sent = 0;
}

/* Stop a connection the session no longer uses, keep its byte counts for status, free it.
 * Lock held; dropped meanwhile, since its threads' last callbacks take the lock. */
static void retire_conn(struct session *s, struct sconn *sc)
{
	struct conn *old = sc->conn;
	uint64_t tx, rx;

	if (!old)
		return;
	sc->conn = NULL;
	pthread_mutex_unlock(&s->lock);
	conn_stop(old);
	conn_counters(old, &tx, &rx);
	__atomic_add_fetch(&sc->old_tx, tx, __ATOMIC_RELAXED);
	__atomic_add_fetch(&sc->old_rx, rx, __ATOMIC_RELAXED);
	conn_free(old);
	pthread_mutex_lock(&s->lock);
}

static void *add_main(void *arg);

/* With commands held up (a lost connection leaves a gap in the CmdSN order, and the target
 * then answers nothing on the others either), the connection silent the longest is the
 * suspect: it alone is pinged, and only while no ping is out, so the healthy ones are not
 * failed with it. NULL while a ping is out. Lock held. */
static struct sconn *first_suspect(struct session *s)
{
	struct sconn *oldest = NULL;

	for (int i = 0; i < s->nsc; i++) {
		struct sconn *sc = &s->sc[i];

		if (sc->state != SCONN_UP)
			continue;
		if (sc->ping_sent)
			return NULL;
		if (sc->active && (!oldest || sc->last_rx < oldest->last_rx))
			oldest = sc;
	}
	return oldest;
}

/* Per connection: pings, cleaning up lost ones, adding the missing. Lock held. */
static void check_conns(struct session *s, time_t now)
{
	for (int i = 0; i < s->nsc && s->state == SS_LOGGED_IN && !s->timer_stop; i++) {
		struct sconn *sc = &s->sc[i];

		switch (sc->state) {
		case SCONN_UP:
			if (!s->cfg.nopout_timeout)
				break;
			if (sc->ping_sent &&
			    now - sc->ping_sent >= (time_t)s->cfg.nopout_response_timeout) {
				char why[128];

				snprintf(why, sizeof(why), "no answer to a NOP-Out ping within %u s",
					 s->cfg.nopout_response_timeout);
				sc->ping_sent = 0;
				conn_abort(sc->conn, why);
			} else if (!sc->ping_sent && now - sc->last_rx >= (time_t)s->cfg.nopout_timeout) {
				/* A ping is immediate: it carries the next CmdSN, which the target
				 * may not expect yet while commands on another connection are on
				 * their way (istgt drops the connection then). So with commands
				 * unacknowledged elsewhere, an idle connection waits for them,
				 * and a silent one with commands of its own is pinged only after
				 * nopout_response_timeout more. */
				time_t silent = now - sc->last_rx;
				int elsewhere = s->nup > 1 && sn_lt(s->exp_cmd_sn, s->cmd_sn);

				if (!elsewhere ||
				    (sc->active && silent >= (time_t)(s->cfg.nopout_timeout +
								     s->cfg.nopout_response_timeout) &&
				     sc == first_suspect(s)))
					send_ping(s, sc);
			}
			break;
		case SCONN_FAILED:
			if (sc->conn) {
				retire_conn(s, sc); /* the lock was dropped: look again next round */
			} else if (!sc->active) {
				/* Nothing of ours to clean up there: logging in again with its CID
				 * ends what is left of it at the target (RFC 7143 6.3.4). */
				sc->state = SCONN_DOWN;
				sc->next_attempt = now;
				sc->attempts = 0;
			} else if (now >= sc->next_attempt && s->nup > 0 &&
				   start_cleanup(s, sc, pick_conn(s)) < 0) {
				sc->next_attempt = now + 1;
			}
			break;
		case SCONN_CLEANING:
			if (now >= sc->cleanup_deadline) {
				char why[160];

				snprintf(why, sizeof(why), "no answer to the Logout closing lost "
					 "connection %u", sc->cid);
				log_err("%s: %s; reinstating the session", s->cfg.label, why);
				sc->cleanup_deadline = now + LOGOUT_WAIT_S;
				drop_all(s, why);
			}
			break;
		case SCONN_DOWN:
			if (sc->conn) {
				retire_conn(s, sc);
			} else if ((uint32_t)i < s->want && now >= sc->next_attempt) {
				pthread_t th;
				pthread_attr_t a;

				sc->state = SCONN_LOGGING_IN;
				s->login_threads++;
				pthread_attr_init(&a);
				pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
				if (pthread_create(&th, &a, add_main, sc)) {
					sc->state = SCONN_DOWN;
					sc->next_attempt = now + 1;
					s->login_threads--;
				}
				pthread_attr_destroy(&a);
			}
			break;
		case SCONN_LOGGING_IN:
			break;
		}
	}
}

static void *timer_main(void *arg)
{
	struct session *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->timer_stop) {
		struct timespec until;
		time_t now = now_s();

		if (s->state == SS_LOGGED_IN)
			check_timeouts(s, now);
		if (s->state == SS_LOGGED_IN)
			check_conns(s, now);
		if (s->state == SS_RECOVERING)
			check_recovery(s, now);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&s->timer_cond, &s->lock, &until);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static void timer_stop(struct session *s)
{
	if (!s->timer_running)
		return;
	pthread_mutex_lock(&s->lock);
	s->timer_stop = 1;
	pthread_cond_broadcast(&s->timer_cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->timer, NULL);
	s->timer_running = 0;
}

/* Queue a Logout that closes the session (RFC 7143 11.14) on sc. Lock held. */
static int queue_logout(struct session *s, struct sconn *sc)
{
	if (!sc)
		return -EPIPE;
	memset(&s->logout_tx, 0, sizeof(s->logout_tx));
	pdu_build_logout(s->logout_tx.bhs, 0, LOGOUT_TAG, sc->cid, s->cmd_sn, sc->exp_stat_sn);
	return conn_queue(sc->conn, &s->logout_tx, &s->logout_tx);
}

/* Log out and wait, LOGOUT_WAIT_S at most, for the answer. Lock held; whether it came. */
static int logout_and_wait(struct session *s)
{
	struct timespec until;

	s->logout_answered = 0;
	if (queue_logout(s, pick_conn(s)) < 0)
		return 0;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += LOGOUT_WAIT_S;
	while (!s->logout_answered &&
	       pthread_cond_timedwait(&s->cond, &s->lock, &until) != ETIMEDOUT)
		;
	return s->logout_answered;
}

/* Every connection down and retired; logins under way are made stale. Lock held (dropped
 * meanwhile). */
static void retire_all(struct session *s)
{
	s->generation++;
	s->nup = 0;
	for (int i = 0; i < s->nsc; i++) {
		struct sconn *sc = &s->sc[i];

		sc->state = SCONN_DOWN; /* a login still under way is stale now */
		sc->self_logout = 0;
		sc->ping_sent = 0;
	}
	for (int i = 0; i < s->nsc; i++)
		retire_conn(s, &s->sc[i]);
}

/* A redirection's TargetAddress (RFC 7143 13.8): IPv4, [IPv6] or a host name, resolved at the
 * connection. */
static int parse_target_address(const char *ta, char *addr, size_t addrlen, uint16_t *port)
{
	struct portal_addr pa;

	if (portal_parse_target_address(ta, 3260, &pa, NULL, 0) < 0 || strlen(pa.host) >= addrlen)
		return -EINVAL;
	memcpy(addr, pa.host, strlen(pa.host) + 1);
	*port = pa.port;
	return 0;
}

/* Connect and log in connection sc: with TSIH 0 and the session's ISID it leads (a new
 * session, or the reinstatement of a lost one); with the session's TSIH it joins it. *out is
 * the logged-in connection. No lock held. */
static int connect_and_login(struct session *s, struct sconn *sc, uint16_t tsih, uint32_t cmd_sn,
			     struct conn **out, struct login_result *res, char *err, size_t errlen)
{
	const struct session_portal *p = sc->portal;
	struct login_params lp = {0};
	char label[160], addr[PORTAL_HOST_MAX];
	uint16_t port;
	int r, redirects = 0;

	snprintf(label, sizeof(label), "%s %s:%u cid%u", s->cfg.label, p->addr, p->port, sc->cid);
	lp.initiator_name = s->cfg.initiator_name;
	lp.initiator_alias = s->cfg.initiator_alias;
	lp.target_name = s->cfg.target_name;
	lp.admin_keys = s->cfg.admin_keys;
	lp.isid = s->isid;
	lp.tsih = tsih;
	lp.cid = sc->cid;
	lp.cmd_sn = cmd_sn;
	if (!tsih)
		RAND_bytes((uint8_t *)&lp.cmd_sn, sizeof(lp.cmd_sn));
	lp.timeout_s = s->cfg.login_timeout;
	lp.max_recv_dsl = 262144;
	lp.max_connections = (uint32_t)s->nsc;
	lp.chap = s->cfg.chap;
	snprintf(addr, sizeof(addr), "%s", p->addr);
	port = p->port;
	for (int attempt = 0;; attempt++) {
		struct conn *c = conn_new(label);

		memset(res, 0, sizeof(*res));
		if (!c)
			return -ENOMEM;
		r = conn_connect(c, addr, port, p->netdev, s->cfg.login_timeout, err, errlen);
		if (!r)
			r = login_run(c, &lp, res, err, errlen);
		if (!r) {
			*out = c;
			return 0;
		}
		conn_free(c);
		/* Redirection (status 0x0101/0x0102): follow TargetAddress, a few hops at most. */
		if (r == -EAGAIN && redirects < 3 && parse_target_address(res->redirect, addr,
									    sizeof(addr), &port) == 0) {
			redirects++;
			log_info("%s: %s; following it to %s:%u", s->cfg.label, err, addr, port);
			continue;
		}
		/* Some targets refuse a list in CHAP_A, others choose an algorithm they then
		 * get wrong: once more with MD5 alone, which every target supports. */
		if (attempt == 0 && !lp.chap_md5_only &&
		    (res->chap_alg_refused ||
		     (res->chap_refused_alg && res->chap_refused_alg != CHAP_ALG_MD5))) {
			log_warn("%s: %s (CHAP_A=%d); logging in again offering CHAP_A=5 (MD5) only",
				 s->cfg.label, err, res->chap_refused_alg);
			lp.chap_md5_only = 1;
			continue;
		}
		return r;
	}
}

/* Log in a leading connection through the first portal that answers, in the order of the
 * connections. *lead is its index. No lock held. */
static int login_leading(struct session *s, int *lead, struct conn **out,
			 struct login_result *res, char *err, size_t errlen)
{
	int r = -ENOENT;

	for (int i = 0; i < s->nsc; i++) {
		const struct session_portal *p = s->sc[i].portal;
		char why[512];
		int tried = 0;

		for (int j = 0; j < i && !tried; j++)
			tried = s->sc[j].portal == p;
		if (tried)
			continue;
		r = connect_and_login(s, &s->sc[i], 0, 0, out, res, err, errlen);
		if (!r) {
			*lead = i;
			return 0;
		}
		if (i + 1 < s->nsc && s->sc[i + 1].portal != p)
			log_warn("%s: login through %s:%u failed: %s; trying the next portal",
				 s->cfg.label, p->addr, p->port, err);
		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "%s", why);
	}
	return r;
}

/* Take a logged-in connection into use and start its threads. A leading one sets the
 * session's parameters and window; a joining one brings its own connection-wide ones. Lock
 * held. */
static int install_conn(struct session *s, struct sconn *sc, struct conn *c,
			const struct login_result *res, int leading, char *err, size_t errlen)
{
	struct conn_handler h = {rx_begin, rx_end, on_failed, sc};
	const struct session_portal *p = sc->portal;
	int r;

	sc->conn = c;
	sc->exp_stat_sn = res->exp_stat_sn;
	sc->max_xmit_dsl = res->params.max_xmit_dsl;
	sc->header_digest = res->params.header_digest;
	sc->data_digest = res->params.data_digest;
	sc->last_rx = now_s();
	sc->ping_sent = 0;
	sc->reason[0] = '\0';
	if (leading) {
		s->params = res->params;
		s->tsih = res->tsih;
		s->exp_cmd_sn = res->exp_cmd_sn;
		s->max_cmd_sn = res->max_cmd_sn;
		if (sn_lt(res->max_cmd_sn, res->exp_cmd_sn - 1))
			s->max_cmd_sn = res->exp_cmd_sn - 1;
		s->cmd_sn = res->exp_cmd_sn;
		s->logout_answered = 0;
		s->want = (uint32_t)s->nsc < s->params.max_connections ? (uint32_t)s->nsc
									  : s->params.max_connections;
		if (s->want < 1)
			s->want = 1;
		log_info("%s: logged in to %s at %s:%u (TSIH %u, MaxRecvDataSegmentLength %u/%u, "
			 "MaxBurstLength %u, FirstBurstLength %u, ImmediateData %s, InitialR2T %s, "
			 "HeaderDigest %s, DataDigest %s, MaxConnections %u)",
			 s->cfg.label, s->cfg.target_name, p->addr, p->port, s->tsih,
			 s->params.max_recv_dsl, s->params.max_xmit_dsl, s->params.max_burst_length,
			 s->params.first_burst_length, s->params.immediate_data ? "Yes" : "No",
			 s->params.initial_r2t ? "Yes" : "No",
			 s->params.header_digest ? "CRC32C" : "None",
			 s->params.data_digest ? "CRC32C" : "None", s->params.max_connections);
		if ((uint32_t)s->nsc > s->want)
			log_warn("%s: %d connections configured, the target allows %u", s->cfg.label,
				 s->nsc, s->want);
		for (int i = 0; i < s->nsc; i++)
			s->sc[i].next_attempt = now_s(); /* the others join at once */
	} else {
		update_window(s, res->exp_cmd_sn, res->max_cmd_sn);
		log_info("%s: connection %u joined the session at %s:%u%s%s (TSIH %u)", s->cfg.label,
			 sc->cid, p->addr, p->port, p->netdev && p->netdev[0] ? " via " : "",
			 p->netdev ? p->netdev : "", s->tsih);
	}
	r = conn_start(c, &h, res->params.max_recv_dsl, res->params.header_digest,
		       res->params.data_digest,
		       evloop_get((s->loop_base + sc->cid) % (evloops_count() ? evloops_count() : 1)));
	if (r) {
		sc->conn = NULL;
		snprintf(err, errlen, "cannot start the connection: %s", strerror(-r));
	}
	return r;
}

/* Log connection sc in to the running session. Lock held (dropped meanwhile); sc in
 * LOGGING_IN. */
static int add_conn(struct session *s, struct sconn *sc, char *err, size_t errlen)
{
	uint32_t gen = s->generation, cmd_sn = s->cmd_sn;
	uint16_t tsih = s->tsih;
	struct login_result res;
	struct conn *c = NULL;
	int r;

	pthread_mutex_unlock(&s->lock);
	r = connect_and_login(s, sc, tsih, cmd_sn, &c, &res, err, errlen);
	pthread_mutex_lock(&s->lock);
	if (s->state != SS_LOGGED_IN || s->generation != gen || s->timer_stop) {
		/* The session moved on meanwhile; after a new leading login the slot belongs to
		 * it, not to this stale attempt. */
		if (s->generation == gen)
			sc->state = SCONN_DOWN;
		if (!r) {
			pthread_mutex_unlock(&s->lock);
			conn_free(c);
			pthread_mutex_lock(&s->lock);
		}
		return -ECANCELED;
	}
	if (!r)
		r = install_conn(s, sc, c, &res, 0, err, errlen);
	if (r) {
		uint32_t backoff = 1u << (sc->attempts < 5 ? sc->attempts : 5);

		if (c && !sc->conn) {
			pthread_mutex_unlock(&s->lock);
			conn_free(c);
			pthread_mutex_lock(&s->lock);
		}
		sc->state = SCONN_DOWN;
		sc->attempts++;
		if (backoff > ADD_BACKOFF_MAX)
			backoff = ADD_BACKOFF_MAX;
		sc->next_attempt = now_s() + time2wait(s) + backoff;
		snprintf(sc->reason, sizeof(sc->reason), "%s", err);
		log_warn("%s: connection %u to %s:%u: login attempt %d failed: %s; next in %u s",
			 s->cfg.label, sc->cid, sc->portal->addr, sc->portal->port, sc->attempts, err,
			 (unsigned)(sc->next_attempt - now_s()));
		return r;
	}
	sc->state = SCONN_UP;
	sc->attempts = 0;
	s->nup++;
	flush_pending(s);
	return 0;
}

static void *add_main(void *arg)
{
	struct sconn *sc = arg;
	struct session *s = sc->s;
	char err[512] = "";

	pthread_mutex_lock(&s->lock);
	add_conn(s, sc, err, sizeof(err));
	s->login_threads--;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* Wait for the threads adding connections. Lock held. */
static void wait_logins(struct session *s)
{
	while (s->login_threads > 0)
		pthread_cond_wait(&s->cond, &s->lock);
}

static int by_seq(const void *a, const void *b)
{
	const struct scsi_task *x = *(struct scsi_task *const *)a, *y = *(struct scsi_task *const *)b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* One reconnection attempt. Called by the timer thread with the lock held; drops it while
 * talking to the network. */
static void recover(struct session *s)
{
	struct conn *c = NULL;
	struct login_result res;
	char err[512] = "";
	int r, lead = 0;

	retire_all(s);
	pthread_mutex_unlock(&s->lock);
	r = login_leading(s, &lead, &c, &res, err, sizeof(err));
	pthread_mutex_lock(&s->lock);
	if (r == 0 && (s->timer_stop || s->state != SS_RECOVERING)) {
		pthread_mutex_unlock(&s->lock);
		conn_free(c); /* logging out meanwhile */
		pthread_mutex_lock(&s->lock);
		return;
	}
	if (r == 0) {
		s->generation++;
		r = install_conn(s, &s->sc[lead], c, &res, 1, err, sizeof(err));
		if (r) {
			pthread_mutex_unlock(&s->lock);
			conn_free(c);
			pthread_mutex_lock(&s->lock);
		}
	}
	if (r) {
		uint32_t backoff = 1u << (s->attempts < 3 ? s->attempts : 3);

		s->attempts++;
		s->next_attempt = now_s() + time2wait(s) + backoff;
		log_warn("%s: reconnect attempt %d to %s failed: %s; next in %u s", s->cfg.label,
			 s->attempts, s->cfg.target_name, err, (unsigned)(s->next_attempt - now_s()));
		return;
	}
	s->sc[lead].state = SCONN_UP;
	s->nup = 1;
	s->state = SS_LOGGED_IN;
	log_info("%s: session recovered after %ld s (%d attempt(s))", s->cfg.label,
		 (long)(now_s() - s->fail_time), s->attempts + 1);
	s->expired = 0;
	s->attempts = 0;
	resend_live(s);
}

/* Send again every task that has no status, in the order the application issued them.
 * Lock held; dropped and taken again to run completions. */
static void resend_live(struct session *s)
{
	struct scsi_task *done_list = NULL, **live;
	int n = 0;

	live = calloc(s->cfg.max_tasks, sizeof(*live));
	if (!live) {
		drop_all(s, "out of memory resending commands");
		return;
	}
	for (uint32_t i = 0; i < s->cfg.max_tasks; i++)
		if (s->slots[i] && !s->slots[i]->awaiting_tx)
			live[n++] = s->slots[i];
	qsort(live, (size_t)n, sizeof(*live), by_seq);
	s->pend_head = s->pend_tail = NULL;
	for (int i = 0; i < n; i++) {
		live[i]->aborting = 0;
		live[i]->sc = NULL; /* their connections are gone */
		start_task(s, live[i], &done_list);
	}
	for (int i = 0; i < s->nsc; i++)
		s->sc[i].active = 0;
	for (int i = 0; i < n; i++)
		if (live[i]->sc)
			live[i]->sc->active++;
	free(live);
	if (n)
		log_info("%s: %d command(s) sent again", s->cfg.label, n);
	pthread_mutex_unlock(&s->lock);
	run_done(done_list);
	pthread_mutex_lock(&s->lock);
}

/* While recovering: I/O waits up to replacement_timeout, then fails; reconnecting goes on. */
static void check_recovery(struct session *s, time_t now)
{
	if (!s->expired && now - s->fail_time >= (time_t)s->cfg.replacement_timeout) {
		struct scsi_task *done_list = NULL;

		log_err("%s: no session to %s for %u s (replacement_timeout): failing I/O with EIO "
			"until the target is back",
			s->cfg.label, s->cfg.target_name, s->cfg.replacement_timeout);
		s->expired = 1;
		fail_all(s, &done_list);
		pthread_mutex_unlock(&s->lock);
		run_done(done_list);
		pthread_mutex_lock(&s->lock);
	}
	if (s->state == SS_RECOVERING && now >= s->next_attempt && !s->timer_stop)
		recover(s);
}

int session_login(struct session *s, char *err, size_t errlen)
{
	struct login_result res;
	struct conn *c = NULL;
	int r, lead = 0;

	r = login_leading(s, &lead, &c, &res, err, errlen);
	if (r)
		return r;
	pthread_mutex_lock(&s->lock);
	s->generation++;
	r = install_conn(s, &s->sc[lead], c, &res, 1, err, errlen);
	if (r) {
		s->state = SS_LOGGED_OUT;
		pthread_mutex_unlock(&s->lock);
		conn_free(c);
		return r;
	}
	s->sc[lead].state = SCONN_UP;
	s->nup = 1;
	s->state = SS_LOGGED_IN;
	/* The other connections join before the channel reports itself started; one that
	 * cannot is logged and tried again by the timer. */
	for (int i = 0; i < s->nsc && (uint32_t)i < s->want; i++) {
		char why[512];

		if (i == lead || s->state != SS_LOGGED_IN)
			continue;
		s->sc[i].state = SCONN_LOGGING_IN;
		add_conn(s, &s->sc[i], why, sizeof(why));
	}
	pthread_mutex_unlock(&s->lock);
	r = -pthread_create(&s->timer, NULL, timer_main, s);
	s->timer_running = !r;
	if (r)
		snprintf(err, errlen, "cannot start the session timer: %s", strerror(-r));
	return r;
}

void session_pause(struct session *s)
{
	pthread_mutex_lock(&s->lock);
	if (s->state == SS_RECOVERING) {
		s->state = SS_PAUSED; /* no more reconnection attempts */
		pthread_mutex_unlock(&s->lock);
		log_info("%s: paused while recovering", s->cfg.label);
		return;
	}
	if (s->state != SS_LOGGED_IN) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	s->state = SS_PAUSING;
	logout_and_wait(s);
	s->state = SS_PAUSED;
	s->pend_head = s->pend_tail = NULL; /* every live task is sent again on resume */
	memset(s->tmfs, 0, sizeof(s->tmfs));
	retire_all(s);
	wait_logins(s);
	pthread_mutex_unlock(&s->lock);
	log_info("%s: paused: logged out of %s; I/O waits until the channel is started", s->cfg.label,
		 s->cfg.target_name);
}

int session_resume(struct session *s, char *err, size_t errlen)
{
	struct login_result res;
	struct conn *c = NULL;
	int r, lead = 0;

	pthread_mutex_lock(&s->lock);
	if (s->state != SS_PAUSED) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	pthread_mutex_unlock(&s->lock);
	r = login_leading(s, &lead, &c, &res, err, errlen);
	if (r)
		return r;
	pthread_mutex_lock(&s->lock);
	if (s->state != SS_PAUSED) {
		pthread_mutex_unlock(&s->lock);
		conn_free(c);
		return 0;
	}
	s->generation++;
	r = install_conn(s, &s->sc[lead], c, &res, 1, err, errlen);
	if (r) {
		pthread_mutex_unlock(&s->lock);
		conn_free(c);
		return r;
	}
	s->sc[lead].state = SCONN_UP;
	s->nup = 1;
	s->state = SS_LOGGED_IN;
	log_info("%s: resumed", s->cfg.label);
	resend_live(s);
	pthread_cond_broadcast(&s->timer_cond); /* the other connections join */
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void session_get_info(struct session *s, struct session_info *out)
{
	time_t now = now_s();

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&s->lock);
	out->status = session_status(s);
	snprintf(out->isid, sizeof(out->isid), "%02x%02x%02x%02x%02x%02x", s->isid[0], s->isid[1],
		 s->isid[2], s->isid[3], s->isid[4], s->isid[5]);
	out->tsih = s->tsih;
	if (s->state == SS_RECOVERING) {
		snprintf(out->reason, sizeof(out->reason), "%s", s->lost_reason);
		out->down_for = (long)(now - s->fail_time);
		out->io_fails_in = s->expired ? -1
					      : (long)(s->fail_time + s->cfg.replacement_timeout - now);
		out->attempts = s->attempts;
	}
	out->inflight = s->cfg.max_tasks - (uint32_t)s->nfree;
	out->commands = s->commands;
	out->params = s->params;
	out->conns_wanted = s->want;
	out->nconns = s->nsc;
	for (int i = 0; i < s->nsc; i++) {
		const struct sconn *sc = &s->sc[i];
		struct sconn_info *ci = &out->conns[i];
		uint64_t tx = 0, rx = 0;

		ci->cid = sc->cid;
		ci->state = sc->state;
		snprintf(ci->addr, sizeof(ci->addr), "%s", sc->portal->addr);
		ci->port = sc->portal->port;
		snprintf(ci->netdev, sizeof(ci->netdev), "%s",
			 sc->portal->netdev ? sc->portal->netdev : "");
		if (sc->state != SCONN_UP)
			snprintf(ci->reason, sizeof(ci->reason), "%s",
				 (uint32_t)i >= s->want && !sc->reason[0]
					 ? "beyond the target's MaxConnections" : sc->reason);
		ci->inflight = sc->active;
		ci->commands = sc->commands;
		if (sc->conn)
			conn_counters(sc->conn, &tx, &rx);
		ci->bytes_sent = tx + __atomic_load_n(&sc->old_tx, __ATOMIC_RELAXED);
		ci->bytes_received = rx + __atomic_load_n(&sc->old_rx, __ATOMIC_RELAXED);
		ci->header_digest = sc->header_digest;
		ci->data_digest = sc->data_digest;
		ci->max_xmit_dsl = sc->max_xmit_dsl;
		out->bytes_sent += ci->bytes_sent;
		out->bytes_received += ci->bytes_received;
	}
	pthread_mutex_unlock(&s->lock);
}

enum session_status session_status(const struct session *s)
{
	switch (__atomic_load_n(&s->state, __ATOMIC_RELAXED)) {
	case SS_LOGGED_IN:
		return SESSION_UP;
	case SS_RECOVERING:
		return SESSION_RECOVERING;
	case SS_PAUSING:
	case SS_PAUSED:
		return SESSION_PAUSED;
	default:
		return SESSION_DOWN;
	}
}

void session_logout(struct session *s)
{
	struct scsi_task *done_list = NULL;

	pthread_mutex_lock(&s->lock);
	if (s->state == SS_LOGGED_IN) {
		s->state = SS_LOGGING_OUT;
		if (logout_and_wait(s))
			log_info("%s: logged out of %s", s->cfg.label, s->cfg.target_name);
		else
			log_warn("%s: no answer to the logout from %s within %d s", s->cfg.label,
				 s->cfg.target_name, LOGOUT_WAIT_S);
	}
	s->state = SS_LOGGING_OUT;
	s->generation++;
	pthread_mutex_unlock(&s->lock);
	timer_stop(s);
	pthread_mutex_lock(&s->lock);
	wait_logins(s);
	retire_all(s);
	s->state = SS_LOGGED_OUT;
	fail_all(s, &done_list);
	pthread_mutex_unlock(&s->lock);
	run_done(done_list);
}

void session_free(struct session *s)
{
	if (!s)
		return;
	timer_stop(s);
	pthread_mutex_lock(&s->lock);
	s->generation++;
	wait_logins(s);
	pthread_mutex_unlock(&s->lock);
	for (int i = 0; i < s->nsc; i++)
		conn_free(s->sc[i].conn);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	pthread_cond_destroy(&s->timer_cond);
	free(s->slots);
	free(s->free_slots);
	free(s);
}
