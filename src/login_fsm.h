/* The login phase as a table (RFC 7143 section 6.3, 11.12-11.13, 12.1.3): states, the events a
 * Login Response is reduced to, and one driver that moves between them. No sockets here: the
 * actions are handed in, so the table can be driven by events alone. */
#ifndef ISCSIFS_LOGIN_FSM_H
#define ISCSIFS_LOGIN_FSM_H

#include <stddef.h>
#include <stdint.h>

/* Where a login stands: each waiting state says what our last request was. */
enum login_state {
	LS_INIT,           /* connected, nothing sent */
	LS_SECURITY,       /* CSG=0 request sent with T=1 NSG=1: AuthMethod offered, or a next round */
	LS_CHAP_ALGORITHM, /* CHAP_A list sent with T=0: waiting for CHAP_A, CHAP_I, CHAP_C */
	LS_CHAP_RESPONSE,  /* CHAP_N/CHAP_R sent: waiting for the verdict (mutual: its N/R) */
	LS_OPERATIONAL,    /* CSG=1 request sent with T=1 NSG=3: operational keys offered */
	LS_FULL_FEATURE,   /* final: the target moved to full feature phase, values settled */
	LS_REDIRECTED,     /* final: status class 1, TargetAddress kept */
	LS_FAILED,         /* final: refused, protocol error, timeout or transport error */
	LS_COUNT
};

/* What one Login Response PDU (or its absence) means, once decoded. */
enum login_event {
	EV_START,                /* the connection is up */
	EV_CONTINUE,             /* status 0, C set: more text follows (6.2) */
	EV_STAY,                 /* status 0, T clear: the target holds the transition */
	EV_AUTH_CHAP,            /* status 0, T clear, AuthMethod=CHAP chosen */
	EV_AUTH_CHAP_TRANSIT,    /* AuthMethod=CHAP chosen with T set: the exchange would be skipped */
	EV_AUTH_UNSUPPORTED,     /* AuthMethod answered with neither None nor CHAP */
	EV_CHAP_CHALLENGE,       /* status 0, T clear, CHAP_A/CHAP_I/CHAP_C brought */
	EV_TRANSIT_OPERATIONAL,  /* status 0, T set, NSG=1 */
	EV_TRANSIT_FULL_FEATURE, /* status 0, T set, NSG=3 */
	EV_REDIRECT,             /* status class 1 */
	EV_REFUSED,              /* status class 2 (initiator error), 3 (target error) or reserved */
	EV_BAD_RESPONSE,         /* a response that breaks 11.13 or the negotiation (reason given) */
	EV_TIMEOUT,              /* no response within the login timeout */
	EV_TRANSPORT_ERROR,      /* the connection failed */
	EV_COUNT
};

/* What a transition does. Rows name them; the caller supplies the functions. */
enum login_action {
	LA_NONE,
	LA_OFFER_SECURITY,        /* first request: names, SessionType, AuthMethod */
	LA_ASK_REST,              /* empty request for the rest of a C-bit response */
	LA_NEXT_ROUND,            /* our answers, asking for the transition again */
	LA_OFFER_CHAP_ALGORITHMS, /* CHAP_A list */
	LA_CHAP_RESPOND,          /* CHAP_N, CHAP_R (mutual: our CHAP_I, CHAP_C) */
	LA_CHAP_VERIFY,           /* mutual: check the target's CHAP_N, CHAP_R */
	LA_OFFER_OPERATIONAL,     /* the operational keys */
	LA_FINISH,                /* TSIH checks, negotiated values */
	LA_REDIRECTED,            /* keep TargetAddress; returns -EAGAIN */
	LA_REFUSED,               /* the status in words; returns -EACCES */
	LA_CHAP_UNFINISHED,       /* security stage left before CHAP finished; -EACCES */
	LA_AUTH_UNSUPPORTED,      /* a method we cannot do; -EACCES */
	LA_FAIL,                  /* the reason is in err already; returns the event's error */
	LA_COUNT
};

struct login_row {
	enum login_state state;
	enum login_event event;
	enum login_state next;
	enum login_action action[2]; /* run in order; the second may be LA_NONE */
	const char *label;           /* the RFC 7143 rule it follows */
};

struct login_fsm;
/* 0, or -errno with the reason in m->err. A failure ends the login in LS_FAILED, except in
 * a row that ends it anyway (LS_REDIRECTED), where it is the login's result. */
typedef int (*login_action_fn)(struct login_fsm *m, const struct login_row *row);

#define LOGIN_MAX_EXCHANGES 32 /* complete responses before a login counts as stuck */

struct login_fsm {
	enum login_state state;
	const char *who; /* prefixes log lines: the connection's label, or "" */
	uint16_t cid;
	int exchanges;  /* complete responses taken (C-bit parts do not count) */
	int event_rc;   /* the error an event came with (timeout, transport, bad response) */
	int rc;         /* the login's result once final */
	char *err;
	size_t errlen;
	const login_action_fn *actions; /* LA_COUNT entries; NULL entries do nothing */
	void *ctx;                      /* the caller's, for its actions */
};

void login_fsm_init(struct login_fsm *m, const char *who, uint16_t cid,
		    const login_action_fn *actions, void *ctx, char *err, size_t errlen);
/* Take one event: find its row, log the transition, run the actions. An event without a row
 * ends the login as a protocol error. ev_rc: the error the event came with, or 0. Returns 0
 * while the login goes on, then its result (0 in LS_FULL_FEATURE). */
int login_fsm_step(struct login_fsm *m, enum login_event ev, int ev_rc);
int login_fsm_final(const struct login_fsm *m);

/* The row for a pair, NULL when there is none. */
const struct login_row *login_fsm_row(enum login_state s, enum login_event ev);

/* A complete (C clear) Login Response, as far as the table cares. */
struct login_response {
	uint8_t status_class;
	int transit, cont;
	int nsg;
	const char *auth_method; /* the AuthMethod this response answered, NULL when none */
	int chap_challenge;      /* it brought CHAP_A, CHAP_I or CHAP_C */
};
enum login_event login_event_of(const struct login_response *r);

/* The stage (CSG) of the requests a waiting state sends; -1 for INIT and final states. */
int login_state_csg(enum login_state s);
const char *login_state_name(enum login_state s);
const char *login_event_name(enum login_event ev);

#endif
