/* One iSCSI TCP connection. In the login phase a thread talks to it synchronously; in
 * full-feature phase it belongs to an event loop, which reads and decodes what arrives and
 * writes what is queued, never waiting. The connection knows PDUs, not tasks: the session
 * tells it where each data segment goes. */
#ifndef ISCSIFS_CONN_H
#define ISCSIFS_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "pdu.h"

struct evloop;

/* A PDU waiting to be sent. The writer copies the header when it takes the PDU off the
 * queue and never looks at the txreq again; the data is referenced, so the caller keeps it
 * valid until sent() is called (after the write, or when the connection drops the PDU). */
struct txreq {
	struct txreq *next;
	uint8_t bhs[BHS_LEN];
	const void *data;
	uint32_t dsl;
	int owned; /* the writer frees it once written */
	void (*sent)(void *ctx, int err); /* optional; called without any connection lock */
	void *ctx;
};

/* Called on the connection's event loop. */
struct conn_handler {
	/* A header arrived. Set *dst to where its data segment of h->dsl bytes goes, or leave it
	 * NULL for the connection's scratch buffer. Non-zero drops the connection. */
	int (*rx_begin)(void *arg, const struct pdu_hdr *h, void **dst, char *err, size_t errlen);
	/* The whole PDU arrived; data is the segment (NULL when dsl is 0). Non-zero drops the
	 * connection. */
	int (*rx_end)(void *arg, const struct pdu_hdr *h, void *data, char *err, size_t errlen);
	/* The connection failed; called once, after which nothing more arrives. Not called
	 * for a connection stopped with conn_stop. */
	void (*failed)(void *arg, int err, const char *reason);
	/* Optional (ErrorRecoveryLevel 1 and 2): a digest error on the PDU whose header is h,
	 * or on a header itself (h NULL). 0 discards the PDU and goes on, non-zero drops the
	 * connection. A header that failed its digest is trusted for its length only when the
	 * next header checks out (RFC 7143 7.8). Without it, a digest error drops the
	 * connection. */
	int (*digest_error)(void *arg, const struct pdu_hdr *h, char *err, size_t errlen);
	void *arg;
};

struct conn;

struct conn *conn_new(const char *label); /* label prefixes log lines: "ch0 127.0.0.1:3260 cid0" */
const char *conn_label(const struct conn *c);

/* Connect (bounded by timeout_s) to a host in portal.h's written form, resolved now; netdev ""
 * or NULL = any device. 0 or -errno. */
int conn_connect(struct conn *c, const char *addr, uint16_t port, const char *netdev,
		 int timeout_s, char *err, size_t errlen);

/* Synchronous exchange, before conn_start (login, discovery). */
int conn_send_sync(struct conn *c, const uint8_t bhs[BHS_LEN], const void *data, uint32_t dsl,
		   char *err, size_t errlen);
/* Receive one PDU whose data segment fits bufmax; longer is a protocol error. */
int conn_recv_sync(struct conn *c, struct pdu_hdr *h, void *buf, uint32_t bufmax, int timeout_s,
		   char *err, size_t errlen);

/* Enter full-feature phase on loop: from now on it reads the socket and calls handler.
 * max_recv_dsl bounds incoming segments; the digests (CRC32C) apply from here on, as
 * negotiated. A digest error drops the connection, unless the handler discards the PDU. */
int conn_start(struct conn *c, const struct conn_handler *handler, uint32_t max_recv_dsl,
	       int hdr_digest, int data_digest, struct evloop *loop);
/* The loop it belongs to (NULL before conn_start). */
struct evloop *conn_loop(const struct conn *c);

/* Queue a chain of PDUs (first..last linked through next) for sending, in order. Nothing is
 * written here, so any lock may be held: on an event loop the chain goes out at the end of
 * the loop's iteration, with whatever else was queued meanwhile; elsewhere the connection's
 * loop writes it. Returns -EPIPE, having freed the owned ones and called no sent(), when the
 * connection is stopping. */
int conn_queue(struct conn *c, struct txreq *first, struct txreq *last);

/* Drop the connection from any thread: its loop reports it through failed() with this
 * reason. */
void conn_abort(struct conn *c, const char *reason);

/* Stop: the loop lets go of it, unsent PDUs are dropped (their sent() is called with an
 * error). Not from its own loop. Idempotent. */
void conn_stop(struct conn *c);
/* Bytes written and read in full-feature phase (headers, data, padding, digests). */
void conn_counters(const struct conn *c, uint64_t *sent, uint64_t *received);
/* Stop, and drop the owner's reference: the memory goes with the last one. */
void conn_free(struct conn *c);

#endif
