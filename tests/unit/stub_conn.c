/* The connection, the login, the event loops and the clock, in memory (stub_conn.h): linked
 * into unit tests in place of conn.c, login.c, evloop.c and session.c's clock. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evloop.h"
#include "session_int.h"
#include "stub_conn.h"

time_t stub_now = 1000;
struct stub_chain stub_chains[STUB_MAX_CHAINS];
int stub_nchains;
int (*stub_login)(const struct login_params *lp, struct conn **out, struct login_result *res,
		  char *err, size_t errlen);

time_t now_s(void)
{
	return stub_now;
}

static void free_owned(struct txreq *first, struct txreq *last)
{
	for (struct txreq *t = first, *next; t; t = next) {
		int end = t == last;

		next = t->next;
		if (t->owned)
			free(t);
		if (end)
			break;
	}
}

int conn_queue(struct conn *c, struct txreq *first, struct txreq *last)
{
	struct stub_chain *ch;

	if (c->queue_fails || stub_nchains == STUB_MAX_CHAINS) {
		free_owned(first, last);
		return -EPIPE;
	}
	ch = &stub_chains[stub_nchains++];
	memset(ch, 0, sizeof(*ch));
	ch->c = c;
	ch->first = first;
	ch->last = last;
	memcpy(ch->bhs, first->bhs, BHS_LEN);
	for (struct txreq *t = first; t; t = t->next) {
		ch->npdus++;
		if (t == last)
			break;
	}
	return 0;
}

/* The chain leaves the connection: written (err 0) or dropped. */
static void chain_done(struct stub_chain *ch, int err)
{
	void (*sent)(void *, int) = ch->last->sent;
	void *ctx = ch->last->ctx;

	ch->done = 1;
	free_owned(ch->first, ch->last);
	if (sent)
		sent(ctx, err);
}

void stub_write_all(void)
{
	for (int i = 0; i < stub_nchains; i++)
		if (!stub_chains[i].done)
			chain_done(&stub_chains[i], 0);
}

int stub_chains_on(const struct conn *c)
{
	int n = 0;

	for (int i = 0; i < stub_nchains; i++)
		n += stub_chains[i].c == c;
	return n;
}

const struct stub_chain *stub_last_chain(const struct conn *c)
{
	for (int i = stub_nchains - 1; i >= 0; i--)
		if (stub_chains[i].c == c)
			return &stub_chains[i];
	return NULL;
}

void stub_reset(void)
{
	for (int i = 0; i < stub_nchains; i++)
		if (!stub_chains[i].done)
			free_owned(stub_chains[i].first, stub_chains[i].last);
	stub_nchains = 0;
	stub_now = 1000;
	stub_login = NULL;
}

void conn_abort(struct conn *c, const char *reason)
{
	c->aborts++;
	snprintf(c->abort_reason, sizeof(c->abort_reason), "%s", reason);
}

int conn_start(struct conn *c, const struct conn_handler *handler, uint32_t max_recv_dsl,
	       int hdr_digest, int data_digest, struct evloop *loop)
{
	(void)handler, (void)max_recv_dsl, (void)hdr_digest, (void)data_digest, (void)loop;
	c->started++;
	return 0;
}

void conn_stop(struct conn *c)
{
	c->stopped++;
	for (int i = 0; i < stub_nchains; i++)
		if (stub_chains[i].c == c && !stub_chains[i].done)
			chain_done(&stub_chains[i], -EPIPE);
}

void conn_counters(const struct conn *c, uint64_t *sent, uint64_t *received)
{
	(void)c;
	*sent = *received = 0;
}

void conn_free(struct conn *c)
{
	if (c)
		c->freed++;
}

int login_connect(const char *log_label, const char *conn_label, const char *addr, uint16_t port,
		  const char *netdev, struct login_params *lp, struct conn **out,
		  struct login_result *res, char *err, size_t errlen)
{
	(void)log_label, (void)conn_label, (void)addr, (void)port, (void)netdev;
	if (!stub_login) {
		snprintf(err, errlen, "connection refused");
		return -ECONNREFUSED;
	}
	return stub_login(lp, out, res, err, errlen);
}

unsigned evloops_count(void)
{
	return 1;
}

struct evloop *evloop_get(unsigned i)
{
	(void)i;
	return NULL;
}

struct evloop *evloop_current(void)
{
	return NULL;
}
