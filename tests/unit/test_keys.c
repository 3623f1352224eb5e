/* Key table, value checks and negotiation rules. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "keys.h"

static void test_lookup(void **state)
{
	(void)state;
	assert_int_equal(key_lookup("MaxRecvDataSegmentLength"), K_MAX_RECV_DSL);
	assert_int_equal(key_lookup("HeaderDigest"), K_HEADER_DIGEST);
	assert_int_equal(key_lookup("maxrecvdatasegmentlength"), -1); /* case matters */
	assert_int_equal(key_lookup("X-com.example.Foo"), -1);
}

static void test_check_values(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(key_check_value(K_MAX_RECV_DSL, "8192", err, sizeof(err)), 0);
	assert_int_equal(key_check_value(K_MAX_RECV_DSL, "0x2000", err, sizeof(err)), 0);
	assert_int_equal(key_check_value(K_MAX_RECV_DSL, "511", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "out of range"));
	assert_int_equal(key_check_value(K_MAX_RECV_DSL, "16777216", err, sizeof(err)), -EINVAL);
	assert_int_equal(key_check_value(K_MAX_RECV_DSL, "12k", err, sizeof(err)), -EINVAL);
	assert_int_equal(key_check_value(K_IMMEDIATE_DATA, "Yes", err, sizeof(err)), 0);
	assert_int_equal(key_check_value(K_IMMEDIATE_DATA, "yes", err, sizeof(err)), -EINVAL);
	assert_int_equal(key_check_value(K_AUTH_METHOD, "CHAP,None", err, sizeof(err)), 0);
	assert_int_equal(key_check_value(K_AUTH_METHOD, "KRB5", err, sizeof(err)), -EINVAL);
	assert_int_equal(key_check_value(K_AUTH_METHOD, "CHAP,", err, sizeof(err)), -EINVAL);
	assert_int_equal(key_check_value(K_ERROR_RECOVERY_LEVEL, "3", err, sizeof(err)), -EINVAL);
	assert_int_equal(key_check_value(K_HEADER_DIGEST, "CRC32C,None", err, sizeof(err)), 0);
}

static struct negotiation *neg_new(void)
{
	static struct negotiation n;

	key_set_free(&n.offered);
	key_set_free(&n.answered);
	key_set_free(&n.reply);
	memset(&n, 0, sizeof(n));
	return &n;
}

static void test_numeric_min(void **state)
{
	struct negotiation *n = neg_new();
	struct iscsi_params p;
	char err[256];

	(void)state;
	key_set_put(&n->offered, K_MAX_BURST_LENGTH, "1048576");
	key_set_put(&n->offered, K_FIRST_BURST_LENGTH, "65536");
	assert_int_equal(negotiate_receive(n, "MaxBurstLength", "262144", err, sizeof(err)), 0);
	/* Answering more than offered breaks the min rule. */
	assert_int_equal(negotiate_receive(n, "FirstBurstLength", "131072", err, sizeof(err)),
			 -EPROTO);
	assert_int_equal(negotiate_receive(n, "FirstBurstLength", "65536", err, sizeof(err)), 0);
	assert_int_equal(negotiate_receive(n, "MaxRecvDataSegmentLength", "8192", err, sizeof(err)),
			 0);
	assert_int_equal(negotiate_result(n, &p, err, sizeof(err)), 0);
	assert_int_equal(p.max_burst_length, 262144);
	assert_int_equal(p.first_burst_length, 65536);
	assert_int_equal(p.max_xmit_dsl, 8192);
}

static void test_boolean_rules(void **state)
{
	struct negotiation *n = neg_new();
	struct iscsi_params p;
	char err[256];

	(void)state;
	key_set_put(&n->offered, K_INITIAL_R2T, "No");
	key_set_put(&n->offered, K_IMMEDIATE_DATA, "No");
	/* OR: the target may turn our No into Yes. AND: it may not turn No into Yes. */
	assert_int_equal(negotiate_receive(n, "InitialR2T", "Yes", err, sizeof(err)), 0);
	assert_int_equal(negotiate_receive(n, "ImmediateData", "Yes", err, sizeof(err)), -EPROTO);
	assert_int_equal(negotiate_receive(n, "ImmediateData", "No", err, sizeof(err)), 0);
	assert_int_equal(negotiate_result(n, &p, err, sizeof(err)), 0);
	assert_int_equal(p.initial_r2t, 1);
	assert_int_equal(p.immediate_data, 0);
}

static void test_list_and_target_offer(void **state)
{
	struct negotiation *n = neg_new();
	struct iscsi_params p;
	char err[256];

	(void)state;
	key_set_put(&n->offered, K_HEADER_DIGEST, "None");
	assert_int_equal(negotiate_receive(n, "HeaderDigest", "CRC32C", err, sizeof(err)), -EPROTO);
	assert_int_equal(negotiate_receive(n, "HeaderDigest", "None", err, sizeof(err)), 0);
	/* A key the target offers first gets an answer by the same rules. */
	assert_int_equal(negotiate_receive(n, "MaxOutstandingR2T", "4", err, sizeof(err)), 0);
	assert_string_equal(key_set_get(&n->reply, K_MAX_OUTSTANDING_R2T), "1");
	assert_int_equal(negotiate_receive(n, "DefaultTime2Wait", "5", err, sizeof(err)), 0);
	assert_string_equal(key_set_get(&n->reply, K_DEFAULT_TIME2WAIT), "5");
	/* Unknown keys are answered NotUnderstood by the caller. */
	assert_int_equal(negotiate_receive(n, "X-vendor.Key", "1", err, sizeof(err)), 1);
	assert_int_equal(negotiate_result(n, &p, err, sizeof(err)), 0);
	assert_int_equal(p.header_digest, 0);
	assert_int_equal(p.max_outstanding_r2t, 1);
	assert_int_equal(p.default_time2wait, 5);
}

static void test_out_of_range_answer(void **state)
{
	struct negotiation *n = neg_new();
	char err[256];

	(void)state;
	key_set_put(&n->offered, K_MAX_BURST_LENGTH, "262144");
	assert_int_equal(negotiate_receive(n, "MaxBurstLength", "100", err, sizeof(err)), -EPROTO);
	assert_int_equal(negotiate_receive(n, "MaxRecvDataSegmentLength", "99999999", err,
					   sizeof(err)),
			 -EPROTO);
	assert_non_null(strstr(err, "MaxRecvDataSegmentLength"));
}

static int collect(const char *k, const char *v, void *arg)
{
	int *count = arg;

	(*count)++;
	if (*count == 1) {
		assert_string_equal(k, "TargetName");
		assert_string_equal(v, "iqn.2026-11.org.example:a");
	}
	return 0;
}

static void test_text_codec(void **state)
{
	struct textbuf tb = {0};
	int count = 0;
	static const char bad[] = "NoEquals\0";

	(void)state;
	assert_int_equal(textbuf_add(&tb, "TargetName", "iqn.2026-11.org.example:a"), 0);
	assert_int_equal(textbuf_add(&tb, "TargetAddress", "127.0.0.1:3260,1"), 0);
	assert_int_equal(text_foreach(tb.data, tb.len, collect, &count), 0);
	assert_int_equal(count, 2);
	assert_int_equal(text_foreach(bad, sizeof(bad) - 1, collect, &count), -EPROTO);
	textbuf_free(&tb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_check_values),
		cmocka_unit_test(test_numeric_min),
		cmocka_unit_test(test_boolean_rules),
		cmocka_unit_test(test_list_and_target_offer),
		cmocka_unit_test(test_out_of_range_answer),
		cmocka_unit_test(test_text_codec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
