/* The login phase of one connection (RFC 7143 section 6): security stage, operational
 * negotiation over the key table, transition to full-feature phase. */
#ifndef ISCSIFS_LOGIN_H
#define ISCSIFS_LOGIN_H

#include <stddef.h>
#include <stdint.h>

#include "chap.h"
#include "conn.h"
#include "keys.h"

struct login_params {
	const char *initiator_name;
	const char *initiator_alias; /* NULL or "" = none */
	const char *target_name;     /* NULL for a discovery session */
	const struct key_set *admin_keys; /* keys from the CHANNEL line; NULL = none */
	const uint8_t *isid;         /* 6 bytes */
	uint16_t tsih;               /* 0 for a new session */
	uint16_t cid;
	uint32_t cmd_sn;             /* CmdSN the login requests carry */
	int timeout_s;
	uint32_t max_recv_dsl;       /* what we declare unless the admin set it */
	uint32_t max_connections;    /* MaxConnections we offer unless the admin set it; 0 = 1 */
	const struct chap_secrets *chap; /* NULL: offer AuthMethod=None only */
	int chap_md5_only;           /* offer CHAP_A=5 alone (targets that refuse a list) */
};

struct login_result {
	struct iscsi_params params;
	uint16_t tsih;
	uint32_t exp_stat_sn;
	uint32_t exp_cmd_sn, max_cmd_sn;
	uint8_t status_class, status_detail; /* non-zero when the target refused */
	char target_alias[256];
	char redirect[256];                  /* TargetAddress of a redirection */
	int chap_alg_refused;                /* the target refused our CHAP_A list */
	int chap_refused_alg;                /* refused after we answered with this CHAP_A */
};

/* Run the whole login on a connected socket. 0, or -errno with a reason in err (the target's
 * refusal decoded into words, or the negotiation rule it broke). */
int login_run(struct conn *c, const struct login_params *lp, struct login_result *res, char *err,
	      size_t errlen);

/* Connect to addr:port (netdev "" or NULL: any) and log in: the whole login of one
 * connection, following a redirection to another portal (three hops at most) and, when the
 * target chokes on our CHAP_A list, trying once more offering MD5 alone. log_label prefixes
 * what is logged ("ch0"), conn_label names the connection. lp may be changed (the MD5-only
 * retry). *out is the logged-in connection. 0, or -errno with the reason in err. */
int login_connect(const char *log_label, const char *conn_label, const char *addr, uint16_t port,
		  const char *netdev, struct login_params *lp, struct conn **out,
		  struct login_result *res, char *err, size_t errlen);

/* Log out (close the session, reason 0) synchronously; used before the threads run. */
int logout_sync(struct conn *c, uint32_t itt, uint16_t cid, uint32_t cmd_sn, uint32_t exp_stat_sn,
		int timeout_s);

#endif
