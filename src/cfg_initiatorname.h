/* The reader of initiatorname.iscsi (src/cfg_initiatorname.c). Callers include config.h, which
 * includes this. */
#ifndef ISCSIFS_CFG_INITIATORNAME_H
#define ISCSIFS_CFG_INITIATORNAME_H

#include <stddef.h>

struct cfg;

/* InitiatorName= (required) and InitiatorAlias= into c. 0, or -errno with the error in err. */
int cfg_parse_initiatorname(struct cfg *c, const char *path, char *err, size_t errlen);

#endif
