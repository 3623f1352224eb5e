/* The line reader and lexer of the sysconfig files: a file read whole into a buffer wiped on
 * close, NAME="value" lines checked against what the shell would read, words and numbers. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cfg_lex.h"
#include "config.h"

#define FILE_SIZE_MAX (1024 * 1024)

int cfg_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* ---- reading a sysconfig-style file ---- */

int rd_err(struct reader *r, const char *fmt, ...)
{
	char reason[CFG_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	return cfg_set_err(r->err, r->errlen, "%s:%d: %s", r->path, r->line, reason);
}

void reader_close(struct reader *r)
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

/* The whole file is read into one buffer that is wiped on close: initiator_auth holds secrets,
 * and stdio or getline would leave copies of them in memory they free. */
int reader_open(struct reader *r, const char *path, reader_check_fn check, char *err,
		size_t errlen)
{
	struct stat st;
	size_t cap = 0;
	int fd, rc = 0;

	memset(r, 0, sizeof(*r));
	r->path = path;
	r->err = err;
	r->errlen = errlen;
	if (!path) {
		cfg_set_err(err, errlen, "no file name given (out of memory?)");
		return -ENOMEM;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		cfg_set_err(err, errlen, "%s: cannot open: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		cfg_set_err(err, errlen, "%s: cannot stat: %s", path, strerror(-rc));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = -EISDIR;
		cfg_set_err(err, errlen, "%s: is a directory", path);
		goto out;
	}
	if (check && (rc = check(path, &st, err, errlen)) < 0)
		goto out;
	for (;;) {
		ssize_t n;

		if (r->len == cap) {
			if (cap >= FILE_SIZE_MAX) {
				rc = -EFBIG;
				cfg_set_err(err, errlen, "%s: file is larger than %d bytes", path,
					    FILE_SIZE_MAX);
				goto out;
			}
			rc = reader_grow(r, &cap);
			if (rc < 0) {
				cfg_set_err(err, errlen, "%s: out of memory", path);
				goto out;
			}
		}
		n = read(fd, r->data + r->len, cap - r->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			cfg_set_err(err, errlen, "%s: read error: %s", path, strerror(-rc));
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

int has_control_char(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

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

int reader_next_assign(struct reader *r, const char *const *known, int need_quotes,
		       struct assign *a)
{
	char *line = NULL;
	int rc;

	while ((rc = reader_next(r, &line)) > 0) {
		rc = lex_assign(r, line, known, need_quotes, a);
		if (rc != 0)
			return rc;
	}
	return rc;
}

int split_words(char *s, char **word, int max)
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

int cfg_parse_num(const char *s, unsigned long max, unsigned long *out)
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

int field_num(struct reader *r, const char *what, const char *s, unsigned long min,
	      unsigned long max, unsigned long *out)
{
	int rc = cfg_parse_num(s, max, out);

	if (rc == -EINVAL)
		return rd_err(r, "%s '%s' is not a number", what, s);
	if (rc < 0 || *out < min)
		return rd_err(r, "%s %s is out of range (%lu to %lu)", what, s, min, max);
	return 0;
}

int all_digits(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

