/* The login table driven by events alone, with actions that only record themselves: the
 * paths a target can take (with and without CHAP, T held back, C bit), a refusal or a
 * redirection in every state, and every pair without a row ending the login. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "log.h"
#include "login_fsm.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct rec {
	enum login_action calls[512];
	int n;
	int rc[LA_COUNT]; /* what each action returns */
};

static int record(struct login_fsm *m, enum login_action a)
{
	struct rec *r = m->ctx;

	if (r->n < (int)N(r->calls))
		r->calls[r->n++] = a;
	if (a == LA_FAIL) /* as login.c's: the event's own error */
		return m->event_rc;
	if (r->rc[a] && m->errlen)
		snprintf(m->err, m->errlen, "action %d says no", (int)a);
	return r->rc[a];
}

#define STUB(fn, a)                                                          \
	static int fn(struct login_fsm *m, const struct login_row *row)      \
	{                                                                    \
		(void)row;                                                   \
		return record(m, a);                                         \
	}
STUB(st_offer_security, LA_OFFER_SECURITY)
STUB(st_ask_rest, LA_ASK_REST)
STUB(st_next_round, LA_NEXT_ROUND)
STUB(st_offer_chap, LA_OFFER_CHAP_ALGORITHMS)
STUB(st_chap_respond, LA_CHAP_RESPOND)
STUB(st_chap_verify, LA_CHAP_VERIFY)
STUB(st_offer_operational, LA_OFFER_OPERATIONAL)
STUB(st_finish, LA_FINISH)
STUB(st_redirected, LA_REDIRECTED)
STUB(st_refused, LA_REFUSED)
STUB(st_chap_unfinished, LA_CHAP_UNFINISHED)
STUB(st_auth_unsupported, LA_AUTH_UNSUPPORTED)
STUB(st_fail, LA_FAIL)

static const login_action_fn stubs[LA_COUNT] = {
	[LA_OFFER_SECURITY] = st_offer_security,
	[LA_ASK_REST] = st_ask_rest,
	[LA_NEXT_ROUND] = st_next_round,
	[LA_OFFER_CHAP_ALGORITHMS] = st_offer_chap,
	[LA_CHAP_RESPOND] = st_chap_respond,
	[LA_CHAP_VERIFY] = st_chap_verify,
	[LA_OFFER_OPERATIONAL] = st_offer_operational,
	[LA_FINISH] = st_finish,
	[LA_REDIRECTED] = st_redirected,
	[LA_REFUSED] = st_refused,
	[LA_CHAP_UNFINISHED] = st_chap_unfinished,
	[LA_AUTH_UNSUPPORTED] = st_auth_unsupported,
	[LA_FAIL] = st_fail,
};

struct bench {
	struct login_fsm m;
	struct rec rec;
	char err[256];
};

/* Actions that end a login return what login.c's do. */
static void bench_init(struct bench *b)
{
	memset(b, 0, sizeof(*b));
	b->rec.rc[LA_REDIRECTED] = -EAGAIN;
	b->rec.rc[LA_REFUSED] = -EACCES;
	b->rec.rc[LA_CHAP_UNFINISHED] = -EACCES;
	b->rec.rc[LA_AUTH_UNSUPPORTED] = -EACCES;
	login_fsm_init(&b->m, "test", 7, stubs, &b->rec, b->err, sizeof(b->err));
}

/* Feed events (each with error 0, as responses are), checking that the login is still going
 * before each. */
static void feed(struct bench *b, const enum login_event *ev, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (login_fsm_final(&b->m))
			fail_msg("event %zu (%s): the login ended already in %s: %s", i,
				 login_event_name(ev[i]), login_state_name(b->m.state), b->err);
		login_fsm_step(&b->m, ev[i], 0);
	}
}

static void expect_calls(const struct bench *b, const enum login_action *want, size_t n)
{
	for (size_t i = 0; i < n && i < (size_t)b->rec.n; i++)
		if (b->rec.calls[i] != want[i])
			fail_msg("action %zu: %d, expected %d", i, (int)b->rec.calls[i],
				 (int)want[i]);
	assert_int_equal(b->rec.n, (int)n);
}

static void test_path_without_chap(void **state)
{
	static const enum login_event ev[] = {EV_START, EV_TRANSIT_OPERATIONAL,
					      EV_TRANSIT_FULL_FEATURE};
	static const enum login_action want[] = {LA_OFFER_SECURITY, LA_OFFER_OPERATIONAL,
						 LA_FINISH};
	struct bench b;

	(void)state;
	bench_init(&b);
	assert_int_equal(b.m.state, LS_INIT);
	feed(&b, ev, 1);
	assert_int_equal(b.m.state, LS_SECURITY);
	feed(&b, ev + 1, 1);
	assert_int_equal(b.m.state, LS_OPERATIONAL);
	feed(&b, ev + 2, 1);
	assert_int_equal(b.m.state, LS_FULL_FEATURE);
	assert_true(login_fsm_final(&b.m));
	assert_int_equal(b.m.rc, 0);
	assert_string_equal(b.err, "");
	expect_calls(&b, want, N(want));
}

/* A target may skip the operational stage (its NSG=3 from the security stage). */
static void test_security_to_full_feature(void **state)
{
	static const enum login_event ev[] = {EV_START, EV_TRANSIT_FULL_FEATURE};
	static const enum login_action want[] = {LA_OFFER_SECURITY, LA_FINISH};
	struct bench b;

	(void)state;
	bench_init(&b);
	feed(&b, ev, N(ev));
	assert_int_equal(b.m.state, LS_FULL_FEATURE);
	assert_int_equal(b.m.rc, 0);
	expect_calls(&b, want, N(want));
}

static void test_path_chap_one_way(void **state)
{
	static const enum login_event ev[] = {EV_START, EV_AUTH_CHAP, EV_CHAP_CHALLENGE,
					      EV_TRANSIT_OPERATIONAL, EV_TRANSIT_FULL_FEATURE};
	static const enum login_state after[] = {LS_SECURITY, LS_CHAP_ALGORITHM,
						 LS_CHAP_RESPONSE, LS_OPERATIONAL,
						 LS_FULL_FEATURE};
	static const enum login_action want[] = {
		LA_OFFER_SECURITY, LA_OFFER_CHAP_ALGORITHMS, LA_CHAP_RESPOND, LA_CHAP_VERIFY,
		LA_OFFER_OPERATIONAL, LA_FINISH};
	struct bench b;

	(void)state;
	bench_init(&b);
	for (size_t i = 0; i < N(ev); i++) {
		feed(&b, ev + i, 1);
		assert_int_equal(b.m.state, after[i]);
	}
	assert_int_equal(b.m.rc, 0);
	expect_calls(&b, want, N(want));
}

/* Mutual CHAP: the target's CHAP_N/CHAP_R come with its verdict, here with T held back
 * first; they are checked before anything else is sent. */
static void test_path_chap_mutual(void **state)
{
	static const enum login_event ev[] = {EV_START, EV_AUTH_CHAP, EV_CHAP_CHALLENGE,
					      EV_STAY, EV_TRANSIT_OPERATIONAL, EV_STAY,
					      EV_TRANSIT_FULL_FEATURE};
	static const enum login_action want[] = {
		LA_OFFER_SECURITY, LA_OFFER_CHAP_ALGORITHMS, LA_CHAP_RESPOND, LA_CHAP_VERIFY,
		LA_NEXT_ROUND, LA_OFFER_OPERATIONAL, LA_NEXT_ROUND, LA_FINISH};
	struct bench b;

	(void)state;
	bench_init(&b);
	feed(&b, ev, 4);
	assert_int_equal(b.m.state, LS_SECURITY);
	feed(&b, ev + 4, N(ev) - 4);
	assert_int_equal(b.m.state, LS_FULL_FEATURE);
	assert_int_equal(b.m.rc, 0);
	expect_calls(&b, want, N(want));
}

/* Mutual CHAP with a target that cannot prove itself: nothing more is sent. */
static void test_chap_mutual_wrong(void **state)
{
	static const enum login_event ev[] = {EV_START, EV_AUTH_CHAP, EV_CHAP_CHALLENGE,
					      EV_TRANSIT_OPERATIONAL};
	static const enum login_action want[] = {LA_OFFER_SECURITY, LA_OFFER_CHAP_ALGORITHMS,
						 LA_CHAP_RESPOND, LA_CHAP_VERIFY};
	struct bench b;

	(void)state;
	bench_init(&b);
	b.rec.rc[LA_CHAP_VERIFY] = -EACCES;
	feed(&b, ev, N(ev));
	assert_int_equal(b.m.state, LS_FAILED);
	assert_int_equal(b.m.rc, -EACCES);
	assert_non_null(strstr(b.err, "says no"));
	expect_calls(&b, want, N(want));
}

/* A target that holds the transition back (T clear) keeps us in the stage, asking again. */
static void test_transit_held_back(void **state)
{
	static const enum login_event ev[] = {EV_START, EV_STAY, EV_STAY, EV_TRANSIT_OPERATIONAL,
					      EV_STAY, EV_TRANSIT_FULL_FEATURE};
	static const enum login_state after[] = {LS_SECURITY, LS_SECURITY, LS_SECURITY,
						 LS_OPERATIONAL, LS_OPERATIONAL,
						 LS_FULL_FEATURE};
	static const enum login_action want[] = {LA_OFFER_SECURITY, LA_NEXT_ROUND,
						 LA_NEXT_ROUND, LA_OFFER_OPERATIONAL,
						 LA_NEXT_ROUND, LA_FINISH};
	struct bench b;

	(void)state;
	bench_init(&b);
	for (size_t i = 0; i < N(ev); i++) {
		feed(&b, ev + i, 1);
		assert_int_equal(b.m.state, after[i]);
	}
	assert_int_equal(b.m.rc, 0);
	expect_calls(&b, want, N(want));
}

/* Event sequences that reach each state from the start. */
static const struct {
	enum login_state state;
	enum login_event ev[4];
	size_t n;
} reach[] = {
	{LS_INIT, {EV_START}, 0},
	{LS_SECURITY, {EV_START}, 1},
	{LS_CHAP_ALGORITHM, {EV_START, EV_AUTH_CHAP}, 2},
	{LS_CHAP_RESPONSE, {EV_START, EV_AUTH_CHAP, EV_CHAP_CHALLENGE}, 3},
	{LS_OPERATIONAL, {EV_START, EV_TRANSIT_OPERATIONAL}, 2},
	{LS_FULL_FEATURE, {EV_START, EV_TRANSIT_FULL_FEATURE}, 2},
	{LS_REDIRECTED, {EV_START, EV_REDIRECT}, 2},
	{LS_FAILED, {EV_START, EV_REFUSED}, 2},
};

static void bench_at(struct bench *b, enum login_state s)
{
	for (size_t i = 0; i < N(reach); i++) {
		if (reach[i].state != s)
			continue;
		bench_init(b);
		feed(b, reach[i].ev, reach[i].n);
		assert_int_equal(b->m.state, s);
		b->rec.n = 0;
		b->err[0] = '\0';
		return;
	}
	fail_msg("no way to state %s", login_state_name(s));
}

static const enum login_state waiting[] = {LS_SECURITY, LS_CHAP_ALGORITHM, LS_CHAP_RESPONSE,
					   LS_OPERATIONAL};

/* C bit: each waiting state asks for the rest and stays; parts are not exchanges. */
static void test_continue(void **state)
{
	static const enum login_action rest[] = {LA_ASK_REST};
	static const enum login_event finish[] = {EV_TRANSIT_OPERATIONAL,
						  EV_TRANSIT_FULL_FEATURE};
	struct bench b;

	(void)state;
	for (size_t i = 0; i < N(waiting); i++) {
		bench_at(&b, waiting[i]);
		login_fsm_step(&b.m, EV_CONTINUE, 0);
		assert_int_equal(b.m.state, waiting[i]);
		expect_calls(&b, rest, N(rest));
	}
	bench_at(&b, LS_SECURITY);
	for (int i = 0; i < 3 * LOGIN_MAX_EXCHANGES; i++)
		login_fsm_step(&b.m, EV_CONTINUE, 0);
	assert_int_equal(b.m.state, LS_SECURITY);
	feed(&b, finish, N(finish));
	assert_int_equal(b.m.state, LS_FULL_FEATURE);
	assert_int_equal(b.m.rc, 0);
}

static void test_refused_in_each_state(void **state)
{
	static const enum login_action want[] = {LA_REFUSED};
	struct bench b;

	(void)state;
	for (size_t i = 0; i < N(waiting); i++) {
		bench_at(&b, waiting[i]);
		assert_int_equal(login_fsm_step(&b.m, EV_REFUSED, 0), -EACCES);
		assert_int_equal(b.m.state, LS_FAILED);
		assert_true(login_fsm_final(&b.m));
		expect_calls(&b, want, N(want));
	}
}

static void test_redirect_in_each_state(void **state)
{
	static const enum login_action want[] = {LA_REDIRECTED};
	struct bench b;

	(void)state;
	for (size_t i = 0; i < N(waiting); i++) {
		bench_at(&b, waiting[i]);
		assert_int_equal(login_fsm_step(&b.m, EV_REDIRECT, 0), -EAGAIN);
		assert_int_equal(b.m.state, LS_REDIRECTED);
		assert_true(login_fsm_final(&b.m));
		expect_calls(&b, want, N(want));
	}
}

/* A bad response, a timeout or a lost connection ends the login with the event's error. */
static void test_failures_in_each_state(void **state)
{
	static const struct {
		enum login_event ev;
		int rc;
	} fails[] = {
		{EV_BAD_RESPONSE, -EPROTO}, {EV_TIMEOUT, -ETIMEDOUT},
		{EV_TRANSPORT_ERROR, -ECONNRESET}, {EV_BAD_RESPONSE, -EBADMSG},
	};
	static const enum login_action want[] = {LA_FAIL};
	struct bench b;

	(void)state;
	for (size_t i = 0; i < N(waiting); i++)
		for (size_t j = 0; j < N(fails); j++) {
			bench_at(&b, waiting[i]);
			assert_int_equal(login_fsm_step(&b.m, fails[j].ev, fails[j].rc),
					 fails[j].rc);
			assert_int_equal(b.m.state, LS_FAILED);
			assert_int_equal(b.m.rc, fails[j].rc);
			expect_calls(&b, want, N(want));
		}
}

/* CHAP chosen, then the stage left without the exchange finishing. */
static void test_chap_skipped(void **state)
{
	static const struct {
		enum login_state at;
		enum login_event ev;
	} skip[] = {
		{LS_SECURITY, EV_AUTH_CHAP_TRANSIT},
		{LS_CHAP_ALGORITHM, EV_TRANSIT_OPERATIONAL},
		{LS_CHAP_ALGORITHM, EV_TRANSIT_FULL_FEATURE},
	};
	static const enum login_action want[] = {LA_CHAP_UNFINISHED};
	struct bench b;

	(void)state;
	for (size_t i = 0; i < N(skip); i++) {
		bench_at(&b, skip[i].at);
		assert_int_equal(login_fsm_step(&b.m, skip[i].ev, 0), -EACCES);
		assert_int_equal(b.m.state, LS_FAILED);
		expect_calls(&b, want, N(want));
	}
	bench_at(&b, LS_SECURITY);
	assert_int_equal(login_fsm_step(&b.m, EV_AUTH_UNSUPPORTED, 0), -EACCES);
	assert_int_equal(b.m.state, LS_FAILED);
}

/* Every pair without a row, final states included, ends the login as a protocol error with
 * words for it, and runs no action. */
static void test_every_missing_row_fails(void **state)
{
	struct bench b;
	int missing = 0, present = 0;

	(void)state;
	for (int s = 0; s < LS_COUNT; s++)
		for (int e = 0; e < EV_COUNT; e++) {
			const struct login_row *row = login_fsm_row(s, e);

			if (row) {
				assert_int_equal(row->state, s);
				assert_int_equal(row->event, e);
				assert_true(row->label && strchr("0123456789", row->label[0]));
				present++;
				continue;
			}
			missing++;
			bench_at(&b, s);
			assert_int_equal(login_fsm_step(&b.m, e, 0), -EPROTO);
			assert_int_equal(b.m.state, LS_FAILED);
			assert_int_equal(b.m.rc, -EPROTO);
			assert_int_equal(b.rec.n, 0);
			if (strncmp(b.err, "login protocol error: ", 22) != 0)
				fail_msg("%s on %s: \"%s\"", login_state_name(s),
					 login_event_name(e), b.err);
		}
	/* Final states have no rows; each waiting state ends on the same five events. */
	for (int e = 0; e < EV_COUNT; e++) {
		assert_null(login_fsm_row(LS_FULL_FEATURE, e));
		assert_null(login_fsm_row(LS_FAILED, e));
		assert_null(login_fsm_row(LS_REDIRECTED, e));
	}
	for (size_t i = 0; i < N(waiting); i++) {
		assert_non_null(login_fsm_row(waiting[i], EV_REFUSED));
		assert_non_null(login_fsm_row(waiting[i], EV_REDIRECT));
		assert_non_null(login_fsm_row(waiting[i], EV_BAD_RESPONSE));
		assert_non_null(login_fsm_row(waiting[i], EV_TIMEOUT));
		assert_non_null(login_fsm_row(waiting[i], EV_TRANSPORT_ERROR));
		assert_non_null(login_fsm_row(waiting[i], EV_CONTINUE));
	}
	assert_int_equal(missing + present, LS_COUNT * EV_COUNT);
	assert_true(missing > 0 && present > 0);
}

/* Events outside the enum are refused the same way. */
static void test_unknown_event(void **state)
{
	struct bench b;

	(void)state;
	bench_at(&b, LS_OPERATIONAL);
	assert_int_equal(login_fsm_step(&b.m, (enum login_event)EV_COUNT + 3, 0), -EPROTO);
	assert_int_equal(b.m.state, LS_FAILED);
	assert_true(strstr(b.err, "login protocol error") != NULL);
}

/* 32 complete responses at most; the 32nd may still finish the login. */
static void test_exchange_limit(void **state)
{
	static const enum login_event done[] = {EV_TRANSIT_OPERATIONAL, EV_TRANSIT_FULL_FEATURE};
	struct bench b;

	(void)state;
	bench_at(&b, LS_SECURITY);
	for (int i = 0; i < LOGIN_MAX_EXCHANGES - 2; i++)
		feed(&b, (const enum login_event[]){EV_STAY}, 1);
	feed(&b, done, N(done));
	assert_int_equal(b.m.state, LS_FULL_FEATURE);
	assert_int_equal(b.m.rc, 0);

	bench_at(&b, LS_SECURITY);
	for (int i = 0; i < LOGIN_MAX_EXCHANGES - 1; i++)
		feed(&b, (const enum login_event[]){EV_STAY}, 1);
	assert_int_equal(b.m.state, LS_SECURITY);
	b.rec.n = 0;
	assert_int_equal(login_fsm_step(&b.m, EV_STAY, 0), -EPROTO);
	assert_int_equal(b.m.state, LS_FAILED);
	assert_int_equal(b.rec.n, 0); /* no 33rd request */
	assert_string_equal(b.err, "login did not finish within 32 exchanges");
}

/* An action that fails mid-way ends the login with its error; without words of its own,
 * the driver gives some. Rows that end the login need a reason even from silent actions. */
static void test_action_failures(void **state)
{
	struct bench b;

	(void)state;
	bench_at(&b, LS_SECURITY);
	b.rec.rc[LA_OFFER_OPERATIONAL] = -ENOMEM;
	assert_int_equal(login_fsm_step(&b.m, EV_TRANSIT_OPERATIONAL, 0), -ENOMEM);
	assert_int_equal(b.m.state, LS_FAILED);

	bench_at(&b, LS_OPERATIONAL);
	b.rec.rc[LA_FINISH] = -EPROTO;
	assert_int_equal(login_fsm_step(&b.m, EV_TRANSIT_FULL_FEATURE, 0), -EPROTO);
	assert_int_equal(b.m.state, LS_FAILED);

	bench_at(&b, LS_OPERATIONAL);
	b.rec.rc[LA_REFUSED] = 0;
	assert_int_equal(login_fsm_step(&b.m, EV_REFUSED, 0), -EPROTO);
	assert_int_equal(b.m.state, LS_FAILED);
	assert_true(b.err[0] != '\0');

	bench_at(&b, LS_OPERATIONAL);
	b.rec.rc[LA_REDIRECTED] = 0;
	assert_int_equal(login_fsm_step(&b.m, EV_REDIRECT, 0), -EAGAIN);
	assert_int_equal(b.m.state, LS_REDIRECTED);

	/* the first request cannot be sent */
	bench_init(&b);
	b.rec.rc[LA_OFFER_SECURITY] = -EPIPE;
	assert_int_equal(login_fsm_step(&b.m, EV_START, 0), -EPIPE);
	assert_int_equal(b.m.state, LS_FAILED);
}

/* What a complete response means: status first, then C, then the method chosen, then T. */
static void test_event_of(void **state)
{
	static const struct {
		struct login_response r;
		enum login_event want;
	} cases[] = {
		{{.status_class = 1, .transit = 1}, EV_REDIRECT},
		{{.status_class = 2}, EV_REFUSED},
		{{.status_class = 3, .cont = 1}, EV_REFUSED},
		{{.status_class = 9}, EV_REFUSED},
		{{.cont = 1}, EV_CONTINUE},
		{{.cont = 1, .transit = 1, .nsg = 3}, EV_BAD_RESPONSE},
		{{.auth_method = "CHAP"}, EV_AUTH_CHAP},
		{{.auth_method = "CHAP", .transit = 1, .nsg = 1}, EV_AUTH_CHAP_TRANSIT},
		{{.auth_method = "KRB5"}, EV_AUTH_UNSUPPORTED},
		{{.auth_method = "Reject", .transit = 1, .nsg = 1}, EV_AUTH_UNSUPPORTED},
		{{.auth_method = "None", .transit = 1, .nsg = 1}, EV_TRANSIT_OPERATIONAL},
		{{.auth_method = "None"}, EV_STAY},
		{{.transit = 1, .nsg = 1}, EV_TRANSIT_OPERATIONAL},
		{{.transit = 1, .nsg = 3}, EV_TRANSIT_FULL_FEATURE},
		{{.transit = 1, .nsg = 2}, EV_BAD_RESPONSE},
		{{.transit = 1, .nsg = 1, .chap_challenge = 1}, EV_TRANSIT_OPERATIONAL},
		{{.chap_challenge = 1}, EV_CHAP_CHALLENGE},
		{{0}, EV_STAY},
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++)
		if (login_event_of(&cases[i].r) != cases[i].want)
			fail_msg("case %zu: %s, expected %s", i,
				 login_event_name(login_event_of(&cases[i].r)),
				 login_event_name(cases[i].want));
}

static void test_names(void **state)
{
	(void)state;
	for (int s = 0; s < LS_COUNT; s++)
		assert_string_not_equal(login_state_name(s), "?");
	for (int e = 0; e < EV_COUNT; e++)
		assert_string_not_equal(login_event_name(e), "?");
	assert_string_equal(login_state_name(LS_COUNT), "?");
	assert_string_equal(login_event_name(EV_COUNT), "?");
	assert_int_equal(login_state_csg(LS_CHAP_RESPONSE), 0);
	assert_int_equal(login_state_csg(LS_OPERATIONAL), 1);
	assert_int_equal(login_state_csg(LS_FAILED), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_without_chap),
		cmocka_unit_test(test_security_to_full_feature),
		cmocka_unit_test(test_path_chap_one_way),
		cmocka_unit_test(test_path_chap_mutual),
		cmocka_unit_test(test_chap_mutual_wrong),
		cmocka_unit_test(test_transit_held_back),
		cmocka_unit_test(test_continue),
		cmocka_unit_test(test_refused_in_each_state),
		cmocka_unit_test(test_redirect_in_each_state),
		cmocka_unit_test(test_failures_in_each_state),
		cmocka_unit_test(test_chap_skipped),
		cmocka_unit_test(test_every_missing_row_fails),
		cmocka_unit_test(test_unknown_event),
		cmocka_unit_test(test_exchange_limit),
		cmocka_unit_test(test_action_failures),
		cmocka_unit_test(test_event_of),
		cmocka_unit_test(test_names),
	};

	log_init("test_login_fsm", 0, LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
