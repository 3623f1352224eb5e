/* The session's losses and their recovery, driven with events alone through the state
 * machines' drivers and the entry points the daemon's threads use (on_failed, rx_end,
 * retire_all), the connection layer stubbed (stub_conn.c): ErrorRecoveryLevel 0 session
 * failure, replacement_timeout, MC/S cleanup (RFC 7143 8.2), the target's logout request
 * (AsyncEvent 1), reinstatement (6.3.5), logout and pause. */
#define _POSIX_C_SOURCE 200809L
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

/* ---- Losses ---- */

/* ErrorRecoveryLevel 0, one connection: its loss is the session's failure (N5). The tasks
 * stay for the reinstatement, but one that had timed out (an abort out for it) ends now. */
static void test_loss_fails_session(void **state)
{
	struct fx *f = fx_new(1, REPLACEMENT, 0);
	struct scsi_task *a, *b, *c, *late;

	(void)state;
	log_in(f);
	a = submit(f);
	b = submit(f);
	c = submit(f);
	c->tstate = TASK_ABORTING;
	f->s.notice_wait = 7; /* AsyncEvent 3: the target asked for 7 s */
	stub_now = 2000;
	lose(f, 0, "connection reset by peer");
	assert_int_equal(sc_of(f, 0)->state, CS_CLEANUP_WAIT); /* T15 */
	assert_int_equal(f->s.state, SS_FAILED);                 /* N5 */
	assert_int_equal(f->s.nup, 0);
	assert_string_equal(f->s.lost_reason, "connection reset by peer");
	assert_string_equal(sc_of(f, 0)->reason, "connection reset by peer");
	assert_int_equal(f->s.fail_time, 2000);
	assert_int_equal(f->s.retry.attempts, 0);
	assert_int_equal(f->s.retry.next, 2000 + 7);
	assert_int_equal(f->s.notice_wait, 0); /* used once */
	assert_int_equal(f->ndone, 1);
	assert_ptr_equal(f->done[0], c);
	assert_int_equal(c->result, -EIO);
	assert_false(was_done(f, a));
	assert_false(was_done(f, b));
	assert_int_equal(f->conns[0].aborts, 0);
	/* New I/O waits for the reinstatement. */
	assert_true(may_wait(&f->s));
	assert_false(can_send(&f->s));
	late = submit(f);
	assert_int_equal(late->tstate, TASK_QUEUED);
	assert_int_equal(f->ndone, 1);
	assert_int_equal(stub_chains_on(&f->conns[0]), 3);
	fx_free(f);
}

/* replacement_timeout 0: nothing waits; the loss expires the session at once. */
static void test_loss_without_replacement_time(void **state)
{
	struct fx *f = fx_new(1, 0, 0);
	struct scsi_task *a, *b, *late;

	(void)state;
	log_in(f);
	a = submit(f);
	b = submit(f);
	lose(f, 0, "connection reset by peer");
	assert_int_equal(f->s.state, SS_EXPIRED);
	assert_int_equal(f->ndone, 2);
	assert_int_equal(a->result, -EIO);
	assert_int_equal(b->result, -EIO);
	late = submit(f);
	assert_true(was_done(f, late));
	assert_int_equal(late->result, -EIO);
	fx_free(f);
}

/* A multipath member gives what it had back at once, for another path to take. */
static void test_loss_fast_fail(void **state)
{
	struct fx *f = fx_new(1, REPLACEMENT, 1);
	struct scsi_task *a, *late;

	(void)state;
	log_in(f);
	a = submit(f);
	lose(f, 0, "connection reset by peer");
	assert_int_equal(f->s.state, SS_FAILED);
	assert_true(was_done(f, a));
	assert_int_equal(a->result, -ENOTCONN);
	assert_false(may_wait(&f->s));
	late = submit(f);
	assert_true(was_done(f, late));
	assert_int_equal(late->result, -ENOTCONN);
	fx_free(f);
}

static void test_replacement_timeout(void **state)
{
	struct fx *f = fx_new(1, REPLACEMENT, 0);
	struct scsi_task *a, *late;

	(void)state;
	log_in(f);
	a = submit(f);
	lose(f, 0, "connection reset by peer");
	assert_int_equal(f->ndone, 0);
	stub_now += REPLACEMENT;
	assert_int_equal(sev(f, SE_REPLACEMENT_TIMEOUT, NULL), 0);
	assert_int_equal(f->s.state, SS_EXPIRED);
	assert_true(was_done(f, a));
	assert_int_equal(a->result, -EIO);
	late = submit(f);
	assert_int_equal(late->result, -EIO);
	/* A loss reported late changes nothing (T15). */
	assert_int_equal(sev(f, SE_LAST_CONN_LOST, NULL), 0);
	assert_int_equal(f->s.state, SS_EXPIRED);
	fx_free(f);
}

/* MC/S: one connection of two lost: the other carries on (T15); its tasks wait for the target
 * to let go of them (DefaultTime2Wait, then a Logout for its CID on the other: M2), then go
 * on the other connection (M3): retried with their tag and CmdSN where the target had not
 * acknowledged them, started anew where it had. */
static void test_loss_and_cleanup(void **state)
{
	struct fx *f = fx_new(2, REPLACEMENT, 0);
	struct scsi_task *on1[NTASKS];
	int n1 = 0, acked = -1;
	uint32_t old_itt[NTASKS], old_cmd_sn[NTASKS];
	struct sconn *sc1 = sc_of(f, 1);
	const struct stub_chain *lo;

	(void)state;
	log_in(f);
	for (int i = 0; i < 4; i++) {
		struct scsi_task *t = submit(f);

		if (t->sc == sc1) {
			old_itt[n1] = t->itt;
			old_cmd_sn[n1] = t->cmd_sn;
			on1[n1++] = t;
		}
	}
	assert_int_equal(n1, 2);
	/* The target has acknowledged the first of them (ExpCmdSN past it). */
	pthread_mutex_lock(&f->s.lock);
	update_window(&f->s, on1[0]->cmd_sn + 1, f->s.max_cmd_sn);
	pthread_mutex_unlock(&f->s.lock);
	acked = 0;

	stub_now = 3000;
	lose(f, 1, "no answer to a NOP-Out");
	assert_int_equal(sc1->state, CS_CLEANUP_WAIT);
	assert_int_equal(f->s.state, SS_LOGGED_IN);
	assert_int_equal(f->s.nup, 1);
	assert_int_equal(sc1->retry.next, 3000 + TIME2WAIT);
	assert_int_equal(f->ndone, 0);
	assert_ptr_equal(on1[0]->sc, sc1);

	/* What the timer does once DefaultTime2Wait is over. */
	stub_now = 3000 + TIME2WAIT;
	pthread_mutex_lock(&f->s.lock);
	retire_conn(&f->s, sc1);
	assert_int_equal(start_cleanup(&f->s, sc1, pick_conn(&f->s), 1), 0);
	pthread_mutex_unlock(&f->s.lock);
	assert_int_equal(f->conns[1].stopped, 1);
	assert_int_equal(f->conns[1].freed, 1);
	lo = stub_last_chain(&f->conns[0]);
	assert_int_equal(chain_opcode(lo), OP_LOGOUT_REQ);
	assert_int_equal(logout_reason(lo), 1); /* close the connection */
	assert_int_equal(logout_cid(lo), 1);
	assert_int_equal(chain_itt(lo), CLEANUP_TAG(1));
	assert_int_equal(cev(f, 1, CE_CLEANUP), 0); /* M2 */
	assert_int_equal(sc1->state, CS_IN_CLEANUP);

	assert_int_equal(rx_logout_rsp(f, 0, CLEANUP_TAG(1), 0), 0);
	stub_write_all();
	assert_int_equal(sc1->state, CS_FREE); /* M3 */
	assert_int_equal(sc1->active, 0);
	assert_int_equal(sc1->retry.next, stub_now + 1);
	assert_int_equal(f->ndone, 0);
	for (int i = 0; i < n1; i++) {
		assert_ptr_equal(on1[i]->sc, sc_of(f, 0));
		assert_int_equal(on1[i]->tstate, TASK_SENT);
		if (i == acked) {
			assert_int_not_equal(on1[i]->itt, old_itt[i]);
			assert_int_not_equal(on1[i]->cmd_sn, old_cmd_sn[i]);
		} else {
			assert_int_equal(on1[i]->itt, old_itt[i]);
			assert_int_equal(on1[i]->cmd_sn, old_cmd_sn[i]);
		}
	}
	assert_int_equal(sc_of(f, 0)->active, 4);
	fx_free(f);
}

/* M1: nothing of ours left on the lost connection: the next login with its CID ends it. */
static void test_loss_nothing_to_clean(void **state)
{
	struct fx *f = fx_new(2, REPLACEMENT, 0);

	(void)state;
	log_in(f);
	lose(f, 1, "connection reset by peer");
	stub_now = 4000;
	assert_int_equal(cev(f, 1, CE_NOTHING_TO_CLEAN), 0);
	assert_int_equal(sc_of(f, 1)->state, CS_FREE);
	assert_int_equal(sc_of(f, 1)->retry.next, 4000);
	assert_int_equal(f->s.state, SS_LOGGED_IN);
	fx_free(f);
}

/* M4: the target cannot close the lost connection: the session is reinstated, every
 * connection dropped; the first loss after that fails the session even with others up. */
static void test_cleanup_failed(void **state)
{
	struct fx *f = fx_new(2, REPLACEMENT, 0);
	struct scsi_task *a, *b;

	(void)state;
	log_in(f);
	a = submit(f);
	b = submit(f);
	lose(f, 1, "connection reset by peer");
	pthread_mutex_lock(&f->s.lock);
	retire_conn(&f->s, sc_of(f, 1));
	assert_int_equal(start_cleanup(&f->s, sc_of(f, 1), sc_of(f, 0), 1), 0);
	pthread_mutex_unlock(&f->s.lock);
	assert_int_equal(cev(f, 1, CE_CLEANUP), 0);
	assert_int_equal(rx_logout_rsp(f, 0, CLEANUP_TAG(1), 2), 0); /* cleanup failed */
	assert_int_equal(sc_of(f, 1)->state, CS_IN_CLEANUP);
	assert_int_equal(f->s.state, SS_DROPPING);
	assert_int_equal(f->conns[0].aborts, 1);
	assert_string_equal(f->conns[0].abort_reason,
			    "the target could not close connection 1; reinstating the session");
	assert_string_equal(f->s.lost_reason, f->conns[0].abort_reason);
	assert_true(can_send(&f->s));
	lose(f, 0, f->conns[0].abort_reason);
	assert_int_equal(f->s.state, SS_FAILED);
	assert_int_equal(f->ndone, 0);
	assert_false(was_done(f, a) || was_done(f, b));
	fx_free(f);
}

/* A task management failure (or any reason to reinstate): every connection up is dropped;
 * the first loss fails the session (N5), the later ones change nothing (T15). */
static void test_drop_all(void **state)
{
	struct fx *f = fx_new(3, REPLACEMENT, 0);
	struct scsi_task *done_list = NULL;

	(void)state;
	log_in(f);
	lose(f, 2, "connection reset by peer"); /* CLEANUP_WAIT: nothing to drop there */
	submit(f);
	pthread_mutex_lock(&f->s.lock);
	drop_all(&f->s, "no answer to LOGICAL UNIT RESET", &done_list);
	pthread_mutex_unlock(&f->s.lock);
	assert_null(done_list);
	assert_int_equal(f->s.state, SS_DROPPING);
	assert_int_equal(f->conns[0].aborts, 1);
	assert_int_equal(f->conns[1].aborts, 1);
	assert_int_equal(f->conns[2].aborts, 0);
	assert_string_equal(f->conns[1].abort_reason, "no answer to LOGICAL UNIT RESET");
	/* Asked again, it drops them again: the loop reports each loss once. */
	assert_int_equal(sev(f, SE_DROP_ALL, NULL), 0);
	assert_int_equal(f->conns[0].aborts, 2);
	lose(f, 0, "no answer to LOGICAL UNIT RESET");
	assert_int_equal(f->s.state, SS_FAILED);
	assert_int_equal(f->s.nup, 1);
	lose(f, 1, "no answer to LOGICAL UNIT RESET");
	assert_int_equal(f->s.state, SS_FAILED);
	assert_int_equal(f->s.nup, 0);
	assert_int_equal(f->ndone, 0);
	fx_free(f);
}

/* ---- The target asks for a logout (AsyncEvent 1) ---- */

/* Alone: the session logs out (T11, T10) and, the connection closed, logs in again (T13, N5),
 * the tasks kept. */
static void test_target_logout_session(void **state)
{
	struct fx *f = fx_new(1, REPLACEMENT, 0);
	const struct stub_chain *lo;
	struct scsi_task *a;

	(void)state;
	log_in(f);
	a = submit(f);
	assert_int_equal(rx_async(f, 0, 1), 0);
	assert_int_equal(f->s.state, SS_TARGET_LOGOUT);
	lo = stub_last_chain(&f->conns[0]);
	assert_int_equal(chain_opcode(lo), OP_LOGOUT_REQ);
	assert_int_equal(logout_reason(lo), 0); /* close the session */
	assert_int_equal(chain_itt(lo), LOGOUT_TAG);
	/* Asked again meanwhile: one Logout is enough. */
	assert_int_equal(rx_async(f, 0, 1), 0);
	assert_int_equal(stub_chains_on(&f->conns[0]), 2);
	/* Answered: the connection is dropped, and the session logs in again. */
	assert_int_equal(rx_logout_rsp(f, 0, LOGOUT_TAG, 0), -ECONNRESET);
	stub_now = 6000;
	lose(f, 0, "logged out at the target's request");
	assert_int_equal(sc_of(f, 0)->state, CS_CLEANUP_WAIT);
	assert_int_equal(f->s.state, SS_FAILED);
	assert_int_equal(f->s.retry.next, 6000 + TIME2WAIT);
	assert_false(was_done(f, a));
	assert_true(may_wait(&f->s));
	fx_free(f);
}

/* One of several: that connection alone logs out (reason 1, on itself) and comes back; its
 * tasks go on the other (T11, T10, T13). */
static void test_target_logout_connection(void **state)
{
	struct fx *f = fx_new(2, REPLACEMENT, 0);
	struct sconn *sc1 = sc_of(f, 1);
	const struct stub_chain *lo;
	struct scsi_task *t;

	(void)state;
	log_in(f);
	submit(f);
	t = submit(f);
	if (t->sc != sc1)
		t = &f->tasks[0];
	assert_ptr_equal(t->sc, sc1);
	stub_now = 7000;
	assert_int_equal(rx_async(f, 1, 1), 0);
	assert_int_equal(sc1->state, CS_IN_LOGOUT);
	assert_int_equal(f->s.state, SS_LOGGED_IN);
	assert_int_equal(f->s.nup, 1);
	assert_string_equal(sc1->reason, "logged out at the target's request");
	lo = stub_last_chain(&f->conns[1]);
	assert_int_equal(chain_opcode(lo), OP_LOGOUT_REQ);
	assert_int_equal(logout_reason(lo), 1);
	assert_int_equal(logout_cid(lo), 1);
	assert_int_equal(chain_itt(lo), CLEANUP_TAG(1));
	assert_int_equal(sc1->cleanup_deadline, 7000 + 2 * LOGOUT_WAIT_S);
	assert_int_equal(rx_logout_rsp(f, 1, CLEANUP_TAG(1), 0), 0);
	stub_write_all();
	assert_int_equal(sc1->state, CS_FREE);
	assert_ptr_equal(t->sc, sc_of(f, 0));
	assert_int_equal(t->tstate, TASK_SENT);
	assert_int_equal(f->ndone, 0);
	/* Logged out, the target closes it before the timer retires it: no surprise. */
	lose(f, 1, "connection closed by the target");
	assert_int_equal(sc1->state, CS_FREE);
	assert_int_equal(f->conns[1].aborts, 0);
	assert_int_equal(f->s.state, SS_LOGGED_IN);
	assert_int_equal(f->s.nup, 1);
	fx_free(f);
}

/* Closed by the target before its Logout Response came: the deadline decides (T17 waits). */
static void test_target_logout_connection_closed(void **state)
{
	struct fx *f = fx_new(2, REPLACEMENT, 0);

	(void)state;
	log_in(f);
	assert_int_equal(rx_async(f, 1, 1), 0);
	lose(f, 1, "connection closed by the target");
	assert_int_equal(sc_of(f, 1)->state, CS_IN_LOGOUT);
	assert_int_equal(f->s.state, SS_LOGGED_IN);
	assert_int_equal(f->s.nup, 1);
	assert_int_equal(f->conns[1].aborts, 0);
	fx_free(f);
}

/* T17: the target could not log the connection out: the session is reinstated. */
static void test_target_logout_connection_failed(void **state)
{
	struct fx *f = fx_new(2, REPLACEMENT, 0);

	(void)state;
	log_in(f);
	assert_int_equal(rx_async(f, 1, 1), 0);
	assert_int_equal(rx_logout_rsp(f, 1, CLEANUP_TAG(1), 2), 0);
	assert_int_equal(sc_of(f, 1)->state, CS_IN_LOGOUT);
	assert_int_equal(f->s.state, SS_DROPPING);
	assert_int_equal(f->conns[0].aborts, 1);
	assert_int_equal(f->conns[1].aborts, 1);
	fx_free(f);
}

/* The Logout the target asked for cannot be queued: that connection is failed. */
static void test_target_logout_unsendable(void **state)
{
	struct fx *f = fx_new(2, REPLACEMENT, 0);

	(void)state;
	log_in(f);
	f->conns[1].queue_fails = 1;
	assert_int_equal(rx_async(f, 1, 1), 0);
	assert_int_equal(sc_of(f, 1)->state, CS_IN_LOGOUT);
	assert_int_equal(f->conns[1].aborts, 1);
	assert_string_equal(f->conns[1].abort_reason,
			    "cannot send the Logout the target asked for");
	assert_int_equal(f->conns[0].aborts, 0);
	fx_free(f);
}

/* ---- Reinstatement (RFC 7143 6.3.5) ---- */

/* What reinstate() does once the leading login worked: every slot down and retired, the lead
 * logs in (T1, T4, T5), and the session takes its tasks over (N7...), sent again in the order
 * they were submitted. */
static void reinstate_with(struct fx *f)
{
	locked_retire_all(f);
	for (int i = 0; i < f->s.nsc; i++) {
		assert_int_equal(sc_of(f, i)->state, CS_FREE);
		assert_null(sc_of(f, i)->conn);
	}
	attach(f, 0, &f->conns[SECOND_LIFE]);
	assert_int_equal(cev(f, 0, CE_LOGIN), 0);
	assert_int_equal(cev(f, 0, CE_LOGIN_OK), 0);
	assert_int_equal(sev(f, SE_REINSTATED, NULL), 0);
	stub_write_all();
}

static void test_reinstatement(void **state)
{
	struct fx *f = fx_new(2, REPLACEMENT, 0);
	struct scsi_task *a, *b, *c, *d;
	const struct conn *lead = &f->conns[SECOND_LIFE];
	int first, k = 0;

	(void)state;
	log_in(f);
	a = submit(f);
	b = submit(f);
	c = submit(f);
	assert_int_equal(rx_scsi_good(f, a), 0); /* a's place in the table is free again */
	assert_true(was_done(f, a));
	d = submit(f);
	assert_int_equal(d->slot, a->slot);
	lose(f, 1, "connection reset by peer");
	lose(f, 0, "connection reset by peer");
	assert_int_equal(f->s.state, SS_FAILED);
	/* A failed attempt: N4, the tasks kept. */
	stub_now = 8000;
	assert_int_equal(sev(f, SE_LOGIN_FAILED, NULL), 0);
	assert_int_equal(f->s.state, SS_FAILED);
	assert_int_equal(f->ndone, 1);

	first = stub_nchains;
	reinstate_with(f);
	assert_int_equal(f->s.state, SS_LOGGED_IN);
	assert_int_equal(f->s.nup, 1);
	assert_int_equal(f->s.retry.attempts, 0);
	assert_int_equal(f->s.retry.next, 0);
	assert_int_equal(f->conns[0].stopped, 1);
	assert_int_equal(f->conns[1].freed, 1);
	/* b, c, d again, in that order, with new tags and CmdSNs in order. */
	for (int i = first; i < stub_nchains; i++) {
		const struct stub_chain *ch = &stub_chains[i];
		const struct scsi_task *want[] = {b, c, d};

		if (ch->c != lead)
			continue;
		assert_true(k < 3);
		assert_int_equal(chain_opcode(ch), OP_SCSI_CMD);
		assert_int_equal(chain_itt(ch), want[k]->itt);
		assert_int_equal(chain_cmd_sn(ch), want[k]->cmd_sn);
		if (k)
			assert_true(sn_lt(want[k - 1]->cmd_sn, want[k]->cmd_sn));
		k++;
	}
	assert_int_equal(k, 3);
	assert_int_equal(f->ndone, 1);
	fx_free(f);
}

/* Past replacement_timeout the session is still reinstated; then I/O works again. */
static void test_reinstatement_after_expiry(void **state)
{
	struct fx *f = fx_new(1, REPLACEMENT, 0);
	struct scsi_task *late;

	(void)state;
	log_in(f);
	lose(f, 0, "connection reset by peer");
	assert_int_equal(sev(f, SE_REPLACEMENT_TIMEOUT, NULL), 0);
	assert_int_equal(sev(f, SE_LOGIN_FAILED, NULL), 0);
	assert_int_equal(f->s.state, SS_EXPIRED);
	reinstate_with(f);
	assert_int_equal(f->s.state, SS_LOGGED_IN);
	late = submit(f);
	assert_int_equal(late->tstate, TASK_SENT);
	assert_ptr_equal(late->sc->conn, &f->conns[SECOND_LIFE]);
	fx_free(f);
}

/* ---- Logout and pause ---- */

static void test_logout(void **state)
{
	struct fx *f = fx_new(2, REPLACEMENT, 0);
	const struct stub_chain *lo;
	struct scsi_task *late;
	int on;

	(void)state;
	log_in(f);
	assert_int_equal(sev(f, SE_LOGOUT, NULL), 0); /* T9 */
	assert_int_equal(f->s.state, SS_LOGGING_OUT);
	on = stub_chains_on(&f->conns[0]) ? 0 : 1;
	lo = stub_last_chain(&f->conns[on]);
	assert_non_null(lo);
	assert_int_equal(chain_opcode(lo), OP_LOGOUT_REQ);
	assert_int_equal(logout_reason(lo), 0);
	assert_int_equal(chain_itt(lo), LOGOUT_TAG);
	assert_int_equal(stub_nchains, 1);
	assert_int_equal(rx_logout_rsp(f, on, LOGOUT_TAG, 0), 0);
	assert_int_equal(f->s.state, SS_FREE); /* N3 */
	/* Closed at the session's end (T8); a loss reported meanwhile changes nothing. */
	lose(f, on, "connection closed by the target");
	assert_int_equal(f->s.state, SS_FREE);
	/* The other one closes while retire_all has let go of the lock (T8 done, not yet
	 * stopped). */
	assert_int_equal(cev(f, 1 - on, CE_SESSION_DOWN), 0);
	lose(f, 1 - on, "connection closed by the target");
	assert_int_equal(sc_of(f, 1 - on)->state, CS_FREE);
	assert_int_equal(f->conns[1 - on].aborts, 0);
	locked_retire_all(f);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(sc_of(f, i)->state, CS_FREE);
		assert_int_equal(f->conns[i].freed, 1);
	}
	assert_int_equal(f->s.nup, 0);
	late = submit(f);
	assert_int_equal(late->result, -EIO);
	fx_free(f);
}

/* Pause (howto 3 D): logged out, every task kept and new ones waiting; resumed, they go. */
static void test_pause_resume(void **state)
{
	struct fx *f = fx_new(1, REPLACEMENT, 0);
	struct scsi_task *a, *late;

	(void)state;
	log_in(f);
	a = submit(f);
	assert_int_equal(sev(f, SE_PAUSE, NULL), 0);
	assert_int_equal(f->s.state, SS_PAUSING);
	assert_int_equal(chain_opcode(stub_last_chain(&f->conns[0])), OP_LOGOUT_REQ);
	assert_int_equal(sev(f, SE_LOGOUT_DONE, NULL), 0);
	assert_int_equal(f->s.state, SS_PAUSED);
	locked_retire_all(f);
	assert_true(may_wait(&f->s));
	late = submit(f);
	assert_int_equal(late->tstate, TASK_QUEUED);
	assert_int_equal(f->ndone, 0);
	/* Paused twice is paused. */
	assert_int_equal(sev(f, SE_PAUSE, NULL), 0);
	assert_int_equal(f->s.state, SS_PAUSED);

	assert_int_equal(sev(f, SE_LOGIN, NULL), 0);
	assert_int_equal(f->s.state, SS_RESUMING);
	attach(f, 0, &f->conns[SECOND_LIFE]);
	assert_int_equal(cev(f, 0, CE_LOGIN), 0);
	assert_int_equal(cev(f, 0, CE_LOGIN_OK), 0);
	assert_int_equal(sev(f, SE_LOGIN_OK, NULL), 0);
	stub_write_all();
	assert_int_equal(f->s.state, SS_LOGGED_IN);
	assert_int_equal(stub_chains_on(&f->conns[SECOND_LIFE]), 2);
	assert_int_equal(a->tstate, TASK_SENT);
	assert_int_equal(late->tstate, TASK_SENT);
	/* A resume that fails leaves it paused. */
	assert_int_equal(sev(f, SE_PAUSE, NULL), 0);
	assert_int_equal(sev(f, SE_LOGOUT_DONE, NULL), 0);
	assert_int_equal(sev(f, SE_LOGIN, NULL), 0);
	assert_int_equal(sev(f, SE_LOGIN_FAILED, NULL), 0);
	assert_int_equal(f->s.state, SS_PAUSED);
	assert_int_equal(f->ndone, 0);
	fx_free(f);
}

/* ISCSIFS_TEST_LOG=debug shows every transition. */
static void set_log_level(void)
{
	const char *level = getenv("ISCSIFS_TEST_LOG");
	enum log_level lvl = LOG_LVL_ERROR;

	if (level && log_level_parse(level, &lvl) < 0)
		lvl = LOG_LVL_ERROR;
	log_init("test_session_recovery", 0, lvl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loss_fails_session),
		cmocka_unit_test(test_loss_without_replacement_time),
		cmocka_unit_test(test_loss_fast_fail),
		cmocka_unit_test(test_replacement_timeout),
		cmocka_unit_test(test_loss_and_cleanup),
		cmocka_unit_test(test_loss_nothing_to_clean),
		cmocka_unit_test(test_cleanup_failed),
		cmocka_unit_test(test_drop_all),
		cmocka_unit_test(test_target_logout_session),
		cmocka_unit_test(test_target_logout_connection),
		cmocka_unit_test(test_target_logout_connection_closed),
		cmocka_unit_test(test_target_logout_connection_failed),
		cmocka_unit_test(test_target_logout_unsendable),
		cmocka_unit_test(test_reinstatement),
		cmocka_unit_test(test_reinstatement_after_expiry),
		cmocka_unit_test(test_logout),
		cmocka_unit_test(test_pause_resume),
	};

	set_log_level();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
