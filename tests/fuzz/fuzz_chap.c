/* libFuzzer harness for the initiator's side of a CHAP exchange: the target's keys arrive in the
 * order the input gives them, and we answer or check the target as soon as what came in allows.
 * Input byte 0: bit 0 mutual CHAP, bit 1 the same secret both ways (a configuration chap_respond
 * must refuse), bits 2-3 which algorithms we offer, bit 4 "CHAP_C=reflect" stands for a challenge
 * another exchange of ours just sent (what a target replaying it would send); then the target's
 * "k=v\0" text.
 * Beyond memory errors and leaks, a finding is any error text or key we send that holds a piece
 * of a secret the target did not itself send us. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chap.h"
#include "keys.h"

#define ERR_LEN 256
#define WINDOW 6 /* this many bytes of a secret in a message is a leak */
#define HEX_MAX (2 + 2 * 64 + 1) /* a challenge of ours in hex */

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "fuzz_chap: check failed: %s (line %d)\n", #cond, \
				__LINE__);                                                 \
			abort();                                                           \
		}                                                                          \
	} while (0)

/* No word of any message in them, so that a match means a copy. */
static const char initiator_secret[] = "Kq7wZ3vBn9Tx2LpQ";
static const char target_secret[] = "Pm4xR8hJc6Yd1WsF";

struct run {
	struct chap *c;
	int mutual;
	const uint8_t *input; /* what the target sent: it may quote it back to itself */
	size_t input_len;
	int got_a, got_i, got_c, got_n, got_r;
	int responded, verified;
	struct textbuf out;
	char reflect[HEX_MAX]; /* "" unless byte 0 bit 4 */
};

/* Does text hold WINDOW bytes of secret that the input does not also hold? */
static int leaks(const struct run *run, const char *text, size_t len, const char *secret)
{
	size_t slen = strlen(secret);

	for (size_t i = 0; i + WINDOW <= slen; i++) {
		const char *w = secret + i;

		if (memmem(text, len, w, WINDOW) &&
		    !memmem(run->input, run->input_len, w, WINDOW))
			return 1;
	}
	return 0;
}

static void check_text(const struct run *run, const char *what, const char *text, size_t len)
{
	if (leaks(run, text, len, initiator_secret) || leaks(run, text, len, target_secret)) {
		fprintf(stderr, "fuzz_chap: a secret shows in %s: %.*s\n", what, (int)len, text);
		abort();
	}
}

static void check_err(const struct run *run, int rc, const char *err)
{
	CHECK(memchr(err, '\0', ERR_LEN) != NULL);
	if (rc < 0)
		CHECK(err[0] != '\0');
	check_text(run, "an error message", err, strlen(err));
}

/* The binary codec on a value from the wire: decoding it, encoding that and decoding again
 * gives the same bytes. */
static void check_binary(const char *value)
{
	static uint8_t a[1100], b[1100];
	static char hex[2 * sizeof(a) + 3];
	size_t alen = 0, blen = 0;

	if (chap_decode(value, a, sizeof(a), &alen) != 0)
		return;
	CHECK(alen <= sizeof(a));
	if (alen == 0)
		return;
	CHECK(chap_encode_hex(a, alen, hex, sizeof(hex)) == 0);
	CHECK(chap_decode(hex, b, sizeof(b), &blen) == 0);
	CHECK(blen == alen && memcmp(a, b, alen) == 0);
}

struct out_seen {
	int n, r, i, c, other;
	size_t r_len;
};

static int on_out_pair(const char *key, const char *value, void *arg)
{
	struct out_seen *s = arg;

	if (strcmp(key, "CHAP_N") == 0) {
		s->n++;
	} else if (strcmp(key, "CHAP_R") == 0) {
		s->r++;
		s->r_len = strlen(value);
	} else if (strcmp(key, "CHAP_I") == 0) {
		s->i++;
	} else if (strcmp(key, "CHAP_C") == 0) {
		s->c++;
	} else {
		s->other++;
	}
	return 0;
}

static void respond(struct run *run)
{
	char err[ERR_LEN] = "";
	struct out_seen seen;
	size_t before = run->out.len;
	int rc;

	rc = chap_respond(run->c, &run->out, err, sizeof(err));
	check_err(run, rc, err);
	check_text(run, "the keys we send", run->out.data ? run->out.data : "", run->out.len);
	if (rc < 0) {
		CHECK(rc == -EPROTO || rc == -EACCES || rc == -EIO || rc == -ENOMEM);
		CHECK(run->out.len == before); /* none of our keys, rather than half of them */
		return;
	}
	CHECK(!run->responded);
	run->responded = 1;
	memset(&seen, 0, sizeof(seen));
	CHECK(text_foreach(run->out.data + before, run->out.len - before, on_out_pair,
			   &seen) == 0);
	CHECK(seen.n == 1 && seen.r == 1 && seen.other == 0);
	CHECK(seen.r_len == 2 + 2 * chap_digest_len(chap_chosen_alg(run->c)));
	CHECK(seen.i == run->mutual && seen.c == run->mutual);
}

static void verify(struct run *run)
{
	char err[ERR_LEN] = "";
	int rc;

	rc = chap_verify(run->c, err, sizeof(err));
	check_err(run, rc, err);
	CHECK(rc == 0 || rc == -EACCES);
	/* Our challenge is fresh random bytes: no input can know the answer to it. */
	CHECK(rc == -EACCES || !run->mutual);
}

static int find_challenge(const char *key, const char *value, void *arg)
{
	char *hex = arg;

	if (strcmp(key, "CHAP_C") == 0)
		snprintf(hex, HEX_MAX, "%s", value);
	return 0;
}

/* The CHAP_C a mutual exchange of ours sends, in hex. */
static void other_challenge(char *hex)
{
	const struct chap_secrets s = {
		.user = "fuzz-other",
		.secret = "Hd3sN8qLw2Vr",
		.mutual = 1,
		.target_user = "fuzz-other-target",
		.target_secret = "Ub6mT1kGz9Ye",
	};
	const int alg = CHAP_ALG_SHA256;
	struct textbuf tb = {0};
	char err[ERR_LEN];
	struct chap *o = chap_new(&s, &alg, 1);

	CHECK(o != NULL);
	CHECK(chap_receive(o, "CHAP_A", "7", err, sizeof(err)) == 0);
	CHECK(chap_receive(o, "CHAP_I", "1", err, sizeof(err)) == 0);
	CHECK(chap_receive(o, "CHAP_C", "0x0102030405060708", err, sizeof(err)) == 0);
	CHECK(chap_respond(o, &tb, err, sizeof(err)) == 0);
	CHECK(text_foreach(tb.data, tb.len, find_challenge, hex) == 0 && hex[0]);
	chap_free(o);
	textbuf_free(&tb);
}

static int on_pair(const char *key, const char *value, void *arg)
{
	struct run *run = arg;
	char err[ERR_LEN] = "";
	int rc;

	if (run->reflect[0] && strcmp(key, "CHAP_C") == 0 && strcmp(value, "reflect") == 0)
		value = run->reflect;
	check_binary(value);
	rc = chap_receive(run->c, key, value, err, sizeof(err));
	check_err(run, rc, err);
	CHECK(rc == 0 || rc == 1 || rc == -EPROTO || rc == -ENOMEM);
	if (rc == 1)
		CHECK(strncmp(key, "CHAP_", 5) != 0 || strlen(key) != 6 ||
		      !strchr("AICNR", key[5]));
	if (rc == 0) {
		if (strcmp(key, "CHAP_A") == 0)
			run->got_a = 1;
		else if (strcmp(key, "CHAP_I") == 0)
			run->got_i = 1;
		else if (strcmp(key, "CHAP_C") == 0)
			run->got_c = 1;
		else if (strcmp(key, "CHAP_N") == 0)
			run->got_n = 1;
		else if (strcmp(key, "CHAP_R") == 0)
			run->got_r = 1;
		else {
			fprintf(stderr, "fuzz_chap: chap_receive took the key %s\n", key);
			abort();
		}
	}
	if (run->got_a && run->got_i && run->got_c && !run->responded)
		respond(run);
	if (run->mutual && run->responded && run->got_n && run->got_r && !run->verified) {
		verify(run);
		run->verified = 1;
	}
	return 0; /* on after an error too: each key is another try at the state */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int alg_sets[4][4] = {
		{0}, /* unused: NULL means the default list */
		{CHAP_ALG_MD5},
		{CHAP_ALG_SHA1, CHAP_ALG_MD5},
		{CHAP_ALG_SHA3_256, CHAP_ALG_SHA256, CHAP_ALG_MD5},
	};
	static const int alg_count[4] = {0, 1, 2, 3};
	struct chap_secrets s = {
		.user = "fuzz-initiator",
		.secret = initiator_secret,
		.target_user = "fuzz-target",
		.target_secret = target_secret,
	};
	uint8_t flags = size ? data[0] : 0;
	unsigned set = (flags >> 2) & 3;
	struct run run;
	int alg;

	memset(&run, 0, sizeof(run));
	s.mutual = run.mutual = flags & 1;
	if (run.mutual && (flags & 2))
		s.target_secret = initiator_secret;
	run.c = chap_new(&s, set ? alg_sets[set] : NULL, alg_count[set]);
	CHECK(run.c != NULL);
	CHECK(chap_algorithms(run.c) != NULL && chap_algorithms(run.c)[0] != '\0');
	run.input = data;
	run.input_len = size;
	if (flags & 0x10)
		other_challenge(run.reflect);

	if (size > 1)
		(void)text_foreach((const char *)data + 1, size - 1, on_pair, &run);

	/* Whatever came, the exchange still refuses what is out of order. */
	alg = chap_chosen_alg(run.c);
	CHECK(alg == 0 || chap_digest_len(alg) > 0);
	if (run.responded) {
		char err[ERR_LEN] = "";
		size_t before = run.out.len;

		CHECK(chap_respond(run.c, &run.out, err, sizeof(err)) == -EPROTO);
		check_err(&run, -EPROTO, err);
		CHECK(run.out.len == before);
	} else {
		respond(&run); /* refused unless the target's challenge came complete */
	}
	verify(&run);

	chap_free(run.c);
	textbuf_free(&run.out);
	return 0;
}
