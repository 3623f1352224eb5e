/* The iSCSI login/text key table (RFC 7143 section 13) and negotiation over it.
 * Keys are data: one row per key; offering, answering and checking are loops over the table. */
#ifndef ISCSIFS_KEYS_H
#define ISCSIFS_KEYS_H

#include <stddef.h>
#include <stdint.h>

enum key_type {
	KEY_LIST,     /* comma-separated list, the responder picks the first it supports */
	KEY_BOOL_AND, /* Yes/No, result is AND of both sides */
	KEY_BOOL_OR,  /* Yes/No, result is OR of both sides */
	KEY_NUM_MIN,  /* number, result is the minimum */
	KEY_NUM_MAX,  /* number, result is the maximum */
	KEY_DECL_NUM, /* declarative number: each side states its own */
	KEY_DECL,     /* declarative string */
};

enum key_scope { SCOPE_SESSION, SCOPE_CONN };

enum key_flags {
	KEYF_ADMIN = 1 << 0,     /* may be set on a CHANNEL line */
	KEYF_LEADING = 1 << 1,   /* leading-only: negotiated on the first connection */
	KEYF_INITIAL = 1 << 2,   /* only in the login phase (not in full-feature text) */
	KEYF_SECURITY = 1 << 3,  /* belongs to the security negotiation stage */
};

struct key_def {
	const char *name;
	enum key_type type;
	enum key_scope scope;
	unsigned flags;
	const char *dflt;  /* RFC default as text */
	uint32_t min, max; /* numeric range */
	const char *allowed; /* KEY_LIST: comma-separated values we understand */
};

/* Index of each key in the table, so that negotiated values live in an array. */
enum key_id {
	K_HEADER_DIGEST,
	K_DATA_DIGEST,
	K_MAX_CONNECTIONS,
	K_SEND_TARGETS,
	K_TARGET_NAME,
	K_INITIATOR_NAME,
	K_TARGET_ALIAS,
	K_INITIATOR_ALIAS,
	K_TARGET_ADDRESS,
	K_TARGET_PORTAL_GROUP_TAG,
	K_INITIAL_R2T,
	K_IMMEDIATE_DATA,
	K_MAX_RECV_DSL,
	K_MAX_BURST_LENGTH,
	K_FIRST_BURST_LENGTH,
	K_DEFAULT_TIME2WAIT,
	K_DEFAULT_TIME2RETAIN,
	K_MAX_OUTSTANDING_R2T,
	K_DATA_PDU_IN_ORDER,
	K_DATA_SEQUENCE_IN_ORDER,
	K_ERROR_RECOVERY_LEVEL,
	K_SESSION_TYPE,
	K_AUTH_METHOD,
	K_TASK_REPORTING,
	K_PROTOCOL_LEVEL,
	K_COUNT
};

extern const struct key_def key_table[K_COUNT];

/* Look a key up by name (case-sensitive, as the RFC says); -1 when unknown. */
int key_lookup(const char *name);

/* Check a value against the key's type and range. Returns 0, or -EINVAL with a reason in err. */
int key_check_value(int id, const char *value, char *err, size_t errlen);

/* Parse a numeric key value (decimal or 0x hex, RFC 7143 5.1); 0 or -EINVAL. */
int key_parse_num(const char *value, uint64_t *out);

/* A set of values, one per key, as text; NULL = not set. */
struct key_set {
	char *val[K_COUNT];
};

void key_set_init(struct key_set *ks);
void key_set_free(struct key_set *ks);
int key_set_put(struct key_set *ks, int id, const char *value); /* copies value */
const char *key_set_get(const struct key_set *ks, int id);       /* NULL when unset */

/* Negotiated operational parameters of a session/connection, in usable form. */
struct iscsi_params {
	int header_digest, data_digest; /* 1 = CRC32C */
	uint32_t max_connections;
	int initial_r2t, immediate_data;
	uint32_t max_recv_dsl;        /* what we declared: the most the target may send us */
	uint32_t max_xmit_dsl;        /* what the target declared: the most we may send */
	uint32_t max_burst_length, first_burst_length;
	uint32_t default_time2wait, default_time2retain;
	uint32_t max_outstanding_r2t;
	int data_pdu_in_order, data_sequence_in_order;
	uint32_t error_recovery_level;
	uint32_t protocol_level;
	uint16_t tpgt;
};

/* RFC defaults (what holds when a key is not negotiated). */
void params_defaults(struct iscsi_params *p);

/* The negotiation of one login: what we offered, what came back. */
struct negotiation {
	struct key_set offered;   /* keys we sent */
	struct key_set answered;  /* keys the target sent */
	struct key_set reply;     /* our answers to keys the target offered, to send next */
	int discovery;            /* SessionType=Discovery: operational keys mostly irrelevant */
};

/* Handle one "key=value" received from the target. Unknown keys are answered NotUnderstood.
 * Returns 0, or -EPROTO with a reason in err when the answer breaks the negotiation rules. */
int negotiate_receive(struct negotiation *n, const char *key, const char *value,
		      char *err, size_t errlen);

/* After the login completes: compute the usable parameters from offered/answered. */
int negotiate_result(const struct negotiation *n, struct iscsi_params *p, char *err, size_t errlen);

/* Text codec: "k=v\0k=v\0". Appends one pair to buf (grows it); 0 or -ENOMEM. */
struct textbuf {
	char *data;
	size_t len, cap;
};
int textbuf_add(struct textbuf *tb, const char *key, const char *value);
void textbuf_free(struct textbuf *tb);

/* Walk the pairs of a received text segment; calls fn for each; stops on a non-zero return.
 * A pair without '=' is a protocol error (-EPROTO). */
int text_foreach(const char *data, size_t len,
		 int (*fn)(const char *key, const char *value, void *arg), void *arg);

#endif
