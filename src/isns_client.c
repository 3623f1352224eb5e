/* iSNS client: one short TCP connection per exchange with the server (so a restarted server
 * costs nothing), a listening socket for the server's state change notifications, and a
 * thread that re-queries on each SCN and every query_interval. No lock is held across a
 * socket call. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "iname.h"
#include "isns_client.h"
#include "log.h"
#include "portal.h"

#define CONNECT_TIMEOUT_MS 3000
#define CALL_TIMEOUT_MS 5000
#define STATUS_SOURCE_UNKNOWN 6
#define SCN_CONNS_MAX 4

struct isns_client {
	char server[PORTAL_HOST_MAX];
	uint16_t port;
	char name[ISNS_NAME_MAX], alias[ISNS_NAME_MAX];
	uint32_t interval;

	pthread_mutex_t lock; /* everything below */
	uint16_t xid;
	int registered, queried;
	uint8_t local_ip[16];            /* IPv4-mapped for an IPv4 address */
	struct sockaddr_storage local_sa; /* the same, with an IPv6 address's scope */
	int listen_fd;
	uint16_t scn_port;
	struct isns_target *targets;
	int ntargets;
	struct isns_status st;

	pthread_t thread;
	int thread_running;
	int stop_pipe[2];
};

struct isns_client *isns_client_new(const struct isns_client_config *cfg)
{
	struct isns_client *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	snprintf(c->server, sizeof(c->server), "%s", cfg->server);
	c->port = cfg->port;
	snprintf(c->name, sizeof(c->name), "%s", cfg->initiator_name);
	snprintf(c->alias, sizeof(c->alias), "%s", cfg->initiator_alias ? cfg->initiator_alias : "");
	c->interval = cfg->query_interval ? cfg->query_interval : 15;
	pthread_mutex_init(&c->lock, NULL);
	c->listen_fd = -1;
	c->stop_pipe[0] = c->stop_pipe[1] = -1;
	snprintf(c->st.server, sizeof(c->st.server), "%s:%u", c->server, c->port);
	return c;
}

static uint16_t next_xid(struct isns_client *c)
{
	uint16_t x;

	pthread_mutex_lock(&c->lock);
	x = ++c->xid;
	pthread_mutex_unlock(&c->lock);
	return x;
}

static void set_error(struct isns_client *c, const char *why)
{
	pthread_mutex_lock(&c->lock);
	snprintf(c->st.last_error, sizeof(c->st.last_error), "%s", why);
	pthread_mutex_unlock(&c->lock);
}

static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = events};
	int r;

	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r == 0 ? -ETIMEDOUT : 0;
}

static int send_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int recv_all(int fd, uint8_t *p, size_t len, int timeout_ms)
{
	while (len) {
		ssize_t n;
		int r = wait_fd(fd, POLLIN, timeout_ms);

		if (r < 0)
			return r;
		n = recv(fd, p, len, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A connection to the server; the first one also tells which local address it sees us at. */
static int open_conn(struct isns_client *c, int *out, char *err, size_t errlen)
{
	struct sockaddr_storage local;
	socklen_t ll = sizeof(local);
	char why[512];
	int fd, r;

	r = portal_connect(c->server, c->port, NULL, CONNECT_TIMEOUT_MS, &fd, NULL, 0, why,
			   sizeof(why));
	if (r) {
		snprintf(err, errlen, "iSNS server %s:%u cannot be reached: %s", c->server, c->port,
			 why);
		return r;
	}
	if (getsockname(fd, (struct sockaddr *)&local, &ll) == 0 &&
	    (local.ss_family == AF_INET || local.ss_family == AF_INET6)) {
		pthread_mutex_lock(&c->lock);
		if (local.ss_family == AF_INET) {
			memset(c->local_ip, 0, 10);
			c->local_ip[10] = c->local_ip[11] = 0xff;
			memcpy(c->local_ip + 12, &((struct sockaddr_in *)&local)->sin_addr, 4);
		} else {
			memcpy(c->local_ip, &((struct sockaddr_in6 *)&local)->sin6_addr, 16);
		}
		c->local_sa = local;
		pthread_mutex_unlock(&c->lock);
	}
	*out = fd;
	return 0;
}

/* Send m on fd and read the answer: its payload (malloc'd) and status. */
static int exchange(struct isns_client *c, int fd, const struct isns_msg *m, uint8_t **payload,
		    size_t *plen, uint32_t *status, char *err, size_t errlen)
{
	uint16_t function = (uint16_t)(m->buf[2] << 8 | m->buf[3]);
	uint16_t xid = (uint16_t)(m->buf[8] << 8 | m->buf[9]);
	uint8_t hb[ISNS_HDR_LEN];
	struct isns_hdr h;
	char why[160];
	uint8_t *p;
	int r;

	*payload = NULL;
	if (m->overflow) {
		snprintf(err, errlen, "iSNS request too large");
		return -EMSGSIZE;
	}
	r = send_all(fd, m->buf, m->len);
	if (r == 0)
		r = recv_all(fd, hb, sizeof(hb), CALL_TIMEOUT_MS);
	if (r < 0) {
		snprintf(err, errlen, "iSNS server %s:%u: %s", c->server, c->port,
			 r == -ETIMEDOUT ? "no answer" : strerror(-r));
		return r;
	}
	if (isns_hdr_decode(hb, sizeof(hb), &h, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "iSNS server %s:%u: %s", c->server, c->port, why);
		return -EPROTO;
	}
	if (h.function != (function | ISNS_RSP) || h.xid != xid) {
		snprintf(err, errlen, "iSNS server %s:%u answered function 0x%04x transaction %u to "
			 "0x%04x transaction %u", c->server, c->port, h.function, h.xid, function, xid);
		return -EPROTO;
	}
	if ((h.flags & (ISNS_FL_FIRST | ISNS_FL_LAST)) != (ISNS_FL_FIRST | ISNS_FL_LAST)) {
		snprintf(err, errlen, "iSNS server %s:%u: answers of several PDUs are not supported",
			 c->server, c->port);
		return -EPROTO;
	}
	p = malloc(h.length ? h.length : 1);
	if (!p)
		return -ENOMEM;
	r = recv_all(fd, p, h.length, CALL_TIMEOUT_MS);
	if (r == 0 && isns_rsp_status(p, h.length, status, why, sizeof(why)) < 0)
		r = -EPROTO;
	if (r < 0) {
		snprintf(err, errlen, "iSNS server %s:%u: %s", c->server, c->port,
			 r == -EPROTO ? why : strerror(-r));
		free(p);
		return r;
	}
	*payload = p;
	*plen = h.length;
	return 0;
}

/* Exchange and require status 0; the payload is dropped. */
static int simple_call(struct isns_client *c, int fd, const struct isns_msg *m, const char *what,
		       uint32_t *status, char *err, size_t errlen)
{
	uint8_t *p;
	size_t len;
	int r = exchange(c, fd, m, &p, &len, status, err, errlen);

	if (r)
		return r;
	free(p);
	if (*status) {
		snprintf(err, errlen, "iSNS server %s:%u refused %s: %s", c->server, c->port, what,
			 isns_status_str(*status));
		return -EREMOTEIO;
	}
	return 0;
}

/* The socket the server's SCNs come to, on the address the server sees us at. */
static int open_scn_listener(struct isns_client *c)
{
	struct sockaddr_storage sa = c->local_sa;
	socklen_t sl = sa.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						: sizeof(struct sockaddr_in);
	int fd;

	if (c->listen_fd >= 0)
		return 0;
	if (sa.ss_family != AF_INET && sa.ss_family != AF_INET6)
		return -EADDRNOTAVAIL;
	if (sa.ss_family == AF_INET)
		((struct sockaddr_in *)&sa)->sin_port = 0;
	else
		((struct sockaddr_in6 *)&sa)->sin6_port = 0;
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sl) < 0 || listen(fd, 4) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	c->listen_fd = fd;
	c->scn_port = ntohs(sa.ss_family == AF_INET ? ((struct sockaddr_in *)&sa)->sin_port
						    : ((struct sockaddr_in6 *)&sa)->sin6_port);
	return 0;
}

/* "a.b.c.d:port" or "[v6]:port" of a 16-byte address (IPv4-mapped for IPv4). */
static void ip16_format(const uint8_t ip[16], uint16_t port, char *out, size_t outlen)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	char text[INET6_ADDRSTRLEN] = "?";

	if (memcmp(ip, v4mapped, 12) == 0) {
		inet_ntop(AF_INET, ip + 12, text, sizeof(text));
		snprintf(out, outlen, "%s:%u", text, port);
	} else {
		inet_ntop(AF_INET6, ip, text, sizeof(text));
		snprintf(out, outlen, "[%s]:%u", text, port);
	}
}

static int do_register(struct isns_client *c, char *err, size_t errlen)
{
	struct isns_msg *m = malloc(sizeof(*m));
	uint8_t ip[16];
	uint32_t status;
	uint16_t scn_port;
	char scn_addr[PORTAL_STR_MAX] = "";
	int fd = -1, r;

	if (!m)
		return -ENOMEM;
	r = open_conn(c, &fd, err, errlen);
	if (r)
		goto out;
	pthread_mutex_lock(&c->lock);
	r = open_scn_listener(c);
	if (r < 0)
		log_warn("iSNS: cannot listen for state change notifications (%s); the target "
			 "list is queried every %u s", strerror(-r), c->interval);
	memcpy(ip, c->local_ip, sizeof(ip));
	scn_port = c->scn_port;
	pthread_mutex_unlock(&c->lock);
	/* Entity identifier: the initiator's name, unique by definition. */
	isns_build_reg(m, next_xid(c), c->name, c->alias, c->name, ip, scn_port);
	r = simple_call(c, fd, m, "the registration", &status, err, errlen);
	if (r)
		goto out;
	if (scn_port) {
		isns_build_scn_reg(m, next_xid(c), c->name,
				   ISNS_SCN_OBJECT_ADDED | ISNS_SCN_OBJECT_REMOVED |
				   ISNS_SCN_OBJECT_UPDATED | ISNS_SCN_DD_MEMBER_ADDED |
				   ISNS_SCN_DD_MEMBER_REMOVED | ISNS_SCN_TARGET_AND_SELF);
		if (simple_call(c, fd, m, "the SCN registration", &status, err, errlen) < 0) {
			log_warn("iSNS: %s; the target list is queried every %u s", err,
				 c->interval);
			scn_port = 0;
		}
	}
	pthread_mutex_lock(&c->lock);
	c->registered = 1;
	c->st.registered = 1;
	if (scn_port)
		ip16_format(ip, scn_port, scn_addr, sizeof(scn_addr));
	snprintf(c->st.scn_addr, sizeof(c->st.scn_addr), "%s", scn_addr);
	c->st.last_error[0] = '\0';
	pthread_mutex_unlock(&c->lock);
	log_info("iSNS: registered %s with %s:%u%s%s", c->name, c->server, c->port,
		 scn_port ? ", state change notifications to " : "", scn_addr);
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(m);
	return r;
}

static int same_target(const struct isns_target *a, const struct isns_target *b)
{
	if (strcmp(a->name, b->name) != 0 || a->nportals != b->nportals)
		return 0;
	for (int i = 0; i < a->nportals; i++)
		if (strcmp(a->portals[i].addr, b->portals[i].addr) != 0 ||
		    a->portals[i].port != b->portals[i].port)
			return 0;
	return 1;
}

static const struct isns_target *find(const struct isns_target *l, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (iscsi_name_equal(l[i].name, name))
			return &l[i];
	return NULL;
}

static void log_target(const char *what, const struct isns_target *t)
{
	char portals[256] = "";
	size_t off = 0;

	for (int i = 0; i < t->nportals && off < sizeof(portals); i++)
		off += (size_t)snprintf(portals + off, sizeof(portals) - off, " %s:%u",
					t->portals[i].addr, t->portals[i].port);
	log_info("iSNS: target %s %s%s%s", t->name, what, t->nportals ? " at" : " (no portal)",
		 portals);
}

/* Take a fresh list (ownership passes here): log what came and went, keep it. */
static void install_targets(struct isns_client *c, struct isns_target *l, int n)
{
	struct isns_target *old;
	int nold, changed = 0, first;

	pthread_mutex_lock(&c->lock);
	old = c->targets;
	nold = c->ntargets;
	first = !c->queried;
	c->targets = l;
	c->ntargets = n;
	c->queried = 1;
	c->st.ntargets = n;
	c->st.last_query = time(NULL);
	c->st.last_error[0] = '\0';
	pthread_mutex_unlock(&c->lock);
	for (int i = 0; i < n; i++) {
		const struct isns_target *o = find(old, nold, l[i].name);

		if (!o || !same_target(o, &l[i])) {
			log_target(first ? "listed" : o ? "changed" : "appeared", &l[i]);
			changed = 1;
		}
	}
	for (int i = 0; i < nold; i++)
		if (!find(l, n, old[i].name)) {
			log_info("iSNS: target %s left", old[i].name);
			changed = 1;
		}
	if (changed && !first) {
		pthread_mutex_lock(&c->lock);
		c->st.changes++;
		c->st.last_change = time(NULL);
		pthread_mutex_unlock(&c->lock);
	}
	free(old);
}

/* DevAttrQry for every target we may see; re-registers once when the server forgot us. */
static int query(struct isns_client *c, char *err, size_t errlen)
{
	struct isns_msg *m = malloc(sizeof(*m));
	struct isns_target *l;
	uint8_t *p = NULL;
	size_t len;
	uint32_t status = 0;
	int fd = -1, r, n;

	if (!m)
		return -ENOMEM;
	for (int attempt = 0; attempt < 2; attempt++) {
		r = open_conn(c, &fd, err, errlen);
		if (r)
			goto out;
		isns_build_query_targets(m, next_xid(c), c->name);
		r = exchange(c, fd, m, &p, &len, &status, err, errlen);
		close(fd);
		fd = -1;
		if (r)
			goto out;
		if (status != STATUS_SOURCE_UNKNOWN || attempt)
			break;
		free(p);
		p = NULL;
		/* Expired or restarted without its database: register again, then ask again. */
		log_info("iSNS: the server does not know %s; registering again", c->name);
		pthread_mutex_lock(&c->lock);
		c->registered = c->st.registered = 0;
		pthread_mutex_unlock(&c->lock);
		r = do_register(c, err, errlen);
		if (r)
			goto out;
	}
	if (status) {
		snprintf(err, errlen, "iSNS server %s:%u refused the query: %s", c->server, c->port,
			 isns_status_str(status));
		r = -EREMOTEIO;
		goto out;
	}
	r = isns_decode_targets(p, len, &l, &n, err, errlen);
	if (r == 0)
		install_targets(c, l, n);
out:
	free(p);
	free(m);
	if (r)
		set_error(c, err);
	return r;
}

/* One SCN on a connection from the server: read it, answer it, note what changed.
 * 1 = one handled, 0 = the server closed it (or sent nothing), -errno = drop it. */
static int scn_one(struct isns_client *c, int fd, int timeout_ms)
{
	uint8_t hb[ISNS_HDR_LEN], *p = NULL;
	struct isns_msg *m = NULL;
	struct isns_scn scn;
	struct isns_hdr h;
	char why[160], bits[160], text[sizeof(c->st.last_scn_text)] = "";
	int r;

	r = recv_all(fd, hb, 1, timeout_ms);
	if (r == -ETIMEDOUT || r == -ECONNRESET)
		return 0;
	if (r == 0)
		r = recv_all(fd, hb + 1, sizeof(hb) - 1, CALL_TIMEOUT_MS);
	if (r < 0) {
		log_warn("iSNS: SCN connection: %s", strerror(-r));
		return r;
	}
	if (isns_hdr_decode(hb, sizeof(hb), &h, why, sizeof(why)) < 0) {
		log_warn("iSNS: unexpected message on the SCN port: %s", why);
		return -EPROTO;
	}
	if (h.function != ISNS_SCN) {
		log_warn("iSNS: unexpected message on the SCN port: function 0x%04x", h.function);
		return -EPROTO;
	}
	p = malloc(h.length ? h.length : 1);
	m = malloc(sizeof(*m));
	r = -ENOMEM;
	if (!p || !m)
		goto out;
	r = recv_all(fd, p, h.length, CALL_TIMEOUT_MS);
	if (r < 0) {
		log_warn("iSNS: SCN cut short: %s", strerror(-r));
		goto out;
	}
	r = isns_decode_scn(p, h.length, &scn, why, sizeof(why));
	if (r < 0) {
		log_warn("iSNS: %s", why);
		goto out;
	}
	isns_build_scn_rsp(m, h.xid, c->name);
	if (send_all(fd, m->buf, m->len) < 0)
		log_warn("iSNS: cannot answer the SCN");
	for (int i = 0, off = 0; i < scn.nnodes && off < (int)sizeof(text); i++) {
		isns_scn_bits_str(scn.bits[i], bits, sizeof(bits));
		off += snprintf(text + off, sizeof(text) - (size_t)off, "%s%s: %s", i ? "; " : "",
				bits, scn.nodes[i]);
	}
	pthread_mutex_lock(&c->lock);
	c->st.scns++;
	c->st.last_scn = time(NULL);
	snprintf(c->st.last_scn_text, sizeof(c->st.last_scn_text), "%s", text);
	pthread_mutex_unlock(&c->lock);
	log_info("iSNS: state change notification: %s", text);
	r = 1;
out:
	free(p);
	free(m);
	return r;
}

/* isnsd keeps an SCN connection open and sends the next SCN on it, so connections stay in
 * the poll set until the server closes them (the oldest goes when there are too many). */
static void *isns_main(void *arg)
{
	struct isns_client *c = arg;
	int conns[SCN_CONNS_MAX], nconns = 0;
	char err[320];

	for (;;) {
		struct pollfd p[2 + SCN_CONNS_MAX];
		int registered, r, scns = 0;

		p[0] = (struct pollfd){.fd = c->stop_pipe[0], .events = POLLIN};
		pthread_mutex_lock(&c->lock);
		p[1] = (struct pollfd){.fd = c->listen_fd, .events = POLLIN};
		pthread_mutex_unlock(&c->lock);
		for (int i = 0; i < nconns; i++)
			p[2 + i] = (struct pollfd){.fd = conns[i], .events = POLLIN};
		r = poll(p, (nfds_t)(2 + nconns), (int)c->interval * 1000);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || p[0].revents)
			break;
		/* Backwards, so that removing one leaves the indexes still to visit alone. */
		for (int i = nconns - 1; r > 0 && i >= 0; i--) {
			int n;

			if (!p[2 + i].revents)
				continue;
			n = scn_one(c, conns[i], CALL_TIMEOUT_MS);
			if (n > 0) {
				scns++;
				continue;
			}
			close(conns[i]);
			memmove(&conns[i], &conns[i + 1], sizeof(conns[0]) * (size_t)(nconns - i - 1));
			nconns--;
		}
		if (r > 0 && (p[1].revents & POLLIN)) {
			int fd = accept4(p[1].fd, NULL, NULL, SOCK_CLOEXEC);

			if (fd >= 0) {
				if (nconns == SCN_CONNS_MAX) {
					close(conns[0]);
					memmove(&conns[0], &conns[1],
						sizeof(conns[0]) * (size_t)(nconns - 1));
					nconns--;
				}
				fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
				conns[nconns++] = fd;
			}
		}
		if (r > 0 && !scns)
			continue; /* a connection came or went: nothing to ask yet */
		pthread_mutex_lock(&c->lock);
		registered = c->registered;
		pthread_mutex_unlock(&c->lock);
		if (!registered) {
			if (do_register(c, err, sizeof(err)) < 0) {
				set_error(c, err);
				log_dbg("iSNS: %s", err);
				continue;
			}
		}
		if (query(c, err, sizeof(err)) < 0)
			log_warn("iSNS: %s", err);
	}
	for (int i = 0; i < nconns; i++)
		close(conns[i]);
	return NULL;
}

int isns_client_start(struct isns_client *c, char *err, size_t errlen)
{
	int r, down;

	err[0] = '\0';
	r = do_register(c, err, errlen);
	down = r != 0;
	if (r)
		set_error(c, err);
	else if (query(c, err, errlen) < 0)
		down = 1;
	if (pipe2(c->stop_pipe, O_CLOEXEC) < 0)
		return -errno;
	r = pthread_create(&c->thread, NULL, isns_main, c);
	if (r) {
		snprintf(err, errlen, "cannot start the iSNS thread");
		return -r;
	}
	c->thread_running = 1;
	return down;
}

void isns_client_free(struct isns_client *c)
{
	if (!c)
		return;
	if (c->thread_running) {
		if (write(c->stop_pipe[1], "x", 1) != 1)
			log_warn("iSNS: cannot stop the iSNS thread");
		pthread_join(c->thread, NULL);
	}
	if (c->registered) {
		struct isns_msg *m = malloc(sizeof(*m));
		char err[320];
		uint32_t status;
		int fd;

		if (m && open_conn(c, &fd, err, sizeof(err)) == 0) {
			isns_build_dereg(m, next_xid(c), c->name, c->name);
			if (simple_call(c, fd, m, "the deregistration", &status, err, sizeof(err)) < 0)
				log_warn("iSNS: %s", err);
			else
				log_info("iSNS: deregistered %s from %s:%u", c->name, c->server, c->port);
			close(fd);
		} else if (m) {
			log_warn("iSNS: not deregistered: %s", err);
		}
		free(m);
	}
	if (c->listen_fd >= 0)
		close(c->listen_fd);
	if (c->stop_pipe[0] >= 0) {
		close(c->stop_pipe[0]);
		close(c->stop_pipe[1]);
	}
	free(c->targets);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

int isns_client_lookup(struct isns_client *c, const char *target, char *addr, size_t addrlen,
		       uint16_t *port, char *err, size_t errlen)
{
	const struct isns_target *t;
	int r = query(c, err, errlen);

	if (r)
		return r;
	pthread_mutex_lock(&c->lock);
	t = find(c->targets, c->ntargets, target);
	if (!t) {
		snprintf(err, errlen, "the iSNS server %s:%u lists no target %s for this initiator "
			 "(not registered, or in none of its discovery domains)", c->server, c->port,
			 target);
		r = -ENOENT;
	} else if (!t->nportals) {
		snprintf(err, errlen, "the iSNS server %s:%u lists target %s without a portal",
			 c->server, c->port, target);
		r = -ENOENT;
	} else {
		snprintf(addr, addrlen, "%s", t->portals[0].addr);
		*port = t->portals[0].port;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

int isns_client_targets(struct isns_client *c, struct isns_target **out, int *count)
{
	pthread_mutex_lock(&c->lock);
	*count = c->ntargets;
	*out = malloc(sizeof(**out) * (size_t)(c->ntargets ? c->ntargets : 1));
	if (*out && c->ntargets)
		memcpy(*out, c->targets, sizeof(**out) * (size_t)c->ntargets);
	pthread_mutex_unlock(&c->lock);
	return *out ? 0 : -ENOMEM;
}

void isns_client_status(struct isns_client *c, struct isns_status *st)
{
	pthread_mutex_lock(&c->lock);
	*st = c->st;
	pthread_mutex_unlock(&c->lock);
}
