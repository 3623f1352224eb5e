/* The iSCSI key table and the negotiation rules (RFC 7143 sections 6 and 13). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

#define U24 ((1u << 24) - 1)

const struct key_def key_table[K_COUNT] = {
	[K_HEADER_DIGEST] = {"HeaderDigest", KEY_LIST, SCOPE_CONN, KEYF_ADMIN | KEYF_INITIAL, "None", 0, 0, "CRC32C,None"},
	[K_DATA_DIGEST] = {"DataDigest", KEY_LIST, SCOPE_CONN, KEYF_ADMIN | KEYF_INITIAL, "None", 0, 0, "CRC32C,None"},
	[K_MAX_CONNECTIONS] = {"MaxConnections", KEY_NUM_MIN, SCOPE_SESSION, KEYF_ADMIN | KEYF_LEADING | KEYF_INITIAL, "1", 1, 65535, NULL},
	[K_SEND_TARGETS] = {"SendTargets", KEY_DECL, SCOPE_SESSION, 0, NULL, 0, 0, NULL},
	[K_TARGET_NAME] = {"TargetName", KEY_DECL, SCOPE_SESSION, KEYF_LEADING | KEYF_INITIAL, NULL, 0, 0, NULL},
	[K_INITIATOR_NAME] = {"InitiatorName", KEY_DECL, SCOPE_SESSION, KEYF_LEADING | KEYF_INITIAL, NULL, 0, 0, NULL},
	[K_TARGET_ALIAS] = {"TargetAlias", KEY_DECL, SCOPE_SESSION, KEYF_LEADING | KEYF_INITIAL, NULL, 0, 0, NULL},
	[K_INITIATOR_ALIAS] = {"InitiatorAlias", KEY_DECL, SCOPE_SESSION, KEYF_ADMIN | KEYF_LEADING | KEYF_INITIAL, NULL, 0, 0, NULL},
	[K_TARGET_ADDRESS] = {"TargetAddress", KEY_DECL, SCOPE_SESSION, 0, NULL, 0, 0, NULL},
	[K_TARGET_PORTAL_GROUP_TAG] = {"TargetPortalGroupTag", KEY_DECL_NUM, SCOPE_SESSION, KEYF_INITIAL, NULL, 0, 65535, NULL},
	[K_INITIAL_R2T] = {"InitialR2T", KEY_BOOL_OR, SCOPE_SESSION, KEYF_ADMIN | KEYF_LEADING | KEYF_INITIAL, "Yes", 0, 0, NULL},
	[K_IMMEDIATE_DATA] = {"ImmediateData", KEY_BOOL_AND, SCOPE_SESSION, KEYF_ADMIN | KEYF_LEADING | KEYF_INITIAL, "Yes", 0, 0, NULL},
	[K_MAX_RECV_DSL] = {"MaxRecvDataSegmentLength", KEY_DECL_NUM, SCOPE_CONN, KEYF_ADMIN, "8192", 512, U24, NULL},
	[K_MAX_BURST_LENGTH] = {"MaxBurstLength", KEY_NUM_MIN, SCOPE_SESSION, KEYF_ADMIN | KEYF_LEADING | KEYF_INITIAL, "262144", 512, U24, NULL},
	[K_FIRST_BURST_LENGTH] = {"FirstBurstLength", KEY_NUM_MIN, SCOPE_SESSION, KEYF_ADMIN | KEYF_LEADING | KEYF_INITIAL, "65536", 512, U24, NULL},
	[K_DEFAULT_TIME2WAIT] = {"DefaultTime2Wait", KEY_NUM_MAX, SCOPE_SESSION, KEYF_ADMIN | KEYF_LEADING | KEYF_INITIAL, "2", 0, 3600, NULL},
	[K_DEFAULT_TIME2RETAIN] = {"DefaultTime2Retain", KEY_NUM_MIN, SCOPE_SESSION, KEYF_ADMIN | KEYF_LEADING | KEYF_INITIAL, "20", 0, 3600, NULL},
	[K_MAX_OUTSTANDING_R2T] = {"MaxOutstandingR2T", KEY_NUM_MIN, SCOPE_SESSION, KEYF_ADMIN | KEYF_LEADING | KEYF_INITIAL, "1", 1, 65535, NULL},
	[K_DATA_PDU_IN_ORDER] = {"DataPDUInOrder", KEY_BOOL_OR, SCOPE_SESSION, KEYF_ADMIN | KEYF_LEADING | KEYF_INITIAL, "Yes", 0, 0, NULL},
	[K_DATA_SEQUENCE_IN_ORDER] = {"DataSequenceInOrder", KEY_BOOL_OR, SCOPE_SESSION, KEYF_ADMIN | KEYF_LEADING | KEYF_INITIAL, "Yes", 0, 0, NULL},
	[K_ERROR_RECOVERY_LEVEL] = {"ErrorRecoveryLevel", KEY_NUM_MIN, SCOPE_SESSION, KEYF_ADMIN | KEYF_LEADING | KEYF_INITIAL, "0", 0, 2, NULL},
	[K_SESSION_TYPE] = {"SessionType", KEY_DECL, SCOPE_SESSION, KEYF_LEADING | KEYF_INITIAL, "Normal", 0, 0, "Discovery,Normal"},
	[K_AUTH_METHOD] = {"AuthMethod", KEY_LIST, SCOPE_CONN, KEYF_ADMIN | KEYF_INITIAL | KEYF_SECURITY, "None", 0, 0, "CHAP,None"},
	[K_TASK_REPORTING] = {"TaskReporting", KEY_LIST, SCOPE_SESSION, KEYF_LEADING | KEYF_INITIAL, "RFC3720", 0, 0, "RFC3720,ResponseFence,FastAbort"},
	[K_PROTOCOL_LEVEL] = {"iSCSIProtocolLevel", KEY_NUM_MIN, SCOPE_SESSION, KEYF_LEADING | KEYF_INITIAL, "1", 0, 31, NULL},
};

static void errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int key_lookup(const char *name)
{
	for (int i = 0; i < K_COUNT; i++)
		if (strcmp(key_table[i].name, name) == 0)
			return i;
	return -1;
}

int key_parse_num(const char *value, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!value || !*value || *value == '-' || *value == '+' || *value == ' ')
		return -EINVAL;
	errno = 0;
	if (value[0] == '0' && (value[1] == 'x' || value[1] == 'X'))
		v = strtoull(value + 2, &end, 16);
	else
		v = strtoull(value, &end, 10);
	if (errno || *end || end == value)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_bool(const char *v)
{
	if (strcmp(v, "Yes") == 0)
		return 1;
	if (strcmp(v, "No") == 0)
		return 0;
	return -1;
}

/* Is item one of the comma-separated values in list? */
static int list_has(const char *list, const char *item, size_t itemlen)
{
	const char *p = list;

	while (p && *p) {
		const char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strlen(p);

		if (n == itemlen && strncmp(p, item, n) == 0)
			return 1;
		p = c ? c + 1 : NULL;
	}
	return 0;
}

int key_check_value(int id, const char *value, char *err, size_t errlen)
{
	const struct key_def *k;
	uint64_t n;

	if (id < 0 || id >= K_COUNT)
		return -EINVAL;
	k = &key_table[id];
	if (!value || !*value) {
		errf(err, errlen, "%s needs a value", k->name);
		return -EINVAL;
	}
	if (strlen(value) > 255 && k->type != KEY_DECL) {
		errf(err, errlen, "%s value is longer than 255 characters", k->name);
		return -EINVAL;
	}
	switch (k->type) {
	case KEY_BOOL_AND:
	case KEY_BOOL_OR:
		if (parse_bool(value) < 0) {
			errf(err, errlen, "%s must be Yes or No, not '%s'", k->name, value);
			return -EINVAL;
		}
		return 0;
	case KEY_NUM_MIN:
	case KEY_NUM_MAX:
	case KEY_DECL_NUM:
		if (key_parse_num(value, &n) < 0) {
			errf(err, errlen, "%s must be a number, not '%s'", k->name, value);
			return -EINVAL;
		}
		if (n < k->min || n > k->max) {
			errf(err, errlen, "%s=%s is out of range (%u to %u)", k->name, value, k->min, k->max);
			return -EINVAL;
		}
		return 0;
	case KEY_LIST: {
		const char *p = value;

		while (*p) {
			const char *c = strchr(p, ',');
			size_t len = c ? (size_t)(c - p) : strlen(p);

			if (len == 0 || !list_has(k->allowed, p, len)) {
				errf(err, errlen, "%s: value '%.*s' is not supported (use %s)", k->name,
				     (int)len, p, k->allowed);
				return -EINVAL;
			}
			if (!c)
				break;
			p = c + 1;
			if (!*p) {
				errf(err, errlen, "%s: empty item in list '%s'", k->name, value);
				return -EINVAL;
			}
		}
		return 0;
	}
	case KEY_DECL:
		if (k->allowed && !list_has(k->allowed, value, strlen(value))) {
			errf(err, errlen, "%s: value '%s' is not one of %s", k->name, value, k->allowed);
			return -EINVAL;
		}
		return 0;
	}
	return -EINVAL;
}

void key_set_init(struct key_set *ks)
{
	memset(ks, 0, sizeof(*ks));
}

void key_set_free(struct key_set *ks)
{
	for (int i = 0; i < K_COUNT; i++) {
		free(ks->val[i]);
		ks->val[i] = NULL;
	}
}

int key_set_put(struct key_set *ks, int id, const char *value)
{
	char *v = strdup(value);

	if (!v)
		return -ENOMEM;
	free(ks->val[id]);
	ks->val[id] = v;
	return 0;
}

const char *key_set_get(const struct key_set *ks, int id)
{
	return ks->val[id];
}

void params_defaults(struct iscsi_params *p)
{
	memset(p, 0, sizeof(*p));
	p->max_connections = 1;
	p->initial_r2t = 1;
	p->immediate_data = 1;
	p->max_recv_dsl = 8192;
	p->max_xmit_dsl = 8192;
	p->max_burst_length = 262144;
	p->first_burst_length = 65536;
	p->default_time2wait = 2;
	p->default_time2retain = 20;
	p->max_outstanding_r2t = 1;
	p->data_pdu_in_order = 1;
	p->data_sequence_in_order = 1;
	p->protocol_level = 1;
}

static int is_special(const char *v)
{
	return strcmp(v, "NotUnderstood") == 0 || strcmp(v, "Irrelevant") == 0 ||
	       strcmp(v, "Reject") == 0;
}

/* Our answer to a key the target offered without us offering it first. */
static int answer_target_offer(struct negotiation *n, int id, const char *value, char *err,
			       size_t errlen)
{
	const struct key_def *k = &key_table[id];
	uint64_t theirs, ours;
	char buf[32];

	switch (k->type) {
	case KEY_LIST: {
		/* Pick the first of the target's values that we support. */
		const char *p = value;

		while (p && *p) {
			const char *c = strchr(p, ',');
			size_t len = c ? (size_t)(c - p) : strlen(p);

			if (list_has(k->allowed, p, len)) {
				char pick[64];

				snprintf(pick, sizeof(pick), "%.*s", (int)len, p);
				return key_set_put(&n->reply, id, pick);
			}
			p = c ? c + 1 : NULL;
		}
		return key_set_put(&n->reply, id, "Reject");
	}
	case KEY_BOOL_AND:
	case KEY_BOOL_OR: {
		int t = parse_bool(value), o = parse_bool(k->dflt);

		if (t < 0) {
			errf(err, errlen, "target offered %s=%s, not Yes or No", k->name, value);
			return -EPROTO;
		}
		o = k->type == KEY_BOOL_AND ? (o && t) : (o || t);
		return key_set_put(&n->reply, id, o ? "Yes" : "No");
	}
	case KEY_NUM_MIN:
	case KEY_NUM_MAX:
		if (key_parse_num(value, &theirs) < 0 || theirs < k->min || theirs > k->max) {
			errf(err, errlen, "target offered %s=%s, outside %u to %u", k->name, value,
			     k->min, k->max);
			return -EPROTO;
		}
		if (key_parse_num(k->dflt, &ours) < 0)
			return -EINVAL;
		if (k->type == KEY_NUM_MIN)
			ours = theirs < ours ? theirs : ours;
		else
			ours = theirs > ours ? theirs : ours;
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)ours);
		return key_set_put(&n->reply, id, buf);
	default:
		return 0;
	}
}

/* Check the target's answer to a key we offered. */
static int check_answer(const struct negotiation *n, int id, const char *offered, const char *value,
			char *err, size_t errlen)
{
	const struct key_def *k = &key_table[id];
	uint64_t a, o;

	switch (k->type) {
	case KEY_LIST:
		if (strchr(value, ',') || !list_has(offered, value, strlen(value))) {
			errf(err, errlen, "target answered %s=%s, which is not one of the offered %s",
			     k->name, value, offered);
			return -EPROTO;
		}
		return 0;
	case KEY_BOOL_AND:
		if (parse_bool(value) < 0 || (parse_bool(offered) == 0 && parse_bool(value) == 1)) {
			errf(err, errlen, "target answered %s=%s to an offer of %s", k->name, value,
			     offered);
			return -EPROTO;
		}
		return 0;
	case KEY_BOOL_OR:
		if (parse_bool(value) < 0 || (parse_bool(offered) == 1 && parse_bool(value) == 0)) {
			errf(err, errlen, "target answered %s=%s to an offer of %s", k->name, value,
			     offered);
			return -EPROTO;
		}
		return 0;
	case KEY_NUM_MIN:
	case KEY_NUM_MAX:
		if (key_parse_num(value, &a) < 0 || key_parse_num(offered, &o) < 0 || a < k->min ||
		    a > k->max || (k->type == KEY_NUM_MIN && a > o) ||
		    (k->type == KEY_NUM_MAX && a < o)) {
			errf(err, errlen, "target answered %s=%s, not allowed for an offer of %s",
			     k->name, value, offered);
			return -EPROTO;
		}
		return 0;
	case KEY_DECL_NUM:
		if (key_parse_num(value, &a) < 0 || a < k->min || a > k->max) {
			errf(err, errlen, "target declared %s=%s, outside %u to %u", k->name, value,
			     k->min, k->max);
			return -EPROTO;
		}
		return 0;
	case KEY_DECL:
		return 0;
	}
	(void)n;
	return 0;
}

int negotiate_receive(struct negotiation *n, const char *key, const char *value, char *err,
		      size_t errlen)
{
	int id = key_lookup(key);
	const char *offered;
	int r;

	if (id < 0) {
		/* RFC 7143 6.2: an unknown key is answered NotUnderstood (by the caller). */
		return 1;
	}
	/* RFC 7143 6.2: a key is negotiated or declared once in a login. */
	if (key_set_get(&n->answered, id) && id != K_TARGET_ADDRESS) {
		errf(err, errlen, "target sent %s more than once in the login", key);
		return -EPROTO;
	}
	offered = key_set_get(&n->offered, id);
	if (is_special(value)) {
		if (!offered && strcmp(value, "Irrelevant") != 0) {
			errf(err, errlen, "target sent %s=%s for a key we never offered", key, value);
			return -EPROTO;
		}
		return key_set_put(&n->answered, id, value);
	}
	if (key_table[id].type == KEY_DECL_NUM) {
		r = check_answer(n, id, "", value, err, errlen);
		if (r < 0)
			return r;
		return key_set_put(&n->answered, id, value);
	}
	if (offered && key_table[id].type != KEY_DECL) {
		r = check_answer(n, id, offered, value, err, errlen);
		if (r < 0)
			return r;
		return key_set_put(&n->answered, id, value);
	}
	if (key_table[id].type == KEY_DECL)
		return key_set_put(&n->answered, id, value);
	/* The target offers a key we did not: answer it. */
	r = answer_target_offer(n, id, value, err, errlen);
	if (r < 0)
		return r;
	return key_set_put(&n->answered, id, value);
}

/* The negotiated value of a key as text: our reply, the answer, or the default. */
static const char *result_of(const struct negotiation *n, int id)
{
	const char *r = key_set_get(&n->reply, id);
	const char *a = key_set_get(&n->answered, id);

	if (r && !is_special(r))
		return r;
	if (a && !is_special(a))
		return a;
	return key_table[id].dflt;
}

static uint32_t num_of(const struct negotiation *n, int id)
{
	uint64_t v = 0;
	const char *s = result_of(n, id);

	if (!s || key_parse_num(s, &v) < 0)
		return 0;
	return (uint32_t)v;
}

int negotiate_result(const struct negotiation *n, struct iscsi_params *p, char *err, size_t errlen)
{
	const char *s;
	uint64_t v;

	params_defaults(p);
	p->header_digest = strcmp(result_of(n, K_HEADER_DIGEST), "CRC32C") == 0;
	p->data_digest = strcmp(result_of(n, K_DATA_DIGEST), "CRC32C") == 0;
	p->max_connections = num_of(n, K_MAX_CONNECTIONS);
	p->initial_r2t = parse_bool(result_of(n, K_INITIAL_R2T)) == 1;
	p->immediate_data = parse_bool(result_of(n, K_IMMEDIATE_DATA)) == 1;
	s = key_set_get(&n->offered, K_MAX_RECV_DSL);
	if (s && key_parse_num(s, &v) == 0)
		p->max_recv_dsl = (uint32_t)v;
	s = key_set_get(&n->answered, K_MAX_RECV_DSL);
	if (s && !is_special(s) && key_parse_num(s, &v) == 0)
		p->max_xmit_dsl = (uint32_t)v;
	p->max_burst_length = num_of(n, K_MAX_BURST_LENGTH);
	p->first_burst_length = num_of(n, K_FIRST_BURST_LENGTH);
	p->default_time2wait = num_of(n, K_DEFAULT_TIME2WAIT);
	p->default_time2retain = num_of(n, K_DEFAULT_TIME2RETAIN);
	p->max_outstanding_r2t = num_of(n, K_MAX_OUTSTANDING_R2T);
	p->data_pdu_in_order = parse_bool(result_of(n, K_DATA_PDU_IN_ORDER)) == 1;
	p->data_sequence_in_order = parse_bool(result_of(n, K_DATA_SEQUENCE_IN_ORDER)) == 1;
	p->error_recovery_level = num_of(n, K_ERROR_RECOVERY_LEVEL);
	p->protocol_level = num_of(n, K_PROTOCOL_LEVEL);
	s = key_set_get(&n->answered, K_TARGET_PORTAL_GROUP_TAG);
	if (s && key_parse_num(s, &v) == 0)
		p->tpgt = (uint16_t)v;
	/* RFC 7143 13.14: FirstBurstLength must not exceed MaxBurstLength. */
	if (p->first_burst_length > p->max_burst_length) {
		if (!n->discovery) {
			errf(err, errlen, "negotiated FirstBurstLength %u exceeds MaxBurstLength %u",
			     p->first_burst_length, p->max_burst_length);
			return -EPROTO;
		}
		p->first_burst_length = p->max_burst_length;
	}
	return 0;
}

int textbuf_add(struct textbuf *tb, const char *key, const char *value)
{
	size_t need = strlen(key) + 1 + strlen(value) + 1;

	if (tb->len + need > tb->cap) {
		size_t cap = tb->cap ? tb->cap * 2 : 512;
		char *d;

		while (cap < tb->len + need)
			cap *= 2;
		d = realloc(tb->data, cap);
		if (!d)
			return -ENOMEM;
		tb->data = d;
		tb->cap = cap;
	}
	tb->len += (size_t)sprintf(tb->data + tb->len, "%s=%s", key, value) + 1;
	return 0;
}

void textbuf_free(struct textbuf *tb)
{
	free(tb->data);
	memset(tb, 0, sizeof(*tb));
}

int text_foreach(const char *data, size_t len,
		 int (*fn)(const char *key, const char *value, void *arg), void *arg)
{
	size_t i = 0;

	while (i < len) {
		const char *pair = data + i;
		const char *nul = memchr(pair, '\0', len - i);
		size_t plen = nul ? (size_t)(nul - pair) : len - i;
		char buf[8192];
		char *eq;
		int r;

		if (plen == 0) { /* padding or an empty pair */
			i++;
			continue;
		}
		if (plen >= sizeof(buf))
			return -EPROTO;
		memcpy(buf, pair, plen);
		buf[plen] = '\0';
		eq = strchr(buf, '=');
		if (!eq || eq == buf)
			return -EPROTO;
		*eq = '\0';
		r = fn(buf, eq + 1, arg);
		if (r)
			return r;
		i += plen + 1;
	}
	return 0;
}
