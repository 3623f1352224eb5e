/* What the readers of the sysconfig files share: a file read whole into a buffer that is wiped
 * on close, NAME="value" lines lexed as the shell reads them, words and numbers, and errors as
 * "file:line: reason". Private to the configuration readers (src/config.c, src/cfg_*.c). */
#ifndef ISCSIFS_CFG_LEX_H
#define ISCSIFS_CFG_LEX_H

#include <stddef.h>
#include <sys/stat.h>

#define CHANNEL_ID_MAX 65535 /* the 1st argument of CHANNEL, AUTH and DEVICE */

/* Format into err (when there is one) and return -EINVAL. */
int cfg_set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

struct reader {
	const char *path;
	char *data;
	size_t len, pos;
	int line;
	int secret; /* initiator_auth: quote nothing from the file in errors but setting names */
	char *err;
	size_t errlen;
};

/* A check of the opened file before it is read: 0, or -errno with "path: reason" in err. */
typedef int (*reader_check_fn)(const char *path, const struct stat *st, char *err,
			       size_t errlen);

/* Open and read path whole; check (NULL for none) sees its status first. Returns 0, or -errno
 * with "path: reason" in err. */
int reader_open(struct reader *r, const char *path, reader_check_fn check, char *err,
		size_t errlen);
/* Wipe and free the file's bytes. */
void reader_close(struct reader *r);
/* "path:line: reason" into the reader's err; returns -EINVAL. */
int rd_err(struct reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct assign {
	const char *name;
	char *value;
};

/* The next shell-style NAME="value" # comment line, NAME one of known (NULL-terminated),
 * past blank and comment lines; need_quotes: the value must be in quotes. 1 with a filled (it
 * points into the file's buffer, writable), 0 at the end of the file, <0 on error. */
int reader_next_assign(struct reader *r, const char *const *known, int need_quotes,
		       struct assign *a);
/* Split s in place at blanks. Returns the number of words, or -E2BIG past max. */
int split_words(char *s, char **word, int max);
/* Strict unsigned decimal. -EINVAL when not a number, -ERANGE when above max. */
int cfg_parse_num(const char *s, unsigned long max, unsigned long *out);
/* cfg_parse_num with an error naming what: "is not a number", "is out of range (min to max)". */
int field_num(struct reader *r, const char *what, const char *s, unsigned long min,
	      unsigned long max, unsigned long *out);
int all_digits(const char *s);
int has_control_char(const char *s);

#endif
