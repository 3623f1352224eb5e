/* Portals: hosts as written (IPv4, IPv6 with zones, host names), TargetAddress values as
 * targets send them (RFC 7143 13.8), the written form, and connecting to listeners of this
 * test's own on 127.0.0.1 and ::1. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "portal.h"

static void test_hosts_good(void **state)
{
	static const struct {
		const char *word, *host;
		enum portal_kind kind;
	} good[] = {
		{"192.168.0.1", "192.168.0.1", PORTAL_IPV4},
		{"127.0.0.1", "127.0.0.1", PORTAL_IPV4},
		{"::1", "[::1]", PORTAL_IPV6},
		{"[::1]", "[::1]", PORTAL_IPV6},
		{"fd00::10", "[fd00::10]", PORTAL_IPV6},
		{"FD00:0000:0:0::0010", "[fd00::10]", PORTAL_IPV6},
		{"fe80::1%eth1", "[fe80::1%eth1]", PORTAL_IPV6},
		{"[fe80::1%eth1]", "[fe80::1%eth1]", PORTAL_IPV6},
		{"fe80::1", "[fe80::1]", PORTAL_IPV6},
		{"::ffff:192.0.2.1", "[::ffff:192.0.2.1]", PORTAL_IPV6},
		{"storage", "storage", PORTAL_NAME},
		{"Storage.Example.COM", "Storage.Example.COM", PORTAL_NAME},
		{"san-1.example.", "san-1.example.", PORTAL_NAME},
		{"a_b.example", "a_b.example", PORTAL_NAME},
		{"1.2.3.example", "1.2.3.example", PORTAL_NAME},
		{"3com.example", "3com.example", PORTAL_NAME},
	};
	char host[PORTAL_HOST_MAX], err[256];
	enum portal_kind kind;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (portal_host_parse(good[i].word, host, sizeof(host), &kind, err, sizeof(err)))
			fail_msg("%s: %s", good[i].word, err);
		assert_string_equal(host, good[i].host);
		assert_int_equal(kind, good[i].kind);
		assert_int_equal(portal_host_kind(host), good[i].kind);
	}
}

static void test_hosts_bad(void **state)
{
	static const struct {
		const char *word, *reason;
	} bad[] = {
		{"", "empty address"},
		{"300.1.1.1", "'300.1.1.1' is not an IPv4 address: 300 is larger than 255"},
		{"1.2.3", "it has 3 numbers, an address has 4"},
		{"3232235521", "'3232235521' is a number, not an address (an IPv4 address is written "
				"a.b.c.d)"},
		{"192.168.0.01", "(no leading zeros)"},
		{"1.2.3.4:3260", "'1.2.3.4:3260' holds a port: give the address alone"},
		{"[::1]:3260", "'[::1]:3260' holds a port"},
		{"[::1", "no ']' after the IPv6 address"},
		{"[::1]x", "nothing may follow ']'"},
		{"[storage]", "'[storage]' is not an IPv6 address"},
		{"fd00::1::2", "'fd00::1::2' is not an IPv6 address"},
		{"fd00::1%eth0", "only a link-local address (fe80::/10) takes a zone"},
		{"fe80::1%", "the zone after '%' must be a network device name"},
		{"fe80::1%a/b", "the zone after '%' must be a network device name"},
		{"fe80::1%averyverylongname", "at most 15 characters"},
		{"storage.example.123", "its last label is a number"},
		{"a..b", "empty label"},
		{".a", "empty label"},
		{"-a.example", "a label starts or ends with '-'"},
		{"a-.example", "a label starts or ends with '-'"},
		{"a b", "' ' is not allowed"},
		{"a/b", "'/' is not allowed"},
		{"st\x01rage", "control character 0x01"},
		{".", "'.' is not an IPv4 address: empty number"},
		{"..example", "empty label"},
	};
	char host[PORTAL_HOST_MAX], err[256], big[300];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (portal_host_parse(bad[i].word, host, sizeof(host), NULL, err, sizeof(err)) !=
		    -EINVAL)
			fail_msg("'%s' was accepted", bad[i].word);
		if (!strstr(err, bad[i].reason))
			fail_msg("'%s': got \"%s\", want \"%s\"", bad[i].word, err, bad[i].reason);
	}
	/* 253 characters are a host name, 254 are not (a final dot aside). */
	memset(big, 'a', sizeof(big));
	for (int i = 50; i < 253; i += 50)
		big[i] = '.';
	big[253] = '\0';
	assert_int_equal(portal_host_parse(big, host, sizeof(host), NULL, err, sizeof(err)), 0);
	big[253] = '.';
	big[254] = '\0';
	assert_int_equal(portal_host_parse(big, host, sizeof(host), NULL, err, sizeof(err)), 0);
	big[253] = 'a';
	assert_int_equal(portal_host_parse(big, host, sizeof(host), NULL, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "longer than 253 characters"));
	/* Too small a buffer is an error, not a cut name. */
	assert_int_equal(portal_host_parse("storage.example", host, 8, NULL, err, sizeof(err)),
			 -EINVAL);
}

static void test_zones(void **state)
{
	char zone[32];

	(void)state;
	assert_int_equal(portal_host_zone("[fe80::1%eth1]", zone, sizeof(zone)), 1);
	assert_string_equal(zone, "eth1");
	assert_int_equal(portal_host_zone("[fe80::1]", zone, sizeof(zone)), 1);
	assert_string_equal(zone, "");
	assert_int_equal(portal_host_zone("[febf::1]", zone, sizeof(zone)), 1);
	assert_int_equal(portal_host_zone("[fec0::1]", zone, sizeof(zone)), 0);
	assert_int_equal(portal_host_zone("[fd00::10]", zone, sizeof(zone)), 0);
	assert_int_equal(portal_host_zone("192.168.0.1", zone, sizeof(zone)), 0);
	assert_int_equal(portal_host_zone("storage", zone, sizeof(zone)), 0);
}

static void test_target_address(void **state)
{
	static const struct {
		const char *value, *host;
		int port, tpgt;
	} good[] = {
		{"192.168.0.1:3260,1", "192.168.0.1", 3260, 1},
		{"192.168.0.1", "192.168.0.1", 3260, -1},
		{"192.168.0.1,2", "192.168.0.1", 3260, 2},
		{"10.0.0.1:3261", "10.0.0.1", 3261, -1},
		{"[fd00::10]:3260,1", "[fd00::10]", 3260, 1},
		{"[::1]:13260,1", "[::1]", 13260, 1},
		{"[fd00::10]", "[fd00::10]", 3260, -1},
		{"[fd00::10],0", "[fd00::10]", 3260, 0},
		{"[FE80::1%eth0]:3260,65535", "[fe80::1%eth0]", 3260, 65535},
		{"[fe80::1%a,b]:3260", "[fe80::1%a,b]", 3260, -1},
		{"[fe80::1%a,b]:3260,7", "[fe80::1%a,b]", 3260, 7},
		{"storage.example.com:3260,1", "storage.example.com", 3260, 1},
		{"storage", "storage", 3260, -1},
	};
	static const struct {
		const char *value, *reason;
	} bad[] = {
		{"", "empty TargetAddress"},
		{"fd00::10:3260,1", "an IPv6 address is written in brackets"},
		{"[fd00::10:3260,1", "no ']' after the IPv6 address"},
		{"[fd00::10]3260", "':' and a port may follow ']', nothing else"},
		{"192.168.0.1:0,1", "port '0' is not a number from 1 to 65535"},
		{"192.168.0.1:65536", "port '65536' is not a number from 1 to 65535"},
		{"192.168.0.1:,1", "port '' is not a number"},
		{"192.168.0.1:3260,x", "portal group tag 'x' is not a number from 0 to 65535"},
		{"192.168.0.1:3260,70000", "portal group tag '70000'"},
		{"192.168.0.300:3260,1", "'192.168.0.300' is not an IPv4 address"},
		{"st orage:3260", "' ' is not allowed"},
		{"10.0.0.1:3260\n,1", "a TargetAddress with control character 0x0a"},
	};
	struct portal_addr pa;
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (portal_parse_target_address(good[i].value, 3260, &pa, err, sizeof(err)))
			fail_msg("%s: %s", good[i].value, err);
		assert_string_equal(pa.host, good[i].host);
		assert_int_equal(pa.port, good[i].port);
		assert_int_equal(pa.tpgt, good[i].tpgt);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (portal_parse_target_address(bad[i].value, 3260, &pa, err, sizeof(err)) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i].value);
		if (!strstr(err, bad[i].reason))
			fail_msg("'%s': got \"%s\", want \"%s\"", bad[i].value, err, bad[i].reason);
	}
	/* No error buffer: the answer alone. */
	assert_int_equal(portal_parse_target_address("x::1", 3260, &pa, NULL, 0), -EINVAL);
}

static void test_format(void **state)
{
	char out[PORTAL_STR_MAX];

	(void)state;
	portal_format("[fd00::10]", 3260, out, sizeof(out));
	assert_string_equal(out, "[fd00::10]:3260");
	portal_format("fd00::10", 3260, out, sizeof(out));
	assert_string_equal(out, "[fd00::10]:3260");
	portal_format("127.0.0.1", 13260, out, sizeof(out));
	assert_string_equal(out, "127.0.0.1:13260");
	portal_format("storage.example", 1, out, sizeof(out));
	assert_string_equal(out, "storage.example:1");
}

/* A listener on addr (AF_INET or AF_INET6 loopback), port chosen by the kernel; -1 when the
 * family is not there. */
static int listener(int family, uint16_t *port)
{
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sl = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
		sl = sizeof(*s6);
	}
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 4) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					: ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

static void test_connect(void **state)
{
	char peer[PORTAL_STR_MAX], err[512], want[64];
	uint16_t p4 = 0, p6 = 0;
	int l4 = listener(AF_INET, &p4), l6 = listener(AF_INET6, &p6), fd;

	(void)state;
	assert_true(l4 >= 0);
	assert_int_equal(portal_connect("127.0.0.1", p4, NULL, 2000, &fd, peer, sizeof(peer), err,
					sizeof(err)), 0);
	snprintf(want, sizeof(want), "127.0.0.1:%u", p4);
	assert_string_equal(peer, want);
	close(fd);
	/* "localhost" is in every /etc/hosts: a host name, resolved now. */
	assert_int_equal(portal_connect("localhost", p4, "", 2000, &fd, peer, sizeof(peer), err,
					sizeof(err)), 0);
	assert_string_equal(peer, want);
	close(fd);
	/* Bound to the loopback device, as a CHANNEL line's 3rd word does. */
	assert_int_equal(portal_connect("127.0.0.1", p4, "lo", 2000, &fd, NULL, 0, err,
					sizeof(err)), 0);
	close(fd);
	if (l6 >= 0) {
		assert_int_equal(portal_connect("[::1]", p6, "lo", 2000, &fd, peer, sizeof(peer),
						err, sizeof(err)), 0);
		snprintf(want, sizeof(want), "[::1]:%u", p6);
		assert_string_equal(peer, want);
		close(fd);
		close(l6);
	} else {
		print_message("no ::1 here: the IPv6 connection is not tried\n");
	}
	close(l4);
	/* Nobody listens there any more. */
	assert_int_equal(portal_connect("127.0.0.1", p4, NULL, 2000, &fd, NULL, 0, err,
					sizeof(err)), -ECONNREFUSED);
	assert_string_equal(err, "Connection refused");
	assert_int_equal(fd, -1);
	assert_int_equal(portal_connect("127.0.0.1", p4, "no-such-dev0", 2000, &fd, NULL, 0, err,
					sizeof(err)), -ENODEV);
	assert_non_null(strstr(err, "cannot bind to network device no-such-dev0"));
	assert_int_equal(portal_connect("[fe80::1]", 3260, "no-such-dev0", 2000, &fd, NULL, 0,
					err, sizeof(err)), -ENODEV);
	assert_non_null(strstr(err, "no network device 'no-such-dev0' for the zone"));
	/* A name that does not resolve: the resolver's reason. */
	assert_int_equal(portal_connect("no-such-host.invalid", 3260, NULL, 2000, &fd, NULL, 0,
					err, sizeof(err)), -EHOSTUNREACH);
	assert_non_null(strstr(err, "'no-such-host.invalid' does not resolve: "));
	assert_int_equal(portal_resolve_check("no-such-host.invalid", err, sizeof(err)),
			 -EHOSTUNREACH);
	assert_int_equal(portal_resolve_check("localhost", err, sizeof(err)), 0);
	assert_int_equal(portal_resolve_check("[fd00::10]", err, sizeof(err)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hosts_good),
		cmocka_unit_test(test_hosts_bad),
		cmocka_unit_test(test_zones),
		cmocka_unit_test(test_target_address),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_connect),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
