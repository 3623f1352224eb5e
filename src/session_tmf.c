/* Task management (RFC 7143 11.5, 11.6): a command past command_timeout is aborted, then its
 * LUN reset, then the session reinstated; and liveness (11.18): a NOP-Out ping after
 * nopout_timeout of silence. Called by the timer thread and the receive path. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "scsi.h"
#include "session_int.h"

#define NTMFS (sizeof(((struct session *)0)->tmfs) / sizeof(struct tmf))

/* A free place for a request on sc, filled in but for its PDU; NULL when there is none. */
static struct tmf *tmf_new(struct session *s, int function, uint64_t lun, uint32_t ref_itt,
			   struct sconn *sc)
{
	struct tmf *m = NULL;

	for (size_t i = 0; i < NTMFS && !m; i++)
		if (!s->tmfs[i].in_use)
			m = &s->tmfs[i];
	if (!m)
		return NULL;
	memset(m, 0, sizeof(*m));
	m->in_use = 1;
	m->function = function;
	m->itt = TMF_TAG(++s->tmf_seq);
	m->ref_itt = ref_itt;
	m->lun = lun;
	m->sc = sc;
	m->deadline = now_s() + (s->cfg.command_timeout ? s->cfg.command_timeout : 30);
	return m;
}

/* Task management requests go on the connection of the task they name, or the least busy. */
int send_tmf(struct session *s, int function, uint64_t lun, struct scsi_task *t)
{
	struct sconn *sc = t ? t->sc : pick_conn(s);
	struct tmf *m;

	if (!sc || sc->state != CS_LOGGED_IN)
		return -EPIPE;
	m = tmf_new(s, function, lun, t ? t->itt : RSVD_TAG, sc);
	if (!m)
		return -EBUSY;
	pdu_build_tmf(m->tx.bhs, function, lun, m->itt, m->ref_itt, s->cmd_sn, sc->exp_stat_sn,
		      t ? t->cmd_sn : 0, 0);
	if (conn_queue(sc->conn, &m->tx, &m->tx) < 0) {
		m->in_use = 0;
		return -EPIPE;
	}
	return 0;
}

/* TASK REASSIGN of t, allegiant to lost connection from, to connection to (RFC 7143 11.5.1):
 * a read goes on from the first Data-In not in yet (ExpDataSN), a write from what the target
 * asks for. The allegiance moves with the request. */
static int send_reassign(struct session *s, struct scsi_task *t, struct sconn *from,
			 struct sconn *to)
{
	uint32_t exp_data_sn = 0;
	struct tmf *m = tmf_new(s, TMF_TASK_REASSIGN, t->lun, t->itt, to);

	if (!m)
		return -EBUSY;
	m->from = from;
	if (t->dir == TASK_DIR_READ) {
		exp_data_sn = t->data_sn;
		for (int i = 0; i < t->ngaps; i++)
			if (sn_lt(t->gaps[i].beg, exp_data_sn))
				exp_data_sn = t->gaps[i].beg;
	}
	pdu_build_tmf(m->tx.bhs, TMF_TASK_REASSIGN, t->lun, m->itt, t->itt, s->cmd_sn,
		      to->exp_stat_sn, 0, exp_data_sn);
	if (conn_queue(to->conn, &m->tx, &m->tx) < 0) {
		m->in_use = 0;
		return -EPIPE;
	}
	/* What came after the first Data-In not in comes again, the status with it. */
	t->data_sn = exp_data_sn;
	t->xferred = t->high_end = t->contig_end;
	t->ngaps = 0;
	t->ack_sn = 0;
	detach(t);
	t->sc = to;
	to->active++;
	t->tstate = TASK_REASSIGNING;
	from->reassigning++;
	log_info("%s: TASK REASSIGN of command 0x%08x from lost connection %u to connection %u%s",
		 s->cfg.label, t->itt, from->cid, to->cid,
		 t->dir == TASK_DIR_READ ? ", its data from the first Data-In not in" : "");
	return 0;
}

int reassign_tasks(struct session *s, struct sconn *from, struct scsi_task **done_list)
{
	int waiting = 0;

	for (uint32_t i = 0; i < s->cfg.max_tasks; i++) {
		struct scsi_task *t = s->slots[i];
		struct sconn *to;

		if (!t || t->sc != from)
			continue;
		if (t->tstate == TASK_ABORTING) {
			t->result = -EIO; /* timed out before: the application has its answer */
			complete_task(s, t, done_list);
			continue;
		}
		to = pick_conn(s);
		if (!to || send_reassign(s, t, from, to) < 0)
			waiting++;
	}
	return waiting;
}

/* A TASK REASSIGN is answered (response), or gone unanswered (-1): the task goes on where it
 * was moved, or, when the target would not move it, is sent again as at ErrorRecoveryLevel 0. */
static void reassign_done(struct session *s, struct tmf *m, int response,
			  struct scsi_task **done_list)
{
	struct scsi_task *t = task_lookup(s, m->ref_itt);
	struct sconn *from = m->from;

	if (from->reassigning)
		from->reassigning--;
	if (t && t->tstate == TASK_REASSIGNING) {
		if (response == 0) {
			t->tstate = TASK_SENT;
			t->deadline = now_s() + (s->cfg.command_timeout ? s->cfg.command_timeout : 30);
			s->reassigned++;
		} else {
			log_warn("%s: command 0x%08x not reassigned (%s); sending it again",
				 s->cfg.label, t->itt,
				 response < 0 ? "no answer" : tmf_response_str((uint8_t)response));
			s->not_reassigned++;
			reissue_task(s, t, done_list);
		}
	}
	if (from->state != CS_REASSIGNING)
		return;
	if (from->active)
		reassign_tasks(s, from, done_list); /* a place is free for the next */
	if (!from->active && !from->reassigning)
		conn_event(from, CE_REASSIGNED, done_list);
}

void tmfs_forget(struct session *s, struct sconn *only)
{
	for (size_t i = 0; i < NTMFS; i++) {
		struct tmf *m = &s->tmfs[i];
		struct scsi_task *t;

		if (!m->in_use || (only && m->sc != only))
			continue;
		m->in_use = 0;
		if (m->function != TMF_TASK_REASSIGN)
			continue;
		/* A task on its way to a connection that is lost too belongs to that one now. */
		if (m->from->reassigning)
			m->from->reassigning--;
		t = task_lookup(s, m->ref_itt);
		if (t && t->tstate == TASK_REASSIGNING)
			t->tstate = TASK_SENT;
	}
}

/* Fail a task that was aborted (or whose LUN was reset). */
static void abort_done(struct session *s, struct scsi_task *t, struct scsi_task **done_list)
{
	t->result = -EIO;
	complete_task(s, t, done_list);
}

/* The abort did not work: reset the LUN; if that cannot be sent, reinstate the session. */
static void escalate(struct session *s, uint64_t lun, const char *why,
		     struct scsi_task **done_list)
{
	log_warn("%s: %s; resetting LUN %u", s->cfg.label, why, scsi_lun_number(lun));
	if (send_tmf(s, TMF_LOGICAL_UNIT_RESET, lun, NULL) < 0)
		drop_all(s, "cannot send LOGICAL UNIT RESET", done_list);
}

void on_tmf_response(struct session *s, const struct pdu_hdr *h, struct scsi_task **done_list)
{
	uint8_t response = h->u.tmf_rsp.response;
	struct tmf *m = NULL;

	for (size_t i = 0; i < NTMFS && !m; i++)
		if (s->tmfs[i].in_use && s->tmfs[i].itt == h->itt)
			m = &s->tmfs[i];
	if (!m) {
		log_warn("%s: Task Management Response for an unknown tag 0x%08x", s->cfg.label,
			 h->itt);
		return;
	}
	m->in_use = 0;
	if (m->function == TMF_TASK_REASSIGN) {
		reassign_done(s, m, response, done_list);
		return;
	}
	if (m->function == TMF_ABORT_TASK) {
		struct scsi_task *t = task_lookup(s, m->ref_itt);

		if (!t)
			return; /* its status arrived first */
		if ((response == 0 || response == 1) && t->timeouts < TIMEOUT_RETRIES) {
			/* The target has no such task now (RFC 7143 11.6.1): a new one with a new
			 * tag and CmdSN cannot meet the old one there. */
			t->timeouts++;
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
			escalate(s, t->lun, why, done_list);
		}
		return;
	}
	if (response != 0) {
		char why[96];

		snprintf(why, sizeof(why), "LOGICAL UNIT RESET failed: %s",
			 tmf_response_str(response));
		drop_all(s, why, done_list);
		return;
	}
	log_warn("%s: LUN %u reset", s->cfg.label, scsi_lun_number(m->lun));
	/* A reset ends every task of the LUN (SAM-5 5.7) that the target has seen; none of them
	 * will answer now. */
	for (uint32_t i = 0; i < s->cfg.max_tasks; i++) {
		struct scsi_task *t = s->slots[i];

		if (t && (t->tstate == TASK_SENT || t->tstate == TASK_ABORTING) &&
		    t->lun == m->lun && t->sc)
			abort_done(s, t, done_list);
	}
}

/* Commands past their deadline, busy commands due again, and task management requests past
 * theirs. */
void check_timeouts(struct session *s, time_t now)
{
	struct scsi_task *done_list = NULL;

	for (size_t i = 0; i < NTMFS; i++) {
		struct tmf *m = &s->tmfs[i];

		if (!m->in_use || now < m->deadline)
			continue;
		m->in_use = 0;
		if (m->function == TMF_TASK_REASSIGN)
			reassign_done(s, m, -1, &done_list);
		else if (m->function == TMF_ABORT_TASK)
			escalate(s, m->lun, "no answer to ABORT TASK", &done_list);
		else
			drop_all(s, "no answer to LOGICAL UNIT RESET", &done_list);
	}
	for (uint32_t i = 0; i < s->cfg.max_tasks; i++) {
		struct scsi_task *t = s->slots[i];

		if (!t)
			continue;
		if (t->tstate == TASK_DELAYED && now >= t->retry_at) {
			start_task(s, t, &done_list);
			continue;
		}
		/* Not sent yet (waiting for the CmdSN window), or waiting for its lost connection
		 * to be cleaned up: no timeout. */
		if ((t->tstate != TASK_SENT && t->tstate != TASK_HELD) || !t->sc ||
		    t->sc->state != CS_LOGGED_IN || now < t->deadline)
			continue;
		if (t->tstate == TASK_HELD)
			erl_release(t->sc, t); /* Data-In asked for again never came */
		t->tstate = TASK_ABORTING;
		log_warn("%s: command 0x%08x (opcode 0x%02x) to LUN %u timed out after %u s; aborting",
			 s->cfg.label, t->itt, t->cdb[0], scsi_lun_number(t->lun),
			 s->cfg.command_timeout);
		if (send_tmf(s, TMF_ABORT_TASK, t->lun, t) < 0)
			escalate(s, t->lun, "cannot send ABORT TASK", &done_list);
	}
	if (done_list) {
		pthread_mutex_unlock(&s->lock);
		run_done(done_list);
		pthread_mutex_lock(&s->lock);
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

/* With commands held up (a lost connection leaves a gap in the CmdSN order, and the target
 * then answers nothing on the others either), the connection silent the longest is the
 * suspect: it alone is pinged, and only while no ping is out, so the healthy ones are not
 * failed with it. NULL while a ping is out. */
static struct sconn *first_suspect(struct session *s)
{
	struct sconn *oldest = NULL;

	for (int i = 0; i < s->nsc; i++) {
		struct sconn *sc = &s->sc[i];

		if (sc->state != CS_LOGGED_IN)
			continue;
		if (sc->ping_sent)
			return NULL;
		if (sc->active && (!oldest || sc->last_rx < oldest->last_rx))
			oldest = sc;
	}
	return oldest;
}

/* A logged-in connection: an unanswered ping fails it; silence gets a ping. */
void check_liveness(struct session *s, struct sconn *sc, time_t now)
{
	if (!s->cfg.nopout_timeout || sc->state != CS_LOGGED_IN)
		return;
	if (sc->ping_sent && now - sc->ping_sent >= (time_t)s->cfg.nopout_response_timeout) {
		char why[128];

		snprintf(why, sizeof(why), "no answer to a NOP-Out ping within %u s",
			 s->cfg.nopout_response_timeout);
		sc->ping_sent = 0;
		conn_abort(sc->conn, why);
	} else if (!sc->ping_sent && now - sc->last_rx >= (time_t)s->cfg.nopout_timeout) {
		/* A ping is immediate: it carries the next CmdSN, which the target may not
		 * expect yet while commands on another connection are on their way (istgt drops
		 * the connection then). So with commands unacknowledged elsewhere, an idle
		 * connection waits for them, and a silent one with commands of its own is pinged
		 * only after nopout_response_timeout more. */
		time_t silent = now - sc->last_rx;
		int elsewhere = s->nup > 1 && sn_lt(s->exp_cmd_sn, s->cmd_sn);

		if (!elsewhere ||
		    (sc->active &&
		     silent >= (time_t)(s->cfg.nopout_timeout + s->cfg.nopout_response_timeout) &&
		     sc == first_suspect(s)))
			send_ping(s, sc);
	}
}
