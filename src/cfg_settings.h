/* The reader of iscsifs.conf (src/cfg_settings.c). Callers include config.h, which includes
 * this. */
#ifndef ISCSIFS_CFG_SETTINGS_H
#define ISCSIFS_CFG_SETTINGS_H

#include <stddef.h>

struct cfg;

/* Read iscsifs.conf (libconfig) into c->paths and c->settings, all or nothing. A path that is
 * NULL means "use the defaults"; a missing default file is fine, a missing named file is an
 * error. */
int cfg_load_settings(struct cfg *c, const char *path, char *err, size_t errlen);

#endif
