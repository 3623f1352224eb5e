/* initiator-ctl: drive the channels of a running iscsifs daemon (howto section 3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

#define DEFAULT_SOCKET "/run/iscsifs/control.sock"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: initiator-ctl [-s SOCKET] COMMAND [ARGS]\n"
		"\n"
		"  list                    the configured channels and their state\n"
		"  status [CH] [--json]    sessions, connections and LUNs\n"
		"  start [CH]              log in (or resume a paused channel) and scan LUNs\n"
		"  stop [CH]               log out and remove the LUN files (refused while in use)\n"
		"  pause [CH]              log out; I/O on the channel waits until start\n"
		"  rescan [CH]             scan the LUNs again\n"
		"  reload                  re-read the configuration files\n"
		"  maps [CH]               the DEVICE lines with their LUN files and mount points\n"
		"  mountpoint              where the daemon serves the LUN files\n"
		"\n"
		"The socket is %s unless -s or ISCSIFS_CONTROL_SOCKET says otherwise.\n"
		"Exit status: 0 done, 1 failed, 2 usage, 3 the daemon is not running.\n",
		DEFAULT_SOCKET);
}

int main(int argc, char *argv[])
{
	const char *sock = getenv("ISCSIFS_CONTROL_SOCKET");
	char err[512];
	int opt, code;

	while ((opt = getopt(argc, argv, "+s:h")) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return CTL_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CTL_USAGE;
	}
	if (!sock || !*sock)
		sock = DEFAULT_SOCKET;
	err[0] = '\0';
	code = ctl_request(sock, argc - optind, argv + optind, stdout, stderr, err, sizeof(err));
	if (code == CTL_NOT_RUNNING && err[0])
		fprintf(stderr, "initiator-ctl: %s\n", err);
	else if (code != CTL_OK && code != CTL_NOT_RUNNING && err[0])
		fprintf(stderr, "initiator-ctl: %s\n", err);
	return code;
}
