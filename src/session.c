/* A session's public life: creation, the first login (and the connections that join it),
 * pause and resume (howto section 3 D), logout, and status. The protocol itself is in
 * task.c, session_rx.c, session_tmf.c; the state machines in session_fsm.c; losses and
 * recovery in session_recovery.c. */
#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "session_int.h"

time_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

struct session *session_new(const struct session_config *cfg)
{
	static unsigned sessions; /* spreads sessions over the loops */
	struct session *s = calloc(1, sizeof(*s));
	uint32_t n = cfg->max_tasks ? cfg->max_tasks : 128;

	if (!s)
		return NULL;
	if (n > MAX_SLOTS)
		n = MAX_SLOTS;
	s->cfg = *cfg;
	s->cfg.max_tasks = n;
	s->nsc = cfg->nconns ? (int)cfg->nconns : 1;
	if (s->nsc > SESSION_MAX_CONNS)
		s->nsc = SESSION_MAX_CONNS;
	s->want = 1;
	for (int i = 0; i < s->nsc; i++) {
		s->sc[i].s = s;
		s->sc[i].cid = (uint16_t)i;
		s->sc[i].portal = &cfg->portals[i % (cfg->nportals > 0 ? cfg->nportals : 1)];
	}
	s->slots = calloc(n, sizeof(*s->slots));
	s->free_slots = calloc(n, sizeof(*s->free_slots));
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	pthread_cond_init(&s->timer_cond, NULL);
	if (!s->slots || !s->free_slots) {
		session_free(s);
		return NULL;
	}
	for (uint32_t i = 0; i < n; i++)
		s->free_slots[s->nfree++] = (int)(n - 1 - i);
	s->loop_base = __atomic_fetch_add(&sessions, 1, __ATOMIC_RELAXED);
	/* ISID type "random" (RFC 7143 10.12.5): kept for the life of the session object, so a
	 * re-login reinstates rather than adds a session. */
	s->isid[0] = 0x80;
	RAND_bytes(s->isid + 1, 5);
	params_defaults(&s->params);
	return s;
}

const struct iscsi_params *session_params(const struct session *s)
{
	return &s->params;
}

uint16_t session_tsih(const struct session *s)
{
	return s->tsih;
}

const char *sconn_state_str(enum sconn_state st)
{
	switch (st) {
	case SCONN_UP: return "logged in";
	case SCONN_LOGGING_IN: return "logging in";
	case SCONN_FAILED: return "failed";
	case SCONN_CLEANING: return "cleaning up";
	default: return "down";
	}
}

int session_login(struct session *s, char *err, size_t errlen)
{
	struct scsi_task *done_list = NULL;
	int r;

	pthread_mutex_lock(&s->lock);
	r = sess_event(s, SE_LOGIN, NULL, &done_list);
	pthread_mutex_unlock(&s->lock);
	if (r) {
		snprintf(err, errlen, "the session is not down");
		return -EBUSY;
	}
	r = login_lead(s, err, errlen);
	if (r)
		return r;
	/* The other connections join before the channel reports itself started; one that
	 * cannot is logged and tried again by the timer. */
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < s->nsc && (uint32_t)i < s->want && s->state == SS_LOGGED_IN; i++) {
		if (s->sc[i].state != CS_FREE)
			continue;
		conn_event(&s->sc[i], CE_LOGIN, &done_list);
		add_conn(s, &s->sc[i]);
	}
	pthread_mutex_unlock(&s->lock);
	return start_timer(s, err, errlen);
}

void session_pause(struct session *s)
{
	struct scsi_task *done_list = NULL;
	enum sess_state was;

	pthread_mutex_lock(&s->lock);
	was = s->state;
	if (sess_event(s, SE_PAUSE, NULL, &done_list) || s->state != SS_PAUSING) {
		pthread_mutex_unlock(&s->lock);
		if (s->state == SS_PAUSED && was != SS_PAUSED)
			log_info("%s: paused while recovering", s->cfg.label);
		return;
	}
	logout_and_wait(s);
	s->pend_head = s->pend_tail = NULL; /* every live task is sent again on resume */
	tmfs_forget(s, NULL);
	retire_all(s);
	wait_logins(s);
	pthread_mutex_unlock(&s->lock);
	log_info("%s: paused: logged out of %s; I/O waits until the channel is started", s->cfg.label,
		 s->cfg.target_name);
}

int session_resume(struct session *s, char *err, size_t errlen)
{
	struct scsi_task *done_list = NULL;
	int r;

	pthread_mutex_lock(&s->lock);
	if (s->state != SS_PAUSED) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	sess_event(s, SE_LOGIN, NULL, &done_list);
	pthread_mutex_unlock(&s->lock);
	r = login_lead(s, err, errlen);
	if (r == -ECANCELED)
		return 0;
	if (!r)
		log_info("%s: resumed", s->cfg.label);
	return r;
}

/* The status of a connection as initiator-ctl shows it. */
static enum sconn_state shown_state(enum conn_state st)
{
	switch (st) {
	case CS_LOGGED_IN: return SCONN_UP;
	case CS_IN_LOGIN:
	case CS_IN_LOGIN_STALE: return SCONN_LOGGING_IN;
	case CS_CLEANUP_WAIT: return SCONN_FAILED;
	case CS_IN_CLEANUP:
	case CS_IN_RECOVERY:
	case CS_REASSIGN_WAIT:
	case CS_REASSIGNING:
	case CS_IN_LOGOUT: return SCONN_CLEANING;
	default: return SCONN_DOWN;
	}
}

void session_get_info(struct session *s, struct session_info *out)
{
	time_t now = now_s();

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&s->lock);
	out->status = session_status(s);
	snprintf(out->isid, sizeof(out->isid), "%02x%02x%02x%02x%02x%02x", s->isid[0], s->isid[1],
		 s->isid[2], s->isid[3], s->isid[4], s->isid[5]);
	out->tsih = s->tsih;
	if (s->state == SS_FAILED || s->state == SS_EXPIRED) {
		snprintf(out->reason, sizeof(out->reason), "%s", s->lost_reason);
		out->down_for = (long)(now - s->fail_time);
		out->io_fails_in = s->state == SS_EXPIRED
					   ? -1
					   : (long)(s->fail_time + s->cfg.replacement_timeout - now);
		out->attempts = s->retry.attempts;
	}
	out->inflight = s->cfg.max_tasks - (uint32_t)s->nfree;
	out->commands = s->commands;
	out->snacks = s->snacks;
	out->resent = s->resent;
	out->reassigned = s->reassigned;
	out->not_reassigned = s->not_reassigned;
	out->erl_offered = erl_offered(s);
	out->params = s->params;
	out->conns_wanted = s->want;
	out->nconns = s->nsc;
	for (int i = 0; i < s->nsc; i++) {
		const struct sconn *sc = &s->sc[i];
		struct sconn_info *ci = &out->conns[i];
		uint64_t tx = 0, rx = 0;

		ci->cid = sc->cid;
		ci->state = shown_state(sc->state);
		snprintf(ci->addr, sizeof(ci->addr), "%s", sc->portal->addr);
		ci->port = sc->portal->port;
		snprintf(ci->netdev, sizeof(ci->netdev), "%s",
			 sc->portal->netdev ? sc->portal->netdev : "");
		if (sc->state != CS_LOGGED_IN)
			snprintf(ci->reason, sizeof(ci->reason), "%s",
				 (uint32_t)i >= s->want && !sc->reason[0]
					 ? "beyond the target's MaxConnections" : sc->reason);
		ci->inflight = sc->active;
		ci->commands = sc->commands;
		if (sc->conn)
			conn_counters(sc->conn, &tx, &rx);
		ci->bytes_sent = tx + __atomic_load_n(&sc->old_tx, __ATOMIC_RELAXED);
		ci->bytes_received = rx + __atomic_load_n(&sc->old_rx, __ATOMIC_RELAXED);
		ci->header_digest = sc->header_digest;
		ci->data_digest = sc->data_digest;
		ci->max_xmit_dsl = sc->max_xmit_dsl;
		out->bytes_sent += ci->bytes_sent;
		out->bytes_received += ci->bytes_received;
	}
	pthread_mutex_unlock(&s->lock);
}

enum session_status session_status(const struct session *s)
{
	switch (__atomic_load_n(&s->state, __ATOMIC_RELAXED)) {
	case SS_LOGGED_IN:
	case SS_DROPPING:
	case SS_TARGET_LOGOUT:
		return SESSION_UP;
	case SS_FAILED:
	case SS_EXPIRED:
		return SESSION_RECOVERING;
	case SS_PAUSING:
	case SS_PAUSED:
	case SS_RESUMING:
		return SESSION_PAUSED;
	default:
		return SESSION_DOWN;
	}
}

void session_logout(struct session *s)
{
	struct scsi_task *done_list = NULL;
	enum sess_state was;

	pthread_mutex_lock(&s->lock);
	was = s->state;
	sess_event(s, SE_LOGOUT, NULL, &done_list);
	if (was == SS_LOGGED_IN || was == SS_DROPPING) {
		if (logout_and_wait(s))
			log_info("%s: logged out of %s", s->cfg.label, s->cfg.target_name);
		else
			log_warn("%s: no answer to the logout from %s within %d s", s->cfg.label,
				 s->cfg.target_name, LOGOUT_WAIT_S);
	} else if (s->state == SS_LOGGING_OUT) {
		sess_event(s, SE_LOGOUT_DONE, NULL, &done_list);
	}
	pthread_mutex_unlock(&s->lock);
	timer_stop(s);
	pthread_mutex_lock(&s->lock);
	wait_logins(s);
	retire_all(s);
	fail_all(s, &done_list);
	pthread_mutex_unlock(&s->lock);
	run_done(done_list);
}

void session_free(struct session *s)
{
	struct scsi_task *done_list = NULL;

	if (!s)
		return;
	timer_stop(s);
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < s->nsc; i++)
		if (s->sc[i].state == CS_IN_LOGIN)
			conn_event(&s->sc[i], CE_SESSION_DOWN, &done_list);
	wait_logins(s);
	pthread_mutex_unlock(&s->lock);
	for (int i = 0; i < s->nsc; i++)
		conn_free(s->sc[i].conn);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	pthread_cond_destroy(&s->timer_cond);
	free(s->slots);
	free(s->free_slots);
	free(s);
}
