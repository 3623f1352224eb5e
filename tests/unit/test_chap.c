/* CHAP: digests against vectors made with `openssl dgst`, the binary value codec, one-way and
 * mutual exchanges with the test playing the target, and every refusal (never leaking a secret). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "chap.h"

#define USER "iqn.2024-01.test:initiator"
#define SECRET "Ini7iat0rS3cr3tXyz"
#define TARGET_USER "iqn.2024-01.test:target"
#define TARGET_SECRET "Targ3tS3cr3tQwv"

static const struct chap_secrets one_way = {USER, SECRET, 0, NULL, NULL};
static const struct chap_secrets mutual = {USER, SECRET, 1, TARGET_USER, TARGET_SECRET};

/* The value of key in a "k=v\0k=v\0" buffer, NULL when absent. */
static const char *tb_get(const struct textbuf *tb, const char *key)
{
	size_t klen = strlen(key);

	for (size_t i = 0; i < tb->len; i += strlen(tb->data + i) + 1)
		if (strncmp(tb->data + i, key, klen) == 0 && tb->data[i + klen] == '=')
			return tb->data + i + klen + 1;
	return NULL;
}

static int tb_count(const struct textbuf *tb)
{
	int n = 0;

	for (size_t i = 0; i < tb->len; i += strlen(tb->data + i) + 1)
		n++;
	return n;
}

/* A refusal explains itself and gives neither secret away. */
static void check_err(const char *err, const char *must_contain)
{
	assert_true(err[0] != '\0');
	assert_null(strstr(err, SECRET));
	assert_null(strstr(err, TARGET_SECRET));
	if (must_contain && !strstr(err, must_contain)) {
		print_error("err \"%s\" lacks \"%s\"\n", err, must_contain);
		fail();
	}
}

static void hex(const uint8_t *b, size_t n, char *out, size_t outlen)
{
	assert_int_equal(chap_encode_hex(b, n, out, outlen), 0);
}

/* Step 2 as the target sends it. */
static void target_challenges(struct chap *c, const char *alg, const char *id, const char *ch)
{
	char err[256] = "";

	assert_int_equal(chap_receive(c, "CHAP_A", alg, err, sizeof(err)), 0);
	assert_int_equal(chap_receive(c, "CHAP_I", id, err, sizeof(err)), 0);
	assert_int_equal(chap_receive(c, "CHAP_C", ch, err, sizeof(err)), 0);
}

/* Our CHAP_I and CHAP_C, taken back out of what chap_respond wrote. */
static void our_challenge(const struct textbuf *tb, uint8_t *id, uint8_t *ch, size_t *chlen)
{
	const char *i = tb_get(tb, "CHAP_I"), *c = tb_get(tb, "CHAP_C");
	unsigned v;

	assert_non_null(i);
	assert_non_null(c);
	assert_int_equal(sscanf(i, "%u", &v), 1);
	assert_true(v <= 255);
	*id = (uint8_t)v;
	assert_int_equal(chap_decode(c, ch, 1024, chlen), 0);
}

static void test_digest_len(void **state)
{
	(void)state;
	assert_int_equal(chap_digest_len(CHAP_ALG_MD5), 16);
	assert_int_equal(chap_digest_len(CHAP_ALG_SHA1), 20);
	assert_int_equal(chap_digest_len(CHAP_ALG_SHA256), 32);
	assert_int_equal(chap_digest_len(CHAP_ALG_SHA3_256), 32);
	assert_int_equal(chap_digest_len(0), 0);
	assert_int_equal(chap_digest_len(9), 0);
}

/* Expected values from: printf '\x01secret\xaa\xbb' | openssl dgst -<alg>
 * and: { printf '\xfe'; printf 'Squeamish Ossifrage'; printf '\x00\x01...\x0f'; } | openssl dgst */
static void test_compute_vectors(void **state)
{
	static const struct {
		int alg;
		const char *v1, *v2;
	} t[] = {
		{CHAP_ALG_MD5, "0x52b84dd1a7253536d2f969cd661a25de",
		 "0xbea1f526a094e5990f82d3fd17cb273a"},
		{CHAP_ALG_SHA1, "0xa71b07f33bbbe3cec7d153e052bd8e9167cb19d5",
		 "0xbd146181a1fde1c71371ea5425c9acf56714daff"},
		{CHAP_ALG_SHA256,
		 "0xc779f2085cfc26ecbce7b258493f9eaae5c948256dc87839664bbfa69e08f43c",
		 "0xa2c09e7bac8d51a60c111e87b3c7b470b98caed30357b12eed93916151f8be1f"},
		{CHAP_ALG_SHA3_256,
		 "0x1660fd124190cfd97424ae3fcaba39ee56ac1bec04a7d56220a7a0b2940271f9",
		 "0x034da3bad41c28d2b9205e075ae98c545fc3ce228a4019fb5312d663575aabd9"},
	};
	const uint8_t ch1[] = {0xaa, 0xbb};
	const char *s2 = "Squeamish Ossifrage";
	uint8_t ch2[16], out[64];
	char text[160];
	size_t len;

	(void)state;
	for (int i = 0; i < 16; i++)
		ch2[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(chap_compute(t[i].alg, 1, (const uint8_t *)"secret", 6, ch1,
					      sizeof(ch1), out, &len), 0);
		assert_int_equal(len, chap_digest_len(t[i].alg));
		hex(out, len, text, sizeof(text));
		assert_string_equal(text, t[i].v1);
		assert_int_equal(chap_compute(t[i].alg, 0xfe, (const uint8_t *)s2, strlen(s2), ch2,
					      sizeof(ch2), out, &len), 0);
		hex(out, len, text, sizeof(text));
		assert_string_equal(text, t[i].v2);
	}
	assert_int_equal(chap_compute(4, 1, (const uint8_t *)"s", 1, ch1, 2, out, &len), -EINVAL);
	assert_int_equal(chap_compute(CHAP_ALG_MD5, 1, NULL, 1, ch1, 2, out, &len), -EINVAL);
}

static void test_decode_hex(void **state)
{
	uint8_t b[8];
	size_t len;

	(void)state;
	assert_int_equal(chap_decode("0xaabb", b, sizeof(b), &len), 0);
	assert_int_equal(len, 2);
	assert_memory_equal(b, "\xaa\xbb", 2);
	assert_int_equal(chap_decode("0XAaBb01", b, sizeof(b), &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(b, "\xaa\xbb\x01", 3);
	/* odd digit count: implied leading zero */
	assert_int_equal(chap_decode("0xabc", b, sizeof(b), &len), 0);
	assert_int_equal(len, 2);
	assert_memory_equal(b, "\x0a\xbc", 2);
	assert_int_equal(chap_decode("0x0102030405060708", b, sizeof(b), &len), 0);
	assert_int_equal(len, 8);

	assert_int_equal(chap_decode("0x", b, sizeof(b), &len), -EINVAL);
	assert_int_equal(chap_decode("0xag", b, sizeof(b), &len), -EINVAL);
	assert_int_equal(chap_decode("0x aa", b, sizeof(b), &len), -EINVAL);
	assert_int_equal(chap_decode("aabb", b, sizeof(b), &len), -EINVAL);
	assert_int_equal(chap_decode("0yaabb", b, sizeof(b), &len), -EINVAL);
	assert_int_equal(chap_decode("", b, sizeof(b), &len), -EINVAL);
	assert_int_equal(chap_decode("0x010203040506070809", b, sizeof(b), &len), -EINVAL);
}

static void test_decode_base64(void **state)
{
	uint8_t b[8];
	size_t len;

	(void)state;
	assert_int_equal(chap_decode("0bqrs=", b, sizeof(b), &len), 0);
	assert_int_equal(len, 2);
	assert_memory_equal(b, "\xaa\xbb", 2);
	assert_int_equal(chap_decode("0bqrs", b, sizeof(b), &len), 0); /* padding left off */
	assert_int_equal(len, 2);
	assert_memory_equal(b, "\xaa\xbb", 2);
	assert_int_equal(chap_decode("0BAAEC", b, sizeof(b), &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(b, "\x00\x01\x02", 3);
	assert_int_equal(chap_decode("0bAA==", b, sizeof(b), &len), 0);
	assert_int_equal(len, 1);
	assert_int_equal(b[0], 0);
	assert_int_equal(chap_decode("0b+/+/", b, sizeof(b), &len), 0);
	assert_memory_equal(b, "\xfb\xff\xbf", 3);

	assert_int_equal(chap_decode("0b", b, sizeof(b), &len), -EINVAL);
	assert_int_equal(chap_decode("0bq", b, sizeof(b), &len), -EINVAL);
	assert_int_equal(chap_decode("0bqr=s", b, sizeof(b), &len), -EINVAL);
	assert_int_equal(chap_decode("0b====", b, sizeof(b), &len), -EINVAL);
	assert_int_equal(chap_decode("0bqrs==", b, sizeof(b), &len), -EINVAL);
	assert_int_equal(chap_decode("0bq*==", b, sizeof(b), &len), -EINVAL);
	/* 9 bytes do not fit in 8; 8 do */
	assert_int_equal(chap_decode("0bAAECAwQFBgcI", b, sizeof(b), &len), -EINVAL);
	assert_int_equal(chap_decode("0bAAECAwQFBgc=", b, sizeof(b), &len), 0);
	assert_int_equal(len, 8);
}

static void test_encode_hex(void **state)
{
	const uint8_t b[] = {0xaa, 0x0b};
	char out[8];

	(void)state;
	assert_int_equal(chap_encode_hex(b, 2, out, 7), 0);
	assert_string_equal(out, "0xaa0b");
	assert_int_equal(chap_encode_hex(b, 2, out, 6), -ENOSPC);
	assert_int_equal(chap_encode_hex(b, 2, out, 0), -ENOSPC);
	assert_int_equal(chap_encode_hex(b, 0, out, sizeof(out)), -EINVAL);
}

static void test_new_checks_its_input(void **state)
{
	const struct chap_secrets no_secret = {USER, "", 0, NULL, NULL};
	const struct chap_secrets half_mutual = {USER, SECRET, 1, TARGET_USER, NULL};
	const int unknown[] = {7, 9}, dup[] = {5, 5}, some[] = {7, 5};
	struct chap *c;

	(void)state;
	assert_null(chap_new(NULL, some, 2));
	assert_null(chap_new(&no_secret, some, 2));
	assert_null(chap_new(&half_mutual, some, 2));
	assert_null(chap_new(&one_way, unknown, 2));
	assert_null(chap_new(&one_way, dup, 2));
	c = chap_new(&one_way, some, 2);
	assert_non_null(c);
	assert_string_equal(chap_algorithms(c), "7,5");
	assert_int_equal(chap_chosen_alg(c), 0);
	chap_free(c);
	c = chap_new(&one_way, NULL, 0);
	assert_non_null(c);
	assert_string_equal(chap_algorithms(c), "8,7,6,5");
	chap_free(c);
	chap_free(NULL);
}

static void test_one_way_exchange(void **state)
{
	const struct chap_secrets s = {"alice", "secret", 0, NULL, NULL};
	const int algs[] = {7, 5};
	struct textbuf tb = {0};
	char err[256] = "";
	struct chap *c = chap_new(&s, algs, 2);

	(void)state;
	assert_non_null(c);
	assert_int_equal(chap_receive(c, "AuthMethod", "CHAP", err, sizeof(err)), 1);
	assert_int_equal(chap_receive(c, "TargetPortalGroupTag", "1", err, sizeof(err)), 1);
	target_challenges(c, "5", "1", "0xaabb");
	assert_int_equal(chap_chosen_alg(c), CHAP_ALG_MD5);
	assert_int_equal(chap_respond(c, &tb, err, sizeof(err)), 0);
	assert_int_equal(tb_count(&tb), 2);
	assert_string_equal(tb_get(&tb, "CHAP_N"), "alice");
	assert_string_equal(tb_get(&tb, "CHAP_R"), "0x52b84dd1a7253536d2f969cd661a25de");
	assert_null(tb_get(&tb, "CHAP_I"));
	assert_null(tb_get(&tb, "CHAP_C"));
	assert_int_equal(chap_verify(c, err, sizeof(err)), 0); /* nothing to check one-way */
	/* answering twice is a bug on our side */
	assert_int_equal(chap_respond(c, &tb, err, sizeof(err)), -EPROTO);
	textbuf_free(&tb);
	chap_free(c);

	/* the same challenge in base64, SHA-256 chosen, the id in hex */
	c = chap_new(&s, algs, 2);
	target_challenges(c, "7", "0x01", "0bqrs=");
	assert_int_equal(chap_respond(c, &tb, err, sizeof(err)), 0);
	assert_string_equal(tb_get(&tb, "CHAP_R"),
			    "0xc779f2085cfc26ecbce7b258493f9eaae5c948256dc87839664bbfa69e08f43c");
	textbuf_free(&tb);
	chap_free(c);
}

/* The test plays the target: it answers our challenge with chap_compute and the target secret. */
static struct chap *mutual_until_target_answer(const char *alg, struct textbuf *tb, uint8_t *id,
					       uint8_t *ch, size_t *chlen)
{
	char err[256] = "";
	struct chap *c = chap_new(&mutual, NULL, 0);

	assert_non_null(c);
	target_challenges(c, alg, "77", "0x00112233445566778899aabbccddeeff");
	assert_int_equal(chap_respond(c, tb, err, sizeof(err)), 0);
	our_challenge(tb, id, ch, chlen);
	return c;
}

static void test_mutual_exchange(void **state)
{
	const uint8_t tch[] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
			       0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
	struct textbuf tb = {0};
	uint8_t id, ch[1024], resp[64];
	char err[256] = "", text[160];
	size_t chlen, rlen;
	struct chap *c;

	(void)state;
	for (int alg = CHAP_ALG_MD5; alg <= CHAP_ALG_SHA3_256; alg++) {
		char a[4];

		snprintf(a, sizeof(a), "%d", alg);
		c = mutual_until_target_answer(a, &tb, &id, ch, &chlen);
		assert_int_equal(tb_count(&tb), 4);
		assert_string_equal(tb_get(&tb, "CHAP_N"), USER);
		assert_true(chlen >= 16);
		/* our answer to the target */
		assert_int_equal(chap_compute(alg, 77, (const uint8_t *)SECRET, strlen(SECRET), tch,
					      sizeof(tch), resp, &rlen), 0);
		hex(resp, rlen, text, sizeof(text));
		assert_string_equal(tb_get(&tb, "CHAP_R"), text);
		assert_int_equal(strlen(text), 2 + 2 * chap_digest_len(alg));
		/* the target's answer to us, base64 for one of them */
		assert_int_equal(chap_compute(alg, id, (const uint8_t *)TARGET_SECRET,
					      strlen(TARGET_SECRET), ch, chlen, resp, &rlen), 0);
		if (alg == CHAP_ALG_SHA1) {
			text[0] = '0';
			text[1] = 'b';
			EVP_EncodeBlock((unsigned char *)text + 2, resp, (int)rlen);
		} else {
			hex(resp, rlen, text, sizeof(text));
		}
		assert_int_equal(chap_receive(c, "CHAP_N", TARGET_USER, err, sizeof(err)), 0);
		assert_int_equal(chap_receive(c, "CHAP_R", text, err, sizeof(err)), 0);
		assert_int_equal(chap_verify(c, err, sizeof(err)), 0);
		textbuf_free(&tb);
		chap_free(c);
	}
}

static void test_mutual_challenges_differ(void **state)
{
	struct textbuf t1 = {0}, t2 = {0};
	uint8_t id1, id2, c1[1024], c2[1024];
	size_t l1, l2;
	struct chap *a, *b;

	(void)state;
	a = mutual_until_target_answer("5", &t1, &id1, c1, &l1);
	b = mutual_until_target_answer("5", &t2, &id2, c2, &l2);
	assert_int_equal(l1, l2);
	assert_memory_not_equal(c1, c2, l1);
	textbuf_free(&t1);
	textbuf_free(&t2);
	chap_free(a);
	chap_free(b);
}

static void test_mutual_wrong_target_user(void **state)
{
	struct textbuf tb = {0};
	uint8_t id, ch[1024], resp[64];
	char err[256] = "", text[160];
	size_t chlen, rlen;
	struct chap *c = mutual_until_target_answer("7", &tb, &id, ch, &chlen);

	(void)state;
	assert_int_equal(chap_compute(7, id, (const uint8_t *)TARGET_SECRET, strlen(TARGET_SECRET),
				      ch, chlen, resp, &rlen), 0);
	hex(resp, rlen, text, sizeof(text));
	assert_int_equal(chap_receive(c, "CHAP_N", "iqn.2024-01.test:impostor", err, sizeof(err)),
			 0);
	assert_int_equal(chap_receive(c, "CHAP_R", text, err, sizeof(err)), 0);
	assert_int_equal(chap_verify(c, err, sizeof(err)), -EACCES);
	check_err(err, "wrong user name");
	assert_null(strstr(err, text));
	textbuf_free(&tb);
	chap_free(c);
}

/* Each forged answer: computed with our secret, with another algorithm, cut short, too long. */
static void test_mutual_wrong_target_response(void **state)
{
	for (int how = 0; how < 4; how++) {
		struct textbuf tb = {0};
		uint8_t id, ch[1024], resp[64];
		char err[256] = "", text[160];
		size_t chlen, rlen;
		struct chap *c = mutual_until_target_answer("7", &tb, &id, ch, &chlen);
		const char *sec = how == 0 ? SECRET : TARGET_SECRET;

		assert_int_equal(chap_compute(how == 1 ? CHAP_ALG_SHA3_256 : CHAP_ALG_SHA256, id,
					      (const uint8_t *)sec, strlen(sec), ch, chlen, resp,
					      &rlen), 0);
		if (how == 2)
			rlen = 16;
		if (how == 3)
			resp[rlen++] = 0;
		hex(resp, rlen, text, sizeof(text));
		assert_int_equal(chap_receive(c, "CHAP_N", TARGET_USER, err, sizeof(err)), 0);
		assert_int_equal(chap_receive(c, "CHAP_R", text, err, sizeof(err)), 0);
		assert_int_equal(chap_verify(c, err, sizeof(err)), -EACCES);
		check_err(err, "response is wrong");
		assert_null(strstr(err, text));
		textbuf_free(&tb);
		chap_free(c);
	}
}

static void test_mutual_target_silent(void **state)
{
	struct textbuf tb = {0};
	uint8_t id, ch[1024];
	char err[256] = "";
	size_t chlen;
	struct chap *c = mutual_until_target_answer("5", &tb, &id, ch, &chlen);

	(void)state;
	assert_int_equal(chap_verify(c, err, sizeof(err)), -EACCES);
	check_err(err, "did not answer");
	assert_int_equal(chap_receive(c, "CHAP_N", TARGET_USER, err, sizeof(err)), 0);
	assert_int_equal(chap_verify(c, err, sizeof(err)), -EACCES);
	check_err(err, "CHAP_R");
	textbuf_free(&tb);
	chap_free(c);
}

/* A fake target hands the challenge we sent on one connection back to us on another. */
static void test_reflected_challenge(void **state)
{
	struct textbuf t1 = {0}, t2 = {0};
	uint8_t id, ch[1024];
	char err[256] = "", idtext[4];
	size_t chlen;
	struct chap *a = mutual_until_target_answer("5", &t1, &id, ch, &chlen);
	struct chap *b;

	(void)state;
	for (int mode = 0; mode < 2; mode++) {
		b = chap_new(mode ? &mutual : &one_way, NULL, 0);
		snprintf(idtext, sizeof(idtext), "%u", id);
		target_challenges(b, "5", idtext, tb_get(&t1, "CHAP_C"));
		assert_int_equal(chap_respond(b, &t2, err, sizeof(err)), -EACCES);
		check_err(err, "target reflected our challenge");
		assert_null(strstr(err, tb_get(&t1, "CHAP_C") + 2));
		assert_int_equal(t2.len, 0);
		chap_free(b);
	}
	textbuf_free(&t1);
	chap_free(a);
}

static void test_same_secret_both_directions(void **state)
{
	const struct chap_secrets same = {USER, SECRET, 1, TARGET_USER, SECRET};
	struct textbuf tb = {0};
	char err[256] = "";
	struct chap *c = chap_new(&same, NULL, 0);

	(void)state;
	assert_non_null(c);
	target_challenges(c, "5", "3", "0x0102030405060708");
	assert_int_equal(chap_respond(c, &tb, err, sizeof(err)), -EACCES);
	check_err(err, "the same secret is configured for both directions");
	assert_int_equal(tb.len, 0);
	chap_free(c);
}

static void test_algorithm_not_offered(void **state)
{
	static const char *bad[] = {"6", "Reject", "NotUnderstood", "5,7", "md5", "", "0x100"};
	const int algs[] = {7, 5};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct chap *c = chap_new(&one_way, algs, 2);

		err[0] = '\0';
		assert_int_equal(chap_receive(c, "CHAP_A", bad[i], err, sizeof(err)), -EPROTO);
		check_err(err, i == 0 ? "target chose CHAP_A=6, which was not offered" : "CHAP_A");
		assert_int_equal(chap_chosen_alg(c), 0);
		chap_free(c);
	}
}

static void test_duplicate_keys(void **state)
{
	struct textbuf tb = {0};
	uint8_t id, ch[1024];
	char err[256];
	size_t chlen;
	struct chap *c = chap_new(&mutual, NULL, 0);

	(void)state;
	target_challenges(c, "5", "9", "0x0102030405060708");
	assert_int_equal(chap_receive(c, "CHAP_A", "5", err, sizeof(err)), -EPROTO);
	check_err(err, "CHAP_A twice");
	assert_int_equal(chap_receive(c, "CHAP_I", "9", err, sizeof(err)), -EPROTO);
	check_err(err, "CHAP_I twice");
	assert_int_equal(chap_receive(c, "CHAP_C", "0x0102030405060708", err, sizeof(err)),
			 -EPROTO);
	check_err(err, "CHAP_C twice");
	assert_int_equal(chap_respond(c, &tb, err, sizeof(err)), 0);
	our_challenge(&tb, &id, ch, &chlen);
	assert_int_equal(chap_receive(c, "CHAP_N", TARGET_USER, err, sizeof(err)), 0);
	assert_int_equal(chap_receive(c, "CHAP_N", TARGET_USER, err, sizeof(err)), -EPROTO);
	check_err(err, "CHAP_N twice");
	assert_int_equal(chap_receive(c, "CHAP_R", "0x00", err, sizeof(err)), 0);
	assert_int_equal(chap_receive(c, "CHAP_R", "0x00", err, sizeof(err)), -EPROTO);
	check_err(err, "CHAP_R twice");
	textbuf_free(&tb);
	chap_free(c);
}

static void test_keys_out_of_order(void **state)
{
	struct textbuf tb = {0};
	char err[256];
	struct chap *c = chap_new(&mutual, NULL, 0);

	(void)state;
	assert_int_equal(chap_receive(c, "CHAP_C", "0x0102", err, sizeof(err)), -EPROTO);
	check_err(err, "CHAP_C before CHAP_A");
	assert_int_equal(chap_receive(c, "CHAP_I", "1", err, sizeof(err)), -EPROTO);
	check_err(err, "CHAP_I before CHAP_A");
	assert_int_equal(chap_receive(c, "CHAP_A", "5", err, sizeof(err)), 0);
	assert_int_equal(chap_respond(c, &tb, err, sizeof(err)), -EPROTO);
	check_err(err, "CHAP_I");
	assert_int_equal(chap_receive(c, "CHAP_I", "1", err, sizeof(err)), 0);
	assert_int_equal(chap_respond(c, &tb, err, sizeof(err)), -EPROTO);
	check_err(err, "CHAP_C");
	assert_int_equal(tb.len, 0);
	/* the target answers a challenge we have not sent yet */
	assert_int_equal(chap_receive(c, "CHAP_R", "0x0102", err, sizeof(err)), -EPROTO);
	check_err(err, "CHAP_R before we challenged it");
	assert_int_equal(chap_receive(c, "CHAP_N", TARGET_USER, err, sizeof(err)), -EPROTO);
	check_err(err, "CHAP_N before we challenged it");
	assert_int_equal(chap_verify(c, err, sizeof(err)), -EACCES);
	check_err(err, NULL);
	chap_free(c);

	/* one-way: the target has nothing to answer */
	c = chap_new(&one_way, NULL, 0);
	target_challenges(c, "5", "1", "0x0102");
	assert_int_equal(chap_respond(c, &tb, err, sizeof(err)), 0);
	assert_int_equal(chap_receive(c, "CHAP_R", "0x0102", err, sizeof(err)), -EPROTO);
	check_err(err, "did not ask it to authenticate");
	assert_int_equal(chap_receive(c, "CHAP_N", TARGET_USER, err, sizeof(err)), -EPROTO);
	check_err(err, "did not ask it to authenticate");
	textbuf_free(&tb);
	chap_free(c);
}

static void test_bad_challenge_and_id(void **state)
{
	static const char *bad_ids[] = {"256", "-1", "", "1a", "0x100", " 1", "0x"};
	static char big[2 + 2 * 1025 + 1];
	struct textbuf tb = {0};
	char err[256];
	struct chap *c;

	(void)state;
	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		c = chap_new(&one_way, NULL, 0);
		assert_int_equal(chap_receive(c, "CHAP_A", "5", err, sizeof(err)), 0);
		assert_int_equal(chap_receive(c, "CHAP_I", bad_ids[i], err, sizeof(err)), -EPROTO);
		check_err(err, "CHAP_I");
		chap_free(c);
	}
	c = chap_new(&one_way, NULL, 0);
	assert_int_equal(chap_receive(c, "CHAP_A", "5", err, sizeof(err)), 0);
	assert_int_equal(chap_receive(c, "CHAP_I", "0xff", err, sizeof(err)), 0);
	assert_int_equal(chap_receive(c, "CHAP_C", "0x", err, sizeof(err)), -EPROTO);
	check_err(err, "empty");
	assert_int_equal(chap_receive(c, "CHAP_C", "0b", err, sizeof(err)), -EPROTO);
	check_err(err, "empty");
	assert_int_equal(chap_receive(c, "CHAP_C", "0xq1q2q3q4", err, sizeof(err)), -EPROTO);
	check_err(err, "CHAP_C");
	assert_null(strstr(err, "q1q2q3q4"));
	memset(big, 'a', sizeof(big) - 1);
	big[0] = '0';
	big[1] = 'x';
	assert_int_equal(chap_receive(c, "CHAP_C", big, err, sizeof(err)), -EPROTO);
	check_err(err, "longer than 1024 bytes");
	assert_null(strstr(err, "aaaa"));
	/* exactly 1024 bytes is allowed */
	big[2 + 2 * 1024] = '\0';
	assert_int_equal(chap_receive(c, "CHAP_C", big, err, sizeof(err)), 0);
	assert_int_equal(chap_respond(c, &tb, err, sizeof(err)), 0);
	textbuf_free(&tb);
	chap_free(c);
}

/* err may be left out by a caller that only wants the code. */
static void test_no_err_buffer(void **state)
{
	struct chap *c = chap_new(&one_way, NULL, 0);

	(void)state;
	assert_int_equal(chap_receive(c, "CHAP_C", "0x01", NULL, 0), -EPROTO);
	assert_int_equal(chap_receive(c, "CHAP_A", "9", NULL, 0), -EPROTO);
	chap_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digest_len),
		cmocka_unit_test(test_compute_vectors),
		cmocka_unit_test(test_decode_hex),
		cmocka_unit_test(test_decode_base64),
		cmocka_unit_test(test_encode_hex),
		cmocka_unit_test(test_new_checks_its_input),
		cmocka_unit_test(test_one_way_exchange),
		cmocka_unit_test(test_mutual_exchange),
		cmocka_unit_test(test_mutual_challenges_differ),
		cmocka_unit_test(test_mutual_wrong_target_user),
		cmocka_unit_test(test_mutual_wrong_target_response),
		cmocka_unit_test(test_mutual_target_silent),
		cmocka_unit_test(test_reflected_challenge),
		cmocka_unit_test(test_same_secret_both_directions),
		cmocka_unit_test(test_algorithm_not_offered),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_keys_out_of_order),
		cmocka_unit_test(test_bad_challenge_and_id),
		cmocka_unit_test(test_no_err_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
