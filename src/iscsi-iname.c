/* iscsi-iname: print a fresh, unique iSCSI initiator name, or create initiatorname.iscsi once and
 * never touch it again (targets know this host by that name: it must not change). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

#define PROG "iscsi-iname"
#define DEFAULT_PREFIX "iqn.2026-11.org.iscsifs"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: " PROG " [-p PREFIX] [-f FILE] [-n]\n"
		"Print a new unique iSCSI initiator name, PREFIX:<12 random hex digits>.\n"
		"\n"
		"  -p PREFIX  an iqn. name to start from (default " DEFAULT_PREFIX ")\n"
		"  -f FILE    write InitiatorName=<name> to FILE if FILE does not exist yet,\n"
		"             and print the name; if FILE exists, leave it as it is and print\n"
		"             the name it holds\n"
		"  -n         with -f: write nothing, print the name FILE holds or would get\n"
		"  -h         show this help\n");
}

/* The name an existing file holds; 0 or -errno with a message in err. */
static int read_name(const char *file, char *name, size_t namelen, char *err, size_t errlen)
{
	struct cfg c;
	int rc;

	cfg_init(&c);
	rc = cfg_parse_initiatorname(&c, file, err, errlen);
	if (rc == 0)
		snprintf(name, namelen, "%s", c.initiator_name);
	cfg_free(&c);
	return rc;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Create file with the name in it; -EEXIST when it is there already (it is left alone). */
static int create_name_file(const char *file, const char *name, char *err, size_t errlen)
{
	char buf[CFG_NAME_MAX + 256];
	int fd, rc, n;

	n = snprintf(buf, sizeof(buf),
		     "# The iSCSI name of this initiator, made by " PROG ".\n"
		     "# Targets know this host by it (in their access lists, for instance):\n"
		     "# do not change it.\n"
		     "InitiatorName=%s\n", name);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -EINVAL;
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		if (rc != -EEXIST)
			snprintf(err, errlen, "%s: cannot create: %s", file, strerror(-rc));
		return rc;
	}
	/* The umask may have taken bits away; the file is meant to be world-readable. */
	rc = fchmod(fd, 0644) < 0 ? -errno : 0;
	if (rc == 0)
		rc = write_all(fd, buf, (size_t)n);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot write: %s", file, strerror(-rc));
		unlink(file);
	}
	return rc;
}

int main(int argc, char **argv)
{
	const char *prefix = DEFAULT_PREFIX, *file = NULL;
	char name[CFG_NAME_MAX], err[CFG_ERR_MAX];
	int dry_run = 0, opt, rc;

	while ((opt = getopt(argc, argv, "p:f:nh")) != -1) {
		switch (opt) {
		case 'p':
			prefix = optarg;
			break;
		case 'f':
			file = optarg;
			break;
		case 'n':
			dry_run = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 1;
	}
	if (strncmp(prefix, "iqn.", 4) != 0) {
		fprintf(stderr, PROG ": the prefix must be an iqn. name, not '%s'\n", prefix);
		return 1;
	}
	if (iscsi_name_check(prefix, err, sizeof(err)) < 0) {
		fprintf(stderr, PROG ": bad prefix: %s\n", err);
		return 1;
	}
	rc = iscsi_name_generate(prefix, name, sizeof(name));
	if (rc == -ENOSPC || (rc == -EINVAL && strlen(prefix) + 13 >= CFG_NAME_MAX)) {
		fprintf(stderr, PROG ": prefix '%s' is too long for a name of at most %d bytes\n",
			prefix, CFG_NAME_MAX - 1);
		return 1;
	}
	if (rc < 0) {
		fprintf(stderr, PROG ": cannot make a name: %s\n", strerror(-rc));
		return 1;
	}

	if (file) {
		if (dry_run) {
			if (access(file, F_OK) == 0)
				rc = -EEXIST;
			else
				rc = errno == ENOENT ? 0 : -errno;
			if (rc < 0 && rc != -EEXIST) {
				fprintf(stderr, PROG ": %s: %s\n", file, strerror(-rc));
				return 1;
			}
		} else {
			rc = create_name_file(file, name, err, sizeof(err));
		}
		if (rc == -EEXIST) {
			rc = read_name(file, name, sizeof(name), err, sizeof(err));
			if (rc < 0) {
				fprintf(stderr, PROG ": %s (the file exists: left as it is)\n",
					err);
				return 1;
			}
		}
		if (rc < 0) {
			fprintf(stderr, PROG ": %s\n", err);
			return 1;
		}
	}
	if (printf("%s\n", name) < 0 || fflush(stdout) == EOF) {
		fprintf(stderr, PROG ": cannot write the name: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}
