/* One TCP connection: connect, the synchronous login-phase exchange, then full-feature phase
 * on an event loop: the loop decodes what arrives, as it arrives, and a queue of PDUs is
 * written with one sendmsg per batch by whichever loop flushes it, never waiting for room. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "conn.h"
#include "crc32c.h"
#include "evloop.h"
#include "log.h"
#include "portal.h"

#define MAX_AHS 1024
#define HDR_MAX (BHS_LEN + MAX_AHS + 4)
#define TX_BATCH 128 /* PDUs per sendmsg */
#define IOV_PER_PDU 5 /* header, header digest, data, padding, data digest */
#define RX_BUF 65536 /* read ahead: several small PDUs per recv */
#define RX_LARGE 16384 /* this much of a data segment still to come goes straight to its place */
#define RX_BUDGET (1024 * 1024) /* bytes one readiness event may take before others' turn */

struct sent_cb {
	void (*fn)(void *ctx, int err);
	void *ctx;
};

/* What one sendmsg takes: headers are copied here, so a txreq is not read after it is
 * taken off the queue. Partly written batches are finished by the next writer. */
struct tx_batch {
	uint8_t hdrs[TX_BATCH][BHS_LEN];
	uint8_t hdig[TX_BATCH][4], ddig[TX_BATCH][4];
	struct iovec iov[TX_BATCH * IOV_PER_PDU];
	int niov, cur; /* iov[cur..niov) is still to be written */
	struct txreq *owned[TX_BATCH];
	struct sent_cb cbs[TX_BATCH];
	int nowned, ncb;
	uint64_t bytes;
};

enum rx_phase { RX_HDR, RX_DATA };

struct conn {
	char label[128];
	int fd;
	int refs; /* atomic: the owner's, one per queued flush, one per sync call */
	struct evloop *loop;
	struct ev_watch watch;
	struct ev_task flush_task;
	struct ev_task rx_task; /* the receive side goes on after its budget was spent */
	struct conn_handler handler;
	uint32_t max_recv_dsl;
	int hdr_digest, data_digest; /* CRC32C, from the first full-feature PDU on */
	int started, failed, out_armed;

	/* Receive side: the loop's alone. */
	uint8_t *scratch;
	uint8_t *rxbuf; /* rx_start..rx_end not yet consumed */
	size_t rx_start, rx_end;
	enum rx_phase phase;
	int rx_drained; /* a read took less than it asked: the socket is empty until the next event */
	struct pdu_hdr h;
	uint8_t *dst;
	uint32_t seg_got;  /* of the data segment */
	uint32_t tail_got; /* of the padding and data digest after it */
	uint8_t tail[8];
	uint32_t crc;
	int discard; /* the PDU being read failed its header digest: its bytes go */
	int resync;  /* the last header failed its digest: this one must not */

	/* Send side. */
	pthread_mutex_t tx_lock;
	struct txreq *tx_head, *tx_tail;
	struct tx_batch *batch;
	int writer;      /* a thread is writing the queue out */
	int flush_again; /* someone queued or the socket freed up while it did */
	int stopping;
	int tx_failed;
	char abort_reason[160]; /* under tx_lock */
	uint64_t bytes_sent, bytes_received; /* atomic */
};

struct conn *conn_new(const char *label)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	snprintf(c->label, sizeof(c->label), "%s", label);
	c->fd = -1;
	c->refs = 1;
	pthread_mutex_init(&c->tx_lock, NULL);
	return c;
}

const char *conn_label(const struct conn *c)
{
	return c->label;
}

struct evloop *conn_loop(const struct conn *c)
{
	return c->loop;
}

static void conn_ref(struct conn *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
}

static void conn_unref(struct conn *c)
{
	if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL))
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->scratch);
	free(c->rxbuf);
	free(c->batch);
	pthread_mutex_destroy(&c->tx_lock);
	free(c);
}

int conn_connect(struct conn *c, const char *addr, uint16_t port, const char *netdev,
		 int timeout_s, char *err, size_t errlen)
{
	char peer[PORTAL_STR_MAX], shown[PORTAL_STR_MAX], why[512];
	int fd, one = 1, r;

	r = portal_connect(addr, port, netdev, timeout_s * 1000, &fd, peer, sizeof(peer), why,
			   sizeof(why));
	if (r) {
		portal_format(addr, port, shown, sizeof(shown));
		snprintf(err, errlen, "connect to %s: %s", shown, why);
		return r;
	}
	if (portal_host_kind(addr) == PORTAL_NAME)
		log_dbg("%s: %s answered at %s", c->label, addr, peer);
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	/* The socket stays non-blocking: the login exchange waits in poll, the loop never. */
	c->fd = fd;
	return 0;
}

/* Wait until fd is ready for events; 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = events};

	for (;;) {
		int r = poll(&pfd, 1, timeout_ms);

		if (r > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/* Login phase: read exactly len bytes within timeout_ms each wait. 0, -ECONNRESET on EOF,
 * -ETIMEDOUT, -errno. */
static int recv_all(int fd, void *buf, size_t len, int timeout_ms)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, MSG_DONTWAIT);

		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			int r;

			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			r = wait_fd(fd, POLLIN, timeout_ms);
			if (r)
				return r;
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static const uint8_t zero_pad[4];

int conn_send_sync(struct conn *c, const uint8_t bhs[BHS_LEN], const void *data, uint32_t dsl,
		   char *err, size_t errlen)
{
	struct iovec iov[3] = {
		{(void *)bhs, BHS_LEN},
		{(void *)data, dsl},
		{(void *)zero_pad, pad4(dsl) - dsl},
	};
	struct iovec *v = iov;
	int cnt = 3, r = 0;

	while (cnt > 0) {
		struct msghdr m = {.msg_iov = v, .msg_iovlen = (size_t)cnt};
		ssize_t n = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && !(r = wait_fd(c->fd, POLLOUT, 30000)))
				continue;
			r = r ? r : -errno;
			break;
		}
		while (cnt > 0 && (size_t)n >= v->iov_len) {
			n -= (ssize_t)v->iov_len;
			v++;
			cnt--;
		}
		if (cnt > 0) {
			v->iov_base = (uint8_t *)v->iov_base + n;
			v->iov_len -= (size_t)n;
		}
	}
	if (r < 0)
		snprintf(err, errlen, "send: %s", strerror(-r));
	return r;
}

static void recv_error(int r, int timeout_ms, char *err, size_t errlen)
{
	if (r == -ECONNRESET)
		snprintf(err, errlen, "the target closed the connection");
	else if (r == -ETIMEDOUT)
		snprintf(err, errlen, "no answer from the target within %d s", timeout_ms / 1000);
	else
		snprintf(err, errlen, "receive: %s", strerror(-r));
}

static int digest_error(uint32_t wire, uint32_t crc, const char *what, char *err, size_t errlen)
{
	if (wire == crc)
		return 0;
	snprintf(err, errlen, "%s digest error (received 0x%08x, computed 0x%08x)", what, wire, crc);
	return -EBADMSG;
}

/* Check a header (BHS, AHS, and its digest when on) and decode it. */
static int decode_header(struct conn *c, const uint8_t *buf, uint32_t ahs_len, struct pdu_hdr *h,
			 char *err, size_t errlen)
{
	if (c->hdr_digest) {
		int r = digest_error(crc32c_from_wire(buf + BHS_LEN + ahs_len),
				     crc32c(buf, BHS_LEN + ahs_len), "header", err, errlen);

		if (r)
			return r;
	}
	/* No AHS type is meaningful to an initiator in the PDUs it receives: it is skipped. */
	return pdu_decode(buf, h, err, errlen);
}

int conn_recv_sync(struct conn *c, struct pdu_hdr *h, void *buf, uint32_t bufmax, int timeout_s,
		   char *err, size_t errlen)
{
	uint8_t hdr[HDR_MAX], tail[8];
	int timeout_ms = timeout_s * 1000;
	uint32_t ahs_len, npad;
	int r = recv_all(c->fd, hdr, BHS_LEN, timeout_ms);

	if (!r) {
		ahs_len = (uint32_t)hdr[4] * 4;
		r = recv_all(c->fd, hdr + BHS_LEN, ahs_len + (c->hdr_digest ? 4 : 0), timeout_ms);
	}
	if (r) {
		recv_error(r, timeout_ms, err, errlen);
		return r;
	}
	r = decode_header(c, hdr, ahs_len, h, err, errlen);
	if (r)
		return r;
	if (h->dsl > bufmax) {
		snprintf(err, errlen, "%s with a %u-byte data segment, more than the %u allowed",
			 pdu_opcode_name(h->opcode), h->dsl, bufmax);
		return -EPROTO;
	}
	npad = pad4(h->dsl) - h->dsl;
	r = recv_all(c->fd, buf, h->dsl, timeout_ms);
	if (!r)
		r = recv_all(c->fd, tail, npad + (c->data_digest && h->dsl ? 4 : 0), timeout_ms);
	if (r) {
		recv_error(r, timeout_ms, err, errlen);
		return r;
	}
	if (c->data_digest && h->dsl) {
		uint32_t st = crc32c_update(CRC32C_INIT, buf, h->dsl);

		st = crc32c_update(st, tail, npad);
		return digest_error(crc32c_from_wire(tail + npad), crc32c_final(st), "data", err,
				    errlen);
	}
	return 0;
}

/* ---- Full-feature phase: the receive side, on the connection's loop ---- */

/* Fail the connection once: the loop lets go of the socket and the session hears why. */
static void conn_fail(struct conn *c, int err, const char *reason)
{
	char why[256];
	int stopping;

	if (c->failed)
		return;
	c->failed = 1;
	evloop_del(c->loop, &c->watch);
	pthread_mutex_lock(&c->tx_lock);
	stopping = c->stopping;
	c->tx_failed = 1;
	snprintf(why, sizeof(why), "%s", c->abort_reason[0] ? c->abort_reason : reason);
	pthread_mutex_unlock(&c->tx_lock);
	shutdown(c->fd, SHUT_RDWR);
	if (!stopping)
		c->handler.failed(c->handler.arg, err, why);
}

/* Read more into the read-ahead buffer: >0 bytes, 0 when nothing is there now, -errno. */
static int fill_rxbuf(struct conn *c)
{
	ssize_t n;

	if (c->rx_start == c->rx_end) {
		c->rx_start = c->rx_end = 0;
	} else if (RX_BUF - c->rx_end < RX_BUF / 4) {
		/* What is left is less than a header: room for it and much more. */
		memmove(c->rxbuf, c->rxbuf + c->rx_start, c->rx_end - c->rx_start);
		c->rx_end -= c->rx_start;
		c->rx_start = 0;
	}
	if (c->rx_drained)
		return 0;
	for (;;) {
		size_t want = RX_BUF - c->rx_end;

		n = recv(c->fd, c->rxbuf + c->rx_end, want, MSG_DONTWAIT);
		if (n > 0) {
			c->rx_end += (size_t)n;
			c->rx_drained = (size_t)n < want;
			return (int)n;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN ? 0 : -errno;
	}
}

/* Take up to len bytes of the data segment's remainder into p: from the read-ahead buffer,
 * or, when a large part is still to come, straight from the socket. Bytes taken, or -errno;
 * 0 when nothing is there now. */
static int take_bytes(struct conn *c, uint8_t *p, size_t len)
{
	size_t have = c->rx_end - c->rx_start;

	if (have) {
		size_t k = have < len ? have : len;

		memcpy(p, c->rxbuf + c->rx_start, k);
		c->rx_start += k;
		return (int)k;
	}
	if (len >= RX_LARGE) {
		if (c->rx_drained)
			return 0;
		for (;;) {
			ssize_t n = recv(c->fd, p, len, MSG_DONTWAIT);

			if (n > 0) {
				c->rx_drained = (size_t)n < len;
				return (int)n;
			}
			if (n == 0)
				return -ECONNRESET;
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
	}
	{
		int r = fill_rxbuf(c);

		return r <= 0 ? r : take_bytes(c, p, len);
	}
}

/* A digest error the handler may recover from (ErrorRecoveryLevel 1 and 2): 0 and a warning
 * naming what is discarded when it does; otherwise its error, err set. h is NULL for a header
 * that failed its own digest. */
static int digest_recover(struct conn *c, const struct pdu_hdr *h, const char *what, char *err,
			  size_t errlen)
{
	char why[256];
	int r;

	snprintf(why, sizeof(why), "%s", err);
	r = c->handler.digest_error(c->handler.arg, h, err, errlen);
	if (!r)
		log_warn("%s: %s; %s discarded", c->label, why, what);
	return r;
}

/* A header that failed its digest, when the handler recovers: the PDU is skipped by the length
 * it gives, which the next header's digest then confirms (RFC 7143 7.8). */
static int skip_pdu(struct conn *c, const uint8_t *buf, uint32_t ahs_len, char *err,
		    size_t errlen)
{
	uint32_t dsl = pdu_get_dsl(buf);
	char what[64];
	int r;

	if (c->resync || dsl > c->max_recv_dsl)
		return -EBADMSG; /* two in a row, or a length that cannot be: no way to go on */
	snprintf(what, sizeof(what), "%u-byte PDU", dsl);
	r = digest_recover(c, NULL, what, err, errlen);
	if (r)
		return r;
	memset(&c->h, 0, sizeof(c->h));
	c->h.ahs_len = ahs_len;
	c->h.dsl = dsl;
	c->discard = 1;
	c->resync = 1;
	c->rx_start += BHS_LEN + ahs_len + 4;
	c->dst = c->scratch;
	c->seg_got = c->tail_got = 0;
	c->phase = RX_DATA;
	return 0;
}

/* A header is complete in the read-ahead buffer: decode it and find where its data goes. */
static int begin_pdu(struct conn *c, char *err, size_t errlen)
{
	const uint8_t *buf = c->rxbuf + c->rx_start;
	uint32_t ahs_len = (uint32_t)buf[4] * 4;
	void *dst = NULL;
	int r = decode_header(c, buf, ahs_len, &c->h, err, errlen);

	if (r == -EBADMSG && c->handler.digest_error)
		return skip_pdu(c, buf, ahs_len, err, errlen);
	if (r)
		return r;
	c->resync = 0;
	c->rx_start += BHS_LEN + ahs_len + (c->hdr_digest ? 4 : 0);
	if (c->h.dsl > c->max_recv_dsl) {
		snprintf(err, errlen,
			 "%s with a %u-byte data segment, more than MaxRecvDataSegmentLength %u",
			 pdu_opcode_name(c->h.opcode), c->h.dsl, c->max_recv_dsl);
		return -EPROTO;
	}
	r = c->handler.rx_begin(c->handler.arg, &c->h, &dst, err, errlen);
	if (r)
		return r;
	c->dst = dst ? dst : c->scratch;
	c->seg_got = c->tail_got = 0;
	c->crc = CRC32C_INIT;
	c->phase = RX_DATA;
	return 0;
}

/* Bytes of the header still missing from the read-ahead buffer (0: it is all there). */
static size_t header_missing(const struct conn *c)
{
	size_t have = c->rx_end - c->rx_start, need = BHS_LEN;

	if (have >= BHS_LEN)
		need += (size_t)c->rxbuf[c->rx_start + 4] * 4 + (c->hdr_digest ? 4 : 0);
	return have >= need ? 0 : need - have;
}

/* What a read that took nothing means: 0 for "nothing more now", or the error, described. */
static int rx_stopped(int r, char *err, size_t errlen)
{
	if (r < 0)
		recv_error(r, -1, err, errlen);
	return r;
}

/* Read and decode until the socket has nothing more or the budget is spent: 1 to be called
 * again (budget spent), 0 (nothing more now), -errno with err set. */
static int rx_some(struct conn *c, char *err, size_t errlen)
{
	uint64_t taken = 0;

	while (taken < RX_BUDGET) {
		int r;

		if (c->phase == RX_HDR) {
			if (header_missing(c)) {
				r = fill_rxbuf(c);
				if (r <= 0)
					return rx_stopped(r, err, errlen);
				taken += (uint64_t)r;
				continue;
			}
			r = begin_pdu(c, err, errlen);
			if (r)
				return r;
		}
		/* RX_DATA: the segment, then its padding and digest. */
		if (c->seg_got < c->h.dsl) {
			r = take_bytes(c, c->dst + c->seg_got, c->h.dsl - c->seg_got);
			if (r <= 0)
				return rx_stopped(r, err, errlen);
			if (c->data_digest)
				c->crc = crc32c_update(c->crc, c->dst + c->seg_got, (size_t)r);
			c->seg_got += (uint32_t)r;
			taken += (uint64_t)r;
			continue;
		}
		{
			uint32_t npad = pad4(c->h.dsl) - c->h.dsl;
			uint32_t tail = npad + (c->data_digest && c->h.dsl ? 4 : 0);

			if (c->tail_got < tail) {
				r = take_bytes(c, c->tail + c->tail_got, tail - c->tail_got);
				if (r <= 0)
					return rx_stopped(r, err, errlen);
				c->tail_got += (uint32_t)r;
				continue;
			}
			c->phase = RX_HDR;
			__atomic_add_fetch(&c->bytes_received,
					   BHS_LEN + c->h.ahs_len + tail + c->h.dsl +
						   (c->hdr_digest ? 4 : 0),
					   __ATOMIC_RELAXED);
			if (c->discard) {
				c->discard = 0;
				continue;
			}
			if (c->data_digest && c->h.dsl) {
				c->crc = crc32c_update(c->crc, c->tail, npad);
				r = digest_error(crc32c_from_wire(c->tail + npad),
						 crc32c_final(c->crc), "data", err, errlen);
				if (r && c->handler.digest_error) {
					r = digest_recover(c, &c->h, pdu_opcode_name(c->h.opcode),
							   err, errlen);
					if (!r)
						continue; /* the PDU goes; the handler asked again */
				}
				if (r)
					return r;
			}
			r = c->handler.rx_end(c->handler.arg, &c->h, c->h.dsl ? c->dst : NULL, err,
					      errlen);
			if (r)
				return r;
		}
	}
	return 1;
}

static void flush(struct conn *c);

static void rx_run(struct conn *c)
{
	char err[256] = "";
	int r;

	c->rx_drained = 0;
	r = rx_some(c, err, sizeof(err));
	if (r == 1) {
		/* Budget spent with more to do: the rest may already be in the read-ahead buffer,
		 * where no readiness event will come for it, so a task goes on after the others'
		 * turn. */
		conn_ref(c);
		if (!evloop_post(c->loop, &c->rx_task))
			conn_unref(c);
		return;
	}
	if (r < 0)
		conn_fail(c, r, err);
}

static void rx_task(struct ev_task *t)
{
	struct conn *c = (struct conn *)((char *)t - offsetof(struct conn, rx_task));

	if (!c->failed)
		rx_run(c);
	conn_unref(c);
}

static void on_events(struct ev_watch *w, uint32_t events)
{
	struct conn *c = (struct conn *)((char *)w - offsetof(struct conn, watch));

	if (events & EPOLLOUT)
		flush(c);
	if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP)) || c->failed)
		return;
	rx_run(c);
}

/* ---- The send side ---- */

/* Take queued PDUs into the batch. tx_lock held. */
static void fill_batch(struct conn *c)
{
	struct tx_batch *b = c->batch;
	int n = 0, cnt = 0;

	b->nowned = b->ncb = 0;
	b->bytes = 0;
	while (c->tx_head && n < TX_BATCH) {
		struct txreq *t = c->tx_head;

		c->tx_head = t->next;
		memcpy(b->hdrs[n], t->bhs, BHS_LEN);
		b->iov[cnt].iov_base = b->hdrs[n];
		b->iov[cnt++].iov_len = BHS_LEN;
		if (c->hdr_digest) {
			crc32c_to_wire(crc32c(b->hdrs[n], BHS_LEN), b->hdig[n]);
			b->iov[cnt].iov_base = b->hdig[n];
			b->iov[cnt++].iov_len = 4;
		}
		if (t->dsl) {
			uint32_t npad = pad4(t->dsl) - t->dsl;

			b->iov[cnt].iov_base = (void *)t->data;
			b->iov[cnt++].iov_len = t->dsl;
			if (npad) {
				b->iov[cnt].iov_base = (void *)zero_pad;
				b->iov[cnt++].iov_len = npad;
			}
			if (c->data_digest) {
				uint32_t st = crc32c_update(CRC32C_INIT, t->data, t->dsl);

				st = crc32c_update(st, zero_pad, npad);
				crc32c_to_wire(crc32c_final(st), b->ddig[n]);
				b->iov[cnt].iov_base = b->ddig[n];
				b->iov[cnt++].iov_len = 4;
			}
		}
		if (t->sent) {
			b->cbs[b->ncb].fn = t->sent;
			b->cbs[b->ncb++].ctx = t->ctx;
		}
		if (t->owned)
			b->owned[b->nowned++] = t;
		n++;
	}
	if (!c->tx_head)
		c->tx_tail = NULL;
	for (int i = 0; i < cnt; i++)
		b->bytes += b->iov[i].iov_len;
	b->niov = cnt;
	b->cur = 0;
}

/* The batch is written (err 0) or dropped: tell the owners, free the owned. tx_lock held;
 * dropped meanwhile. */
static void finish_batch(struct conn *c, int err)
{
	struct tx_batch *b = c->batch;
	int ncb = b->ncb, nowned = b->nowned;
	struct txreq *owned[TX_BATCH];
	struct sent_cb cbs[TX_BATCH];

	if (!err)
		__atomic_add_fetch(&c->bytes_sent, b->bytes, __ATOMIC_RELAXED);
	memcpy(cbs, b->cbs, sizeof(cbs[0]) * (size_t)ncb);
	memcpy(owned, b->owned, sizeof(owned[0]) * (size_t)nowned);
	b->niov = b->cur = b->ncb = b->nowned = 0;
	pthread_mutex_unlock(&c->tx_lock);
	for (int i = 0; i < ncb; i++)
		cbs[i].fn(cbs[i].ctx, err);
	for (int i = 0; i < nowned; i++)
		free(owned[i]);
	pthread_mutex_lock(&c->tx_lock);
}

/* Have the loop call back when the socket takes more, or stop it. tx_lock held. */
static void want_out(struct conn *c, int on)
{
	if (c->out_armed == on || !c->started)
		return;
	c->out_armed = on;
	evloop_mod(c->loop, &c->watch, EPOLLIN | (on ? EPOLLOUT : 0));
}

/* Write what is queued, without waiting: when the socket is full, the loop's EPOLLOUT goes
 * on later. One writer at a time; another that comes meanwhile leaves a note. No lock held
 * by the caller (the sent() callbacks take the session's). */
static void flush(struct conn *c)
{
	struct tx_batch *b = c->batch;

	pthread_mutex_lock(&c->tx_lock);
	if (c->writer) {
		c->flush_again = 1;
		pthread_mutex_unlock(&c->tx_lock);
		return;
	}
	c->writer = 1;
	while (!c->stopping && !c->tx_failed) {
		struct msghdr m;
		ssize_t n;

		if (b->cur == b->niov) {
			if (b->niov)
				finish_batch(c, 0);
			if (!c->tx_head) {
				want_out(c, 0);
				break;
			}
			fill_batch(c);
		}
		c->flush_again = 0;
		pthread_mutex_unlock(&c->tx_lock);
		memset(&m, 0, sizeof(m));
		m.msg_iov = b->iov + b->cur;
		m.msg_iovlen = (size_t)(b->niov - b->cur > IOV_MAX ? IOV_MAX : b->niov - b->cur);
		n = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		pthread_mutex_lock(&c->tx_lock);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (c->flush_again)
					continue; /* the loop looked while this one wrote */
				want_out(c, 1);
				break;
			}
			log_err("%s: send failed: %s", c->label, strerror(errno));
			c->tx_failed = 1;
			shutdown(c->fd, SHUT_RDWR); /* the loop reports the failure */
			break;
		}
		while (b->cur < b->niov && (size_t)n >= b->iov[b->cur].iov_len) {
			n -= (ssize_t)b->iov[b->cur].iov_len;
			b->cur++;
		}
		if (b->cur < b->niov) {
			b->iov[b->cur].iov_base = (uint8_t *)b->iov[b->cur].iov_base + n;
			b->iov[b->cur].iov_len -= (size_t)n;
		}
	}
	c->writer = 0;
	pthread_mutex_unlock(&c->tx_lock);
}

static void flush_task(struct ev_task *t)
{
	struct conn *c = (struct conn *)((char *)t - offsetof(struct conn, flush_task));

	flush(c);
	conn_unref(c);
}

/* Room for the receive side, a batch for the send side, and the socket on the loop. */
int conn_start(struct conn *c, const struct conn_handler *handler, uint32_t max_recv_dsl,
	       int hdr_digest, int data_digest, struct evloop *loop)
{
	int r;

	c->handler = *handler;
	c->hdr_digest = hdr_digest;
	c->data_digest = data_digest;
	c->max_recv_dsl = max_recv_dsl;
	c->scratch = malloc(max_recv_dsl ? max_recv_dsl : 1);
	c->rxbuf = malloc(RX_BUF);
	c->batch = calloc(1, sizeof(*c->batch));
	if (!c->scratch || !c->rxbuf || !c->batch || !loop)
		return -ENOMEM;
	c->loop = loop;
	c->watch.fd = c->fd;
	c->watch.cb = on_events;
	c->flush_task.fn = flush_task;
	c->rx_task.fn = rx_task;
	c->started = 1;
	r = evloop_add(loop, &c->watch, EPOLLIN);
	if (r)
		c->started = 0;
	return r;
}

int conn_queue(struct conn *c, struct txreq *first, struct txreq *last)
{
	struct evloop *l = evloop_current();

	last->next = NULL;
	pthread_mutex_lock(&c->tx_lock);
	if (c->stopping || c->tx_failed || !c->started) {
		pthread_mutex_unlock(&c->tx_lock);
		while (first) {
			struct txreq *next = first->next;

			if (first->owned)
				free(first);
			first = next;
		}
		return -EPIPE;
	}
	if (c->tx_tail)
		c->tx_tail->next = first;
	else
		c->tx_head = first;
	c->tx_tail = last;
	pthread_mutex_unlock(&c->tx_lock);
	/* On a loop: at the end of its iteration, with what else it queues. Elsewhere: the
	 * connection's own loop writes it. */
	conn_ref(c);
	if (!evloop_post(l ? l : c->loop, &c->flush_task))
		conn_unref(c); /* a flush is due anyway and will take this too */
	return 0;
}

void conn_counters(const struct conn *c, uint64_t *sent, uint64_t *received)
{
	*sent = __atomic_load_n(&c->bytes_sent, __ATOMIC_RELAXED);
	*received = __atomic_load_n(&c->bytes_received, __ATOMIC_RELAXED);
}

void conn_abort(struct conn *c, const char *reason)
{
	pthread_mutex_lock(&c->tx_lock);
	if (!c->abort_reason[0])
		snprintf(c->abort_reason, sizeof(c->abort_reason), "%s", reason);
	pthread_mutex_unlock(&c->tx_lock);
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR); /* the loop finds the end and reports it */
}

/* On the loop: it no longer watches the socket. */
static void detach_from_loop(void *arg)
{
	struct conn *c = arg;

	if (!c->failed) {
		c->failed = 1;
		evloop_del(c->loop, &c->watch);
	}
}

void conn_stop(struct conn *c)
{
	struct txreq *rest;

	if (!c)
		return;
	pthread_mutex_lock(&c->tx_lock);
	if (c->stopping) {
		pthread_mutex_unlock(&c->tx_lock);
		return;
	}
	c->stopping = 1;
	pthread_mutex_unlock(&c->tx_lock);
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);
	if (c->started)
		evloop_call_sync(c->loop, detach_from_loop, c);
	/* A writer elsewhere sees the stop at its next look; wait for it to let go. */
	pthread_mutex_lock(&c->tx_lock);
	while (c->writer) {
		pthread_mutex_unlock(&c->tx_lock);
		sched_yield();
		pthread_mutex_lock(&c->tx_lock);
	}
	c->tx_failed = 1;
	if (c->batch && c->batch->niov)
		finish_batch(c, -EPIPE);
	rest = c->tx_head;
	c->tx_head = c->tx_tail = NULL;
	pthread_mutex_unlock(&c->tx_lock);
	/* What was never sent is dropped; its owners hear of it. */
	while (rest) {
		struct txreq *next = rest->next;

		if (rest->sent)
			rest->sent(rest->ctx, -EPIPE);
		if (rest->owned)
			free(rest);
		rest = next;
	}
}

void conn_free(struct conn *c)
{
	if (!c)
		return;
	conn_stop(c);
	conn_unref(c);
}
