/* Channel lifecycle: discovery when needed, login, LUN scan, logout; and what other threads
 * may read of a channel, under its lock. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "discovery.h"
#include "lockrank.h"
#include "log.h"

/* Written by the lifecycle thread (channel.h), under lock where other threads read it; that
 * thread, and the rescan thread it starts and joins, read without it. */
struct channel {
	const struct cfg *cfg;
	const struct cfg_channel *cc;
	char label[16];            /* "ch0" */
	pthread_mutex_t lock;
	/* Under lock. The session reads target_name and portals without it: they change only
	 * while there is no session. */
	enum channel_state state;
	char target_name[CFG_NAME_MAX];
	struct session *sess;
	int sess_pins;             /* channel_session_info calls using sess: it is not freed */
	pthread_cond_t sess_cond;  /* sess_pins fell to 0 */
	struct session_portal portals[SESSION_MAX_CONNS]; /* point into cfg, or at isns_addr */
	char isns_addr[PORTAL_HOST_MAX];
	uint16_t isns_port;
	struct chap_secrets chap; /* points into cfg: the secrets are not copied */

	/* LUNs ever seen, under lock (the rescan thread, which alone adds to it, reads it
	 * without): pointers stay valid until channel_free; a LUN that went away is marked gone,
	 * never freed early, so open files keep a valid object. */
	struct lun **luns;
	int nluns, cap;

	/* Rescans run on their own thread: they need the receive thread to answer. */
	pthread_t rescan_thread;
	pthread_cond_t rescan_cond;
	int rescan_requested, rescan_stop, rescan_running;
	void (*on_change)(void *arg);
	void *change_arg;

	/* A CHANNEL line with the address "isns": the portal is asked for at each start. */
	channel_resolver resolve;
	void *resolve_arg;
};

static void ch_lock(struct channel *ch)
{
	LOCKRANK_TAKE(LOCK_CHANNEL);
	pthread_mutex_lock(&ch->lock);
}

static void ch_unlock(struct channel *ch)
{
	pthread_mutex_unlock(&ch->lock);
	LOCKRANK_DROP(LOCK_CHANNEL);
}

/* "[::1]:3260 (group 1), 127.0.0.1:3260 (group 1)": the portals a SendTargets answer gives
 * for t, as parsed; one that cannot be used says why. */
static void disc_portals(const struct disc_target *t, char *out, size_t outlen)
{
	size_t off = 0;

	out[0] = '\0';
	for (int i = 0; i < t->naddrs && off < outlen; i++) {
		struct portal_addr pa;
		char why[CFG_ERR_MAX], shown[PORTAL_STR_MAX];

		if (portal_parse_target_address(t->addrs[i], 3260, &pa, why, sizeof(why)) < 0) {
			off += (size_t)snprintf(out + off, outlen - off, "%s%s", off ? "; " : "", why);
			continue;
		}
		portal_format(pa.host, pa.port, shown, sizeof(shown));
		if (pa.tpgt >= 0)
			off += (size_t)snprintf(out + off, outlen - off, "%s%s (group %d)",
						off ? ", " : "", shown, pa.tpgt);
		else
			off += (size_t)snprintf(out + off, outlen - off, "%s%s", off ? ", " : "",
						shown);
	}
}

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
	int n = 0, r, nvalid = 0, first = -1;

	r = discovery_sendtargets(&rq, &list, &n, err, errlen);
	if (r) {
		char why[CFG_ERR_MAX];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "%s: discovery at %s:%u failed: %s", ch->label, p->addr,
			 p->port, why);
		return r;
	}
	/* A name the target reports becomes a directory: one that is no iSCSI name is left out. */
	for (int i = 0; i < n; i++) {
		char why[CFG_ERR_MAX];

		if (list[i].name_too_long)
			snprintf(why, sizeof(why), "a target name longer than %zu bytes",
				 sizeof(list[i].name) - 1);
		else if (iscsi_name_check(list[i].name, why, sizeof(why)) == 0)
			why[0] = '\0';
		if (why[0]) {
			log_warn("%s: discovery at %s:%u: %s; left out", ch->label, p->addr, p->port,
				 why);
			list[i].name[0] = '\0';
			continue;
		}
		if (first < 0)
			first = i;
		nvalid++;
	}
	if (nvalid == 1) {
		char portals[1024];

		/* Named as the target reports it. */
		ch_lock(ch);
		snprintf(ch->target_name, sizeof(ch->target_name), "%s", list[first].name);
		ch_unlock(ch);
		disc_portals(&list[first], portals, sizeof(portals));
		log_info("%s: discovered %s at %s:%u%s%s", ch->label, ch->target_name, p->addr,
			 p->port, portals[0] ? "; its portals: " : "", portals);
		free(list);
		return 0;
	}
	if (nvalid == 0) {
		snprintf(err, errlen, "%s: no target found at %s:%u (name one as the 9th argument)",
			 ch->label, p->addr, p->port);
	} else {
		size_t off = (size_t)snprintf(err, errlen,
					      "%s: %d targets found at %s:%u; name one as the "
					      "9th argument of the CHANNEL line:",
					      ch->label, nvalid, p->addr, p->port);

		for (int i = 0; i < n && off < errlen; i++)
			if (list[i].name[0])
				off += (size_t)snprintf(err + off, errlen - off, " %s", list[i].name);
	}
	free(list);
	return -ENOENT;
}

static struct lun *find_lun(struct channel *ch, uint64_t wire)
{
	for (int i = 0; i < ch->nluns; i++)
		if (ch->luns[i]->wire == wire && !lun_gone(ch->luns[i]))
			return ch->luns[i];
	return NULL;
}

static int add_lun(struct channel *ch, const struct lun *probed)
{
	struct lun *l = malloc(sizeof(*l));

	if (!l)
		return -ENOMEM;
	*l = *probed;
	lun_init_queue(l, ch->cc->attrs.queue_depth);
	ch_lock(ch);
	if (ch->nluns == ch->cap) {
		int cap = ch->cap ? ch->cap * 2 : 8;
		struct lun **n = realloc(ch->luns, sizeof(*n) * (size_t)cap);

		if (!n) {
			ch_unlock(ch);
			lun_destroy(l);
			free(l);
			return -ENOMEM;
		}
		ch->luns = n;
		ch->cap = cap;
	}
	ch->luns[ch->nluns++] = l;
	ch_unlock(ch);
	return 0;
}

static void log_lun(const struct lun *l, const char *what)
{
	log_info("%s: %s%s %s, %llu blocks of %u bytes%s%s%s%s", l->label, what, l->inq.vendor,
		 l->inq.product, (unsigned long long)lun_nblocks(l), l->block_size,
		 l->readonly ? ", read-only" : "", l->unmap ? ", thin (UNMAP)" : "",
		 l->ident[0] ? ", id " : "", l->ident);
}

/* REPORT LUNS and probe each LUN; add new ones, mark vanished ones gone, update
 * capacities. Returns 1 when anything changed, 0 when not, -errno on failure. */
static int scan_luns(struct channel *ch, int initial, char *err, size_t errlen)
{
	uint64_t *wires = NULL;
	int n = 0, r, changed = 0;

	r = lun_report(ch->sess, &wires, &n, err, errlen);
	if (r < 0)
		return r;
	if (r && initial)
		log_info("%s: the target has no REPORT LUNS: LUN 0 alone", ch->label);
	for (int i = 0; i < n; i++) {
		struct lun probed, *old = find_lun(ch, wires[i]);

		r = lun_probe(ch->sess, wires[i], ch->label, &probed, err, errlen);
		if (r < 0 && initial) {
			free(wires);
			return r;
		}
		if (r < 0) {
			log_warn("%s", err);
			continue;
		}
		if (old && (r == 1 || probed.block_size != old->block_size ||
			    probed.inq.pdt != old->inq.pdt)) {
			/* Not the same device any more: the old file goes, a new one comes. */
			__atomic_store_n(&old->gone, 1, __ATOMIC_RELEASE);
			log_info("%s: removed (the device behind the LUN changed)", old->label);
			old = NULL;
			changed = 1;
		}
		if (r == 1)
			continue;
		if (old) {
			if (lun_nblocks(old) != probed.nblocks) {
				log_info("%s: capacity changed from %llu to %llu blocks", old->label,
					 (unsigned long long)lun_nblocks(old),
					 (unsigned long long)probed.nblocks);
				__atomic_store_n(&old->nblocks, probed.nblocks, __ATOMIC_RELEASE);
				changed = 1;
			}
			continue;
		}
		r = add_lun(ch, &probed);
		if (r) {
			free(wires);
			return r;
		}
		log_lun(&probed, initial ? "" : "new LUN: ");
		changed = 1;
	}
	/* LUNs no longer reported are gone. */
	for (int i = 0; i < ch->nluns; i++) {
		struct lun *l = ch->luns[i];
		int listed = 0;

		for (int j = 0; j < n && !listed; j++)
			listed = wires[j] == l->wire;
		if (!listed && !lun_gone(l)) {
			__atomic_store_n(&l->gone, 1, __ATOMIC_RELEASE);
			log_info("%s: removed from the target", l->label);
			changed = 1;
		}
	}
	free(wires);
	return changed;
}

/* Unit attentions that mean the LUN inventory or a capacity changed (SPC-4 annex). */
static void on_unit_attention(void *arg, uint64_t lun, uint8_t asc, uint8_t ascq)
{
	(void)lun;
	if ((asc == 0x3f && ascq == 0x0e) || /* REPORTED LUNS DATA HAS CHANGED */
	    (asc == 0x2a && ascq == 0x09) || /* CAPACITY DATA HAS CHANGED */
	    (asc == 0x3f && ascq == 0x03))   /* INQUIRY DATA HAS CHANGED */
		channel_request_rescan(arg);
}

/* From a receive thread, the session's lock held: only the channel's is taken. */
void channel_request_rescan(struct channel *ch)
{
	ch_lock(ch);
	ch->rescan_requested = 1;
	pthread_cond_signal(&ch->rescan_cond);
	ch_unlock(ch);
}

void channel_set_change_callback(struct channel *ch, void (*fn)(void *arg), void *arg)
{
	ch_lock(ch);
	ch->on_change = fn;
	ch->change_arg = arg;
	ch_unlock(ch);
}

static void *rescan_main(void *arg)
{
	struct channel *ch = arg;

	ch_lock(ch);
	for (;;) {
		char err[CFG_ERR_MAX];
		void (*fn)(void *);
		void *fnarg;
		int r;

		while (!ch->rescan_requested && !ch->rescan_stop)
			pthread_cond_wait(&ch->rescan_cond, &ch->lock);
		if (ch->rescan_stop)
			break;
		ch->rescan_requested = 0;
		ch_unlock(ch);
		log_info("%s: rescanning LUNs", ch->label);
		r = scan_luns(ch, 0, err, sizeof(err));
		if (r < 0)
			log_warn("%s: rescan failed: %s", ch->label, err);
		ch_lock(ch);
		fn = ch->on_change;
		fnarg = ch->change_arg;
		if (r > 0 && fn) {
			ch_unlock(ch);
			fn(fnarg);
			ch_lock(ch);
		}
	}
	ch_unlock(ch);
	return NULL;
}

void channel_set_resolver(struct channel *ch, channel_resolver fn, void *arg)
{
	ch->resolve = fn;
	ch->resolve_arg = arg;
}

void channel_portal_str(struct channel *ch, char *out, size_t outlen)
{
	const struct cfg_portal *p = &ch->cc->portals[0];

	if (!p->from_isns) {
		snprintf(out, outlen, "%s:%u", p->addr, p->port);
		return;
	}
	ch_lock(ch);
	if (ch->isns_addr[0])
		snprintf(out, outlen, "%s:%u (from iSNS)", ch->isns_addr, ch->isns_port);
	else
		snprintf(out, outlen, "isns");
	ch_unlock(ch);
}

struct channel *channel_new(const struct cfg *cfg, const struct cfg_channel *cc)
{
	struct channel *ch = calloc(1, sizeof(*ch));

	if (!ch)
		return NULL;
	pthread_mutex_init(&ch->lock, NULL);
	pthread_cond_init(&ch->rescan_cond, NULL);
	pthread_cond_init(&ch->sess_cond, NULL);
	ch->cfg = cfg;
	ch->cc = cc;
	ch->state = CH_STOPPED;
	snprintf(ch->label, sizeof(ch->label), "ch%d", cc->id);
	return ch;
}

static void notify_change(struct channel *ch)
{
	void (*fn)(void *);
	void *arg;

	ch_lock(ch);
	fn = ch->on_change;
	arg = ch->change_arg;
	ch_unlock(ch);
	if (fn)
		fn(arg);
}

static void set_state(struct channel *ch, enum channel_state st)
{
	ch_lock(ch);
	ch->state = st;
	ch_unlock(ch);
}

/* The session, no longer reachable through ch once no channel_session_info uses it: the
 * caller logs it out and frees it. */
static struct session *take_session(struct channel *ch)
{
	struct session *s;

	ch_lock(ch);
	s = ch->sess;
	ch->sess = NULL;
	while (ch->sess_pins)
		pthread_cond_wait(&ch->sess_cond, &ch->lock);
	ch_unlock(ch);
	return s;
}

/* A stopped channel: log in and scan (its LUNs get new objects: old ones stay gone). */
static int login_and_scan(struct channel *ch, char *err, size_t errlen)
{
	const struct cfg_channel *cc = ch->cc;
	const struct cfg *cfg = ch->cfg;
	struct session_config sc = {0};
	struct session *s;
	int r;

	int np = cc->nportals < SESSION_MAX_CONNS ? cc->nportals : SESSION_MAX_CONNS;
	int nconns = cc->conn_count * np;

	/* The howto: each CHANNEL line of a channel opens its connection count to its portal,
	 * so "1 2 eth0 A" and "1 2 eth1 B" make a session of four connections. They are taken
	 * in turn from each portal: connection i goes to portal i mod the number of lines. */
	ch_lock(ch);
	for (int i = 0; i < np; i++) {
		ch->portals[i].addr = cc->portals[i].addr;
		ch->portals[i].port = cc->portals[i].port;
		ch->portals[i].netdev = cc->portals[i].netdev;
	}
	ch_unlock(ch);
	if (cc->portals[0].from_isns) {
		char why[CFG_ERR_MAX], addr[PORTAL_HOST_MAX];
		uint16_t port = 0;

		if (!ch->resolve) {
			snprintf(err, errlen, "%s: no iSNS server to ask for the portal of %s",
				 ch->label, cc->target_name);
			return -ENOENT;
		}
		r = ch->resolve(ch->resolve_arg, cc->target_name, addr, sizeof(addr), &port, why,
				sizeof(why));
		if (r) {
			snprintf(err, errlen, "%s: no portal for %s from iSNS: %s", ch->label,
				 cc->target_name, why);
			return r;
		}
		log_info("%s: iSNS lists %s at %s:%u", ch->label, cc->target_name, addr, port);
		ch_lock(ch);
		snprintf(ch->isns_addr, sizeof(ch->isns_addr), "%s", addr);
		ch->isns_port = port;
		ch->portals[0].addr = ch->isns_addr;
		ch->portals[0].port = ch->isns_port;
		ch_unlock(ch);
	}
	if (nconns > SESSION_MAX_CONNS) {
		log_warn("%s: %d connections configured; a session has at most %d", ch->label,
			 nconns, SESSION_MAX_CONNS);
		nconns = SESSION_MAX_CONNS;
	}
	if (cc->target_name[0]) {
		ch_lock(ch);
		snprintf(ch->target_name, sizeof(ch->target_name), "%s", cc->target_name);
		ch_unlock(ch);
	} else {
		r = discover_target(ch, err, errlen);
		if (r)
			return r;
	}
	sc.label = ch->label;
	sc.initiator_name = cfg->initiator_name;
	sc.initiator_alias = cfg->initiator_alias;
	sc.target_name = ch->target_name;
	sc.portals = ch->portals;
	sc.nportals = np;
	sc.nconns = (uint32_t)nconns;
	sc.admin_keys = &cc->keys;
	if (cc->auth.present) {
		const char *am = key_set_get(&cc->keys, K_AUTH_METHOD);

		ch->chap.user = cc->auth.user;
		ch->chap.secret = cc->auth.secret;
		ch->chap.mutual = cc->auth.mutual;
		ch->chap.target_user = cc->auth.mutual ? cc->auth.target_user : NULL;
		ch->chap.target_secret = cc->auth.mutual ? cc->auth.target_secret : NULL;
		/* The howto: authentication is on only when AuthMethod names CHAP. */
		if (am && strstr(am, "CHAP"))
			sc.chap = &ch->chap;
	}
	sc.login_timeout = (int)cc->attrs.login_timeout;
	sc.max_tasks = 128;
	sc.nopout_timeout = cc->attrs.nopout_timeout;
	sc.nopout_response_timeout = cc->attrs.nopout_response_timeout;
	sc.command_timeout = cc->attrs.command_timeout;
	sc.replacement_timeout = cc->attrs.replacement_timeout;
	/* A multipath member gives lost I/O back at once: the device sends it on another path
	 * and does the waiting itself. */
	sc.fast_fail = cc->attrs.multipath != CFG_MPATH_OFF;
	sc.on_unit_attention = on_unit_attention;
	sc.ua_arg = ch;
	s = session_new(&sc);
	if (!s)
		return -ENOMEM;
	ch_lock(ch);
	ch->sess = s;
	ch_unlock(ch);
	r = session_login(s, err, errlen);
	if (r) {
		char why[CFG_ERR_MAX];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "%s: login to %s at %s:%u failed: %s", ch->label,
			 ch->target_name, ch->portals[0].addr, ch->portals[0].port, why);
		session_free(take_session(ch));
		return r;
	}
	r = scan_luns(ch, 1, err, errlen);
	if (r >= 0) {
		ch->rescan_stop = 0;
		r = -pthread_create(&ch->rescan_thread, NULL, rescan_main, ch);
		ch->rescan_running = !r;
		if (r)
			snprintf(err, errlen, "%s: cannot start the rescan thread", ch->label);
	}
	return r < 0 ? r : 0;
}

int channel_start(struct channel *ch, char *err, size_t errlen)
{
	int r = 0;

	switch (ch->state) {
	case CH_RUNNING:
		return 0;
	case CH_PAUSED:
		r = session_resume(ch->sess, err, errlen);
		if (r) {
			char why[CFG_ERR_MAX];

			snprintf(why, sizeof(why), "%s", err);
			snprintf(err, errlen, "%s: cannot resume: %s", ch->label, why);
			return r;
		}
		set_state(ch, CH_RUNNING);
		return 0;
	case CH_STOPPED:
		r = login_and_scan(ch, err, errlen);
		if (r) {
			channel_stop(ch);
			return r;
		}
		set_state(ch, CH_RUNNING);
		notify_change(ch);
		return 0;
	}
	return r;
}

void channel_pause(struct channel *ch)
{
	if (ch->state != CH_RUNNING)
		return;
	session_pause(ch->sess);
	set_state(ch, CH_PAUSED);
}

const char *channel_state_str(struct channel *ch)
{
	const char *s = "unknown";

	/* session_status takes no lock: it may be asked under the channel's. */
	ch_lock(ch);
	switch (ch->state) {
	case CH_STOPPED:
		s = "stopped";
		break;
	case CH_PAUSED:
		s = "paused";
		break;
	case CH_RUNNING:
		s = ch->sess && session_status(ch->sess) == SESSION_RECOVERING ? "recovering"
										: "running";
		break;
	}
	ch_unlock(ch);
	return s;
}

void channel_stop_rescans(struct channel *ch)
{
	if (!ch->rescan_running)
		return;
	ch_lock(ch);
	ch->rescan_stop = 1;
	pthread_cond_signal(&ch->rescan_cond);
	ch_unlock(ch);
	pthread_join(ch->rescan_thread, NULL);
	ch->rescan_running = 0;
}

void channel_stop(struct channel *ch)
{
	struct session *s;
	int had_luns = 0;

	channel_stop_rescans(ch);
	s = take_session(ch);
	if (s) {
		session_logout(s);
		session_free(s);
	}
	/* The LUN objects stay (the kernel may still name their files); they are gone. */
	ch_lock(ch);
	for (int i = 0; i < ch->nluns; i++) {
		if (!lun_gone(ch->luns[i]))
			had_luns = 1;
		__atomic_store_n(&ch->luns[i]->gone, 1, __ATOMIC_RELEASE);
	}
	ch->state = CH_STOPPED;
	ch_unlock(ch);
	if (had_luns)
		notify_change(ch);
}

void channel_logout(struct channel *ch)
{
	channel_stop_rescans(ch);
	if (ch->sess)
		session_logout(ch->sess);
}

void channel_free(struct channel *ch)
{
	if (!ch)
		return;
	channel_stop(ch);
	for (int i = 0; i < ch->nluns; i++) {
		lun_destroy(ch->luns[i]);
		free(ch->luns[i]);
	}
	free(ch->luns);
	ch->luns = NULL;
	ch->nluns = ch->cap = 0;
	pthread_mutex_destroy(&ch->lock);
	pthread_cond_destroy(&ch->rescan_cond);
	pthread_cond_destroy(&ch->sess_cond);
	free(ch);
}

int channel_id(const struct channel *ch)
{
	return ch->cc->id;
}

const char *channel_label(const struct channel *ch)
{
	return ch->label;
}

const struct cfg_channel *channel_conf(const struct channel *ch)
{
	return ch->cc;
}

const struct cfg *channel_conf_all(const struct channel *ch)
{
	return ch->cfg;
}

enum channel_state channel_state(struct channel *ch)
{
	enum channel_state st;

	ch_lock(ch);
	st = ch->state;
	ch_unlock(ch);
	return st;
}

int channel_target_name(struct channel *ch, char *out, size_t outlen)
{
	int known;

	ch_lock(ch);
	snprintf(out, outlen, "%s", ch->target_name);
	known = ch->target_name[0] != '\0';
	ch_unlock(ch);
	return known;
}

int channel_portal_in_use(struct channel *ch, char *host, size_t hostlen, uint16_t *port)
{
	int known;

	ch_lock(ch);
	known = ch->portals[0].addr != NULL;
	snprintf(host, hostlen, "%s", known ? ch->portals[0].addr : "");
	*port = known ? ch->portals[0].port : 0;
	ch_unlock(ch);
	return known;
}

/* The session's own lock is taken without the channel's (the order is the other way round),
 * so the session is pinned meanwhile: take_session waits for it. */
int channel_session_info(struct channel *ch, struct session_info *out)
{
	struct session *s;

	ch_lock(ch);
	s = ch->sess;
	if (s)
		ch->sess_pins++;
	ch_unlock(ch);
	if (!s)
		return 0;
	session_get_info(s, out);
	ch_lock(ch);
	if (--ch->sess_pins == 0)
		pthread_cond_broadcast(&ch->sess_cond);
	ch_unlock(ch);
	return 1;
}

int channel_luns(struct channel *ch, struct lun ***out)
{
	struct lun **a;
	int n;

	ch_lock(ch);
	n = ch->nluns;
	a = malloc(sizeof(*a) * (size_t)(n ? n : 1));
	if (a && n)
		memcpy(a, ch->luns, sizeof(*a) * (size_t)n);
	ch_unlock(ch);
	*out = a;
	return a ? n : -ENOMEM;
}

struct lun *channel_find_lun(struct channel *ch, uint32_t number)
{
	struct lun *found = NULL;

	ch_lock(ch);
	for (int i = 0; i < ch->nluns && !found; i++)
		if (ch->luns[i]->number == number && !lun_gone(ch->luns[i]))
			found = ch->luns[i];
	ch_unlock(ch);
	return found;
}

int channel_has_lun(struct channel *ch, const struct lun *l)
{
	int has = 0;

	ch_lock(ch);
	for (int i = 0; i < ch->nluns && !has; i++)
		has = ch->luns[i] == l;
	ch_unlock(ch);
	return has;
}
