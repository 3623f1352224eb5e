/* The reader of /etc/sysconfig/initiator_auth (src/cfg_auth.c). Callers include config.h, which
 * includes this. */
#ifndef ISCSIFS_CFG_AUTH_H
#define ISCSIFS_CFG_AUTH_H

#include <stddef.h>

struct cfg;

/* AUTH lines into the auth of c's channels, which must exist already; a file others may read
 * is refused. 0, or -errno with the error in err, which quotes no name or secret. */
int cfg_parse_auth(struct cfg *c, const char *path, char *err, size_t errlen);

#endif
