/* One iSCSI TCP connection: the socket, a receive thread and a send thread with a queue.
 * The connection knows PDUs, not tasks: the session tells it where each data segment goes. */
#ifndef ISCSIFS_CONN_H
#define ISCSIFS_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "pdu.h"

/* A PDU waiting to be sent. The writer (send thread or flushing submitter) copies the header
 * when it takes the PDU off the queue and never looks at the txreq again; the data is referenced, so the caller keeps it
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

struct conn_handler {
	/* A header arrived. Set *dst to where its data segment of h->dsl bytes goes, or leave it
	 * NULL for the connection's scratch buffer. Setting *to_pipe as well says the segment
	 * may instead be moved into the connection's pipe, unread (see rx_end). Non-zero drops
	 * the connection. */
	int (*rx_begin)(void *arg, const struct pdu_hdr *h, void **dst, int *to_pipe, char *err,
			size_t errlen);
	/* The whole PDU arrived; data is the segment (NULL when dsl is 0 or it is in the pipe).
	 * pipe_fd >= 0: the h->dsl bytes wait in that pipe, to be read out of it before rx_end
	 * returns (what is left is thrown away). Non-zero drops the connection. */
	int (*rx_end)(void *arg, const struct pdu_hdr *h, void *data, int pipe_fd, char *err,
		      size_t errlen);
	/* The connection failed; called once, from the receive thread, after which nothing
	 * more arrives. */
	void (*failed)(void *arg, int err, const char *reason);
	void *arg;
};

struct conn;

struct conn *conn_new(const char *label); /* label prefixes log lines: "ch0 127.0.0.1:3260 cid0" */
const char *conn_label(const struct conn *c);

/* Connect (bounded by timeout_s) to a host in portal.h's written form, resolved now; netdev ""
 * or NULL = any device. 0 or -errno. */
int conn_connect(struct conn *c, const char *addr, uint16_t port, const char *netdev,
		 int timeout_s, char *err, size_t errlen);

/* Synchronous exchange, before the threads run (login, discovery). */
int conn_send_sync(struct conn *c, const uint8_t bhs[BHS_LEN], const void *data, uint32_t dsl,
		   char *err, size_t errlen);
/* Receive one PDU whose data segment fits bufmax; longer is a protocol error. */
int conn_recv_sync(struct conn *c, struct pdu_hdr *h, void *buf, uint32_t bufmax, int timeout_s,
		   char *err, size_t errlen);

/* Enter full-feature phase: start the threads. max_recv_dsl bounds incoming segments; the
 * digests (CRC32C) apply from here on, as negotiated. A digest error drops the connection. */
int conn_start(struct conn *c, const struct conn_handler *handler, uint32_t max_recv_dsl,
	       int hdr_digest, int data_digest);

/* Read len bytes out of the pipe rx_end was given (a consumer that cannot pass it on). */
int conn_pipe_read(int fd, void *buf, size_t len);

/* Queue a chain of PDUs (first..last linked through next) for sending, in order. Returns
 * -EPIPE, having freed the owned ones and called no sent(), when the connection is stopping. */
int conn_queue(struct conn *c, struct txreq *first, struct txreq *last);

/* The same, without waking the send thread: the caller writes the queue out itself with
 * conn_flush once it holds no lock, which saves a thread hop per command. */
int conn_queue_deferred(struct conn *c, struct txreq *first, struct txreq *last);
/* Write queued PDUs from the calling thread, unless another thread is writing (it takes
 * them); what is left after a few batches goes to the send thread. Takes no lock a sent()
 * callback needs, so call it with none held. */
void conn_flush(struct conn *c);
/* Called on a thread in conn_flush about to wait for room in a full socket (a thread pool
 * can have another thread take its place). Set once, before any connection starts. */
void conn_set_block_hook(void (*hook)(void));
/* Keep the memory of c valid across a conn_flush that may race with conn_free. */
void conn_ref(struct conn *c);
void conn_unref(struct conn *c);

/* Drop the connection from any thread: the receive thread reports it through failed() with
 * this reason. */
void conn_abort(struct conn *c, const char *reason);

/* Stop: shut the socket down, join the threads, drop unsent PDUs. Idempotent. */
void conn_stop(struct conn *c);
/* Bytes written and read in full-feature phase (headers, data, padding, digests). */
void conn_counters(const struct conn *c, uint64_t *sent, uint64_t *received);
/* Stop, and drop the owner's reference: the memory goes with the last one. */
void conn_free(struct conn *c);

#endif
