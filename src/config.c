/* Configuration: struct cfg with its defaults and its freeing, and the loading of every file in
 * order (src/cfg_*.c read one each) with the checks between files. Nothing here starts anything;
 * every error is "file:line: reason", and no error text ever quotes a secret. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cfg_attrs.h"
#include "cfg_lex.h"
#include "config.h"

/* A failed strdup leaves a NULL that cfg_load_all reports as -ENOMEM. */
void cfg_init(struct cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->paths.initiator = strdup("/etc/sysconfig/initiator");
	c->paths.initiator_auth = strdup("/etc/sysconfig/initiator_auth");
	c->paths.device_maps = strdup("/etc/sysconfig/iscsi_device_maps");
	c->paths.initiatorname = strdup("/etc/initiatorname.iscsi");
	c->settings.mount_root = strdup("/");
	c->settings.control_socket = strdup("/run/iscsifs/control.sock");
	c->settings.log_level = strdup("info");
	attrs_defaults(&c->settings.default_attrs);
}

void cfg_free(struct cfg *c)
{
	free(c->paths.initiator);
	free(c->paths.initiator_auth);
	free(c->paths.device_maps);
	free(c->paths.initiatorname);
	free(c->settings.mount_root);
	free(c->settings.control_socket);
	free(c->settings.log_level);
	for (int i = 0; i < c->nchannels; i++) {
		struct cfg_channel *ch = &c->channels[i];

		free(ch->portals);
		key_set_free(&ch->keys);
		OPENSSL_cleanse(&ch->auth, sizeof(ch->auth));
	}
	free(c->channels);
	free(c->maps);
	memset(c, 0, sizeof(*c));
}

struct cfg_channel *cfg_channel_find(struct cfg *c, int id)
{
	for (int i = 0; i < c->nchannels; i++)
		if (c->channels[i].id == id)
			return &c->channels[i];
	return NULL;
}

/* ---- all the files, in order, and the checks between them ---- */

static int list_has(const char *list, const char *item)
{
	size_t n = strlen(item);

	for (const char *p = list; p && *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (len == n && strncmp(p, item, n) == 0)
			return 1;
		p = comma ? comma + 1 : NULL;
	}
	return 0;
}

/* A channel that offers only CHAP cannot log in without a secret. */
static int check_chap_needs_auth(struct cfg *c, char *err, size_t errlen)
{
	for (int i = 0; i < c->nchannels; i++) {
		const struct cfg_channel *ch = &c->channels[i];
		const char *am = key_set_get(&ch->keys, K_AUTH_METHOD);

		if (am && list_has(am, "CHAP") && !list_has(am, "None") && !ch->auth.present)
			return cfg_set_err(err, errlen,
					   "%s:%d: channel %d has AuthMethod=%s but %s has no AUTH "
					   "line for it", c->paths.initiator, ch->line, ch->id, am,
					   c->paths.initiator_auth);
	}
	return 0;
}

int cfg_load_all(struct cfg *c, char *err, size_t errlen)
{
	int rc;

	if (!c->paths.initiatorname || !c->paths.initiator || !c->paths.initiator_auth ||
	    !c->paths.device_maps) {
		cfg_set_err(err, errlen, "configuration file names missing (out of memory)");
		return -ENOMEM;
	}
	rc = cfg_parse_initiatorname(c, c->paths.initiatorname, err, errlen);
	if (rc < 0)
		return rc;
	rc = cfg_parse_initiator(c, c->paths.initiator, err, errlen);
	if (rc < 0)
		return rc;
	rc = cfg_parse_auth(c, c->paths.initiator_auth, err, errlen);
	if (rc == -ENOENT)
		rc = 0;
	if (rc < 0)
		return rc;
	rc = cfg_parse_maps(c, c->paths.device_maps, err, errlen);
	if (rc == -ENOENT)
		rc = 0;
	if (rc < 0)
		return rc;
	if (err && errlen)
		err[0] = '\0';
	return check_chap_needs_auth(c, err, errlen);
}

