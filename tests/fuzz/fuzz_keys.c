/* libFuzzer harness for login and text key handling: the "k=v\0" walker, the check of each value
 * against the key table, and the negotiation over what the target answers.
 * Input: 12 header bytes, then a received text segment. Header byte 0 bit 0: a discovery session;
 * bytes 1..4: which keys of the table we offered (bit i = key i); bytes 5..11: two bits per key
 * choosing which of four valid values we offered for it. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

#define HDR_LEN 12
#define U24 ((1u << 24) - 1)
#define ERR_LEN 256

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "fuzz_keys: check failed: %s (line %d)\n", #cond, \
				__LINE__);                                                 \
			abort();                                                           \
		}                                                                          \
	} while (0)

struct run {
	struct negotiation n;
	struct textbuf echo; /* every pair seen, encoded again */
	size_t pairs, bytes;
};

static void check_err(const char *err)
{
	CHECK(memchr(err, '\0', ERR_LEN) != NULL);
}

/* The idx-th of four valid values of key id, as we could offer it. */
static void offer_value(int id, unsigned idx, char *out, size_t outlen)
{
	const struct key_def *k = &key_table[id];
	const char *comma;

	switch (k->type) {
	case KEY_LIST:
		if (idx == 0 || !k->allowed) {
			snprintf(out, outlen, "%s", k->allowed ? k->allowed : k->dflt);
		} else if (idx == 1) {
			comma = strchr(k->allowed, ',');
			snprintf(out, outlen, "%.*s",
				 (int)(comma ? (size_t)(comma - k->allowed) : strlen(k->allowed)),
				 k->allowed);
		} else if (idx == 2) {
			comma = strrchr(k->allowed, ',');
			snprintf(out, outlen, "%s", comma ? comma + 1 : k->allowed);
		} else {
			snprintf(out, outlen, "%s", k->dflt ? k->dflt : k->allowed);
		}
		return;
	case KEY_BOOL_AND:
	case KEY_BOOL_OR:
		snprintf(out, outlen, "%s", idx & 1 ? "No" : "Yes");
		return;
	case KEY_NUM_MIN:
	case KEY_NUM_MAX:
	case KEY_DECL_NUM:
		if (idx == 0 && k->dflt)
			snprintf(out, outlen, "%s", k->dflt);
		else if (idx <= 1)
			snprintf(out, outlen, "%u", k->min);
		else if (idx == 2)
			snprintf(out, outlen, "%u", k->max);
		else
			snprintf(out, outlen, "0x%x", k->min + (k->max - k->min) / 2);
		return;
	case KEY_DECL:
		if (k->allowed)
			snprintf(out, outlen, "%s", idx & 1 ? "Discovery" : "Normal");
		else if (id == K_SEND_TARGETS)
			snprintf(out, outlen, "All");
		else
			snprintf(out, outlen, "iqn.2026-11.org.iscsifs:fuzz%u", idx);
		return;
	}
	snprintf(out, outlen, "?");
}

/* Our replies to the target's offers must be values the key allows, or Reject. */
static void check_replies(const struct negotiation *n)
{
	char err[ERR_LEN];

	for (int id = 0; id < K_COUNT; id++) {
		const char *r = key_set_get(&n->reply, id);

		if (!r || strcmp(r, "Reject") == 0)
			continue;
		if (key_check_value(id, r, err, sizeof(err)) != 0) {
			fprintf(stderr, "fuzz_keys: our reply %s=%s is not valid: %s\n",
				key_table[id].name, r, err);
			abort();
		}
	}
}

static int on_pair(const char *key, const char *value, void *arg)
{
	struct run *run = arg;
	char err[ERR_LEN];
	int id, rc;

	CHECK(key[0] != '\0' && strchr(key, '=') == NULL);
	run->pairs++;
	run->bytes += strlen(key) + 1 + strlen(value);
	CHECK(textbuf_add(&run->echo, key, value) == 0);

	id = key_lookup(key);
	CHECK(id >= -1 && id < K_COUNT);
	err[0] = '\0';
	rc = key_check_value(id, value, err, sizeof(err));
	check_err(err);
	CHECK(rc == 0 || rc == -EINVAL);
	CHECK(id >= 0 || rc == -EINVAL);

	err[0] = '\0';
	rc = negotiate_receive(&run->n, key, value, err, sizeof(err));
	check_err(err);
	CHECK(rc == 0 || rc == 1 || rc == -EPROTO);
	CHECK((rc == 1) == (id < 0));
	if (rc == -EPROTO)
		CHECK(err[0] != '\0');
	if (rc == 0) {
		const char *a = key_set_get(&run->n.answered, id);

		CHECK(a && strcmp(a, value) == 0);
	}
	check_replies(&run->n);
	/* Go on after an error: every pair is a fresh chance to break the state. */
	return 0;
}

static int count_pair(const char *key, const char *value, void *arg)
{
	size_t *c = arg;

	c[0]++;
	c[1] += strlen(key) + 1 + strlen(value);
	return 0;
}

static void check_result(const struct negotiation *n)
{
	struct iscsi_params p;
	char err[ERR_LEN];
	int rc;

	err[0] = '\0';
	rc = negotiate_result(n, &p, err, sizeof(err));
	check_err(err);
	CHECK(rc == 0 || rc == -EPROTO);
	if (rc < 0) {
		CHECK(err[0] != '\0');
		return;
	}
	/* Whatever the target said, the numbers the session sizes its buffers and timers by stay
	 * in the key table's ranges. */
	CHECK(p.header_digest == 0 || p.header_digest == 1);
	CHECK(p.data_digest == 0 || p.data_digest == 1);
	CHECK(p.max_recv_dsl >= 512 && p.max_recv_dsl <= U24);
	CHECK(p.max_xmit_dsl >= 512 && p.max_xmit_dsl <= U24);
	CHECK(p.max_burst_length >= 512 && p.max_burst_length <= U24);
	CHECK(p.first_burst_length >= 512 && p.first_burst_length <= p.max_burst_length);
	CHECK(p.max_connections >= 1 && p.max_connections <= 65535);
	CHECK(p.max_outstanding_r2t >= 1 && p.max_outstanding_r2t <= 65535);
	CHECK(p.default_time2wait <= 3600 && p.default_time2retain <= 3600);
	CHECK(p.error_recovery_level <= 2);
	CHECK(p.protocol_level <= 31);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t hdr[HDR_LEN] = {0};
	uint32_t mask;
	uint64_t sel = 0;
	struct run run;
	size_t again[2] = {0, 0};
	int rc;

	if (size)
		memcpy(hdr, data, size < HDR_LEN ? size : HDR_LEN);
	mask = (uint32_t)hdr[1] << 24 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 8 | hdr[4];
	for (int i = 5; i < HDR_LEN; i++)
		sel = sel << 8 | hdr[i];

	memset(&run, 0, sizeof(run));
	key_set_init(&run.n.offered);
	key_set_init(&run.n.answered);
	key_set_init(&run.n.reply);
	run.n.discovery = hdr[0] & 1;
	for (int id = 0; id < K_COUNT; id++) {
		char v[64], err[ERR_LEN];

		if (!(mask & (1u << id)))
			continue;
		offer_value(id, (unsigned)(sel >> (2 * id)) & 3, v, sizeof(v));
		if (key_check_value(id, v, err, sizeof(err)) != 0) {
			fprintf(stderr, "fuzz_keys: harness offers a bad value %s=%s: %s\n",
				key_table[id].name, v, err);
			abort();
		}
		CHECK(key_set_put(&run.n.offered, id, v) == 0);
	}

	if (size > HDR_LEN) {
		rc = text_foreach((const char *)data + HDR_LEN, size - HDR_LEN, on_pair, &run);
		CHECK(rc == 0 || rc == -EPROTO);
	}
	check_result(&run.n);

	/* What we encode from the pairs reads back as the same pairs. */
	rc = text_foreach(run.echo.data, run.echo.len, count_pair, again);
	CHECK(rc == 0 && again[0] == run.pairs && again[1] == run.bytes);

	textbuf_free(&run.echo);
	key_set_free(&run.n.offered);
	key_set_free(&run.n.answered);
	key_set_free(&run.n.reply);
	return 0;
}
