/* The session's tasks: their table and tags, the CmdSN window (RFC 7143 4.2.2.1), the
 * connection each is sent on, and their completion. Submitting never waits: a task without a
 * place in the table, or outside the window, waits in line without a thread. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "evloop.h"
#include "log.h"
#include "scsi.h"
#include "session_int.h"

/* A live task by tag; tasks whose result is already in are not live. */
struct scsi_task *task_lookup(struct session *s, uint32_t itt)
{
	uint32_t slot = itt & (MAX_SLOTS - 1);
	struct scsi_task *t;

	if (slot >= s->cfg.max_tasks)
		return NULL;
	t = s->slots[slot];
	return t && t->itt == itt && t->tstate != TASK_TX_DONE && t->tstate != TASK_TX_RETRY ? t
												: NULL;
}

/* The writer is done with one of the task's PDU chains. */
static void tx_sent(void *ctx, int err)
{
	struct scsi_task *t = ctx;
	struct session *s = t->sess;
	struct scsi_task *done_list = NULL;

	(void)err; /* a failed write fails the connection, which fails the task */
	pthread_mutex_lock(&s->lock);
	if (--t->tx_refs == 0) {
		if (t->tstate == TASK_TX_RETRY)
			start_task(s, t, &done_list);
		else if (t->tstate == TASK_TX_DONE)
			complete_task(s, t, &done_list);
	}
	pthread_mutex_unlock(&s->lock);
	run_done(done_list);
}

/* The task no longer counts against its connection. */
void detach(struct scsi_task *t)
{
	if (t->sc) {
		t->sc->active--;
		t->sc = NULL;
	}
}

/* The connection with the fewest tasks, among those logged in; ties go round in turn. */
struct sconn *pick_conn(struct session *s)
{
	struct sconn *best = NULL;
	int start = (int)(s->rr++ % (uint32_t)s->nsc);

	for (int k = 0; k < s->nsc; k++) {
		struct sconn *sc = &s->sc[(start + k) % s->nsc];

		if (sc->state == CS_LOGGED_IN && (!best || sc->active < best->active))
			best = sc;
	}
	return best;
}

/* Queue a chain whose last PDU holds a reference on the task. */
void queue_chain(struct sconn *sc, struct scsi_task *t, struct txreq *first,
			struct txreq *last)
{
	last->sent = tx_sent;
	last->ctx = t;
	t->tx_refs++;
	if (conn_queue(sc->conn, first, last) < 0)
		t->tx_refs--; /* the connection is going down and will take the task with it */
}

/* The command PDU and any unsolicited data (ImmediateData, InitialR2T=No), queued on sc. The
 * task's own txreq carries the command unless the writer still holds it (a retry). */
static void queue_command(struct session *s, struct scsi_task *t, struct sconn *sc)
{
	const struct iscsi_params *p = &s->params;
	uint32_t imm = 0, unsol = 0, off;
	struct txreq *first = &t->tx, *last;
	uint32_t data_sn = 0;

	if (t->tx_refs) {
		first = calloc(1, sizeof(*first));
		if (!first)
			return; /* the command's timeout recovers it */
		first->owned = 1;
	} else {
		memset(&t->tx, 0, sizeof(t->tx));
	}
	last = first;
	if (t->dir == TASK_DIR_WRITE) {
		/* Unsolicited data: immediate data, plus Data-Out PDUs when InitialR2T=No, all
		 * within FirstBurstLength (RFC 7143 13.10, 13.11, 13.14). */
		uint32_t limit = t->len < p->first_burst_length ? t->len : p->first_burst_length;

		if (p->immediate_data)
			imm = limit < sc->max_xmit_dsl ? limit : sc->max_xmit_dsl;
		unsol = p->initial_r2t ? imm : limit;
	}
	pdu_build_scsi_cmd(first->bhs, t->dir == TASK_DIR_READ, t->dir == TASK_DIR_WRITE, t->lun,
			   t->itt, t->len, t->cmd_sn, sc->exp_stat_sn, t->cdb, t->cdb_len, imm,
			   unsol == imm);
	first->data = t->buf;
	first->dsl = imm;
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

/* Send the task on the least busy connection. A retry (RFC 7143 7.2.1) keeps the tag and
 * CmdSN. Called with can_send() true and, unless a retry, the window open. */
void send_task(struct session *s, struct scsi_task *t, int retry)
{
	struct sconn *sc = pick_conn(s);

	if (!retry)
		t->cmd_sn = s->cmd_sn++;
	t->sc = sc;
	t->tstate = TASK_SENT;
	sc->active++;
	sc->commands++;
	s->commands++;
	t->deadline = now_s() + (s->cfg.command_timeout ? s->cfg.command_timeout : 30);
	queue_command(s, t, sc);
}

void resend_command(struct session *s, struct scsi_task *t)
{
	t->resends++;
	s->resent++;
	t->deadline = now_s() + (s->cfg.command_timeout ? s->cfg.command_timeout : 30);
	queue_command(s, t, t->sc);
}

/* Back to where a new execution starts (its tag and CmdSN aside). */
static void reset_progress(struct scsi_task *t)
{
	t->xferred = 0;
	t->data_sn = 0;
	t->ngaps = 0;
	t->contig_end = t->high_end = 0;
	t->ack_sn = 0;
	t->status = 0;
	t->sense_len = 0;
	t->residual = 0;
}

int reissue_task(struct session *s, struct scsi_task *t, struct scsi_task **done_list)
{
	detach(t);
	if (!sn_lt(t->cmd_sn, s->exp_cmd_sn) && can_send(s)) {
		reset_progress(t);
		send_task(s, t, 1);
		return 1;
	}
	start_task(s, t, done_list);
	return 0;
}

/* Send what the window allows from the pending list. */
void flush_pending(struct session *s)
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

/* A new tag, a clean result, and out now or in line for the window. */
void start_task(struct session *s, struct scsi_task *t, struct scsi_task **done_list)
{
	detach(t);
	if (!may_wait(s)) {
		t->result = no_wait_error(s);
		complete_task(s, t, done_list);
		return;
	}
	t->tstate = TASK_QUEUED;
	t->itt = (++s->itt_gen << SLOT_BITS | (uint32_t)t->slot) & 0x7fffffff;
	if (t->itt == RSVD_TAG)
		t->itt = (uint32_t)t->slot;
	reset_progress(t);
	t->resends = 0;
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

/* Give t a place in the table and start it. */
static void admit(struct session *s, struct scsi_task *t, struct scsi_task **done_list)
{
	t->slot = s->free_slots[--s->nfree];
	s->slots[t->slot] = t;
	t->sc = NULL;
	t->seq = s->next_seq++;
	t->retries = 0;
	t->timeouts = 0;
	t->tx_refs = 0;
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
 * the caller runs done() after dropping the lock. */
void complete_task(struct session *s, struct scsi_task *t, struct scsi_task **done_list)
{
	detach(t);
	if (t->tx_refs) {
		t->tstate = TASK_TX_DONE;
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

void run_done(struct scsi_task *list)
{
	while (list) {
		struct scsi_task *next = list->next;

		list->next = NULL;
		list->done(list);
		list = next;
	}
}

/* Send t again as a new task, at once or, while the writer still holds one of its PDU chains,
 * as soon as it lets go (tx_sent). */
void restart_task(struct session *s, struct scsi_task *t, struct scsi_task **done_list)
{
	detach(t);
	if (t->tx_refs) {
		t->tstate = TASK_TX_RETRY;
		return;
	}
	start_task(s, t, done_list);
}

/* A status arrived. Unit attentions and busy targets are retried here, a bounded number of
 * times, so every layer above sees only final results. */
void finish_task(struct session *s, struct scsi_task *t, struct scsi_task **done_list)
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
				t->tstate = TASK_DELAYED;
				t->itt = RSVD_TAG; /* nothing may arrive for the old tag */
				t->retry_at = now_s() + (1 << (t->retries < 4 ? t->retries - 1 : 3));
			}
			return;
		}
	}
	complete_task(s, t, done_list);
}

void update_window(struct session *s, uint32_t exp, uint32_t max)
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

/* Fail every task in the table and in the queue. */
void fail_all(struct session *s, struct scsi_task **done_list)
{
	for (uint32_t i = 0; i < s->cfg.max_tasks; i++) {
		struct scsi_task *t = s->slots[i];

		if (!t || t->tstate == TASK_TX_DONE || t->tstate == TASK_TX_RETRY)
			continue; /* those complete when the writer lets go */
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

static int by_seq(const void *a, const void *b)
{
	const struct scsi_task *x = *(struct scsi_task *const *)a, *y = *(struct scsi_task *const *)b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void resend_live(struct session *s, struct scsi_task **done_list)
{
	struct scsi_task **live;
	int n = 0;

	live = calloc(s->cfg.max_tasks, sizeof(*live));
	if (!live) {
		drop_all(s, "out of memory resending commands", done_list);
		return;
	}
	for (uint32_t i = 0; i < s->cfg.max_tasks; i++)
		if (s->slots[i] && s->slots[i]->tstate != TASK_TX_DONE &&
		    s->slots[i]->tstate != TASK_TX_RETRY)
			live[n++] = s->slots[i];
	qsort(live, (size_t)n, sizeof(*live), by_seq);
	s->pend_head = s->pend_tail = NULL;
	for (int i = 0; i < n; i++) {
		live[i]->sc = NULL; /* their connections are gone */
		start_task(s, live[i], done_list);
	}
	for (int i = 0; i < s->nsc; i++)
		s->sc[i].active = 0;
	for (int i = 0; i < n; i++)
		if (live[i]->sc)
			live[i]->sc->active++;
	free(live);
	if (n)
		log_info("%s: %d command(s) sent again", s->cfg.label, n);
}
