/* The login table and its driver. One place assigns a login's state (login_fsm_step); a pair
 * without a row is the target breaking the protocol, so it ends that login, never the daemon. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "login_fsm.h"

static const struct {
	const char *name, *what; /* short, for the log; words, for an error message */
	int csg;
} states[LS_COUNT] = {
	[LS_INIT] = {"init", "before the first request", -1},
	[LS_SECURITY] = {"security", "in the security stage", 0},
	[LS_CHAP_ALGORITHM] = {"chap-algorithm", "waiting for the CHAP challenge", 0},
	[LS_CHAP_RESPONSE] = {"chap-response", "waiting for the verdict on our CHAP response", 0},
	[LS_OPERATIONAL] = {"operational", "in the operational negotiation stage", 1},
	[LS_FULL_FEATURE] = {"full-feature", "after the login finished", -1},
	[LS_REDIRECTED] = {"redirected", "after a redirection", -1},
	[LS_FAILED] = {"failed", "after the login failed", -1},
};

static const struct {
	const char *name, *what;
} events[EV_COUNT] = {
	[EV_START] = {"start", "a new start"},
	[EV_CONTINUE] = {"continue", "a Login Response with the C bit"},
	[EV_STAY] = {"stay", "a Login Response that holds the transition (T clear)"},
	[EV_AUTH_CHAP] = {"auth-chap", "AuthMethod=CHAP"},
	[EV_AUTH_CHAP_TRANSIT] = {"auth-chap-transit", "AuthMethod=CHAP with the T bit"},
	[EV_AUTH_UNSUPPORTED] = {"auth-unsupported", "an AuthMethod we cannot do"},
	[EV_CHAP_CHALLENGE] = {"chap-challenge", "CHAP_A/CHAP_I/CHAP_C"},
	[EV_TRANSIT_OPERATIONAL] = {"transit-operational",
				    "a move to the operational stage (T set, NSG=1)"},
	[EV_TRANSIT_FULL_FEATURE] = {"transit-full-feature",
				     "a move to full feature phase (T set, NSG=3)"},
	[EV_REDIRECT] = {"redirect", "a redirection"},
	[EV_REFUSED] = {"refused", "a refusal"},
	[EV_BAD_RESPONSE] = {"bad-response", "a malformed Login Response"},
	[EV_TIMEOUT] = {"timeout", "a timeout"},
	[EV_TRANSPORT_ERROR] = {"transport-error", "a transport error"},
};

/* Read against RFC 7143 6.3 (stages), 11.12-11.13 (T, C, CSG/NSG, status) and 12.1.3 (CHAP).
 * Every waiting state ends the same way on a refusal, a redirection, a bad response, a
 * timeout or a transport error, and asks for the rest of a C-bit response the same way;
 * what differs is how each moves on. */
#define WAITING_STATE_ROWS(s)                                                               \
	{s, EV_REDIRECT, LS_REDIRECTED, {LA_REDIRECTED, LA_NONE},                           \
	 "11.13.5: status class 1, the target moved"},                                      \
	{s, EV_REFUSED, LS_FAILED, {LA_REFUSED, LA_NONE},                                   \
	 "11.13.5: status class 2 or 3, login refused"},                                    \
	{s, EV_BAD_RESPONSE, LS_FAILED, {LA_FAIL, LA_NONE},                                 \
	 "6.3, 11.13: a response that breaks the protocol"},                                \
	{s, EV_TIMEOUT, LS_FAILED, {LA_FAIL, LA_NONE},                                      \
	 "6.3: no Login Response within the login timeout"},                                \
	{s, EV_TRANSPORT_ERROR, LS_FAILED, {LA_FAIL, LA_NONE},                              \
	 "6.3: the connection failed during login"},                                        \
	{s, EV_CONTINUE, s, {LA_ASK_REST, LA_NONE},                                         \
	 "6.2, 11.13: C set, an empty request asks for the rest"}

static const struct login_row rows[] = {
	{LS_INIT, EV_START, LS_SECURITY, {LA_OFFER_SECURITY, LA_NONE},
	 "6.3.1, 11.12: first request, CSG=0 T=1 NSG=1, AuthMethod offered"},

	WAITING_STATE_ROWS(LS_SECURITY),
	{LS_SECURITY, EV_STAY, LS_SECURITY, {LA_NEXT_ROUND, LA_NONE},
	 "11.13.6: T clear, the target stays in the security stage"},
	{LS_SECURITY, EV_AUTH_CHAP, LS_CHAP_ALGORITHM, {LA_OFFER_CHAP_ALGORITHMS, LA_NONE},
	 "12.1.3: CHAP chosen, send CHAP_A"},
	{LS_SECURITY, EV_AUTH_CHAP_TRANSIT, LS_FAILED, {LA_CHAP_UNFINISHED, LA_NONE},
	 "12.1.3, 6.3.2: CHAP chosen but the stage left without it"},
	{LS_SECURITY, EV_AUTH_UNSUPPORTED, LS_FAILED, {LA_AUTH_UNSUPPORTED, LA_NONE},
	 "12.1: an authentication method we cannot do"},
	{LS_SECURITY, EV_TRANSIT_OPERATIONAL, LS_OPERATIONAL, {LA_OFFER_OPERATIONAL, LA_NONE},
	 "6.3, 11.13.6: security -> operational negotiation"},
	{LS_SECURITY, EV_TRANSIT_FULL_FEATURE, LS_FULL_FEATURE, {LA_FINISH, LA_NONE},
	 "6.3, 11.13.6: security -> full feature phase"},

	WAITING_STATE_ROWS(LS_CHAP_ALGORITHM),
	{LS_CHAP_ALGORITHM, EV_CHAP_CHALLENGE, LS_CHAP_RESPONSE, {LA_CHAP_RESPOND, LA_NONE},
	 "12.1.3: CHAP_A/I/C in, send CHAP_N/CHAP_R"},
	{LS_CHAP_ALGORITHM, EV_TRANSIT_OPERATIONAL, LS_FAILED, {LA_CHAP_UNFINISHED, LA_NONE},
	 "12.1.3, 6.3.2: security stage left before CHAP finished"},
	{LS_CHAP_ALGORITHM, EV_TRANSIT_FULL_FEATURE, LS_FAILED, {LA_CHAP_UNFINISHED, LA_NONE},
	 "12.1.3, 6.3.2: security stage left before CHAP finished"},

	WAITING_STATE_ROWS(LS_CHAP_RESPONSE),
	{LS_CHAP_RESPONSE, EV_STAY, LS_SECURITY, {LA_CHAP_VERIFY, LA_NEXT_ROUND},
	 "12.1.3, 11.13.6: our response taken (mutual: the target's checked), T clear"},
	{LS_CHAP_RESPONSE, EV_TRANSIT_OPERATIONAL, LS_OPERATIONAL,
	 {LA_CHAP_VERIFY, LA_OFFER_OPERATIONAL},
	 "12.1.3, 6.3: our response taken (mutual: the target's checked) -> operational"},
	{LS_CHAP_RESPONSE, EV_TRANSIT_FULL_FEATURE, LS_FULL_FEATURE, {LA_CHAP_VERIFY, LA_FINISH},
	 "12.1.3, 6.3: our response taken (mutual: the target's checked) -> full feature"},

	WAITING_STATE_ROWS(LS_OPERATIONAL),
	{LS_OPERATIONAL, EV_STAY, LS_OPERATIONAL, {LA_NEXT_ROUND, LA_NONE},
	 "11.13.6: T clear, the target stays in the operational stage"},
	{LS_OPERATIONAL, EV_TRANSIT_FULL_FEATURE, LS_FULL_FEATURE, {LA_FINISH, LA_NONE},
	 "6.3, 11.13.6: operational negotiation -> full feature phase"},
};

const struct login_row *login_fsm_row(enum login_state s, enum login_event ev)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (rows[i].state == s && rows[i].event == ev)
			return &rows[i];
	return NULL;
}

const char *login_state_name(enum login_state s)
{
	return (unsigned)s < LS_COUNT ? states[s].name : "?";
}

const char *login_event_name(enum login_event ev)
{
	return (unsigned)ev < EV_COUNT ? events[ev].name : "?";
}

enum login_event login_event_of(const struct login_response *r)
{
	if (r->status_class == 1)
		return EV_REDIRECT;
	if (r->status_class)
		return EV_REFUSED;
	if (r->cont) /* 11.13: T must be clear while text continues */
		return r->transit ? EV_BAD_RESPONSE : EV_CONTINUE;
	/* The method chosen decides what the T bit means next to it (12.1.3). */
	if (r->auth_method && strcmp(r->auth_method, "CHAP") == 0)
		return r->transit ? EV_AUTH_CHAP_TRANSIT : EV_AUTH_CHAP;
	if (r->auth_method && strcmp(r->auth_method, "None") != 0)
		return EV_AUTH_UNSUPPORTED;
	if (r->transit) {
		if (r->nsg == 1)
			return EV_TRANSIT_OPERATIONAL;
		return r->nsg == 3 ? EV_TRANSIT_FULL_FEATURE : EV_BAD_RESPONSE;
	}
	return r->chap_challenge ? EV_CHAP_CHALLENGE : EV_STAY;
}

int login_state_csg(enum login_state s)
{
	return (unsigned)s < LS_COUNT ? states[s].csg : -1;
}

static int final_state(enum login_state s)
{
	return s == LS_FULL_FEATURE || s == LS_REDIRECTED || s == LS_FAILED;
}

int login_fsm_final(const struct login_fsm *m)
{
	return final_state(m->state);
}

void login_fsm_init(struct login_fsm *m, const char *who, uint16_t cid,
		    const login_action_fn *actions, void *ctx, char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	m->state = LS_INIT;
	m->who = who ? who : "";
	m->cid = cid;
	m->actions = actions;
	m->ctx = ctx;
	m->err = err;
	m->errlen = errlen;
}

/* The one place a login's state changes. */
static int end_step(struct login_fsm *m, enum login_state next, int rc)
{
	m->state = next;
	m->rc = rc;
	return rc;
}

int login_fsm_step(struct login_fsm *m, enum login_event ev, int ev_rc)
{
	const struct login_row *row = login_fsm_row(m->state, ev);
	enum login_state from = m->state, next;
	const char *sep = *m->who ? ": " : "";
	int r = 0;

	m->event_rc = ev_rc;
	if (!row) {
		/* A surprise from the network ends this login, never the daemon. */
		if ((unsigned)ev < EV_COUNT && (unsigned)from < LS_COUNT)
			snprintf(m->err, m->errlen, "login protocol error: %s %s", events[ev].what,
				 states[from].what);
		else
			snprintf(m->err, m->errlen, "login protocol error: event %d in state %d",
				 (int)ev, (int)from);
		log_warn("%s%slogin cid %u: %s -> failed on %s (no transition)", m->who, sep,
			 m->cid, login_state_name(from), login_event_name(ev));
		return end_step(m, LS_FAILED, -EPROTO);
	}
	next = row->next;
	/* Each complete response is an exchange; a target that never lets the login finish
	 * is stopped before our next request. */
	if (ev != EV_START && ev != EV_CONTINUE && ++m->exchanges >= LOGIN_MAX_EXCHANGES &&
	    !final_state(next)) {
		snprintf(m->err, m->errlen, "login did not finish within %d exchanges",
			 LOGIN_MAX_EXCHANGES);
		log_dbg("%s%slogin cid %u: %s -> failed on %s (exchange limit)", m->who, sep, m->cid,
			login_state_name(from), login_event_name(ev));
		return end_step(m, LS_FAILED, -EPROTO);
	}
	for (int i = 0; i < 2 && !r; i++) {
		enum login_action a = row->action[i];

		if (a != LA_NONE && m->actions && m->actions[a])
			r = m->actions[a](m, row);
	}
	/* Rows that end the login carry its result: a failure needs a reason even when the
	 * action gave none. A failed action elsewhere ends the login there. */
	if (next == LS_FAILED && !r)
		r = m->event_rc < 0 ? m->event_rc : -EPROTO;
	else if (next == LS_REDIRECTED && !r)
		r = -EAGAIN;
	else if (r && next != LS_REDIRECTED)
		next = LS_FAILED;
	log_dbg("%s%slogin cid %u: %s -> %s on %s (%s)", m->who, sep, m->cid,
		login_state_name(from), login_state_name(next), login_event_name(ev), row->label);
	if (r && m->errlen && !m->err[0])
		snprintf(m->err, m->errlen, "login failed %s: %s", states[from].what, strerror(-r));
	return end_step(m, next, r);
}
