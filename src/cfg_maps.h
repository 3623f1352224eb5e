/* The reader of /etc/sysconfig/iscsi_device_maps (src/cfg_maps.c). Callers include config.h,
 * which includes this. */
#ifndef ISCSIFS_CFG_MAPS_H
#define ISCSIFS_CFG_MAPS_H

#include <stddef.h>

struct cfg;

/* DEVICE lines into c->maps; their channels must exist already. 0, or -errno with the error
 * in err. */
int cfg_parse_maps(struct cfg *c, const char *path, char *err, size_t errlen);

#endif
