/* One TCP connection: connect, synchronous login-phase exchange, then a receive thread that
 * decodes PDUs and a queue of PDUs written with one writev per batch, by whichever thread
 * holds the writer's place: a submitter flushing its own command, or the send thread. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "conn.h"
#include "crc32c.h"
#include "log.h"
#include "portal.h"

#define MAX_AHS 1024
#define TX_BATCH 256 /* PDUs per writev */
#define IOV_PER_PDU 5 /* header, header digest, data, padding, data digest */
#define RX_BUF 65536 /* the receive thread reads ahead this much: several PDUs per recv */
#define RX_LARGE 16384 /* a data segment this long is worth a recv of its own */

struct conn {
	char label[128];
	int fd;
	pthread_t rx_thread, tx_thread;
	int threads_started;
	struct conn_handler handler;
	uint32_t max_recv_dsl;
	int hdr_digest, data_digest; /* CRC32C, from the first full-feature PDU on */
	uint8_t *scratch;
	uint8_t *rxbuf; /* full-feature phase only; rx_start..rx_end not yet consumed */
	size_t rx_start, rx_end;
	int rx_large; /* the last data segment was large: read just what is asked for */
	int pipe_r, pipe_w; /* -1, or where large read data is moved off the socket unread */

	int refs; /* atomic: the owner's, plus one per caller between conn_ref and conn_unref */
	pthread_mutex_t tx_lock;
	pthread_cond_t tx_cond;
	struct txreq *tx_head, *tx_tail;
	int writer; /* a thread (the send thread or a submitter) is writing the queue out */
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
	c->pipe_r = c->pipe_w = -1;
	c->refs = 1;
	pthread_mutex_init(&c->tx_lock, NULL);
	pthread_cond_init(&c->tx_cond, NULL);
	return c;
}

const char *conn_label(const struct conn *c)
{
	return c->label;
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
	/* Back to blocking mode: each thread blocks on its own direction. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	c->fd = fd;
	return 0;
}

/* Read exactly len bytes; timeout_ms < 0 waits forever. 0, -ECONNRESET on EOF, -errno. */
static int recv_all(int fd, void *buf, size_t len, int timeout_ms)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n;

		if (timeout_ms >= 0) {
			struct pollfd pfd = {.fd = fd, .events = POLLIN};
			int r = poll(&pfd, 1, timeout_ms);

			if (r == 0)
				return -ETIMEDOUT;
			if (r < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
		}
		n = recv(fd, p, len, timeout_ms >= 0 ? MSG_DONTWAIT : MSG_WAITALL);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read len bytes through the read-ahead buffer: small PDUs (headers, 4 KiB of data) come
 * several per recv; a large remainder goes straight from the socket into buf. After a large
 * segment no more than asked is read, so the next one is not read ahead only to be copied. */
static int read_buffered(struct conn *c, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		size_t have = c->rx_end - c->rx_start;
		ssize_t n;

		if (have) {
			size_t k = have < len ? have : len;

			memcpy(p, c->rxbuf + c->rx_start, k);
			c->rx_start += k;
			p += k;
			len -= k;
			continue;
		}
		c->rx_start = c->rx_end = 0;
		if (len >= RX_BUF / 2)
			return recv_all(c->fd, p, len, -1);
		n = recv(c->fd, c->rxbuf, c->rx_large ? len : RX_BUF, 0);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		c->rx_end = (size_t)n;
	}
	return 0;
}

/* Login phase (timeouts, nothing read ahead) or full-feature phase (the receive thread). */
static int conn_read(struct conn *c, void *buf, size_t len, int timeout_ms)
{
	if (timeout_ms < 0 && c->rxbuf)
		return read_buffered(c, buf, len);
	return recv_all(c->fd, buf, len, timeout_ms);
}

/* Exactly len bytes out of a pipe that holds at least that many. */
int conn_pipe_read(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n == 0)
			return -EIO;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void (*block_hook)(void);

void conn_set_block_hook(void (*hook)(void))
{
	block_hook = hook;
}

/* Write a whole iovec array, advancing over partial writes. With before_block, the first
 * attempt does not wait: when the socket is full, before_block is called once and the rest
 * is written waiting. */
static int writev_all(int fd, struct iovec *iov, int cnt, void (*before_block)(void))
{
	while (cnt > 0) {
		struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)(cnt > IOV_MAX ? IOV_MAX : cnt)};
		ssize_t n = sendmsg(fd, &m, MSG_NOSIGNAL | (before_block ? MSG_DONTWAIT : 0));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && before_block) {
				before_block();
				before_block = NULL;
				continue;
			}
			return -errno;
		}
		while (cnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
			if (before_block) { /* the socket took only part: it is full */
				before_block();
				before_block = NULL;
			}
		}
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
	int r = writev_all(c->fd, iov, 3, NULL);

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

/* Check a received digest against the CRC of what it covers. */
static int check_digest(struct conn *c, uint32_t crc, const char *what, int timeout_ms, char *err,
			size_t errlen)
{
	uint8_t wire[4];
	int r = conn_read(c, wire, 4, timeout_ms);

	if (r) {
		recv_error(r, timeout_ms, err, errlen);
		return r;
	}
	if (crc32c_from_wire(wire) != crc) {
		snprintf(err, errlen, "%s digest error (received 0x%08x, computed 0x%08x)", what,
			 crc32c_from_wire(wire), crc);
		return -EBADMSG;
	}
	return 0;
}

/* Read a header, its AHS and its digest; only a header whose digest holds is decoded. */
static int recv_header(struct conn *c, struct pdu_hdr *h, int timeout_ms, char *err, size_t errlen)
{
	uint8_t buf[BHS_LEN + MAX_AHS];
	uint32_t ahs_len;
	int r = conn_read(c, buf, BHS_LEN, timeout_ms);

	if (r) {
		recv_error(r, timeout_ms, err, errlen);
		return r;
	}
	ahs_len = (uint32_t)buf[4] * 4;
	if (ahs_len > MAX_AHS) {
		snprintf(err, errlen, "PDU with %u bytes of AHS", ahs_len);
		return -EPROTO;
	}
	r = conn_read(c, buf + BHS_LEN, ahs_len, timeout_ms);
	if (r) {
		recv_error(r, timeout_ms, err, errlen);
		return r;
	}
	if (c->hdr_digest) {
		r = check_digest(c, crc32c(buf, BHS_LEN + ahs_len), "header", timeout_ms, err,
				 errlen);
		if (r)
			return r;
	}
	/* No AHS type is meaningful to an initiator in the PDUs it receives: it is skipped. */
	return pdu_decode(buf, h, err, errlen);
}

static int recv_data(struct conn *c, const struct pdu_hdr *h, void *dst, int timeout_ms,
		     char *err, size_t errlen)
{
	uint8_t pad[4];
	uint32_t npad = pad4(h->dsl) - h->dsl;
	int r = conn_read(c, dst, h->dsl, timeout_ms);

	if (!r)
		r = conn_read(c, pad, npad, timeout_ms);
	if (r) {
		recv_error(r, timeout_ms, err, errlen);
		return r;
	}
	if (c->data_digest && h->dsl) {
		uint32_t st = crc32c_update(CRC32C_INIT, dst, h->dsl);

		st = crc32c_update(st, pad, npad);
		return check_digest(c, crc32c_final(st), "data", timeout_ms, err, errlen);
	}
	return 0;
}

/* Move a data segment (no digest, no padding) from the socket into the pipe, unread: the
 * consumer hands the pages on (to FUSE) without copying them here. A pipe too small for
 * the segment gives back what it holds and the rest is read into dst; *in_pipe says which
 * way it went. */
static int recv_data_pipe(struct conn *c, const struct pdu_hdr *h, void *dst, int *in_pipe,
			  char *err, size_t errlen)
{
	size_t got = 0;
	int r = 0;

	while (got < h->dsl) {
		ssize_t n = splice(c->fd, NULL, c->pipe_w, NULL, h->dsl - got,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			/* The socket blocks, so only a full pipe says EAGAIN. */
			r = conn_pipe_read(c->pipe_r, dst, got);
			if (!r)
				r = conn_read(c, (uint8_t *)dst + got, h->dsl - got, -1);
		} else {
			r = n == 0 ? -ECONNRESET : -errno;
		}
		break;
	}
	if (r)
		recv_error(r, -1, err, errlen);
	*in_pipe = !r && got == h->dsl;
	return r;
}

/* Nothing may stay in the pipe for the next segment: throw away what a consumer left. */
static void empty_pipe(struct conn *c)
{
	int left = 0;

	if (ioctl(c->pipe_r, FIONREAD, &left) < 0 || left <= 0)
		return;
	log_warn("%s: %d bytes of received data were not consumed; discarded", c->label, left);
	while (left > 0) {
		ssize_t n = read(c->pipe_r, c->scratch, (size_t)left < c->max_recv_dsl
								? (size_t)left : c->max_recv_dsl);

		if (n <= 0)
			break;
		left -= (int)n;
	}
}

int conn_recv_sync(struct conn *c, struct pdu_hdr *h, void *buf, uint32_t bufmax, int timeout_s,
		   char *err, size_t errlen)
{
	int r = recv_header(c, h, timeout_s * 1000, err, errlen);

	if (r)
		return r;
	if (h->dsl > bufmax) {
		snprintf(err, errlen, "%s with a %u-byte data segment, more than the %u allowed",
			 pdu_opcode_name(h->opcode), h->dsl, bufmax);
		return -EPROTO;
	}
	return recv_data(c, h, buf, timeout_s * 1000, err, errlen);
}

static void *rx_main(void *arg)
{
	struct conn *c = arg;
	char err[256] = "";
	int r;

	for (;;) {
		struct pdu_hdr h;
		void *dst = NULL;
		int to_pipe = 0, in_pipe = 0;

		r = recv_header(c, &h, -1, err, sizeof(err));
		if (r)
			break;
		if (h.dsl > c->max_recv_dsl) {
			snprintf(err, sizeof(err),
				 "%s with a %u-byte data segment, more than MaxRecvDataSegmentLength %u",
				 pdu_opcode_name(h.opcode), h.dsl, c->max_recv_dsl);
			r = -EPROTO;
			break;
		}
		r = c->handler.rx_begin(c->handler.arg, &h, &dst, &to_pipe, err, sizeof(err));
		if (r)
			break;
		if (h.dsl) {
			if (!dst)
				dst = c->scratch;
			/* Nothing of the segment may already sit in the read-ahead buffer. */
			if (to_pipe && c->pipe_w >= 0 && h.dsl % 4 == 0 && c->rx_start == c->rx_end)
				r = recv_data_pipe(c, &h, dst, &in_pipe, err, sizeof(err));
			else
				r = recv_data(c, &h, dst, -1, err, sizeof(err));
			if (r)
				break;
		}
		c->rx_large = h.dsl >= RX_LARGE;
		r = c->handler.rx_end(c->handler.arg, &h, h.dsl && !in_pipe ? dst : NULL,
				      in_pipe ? c->pipe_r : -1, err, sizeof(err));
		if (in_pipe)
			empty_pipe(c);
		if (r)
			break;
		__atomic_add_fetch(&c->bytes_received,
				   BHS_LEN + h.ahs_len + pad4(h.dsl) + (c->hdr_digest ? 4 : 0) +
					   (c->data_digest && h.dsl ? 4 : 0),
				   __ATOMIC_RELAXED);
	}
	pthread_mutex_lock(&c->tx_lock);
	r = c->stopping;
	c->stopping = 1;
	if (c->abort_reason[0])
		snprintf(err, sizeof(err), "%s", c->abort_reason);
	pthread_cond_signal(&c->tx_cond);
	pthread_mutex_unlock(&c->tx_lock);
	shutdown(c->fd, SHUT_RDWR);
	if (!r)
		c->handler.failed(c->handler.arg, -EIO, err);
	return NULL;
}

static void free_owned(struct txreq *r)
{
	while (r) {
		struct txreq *next = r->next;

		if (r->owned)
			free(r);
		r = next;
	}
}

struct sent_cb {
	void (*fn)(void *ctx, int err);
	void *ctx;
};

/* What one writev takes: headers are copied here, so a txreq is not read after the write. */
struct tx_batch {
	uint8_t hdrs[TX_BATCH][BHS_LEN];
	uint8_t hdig[TX_BATCH][4], ddig[TX_BATCH][4];
	struct iovec iov[TX_BATCH * IOV_PER_PDU];
	struct txreq *owned[TX_BATCH];
	struct sent_cb cbs[TX_BATCH];
};

/* Write up to TX_BATCH queued PDUs in one writev. Called by the writer with tx_lock held; the
 * lock is dropped around the write and the callbacks. 0, or -errno when the write failed (the
 * connection is then marked failed and shut down). submitter: the writer is a thread with
 * other work, which a full socket must not hold without notice (conn_set_block_hook). */
static int write_batch(struct conn *c, struct tx_batch *b, int submitter)
{
	int cnt = 0, nowned = 0, ncb = 0, n = 0, r;
	uint64_t total = 0;

	/* Each txreq is read here and never after the write: once its bytes are out, the task
	 * it belongs to may complete. */
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
		if (t->sent)
			b->cbs[ncb++] = (struct sent_cb){t->sent, t->ctx};
		if (t->owned)
			b->owned[nowned++] = t;
		n++;
	}
	if (!c->tx_head)
		c->tx_tail = NULL;
	pthread_mutex_unlock(&c->tx_lock);
	for (int i = 0; i < cnt; i++)
		total += b->iov[i].iov_len;
	r = writev_all(c->fd, b->iov, cnt, submitter ? block_hook : NULL);
	if (!r)
		__atomic_add_fetch(&c->bytes_sent, total, __ATOMIC_RELAXED);
	for (int i = 0; i < ncb; i++)
		b->cbs[i].fn(b->cbs[i].ctx, r);
	for (int i = 0; i < nowned; i++)
		free(b->owned[i]);
	pthread_mutex_lock(&c->tx_lock);
	if (r) {
		log_err("%s: send failed: %s", c->label, strerror(-r));
		c->tx_failed = 1;
		shutdown(c->fd, SHUT_RDWR); /* the receive thread reports the failure */
	}
	return r;
}

static void *tx_main(void *arg)
{
	struct conn *c = arg;
	struct tx_batch *b = malloc(sizeof(*b));
	struct txreq *rest;
	int r;

	pthread_mutex_lock(&c->tx_lock);
	for (;;) {
		/* A submitter writing its own PDUs holds the queue; it leaves nothing behind. */
		while ((!c->tx_head || c->writer) && !c->stopping)
			pthread_cond_wait(&c->tx_cond, &c->tx_lock);
		if (c->stopping)
			break;
		if (!b) {
			log_err("%s: send failed: out of memory", c->label);
			c->tx_failed = 1;
			shutdown(c->fd, SHUT_RDWR);
			break;
		}
		c->writer = 1;
		do {
			r = write_batch(c, b, 0);
		} while (!r && c->tx_head && !c->stopping);
		c->writer = 0;
		if (r)
			break;
	}
	/* What was never sent is dropped; its owners hear of it. */
	rest = c->tx_head;
	c->tx_head = c->tx_tail = NULL;
	c->tx_failed = 1;
	pthread_mutex_unlock(&c->tx_lock);
	free(b);
	while (rest) {
		struct txreq *next = rest->next;

		if (rest->sent)
			rest->sent(rest->ctx, -EPIPE);
		if (rest->owned)
			free(rest);
		rest = next;
	}
	return NULL;
}

/* Room for a whole data segment even in page-sized pieces, twice over; without the room (a
 * user's pipe limit) segments that do not fit are read as usual. No pipe, no splicing. */
static void open_pipe(struct conn *c)
{
	int fds[2];
	int want = (int)(c->max_recv_dsl < 65536 ? 131072 : c->max_recv_dsl * 2);

	if (pipe2(fds, O_CLOEXEC) < 0) {
		log_dbg("%s: no pipe for received data: %s", c->label, strerror(errno));
		return;
	}
	if (fcntl(fds[1], F_SETPIPE_SZ, want) < 0)
		log_dbg("%s: pipe of %d bytes refused: %s", c->label, want, strerror(errno));
	c->pipe_r = fds[0];
	c->pipe_w = fds[1];
	log_dbg("%s: large reads pass through a pipe of %d bytes", c->label,
		fcntl(fds[1], F_GETPIPE_SZ));
}

int conn_start(struct conn *c, const struct conn_handler *handler, uint32_t max_recv_dsl,
	       int hdr_digest, int data_digest)
{
	int r;

	c->handler = *handler;
	c->hdr_digest = hdr_digest;
	c->data_digest = data_digest;
	c->max_recv_dsl = max_recv_dsl;
	c->scratch = malloc(max_recv_dsl ? max_recv_dsl : 1);
	c->rxbuf = malloc(RX_BUF);
	if (!c->scratch || !c->rxbuf)
		return -ENOMEM;
	if (!data_digest)
		open_pipe(c);
	r = pthread_create(&c->tx_thread, NULL, tx_main, c);
	if (r)
		return -r;
	r = pthread_create(&c->rx_thread, NULL, rx_main, c);
	if (r) {
		pthread_mutex_lock(&c->tx_lock);
		c->stopping = 1;
		pthread_cond_signal(&c->tx_cond);
		pthread_mutex_unlock(&c->tx_lock);
		pthread_join(c->tx_thread, NULL);
		return -r;
	}
	c->threads_started = 1;
	return 0;
}

/* Append a chain; wake the send thread unless told not to or a writer is at work. */
static int enqueue(struct conn *c, struct txreq *first, struct txreq *last, int wake)
{
	last->next = NULL;
	pthread_mutex_lock(&c->tx_lock);
	if (c->stopping || c->tx_failed) {
		pthread_mutex_unlock(&c->tx_lock);
		free_owned(first);
		return -EPIPE;
	}
	if (c->tx_tail)
		c->tx_tail->next = first;
	else
		c->tx_head = first;
	c->tx_tail = last;
	if (wake && !c->writer)
		pthread_cond_signal(&c->tx_cond);
	pthread_mutex_unlock(&c->tx_lock);
	return 0;
}

int conn_queue(struct conn *c, struct txreq *first, struct txreq *last)
{
	return enqueue(c, first, last, 1);
}

int conn_queue_deferred(struct conn *c, struct txreq *first, struct txreq *last)
{
	return enqueue(c, first, last, 0);
}

/* A few batches at most: a submitter is a FUSE worker, not a second send thread. */
#define FLUSH_BATCHES 4

void conn_flush(struct conn *c)
{
	struct tx_batch b;
	int r = 0, n = 0;

	pthread_mutex_lock(&c->tx_lock);
	if (c->writer || !c->tx_head || c->stopping || c->tx_failed) {
		pthread_mutex_unlock(&c->tx_lock);
		return;
	}
	c->writer = 1;
	do {
		r = write_batch(c, &b, 1);
	} while (!r && c->tx_head && !c->stopping && ++n < FLUSH_BATCHES);
	c->writer = 0;
	if (c->tx_head || c->stopping)
		pthread_cond_signal(&c->tx_cond); /* the rest, or the stop, is the send thread's */
	pthread_mutex_unlock(&c->tx_lock);
}

void conn_ref(struct conn *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
}

void conn_unref(struct conn *c)
{
	if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL))
		return;
	if (c->fd >= 0)
		close(c->fd);
	if (c->pipe_r >= 0) {
		close(c->pipe_r);
		close(c->pipe_w);
	}
	free(c->scratch);
	free(c->rxbuf);
	pthread_mutex_destroy(&c->tx_lock);
	pthread_cond_destroy(&c->tx_cond);
	free(c);
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
		shutdown(c->fd, SHUT_RDWR);
}

void conn_stop(struct conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->tx_lock);
	c->stopping = 1;
	pthread_cond_signal(&c->tx_cond);
	pthread_mutex_unlock(&c->tx_lock);
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);
	if (c->threads_started) {
		pthread_join(c->tx_thread, NULL);
		pthread_join(c->rx_thread, NULL);
		c->threads_started = 0;
	}
}

void conn_free(struct conn *c)
{
	if (!c)
		return;
	conn_stop(c);
	conn_unref(c);
}
