/* The in-memory session of session_fixture.h. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "byteorder.h"
#include "session_fixture.h"

static void task_done(struct scsi_task *t)
{
	struct fx *f = t->priv;

	assert_true(f->ndone < NTASKS);
	f->done[f->ndone++] = t;
}

/* A session of nconns connections, all FREE, as session_new leaves it. */
struct fx *fx_new(int nconns, uint32_t replacement_timeout, int fast_fail)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct session *s;

	assert_non_null(f);
	stub_reset();
	s = &f->s;
	f->portal.addr = "127.0.0.1";
	f->portal.port = 3260;
	s->cfg.label = "ch0";
	s->cfg.target_name = "iqn.2026-11.org.iscsifs.test:fsm";
	s->cfg.portals = &f->portal;
	s->cfg.nportals = 1;
	s->cfg.nconns = (uint32_t)nconns;
	s->cfg.max_tasks = NSLOTS;
	s->cfg.command_timeout = 30;
	s->cfg.replacement_timeout = replacement_timeout;
	s->cfg.fast_fail = fast_fail;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	pthread_cond_init(&s->timer_cond, NULL);
	s->slots = f->slots;
	s->free_slots = f->free_slots;
	for (int i = 0; i < NSLOTS; i++)
		s->free_slots[s->nfree++] = NSLOTS - 1 - i;
	s->nsc = nconns;
	s->want = (uint32_t)nconns;
	for (int i = 0; i < nconns; i++) {
		s->sc[i].s = s;
		s->sc[i].cid = (uint16_t)i;
		s->sc[i].portal = &f->portal;
	}
	for (int i = 0; i < SESSION_MAX_CONNS; i++)
		f->conns[i].id = i;
	s->params.default_time2wait = TIME2WAIT;
	s->params.max_connections = (uint32_t)nconns;
	s->params.first_burst_length = 65536;
	s->params.max_burst_length = 262144;
	s->params.max_xmit_dsl = 8192;
	s->tsih = 7;
	s->cmd_sn = s->exp_cmd_sn = 1;
	s->max_cmd_sn = 64;
	return f;
}

void fx_free(struct fx *f)
{
	stub_reset();
	pthread_mutex_destroy(&f->s.lock);
	pthread_cond_destroy(&f->s.cond);
	pthread_cond_destroy(&f->s.timer_cond);
	free(f);
}

struct sconn *sc_of(struct fx *f, int i)
{
	return &f->s.sc[i];
}

/* What install_conn does to the slot, without the socket. */
void attach(struct fx *f, int i, struct conn *c)
{
	struct sconn *sc = sc_of(f, i);

	sc->conn = c;
	sc->exp_stat_sn = 100;
	sc->max_xmit_dsl = 8192;
}

int sev(struct fx *f, enum sess_event ev, struct sconn *cause)
{
	struct scsi_task *done_list = NULL;
	int r = sess_event(&f->s, ev, cause, &done_list);

	run_done(done_list);
	return r;
}

int cev(struct fx *f, int i, enum conn_event ev)
{
	struct scsi_task *done_list = NULL;
	int r = conn_event(sc_of(f, i), ev, &done_list);

	run_done(done_list);
	return r;
}

/* A connection joins the running session, as add_conn does. */
void join(struct fx *f, int i, struct conn *c)
{
	assert_int_equal(cev(f, i, CE_LOGIN), 0);
	assert_int_equal(sc_of(f, i)->state, CS_IN_LOGIN);
	attach(f, i, c);
	assert_int_equal(cev(f, i, CE_LOGIN_OK), 0);
	assert_int_equal(sc_of(f, i)->state, CS_LOGGED_IN);
}

/* The first login, as session_login and login_lead do it: connection 0 leads, the others
 * join. */
void log_in(struct fx *f)
{
	assert_int_equal(sev(f, SE_LOGIN, NULL), 0);
	assert_int_equal(f->s.state, SS_ACTIVE);
	attach(f, 0, &f->conns[0]);
	assert_int_equal(cev(f, 0, CE_LOGIN), 0);
	assert_int_equal(cev(f, 0, CE_LOGIN_OK), 0);
	assert_int_equal(sev(f, SE_LOGIN_OK, NULL), 0);
	assert_int_equal(f->s.state, SS_LOGGED_IN);
	for (int i = 1; i < f->s.nsc; i++)
		join(f, i, &f->conns[i]);
	assert_int_equal(f->s.nup, f->s.nsc);
}

/* A READ of one block, as the FUSE side submits it; what went out is written at once. */
struct scsi_task *submit(struct fx *f)
{
	struct scsi_task *t;

	assert_true(f->ntasks < NTASKS);
	t = &f->tasks[f->ntasks];
	memset(t, 0, sizeof(*t));
	t->cdb[0] = 0x28;
	t->cdb_len = 10;
	t->dir = TASK_DIR_READ;
	t->buf = f->bufs[f->ntasks];
	t->len = sizeof(f->bufs[0]);
	t->done = task_done;
	t->priv = f;
	f->ntasks++;
	session_submit(&f->s, t);
	stub_write_all();
	return t;
}

int was_done(const struct fx *f, const struct scsi_task *t)
{
	for (int i = 0; i < f->ndone; i++)
		if (f->done[i] == t)
			return 1;
	return 0;
}

/* A PDU from the target on connection i, its sequence numbers in order. */
int rx(struct fx *f, int i, struct pdu_hdr *h)
{
	char err[256];

	h->stat_sn = sc_of(f, i)->exp_stat_sn;
	h->exp_cmd_sn = f->s.exp_cmd_sn;
	h->max_cmd_sn = f->s.max_cmd_sn;
	return rx_end(sc_of(f, i), h, NULL, err, sizeof(err));
}

int rx_async(struct fx *f, int i, uint8_t event)
{
	struct pdu_hdr h = {.opcode = OP_ASYNC, .itt = RSVD_TAG};

	h.u.async.event = event;
	return rx(f, i, &h);
}

int rx_logout_rsp(struct fx *f, int i, uint32_t itt, uint8_t response)
{
	struct pdu_hdr h = {.opcode = OP_LOGOUT_RSP, .itt = itt};

	h.u.logout_rsp.response = response;
	return rx(f, i, &h);
}

int rx_scsi_good(struct fx *f, struct scsi_task *t)
{
	struct pdu_hdr h = {.opcode = OP_SCSI_RSP, .itt = t->itt};

	return rx(f, (int)(t->sc - f->s.sc), &h);
}

/* The connection's loop reports it gone. */
void lose(struct fx *f, int i, const char *reason)
{
	on_failed(sc_of(f, i), -ECONNRESET, reason);
}

void locked_retire_all(struct fx *f)
{
	pthread_mutex_lock(&f->s.lock);
	retire_all(&f->s);
	pthread_mutex_unlock(&f->s.lock);
}

uint8_t chain_opcode(const struct stub_chain *ch)
{
	return ch->bhs[0] & 0x3f;
}

uint32_t chain_itt(const struct stub_chain *ch)
{
	return get_be32(ch->bhs + 16);
}

uint32_t chain_cmd_sn(const struct stub_chain *ch)
{
	return get_be32(ch->bhs + 24);
}

/* A Logout Request: its reason code (RFC 7143 11.14.1) and CID. */
uint8_t logout_reason(const struct stub_chain *ch)
{
	return ch->bhs[1] & 0x7f;
}

uint16_t logout_cid(const struct stub_chain *ch)
{
	return get_be16(ch->bhs + 20);
}
