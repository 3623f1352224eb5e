/* Losses and their recovery: a lost connection's tasks wait for the target to let go of them
 * (a Logout for its CID on another connection) and move; a session that loses its last
 * connection keeps its tasks and is reinstated (RFC 7143 6.3.5); missing connections log in
 * again. The timer thread drives it all once a second; logins run with the lock dropped. */
#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evloop.h"
#include "log.h"
#include "session_int.h"

#define REINSTATE_BACKOFF_MAX 8

uint32_t time2wait(const struct session *s)
{
	return s->params.default_time2wait ? s->params.default_time2wait : 1;
}

/* The wait before logging in again after a loss: DefaultTime2Wait, or longer when the target
 * said it would drop the connection and gave its own (AsyncEvent 2 and 3); that is used once. */
uint32_t wait_after_loss(const struct session *s, uint32_t *notice)
{
	uint32_t w = time2wait(s);

	if (*notice > w)
		w = *notice;
	*notice = 0;
	return w;
}

/* Drop every connection: the session is reinstated. */
void drop_all(struct session *s, const char *why, struct scsi_task **done_list)
{
	snprintf(s->lost_reason, sizeof(s->lost_reason), "%s", why);
	sess_event(s, SE_DROP_ALL, NULL, done_list);
}

/* Queue a Logout for sc's CID on via (RFC 7143 11.14.1): "close the connection" (reason 1),
 * after which the target ends every task allegiant to sc, or "remove the connection for
 * recovery" (reason 2, ErrorRecoveryLevel 2), after which it keeps them for TASK REASSIGN. */
int start_cleanup(struct session *s, struct sconn *sc, struct sconn *via, int reason)
{
	if (!via || !via->conn)
		return -EPIPE;
	memset(&sc->cleanup_tx, 0, sizeof(sc->cleanup_tx));
	pdu_build_logout(sc->cleanup_tx.bhs, reason, CLEANUP_TAG(sc->cid), sc->cid, s->cmd_sn,
			 via->exp_stat_sn);
	if (conn_queue(via->conn, &sc->cleanup_tx, &sc->cleanup_tx) < 0)
		return -EPIPE;
	sc->cleanup_deadline = now_s() + LOGOUT_WAIT_S * 2;
	return 0;
}

/* Queue a Logout that closes the session (RFC 7143 11.14) on sc. */
int queue_logout(struct session *s, struct sconn *sc)
{
	if (!sc || !sc->conn)
		return -EPIPE;
	memset(&s->logout_tx, 0, sizeof(s->logout_tx));
	pdu_build_logout(s->logout_tx.bhs, 0, LOGOUT_TAG, sc->cid, s->cmd_sn, sc->exp_stat_sn);
	return conn_queue(sc->conn, &s->logout_tx, &s->logout_tx);
}

/* After SE_LOGOUT or SE_PAUSE: wait, LOGOUT_WAIT_S at most, for the answer to end the state.
 * Whether it came. */
int logout_and_wait(struct session *s)
{
	enum sess_state waiting = s->state;
	struct scsi_task *done_list = NULL;
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += LOGOUT_WAIT_S;
	while (s->state == waiting &&
	       pthread_cond_timedwait(&s->cond, &s->lock, &until) != ETIMEDOUT)
		;
	if (s->state != waiting)
		return 1;
	sess_event(s, SE_LOGOUT_DONE, NULL, &done_list); /* no answer: done all the same */
	return 0;
}

/* A connection is gone (its loop, with no lock). With others up, its tasks wait for the
 * cleanup; the last one takes the session down to reinstatement. */
void on_failed(void *arg, int error, const char *reason)
{
	struct sconn *sc = arg;
	struct session *s = sc->s;
	struct scsi_task *done_list = NULL;
	int was_up;

	(void)error;
	pthread_mutex_lock(&s->lock);
	was_up = sc->state == CS_LOGGED_IN;
	snprintf(sc->reason, sizeof(sc->reason), "%s", reason);
	conn_event(sc, CE_LOST, &done_list);
	if (was_up) {
		snprintf(s->lost_reason, sizeof(s->lost_reason), "%s", reason);
		if (s->state == SS_LOGGED_IN && s->nup > 0)
			log_err("%s: connection %u to %s:%u lost: %s; %d connection(s) carry on",
				s->cfg.label, sc->cid, sc->portal->addr, sc->portal->port, reason,
				s->nup);
		sess_event(s, s->nup > 0 ? SE_CONN_LOST : SE_LAST_CONN_LOST, sc, &done_list);
	}
	pthread_mutex_unlock(&s->lock);
	run_done(done_list);
}

/* Stop a connection the session no longer uses, keep its byte counts for status, free it.
 * The lock is dropped meanwhile, since the connection's last callbacks take it. */
void retire_conn(struct session *s, struct sconn *sc)
{
	struct conn *old = sc->conn;
	uint64_t tx, rx;

	if (!old)
		return;
	sc->conn = NULL;
	pthread_mutex_unlock(&s->lock);
	conn_stop(old);
	conn_counters(old, &tx, &rx);
	__atomic_add_fetch(&sc->old_tx, tx, __ATOMIC_RELAXED);
	__atomic_add_fetch(&sc->old_rx, rx, __ATOMIC_RELAXED);
	conn_free(old);
	pthread_mutex_lock(&s->lock);
}

/* Every connection down and retired; logins under way are made stale. */
void retire_all(struct session *s)
{
	struct scsi_task *done_list = NULL;

	for (int i = 0; i < s->nsc; i++)
		conn_event(&s->sc[i], CE_SESSION_DOWN, &done_list);
	for (int i = 0; i < s->nsc; i++)
		retire_conn(s, &s->sc[i]);
}

/* Until no connection's login thread runs. */
void wait_logins(struct session *s)
{
	for (;;) {
		int running = 0;

		for (int i = 0; i < s->nsc; i++)
			running |= s->sc[i].state == CS_IN_LOGIN || s->sc[i].state == CS_IN_LOGIN_STALE;
		if (!running)
			return;
		pthread_cond_wait(&s->cond, &s->lock);
	}
}

static void login_params_for(struct session *s, struct sconn *sc, uint16_t tsih,
			     uint32_t cmd_sn, struct login_params *lp)
{
	memset(lp, 0, sizeof(*lp));
	lp->initiator_name = s->cfg.initiator_name;
	lp->initiator_alias = s->cfg.initiator_alias;
	lp->target_name = s->cfg.target_name;
	lp->admin_keys = s->cfg.admin_keys;
	lp->isid = s->isid;
	lp->tsih = tsih;
	lp->cid = sc->cid;
	lp->cmd_sn = cmd_sn;
	if (!tsih)
		RAND_bytes((uint8_t *)&lp->cmd_sn, sizeof(lp->cmd_sn));
	lp->timeout_s = s->cfg.login_timeout;
	lp->max_recv_dsl = 262144;
	lp->max_connections = (uint32_t)s->nsc;
	lp->chap = s->cfg.chap;
}

/* Connect and log connection sc in: with TSIH 0 and the session's ISID it leads (a new
 * session, or the reinstatement of a lost one); with the session's TSIH it joins it. No lock
 * held. */
static int login_conn(struct session *s, struct sconn *sc, uint16_t tsih, uint32_t cmd_sn,
		      struct conn **out, struct login_result *res, char *err, size_t errlen)
{
	const struct session_portal *p = sc->portal;
	struct login_params lp;
	char label[PORTAL_STR_MAX + 64];

	snprintf(label, sizeof(label), "%s %s:%u cid%u", s->cfg.label, p->addr, p->port, sc->cid);
	login_params_for(s, sc, tsih, cmd_sn, &lp);
	return login_connect(s->cfg.label, label, p->addr, p->port, p->netdev, &lp, out, res, err,
			     errlen);
}

/* Log in a leading connection through the first portal that answers, in the order of the
 * connections. *lead is its index. No lock held. */
static int login_leading(struct session *s, int *lead, struct conn **out,
			 struct login_result *res, char *err, size_t errlen)
{
	int r = -ENOENT;

	for (int i = 0; i < s->nsc; i++) {
		const struct session_portal *p = s->sc[i].portal;
		char why[512];
		int tried = 0;

		/* A slot whose earlier login still runs (made stale when the session moved on)
		 * is that login's until it ends: another slot of the portal, or the next portal. */
		pthread_mutex_lock(&s->lock);
		if (s->sc[i].state == CS_IN_LOGIN_STALE)
			tried = 1;
		for (int j = 0; j < i && !tried; j++)
			tried = s->sc[j].portal == p && s->sc[j].state != CS_IN_LOGIN_STALE;
		pthread_mutex_unlock(&s->lock);
		if (tried)
			continue;
		r = login_conn(s, &s->sc[i], 0, 0, out, res, err, errlen);
		if (!r) {
			*lead = i;
			return 0;
		}
		if (i + 1 < s->nsc && s->sc[i + 1].portal != p)
			log_warn("%s: login through %s:%u failed: %s; trying the next portal",
				 s->cfg.label, p->addr, p->port, err);
		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "%s", why);
	}
	return r;
}

/* Take a logged-in connection into use on its event loop. A leading one sets the session's
 * parameters and window; a joining one brings its own connection-wide ones. */
int install_conn(struct session *s, struct sconn *sc, struct conn *c,
		 const struct login_result *res, int leading, char *err, size_t errlen)
{
	struct conn_handler h = {
		.rx_begin = rx_begin, .rx_end = rx_end, .failed = on_failed, .arg = sc,
	};
	const struct session_portal *p = sc->portal;
	unsigned nloops = evloops_count() ? evloops_count() : 1;
	int r;

	sc->conn = c;
	sc->exp_stat_sn = res->exp_stat_sn;
	sc->max_xmit_dsl = res->params.max_xmit_dsl;
	sc->header_digest = res->params.header_digest;
	sc->data_digest = res->params.data_digest;
	sc->last_rx = now_s();
	sc->ping_sent = 0;
	sc->stat_got = sc->stat_held = 0;
	sc->next_stat_sn = sc->exp_stat_sn;
	sc->rx_dup = 0;
	if (leading) {
		s->params = res->params;
		s->tsih = res->tsih;
		s->exp_cmd_sn = res->exp_cmd_sn;
		s->max_cmd_sn = res->max_cmd_sn;
		if (sn_lt(res->max_cmd_sn, res->exp_cmd_sn - 1))
			s->max_cmd_sn = res->exp_cmd_sn - 1;
		s->cmd_sn = res->exp_cmd_sn;
		s->want = (uint32_t)s->nsc < s->params.max_connections ? (uint32_t)s->nsc
									  : s->params.max_connections;
		if (s->want < 1)
			s->want = 1;
		log_info("%s: logged in to %s at %s:%u (TSIH %u, MaxRecvDataSegmentLength %u/%u, "
			 "MaxBurstLength %u, FirstBurstLength %u, ImmediateData %s, InitialR2T %s, "
			 "HeaderDigest %s, DataDigest %s, MaxConnections %u, ErrorRecoveryLevel %u)",
			 s->cfg.label, s->cfg.target_name, p->addr, p->port, s->tsih,
			 s->params.max_recv_dsl, s->params.max_xmit_dsl, s->params.max_burst_length,
			 s->params.first_burst_length, s->params.immediate_data ? "Yes" : "No",
			 s->params.initial_r2t ? "Yes" : "No",
			 s->params.header_digest ? "CRC32C" : "None",
			 s->params.data_digest ? "CRC32C" : "None", s->params.max_connections,
			 s->params.error_recovery_level);
		if (s->params.error_recovery_level < erl_offered(s))
			log_warn("%s: ErrorRecoveryLevel %u asked for, %s grants %u: %s",
				 s->cfg.label, erl_offered(s), s->cfg.target_name,
				 s->params.error_recovery_level,
				 s->params.error_recovery_level ? "no connection recovery"
								: "a lost PDU costs the connection");
		if ((uint32_t)s->nsc > s->want)
			log_warn("%s: %d connections configured, the target allows %u", s->cfg.label,
				 s->nsc, s->want);
		for (int i = 0; i < s->nsc; i++)
			backoff_reset(&s->sc[i].retry, now_s()); /* the others join at once */
	} else {
		update_window(s, res->exp_cmd_sn, res->max_cmd_sn);
		log_info("%s: connection %u joined the session at %s:%u%s%s (TSIH %u)", s->cfg.label,
			 sc->cid, p->addr, p->port, p->netdev && p->netdev[0] ? " via " : "",
			 p->netdev ? p->netdev : "", s->tsih);
	}
	if (erl(s) >= 1)
		h.digest_error = erl_digest_error;
	r = conn_start(c, &h, res->params.max_recv_dsl, res->params.header_digest,
		       res->params.data_digest, evloop_get((s->loop_base + sc->cid) % nloops));
	if (r) {
		sc->conn = NULL;
		snprintf(err, errlen, "cannot start the connection: %s", strerror(-r));
	}
	return r;
}

/* Log sc in to the running session; sc is IN_LOGIN. The lock is dropped meanwhile. */
void add_conn(struct session *s, struct sconn *sc)
{
	uint32_t cmd_sn = s->cmd_sn;
	uint16_t tsih = s->tsih;
	struct scsi_task *done_list = NULL;
	struct login_result res;
	struct conn *c = NULL;
	char err[512] = "";
	int r;

	pthread_mutex_unlock(&s->lock);
	r = login_conn(s, sc, tsih, cmd_sn, &c, &res, err, sizeof(err));
	pthread_mutex_lock(&s->lock);
	if (sc->state == CS_IN_LOGIN_STALE || s->state != SS_LOGGED_IN || s->timer_stop) {
		/* The session moved on meanwhile: what this login brought goes. */
		if (!r) {
			pthread_mutex_unlock(&s->lock);
			conn_free(c);
			pthread_mutex_lock(&s->lock);
		}
		conn_event(sc, sc->state == CS_IN_LOGIN_STALE && !r ? CE_LOGIN_OK : CE_LOGIN_FAILED,
			   &done_list);
		return;
	}
	if (!r)
		r = install_conn(s, sc, c, &res, 0, err, sizeof(err));
	if (r) {
		if (c && !sc->conn) {
			pthread_mutex_unlock(&s->lock);
			conn_free(c);
			pthread_mutex_lock(&s->lock);
		}
		snprintf(sc->reason, sizeof(sc->reason), "%s", err);
		conn_event(sc, CE_LOGIN_FAILED, &done_list);
		log_warn("%s: connection %u to %s:%u: login attempt %d failed: %s; next in %u s",
			 s->cfg.label, sc->cid, sc->portal->addr, sc->portal->port, sc->retry.attempts,
			 err, (unsigned)(sc->retry.next - now_s()));
		return;
	}
	conn_event(sc, CE_LOGIN_OK, &done_list);
}

static void *add_main(void *arg)
{
	struct sconn *sc = arg;
	struct session *s = sc->s;

	pthread_mutex_lock(&s->lock);
	add_conn(s, sc);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* sc joins the session on a thread of its own. */
static void start_add(struct session *s, struct sconn *sc)
{
	struct scsi_task *done_list = NULL;
	pthread_attr_t a;
	pthread_t th;

	conn_event(sc, CE_LOGIN, &done_list);
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &a, add_main, sc))
		conn_event(sc, CE_LOGIN_FAILED, &done_list);
	pthread_attr_destroy(&a);
}

/* Per connection: liveness, cleaning up lost ones, logging in the missing. */
static void check_conns(struct session *s, time_t now)
{
	struct scsi_task *done_list = NULL;

	for (int i = 0; i < s->nsc && !s->timer_stop; i++) {
		struct sconn *sc = &s->sc[i];

		if (s->state != SS_LOGGED_IN && s->state != SS_DROPPING &&
		    s->state != SS_TARGET_LOGOUT)
			break;
		switch (sc->state) {
		case CS_LOGGED_IN:
			check_liveness(s, sc, now);
			break;
		case CS_CLEANUP_WAIT:
			if (sc->conn) {
				retire_conn(s, sc); /* the lock was dropped: look again next round */
			} else if (!sc->active) {
				/* Nothing of ours to clean up there: logging in again with its CID
				 * ends what is left of it at the target (RFC 7143 6.3.4). */
				conn_event(sc, CE_NOTHING_TO_CLEAN, &done_list);
			} else if (now >= sc->retry.next && s->nup > 0) {
				/* At ErrorRecoveryLevel 2 the target keeps its tasks for TASK
				 * REASSIGN (RFC 7143 7.1.4); below, it ends them. */
				int recover = erl(s) >= 2;

				if (start_cleanup(s, sc, pick_conn(s), recover ? 2 : 1) == 0)
					conn_event(sc, recover ? CE_RECOVER : CE_CLEANUP, &done_list);
				else
					sc->retry.next = now + 1;
			}
			break;
		case CS_REASSIGN_WAIT:
			if (now >= sc->cleanup_deadline)
				conn_event(sc, CE_RETAIN_EXPIRED, &done_list);
			else if (now >= sc->retry.next && s->nup > 0)
				conn_event(sc, CE_REASSIGN, &done_list);
			break;
		case CS_REASSIGNING:
			/* Those without a place for their TASK REASSIGN yet go now. */
			if (sc->active)
				reassign_tasks(s, sc, &done_list);
			if (!sc->active && !sc->reassigning)
				conn_event(sc, CE_REASSIGNED, &done_list);
			break;
		case CS_IN_CLEANUP:
		case CS_IN_RECOVERY:
		case CS_IN_LOGOUT:
			if (now >= sc->cleanup_deadline) {
				char why[160];

				snprintf(why, sizeof(why), "no answer to the Logout closing %s"
					 "connection %u", sc->state != CS_IN_LOGOUT ? "lost " : "",
					 sc->cid);
				log_err("%s: %s; reinstating the session", s->cfg.label, why);
				sc->cleanup_deadline = now + LOGOUT_WAIT_S;
				drop_all(s, why, &done_list);
			}
			break;
		case CS_FREE:
			if (sc->conn)
				retire_conn(s, sc);
			else if ((uint32_t)i < s->want && now >= sc->retry.next &&
				 s->state == SS_LOGGED_IN)
				start_add(s, sc);
			break;
		default:
			break;
		}
	}
	if (done_list) {
		pthread_mutex_unlock(&s->lock);
		run_done(done_list);
		pthread_mutex_lock(&s->lock);
	}
}

/* One reinstatement attempt: a leading login with the session's ISID and TSIH 0 replaces
 * the lost session at the target (RFC 7143 6.3.5), and the tasks that wait go on it. The
 * lock is dropped while talking to the network. */
static void reinstate(struct session *s)
{
	struct scsi_task *done_list = NULL;
	struct conn *c = NULL;
	struct login_result res;
	char err[512] = "";
	int r, lead = 0;

	retire_all(s);
	pthread_mutex_unlock(&s->lock);
	r = login_leading(s, &lead, &c, &res, err, sizeof(err));
	pthread_mutex_lock(&s->lock);
	if (s->timer_stop || (s->state != SS_FAILED && s->state != SS_EXPIRED)) {
		/* Paused or logging out meanwhile. */
		if (!r) {
			pthread_mutex_unlock(&s->lock);
			conn_free(c);
			pthread_mutex_lock(&s->lock);
		}
		return;
	}
	if (!r) {
		r = install_conn(s, &s->sc[lead], c, &res, 1, err, sizeof(err));
		if (r) {
			pthread_mutex_unlock(&s->lock);
			conn_free(c);
			pthread_mutex_lock(&s->lock);
		}
	}
	if (r) {
		backoff_failed(&s->retry, time2wait(s), REINSTATE_BACKOFF_MAX, now_s());
		log_warn("%s: reconnect attempt %d to %s failed: %s; next in %u s", s->cfg.label,
			 s->retry.attempts, s->cfg.target_name, err,
			 (unsigned)(s->retry.next - now_s()));
		sess_event(s, SE_LOGIN_FAILED, NULL, &done_list);
	} else {
		conn_event(&s->sc[lead], CE_LOGIN, &done_list);
		conn_event(&s->sc[lead], CE_LOGIN_OK, &done_list);
		log_info("%s: session recovered after %ld s (%d attempt(s))", s->cfg.label,
			 (long)(now_s() - s->fail_time), s->retry.attempts + 1);
		sess_event(s, SE_REINSTATED, NULL, &done_list);
	}
	if (done_list) {
		pthread_mutex_unlock(&s->lock);
		run_done(done_list);
		pthread_mutex_lock(&s->lock);
	}
}

/* While failed: I/O waits up to replacement_timeout, then fails; reinstating goes on. */
static void check_recovery(struct session *s, time_t now)
{
	struct scsi_task *done_list = NULL;

	if (s->state == SS_FAILED && now - s->fail_time >= (time_t)s->cfg.replacement_timeout) {
		sess_event(s, SE_REPLACEMENT_TIMEOUT, NULL, &done_list);
		pthread_mutex_unlock(&s->lock);
		run_done(done_list);
		pthread_mutex_lock(&s->lock);
	}
	if ((s->state == SS_FAILED || s->state == SS_EXPIRED) && now >= s->retry.next &&
	    !s->timer_stop)
		reinstate(s);
}

static void *timer_main(void *arg)
{
	struct session *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->timer_stop) {
		struct timespec until;
		time_t now = now_s();

		if (s->state == SS_LOGGED_IN || s->state == SS_DROPPING ||
		    s->state == SS_TARGET_LOGOUT) {
			check_timeouts(s, now);
			check_conns(s, now);
		}
		if (s->state == SS_FAILED || s->state == SS_EXPIRED)
			check_recovery(s, now);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&s->timer_cond, &s->lock, &until);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

int start_timer(struct session *s, char *err, size_t errlen)
{
	int r = -pthread_create(&s->timer, NULL, timer_main, s);

	s->timer_running = !r;
	if (r)
		snprintf(err, errlen, "cannot start the session timer: %s", strerror(-r));
	return r;
}

void timer_stop(struct session *s)
{
	if (!s->timer_running)
		return;
	pthread_mutex_lock(&s->lock);
	s->timer_stop = 1;
	pthread_cond_broadcast(&s->timer_cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->timer, NULL);
	s->timer_running = 0;
}

/* The first leading login, or the one that resumes after a pause: sess in ACTIVE or
 * RESUMING, no lock held. */
int login_lead(struct session *s, char *err, size_t errlen)
{
	struct scsi_task *done_list = NULL;
	struct login_result res;
	struct conn *c = NULL;
	int r, lead = 0;

	r = login_leading(s, &lead, &c, &res, err, errlen);
	pthread_mutex_lock(&s->lock);
	if (!r && s->state != SS_ACTIVE && s->state != SS_RESUMING) {
		pthread_mutex_unlock(&s->lock);
		conn_free(c); /* logged out meanwhile */
		return -ECANCELED;
	}
	if (!r) {
		r = install_conn(s, &s->sc[lead], c, &res, 1, err, errlen);
		if (r) {
			pthread_mutex_unlock(&s->lock);
			conn_free(c);
			pthread_mutex_lock(&s->lock);
		}
	}
	if (r) {
		sess_event(s, SE_LOGIN_FAILED, NULL, &done_list);
	} else {
		conn_event(&s->sc[lead], CE_LOGIN, &done_list);
		conn_event(&s->sc[lead], CE_LOGIN_OK, &done_list);
		sess_event(s, SE_LOGIN_OK, NULL, &done_list);
	}
	pthread_mutex_unlock(&s->lock);
	run_done(done_list);
	return r;
}
