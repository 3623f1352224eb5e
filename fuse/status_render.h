/* The two renderings of a gathered status (status.h): the text `initiator-ctl status` prints
 * and the JSON of `status --json` (man/initiator-ctl.8). */
#ifndef ISCSIFS_STATUS_RENDER_H
#define ISCSIFS_STATUS_RENDER_H

#include <stdio.h>

#include "status.h"

void status_render_text(const struct daemon_status *st, FILE *f);
/* One JSON object and a newline. */
void status_render_json(const struct daemon_status *st, FILE *f);

#endif
