/* iscsifs: read the configuration, log in to every channel, serve the LUNs as files.
 * Everything that can fail is done before the mount, so a bad configuration or an unreachable
 * target leaves nothing behind. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include "channel.h"
#include "commands.h"
#include "config.h"
#include "ctl.h"
#include "daemon.h"
#include "evloop.h"
#include "fs.h"
#include "fuse_dev.h"
#include "isns_client.h"
#include "log.h"
#include "session.h"
#include "workq.h"

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif

/* Threads for requests that wait (read-modify-write, fsync, ...). */
#define WORKER_THREADS 32

struct options {
	char *config, *initiator, *auth, *maps, *initiatorname, *log_level, *control_socket;
	char *fuse_io;
	int check, idle, loops, pin;
	char *nonopt[3];
	int nnonopt;
};

#define OPT(t, f) {t, offsetof(struct options, f), 0}
static const struct fuse_opt opt_spec[] = {
	OPT("--config=%s", config), OPT("config=%s", config), OPT("-c %s", config),
	OPT("--initiator=%s", initiator), OPT("initiator=%s", initiator),
	OPT("--auth=%s", auth), OPT("auth=%s", auth),
	OPT("--maps=%s", maps), OPT("maps=%s", maps),
	OPT("--initiatorname=%s", initiatorname), OPT("initiatorname=%s", initiatorname),
	OPT("--log-level=%s", log_level), OPT("log_level=%s", log_level),
	OPT("--control-socket=%s", control_socket), OPT("control_socket=%s", control_socket),
	OPT("--loops=%d", loops), OPT("loops=%d", loops),
	OPT("--fuse-io=%s", fuse_io), OPT("fuse_io=%s", fuse_io),
	{"--pin-loops", offsetof(struct options, pin), 1},
	{"pin_loops", offsetof(struct options, pin), 1},
	{"--check", offsetof(struct options, check), 1},
	{"--idle", offsetof(struct options, idle), 1},
	{"idle", offsetof(struct options, idle), 1},
	FUSE_OPT_END,
};

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct options *o = data;

	(void)outargs;
	if (key != FUSE_OPT_KEY_NONOPT)
		return 1;
	if (o->nnonopt >= 2) {
		fprintf(stderr, "iscsifs: unexpected argument '%s'\n", arg);
		return -1;
	}
	o->nonopt[o->nnonopt++] = strdup(arg);
	return 0;
}

static void usage(const char *prog)
{
	printf("usage: %s [options] <mountpoint>\n"
	       "       %s <source> <mountpoint> -o option[,option...]   (mount -t fuse.iscsifs)\n"
	       "\n"
	       "Logs in to every iSCSI channel of /etc/sysconfig/initiator and serves each LUN as\n"
	       "<mountpoint>/<target-iqn>/lun<N>.\n"
	       "\n"
	       "iscsifs options (also as -o name=value without the dashes):\n"
	       "    -c, --config=FILE        daemon settings (default /etc/iscsifs.conf)\n"
	       "    --initiator=FILE         CHANNEL lines (default /etc/sysconfig/initiator)\n"
	       "    --auth=FILE              AUTH lines (default /etc/sysconfig/initiator_auth)\n"
	       "    --maps=FILE              DEVICE lines (default /etc/sysconfig/iscsi_device_maps)\n"
	       "    --initiatorname=FILE     initiator name (default /etc/initiatorname.iscsi)\n"
	       "    --log-level=LEVEL        error, warning, info or debug\n"
	       "    --control-socket=PATH    where initiator-ctl reaches the daemon\n"
	       "                             (default /run/iscsifs/control.sock)\n"
	       "    --idle                   mount, but start no channel (initiator-ctl start does)\n"
	       "    --check                  check the configuration and exit\n"
	       "    --loops=N                event loops serving I/O (default: one per CPU)\n"
	       "    --pin-loops              bind event loop i to the i-th CPU\n"
	       "    --fuse-io=MODE           auto, classic or uring (default auto)\n"
	       "\n",
	       prog, prog);
	fuse_cmdline_help();
}

/* Daemonizing: fork before any thread exists; the parent waits for the child's verdict, so
 * the command's exit status says whether the mount is there. */
static int ready_fd = -1;

static void daemon_begin(void)
{
	int fds[2];
	pid_t pid;
	unsigned char status = 1;

	if (pipe(fds) < 0) {
		perror("iscsifs: pipe");
		exit(1);
	}
	pid = fork();
	if (pid < 0) {
		perror("iscsifs: fork");
		exit(1);
	}
	if (pid > 0) {
		close(fds[1]);
		if (read(fds[0], &status, 1) != 1)
			status = 1;
		_exit(status);
	}
	close(fds[0]);
	setsid();
	ready_fd = fds[1];
}

static void daemon_finish(unsigned char status)
{
	int fd;

	if (ready_fd < 0)
		return;
	if (status == 0) {
		if (chdir("/") < 0)
			status = 1;
		fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			if (fd > 2)
				close(fd);
		}
	}
	if (write(ready_fd, &status, 1) != 1)
		status = 1;
	close(ready_fd);
	ready_fd = -1;
}

/* Host names are looked up at each login; one that does not resolve now is worth a word. */
static void warn_unresolved(const struct cfg *c)
{
	char why[CFG_ERR_MAX];

	for (int i = 0; i < c->nchannels; i++)
		for (int p = 0; p < c->channels[i].nportals; p++) {
			const struct cfg_portal *cp = &c->channels[i].portals[p];

			if (!cp->from_isns && portal_resolve_check(cp->addr, why, sizeof(why)) < 0)
				fprintf(stderr, "iscsifs: warning: %s:%d: %s (looked up again at "
					"each login)\n", c->paths.initiator, cp->line, why);
		}
	if (c->isns.addr[0] && portal_resolve_check(c->isns.addr, why, sizeof(why)) < 0)
		fprintf(stderr, "iscsifs: warning: %s:%d: %s (looked up again at each "
			"registration)\n", c->paths.initiator, c->isns.line, why);
}

static void print_summary(const struct cfg *c)
{
	warn_unresolved(c);
	printf("initiator %s\n", c->initiator_name);
	for (int i = 0; i < c->nchannels; i++) {
		const struct cfg_channel *ch = &c->channels[i];

		char first[PORTAL_STR_MAX + 8];

		if (ch->portals[0].from_isns)
			snprintf(first, sizeof(first), "from iSNS");
		else
			snprintf(first, sizeof(first), "first %s:%u", ch->portals[0].addr,
				 ch->portals[0].port);
		printf("channel %d: %d connection(s), %d portal(s) (%s), target %s, auth %s%s%s\n",
		       ch->id, ch->conn_count, ch->nportals, first,
		       ch->target_name[0] ? ch->target_name : "by discovery",
		       ch->auth.present ? (ch->auth.mutual ? "mutual CHAP" : "CHAP") : "none",
		       ch->attrs.multipath ? ", multipath " : "",
		       ch->attrs.multipath ? cfg_multipath_str(ch->attrs.multipath) : "");
	}
	if (c->isns.addr[0])
		printf("iSNS server %s:%u, target list queried every %u s\n", c->isns.addr,
		       c->isns.port, c->isns.query_interval);
	for (int i = 0; i < c->nmaps; i++)
		printf("map: channel %d lun %u partition %d -> %s\n", c->maps[i].channel,
		       c->maps[i].lun, c->maps[i].partition, c->maps[i].name);
	printf("configuration OK\n");
}

/* A loop device over a LUN file makes this daemon part of the kernel's writeback: its
 * allocations must not wait on that same writeback. PR_SET_IO_FLUSHER marks only the calling
 * thread and those it creates from then on, so this runs before the first pthread_create (in
 * the child, when daemonizing): every thread, also those the control thread starts later for
 * channels, descends from this one. Refusals are kept for status and said once, as a warning. */
static void memory_for_writeback(struct writeback_guard *wb)
{
	char text[320];

	wb->io_flusher = prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) < 0 ? errno : 0;
#if !defined(__SANITIZE_ADDRESS__)
	wb->mlock = mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0 ? errno : 0;
	/* Locked memory that malloc keeps after a free stays resident: large blocks (the blocks
	 * around an unaligned write) get mappings of their own, returned when freed. A fixed
	 * threshold also stops malloc from raising it after the first such free. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#else
	wb->mlock = ENOSYS; /* ASan's shadow memory is far too large to lock */
#endif
	writeback_guard_text(wb, text, sizeof(text));
	if (wb->io_flusher || (wb->mlock && wb->mlock != ENOSYS))
		log_warn("writeback protection: %s", text);
	else
		log_dbg("writeback protection: %s", text);
}

/* SIGTERM, SIGINT, SIGHUP end the daemon: they are taken from a signalfd by the main thread,
 * blocked everywhere else (every thread inherits the mask set before the first one). */
static int block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static int parse_fuse_io(const char *s, enum fdev_mode *m)
{
	if (!s || strcmp(s, "auto") == 0)
		*m = FDEV_AUTO;
	else if (strcmp(s, "classic") == 0)
		*m = FDEV_CLASSIC;
	else if (strcmp(s, "uring") == 0 || strcmp(s, "io_uring") == 0)
		*m = FDEV_URING;
	else
		return -1;
	return 0;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts co = {0};
	struct options o = {0};
	struct fuse_session *se = NULL;
	static const struct fuse_lowlevel_ops no_ops;
	struct fdev_ops ops;
	struct ctl_server *ctl = NULL;
	struct daemon d = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct cfg *c = NULL;
	char err[CFG_ERR_MAX * 2];
	const char *mnt, *sock;
	char *abs_mnt = NULL;
	enum log_level lvl;
	enum fdev_mode mode;
	int r, ret = 1, sig_fd = -1, loops_up = 0, mounted = 0;

	signal(SIGPIPE, SIG_IGN);
	if (fuse_opt_parse(&args, &o, opt_spec, opt_proc) < 0)
		return 1;
	if (fuse_parse_cmdline(&args, &co) < 0)
		return 1;
	if (co.show_help) {
		usage(argv[0]);
		ret = 0;
		goto out;
	}
	if (co.show_version) {
		printf("iscsifs %s\n", PACKAGE_VERSION);
		ret = 0;
		goto out;
	}
	mnt = o.nnonopt ? o.nonopt[o.nnonopt - 1] : co.mountpoint;
	if (!mnt && !o.check) {
		fprintf(stderr, "iscsifs: no mountpoint given (see %s --help)\n", argv[0]);
		goto out;
	}
	if (parse_fuse_io(o.fuse_io, &mode) < 0) {
		fprintf(stderr, "iscsifs: unknown FUSE transport '%s' (auto, classic, uring)\n",
			o.fuse_io);
		goto out;
	}
	if (o.loops < 0 || o.loops > 64) {
		fprintf(stderr, "iscsifs: loops must be between 1 and 64\n");
		goto out;
	}
	if (co.singlethread)
		o.loops = 1; /* -s: one loop serves everything */
	log_init("iscsifs", 0, LOG_LVL_INFO);

	d.src.settings = o.config;
	d.src.initiator = o.initiator;
	d.src.auth = o.auth;
	d.src.maps = o.maps;
	d.src.initiatorname = o.initiatorname;
	/* Paths in status and maps are absolute, whatever the caller's directory. */
	if (mnt && !o.check) {
		abs_mnt = realpath(mnt, NULL);
		if (!abs_mnt) {
			fprintf(stderr, "iscsifs: mountpoint %s: %s\n", mnt, strerror(errno));
			goto out;
		}
		mnt = abs_mnt;
	}
	d.mountpoint = mnt;
	if (daemon_load_config(&d, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "iscsifs: %s\n", err);
		goto out;
	}
	if (log_level_parse(o.log_level ? o.log_level : c->settings.log_level, &lvl) < 0) {
		fprintf(stderr, "iscsifs: unknown log level '%s' (error, warning, info, debug)\n",
			o.log_level ? o.log_level : c->settings.log_level);
		cfg_free(c);
		free(c);
		goto out;
	}
	if (co.debug)
		lvl = LOG_LVL_DEBUG;
	log_set_level(lvl);
	if (o.check) {
		print_summary(c);
		cfg_free(c);
		free(c);
		ret = 0;
		goto out;
	}
	if (daemon_add_channels(&d, c) < 0) {
		fprintf(stderr, "iscsifs: out of memory\n");
		goto out_daemon;
	}
	if (!co.foreground)
		daemon_begin();
	memory_for_writeback(&d.wb); /* before any thread */

	/* Before the first thread, so that every thread inherits the mask. */
	sig_fd = block_signals();
	if (sig_fd < 0) {
		log_err("cannot take signals: %s", strerror(errno));
		goto out_fail;
	}
	r = evloops_start((unsigned)o.loops, o.pin);
	if (r) {
		log_err("cannot start the event loops: %s", strerror(-r));
		goto out_fail;
	}
	loops_up = 1;
	workq_set_max(WORKER_THREADS);

	/* iSNS is a help, not a condition: without the server, channels that name their portal
	 * still start (the client keeps trying). */
	if (c->isns.addr[0]) {
		struct isns_client_config ic = {
			.server = c->isns.addr,
			.port = c->isns.port,
			.initiator_name = c->initiator_name,
			.initiator_alias = c->initiator_alias,
			.query_interval = c->isns.query_interval,
		};

		d.isns = isns_client_new(&ic);
		if (!d.isns)
			goto out_fail;
		r = isns_client_start(d.isns, err, sizeof(err));
		if (r < 0) {
			log_err("iSNS: %s", err);
			goto out_fail;
		}
		if (r > 0)
			log_warn("iSNS discovery failed: %s; channels with their own portal start "
				 "anyway, and the server is tried again every %u s", err,
				 c->isns.query_interval);
	}
	/* Everything that can fail happens before the mount. */
	for (int i = 0; !o.idle && i < d.nchs; i++) {
		r = channel_start(d.chs[i], err, sizeof(err));
		if (r) {
			log_err("%s", err);
			goto out_fail;
		}
	}
	d.fs = fs_new();
	if (!d.fs || fs_set_channels(d.fs, d.chs, d.nchs) < 0)
		goto out_fail;
	sock = o.control_socket ? o.control_socket : c->settings.control_socket;
	ctl = ctl_start(sock, daemon_command, &d, err, sizeof(err));
	if (!ctl) {
		log_err("%s", err);
		goto out_fail;
	}
	if (fuse_opt_add_arg(&args, "-ofsname=iscsifs,subtype=iscsifs,default_permissions") ||
	    (geteuid() == 0 && fuse_opt_add_arg(&args, "-oallow_other")))
		goto out_fail;
	/* libfuse mounts; the protocol on the device is ours (fuse_dev.c). */
	se = fuse_session_new(&args, &no_ops, sizeof(no_ops), NULL);
	if (!se)
		goto out_fail;
	if (fuse_session_mount(se, mnt) < 0) {
		log_err("cannot mount on %s", mnt);
		goto out_fail;
	}
	mounted = 1;
	ops = fs_dev_ops(d.fs);
	d.dev = fdev_start(fuse_session_fd(se), &ops, mode, err, sizeof(err));
	if (!d.dev) {
		log_err("%s", err);
		goto out_fail;
	}
	fs_set_dev(d.fs, d.dev);
	log_info("serving %d channel(s) on %s%s with %u event loop(s), FUSE %s; control socket %s",
		 d.nchs, mnt, o.idle ? " (idle: no channel started)" : "", evloops_count(),
		 fdev_mode_str(d.dev), sock);
	if (!co.foreground) {
		daemon_finish(0);
		log_init("iscsifs", 1, lvl);
	}

	if (fdev_wait(d.dev, sig_fd) == 0) {
		struct signalfd_siginfo si;

		if (read(sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			log_info("signal %u: unmounting %s", si.ssi_signo, mnt);
	}
	ret = 0;
	goto out_stop;

out_fail:
	ret = 1;
	daemon_finish(1);
out_stop:
	/* The device goes with the mount: no more notifications. */
	if (d.fs)
		fs_set_dev(d.fs, NULL);
	if (mounted) {
		fuse_session_unmount(se);
		log_info("unmounted %s", mnt);
	}
	/* Files kept open (a loop device) may still send requests: they get EIO from here on. */
	fdev_close(d.dev);
	/* No command and no rescan may touch the session or the tree from here on. */
	ctl_stop(ctl);
	for (int i = 0; i < d.nchs; i++) {
		channel_stop_rescans(d.chs[i]);
		channel_set_change_callback(d.chs[i], NULL, NULL);
	}
	for (int i = 0; i < d.nretired; i++) {
		channel_stop_rescans(d.retired[i]);
		channel_set_change_callback(d.retired[i], NULL, NULL);
	}
	daemon_logout(&d); /* what waits for a target ends, on loops and workers alike */
	fs_stop(d.fs);     /* and what waits for a multipath path */
	workq_stop();      /* every request a worker had is answered */
	fdev_stop(d.dev);
	if (loops_up)
		evloops_stop();
out_daemon:
	daemon_free(&d);
	isns_client_free(d.isns); /* deregisters */
	fdev_free(d.dev);
	if (se)
		fuse_session_destroy(se);
	fs_free(d.fs);
	if (sig_fd >= 0)
		close(sig_fd);
out:
	fuse_opt_free_args(&args);
	free(co.mountpoint);
	free(o.config);
	free(o.initiator);
	free(o.auth);
	free(o.maps);
	free(o.initiatorname);
	free(o.log_level);
	free(o.control_socket);
	free(o.fuse_io);
	free(abs_mnt);
	for (int i = 0; i < o.nnonopt; i++)
		free(o.nonopt[i]);
	return ret;
}
