/* Login phase on a socket: what each transition of the login table (login_fsm.c) sends, and
 * each Login Response reduced to an event: security stage (AuthMethod, CHAP), operational
 * stage (the key table), and text that spans several PDUs (C bit) in both directions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "login.h"
#include "login_fsm.h"
#include "pdu.h"
#include "portal.h"

#define LOGIN_PDU_MAX 8192   /* MaxRecvDataSegmentLength in force during login (RFC 7143 13.12) */
#define LOGIN_TEXT_MAX 65536 /* bound on one side's accumulated login text */

/* What we propose when the administrator did not say: values that suit large block I/O. */
static const struct {
	int id;
	const char *value;
} preferred[] = {
	{K_HEADER_DIGEST, "None"},
	{K_DATA_DIGEST, "None"},
	{K_MAX_CONNECTIONS, "1"},
	{K_INITIAL_R2T, "No"},
	{K_IMMEDIATE_DATA, "Yes"},
	{K_MAX_BURST_LENGTH, "1048576"},
	{K_FIRST_BURST_LENGTH, "262144"},
	{K_DEFAULT_TIME2WAIT, "2"},
	{K_DEFAULT_TIME2RETAIN, "20"},
	{K_MAX_OUTSTANDING_R2T, "1"},
	{K_DATA_PDU_IN_ORDER, "Yes"},
	{K_DATA_SEQUENCE_IN_ORDER, "Yes"},
	{K_ERROR_RECOVERY_LEVEL, "0"},
};

/* Keys whose offer makes sense in a discovery session (RFC 7143 13: most are irrelevant). */
static int discovery_key(int id)
{
	return id == K_HEADER_DIGEST || id == K_DATA_DIGEST;
}

struct login_ctx {
	const struct login_params *lp;
	struct login_result *res;
	struct conn *c;
	struct login_fsm fsm;
	struct negotiation neg;
	struct textbuf out;          /* text to send next */
	char *in;                    /* the current response's text, C-bit parts joined */
	size_t in_len;
	int reply_sent[K_COUNT];     /* answers in neg.reply already on the wire */
	struct chap *chap;           /* NULL unless we may authenticate with CHAP */
	struct pdu_hdr h;            /* the last Login Response */
	struct login_response rsp;   /* the same, as the table sees it */
	char *err;
	size_t errlen;
};

static int offer(struct login_ctx *ls, int id, const char *value)
{
	int r = textbuf_add(&ls->out, key_table[id].name, value);

	if (!r)
		r = key_set_put(&ls->neg.offered, id, value);
	return r;
}

static int build_security_offer(struct login_ctx *ls)
{
	const struct login_params *lp = ls->lp;
	const char *auth = lp->admin_keys ? key_set_get(lp->admin_keys, K_AUTH_METHOD) : NULL;
	int r;

	/* Without secrets only None can succeed: do not let the target pick CHAP. */
	if (!ls->chap)
		auth = "None";

	r = offer(ls, K_INITIATOR_NAME, lp->initiator_name);
	if (!r && lp->initiator_alias && *lp->initiator_alias)
		r = offer(ls, K_INITIATOR_ALIAS, lp->initiator_alias);
	if (!r)
		r = offer(ls, K_SESSION_TYPE, lp->target_name ? "Normal" : "Discovery");
	if (!r && lp->target_name)
		r = offer(ls, K_TARGET_NAME, lp->target_name);
	if (!r)
		r = offer(ls, K_AUTH_METHOD, auth ? auth : "None");
	return r;
}

static int build_operational_offer(struct login_ctx *ls)
{
	const struct login_params *lp = ls->lp;
	const struct key_set *admin = lp->admin_keys;
	const char *mrdsl = admin ? key_set_get(admin, K_MAX_RECV_DSL) : NULL;
	char buf[32];
	int r;

	for (size_t i = 0; i < sizeof(preferred) / sizeof(preferred[0]); i++) {
		int id = preferred[i].id;
		const char *v = admin ? key_set_get(admin, id) : NULL;
		char fbl[24];

		if (ls->neg.discovery && !discovery_key(id))
			continue;
		/* Our FirstBurstLength must not exceed the MaxBurstLength we offer (RFC 7143 13.14). */
		if (id == K_FIRST_BURST_LENGTH && !v) {
			const char *mbl = key_set_get(&ls->neg.offered, K_MAX_BURST_LENGTH);
			uint64_t m, f;

			if (mbl && key_parse_num(mbl, &m) == 0 &&
			    key_parse_num(preferred[i].value, &f) == 0 && m < f) {
				snprintf(fbl, sizeof(fbl), "%llu", (unsigned long long)m);
				v = fbl;
			}
		}
		if (lp->tsih && (key_table[id].flags & KEYF_LEADING))
			continue; /* leading-only keys are settled by the first connection */
		if (id == K_MAX_CONNECTIONS && !v && lp->max_connections > 1) {
			snprintf(buf, sizeof(buf), "%u", lp->max_connections);
			v = buf;
		}
		r = offer(ls, id, v ? v : preferred[i].value);
		if (r)
			return r;
	}
	if (!mrdsl) {
		snprintf(buf, sizeof(buf), "%u", lp->max_recv_dsl ? lp->max_recv_dsl : 8192);
		mrdsl = buf;
	}
	return offer(ls, K_MAX_RECV_DSL, mrdsl);
}

/* Answers to keys the target offered, and NotUnderstood for keys we do not know. */
static int build_replies(struct login_ctx *ls)
{
	for (int i = 0; i < K_COUNT; i++) {
		const char *v = key_set_get(&ls->neg.reply, i);
		int r;

		if (!v || ls->reply_sent[i])
			continue;
		r = textbuf_add(&ls->out, key_table[i].name, v);
		if (r)
			return r;
		ls->reply_sent[i] = 1;
	}
	return 0;
}

/* CHAP keys are ours to take once we sent CHAP_A (RFC 7143 12.1.3), and after the exchange
 * (chap.c then refuses what comes twice). */
static int chap_keys_expected(const struct login_ctx *ls)
{
	return ls->chap && (ls->fsm.state == LS_CHAP_ALGORITHM ||
			    ls->fsm.state == LS_CHAP_RESPONSE || chap_chosen_alg(ls->chap));
}

static int on_key(const char *key, const char *value, void *arg)
{
	struct login_ctx *ls = arg;
	int r;

	if (strcmp(key, "TargetAlias") == 0)
		snprintf(ls->res->target_alias, sizeof(ls->res->target_alias), "%s", value);
	if (strcmp(key, "TargetAddress") == 0)
		snprintf(ls->res->redirect, sizeof(ls->res->redirect), "%s", value);
	if (strncmp(key, "CHAP_", 5) == 0) {
		if (!chap_keys_expected(ls)) {
			snprintf(ls->err, ls->errlen, "the target sent %s before CHAP was agreed", key);
			return -EPROTO;
		}
		r = chap_receive(ls->chap, key, value, ls->err, ls->errlen);
		if (r && strcmp(key, "CHAP_A") == 0)
			ls->res->chap_alg_refused = 1;
		if (!r && (strcmp(key, "CHAP_A") == 0 || strcmp(key, "CHAP_I") == 0 ||
			   strcmp(key, "CHAP_C") == 0))
			ls->rsp.chap_challenge = 1;
		return r < 0 ? r : 0;
	}
	r = negotiate_receive(&ls->neg, key, value, ls->err, ls->errlen);
	if (r == 1) {
		log_dbg("login: target sent unknown key %s; answering NotUnderstood", key);
		return textbuf_add(&ls->out, key, "NotUnderstood");
	}
	return r;
}

/* Send ls->out as one or more Login Requests (C bit when it does not fit one PDU). */
static int send_text(struct login_ctx *ls, int csg, int transit, int nsg)
{
	const struct login_params *lp = ls->lp;
	size_t off = 0;

	do {
		size_t n = ls->out.len - off;
		int last = n <= LOGIN_PDU_MAX;
		struct login_req rq = {
			.transit = last ? transit : 0,
			.cont = !last,
			.csg = csg,
			.nsg = nsg,
			.isid = lp->isid,
			.tsih = lp->tsih,
			.itt = 0,
			.cid = lp->cid,
			.cmd_sn = lp->cmd_sn,
			.exp_stat_sn = ls->res->exp_stat_sn,
		};
		uint8_t bhs[BHS_LEN];
		struct pdu_hdr h;
		uint8_t rsp[LOGIN_PDU_MAX];
		int r;

		if (!last)
			n = LOGIN_PDU_MAX;
		pdu_build_login(bhs, &rq, (uint32_t)n);
		r = conn_send_sync(ls->c, bhs, ls->out.data ? ls->out.data + off : NULL, (uint32_t)n,
				   ls->err, ls->errlen);
		if (r)
			return r;
		off += n;
		if (last)
			break;
		/* The target acknowledges each partial PDU with an empty response (RFC 7143 6.2). */
		r = conn_recv_sync(ls->c, &h, rsp, sizeof(rsp), lp->timeout_s, ls->err, ls->errlen);
		if (r)
			return r;
		if (h.opcode != OP_LOGIN_RSP || h.u.login_rsp.status_class != 0) {
			snprintf(ls->err, ls->errlen, "login refused: %s",
				 login_status_str(h.u.login_rsp.status_class,
						  h.u.login_rsp.status_detail));
			return -EACCES;
		}
	} while (off < ls->out.len);
	return 0;
}

/* The request that puts us in state next: its stage, and T/NSG asking to leave it. CHAP_A goes
 * with T clear, since the exchange it starts must finish in this stage (RFC 7143 12.1.3). */
static int send_request(struct login_ctx *ls, enum login_state next)
{
	int csg = login_state_csg(next);
	int r = build_replies(ls);

	if (!r)
		r = send_text(ls, csg, next != LS_CHAP_ALGORITHM,
			      csg == STAGE_SECURITY ? STAGE_OPERATIONAL : STAGE_FULL_FEATURE);
	textbuf_free(&ls->out);
	return r;
}

/* Append a response's text to what the target has said in this response. */
static int keep_text(struct login_ctx *ls, const uint8_t *buf, uint32_t len)
{
	char *p;

	if (ls->in_len + len > LOGIN_TEXT_MAX) {
		snprintf(ls->err, ls->errlen, "login text from the target exceeds %d bytes",
			 LOGIN_TEXT_MAX);
		return -EPROTO;
	}
	if (!len)
		return 0;
	p = realloc(ls->in, ls->in_len + len);
	if (!p)
		return -ENOMEM;
	ls->in = p;
	memcpy(ls->in + ls->in_len, buf, len);
	ls->in_len += len;
	return 0;
}

/* ---- Each Login Response reduced to an event ---- */

static enum login_event bad_response(int r, int *rc)
{
	*rc = r;
	return EV_BAD_RESPONSE;
}

/* A refusal is reported as such, even when the target did not fill in the rest of the
 * header; its keys (TargetAddress of a redirection) are kept, whatever else is wrong. */
static enum login_event refusal_event(struct login_ctx *ls, const uint8_t *buf, int *rc)
{
	int r = keep_text(ls, buf, ls->h.dsl);

	if (r)
		return bad_response(r, rc);
	(void)text_foreach(ls->in, ls->in_len, on_key, ls);
	ls->in_len = 0;
	return login_event_of(&ls->rsp);
}

/* The keys of a whole response, then what it asks of us. */
static enum login_event final_event(struct login_ctx *ls, int *rc)
{
	const struct pdu_hdr *h = &ls->h;
	int csg = login_state_csg(ls->fsm.state);
	int rsp_csg = (h->flags >> 2) & 3;
	int answered_auth = key_set_get(&ls->neg.answered, K_AUTH_METHOD) != NULL;
	int r = text_foreach(ls->in, ls->in_len, on_key, ls);

	ls->in_len = 0;
	if (r) {
		if (r == -EPROTO && !*ls->err)
			snprintf(ls->err, ls->errlen, "malformed login text from the target");
		return bad_response(r, rc);
	}
	if (rsp_csg != csg) {
		snprintf(ls->err, ls->errlen, "Login Response for stage %d while in stage %d",
			 rsp_csg, csg);
		return bad_response(-EPROTO, rc);
	}
	ls->rsp.nsg = h->flags & 3;
	if (ls->rsp.transit && ls->rsp.nsg != STAGE_OPERATIONAL &&
	    ls->rsp.nsg != STAGE_FULL_FEATURE) {
		snprintf(ls->err, ls->errlen, "target moved to login stage %d from %d", ls->rsp.nsg,
			 csg);
		return bad_response(-EPROTO, rc);
	}
	if (!answered_auth)
		ls->rsp.auth_method = key_set_get(&ls->neg.answered, K_AUTH_METHOD);
	return login_event_of(&ls->rsp);
}

/* Read one Login Response PDU. *rc: the error that comes with a failure event. */
static enum login_event next_event(struct login_ctx *ls, int *rc)
{
	const struct login_params *lp = ls->lp;
	struct pdu_hdr *h = &ls->h;
	uint8_t buf[LOGIN_PDU_MAX];
	int r;

	*rc = 0;
	memset(&ls->rsp, 0, sizeof(ls->rsp));
	r = conn_recv_sync(ls->c, h, buf, sizeof(buf), lp->timeout_s, ls->err, ls->errlen);
	if (r) {
		*rc = r;
		if (r == -ETIMEDOUT)
			return EV_TIMEOUT;
		/* conn.c says these of a PDU it could not take: a bad response, not a lost link */
		return r == -EPROTO || r == -EBADMSG ? EV_BAD_RESPONSE : EV_TRANSPORT_ERROR;
	}
	if (h->opcode != OP_LOGIN_RSP) {
		snprintf(ls->err, ls->errlen, "expected a Login Response, got %s",
			 pdu_opcode_name(h->opcode));
		return bad_response(-EPROTO, rc);
	}
	ls->rsp.status_class = h->u.login_rsp.status_class;
	if (ls->rsp.status_class)
		return refusal_event(ls, buf, rc);
	if (memcmp(h->u.login_rsp.isid, lp->isid, 6) != 0 || h->itt != 0) {
		snprintf(ls->err, ls->errlen, "Login Response for another ISID or task tag (0x%08x)",
			 h->itt);
		return bad_response(-EPROTO, rc);
	}
	if (h->u.login_rsp.version_active != 0) {
		snprintf(ls->err, ls->errlen, "target answered with iSCSI version %u, not 0",
			 h->u.login_rsp.version_active);
		return bad_response(-EPROTO, rc);
	}
	ls->res->exp_stat_sn = h->stat_sn + 1;
	ls->res->exp_cmd_sn = h->exp_cmd_sn;
	ls->res->max_cmd_sn = h->max_cmd_sn;
	r = keep_text(ls, buf, h->dsl);
	if (r)
		return bad_response(r, rc);
	ls->rsp.transit = !!(h->flags & FL_LOGIN_TRANSIT);
	ls->rsp.cont = !!(h->flags & FL_CONTINUE);
	if (ls->rsp.cont && ls->rsp.transit) {
		snprintf(ls->err, ls->errlen, "Login Response with both the T and C bits");
		return bad_response(-EPROTO, rc);
	}
	return ls->rsp.cont ? login_event_of(&ls->rsp) : final_event(ls, rc);
}

/* ---- The actions of the table's rows ---- */

static int act_offer_security(struct login_fsm *m, const struct login_row *row)
{
	struct login_ctx *ls = m->ctx;
	int r = build_security_offer(ls);

	return r ? r : send_request(ls, row->next);
}

/* An empty request asks for the rest of a response sent with the C bit (RFC 7143 6.2). */
static int act_ask_rest(struct login_fsm *m, const struct login_row *row)
{
	struct login_ctx *ls = m->ctx;
	const struct login_params *lp = ls->lp;
	struct login_req rq = {
		.csg = login_state_csg(row->state), .isid = lp->isid, .tsih = lp->tsih,
		.cid = lp->cid, .cmd_sn = lp->cmd_sn, .exp_stat_sn = ls->res->exp_stat_sn,
	};
	uint8_t bhs[BHS_LEN];

	pdu_build_login(bhs, &rq, 0);
	return conn_send_sync(ls->c, bhs, NULL, 0, ls->err, ls->errlen);
}

/* Our answers (NotUnderstood first, RFC 7143 6.2), or an empty request: it asks the target
 * to go on. */
static int act_next_round(struct login_fsm *m, const struct login_row *row)
{
	return send_request(m->ctx, row->next);
}

static int act_offer_chap_algorithms(struct login_fsm *m, const struct login_row *row)
{
	struct login_ctx *ls = m->ctx;
	int r;

	if (!ls->chap) { /* the offer said None then; negotiation refuses CHAP before this */
		snprintf(ls->err, ls->errlen, "the target chose CHAP, which was not offered");
		return -EPROTO;
	}
	r = textbuf_add(&ls->out, "CHAP_A", chap_algorithms(ls->chap));
	return r ? r : send_request(ls, row->next);
}

static int act_chap_respond(struct login_fsm *m, const struct login_row *row)
{
	struct login_ctx *ls = m->ctx;
	int r = chap_respond(ls->chap, &ls->out, ls->err, ls->errlen);

	return r ? r : send_request(ls, row->next);
}

/* Mutual: the target proves it knows its secret before we go on (one-way: nothing to do). */
static int act_chap_verify(struct login_fsm *m, const struct login_row *row)
{
	struct login_ctx *ls = m->ctx;

	(void)row;
	return chap_verify(ls->chap, ls->err, ls->errlen);
}

static int act_offer_operational(struct login_fsm *m, const struct login_row *row)
{
	struct login_ctx *ls = m->ctx;
	int r = build_operational_offer(ls);

	return r ? r : send_request(ls, row->next);
}

static int act_finish(struct login_fsm *m, const struct login_row *row)
{
	struct login_ctx *ls = m->ctx;
	const struct login_params *lp = ls->lp;
	struct login_result *res = ls->res;

	(void)row;
	res->tsih = ls->h.u.login_rsp.tsih;
	/* RFC 7143 11.13.3: a new session gets a TSIH other than 0; a connection that joins one
	 * keeps its TSIH. */
	if (!lp->tsih && !res->tsih) {
		snprintf(ls->err, ls->errlen, "the target gave the new session TSIH 0");
		return -EPROTO;
	}
	if (lp->tsih && res->tsih != lp->tsih) {
		snprintf(ls->err, ls->errlen, "the target answered with TSIH %u a login to session %u",
			 res->tsih, lp->tsih);
		return -EPROTO;
	}
	return negotiate_result(&ls->neg, &res->params, ls->err, ls->errlen);
}

/* The status of a refusal, and the algorithm refused once we had answered a CHAP challenge
 * (the caller may try again with MD5 alone). */
static void note_refusal(struct login_ctx *ls, const struct login_row *row)
{
	struct login_result *res = ls->res;

	res->status_class = ls->h.u.login_rsp.status_class;
	res->status_detail = ls->h.u.login_rsp.status_detail;
	if (ls->chap && row->state != LS_CHAP_ALGORITHM && chap_chosen_alg(ls->chap))
		res->chap_refused_alg = chap_chosen_alg(ls->chap);
}

static int act_redirected(struct login_fsm *m, const struct login_row *row)
{
	struct login_ctx *ls = m->ctx;
	struct login_result *res = ls->res;

	note_refusal(ls, row);
	snprintf(ls->err, ls->errlen, "login redirected (%s) to %s",
		 login_status_str(res->status_class, res->status_detail),
		 res->redirect[0] ? res->redirect : "an unnamed address");
	return -EAGAIN;
}

static int act_refused(struct login_fsm *m, const struct login_row *row)
{
	struct login_ctx *ls = m->ctx;
	struct login_result *res = ls->res;

	note_refusal(ls, row);
	snprintf(ls->err, ls->errlen, "login refused: %s (status 0x%02x%02x)",
		 login_status_str(res->status_class, res->status_detail), res->status_class,
		 res->status_detail);
	return -EACCES;
}

static int act_chap_unfinished(struct login_fsm *m, const struct login_row *row)
{
	struct login_ctx *ls = m->ctx;

	(void)row;
	snprintf(ls->err, ls->errlen,
		 "the target left the security stage before CHAP authentication finished");
	return -EACCES;
}

static int act_auth_unsupported(struct login_fsm *m, const struct login_row *row)
{
	struct login_ctx *ls = m->ctx;

	(void)row;
	snprintf(ls->err, ls->errlen, "the target requires AuthMethod=%s",
		 ls->rsp.auth_method ? ls->rsp.auth_method : "?");
	return -EACCES;
}

/* The event brought its reason (conn.c's, or the decoding's) and its error. */
static int act_fail(struct login_fsm *m, const struct login_row *row)
{
	(void)row;
	return m->event_rc;
}

static const login_action_fn actions[LA_COUNT] = {
	[LA_OFFER_SECURITY] = act_offer_security,
	[LA_ASK_REST] = act_ask_rest,
	[LA_NEXT_ROUND] = act_next_round,
	[LA_OFFER_CHAP_ALGORITHMS] = act_offer_chap_algorithms,
	[LA_CHAP_RESPOND] = act_chap_respond,
	[LA_CHAP_VERIFY] = act_chap_verify,
	[LA_OFFER_OPERATIONAL] = act_offer_operational,
	[LA_FINISH] = act_finish,
	[LA_REDIRECTED] = act_redirected,
	[LA_REFUSED] = act_refused,
	[LA_CHAP_UNFINISHED] = act_chap_unfinished,
	[LA_AUTH_UNSUPPORTED] = act_auth_unsupported,
	[LA_FAIL] = act_fail,
};

int login_run(struct conn *c, const struct login_params *lp, struct login_result *res, char *err,
	      size_t errlen)
{
	struct login_ctx ls = {.lp = lp, .res = res, .c = c, .err = err, .errlen = errlen};
	int r;

	memset(res, 0, sizeof(*res));
	if (errlen)
		err[0] = '\0'; /* reasons below are only filled in where nothing more precise is */
	key_set_init(&ls.neg.offered);
	key_set_init(&ls.neg.answered);
	key_set_init(&ls.neg.reply);
	ls.neg.discovery = lp->target_name == NULL;
	if (lp->chap) {
		static const int md5[] = {CHAP_ALG_MD5};

		ls.chap = lp->chap_md5_only ? chap_new(lp->chap, md5, 1) : chap_new(lp->chap, NULL, 0);
		if (!ls.chap) {
			r = -errno;
			snprintf(err, errlen, "cannot set up CHAP: %s", strerror(errno));
			goto out;
		}
	}
	login_fsm_init(&ls.fsm, conn_label(c), lp->cid, actions, &ls, err, errlen);
	r = login_fsm_step(&ls.fsm, EV_START, 0);
	while (!login_fsm_final(&ls.fsm)) {
		int rc;
		enum login_event ev = next_event(&ls, &rc);

		r = login_fsm_step(&ls.fsm, ev, rc);
	}
out:
	chap_free(ls.chap);
	textbuf_free(&ls.out);
	free(ls.in);
	key_set_free(&ls.neg.offered);
	key_set_free(&ls.neg.answered);
	key_set_free(&ls.neg.reply);
	return r;
}

int logout_sync(struct conn *c, uint32_t itt, uint16_t cid, uint32_t cmd_sn, uint32_t exp_stat_sn,
		int timeout_s)
{
	uint8_t bhs[BHS_LEN];
	struct pdu_hdr h;
	uint8_t junk[LOGIN_PDU_MAX];
	char err[256];
	int r;

	pdu_build_logout(bhs, 0, itt, cid, cmd_sn, exp_stat_sn);
	r = conn_send_sync(c, bhs, NULL, 0, err, sizeof(err));
	for (int i = 0; !r && i < 8; i++) {
		r = conn_recv_sync(c, &h, junk, sizeof(junk), timeout_s, err, sizeof(err));
		if (!r && h.opcode == OP_LOGOUT_RSP)
			return h.u.logout_rsp.response == 0 ? 0 : -EIO;
	}
	return r ? r : -EPROTO;
}

/* A TargetAddress value (RFC 7143 13.8) into a host and a port. */
static int redirect_target(const char *ta, char *addr, size_t addrlen, uint16_t *port)
{
	struct portal_addr pa;

	if (portal_parse_target_address(ta, 3260, &pa, NULL, 0) < 0 || strlen(pa.host) >= addrlen)
		return -EINVAL;
	memcpy(addr, pa.host, strlen(pa.host) + 1);
	*port = pa.port;
	return 0;
}

int login_connect(const char *log_label, const char *conn_label, const char *addr0, uint16_t port,
		  const char *netdev, struct login_params *lp, struct conn **out,
		  struct login_result *res, char *err, size_t errlen)
{
	char addr[PORTAL_HOST_MAX];
	int r, redirects = 0;

	snprintf(addr, sizeof(addr), "%s", addr0);
	for (int attempt = 0;; attempt++) {
		struct conn *c = conn_new(conn_label);

		memset(res, 0, sizeof(*res));
		if (!c)
			return -ENOMEM;
		r = conn_connect(c, addr, port, netdev, lp->timeout_s, err, errlen);
		if (!r)
			r = login_run(c, lp, res, err, errlen);
		if (!r) {
			*out = c;
			return 0;
		}
		conn_free(c);
		/* Redirection (status 0x0101/0x0102): follow TargetAddress, a few hops at most. */
		if (r == -EAGAIN && redirects < 3 &&
		    redirect_target(res->redirect, addr, sizeof(addr), &port) == 0) {
			redirects++;
			log_info("%s: %s; following it to %s:%u", log_label, err, addr, port);
			continue;
		}
		/* Some targets refuse a list in CHAP_A, others choose an algorithm they then get
		 * wrong: once more with MD5 alone, which every target supports. */
		if (attempt == 0 && !lp->chap_md5_only &&
		    (res->chap_alg_refused ||
		     (res->chap_refused_alg && res->chap_refused_alg != CHAP_ALG_MD5))) {
			log_warn("%s: %s (CHAP_A=%d); logging in again offering CHAP_A=5 (MD5) only",
				 log_label, err, res->chap_refused_alg);
			lp->chap_md5_only = 1;
			continue;
		}
		return r;
	}
}
