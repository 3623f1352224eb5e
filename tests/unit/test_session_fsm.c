/* The session (RFC 7143 8.3) and connection (8.1, 8.2) state machines as tables, and driven
 * with events alone (the connection layer, the login and the clock are stub_conn.c's: no
 * socket, no thread): the tables' shape, names and RFC labels; the login; every row of both
 * tables; and every (state, event) pair without a row, which the drivers must refuse with
 * -EPROTO and fail the connection for. Losses and recovery: test_session_recovery.c. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "log.h"
#include "session_fixture.h"

/* ---- The tables ---- */

static void check_names(const struct fsm *m)
{
	for (size_t i = 0; i < m->nstates; i++) {
		assert_non_null(m->states[i]);
		assert_string_not_equal(fsm_state_name(m, (int)i), "?");
	}
	for (size_t i = 0; i < m->nevents; i++) {
		assert_non_null(m->events[i]);
		assert_string_not_equal(fsm_event_name(m, (int)i), "?");
	}
	assert_string_equal(fsm_state_name(m, -1), "?");
	assert_string_equal(fsm_state_name(m, (int)m->nstates), "?");
	assert_string_equal(fsm_event_name(m, (int)m->nevents), "?");
}

static void check_rows(const struct fsm *m)
{
	for (size_t i = 0; i < m->nrows; i++) {
		const struct fsm_row *r = &m->rows[i];

		if (r->state < 0 || (size_t)r->state >= m->nstates || r->event < 0 ||
		    (size_t)r->event >= m->nevents || r->next < 0 || (size_t)r->next >= m->nstates)
			fail_msg("%s row %zu: state %d, event %d or next %d out of range",
				 m->name, i, r->state, r->event, r->next);
		if (!r->label || !r->label[0])
			fail_msg("%s row %zu (%s on %s) has no label", m->name, i,
				 fsm_state_name(m, r->state), fsm_event_name(m, r->event));
		for (size_t j = i + 1; j < m->nrows; j++)
			if (m->rows[j].state == r->state && m->rows[j].event == r->event)
				fail_msg("%s: rows %zu and %zu both for %s on %s", m->name, i, j,
					 fsm_state_name(m, r->state), fsm_event_name(m, r->event));
		assert_ptr_equal(fsm_find(m, r->state, r->event), r);
	}
}

static void test_tables_well_formed(void **state)
{
	(void)state;
	check_names(&session_fsm);
	check_names(&connection_fsm);
	check_rows(&session_fsm);
	check_rows(&connection_fsm);
	assert_int_equal(session_fsm.nstates, SS_NSTATES);
	assert_int_equal(session_fsm.nevents, SE_NEVENTS);
	assert_int_equal(connection_fsm.nstates, CS_NSTATES);
	assert_int_equal(connection_fsm.nevents, CE_NEVENTS);
}

/* Which states the rows lead to from start (forward) or lead from to start (backward). */
static void walk(const struct fsm *m, int start, int backward, int *seen)
{
	int changed = 1;

	memset(seen, 0, m->nstates * sizeof(*seen));
	seen[start] = 1;
	while (changed) {
		changed = 0;
		for (size_t i = 0; i < m->nrows; i++) {
			int from = backward ? m->rows[i].next : m->rows[i].state;
			int to = backward ? m->rows[i].state : m->rows[i].next;

			if (seen[from] && !seen[to])
				seen[to] = changed = 1;
		}
	}
}

static void check_reachable(const struct fsm *m)
{
	int seen[32];

	assert_true(m->nstates <= 32);
	walk(m, 0, 0, seen);
	for (size_t i = 0; i < m->nstates; i++)
		if (!seen[i])
			fail_msg("%s: %s cannot be reached from %s", m->name,
				 fsm_state_name(m, (int)i), fsm_state_name(m, 0));
	walk(m, 0, 1, seen);
	for (size_t i = 0; i < m->nstates; i++)
		if (!seen[i])
			fail_msg("%s: no way from %s back to %s", m->name,
				 fsm_state_name(m, (int)i), fsm_state_name(m, 0));
}

static void test_tables_reachable(void **state)
{
	(void)state;
	assert_int_equal(SS_FREE, 0);
	assert_int_equal(CS_FREE, 0);
	check_reachable(&session_fsm);
	check_reachable(&connection_fsm);
}

/* The RFC 7143 transition names in a label ("T11, T10", "N7, N1, N2", "M3"): how many, and
 * whether each is one of section 8's (T1-T18 for a connection, M1-M4 for its cleanup, N1-N7
 * for an initiator's session). */
static int rfc_names(const char *label, int *bad)
{
	int n = 0;

	*bad = 0;
	for (const char *p = label; *p; p++) {
		long v;
		char *end;

		if ((*p != 'T' && *p != 'M' && *p != 'N') ||
		    (p > label && isalnum((unsigned char)p[-1])) || !isdigit((unsigned char)p[1]))
			continue;
		v = strtol(p + 1, &end, 10);
		if (isalnum((unsigned char)*end))
			continue;
		n++;
		if (v < 1 || (*p == 'T' && v > 18) || (*p == 'M' && v > 4) || (*p == 'N' && v > 7))
			(*bad)++;
	}
	return n;
}

static void test_tables_rfc_labels(void **state)
{
	/* The session states and events RFC 7143's diagrams have (Q1-Q4; logins, losses,
	 * reinstatement); the others are ours (reinstating on purpose, expiry, logout, pause). */
	static const int rfc_state[SS_NSTATES] = {
		[SS_FREE] = 1, [SS_ACTIVE] = 1, [SS_LOGGED_IN] = 1, [SS_FAILED] = 1,
	};
	static const int rfc_event[SE_NEVENTS] = {
		[SE_LOGIN] = 1, [SE_LOGIN_OK] = 1, [SE_LOGIN_FAILED] = 1, [SE_CONN_LOST] = 1,
		[SE_LAST_CONN_LOST] = 1, [SE_REINSTATED] = 1, [SE_TARGET_LOGOUT] = 1,
	};
	int named = 0, ours = 0, bad;

	(void)state;
	int reassign = 0;

	for (size_t i = 0; i < connection_fsm.nrows; i++) {
		const struct fsm_row *r = &connection_fsm.rows[i];

		/* After M3 the RFC's connection is FREE (R3); waiting to reassign its tasks and
		 * reassigning them (7.2.2) are states of ours inside R3, named by section. */
		if ((r->state == CS_REASSIGN_WAIT || r->state == CS_REASSIGNING) &&
		    rfc_names(r->label, &bad) == 0 && !bad) {
			if (!strstr(r->label, "7.2.2") && !strstr(r->label, "Time2Retain"))
				fail_msg("connection row %s on %s: \"%s\" names neither RFC 7143 "
					 "7.2.2 nor Time2Retain",
					 fsm_state_name(&connection_fsm, r->state),
					 fsm_event_name(&connection_fsm, r->event), r->label);
			reassign++;
			continue;
		}
		if (rfc_names(r->label, &bad) == 0 || bad)
			fail_msg("connection row %s on %s: \"%s\" names no transition of RFC 7143 "
				 "8.1/8.2", fsm_state_name(&connection_fsm, r->state),
				 fsm_event_name(&connection_fsm, r->event), r->label);
	}
	for (size_t i = 0; i < session_fsm.nrows; i++) {
		const struct fsm_row *r = &session_fsm.rows[i];
		int n = rfc_names(r->label, &bad);

		if (bad)
			fail_msg("session row %s on %s: \"%s\" names a transition RFC 7143 8 lacks",
				 fsm_state_name(&session_fsm, r->state),
				 fsm_event_name(&session_fsm, r->event), r->label);
		if (n) {
			named++;
			continue;
		}
		if (rfc_state[r->state] && rfc_state[r->next] && rfc_event[r->event])
			fail_msg("session row %s on %s -> %s is the RFC's own but \"%s\" names "
				 "none of its transitions", fsm_state_name(&session_fsm, r->state),
				 fsm_event_name(&session_fsm, r->event),
				 fsm_state_name(&session_fsm, r->next), r->label);
		ours++;
	}
	print_message("connection: %zu rows, each named as in RFC 7143 8.1/8.2 but %d of task "
		      "reassignment (7.2.2); session: %zu rows, %d named as in 8.3 or 8.1, %d of "
		      "states or events of ours\n",
		      connection_fsm.nrows, reassign, session_fsm.nrows, named, ours);
}

/* ---- Login ---- */

static void test_login(void **state)
{
	struct fx *f = fx_new(2, REPLACEMENT, 0);
	struct scsi_task *a, *b;

	(void)state;
	assert_false(may_wait(&f->s));
	log_in(f);
	assert_true(can_send(&f->s));
	for (int i = 0; i < 2; i++) {
		assert_int_equal(sc_of(f, i)->retry.attempts, 0);
		assert_int_equal(sc_of(f, i)->retry.next, 0);
	}
	/* Commands go on the least busy connection. */
	a = submit(f);
	b = submit(f);
	assert_int_equal(a->tstate, TASK_SENT);
	assert_int_equal(b->tstate, TASK_SENT);
	assert_ptr_not_equal(a->sc, b->sc);
	assert_int_equal(stub_chains_on(&f->conns[0]), 1);
	assert_int_equal(stub_chains_on(&f->conns[1]), 1);
	assert_int_equal(chain_opcode(&stub_chains[0]), OP_SCSI_CMD);
	assert_int_equal(f->ndone, 0);
	fx_free(f);
}

static void test_login_failed(void **state)
{
	struct fx *f = fx_new(1, REPLACEMENT, 0);
	struct scsi_task *t;

	(void)state;
	assert_int_equal(sev(f, SE_LOGIN, NULL), 0);
	assert_int_equal(cev(f, 0, CE_LOGIN), 0);
	stub_now = 5000;
	assert_int_equal(cev(f, 0, CE_LOGIN_FAILED), 0);
	assert_int_equal(sc_of(f, 0)->state, CS_FREE);
	assert_int_equal(sev(f, SE_LOGIN_FAILED, NULL), 0);
	assert_int_equal(f->s.state, SS_FREE); /* N4 */
	assert_int_equal(f->s.nup, 0);
	/* Not logged in: I/O fails at once. */
	t = submit(f);
	assert_true(was_done(f, t));
	assert_int_equal(t->result, -EIO);
	assert_int_equal(stub_nchains, 0);
	fx_free(f);
}

/* One backoff policy: DefaultTime2Wait, plus 1, 2, 4... seconds, up to 30 for a connection;
 * a login that works starts it over. */
static void test_login_backoff(void **state)
{
	static const int extra[] = {1, 2, 4, 8, 16, 30, 30, 30};
	struct fx *f = fx_new(2, REPLACEMENT, 0);
	struct sconn *sc;

	(void)state;
	assert_int_equal(sev(f, SE_LOGIN, NULL), 0);
	attach(f, 0, &f->conns[0]);
	assert_int_equal(cev(f, 0, CE_LOGIN), 0);
	assert_int_equal(cev(f, 0, CE_LOGIN_OK), 0);
	assert_int_equal(sev(f, SE_LOGIN_OK, NULL), 0);
	sc = sc_of(f, 1);
	for (int k = 0; k < (int)(sizeof(extra) / sizeof(extra[0])); k++) {
		stub_now = 2000 + 100 * k;
		assert_int_equal(cev(f, 1, CE_LOGIN), 0);
		assert_int_equal(cev(f, 1, CE_LOGIN_FAILED), 0); /* T7 */
		assert_int_equal(sc->state, CS_FREE);
		assert_int_equal(sc->retry.attempts, k + 1);
		assert_int_equal(sc->retry.next, stub_now + TIME2WAIT + extra[k]);
		assert_int_equal(f->s.state, SS_LOGGED_IN);
		assert_int_equal(f->s.nup, 1);
	}
	join(f, 1, &f->conns[1]);
	assert_int_equal(sc->retry.attempts, 0);
	assert_int_equal(f->s.nup, 2);
	fx_free(f);
}

/* add_conn with the login stubbed: the connection joins, its login fails, or the session
 * moves on while the login runs. */
static struct fx *login_fx;
static int login_moves_session_on;

static int login_works(const struct login_params *lp, struct conn **out, struct login_result *res,
		       char *err, size_t errlen)
{
	struct session *s = &login_fx->s;

	(void)err, (void)errlen;
	assert_int_equal(lp->tsih, s->tsih); /* joins the session, not a new one */
	assert_int_equal(lp->cid, 1);
	if (login_moves_session_on) {
		struct scsi_task *done_list = NULL;

		/* retire_all while this login ran (a pause, a reinstatement). */
		pthread_mutex_lock(&s->lock);
		conn_event(&s->sc[1], CE_SESSION_DOWN, &done_list);
		pthread_mutex_unlock(&s->lock);
	}
	memset(res, 0, sizeof(*res));
	res->params = s->params;
	res->tsih = s->tsih;
	res->exp_stat_sn = 500;
	res->exp_cmd_sn = s->exp_cmd_sn;
	res->max_cmd_sn = s->max_cmd_sn + 8;
	*out = &login_fx->conns[1];
	return 0;
}

static void add_conn_locked(struct fx *f, int i)
{
	pthread_mutex_lock(&f->s.lock);
	assert_int_equal(cev(f, i, CE_LOGIN), 0);
	add_conn(&f->s, sc_of(f, i));
	pthread_mutex_unlock(&f->s.lock);
}

static void test_add_conn(void **state)
{
	struct fx *f = fx_new(2, REPLACEMENT, 0);
	struct sconn *sc = sc_of(f, 1);

	(void)state;
	assert_int_equal(sev(f, SE_LOGIN, NULL), 0);
	attach(f, 0, &f->conns[0]);
	assert_int_equal(cev(f, 0, CE_LOGIN), 0);
	assert_int_equal(cev(f, 0, CE_LOGIN_OK), 0);
	assert_int_equal(sev(f, SE_LOGIN_OK, NULL), 0);
	login_fx = f;

	/* Refused: T7, and the backoff. */
	stub_login = NULL;
	add_conn_locked(f, 1);
	assert_int_equal(sc->state, CS_FREE);
	assert_int_equal(sc->retry.attempts, 1);
	assert_string_equal(sc->reason, "connection refused");
	assert_null(sc->conn);

	/* The session moved on meanwhile: what the login brought is dropped. */
	stub_login = login_works;
	login_moves_session_on = 1;
	add_conn_locked(f, 1);
	assert_int_equal(sc->state, CS_FREE);
	assert_null(sc->conn);
	assert_int_equal(f->conns[1].freed, 1);
	assert_int_equal(f->conns[1].started, 0);
	assert_int_equal(sc->retry.attempts, 1); /* a stale result counts for nothing */
	assert_int_equal(f->s.nup, 1);

	/* It works: T5. */
	login_moves_session_on = 0;
	add_conn_locked(f, 1);
	assert_int_equal(sc->state, CS_LOGGED_IN);
	assert_ptr_equal(sc->conn, &f->conns[1]);
	assert_int_equal(f->conns[1].started, 1);
	assert_int_equal(sc->exp_stat_sn, 500);
	assert_int_equal(sc->retry.attempts, 0);
	assert_int_equal(f->s.nup, 2);
	assert_int_equal(f->s.max_cmd_sn, 72);
	fx_free(f);
}

/* T7 for a login the session no longer wants: the slot goes FREE whatever it brought. */
static void test_session_down_during_login(void **state)
{
	struct fx *f = fx_new(2, REPLACEMENT, 0);
	struct sconn *sc = sc_of(f, 1);

	(void)state;
	assert_int_equal(sev(f, SE_LOGIN, NULL), 0);
	attach(f, 0, &f->conns[0]);
	assert_int_equal(cev(f, 0, CE_LOGIN), 0);
	assert_int_equal(cev(f, 0, CE_LOGIN_OK), 0);
	assert_int_equal(sev(f, SE_LOGIN_OK, NULL), 0);

	assert_int_equal(cev(f, 1, CE_LOGIN), 0);
	assert_int_equal(cev(f, 1, CE_SESSION_DOWN), 0);
	assert_int_equal(sc->state, CS_IN_LOGIN_STALE);
	assert_int_equal(cev(f, 1, CE_SESSION_DOWN), 0);
	assert_int_equal(sc->state, CS_IN_LOGIN_STALE);
	assert_int_equal(cev(f, 1, CE_LOGIN_OK), 0);
	assert_int_equal(sc->state, CS_FREE);
	assert_int_equal(f->s.nup, 1);

	assert_int_equal(cev(f, 1, CE_LOGIN), 0);
	assert_int_equal(cev(f, 1, CE_SESSION_DOWN), 0);
	assert_int_equal(cev(f, 1, CE_LOGIN_FAILED), 0);
	assert_int_equal(sc->state, CS_FREE);
	assert_int_equal(sc->retry.attempts, 0); /* no backoff for a login nobody wanted */
	assert_int_equal(f->conns[0].aborts, 0);
	fx_free(f);
}

/* ---- Every row, and every pair without one ---- */

/* Each session row from its state, caused by a logged-in connection: the driver answers 0
 * and lands on the row's next state (no row chains another here: replacement_timeout is
 * not 0). */
static void test_every_session_row(void **state)
{
	(void)state;
	for (size_t i = 0; i < session_fsm.nrows; i++) {
		const struct fsm_row *r = &session_fsm.rows[i];
		struct fx *f = fx_new(1, REPLACEMENT, 0);

		attach(f, 0, &f->conns[0]);
		f->s.sc[0].state = CS_LOGGED_IN;
		f->s.nup = 1;
		f->s.state = (enum sess_state)r->state;
		if (sev(f, (enum sess_event)r->event, sc_of(f, 0)) != 0 ||
		    (int)f->s.state != r->next)
			fail_msg("session row %s on %s (%s): ended in %s",
				 fsm_state_name(&session_fsm, r->state),
				 fsm_event_name(&session_fsm, r->event), r->label,
				 fsm_state_name(&session_fsm, (int)f->s.state));
		fx_free(f);
	}
}

static void test_every_connection_row(void **state)
{
	(void)state;
	for (size_t i = 0; i < connection_fsm.nrows; i++) {
		const struct fsm_row *r = &connection_fsm.rows[i];
		struct fx *f = fx_new(2, REPLACEMENT, 0);

		f->s.state = SS_LOGGED_IN;
		attach(f, 0, &f->conns[0]);
		f->s.sc[0].state = CS_LOGGED_IN;
		attach(f, 1, &f->conns[1]);
		f->s.sc[1].state = (enum conn_state)r->state;
		f->s.nup = 1 + (r->state == CS_LOGGED_IN);
		if (cev(f, 1, (enum conn_event)r->event) != 0 || (int)f->s.sc[1].state != r->next)
			fail_msg("connection row %s on %s (%s): ended in %s",
				 fsm_state_name(&connection_fsm, r->state),
				 fsm_event_name(&connection_fsm, r->event), r->label,
				 fsm_state_name(&connection_fsm, (int)f->s.sc[1].state));
		assert_int_equal(f->s.nup, 1 + (r->next == CS_LOGGED_IN));
		fx_free(f);
	}
}

/* Every (state, event) the session table lacks: refused, nothing changed, and the connection
 * that caused it failed; without one, refused all the same. */
static void test_session_surprises(void **state)
{
	int pairs = 0;

	(void)state;
	for (int st = 0; st < SS_NSTATES; st++)
		for (int ev = 0; ev < SE_NEVENTS; ev++) {
			struct fx *f;

			if (fsm_find(&session_fsm, st, ev))
				continue;
			pairs++;
			f = fx_new(1, REPLACEMENT, 0);
			attach(f, 0, &f->conns[0]);
			f->s.sc[0].state = CS_LOGGED_IN;
			f->s.nup = 1;
			f->s.state = (enum sess_state)st;
			if (sev(f, (enum sess_event)ev, sc_of(f, 0)) != -EPROTO ||
			    (int)f->s.state != st || f->conns[0].aborts != 1)
				fail_msg("session %s on %s: not refused as it should be",
					 fsm_state_name(&session_fsm, st),
					 fsm_event_name(&session_fsm, ev));
			assert_string_equal(f->conns[0].abort_reason,
					    "unexpected in the session's state");
			assert_int_equal(f->s.sc[0].state, CS_LOGGED_IN);
			assert_int_equal(f->s.retry.next, 0);
			assert_int_equal(stub_nchains, 0);
			assert_int_equal(sev(f, (enum sess_event)ev, NULL), -EPROTO);
			assert_int_equal(f->conns[0].aborts, 1);
			assert_int_equal((int)f->s.state, st);
			fx_free(f);
		}
	assert_int_equal(pairs, SS_NSTATES * SE_NEVENTS - (int)session_fsm.nrows);
	print_message("session: %d of %d (state, event) pairs without a row, each refused and its "
		      "connection failed\n", pairs, SS_NSTATES * SE_NEVENTS);
}

static void test_connection_surprises(void **state)
{
	int pairs = 0;

	(void)state;
	for (int st = 0; st < CS_NSTATES; st++)
		for (int ev = 0; ev < CE_NEVENTS; ev++) {
			struct fx *f;
			int nup = 1 + (st == CS_LOGGED_IN);

			if (fsm_find(&connection_fsm, st, ev))
				continue;
			pairs++;
			f = fx_new(2, REPLACEMENT, 0);
			f->s.state = SS_LOGGED_IN;
			attach(f, 0, &f->conns[0]);
			f->s.sc[0].state = CS_LOGGED_IN;
			attach(f, 1, &f->conns[1]);
			f->s.sc[1].state = (enum conn_state)st;
			f->s.sc[1].retry.next = 1234;
			f->s.nup = nup;
			if (cev(f, 1, (enum conn_event)ev) != -EPROTO ||
			    (int)f->s.sc[1].state != st || f->conns[1].aborts != 1)
				fail_msg("connection %s on %s: not refused as it should be",
					 fsm_state_name(&connection_fsm, st),
					 fsm_event_name(&connection_fsm, ev));
			assert_string_equal(f->conns[1].abort_reason,
					    "unexpected in the connection's state");
			assert_int_equal(f->conns[0].aborts, 0);
			assert_int_equal(f->s.nup, nup);
			assert_int_equal(f->s.state, SS_LOGGED_IN);
			assert_int_equal(f->s.sc[1].retry.next, 1234);
			assert_int_equal(stub_nchains, 0);
			f->s.sc[1].conn = NULL;
			assert_int_equal(cev(f, 1, (enum conn_event)ev), -EPROTO);
			assert_int_equal(f->conns[1].aborts, 1);
			assert_int_equal((int)f->s.sc[1].state, st);
			fx_free(f);
		}
	assert_int_equal(pairs, CS_NSTATES * CE_NEVENTS - (int)connection_fsm.nrows);
	print_message("connection: %d of %d (state, event) pairs without a row, each refused and "
		      "the connection failed\n", pairs, CS_NSTATES * CE_NEVENTS);
}

/* ISCSIFS_TEST_LOG=debug shows every transition. */
static void set_log_level(void)
{
	const char *level = getenv("ISCSIFS_TEST_LOG");
	enum log_level lvl = LOG_LVL_ERROR;

	if (level && log_level_parse(level, &lvl) < 0)
		lvl = LOG_LVL_ERROR;
	log_init("test_session_fsm", 0, lvl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables_well_formed),
		cmocka_unit_test(test_tables_reachable),
		cmocka_unit_test(test_tables_rfc_labels),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_login_failed),
		cmocka_unit_test(test_login_backoff),
		cmocka_unit_test(test_add_conn),
		cmocka_unit_test(test_session_down_during_login),
		cmocka_unit_test(test_every_session_row),
		cmocka_unit_test(test_every_connection_row),
		cmocka_unit_test(test_session_surprises),
		cmocka_unit_test(test_connection_surprises),
	};

	set_log_level();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
