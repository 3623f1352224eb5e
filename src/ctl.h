/* The control socket between the daemon and initiator-ctl: a UNIX stream socket, mode 0600.
 * A client sends one request line of space-separated words; the server answers with a line
 * holding the exit code, then the text to print, then closes. */
#ifndef ISCSIFS_CTL_H
#define ISCSIFS_CTL_H

#include <stddef.h>
#include <stdio.h>

#define CTL_MAX_ARGS 16
#define CTL_OK 0
#define CTL_FAILED 1
#define CTL_USAGE 2
#define CTL_NOT_RUNNING 3

/* Runs one request; writes the answer text to out; returns the exit code. */
typedef int (*ctl_handler)(void *arg, int argc, char **argv, FILE *out);

struct ctl_server;

/* Listen on path (its directory is created 0700 if missing); requests are served one at a
 * time on the server's own thread. Only root and the daemon's own user are answered. */
struct ctl_server *ctl_start(const char *path, ctl_handler handler, void *arg, char *err,
			     size_t errlen);
void ctl_stop(struct ctl_server *s); /* also removes the socket file */

/* Client: send argv, copy the answer text to out (to errout when the code is not 0); returns
 * the exit code, or CTL_NOT_RUNNING with a message in err when there is no daemon at path. */
int ctl_request(const char *path, int argc, char **argv, FILE *out, FILE *errout, char *err,
		size_t errlen);

#endif
