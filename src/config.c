/* Configuration: initiatorname.iscsi, the howto's sysconfig files (initiator, initiator_auth,
 * iscsi_device_maps) and the daemon's own iscsifs.conf. Parsing and checking only: nothing here
 * starts anything. Every error is "file:line: reason"; no error text ever quotes a secret. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <libconfig.h>
#include <net/if.h>
#include <openssl/crypto.h>

#include "config.h"
#include "log.h"

#define SETTINGS_FILE "/etc/iscsifs.conf"
#define CONN_COUNT_MAX 16
#define CHANNEL_ID_MAX 65535
#define LUN_MAX 16383
#define PARTITION_MAX 128
#define MOUNT_NAME_MAX 255
#define FILE_SIZE_MAX (1024 * 1024)
#define MAX_WORDS 32

static int set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* ---- channel attributes: the 8th argument of CHANNEL and the channel_defaults group ---- */

struct attr_def {
	const char *name;
	size_t off; /* in struct cfg_attrs */
	uint32_t min, max;
	const char *const *words; /* a word attribute: the value is its index here */
};

static const char *const mpath_words[] = {"off", "failover", "round-robin", NULL};

static const struct attr_def attr_table[] = {
	{"nopout_timeout", offsetof(struct cfg_attrs, nopout_timeout), 0, 3600, NULL},
	{"nopout_response_timeout", offsetof(struct cfg_attrs, nopout_response_timeout), 1, 3600, NULL},
	{"login_timeout", offsetof(struct cfg_attrs, login_timeout), 1, 3600, NULL},
	{"command_timeout", offsetof(struct cfg_attrs, command_timeout), 1, 3600, NULL},
	{"replacement_timeout", offsetof(struct cfg_attrs, replacement_timeout), 0, 86400, NULL},
	{"queue_depth", offsetof(struct cfg_attrs, queue_depth), 1, 128, NULL},
	{"multipath", offsetof(struct cfg_attrs, multipath), 0, 2, mpath_words},
};

#define N_ATTRS ((int)(sizeof(attr_table) / sizeof(attr_table[0])))

static uint32_t *attr_ptr(struct cfg_attrs *a, int i)
{
	return (uint32_t *)((char *)a + attr_table[i].off);
}

static int attr_find(const char *name)
{
	for (int i = 0; i < N_ATTRS; i++)
		if (strcmp(attr_table[i].name, name) == 0)
			return i;
	return -1;
}

const char *cfg_multipath_str(uint32_t policy)
{
	return policy <= CFG_MPATH_ROUND_ROBIN ? mpath_words[policy] : "?";
}

static int word_find(const struct attr_def *d, const char *value)
{
	for (int i = 0; d->words[i]; i++)
		if (strcmp(d->words[i], value) == 0)
			return i;
	return -1;
}

/* "off, failover or round-robin" for an error message. */
static void word_list(const struct attr_def *d, char *out, size_t len)
{
	size_t off = 0;

	out[0] = '\0';
	for (int i = 0; d->words[i] && off < len; i++)
		off += (size_t)snprintf(out + off, len - off, "%s%s", i == 0 ? "" :
					d->words[i + 1] ? ", " : " or ", d->words[i]);
}

static void attrs_defaults(struct cfg_attrs *a)
{
	a->nopout_timeout = 5;
	a->nopout_response_timeout = 10;
	a->login_timeout = 15;
	a->command_timeout = 30;
	a->replacement_timeout = 120;
	a->queue_depth = 32;
	a->multipath = CFG_MPATH_OFF;
}

/* ---- init and free ---- */

/* A failed strdup leaves a NULL that cfg_load_all reports as -ENOMEM. */
void cfg_init(struct cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->paths.initiator = strdup("/etc/sysconfig/initiator");
	c->paths.initiator_auth = strdup("/etc/sysconfig/initiator_auth");
	c->paths.device_maps = strdup("/etc/sysconfig/iscsi_device_maps");
	c->paths.initiatorname = strdup("/etc/initiatorname.iscsi");
	c->settings.mount_root = strdup("/");
	c->settings.control_socket = strdup("/run/iscsifs/control.sock");
	c->settings.log_level = strdup("info");
	attrs_defaults(&c->settings.default_attrs);
}

void cfg_free(struct cfg *c)
{
	free(c->paths.initiator);
	free(c->paths.initiator_auth);
	free(c->paths.device_maps);
	free(c->paths.initiatorname);
	free(c->settings.mount_root);
	free(c->settings.control_socket);
	free(c->settings.log_level);
	for (int i = 0; i < c->nchannels; i++) {
		struct cfg_channel *ch = &c->channels[i];

		free(ch->portals);
		key_set_free(&ch->keys);
		OPENSSL_cleanse(&ch->auth, sizeof(ch->auth));
	}
	free(c->channels);
	free(c->maps);
	memset(c, 0, sizeof(*c));
}

struct cfg_channel *cfg_channel_find(struct cfg *c, int id)
{
	for (int i = 0; i < c->nchannels; i++)
		if (c->channels[i].id == id)
			return &c->channels[i];
	return NULL;
}

/* ---- reading a sysconfig-style file ---- */

/* The whole file is read into one buffer that is wiped on close: initiator_auth holds secrets,
 * and stdio or getline would leave copies of them in memory they free. */
struct reader {
	const char *path;
	char *data;
	size_t len, pos;
	int line;
	int secret; /* initiator_auth: quote nothing from the file in errors but setting names */
	char *err;
	size_t errlen;
};

static int rd_err(struct reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int rd_err(struct reader *r, const char *fmt, ...)
{
	char reason[CFG_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	return set_err(r->err, r->errlen, "%s:%d: %s", r->path, r->line, reason);
}

static void reader_close(struct reader *r)
{
	if (r->data) {
		OPENSSL_cleanse(r->data, r->len + 1);
		free(r->data);
	}
	r->data = NULL;
}

/* Grow without realloc, so that no unwiped copy is left behind. */
static int reader_grow(struct reader *r, size_t *cap)
{
	size_t ncap = *cap ? *cap * 2 : 4096;
	char *nd = malloc(ncap + 1);

	if (!nd)
		return -ENOMEM;
	if (r->data) {
		memcpy(nd, r->data, r->len);
		OPENSSL_cleanse(r->data, *cap + 1);
		free(r->data);
	}
	r->data = nd;
	*cap = ncap;
	return 0;
}

/* Open and read path. private_file: refuse it when group or others may read or write it.
 * Returns 0, or -errno with "path: reason" in err. */
static int reader_open(struct reader *r, const char *path, int private_file, char *err,
		       size_t errlen)
{
	struct stat st;
	size_t cap = 0;
	int fd, rc = 0;

	memset(r, 0, sizeof(*r));
	r->path = path;
	r->err = err;
	r->errlen = errlen;
	r->secret = private_file;
	if (!path) {
		set_err(err, errlen, "no file name given (out of memory?)");
		return -ENOMEM;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		set_err(err, errlen, "%s: cannot open: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		set_err(err, errlen, "%s: cannot stat: %s", path, strerror(-rc));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = -EISDIR;
		set_err(err, errlen, "%s: is a directory", path);
		goto out;
	}
	if (private_file && (st.st_mode & 077)) {
		rc = -EINVAL;
		set_err(err, errlen, "%s: is %s by others (mode %04o); run: chmod 600 %s", path,
			(st.st_mode & 044) ? "readable" : "writable",
			(unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	for (;;) {
		ssize_t n;

		if (r->len == cap) {
			if (cap >= FILE_SIZE_MAX) {
				rc = -EFBIG;
				set_err(err, errlen, "%s: file is larger than %d bytes", path,
					FILE_SIZE_MAX);
				goto out;
			}
			rc = reader_grow(r, &cap);
			if (rc < 0) {
				set_err(err, errlen, "%s: out of memory", path);
				goto out;
			}
		}
		n = read(fd, r->data + r->len, cap - r->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			set_err(err, errlen, "%s: read error: %s", path, strerror(-rc));
			goto out;
		}
		if (n == 0)
			break;
		r->len += (size_t)n;
	}
	r->data[r->len] = '\0';
out:
	close(fd);
	if (rc < 0)
		reader_close(r);
	return rc;
}

/* Next line, without its newline, writable in place. 1 = a line, 0 = end, <0 = error. */
static int reader_next(struct reader *r, char **line)
{
	char *start, *nl;
	size_t n;

	if (r->pos >= r->len)
		return 0;
	start = r->data + r->pos;
	nl = memchr(start, '\n', r->len - r->pos);
	n = nl ? (size_t)(nl - start) : r->len - r->pos;
	r->pos += n + 1;
	r->line++;
	start[n] = '\0';
	if (strlen(start) != n)
		return rd_err(r, "line contains a NUL byte");
	if (n && start[n - 1] == '\r') /* edited on another system */
		start[n - 1] = '\0';
	*line = start;
	return 1;
}

/* ---- lexing NAME="value" lines ---- */

static int is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

static int is_name_start(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_';
}

static int is_name_char(char ch)
{
	return is_name_start(ch) || (ch >= '0' && ch <= '9');
}

static int has_control_char(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

struct assign {
	const char *name;
	char *value;
};

static int unknown_setting(struct reader *r, const char *name)
{
	/* In a file of secrets, quote only what looks like a shell variable name. */
	if (r->secret) {
		for (const char *p = name; *p; p++)
			if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
				return rd_err(r, "unknown setting (this file holds AUTH=\"...\" "
					      "lines)");
	}
	return rd_err(r, "unknown setting '%s'", name);
}

/* Split a shell-style NAME="value" # comment line. The files are also read by shell scripts, so
 * what the shell would read differently (expansions in double quotes, spaces around '=') is an
 * error here rather than a silent difference. Returns 1 for an assignment, 0 for a blank or
 * comment line, <0 on error. */
static int lex_assign(struct reader *r, char *line, const char *const *known, int need_quotes,
		      struct assign *a)
{
	char *p = line, *name, *end;
	int found = 0;

	while (is_blank(*p))
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	name = p;
	if (!is_name_start(*p))
		return rd_err(r, "expected NAME=\"value\"");
	while (is_name_char(*p))
		p++;
	end = p;
	while (is_blank(*p))
		p++;
	if (*p != '=')
		return rd_err(r, "expected NAME=\"value\"");
	*end = '\0';
	for (int i = 0; known[i]; i++)
		if (strcmp(known[i], name) == 0)
			found = 1;
	if (!found)
		return unknown_setting(r, name);
	if (p != end || is_blank(p[1]))
		return rd_err(r, "no spaces are allowed around '=' (write %s=\"...\")", name);
	p++;

	if (*p == '"' || *p == '\'') {
		char quote = *p++;

		a->value = p;
		for (; *p && *p != quote; p++)
			if (quote == '"' && (*p == '\\' || *p == '$' || *p == '`'))
				return rd_err(r, "'%c' inside double quotes is not supported (use "
					      "single quotes for a literal '%c')", *p, *p);
		if (!*p)
			return rd_err(r, "unterminated %s quote",
				      quote == '"' ? "double" : "single");
		*p++ = '\0';
	} else {
		if (need_quotes)
			return rd_err(r, "the value of %s must be in double quotes: %s=\"...\"",
				      name, name);
		a->value = p;
		for (; *p && !is_blank(*p); p++)
			if (strchr("\"'\\$`;&|<>()", *p))
				return rd_err(r, "'%c' in an unquoted value; put the value "
					      "in double quotes", *p);
		if (*p)
			*p++ = '\0';
	}
	while (is_blank(*p))
		p++;
	if (*p && *p != '#')
		return rd_err(r, "unexpected text after the value (a comment starts with '#')");
	a->name = name;
	return 1;
}

/* Split s in place at blanks. Returns the number of words, or -E2BIG past max. */
static int split_words(char *s, char **word, int max)
{
	int n = 0;

	for (;;) {
		while (is_blank(*s))
			s++;
		if (!*s)
			return n;
		if (n == max)
			return -E2BIG;
		word[n++] = s;
		while (*s && !is_blank(*s))
			s++;
		if (*s)
			*s++ = '\0';
	}
}

/* Strict unsigned decimal. -EINVAL when not a number, -ERANGE when above max. */
static int parse_num(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (!*s)
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		if (v <= max) /* max is far below ULONG_MAX / 10: no overflow */
			v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

static int field_num(struct reader *r, const char *what, const char *s, unsigned long min,
		     unsigned long max, unsigned long *out)
{
	int rc = parse_num(s, max, out);

	if (rc == -EINVAL)
		return rd_err(r, "%s '%s' is not a number", what, s);
	if (rc < 0 || *out < min)
		return rd_err(r, "%s %s is out of range (%lu to %lu)", what, s, min, max);
	return 0;
}

static int all_digits(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* ---- initiatorname.iscsi ---- */

int cfg_parse_initiatorname(struct cfg *c, const char *path, char *err, size_t errlen)
{
	static const char *const known[] = {"InitiatorName", "InitiatorAlias", NULL};
	int name_line = 0, alias_line = 0, rc;
	char why[CFG_ERR_MAX];
	struct reader r;
	struct assign a;
	char *line;

	rc = reader_open(&r, path, 0, err, errlen);
	if (rc < 0)
		return rc;
	while ((rc = reader_next(&r, &line)) > 0) {
		rc = lex_assign(&r, line, known, 0, &a);
		if (rc < 0)
			break;
		if (rc == 0)
			continue;
		rc = 0;
		if (strcmp(a.name, "InitiatorName") == 0) {
			if (name_line) {
				rc = rd_err(&r, "InitiatorName is given twice (first on line %d)",
					    name_line);
				break;
			}
			if (iscsi_name_check(a.value, why, sizeof(why)) < 0) {
				rc = rd_err(&r, "%s", why);
				break;
			}
			snprintf(c->initiator_name, sizeof(c->initiator_name), "%s", a.value);
			name_line = r.line;
		} else {
			if (alias_line) {
				rc = rd_err(&r, "InitiatorAlias is given twice (first on line %d)",
					    alias_line);
				break;
			}
			if (strlen(a.value) >= sizeof(c->initiator_alias)) {
				rc = rd_err(&r, "InitiatorAlias is longer than %zu bytes",
					    sizeof(c->initiator_alias) - 1);
				break;
			}
			if (has_control_char(a.value)) {
				rc = rd_err(&r, "InitiatorAlias contains a control character");
				break;
			}
			snprintf(c->initiator_alias, sizeof(c->initiator_alias), "%s", a.value);
			alias_line = r.line;
		}
	}
	if (rc == 0 && !name_line)
		rc = set_err(err, errlen, "%s: no InitiatorName= line", path);
	reader_close(&r);
	return rc;
}

/* ---- initiator: CHANNEL lines ---- */

/* What one CHANNEL line says, before it is merged into its channel. */
struct chan_line {
	unsigned long id, conn_count;
	struct cfg_portal portal;
	struct key_set keys;
	struct cfg_attrs attrs;
	unsigned attrs_set; /* bit i: attr_table[i] was written on this line */
	const char *target; /* NULL when absent */
};

/* Attributes set per channel while one file is parsed, to tell a repeat from a conflict. */
struct attr_marks {
	unsigned *set;
	int first; /* index of the first channel created by this parse */
	int n;
};

static int is_name_word(const char *s)
{
	return (strncasecmp(s, "iqn.", 4) == 0 || strncasecmp(s, "eui.", 4) == 0 ||
		strncasecmp(s, "naa.", 4) == 0) && !strchr(s, '=');
}

static int check_netdev(struct reader *r, const char *s)
{
	if (strlen(s) >= CFG_IFNAME_MAX)
		return rd_err(r, "network device name '%s' is longer than %d characters", s,
			      CFG_IFNAME_MAX - 1);
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return rd_err(r, "'%s' is not a network device name", s);
	for (const char *p = s; *p; p++) {
		if (*p == '/' || *p == ':')
			return rd_err(r, "network device name '%s' must not contain '%c'", s, *p);
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return rd_err(r, "network device name contains a control character");
	}
	return 0;
}

/* A word that is an IPv4 or IPv6 address (not a host name). */
static int is_address(const char *s)
{
	enum portal_kind kind;

	return portal_host_parse(s, NULL, 0, &kind, NULL, 0) == 0 && kind != PORTAL_NAME;
}

/* The 4th word of CHANNEL (after the device, if any, is known) or the first of ISNS: an
 * address or a host name, kept in written form. */
static int parse_host(struct reader *r, const char *w, const char *netdev, char *host,
		      size_t hostlen)
{
	char why[CFG_ERR_MAX], zone[CFG_IFNAME_MAX + 2];

	if (portal_host_parse(w, host, hostlen, NULL, why, sizeof(why)) < 0)
		return rd_err(r, "%s", why);
	if (!portal_host_zone(host, zone, sizeof(zone)))
		return 0;
	/* A link-local address means nothing without the link it is on. */
	if (!zone[0] && !(netdev && netdev[0]))
		return rd_err(r, "link-local address '%s' needs its zone ('%s%%eth0')%s", w, w,
			      netdev ? " or a network device (3rd argument)" : "");
	if (zone[0] && netdev && netdev[0] && strcmp(zone, netdev) != 0)
		return rd_err(r, "the zone of '%s' is not the network device %s of the 3rd "
			      "argument", w, netdev);
	return 0;
}

static int unknown_key(struct reader *r, const char *name)
{
	for (int i = 0; i < K_COUNT; i++)
		if (strcasecmp(key_table[i].name, name) == 0)
			return rd_err(r, "unknown iSCSI key '%s' (did you mean '%s'?)", name,
				      key_table[i].name);
	if (attr_find(name) >= 0)
		return rd_err(r, "unknown iSCSI key '%s' (%s is a channel attribute: it goes "
			      "after the iSCSI keys, as the 8th argument)", name, name);
	return rd_err(r, "unknown iSCSI key '%s'", name);
}

/* The 7th argument: Key=Value items separated by ';' (values may hold commas). */
static int parse_keys(struct reader *r, char *list, struct key_set *ks)
{
	char why[CFG_ERR_MAX];
	char *save = NULL;

	for (char *item = strtok_r(list, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
		char *value = strchr(item, '=');
		int id;

		if (value)
			*value++ = '\0';
		if (!*item)
			return rd_err(r, "an iSCSI key has no name ('=' at the start of an item)");
		id = key_lookup(item);
		if (id < 0)
			return unknown_key(r, item);
		if (!(key_table[id].flags & KEYF_ADMIN))
			return rd_err(r, "iSCSI key '%s' is set by iscsifs, not in the "
				      "CHANNEL line", item);
		if (!value)
			return rd_err(r, "iSCSI key '%s' has no value (write %s=value)", item,
				      item);
		if (key_set_get(ks, id))
			return rd_err(r, "iSCSI key '%s' is given twice", item);
		if (key_check_value(id, value, why, sizeof(why)) < 0)
			return rd_err(r, "%s", why);
		if (key_set_put(ks, id, value) < 0)
			return rd_err(r, "out of memory");
	}
	return 0;
}

/* One word of the 8th argument: name=N items separated by ';' or ','. */
static int parse_attrs(struct reader *r, char *list, struct cfg_attrs *a, unsigned *set)
{
	char *save = NULL;

	for (char *item = strtok_r(list, ";,", &save); item; item = strtok_r(NULL, ";,", &save)) {
		char *value = strchr(item, '=');
		unsigned long v;
		int i, rc;

		if (value)
			*value++ = '\0';
		i = attr_find(item);
		if (i < 0) {
			if (key_lookup(item) >= 0)
				return rd_err(r, "unknown channel attribute '%s' (%s is an "
					      "iSCSI key: it goes in the 7th argument)", item,
					      item);
			return rd_err(r, "unknown channel attribute '%s'", item);
		}
		if (!value || !*value)
			return rd_err(r, "channel attribute '%s' has no value (write %s=%s)", item,
				      item, attr_table[i].words ? attr_table[i].words[1] : "N");
		if (*set & (1u << i))
			return rd_err(r, "channel attribute '%s' is given twice", item);
		if (attr_table[i].words) {
			char words[128];
			int w = word_find(&attr_table[i], value);

			word_list(&attr_table[i], words, sizeof(words));
			if (w < 0)
				return rd_err(r, "channel attribute %s=%s: '%s' is not %s", item,
					      value, value, words);
			*attr_ptr(a, i) = (uint32_t)w;
			*set |= 1u << i;
			continue;
		}
		rc = parse_num(value, attr_table[i].max, &v);
		if (rc == -EINVAL)
			return rd_err(r, "channel attribute %s=%s: '%s' is not a number", item,
				      value, value);
		if (rc < 0 || v < attr_table[i].min)
			return rd_err(r, "%s=%s is out of range (%u to %u)", item, value,
				      attr_table[i].min, attr_table[i].max);
		*attr_ptr(a, i) = (uint32_t)v;
		*set |= 1u << i;
	}
	return 0;
}

static int ends_with_sep(const char *s)
{
	size_t n = strlen(s);

	return n && (s[n - 1] == ',' || s[n - 1] == ';');
}

/* Parse the words of one CHANNEL value into cl (cl->keys must be initialised). */
static int parse_channel_words(struct reader *r, char *value, const struct cfg_attrs *dflt,
			       struct chan_line *cl)
{
	char why[CFG_ERR_MAX];
	char *w[MAX_WORDS];
	unsigned long v;
	int n, i, rc;

	n = split_words(value, w, MAX_WORDS);
	if (n < 0)
		return rd_err(r, "too many arguments (CHANNEL takes at most 9)");
	if (n == 0)
		return rd_err(r, "CHANNEL is empty");
	rc = field_num(r, "channel id", w[0], 0, CHANNEL_ID_MAX, &cl->id);
	if (rc < 0)
		return rc;
	if (n < 2)
		return rd_err(r, "missing the connection count (2nd argument)");
	rc = field_num(r, "connection count", w[1], 1, CONN_COUNT_MAX, &cl->conn_count);
	if (rc < 0)
		return rc;

	/* The device name is optional. The rule (initiator(5)): the 3rd word is the network device
	 * exactly when the 4th word is not a number; otherwise the 4th is the port and the 3rd
	 * the address. Lines that read one way but look meant the other way are refused. */
	i = 2;
	if (n > 3 && !all_digits(w[3])) {
		if (is_address(w[2]) || strcmp(w[2], "isns") == 0)
			return rd_err(r, "ambiguous line: '%s' is an address, so the 4th word '%s' "
				      "should be the TCP port (a network device comes before the "
				      "address: id, connections, [device], address, port)", w[2],
				      w[3]);
		i = 3;
	} else if (n == 3 && !is_address(w[2]) && strcmp(w[2], "isns") != 0) {
		i = 3; /* "0 1 eth0": the device, and nothing after it */
	} else if (n > 3 && !is_address(w[2]) && strcmp(w[2], "isns") != 0 &&
		   if_nametoindex(w[2]) != 0) {
		return rd_err(r, "ambiguous line: '%s' is read as the target's host name, since the "
			      "4th word is a port, but it is a network device here: is the address "
			      "missing after it? (a host of that name is written with a final '.', "
			      "'%s.')", w[2], w[2]);
	}
	if (i == 3) {
		rc = check_netdev(r, w[2]);
		if (rc < 0)
			return rc;
		snprintf(cl->portal.netdev, sizeof(cl->portal.netdev), "%s", w[2]);
	}
	if (n <= i)
		return rd_err(r, "missing the target's address (4th argument)");
	if (strcmp(w[i], "isns") == 0) {
		cl->portal.from_isns = 1;
	} else {
		rc = parse_host(r, w[i], cl->portal.netdev, cl->portal.addr,
				sizeof(cl->portal.addr));
		if (rc < 0)
			return rc;
	}
	if (n <= i + 1)
		return rd_err(r, "missing the TCP port (5th argument)");
	if (cl->portal.from_isns) {
		if (strcmp(w[i + 1], "0") != 0)
			return rd_err(r, "with the address 'isns' the port comes from iSNS too: "
				      "write 0 as the TCP port (5th argument), not '%s'", w[i + 1]);
	} else {
		rc = field_num(r, "TCP port", w[i + 1], 1, 65535, &v);
		if (rc < 0)
			return rc;
		cl->portal.port = (uint16_t)v;
	}
	if (n <= i + 2)
		return rd_err(r, "missing the network interconnect (6th argument, 0 for TCP/IP)");
	if (!all_digits(w[i + 2]))
		return rd_err(r, "network interconnect '%s' is not a number (0 for TCP/IP)",
			      w[i + 2]);
	if (parse_num(w[i + 2], 0, &v) < 0)
		return rd_err(r, "unsupported network interconnect %s (only 0, TCP/IP)", w[i + 2]);
	cl->portal.interconnect = 0;
	cl->portal.line = r->line;
	i += 3;

	cl->attrs = *dflt;
	if (i < n && !is_name_word(w[i])) {
		rc = parse_keys(r, w[i], &cl->keys);
		if (rc < 0)
			return rc;
		i++;
	}
	/* The howto writes "a=1, b=2": a word ending in ',' or ';' continues the list. */
	while (i < n && !is_name_word(w[i])) {
		int more = ends_with_sep(w[i]) || (i + 1 < n && strchr(",;", w[i + 1][0]));

		rc = parse_attrs(r, w[i], &cl->attrs, &cl->attrs_set);
		if (rc < 0)
			return rc;
		i++;
		if (!more)
			break;
	}
	if (i < n && is_name_word(w[i])) {
		if (iscsi_name_check(w[i], why, sizeof(why)) < 0)
			return rd_err(r, "%s", why);
		cl->target = w[i];
		i++;
	}
	if (i < n)
		return rd_err(r, "unexpected argument '%s' (the last argument is the target name: "
			      "iqn., eui. or naa.)", w[i]);
	if (cl->portal.from_isns && !cl->target)
		return rd_err(r, "the address 'isns' needs the target name (9th argument): iSNS "
			      "is asked for that target's portal");
	return 0;
}

/* The merged value of a numeric key: the line's, the channel's, or the RFC default. */
static const char *merged_key(const struct chan_line *cl, const struct cfg_channel *ch, int id,
			      int *given)
{
	const char *v = key_set_get(&cl->keys, id);

	if (!v && ch)
		v = key_set_get(&ch->keys, id);
	*given = v != NULL;
	return v ? v : key_table[id].dflt;
}

/* Rules between keys, checked on what the channel will hold after this line. */
static int check_key_rules(struct reader *r, const struct chan_line *cl,
			   const struct cfg_channel *ch)
{
	uint64_t fbl = 0, mbl = 0, maxc = 0;
	const char *fs, *ms, *cs;
	int fgiven, mgiven, cgiven;

	fs = merged_key(cl, ch, K_FIRST_BURST_LENGTH, &fgiven);
	ms = merged_key(cl, ch, K_MAX_BURST_LENGTH, &mgiven);
	/* RFC 7143 13.14: FirstBurstLength must not exceed MaxBurstLength. */
	if ((fgiven || mgiven) && key_parse_num(fs, &fbl) == 0 && key_parse_num(ms, &mbl) == 0 &&
	    fbl > mbl)
		return rd_err(r, "FirstBurstLength=%s%s is larger than MaxBurstLength=%s%s", fs,
			      fgiven ? "" : " (the default)", ms, mgiven ? "" : " (the default)");
	cs = merged_key(cl, ch, K_MAX_CONNECTIONS, &cgiven);
	if (cgiven && key_parse_num(cs, &maxc) == 0 && cl->conn_count > maxc)
		return rd_err(r, "connection count %lu is more than MaxConnections=%s",
			      cl->conn_count, cs);
	return 0;
}

static int marks_set(struct attr_marks *m, int idx, unsigned set)
{
	unsigned *ns;

	if (idx < m->first)
		return 0;
	if (idx - m->first >= m->n) {
		ns = realloc(m->set, sizeof(*ns) * (size_t)(idx - m->first + 1));
		if (!ns)
			return -ENOMEM;
		m->set = ns;
		m->n = idx - m->first + 1;
		m->set[idx - m->first] = 0;
	}
	m->set[idx - m->first] |= set;
	return 0;
}

static unsigned marks_get(const struct attr_marks *m, int idx)
{
	if (idx < m->first) /* from an earlier file: treat everything as written */
		return ~0u;
	return idx - m->first < m->n ? m->set[idx - m->first] : 0;
}

static int add_channel(struct cfg *c, struct reader *r, struct chan_line *cl,
		       struct attr_marks *m)
{
	struct cfg_channel *chs, *ch;
	int rc;

	rc = check_key_rules(r, cl, NULL);
	if (rc < 0)
		return rc;
	chs = realloc(c->channels, sizeof(*chs) * (size_t)(c->nchannels + 1));
	if (!chs)
		return rd_err(r, "out of memory");
	c->channels = chs;
	ch = &chs[c->nchannels];
	memset(ch, 0, sizeof(*ch));
	ch->portals = malloc(sizeof(*ch->portals));
	if (!ch->portals)
		return rd_err(r, "out of memory");
	ch->portals[0] = cl->portal;
	ch->nportals = 1;
	ch->id = (int)cl->id;
	ch->conn_count = (int)cl->conn_count;
	ch->keys = cl->keys; /* the channel takes the values over */
	key_set_init(&cl->keys);
	ch->attrs = cl->attrs;
	if (cl->target)
		snprintf(ch->target_name, sizeof(ch->target_name), "%s", cl->target);
	ch->line = r->line;
	c->nchannels++;
	if (marks_set(m, c->nchannels - 1, cl->attrs_set) < 0)
		return rd_err(r, "out of memory");
	return 0;
}

/* A later line of a channel: one more portal, and keys/attributes that must agree. */
static int merge_channel(struct cfg *c, struct reader *r, struct cfg_channel *ch,
			 struct chan_line *cl, struct attr_marks *m)
{
	int idx = (int)(ch - c->channels);
	unsigned set = marks_get(m, idx);
	struct cfg_portal *ps;
	int rc;

	if ((int)cl->conn_count != ch->conn_count)
		return rd_err(r, "connection count %lu differs from %d on line %d for channel %d",
			      cl->conn_count, ch->conn_count, ch->line, ch->id);
	if (cl->portal.from_isns || ch->portals[0].from_isns)
		return rd_err(r, "channel %d takes its portal from iSNS (line %d): it has one "
			      "CHANNEL line only", ch->id, ch->line);
	if (cl->target && ch->target_name[0] && !iscsi_name_equal(cl->target, ch->target_name))
		return rd_err(r, "target name %s differs from %s given before for channel %d",
			      cl->target, ch->target_name, ch->id);
	for (int k = 0; k < K_COUNT; k++) {
		const char *nv = key_set_get(&cl->keys, k), *ov = key_set_get(&ch->keys, k);

		if (nv && ov && strcmp(nv, ov) != 0)
			return rd_err(r, "iSCSI key %s=%s conflicts with %s=%s given before for "
				      "channel %d", key_table[k].name, nv, key_table[k].name, ov,
				      ch->id);
	}
	for (int i = 0; i < N_ATTRS; i++) {
		uint32_t nv = *attr_ptr(&cl->attrs, i), ov = *attr_ptr(&ch->attrs, i);

		if (!((cl->attrs_set & (1u << i)) && (set & (1u << i)) && nv != ov))
			continue;
		if (attr_table[i].words)
			return rd_err(r, "channel attribute %s=%s conflicts with %s=%s given "
				      "before for channel %d", attr_table[i].name,
				      attr_table[i].words[nv], attr_table[i].name,
				      attr_table[i].words[ov], ch->id);
		return rd_err(r, "channel attribute %s=%u conflicts with %s=%u given "
			      "before for channel %d", attr_table[i].name, nv,
			      attr_table[i].name, ov, ch->id);
	}
	for (int p = 0; p < ch->nportals; p++) {
		const struct cfg_portal *o = &ch->portals[p];

		/* Host names are not case-sensitive; IPv6 addresses are in one form already. */
		if (strcasecmp(o->addr, cl->portal.addr) == 0 && o->port == cl->portal.port &&
		    strcmp(o->netdev, cl->portal.netdev) == 0)
			return rd_err(r, "portal %s:%u%s%s is already listed for channel %d on "
				      "line %d", o->addr, o->port, o->netdev[0] ? " via " : "",
				      o->netdev, ch->id, o->line);
	}
	rc = check_key_rules(r, cl, ch);
	if (rc < 0)
		return rc;

	ps = realloc(ch->portals, sizeof(*ps) * (size_t)(ch->nportals + 1));
	if (!ps)
		return rd_err(r, "out of memory");
	ch->portals = ps;
	ps[ch->nportals++] = cl->portal;
	for (int k = 0; k < K_COUNT; k++) {
		const char *nv = key_set_get(&cl->keys, k);

		if (nv && !key_set_get(&ch->keys, k) && key_set_put(&ch->keys, k, nv) < 0)
			return rd_err(r, "out of memory");
	}
	for (int i = 0; i < N_ATTRS; i++)
		if (cl->attrs_set & (1u << i))
			*attr_ptr(&ch->attrs, i) = *attr_ptr(&cl->attrs, i);
	if (cl->target && !ch->target_name[0])
		snprintf(ch->target_name, sizeof(ch->target_name), "%s", cl->target);
	if (marks_set(m, idx, cl->attrs_set) < 0)
		return rd_err(r, "out of memory");
	return 0;
}

/* ISNS="address [port] [query_interval=N]": the iSNS server (RFC 4171; port 3205 by
 * default). */
static int parse_isns(struct reader *r, char *value, struct cfg_isns *is)
{
	char *w[MAX_WORDS];
	unsigned long v;
	int n, i = 1, rc;

	if (is->line)
		return rd_err(r, "ISNS is given twice (first on line %d)", is->line);
	n = split_words(value, w, MAX_WORDS);
	if (n < 0 || n > 3)
		return rd_err(r, "too many arguments (ISNS=\"address [port] "
			      "[query_interval=N]\")");
	if (n == 0)
		return rd_err(r, "ISNS is empty (write ISNS=\"address [port]\")");
	rc = parse_host(r, w[0], NULL, is->addr, sizeof(is->addr));
	if (rc < 0)
		return rc;
	is->port = 3205;
	is->query_interval = 15;
	if (i < n && all_digits(w[i])) {
		rc = field_num(r, "iSNS port", w[i], 1, 65535, &v);
		if (rc < 0)
			return rc;
		is->port = (uint16_t)v;
		i++;
	}
	if (i < n) {
		if (strncmp(w[i], "query_interval=", 15) != 0)
			return rd_err(r, "unexpected ISNS argument '%s' (ISNS=\"address [port] "
				      "[query_interval=N]\")", w[i]);
		rc = field_num(r, "query_interval", w[i] + 15, 1, 3600, &v);
		if (rc < 0)
			return rc;
		is->query_interval = (uint32_t)v;
		i++;
	}
	if (i < n)
		return rd_err(r, "unexpected ISNS argument '%s'", w[i]);
	is->line = r->line;
	return 0;
}

int cfg_parse_initiator(struct cfg *c, const char *path, char *err, size_t errlen)
{
	static const char *const known[] = {"CHANNEL", "ISNS", NULL};
	struct attr_marks marks = {.first = c->nchannels};
	struct reader r;
	struct assign a;
	char *line;
	int rc;

	rc = reader_open(&r, path, 0, err, errlen);
	if (rc < 0)
		return rc;
	/* Later messages (auth, maps) name the file the channels came from. */
	if (!c->paths.initiator || strcmp(c->paths.initiator, path) != 0) {
		char *p = strdup(path);

		if (!p) {
			reader_close(&r);
			set_err(err, errlen, "%s: out of memory", path);
			return -ENOMEM;
		}
		free(c->paths.initiator);
		c->paths.initiator = p;
	}
	while ((rc = reader_next(&r, &line)) > 0) {
		struct chan_line cl;
		struct cfg_channel *ch;

		rc = lex_assign(&r, line, known, 1, &a);
		if (rc < 0)
			break;
		if (rc == 0)
			continue;
		if (strcmp(a.name, "ISNS") == 0) {
			rc = parse_isns(&r, a.value, &c->isns);
			if (rc < 0)
				break;
			continue;
		}
		memset(&cl, 0, sizeof(cl));
		key_set_init(&cl.keys);
		rc = parse_channel_words(&r, a.value, &c->settings.default_attrs, &cl);
		if (rc == 0) {
			ch = cfg_channel_find(c, (int)cl.id);
			if (ch)
				rc = merge_channel(c, &r, ch, &cl, &marks);
			else
				rc = add_channel(c, &r, &cl, &marks);
		}
		key_set_free(&cl.keys);
		if (rc < 0)
			break;
	}
	/* ISNS may come after the channels that need it. */
	for (int i = marks.first; rc == 0 && i < c->nchannels; i++)
		if (c->channels[i].portals[0].from_isns && !c->isns.addr[0])
			rc = set_err(err, errlen, "%s:%d: channel %d has the address 'isns' but no "
				     "ISNS=\"address [port]\" line names the iSNS server", path,
				     c->channels[i].portals[0].line, c->channels[i].id);
	free(marks.set);
	reader_close(&r);
	return rc;
}

/* ---- initiator_auth: AUTH lines ---- */

/* A CHAP name or secret: 1..255 bytes, no control characters. Quotes nothing from the word. */
static int check_chap_word(struct reader *r, const char *w, const char *what, int ch)
{
	if (strlen(w) >= CFG_SECRET_MAX)
		return rd_err(r, "%s for channel %d is longer than %d characters", what, ch,
			      CFG_SECRET_MAX - 1);
	if (has_control_char(w))
		return rd_err(r, "%s for channel %d contains a control character", what, ch);
	return 0;
}

int cfg_parse_auth(struct cfg *c, const char *path, char *err, size_t errlen)
{
	static const char *const known[] = {"AUTH", NULL};
	struct reader r;
	struct assign a;
	char *line;
	int rc;

	rc = reader_open(&r, path, 1, err, errlen);
	if (rc < 0)
		return rc;
	while ((rc = reader_next(&r, &line)) > 0) {
		struct cfg_channel *ch;
		unsigned long id;
		char *w[8];
		int n, mutual, need;

		rc = lex_assign(&r, line, known, 1, &a);
		if (rc < 0)
			break;
		if (rc == 0)
			continue;
		n = split_words(a.value, w, 8);
		if (n < 0) {
			rc = rd_err(&r, "AUTH has too many fields (at most 6)");
			break;
		}
		if (n == 0) {
			rc = rd_err(&r, "AUTH is empty");
			break;
		}
		/* Fields are not quoted back: a misplaced secret must not reach a log. */
		if (parse_num(w[0], CHANNEL_ID_MAX, &id) < 0) {
			rc = rd_err(&r, "the channel id (1st field) is not a number from 0 to %d",
				    CHANNEL_ID_MAX);
			break;
		}
		ch = cfg_channel_find(c, (int)id);
		if (!ch) {
			rc = rd_err(&r, "channel %lu is not defined in %s", id, c->paths.initiator);
			break;
		}
		if (ch->auth.present) {
			rc = rd_err(&r, "duplicate AUTH line for channel %lu (first on line %d)",
				    id, ch->auth.line);
			break;
		}
		if (n < 2 || (strcmp(w[1], "0") != 0 && strcmp(w[1], "1") != 0)) {
			rc = rd_err(&r, "the mutual authentication flag (2nd field) must be "
				    "0 or 1");
			break;
		}
		mutual = w[1][0] == '1';
		need = mutual ? 6 : 4;
		if (n != need) {
			rc = rd_err(&r, "AUTH with mutual=%d needs %d fields (channel, %d, user, "
				    "secret%s), found %d", mutual, need, mutual,
				    mutual ? ", target user, target secret" : "", n);
			break;
		}
		if ((rc = check_chap_word(&r, w[2], "user name", ch->id)) < 0 ||
		    (rc = check_chap_word(&r, w[3], "secret", ch->id)) < 0)
			break;
		if (mutual) {
			if ((rc = check_chap_word(&r, w[4], "target user name", ch->id)) < 0 ||
			    (rc = check_chap_word(&r, w[5], "target secret", ch->id)) < 0)
				break;
			/* RFC 7143 12.1.3: a secret for one direction must not serve the other. */
			if (strcmp(w[3], w[5]) == 0) {
				rc = rd_err(&r, "the target secret for channel %d must differ from "
					    "the initiator secret", ch->id);
				break;
			}
		}
		ch->auth.present = 1;
		ch->auth.mutual = mutual;
		ch->auth.line = r.line;
		snprintf(ch->auth.user, sizeof(ch->auth.user), "%s", w[2]);
		snprintf(ch->auth.secret, sizeof(ch->auth.secret), "%s", w[3]);
		if (mutual) {
			snprintf(ch->auth.target_user, sizeof(ch->auth.target_user), "%s", w[4]);
			snprintf(ch->auth.target_secret, sizeof(ch->auth.target_secret), "%s",
				 w[5]);
		}
	}
	reader_close(&r);
	return rc;
}

/* ---- iscsi_device_maps: DEVICE lines ---- */

static int check_mount_name(struct reader *r, const char *s)
{
	if (strlen(s) > MOUNT_NAME_MAX)
		return rd_err(r, "mount name is longer than %d characters", MOUNT_NAME_MAX);
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return rd_err(r, "'%s' is not allowed as a mount name", s);
	if (strchr(s, '/'))
		return rd_err(r, "mount name '%s' must not contain '/'", s);
	if (has_control_char(s))
		return rd_err(r, "mount name contains a control character");
	return 0;
}

static int check_map_dups(struct cfg *c, struct reader *r, const struct cfg_map *nm)
{
	const struct cfg_channel *ch = cfg_channel_find(c, nm->channel);

	for (int i = 0; i < c->nmaps; i++) {
		const struct cfg_map *m = &c->maps[i];
		const struct cfg_channel *mch;

		if (m->channel == nm->channel && m->lun == nm->lun && m->partition == nm->partition)
			return rd_err(r, "channel %d LUN %u partition %d is already mapped on "
				      "line %d", nm->channel, nm->lun, nm->partition, m->line);
		if (strcmp(m->name, nm->name) != 0)
			continue;
		if (m->channel == nm->channel)
			return rd_err(r, "mount name '%s' is already used for channel %d on "
				      "line %d", nm->name, nm->channel, m->line);
		/* Channels to one target share its directory. */
		mch = cfg_channel_find(c, m->channel);
		if (mch && ch && ch->target_name[0] &&
		    iscsi_name_equal(mch->target_name, ch->target_name))
			return rd_err(r, "mount name '%s' is already used on line %d by channel "
				      "%d, which has the same target %s", nm->name, m->line,
				      m->channel, ch->target_name);
	}
	return 0;
}

int cfg_parse_maps(struct cfg *c, const char *path, char *err, size_t errlen)
{
	static const char *const known[] = {"DEVICE", NULL};
	struct reader r;
	struct assign a;
	char *line;
	int rc;

	rc = reader_open(&r, path, 0, err, errlen);
	if (rc < 0)
		return rc;
	while ((rc = reader_next(&r, &line)) > 0) {
		struct cfg_map m, *nm;
		unsigned long v;
		char *w[8];
		int n;

		rc = lex_assign(&r, line, known, 1, &a);
		if (rc < 0)
			break;
		if (rc == 0)
			continue;
		n = split_words(a.value, w, 8);
		if (n < 0) {
			rc = rd_err(&r, "DEVICE has too many arguments (it takes 4: channel "
				    "id, LUN, partition, name)");
			break;
		}
		if (n != 4) {
			rc = rd_err(&r, "DEVICE needs 4 arguments (channel id, LUN, partition, "
				    "name), found %d", n);
			break;
		}
		memset(&m, 0, sizeof(m));
		m.line = r.line;
		if ((rc = field_num(&r, "channel id", w[0], 0, CHANNEL_ID_MAX, &v)) < 0)
			break;
		m.channel = (int)v;
		if (!cfg_channel_find(c, m.channel)) {
			rc = rd_err(&r, "channel %d is not defined in %s", m.channel,
				    c->paths.initiator);
			break;
		}
		if ((rc = field_num(&r, "LUN", w[1], 0, LUN_MAX, &v)) < 0)
			break;
		m.lun = (uint32_t)v;
		if ((rc = field_num(&r, "partition", w[2], 0, PARTITION_MAX, &v)) < 0)
			break;
		m.partition = (int)v;
		if ((rc = check_mount_name(&r, w[3])) < 0)
			break;
		snprintf(m.name, sizeof(m.name), "%s", w[3]);
		if ((rc = check_map_dups(c, &r, &m)) < 0)
			break;
		nm = realloc(c->maps, sizeof(*nm) * (size_t)(c->nmaps + 1));
		if (!nm) {
			rc = rd_err(&r, "out of memory");
			break;
		}
		c->maps = nm;
		c->maps[c->nmaps++] = m;
	}
	reader_close(&r);
	return rc;
}

/* ---- all four files ---- */

static int list_has(const char *list, const char *item)
{
	size_t n = strlen(item);

	for (const char *p = list; p && *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (len == n && strncmp(p, item, n) == 0)
			return 1;
		p = comma ? comma + 1 : NULL;
	}
	return 0;
}

/* A channel that offers only CHAP cannot log in without a secret. */
static int check_chap_needs_auth(struct cfg *c, char *err, size_t errlen)
{
	for (int i = 0; i < c->nchannels; i++) {
		const struct cfg_channel *ch = &c->channels[i];
		const char *am = key_set_get(&ch->keys, K_AUTH_METHOD);

		if (am && list_has(am, "CHAP") && !list_has(am, "None") && !ch->auth.present)
			return set_err(err, errlen,
				       "%s:%d: channel %d has AuthMethod=%s but %s has no AUTH "
				       "line for it", c->paths.initiator, ch->line, ch->id, am,
				       c->paths.initiator_auth);
	}
	return 0;
}

int cfg_load_all(struct cfg *c, char *err, size_t errlen)
{
	int rc;

	if (!c->paths.initiatorname || !c->paths.initiator || !c->paths.initiator_auth ||
	    !c->paths.device_maps) {
		set_err(err, errlen, "configuration file names missing (out of memory)");
		return -ENOMEM;
	}
	rc = cfg_parse_initiatorname(c, c->paths.initiatorname, err, errlen);
	if (rc < 0)
		return rc;
	rc = cfg_parse_initiator(c, c->paths.initiator, err, errlen);
	if (rc < 0)
		return rc;
	rc = cfg_parse_auth(c, c->paths.initiator_auth, err, errlen);
	if (rc == -ENOENT)
		rc = 0;
	if (rc < 0)
		return rc;
	rc = cfg_parse_maps(c, c->paths.device_maps, err, errlen);
	if (rc == -ENOENT)
		rc = 0;
	if (rc < 0)
		return rc;
	if (err && errlen)
		err[0] = '\0';
	return check_chap_needs_auth(c, err, errlen);
}

/* ---- iscsifs.conf (libconfig) ---- */

enum str_kind { STR_PATH, STR_SOCKET, STR_LOG_LEVEL };

struct str_setting {
	const char *group, *name;
	size_t off; /* of the char * in struct cfg */
	enum str_kind kind;
};

static const struct str_setting str_settings[] = {
	{"paths", "initiator", offsetof(struct cfg, paths.initiator), STR_PATH},
	{"paths", "initiator_auth", offsetof(struct cfg, paths.initiator_auth), STR_PATH},
	{"paths", "device_maps", offsetof(struct cfg, paths.device_maps), STR_PATH},
	{"paths", "initiatorname", offsetof(struct cfg, paths.initiatorname), STR_PATH},
	{"daemon", "mount_root", offsetof(struct cfg, settings.mount_root), STR_PATH},
	{"daemon", "control_socket", offsetof(struct cfg, settings.control_socket), STR_SOCKET},
	{"daemon", "log_level", offsetof(struct cfg, settings.log_level), STR_LOG_LEVEL},
};

#define N_STR_SETTINGS ((int)(sizeof(str_settings) / sizeof(str_settings[0])))
#define ATTR_GROUP "channel_defaults"

static char **str_ptr(struct cfg *c, int i)
{
	return (char **)((char *)c + str_settings[i].off);
}

static int lc_err(const char *file, const config_setting_t *s, char *err, size_t errlen,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int lc_err(const char *file, const config_setting_t *s, char *err, size_t errlen,
		  const char *fmt, ...)
{
	const char *sfile = config_setting_source_file(s);
	char reason[CFG_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	return set_err(err, errlen, "%s:%u: %s", sfile ? sfile : file,
		       (unsigned)config_setting_source_line(s), reason);
}

static int is_known_group(const char *name)
{
	if (strcmp(name, ATTR_GROUP) == 0)
		return 1;
	for (int i = 0; i < N_STR_SETTINGS; i++)
		if (strcmp(str_settings[i].group, name) == 0)
			return 1;
	return 0;
}

static int check_str_setting(const char *file, const config_setting_t *s, int i,
			     const char *v, char *err, size_t errlen)
{
	const struct str_setting *d = &str_settings[i];
	struct sockaddr_un sun;
	enum log_level lvl;

	switch (d->kind) {
	case STR_LOG_LEVEL:
		if (log_level_parse(v, &lvl) < 0)
			return lc_err(file, s, err, errlen, "%s.%s: unknown log level '%s' (error, "
				      "warning, info or debug)", d->group, d->name, v);
		return 0;
	case STR_SOCKET:
		if (strlen(v) >= sizeof(sun.sun_path))
			return lc_err(file, s, err, errlen, "%s.%s is longer than %zu bytes, too "
				      "long for a socket", d->group, d->name,
				      sizeof(sun.sun_path) - 1);
		/* fall through */
	case STR_PATH:
		if (v[0] != '/')
			return lc_err(file, s, err, errlen, "%s.%s must be an absolute path, not "
				      "'%s'", d->group, d->name, v);
		if (strlen(v) >= PATH_MAX)
			return lc_err(file, s, err, errlen, "%s.%s is too long", d->group, d->name);
		return 0;
	}
	return 0;
}

/* Check one group's settings into the new values; nothing in c changes yet. */
static int read_group(const char *file, config_setting_t *g, const char **nstr,
		      struct cfg_attrs *nattrs, char *err, size_t errlen)
{
	const char *gname = config_setting_name(g);
	int len = config_setting_length(g);

	for (int j = 0; j < len; j++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)j);
		const char *name = config_setting_name(s);
		int type = config_setting_type(s);
		int found = 0, rc;

		if (strcmp(gname, ATTR_GROUP) == 0) {
			int i = name ? attr_find(name) : -1;
			long long v;

			if (i < 0)
				return lc_err(file, s, err, errlen, "unknown setting '%s.%s'",
					      gname, name ? name : "?");
			if (attr_table[i].words) {
				const char *w = type == CONFIG_TYPE_STRING ?
						config_setting_get_string(s) : NULL;
				char list[128];
				int k = w ? word_find(&attr_table[i], w) : -1;

				word_list(&attr_table[i], list, sizeof(list));
				if (k < 0)
					return lc_err(file, s, err, errlen, "%s.%s must be %s, in "
						      "double quotes", gname, name, list);
				*attr_ptr(nattrs, i) = (uint32_t)k;
				continue;
			}
			if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
				return lc_err(file, s, err, errlen, "%s.%s must be a whole number",
					      gname, name);
			v = config_setting_get_int64(s);
			if (v < attr_table[i].min || v > attr_table[i].max)
				return lc_err(file, s, err, errlen, "%s.%s = %lld is out of range "
					      "(%u to %u)", gname, name, v, attr_table[i].min,
					      attr_table[i].max);
			*attr_ptr(nattrs, i) = (uint32_t)v;
			continue;
		}
		for (int i = 0; name && i < N_STR_SETTINGS; i++) {
			const char *v;

			if (strcmp(str_settings[i].group, gname) != 0 ||
			    strcmp(str_settings[i].name, name) != 0)
				continue;
			if (type != CONFIG_TYPE_STRING)
				return lc_err(file, s, err, errlen, "%s.%s must be a string in "
					      "double quotes", gname, name);
			v = config_setting_get_string(s);
			rc = check_str_setting(file, s, i, v, err, errlen);
			if (rc < 0)
				return rc;
			nstr[i] = v;
			found = 1;
		}
		if (!found)
			return lc_err(file, s, err, errlen, "unknown setting '%s.%s'", gname,
				      name ? name : "?");
	}
	return 0;
}

int cfg_load_settings(struct cfg *c, const char *path, char *err, size_t errlen)
{
	const char *file = path ? path : SETTINGS_FILE;
	const char *nstr[N_STR_SETTINGS] = {NULL};
	char *dup[N_STR_SETTINGS] = {NULL};
	struct cfg_attrs nattrs = c->settings.default_attrs;
	config_setting_t *root;
	config_t lc;
	FILE *fp;
	int rc = 0, len;

	fp = fopen(file, "re");
	if (!fp) {
		rc = -errno;
		if (!path && rc == -ENOENT)
			return 0;
		set_err(err, errlen, "%s: cannot open: %s", file, strerror(-rc));
		return rc;
	}
	config_init(&lc);
	if (config_read(&lc, fp) != CONFIG_TRUE) {
		const char *efile = config_error_file(&lc);

		if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
			rc = set_err(err, errlen, "%s: %s", efile ? efile : file,
				     config_error_text(&lc));
		else
			rc = set_err(err, errlen, "%s:%d: %s", efile ? efile : file,
				     config_error_line(&lc), config_error_text(&lc));
		goto out;
	}
	root = config_root_setting(&lc);
	len = config_setting_length(root);
	for (int i = 0; i < len; i++) {
		config_setting_t *g = config_setting_get_elem(root, (unsigned)i);
		const char *gname = config_setting_name(g);

		if (!gname || !is_known_group(gname)) {
			rc = lc_err(file, g, err, errlen, "unknown setting '%s'",
				    gname ? gname : "?");
			goto out;
		}
		if (!config_setting_is_group(g)) {
			rc = lc_err(file, g, err, errlen, "%s must be a group: %s = { ... };",
				    gname, gname);
			goto out;
		}
		rc = read_group(file, g, nstr, &nattrs, err, errlen);
		if (rc < 0)
			goto out;
	}
	/* All checked: now change c, all or nothing. */
	for (int i = 0; i < N_STR_SETTINGS; i++) {
		if (nstr[i] && !(dup[i] = strdup(nstr[i]))) {
			for (int j = 0; j < i; j++)
				free(dup[j]);
			rc = -ENOMEM;
			set_err(err, errlen, "%s: out of memory", file);
			goto out;
		}
	}
	for (int i = 0; i < N_STR_SETTINGS; i++) {
		if (!dup[i])
			continue;
		free(*str_ptr(c, i));
		*str_ptr(c, i) = dup[i];
	}
	c->settings.default_attrs = nattrs;
out:
	config_destroy(&lc);
	fclose(fp);
	return rc;
}
