/* Channel attributes, the 8th argument of a CHANNEL line and the channel_defaults group of
 * iscsifs.conf: one table of names, ranges and words that both readers look up. */
#ifndef ISCSIFS_CFG_ATTRS_H
#define ISCSIFS_CFG_ATTRS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct attr_def {
	const char *name;
	size_t off; /* in struct cfg_attrs */
	uint32_t min, max;
	const char *const *words; /* a word attribute: the value is its index here */
};

#define N_ATTRS 7 /* entries of attr_table; a line's attributes are bits of an unsigned */
extern const struct attr_def attr_table[];

uint32_t *attr_ptr(struct cfg_attrs *a, int i);
/* The index of name in attr_table, or -1. */
int attr_find(const char *name);
/* The index of value among d's words, or -1. */
int word_find(const struct attr_def *d, const char *value);
/* "off, failover or round-robin" for an error message. */
void word_list(const struct attr_def *d, char *out, size_t len);
/* The built-in defaults, before iscsifs.conf and the CHANNEL lines. */
void attrs_defaults(struct cfg_attrs *a);

#endif
