/* The reader of /etc/sysconfig/initiator (src/cfg_initiator.c). Callers include config.h, which
 * includes this. */
#ifndef ISCSIFS_CFG_INITIATOR_H
#define ISCSIFS_CFG_INITIATOR_H

#include <stddef.h>

struct cfg;

/* CHANNEL lines into c->channels (over c->settings.default_attrs) and the ISNS line into
 * c->isns; path becomes c->paths.initiator. 0, or -errno with the error in err. */
int cfg_parse_initiator(struct cfg *c, const char *path, char *err, size_t errlen);

#endif
