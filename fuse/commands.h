/* The commands of the control socket (howto section 3), one row of a table each; they run one
 * at a time on the control thread. */
#ifndef ISCSIFS_COMMANDS_H
#define ISCSIFS_COMMANDS_H

#include <stdio.h>

/* The control socket's handler (ctl_start's): arg is the struct daemon, argv[0] the command.
 * Writes the answer to out; returns a CTL_* exit code. */
int daemon_command(void *arg, int argc, char **argv, FILE *out);

#endif
