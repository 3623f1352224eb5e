/* Unit tests of the configuration parsers: the howto's example lines must parse to what the
 * howto says, and each bad line must give "file:line: reason" with the reason an operator needs. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "tests/unit/data"
#endif
#define CONF_DIR TEST_DATA_DIR "/../../../conf"

/* The howto's section 2 B, C and D examples, line for line. */
#define HOWTO_CH0 \
	"CHANNEL=\"0 1 eth0 192.168.0.1 3260 0 AuthMethod=CHAP,None;" \
	"MaxRecvDataSegmentLength=8192 nopout_timeout=5\"\n"
#define HOWTO_CH1A \
	"CHANNEL=\"1 2 eth0 192.168.0.2 3260 0 AuthMethod=None;MaxRecvDataSegmentLength=32768;" \
	"ImmediateData=No nopout_timeout=10, nopout_response_timeout=10\"\n"
#define HOWTO_CH1B "CHANNEL=\"1 2 eth1 192.168.1.2 3260 0\"\n"
#define HOWTO_INITIATOR HOWTO_CH0 HOWTO_CH1A HOWTO_CH1B

#define HOWTO_AUTH \
	"AUTH=\"0 1 someuser somepass034 someuser_ma somepass014_ma\"\n" \
	"AUTH=\"1 0 another_user 12345\"\n"

#define HOWTO_MAPS \
	"DEVICE=\"0 0 1 disk0a\" # Channel 0, LUN 0, Partition 1 -> /iqn.target.example/disk0a\n" \
	"DEVICE=\"0 0 2 disk0b\" # Channel 0, LUN 0, Partition 2 -> /iqn.target.example/disk0b\n" \
	"DEVICE=\"0 1 1 disk1a\" # Channel 0, LUN 1, Partition 1 -> /iqn.target.example/disk1a\n" \
	"DEVICE=\"0 2 1 disk2a\" # Channel 0, LUN 2, Partition 1 -> /iqn.target.example/disk2a\n" \
	"DEVICE=\"1 0 0 dvd0\"   # Channel 1, LUN 0, Partition 0 -> /iqn.target.example/dvd0\n" \
	"DEVICE=\"1 1 1 disk0a\" # Channel 1, LUN 1, Partition 1 -> /iqn.target.example/disk0a\n" \
	"DEVICE=\"1 1 2 disk0b\" # Channel 1, LUN 1, Partition 2 -> /iqn.target.example/disk0b\n" \
	"DEVICE=\"1 2 1 disk1a\" # Channel 1, LUN 2, Partition 1 -> /iqn.target.example/disk1a\n"

#define GOOD_NAME "InitiatorName=iqn.2026-11.org.iscsifs.test:host1\n"

#define MAX_TMP 8

enum kind { NAMEFILE, CHANNELS, AUTHS, MAPS, SETTINGS };

/* One bad file and the exact message it must give. In reason, "@F" stands for the file's path
 * and "@I" for the initiator file's. */
struct bad_case {
	const char *name;
	enum kind kind;
	const char *text;
	int line;             /* 0: the message is "file: reason" */
	const char *reason;
	const char *secret;   /* must not appear in the message */
	const char *channels; /* AUTHS, MAPS: the initiator file; NULL: the howto's */
	mode_t mode;          /* 0: 0600 */
};

struct fixture {
	struct cfg c;
	char err[CFG_ERR_MAX];
	char tmp[MAX_TMP][64];
	int ntmp;
	const struct bad_case *bc;
};

static int fx_setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	fx->bc = *state;
	cfg_init(&fx->c);
	*state = fx;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fixture *fx = *state;

	for (int i = 0; i < fx->ntmp; i++)
		unlink(fx->tmp[i]);
	cfg_free(&fx->c);
	free(fx);
	return 0;
}

/* A temporary file with these bytes and mode; removed at teardown. */
static const char *fx_file_n(struct fixture *fx, const char *text, size_t len, mode_t mode)
{
	char *path;
	int fd;

	assert_true(fx->ntmp < MAX_TMP);
	path = fx->tmp[fx->ntmp];
	snprintf(path, sizeof(fx->tmp[0]), "/tmp/test_config.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	fx->ntmp++;
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

static const char *fx_file(struct fixture *fx, const char *text)
{
	return fx_file_n(fx, text, strlen(text), 0600);
}

/* A path that does not exist (in the temp name space, removed at teardown if created). */
static const char *fx_missing(struct fixture *fx)
{
	const char *p = fx_file(fx, "");

	unlink(p);
	return p;
}

static void subst(char *out, size_t len, const char *fmt, const char *file, const char *ifile)
{
	size_t o = 0;

	for (const char *p = fmt; *p && o + 1 < len; p++) {
		const char *s = NULL;

		if (p[0] == '@' && p[1] == 'F')
			s = file;
		else if (p[0] == '@' && p[1] == 'I')
			s = ifile;
		if (s) {
			o += (size_t)snprintf(out + o, len - o, "%s", s);
			p++;
		} else {
			out[o++] = *p;
		}
	}
	out[o < len ? o : len - 1] = '\0';
}

static void load_howto_channels(struct fixture *fx, const char *text)
{
	const char *ip = fx_file(fx, text ? text : HOWTO_INITIATOR);
	int rc = cfg_parse_initiator(&fx->c, ip, fx->err, sizeof(fx->err));

	if (rc)
		fail_msg("initiator file did not parse: %s", fx->err);
}

static void run_bad_case(void **state)
{
	struct fixture *fx = *state;
	const struct bad_case *bc = fx->bc;
	char expect[2 * CFG_ERR_MAX], reason[CFG_ERR_MAX];
	const char *path;
	int rc = 0;

	if (bc->kind == AUTHS || bc->kind == MAPS)
		load_howto_channels(fx, bc->channels);
	path = fx_file_n(fx, bc->text, strlen(bc->text), bc->mode ? bc->mode : 0600);
	switch (bc->kind) {
	case NAMEFILE:
		rc = cfg_parse_initiatorname(&fx->c, path, fx->err, sizeof(fx->err));
		break;
	case CHANNELS:
		rc = cfg_parse_initiator(&fx->c, path, fx->err, sizeof(fx->err));
		break;
	case AUTHS:
		rc = cfg_parse_auth(&fx->c, path, fx->err, sizeof(fx->err));
		break;
	case MAPS:
		rc = cfg_parse_maps(&fx->c, path, fx->err, sizeof(fx->err));
		break;
	case SETTINGS:
		rc = cfg_load_settings(&fx->c, path, fx->err, sizeof(fx->err));
		break;
	}
	subst(reason, sizeof(reason), bc->reason, path, fx->c.paths.initiator);
	if (bc->line)
		snprintf(expect, sizeof(expect), "%s:%d: %s", path, bc->line, reason);
	else
		snprintf(expect, sizeof(expect), "%s: %s", path, reason);
	assert_string_equal(fx->err, expect);
	assert_int_equal(rc, -EINVAL);
	if (bc->secret)
		assert_null(strstr(fx->err, bc->secret));
}

/* The last three fields are optional. */
#define BAD(name, kind, text, line, reason) {name, kind, text, line, reason, NULL, NULL, 0}
#define BAD_SECRET(name, kind, text, line, reason, secret) \
	{name, kind, text, line, reason, secret, NULL, 0}
#define BAD_CHANNELS(name, kind, text, line, reason, channels) \
	{name, kind, text, line, reason, NULL, channels, 0}
#define BAD_MODE(name, kind, text, line, reason, mode) \
	{name, kind, text, line, reason, NULL, NULL, mode}

#define LONG64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define LONG256 LONG64 LONG64 LONG64 LONG64

static const struct bad_case bad_cases[] = {
	/* initiatorname.iscsi */
	BAD("name: month 13", NAMEFILE, "InitiatorName=iqn.2005-13.com.example:x\n", 1,
	    "bad iSCSI name 'iqn.2005-13.com.example:x': month 13 is not 01 to 12"),
	BAD("name: other prefix", NAMEFILE, "InitiatorName=iscsi.2005-03.com.example\n", 1,
	    "bad iSCSI name 'iscsi.2005-03.com.example': it must start with iqn., eui. or naa."),
	BAD("name: slash", NAMEFILE, "# x\nInitiatorName=iqn.2005-03.com.Example:a/b\n", 2,
	    "bad iSCSI name 'iqn.2005-03.com.Example:a/b': '/' is not allowed (only letters, "
	    "digits, '-', '.' and ':')"),
	BAD("name: prohibited non-ASCII", NAMEFILE,
	    "InitiatorName=iqn.2005-03.com.example:a\xe2\x80\xa8" "b\n", 1,
	    "bad iSCSI name 'iqn.2005-03.com.example:a\xe2\x80\xa8" "b': U+2028 is a character RFC "
	    "3722 prohibits"),
	BAD("name: not UTF-8", NAMEFILE, "InitiatorName=iqn.2005-03.com.example:\xff\n", 1,
	    "bad iSCSI name: it is not UTF-8 text"),
	BAD("name: no InitiatorName line", NAMEFILE, "# only a comment\n\n", 0,
	    "no InitiatorName= line"),
	BAD("name: given twice", NAMEFILE,
	    GOOD_NAME "InitiatorName=iqn.2026-11.org.iscsifs.test:host2\n", 2,
	    "InitiatorName is given twice (first on line 1)"),
	BAD("name: unknown setting", NAMEFILE, GOOD_NAME "FOO=bar\n", 2, "unknown setting 'FOO'"),
	BAD("name: unterminated quote", NAMEFILE, "InitiatorName=\"iqn.2005-03.com.example\n", 1,
	    "unterminated double quote"),
	BAD("name: short eui", NAMEFILE, "InitiatorName=eui.0123\n", 1,
	    "bad iSCSI name 'eui.0123': eui. names have 16 hex digits, not 4"),
	BAD("name: text after value", NAMEFILE, "InitiatorName=iqn.2005-03.com.example:a b\n", 1,
	    "unexpected text after the value (a comment starts with '#')"),
	BAD("name: spaces around =", NAMEFILE, "InitiatorName = iqn.2005-03.com.example\n", 1,
	    "no spaces are allowed around '=' (write InitiatorName=\"...\")"),
	BAD("name: unknown type", NAMEFILE, "InitiatorName=foo.bar\n", 1,
	    "bad iSCSI name 'foo.bar': it must start with iqn., eui. or naa."),
	BAD("name: underscore", NAMEFILE, "InitiatorName=iqn.2005-03.com.exa_mple\n", 1,
	    "bad iSCSI name 'iqn.2005-03.com.exa_mple': '_' is not allowed (only letters, "
	    "digits, '-', '.' and ':')"),
	BAD("name: empty", NAMEFILE, "InitiatorName=\n", 1, "empty iSCSI name"),
	BAD("name: no date", NAMEFILE, "InitiatorName=iqn.com.example:x\n", 1,
	    "bad iSCSI name 'iqn.com.example:x': 'iqn.' must be followed by a date yyyy-mm"),
	BAD("name: alias with control char", NAMEFILE, GOOD_NAME "InitiatorAlias=\"a\tb\x01\"\n", 2,
	    "InitiatorAlias contains a control character"),
	BAD("name: no '=' at all", NAMEFILE, "iqn.2005-03.com.example:x\n", 1,
	    "expected NAME=\"value\""),

	/* initiator: CHANNEL lines */
	BAD("channel: unknown key", CHANNELS,
	    "CHANNEL=\"0 1 eth0 192.168.0.1 3260 0 Foo=1 nopout_timeout=5\"\n", 1,
	    "unknown iSCSI key 'Foo'"),
	BAD("channel: key in wrong case", CHANNELS,
	    "CHANNEL=\"0 1 eth0 192.168.0.1 3260 0 immediatedata=No\"\n", 1,
	    "unknown iSCSI key 'immediatedata' (did you mean 'ImmediateData'?)"),
	BAD("channel: TargetName key", CHANNELS,
	    "CHANNEL=\"0 1 192.168.0.1 3260 0 TargetName=iqn.2005-04.com.example:t\"\n", 1,
	    "iSCSI key 'TargetName' is set by iscsifs, not in the CHANNEL line"),
	BAD("channel: SessionType key", CHANNELS,
	    "CHANNEL=\"0 1 192.168.0.1 3260 0 SessionType=Discovery\"\n", 1,
	    "iSCSI key 'SessionType' is set by iscsifs, not in the CHANNEL line"),
	BAD("channel: key value out of range", CHANNELS,
	    "CHANNEL=\"0 1 192.168.0.1 3260 0 MaxRecvDataSegmentLength=100\"\n", 1,
	    "MaxRecvDataSegmentLength=100 is out of range (512 to 16777215)"),
	BAD("channel: bad boolean", CHANNELS,
	    "CHANNEL=\"0 1 192.168.0.1 3260 0 ImmediateData=Maybe\"\n", 1,
	    "ImmediateData must be Yes or No, not 'Maybe'"),
	BAD("channel: unsupported AuthMethod", CHANNELS,
	    "CHANNEL=\"0 1 192.168.0.1 3260 0 AuthMethod=KRB5,None\"\n", 1,
	    "AuthMethod: value 'KRB5' is not supported (use CHAP,None)"),
	BAD("channel: key twice", CHANNELS,
	    "CHANNEL=\"0 1 192.168.0.1 3260 0 ImmediateData=No;ImmediateData=No\"\n", 1,
	    "iSCSI key 'ImmediateData' is given twice"),
	BAD("channel: key without value", CHANNELS,
	    "CHANNEL=\"0 1 192.168.0.1 3260 0 ImmediateData\"\n", 1,
	    "iSCSI key 'ImmediateData' has no value (write ImmediateData=value)"),
	BAD("channel: FirstBurstLength over MaxBurstLength", CHANNELS,
	    "CHANNEL=\"0 1 192.168.0.1 3260 0 FirstBurstLength=131072;MaxBurstLength=65536\"\n", 1,
	    "FirstBurstLength=131072 is larger than MaxBurstLength=65536"),
	BAD("channel: FirstBurstLength over default MaxBurstLength", CHANNELS,
	    "CHANNEL=\"0 1 192.168.0.1 3260 0 FirstBurstLength=1048576\"\n", 1,
	    "FirstBurstLength=1048576 is larger than MaxBurstLength=262144 (the default)"),
	BAD("channel: more connections than MaxConnections", CHANNELS,
	    "CHANNEL=\"0 2 192.168.0.1 3260 0 MaxConnections=1\"\n", 1,
	    "connection count 2 is more than MaxConnections=1"),
	BAD("channel: octet 300", CHANNELS, "CHANNEL=\"0 1 eth0 300.1.1.1 3260 0\"\n", 1,
	    "'300.1.1.1' is not an IPv4 address: 300 is larger than 255"),
	BAD("channel: octet 300 without device", CHANNELS, "CHANNEL=\"0 1 300.1.1.1 3260 0\"\n", 1,
	    "'300.1.1.1' is not an IPv4 address: 300 is larger than 255"),
	BAD("channel: host name with a bad character", CHANNELS,
	    "CHANNEL=\"0 1 eth0 target!.example.com 3260 0\"\n", 1,
	    "'target!.example.com' is not a host name: '!' is not allowed (letters, digits, '-' "
	    "and '.')"),
	BAD("channel: host name ending in a number", CHANNELS,
	    "CHANNEL=\"0 1 target.123 3260 0\"\n", 1,
	    "'target.123' is not a host name: its last label is a number"),
	BAD("channel: host name label with a leading -", CHANNELS,
	    "CHANNEL=\"0 1 -target 3260 0\"\n", 1,
	    "'-target' is not a host name: a label starts or ends with '-'"),
	BAD("channel: host name label of 64", CHANNELS,
	    "CHANNEL=\"0 1 a" LONG64 ".example 3260 0\"\n", 1,
	    "'a" LONG64 ".example' is not a host name: a label is longer than 63 characters"),
	BAD("channel: address with its port", CHANNELS,
	    "CHANNEL=\"0 1 192.168.0.1:3260 3260 0\"\n", 1,
	    "'192.168.0.1:3260' holds a port: give the address alone"),
	BAD("channel: bracketed address with its port", CHANNELS,
	    "CHANNEL=\"0 1 [fd00::10]:3260 3260 0\"\n", 1,
	    "'[fd00::10]:3260' holds a port: give the address alone"),
	BAD("channel: bad IPv6", CHANNELS, "CHANNEL=\"0 1 fd00::10::1 3260 0\"\n", 1,
	    "'fd00::10::1' is not an IPv6 address"),
	BAD("channel: zone on a global address", CHANNELS,
	    "CHANNEL=\"0 1 eth0 fd00::10%eth0 3260 0\"\n", 1,
	    "'fd00::10%eth0': only a link-local address (fe80::/10) takes a zone"),
	BAD("channel: zone and device differ", CHANNELS,
	    "CHANNEL=\"0 1 eth0 fe80::1%eth1 3260 0\"\n", 1,
	    "the zone of 'fe80::1%eth1' is not the network device eth0 of the 3rd argument"),
	BAD("channel: empty zone", CHANNELS, "CHANNEL=\"0 1 fe80::1% 3260 0\"\n", 1,
	    "'fe80::1%': the zone after '%' must be a network device name (fe80::1%eth1)"),
	BAD("ambiguous: address then a word", CHANNELS,
	    "CHANNEL=\"0 1 192.168.0.1 eth0 3260 0\"\n", 1,
	    "ambiguous line: '192.168.0.1' is an address, so the 4th word 'eth0' should be the TCP "
	    "port (a network device comes before the address: id, connections, [device], "
	    "address, port)"),
	BAD("ambiguous: two addresses", CHANNELS,
	    "CHANNEL=\"0 1 fd00::1 fd00::2 3260 0\"\n", 1,
	    "ambiguous line: 'fd00::1' is an address, so the 4th word 'fd00::2' should be the TCP "
	    "port (a network device comes before the address: id, connections, [device], "
	    "address, port)"),
	BAD("ambiguous: a network device of this host where the host name goes", CHANNELS,
	    "CHANNEL=\"0 1 lo 3260 0\"\n", 1,
	    "ambiguous line: 'lo' is read as the target's host name, since the 4th word is a port, "
	    "but it is a network device here: is the address missing after it? (a host of that "
	    "name is written with a final '.', 'lo.')"),
	BAD("channel: same host name in other case", CHANNELS,
	    "CHANNEL=\"0 1 Storage.example 3260 0\"\nCHANNEL=\"0 1 storage.EXAMPLE 3260 0\"\n", 2,
	    "portal Storage.example:3260 is already listed for channel 0 on line 1"),
	BAD("channel: same IPv6 address written otherwise", CHANNELS,
	    "CHANNEL=\"0 1 fd00:0:0::10 3260 0\"\nCHANNEL=\"0 1 [FD00::10] 3260 0\"\n", 2,
	    "portal [fd00::10]:3260 is already listed for channel 0 on line 1"),
	BAD("channel: missing octet", CHANNELS, "CHANNEL=\"0 1 eth0 192.168.0 3260 0\"\n", 1,
	    "'192.168.0' is not an IPv4 address: it has 3 numbers, an address has 4 (a.b.c.d)"),
	BAD("channel: empty octet", CHANNELS, "CHANNEL=\"0 1 192..0.1 3260 0\"\n", 1,
	    "'192..0.1' is not an IPv4 address: empty number"),
	BAD("channel: link-local without zone", CHANNELS, "CHANNEL=\"0 1 fe80::1 3260 0\"\n", 1,
	    "link-local address 'fe80::1' needs its zone ('fe80::1%eth0') or a network device "
	    "(3rd argument)"),
	BAD("channel: port 0", CHANNELS, "CHANNEL=\"0 1 eth0 192.168.0.1 0 0\"\n", 1,
	    "TCP port 0 is out of range (1 to 65535)"),
	BAD("channel: port 70000", CHANNELS, "CHANNEL=\"0 1 192.168.0.1 70000 0\"\n", 1,
	    "TCP port 70000 is out of range (1 to 65535)"),
	BAD("channel: port abc", CHANNELS, "CHANNEL=\"0 1 eth0 192.168.0.1 abc 0\"\n", 1,
	    "TCP port 'abc' is not a number"),
	BAD("channel: interconnect 1", CHANNELS, "CHANNEL=\"0 1 eth0 192.168.0.1 3260 1\"\n", 1,
	    "unsupported network interconnect 1 (only 0, TCP/IP)"),
	BAD("channel: interconnect word", CHANNELS, "CHANNEL=\"0 1 192.168.0.1 3260 tcp\"\n", 1,
	    "network interconnect 'tcp' is not a number (0 for TCP/IP)"),
	BAD("channel: unknown attribute", CHANNELS,
	    "CHANNEL=\"0 1 192.168.0.1 3260 0 AuthMethod=None foo=1\"\n", 1,
	    "unknown channel attribute 'foo'"),
	BAD("channel: attribute where the keys go", CHANNELS,
	    "CHANNEL=\"0 1 192.168.0.1 3260 0 nopout_timeout=5\"\n", 1,
	    "unknown iSCSI key 'nopout_timeout' (nopout_timeout is a channel attribute: it goes "
	    "after the iSCSI keys, as the 8th argument)"),
	BAD("channel: key where the attributes go", CHANNELS,
	    "CHANNEL=\"0 1 192.168.0.1 3260 0 AuthMethod=None ImmediateData=No\"\n", 1,
	    "unknown channel attribute 'ImmediateData' (ImmediateData is an iSCSI key: it goes "
	    "in the 7th argument)"),
	BAD("channel: queue_depth 500", CHANNELS,
	    "CHANNEL=\"0 1 192.168.0.1 3260 0 AuthMethod=None queue_depth=500\"\n", 1,
	    "queue_depth=500 is out of range (1 to 128)"),
	BAD("channel: nopout_response_timeout 0", CHANNELS,
	    "CHANNEL=\"0 1 192.168.0.1 3260 0 AuthMethod=None nopout_timeout=5, "
	    "nopout_response_timeout=0\"\n", 1,
	    "nopout_response_timeout=0 is out of range (1 to 3600)"),
	BAD("channel: attribute not a number", CHANNELS,
	    "CHANNEL=\"0 1 192.168.0.1 3260 0 AuthMethod=None login_timeout=ten\"\n", 1,
	    "channel attribute login_timeout=ten: 'ten' is not a number"),
	BAD("channel: attribute twice", CHANNELS,
	    "CHANNEL=\"0 1 192.168.0.1 3260 0 AuthMethod=None queue_depth=4;queue_depth=4\"\n", 1,
	    "channel attribute 'queue_depth' is given twice"),
	BAD("channel: multipath policy unknown", CHANNELS,
	    "CHANNEL=\"0 1 192.168.0.1 3260 0 AuthMethod=None multipath=least-busy\"\n", 1,
	    "channel attribute multipath=least-busy: 'least-busy' is not off, failover or "
	    "round-robin"),
	BAD("channel: multipath as a number", CHANNELS,
	    "CHANNEL=\"0 1 192.168.0.1 3260 0 AuthMethod=None multipath=1\"\n", 1,
	    "channel attribute multipath=1: '1' is not off, failover or round-robin"),
	BAD("channel: multipath without a value", CHANNELS,
	    "CHANNEL=\"0 1 192.168.0.1 3260 0 AuthMethod=None multipath=\"\n", 1,
	    "channel attribute 'multipath' has no value (write multipath=failover)"),
	BAD("channel: multipath policies conflict", CHANNELS,
	    "CHANNEL=\"3 1 192.168.0.3 3260 0 AuthMethod=None multipath=failover\"\n"
	    "CHANNEL=\"3 1 192.168.1.3 3260 0 AuthMethod=None multipath=round-robin\"\n", 2,
	    "channel attribute multipath=round-robin conflicts with multipath=failover given "
	    "before for channel 3"),
	BAD("channel: id 70000", CHANNELS, "CHANNEL=\"70000 1 192.168.0.1 3260 0\"\n", 1,
	    "channel id 70000 is out of range (0 to 65535)"),
	BAD("channel: id negative", CHANNELS, "CHANNEL=\"-1 1 192.168.0.1 3260 0\"\n", 1,
	    "channel id '-1' is not a number"),
	BAD("channel: 17 connections", CHANNELS, "CHANNEL=\"0 17 192.168.0.1 3260 0\"\n", 1,
	    "connection count 17 is out of range (1 to 16)"),
	BAD("channel: 0 connections", CHANNELS, "CHANNEL=\"0 0 192.168.0.1 3260 0\"\n", 1,
	    "connection count 0 is out of range (1 to 16)"),
	BAD("channel: only an id", CHANNELS, "CHANNEL=\"0\"\n", 1,
	    "missing the connection count (2nd argument)"),
	BAD("channel: no address", CHANNELS, "CHANNEL=\"0 1 eth0\"\n", 1,
	    "missing the target's address (4th argument)"),
	BAD("channel: no port", CHANNELS, "CHANNEL=\"0 1 eth0 192.168.0.1\"\n", 1,
	    "missing the TCP port (5th argument)"),
	BAD("channel: no interconnect", CHANNELS, "CHANNEL=\"0 1 192.168.0.1 3260\"\n", 1,
	    "missing the network interconnect (6th argument, 0 for TCP/IP)"),
	BAD("channel: empty", CHANNELS, "CHANNEL=\"\"\n", 1, "CHANNEL is empty"),
	BAD("channel: unquoted", CHANNELS, "CHANNEL=0 1 192.168.0.1 3260 0\n", 1,
	    "the value of CHANNEL must be in double quotes: CHANNEL=\"...\""),
	BAD("channel: unterminated quote", CHANNELS, "CHANNEL=\"0 1 192.168.0.1 3260 0\n", 1,
	    "unterminated double quote"),
	BAD("channel: shell expansion", CHANNELS, "CHANNEL=\"$CH 1 192.168.0.1 3260 0\"\n", 1,
	    "'$' inside double quotes is not supported (use single quotes for a literal '$')"),
	BAD("channel: unknown setting", CHANNELS, "# iSNS\nISNS_SERVER=\"192.168.0.9\"\n", 2,
	    "unknown setting 'ISNS_SERVER'"),
	BAD("channel: bad target name", CHANNELS,
	    "CHANNEL=\"0 1 192.168.0.1 3260 0 AuthMethod=None nopout_timeout=5 "
	    "iqn.2005-04.com.example.target.mipsEE:sn/1234567890\"\n", 1,
	    "bad iSCSI name 'iqn.2005-04.com.example.target.mipsEE:sn/1234567890': '/' is not "
	    "allowed (only letters, digits, '-', '.' and ':')"),
	BAD("channel: target names differ beyond case", CHANNELS,
	    "CHANNEL=\"0 1 192.168.0.1 3260 0 iqn.2005-04.com.example:Disk1\"\n"
	    "CHANNEL=\"0 1 192.168.0.2 3260 0 iqn.2005-04.com.example:disk2\"\n", 2,
	    "target name iqn.2005-04.com.example:disk2 differs from iqn.2005-04.com.example:Disk1 "
	    "given before for channel 0"),
	BAD("channel: argument after the target name", CHANNELS,
	    "CHANNEL=\"0 1 192.168.0.1 3260 0 iqn.2005-04.com.example:t extra\"\n", 1,
	    "unexpected argument 'extra' (the last argument is the target name: iqn., eui. or "
	    "naa.)"),
	BAD("channel: device name too long", CHANNELS,
	    "CHANNEL=\"0 1 averyverylongname 192.168.0.1 3260 0\"\n", 1,
	    "network device name 'averyverylongname' is longer than 15 characters"),
	BAD("channel: device name with /", CHANNELS,
	    "CHANNEL=\"0 1 eth/0 192.168.0.1 3260 0\"\n", 1,
	    "network device name 'eth/0' must not contain '/'"),
	BAD("channel: .. where the device or address goes", CHANNELS,
	    "CHANNEL=\"0 1 .. 192.168.0.1 3260 0\"\n", 1,
	    "'..' is not a network device name"),
	BAD("channel: device name with :", CHANNELS,
	    "CHANNEL=\"0 1 eth0:1 192.168.0.1 3260 0\"\n", 1,
	    "network device name 'eth0:1' must not contain ':'"),
	BAD("channel: leading zero in address", CHANNELS,
	    "CHANNEL=\"0 1 192.168.0.01 3260 0\"\n", 1,
	    "'192.168.0.01' is not an IPv4 address (no leading zeros)"),
	BAD("channel: five numbers in address", CHANNELS, "CHANNEL=\"0 1 1.2.3.4.5 3260 0\"\n", 1,
	    "'1.2.3.4.5' is not an IPv4 address: it has 5 numbers, an address has 4 (a.b.c.d)"),
	BAD("channel: empty key value", CHANNELS,
	    "CHANNEL=\"0 1 192.168.0.1 3260 0 AuthMethod=\"\n", 1,
	    "AuthMethod needs a value"),
	BAD("channel: connection counts differ", CHANNELS,
	    HOWTO_CH1A "CHANNEL=\"1 3 eth1 192.168.1.2 3260 0\"\n", 2,
	    "connection count 3 differs from 2 on line 1 for channel 1"),
	BAD("channel: keys conflict", CHANNELS,
	    HOWTO_CH1A "CHANNEL=\"1 2 eth1 192.168.1.2 3260 0 ImmediateData=Yes\"\n", 2,
	    "iSCSI key ImmediateData=Yes conflicts with ImmediateData=No given before for "
	    "channel 1"),
	BAD("channel: attributes conflict", CHANNELS,
	    HOWTO_CH1A "CHANNEL=\"1 2 eth1 192.168.1.2 3260 0 AuthMethod=None nopout_timeout=5\"\n",
	    2, "channel attribute nopout_timeout=5 conflicts with nopout_timeout=10 given before "
	    "for channel 1"),
	BAD("channel: target names differ", CHANNELS,
	    "CHANNEL=\"2 1 192.168.0.3 3260 0 iqn.2005-04.com.example:a\"\n"
	    "CHANNEL=\"2 1 192.168.1.3 3260 0 iqn.2005-04.com.example:b\"\n", 2,
	    "target name iqn.2005-04.com.example:b differs from iqn.2005-04.com.example:a given "
	    "before for channel 2"),
	BAD("channel: same portal twice", CHANNELS,
	    HOWTO_CH1A "CHANNEL=\"1 2 eth0 192.168.0.2 3260 0\"\n", 2,
	    "portal 192.168.0.2:3260 via eth0 is already listed for channel 1 on line 1"),
	BAD("channel: later line breaks FirstBurstLength rule", CHANNELS,
	    "CHANNEL=\"3 1 192.168.0.4 3260 0 FirstBurstLength=65536\"\n"
	    "CHANNEL=\"3 1 192.168.1.4 3260 0 MaxBurstLength=4096\"\n", 2,
	    "FirstBurstLength=65536 is larger than MaxBurstLength=4096"),
	BAD("channel: MaxBurstLength under default FirstBurstLength", CHANNELS,
	    "CHANNEL=\"4 1 192.168.0.5 3260 0 MaxBurstLength=4096\"\n", 1,
	    "FirstBurstLength=65536 (the default) is larger than MaxBurstLength=4096"),

	/* initiator: the iSNS server and channels that take their portal from it */
	BAD("isns: bad address", CHANNELS, "ISNS=\"127.0.0.300\"\n", 1,
	    "'127.0.0.300' is not an IPv4 address: 300 is larger than 255"),
	BAD("isns: link-local without zone", CHANNELS, "ISNS=\"fe80::5\"\n", 1,
	    "link-local address 'fe80::5' needs its zone ('fe80::5%eth0')"),
	BAD("isns: port out of range", CHANNELS, "ISNS=\"127.0.0.1 70000\"\n", 1,
	    "iSNS port 70000 is out of range (1 to 65535)"),
	BAD("isns: empty", CHANNELS, "ISNS=\"\"\n", 1,
	    "ISNS is empty (write ISNS=\"address [port]\")"),
	BAD("isns: unknown word", CHANNELS, "ISNS=\"127.0.0.1 3205 poll=5\"\n", 1,
	    "unexpected ISNS argument 'poll=5' (ISNS=\"address [port] [query_interval=N]\")"),
	BAD("isns: interval zero", CHANNELS, "ISNS=\"127.0.0.1 query_interval=0\"\n", 1,
	    "query_interval 0 is out of range (1 to 3600)"),
	BAD("isns: twice", CHANNELS, "ISNS=\"127.0.0.1\"\n\nISNS=\"127.0.0.2\"\n", 3,
	    "ISNS is given twice (first on line 1)"),
	BAD("isns: channel without the target name", CHANNELS,
	    "ISNS=\"127.0.0.1\"\nCHANNEL=\"0 1 isns 0 0 AuthMethod=None nopout_timeout=5\"\n", 2,
	    "the address 'isns' needs the target name (9th argument): iSNS is asked for that "
	    "target's portal"),
	BAD("isns: channel with a port", CHANNELS,
	    "ISNS=\"127.0.0.1\"\nCHANNEL=\"0 1 isns 3260 0 iqn.2005-04.com.example:t\"\n", 2,
	    "with the address 'isns' the port comes from iSNS too: write 0 as the TCP port "
	    "(5th argument), not '3260'"),
	BAD("isns: channel without a server", CHANNELS,
	    "CHANNEL=\"0 1 eth0 isns 0 0 iqn.2005-04.com.example:t\"\n", 1,
	    "channel 0 has the address 'isns' but no ISNS=\"address [port]\" line names the "
	    "iSNS server"),
	BAD("isns: second line for an iSNS channel", CHANNELS,
	    "ISNS=\"127.0.0.1\"\nCHANNEL=\"0 1 isns 0 0 iqn.2005-04.com.example:t\"\n"
	    "CHANNEL=\"0 1 192.168.0.1 3260 0\"\n", 3,
	    "channel 0 takes its portal from iSNS (line 2): it has one CHANNEL line only"),

	/* initiator_auth: AUTH lines */
	BAD_SECRET("auth: undefined channel", AUTHS, "AUTH=\"7 0 user7 secret7secret7\"\n", 1,
	    "channel 7 is not defined in @I", "secret7secret7"),
	BAD_SECRET("auth: mutual flag 2", AUTHS, "AUTH=\"0 2 someuser Sekr1t-pass-0\"\n", 1,
	    "the mutual authentication flag (2nd field) must be 0 or 1", "Sekr1t-pass-0"),
	BAD_SECRET("auth: mutual flag yes", AUTHS, "AUTH=\"0 yes someuser Sekr1t-pass-0\"\n", 1,
	    "the mutual authentication flag (2nd field) must be 0 or 1", "Sekr1t-pass-0"),
	BAD_SECRET("auth: mutual=1 with 4 fields", AUTHS,
	    "AUTH=\"0 1 someuser Sekr1t-pass-0\"\n", 1,
	    "AUTH with mutual=1 needs 6 fields (channel, 1, user, secret, target user, target "
	    "secret), found 4", "Sekr1t-pass-0"),
	BAD_SECRET("auth: mutual=0 with 6 fields", AUTHS,
	    "AUTH=\"1 0 another_user Sekr1t-pass-0 tuser Sekr1t-pass-1\"\n", 1,
	    "AUTH with mutual=0 needs 4 fields (channel, 0, user, secret), found 6", "Sekr1t-pass"),
	BAD("auth: 3 fields", AUTHS, "# c\nAUTH=\"1 0 another_user\"\n", 2,
	    "AUTH with mutual=0 needs 4 fields (channel, 0, user, secret), found 3"),
	BAD("auth: only a channel", AUTHS, "AUTH=\"1\"\n", 1,
	    "the mutual authentication flag (2nd field) must be 0 or 1"),
	BAD("auth: too many fields", AUTHS, "AUTH=\"1 0 a b c d e f g\"\n", 1,
	    "AUTH has too many fields (at most 6)"),
	BAD_SECRET("auth: duplicate channel", AUTHS,
	    "AUTH=\"0 1 someuser somepass034 someuser_ma somepass014_ma\"\n"
	    "AUTH=\"0 0 other Sekr1t-pass-2\"\n", 2,
	    "duplicate AUTH line for channel 0 (first on line 1)", "Sekr1t-pass-2"),
	BAD_SECRET("auth: secret too long", AUTHS, "AUTH=\"1 0 another_user " LONG256 "\"\n", 1,
	    "secret for channel 1 is longer than 255 characters", LONG64),
	BAD_SECRET("auth: user name too long", AUTHS, "AUTH=\"1 0 " LONG256 " Sekr1t-pass-0\"\n", 1,
	    "user name for channel 1 is longer than 255 characters", "Sekr1t-pass-0"),
	BAD_SECRET("auth: control character in secret", AUTHS,
	    "AUTH=\"1 0 another_user Sekr1t\x01pass\"\n", 1,
	    "secret for channel 1 contains a control character", "Sekr1t"),
	BAD_SECRET("auth: same secret both ways", AUTHS,
	    "AUTH=\"0 1 someuser Sekr1t-pass-0 someuser_ma Sekr1t-pass-0\"\n", 1,
	    "the target secret for channel 0 must differ from the initiator secret",
	    "Sekr1t-pass-0"),
	BAD_SECRET("auth: channel not a number", AUTHS, "AUTH=\"Sekr1t-pass-0 0 user secret\"\n", 1,
	    "the channel id (1st field) is not a number from 0 to 65535", "Sekr1t-pass-0"),
	BAD_SECRET("auth: unquoted", AUTHS, "AUTH=1 0 another_user Sekr1t-pass-0\n", 1,
	    "the value of AUTH must be in double quotes: AUTH=\"...\"", "Sekr1t-pass-0"),
	BAD_SECRET("auth: unterminated quote", AUTHS, "AUTH=\"1 0 another_user Sekr1t-pass-0\n", 1,
	    "unterminated double quote", "Sekr1t-pass-0"),
	BAD_SECRET("auth: $ in a double-quoted secret", AUTHS,
	    "AUTH=\"1 0 another_user Sekr1t$pass\"\n", 1,
	    "'$' inside double quotes is not supported (use single quotes for a literal '$')",
	    "Sekr1t"),
	BAD_SECRET("auth: text after the quote", AUTHS,
	    "AUTH=\"1 0 another_user Sekr1t\"-pass-0\n", 1,
	    "unexpected text after the value (a comment starts with '#')", "pass-0"),
	BAD_SECRET("auth: unknown setting", AUTHS,
	    "CHANNEL=\"1 0 another_user Sekr1t-pass-0\"\n", 1,
	    "unknown setting 'CHANNEL'", "Sekr1t-pass-0"),
	BAD_SECRET("auth: stray secret-like line", AUTHS, "Sekr1t=pass\n", 1,
	    "unknown setting (this file holds AUTH=\"...\" lines)", "Sekr1t"),
	BAD_MODE("auth: readable by others", AUTHS, HOWTO_AUTH, 0,
	    "is readable by others (mode 0644); run: chmod 600 @F", 0644),
	BAD_MODE("auth: writable by group", AUTHS, HOWTO_AUTH, 0,
	    "is writable by others (mode 0620); run: chmod 600 @F", 0620),

	/* iscsi_device_maps: DEVICE lines */
	BAD("maps: undefined channel", MAPS, "DEVICE=\"7 0 1 disk7\"\n", 1,
	    "channel 7 is not defined in @I"),
	BAD("maps: same name on one channel", MAPS,
	    "DEVICE=\"0 0 1 disk0a\"\nDEVICE=\"0 1 1 disk0a\"\n", 2,
	    "mount name 'disk0a' is already used for channel 0 on line 1"),
	BAD_CHANNELS("maps: same name, same target on two channels", MAPS,
	    "DEVICE=\"5 0 1 disk\"\nDEVICE=\"6 0 1 disk\"\n", 2,
	    "mount name 'disk' is already used on line 1 by channel 5, which has the same "
	    "target iqn.2005-04.com.example:t1",
	    "CHANNEL=\"5 1 192.168.0.1 3260 0 iqn.2005-04.com.example:t1\"\n"
	    "CHANNEL=\"6 1 192.168.1.1 3260 0 iqn.2005-04.com.example:t1\"\n"),
	BAD("maps: same LUN partition twice", MAPS,
	    "DEVICE=\"0 0 1 disk0a\"\nDEVICE=\"0 0 1 other\"\n", 2,
	    "channel 0 LUN 0 partition 1 is already mapped on line 1"),
	BAD("maps: name with /", MAPS, "DEVICE=\"0 0 1 ../etc\"\n", 1,
	    "mount name '../etc' must not contain '/'"),
	BAD("maps: name ..", MAPS,
	    "DEVICE=\"0 0 1 ..\"\n", 1, "'..' is not allowed as a mount name"),
	BAD("maps: name .", MAPS, "DEVICE=\"0 0 1 .\"\n", 1, "'.' is not allowed as a mount name"),
	BAD("maps: name too long", MAPS, "DEVICE=\"0 0 1 " LONG256 "\"\n", 1,
	    "mount name is longer than 255 characters"),
	BAD("maps: name with control character", MAPS, "DEVICE=\"0 0 1 disk\x7f\"\n", 1,
	    "mount name contains a control character"),
	BAD("maps: LUN 16384", MAPS, "DEVICE=\"0 16384 1 disk\"\n", 1,
	    "LUN 16384 is out of range (0 to 16383)"),
	BAD("maps: partition 129", MAPS, "DEVICE=\"0 0 129 disk\"\n", 1,
	    "partition 129 is out of range (0 to 128)"),
	BAD("maps: partition -1", MAPS, "DEVICE=\"0 0 -1 disk\"\n", 1,
	    "partition '-1' is not a number"),
	BAD("maps: channel id word", MAPS, "DEVICE=\"zero 0 1 disk\"\n", 1,
	    "channel id 'zero' is not a number"),
	BAD("maps: 3 fields", MAPS, "DEVICE=\"0 0 disk\"\n", 1,
	    "DEVICE needs 4 arguments (channel id, LUN, partition, name), found 3"),
	BAD("maps: 5 fields", MAPS, "DEVICE=\"0 0 1 my disk\"\n", 1,
	    "DEVICE needs 4 arguments (channel id, LUN, partition, name), found 5"),
	BAD("maps: unquoted", MAPS, "DEVICE=0\n", 1,
	    "the value of DEVICE must be in double quotes: DEVICE=\"...\""),
	BAD("maps: unterminated single quote", MAPS, "DEVICE='0 0 1 disk\n", 1,
	    "unterminated single quote"),
	BAD("maps: unknown setting", MAPS, "DEVICES=\"0 0 1 disk\"\n", 1,
	    "unknown setting 'DEVICES'"),

	/* iscsifs.conf */
	BAD("settings: unknown group", SETTINGS, "# c\nfoo = 1;\n", 2, "unknown setting 'foo'"),
	BAD("settings: unknown setting in a group", SETTINGS,
	    "paths = {\n  initiatr = \"/etc/x\";\n};\n", 2, "unknown setting 'paths.initiatr'"),
	BAD("settings: not a group", SETTINGS, "paths = \"/etc\";\n", 1,
	    "paths must be a group: paths = { ... };"),
	BAD("settings: log_level a number", SETTINGS, "daemon = {\n log_level = 3;\n};\n", 2,
	    "daemon.log_level must be a string in double quotes"),
	BAD("settings: unknown log level", SETTINGS, "daemon = { log_level = \"loud\"; };\n", 1,
	    "daemon.log_level: unknown log level 'loud' (error, warning, info or debug)"),
	BAD("settings: relative path", SETTINGS, "paths = {\n\n initiator = \"etc/x\";\n};\n", 3,
	    "paths.initiator must be an absolute path, not 'etc/x'"),
	BAD("settings: relative mount root", SETTINGS, "daemon = { mount_root = \"mnt\"; };\n", 1,
	    "daemon.mount_root must be an absolute path, not 'mnt'"),
	BAD("settings: socket path too long", SETTINGS,
	    "daemon = { control_socket = \"/" LONG64 LONG64 "\"; };\n", 1,
	    "daemon.control_socket is longer than 107 bytes, too long for a socket"),
	BAD("settings: queue_depth 0", SETTINGS, "channel_defaults = {\n queue_depth = 0;\n};\n", 2,
	    "channel_defaults.queue_depth = 0 is out of range (1 to 128)"),
	BAD("settings: replacement_timeout 100000", SETTINGS,
	    "channel_defaults = { replacement_timeout = 100000; };\n", 1,
	    "channel_defaults.replacement_timeout = 100000 is out of range (0 to 86400)"),
	BAD("settings: timeout as a string", SETTINGS,
	    "channel_defaults = { nopout_timeout = \"5\"; };\n", 1,
	    "channel_defaults.nopout_timeout must be a whole number"),
	BAD("settings: timeout as a float", SETTINGS,
	    "channel_defaults = { login_timeout = 1.5; };\n", 1,
	    "channel_defaults.login_timeout must be a whole number"),
	BAD("settings: multipath as a number", SETTINGS,
	    "channel_defaults = { multipath = 1; };\n", 1,
	    "channel_defaults.multipath must be off, failover or round-robin, in double quotes"),
	BAD("settings: unknown attribute", SETTINGS, "channel_defaults = { foo = 1; };\n", 1,
	    "unknown setting 'channel_defaults.foo'"),
	BAD("settings: syntax error", SETTINGS, "paths = {\n initiator = /etc/x;\n};\n", 2,
	    "syntax error"),
	BAD("settings: duplicate setting", SETTINGS,
	    "daemon = {\n log_level = \"info\";\n log_level = \"debug\";\n};\n", 3,
	    "duplicate setting name"),
};

#define N_BAD_CASES (sizeof(bad_cases) / sizeof(bad_cases[0]))

static void test_nul_byte(void **state)
{
	struct fixture *fx = *state;
	static const char text[] = "DEVICE=\"0 0 1 disk0a\"\nDEVICE=\"0 1\0 1 x\"\n";
	char expect[2 * CFG_ERR_MAX];
	const char *p;

	load_howto_channels(fx, NULL);
	p = fx_file_n(fx, text, sizeof(text) - 1, 0600);
	assert_int_equal(cfg_parse_maps(&fx->c, p, fx->err, sizeof(fx->err)), -EINVAL);
	snprintf(expect, sizeof(expect), "%s:2: line contains a NUL byte", p);
	assert_string_equal(fx->err, expect);
}

/* ---- the howto's examples ---- */

static void assert_portal(const struct cfg_portal *p, const char *netdev, const char *addr,
			  int port, int line)
{
	assert_string_equal(p->netdev, netdev);
	assert_string_equal(p->addr, addr);
	assert_int_equal(p->port, port);
	assert_int_equal(p->interconnect, 0);
	assert_int_equal(p->line, line);
}

static void test_howto_channels(void **state)
{
	struct fixture *fx = *state;
	struct cfg_channel *ch;

	load_howto_channels(fx, "# from the howto\n\n" HOWTO_INITIATOR);
	assert_int_equal(fx->c.nchannels, 2);

	ch = cfg_channel_find(&fx->c, 0);
	assert_non_null(ch);
	assert_int_equal(ch->conn_count, 1);
	assert_int_equal(ch->nportals, 1);
	assert_int_equal(ch->line, 3);
	assert_portal(&ch->portals[0], "eth0", "192.168.0.1", 3260, 3);
	assert_string_equal(key_set_get(&ch->keys, K_AUTH_METHOD), "CHAP,None");
	assert_string_equal(key_set_get(&ch->keys, K_MAX_RECV_DSL), "8192");
	assert_null(key_set_get(&ch->keys, K_IMMEDIATE_DATA));
	assert_int_equal(ch->attrs.nopout_timeout, 5);
	/* Not set: the default, the 10 seconds the howto describes. */
	assert_int_equal(ch->attrs.nopout_response_timeout, 10);
	assert_string_equal(ch->target_name, "");
	assert_int_equal(ch->auth.present, 0);

	ch = cfg_channel_find(&fx->c, 1);
	assert_non_null(ch);
	assert_int_equal(ch->conn_count, 2);
	assert_int_equal(ch->nportals, 2);
	assert_int_equal(ch->line, 4);
	assert_portal(&ch->portals[0], "eth0", "192.168.0.2", 3260, 4);
	assert_portal(&ch->portals[1], "eth1", "192.168.1.2", 3260, 5);
	assert_string_equal(key_set_get(&ch->keys, K_AUTH_METHOD), "None");
	assert_string_equal(key_set_get(&ch->keys, K_MAX_RECV_DSL), "32768");
	assert_string_equal(key_set_get(&ch->keys, K_IMMEDIATE_DATA), "No");
	assert_int_equal(ch->attrs.nopout_timeout, 10);
	assert_int_equal(ch->attrs.nopout_response_timeout, 10);
	assert_int_equal(ch->attrs.login_timeout, 15);
	assert_int_equal(ch->attrs.command_timeout, 30);
	assert_int_equal(ch->attrs.replacement_timeout, 120);
	assert_int_equal(ch->attrs.queue_depth, 32);
	assert_string_equal(ch->target_name, "");

	assert_null(cfg_channel_find(&fx->c, 2));
}

/* Example 1 on its own: the same channel 0 line. */
static void test_howto_example1(void **state)
{
	struct fixture *fx = *state;
	struct cfg_channel *ch;

	load_howto_channels(fx, HOWTO_CH0);
	assert_int_equal(fx->c.nchannels, 1);
	ch = &fx->c.channels[0];
	assert_int_equal(ch->id, 0);
	assert_int_equal(ch->conn_count, 1);
	assert_portal(&ch->portals[0], "eth0", "192.168.0.1", 3260, 1);
	assert_int_equal(ch->attrs.nopout_timeout, 5);
}

/* The second line of channel 1 alone has six arguments: keys and attributes come later. */
static void test_howto_six_arguments(void **state)
{
	struct fixture *fx = *state;
	struct cfg_channel *ch;

	load_howto_channels(fx, HOWTO_CH1B);
	ch = cfg_channel_find(&fx->c, 1);
	assert_non_null(ch);
	assert_portal(&ch->portals[0], "eth1", "192.168.1.2", 3260, 1);
	for (int k = 0; k < K_COUNT; k++)
		assert_null(key_set_get(&ch->keys, k));
	assert_int_equal(ch->attrs.nopout_timeout, 5);
	assert_int_equal(ch->attrs.queue_depth, 32);
}

/* Line order does not matter: keys given on the second line merge into the first. */
static void test_channel_merge_later_keys(void **state)
{
	struct fixture *fx = *state;
	struct cfg_channel *ch;

	load_howto_channels(fx, HOWTO_CH1B HOWTO_CH1A);
	ch = cfg_channel_find(&fx->c, 1);
	assert_int_equal(ch->nportals, 2);
	assert_int_equal(ch->line, 1);
	assert_string_equal(key_set_get(&ch->keys, K_IMMEDIATE_DATA), "No");
	assert_int_equal(ch->attrs.nopout_timeout, 10);
	assert_int_equal(ch->attrs.nopout_response_timeout, 10);
}

static void test_howto_auth(void **state)
{
	struct fixture *fx = *state;
	struct cfg_channel *ch;
	const char *p;

	load_howto_channels(fx, NULL);
	p = fx_file(fx, "# Channel ID\n#     | Mutual Authentication\n" HOWTO_AUTH);
	assert_int_equal(cfg_parse_auth(&fx->c, p, fx->err, sizeof(fx->err)), 0);

	ch = cfg_channel_find(&fx->c, 0);
	assert_int_equal(ch->auth.present, 1);
	assert_int_equal(ch->auth.mutual, 1);
	assert_int_equal(ch->auth.line, 3);
	assert_string_equal(ch->auth.user, "someuser");
	assert_string_equal(ch->auth.secret, "somepass034");
	assert_string_equal(ch->auth.target_user, "someuser_ma");
	assert_string_equal(ch->auth.target_secret, "somepass014_ma");

	/* The howto's 5-character secret is accepted. */
	ch = cfg_channel_find(&fx->c, 1);
	assert_int_equal(ch->auth.present, 1);
	assert_int_equal(ch->auth.mutual, 0);
	assert_int_equal(ch->auth.line, 4);
	assert_string_equal(ch->auth.user, "another_user");
	assert_string_equal(ch->auth.secret, "12345");
	assert_string_equal(ch->auth.target_user, "");
	assert_string_equal(ch->auth.target_secret, "");
}

static void test_auth_single_quotes(void **state)
{
	struct fixture *fx = *state;
	const char *p;

	load_howto_channels(fx, NULL);
	p = fx_file(fx, "  AUTH='1 0 another_user pa$$word`x' # literal\r\n");
	assert_int_equal(cfg_parse_auth(&fx->c, p, fx->err, sizeof(fx->err)), 0);
	assert_string_equal(cfg_channel_find(&fx->c, 1)->auth.secret, "pa$$word`x");
}

static void test_howto_maps(void **state)
{
	static const struct {
		int channel;
		uint32_t lun;
		int partition;
		const char *name;
	} want[] = {
		{0, 0, 1, "disk0a"}, {0, 0, 2, "disk0b"}, {0, 1, 1, "disk1a"}, {0, 2, 1, "disk2a"},
		{1, 0, 0, "dvd0"},   {1, 1, 1, "disk0a"}, {1, 1, 2, "disk0b"}, {1, 2, 1, "disk1a"},
	};
	struct fixture *fx = *state;
	const char *p;

	load_howto_channels(fx, NULL);
	p = fx_file(fx, "#\n#       iSCSI Channel ID\n" HOWTO_MAPS);
	assert_int_equal(cfg_parse_maps(&fx->c, p, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(fx->c.nmaps, 8);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(fx->c.maps[i].channel, want[i].channel);
		assert_int_equal(fx->c.maps[i].lun, want[i].lun);
		assert_int_equal(fx->c.maps[i].partition, want[i].partition);
		assert_string_equal(fx->c.maps[i].name, want[i].name);
		assert_int_equal(fx->c.maps[i].line, i + 3);
	}
}

/* Different targets may use the same names; so may channels whose target is not known yet. */
static void test_maps_same_name_different_targets(void **state)
{
	struct fixture *fx = *state;
	const char *p;

	load_howto_channels(fx, "CHANNEL=\"5 1 192.168.0.1 3260 0 iqn.2005-04.com.example:t1\"\n"
				"CHANNEL=\"6 1 192.168.1.1 3260 0 iqn.2005-04.com.example:t2\"\n"
				"CHANNEL=\"7 1 192.168.1.1 3260 0\"\n");
	p = fx_file(fx, "DEVICE=\"5 0 1 disk\"\nDEVICE=\"6 0 1 disk\"\nDEVICE=\"7 0 1 disk\"\n");
	assert_int_equal(cfg_parse_maps(&fx->c, p, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(fx->c.nmaps, 3);
}

static void test_howto_initiatorname(void **state)
{
	struct fixture *fx = *state;
	const char *p;

	p = fx_file(fx, "# made by iscsi-iname\n\n"
			"  InitiatorName=iqn.2005-03.org.open-iscsi:01a2b3 # comment\n"
			"InitiatorAlias=\"storage host 1\"\n");
	assert_int_equal(cfg_parse_initiatorname(&fx->c, p, fx->err, sizeof(fx->err)), 0);
	assert_string_equal(fx->c.initiator_name, "iqn.2005-03.org.open-iscsi:01a2b3");
	assert_string_equal(fx->c.initiator_alias, "storage host 1");
}

static void test_initiatorname_quoted(void **state)
{
	struct fixture *fx = *state;
	const char *p;

	p = fx_file(fx, "InitiatorName=\"eui.02004567A425678D\"\r\n");
	assert_int_equal(cfg_parse_initiatorname(&fx->c, p, fx->err, sizeof(fx->err)), 0);
	assert_string_equal(fx->c.initiator_name, "eui.02004567A425678D");
	assert_string_equal(fx->c.initiator_alias, "");
}

static void test_channel_variants(void **state)
{
	struct fixture *fx = *state;
	struct cfg_channel *ch;

	load_howto_channels(fx,
		"\t CHANNEL=\"2 1 10.0.0.1 3260 0 HeaderDigest=CRC32C,None;DataDigest=CRC32C "
		"login_timeout=20;queue_depth=64 iqn.2005-04.com.example:sn.1\" # no device\n"
		"CHANNEL='3 4 bond0.100 10.0.0.2 3261 0 MaxConnections=4 "
		"command_timeout=60,replacement_timeout=0'\n"
		"CHANNEL=\"4 1 10.0.0.3 3260 0 naa.52004567BA64678D\"\n");
	assert_int_equal(fx->c.nchannels, 3);

	ch = cfg_channel_find(&fx->c, 2);
	assert_portal(&ch->portals[0], "", "10.0.0.1", 3260, 1);
	assert_string_equal(key_set_get(&ch->keys, K_HEADER_DIGEST), "CRC32C,None");
	assert_string_equal(key_set_get(&ch->keys, K_DATA_DIGEST), "CRC32C");
	assert_int_equal(ch->attrs.login_timeout, 20);
	assert_int_equal(ch->attrs.queue_depth, 64);
	assert_int_equal(ch->attrs.nopout_timeout, 5);
	assert_string_equal(ch->target_name, "iqn.2005-04.com.example:sn.1");

	ch = cfg_channel_find(&fx->c, 3);
	assert_int_equal(ch->conn_count, 4);
	assert_portal(&ch->portals[0], "bond0.100", "10.0.0.2", 3261, 2);
	assert_int_equal(ch->attrs.command_timeout, 60);
	assert_int_equal(ch->attrs.replacement_timeout, 0);

	ch = cfg_channel_find(&fx->c, 4);
	assert_string_equal(ch->target_name, "naa.52004567BA64678D");
	for (int k = 0; k < K_COUNT; k++)
		assert_null(key_set_get(&ch->keys, k));
}

/* ISNS= in any place of the file, and channels whose portal iSNS gives. */
static void test_isns(void **state)
{
	struct fixture *fx = *state;
	struct cfg_channel *ch;

	load_howto_channels(fx,
		"CHANNEL=\"5 1 eth1 isns 0 0 AuthMethod=None nopout_timeout=5 "
		"iqn.2005-04.com.example:t5\"\n"
		"ISNS=\"192.168.0.9\" # the server\n"
		"CHANNEL=\"6 1 192.168.0.1 3260 0\"\n");
	assert_string_equal(fx->c.isns.addr, "192.168.0.9");
	assert_int_equal(fx->c.isns.port, 3205);
	assert_int_equal(fx->c.isns.query_interval, 15);
	assert_int_equal(fx->c.isns.line, 2);
	ch = cfg_channel_find(&fx->c, 5);
	assert_true(ch->portals[0].from_isns);
	assert_string_equal(ch->portals[0].netdev, "eth1");
	assert_string_equal(ch->portals[0].addr, "");
	assert_string_equal(ch->target_name, "iqn.2005-04.com.example:t5");
	ch = cfg_channel_find(&fx->c, 6);
	assert_false(ch->portals[0].from_isns);
}

static void test_isns_port_and_interval(void **state)
{
	struct fixture *fx = *state;

	load_howto_channels(fx, "ISNS='10.1.1.1 13205 query_interval=30'\n");
	assert_string_equal(fx->c.isns.addr, "10.1.1.1");
	assert_int_equal(fx->c.isns.port, 13205);
	assert_int_equal(fx->c.isns.query_interval, 30);
	assert_int_equal(fx->c.nchannels, 0);
}

/* A repeated key or attribute with the same value is no conflict. */
static void test_channel_repeat_same_values(void **state)
{
	struct fixture *fx = *state;
	struct cfg_channel *ch;

	load_howto_channels(fx, HOWTO_CH1A
		"CHANNEL=\"1 2 eth1 192.168.1.2 3260 0 ImmediateData=No;InitialR2T=No "
		"nopout_timeout=10;queue_depth=8\"\n");
	ch = cfg_channel_find(&fx->c, 1);
	assert_string_equal(key_set_get(&ch->keys, K_INITIAL_R2T), "No");
	assert_int_equal(ch->attrs.queue_depth, 8);
	assert_int_equal(ch->attrs.nopout_timeout, 10);
}

/* multipath= takes a policy name; off unless given; iscsifs.conf can set the default. */
static void test_channel_multipath(void **state)
{
	struct fixture *fx = *state;
	const char *p;

	load_howto_channels(fx, HOWTO_CH0
		"CHANNEL=\"2 1 10.0.0.1 3260 0 AuthMethod=None multipath=round-robin\"\n"
		"CHANNEL=\"3 1 10.0.1.1 3260 0 AuthMethod=None queue_depth=8, multipath=failover\"\n");
	assert_int_equal(cfg_channel_find(&fx->c, 0)->attrs.multipath, CFG_MPATH_OFF);
	assert_int_equal(cfg_channel_find(&fx->c, 2)->attrs.multipath, CFG_MPATH_ROUND_ROBIN);
	assert_int_equal(cfg_channel_find(&fx->c, 3)->attrs.multipath, CFG_MPATH_FAILOVER);
	assert_int_equal(cfg_channel_find(&fx->c, 3)->attrs.queue_depth, 8);
	assert_string_equal(cfg_multipath_str(CFG_MPATH_ROUND_ROBIN), "round-robin");

	cfg_free(&fx->c);
	cfg_init(&fx->c);
	p = fx_file(fx, "channel_defaults = { multipath = \"failover\"; };\n");
	assert_int_equal(cfg_load_settings(&fx->c, p, fx->err, sizeof(fx->err)), 0);
	load_howto_channels(fx, HOWTO_CH0
		"CHANNEL=\"2 1 10.0.0.1 3260 0 AuthMethod=None multipath=off\"\n");
	assert_int_equal(cfg_channel_find(&fx->c, 0)->attrs.multipath, CFG_MPATH_FAILOVER);
	assert_int_equal(cfg_channel_find(&fx->c, 2)->attrs.multipath, CFG_MPATH_OFF);
}

/* Channels start from the defaults of iscsifs.conf. */
static void test_channel_defaults_from_settings(void **state)
{
	struct fixture *fx = *state;
	const char *p;

	p = fx_file(fx, "channel_defaults = { nopout_timeout = 0; queue_depth = 4; };\n");
	assert_int_equal(cfg_load_settings(&fx->c, p, fx->err, sizeof(fx->err)), 0);
	load_howto_channels(fx, NULL);
	assert_int_equal(cfg_channel_find(&fx->c, 0)->attrs.nopout_timeout, 5);
	assert_int_equal(cfg_channel_find(&fx->c, 0)->attrs.queue_depth, 4);
	assert_int_equal(cfg_channel_find(&fx->c, 1)->attrs.queue_depth, 4);
}

static void test_missing_file(void **state)
{
	struct fixture *fx = *state;
	const char *p = fx_missing(fx);
	char expect[2 * CFG_ERR_MAX];

	assert_int_equal(cfg_parse_initiator(&fx->c, p, fx->err, sizeof(fx->err)), -ENOENT);
	snprintf(expect, sizeof(expect), "%s: cannot open: No such file or directory", p);
	assert_string_equal(fx->err, expect);
}

/* ---- cfg_load_all ---- */

static void set_path(char **field, const char *p)
{
	free(*field);
	*field = strdup(p);
	assert_non_null(*field);
}

static void use_files(struct fixture *fx, const char *name, const char *initiator,
		      const char *auth, const char *maps)
{
	set_path(&fx->c.paths.initiatorname, name ? fx_file(fx, name) : fx_missing(fx));
	set_path(&fx->c.paths.initiator, initiator ? fx_file(fx, initiator) : fx_missing(fx));
	set_path(&fx->c.paths.initiator_auth, auth ? fx_file(fx, auth) : fx_missing(fx));
	set_path(&fx->c.paths.device_maps, maps ? fx_file(fx, maps) : fx_missing(fx));
}

static void test_load_all_howto(void **state)
{
	struct fixture *fx = *state;

	use_files(fx, GOOD_NAME, HOWTO_INITIATOR, HOWTO_AUTH, HOWTO_MAPS);
	assert_int_equal(cfg_load_all(&fx->c, fx->err, sizeof(fx->err)), 0);
	assert_string_equal(fx->c.initiator_name, "iqn.2026-11.org.iscsifs.test:host1");
	assert_int_equal(fx->c.nchannels, 2);
	assert_int_equal(fx->c.nmaps, 8);
	assert_int_equal(cfg_channel_find(&fx->c, 0)->auth.present, 1);
}

/* The shipped examples in conf/ must load as they are (the auth file at mode 600). */
static void test_load_all_conf_examples(void **state)
{
	struct fixture *fx = *state;
	char auth[8192];
	FILE *f;
	size_t n;

	f = fopen(CONF_DIR "/initiator_auth", "r");
	if (!f)
		fail_msg("cannot open %s", CONF_DIR "/initiator_auth");
	n = fread(auth, 1, sizeof(auth) - 1, f);
	fclose(f);
	auth[n] = '\0';
	set_path(&fx->c.paths.initiatorname, CONF_DIR "/initiatorname.iscsi");
	set_path(&fx->c.paths.initiator, CONF_DIR "/initiator");
	set_path(&fx->c.paths.initiator_auth, fx_file(fx, auth));
	set_path(&fx->c.paths.device_maps, CONF_DIR "/iscsi_device_maps");
	if (cfg_load_all(&fx->c, fx->err, sizeof(fx->err)) != 0)
		fail_msg("%s", fx->err);
	assert_int_equal(fx->c.nchannels, 2);
	assert_int_equal(cfg_channel_find(&fx->c, 1)->nportals, 2);
	assert_int_equal(fx->c.nmaps, 8);
	assert_string_equal(cfg_channel_find(&fx->c, 1)->auth.secret, "12345");
}

static void test_load_settings_conf_example(void **state)
{
	struct fixture *fx = *state;

	if (cfg_load_settings(&fx->c, CONF_DIR "/iscsifs.conf", fx->err, sizeof(fx->err)) != 0)
		fail_msg("%s", fx->err);
	/* The example documents the defaults: loading it changes nothing. */
	assert_string_equal(fx->c.paths.initiator, "/etc/sysconfig/initiator");
	assert_string_equal(fx->c.paths.initiator_auth, "/etc/sysconfig/initiator_auth");
	assert_string_equal(fx->c.paths.device_maps, "/etc/sysconfig/iscsi_device_maps");
	assert_string_equal(fx->c.paths.initiatorname, "/etc/initiatorname.iscsi");
	assert_string_equal(fx->c.settings.mount_root, "/");
	assert_string_equal(fx->c.settings.control_socket, "/run/iscsifs/control.sock");
	assert_string_equal(fx->c.settings.log_level, "info");
	assert_int_equal(fx->c.settings.default_attrs.nopout_timeout, 5);
	assert_int_equal(fx->c.settings.default_attrs.nopout_response_timeout, 10);
	assert_int_equal(fx->c.settings.default_attrs.login_timeout, 15);
	assert_int_equal(fx->c.settings.default_attrs.command_timeout, 30);
	assert_int_equal(fx->c.settings.default_attrs.replacement_timeout, 120);
	assert_int_equal(fx->c.settings.default_attrs.queue_depth, 32);
}

static void test_load_settings_values(void **state)
{
	struct fixture *fx = *state;
	const char *p;

	p = fx_file(fx, "paths = { initiator = \"/srv/initiator\"; };\n"
			"daemon = { mount_root = \"/mnt/iscsi\"; log_level = \"debug\"; };\n"
			"channel_defaults = { command_timeout = 90; replacement_timeout = 0; };\n");
	assert_int_equal(cfg_load_settings(&fx->c, p, fx->err, sizeof(fx->err)), 0);
	assert_string_equal(fx->c.paths.initiator, "/srv/initiator");
	assert_string_equal(fx->c.paths.initiator_auth, "/etc/sysconfig/initiator_auth");
	assert_string_equal(fx->c.settings.mount_root, "/mnt/iscsi");
	assert_string_equal(fx->c.settings.log_level, "debug");
	assert_string_equal(fx->c.settings.control_socket, "/run/iscsifs/control.sock");
	assert_int_equal(fx->c.settings.default_attrs.command_timeout, 90);
	assert_int_equal(fx->c.settings.default_attrs.replacement_timeout, 0);
	assert_int_equal(fx->c.settings.default_attrs.login_timeout, 15);
}

static void test_data_settings_custom(void **state)
{
	struct fixture *fx = *state;
	const struct cfg_attrs *a = &fx->c.settings.default_attrs;

	if (cfg_load_settings(&fx->c, TEST_DATA_DIR "/iscsifs-custom.conf", fx->err,
			      sizeof(fx->err)) != 0)
		fail_msg("%s", fx->err);
	assert_string_equal(fx->c.paths.initiator, "/srv/iscsi/initiator");
	assert_string_equal(fx->c.paths.initiator_auth, "/srv/iscsi/initiator_auth");
	assert_string_equal(fx->c.paths.device_maps, "/srv/iscsi/iscsi_device_maps");
	assert_string_equal(fx->c.paths.initiatorname, "/srv/iscsi/initiatorname.iscsi");
	assert_string_equal(fx->c.settings.mount_root, "/mnt/iscsi");
	assert_string_equal(fx->c.settings.control_socket, "/tmp/iscsifs.sock");
	assert_string_equal(fx->c.settings.log_level, "debug");
	assert_int_equal(a->nopout_timeout, 0);
	assert_int_equal(a->nopout_response_timeout, 3600);
	assert_int_equal(a->login_timeout, 1);
	assert_int_equal(a->command_timeout, 3600);
	assert_int_equal(a->replacement_timeout, 86400);
	assert_int_equal(a->queue_depth, 128);
}

static void test_data_initiatorname_crlf(void **state)
{
	struct fixture *fx = *state;

	if (cfg_parse_initiatorname(&fx->c, TEST_DATA_DIR "/initiatorname-crlf.iscsi", fx->err,
				    sizeof(fx->err)) != 0)
		fail_msg("%s", fx->err);
	assert_string_equal(fx->c.initiator_name, "iqn.1991-05.com.microsoft:host-7");
	assert_string_equal(fx->c.initiator_alias, "host 7");
}

/* Tabs, runs of blanks, CRLF and a last line without its newline. */
static void test_data_initiator_layout(void **state)
{
	struct fixture *fx = *state;
	struct cfg_channel *ch;

	if (cfg_parse_initiator(&fx->c, TEST_DATA_DIR "/initiator-layout", fx->err,
				sizeof(fx->err)) != 0)
		fail_msg("%s", fx->err);
	ch = cfg_channel_find(&fx->c, 8);
	assert_non_null(ch);
	assert_int_equal(ch->nportals, 2);
	assert_portal(&ch->portals[0], "eth2", "10.1.0.1", 3260, 2);
	assert_portal(&ch->portals[1], "eth3", "10.1.1.1", 3260, 3);
	assert_string_equal(key_set_get(&ch->keys, K_DATA_DIGEST), "CRC32C");
	assert_int_equal(ch->attrs.queue_depth, 16);
}

/* A bad file changes nothing, not even the settings before the bad one. */
static void test_load_settings_all_or_nothing(void **state)
{
	struct fixture *fx = *state;
	const char *p;

	p = fx_file(fx, "daemon = { mount_root = \"/mnt/iscsi\"; };\n"
			"channel_defaults = { queue_depth = 8; login_timeout = 0; };\n");
	assert_int_equal(cfg_load_settings(&fx->c, p, fx->err, sizeof(fx->err)), -EINVAL);
	assert_string_equal(fx->c.settings.mount_root, "/");
	assert_int_equal(fx->c.settings.default_attrs.queue_depth, 32);
}

static void test_load_settings_missing(void **state)
{
	struct fixture *fx = *state;
	const char *p = fx_missing(fx);
	char expect[2 * CFG_ERR_MAX];

	assert_int_equal(cfg_load_settings(&fx->c, p, fx->err, sizeof(fx->err)), -ENOENT);
	snprintf(expect, sizeof(expect), "%s: cannot open: No such file or directory", p);
	assert_string_equal(fx->err, expect);
	/* The default file may be absent. */
	if (access("/etc/iscsifs.conf", F_OK) != 0)
		assert_int_equal(cfg_load_settings(&fx->c, NULL, fx->err, sizeof(fx->err)), 0);
}

static void test_init_defaults(void **state)
{
	struct fixture *fx = *state;

	assert_string_equal(fx->c.paths.initiator, "/etc/sysconfig/initiator");
	assert_string_equal(fx->c.paths.initiator_auth, "/etc/sysconfig/initiator_auth");
	assert_string_equal(fx->c.paths.device_maps, "/etc/sysconfig/iscsi_device_maps");
	assert_string_equal(fx->c.paths.initiatorname, "/etc/initiatorname.iscsi");
	assert_string_equal(fx->c.settings.mount_root, "/");
	assert_string_equal(fx->c.settings.control_socket, "/run/iscsifs/control.sock");
	assert_string_equal(fx->c.settings.log_level, "info");
	assert_int_equal(fx->c.settings.default_attrs.nopout_timeout, 5);
	assert_int_equal(fx->c.settings.default_attrs.nopout_response_timeout, 10);
	assert_int_equal(fx->c.settings.default_attrs.login_timeout, 15);
	assert_int_equal(fx->c.settings.default_attrs.command_timeout, 30);
	assert_int_equal(fx->c.settings.default_attrs.replacement_timeout, 120);
	assert_int_equal(fx->c.settings.default_attrs.queue_depth, 32);
	assert_int_equal(fx->c.nchannels, 0);
	assert_int_equal(fx->c.nmaps, 0);
}

static void test_load_all_no_auth_no_maps(void **state)
{
	struct fixture *fx = *state;

	use_files(fx, GOOD_NAME, HOWTO_INITIATOR, NULL, NULL);
	assert_int_equal(cfg_load_all(&fx->c, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(fx->c.nmaps, 0);
	assert_int_equal(cfg_channel_find(&fx->c, 0)->auth.present, 0);
}

static void test_load_all_missing_initiator(void **state)
{
	struct fixture *fx = *state;
	char expect[2 * CFG_ERR_MAX];

	use_files(fx, GOOD_NAME, NULL, HOWTO_AUTH, HOWTO_MAPS);
	assert_int_equal(cfg_load_all(&fx->c, fx->err, sizeof(fx->err)), -ENOENT);
	snprintf(expect, sizeof(expect), "%s: cannot open: No such file or directory",
		 fx->c.paths.initiator);
	assert_string_equal(fx->err, expect);
}

static void test_load_all_missing_initiatorname(void **state)
{
	struct fixture *fx = *state;
	char expect[2 * CFG_ERR_MAX];

	use_files(fx, NULL, HOWTO_INITIATOR, HOWTO_AUTH, HOWTO_MAPS);
	assert_int_equal(cfg_load_all(&fx->c, fx->err, sizeof(fx->err)), -ENOENT);
	snprintf(expect, sizeof(expect), "%s: cannot open: No such file or directory",
		 fx->c.paths.initiatorname);
	assert_string_equal(fx->err, expect);
}

/* AuthMethod=CHAP alone cannot log in without a secret; CHAP,None can fall back. */
static void test_load_all_chap_needs_auth(void **state)
{
	struct fixture *fx = *state;
	char expect[2 * CFG_ERR_MAX];

	use_files(fx, GOOD_NAME,
		  "CHANNEL=\"0 1 192.168.0.1 3260 0 AuthMethod=CHAP,None\"\n"
		  "CHANNEL=\"1 1 192.168.0.2 3260 0 AuthMethod=None\"\n"
		  "CHANNEL=\"2 1 192.168.0.3 3260 0 AuthMethod=CHAP\"\n",
		  "AUTH=\"1 0 user1 secret-one-1\"\n", NULL);
	assert_int_equal(cfg_load_all(&fx->c, fx->err, sizeof(fx->err)), -EINVAL);
	snprintf(expect, sizeof(expect), "%s:3: channel 2 has AuthMethod=CHAP but %s has no AUTH "
		 "line for it", fx->c.paths.initiator, fx->c.paths.initiator_auth);
	assert_string_equal(fx->err, expect);
}

static void test_load_all_chap_with_auth(void **state)
{
	struct fixture *fx = *state;

	use_files(fx, GOOD_NAME, "CHANNEL=\"2 1 192.168.0.3 3260 0 AuthMethod=CHAP\"\n",
		  "AUTH=\"2 0 user2 secret-two-2\"\n", NULL);
	assert_int_equal(cfg_load_all(&fx->c, fx->err, sizeof(fx->err)), 0);
}

static void test_load_all_auth_mode(void **state)
{
	struct fixture *fx = *state;
	char expect[2 * CFG_ERR_MAX];

	use_files(fx, GOOD_NAME, HOWTO_INITIATOR, HOWTO_AUTH, HOWTO_MAPS);
	assert_int_equal(chmod(fx->c.paths.initiator_auth, 0644), 0);
	assert_int_equal(cfg_load_all(&fx->c, fx->err, sizeof(fx->err)), -EINVAL);
	snprintf(expect, sizeof(expect), "%s: is readable by others (mode 0644); run: chmod 600 %s",
		 fx->c.paths.initiator_auth, fx->c.paths.initiator_auth);
	assert_string_equal(fx->err, expect);
	assert_null(strstr(fx->err, "somepass"));
}

/* No message from a bad line of the auth file names a secret in it. */
static void test_load_all_errors_hide_secrets(void **state)
{
	struct fixture *fx = *state;

	use_files(fx, GOOD_NAME, HOWTO_INITIATOR,
		  "AUTH=\"0 1 someuser somepass034 someuser_ma somepass014_ma\"\n"
		  "AUTH=\"1 0 another_user 12345 extra-Sekr1t\"\n", NULL);
	assert_int_equal(cfg_load_all(&fx->c, fx->err, sizeof(fx->err)), -EINVAL);
	assert_non_null(strstr(fx->err, ":2: AUTH with mutual=0 needs 4 fields"));
	assert_null(strstr(fx->err, "12345"));
	assert_null(strstr(fx->err, "Sekr1t"));
	assert_null(strstr(fx->err, "somepass"));
}

/* ---- iSCSI names ---- */

static void test_name_check_good(void **state)
{
	static const char *const good[] = {
		"iqn.2005-03.org.open-iscsi:01a2b3c4d5e6",
		"iqn.2001-04.com.example",
		"iqn.2001-04.com.example:storage:diskarrays-sn-a8675309",
		"iqn.2005-04.com.example.target.mipsee:sn.1234567890",
		"iqn.1992-01.com.example:storage.disk2.sys1.xyz",
		"iqn.2026-11.org.iscsifs:0123456789ab",
		"iqn.2005-04.com.example.target.mipsEE:sn.1234567890",
		"IQN.2005-04.COM.EXAMPLE:SN.1",
		"iqn.2005-04.com.example:\xc3\x9cn\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9", /* Ünïcödé */
		"eui.02004567a425678d",
		"eui.02004567A425678D",
		"EUI.02004567A425678D",
		"naa.52004567BA64678D",
		"naa.62004567BA64678D0123456789ABCDEF",
	};
	char err[CFG_ERR_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (iscsi_name_check(good[i], err, sizeof(err)) != 0)
			fail_msg("%s: %s", good[i], err);
}

static void test_name_check_bad(void **state)
{
	static const struct {
		const char *name, *reason;
	} bad[] = {
		{"", "empty iSCSI name"},
		{"iqn.2005-3.com.example", "'iqn.' must be followed by a date yyyy-mm"},
		{"iqn.2005-00.com.example", "month 00 is not 01 to 12"},
		{"iqn.2005-04com.example", "the date must be followed by '.'"},
		{"iqn.2005-04.", "the reversed domain name after the date is missing"},
		{"iqn.2005-04.:x", "the reversed domain name after the date is missing"},
		{"iqn.2005-04.com..example", "empty label in the domain name"},
		{"iqn.2005-04.com.example.:x", "empty label in the domain name"},
		{"iqn.2005-04.com.example:", "nothing after ':'"},
		{"iqn.2005-04.com.example:a b", "' ' is not allowed"},
		{"iqn.2005-04.com.exa_mple", "'_' is not allowed"},
		{"iqn.2005-04.com.example:a/b", "'/' is not allowed"},
		{"iqn.2005-04.com.ex\xc3\xa4mple:x", "the domain name is written in ASCII"},
		{"iqn.2005-04.com.example:\xef\xbf\xbe", "U+FFFE is a character RFC 3722 prohibits"},
		/* RFC 3454 6: a right-to-left name (Hebrew alef) mixed with left-to-right text. */
		{"iqn.2005-04.com.example:a\xd7\x90", "right-to-left"},
		{"iqn.2005-04.com.example:\xe0\xb8", "not UTF-8"},
		{".", "it must start with iqn., eui. or naa."},
		{"..", "it must start with iqn., eui. or naa."},
		{"eui.02004567A425678", "eui. names have 16 hex digits, not 15"},
		{"eui.02004567A425678G", "eui. names have only hex digits after the prefix"},
		{"naa.5200456", "naa. names have 16 or 32 hex digits, not 7"},
		{"naa.62004567BA64678D0123456789ABCDE",
		 "naa. names have 16 or 32 hex digits, not 31"},
		{"iscsi.example", "it must start with iqn., eui. or naa."},
		{"iqn.2005-04.com.example:\x01", "control character 0x01"},
	};
	char err[CFG_ERR_MAX], big[300];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (iscsi_name_check(bad[i].name, err, sizeof(err)) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i].name);
		if (!strstr(err, bad[i].reason))
			fail_msg("'%s': got \"%s\", want \"%s\"", bad[i].name, err, bad[i].reason);
	}
	/* 224 bytes: one too many. */
	snprintf(big, sizeof(big), "iqn.2001-04.com.example:%0200d", 0);
	assert_int_equal(strlen(big), 224);
	assert_int_equal(iscsi_name_check(big, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "iSCSI name is 224 bytes long, more than 223");
	big[223] = '\0';
	assert_int_equal(iscsi_name_check(big, err, sizeof(err)), 0);
	assert_int_equal(iscsi_name_check(NULL, err, sizeof(err)), -EINVAL);
}

static void test_name_generate(void **state)
{
	char a[CFG_NAME_MAX], b[CFG_NAME_MAX], err[CFG_ERR_MAX];

	(void)state;
	assert_int_equal(iscsi_name_generate(NULL, a, sizeof(a)), 0);
	assert_int_equal(iscsi_name_generate(NULL, b, sizeof(b)), 0);
	if (iscsi_name_check(a, err, sizeof(err)) != 0)
		fail_msg("%s: %s", a, err);
	assert_int_equal(strncmp(a, "iqn.2026-11.org.iscsifs:", 24), 0);
	assert_int_equal(strlen(a), 24 + 12);
	assert_string_not_equal(a, b);

	assert_int_equal(iscsi_name_generate("iqn.2001-04.com.example:host", a, sizeof(a)), 0);
	assert_int_equal(strncmp(a, "iqn.2001-04.com.example:host:", 29), 0);
	assert_int_equal(iscsi_name_check(a, err, sizeof(err)), 0);

	assert_int_equal(iscsi_name_generate("eui.0123456789abcdef", a, sizeof(a)), -EINVAL);
	/* The prefix in normal form: iscsi-iname writes lower case whatever it is given. */
	assert_int_equal(iscsi_name_generate("iqn.2001-04.com.Example:Host", a, sizeof(a)), 0);
	assert_int_equal(strncmp(a, "iqn.2001-04.com.example:host:", 29), 0);
	assert_int_equal(iscsi_name_generate("iqn.2001-04.com.example:a/b", a, sizeof(a)), -EINVAL);
	assert_int_equal(iscsi_name_generate(NULL, a, 20), -ENOSPC);
}

/* RFC 3722: names compare after case folding and NFKC; what is kept is what was written. */
static void test_name_normal_form(void **state)
{
	char n[CFG_NAME_MAX];

	(void)state;
	assert_int_equal(iscsi_name_normalize("iqn.2005-04.com.example.target.mipsEE:sn.1234567890",
					      n, sizeof(n)), 0);
	assert_string_equal(n, "iqn.2005-04.com.example.target.mipsee:sn.1234567890");
	/* Fullwidth letters fold to ASCII (NFKC); a sharp s folds to "ss" (table B.2). */
	assert_int_equal(iscsi_name_normalize("iqn.2005-04.com.example:\xef\xbc\xa1", n,
					      sizeof(n)), 0);
	assert_string_equal(n, "iqn.2005-04.com.example:a");
	assert_int_equal(iscsi_name_normalize("iqn.2005-04.com.example:Stra\xc3\x9f" "e", n,
					      sizeof(n)), 0);
	assert_string_equal(n, "iqn.2005-04.com.example:strasse");
	/* Soft hyphen maps to nothing (table B.1). */
	assert_int_equal(iscsi_name_normalize("iqn.2005-04.com.example:a\xc2\xad" "b", n,
					      sizeof(n)), 0);
	assert_string_equal(n, "iqn.2005-04.com.example:ab");
	assert_int_equal(iscsi_name_normalize("iqn.2005-04.com.example:a b", n, sizeof(n)),
			 -EINVAL);
	assert_int_equal(iscsi_name_normalize("iqn.2005-04.com.example:x", n, 10), -ENOSPC);

	assert_true(iscsi_name_equal("iqn.2005-04.com.example.target.mipsEE:sn.1234567890",
				     "iqn.2005-04.com.example.target.mipsee:sn.1234567890"));
	assert_true(iscsi_name_equal("IQN.2005-04.COM.EXAMPLE:X", "iqn.2005-04.com.example:x"));
	assert_true(iscsi_name_equal("eui.02004567A425678D", "eui.02004567a425678d"));
	assert_true(iscsi_name_equal("iqn.2005-04.com.example:\xef\xbc\xa1",
				     "iqn.2005-04.com.example:a"));
	assert_false(iscsi_name_equal("iqn.2005-04.com.example:a", "iqn.2005-04.com.example:b"));
	assert_false(iscsi_name_equal("iqn.2005-04.com.example:a", ""));
	/* Names without a normal form are only equal to themselves. */
	assert_true(iscsi_name_equal("iqn.x:a b", "iqn.x:a b"));
	assert_false(iscsi_name_equal("iqn.x:a b", "iqn.x:A b"));
}

/* Names in any case on CHANNEL lines and in initiatorname.iscsi: kept as written; a second
 * line of the channel may write its target in another case. */
static void test_names_any_case(void **state)
{
	struct fixture *fx = *state;
	struct cfg_channel *ch;
	const char *p;

	p = fx_file(fx, "InitiatorName=iqn.2005-04.com.Example:Host1\n");
	assert_int_equal(cfg_parse_initiatorname(&fx->c, p, fx->err, sizeof(fx->err)), 0);
	assert_string_equal(fx->c.initiator_name, "iqn.2005-04.com.Example:Host1");
	load_howto_channels(fx,
			    "CHANNEL=\"0 1 192.168.0.1 3260 0 AuthMethod=None nopout_timeout=5 "
			    "iqn.2005-04.com.example.target.mipsEE:sn.1234567890\"\n"
			    "CHANNEL=\"0 1 192.168.0.2 3260 0 "
			    "iqn.2005-04.com.example.target.MIPSee:sn.1234567890\"\n");
	ch = cfg_channel_find(&fx->c, 0);
	assert_non_null(ch);
	assert_int_equal(ch->nportals, 2);
	assert_string_equal(ch->target_name, "iqn.2005-04.com.example.target.mipsEE:sn.1234567890");
}

/* IPv6 addresses, zones, host names, and the rule that tells the device from the address. */
static void test_channel_addresses(void **state)
{
	struct fixture *fx = *state;
	struct cfg_channel *ch;

	load_howto_channels(fx,
			    "CHANNEL=\"0 1 fd00::10 3260 0\"\n"
			    "CHANNEL=\"1 1 eth1 fe80::1%eth1 3260 0\"\n"
			    "CHANNEL=\"1 1 eth2 FE80::0:1 3261 0\"\n"
			    "CHANNEL=\"2 1 storage.example.com 3260 0\"\n"
			    "CHANNEL=\"3 1 eth0 storage 3260 0\"\n"
			    "CHANNEL=\"4 1 [::1] 3260 0\"\n"
			    "CHANNEL=\"5 1 eth0.100 san-1.example. 3260 0\"\n"
			    "CHANNEL=\"6 1 lo. 3260 0\"\n"
			    "CHANNEL=\"7 1 eth0 isns 0 0 iqn.2005-04.com.example:t7\"\n"
			    "ISNS=\"fd00::53 3205\"\n");
	ch = cfg_channel_find(&fx->c, 0);
	assert_portal(&ch->portals[0], "", "[fd00::10]", 3260, 1);
	ch = cfg_channel_find(&fx->c, 1);
	assert_portal(&ch->portals[0], "eth1", "[fe80::1%eth1]", 3260, 2);
	/* A link-local address without a zone takes the device's. */
	assert_portal(&ch->portals[1], "eth2", "[fe80::1]", 3261, 3);
	assert_portal(&cfg_channel_find(&fx->c, 2)->portals[0], "", "storage.example.com", 3260, 4);
	assert_portal(&cfg_channel_find(&fx->c, 3)->portals[0], "eth0", "storage", 3260, 5);
	assert_portal(&cfg_channel_find(&fx->c, 4)->portals[0], "", "[::1]", 3260, 6);
	assert_portal(&cfg_channel_find(&fx->c, 5)->portals[0], "eth0.100", "san-1.example.", 3260, 7);
	assert_portal(&cfg_channel_find(&fx->c, 6)->portals[0], "", "lo.", 3260, 8);
	ch = cfg_channel_find(&fx->c, 7);
	assert_string_equal(ch->portals[0].netdev, "eth0");
	assert_int_equal(ch->portals[0].from_isns, 1);
	assert_string_equal(fx->c.isns.addr, "[fd00::53]");
	assert_int_equal(fx->c.isns.port, 3205);
}

#define TEST(f) {#f, f, fx_setup, fx_teardown, NULL}

static const struct CMUnitTest fixed_tests[] = {
	TEST(test_init_defaults),
	TEST(test_howto_channels),
	TEST(test_howto_example1),
	TEST(test_howto_six_arguments),
	TEST(test_channel_merge_later_keys),
	TEST(test_howto_auth),
	TEST(test_auth_single_quotes),
	TEST(test_howto_maps),
	TEST(test_maps_same_name_different_targets),
	TEST(test_howto_initiatorname),
	TEST(test_initiatorname_quoted),
	TEST(test_channel_variants),
		TEST(test_isns),
		TEST(test_isns_port_and_interval),
	TEST(test_channel_repeat_same_values),
	TEST(test_channel_defaults_from_settings),
	TEST(test_missing_file),
	TEST(test_nul_byte),
	TEST(test_load_all_howto),
	TEST(test_load_all_conf_examples),
	TEST(test_load_settings_conf_example),
	TEST(test_load_settings_values),
	TEST(test_channel_multipath),
	TEST(test_load_settings_all_or_nothing),
	TEST(test_data_settings_custom),
	TEST(test_data_initiatorname_crlf),
	TEST(test_data_initiator_layout),
	TEST(test_load_settings_missing),
	TEST(test_load_all_no_auth_no_maps),
	TEST(test_load_all_missing_initiator),
	TEST(test_load_all_missing_initiatorname),
	TEST(test_load_all_chap_needs_auth),
	TEST(test_load_all_chap_with_auth),
	TEST(test_load_all_auth_mode),
	TEST(test_load_all_errors_hide_secrets),
	TEST(test_name_check_good),
	TEST(test_name_check_bad),
	TEST(test_name_generate),
	TEST(test_name_normal_form),
	TEST(test_names_any_case),
	TEST(test_channel_addresses),
};

int main(void)
{
	size_t nfixed = sizeof(fixed_tests) / sizeof(fixed_tests[0]), n = 0;
	struct CMUnitTest *tests = calloc(nfixed + N_BAD_CASES, sizeof(*tests));
	int rc;

	if (!tests)
		return 1;
	for (size_t i = 0; i < nfixed; i++)
		tests[n++] = fixed_tests[i];
	/* One named test per bad line, so that a failure says which. */
	for (size_t i = 0; i < N_BAD_CASES; i++) {
		tests[n].name = bad_cases[i].name;
		tests[n].test_func = run_bad_case;
		tests[n].setup_func = fx_setup;
		tests[n].teardown_func = fx_teardown;
		tests[n].initial_state = (void *)&bad_cases[i];
		n++;
	}
	rc = _cmocka_run_group_tests("config", tests, n, NULL, NULL);
	free(tests);
	return rc;
}
