/* CHAP for the iSCSI security stage, initiator side (RFC 7143 12.1.3, RFC 1994).
 * One struct chap holds one exchange: the algorithms we offered, what the target chose and asked,
 * and in mutual mode the challenge we asked back. Hashes through OpenSSL EVP. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "chap.h"

#define CHAP_MAX_BINARY 1024  /* RFC 7143 12.1.3: C and R are at most 1024 bytes once decoded */
#define CHAP_MAX_DIGEST 32
#define CHAP_OUR_CHALLENGE 32 /* as long as the largest digest */
#define CHAP_MAX_ALGS 4

struct chap_alg_info {
	int alg;
	const char *md_name; /* OpenSSL's name */
	size_t len;
};

static const struct chap_alg_info chap_alg_table[] = {
	{CHAP_ALG_MD5, "MD5", 16},
	{CHAP_ALG_SHA1, "SHA1", 20},
	{CHAP_ALG_SHA256, "SHA256", 32},
	{CHAP_ALG_SHA3_256, "SHA3-256", 32},
};

/* When the caller names none: strongest first, MD5 last (RFC 7143 requires it be offered). */
static const int chap_default_algs[] = {
	CHAP_ALG_SHA3_256, CHAP_ALG_SHA256, CHAP_ALG_SHA1, CHAP_ALG_MD5,
};

struct chap {
	char *user;
	uint8_t *secret;
	size_t secret_len;
	int mutual;
	char *target_user;
	uint8_t *target_secret;
	size_t target_secret_len;
	int algs[CHAP_MAX_ALGS];
	int nalgs;
	char offer[CHAP_MAX_ALGS * 4];

	/* from the target, step 2 */
	int alg; /* 0 until CHAP_A */
	int have_id, have_challenge;
	uint8_t id;
	uint8_t challenge[CHAP_MAX_BINARY];
	size_t challenge_len;

	/* ours, step 3 */
	int responded;
	int challenged; /* mutual: our CHAP_I/CHAP_C went out */
	uint8_t our_id;
	uint8_t our_challenge[CHAP_OUR_CHALLENGE];

	/* from the target, step 4 (mutual) */
	char *target_name;
	int have_target_response;
	uint8_t target_response[CHAP_MAX_DIGEST];
	size_t target_response_len; /* as received: may exceed CHAP_MAX_DIGEST, then it is wrong */
};

/* Challenges we sent lately, on any connection. A fake target that offers one of them as its own
 * challenge wants our answer to replay it where we challenged it (RFC 7143 12.1.3). */
#define CHAP_RECENT 64
static uint8_t chap_recent[CHAP_RECENT][CHAP_OUR_CHALLENGE];
static unsigned chap_recent_next, chap_recent_count;
static pthread_mutex_t chap_recent_lock = PTHREAD_MUTEX_INITIALIZER;

static void recent_add(const uint8_t *ch)
{
	pthread_mutex_lock(&chap_recent_lock);
	memcpy(chap_recent[chap_recent_next], ch, CHAP_OUR_CHALLENGE);
	chap_recent_next = (chap_recent_next + 1) % CHAP_RECENT;
	if (chap_recent_count < CHAP_RECENT)
		chap_recent_count++;
	pthread_mutex_unlock(&chap_recent_lock);
}

static int recent_has(const uint8_t *ch, size_t len)
{
	int found = 0;

	if (len != CHAP_OUR_CHALLENGE)
		return 0;
	pthread_mutex_lock(&chap_recent_lock);
	for (unsigned i = 0; i < chap_recent_count && !found; i++)
		found = memcmp(chap_recent[i], ch, CHAP_OUR_CHALLENGE) == 0;
	pthread_mutex_unlock(&chap_recent_lock);
	return found;
}

__attribute__((format(printf, 4, 5)))
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Peer text made fit for a log line: printable ASCII, at most 64 characters. */
static const char *printable(const char *in, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; in[i] && o + 1 < outlen && i < 64; i++)
		out[o++] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
	out[o] = '\0';
	return out;
}

static const struct chap_alg_info *alg_info(int alg)
{
	for (size_t i = 0; i < sizeof(chap_alg_table) / sizeof(chap_alg_table[0]); i++)
		if (chap_alg_table[i].alg == alg)
			return &chap_alg_table[i];
	return NULL;
}

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
static EVP_MD *md_get(const char *name)
{
	return EVP_MD_fetch(NULL, name, NULL);
}

static void md_put(EVP_MD *md)
{
	EVP_MD_free(md);
}
#else
static EVP_MD *md_get(const char *name)
{
	return (EVP_MD *)EVP_get_digestbyname(name);
}

static void md_put(EVP_MD *md)
{
	(void)md;
}
#endif

/* Can this OpenSSL compute it? (MD5 may be missing, e.g. under a FIPS provider.) */
static int alg_available(const struct chap_alg_info *ai)
{
	EVP_MD *md = md_get(ai->md_name);

	md_put(md);
	return md != NULL;
}

size_t chap_digest_len(int alg)
{
	const struct chap_alg_info *ai = alg_info(alg);

	return ai ? ai->len : 0;
}

/* out must hold chap_digest_len(alg) bytes; *out_len receives that length. */
int chap_compute(int alg, uint8_t id, const uint8_t *secret, size_t secret_len,
		 const uint8_t *challenge, size_t challenge_len, uint8_t *out, size_t *out_len)
{
	const struct chap_alg_info *ai = alg_info(alg);
	EVP_MD_CTX *ctx;
	EVP_MD *md;
	unsigned n = 0;
	int ok;

	if (!ai || !out || !out_len || (!secret && secret_len) || (!challenge && challenge_len))
		return -EINVAL;
	md = md_get(ai->md_name);
	if (!md)
		return -EIO;
	ctx = EVP_MD_CTX_new();
	ok = ctx && EVP_DigestInit_ex(ctx, md, NULL) && EVP_DigestUpdate(ctx, &id, 1) &&
	     (!secret_len || EVP_DigestUpdate(ctx, secret, secret_len)) &&
	     (!challenge_len || EVP_DigestUpdate(ctx, challenge, challenge_len)) &&
	     EVP_DigestFinal_ex(ctx, out, &n) && n == ai->len;
	EVP_MD_CTX_free(ctx);
	md_put(md);
	if (!ok)
		return -EIO;
	*out_len = n;
	return 0;
}

static int hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static int b64_value(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* An odd number of hex digits has an implied leading zero (RFC 7143 6.1: (n+1)/2 bytes). */
static int decode_hex(const char *p, uint8_t *out, size_t max, size_t *len)
{
	size_t n = strlen(p), bytes = (n + 1) / 2, o = 0;

	if (n == 0)
		return -ENODATA;
	for (size_t i = 0; i < n; i++)
		if (hex_value(p[i]) < 0)
			return -EINVAL;
	if (bytes > max)
		return -ENOSPC;
	if (n % 2)
		out[o++] = (uint8_t)hex_value(*p++);
	for (; o < bytes; p += 2)
		out[o++] = (uint8_t)(hex_value(p[0]) << 4 | hex_value(p[1]));
	*len = bytes;
	return 0;
}

/* RFC 4648 base64; the '=' padding may be left off. */
static int decode_base64(const char *p, uint8_t *out, size_t max, size_t *len)
{
	size_t n = strlen(p), pad = 0, body, bytes, o = 0;
	uint32_t acc = 0;
	int bits = 0;

	if (n == 0)
		return -ENODATA;
	while (pad < n && p[n - 1 - pad] == '=')
		pad++;
	body = n - pad;
	if (pad > 2 || body == 0 || (pad && n % 4) || body % 4 == 1)
		return -EINVAL;
	for (size_t i = 0; i < body; i++)
		if (b64_value(p[i]) < 0)
			return -EINVAL;
	bytes = body / 4 * 3 + (body % 4 ? body % 4 - 1 : 0);
	if (bytes > max)
		return -ENOSPC;
	for (size_t i = 0; i < body; i++) {
		acc = acc << 6 | (uint32_t)b64_value(p[i]);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	*len = bytes;
	return 0;
}

/* 0, -EINVAL (malformed), -ENODATA (nothing after the prefix), -ENOSPC (longer than max). */
static int decode_binary(const char *s, uint8_t *out, size_t max, size_t *len)
{
	if (!s || s[0] != '0')
		return -EINVAL;
	if (s[1] == 'x' || s[1] == 'X')
		return decode_hex(s + 2, out, max, len);
	if (s[1] == 'b' || s[1] == 'B')
		return decode_base64(s + 2, out, max, len);
	return -EINVAL;
}

int chap_decode(const char *s, uint8_t *out, size_t max, size_t *len)
{
	if (!len || (!out && max))
		return -EINVAL;
	return decode_binary(s, out, max, len) < 0 ? -EINVAL : 0;
}

int chap_encode_hex(const uint8_t *b, size_t n, char *out, size_t outlen)
{
	static const char digits[] = "0123456789abcdef";

	if (!b || !out || n == 0) /* a binary value has at least one byte */
		return -EINVAL;
	if (outlen < 3 || n > (outlen - 3) / 2)
		return -ENOSPC;
	out[0] = '0';
	out[1] = 'x';
	for (size_t i = 0; i < n; i++) {
		out[2 + 2 * i] = digits[b[i] >> 4];
		out[3 + 2 * i] = digits[b[i] & 15];
	}
	out[2 + 2 * n] = '\0';
	return 0;
}

/* A number (RFC 7143 6.1: decimal, or hex after 0x) no larger than max. */
static int parse_num(const char *s, unsigned max, unsigned *out)
{
	unsigned v = 0;
	int base = 10, digits = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (; *s; s++, digits++) {
		int d = base == 16 ? hex_value(*s) : (*s >= '0' && *s <= '9' ? *s - '0' : -1);

		if (d < 0)
			return -EINVAL;
		v = v * (unsigned)base + (unsigned)d;
		if (v > max)
			return -ERANGE;
	}
	if (!digits)
		return -EINVAL;
	*out = v;
	return 0;
}

static void wipe_free(void *p, size_t n)
{
	if (p) {
		OPENSSL_cleanse(p, n);
		free(p);
	}
}

static uint8_t *secret_dup(const char *s, size_t *len)
{
	*len = strlen(s);
	return (uint8_t *)strdup(s);
}

struct chap *chap_new(const struct chap_secrets *s, const int *algs, int nalgs)
{
	struct chap *c;
	size_t off = 0;

	if (!algs || nalgs <= 0) {
		algs = chap_default_algs;
		nalgs = (int)(sizeof(chap_default_algs) / sizeof(chap_default_algs[0]));
	}
	if (!s || !s->user || !*s->user || !s->secret || !*s->secret || nalgs > CHAP_MAX_ALGS ||
	    (s->mutual && (!s->target_user || !*s->target_user || !s->target_secret ||
			   !*s->target_secret))) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	for (int i = 0; i < nalgs; i++) {
		const struct chap_alg_info *ai = alg_info(algs[i]);

		for (int j = 0; j < i; j++)
			if (algs[j] == algs[i])
				ai = NULL;
		if (!ai) {
			chap_free(c);
			errno = EINVAL;
			return NULL;
		}
		/* never offer what we could not compute */
		if (!alg_available(ai))
			continue;
		c->algs[c->nalgs++] = ai->alg;
		off += (size_t)snprintf(c->offer + off, sizeof(c->offer) - off, "%s%d",
					off ? "," : "", ai->alg);
	}
	if (c->nalgs == 0) {
		chap_free(c);
		errno = ENOTSUP;
		return NULL;
	}
	c->mutual = !!s->mutual;
	c->user = strdup(s->user);
	c->secret = secret_dup(s->secret, &c->secret_len);
	if (c->mutual) {
		c->target_user = strdup(s->target_user);
		c->target_secret = secret_dup(s->target_secret, &c->target_secret_len);
	}
	if (!c->user || !c->secret || (c->mutual && (!c->target_user || !c->target_secret))) {
		chap_free(c);
		errno = ENOMEM;
		return NULL;
	}
	return c;
}

void chap_free(struct chap *c)
{
	if (!c)
		return;
	free(c->user);
	free(c->target_user);
	free(c->target_name);
	wipe_free(c->secret, c->secret_len);
	wipe_free(c->target_secret, c->target_secret_len);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

const char *chap_algorithms(const struct chap *c)
{
	return c->offer;
}

int chap_chosen_alg(const struct chap *c)
{
	return c ? c->alg : 0;
}

static int offered(const struct chap *c, unsigned alg)
{
	for (int i = 0; i < c->nalgs; i++)
		if ((unsigned)c->algs[i] == alg)
			return 1;
	return 0;
}

static int recv_alg(struct chap *c, const char *value, char *err, size_t errlen)
{
	char shown[80];
	unsigned a;
	int rc;

	if (c->alg)
		return fail(err, errlen, -EPROTO, "target sent CHAP_A twice");
	if (strcmp(value, "Reject") == 0 || strcmp(value, "NotUnderstood") == 0 ||
	    strcmp(value, "Irrelevant") == 0 || strcmp(value, "None") == 0)
		return fail(err, errlen, -EPROTO,
			    "target supports none of the offered CHAP algorithms (%s): CHAP_A=%s",
			    c->offer, value);
	if (strchr(value, ','))
		return fail(err, errlen, -EPROTO,
			    "target answered CHAP_A with a list; it must choose one algorithm");
	rc = parse_num(value, 255, &a);
	if (rc == -EINVAL)
		return fail(err, errlen, -EPROTO, "target sent CHAP_A=%s, which is not a number",
			    printable(value, shown, sizeof(shown)));
	if (rc < 0 || !offered(c, a))
		return fail(err, errlen, -EPROTO,
			    "target chose CHAP_A=%s, which was not offered (we offered %s)",
			    printable(value, shown, sizeof(shown)), c->offer);
	c->alg = (int)a;
	return 0;
}

static int recv_id(struct chap *c, const char *value, char *err, size_t errlen)
{
	char shown[80];
	unsigned id;

	if (!c->alg)
		return fail(err, errlen, -EPROTO, "target sent CHAP_I before CHAP_A");
	if (c->have_id)
		return fail(err, errlen, -EPROTO, "target sent CHAP_I twice");
	if (parse_num(value, 255, &id) < 0)
		return fail(err, errlen, -EPROTO, "target sent CHAP_I=%s; it must be 0 to 255",
			    printable(value, shown, sizeof(shown)));
	c->id = (uint8_t)id;
	c->have_id = 1;
	return 0;
}

/* Why a binary value from the target was refused; never the value itself. */
static int bad_binary(int rc, const char *key, char *err, size_t errlen)
{
	if (rc == -ENODATA)
		return fail(err, errlen, -EPROTO, "target sent an empty %s", key);
	if (rc == -ENOSPC)
		return fail(err, errlen, -EPROTO, "target's %s is longer than %d bytes", key,
			    CHAP_MAX_BINARY);
	return fail(err, errlen, -EPROTO, "target's %s is neither 0x hex nor 0b base64", key);
}

static int recv_challenge(struct chap *c, const char *value, char *err, size_t errlen)
{
	int rc;

	if (!c->alg)
		return fail(err, errlen, -EPROTO, "target sent CHAP_C before CHAP_A");
	if (c->have_challenge)
		return fail(err, errlen, -EPROTO, "target sent CHAP_C twice");
	rc = decode_binary(value, c->challenge, sizeof(c->challenge), &c->challenge_len);
	if (rc < 0)
		return bad_binary(rc, "CHAP_C", err, errlen);
	c->have_challenge = 1;
	return 0;
}

static int recv_name(struct chap *c, const char *value, char *err, size_t errlen)
{
	if (!c->mutual)
		return fail(err, errlen, -EPROTO,
			    "target sent CHAP_N, but we did not ask it to authenticate");
	if (!c->challenged)
		return fail(err, errlen, -EPROTO, "target sent CHAP_N before we challenged it");
	if (c->target_name)
		return fail(err, errlen, -EPROTO, "target sent CHAP_N twice");
	c->target_name = strdup(value);
	if (!c->target_name)
		return fail(err, errlen, -ENOMEM, "out of memory");
	return 0;
}

static int recv_response(struct chap *c, const char *value, char *err, size_t errlen)
{
	uint8_t buf[CHAP_MAX_BINARY];
	size_t len;
	int rc;

	if (!c->mutual)
		return fail(err, errlen, -EPROTO,
			    "target sent CHAP_R, but we did not ask it to authenticate");
	if (!c->challenged)
		return fail(err, errlen, -EPROTO, "target sent CHAP_R before we challenged it");
	if (c->have_target_response)
		return fail(err, errlen, -EPROTO, "target sent CHAP_R twice");
	rc = decode_binary(value, buf, sizeof(buf), &len);
	if (rc < 0)
		return bad_binary(rc, "CHAP_R", err, errlen);
	c->target_response_len = len;
	if (len <= sizeof(c->target_response))
		memcpy(c->target_response, buf, len);
	c->have_target_response = 1;
	return 0;
}

static const struct {
	const char *key;
	int (*recv)(struct chap *c, const char *value, char *err, size_t errlen);
} chap_keys[] = {
	{"CHAP_A", recv_alg},
	{"CHAP_I", recv_id},
	{"CHAP_C", recv_challenge},
	{"CHAP_N", recv_name},
	{"CHAP_R", recv_response},
};

int chap_receive(struct chap *c, const char *key, const char *value, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(chap_keys) / sizeof(chap_keys[0]); i++)
		if (strcmp(key, chap_keys[i].key) == 0)
			return chap_keys[i].recv(c, value, err, errlen);
	return 1;
}

static int same_secret(const struct chap *c)
{
	return c->secret_len == c->target_secret_len &&
	       CRYPTO_memcmp(c->secret, c->target_secret, c->secret_len) == 0;
}

/* Our CHAP_I and a fresh CHAP_C for the target; remembered so that no target can reflect it. */
static int make_challenge(struct chap *c)
{
	do {
		if (RAND_bytes(&c->our_id, 1) != 1 ||
		    RAND_bytes(c->our_challenge, sizeof(c->our_challenge)) != 1)
			return -EIO;
	} while (c->challenge_len == sizeof(c->our_challenge) &&
		 memcmp(c->our_challenge, c->challenge, c->challenge_len) == 0);
	recent_add(c->our_challenge);
	return 0;
}

int chap_respond(struct chap *c, struct textbuf *out, char *err, size_t errlen)
{
	uint8_t resp[CHAP_MAX_DIGEST];
	char hex[2 + 2 * CHAP_MAX_DIGEST + 1], id[4];
	size_t resp_len, saved = out->len;
	int rc;

	if (c->responded)
		return fail(err, errlen, -EPROTO, "the CHAP response was already sent");
	if (!c->alg || !c->have_id || !c->have_challenge)
		return fail(err, errlen, -EPROTO, "target's CHAP challenge is incomplete: no %s",
			    !c->alg ? "CHAP_A" : !c->have_id ? "CHAP_I" : "CHAP_C");
	/* RFC 7143 12.1.3: a secret for one direction must not serve the other */
	if (c->mutual && same_secret(c))
		return fail(err, errlen, -EACCES,
			    "the same secret is configured for both directions");
	if (recent_has(c->challenge, c->challenge_len))
		return fail(err, errlen, -EACCES, "target reflected our challenge");

	rc = chap_compute(c->alg, c->id, c->secret, c->secret_len, c->challenge, c->challenge_len,
			  resp, &resp_len);
	if (rc < 0)
		return fail(err, errlen, rc, "cannot compute the CHAP response (algorithm %d)",
			    c->alg);
	chap_encode_hex(resp, resp_len, hex, sizeof(hex));
	OPENSSL_cleanse(resp, sizeof(resp));
	rc = textbuf_add(out, "CHAP_N", c->user);
	if (!rc)
		rc = textbuf_add(out, "CHAP_R", hex);
	if (!rc && c->mutual) {
		if (make_challenge(c) < 0) {
			out->len = saved;
			return fail(err, errlen, -EIO, "no random bytes for our CHAP challenge");
		}
		snprintf(id, sizeof(id), "%u", c->our_id);
		chap_encode_hex(c->our_challenge, sizeof(c->our_challenge), hex, sizeof(hex));
		rc = textbuf_add(out, "CHAP_I", id);
		if (!rc)
			rc = textbuf_add(out, "CHAP_C", hex);
	}
	if (rc < 0) {
		out->len = saved; /* none of our keys, rather than half of them */
		return fail(err, errlen, rc, "out of memory");
	}
	c->responded = 1;
	c->challenged = c->mutual;
	return 0;
}

int chap_verify(struct chap *c, char *err, size_t errlen)
{
	uint8_t expect[CHAP_MAX_DIGEST];
	char shown[80];
	size_t len;
	int rc, ok;

	if (!c->mutual)
		return 0;
	if (!c->challenged)
		return fail(err, errlen, -EACCES, "we have not challenged the target yet");
	if (!c->target_name || !c->have_target_response)
		return fail(err, errlen, -EACCES,
			    "target did not answer our CHAP challenge (no %s)",
			    !c->target_name ? "CHAP_N" : "CHAP_R");
	if (strcmp(c->target_name, c->target_user) != 0)
		return fail(err, errlen, -EACCES,
			    "target answered with the wrong user name \"%s\" (expected \"%s\")",
			    printable(c->target_name, shown, sizeof(shown)), c->target_user);
	/* same algorithm, our id and challenge, the target's secret */
	rc = chap_compute(c->alg, c->our_id, c->target_secret, c->target_secret_len,
			  c->our_challenge, sizeof(c->our_challenge), expect, &len);
	if (rc < 0)
		return fail(err, errlen, -EACCES, "cannot compute the expected CHAP response");
	ok = len == c->target_response_len && CRYPTO_memcmp(expect, c->target_response, len) == 0;
	OPENSSL_cleanse(expect, sizeof(expect));
	if (!ok)
		return fail(err, errlen, -EACCES, "target's CHAP response is wrong");
	return 0;
}
