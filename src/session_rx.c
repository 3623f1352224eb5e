/* What a connection receives, on its event loop: Data-In placed straight into the task's
 * buffer, SCSI responses, R2Ts answered with Data-Out from the task's buffer, NOP-Ins,
 * Asynchronous Messages, Rejects, and Logout and Task Management responses. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "scsi.h"
#include "session_int.h"

int rx_begin(void *arg, const struct pdu_hdr *h, void **dst, char *err, size_t errlen)
{
	struct sconn *sc = arg;
	struct session *s = sc->s;
	struct scsi_task *t;
	int r = 0;

	sc->rx_dup = 0;
	if (h->opcode != OP_DATA_IN)
		return 0;
	pthread_mutex_lock(&s->lock);
	t = task_lookup(s, h->itt);
	if (!t && erl(s) >= 1) {
		/* A copy asked for twice (by a Data and a Status SNACK) of a task that ended. */
		log_dbg("%s: connection %u: Data-In for task 0x%08x, which has ended; dropped",
			s->cfg.label, sc->cid, h->itt);
		sc->rx_dup = 1;
	} else if (!t || t->dir != TASK_DIR_READ) {
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
	} else if (erl(s) >= 1) {
		r = erl_datain_begin(s, sc, t, h, dst, err, errlen);
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

/* Answer an R2T with Data-Out PDUs from the task's buffer (RFC 7143 11.8). */
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
		pdu_build_data_out(d->bhs, off + n == end, t->lun, t->itt, h->u.r2t.ttt,
				   sc->exp_stat_sn, data_sn++, off, n);
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

/* AsyncEvent 1 or 4 (RFC 7143 11.9.1): the target wants a connection logged out. With others
 * up, only this one goes and comes back; alone, the session logs out and in again. */
static void on_logout_request(struct session *s, struct sconn *sc, const char *asks,
			      struct scsi_task **done_list)
{
	if (sc->state != CS_LOGGED_IN || s->state != SS_LOGGED_IN)
		return; /* one is under way already */
	if (s->nup > 1) {
		log_info("%s: %s asks for %s on connection %u; logging it out and in again",
			 s->cfg.label, s->cfg.target_name, asks, sc->cid);
		conn_event(sc, CE_LOGOUT_REQUESTED, done_list);
		return;
	}
	log_info("%s: %s asks for %s; logging out and in again", s->cfg.label, s->cfg.target_name,
		 asks);
	sess_event(s, SE_TARGET_LOGOUT, sc, done_list);
}

/* AsyncEvent 2 (this connection, Parameter1 its CID) or 3 (all of them) (RFC 7143 11.9.1):
 * the target will drop them and wants Parameter2 seconds before a login. */
static void on_drop_notice(struct session *s, const struct pdu_hdr *h)
{
	uint32_t cid = h->u.async.param1, wait = h->u.async.param2;

	if (wait > 3600)
		wait = 3600; /* DefaultTime2Wait's range */
	if (h->u.async.event == 2 && s->nup > 1) {
		for (int i = 0; i < s->nsc; i++)
			if (s->sc[i].cid == cid && s->sc[i].state == CS_LOGGED_IN) {
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

/* StatSN (RFC 7143 4.2.2.2) counts per connection. At ErrorRecoveryLevel 0 each status
 * carries exactly the next number; a gap means a lost or invented status and ends the
 * connection. Other PDUs that advance it must stay near it. */
static int check_stat_sn(struct sconn *sc, const struct pdu_hdr *h, char *err, size_t errlen)
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
		return -EPROTO;
	}
	if (advances && gap >= 0)
		sc->exp_stat_sn = h->stat_sn + 1;
	return 0;
}

/* A task's status is in (SCSI Response, or Data-In with S): at ErrorRecoveryLevel 1 a read
 * whose Data-In is not all in waits for it; a command before it that the target never took
 * goes again. */
static int status_in(struct session *s, struct sconn *sc, struct scsi_task *t, uint32_t stat_sn,
		     uint32_t target_data_sns, struct scsi_task **done_list, char *err,
		     size_t errlen)
{
	uint32_t cmd_sn = t->cmd_sn;
	int r;

	if (erl(s) < 1) {
		finish_task(s, t, done_list);
		return 0;
	}
	r = erl_hold_status(s, sc, t, stat_sn, target_data_sns, err, errlen);
	if (r)
		return r < 0 ? r : 0;
	finish_task(s, t, done_list);
	erl_plug_gaps(s, sc, cmd_sn);
	return 0;
}

static int on_scsi_rsp(struct session *s, struct sconn *sc, const struct pdu_hdr *h,
		       const void *data, struct scsi_task **done_list, char *err, size_t errlen)
{
	struct scsi_task *t = task_lookup(s, h->itt);

	if (t && t->tstate == TASK_HELD && erl(s) >= 1)
		return 0; /* its status is in already */
	if (!t || t->sc != sc) {
		snprintf(err, errlen, "SCSI Response for %s task tag 0x%08x",
			 t ? "another connection's" : "an unknown", h->itt);
		return -EPROTO;
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
		memcpy(t->sense, (const uint8_t *)data + 2, sl);
		t->sense_len = sl;
	}
	take_residual(t, h->flags, h->u.scsi_rsp.residual);
	return status_in(s, sc, t, h->stat_sn,
			 h->u.scsi_rsp.response == 0 ? h->u.scsi_rsp.exp_data_sn : 0, done_list, err,
			 errlen);
}

static void on_async(struct session *s, struct sconn *sc, const struct pdu_hdr *h,
		     const void *data, struct scsi_task **done_list)
{
	log_info("%s: asynchronous message on connection %u, event %u (code %u)", s->cfg.label,
		 sc->cid, h->u.async.event, h->u.async.vcode);
	/* Event 1: log out (RFC 7143 11.9.1), at once; the tasks go on as after a loss. Event
	 * 4, a request to negotiate parameters, must be met with a Text Request or a Logout:
	 * the Logout, since the login that follows negotiates them all. */
	if (h->u.async.event == 1)
		on_logout_request(s, sc, "a logout", done_list);
	else if (h->u.async.event == 4)
		on_logout_request(s, sc, "parameter negotiation", done_list);
	else if (h->u.async.event == 2 || h->u.async.event == 3)
		on_drop_notice(s, h);
	/* Event 0 carries SCSI sense data: a unit attention sent without a command. */
	if (h->u.async.event == 0 && h->dsl >= 2 && s->cfg.on_unit_attention) {
		struct scsi_sense sn;
		uint32_t sl = get_be16(data);

		if (sl > h->dsl - 2)
			sl = h->dsl - 2;
		scsi_sense_parse((const uint8_t *)data + 2, sl, &sn);
		if (sn.valid)
			s->cfg.on_unit_attention(s->cfg.ua_arg, h->lun, sn.asc, sn.ascq);
	}
}

static int on_logout_rsp(struct session *s, const struct pdu_hdr *h,
			 struct scsi_task **done_list, char *err, size_t errlen)
{
	uint8_t response = h->u.logout_rsp.response;

	if (h->itt != LOGOUT_TAG) {
		/* The Logout that closes a connection, this one or a lost one, by its CID. */
		uint32_t cid = h->itt & 0xffffu;
		struct sconn *gone = cid < (uint32_t)s->nsc ? &s->sc[cid] : NULL;

		if ((h->itt & 0xffff0000u) != CLEANUP_TAG(0) || !gone ||
		    (gone->state != CS_IN_CLEANUP && gone->state != CS_IN_LOGOUT &&
		     gone->state != CS_IN_RECOVERY)) {
			snprintf(err, errlen, "Logout Response for an unknown tag 0x%08x", h->itt);
			return -EPROTO;
		}
		/* 0: closed; 1: CID not found, which also means nothing of it is left. */
		if (response > 1 && gone->state == CS_IN_RECOVERY)
			log_warn("%s: the target does not recover connection %u (Logout response "
				 "%u); closing it instead", s->cfg.label, gone->cid, response);
		else if (response > 1)
			log_err("%s: the target could not close connection %u (Logout response %u); "
				"reinstating the session", s->cfg.label, gone->cid, response);
		gone->time2wait = h->u.logout_rsp.time2wait;
		gone->time2retain = h->u.logout_rsp.time2retain;
		conn_event(gone, response > 1 ? CE_LOGOUT_FAILED : CE_LOGOUT_OK, done_list);
		return 0;
	}
	if (s->state == SS_TARGET_LOGOUT) {
		snprintf(err, errlen, "logged out at the target's request");
		return -ECONNRESET; /* drops the connection: the session logs in again */
	}
	sess_event(s, SE_LOGOUT_DONE, NULL, done_list);
	return 0;
}

int rx_end(void *arg, const struct pdu_hdr *h, void *data, char *err, size_t errlen)
{
	struct sconn *sc = arg;
	struct session *s = sc->s;
	struct scsi_task *t, *done_list = NULL;
	int r;

	pthread_mutex_lock(&s->lock);
	sc->last_rx = now_s();
	if (erl(s) >= 1)
		r = sc->rx_dup ? 1 : erl_stat_sn(s, sc, h, err, errlen);
	else
		r = check_stat_sn(sc, h, err, errlen);
	if (r) {
		/* A copy of what is in already (ErrorRecoveryLevel 1) goes, but for its window. */
		if (r > 0)
			update_window(s, h->exp_cmd_sn, h->max_cmd_sn);
		pthread_mutex_unlock(&s->lock);
		return r < 0 ? r : 0;
	}
	update_window(s, h->exp_cmd_sn, h->max_cmd_sn);
	switch (h->opcode) {
	case OP_DATA_IN: {
		int held;

		t = task_lookup(s, h->itt);
		if (!t) { /* rx_begin checked it; the table does not change in between */
			snprintf(err, errlen, "SCSI Data-In for a vanished task 0x%08x", h->itt);
			r = -EPROTO;
			break;
		}
		t->xferred += h->dsl;
		held = t->tstate == TASK_HELD;
		if (erl(s) >= 1)
			erl_datain_end(s, sc, t, h, &done_list); /* may end a held task */
		if ((h->flags & FL_STATUS) && !held) {
			t->status = h->u.data_in.status;
			take_residual(t, h->flags, h->u.data_in.residual);
			r = status_in(s, sc, t, h->stat_sn, 0, &done_list, err, errlen);
		}
		break;
	}
	case OP_SCSI_RSP:
		r = on_scsi_rsp(s, sc, h, data, &done_list, err, errlen);
		break;
	case OP_R2T:
		r = answer_r2t(s, sc, h, err, errlen);
		break;
	case OP_NOP_IN:
		if (h->u.nop_in.ttt != RSVD_TAG) {
			answer_nop_in(s, sc, h, data);
		} else if (h->itt == sc->ping_itt && sc->ping_sent) {
			sc->ping_sent = 0; /* our ping answered */
		} else if (h->itt != RSVD_TAG) {
			snprintf(err, errlen, "NOP-In for an unknown ping tag 0x%08x", h->itt);
			r = -EPROTO;
		}
		break;
	case OP_ASYNC:
		on_async(s, sc, h, data, &done_list);
		break;
	case OP_REJECT:
		err[0] = '\0';
		if (erl(s) >= 1 && erl_reject(s, sc, h, data, err, errlen) == 0)
			break;
		if (!err[0])
			snprintf(err, errlen, "the target rejected a PDU: %s",
				 reject_reason(h->u.reject.reason));
		r = -EPROTO;
		break;
	case OP_TMF_RSP:
		on_tmf_response(s, h, &done_list);
		break;
	case OP_LOGOUT_RSP:
		r = on_logout_rsp(s, h, &done_list, err, errlen);
		break;
	default:
		log_dbg("%s: ignoring %s", s->cfg.label, pdu_opcode_name(h->opcode));
		break;
	}
	if (erl(s) >= 1)
		erl_stat_ack(sc);
	pthread_mutex_unlock(&s->lock);
	run_done(done_list);
	return r;
}
