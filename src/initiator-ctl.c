/* initiator-ctl: drive the channels of a running iscsifs daemon (howto section 3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"

#define DEFAULT_SOCKET "/run/iscsifs/control.sock"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: initiator-ctl [-s SOCKET] [-c FILE] COMMAND [ARGS]\n"
		"\n"
		"  list                    the configured channels and their state\n"
		"  status [CH] [--json]    sessions, connections and LUNs\n"
		"  start [CH]              log in (or resume a paused channel) and scan LUNs\n"
		"  stop [CH]               log out and remove the LUN files (refused while in use)\n"
		"  pause [CH]              log out; I/O on the channel waits until start\n"
		"  rescan [CH]             scan the LUNs again\n"
		"  reload                  re-read the configuration files\n"
		"  maps [CH]               the DEVICE lines with their LUN files and mount points\n"
		"  discover                the targets the iSNS server shows, with their portals\n"
		"  mountpoint              where the daemon serves the LUN files\n"
		"  pid                     the daemon's process ID\n"
		"\n"
		"CH is a channel id, or a target's iSCSI name in any case (its channels).\n"
		"The socket is -s SOCKET, else $ISCSIFS_CONTROL_SOCKET, else control_socket in the\n"
		"settings file (-c FILE, default /etc/iscsifs.conf), else %s.\n"
		"Exit status: 0 done, 1 failed, 2 usage, 3 the daemon is not running.\n",
		DEFAULT_SOCKET);
}

int main(int argc, char *argv[])
{
	const char *sock = getenv("ISCSIFS_CONTROL_SOCKET"), *settings = NULL;
	char err[512], from_cfg[256] = "";
	int opt, code;

	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	while ((opt = getopt(argc, argv, "+s:c:h")) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'c':
			settings = optarg;
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
	if (!sock || !*sock) {
		/* The daemon's settings file says where its socket is. */
		struct cfg c;

		cfg_init(&c);
		if (cfg_load_settings(&c, settings, err, sizeof(err)) < 0) {
			fprintf(stderr, "initiator-ctl: %s\n", err);
			cfg_free(&c);
			return CTL_FAILED;
		}
		snprintf(from_cfg, sizeof(from_cfg), "%s", c.settings.control_socket);
		cfg_free(&c);
		sock = from_cfg[0] ? from_cfg : DEFAULT_SOCKET;
	}
	err[0] = '\0';
	code = ctl_request(sock, argc - optind, argv + optind, stdout, stderr, err, sizeof(err));
	if (code == CTL_NOT_RUNNING && err[0])
		fprintf(stderr, "initiator-ctl: %s\n", err);
	else if (code != CTL_OK && code != CTL_NOT_RUNNING && err[0])
		fprintf(stderr, "initiator-ctl: %s\n", err);
	return code;
}
