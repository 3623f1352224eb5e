/* The session's state machines, as tables: the session (RFC 7143 8.3) and each of its
 * connections (8.1 for an initiator, with the cleanup of 8.2). Each row names its transition
 * as the RFC does (N for the session, T and M for a connection); rows the RFC has no name for
 * (the administrator's pause, waiting I/O that expires) say what they are. A driver per
 * machine is the one place its state changes: it logs the transition at debug level and runs
 * the row's action. An event with no row is a surprise: it is logged as a warning and the
 * connection it concerns is failed; the daemon goes on. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "session_int.h"

#define ADD_BACKOFF_MAX 30 /* seconds, for a connection's login */

/* ---- The session ---- */

enum sess_action {
	SA_NONE,
	SA_FAIL,       /* every connection lost: keep the tasks, wait, reinstate */
	SA_RELOGIN,    /* the same after a logout the target asked for */
	SA_EXPIRE,     /* replacement_timeout: waiting I/O fails */
	SA_REINSTATED, /* logged in again: what waits is sent again */
	SA_DROP_ALL,   /* drop every connection: the next loss reinstates the session */
	SA_LOGOUT,     /* send the session's Logout */
};

static const char *const sess_states[SS_NSTATES] = {
	[SS_FREE] = "FREE",
	[SS_ACTIVE] = "ACTIVE",
	[SS_LOGGED_IN] = "LOGGED_IN",
	[SS_DROPPING] = "DROPPING",
	[SS_TARGET_LOGOUT] = "TARGET_LOGOUT",
	[SS_FAILED] = "FAILED",
	[SS_EXPIRED] = "EXPIRED",
	[SS_LOGGING_OUT] = "LOGGING_OUT",
	[SS_PAUSING] = "PAUSING",
	[SS_PAUSED] = "PAUSED",
	[SS_RESUMING] = "RESUMING",
};

static const char *const sess_events[SE_NEVENTS] = {
	[SE_LOGIN] = "login",
	[SE_LOGIN_OK] = "login succeeded",
	[SE_LOGIN_FAILED] = "login failed",
	[SE_CONN_LOST] = "connection lost",
	[SE_LAST_CONN_LOST] = "last connection lost",
	[SE_REPLACEMENT_TIMEOUT] = "replacement_timeout",
	[SE_REINSTATED] = "reinstated",
	[SE_DROP_ALL] = "drop all connections",
	[SE_TARGET_LOGOUT] = "target asks for a logout",
	[SE_LOGOUT] = "logout",
	[SE_LOGOUT_DONE] = "logout done",
	[SE_PAUSE] = "pause",
};

static const struct fsm_row sess_rows[] = {
	/* Login, and the resume after a pause. */
	{SS_FREE, SE_LOGIN, SS_ACTIVE, SA_NONE, "N1"},
	{SS_ACTIVE, SE_LOGIN_OK, SS_LOGGED_IN, SA_NONE, "N2"},
	{SS_ACTIVE, SE_LOGIN_FAILED, SS_FREE, SA_NONE, "N4"},
	{SS_PAUSED, SE_LOGIN, SS_RESUMING, SA_NONE, "resume"},
	{SS_RESUMING, SE_LOGIN_OK, SS_LOGGED_IN, SA_REINSTATED, "resume, N2"},
	{SS_RESUMING, SE_LOGIN_FAILED, SS_PAUSED, SA_NONE, "resume failed"},
	/* Losses. */
	{SS_LOGGED_IN, SE_CONN_LOST, SS_LOGGED_IN, SA_NONE, "T15, others carry on"},
	{SS_LOGGED_IN, SE_LAST_CONN_LOST, SS_FAILED, SA_FAIL, "N5"},
	{SS_DROPPING, SE_CONN_LOST, SS_FAILED, SA_FAIL, "N5, reinstating"},
	{SS_DROPPING, SE_LAST_CONN_LOST, SS_FAILED, SA_FAIL, "N5, reinstating"},
	{SS_TARGET_LOGOUT, SE_CONN_LOST, SS_FAILED, SA_RELOGIN, "T13, N5"},
	{SS_TARGET_LOGOUT, SE_LAST_CONN_LOST, SS_FAILED, SA_RELOGIN, "T13, N5"},
	{SS_FAILED, SE_CONN_LOST, SS_FAILED, SA_NONE, "T15"},
	{SS_FAILED, SE_LAST_CONN_LOST, SS_FAILED, SA_NONE, "T15"},
	{SS_EXPIRED, SE_CONN_LOST, SS_EXPIRED, SA_NONE, "T15"},
	{SS_EXPIRED, SE_LAST_CONN_LOST, SS_EXPIRED, SA_NONE, "T15"},
	{SS_LOGGING_OUT, SE_CONN_LOST, SS_LOGGING_OUT, SA_NONE, "T15"},
	{SS_LOGGING_OUT, SE_LAST_CONN_LOST, SS_LOGGING_OUT, SA_NONE, "T15"},
	{SS_PAUSING, SE_CONN_LOST, SS_PAUSING, SA_NONE, "T15"},
	{SS_PAUSING, SE_LAST_CONN_LOST, SS_PAUSING, SA_NONE, "T15"},
	{SS_FREE, SE_CONN_LOST, SS_FREE, SA_NONE, "T15, after the logout"},
	{SS_FREE, SE_LAST_CONN_LOST, SS_FREE, SA_NONE, "T15, after the logout"},
	{SS_PAUSED, SE_CONN_LOST, SS_PAUSED, SA_NONE, "T15, after the logout"},
	{SS_PAUSED, SE_LAST_CONN_LOST, SS_PAUSED, SA_NONE, "T15, after the logout"},
	/* Recovery: reinstatement with the same ISID (RFC 7143 6.3.5) replaces the failed
	 * session with a new one that takes over its tasks. */
	{SS_FAILED, SE_REPLACEMENT_TIMEOUT, SS_EXPIRED, SA_EXPIRE, "replacement_timeout"},
	{SS_FAILED, SE_REINSTATED, SS_LOGGED_IN, SA_REINSTATED, "N7, N1, N2"},
	{SS_EXPIRED, SE_REINSTATED, SS_LOGGED_IN, SA_REINSTATED, "N7, N1, N2"},
	{SS_FAILED, SE_LOGIN_FAILED, SS_FAILED, SA_NONE, "N4, tasks kept"},
	{SS_EXPIRED, SE_LOGIN_FAILED, SS_EXPIRED, SA_NONE, "N4"},
	{SS_LOGGED_IN, SE_DROP_ALL, SS_DROPPING, SA_DROP_ALL, "reinstate"},
	{SS_DROPPING, SE_DROP_ALL, SS_DROPPING, SA_DROP_ALL, "reinstate"},
	{SS_TARGET_LOGOUT, SE_DROP_ALL, SS_DROPPING, SA_DROP_ALL, "reinstate"},
	{SS_FAILED, SE_DROP_ALL, SS_FAILED, SA_NONE, "reinstating already"},
	{SS_EXPIRED, SE_DROP_ALL, SS_EXPIRED, SA_NONE, "reinstating already"},
	{SS_LOGGING_OUT, SE_DROP_ALL, SS_LOGGING_OUT, SA_NONE, "logging out already"},
	{SS_PAUSING, SE_DROP_ALL, SS_PAUSING, SA_NONE, "logging out already"},
	{SS_LOGGED_IN, SE_TARGET_LOGOUT, SS_TARGET_LOGOUT, SA_LOGOUT, "T11, T10"},
	/* Logout, for good or for a pause. */
	{SS_LOGGED_IN, SE_LOGOUT, SS_LOGGING_OUT, SA_LOGOUT, "T9"},
	{SS_DROPPING, SE_LOGOUT, SS_LOGGING_OUT, SA_LOGOUT, "T9"},
	{SS_TARGET_LOGOUT, SE_LOGOUT, SS_LOGGING_OUT, SA_NONE, "T9, sent already"},
	{SS_FREE, SE_LOGOUT, SS_LOGGING_OUT, SA_NONE, "nothing to send"},
	{SS_ACTIVE, SE_LOGOUT, SS_LOGGING_OUT, SA_NONE, "nothing to send"},
	{SS_FAILED, SE_LOGOUT, SS_LOGGING_OUT, SA_NONE, "nothing to send"},
	{SS_EXPIRED, SE_LOGOUT, SS_LOGGING_OUT, SA_NONE, "nothing to send"},
	{SS_PAUSING, SE_LOGOUT, SS_LOGGING_OUT, SA_NONE, "sent already"},
	{SS_PAUSED, SE_LOGOUT, SS_LOGGING_OUT, SA_NONE, "nothing to send"},
	{SS_RESUMING, SE_LOGOUT, SS_LOGGING_OUT, SA_NONE, "nothing to send"},
	{SS_LOGGING_OUT, SE_LOGOUT, SS_LOGGING_OUT, SA_NONE, "under way"},
	{SS_LOGGING_OUT, SE_LOGOUT_DONE, SS_FREE, SA_NONE, "N3"},
	{SS_LOGGED_IN, SE_PAUSE, SS_PAUSING, SA_LOGOUT, "pause, T9"},
	{SS_DROPPING, SE_PAUSE, SS_PAUSING, SA_LOGOUT, "pause, T9"},
	{SS_TARGET_LOGOUT, SE_PAUSE, SS_PAUSING, SA_NONE, "pause, sent already"},
	{SS_PAUSING, SE_LOGOUT_DONE, SS_PAUSED, SA_NONE, "pause, N3"},
	{SS_FAILED, SE_PAUSE, SS_PAUSED, SA_NONE, "pause: no more attempts"},
	{SS_EXPIRED, SE_PAUSE, SS_PAUSED, SA_NONE, "pause: no more attempts"},
	{SS_PAUSED, SE_PAUSE, SS_PAUSED, SA_NONE, "paused already"},
	{SS_FREE, SE_PAUSE, SS_FREE, SA_NONE, "not logged in"},
};

const struct fsm session_fsm = {
	"session", sess_rows, sizeof(sess_rows) / sizeof(sess_rows[0]),
	sess_states, SS_NSTATES, sess_events, SE_NEVENTS,
};

int may_wait(const struct session *s)
{
	switch (s->state) {
	case SS_ACTIVE:
	case SS_LOGGED_IN:
	case SS_DROPPING:
	case SS_TARGET_LOGOUT:
	case SS_PAUSING:
	case SS_PAUSED:
	case SS_RESUMING:
		return 1;
	case SS_FAILED:
		return !s->cfg.fast_fail;
	default:
		return 0;
	}
}

int no_wait_error(const struct session *s)
{
	return s->state == SS_FAILED && s->cfg.fast_fail ? -ENOTCONN : -EIO;
}

int can_send(const struct session *s)
{
	return (s->state == SS_LOGGED_IN || s->state == SS_DROPPING) && s->nup > 0;
}

void backoff_failed(struct backoff *b, uint32_t wait_s, uint32_t max_s, time_t now)
{
	uint32_t extra = 1u << (b->attempts < 5 ? b->attempts : 5);

	if (extra > max_s)
		extra = max_s;
	b->attempts++;
	b->next = now + wait_s + extra;
}

void backoff_reset(struct backoff *b, time_t when)
{
	b->attempts = 0;
	b->next = when;
}

/* Every connection lost: the tasks stay for the reinstatement, but for those that had timed
 * out already (their timeout is the application's answer); without time to wait
 * (replacement_timeout 0) or for a multipath member, what waits fails now. */
static int act_fail(struct session *s, struct scsi_task **done_list)
{
	s->fail_time = now_s();
	backoff_reset(&s->retry, s->fail_time + wait_after_loss(s, &s->notice_wait));
	tmfs_forget(s, NULL);
	s->pend_head = s->pend_tail = NULL; /* every live task is sent again in order */
	for (uint32_t i = 0; i < s->cfg.max_tasks; i++) {
		struct scsi_task *t = s->slots[i];

		if (t && t->tstate == TASK_ABORTING) {
			t->result = -EIO;
			complete_task(s, t, done_list);
		}
	}
	if (s->cfg.fast_fail)
		fail_all(s, done_list);
	pthread_cond_broadcast(&s->timer_cond);
	return s->cfg.replacement_timeout == 0 && !s->cfg.fast_fail ? SE_REPLACEMENT_TIMEOUT : -1;
}

static int sess_act(struct session *s, int action, struct sconn *cause,
		    struct scsi_task **done_list)
{
	switch (action) {
	case SA_FAIL:
		log_err("%s: connection to %s lost: %s; recovering the session", s->cfg.label,
			s->cfg.target_name, s->lost_reason);
		return act_fail(s, done_list);
	case SA_RELOGIN:
		log_info("%s: %s; logging in again", s->cfg.label, s->lost_reason);
		return act_fail(s, done_list);
	case SA_EXPIRE:
		if (s->cfg.replacement_timeout)
			log_err("%s: no session to %s for %u s (replacement_timeout): failing I/O "
				"with EIO until the target is back",
				s->cfg.label, s->cfg.target_name, s->cfg.replacement_timeout);
		fail_all(s, done_list);
		return -1;
	case SA_REINSTATED:
		backoff_reset(&s->retry, 0);
		resend_live(s, done_list);
		pthread_cond_broadcast(&s->timer_cond); /* the other connections join */
		return -1;
	case SA_DROP_ALL:
		for (int i = 0; i < s->nsc; i++)
			if (s->sc[i].conn && (s->sc[i].state == CS_LOGGED_IN ||
					      s->sc[i].state == CS_IN_CLEANUP ||
					      s->sc[i].state == CS_IN_LOGOUT))
				conn_abort(s->sc[i].conn, s->lost_reason);
		return -1;
	case SA_LOGOUT:
		queue_logout(s, cause ? cause : pick_conn(s));
		return -1;
	default:
		return -1;
	}
}

int sess_event(struct session *s, enum sess_event ev, struct sconn *cause,
	       struct scsi_task **done_list)
{
	while ((int)ev >= 0) {
		const struct fsm_row *row = fsm_find(&session_fsm, (int)s->state, (int)ev);

		if (!row) {
			log_warn("%s: session: no transition from %s on %s%s", s->cfg.label,
				 fsm_state_name(&session_fsm, (int)s->state),
				 fsm_event_name(&session_fsm, (int)ev),
				 cause && cause->conn ? "; failing the connection" : "");
			if (cause && cause->conn)
				conn_abort(cause->conn, "unexpected in the session's state");
			return -EPROTO;
		}
		log_dbg("%s: session: %s -> %s on %s (%s)", s->cfg.label,
			fsm_state_name(&session_fsm, row->state),
			fsm_state_name(&session_fsm, row->next),
			fsm_event_name(&session_fsm, row->event), row->label);
		s->state = (enum sess_state)row->next;
		pthread_cond_broadcast(&s->cond);
		ev = (enum sess_event)sess_act(s, row->action, cause, done_list);
	}
	return 0;
}

/* ---- A connection ---- */

enum conn_action {
	CA_NONE,
	CA_UP,          /* logged in: carries commands */
	CA_LOGIN_FAILED,
	CA_LOST,        /* lost: its tasks wait for the cleanup */
	CA_SELF_LOGOUT, /* the target asked: a Logout for it, on it */
	CA_CLEANED,     /* the target let go: its tasks go on the others */
	CA_CLEAN_FAILED,
	CA_LOGIN_NOW,
	CA_DOWN,
	CA_REASSIGN_WAIT,  /* logged out for recovery: Time2Wait, then TASK REASSIGN */
	CA_REASSIGN,       /* TASK REASSIGN its tasks to the other connections */
	CA_CLOSE_INSTEAD,  /* no connection recovery: a Logout "close the connection" */
	CA_REASSIGNED,     /* its tasks moved: it logs in again */
};

static const char *const conn_states[CS_NSTATES] = {
	[CS_FREE] = "FREE",
	[CS_IN_LOGIN] = "IN_LOGIN",
	[CS_IN_LOGIN_STALE] = "IN_LOGIN_STALE",
	[CS_LOGGED_IN] = "LOGGED_IN",
	[CS_IN_LOGOUT] = "IN_LOGOUT",
	[CS_CLEANUP_WAIT] = "CLEANUP_WAIT",
	[CS_IN_CLEANUP] = "IN_CLEANUP",
	[CS_IN_RECOVERY] = "IN_RECOVERY",
	[CS_REASSIGN_WAIT] = "REASSIGN_WAIT",
	[CS_REASSIGNING] = "REASSIGNING",
};

static const char *const conn_events[CE_NEVENTS] = {
	[CE_LOGIN] = "login",
	[CE_LOGIN_OK] = "login succeeded",
	[CE_LOGIN_FAILED] = "login failed",
	[CE_LOST] = "lost",
	[CE_LOGOUT_REQUESTED] = "logout requested",
	[CE_LOGOUT_OK] = "logout succeeded",
	[CE_LOGOUT_FAILED] = "logout failed",
	[CE_CLEANUP] = "cleanup",
	[CE_NOTHING_TO_CLEAN] = "nothing to clean up",
	[CE_SESSION_DOWN] = "session down",
	[CE_RECOVER] = "recover",
	[CE_REASSIGN] = "reassign",
	[CE_REASSIGNED] = "reassigned",
	[CE_RETAIN_EXPIRED] = "Time2Retain over",
};

static const struct fsm_row conn_rows[] = {
	{CS_FREE, CE_LOGIN, CS_IN_LOGIN, CA_NONE, "T1, T4"},
	{CS_IN_LOGIN, CE_LOGIN_OK, CS_LOGGED_IN, CA_UP, "T5"},
	{CS_IN_LOGIN, CE_LOGIN_FAILED, CS_FREE, CA_LOGIN_FAILED, "T7"},
	{CS_IN_LOGIN, CE_SESSION_DOWN, CS_IN_LOGIN_STALE, CA_NONE, "T7, session moved on"},
	{CS_IN_LOGIN_STALE, CE_LOGIN_OK, CS_FREE, CA_NONE, "T7, result dropped"},
	{CS_IN_LOGIN_STALE, CE_LOGIN_FAILED, CS_FREE, CA_NONE, "T7"},
	{CS_IN_LOGIN_STALE, CE_SESSION_DOWN, CS_IN_LOGIN_STALE, CA_NONE, "T7"},
	{CS_LOGGED_IN, CE_LOST, CS_CLEANUP_WAIT, CA_LOST, "T15"},
	{CS_LOGGED_IN, CE_LOGOUT_REQUESTED, CS_IN_LOGOUT, CA_SELF_LOGOUT, "T11, T10"},
	{CS_LOGGED_IN, CE_SESSION_DOWN, CS_FREE, CA_DOWN, "T8"},
	/* Closed by the target before its Logout Response came: the deadline decides. */
	{CS_IN_LOGOUT, CE_LOST, CS_IN_LOGOUT, CA_NONE, "T17, waiting"},
	{CS_IN_LOGOUT, CE_LOGOUT_OK, CS_FREE, CA_CLEANED, "T13"},
	{CS_IN_LOGOUT, CE_LOGOUT_FAILED, CS_IN_LOGOUT, CA_CLEAN_FAILED, "T17"},
	{CS_IN_LOGOUT, CE_SESSION_DOWN, CS_FREE, CA_DOWN, "T8"},
	{CS_CLEANUP_WAIT, CE_CLEANUP, CS_IN_CLEANUP, CA_NONE, "M2"},
	{CS_CLEANUP_WAIT, CE_NOTHING_TO_CLEAN, CS_FREE, CA_LOGIN_NOW, "M1"},
	{CS_CLEANUP_WAIT, CE_LOST, CS_CLEANUP_WAIT, CA_NONE, "T15"},
	{CS_CLEANUP_WAIT, CE_SESSION_DOWN, CS_FREE, CA_DOWN, "T18"},
	{CS_IN_CLEANUP, CE_LOGOUT_OK, CS_FREE, CA_CLEANED, "M3"},
	{CS_IN_CLEANUP, CE_LOGOUT_FAILED, CS_IN_CLEANUP, CA_CLEAN_FAILED, "M4"},
	{CS_IN_CLEANUP, CE_LOST, CS_IN_CLEANUP, CA_NONE, "T15"},
	{CS_IN_CLEANUP, CE_SESSION_DOWN, CS_FREE, CA_DOWN, "T18"},
	{CS_FREE, CE_SESSION_DOWN, CS_FREE, CA_DOWN, "T2"},
	/* Let go of (T8, T13, T18) and closed at the target before the timer retires it. */
	{CS_FREE, CE_LOST, CS_FREE, CA_NONE, "T8, T13, T18, closed"},
	/* ErrorRecoveryLevel 2: connection recovery, the tasks reassigned (7.1.4, 7.2.2). */
	{CS_CLEANUP_WAIT, CE_RECOVER, CS_IN_RECOVERY, CA_NONE, "M2, reason 2"},
	{CS_IN_RECOVERY, CE_LOGOUT_OK, CS_REASSIGN_WAIT, CA_REASSIGN_WAIT, "M3"},
	{CS_IN_RECOVERY, CE_LOGOUT_FAILED, CS_IN_CLEANUP, CA_CLOSE_INSTEAD, "M4, M2 with reason 1"},
	{CS_IN_RECOVERY, CE_LOST, CS_IN_RECOVERY, CA_NONE, "T15"},
	{CS_IN_RECOVERY, CE_SESSION_DOWN, CS_FREE, CA_DOWN, "T18"},
	{CS_REASSIGN_WAIT, CE_REASSIGN, CS_REASSIGNING, CA_REASSIGN, "7.2.2, Time2Wait over"},
	{CS_REASSIGN_WAIT, CE_RETAIN_EXPIRED, CS_FREE, CA_CLEANED, "Time2Retain over"},
	{CS_REASSIGN_WAIT, CE_SESSION_DOWN, CS_FREE, CA_DOWN, "T18"},
	{CS_REASSIGNING, CE_REASSIGNED, CS_FREE, CA_REASSIGNED, "7.2.2 done"},
	{CS_REASSIGNING, CE_SESSION_DOWN, CS_FREE, CA_DOWN, "T18"},
};

const struct fsm connection_fsm = {
	"connection", conn_rows, sizeof(conn_rows) / sizeof(conn_rows[0]),
	conn_states, CS_NSTATES, conn_events, CE_NEVENTS,
};

/* The target has closed a lost connection: its tasks go on the others. Those the target had
 * acknowledged (CmdSN below ExpCmdSN) are gone there and start anew; the others may have left
 * a gap in the CmdSN order, so they are retried with their tag and CmdSN (RFC 7143 7.2.1:
 * allowed on another connection once the original is logged out). */
static void act_cleaned(struct sconn *sc, struct scsi_task **done_list)
{
	struct session *s = sc->s;
	int n = 0, retried = 0;

	backoff_reset(&sc->retry, now_s() + 1);
	for (uint32_t i = 0; i < s->cfg.max_tasks; i++) {
		struct scsi_task *t = s->slots[i];

		if (!t || t->sc != sc || t->tstate == TASK_TX_DONE || t->tstate == TASK_TX_RETRY)
			continue;
		n++;
		detach(t);
		if (t->tstate == TASK_ABORTING) {
			t->result = -EIO; /* timed out before: the application has its answer */
			complete_task(s, t, done_list);
		} else {
			retried += reissue_task(s, t, done_list);
		}
	}
	log_info("%s: connection %u closed at the target; %d command(s) retried and %d sent "
		 "again on the other connection(s)",
		 s->cfg.label, sc->cid, retried, n - retried);
}

static void conn_act(struct sconn *sc, int action, struct scsi_task **done_list)
{
	struct session *s = sc->s;

	switch (action) {
	case CA_UP:
		backoff_reset(&sc->retry, 0);
		sc->ping_sent = 0;
		sc->reason[0] = '\0';
		flush_pending(s);
		break;
	case CA_LOGIN_FAILED:
		backoff_failed(&sc->retry, time2wait(s), ADD_BACKOFF_MAX, now_s());
		break;
	case CA_LOST:
		sc->ping_sent = 0;
		tmfs_forget(s, sc);
		/* DefaultTime2Wait (or the target's notice) before the cleanup. */
		backoff_reset(&sc->retry, now_s() + wait_after_loss(s, &sc->notice_wait));
		pthread_cond_broadcast(&s->timer_cond);
		break;
	case CA_SELF_LOGOUT:
		snprintf(sc->reason, sizeof(sc->reason), "logged out at the target's request");
		if (start_cleanup(s, sc, sc, 1) < 0)
			conn_abort(sc->conn, "cannot send the Logout the target asked for");
		break;
	case CA_CLEANED:
		act_cleaned(sc, done_list);
		break;
	case CA_CLEAN_FAILED: {
		char why[160];

		snprintf(why, sizeof(why), "the target could not close connection %u; "
			 "reinstating the session", sc->cid);
		drop_all(s, why, done_list);
		break;
	}
	case CA_LOGIN_NOW:
		backoff_reset(&sc->retry, now_s());
		break;
	case CA_DOWN:
		sc->ping_sent = 0;
		break;
	case CA_REASSIGN_WAIT:
		/* The target keeps the tasks Time2Retain seconds after Time2Wait (11.15). */
		sc->reassigning = 0;
		backoff_reset(&sc->retry, now_s() + sc->time2wait);
		sc->cleanup_deadline = sc->retry.next + sc->time2retain;
		log_info("%s: connection %u removed for recovery; its %u command(s) move to the "
			 "other connection(s) in %u s", s->cfg.label, sc->cid, sc->active,
			 sc->time2wait);
		pthread_cond_broadcast(&s->timer_cond);
		break;
	case CA_REASSIGN:
		reassign_tasks(s, sc, done_list);
		break;
	case CA_CLOSE_INSTEAD:
		if (start_cleanup(s, sc, pick_conn(s), 1) < 0) {
			char why[160];

			snprintf(why, sizeof(why), "cannot close lost connection %u", sc->cid);
			drop_all(s, why, done_list);
		}
		break;
	case CA_REASSIGNED:
		backoff_reset(&sc->retry, now_s() + 1);
		log_info("%s: the commands of connection %u moved; it logs in again", s->cfg.label,
			 sc->cid);
		break;
	default:
		break;
	}
}

int conn_event(struct sconn *sc, enum conn_event ev, struct scsi_task **done_list)
{
	struct session *s = sc->s;
	const struct fsm_row *row = fsm_find(&connection_fsm, (int)sc->state, (int)ev);

	if (!row) {
		log_warn("%s: connection %u: no transition from %s on %s%s", s->cfg.label, sc->cid,
			 fsm_state_name(&connection_fsm, (int)sc->state),
			 fsm_event_name(&connection_fsm, (int)ev),
			 sc->conn ? "; failing it" : "");
		if (sc->conn)
			conn_abort(sc->conn, "unexpected in the connection's state");
		return -EPROTO;
	}
	log_dbg("%s cid%u: %s -> %s on %s (%s)", s->cfg.label, sc->cid,
		fsm_state_name(&connection_fsm, row->state),
		fsm_state_name(&connection_fsm, row->next), fsm_event_name(&connection_fsm, row->event),
		row->label);
	sc->state = (enum conn_state)row->next;
	/* How many carry commands follows from the states. */
	s->nup = 0;
	for (int i = 0; i < s->nsc; i++)
		s->nup += s->sc[i].state == CS_LOGGED_IN;
	pthread_cond_broadcast(&s->cond);
	conn_act(sc, row->action, done_list);
	return 0;
}
