/* Control socket: server thread and client. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "log.h"

#define CTL_LINE_MAX 4096
#define CTL_IO_TIMEOUT_MS 5000

struct ctl_server {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	ctl_handler handler;
	void *arg;
	pthread_t thread;
	int stop_pipe[2];
};

static int make_addr(const char *path, struct sockaddr_un *sa, char *err, size_t errlen)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path)) {
		snprintf(err, errlen, "control socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	memcpy(sa->sun_path, path, strlen(path) + 1);
	return 0;
}

/* Read one line (bounded in size and time) from a client. */
static int read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;

	while (n + 1 < size) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t r;

		if (poll(&p, 1, CTL_IO_TIMEOUT_MS) <= 0)
			return -ETIMEDOUT;
		r = read(fd, buf + n, 1);
		if (r <= 0)
			return r == 0 ? -ECONNRESET : -errno;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return 0;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t r = write(fd, p, len);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

static void serve(struct ctl_server *s, int fd)
{
	char line[CTL_LINE_MAX], *argv[CTL_MAX_ARGS + 1], *save = NULL, *tok, *text = NULL;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	size_t textlen = 0;
	FILE *out;
	int argc = 0, code;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		log_warn("control: refused a request from uid %d", (int)cred.uid);
		return;
	}
	if (read_line(fd, line, sizeof(line)) < 0)
		return;
	for (tok = strtok_r(line, " \t", &save); tok && argc < CTL_MAX_ARGS;
	     tok = strtok_r(NULL, " \t", &save))
		argv[argc++] = tok;
	argv[argc] = NULL;
	out = open_memstream(&text, &textlen);
	if (!out)
		return;
	code = argc ? s->handler(s->arg, argc, argv, out) : CTL_USAGE;
	fclose(out);
	{
		char head[16];

		snprintf(head, sizeof(head), "%d\n", code);
		if (write_all(fd, head, strlen(head)) == 0 && textlen)
			write_all(fd, text, textlen);
	}
	free(text);
}

static void *ctl_main(void *arg)
{
	struct ctl_server *s = arg;

	for (;;) {
		struct pollfd p[2] = {{.fd = s->fd, .events = POLLIN},
				      {.fd = s->stop_pipe[0], .events = POLLIN}};
		int c;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		c = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		serve(s, c);
		close(c);
	}
	return NULL;
}

struct ctl_server *ctl_start(const char *path, ctl_handler handler, void *arg, char *err,
			     size_t errlen)
{
	struct ctl_server *s = calloc(1, sizeof(*s));
	struct sockaddr_un sa;
	char dir[sizeof(sa.sun_path)], *slash;
	mode_t old;

	if (!s)
		return NULL;
	s->fd = -1;
	s->stop_pipe[0] = s->stop_pipe[1] = -1;
	s->handler = handler;
	s->arg = arg;
	if (make_addr(path, &sa, err, errlen) < 0)
		goto fail;
	snprintf(s->path, sizeof(s->path), "%s", path);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
			goto fail;
		}
	}
	/* A socket left by a daemon that died is replaced; a live one is not. */
	{
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			snprintf(err, errlen, "another daemon answers on %s", path);
			goto fail;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
	}
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		goto fail_errno;
	old = umask(0177); /* the socket is born 0600 */
	if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		umask(old);
		goto fail_errno;
	}
	umask(old);
	if (chmod(path, 0600) < 0 || listen(s->fd, 8) < 0 || pipe2(s->stop_pipe, O_CLOEXEC) < 0)
		goto fail_errno;
	if (pthread_create(&s->thread, NULL, ctl_main, s) != 0) {
		snprintf(err, errlen, "cannot start the control thread");
		goto fail;
	}
	return s;
fail_errno:
	snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
fail:
	if (s->fd >= 0) {
		close(s->fd);
		unlink(path);
	}
	if (s->stop_pipe[0] >= 0) {
		close(s->stop_pipe[0]);
		close(s->stop_pipe[1]);
	}
	free(s);
	return NULL;
}

void ctl_stop(struct ctl_server *s)
{
	if (!s)
		return;
	if (write(s->stop_pipe[1], "x", 1) != 1)
		log_warn("control: cannot stop the control thread");
	pthread_join(s->thread, NULL);
	close(s->fd);
	close(s->stop_pipe[0]);
	close(s->stop_pipe[1]);
	unlink(s->path);
	free(s);
}

int ctl_request(const char *path, int argc, char **argv, FILE *out, FILE *errout, char *err,
		size_t errlen)
{
	struct sockaddr_un sa;
	char buf[4096], line[CTL_LINE_MAX];
	size_t off = 0;
	int fd, code = -1, r;

	if (make_addr(path, &sa, err, errlen) < 0)
		return CTL_FAILED;
	for (int i = 0; i < argc; i++) {
		int n = snprintf(line + off, sizeof(line) - off, "%s%s", i ? " " : "", argv[i]);

		if (n < 0 || (size_t)n >= sizeof(line) - off || strpbrk(argv[i], " \t\n")) {
			snprintf(err, errlen, "argument '%s' is too long or has white space", argv[i]);
			return CTL_USAGE;
		}
		off += (size_t)n;
	}
	line[off++] = '\n';
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, errlen, "the iscsifs daemon is not running (%s: %s)", path,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return CTL_NOT_RUNNING;
	}
	if (write_all(fd, line, off) < 0) {
		snprintf(err, errlen, "cannot send to %s: %s", path, strerror(errno));
		close(fd);
		return CTL_FAILED;
	}
	/* The answer: the exit code on the first line, then text until the daemon closes. */
	while ((r = (int)read(fd, buf, sizeof(buf))) > 0 || (r < 0 && errno == EINTR)) {
		char *p = buf;
		size_t n = (size_t)(r > 0 ? r : 0);

		if (code < 0) {
			char *nl = memchr(buf, '\n', n);

			if (!nl)
				continue; /* the code line is tiny: it arrives whole */
			code = atoi(buf);
			n -= (size_t)(nl + 1 - buf);
			p = nl + 1;
		}
		fwrite(p, 1, n, code == 0 ? out : errout);
	}
	close(fd);
	if (code < 0) {
		snprintf(err, errlen, "no answer from the daemon on %s", path);
		return CTL_FAILED;
	}
	return code;
}
