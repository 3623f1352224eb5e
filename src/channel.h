/* One configured channel (howto section 2 B): one session to one target node, and its LUNs. */
#ifndef ISCSIFS_CHANNEL_H
#define ISCSIFS_CHANNEL_H

#include <stddef.h>

#include "config.h"
#include "lun.h"
#include "session.h"

struct channel {
	const struct cfg *cfg;
	const struct cfg_channel *cc;
	char label[16];            /* "ch0" */
	char target_name[CFG_NAME_MAX];
	struct session *sess;
	struct lun *luns;
	int nluns;
};

/* Discover the target if the CHANNEL line names none, log in, scan the LUNs.
 * On failure nothing is left running. */
int channel_start(struct channel *ch, const struct cfg *cfg, const struct cfg_channel *cc,
		  char *err, size_t errlen);
/* Log out and free. */
void channel_stop(struct channel *ch);

#endif
