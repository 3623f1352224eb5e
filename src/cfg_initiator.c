/* The reader of /etc/sysconfig/initiator: CHANNEL lines (portals, iSCSI keys, attributes,
 * target name; several lines of one id merge into one channel) and the ISNS line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <net/if.h>

#include "cfg_attrs.h"
#include "cfg_lex.h"
#include "config.h"

#define CONN_COUNT_MAX 16
#define MAX_WORDS 32

/* What one CHANNEL line says, before it is merged into its channel. */
struct chan_line {
	unsigned long id, conn_count;
	struct cfg_portal portal;
	struct key_set keys;
	struct cfg_attrs attrs;
	unsigned attrs_set; /* bit i: attr_table[i] was written on this line */
	const char *target; /* NULL when absent */
};

/* Attributes set per channel while one file is parsed, to tell a repeat from a conflict. */
struct attr_marks {
	unsigned *set;
	int first; /* index of the first channel created by this parse */
	int n;
};

static int is_name_word(const char *s)
{
	return (strncasecmp(s, "iqn.", 4) == 0 || strncasecmp(s, "eui.", 4) == 0 ||
		strncasecmp(s, "naa.", 4) == 0) && !strchr(s, '=');
}

static int check_netdev(struct reader *r, const char *s)
{
	if (strlen(s) >= CFG_IFNAME_MAX)
		return rd_err(r, "network device name '%s' is longer than %d characters", s,
			      CFG_IFNAME_MAX - 1);
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return rd_err(r, "'%s' is not a network device name", s);
	for (const char *p = s; *p; p++) {
		if (*p == '/' || *p == ':')
			return rd_err(r, "network device name '%s' must not contain '%c'", s, *p);
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return rd_err(r, "network device name contains a control character");
	}
	return 0;
}

/* A word that is an IPv4 or IPv6 address (not a host name). */
static int is_address(const char *s)
{
	enum portal_kind kind;

	return portal_host_parse(s, NULL, 0, &kind, NULL, 0) == 0 && kind != PORTAL_NAME;
}

/* The 4th word of CHANNEL (after the device, if any, is known) or the first of ISNS: an
 * address or a host name, kept in written form. */
static int parse_host(struct reader *r, const char *w, const char *netdev, char *host,
		      size_t hostlen)
{
	char why[CFG_ERR_MAX], zone[CFG_IFNAME_MAX + 2];

	if (portal_host_parse(w, host, hostlen, NULL, why, sizeof(why)) < 0)
		return rd_err(r, "%s", why);
	if (!portal_host_zone(host, zone, sizeof(zone)))
		return 0;
	/* A link-local address means nothing without the link it is on. */
	if (!zone[0] && !(netdev && netdev[0]))
		return rd_err(r, "link-local address '%s' needs its zone ('%s%%eth0')%s", w, w,
			      netdev ? " or a network device (3rd argument)" : "");
	if (zone[0] && netdev && netdev[0] && strcmp(zone, netdev) != 0)
		return rd_err(r, "the zone of '%s' is not the network device %s of the 3rd "
			      "argument", w, netdev);
	return 0;
}

static int unknown_key(struct reader *r, const char *name)
{
	for (int i = 0; i < K_COUNT; i++)
		if (strcasecmp(key_table[i].name, name) == 0)
			return rd_err(r, "unknown iSCSI key '%s' (did you mean '%s'?)", name,
				      key_table[i].name);
	if (attr_find(name) >= 0)
		return rd_err(r, "unknown iSCSI key '%s' (%s is a channel attribute: it goes "
			      "after the iSCSI keys, as the 8th argument)", name, name);
	return rd_err(r, "unknown iSCSI key '%s'", name);
}

/* The 7th argument: Key=Value items separated by ';' (values may hold commas). */
static int parse_keys(struct reader *r, char *list, struct key_set *ks)
{
	char why[CFG_ERR_MAX];
	char *save = NULL;

	for (char *item = strtok_r(list, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
		char *value = strchr(item, '=');
		int id;

		if (value)
			*value++ = '\0';
		if (!*item)
			return rd_err(r, "an iSCSI key has no name ('=' at the start of an item)");
		id = key_lookup(item);
		if (id < 0)
			return unknown_key(r, item);
		if (!(key_table[id].flags & KEYF_ADMIN))
			return rd_err(r, "iSCSI key '%s' is set by iscsifs, not in the "
				      "CHANNEL line", item);
		if (!value)
			return rd_err(r, "iSCSI key '%s' has no value (write %s=value)", item,
				      item);
		if (key_set_get(ks, id))
			return rd_err(r, "iSCSI key '%s' is given twice", item);
		if (key_check_value(id, value, why, sizeof(why)) < 0)
			return rd_err(r, "%s", why);
		if (key_set_put(ks, id, value) < 0)
			return rd_err(r, "out of memory");
	}
	return 0;
}

/* One word of the 8th argument: name=N items separated by ';' or ','. */
static int parse_attrs(struct reader *r, char *list, struct cfg_attrs *a, unsigned *set)
{
	char *save = NULL;

	for (char *item = strtok_r(list, ";,", &save); item; item = strtok_r(NULL, ";,", &save)) {
		char *value = strchr(item, '=');
		unsigned long v;
		int i, rc;

		if (value)
			*value++ = '\0';
		i = attr_find(item);
		if (i < 0) {
			if (key_lookup(item) >= 0)
				return rd_err(r, "unknown channel attribute '%s' (%s is an "
					      "iSCSI key: it goes in the 7th argument)", item,
					      item);
			return rd_err(r, "unknown channel attribute '%s'", item);
		}
		if (!value || !*value)
			return rd_err(r, "channel attribute '%s' has no value (write %s=%s)", item,
				      item, attr_table[i].words ? attr_table[i].words[1] : "N");
		if (*set & (1u << i))
			return rd_err(r, "channel attribute '%s' is given twice", item);
		if (attr_table[i].words) {
			char words[128];
			int w = word_find(&attr_table[i], value);

			word_list(&attr_table[i], words, sizeof(words));
			if (w < 0)
				return rd_err(r, "channel attribute %s=%s: '%s' is not %s", item,
					      value, value, words);
			*attr_ptr(a, i) = (uint32_t)w;
			*set |= 1u << i;
			continue;
		}
		rc = cfg_parse_num(value, attr_table[i].max, &v);
		if (rc == -EINVAL)
			return rd_err(r, "channel attribute %s=%s: '%s' is not a number", item,
				      value, value);
		if (rc < 0 || v < attr_table[i].min)
			return rd_err(r, "%s=%s is out of range (%u to %u)", item, value,
				      attr_table[i].min, attr_table[i].max);
		*attr_ptr(a, i) = (uint32_t)v;
		*set |= 1u << i;
	}
	return 0;
}

static int ends_with_sep(const char *s)
{
	size_t n = strlen(s);

	return n && (s[n - 1] == ',' || s[n - 1] == ';');
}

/* Parse the words of one CHANNEL value into cl (cl->keys must be initialised). */
static int parse_channel_words(struct reader *r, char *value, const struct cfg_attrs *dflt,
			       struct chan_line *cl)
{
	char why[CFG_ERR_MAX];
	char *w[MAX_WORDS];
	unsigned long v;
	int n, i, rc;

	n = split_words(value, w, MAX_WORDS);
	if (n < 0)
		return rd_err(r, "too many arguments (CHANNEL takes at most 9)");
	if (n == 0)
		return rd_err(r, "CHANNEL is empty");
	rc = field_num(r, "channel id", w[0], 0, CHANNEL_ID_MAX, &cl->id);
	if (rc < 0)
		return rc;
	if (n < 2)
		return rd_err(r, "missing the connection count (2nd argument)");
	rc = field_num(r, "connection count", w[1], 1, CONN_COUNT_MAX, &cl->conn_count);
	if (rc < 0)
		return rc;

	/* The device name is optional. The rule (initiator(5)): the 3rd word is the network device
	 * exactly when the 4th word is not a number; otherwise the 4th is the port and the 3rd
	 * the address. Lines that read one way but look meant the other way are refused. */
	i = 2;
	if (n > 3 && !all_digits(w[3])) {
		if (is_address(w[2]) || strcmp(w[2], "isns") == 0)
			return rd_err(r, "ambiguous line: '%s' is an address, so the 4th word '%s' "
				      "should be the TCP port (a network device comes before the "
				      "address: id, connections, [device], address, port)", w[2],
				      w[3]);
		i = 3;
	} else if (n == 3 && !is_address(w[2]) && strcmp(w[2], "isns") != 0) {
		i = 3; /* "0 1 eth0": the device, and nothing after it */
	} else if (n > 3 && !is_address(w[2]) && strcmp(w[2], "isns") != 0 &&
		   if_nametoindex(w[2]) != 0) {
		return rd_err(r, "ambiguous line: '%s' is read as the target's host name, since the "
			      "4th word is a port, but it is a network device here: is the address "
			      "missing after it? (a host of that name is written with a final '.', "
			      "'%s.')", w[2], w[2]);
	}
	if (i == 3) {
		rc = check_netdev(r, w[2]);
		if (rc < 0)
			return rc;
		snprintf(cl->portal.netdev, sizeof(cl->portal.netdev), "%s", w[2]);
	}
	if (n <= i)
		return rd_err(r, "missing the target's address (4th argument)");
	if (strcmp(w[i], "isns") == 0) {
		cl->portal.from_isns = 1;
	} else {
		rc = parse_host(r, w[i], cl->portal.netdev, cl->portal.addr,
				sizeof(cl->portal.addr));
		if (rc < 0)
			return rc;
	}
	if (n <= i + 1)
		return rd_err(r, "missing the TCP port (5th argument)");
	if (cl->portal.from_isns) {
		if (strcmp(w[i + 1], "0") != 0)
			return rd_err(r, "with the address 'isns' the port comes from iSNS too: "
				      "write 0 as the TCP port (5th argument), not '%s'", w[i + 1]);
	} else {
		rc = field_num(r, "TCP port", w[i + 1], 1, 65535, &v);
		if (rc < 0)
			return rc;
		cl->portal.port = (uint16_t)v;
	}
	if (n <= i + 2)
		return rd_err(r, "missing the network interconnect (6th argument, 0 for TCP/IP)");
	if (!all_digits(w[i + 2]))
		return rd_err(r, "network interconnect '%s' is not a number (0 for TCP/IP)",
			      w[i + 2]);
	if (cfg_parse_num(w[i + 2], 0, &v) < 0)
		return rd_err(r, "unsupported network interconnect %s (only 0, TCP/IP)", w[i + 2]);
	cl->portal.interconnect = 0;
	cl->portal.line = r->line;
	i += 3;

	cl->attrs = *dflt;
	if (i < n && !is_name_word(w[i])) {
		rc = parse_keys(r, w[i], &cl->keys);
		if (rc < 0)
			return rc;
		i++;
	}
	/* The howto writes "a=1, b=2": a word ending in ',' or ';' continues the list. */
	while (i < n && !is_name_word(w[i])) {
		int more = ends_with_sep(w[i]) || (i + 1 < n && strchr(",;", w[i + 1][0]));

		rc = parse_attrs(r, w[i], &cl->attrs, &cl->attrs_set);
		if (rc < 0)
			return rc;
		i++;
		if (!more)
			break;
	}
	if (i < n && is_name_word(w[i])) {
		if (iscsi_name_check(w[i], why, sizeof(why)) < 0)
			return rd_err(r, "%s", why);
		cl->target = w[i];
		i++;
	}
	if (i < n)
		return rd_err(r, "unexpected argument '%s' (the last argument is the target name: "
			      "iqn., eui. or naa.)", w[i]);
	if (cl->portal.from_isns && !cl->target)
		return rd_err(r, "the address 'isns' needs the target name (9th argument): iSNS "
			      "is asked for that target's portal");
	return 0;
}

/* The merged value of a numeric key: the line's, the channel's, or the RFC default. */
static const char *merged_key(const struct chan_line *cl, const struct cfg_channel *ch, int id,
			      int *given)
{
	const char *v = key_set_get(&cl->keys, id);

	if (!v && ch)
		v = key_set_get(&ch->keys, id);
	*given = v != NULL;
	return v ? v : key_table[id].dflt;
}

/* Rules between keys, checked on what the channel will hold after this line. */
static int check_key_rules(struct reader *r, const struct chan_line *cl,
			   const struct cfg_channel *ch)
{
	uint64_t fbl = 0, mbl = 0, maxc = 0;
	const char *fs, *ms, *cs;
	int fgiven, mgiven, cgiven;

	fs = merged_key(cl, ch, K_FIRST_BURST_LENGTH, &fgiven);
	ms = merged_key(cl, ch, K_MAX_BURST_LENGTH, &mgiven);
	/* RFC 7143 13.14: FirstBurstLength must not exceed MaxBurstLength. */
	if ((fgiven || mgiven) && key_parse_num(fs, &fbl) == 0 && key_parse_num(ms, &mbl) == 0 &&
	    fbl > mbl)
		return rd_err(r, "FirstBurstLength=%s%s is larger than MaxBurstLength=%s%s", fs,
			      fgiven ? "" : " (the default)", ms, mgiven ? "" : " (the default)");
	cs = merged_key(cl, ch, K_MAX_CONNECTIONS, &cgiven);
	if (cgiven && key_parse_num(cs, &maxc) == 0 && cl->conn_count > maxc)
		return rd_err(r, "connection count %lu is more than MaxConnections=%s",
			      cl->conn_count, cs);
	return 0;
}

static int marks_set(struct attr_marks *m, int idx, unsigned set)
{
	unsigned *ns;

	if (idx < m->first)
		return 0;
	if (idx - m->first >= m->n) {
		ns = realloc(m->set, sizeof(*ns) * (size_t)(idx - m->first + 1));
		if (!ns)
			return -ENOMEM;
		m->set = ns;
		m->n = idx - m->first + 1;
		m->set[idx - m->first] = 0;
	}
	m->set[idx - m->first] |= set;
	return 0;
}

static unsigned marks_get(const struct attr_marks *m, int idx)
{
	if (idx < m->first) /* from an earlier file: treat everything as written */
		return ~0u;
	return idx - m->first < m->n ? m->set[idx - m->first] : 0;
}

static int add_channel(struct cfg *c, struct reader *r, struct chan_line *cl,
		       struct attr_marks *m)
{
	struct cfg_channel *chs, *ch;
	int rc;

	rc = check_key_rules(r, cl, NULL);
	if (rc < 0)
		return rc;
	chs = realloc(c->channels, sizeof(*chs) * (size_t)(c->nchannels + 1));
	if (!chs)
		return rd_err(r, "out of memory");
	c->channels = chs;
	ch = &chs[c->nchannels];
	memset(ch, 0, sizeof(*ch));
	ch->portals = malloc(sizeof(*ch->portals));
	if (!ch->portals)
		return rd_err(r, "out of memory");
	ch->portals[0] = cl->portal;
	ch->nportals = 1;
	ch->id = (int)cl->id;
	ch->conn_count = (int)cl->conn_count;
	ch->keys = cl->keys; /* the channel takes the values over */
	key_set_init(&cl->keys);
	ch->attrs = cl->attrs;
	if (cl->target)
		snprintf(ch->target_name, sizeof(ch->target_name), "%s", cl->target);
	ch->line = r->line;
	c->nchannels++;
	if (marks_set(m, c->nchannels - 1, cl->attrs_set) < 0)
		return rd_err(r, "out of memory");
	return 0;
}

/* A later line of a channel: one more portal, and keys/attributes that must agree. */
static int merge_channel(struct cfg *c, struct reader *r, struct cfg_channel *ch,
			 struct chan_line *cl, struct attr_marks *m)
{
	int idx = (int)(ch - c->channels);
	unsigned set = marks_get(m, idx);
	struct cfg_portal *ps;
	int rc;

	if ((int)cl->conn_count != ch->conn_count)
		return rd_err(r, "connection count %lu differs from %d on line %d for channel %d",
			      cl->conn_count, ch->conn_count, ch->line, ch->id);
	if (cl->portal.from_isns || ch->portals[0].from_isns)
		return rd_err(r, "channel %d takes its portal from iSNS (line %d): it has one "
			      "CHANNEL line only", ch->id, ch->line);
	if (cl->target && ch->target_name[0] && !iscsi_name_equal(cl->target, ch->target_name))
		return rd_err(r, "target name %s differs from %s given before for channel %d",
			      cl->target, ch->target_name, ch->id);
	for (int k = 0; k < K_COUNT; k++) {
		const char *nv = key_set_get(&cl->keys, k), *ov = key_set_get(&ch->keys, k);

		if (nv && ov && strcmp(nv, ov) != 0)
			return rd_err(r, "iSCSI key %s=%s conflicts with %s=%s given before for "
				      "channel %d", key_table[k].name, nv, key_table[k].name, ov,
				      ch->id);
	}
	for (int i = 0; i < N_ATTRS; i++) {
		uint32_t nv = *attr_ptr(&cl->attrs, i), ov = *attr_ptr(&ch->attrs, i);

		if (!((cl->attrs_set & (1u << i)) && (set & (1u << i)) && nv != ov))
			continue;
		if (attr_table[i].words)
			return rd_err(r, "channel attribute %s=%s conflicts with %s=%s given "
				      "before for channel %d", attr_table[i].name,
				      attr_table[i].words[nv], attr_table[i].name,
				      attr_table[i].words[ov], ch->id);
		return rd_err(r, "channel attribute %s=%u conflicts with %s=%u given "
			      "before for channel %d", attr_table[i].name, nv,
			      attr_table[i].name, ov, ch->id);
	}
	for (int p = 0; p < ch->nportals; p++) {
		const struct cfg_portal *o = &ch->portals[p];

		/* Host names are not case-sensitive; IPv6 addresses are in one form already. */
		if (strcasecmp(o->addr, cl->portal.addr) == 0 && o->port == cl->portal.port &&
		    strcmp(o->netdev, cl->portal.netdev) == 0)
			return rd_err(r, "portal %s:%u%s%s is already listed for channel %d on "
				      "line %d", o->addr, o->port, o->netdev[0] ? " via " : "",
				      o->netdev, ch->id, o->line);
	}
	rc = check_key_rules(r, cl, ch);
	if (rc < 0)
		return rc;

	ps = realloc(ch->portals, sizeof(*ps) * (size_t)(ch->nportals + 1));
	if (!ps)
		return rd_err(r, "out of memory");
	ch->portals = ps;
	ps[ch->nportals++] = cl->portal;
	for (int k = 0; k < K_COUNT; k++) {
		const char *nv = key_set_get(&cl->keys, k);

		if (nv && !key_set_get(&ch->keys, k) && key_set_put(&ch->keys, k, nv) < 0)
			return rd_err(r, "out of memory");
	}
	for (int i = 0; i < N_ATTRS; i++)
		if (cl->attrs_set & (1u << i))
			*attr_ptr(&ch->attrs, i) = *attr_ptr(&cl->attrs, i);
	if (cl->target && !ch->target_name[0])
		snprintf(ch->target_name, sizeof(ch->target_name), "%s", cl->target);
	if (marks_set(m, idx, cl->attrs_set) < 0)
		return rd_err(r, "out of memory");
	return 0;
}

/* ISNS="address [port] [query_interval=N]": the iSNS server (RFC 4171; port 3205 by
 * default). */
static int parse_isns(struct reader *r, char *value, struct cfg_isns *is)
{
	char *w[MAX_WORDS];
	unsigned long v;
	int n, i = 1, rc;

	if (is->line)
		return rd_err(r, "ISNS is given twice (first on line %d)", is->line);
	n = split_words(value, w, MAX_WORDS);
	if (n < 0 || n > 3)
		return rd_err(r, "too many arguments (ISNS=\"address [port] "
			      "[query_interval=N]\")");
	if (n == 0)
		return rd_err(r, "ISNS is empty (write ISNS=\"address [port]\")");
	rc = parse_host(r, w[0], NULL, is->addr, sizeof(is->addr));
	if (rc < 0)
		return rc;
	is->port = 3205;
	is->query_interval = 15;
	if (i < n && all_digits(w[i])) {
		rc = field_num(r, "iSNS port", w[i], 1, 65535, &v);
		if (rc < 0)
			return rc;
		is->port = (uint16_t)v;
		i++;
	}
	if (i < n) {
		if (strncmp(w[i], "query_interval=", 15) != 0)
			return rd_err(r, "unexpected ISNS argument '%s' (ISNS=\"address [port] "
				      "[query_interval=N]\")", w[i]);
		rc = field_num(r, "query_interval", w[i] + 15, 1, 3600, &v);
		if (rc < 0)
			return rc;
		is->query_interval = (uint32_t)v;
		i++;
	}
	if (i < n)
		return rd_err(r, "unexpected ISNS argument '%s'", w[i]);
	is->line = r->line;
	return 0;
}

int cfg_parse_initiator(struct cfg *c, const char *path, char *err, size_t errlen)
{
	static const char *const known[] = {"CHANNEL", "ISNS", NULL};
	struct attr_marks marks = {.first = c->nchannels};
	struct reader r;
	struct assign a;
	int rc;

	rc = reader_open(&r, path, NULL, err, errlen);
	if (rc < 0)
		return rc;
	/* Later messages (auth, maps) name the file the channels came from. */
	if (!c->paths.initiator || strcmp(c->paths.initiator, path) != 0) {
		char *p = strdup(path);

		if (!p) {
			reader_close(&r);
			cfg_set_err(err, errlen, "%s: out of memory", path);
			return -ENOMEM;
		}
		free(c->paths.initiator);
		c->paths.initiator = p;
	}
	while ((rc = reader_next_assign(&r, known, 1, &a)) > 0) {
		struct chan_line cl;
		struct cfg_channel *ch;

		if (strcmp(a.name, "ISNS") == 0) {
			rc = parse_isns(&r, a.value, &c->isns);
			if (rc < 0)
				break;
			continue;
		}
		memset(&cl, 0, sizeof(cl));
		key_set_init(&cl.keys);
		rc = parse_channel_words(&r, a.value, &c->settings.default_attrs, &cl);
		if (rc == 0) {
			ch = cfg_channel_find(c, (int)cl.id);
			if (ch)
				rc = merge_channel(c, &r, ch, &cl, &marks);
			else
				rc = add_channel(c, &r, &cl, &marks);
		}
		key_set_free(&cl.keys);
		if (rc < 0)
			break;
	}
	/* ISNS may come after the channels that need it. */
	for (int i = marks.first; rc == 0 && i < c->nchannels; i++)
		if (c->channels[i].portals[0].from_isns && !c->isns.addr[0])
			rc = cfg_set_err(err, errlen, "%s:%d: channel %d has the address 'isns' but "
					 "no ISNS=\"address [port]\" line names the iSNS server",
					 path, c->channels[i].portals[0].line, c->channels[i].id);
	free(marks.set);
	reader_close(&r);
	return rc;
}

