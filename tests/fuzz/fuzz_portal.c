/* libFuzzer harness for names and addresses as administrators and targets write them. Input
 * byte 0 picks the parser (modulo 3): a host (CHANNEL's address, ISNS), a TargetAddress value
 * (SendTargets answers, login redirects) or an iSCSI name; the rest is the text.
 * Beyond memory errors, a finding is a broken promise: a host's written form parses again to
 * itself and of the same kind, "host:port" of a parsed TargetAddress parses back to the same
 * host and port, and a valid iSCSI name has a normal form that is itself valid, equal to it,
 * and its own normal form. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iname.h"
#include "portal.h"

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "fuzz_portal: check failed: %s (line %d)\n", #cond, \
				__LINE__);                                                 \
			abort();                                                           \
		}                                                                          \
	} while (0)

static void one_host(const char *text)
{
	char host[PORTAL_HOST_MAX], again[PORTAL_HOST_MAX], err[512], zone[32];
	enum portal_kind kind, kind2;

	err[0] = '\0';
	if (portal_host_parse(text, host, sizeof(host), &kind, err, sizeof(err)) < 0) {
		CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)));
		return;
	}
	CHECK(host[0] != '\0' && strlen(host) < sizeof(host));
	CHECK(portal_host_kind(host) == kind);
	CHECK(portal_host_parse(host, again, sizeof(again), &kind2, err, sizeof(err)) == 0);
	CHECK(strcmp(host, again) == 0 && kind2 == kind);
	CHECK(!strchr(host, ' ') && !strchr(host, '/'));
	if (portal_host_zone(host, zone, sizeof(zone)) == 0)
		CHECK(zone[0] == '\0');
}

static void one_target_address(const char *text)
{
	struct portal_addr pa, back;
	char shown[PORTAL_STR_MAX], err[512];

	if (portal_parse_target_address(text, 3260, &pa, err, sizeof(err)) < 0)
		return;
	CHECK(pa.port >= 1 && pa.tpgt >= -1 && pa.tpgt <= 65535);
	portal_format(pa.host, pa.port, shown, sizeof(shown));
	CHECK(portal_parse_target_address(shown, 1, &back, err, sizeof(err)) == 0);
	CHECK(strcmp(back.host, pa.host) == 0 && back.port == pa.port && back.tpgt == -1);
}

static void one_name(const char *text)
{
	char norm[INAME_MAX + 1], norm2[INAME_MAX + 1], err[512];

	if (iscsi_name_check(text, err, sizeof(err)) < 0) {
		CHECK(err[0] != '\0');
		return;
	}
	CHECK(strlen(text) <= INAME_MAX && !strchr(text, '/'));
	CHECK(iscsi_name_normalize(text, norm, sizeof(norm)) == 0);
	CHECK(iscsi_name_check(norm, err, sizeof(err)) == 0);
	CHECK(iscsi_name_normalize(norm, norm2, sizeof(norm2)) == 0 && strcmp(norm, norm2) == 0);
	CHECK(iscsi_name_equal(text, norm) && iscsi_name_equal(norm, text));
	CHECK(strncmp(norm, "iqn.", 4) == 0 || strncmp(norm, "eui.", 4) == 0 ||
	      strncmp(norm, "naa.", 4) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (size == 0 || size > 4096)
		return 0;
	text = malloc(size);
	CHECK(text != NULL);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	switch (data[0] % 3) {
	case 0:
		one_host(text);
		break;
	case 1:
		one_target_address(text);
		break;
	default:
		one_name(text);
		break;
	}
	free(text);
	return 0;
}
