/* iSNSP (RFC 4171) codec: the 12-byte header, TLV attributes, and the few messages an
 * initiator sends and receives. Pure functions: no sockets here (see isns_client.h). */
#ifndef ISCSIFS_ISNS_H
#define ISCSIFS_ISNS_H

#include <stddef.h>
#include <stdint.h>

#define ISNS_HDR_LEN 12
#define ISNS_PAYLOAD_MAX 65532 /* the header's 16-bit length, kept a multiple of 4 */
#define ISNS_NAME_MAX 224      /* iSCSI names are at most 223 bytes */
#define ISNS_MAX_TARGETS 256
#define ISNS_MAX_PORTALS 8     /* per target */

/* Function IDs (RFC 4171 6.1); a response is the request's ID | 0x8000. */
enum {
	ISNS_DEV_ATTR_REG = 0x0001,
	ISNS_DEV_ATTR_QRY = 0x0002,
	ISNS_DEV_DEREG = 0x0004,
	ISNS_SCN_REG = 0x0005,
	ISNS_SCN = 0x0008,
	ISNS_RSP = 0x8000,
};

/* Header flags (RFC 4171 5.1.4). */
enum {
	ISNS_FL_CLIENT = 0x8000,
	ISNS_FL_SERVER = 0x4000,
	ISNS_FL_AUTH = 0x2000,
	ISNS_FL_REPLACE = 0x1000,
	ISNS_FL_LAST = 0x0800,
	ISNS_FL_FIRST = 0x0400,
};

/* SCN bitmap bits as they travel (RFC 4171 6.4.4: its bit 31 is the least significant). */
enum {
	ISNS_SCN_DD_MEMBER_ADDED = 0x01,
	ISNS_SCN_DD_MEMBER_REMOVED = 0x02,
	ISNS_SCN_OBJECT_UPDATED = 0x04,
	ISNS_SCN_OBJECT_ADDED = 0x08,
	ISNS_SCN_OBJECT_REMOVED = 0x10,
	ISNS_SCN_TARGET_AND_SELF = 0x40,
};

struct isns_hdr {
	uint16_t version, function, length, flags, xid, seq;
};

/* A message being built: header, then attributes. */
struct isns_msg {
	uint8_t buf[ISNS_HDR_LEN + ISNS_PAYLOAD_MAX];
	size_t len;   /* bytes used, header included */
	int overflow; /* an attribute did not fit: the message must not be sent */
};

struct isns_portal {
	char addr[64]; /* printable: dotted quad, or IPv6 text in brackets */
	uint16_t port;
};

struct isns_target {
	char name[ISNS_NAME_MAX];
	struct isns_portal portals[ISNS_MAX_PORTALS];
	int nportals;
};

/* What an SCN says: who it is for, and each changed node with its bitmap. */
#define ISNS_SCN_MAX_NODES 16
struct isns_scn {
	char dest[ISNS_NAME_MAX];
	int nnodes;
	char nodes[ISNS_SCN_MAX_NODES][ISNS_NAME_MAX];
	uint32_t bits[ISNS_SCN_MAX_NODES];
};

/* Decode and check a received header: version 1, a server's message, a length that is a
 * multiple of 4. 0 or -EPROTO with the reason. */
int isns_hdr_decode(const uint8_t *b, size_t len, struct isns_hdr *h, char *err, size_t errlen);

/* Requests, each complete with its header. The initiator's entity is entity_id. */
void isns_build_reg(struct isns_msg *m, uint16_t xid, const char *name, const char *alias,
		    const char *entity_id, const uint8_t ip[16], uint16_t scn_port);
void isns_build_scn_reg(struct isns_msg *m, uint16_t xid, const char *name, uint32_t bitmap);
void isns_build_query_targets(struct isns_msg *m, uint16_t xid, const char *name);
void isns_build_dereg(struct isns_msg *m, uint16_t xid, const char *name, const char *entity_id);
void isns_build_scn_rsp(struct isns_msg *m, uint16_t xid, const char *name);

/* The status code that starts every response payload. 0 or -EPROTO. */
int isns_rsp_status(const uint8_t *p, size_t len, uint32_t *status, char *err, size_t errlen);
const char *isns_status_str(uint32_t status);

/* A DevAttrQryRsp payload (status included) into targets and their portals (from the portal
 * groups); *out is malloc'd. Targets without a portal are kept. 0 or -EPROTO/-ENOMEM. */
int isns_decode_targets(const uint8_t *p, size_t len, struct isns_target **out, int *count,
			char *err, size_t errlen);

/* An SCN payload. 0 or -EPROTO. */
int isns_decode_scn(const uint8_t *p, size_t len, struct isns_scn *scn, char *err,
		    size_t errlen);

/* "object added", "object removed, object updated", ... for a log line. */
void isns_scn_bits_str(uint32_t bits, char *out, size_t outlen);

#endif
