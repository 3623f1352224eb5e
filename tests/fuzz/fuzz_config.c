/* libFuzzer harness for the configuration parsers. Input byte 0 picks the file (modulo 5):
 * initiatorname.iscsi, initiator, initiator_auth, iscsi_device_maps or iscsifs.conf; the rest is
 * the file, served from a memfd as /proc/self/fd/N. The auth and maps files are read after a
 * fixed initiator file, so that their channels exist. An initiator_auth file is mode 0600 unless
 * bit 7 of byte 0 is set (then the parser must refuse it).
 * Beyond memory errors and leaks, a finding is an initiator_auth error message that quotes a
 * field of an AUTH line: the seed secrets and names all hold SECRET_MARK, which no error text
 * may contain; or a parsed portal whose address is not in written form (it parses again to
 * itself), a link-local one with no zone or device or with both disagreeing, a device that is
 * an address, or a target name that is no iSCSI name. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

#define SECRET_MARK "Zq8Kx3Wm"

enum which { F_INITIATORNAME, F_INITIATOR, F_AUTH, F_MAPS, F_SETTINGS, F_COUNT };

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "fuzz_config: check failed: %s (line %d)\n", #cond, \
				__LINE__);                                                 \
			abort();                                                           \
		}                                                                          \
	} while (0)

/* Channels 0, 1 and 7; 0 and 7 lead to the same target, so their mount names collide. */
static const char fixed_initiator[] =
	"CHANNEL=\"0 1 eth0 192.168.0.1 3260 0 AuthMethod=CHAP,None nopout_timeout=5 "
	"iqn.2026-11.org.example:t0\"\n"
	"CHANNEL=\"1 2 192.168.0.2 3260 0 AuthMethod=None\"\n"
	"CHANNEL=\"1 2 eth1 192.168.1.2 3260 0\"\n"
	"CHANNEL=\"7 1 10.0.0.7 3260 0 AuthMethod=CHAP iqn.2026-11.org.example:t0\"\n";

struct memfile {
	int fd;
	char path[64];
};

static int memfile_open(struct memfile *m, const char *name)
{
	m->fd = memfd_create(name, MFD_CLOEXEC);
	if (m->fd < 0)
		return -1;
	snprintf(m->path, sizeof(m->path), "/proc/self/fd/%d", m->fd);
	return 0;
}

static void memfile_set(struct memfile *m, const void *data, size_t len, mode_t mode)
{
	CHECK(ftruncate(m->fd, 0) == 0);
	CHECK(len == 0 || pwrite(m->fd, data, len, 0) == (ssize_t)len);
	CHECK(fchmod(m->fd, mode) == 0);
}

static void check_err(int rc, const char *err)
{
	CHECK(memchr(err, '\0', CFG_ERR_MAX) != NULL);
	CHECK(rc <= 0);
	if (rc < 0)
		CHECK(err[0] != '\0');
}

static int is_abs(const char *s)
{
	return s && s[0] == '/';
}

static void check_portal(const struct cfg_portal *p)
{
	char again[PORTAL_HOST_MAX], why[CFG_ERR_MAX], zone[32];
	enum portal_kind kind;

	if (p->from_isns) {
		CHECK(p->addr[0] == '\0' && p->port == 0);
		return;
	}
	CHECK(p->port >= 1 && p->addr[0]);
	CHECK(portal_host_parse(p->addr, again, sizeof(again), &kind, why, sizeof(why)) == 0);
	CHECK(strcmp(again, p->addr) == 0);
	if (p->netdev[0])
		CHECK(portal_host_parse(p->netdev, NULL, 0, &kind, NULL, 0) < 0 ||
		      kind == PORTAL_NAME);
	if (portal_host_zone(p->addr, zone, sizeof(zone)))
		CHECK((zone[0] || p->netdev[0]) &&
		      (!zone[0] || !p->netdev[0] || strcmp(zone, p->netdev) == 0));
}

/* What a parser that said yes promises about what it filled in. */
static void check_parsed(enum which w, struct cfg *c)
{
	char why[CFG_ERR_MAX];

	switch (w) {
	case F_INITIATORNAME:
		CHECK(iscsi_name_check(c->initiator_name, why, sizeof(why)) == 0);
		CHECK(strlen(c->initiator_alias) < sizeof(c->initiator_alias));
		break;
	case F_INITIATOR:
		for (int i = 0; i < c->nchannels; i++) {
			const struct cfg_channel *ch = &c->channels[i];

			CHECK(ch->nportals >= 1 && ch->conn_count >= 1 && ch->conn_count <= 16);
			CHECK(cfg_channel_find(c, ch->id) == ch);
			CHECK(!ch->target_name[0] ||
			      iscsi_name_check(ch->target_name, why, sizeof(why)) == 0);
			for (int p = 0; p < ch->nportals; p++)
				check_portal(&ch->portals[p]);
			for (int k = 0; k < K_COUNT; k++) {
				const char *v = key_set_get(&ch->keys, k);

				CHECK(!v || key_check_value(k, v, why, sizeof(why)) == 0);
			}
			CHECK(ch->attrs.queue_depth >= 1 && ch->attrs.queue_depth <= 128);
		}
		if (c->isns.addr[0]) {
			char again[PORTAL_HOST_MAX];

			CHECK(portal_host_parse(c->isns.addr, again, sizeof(again), NULL, why,
						sizeof(why)) == 0 && strcmp(again, c->isns.addr) == 0);
		}
		break;
	case F_AUTH:
		for (int i = 0; i < c->nchannels; i++) {
			const struct cfg_auth *a = &c->channels[i].auth;

			if (!a->present)
				continue;
			CHECK(a->user[0] && a->secret[0]);
			CHECK(!a->mutual || (a->target_user[0] && a->target_secret[0] &&
					     strcmp(a->secret, a->target_secret) != 0));
		}
		break;
	case F_MAPS:
		for (int i = 0; i < c->nmaps; i++) {
			const struct cfg_map *m = &c->maps[i];

			CHECK(cfg_channel_find(c, m->channel) != NULL);
			CHECK(m->lun <= 16383 && m->partition >= 0 && m->partition <= 128);
			CHECK(m->name[0] && !strchr(m->name, '/'));
		}
		break;
	case F_SETTINGS:
		CHECK(is_abs(c->paths.initiator) && is_abs(c->paths.initiator_auth) &&
		      is_abs(c->paths.device_maps) && is_abs(c->paths.initiatorname));
		CHECK(is_abs(c->settings.mount_root) && is_abs(c->settings.control_socket));
		CHECK(c->settings.log_level != NULL);
		CHECK(c->settings.default_attrs.queue_depth >= 1 &&
		      c->settings.default_attrs.queue_depth <= 128);
		break;
	case F_COUNT:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct memfile input = {-1, ""}, channels = {-1, ""};
	static uint8_t *copy;
	static size_t copy_cap;
	char err[CFG_ERR_MAX];
	const uint8_t *file;
	size_t len;
	enum which w;
	struct cfg c;
	int rc;

	if (input.fd < 0) {
		CHECK(memfile_open(&input, "fuzz-config") == 0);
		CHECK(memfile_open(&channels, "fuzz-initiator") == 0);
		memfile_set(&channels, fixed_initiator, strlen(fixed_initiator), 0644);
	}
	if (size == 0)
		return 0;
	w = (enum which)(data[0] % F_COUNT);
	file = data + 1;
	len = size - 1;

	if (w == F_SETTINGS && memchr(file, '@', len)) {
		/* libconfig's @include reads any file it names (/dev/zero, say): that belongs to
		 * whoever writes iscsifs.conf, so it is no hole to look for here. */
		if (copy_cap < len) {
			free(copy);
			copy = malloc(len);
			CHECK(copy != NULL);
			copy_cap = len;
		}
		for (size_t i = 0; i < len; i++)
			copy[i] = file[i] == '@' ? ' ' : file[i];
		file = copy;
	}
	memfile_set(&input, file, len, w == F_AUTH && !(data[0] & 0x80) ? 0600 : 0644);

	cfg_init(&c);
	memset(err, 0, sizeof(err));
	if (w == F_AUTH || w == F_MAPS) {
		rc = cfg_parse_initiator(&c, channels.path, err, sizeof(err));
		if (rc != 0) {
			fprintf(stderr, "fuzz_config: the fixed initiator file fails: %s\n", err);
			abort();
		}
	}
	switch (w) {
	case F_INITIATORNAME:
		rc = cfg_parse_initiatorname(&c, input.path, err, sizeof(err));
		break;
	case F_INITIATOR:
		rc = cfg_parse_initiator(&c, input.path, err, sizeof(err));
		break;
	case F_AUTH:
		rc = cfg_parse_auth(&c, input.path, err, sizeof(err));
		if (data[0] & 0x80)
			CHECK(rc == -EINVAL && strstr(err, "chmod 600"));
		if (strstr(err, SECRET_MARK)) {
			fprintf(stderr, "fuzz_config: initiator_auth error quotes a field: %s\n",
				err);
			abort();
		}
		break;
	case F_MAPS:
		rc = cfg_parse_maps(&c, input.path, err, sizeof(err));
		break;
	case F_SETTINGS:
	default:
		rc = cfg_load_settings(&c, input.path, err, sizeof(err));
		break;
	}
	check_err(rc, err);
	if (rc == 0)
		check_parsed(w, &c);
	cfg_free(&c);
	return 0;
}
