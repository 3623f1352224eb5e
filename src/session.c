/* Session: CmdSN/ExpCmdSN/MaxCmdSN window (RFC 7143 4.2.2.1), task tags, Data-In placed
 * straight into the caller's buffer, R2T answered with Data-Out from the caller's buffer. */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "login.h"
#include "pdu.h"
#include "scsi.h"
#include "session.h"

#define MAX_SLOTS 1024
#define SLOT_BITS 10
#define TASK_RETRIES 8
#define LOGOUT_WAIT_S 5

/* RECOVERING: the connection is lost, tasks are kept and resent once logged in again. */
enum session_state {
	SS_NEW,
	SS_LOGGED_IN,
	SS_RECOVERING,
	SS_PAUSING, /* logging out for a pause: I/O waits */
	SS_PAUSED,  /* logged out on purpose: I/O waits for session_resume */
	SS_LOGGING_OUT,
	SS_LOGGED_OUT
};

struct session {
	struct session_config cfg;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum session_state state;
	struct conn *conn;
	struct iscsi_params params;
	uint8_t isid[6];
	uint16_t tsih;
	uint32_t cmd_sn, exp_cmd_sn, max_cmd_sn, exp_stat_sn;
	uint32_t itt_gen;

	struct scsi_task **slots;
	int *free_slots;
	int nfree;
	struct scsi_task *pend_head, *pend_tail; /* waiting for the CmdSN window */

	struct txreq logout_tx;
	int logout_answered;
	int logout_requested;  /* the target asked for it (AsyncEvent 1): log out, then in again */

	/* Liveness (RFC 7143 11.18): a NOP-Out ping after nopout_timeout of silence. */
	pthread_t timer;
	pthread_cond_t timer_cond;
	int timer_running, timer_stop;
	time_t last_rx;
	time_t ping_sent;     /* 0 = no ping outstanding */
	uint32_t ping_itt;
	struct txreq ping_tx; /* owned by the send thread only while queued */

	/* Task management requests in flight (RFC 7143 11.5). */
	struct tmf {
		int in_use, function;
		uint32_t itt, ref_itt;
		uint64_t lun;
		time_t deadline;
		struct txreq tx;
	} tmfs[8];
	uint32_t tmf_seq;

	/* Session recovery (RFC 7143 6.3.5: reinstatement with the same ISID). */
	uint64_t next_seq;
	time_t fail_time, next_attempt;
	int attempts;
	int expired;           /* past replacement_timeout: I/O fails until logged in again */
	char lost_reason[160];

	uint64_t commands;                     /* sent, for status */
	uint64_t old_bytes_sent, old_bytes_received; /* of connections gone */
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
static int queue_logout(struct session *s);
static void resend_live(struct session *s);

/* The send thread is done with one of the task's PDU chains. */
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

/* Queue a chain whose last PDU holds a reference on the task. Lock held. */
static void queue_chain(struct session *s, struct scsi_task *t, struct txreq *first,
			struct txreq *last)
{
	last->sent = tx_sent;
	last->ctx = t;
	t->tx_refs++;
	if (conn_queue(s->conn, first, last) < 0)
		t->tx_refs--; /* the connection is going down and will fail the task */
}

/* Build the command PDU and any unsolicited data (ImmediateData, InitialR2T=No) and queue them.
 * Called with the lock held, window open. */
static void send_task(struct session *s, struct scsi_task *t)
{
	const struct iscsi_params *p = &s->params;
	uint32_t imm = 0, unsol = 0, off;
	struct txreq *first = &t->tx, *last = &t->tx;
	uint32_t data_sn = 0;

	t->cmd_sn = s->cmd_sn++;
	s->commands++;
	t->deadline = now_s() + (s->cfg.command_timeout ? s->cfg.command_timeout : 30);
	if (t->dir == TASK_DIR_WRITE) {
		/* Unsolicited data: immediate data, plus Data-Out PDUs when InitialR2T=No, all
		 * within FirstBurstLength (RFC 7143 13.10, 13.11, 13.14). */
		uint32_t limit = t->len < p->first_burst_length ? t->len : p->first_burst_length;

		if (p->immediate_data)
			imm = limit < p->max_xmit_dsl ? limit : p->max_xmit_dsl;
		unsol = p->initial_r2t ? imm : limit;
	}
	memset(&t->tx, 0, sizeof(t->tx));
	pdu_build_scsi_cmd(t->tx.bhs, t->dir == TASK_DIR_READ, t->dir == TASK_DIR_WRITE, t->lun,
			   t->itt, t->len, t->cmd_sn, s->exp_stat_sn, t->cdb, t->cdb_len, imm,
			   unsol == imm);
	t->tx.data = t->buf;
	t->tx.dsl = imm;
	/* Unsolicited Data-Out PDUs up to FirstBurstLength (RFC 7143 11.7). The chain's last PDU
	 * holds the task: until it is written, the task's memory is still in use. */
	for (off = imm; off < unsol;) {
		uint32_t n = unsol - off < p->max_xmit_dsl ? unsol - off : p->max_xmit_dsl;
		struct txreq *d = calloc(1, sizeof(*d));

		if (!d)
			break; /* the target will ask with an R2T for what is missing */
		d->owned = 1;
		d->data = (uint8_t *)t->buf + off;
		d->dsl = n;
		pdu_build_data_out(d->bhs, off + n == unsol, t->lun, t->itt, RSVD_TAG, s->exp_stat_sn,
				   data_sn++, off, n);
		last->next = d;
		last = d;
		off += n;
	}
	queue_chain(s, t, first, last);
}

/* Send what the window allows from the pending list. Lock held. */
static void flush_pending(struct session *s)
{
	while (s->state == SS_LOGGED_IN && !s->logout_requested && s->pend_head && sn_le(s->cmd_sn, s->max_cmd_sn)) {
		struct scsi_task *t = s->pend_head;

		s->pend_head = t->next;
		if (!s->pend_head)
			s->pend_tail = NULL;
		t->next = NULL;
		send_task(s, t);
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
	t->status = 0;
	t->sense_len = 0;
	t->residual = 0;
	t->result = 0;
	t->next = NULL;
	if (s->state == SS_LOGGED_IN && !s->logout_requested && !s->pend_head &&
	    sn_le(s->cmd_sn, s->max_cmd_sn)) {
		send_task(s, t);
		return;
	}
	if (s->pend_tail)
		s->pend_tail->next = t;
	else
		s->pend_head = t;
	s->pend_tail = t;
}

void session_submit(struct session *s, struct scsi_task *t)
{
	pthread_mutex_lock(&s->lock);
	while (may_wait(s) && s->nfree == 0)
		pthread_cond_wait(&s->cond, &s->lock);
	if (!may_wait(s)) {
		t->result = no_wait_error(s);
		pthread_mutex_unlock(&s->lock);
		t->done(t);
		return;
	}
	t->slot = s->free_slots[--s->nfree];
	s->slots[t->slot] = t;
	t->sess = s;
	t->seq = s->next_seq++;
	t->retries = 0;
	t->aborting = 0;
	t->tx_refs = 0;
	t->awaiting_tx = 0;
	t->retry_pending = 0;
	start_task(s, t, NULL);
	pthread_mutex_unlock(&s->lock);
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

/* Take a finished task out of the table, or mark it to be when the send thread lets go of it;
 * the caller runs done() after dropping the lock. Lock held. */
static void complete_task(struct session *s, struct scsi_task *t, struct scsi_task **done_list)
{
	if (t->tx_refs) {
		t->awaiting_tx = 1;
		return;
	}
	s->slots[t->slot] = NULL;
	s->free_slots[s->nfree++] = t->slot;
	pthread_cond_signal(&s->cond);
	t->next = *done_list;
	*done_list = t;
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

/* A status arrived. Unit attentions and busy targets are retried here, a bounded number of
 * times, so every layer above sees only final results. Lock held. */
static void finish_task(struct session *s, struct scsi_task *t, struct scsi_task **done_list)
{
	if (t->result == 0 && t->status != SCSI_STATUS_GOOD && t->retries < TASK_RETRIES) {
		struct scsi_sense sn;

		scsi_sense_parse(t->sense, t->sense_len, &sn);
		if (scsi_status_to_errno(t->status, &sn) == -EAGAIN) {
			if (sn.valid && sn.key == SENSE_UNIT_ATTENTION) {
				log_info("%s: unit attention on LUN %u (asc 0x%02x ascq 0x%02x)",
					 s->cfg.label, scsi_lun_number(t->lun), sn.asc, sn.ascq);
				if (s->cfg.on_unit_attention)
					s->cfg.on_unit_attention(s->cfg.ua_arg, t->lun, sn.asc,
								 sn.ascq);
			}
			t->retries++;
			if (t->tx_refs) {
				t->awaiting_tx = 1;
				t->retry_pending = 1;
			} else if (sn.key == SENSE_UNIT_ATTENTION) {
				start_task(s, t, done_list);
			} else {
				/* Becoming ready, busy, task set full: wait before asking again,
				 * 1, 2, 4... seconds; the timer thread sends it. */
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
	struct session *s = arg;
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
	} else if ((uint64_t)h->w40 + h->dsl > t->len) {
		snprintf(err, errlen,
			 "SCSI Data-In at offset %u of %u bytes beyond the %u-byte buffer (task 0x%08x)",
			 h->w40, h->dsl, t->len, h->itt);
		r = -EPROTO;
	} else if (s->params.data_pdu_in_order && s->params.data_sequence_in_order &&
		   h->w40 != t->xferred) {
		snprintf(err, errlen, "SCSI Data-In at offset %u, expected %u (data out of order)",
			 h->w40, t->xferred);
		r = -EPROTO;
	} else {
		*dst = (uint8_t *)t->buf + h->w40;
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

static void take_residual(struct scsi_task *t, const struct pdu_hdr *h)
{
	if (h->flags & FL_UNDERFLOW)
		t->residual = h->w44 > t->len ? t->len : h->w44;
}

/* Answer an R2T with Data-Out PDUs from the task's buffer (RFC 7143 11.8). Lock held. */
static int answer_r2t(struct session *s, const struct pdu_hdr *h, char *err, size_t errlen)
{
	struct scsi_task *t = task_lookup(s, h->itt);
	uint32_t off = h->w40, want = h->w44, end, data_sn = 0;
	struct txreq *first = NULL, *last = NULL;

	if (!t || t->dir != TASK_DIR_WRITE) {
		snprintf(err, errlen, "R2T for %s task tag 0x%08x", t ? "a non-write" : "an unknown",
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
		uint32_t n = end - off < s->params.max_xmit_dsl ? end - off : s->params.max_xmit_dsl;
		struct txreq *d = calloc(1, sizeof(*d));

		if (!d) {
			snprintf(err, errlen, "out of memory answering an R2T");
			free(first);
			return -ENOMEM;
		}
		d->owned = 1;
		d->data = (uint8_t *)t->buf + off;
		d->dsl = n;
		pdu_build_data_out(d->bhs, off + n == end, t->lun, t->itt, h->ttt, s->exp_stat_sn,
				   data_sn++, off, n);
		if (last)
			last->next = d;
		else
			first = d;
		last = d;
		off += n;
	}
	queue_chain(s, t, first, last);
	return 0;
}

static void answer_nop_in(struct session *s, const struct pdu_hdr *h, const void *data)
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
	pdu_build_nop_out(r->bhs, h->lun, RSVD_TAG, h->ttt, s->cmd_sn, s->exp_stat_sn, h->dsl);
	conn_queue(s->conn, r, r);
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

static int rx_end(void *arg, const struct pdu_hdr *h, void *data, char *err, size_t errlen)
{
	struct session *s = arg;
	struct scsi_task *t, *done_list = NULL;
	int r = 0;

	pthread_mutex_lock(&s->lock);
	s->last_rx = now_s();
	/* StatSN (RFC 7143 4.2.2.2): on one connection at ErrorRecoveryLevel 0, each status
	 * carries exactly the next number; a gap means a lost or invented status and ends the
	 * connection. Other PDUs that advance it must stay near it. */
	{
		int strict = h->opcode == OP_SCSI_RSP || h->opcode == OP_TMF_RSP ||
			     h->opcode == OP_TEXT_RSP || h->opcode == OP_LOGOUT_RSP ||
			     (h->opcode == OP_DATA_IN && (h->flags & FL_STATUS));
		int advances = strict || h->opcode == OP_ASYNC || h->opcode == OP_REJECT ||
			       (h->opcode == OP_NOP_IN && h->itt != RSVD_TAG);
		int32_t gap = (int32_t)(h->stat_sn - s->exp_stat_sn);

		if ((strict && gap != 0) || (advances && (gap < -65536 || gap > 65536))) {
			snprintf(err, errlen, "%s with StatSN 0x%08x where 0x%08x was due",
				 pdu_opcode_name(h->opcode), h->stat_sn, s->exp_stat_sn);
			pthread_mutex_unlock(&s->lock);
			return -EPROTO;
		}
		if (advances && gap >= 0)
			s->exp_stat_sn = h->stat_sn + 1;
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
			t->status = h->b3;
			take_residual(t, h);
			finish_task(s, t, &done_list);
		}
		break;
	case OP_SCSI_RSP:
		t = task_lookup(s, h->itt);
		if (!t) {
			snprintf(err, errlen, "SCSI Response for an unknown task tag 0x%08x", h->itt);
			r = -EPROTO;
			break;
		}
		if (h->b2 != 0) {
			log_warn("%s: target failed the command (iSCSI response 0x%02x)", s->cfg.label,
				 h->b2);
			t->result = -EIO;
		}
		t->status = h->b3;
		if (h->dsl >= 2) {
			uint32_t sl = get_be16(data);

			if (sl > h->dsl - 2)
				sl = h->dsl - 2;
			if (sl > sizeof(t->sense))
				sl = sizeof(t->sense);
			memcpy(t->sense, (uint8_t *)data + 2, sl);
			t->sense_len = sl;
		}
		take_residual(t, h);
		finish_task(s, t, &done_list);
		break;
	case OP_R2T:
		r = answer_r2t(s, h, err, errlen);
		break;
	case OP_NOP_IN:
		if (h->ttt != RSVD_TAG)
			answer_nop_in(s, h, data);
		else if (h->itt == s->ping_itt && s->ping_sent)
			s->ping_sent = 0; /* our ping answered */
		else if (h->itt != RSVD_TAG) {
			snprintf(err, errlen, "NOP-In for an unknown ping tag 0x%08x", h->itt);
			r = -EPROTO;
		}
		break;
	case OP_ASYNC:
		log_info("%s: asynchronous message, event %u (code %u)", s->cfg.label, h->raw[36],
			 h->raw[37]);
		/* Event 1: the target wants us to log out (RFC 7143 11.9.1). Do so at once; the
		 * session then logs in again and sends what had no status, as after a loss. */
		if (h->raw[36] == 1 && !s->logout_requested) {
			log_info("%s: %s asks for a logout; logging out and in again", s->cfg.label,
				 s->cfg.target_name);
			s->logout_requested = 1;
			queue_logout(s);
		}
		/* Event 0 carries SCSI sense data: a unit attention sent without a command. */
		if (h->raw[36] == 0 && h->dsl >= 2 && s->cfg.on_unit_attention) {
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
		snprintf(err, errlen, "the target rejected a PDU: %s", reject_reason(h->b2));
		r = -EPROTO;
		break;
	case OP_TMF_RSP:
		on_tmf_response(s, h, &done_list);
		break;
	case OP_LOGOUT_RSP:
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
	pthread_cond_broadcast(&s->cond);
}

static uint32_t time2wait(const struct session *s)
{
	return s->params.default_time2wait ? s->params.default_time2wait : 1;
}

/* The connection is gone: keep the tasks for resending, except those that had already timed
 * out and been aborted, which end with EIO (their timeout is the application's answer). The
 * timer thread reconnects. Receive thread of the lost connection. */
static void on_failed(void *arg, int error, const char *reason)
{
	struct session *s = arg;
	struct scsi_task *done_list = NULL;

	(void)error;
	pthread_mutex_lock(&s->lock);
	if (s->state == SS_LOGGED_IN) {
		if (s->logout_requested)
			log_info("%s: %s; logging in again", s->cfg.label, reason);
		else
			log_err("%s: connection to %s lost: %s; recovering the session",
				s->cfg.label, s->cfg.target_name, reason);
		s->logout_requested = 0;
		snprintf(s->lost_reason, sizeof(s->lost_reason), "%s", reason);
		s->state = SS_RECOVERING;
		s->fail_time = now_s();
		s->next_attempt = s->fail_time + time2wait(s);
		s->attempts = 0;
		s->expired = 0;
		s->ping_sent = 0;
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

/* TMF tags live in 0xc0000000.., pings in 0x80000000.., tasks below both. Lock held. */
static int send_tmf(struct session *s, int function, uint64_t lun, struct scsi_task *t)
{
	struct tmf *m = NULL;

	for (size_t i = 0; i < sizeof(s->tmfs) / sizeof(s->tmfs[0]) && !m; i++)
		if (!s->tmfs[i].in_use)
			m = &s->tmfs[i];
	if (!m)
		return -EBUSY;
	memset(m, 0, sizeof(*m));
	m->in_use = 1;
	m->function = function;
	m->itt = 0xc0000000u | (++s->tmf_seq & 0x3fffffffu);
	m->ref_itt = t ? t->itt : RSVD_TAG;
	m->lun = lun;
	m->deadline = now_s() + (s->cfg.command_timeout ? s->cfg.command_timeout : 30);
	pdu_build_tmf(m->tx.bhs, function, lun, m->itt, m->ref_itt, s->cmd_sn, s->exp_stat_sn,
		      t ? t->cmd_sn : 0);
	if (conn_queue(s->conn, &m->tx, &m->tx) < 0) {
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

/* The abort did not work: reset the LUN; if that cannot be sent, drop the connection. */
static void escalate(struct session *s, uint64_t lun, const char *why)
{
	log_warn("%s: %s; resetting LUN %u", s->cfg.label, why, scsi_lun_number(lun));
	if (send_tmf(s, TMF_LOGICAL_UNIT_RESET, lun, NULL) < 0)
		conn_abort(s->conn, "cannot send LOGICAL UNIT RESET");
}

static void on_tmf_response(struct session *s, const struct pdu_hdr *h,
			    struct scsi_task **done_list)
{
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
		if (h->b2 == 0 || h->b2 == 1) {
			log_warn("%s: command 0x%08x to LUN %u aborted after %u s", s->cfg.label,
				 t->itt, scsi_lun_number(t->lun), s->cfg.command_timeout);
			abort_done(s, t, done_list);
		} else {
			char why[96];

			snprintf(why, sizeof(why), "ABORT TASK refused: %s",
				 tmf_response_str(h->b2));
			escalate(s, t->lun, why);
		}
		return;
	}
	if (h->b2 != 0) {
		char why[96];

		snprintf(why, sizeof(why), "LOGICAL UNIT RESET failed: %s", tmf_response_str(h->b2));
		conn_abort(s->conn, why);
		return;
	}
	log_warn("%s: LUN %u reset", s->cfg.label, scsi_lun_number(m->lun));
	/* A reset ends every task of the LUN (SAM-5 5.7); none of them will answer now. */
	for (uint32_t i = 0; i < s->cfg.max_tasks; i++) {
		struct scsi_task *t = s->slots[i];

		if (t && !t->awaiting_tx && t->lun == m->lun && sn_lt(t->cmd_sn, s->cmd_sn))
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
			conn_abort(s->conn, "no answer to LOGICAL UNIT RESET");
	}
	for (uint32_t i = 0; i < s->cfg.max_tasks; i++) {
		struct scsi_task *t = s->slots[i];
		int pending = 0;

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
		if (!t || t->delayed || t->awaiting_tx || t->aborting || now < t->deadline)
			continue;
		for (struct scsi_task *p = s->pend_head; p && !pending; p = p->next)
			pending = p == t;
		if (pending)
			continue; /* not sent yet: waiting for the CmdSN window is no timeout */
		t->aborting = 1;
		log_warn("%s: command 0x%08x (opcode 0x%02x) to LUN %u timed out after %u s; aborting",
			 s->cfg.label, t->itt, t->cdb[0], scsi_lun_number(t->lun),
			 s->cfg.command_timeout);
		if (send_tmf(s, TMF_ABORT_TASK, t->lun, t) < 0)
			escalate(s, t->lun, "cannot send ABORT TASK");
	}
}

/* Ping tags live above the task tags (which stay below 0x80000000). */
static void send_ping(struct session *s)
{
	s->ping_itt = 0x80000000u | ((s->ping_itt + 1) & 0x7fffffffu);
	if (s->ping_itt == RSVD_TAG)
		s->ping_itt = 0x80000000u;
	memset(&s->ping_tx, 0, sizeof(s->ping_tx));
	/* An immediate ping to LUN 0 that asks for an answer: valid ITT, reserved TTT. */
	pdu_build_nop_out(s->ping_tx.bhs, 0, s->ping_itt, RSVD_TAG, s->cmd_sn, s->exp_stat_sn, 0);
	s->ping_sent = now_s();
	if (conn_queue(s->conn, &s->ping_tx, &s->ping_tx) < 0)
		s->ping_sent = 0;
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
		if (s->state == SS_RECOVERING)
			check_recovery(s, now);
		if (s->state == SS_LOGGED_IN && s->cfg.nopout_timeout) {
			if (s->ping_sent && now - s->ping_sent >= (time_t)s->cfg.nopout_response_timeout) {
				char why[128];

				snprintf(why, sizeof(why), "no answer to a NOP-Out ping within %u s",
					 s->cfg.nopout_response_timeout);
				s->ping_sent = 0;
				conn_abort(s->conn, why);
			} else if (!s->ping_sent &&
				   now - s->last_rx >= (time_t)s->cfg.nopout_timeout) {
				send_ping(s);
			}
		}
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

/* Queue a Logout that closes the session (RFC 7143 11.14) on the current connection. Lock
 * held. */
static int queue_logout(struct session *s)
{
	memset(&s->logout_tx, 0, sizeof(s->logout_tx));
	pdu_build_logout(s->logout_tx.bhs, 0, RSVD_TAG - 1, 0, s->cmd_sn, s->exp_stat_sn);
	return conn_queue(s->conn, &s->logout_tx, &s->logout_tx);
}

/* Log out and wait, LOGOUT_WAIT_S at most, for the answer. Lock held; whether it came. */
static int logout_and_wait(struct session *s)
{
	struct timespec until;

	s->logout_answered = 0;
	if (queue_logout(s) < 0)
		return 0;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += LOGOUT_WAIT_S;
	while (!s->logout_answered &&
	       pthread_cond_timedwait(&s->cond, &s->lock, &until) != ETIMEDOUT)
		;
	return s->logout_answered;
}

/* Stop a connection the session no longer uses, keep its byte counts for status, free it.
 * No lock held: its threads' last callbacks take the lock. */
static void retire_conn(struct session *s, struct conn *old)
{
	uint64_t tx, rx;

	if (!old)
		return;
	conn_stop(old);
	conn_counters(old, &tx, &rx);
	__atomic_add_fetch(&s->old_bytes_sent, tx, __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->old_bytes_received, rx, __ATOMIC_RELAXED);
	conn_free(old);
}

/* "a.b.c.d[:port][,tpgt]" (RFC 7143 13.8); IPv6 and host names are not followed. */
static int parse_target_address(const char *ta, char *addr, size_t addrlen, uint16_t *port)
{
	char buf[256], *p;
	unsigned long v = 3260;
	struct in_addr in;

	snprintf(buf, sizeof(buf), "%s", ta);
	p = strchr(buf, ',');
	if (p)
		*p = '\0';
	p = strchr(buf, ':');
	if (p) {
		char *end;

		*p++ = '\0';
		v = strtoul(p, &end, 10);
		if (*end || !v || v > 65535)
			return -EINVAL;
	}
	if (inet_pton(AF_INET, buf, &in) != 1 || strlen(buf) >= addrlen)
		return -EINVAL;
	memcpy(addr, buf, strlen(buf) + 1);
	*port = (uint16_t)v;
	return 0;
}

/* Connect and log in (TSIH 0 with the session's ISID: a new session, or the reinstatement of
 * a lost one). *out is the logged-in connection. No lock held. */
static int connect_and_login(struct session *s, struct conn **out, struct login_result *res,
			     char *err, size_t errlen)
{
	struct login_params lp = {0};
	char label[160], addr[64];
	uint16_t port;
	int r, redirects = 0;

	snprintf(label, sizeof(label), "%s %s:%u cid0", s->cfg.label, s->cfg.addr, s->cfg.port);
	lp.initiator_name = s->cfg.initiator_name;
	lp.initiator_alias = s->cfg.initiator_alias;
	lp.target_name = s->cfg.target_name;
	lp.admin_keys = s->cfg.admin_keys;
	lp.isid = s->isid;
	lp.tsih = 0;
	lp.cid = 0;
	RAND_bytes((uint8_t *)&lp.cmd_sn, sizeof(lp.cmd_sn));
	lp.timeout_s = s->cfg.login_timeout;
	lp.max_recv_dsl = 262144;
	lp.chap = s->cfg.chap;
	snprintf(addr, sizeof(addr), "%s", s->cfg.addr);
	port = s->cfg.port;
	for (int attempt = 0;; attempt++) {
		struct conn *c = conn_new(label);

		if (!c)
			return -ENOMEM;
		r = conn_connect(c, addr, port, s->cfg.netdev, s->cfg.login_timeout, err, errlen);
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

/* Take a logged-in connection into use and start its threads. Lock held. */
static int install_conn(struct session *s, struct conn *c, const struct login_result *res,
			char *err, size_t errlen)
{
	struct conn_handler h = {rx_begin, rx_end, on_failed, s};
	int r;

	s->conn = c;
	s->params = res->params;
	s->tsih = res->tsih;
	s->exp_stat_sn = res->exp_stat_sn;
	s->exp_cmd_sn = res->exp_cmd_sn;
	s->max_cmd_sn = res->max_cmd_sn;
	if (sn_lt(res->max_cmd_sn, res->exp_cmd_sn - 1))
		s->max_cmd_sn = res->exp_cmd_sn - 1;
	s->cmd_sn = res->exp_cmd_sn;
	s->last_rx = now_s();
	s->ping_sent = 0;
	s->logout_answered = 0;
	log_info("%s: logged in to %s at %s:%u (TSIH %u, MaxRecvDataSegmentLength %u/%u, "
		 "MaxBurstLength %u, FirstBurstLength %u, ImmediateData %s, InitialR2T %s, "
		 "HeaderDigest %s, DataDigest %s)",
		 s->cfg.label, s->cfg.target_name, s->cfg.addr, s->cfg.port, s->tsih,
		 s->params.max_recv_dsl, s->params.max_xmit_dsl, s->params.max_burst_length,
		 s->params.first_burst_length, s->params.immediate_data ? "Yes" : "No",
		 s->params.initial_r2t ? "Yes" : "No", s->params.header_digest ? "CRC32C" : "None",
		 s->params.data_digest ? "CRC32C" : "None");
	r = conn_start(c, &h, s->params.max_recv_dsl, s->params.header_digest,
		       s->params.data_digest);
	if (r)
		snprintf(err, errlen, "cannot start connection threads: %s", strerror(-r));
	return r;
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
	struct conn *old = s->conn, *c = NULL;
	struct login_result res;
	char err[512] = "";
	int r;

	s->conn = NULL;
	pthread_mutex_unlock(&s->lock);
	retire_conn(s, old);
	r = connect_and_login(s, &c, &res, err, sizeof(err));
	pthread_mutex_lock(&s->lock);
	if (r == 0 && (s->timer_stop || s->state != SS_RECOVERING)) {
		conn_free(c); /* logging out meanwhile */
		return;
	}
	if (r == 0)
		r = install_conn(s, c, &res, err, sizeof(err));
	if (r) {
		uint32_t backoff = 1u << (s->attempts < 3 ? s->attempts : 3);

		s->attempts++;
		s->next_attempt = now_s() + time2wait(s) + backoff;
		log_warn("%s: reconnect attempt %d to %s:%u failed: %s; next in %u s", s->cfg.label,
			 s->attempts, s->cfg.addr, s->cfg.port, err,
			 (unsigned)(s->next_attempt - now_s()));
		return;
	}
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
		conn_abort(s->conn, "out of memory resending commands");
		return;
	}
	for (uint32_t i = 0; i < s->cfg.max_tasks; i++)
		if (s->slots[i] && !s->slots[i]->awaiting_tx)
			live[n++] = s->slots[i];
	qsort(live, (size_t)n, sizeof(*live), by_seq);
	s->pend_head = s->pend_tail = NULL;
	for (int i = 0; i < n; i++) {
		live[i]->aborting = 0;
		start_task(s, live[i], &done_list);
	}
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
	int r;

	r = connect_and_login(s, &c, &res, err, errlen);
	if (r)
		return r;
	pthread_mutex_lock(&s->lock);
	r = install_conn(s, c, &res, err, errlen);
	s->state = r ? SS_LOGGED_OUT : SS_LOGGED_IN;
	pthread_mutex_unlock(&s->lock);
	if (!r) {
		r = -pthread_create(&s->timer, NULL, timer_main, s);
		s->timer_running = !r;
		if (r)
			snprintf(err, errlen, "cannot start the session timer: %s", strerror(-r));
	}
	return r;
}

void session_pause(struct session *s)
{
	struct conn *old;

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
	old = s->conn;
	s->conn = NULL;
	pthread_mutex_unlock(&s->lock);
	retire_conn(s, old);
	log_info("%s: paused: logged out of %s; I/O waits until the channel is started", s->cfg.label,
		 s->cfg.target_name);
}

int session_resume(struct session *s, char *err, size_t errlen)
{
	struct login_result res;
	struct conn *c = NULL;
	int r;

	pthread_mutex_lock(&s->lock);
	if (s->state != SS_PAUSED) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	pthread_mutex_unlock(&s->lock);
	r = connect_and_login(s, &c, &res, err, errlen);
	if (r)
		return r;
	pthread_mutex_lock(&s->lock);
	if (s->state != SS_PAUSED) {
		pthread_mutex_unlock(&s->lock);
		conn_free(c);
		return 0;
	}
	r = install_conn(s, c, &res, err, errlen);
	if (r) {
		s->conn = NULL;
		pthread_mutex_unlock(&s->lock);
		conn_free(c);
		return r;
	}
	s->state = SS_LOGGED_IN;
	log_info("%s: resumed", s->cfg.label);
	resend_live(s);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void session_get_info(struct session *s, struct session_info *out)
{
	time_t now = now_s();
	uint64_t tx = 0, rx = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&s->lock);
	switch (s->state) {
	case SS_LOGGED_IN:
		out->status = SESSION_UP;
		break;
	case SS_RECOVERING:
		out->status = SESSION_RECOVERING;
		break;
	case SS_PAUSING:
	case SS_PAUSED:
		out->status = SESSION_PAUSED;
		break;
	default:
		out->status = SESSION_DOWN;
		break;
	}
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
	if (s->conn)
		conn_counters(s->conn, &tx, &rx);
	out->bytes_sent = tx + __atomic_load_n(&s->old_bytes_sent, __ATOMIC_RELAXED);
	out->bytes_received = rx + __atomic_load_n(&s->old_bytes_received, __ATOMIC_RELAXED);
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
	pthread_mutex_unlock(&s->lock);
	timer_stop(s);
	if (s->conn)
		conn_stop(s->conn);
	pthread_mutex_lock(&s->lock);
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
	conn_free(s->conn);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	pthread_cond_destroy(&s->timer_cond);
	free(s->slots);
	free(s->free_slots);
	free(s);
}
