/* SendTargets discovery: a short-lived discovery session on its own connection. */
#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "discovery.h"
#include "keys.h"
#include "log.h"
#include "login.h"
#include "pdu.h"

#define DISC_TEXT_MAX (1024 * 1024)
#define DISC_PDU_MAX 8192
#define DISC_MAX_TARGETS 1024

struct parse_state {
	struct disc_target *list;
	int count;
};

static int on_pair(const char *key, const char *value, void *arg)
{
	struct parse_state *ps = arg;

	if (strcmp(key, "TargetName") == 0) {
		struct disc_target *l;

		if (ps->count >= DISC_MAX_TARGETS)
			return -E2BIG;
		l = realloc(ps->list, sizeof(*l) * (size_t)(ps->count + 1));
		if (!l)
			return -ENOMEM;
		ps->list = l;
		memset(&l[ps->count], 0, sizeof(*l));
		snprintf(l[ps->count].name, sizeof(l[ps->count].name), "%s", value);
		l[ps->count].name_too_long = strlen(value) >= sizeof(l[ps->count].name);
		ps->count++;
	} else if (strcmp(key, "TargetAddress") == 0) {
		struct disc_target *t;

		if (!ps->count)
			return -EPROTO; /* an address before any name */
		t = &ps->list[ps->count - 1];
		/* One too long for any portal is left out, not cut into another one. */
		if (t->naddrs < DISC_MAX_ADDRS && strlen(value) < sizeof(t->addrs[0]))
			snprintf(t->addrs[t->naddrs++], sizeof(t->addrs[0]), "%s", value);
	}
	return 0;
}

int discovery_sendtargets(const struct disc_request *rq, struct disc_target **out, int *count,
			  char *err, size_t errlen)
{
	struct conn *c = conn_new(rq->label);
	struct login_params lp = {0};
	struct login_result res;
	struct parse_state ps = {0};
	uint8_t isid[6] = {0x80}, bhs[BHS_LEN];
	static const char req[] = "SendTargets=All";
	char *text = NULL;
	size_t text_len = 0;
	uint32_t ttt = RSVD_TAG, cmd_sn = 1, itt = 1;
	int r;

	*out = NULL;
	*count = 0;
	if (!c)
		return -ENOMEM;
	RAND_bytes(isid + 1, 5);
	r = conn_connect(c, rq->addr, rq->port, rq->netdev, rq->timeout_s, err, errlen);
	if (r)
		goto out;
	lp.initiator_name = rq->initiator_name;
	lp.isid = isid;
	lp.cmd_sn = cmd_sn;
	lp.timeout_s = rq->timeout_s;
	lp.max_recv_dsl = DISC_PDU_MAX;
	r = login_run(c, &lp, &res, err, errlen);
	if (r)
		goto out;
	for (int round = 0;; round++) {
		struct pdu_hdr h;
		uint8_t buf[DISC_PDU_MAX];
		char *p;

		/* First request carries the key; follow-ups are empty and echo the TTT. */
		pdu_build_text(bhs, 1, 0, itt, ttt, cmd_sn, res.exp_stat_sn,
			       round ? 0 : (uint32_t)sizeof(req));
		r = conn_send_sync(c, bhs, round ? NULL : req, round ? 0 : sizeof(req), err, errlen);
		if (r)
			goto out;
		r = conn_recv_sync(c, &h, buf, sizeof(buf), rq->timeout_s, err, errlen);
		if (r)
			goto out;
		if (h.opcode != OP_TEXT_RSP || h.itt != itt) {
			snprintf(err, errlen, "expected a Text Response to SendTargets, got %s",
				 pdu_opcode_name(h.opcode));
			r = -EPROTO;
			goto out;
		}
		res.exp_stat_sn = h.stat_sn + 1;
		if (text_len + h.dsl > DISC_TEXT_MAX) {
			snprintf(err, errlen, "SendTargets answer larger than %d bytes", DISC_TEXT_MAX);
			r = -EPROTO;
			goto out;
		}
		p = realloc(text, text_len + h.dsl + 1);
		if (!p) {
			r = -ENOMEM;
			goto out;
		}
		text = p;
		memcpy(text + text_len, buf, h.dsl);
		text_len += h.dsl;
		if (h.flags & FL_FINAL)
			break;
		ttt = h.u.text_rsp.ttt;
		if (round > 4096) {
			snprintf(err, errlen, "SendTargets answer never ended");
			r = -EPROTO;
			goto out;
		}
	}
	r = text_foreach(text, text_len, on_pair, &ps);
	if (r) {
		snprintf(err, errlen, "malformed SendTargets answer from %s:%u", rq->addr, rq->port);
		free(ps.list);
		goto out;
	}
	if (logout_sync(c, itt + 1, 0, cmd_sn, res.exp_stat_sn, rq->timeout_s) < 0)
		log_dbg("%s: discovery logout was not acknowledged", rq->label);
	*out = ps.list;
	*count = ps.count;
	r = 0;
out:
	free(text);
	conn_free(c);
	return r;
}
