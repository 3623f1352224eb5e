/* iSNSP codec (RFC 4171 5): requests are built here, and what a server sends is decoded here
 * once, every length checked against the payload before it is read. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isns.h"
#include "byteorder.h"

/* Attribute tags (RFC 4171 6.1). */
enum {
	TAG_DELIMITER = 0,
	TAG_ENTITY_ID = 1,
	TAG_ENTITY_PROTOCOL = 2,
	TAG_TIMESTAMP = 4,
	TAG_PORTAL_IP = 16,
	TAG_PORTAL_PORT = 17,
	TAG_SCN_PORT = 23,
	TAG_ISCSI_NAME = 32,
	TAG_NODE_TYPE = 33,
	TAG_ALIAS = 34,
	TAG_SCN_BITMAP = 35,
	TAG_PG_NAME = 48,
	TAG_PG_IP = 49,
	TAG_PG_PORT = 50,
	TAG_PG_TAG = 51,
};

#define ENTITY_PROTOCOL_ISCSI 2
#define NODE_TARGET 0x1
#define NODE_INITIATOR 0x2

static void set_err(char *err, size_t errlen, const char *what)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", what);
}

int isns_hdr_decode(const uint8_t *b, size_t len, struct isns_hdr *h, char *err, size_t errlen)
{
	if (len < ISNS_HDR_LEN) {
		set_err(err, errlen, "short iSNS header");
		return -EPROTO;
	}
	h->version = get_be16(b);
	h->function = get_be16(b + 2);
	h->length = get_be16(b + 4);
	h->flags = get_be16(b + 6);
	h->xid = get_be16(b + 8);
	h->seq = get_be16(b + 10);
	if (h->version != 1) {
		if (err && errlen)
			snprintf(err, errlen, "iSNSP version %u (only 1 is known)", h->version);
		return -EPROTO;
	}
	/* The sender flags are not checked: open-isns marks neither on the SCNs it sends. */
	if (h->length % 4) {
		if (err && errlen)
			snprintf(err, errlen, "iSNS PDU length %u is not a multiple of 4", h->length);
		return -EPROTO;
	}
	return 0;
}

/* ---- building ---- */

static void msg_begin(struct isns_msg *m, uint16_t function, uint16_t flags, uint16_t xid)
{
	memset(m->buf, 0, ISNS_HDR_LEN);
	put_be16(m->buf, 1);
	put_be16(m->buf + 2, function);
	put_be16(m->buf + 6, (uint16_t)(flags | ISNS_FL_CLIENT | ISNS_FL_FIRST | ISNS_FL_LAST));
	put_be16(m->buf + 8, xid);
	m->len = ISNS_HDR_LEN;
	m->overflow = 0;
}

static void msg_end(struct isns_msg *m)
{
	put_be16(m->buf + 4, (uint16_t)(m->len - ISNS_HDR_LEN));
}

/* One TLV; the value is padded with zeros to a multiple of 4 (RFC 4171 5.1.3). */
static void put_attr(struct isns_msg *m, uint32_t tag, const void *val, size_t len)
{
	size_t padded = (len + 3) & ~(size_t)3;

	if (m->overflow || sizeof(m->buf) - m->len < 8 + padded) {
		m->overflow = 1;
		return;
	}
	put_be32(m->buf + m->len, tag);
	put_be32(m->buf + m->len + 4, (uint32_t)padded);
	if (len)
		memcpy(m->buf + m->len + 8, val, len);
	memset(m->buf + m->len + 8 + len, 0, padded - len);
	m->len += 8 + padded;
}

/* Strings travel with their terminating NUL. */
static void put_str(struct isns_msg *m, uint32_t tag, const char *s)
{
	put_attr(m, tag, s, strlen(s) + 1);
}

static void put_u32(struct isns_msg *m, uint32_t tag, uint32_t v)
{
	uint8_t b[4];

	put_be32(b, v);
	put_attr(m, tag, b, 4);
}

static void put_nil(struct isns_msg *m, uint32_t tag)
{
	put_attr(m, tag, NULL, 0);
}

void isns_build_reg(struct isns_msg *m, uint16_t xid, const char *name, const char *alias,
		    const char *entity_id, const uint8_t ip[16], uint16_t scn_port)
{
	/* Replace: what a previous run of this initiator left registered goes. */
	msg_begin(m, ISNS_DEV_ATTR_REG, ISNS_FL_REPLACE, xid);
	put_str(m, TAG_ISCSI_NAME, name);
	put_str(m, TAG_ENTITY_ID, entity_id);
	put_nil(m, TAG_DELIMITER);
	put_str(m, TAG_ENTITY_ID, entity_id);
	put_u32(m, TAG_ENTITY_PROTOCOL, ENTITY_PROTOCOL_ISCSI);
	if (scn_port) {
		/* The portal the server sends SCNs to (RFC 4171 6.3.7). */
		put_attr(m, TAG_PORTAL_IP, ip, 16);
		put_u32(m, TAG_PORTAL_PORT, scn_port);
		put_u32(m, TAG_SCN_PORT, scn_port);
	}
	put_str(m, TAG_ISCSI_NAME, name);
	put_u32(m, TAG_NODE_TYPE, NODE_INITIATOR);
	if (alias && *alias)
		put_str(m, TAG_ALIAS, alias);
	msg_end(m);
}

void isns_build_scn_reg(struct isns_msg *m, uint16_t xid, const char *name, uint32_t bitmap)
{
	msg_begin(m, ISNS_SCN_REG, 0, xid);
	put_str(m, TAG_ISCSI_NAME, name);
	put_str(m, TAG_ISCSI_NAME, name);
	put_nil(m, TAG_DELIMITER);
	put_u32(m, TAG_SCN_BITMAP, bitmap);
	msg_end(m);
}

void isns_build_query_targets(struct isns_msg *m, uint16_t xid, const char *name)
{
	/* Every target in our discovery domains, with the portal groups that say where each
	 * one can be reached (RFC 4171 3.4). */
	msg_begin(m, ISNS_DEV_ATTR_QRY, 0, xid);
	put_str(m, TAG_ISCSI_NAME, name);
	put_u32(m, TAG_NODE_TYPE, NODE_TARGET);
	put_nil(m, TAG_DELIMITER);
	put_nil(m, TAG_ISCSI_NAME);
	put_nil(m, TAG_NODE_TYPE);
	put_nil(m, TAG_PG_NAME);
	put_nil(m, TAG_PG_IP);
	put_nil(m, TAG_PG_PORT);
	put_nil(m, TAG_PG_TAG);
	msg_end(m);
}

void isns_build_dereg(struct isns_msg *m, uint16_t xid, const char *name, const char *entity_id)
{
	msg_begin(m, ISNS_DEV_DEREG, 0, xid);
	put_str(m, TAG_ISCSI_NAME, name);
	put_nil(m, TAG_DELIMITER);
	put_str(m, TAG_ENTITY_ID, entity_id);
	msg_end(m);
}

void isns_build_scn_rsp(struct isns_msg *m, uint16_t xid, const char *name)
{
	uint8_t ok[4] = {0};

	msg_begin(m, ISNS_SCN | ISNS_RSP, 0, xid);
	if (sizeof(m->buf) - m->len >= 4) {
		memcpy(m->buf + m->len, ok, 4);
		m->len += 4;
	}
	put_str(m, TAG_ISCSI_NAME, name);
	msg_end(m);
}

/* ---- decoding ---- */

struct attr {
	uint32_t tag;
	uint32_t len;
	const uint8_t *val;
};

/* The attribute at *off; 1 = one, 0 = end, -EPROTO = a length past the payload. */
static int next_attr(const uint8_t *p, size_t len, size_t *off, struct attr *a)
{
	if (*off == len)
		return 0;
	if (len - *off < 8)
		return -EPROTO;
	a->tag = get_be32(p + *off);
	a->len = get_be32(p + *off + 4);
	if (a->len > len - *off - 8)
		return -EPROTO;
	a->val = p + *off + 8;
	*off += 8 + (size_t)a->len;
	return 1;
}

/* A string value: NUL-terminated inside its length, shorter than out. */
static int attr_str(const struct attr *a, char *out, size_t outlen)
{
	const uint8_t *nul = a->len ? memchr(a->val, '\0', a->len) : NULL;
	size_t n = nul ? (size_t)(nul - a->val) : 0;

	if (!nul || n == 0 || n >= outlen)
		return -EPROTO;
	for (size_t i = 0; i < n; i++)
		if (a->val[i] < 0x20 || a->val[i] == 0x7f)
			return -EPROTO;
	memcpy(out, a->val, n);
	out[n] = '\0';
	return 0;
}

static int attr_u32(const struct attr *a, uint32_t *v)
{
	if (a->len != 4)
		return -EPROTO;
	*v = get_be32(a->val);
	return 0;
}

/* A 16-byte address: IPv4-mapped addresses print as dotted quads, others in brackets
 * ("[2001:db8::1]"), the form hosts are written in everywhere else. */
static int attr_ip(const struct attr *a, char *out, size_t outlen)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	char text[INET6_ADDRSTRLEN];
	int n;

	if (a->len != 16)
		return -EPROTO;
	if (memcmp(a->val, v4mapped, 12) == 0)
		return inet_ntop(AF_INET, a->val + 12, out, (socklen_t)outlen) ? 0 : -EPROTO;
	if (!inet_ntop(AF_INET6, a->val, text, sizeof(text)))
		return -EPROTO;
	n = snprintf(out, outlen, "[%s]", text);
	return n > 0 && (size_t)n < outlen ? 0 : -EPROTO;
}

int isns_rsp_status(const uint8_t *p, size_t len, uint32_t *status, char *err, size_t errlen)
{
	if (len < 4) {
		set_err(err, errlen, "iSNS response without a status code");
		return -EPROTO;
	}
	*status = get_be32(p);
	return 0;
}

const char *isns_status_str(uint32_t status)
{
	static const char *const names[] = {
		"successful", "unknown error", "message format error", "invalid registration",
		"reserved", "invalid query", "source unknown", "source absent",
		"source unauthorized", "no such entry", "version not supported", "internal error",
		"busy", "option not understood", "invalid update", "message not supported",
		"SCN event rejected", "SCN registration rejected", "attribute not implemented",
		"FC_DOMAIN_ID not available", "FC_DOMAIN_ID not allocated", "ESI not available",
		"invalid deregistration", "registration feature not supported",
	};

	return status < sizeof(names) / sizeof(names[0]) ? names[status] : "unknown status";
}

static struct isns_target *find_target(struct isns_target *l, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(l[i].name, name) == 0)
			return &l[i];
	return NULL;
}

static void add_portal(struct isns_target *t, const char *addr, uint16_t port)
{
	for (int i = 0; i < t->nportals; i++)
		if (t->portals[i].port == port && strcmp(t->portals[i].addr, addr) == 0)
			return;
	if (t->nportals == ISNS_MAX_PORTALS)
		return;
	snprintf(t->portals[t->nportals].addr, sizeof(t->portals[0].addr), "%s", addr);
	t->portals[t->nportals++].port = port;
}

/* One portal group, collected attribute by attribute. */
struct pg {
	char name[ISNS_NAME_MAX], addr[64];
	uint32_t port;
	int have_name, have_addr, have_port, null_tag;
};

static void pg_flush(struct pg *g, struct isns_target *l, int n)
{
	struct isns_target *t;

	/* A PG whose tag is NULL says the portal may not be used for that node (5.6.5.1). */
	if (g->have_name && g->have_addr && g->have_port && !g->null_tag &&
	    (g->port & 0xffff) != 0 && !(g->port & 0x10000) /* UDP */ &&
	    (t = find_target(l, n, g->name)) != NULL)
		add_portal(t, g->addr, (uint16_t)(g->port & 0xffff));
	memset(g, 0, sizeof(*g));
}

int isns_decode_targets(const uint8_t *p, size_t len, struct isns_target **out, int *count,
			char *err, size_t errlen)
{
	struct isns_target *l = NULL;
	struct attr a;
	struct pg g;
	size_t off = 4, start;
	uint32_t status, v;
	int n = 0, r, pass, in_node = 0;

	*out = NULL;
	*count = 0;
	if (isns_rsp_status(p, len, &status, err, errlen) < 0)
		return -EPROTO;
	/* The message key comes back first, up to the delimiter; then the objects. */
	start = off;
	while ((r = next_attr(p, len, &off, &a)) > 0)
		if (a.tag == TAG_DELIMITER) {
			start = off;
			break;
		}
	if (r < 0)
		goto bad;
	/* Pass 0: the target nodes; pass 1: the portal groups, which may come first. */
	for (pass = 0; pass < 2; pass++) {
		off = start;
		memset(&g, 0, sizeof(g));
		while ((r = next_attr(p, len, &off, &a)) > 0) {
			if (pass == 0 && a.tag == TAG_ISCSI_NAME) {
				struct isns_target *nl;

				in_node = 0;
				if (n == ISNS_MAX_TARGETS)
					continue;
				nl = realloc(l, sizeof(*nl) * (size_t)(n + 1));
				if (!nl) {
					free(l);
					set_err(err, errlen, "out of memory");
					return -ENOMEM;
				}
				l = nl;
				memset(&l[n], 0, sizeof(l[n]));
				if (attr_str(&a, l[n].name, sizeof(l[n].name)) < 0)
					goto bad;
				/* Listed twice (several domains): once is enough. */
				if (find_target(l, n, l[n].name))
					continue;
				n++;
				in_node = 1;
			} else if (pass == 0 && a.tag == TAG_NODE_TYPE && in_node) {
				if (attr_u32(&a, &v) < 0)
					goto bad;
				if (!(v & NODE_TARGET))
					n--;
				in_node = 0;
			} else if (pass == 1 && a.tag == TAG_PG_NAME) {
				pg_flush(&g, l, n);
				if (attr_str(&a, g.name, sizeof(g.name)) < 0)
					goto bad;
				g.have_name = 1;
			} else if (pass == 1 && a.tag == TAG_PG_IP) {
				if (attr_ip(&a, g.addr, sizeof(g.addr)) < 0)
					goto bad;
				g.have_addr = 1;
			} else if (pass == 1 && a.tag == TAG_PG_PORT) {
				if (attr_u32(&a, &g.port) < 0)
					goto bad;
				g.have_port = 1;
			} else if (pass == 1 && a.tag == TAG_PG_TAG) {
				g.null_tag = a.len == 0;
				pg_flush(&g, l, n);
			}
		}
		if (r < 0)
			goto bad;
		if (pass == 1)
			pg_flush(&g, l, n);
	}
	*out = l;
	*count = n;
	return 0;
bad:
	free(l);
	set_err(err, errlen, "malformed attribute in the iSNS query response");
	return -EPROTO;
}

int isns_decode_scn(const uint8_t *p, size_t len, struct isns_scn *scn, char *err,
		    size_t errlen)
{
	struct attr a;
	size_t off = 0;
	uint32_t bits = 0;
	int r, first = 1, pending = 0, last_has_bits = 1;

	memset(scn, 0, sizeof(*scn));
	/* Destination, timestamp, then each changed node with its bitmap (RFC 4171 5.6.5.8
	 * puts the name first; open-isns sends the bitmap first: both are taken). */
	while ((r = next_attr(p, len, &off, &a)) > 0) {
		if (first) {
			if (a.tag != TAG_ISCSI_NAME || attr_str(&a, scn->dest, sizeof(scn->dest)) < 0)
				goto bad;
			first = 0;
		} else if (a.tag == TAG_ISCSI_NAME) {
			if (scn->nnodes == ISNS_SCN_MAX_NODES)
				continue;
			if (attr_str(&a, scn->nodes[scn->nnodes], sizeof(scn->nodes[0])) < 0)
				goto bad;
			scn->bits[scn->nnodes++] = pending ? bits : 0;
			last_has_bits = pending;
			pending = 0;
		} else if (a.tag == TAG_SCN_BITMAP) {
			if (attr_u32(&a, &bits) < 0)
				goto bad;
			if (!last_has_bits && scn->nnodes) {
				scn->bits[scn->nnodes - 1] = bits;
				last_has_bits = 1;
			} else {
				pending = 1;
			}
		}
	}
	if (r < 0 || first)
		goto bad;
	return 0;
bad:
	set_err(err, errlen, "malformed iSNS state change notification");
	return -EPROTO;
}

void isns_scn_bits_str(uint32_t bits, char *out, size_t outlen)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
		{ISNS_SCN_OBJECT_ADDED, "object added"},
		{ISNS_SCN_OBJECT_REMOVED, "object removed"},
		{ISNS_SCN_OBJECT_UPDATED, "object updated"},
		{ISNS_SCN_DD_MEMBER_ADDED, "discovery domain member added"},
		{ISNS_SCN_DD_MEMBER_REMOVED, "discovery domain member removed"},
	};
	size_t off = 0;

	if (!outlen)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int w;

		if (!(bits & names[i].bit) || off >= outlen)
			continue;
		w = snprintf(out + off, outlen - off, "%s%s", off ? ", " : "", names[i].name);
		if (w > 0)
			off += (size_t)w;
	}
	if (!out[0])
		snprintf(out, outlen, "change 0x%x", bits);
}
