/* Recovery within a connection, at ErrorRecoveryLevel 1 and 2 (RFC 7143 7.1, 7.2, 11.16): a
 * Data-In or a status that did not arrive (a digest error, a gap in DataSN or StatSN) is asked
 * for again with a SNACK and the connection stays; the target's DataACK requests are
 * answered; a command the target never took goes again with its tag and CmdSN. At level 0
 * none of this runs: each of those errors costs the connection. Called from the receive path
 * with the session's lock held. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "session_int.h"

#define MAX_RUN 1024    /* PDUs one SNACK may ask for */
#define STAT_WINDOW 64  /* statuses that may wait beyond ExpStatSN (the bitmaps' width) */
#define MAX_RESENDS 3   /* a command rejected for a digest error, sent again at most */
#define REJECT_DATA_DIGEST 0x02
#define REJECT_SNACK 0x03

uint32_t erl_offered(const struct session *s)
{
	/* The configuration checked it (0 to 2, decimal or 0x hex); the login offers it. */
	const char *v = s->cfg.admin_keys ? s->cfg.admin_keys->val[K_ERROR_RECOVERY_LEVEL] : NULL;
	unsigned long n;

	if (!v)
		return 0;
	n = v[0] == '0' && (v[1] == 'x' || v[1] == 'X') ? strtoul(v + 2, NULL, 16)
							: strtoul(v, NULL, 10);
	return n <= 2 ? (uint32_t)n : 0;
}

static void send_snack(struct session *s, struct sconn *sc, int type, uint64_t lun, uint32_t itt,
		       uint32_t ttt, uint32_t beg, uint32_t run)
{
	struct txreq *r = calloc(1, sizeof(*r));

	if (!r)
		return; /* the command's timeout recovers it */
	r->owned = 1;
	pdu_build_snack(r->bhs, type, lun, itt, ttt, sc->exp_stat_sn, beg, run);
	if (conn_queue(sc->conn, r, r) == 0)
		s->snacks++;
}

/* Data-In beg .. beg + run - 1 of t did not arrive: the log says so, a SNACK asks for them. */
static void ask_data(struct session *s, struct sconn *sc, struct scsi_task *t, uint32_t beg,
		     uint32_t run)
{
	if (run == 1)
		log_warn("%s: connection %u: Data-In %u of task 0x%08x did not arrive; asking for it "
			 "again", s->cfg.label, sc->cid, beg, t->itt);
	else
		log_warn("%s: connection %u: Data-In %u to %u of task 0x%08x did not arrive; asking "
			 "for them again", s->cfg.label, sc->cid, beg, beg + run - 1, t->itt);
	send_snack(s, sc, SNACK_DATA_R2T, t->lun, t->itt, RSVD_TAG, beg, run);
}

/* DataSNs beg .. beg + len - 1 are missing; 0, or -1 when the task has no room for a run. */
static int gap_add(struct scsi_task *t, uint32_t beg, uint32_t len)
{
	for (int i = 0; i < t->ngaps; i++) {
		if (t->gaps[i].beg + t->gaps[i].len == beg) {
			t->gaps[i].len += len;
			return 0;
		}
		if (beg + len == t->gaps[i].beg) {
			t->gaps[i].beg = beg;
			t->gaps[i].len += len;
			return 0;
		}
	}
	if (t->ngaps == TASK_GAPS)
		return -1;
	t->gaps[t->ngaps].beg = beg;
	t->gaps[t->ngaps].len = len;
	t->ngaps++;
	return 0;
}

/* DataSN d arrived: 1 when it was missing (no longer), 0 when it was not, -1 when it splits a
 * run and the task has no room for the second part. */
static int gap_take(struct scsi_task *t, uint32_t d)
{
	for (int i = 0; i < t->ngaps; i++) {
		uint32_t beg = t->gaps[i].beg, len = t->gaps[i].len, k = d - beg;

		if (k >= len)
			continue;
		if (k == 0) {
			t->gaps[i].beg++;
			t->gaps[i].len--;
		} else if (k == len - 1) {
			t->gaps[i].len--;
		} else {
			if (t->ngaps == TASK_GAPS)
				return -1;
			t->gaps[i].len = k;
			t->gaps[t->ngaps].beg = d + 1;
			t->gaps[t->ngaps].len = len - k - 1;
			t->ngaps++;
		}
		if (t->gaps[i].len == 0)
			t->gaps[i] = t->gaps[--t->ngaps];
		return 1;
	}
	return 0;
}

int erl_datain_begin(struct session *s, struct sconn *sc, struct scsi_task *t,
		     const struct pdu_hdr *h, void **dst, char *err, size_t errlen)
{
	uint32_t d = h->u.data_in.data_sn, off = h->u.data_in.offset;
	int in_order = s->params.data_pdu_in_order && s->params.data_sequence_in_order;
	int r;

	if (d == t->data_sn || sn_lt(t->data_sn, d)) {
		uint32_t run = d - t->data_sn;

		/* After a run that went missing, the sizes of its PDUs are not known. */
		if (in_order && (run ? off < t->high_end : off != t->high_end)) {
			snprintf(err, errlen, "SCSI Data-In at offset %u, expected %s%u (data out of "
				 "order)", off, run ? "at least " : "", t->high_end);
			return -EPROTO;
		}
		if (run) {
			if (run > MAX_RUN || gap_add(t, t->data_sn, run) < 0) {
				snprintf(err, errlen, "SCSI Data-In with DataSN %u where %u was due "
					 "(task 0x%08x), more missing than can be asked for again",
					 d, t->data_sn, h->itt);
				return -EPROTO;
			}
			ask_data(s, sc, t, t->data_sn, run);
		}
		t->data_sn = d + 1;
		t->high_end = off + h->dsl;
		if (!t->ngaps)
			t->contig_end = t->high_end;
		*dst = (uint8_t *)t->buf + off;
		return 0;
	}
	r = gap_take(t, d);
	if (r < 0) {
		snprintf(err, errlen, "SCSI Data-In %u of task 0x%08x splits more runs of missing "
			 "Data-In than can be kept", d, h->itt);
		return -EPROTO;
	}
	if (r == 0) {
		sc->rx_dup = 1; /* a copy of one in place already: its bytes go */
		return 0;
	}
	*dst = (uint8_t *)t->buf + off;
	return 0;
}

void erl_release(struct sconn *sc, struct scsi_task *t)
{
	uint32_t off = t->held_stat_sn - sc->exp_stat_sn;

	if (t->tstate == TASK_HELD && off < STAT_WINDOW)
		sc->stat_held &= ~(1ull << off);
	erl_stat_ack(sc);
}

void erl_datain_end(struct session *s, struct sconn *sc, struct scsi_task *t,
		    const struct pdu_hdr *h, struct scsi_task **done_list)
{
	if (h->flags & FL_DATA_ACK) {
		/* The target wants the data up to here acknowledged (11.7.2), but not before
		 * every Data-In before it is in. */
		t->ack_sn = h->u.data_in.data_sn + 1;
		t->ack_ttt = h->u.data_in.ttt;
		t->ack_lun = h->lun;
	}
	if (t->ngaps)
		return;
	t->contig_end = t->high_end;
	if (t->ack_sn) {
		send_snack(s, sc, SNACK_DATA_ACK, t->ack_lun, RSVD_TAG, t->ack_ttt, t->ack_sn, 0);
		t->ack_sn = 0;
	}
	if (t->tstate == TASK_HELD) {
		log_info("%s: connection %u: the Data-In of task 0x%08x asked for again arrived",
			 s->cfg.label, sc->cid, t->itt);
		erl_release(sc, t);
		finish_task(s, t, done_list);
	}
}

int erl_hold_status(struct session *s, struct sconn *sc, struct scsi_task *t, uint32_t stat_sn,
		    uint32_t target_data_sns, char *err, size_t errlen)
{
	uint32_t off;

	if (t->dir != TASK_DIR_READ)
		return 0;
	if (sn_lt(t->data_sn, target_data_sns)) {
		/* The target sent more Data-In than arrived: the last of them went missing. */
		if (target_data_sns - t->data_sn > MAX_RUN ||
		    gap_add(t, t->data_sn, target_data_sns - t->data_sn) < 0) {
			snprintf(err, errlen, "SCSI Response after %u Data-In of task 0x%08x, %u "
				 "arrived: more missing than can be asked for again",
				 target_data_sns, t->itt, t->data_sn);
			return -EPROTO;
		}
		ask_data(s, sc, t, t->data_sn, target_data_sns - t->data_sn);
		t->data_sn = target_data_sns;
	}
	if (!t->ngaps)
		return 0;
	/* Neither the status nor the data is acknowledged before the holes are filled. */
	t->tstate = TASK_HELD;
	t->held_stat_sn = stat_sn;
	off = stat_sn - sc->exp_stat_sn;
	if (off < STAT_WINDOW)
		sc->stat_held |= 1ull << off;
	return 1;
}

static void ask_statuses(struct session *s, struct sconn *sc, uint32_t beg, uint32_t run)
{
	if (run == 1)
		log_warn("%s: connection %u: the status with StatSN 0x%08x did not arrive; asking "
			 "for it again", s->cfg.label, sc->cid, beg);
	else
		log_warn("%s: connection %u: the statuses with StatSN 0x%08x to 0x%08x did not "
			 "arrive; asking for them again", s->cfg.label, sc->cid, beg, beg + run - 1);
	send_snack(s, sc, SNACK_STATUS, 0, RSVD_TAG, RSVD_TAG, beg, run);
}

int erl_stat_sn(struct session *s, struct sconn *sc, const struct pdu_hdr *h, char *err,
		size_t errlen)
{
	int takes = h->opcode == OP_SCSI_RSP || h->opcode == OP_TMF_RSP ||
		    h->opcode == OP_TEXT_RSP || h->opcode == OP_LOGOUT_RSP ||
		    h->opcode == OP_ASYNC || h->opcode == OP_REJECT ||
		    (h->opcode == OP_DATA_IN && (h->flags & FL_STATUS)) ||
		    (h->opcode == OP_NOP_IN && h->itt != RSVD_TAG);
	uint32_t off = h->stat_sn - sc->exp_stat_sn;

	if (h->opcode == OP_NOP_IN && h->itt == RSVD_TAG) {
		/* It carries the next StatSN without taking it (11.19): statuses before it that
		 * never came went missing. */
		if (sn_lt(sc->next_stat_sn, h->stat_sn) && off <= STAT_WINDOW) {
			ask_statuses(s, sc, sc->next_stat_sn, h->stat_sn - sc->next_stat_sn);
			sc->next_stat_sn = h->stat_sn;
		}
		return 0;
	}
	if (!takes)
		return 0;
	if ((int32_t)off < 0 || (off < STAT_WINDOW && (sc->stat_got >> off & 1))) {
		log_dbg("%s: connection %u: %s with StatSN 0x%08x again; dropped", s->cfg.label,
			sc->cid, pdu_opcode_name(h->opcode), h->stat_sn);
		return 1;
	}
	if (off >= STAT_WINDOW) {
		snprintf(err, errlen, "%s with StatSN 0x%08x where 0x%08x was due, too far ahead to "
			 "ask for what is missing", pdu_opcode_name(h->opcode), h->stat_sn,
			 sc->exp_stat_sn);
		return -EPROTO;
	}
	if (sn_le(sc->next_stat_sn, h->stat_sn)) {
		if (h->stat_sn != sc->next_stat_sn)
			ask_statuses(s, sc, sc->next_stat_sn, h->stat_sn - sc->next_stat_sn);
		sc->next_stat_sn = h->stat_sn + 1;
	}
	sc->stat_got |= 1ull << off;
	return 0;
}

void erl_stat_ack(struct sconn *sc)
{
	while ((sc->stat_got & 1) && !(sc->stat_held & 1)) {
		sc->stat_got >>= 1;
		sc->stat_held >>= 1;
		sc->exp_stat_sn++;
	}
	if (sn_lt(sc->next_stat_sn, sc->exp_stat_sn))
		sc->next_stat_sn = sc->exp_stat_sn;
}

int erl_digest_error(void *arg, const struct pdu_hdr *h, char *err, size_t errlen)
{
	struct sconn *sc = arg;
	struct session *s = sc->s;
	struct scsi_task *t;
	int r = -EBADMSG;

	(void)err;
	(void)errlen;
	/* A header: what it carried shows later as a gap in DataSN or StatSN. */
	if (!h)
		return 0;
	/* Another PDU's data: the connection goes, the RFC's other choice (7.8). */
	if (h->opcode != OP_DATA_IN)
		return -EBADMSG;
	pthread_mutex_lock(&s->lock);
	t = task_lookup(s, h->itt);
	if (sc->rx_dup) {
		r = 0; /* a copy of data in place already */
	} else if (t && t->sc == sc && t->dir == TASK_DIR_READ &&
		   gap_add(t, h->u.data_in.data_sn, 1) == 0) {
		if (h->u.data_in.offset < t->contig_end)
			t->contig_end = h->u.data_in.offset;
		ask_data(s, sc, t, h->u.data_in.data_sn, 1);
		r = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

int erl_reject(struct session *s, struct sconn *sc, const struct pdu_hdr *h, const void *data,
	       char *err, size_t errlen)
{
	struct pdu_rejected rj;
	struct scsi_task *t;

	if (pdu_decode_rejected(data, h->dsl, &rj) < 0)
		return -EPROTO;
	if (h->u.reject.reason == REJECT_DATA_DIGEST && rj.opcode == OP_DATA_OUT) {
		/* The target asks for the data again with a recovery R2T, or ends the command
		 * with CHECK CONDITION (7.8). */
		log_warn("%s: connection %u: the target rejected a Data-Out of task 0x%08x for a "
			 "data digest error", s->cfg.label, sc->cid, rj.itt);
		return 0;
	}
	if (h->u.reject.reason == REJECT_DATA_DIGEST && rj.opcode == OP_SCSI_CMD &&
	    (t = task_lookup(s, rj.itt)) && t->sc == sc && t->tstate == TASK_SENT &&
	    t->cmd_sn == rj.cmd_sn && t->resends < MAX_RESENDS) {
		/* The command and its immediate data were discarded: the gap it left in the
		 * command order is filled by the same command (7.2.1). */
		log_warn("%s: connection %u: the target rejected command 0x%08x (CmdSN 0x%08x) for a "
			 "data digest error; sending it again with its tag and CmdSN", s->cfg.label,
			 sc->cid, t->itt, t->cmd_sn);
		resend_command(s, t);
		return 0;
	}
	if (h->u.reject.reason == REJECT_SNACK)
		snprintf(err, errlen, "the target rejected a SNACK; recovering the connection's "
			 "commands as at ErrorRecoveryLevel 0");
	return -EPROTO;
}

void erl_plug_gaps(struct session *s, struct sconn *sc, uint32_t done_cmd_sn)
{
	/* The target takes commands in CmdSN order: one with a later CmdSN ended while it still
	 * expects an earlier one, so that one never arrived. */
	if (!sn_lt(s->exp_cmd_sn, done_cmd_sn))
		return;
	for (uint32_t i = 0; i < s->cfg.max_tasks; i++) {
		struct scsi_task *t = s->slots[i];

		if (!t || t->sc != sc || t->tstate != TASK_SENT || t->resends ||
		    sn_lt(t->cmd_sn, s->exp_cmd_sn) || !sn_lt(t->cmd_sn, done_cmd_sn))
			continue;
		log_warn("%s: connection %u: command 0x%08x (CmdSN 0x%08x) did not reach the target "
			 "(ExpCmdSN 0x%08x after CmdSN 0x%08x ended); sending it again with its tag "
			 "and CmdSN", s->cfg.label, sc->cid, t->itt, t->cmd_sn, s->exp_cmd_sn,
			 done_cmd_sn);
		resend_command(s, t);
	}
}
