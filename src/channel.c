/* Channel lifecycle: discovery when needed, login, LUN scan, logout. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "discovery.h"
#include "log.h"

static int discover_target(struct channel *ch, char *err, size_t errlen)
{
	const struct cfg_portal *p = &ch->cc->portals[0];
	struct disc_request rq = {
		.addr = p->addr,
		.port = p->port,
		.netdev = p->netdev,
		.initiator_name = ch->cfg->initiator_name,
		.label = ch->label,
		.timeout_s = (int)ch->cc->attrs.login_timeout,
	};
	struct disc_target *list = NULL;
	int n = 0, r;

	r = discovery_sendtargets(&rq, &list, &n, err, errlen);
	if (r) {
		char why[CFG_ERR_MAX];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "%s: discovery at %s:%u failed: %s", ch->label, p->addr,
			 p->port, why);
		return r;
	}
	if (n == 1) {
		snprintf(ch->target_name, sizeof(ch->target_name), "%s", list[0].name);
		log_info("%s: discovered %s at %s:%u", ch->label, ch->target_name, p->addr, p->port);
		free(list);
		return 0;
	}
	if (n == 0) {
		snprintf(err, errlen, "%s: no target found at %s:%u (name one as the 9th argument)",
			 ch->label, p->addr, p->port);
	} else {
		size_t off = (size_t)snprintf(err, errlen,
					      "%s: %d targets found at %s:%u; name one as the "
					      "9th argument of the CHANNEL line:",
					      ch->label, n, p->addr, p->port);

		for (int i = 0; i < n && off < errlen; i++)
			off += (size_t)snprintf(err + off, errlen - off, " %s", list[i].name);
	}
	free(list);
	return -ENOENT;
}

static int scan_luns(struct channel *ch, char *err, size_t errlen)
{
	uint64_t *wires = NULL;
	int n = 0, r;

	r = lun_report(ch->sess, &wires, &n, err, errlen);
	if (r)
		return r;
	ch->luns = calloc((size_t)(n ? n : 1), sizeof(*ch->luns));
	if (!ch->luns) {
		free(wires);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		struct lun *l = &ch->luns[ch->nluns];

		r = lun_probe(ch->sess, wires[i], ch->label, l, err, errlen);
		if (r < 0) {
			free(wires);
			return r;
		}
		if (r == 1)
			continue;
		log_info("%s: %s %s, %llu blocks of %u bytes%s", l->label, l->inq.vendor,
			 l->inq.product, (unsigned long long)l->nblocks, l->block_size,
			 l->readonly ? ", read-only" : "");
		ch->nluns++;
	}
	free(wires);
	return 0;
}

int channel_start(struct channel *ch, const struct cfg *cfg, const struct cfg_channel *cc,
		  char *err, size_t errlen)
{
	struct session_config sc = {0};
	const struct cfg_portal *p = &cc->portals[0];
	int r;

	memset(ch, 0, sizeof(*ch));
	ch->cfg = cfg;
	ch->cc = cc;
	snprintf(ch->label, sizeof(ch->label), "ch%d", cc->id);
	if (cc->conn_count > 1 || cc->nportals > 1)
		log_warn("%s: %d connections over %d portals configured; this version opens one "
			 "connection to the first portal",
			 ch->label, cc->conn_count, cc->nportals);
	if (cc->target_name[0]) {
		snprintf(ch->target_name, sizeof(ch->target_name), "%s", cc->target_name);
	} else {
		r = discover_target(ch, err, errlen);
		if (r)
			return r;
	}
	sc.label = ch->label;
	sc.initiator_name = cfg->initiator_name;
	sc.initiator_alias = cfg->initiator_alias;
	sc.target_name = ch->target_name;
	sc.addr = p->addr;
	sc.port = p->port;
	sc.netdev = p->netdev;
	sc.admin_keys = &cc->keys;
	sc.login_timeout = (int)cc->attrs.login_timeout;
	sc.max_tasks = 128;
	sc.nopout_timeout = cc->attrs.nopout_timeout;
	sc.nopout_response_timeout = cc->attrs.nopout_response_timeout;
	ch->sess = session_new(&sc);
	if (!ch->sess)
		return -ENOMEM;
	r = session_login(ch->sess, err, errlen);
	if (r) {
		char why[CFG_ERR_MAX];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "%s: login to %s at %s:%u failed: %s", ch->label,
			 ch->target_name, p->addr, p->port, why);
		session_free(ch->sess);
		ch->sess = NULL;
		return r;
	}
	r = scan_luns(ch, err, errlen);
	if (r) {
		channel_stop(ch);
		return r;
	}
	return 0;
}

void channel_stop(struct channel *ch)
{
	if (ch->sess) {
		session_logout(ch->sess);
		session_free(ch->sess);
		ch->sess = NULL;
	}
	free(ch->luns);
	ch->luns = NULL;
	ch->nluns = 0;
}
