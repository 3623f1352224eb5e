/* Login phase: security stage (AuthMethod), operational stage (the key table), and text that
 * spans several PDUs (C bit) in both directions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "login.h"
#include "pdu.h"
#include "portal.h"

#define LOGIN_PDU_MAX 8192   /* MaxRecvDataSegmentLength in force during login (RFC 7143 13.12) */
#define LOGIN_TEXT_MAX 65536 /* bound on one side's accumulated login text */
#define LOGIN_ROUNDS 32

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

struct login_state {
	const struct login_params *lp;
	struct login_result *res;
	struct negotiation neg;
	struct textbuf out;       /* text to send next */
	char *in;                 /* accumulated received text */
	size_t in_len;
	int reply_sent[K_COUNT];  /* answers in neg.reply already on the wire */
	int stage;
	struct chap *chap;        /* NULL unless we may authenticate with CHAP */
	enum { CHAP_IDLE, CHAP_CHOSEN, CHAP_ASKED, CHAP_ANSWERED, CHAP_DONE } chap_phase;
	char *err;
	size_t errlen;
};

static int offer(struct login_state *ls, int id, const char *value)
{
	int r = textbuf_add(&ls->out, key_table[id].name, value);

	if (!r)
		r = key_set_put(&ls->neg.offered, id, value);
	return r;
}

static int build_security_offer(struct login_state *ls)
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

static int build_operational_offer(struct login_state *ls)
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
static int build_replies(struct login_state *ls)
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

static int on_key(const char *key, const char *value, void *arg)
{
	struct login_state *ls = arg;
	int r;

	if (strcmp(key, "TargetAlias") == 0)
		snprintf(ls->res->target_alias, sizeof(ls->res->target_alias), "%s", value);
	if (strcmp(key, "TargetAddress") == 0)
		snprintf(ls->res->redirect, sizeof(ls->res->redirect), "%s", value);
	if (strncmp(key, "CHAP_", 5) == 0) {
		if (!ls->chap || ls->chap_phase < CHAP_ASKED) {
			snprintf(ls->err, ls->errlen, "the target sent %s before CHAP was agreed", key);
			return -EPROTO;
		}
		r = chap_receive(ls->chap, key, value, ls->err, ls->errlen);
		if (r && strcmp(key, "CHAP_A") == 0)
			ls->res->chap_alg_refused = 1;
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
static int send_text(struct conn *c, struct login_state *ls, int transit, int nsg)
{
	const struct login_params *lp = ls->lp;
	size_t off = 0;

	do {
		size_t n = ls->out.len - off;
		int last = n <= LOGIN_PDU_MAX;
		struct login_req rq = {
			.transit = last ? transit : 0,
			.cont = !last,
			.csg = ls->stage,
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
		r = conn_send_sync(c, bhs, ls->out.data ? ls->out.data + off : NULL, (uint32_t)n, ls->err,
				   ls->errlen);
		if (r)
			return r;
		off += n;
		if (last)
			break;
		/* The target acknowledges each partial PDU with an empty response (RFC 7143 6.2). */
		r = conn_recv_sync(c, &h, rsp, sizeof(rsp), lp->timeout_s, ls->err, ls->errlen);
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

/* Receive one whole login response (accumulating C-bit PDUs). */
/* Append a response's text to what the target has said in this exchange. */
static int keep_text(struct login_state *ls, const uint8_t *buf, uint32_t len)
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

static int recv_response(struct conn *c, struct login_state *ls, struct pdu_hdr *h)
{
	const struct login_params *lp = ls->lp;
	uint8_t buf[LOGIN_PDU_MAX];
	int r;

	ls->in_len = 0;
	for (;;) {
		r = conn_recv_sync(c, h, buf, sizeof(buf), lp->timeout_s, ls->err, ls->errlen);
		if (r)
			return r;
		if (h->opcode != OP_LOGIN_RSP) {
			snprintf(ls->err, ls->errlen, "expected a Login Response, got %s",
				 pdu_opcode_name(h->opcode));
			return -EPROTO;
		}
		/* A refusal is reported as such, even when the target did not fill in the
		 * rest of the header; its keys (TargetAddress of a redirection) are kept. */
		if (h->u.login_rsp.status_class != 0)
			return keep_text(ls, buf, h->dsl);
		if (memcmp(h->u.login_rsp.isid, lp->isid, 6) != 0 || h->itt != 0) {
			snprintf(ls->err, ls->errlen,
				 "Login Response for another ISID or task tag (0x%08x)", h->itt);
			return -EPROTO;
		}
		if (h->u.login_rsp.version_active != 0) {
			snprintf(ls->err, ls->errlen, "target answered with iSCSI version %u, not 0",
				 h->u.login_rsp.version_active);
			return -EPROTO;
		}
		ls->res->exp_stat_sn = h->stat_sn + 1;
		ls->res->exp_cmd_sn = h->exp_cmd_sn;
		ls->res->max_cmd_sn = h->max_cmd_sn;
		r = keep_text(ls, buf, h->dsl);
		if (r)
			return r;
		if (!(h->flags & FL_CONTINUE))
			return 0;
		if (h->flags & FL_LOGIN_TRANSIT) {
			snprintf(ls->err, ls->errlen, "Login Response with both the T and C bits");
			return -EPROTO;
		}
		/* Ask for the rest with an empty request. */
		{
			struct login_req rq = {
				.csg = ls->stage, .isid = lp->isid, .tsih = lp->tsih, .cid = lp->cid,
				.cmd_sn = lp->cmd_sn, .exp_stat_sn = ls->res->exp_stat_sn,
			};
			uint8_t bhs[BHS_LEN];

			pdu_build_login(bhs, &rq, 0);
			r = conn_send_sync(c, bhs, NULL, 0, ls->err, ls->errlen);
			if (r)
				return r;
		}
	}
}

int login_run(struct conn *c, const struct login_params *lp, struct login_result *res, char *err,
	      size_t errlen)
{
	struct login_state ls = {.lp = lp, .res = res, .err = err, .errlen = errlen};
	int first_of_stage = 1, r = -EPROTO;

	memset(res, 0, sizeof(*res));
	if (errlen)
		err[0] = '\0'; /* reasons below are only filled in where nothing more precise is */
	key_set_init(&ls.neg.offered);
	key_set_init(&ls.neg.answered);
	key_set_init(&ls.neg.reply);
	ls.neg.discovery = lp->target_name == NULL;
	ls.stage = STAGE_SECURITY;
	if (lp->chap) {
		static const int md5[] = {CHAP_ALG_MD5};

		ls.chap = lp->chap_md5_only ? chap_new(lp->chap, md5, 1) : chap_new(lp->chap, NULL, 0);
		if (!ls.chap) {
			snprintf(err, errlen, "cannot set up CHAP: %s", strerror(errno));
			return -errno;
		}
	}

	for (int round = 0; round < LOGIN_ROUNDS; round++) {
		struct pdu_hdr h;
		int nsg = ls.stage == STAGE_SECURITY ? STAGE_OPERATIONAL : STAGE_FULL_FEATURE;
		int rsp_csg, rsp_nsg, transit = 1;

		/* ls.out holds the NotUnderstood answers to the last response's unknown keys
		 * (RFC 7143 6.2); they go first in this request. */
		r = 0;
		if (first_of_stage) {
			r = ls.stage == STAGE_SECURITY ? build_security_offer(&ls)
						       : build_operational_offer(&ls);
		} else if (ls.stage == STAGE_SECURITY && ls.chap_phase == CHAP_CHOSEN) {
			/* RFC 7143 12.1.3: the algorithm list, then the target's challenge. */
			r = textbuf_add(&ls.out, "CHAP_A", chap_algorithms(ls.chap));
			ls.chap_phase = CHAP_ASKED;
			transit = 0;
		} else if (ls.stage == STAGE_SECURITY && ls.chap_phase == CHAP_ASKED) {
			r = chap_respond(ls.chap, &ls.out, err, errlen);
			ls.chap_phase = CHAP_ANSWERED;
		}
		if (!r)
			r = build_replies(&ls);
		if (r)
			goto out;
		first_of_stage = 0;
		/* An empty request is valid: it asks the target to go on. */
		r = send_text(c, &ls, transit, nsg);
		if (r)
			goto out;
		textbuf_free(&ls.out);
		r = recv_response(c, &ls, &h);
		if (r)
			goto out;
		res->status_class = h.u.login_rsp.status_class;
		res->status_detail = h.u.login_rsp.status_detail;
		if (res->status_class && ls.chap_phase >= CHAP_ANSWERED)
			res->chap_refused_alg = chap_chosen_alg(ls.chap);
		if (res->status_class) {
			/* Keys (TargetAddress for a redirection) come with the refusal. */
			text_foreach(ls.in, ls.in_len, on_key, &ls);
			if (res->status_class == 0x01)
				snprintf(err, errlen, "login redirected (%s) to %s",
					 login_status_str(res->status_class, res->status_detail),
					 res->redirect[0] ? res->redirect : "an unnamed address");
			else
				snprintf(err, errlen, "login refused: %s (status 0x%02x%02x)",
					 login_status_str(res->status_class, res->status_detail),
					 res->status_class, res->status_detail);
			r = res->status_class == 0x01 ? -EAGAIN : -EACCES;
			goto out;
		}
		r = text_foreach(ls.in, ls.in_len, on_key, &ls);
		if (r) {
			if (r == -EPROTO && !*err)
				snprintf(err, errlen, "malformed login text from the target");
			goto out;
		}
		rsp_csg = (h.flags >> 2) & 3;
		rsp_nsg = h.flags & 3;
		if (rsp_csg != ls.stage) {
			snprintf(err, errlen, "Login Response for stage %d while in stage %d", rsp_csg,
				 ls.stage);
			r = -EPROTO;
			goto out;
		}
		if (ls.stage == STAGE_SECURITY) {
			const char *am = key_set_get(&ls.neg.answered, K_AUTH_METHOD);

			if (am && strcmp(am, "CHAP") == 0 && ls.chap_phase == CHAP_IDLE) {
				ls.chap_phase = CHAP_CHOSEN;
			} else if (am && strcmp(am, "None") != 0 && strcmp(am, "CHAP") != 0) {
				snprintf(err, errlen, "the target requires AuthMethod=%s", am);
				r = -EACCES;
				goto out;
			}
			if (ls.chap_phase == CHAP_ANSWERED) {
				/* Mutual: the target proves it knows its secret before we go on. */
				r = chap_verify(ls.chap, err, errlen);
				if (r)
					goto out;
				ls.chap_phase = CHAP_DONE;
			}
			if ((h.flags & FL_LOGIN_TRANSIT) && ls.chap_phase != CHAP_IDLE &&
			    ls.chap_phase != CHAP_DONE) {
				snprintf(err, errlen, "the target left the security stage before CHAP "
						      "authentication finished");
				r = -EACCES;
				goto out;
			}
		}
		if (!(h.flags & FL_LOGIN_TRANSIT))
			continue; /* the target wants another round in this stage */
		if (rsp_nsg == STAGE_FULL_FEATURE) {
			res->tsih = h.u.login_rsp.tsih;
			/* RFC 7143 11.13.3: a new session gets a TSIH other than 0; a connection
			 * that joins one keeps its TSIH. */
			if (!lp->tsih && !res->tsih) {
				snprintf(err, errlen, "the target gave the new session TSIH 0");
				r = -EPROTO;
				goto out;
			}
			if (lp->tsih && res->tsih != lp->tsih) {
				snprintf(err, errlen, "the target answered with TSIH %u a login to "
					 "session %u", res->tsih, lp->tsih);
				r = -EPROTO;
				goto out;
			}
			r = negotiate_result(&ls.neg, &res->params, err, errlen);
			goto out;
		}
		if (rsp_nsg != STAGE_OPERATIONAL || ls.stage != STAGE_SECURITY) {
			snprintf(err, errlen, "target moved to login stage %d from %d", rsp_nsg,
				 ls.stage);
			r = -EPROTO;
			goto out;
		}
		ls.stage = STAGE_OPERATIONAL;
		first_of_stage = 1;
	}
	snprintf(err, errlen, "login did not finish within %d exchanges", LOGIN_ROUNDS);
	r = -EPROTO;
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
