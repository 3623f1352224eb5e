/* iSNSP codec: requests byte for byte, and responses and SCNs as open-isns and RFC 4171
 * lay them out, plus the malformed ones a peer could send. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "isns.h"

/* A TLV in a test vector: tag, length, value. */
#define TLV(tag, len) 0, 0, 0, (tag), 0, 0, 0, (len)
#define U32(v) 0, 0, 0, (v)
#define V4MAPPED(a, b, c, d) 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, (a), (b), (c), (d)

static void test_query_request_bytes(void **state)
{
	static const uint8_t want[] = {
		0x00, 0x01, 0x00, 0x02, 0x00, 0x54, 0x8c, 0x00, 0x00, 0x07, 0x00, 0x00,
		TLV(32, 8), 'i', 'q', 'n', '.', 'x', ':', 'a', 0, /* source */
		TLV(33, 4), U32(1),                              /* key: node type target */
		TLV(0, 0),                                       /* delimiter */
		TLV(32, 0), TLV(33, 0), TLV(48, 0), TLV(49, 0), TLV(50, 0), TLV(51, 0),
	};
	struct isns_msg *m = malloc(sizeof(*m));

	(void)state;
	assert_non_null(m);
	isns_build_query_targets(m, 7, "iqn.x:a");
	assert_false(m->overflow);
	assert_int_equal(m->len, sizeof(want));
	assert_memory_equal(m->buf, want, sizeof(want));
	free(m);
}

static void test_registration_pads_and_replaces(void **state)
{
	static const uint8_t ip[16] = {V4MAPPED(127, 0, 0, 1)};
	static const uint8_t want_head[] = {
		0x00, 0x01, 0x00, 0x01, 0x00, 0x9c, 0x9c, 0x00, 0x00, 0x01, 0x00, 0x00,
		TLV(32, 8), 'i', 'q', 'n', '.', 'a', 0, 0, 0,       /* source, padded */
		TLV(1, 8), 'i', 'q', 'n', '.', 'a', 0, 0, 0,        /* key: entity */
		TLV(0, 0),
		TLV(1, 8), 'i', 'q', 'n', '.', 'a', 0, 0, 0,
		TLV(2, 4), U32(2),                                  /* iSCSI */
		TLV(16, 16), V4MAPPED(127, 0, 0, 1),
		TLV(17, 4), 0, 0, 0x0c, 0xbc,                       /* portal port 3260 */
		TLV(23, 4), 0, 0, 0x0c, 0xbc,                       /* SCN port */
		TLV(32, 8), 'i', 'q', 'n', '.', 'a', 0, 0, 0,
		TLV(33, 4), U32(2),                                 /* initiator */
		TLV(34, 4), 'h', 'o', 's', 0,                       /* alias */
	};
	struct isns_msg *m = malloc(sizeof(*m));

	(void)state;
	assert_non_null(m);
	isns_build_reg(m, 1, "iqn.a", "hos", "iqn.a", ip, 3260);
	assert_int_equal(m->len, sizeof(want_head));
	assert_memory_equal(m->buf, want_head, sizeof(want_head));
	/* Without an SCN port there is no portal at all. */
	isns_build_reg(m, 2, "iqn.a", "", "iqn.a", ip, 0);
	assert_int_equal(m->len, sizeof(want_head) - 24 - 12 - 12 - 12);
	free(m);
}

static void test_dereg_and_scn_rsp_bytes(void **state)
{
	static const uint8_t dereg[] = {
		0x00, 0x01, 0x00, 0x04, 0x00, 0x28, 0x8c, 0x00, 0x00, 0x03, 0x00, 0x00,
		TLV(32, 8), 'i', 'q', 'n', '.', 'a', 0, 0, 0,
		TLV(0, 0),
		TLV(1, 8), 'i', 'q', 'n', '.', 'a', 0, 0, 0,
	};
	static const uint8_t rsp[] = {
		0x00, 0x01, 0x80, 0x08, 0x00, 0x14, 0x8c, 0x00, 0x12, 0x34, 0x00, 0x00,
		U32(0),
		TLV(32, 8), 'i', 'q', 'n', '.', 'a', 0, 0, 0,
	};
	struct isns_msg *m = malloc(sizeof(*m));

	(void)state;
	assert_non_null(m);
	isns_build_dereg(m, 3, "iqn.a", "iqn.a");
	assert_int_equal(m->len, sizeof(dereg));
	assert_memory_equal(m->buf, dereg, sizeof(dereg));
	isns_build_scn_rsp(m, 0x1234, "iqn.a");
	assert_int_equal(m->len, sizeof(rsp));
	assert_memory_equal(m->buf, rsp, sizeof(rsp));
	free(m);
}

static void test_header_checks(void **state)
{
	uint8_t b[ISNS_HDR_LEN] = {0x00, 0x01, 0x80, 0x02, 0x00, 0x08, 0x4c, 0x00, 0x00, 0x07, 0, 0};
	struct isns_hdr h;
	char err[128];

	(void)state;
	assert_int_equal(isns_hdr_decode(b, sizeof(b), &h, err, sizeof(err)), 0);
	assert_int_equal(h.function, 0x8002);
	assert_int_equal(h.length, 8);
	assert_int_equal(h.xid, 7);
	assert_int_equal(isns_hdr_decode(b, 11, &h, err, sizeof(err)), -EPROTO);
	b[5] = 6; /* not a multiple of 4 */
	assert_int_equal(isns_hdr_decode(b, sizeof(b), &h, err, sizeof(err)), -EPROTO);
	b[5] = 8;
	b[1] = 2; /* version 2 */
	assert_int_equal(isns_hdr_decode(b, sizeof(b), &h, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "version 2"));
}

/* A DevAttrQryRsp as isnsd sends it: key echoed, delimiter, nodes, then portal groups. */
static const uint8_t query_rsp[] = {
	U32(0),
	TLV(33, 4), U32(1),
	TLV(0, 0),
	TLV(32, 8), 'i', 'q', 'n', '.', 't', '1', 0, 0,
	TLV(33, 4), U32(1),
	TLV(32, 8), 'i', 'q', 'n', '.', 'i', 0, 0, 0, /* an initiator: not listed */
	TLV(33, 4), U32(2),
	TLV(32, 8), 'i', 'q', 'n', '.', 't', '2', 0, 0, /* no portal group */
	TLV(33, 4), U32(1),
	TLV(48, 8), 'i', 'q', 'n', '.', 't', '1', 0, 0,
	TLV(49, 16), V4MAPPED(127, 0, 0, 1),
	TLV(50, 4), 0, 0, 0x0c, 0xbc,
	TLV(51, 4), U32(1),
	TLV(48, 8), 'i', 'q', 'n', '.', 't', '1', 0, 0, /* NULL tag: not to be used */
	TLV(49, 16), V4MAPPED(10, 0, 0, 9),
	TLV(50, 4), 0, 0, 0x0c, 0xbc,
	TLV(51, 0),
	TLV(48, 8), 'i', 'q', 'n', '.', 't', '1', 0, 0, /* IPv6 */
	TLV(49, 16), 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
	TLV(50, 4), 0, 0, 0x0c, 0xbd,
	TLV(51, 4), U32(2),
};

static void test_query_response(void **state)
{
	struct isns_target *l;
	char err[128];
	int n;

	(void)state;
	assert_int_equal(isns_decode_targets(query_rsp, sizeof(query_rsp), &l, &n, err,
					     sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_string_equal(l[0].name, "iqn.t1");
	assert_int_equal(l[0].nportals, 2);
	assert_string_equal(l[0].portals[0].addr, "127.0.0.1");
	assert_int_equal(l[0].portals[0].port, 3260);
	assert_string_equal(l[0].portals[1].addr, "[2001:db8::1]");
	assert_int_equal(l[0].portals[1].port, 3261);
	assert_string_equal(l[1].name, "iqn.t2");
	assert_int_equal(l[1].nportals, 0);
	free(l);
}

/* A DevAttrQryRsp captured from open-isns 0.101 isnsd (header included): two targets of one
 * tgtd entity, each followed by its portal group. */
static const uint8_t isnsd_query_rsp[] = {
	0x00, 0x01, 0x80, 0x02, 0x01, 0x58, 0x4c, 0x00, 0x00, 0x04, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x21, 0x00, 0x00, 0x00, 0x04,
	0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x28, 0x69, 0x71, 0x6e, 0x2e,
	0x32, 0x30, 0x32, 0x36, 0x2d, 0x31, 0x31, 0x2e, 0x6f, 0x72, 0x67, 0x2e,
	0x69, 0x73, 0x63, 0x73, 0x69, 0x66, 0x73, 0x2e, 0x74, 0x65, 0x73, 0x74,
	0x3a, 0x69, 0x73, 0x6e, 0x73, 0x2d, 0x66, 0x69, 0x72, 0x73, 0x74, 0x00,
	0x00, 0x00, 0x00, 0x21, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01,
	0x00, 0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0x28, 0x69, 0x71, 0x6e, 0x2e,
	0x32, 0x30, 0x32, 0x36, 0x2d, 0x31, 0x31, 0x2e, 0x6f, 0x72, 0x67, 0x2e,
	0x69, 0x73, 0x63, 0x73, 0x69, 0x66, 0x73, 0x2e, 0x74, 0x65, 0x73, 0x74,
	0x3a, 0x69, 0x73, 0x6e, 0x73, 0x2d, 0x66, 0x69, 0x72, 0x73, 0x74, 0x00,
	0x00, 0x00, 0x00, 0x31, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x7f, 0x00, 0x00, 0x01,
	0x00, 0x00, 0x00, 0x32, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x0c, 0xbc,
	0x00, 0x00, 0x00, 0x33, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01,
	0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x2c, 0x69, 0x71, 0x6e, 0x2e,
	0x32, 0x30, 0x32, 0x36, 0x2d, 0x31, 0x31, 0x2e, 0x6f, 0x72, 0x67, 0x2e,
	0x69, 0x73, 0x63, 0x73, 0x69, 0x66, 0x73, 0x2e, 0x74, 0x65, 0x73, 0x74,
	0x3a, 0x69, 0x73, 0x6e, 0x73, 0x2d, 0x73, 0x65, 0x63, 0x6f, 0x6e, 0x64,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x21, 0x00, 0x00, 0x00, 0x04,
	0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0x2c,
	0x69, 0x71, 0x6e, 0x2e, 0x32, 0x30, 0x32, 0x36, 0x2d, 0x31, 0x31, 0x2e,
	0x6f, 0x72, 0x67, 0x2e, 0x69, 0x73, 0x63, 0x73, 0x69, 0x66, 0x73, 0x2e,
	0x74, 0x65, 0x73, 0x74, 0x3a, 0x69, 0x73, 0x6e, 0x73, 0x2d, 0x73, 0x65,
	0x63, 0x6f, 0x6e, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x31,
	0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0xff, 0xff, 0x7f, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x32,
	0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x0c, 0xbc, 0x00, 0x00, 0x00, 0x33,
	0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01,
};

static void test_query_response_from_isnsd(void **state)
{
	struct isns_target *l;
	struct isns_hdr h;
	char err[128];
	int n;

	(void)state;
	assert_int_equal(isns_hdr_decode(isnsd_query_rsp, sizeof(isnsd_query_rsp), &h, err,
					 sizeof(err)), 0);
	assert_int_equal(h.function, 0x8002);
	assert_int_equal(h.length, sizeof(isnsd_query_rsp) - ISNS_HDR_LEN);
	assert_int_equal(isns_decode_targets(isnsd_query_rsp + ISNS_HDR_LEN, h.length, &l, &n, err,
					     sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_string_equal(l[0].name, "iqn.2026-11.org.iscsifs.test:isns-first");
	assert_string_equal(l[1].name, "iqn.2026-11.org.iscsifs.test:isns-second");
	for (int i = 0; i < 2; i++) {
		assert_int_equal(l[i].nportals, 1);
		assert_string_equal(l[i].portals[0].addr, "127.0.0.1");
		assert_int_equal(l[i].portals[0].port, 3260);
	}
	free(l);
}

static void test_query_response_malformed(void **state)
{
	uint8_t b[sizeof(query_rsp)];
	struct isns_target *l;
	char err[128];
	int n;

	(void)state;
	/* Every truncation either decodes or is refused; none reads past the end. */
	for (size_t len = 0; len < sizeof(query_rsp); len++) {
		uint8_t *copy = malloc(len ? len : 1);
		int r;

		memcpy(copy, query_rsp, len);
		r = isns_decode_targets(copy, len, &l, &n, err, sizeof(err));
		assert_true(r == 0 || r == -EPROTO);
		if (r == 0)
			free(l);
		free(copy);
	}
	/* Offsets: status 0, key 4, delimiter 16, first name 24 (length at 28, value at 32),
	 * first portal group address 124 (length at 128). */
	memcpy(b, query_rsp, sizeof(b));
	b[28] = 0xff; /* a length past the payload */
	assert_int_equal(isns_decode_targets(b, sizeof(b), &l, &n, err, sizeof(err)), -EPROTO);
	memcpy(b, query_rsp, sizeof(b));
	b[38] = b[39] = 'x'; /* a name without its NUL */
	assert_int_equal(isns_decode_targets(b, sizeof(b), &l, &n, err, sizeof(err)), -EPROTO);
	memcpy(b, query_rsp, sizeof(b));
	assert_int_equal(b[124 + 3], 49);
	b[128 + 3] = 4; /* an address of 4 bytes */
	assert_int_equal(isns_decode_targets(b, sizeof(b), &l, &n, err, sizeof(err)), -EPROTO);
}

static void test_scn_both_orders(void **state)
{
	/* open-isns: destination, timestamp, bitmap, name. */
	static const uint8_t isnsd[] = {
		TLV(32, 8), 'i', 'q', 'n', '.', 'i', 0, 0, 0,
		TLV(4, 8), 0, 0, 0, 0, 0x69, 0x2d, 0x00, 0x00,
		TLV(35, 4), U32(0x0c),
		TLV(32, 8), 'i', 'q', 'n', '.', 't', '2', 0, 0,
	};
	/* RFC 4171 5.6.5.8: name, then bitmap. */
	static const uint8_t rfc[] = {
		TLV(32, 8), 'i', 'q', 'n', '.', 'i', 0, 0, 0,
		TLV(4, 8), 0, 0, 0, 0, 0x69, 0x2d, 0x00, 0x00,
		TLV(32, 8), 'i', 'q', 'n', '.', 't', '2', 0, 0,
		TLV(35, 4), U32(0x10),
	};
	struct isns_scn scn;
	char err[128], bits[128];

	(void)state;
	assert_int_equal(isns_decode_scn(isnsd, sizeof(isnsd), &scn, err, sizeof(err)), 0);
	assert_string_equal(scn.dest, "iqn.i");
	assert_int_equal(scn.nnodes, 1);
	assert_string_equal(scn.nodes[0], "iqn.t2");
	assert_int_equal(scn.bits[0], ISNS_SCN_OBJECT_ADDED | ISNS_SCN_OBJECT_UPDATED);
	isns_scn_bits_str(scn.bits[0], bits, sizeof(bits));
	assert_string_equal(bits, "object added, object updated");
	assert_int_equal(isns_decode_scn(rfc, sizeof(rfc), &scn, err, sizeof(err)), 0);
	assert_int_equal(scn.nnodes, 1);
	assert_int_equal(scn.bits[0], ISNS_SCN_OBJECT_REMOVED);
	/* No destination first: refused. */
	assert_int_equal(isns_decode_scn(isnsd + 16, sizeof(isnsd) - 16, &scn, err, sizeof(err)),
			 -EPROTO);
	assert_int_equal(isns_decode_scn(isnsd, 0, &scn, err, sizeof(err)), -EPROTO);
}

static void test_status_words(void **state)
{
	uint8_t p[4] = {0, 0, 0, 6};
	uint32_t st;
	char err[64];

	(void)state;
	assert_int_equal(isns_rsp_status(p, sizeof(p), &st, err, sizeof(err)), 0);
	assert_string_equal(isns_status_str(st), "source unknown");
	assert_string_equal(isns_status_str(1000), "unknown status");
	assert_int_equal(isns_rsp_status(p, 3, &st, err, sizeof(err)), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_request_bytes),
		cmocka_unit_test(test_registration_pads_and_replaces),
		cmocka_unit_test(test_dereg_and_scn_rsp_bytes),
		cmocka_unit_test(test_header_checks),
		cmocka_unit_test(test_query_response),
		cmocka_unit_test(test_query_response_from_isnsd),
		cmocka_unit_test(test_query_response_malformed),
		cmocka_unit_test(test_scn_both_orders),
		cmocka_unit_test(test_status_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
