/* The channel attributes' table: names, ranges, the words of word attributes, and their
 * defaults; the CHANNEL reader and the iscsifs.conf reader both look attributes up here. */
#include <stdio.h>
#include <string.h>

#include "cfg_attrs.h"

static const char *const mpath_words[] = {"off", "failover", "round-robin", NULL};

const struct attr_def attr_table[] = {
	{"nopout_timeout", offsetof(struct cfg_attrs, nopout_timeout), 0, 3600, NULL},
	{"nopout_response_timeout", offsetof(struct cfg_attrs, nopout_response_timeout), 1, 3600, NULL},
	{"login_timeout", offsetof(struct cfg_attrs, login_timeout), 1, 3600, NULL},
	{"command_timeout", offsetof(struct cfg_attrs, command_timeout), 1, 3600, NULL},
	{"replacement_timeout", offsetof(struct cfg_attrs, replacement_timeout), 0, 86400, NULL},
	{"queue_depth", offsetof(struct cfg_attrs, queue_depth), 1, 128, NULL},
	{"multipath", offsetof(struct cfg_attrs, multipath), 0, 2, mpath_words},
};

_Static_assert(sizeof(attr_table) / sizeof(attr_table[0]) == N_ATTRS,
	       "N_ATTRS is the number of entries of attr_table");

uint32_t *attr_ptr(struct cfg_attrs *a, int i)
{
	return (uint32_t *)((char *)a + attr_table[i].off);
}

int attr_find(const char *name)
{
	for (int i = 0; i < N_ATTRS; i++)
		if (strcmp(attr_table[i].name, name) == 0)
			return i;
	return -1;
}

const char *cfg_multipath_str(uint32_t policy)
{
	return policy <= CFG_MPATH_ROUND_ROBIN ? mpath_words[policy] : "?";
}

int word_find(const struct attr_def *d, const char *value)
{
	for (int i = 0; d->words[i]; i++)
		if (strcmp(d->words[i], value) == 0)
			return i;
	return -1;
}

void word_list(const struct attr_def *d, char *out, size_t len)
{
	size_t off = 0;

	out[0] = '\0';
	for (int i = 0; d->words[i] && off < len; i++)
		off += (size_t)snprintf(out + off, len - off, "%s%s", i == 0 ? "" :
					d->words[i + 1] ? ", " : " or ", d->words[i]);
}

void attrs_defaults(struct cfg_attrs *a)
{
	a->nopout_timeout = 5;
	a->nopout_response_timeout = 10;
	a->login_timeout = 15;
	a->command_timeout = 30;
	a->replacement_timeout = 120;
	a->queue_depth = 32;
	a->multipath = CFG_MPATH_OFF;
}
