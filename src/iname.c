/* iSCSI names (RFC 7143 4.2.7, RFC 3722): the normal form (libidn's stringprep "iSCSI"
 * profile), checking the iqn., eui. and naa. forms on it, comparing names, and making a fresh
 * initiator name from random bytes. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>
#include <stringprep.h>

#include "iname.h"

#define INAME_DEFAULT_PREFIX "iqn.2026-11.org.iscsifs"
#define INAME_RANDOM_BYTES 6 /* 12 hex digits */
/* Room for what case folding and NFKC make of a name: a few times its length at most. */
#define NORM_BUF 1024

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

/* The code point at s[*i] of a UTF-8 string, advancing *i; -1 when the bytes are not UTF-8
 * (overlong forms, surrogates and values past U+10FFFF included). */
static int32_t utf8_next(const char *s, size_t *i)
{
	const unsigned char *p = (const unsigned char *)s + *i;
	uint32_t cp, min;
	int n;

	if (p[0] < 0x80) {
		(*i)++;
		return p[0];
	}
	if ((p[0] & 0xe0) == 0xc0) {
		cp = p[0] & 0x1f;
		n = 1;
		min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		cp = p[0] & 0x0f;
		n = 2;
		min = 0x800;
	} else if ((p[0] & 0xf8) == 0xf0) {
		cp = p[0] & 0x07;
		n = 3;
		min = 0x10000;
	} else {
		return -1;
	}
	for (int k = 1; k <= n; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (p[k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*i += (size_t)n + 1;
	return (int32_t)cp;
}

static int valid_utf8(const char *s)
{
	for (size_t i = 0; s[i];)
		if (utf8_next(s, &i) < 0)
			return 0;
	return 1;
}

/* stringprep with the iSCSI profile into buf (NORM_BUF bytes); a Stringprep_rc. */
static int prep(const char *name, char *buf)
{
	if (strlen(name) >= NORM_BUF)
		return STRINGPREP_TOO_SMALL_BUFFER;
	snprintf(buf, NORM_BUF, "%s", name);
	return stringprep(buf, NORM_BUF, STRINGPREP_NO_UNASSIGNED, stringprep_iscsi);
}

int iscsi_name_normalize(const char *name, char *out, size_t outlen)
{
	char buf[NORM_BUF];
	int rc;

	if (!name || !valid_utf8(name))
		return -EINVAL;
	rc = prep(name, buf);
	if (rc == STRINGPREP_TOO_SMALL_BUFFER)
		return -ENOSPC;
	if (rc != STRINGPREP_OK)
		return -EINVAL;
	if (strlen(buf) >= outlen)
		return -ENOSPC;
	memcpy(out, buf, strlen(buf) + 1);
	return 0;
}

int iscsi_name_equal(const char *a, const char *b)
{
	char na[NORM_BUF], nb[NORM_BUF];

	if (!a || !b)
		return a == b;
	if (strcmp(a, b) == 0)
		return 1;
	if (iscsi_name_normalize(a, na, sizeof(na)) < 0 ||
	    iscsi_name_normalize(b, nb, sizeof(nb)) < 0)
		return 0;
	return strcmp(na, nb) == 0;
}

/* Why stringprep refused name: the first character it refuses on its own, else bidi. */
static int prep_err(const char *name, int rc, char *err, size_t errlen)
{
	for (size_t i = 0; name[i];) {
		size_t at = i;
		int32_t cp = utf8_next(name, &i);
		char one[8], buf[NORM_BUF];
		int r1;

		snprintf(one, sizeof(one), "%.*s", (int)(i - at), name + at);
		r1 = prep(one, buf);
		if (r1 == STRINGPREP_CONTAINS_PROHIBITED && cp < 0x80)
			return name_err(err, errlen, name, "'%c' is not allowed (only letters, "
					"digits, '-', '.' and ':')", (char)cp);
		if (r1 == STRINGPREP_CONTAINS_PROHIBITED)
			return name_err(err, errlen, name, "U+%04X is a character RFC 3722 prohibits",
					(unsigned)cp);
		if (r1 == STRINGPREP_CONTAINS_UNASSIGNED)
			return name_err(err, errlen, name, "U+%04X is not assigned in Unicode 3.2 "
					"(RFC 3722 takes no unassigned character)", (unsigned)cp);
	}
	if (rc >= STRINGPREP_BIDI_BOTH_L_AND_RAL && rc <= STRINGPREP_BIDI_CONTAINS_PROHIBITED)
		return name_err(err, errlen, name, "its right-to-left characters break the rules "
				"of RFC 3454 section 6 (%s)", stringprep_strerror((Stringprep_rc)rc));
	return name_err(err, errlen, name, "stringprep (RFC 3722) refuses it: %s",
			stringprep_strerror((Stringprep_rc)rc));
}

/* eui. and naa. names: a fixed number of hex digits. RFC 7143's own examples write the digits in
 * upper case ("eui.02004567A425678D"); the normal form has them in lower case. */
static int check_hex_name(const char *name, const char *norm, const char *what, int n1, int n2,
			  char *err, size_t errlen)
{
	const char *hex = norm + 4;
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

/* iqn.yyyy-mm.reversed.domain[:unique], in normal form. */
static int check_iqn(const char *name, const char *norm, char *err, size_t errlen)
{
	const char *p = norm + 4;
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

	/* The naming authority: dot-separated labels of letters, digits and '-'. */
	colon = strchr(p, ':');
	if (p == colon || *p == '\0')
		return name_err(err, errlen, name,
				"the reversed domain name after the date is missing");
	for (const char *q = p; *q && q != colon; q++) {
		if (*q == '.') {
			if (q == p || q[1] == '.' || q[1] == '\0' || q + 1 == colon)
				return name_err(err, errlen, name,
						"empty label in the domain name");
		} else if ((unsigned char)*q >= 0x80) {
			return name_err(err, errlen, name, "the domain name is written in ASCII "
					"letters, digits and '-'");
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
	char norm[NORM_BUF];
	size_t len;
	int rc;

	if (!name || !*name)
		return name_err(err, errlen, NULL, "empty iSCSI name");
	len = strlen(name);
	if (len > INAME_MAX)
		return name_err(err, errlen, NULL, "iSCSI name is %zu bytes long, more than %d",
				len, INAME_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return name_err(err, errlen, NULL,
					"bad iSCSI name: it contains control character 0x%02x",
					(unsigned char)name[i]);
	if (!valid_utf8(name))
		return name_err(err, errlen, NULL, "bad iSCSI name: it is not UTF-8 text");

	/* Names are compared in their RFC 3722 normal form: any case is the same name. */
	rc = prep(name, norm);
	if (rc == STRINGPREP_TOO_SMALL_BUFFER || (rc == STRINGPREP_OK && strlen(norm) > INAME_MAX))
		return name_err(err, errlen, name, "its normal form (RFC 3722) is longer than %d "
				"bytes", INAME_MAX);
	if (rc != STRINGPREP_OK)
		return prep_err(name, rc, err, errlen);

	if (strncmp(norm, "eui.", 4) == 0)
		return check_hex_name(name, norm, "eui.", 16, 16, err, errlen);
	if (strncmp(norm, "naa.", 4) == 0)
		return check_hex_name(name, norm, "naa.", 16, 32, err, errlen);
	if (strncmp(norm, "iqn.", 4) != 0)
		return name_err(err, errlen, name, "it must start with iqn., eui. or naa.");
	return check_iqn(name, norm, err, errlen);
}

int iscsi_name_generate(const char *prefix, char *out, size_t outlen)
{
	unsigned char rnd[INAME_RANDOM_BYTES];
	char hex[2 * INAME_RANDOM_BYTES + 1], norm[NORM_BUF];
	int n;

	if (!prefix)
		prefix = INAME_DEFAULT_PREFIX;
	/* The normal form: iscsi-iname writes names in lower case whatever the prefix. */
	if (iscsi_name_normalize(prefix, norm, sizeof(norm)) < 0)
		return -EINVAL;
	if (strncmp(norm, "iqn.", 4) != 0)
		return -EINVAL; /* only iqn. names have room for a random part */
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -EIO;
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	n = snprintf(out, outlen, "%s:%s", norm, hex);
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
