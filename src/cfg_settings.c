/* The reader of iscsifs.conf, through libconfig: the paths of the other files, the daemon's
 * settings and the channel_defaults group, checked whole before any of it is kept. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <libconfig.h>

#include "cfg_attrs.h"
#include "cfg_lex.h"
#include "config.h"
#include "log.h"

#define SETTINGS_FILE "/etc/iscsifs.conf"

enum str_kind { STR_PATH, STR_SOCKET, STR_LOG_LEVEL };

struct str_setting {
	const char *group, *name;
	size_t off; /* of the char * in struct cfg */
	enum str_kind kind;
};

static const struct str_setting str_settings[] = {
	{"paths", "initiator", offsetof(struct cfg, paths.initiator), STR_PATH},
	{"paths", "initiator_auth", offsetof(struct cfg, paths.initiator_auth), STR_PATH},
	{"paths", "device_maps", offsetof(struct cfg, paths.device_maps), STR_PATH},
	{"paths", "initiatorname", offsetof(struct cfg, paths.initiatorname), STR_PATH},
	{"daemon", "mount_root", offsetof(struct cfg, settings.mount_root), STR_PATH},
	{"daemon", "control_socket", offsetof(struct cfg, settings.control_socket), STR_SOCKET},
	{"daemon", "log_level", offsetof(struct cfg, settings.log_level), STR_LOG_LEVEL},
};

#define N_STR_SETTINGS ((int)(sizeof(str_settings) / sizeof(str_settings[0])))
#define ATTR_GROUP "channel_defaults"

static char **str_ptr(struct cfg *c, int i)
{
	return (char **)((char *)c + str_settings[i].off);
}

static int lc_err(const char *file, const config_setting_t *s, char *err, size_t errlen,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int lc_err(const char *file, const config_setting_t *s, char *err, size_t errlen,
		  const char *fmt, ...)
{
	const char *sfile = config_setting_source_file(s);
	char reason[CFG_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	return cfg_set_err(err, errlen, "%s:%u: %s", sfile ? sfile : file,
			   (unsigned)config_setting_source_line(s), reason);
}

static int is_known_group(const char *name)
{
	if (strcmp(name, ATTR_GROUP) == 0)
		return 1;
	for (int i = 0; i < N_STR_SETTINGS; i++)
		if (strcmp(str_settings[i].group, name) == 0)
			return 1;
	return 0;
}

static int check_str_setting(const char *file, const config_setting_t *s, int i,
			     const char *v, char *err, size_t errlen)
{
	const struct str_setting *d = &str_settings[i];
	struct sockaddr_un sun;
	enum log_level lvl;

	switch (d->kind) {
	case STR_LOG_LEVEL:
		if (log_level_parse(v, &lvl) < 0)
			return lc_err(file, s, err, errlen, "%s.%s: unknown log level '%s' (error, "
				      "warning, info or debug)", d->group, d->name, v);
		return 0;
	case STR_SOCKET:
		if (strlen(v) >= sizeof(sun.sun_path))
			return lc_err(file, s, err, errlen, "%s.%s is longer than %zu bytes, too "
				      "long for a socket", d->group, d->name,
				      sizeof(sun.sun_path) - 1);
		/* fall through */
	case STR_PATH:
		if (v[0] != '/')
			return lc_err(file, s, err, errlen, "%s.%s must be an absolute path, not "
				      "'%s'", d->group, d->name, v);
		if (strlen(v) >= PATH_MAX)
			return lc_err(file, s, err, errlen, "%s.%s is too long", d->group, d->name);
		return 0;
	}
	return 0;
}

/* Check one group's settings into the new values; nothing in c changes yet. */
static int read_group(const char *file, config_setting_t *g, const char **nstr,
		      struct cfg_attrs *nattrs, char *err, size_t errlen)
{
	const char *gname = config_setting_name(g);
	int len = config_setting_length(g);

	for (int j = 0; j < len; j++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)j);
		const char *name = config_setting_name(s);
		int type = config_setting_type(s);
		int found = 0, rc;

		if (strcmp(gname, ATTR_GROUP) == 0) {
			int i = name ? attr_find(name) : -1;
			long long v;

			if (i < 0)
				return lc_err(file, s, err, errlen, "unknown setting '%s.%s'",
					      gname, name ? name : "?");
			if (attr_table[i].words) {
				const char *w = type == CONFIG_TYPE_STRING ?
						config_setting_get_string(s) : NULL;
				char list[128];
				int k = w ? word_find(&attr_table[i], w) : -1;

				word_list(&attr_table[i], list, sizeof(list));
				if (k < 0)
					return lc_err(file, s, err, errlen, "%s.%s must be %s, in "
						      "double quotes", gname, name, list);
				*attr_ptr(nattrs, i) = (uint32_t)k;
				continue;
			}
			if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
				return lc_err(file, s, err, errlen, "%s.%s must be a whole number",
					      gname, name);
			v = config_setting_get_int64(s);
			if (v < attr_table[i].min || v > attr_table[i].max)
				return lc_err(file, s, err, errlen, "%s.%s = %lld is out of range "
					      "(%u to %u)", gname, name, v, attr_table[i].min,
					      attr_table[i].max);
			*attr_ptr(nattrs, i) = (uint32_t)v;
			continue;
		}
		for (int i = 0; name && i < N_STR_SETTINGS; i++) {
			const char *v;

			if (strcmp(str_settings[i].group, gname) != 0 ||
			    strcmp(str_settings[i].name, name) != 0)
				continue;
			if (type != CONFIG_TYPE_STRING)
				return lc_err(file, s, err, errlen, "%s.%s must be a string in "
					      "double quotes", gname, name);
			v = config_setting_get_string(s);
			rc = check_str_setting(file, s, i, v, err, errlen);
			if (rc < 0)
				return rc;
			nstr[i] = v;
			found = 1;
		}
		if (!found)
			return lc_err(file, s, err, errlen, "unknown setting '%s.%s'", gname,
				      name ? name : "?");
	}
	return 0;
}

int cfg_load_settings(struct cfg *c, const char *path, char *err, size_t errlen)
{
	const char *file = path ? path : SETTINGS_FILE;
	const char *nstr[N_STR_SETTINGS] = {NULL};
	char *dup[N_STR_SETTINGS] = {NULL};
	struct cfg_attrs nattrs = c->settings.default_attrs;
	config_setting_t *root;
	config_t lc;
	FILE *fp;
	int rc = 0, len;

	fp = fopen(file, "re");
	if (!fp) {
		rc = -errno;
		if (!path && rc == -ENOENT)
			return 0;
		cfg_set_err(err, errlen, "%s: cannot open: %s", file, strerror(-rc));
		return rc;
	}
	config_init(&lc);
	if (config_read(&lc, fp) != CONFIG_TRUE) {
		const char *efile = config_error_file(&lc);

		if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
			rc = cfg_set_err(err, errlen, "%s: %s", efile ? efile : file,
					 config_error_text(&lc));
		else
			rc = cfg_set_err(err, errlen, "%s:%d: %s", efile ? efile : file,
					 config_error_line(&lc), config_error_text(&lc));
		goto out;
	}
	root = config_root_setting(&lc);
	len = config_setting_length(root);
	for (int i = 0; i < len; i++) {
		config_setting_t *g = config_setting_get_elem(root, (unsigned)i);
		const char *gname = config_setting_name(g);

		if (!gname || !is_known_group(gname)) {
			rc = lc_err(file, g, err, errlen, "unknown setting '%s'",
				    gname ? gname : "?");
			goto out;
		}
		if (!config_setting_is_group(g)) {
			rc = lc_err(file, g, err, errlen, "%s must be a group: %s = { ... };",
				    gname, gname);
			goto out;
		}
		rc = read_group(file, g, nstr, &nattrs, err, errlen);
		if (rc < 0)
			goto out;
	}
	/* All checked: now change c, all or nothing. */
	for (int i = 0; i < N_STR_SETTINGS; i++) {
		if (nstr[i] && !(dup[i] = strdup(nstr[i]))) {
			for (int j = 0; j < i; j++)
				free(dup[j]);
			rc = -ENOMEM;
			cfg_set_err(err, errlen, "%s: out of memory", file);
			goto out;
		}
	}
	for (int i = 0; i < N_STR_SETTINGS; i++) {
		if (!dup[i])
			continue;
		free(*str_ptr(c, i));
		*str_ptr(c, i) = dup[i];
	}
	c->settings.default_attrs = nattrs;
out:
	config_destroy(&lc);
	fclose(fp);
	return rc;
}
