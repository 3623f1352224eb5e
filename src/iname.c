/* iSCSI names (RFC 7143 4.2.7, RFC 3722): checking the iqn., eui. and naa. forms, and making a
 * fresh initiator name from random bytes. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

#include "config.h"

#define INAME_DEFAULT_PREFIX "iqn.2026-11.org.iscsifs"
#define INAME_MAX 223
#define INAME_RANDOM_BYTES 6 /* 12 hex digits */

/* "bad iSCSI name 'NAME': REASON" (or just REASON when name is NULL); returns -EINVAL. */
static int name_err(char *err, size_t errlen, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int name_err(char *err, size_t errlen, const char *name, const char *fmt, ...)
{
	char reason[256];
	va_list ap;

	if (!err || !errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (name)
		snprintf(err, errlen, "bad iSCSI name '%s': %s", name, reason);
	else
		snprintf(err, errlen, "%s", reason);
	return -EINVAL;
}

static int is_lower_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

static int is_hex(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* Characters we accept in a normalised (RFC 3722 stringprep) iqn. name. */
static int is_name_char(char ch)
{
	return is_lower_alnum(ch) || ch == '-' || ch == '.' || ch == ':';
}

/* eui. and naa. names: a fixed number of hex digits. RFC 7143's own examples write the digits in
 * upper case ("eui.02004567A425678D"), so both cases are accepted here. */
static int check_hex_name(const char *name, const char *what, int n1, int n2, char *err,
			  size_t errlen)
{
	const char *hex = name + 4;
	size_t len = strlen(hex);

	for (size_t i = 0; i < len; i++)
		if (!is_hex(hex[i]))
			return name_err(err, errlen, name,
					"%s names have only hex digits after the prefix", what);
	if ((int)len == n1 || (int)len == n2)
		return 0;
	if (n1 == n2)
		return name_err(err, errlen, name, "%s names have %d hex digits, not %zu", what,
				n1, len);
	return name_err(err, errlen, name, "%s names have %d or %d hex digits, not %zu", what,
			n1, n2, len);
}

/* iqn.yyyy-mm.reversed.domain[:unique]; the characters are already checked. */
static int check_iqn(const char *name, char *err, size_t errlen)
{
	const char *p = name + 4;
	const char *colon;
	int month;

	for (int i = 0; i < 7; i++) {
		int ok = i == 4 ? p[i] == '-' : (p[i] >= '0' && p[i] <= '9');

		if (!ok)
			return name_err(err, errlen, name,
					"'iqn.' must be followed by a date yyyy-mm");
	}
	month = (p[5] - '0') * 10 + (p[6] - '0');
	if (month < 1 || month > 12)
		return name_err(err, errlen, name, "month %c%c is not 01 to 12", p[5], p[6]);
	if (p[7] != '.')
		return name_err(err, errlen, name,
				"the date must be followed by '.' and a reversed domain name");
	p += 8;

	/* The naming authority: dot-separated labels of a-z, 0-9 and '-'. */
	colon = strchr(p, ':');
	if (p == colon || *p == '\0')
		return name_err(err, errlen, name,
				"the reversed domain name after the date is missing");
	for (const char *q = p; *q && q != colon; q++) {
		if (*q == '.') {
			if (q == p || q[1] == '.' || q[1] == '\0' || q + 1 == colon)
				return name_err(err, errlen, name,
						"empty label in the domain name");
		} else if (!is_lower_alnum(*q) && *q != '-') {
			return name_err(err, errlen, name, "'%c' is not allowed in the domain name",
					*q);
		}
	}
	if (colon && colon[1] == '\0')
		return name_err(err, errlen, name, "nothing after ':'");
	return 0;
}

int iscsi_name_check(const char *name, char *err, size_t errlen)
{
	size_t len;

	if (!name || !*name)
		return name_err(err, errlen, NULL, "empty iSCSI name");
	len = strlen(name);
	if (len > INAME_MAX)
		return name_err(err, errlen, NULL, "iSCSI name is %zu bytes long, more than %d",
				len, INAME_MAX);

	if (strncmp(name, "eui.", 4) == 0)
		return check_hex_name(name, "eui.", 16, 16, err, errlen);
	if (strncmp(name, "naa.", 4) == 0)
		return check_hex_name(name, "naa.", 16, 32, err, errlen);
	if (strncmp(name, "iqn.", 4) != 0) {
		if (strncasecmp(name, "iqn.", 4) == 0 || strncasecmp(name, "eui.", 4) == 0 ||
		    strncasecmp(name, "naa.", 4) == 0)
			return name_err(err, errlen, name, "the type prefix must be lower case");
		return name_err(err, errlen, name, "it must start with iqn., eui. or naa.");
	}

	/* Names are compared after stringprep lowercases them; we only accept the normal form. */
	for (size_t i = 0; i < len; i++) {
		char ch = name[i];

		if (ch >= 'A' && ch <= 'Z')
			return name_err(err, errlen, name, "iSCSI names are lower case ('%c')", ch);
		if ((unsigned char)ch < 0x20 || ch == 0x7f)
			return name_err(err, errlen, NULL,
					"bad iSCSI name: it contains control character 0x%02x",
					(unsigned char)ch);
		if (!is_name_char(ch))
			return name_err(err, errlen, name,
					"'%c' is not allowed (only a-z, 0-9, '-', '.' and ':')",
					ch);
	}
	return check_iqn(name, err, errlen);
}

int iscsi_name_generate(const char *prefix, char *out, size_t outlen)
{
	unsigned char rnd[INAME_RANDOM_BYTES];
	char hex[2 * INAME_RANDOM_BYTES + 1];
	int n;

	if (!prefix)
		prefix = INAME_DEFAULT_PREFIX;
	if (strncmp(prefix, "iqn.", 4) != 0)
		return -EINVAL; /* only iqn. names have room for a random part */
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -EIO;
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	n = snprintf(out, outlen, "%s:%s", prefix, hex);
	if (n < 0 || (size_t)n >= outlen) {
		if (outlen)
			out[0] = '\0';
		return -ENOSPC;
	}
	if (iscsi_name_check(out, NULL, 0) < 0) {
		out[0] = '\0';
		return -EINVAL;
	}
	return 0;
}
