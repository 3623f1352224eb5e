/* libFuzzer harness for what an iSNS server sends: the header decoder, the DevAttrQry response
 * decoder and the SCN decoder, all fed the same input (12 header bytes, then the payload). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isns.h"

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "fuzz_isns: check failed: %s (line %d)\n", #cond, \
				__LINE__);                                                 \
			abort();                                                           \
		}                                                                          \
	} while (0)

static void check_str(const char *s, size_t size)
{
	CHECK(memchr(s, '\0', size) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct isns_target *l = NULL;
	struct isns_scn scn;
	struct isns_hdr h;
	char err[160], bits[160];
	const uint8_t *p = data;
	uint8_t *copy;
	size_t len = size;
	int n = -1, r;

	if (size > ISNS_HDR_LEN + ISNS_PAYLOAD_MAX)
		return 0;
	memset(err, 'x', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	r = isns_hdr_decode(data, size, &h, err, sizeof(err));
	CHECK(r == 0 || r == -EPROTO);
	check_str(err, sizeof(err));
	if (r == 0) {
		CHECK(h.length % 4 == 0 && h.version == 1);
		p = data + ISNS_HDR_LEN;
		len = size - ISNS_HDR_LEN;
	}
	/* An exact-size copy, so that ASan sees any read past the payload. */
	copy = malloc(len ? len : 1);
	if (!copy)
		return 0;
	memcpy(copy, p, len);

	r = isns_decode_targets(copy, len, &l, &n, err, sizeof(err));
	CHECK(r == 0 || r == -EPROTO || r == -ENOMEM);
	check_str(err, sizeof(err));
	if (r == 0) {
		CHECK(n >= 0 && n <= ISNS_MAX_TARGETS);
		for (int i = 0; i < n; i++) {
			check_str(l[i].name, sizeof(l[i].name));
			CHECK(l[i].name[0] != '\0');
			CHECK(l[i].nportals >= 0 && l[i].nportals <= ISNS_MAX_PORTALS);
			for (int k = 0; k < l[i].nportals; k++) {
				check_str(l[i].portals[k].addr, sizeof(l[i].portals[k].addr));
				CHECK(l[i].portals[k].port != 0);
			}
			for (int k = 0; k < i; k++)
				CHECK(strcmp(l[k].name, l[i].name) != 0);
		}
		free(l);
	} else {
		CHECK(l == NULL);
	}

	r = isns_decode_scn(copy, len, &scn, err, sizeof(err));
	CHECK(r == 0 || r == -EPROTO);
	check_str(err, sizeof(err));
	if (r == 0) {
		check_str(scn.dest, sizeof(scn.dest));
		CHECK(scn.nnodes >= 0 && scn.nnodes <= ISNS_SCN_MAX_NODES);
		for (int i = 0; i < scn.nnodes; i++) {
			check_str(scn.nodes[i], sizeof(scn.nodes[i]));
			isns_scn_bits_str(scn.bits[i], bits, sizeof(bits));
			check_str(bits, sizeof(bits));
		}
	}
	free(copy);
	return 0;
}
