/* The control socket's commands as a table: each row a command's name, its arguments as
 * initiator-ctl(8) writes them, and its handler. Dispatch is a look-up in the table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "ctl.h"
#include "daemon.h"
#include "log.h"
#include "status.h"
#include "status_render.h"

struct command;

/* One command as it runs: the daemon, the words of the request, where the answer goes, and
 * for a command on channels the ones [CH] picked (all when it is absent). */
struct request {
	const struct command *cmd;
	struct daemon *d;
	int argc;
	char **argv;
	FILE *f;
	struct channel **sel;
	int n;
};

struct command {
	const char *name;
	const char *usage;  /* its arguments, as initiator-ctl -h writes them */
	int on_channels;    /* takes [CH]: sel is picked before the handler runs */
	int (*run)(struct request *rq); /* a CTL_* exit code */
};

/* The channels a command names: all, the one with id argv[1], or those whose target is
 * argv[1] (an iSCSI name, in any case). out has room for every channel. */
static int pick(struct daemon *d, int argc, char **argv, struct channel **out, int *n, FILE *f)
{
	char *end;
	long id;

	*n = 0;
	if (argc < 2) {
		for (int i = 0; i < d->nchs; i++)
			out[(*n)++] = d->chs[i];
		return 0;
	}
	id = strtol(argv[1], &end, 10);
	if (*end || end == argv[1] || id < 0) {
		char why[CFG_ERR_MAX];

		if (iscsi_name_check(argv[1], why, sizeof(why)) < 0) {
			fprintf(f, "'%s' is neither a channel id nor an iSCSI name\n", argv[1]);
			return CTL_USAGE;
		}
		for (int i = 0; i < d->nchs; i++) {
			char target[CFG_NAME_MAX];

			channel_target_name(d->chs[i], target, sizeof(target));
			if (iscsi_name_equal(target, argv[1]) ||
			    iscsi_name_equal(channel_conf(d->chs[i])->target_name, argv[1]))
				out[(*n)++] = d->chs[i];
		}
		if (*n)
			return 0;
		fprintf(f, "no channel has the target %s\n", argv[1]);
		return CTL_FAILED;
	}
	for (int i = 0; i < d->nchs; i++)
		if (channel_id(d->chs[i]) == id) {
			out[(*n)++] = d->chs[i];
			return 0;
		}
	fprintf(f, "channel %ld is not configured\n", id);
	return CTL_FAILED;
}

/* Room for every channel, for pick. */
static struct channel **selection(const struct daemon *d, FILE *f)
{
	struct channel **sel = calloc(d->nchs ? (size_t)d->nchs : 1, sizeof(*sel));

	if (!sel)
		fprintf(f, "out of memory\n");
	return sel;
}

static int cmd_status(struct request *rq)
{
	struct daemon_status st;
	struct channel **sel;
	int n, json = 0, r, nargs = 0;
	char *args[3] = {rq->argv[0], NULL, NULL};

	for (int i = 1; i < rq->argc; i++) {
		if (strcmp(rq->argv[i], "--json") == 0)
			json = 1;
		else if (nargs < 1)
			args[1 + nargs++] = rq->argv[i];
		else
			return fprintf(rq->f, "usage: %s %s\n", rq->cmd->name, rq->cmd->usage),
			       CTL_USAGE;
	}
	sel = selection(rq->d, rq->f);
	if (!sel)
		return CTL_FAILED;
	r = pick(rq->d, 1 + nargs, args, sel, &n, rq->f);
	if (r == 0 && status_gather(rq->d, sel, n, nargs == 0, &st) < 0) {
		fprintf(rq->f, "out of memory\n");
		r = CTL_FAILED;
	}
	free(sel);
	if (r)
		return r;
	if (json)
		status_render_json(&st, rq->f);
	else
		status_render_text(&st, rq->f);
	status_free(&st);
	return CTL_OK;
}

static int cmd_reload(struct request *rq)
{
	if (rq->argc != 1)
		return CTL_USAGE;
	return daemon_reload(rq->d, rq->f) < 0 ? CTL_FAILED : CTL_OK;
}

/* The targets iSNS shows this initiator, one line each: name, then its portals. */
static int cmd_discover(struct request *rq)
{
	struct isns_client *isns = rq->d->isns;
	struct isns_target *l;
	struct isns_status st;
	int n;

	if (rq->argc != 1)
		return CTL_USAGE;
	if (!isns) {
		fprintf(rq->f, "no iSNS server configured (ISNS=\"address [port]\" in the initiator "
			       "file)\n");
		return CTL_FAILED;
	}
	isns_client_status(isns, &st);
	if (!st.last_query) {
		fprintf(rq->f, "the iSNS server %s has not answered yet%s%s\n", st.server,
			st.last_error[0] ? ": " : "", st.last_error);
		return CTL_FAILED;
	}
	if (isns_client_targets(isns, &l, &n) < 0) {
		fprintf(rq->f, "out of memory\n");
		return CTL_FAILED;
	}
	for (int i = 0; i < n; i++) {
		fprintf(rq->f, "%s", l[i].name);
		for (int k = 0; k < l[i].nportals; k++)
			fprintf(rq->f, " %s:%u", l[i].portals[k].addr, l[i].portals[k].port);
		fputc('\n', rq->f);
	}
	free(l);
	return CTL_OK;
}

static int cmd_mountpoint(struct request *rq)
{
	fprintf(rq->f, "%s\n", rq->d->mountpoint);
	return CTL_OK;
}

/* For the init script, to wait for the exit. */
static int cmd_pid(struct request *rq)
{
	fprintf(rq->f, "%ld\n", (long)getpid());
	return CTL_OK;
}

static int cmd_list(struct request *rq)
{
	for (int i = 0; i < rq->n; i++) {
		struct channel *ch = rq->sel[i];
		char target[CFG_NAME_MAX];

		fprintf(rq->f, "%d %s %s\n", channel_id(ch), channel_state_str(ch),
			channel_target_name(ch, target, sizeof(target)) ? target : "-");
	}
	return CTL_OK;
}

static int cmd_start(struct request *rq)
{
	int code = CTL_OK;

	for (int i = 0; i < rq->n; i++) {
		char err[CFG_ERR_MAX * 2];

		if (channel_start(rq->sel[i], err, sizeof(err)) < 0) {
			log_err("%s", err);
			fprintf(rq->f, "%s\n", err);
			code = CTL_FAILED;
		}
	}
	return code;
}

static int cmd_stop(struct request *rq)
{
	char which[256];

	/* All or nothing: refuse before stopping anything when a file is in use. */
	for (int i = 0; i < rq->n; i++) {
		struct channel *ch = rq->sel[i];

		if (channel_state(ch) != CH_STOPPED &&
		    fs_channel_busy(rq->d->fs, ch, which, sizeof(which))) {
			fprintf(rq->f, "channel %d is busy: %s is open (unmap it first: "
				       "iscsi-unmap-channel %d)\n",
				channel_id(ch), which, channel_id(ch));
			return CTL_FAILED;
		}
	}
	for (int i = 0; i < rq->n; i++) {
		fs_channel_stopping(rq->d->fs, rq->sel[i]);
		channel_stop(rq->sel[i]);
	}
	return CTL_OK;
}

static int cmd_pause(struct request *rq)
{
	for (int i = 0; i < rq->n; i++)
		channel_pause(rq->sel[i]);
	return CTL_OK;
}

static int cmd_rescan(struct request *rq)
{
	for (int i = 0; i < rq->n; i++)
		if (channel_state(rq->sel[i]) == CH_RUNNING)
			channel_request_rescan(rq->sel[i]);
	return CTL_OK;
}

/* The DEVICE lines of the channels that are not stopped, with their LUN there: channel, LUN,
 * partition, name, the LUN's file, the mount point. */
static int cmd_maps(struct request *rq)
{
	const struct cfg *c = daemon_cfg(rq->d);

	for (int i = 0; i < rq->n; i++) {
		struct channel *ch = rq->sel[i];

		if (channel_state(ch) == CH_STOPPED)
			continue;
		for (int m = 0; m < c->nmaps; m++) {
			const struct cfg_map *mp = &c->maps[m];
			const struct lun *l;
			char file[1024], dir[1024];

			if (mp->channel != channel_id(ch))
				continue;
			l = channel_find_lun(ch, mp->lun);
			if (!l)
				continue;
			daemon_lun_file(rq->d, ch, l, file, sizeof(file));
			daemon_map_dir(c, ch, mp->name, dir, sizeof(dir));
			fprintf(rq->f, "%d %u %d %s %s %s\n", mp->channel, mp->lun, mp->partition,
				mp->name, file, dir);
		}
	}
	return CTL_OK;
}

/* initiator-ctl(8) and initiator-ctl -h list the same commands. */
static const struct command commands[] = {
	{"list", "[CH]", 1, cmd_list},
	{"status", "[CH] [--json]", 0, cmd_status},
	{"start", "[CH]", 1, cmd_start},
	{"stop", "[CH]", 1, cmd_stop},
	{"pause", "[CH]", 1, cmd_pause},
	{"rescan", "[CH]", 1, cmd_rescan},
	{"reload", "", 0, cmd_reload},
	{"maps", "[CH]", 1, cmd_maps},
	{"discover", "", 0, cmd_discover},
	{"mountpoint", "", 0, cmd_mountpoint},
	{"pid", "", 0, cmd_pid},
};

/* [CH] picked into rq->sel, then the command. */
static int run_on_channels(struct request *rq)
{
	int r;

	if (rq->argc > 2)
		return fprintf(rq->f, "usage: %s %s\n", rq->cmd->name, rq->cmd->usage), CTL_USAGE;
	rq->sel = selection(rq->d, rq->f);
	if (!rq->sel)
		return CTL_FAILED;
	r = pick(rq->d, rq->argc, rq->argv, rq->sel, &rq->n, rq->f);
	if (r == 0)
		r = rq->cmd->run(rq);
	free(rq->sel);
	return r;
}

int daemon_command(void *arg, int argc, char **argv, FILE *f)
{
	struct request rq = {.d = arg, .argc = argc, .argv = argv, .f = f};

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].name, argv[0]) != 0)
			continue;
		rq.cmd = &commands[i];
		return rq.cmd->on_channels ? run_on_channels(&rq) : rq.cmd->run(&rq);
	}
	fprintf(f, "unknown command '%s' (see initiator-ctl -h)\n", argv[0]);
	return CTL_USAGE;
}
