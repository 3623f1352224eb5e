/* CHAP for the iSCSI security stage (RFC 7143 12.1.3, RFC 1994), one-way and mutual.
 * Pure protocol logic over key/value pairs: no sockets, no logging, never a secret in err. */
#ifndef ISCSIFS_CHAP_H
#define ISCSIFS_CHAP_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"

/* CHAP_A algorithm numbers (IANA "PPP Authentication Algorithms"). */
enum chap_alg {
	CHAP_ALG_MD5 = 5,
	CHAP_ALG_SHA1 = 6,
	CHAP_ALG_SHA256 = 7,
	CHAP_ALG_SHA3_256 = 8,
};

struct chap_secrets {
	const char *user, *secret;               /* ours, to answer the target's challenge */
	int mutual;
	const char *target_user, *target_secret; /* the target's, to check its answer (mutual) */
};

/* Digest length of an algorithm, 0 when unknown. */
size_t chap_digest_len(int alg);
/* response = H(id || secret || challenge) through OpenSSL EVP. 0 or -EINVAL/-EIO. */
int chap_compute(int alg, uint8_t id, const uint8_t *secret, size_t secret_len,
		 const uint8_t *challenge, size_t challenge_len, uint8_t *out, size_t *out_len);
/* CHAP binary values: "0x" hex or "0b" base64 (RFC 7143 6.1). 0 or -EINVAL. */
int chap_decode(const char *s, uint8_t *out, size_t max, size_t *len);
/* "0x" + lower-case hex; -ENOSPC when out is too small. */
int chap_encode_hex(const uint8_t *b, size_t n, char *out, size_t outlen);

struct chap;

/* algs: the CHAP_A values to offer, in order of preference. */
struct chap *chap_new(const struct chap_secrets *s, const int *algs, int nalgs);
void chap_free(struct chap *c); /* wipes secrets and challenges */

/* Our CHAP_A offer, e.g. "8,7,6,5". */
const char *chap_algorithms(const struct chap *c);
/* One key from the target (CHAP_A, CHAP_I, CHAP_C, CHAP_N, CHAP_R); other keys -> 1 (not ours).
 * Errors (-EPROTO/-EACCES) say what is wrong without any secret. */
int chap_receive(struct chap *c, const char *key, const char *value, char *err, size_t errlen);
/* Once CHAP_A, CHAP_I and CHAP_C are in: append CHAP_N and CHAP_R (and, mutual, our own CHAP_I
 * and a random CHAP_C of 16+ bytes from RAND_bytes) to out. Refuses a target challenge that
 * equals a challenge we sent (reflection). */
int chap_respond(struct chap *c, struct textbuf *out, char *err, size_t errlen);
/* Mutual: after the target's CHAP_N/CHAP_R arrived, check them. 0 or -EACCES with the reason
 * ("target answered with the wrong user name", "target's CHAP response is wrong", ...). */
int chap_verify(struct chap *c, char *err, size_t errlen);
/* Which algorithm the target chose (0 before CHAP_A arrived). */
int chap_chosen_alg(const struct chap *c);

#endif
