/* The reader of /etc/sysconfig/iscsi_device_maps: DEVICE lines, each a partition of a LUN
 * and the name it is mounted under, checked for repeats. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_lex.h"
#include "config.h"

#define LUN_MAX 16383
#define PARTITION_MAX 128
#define MOUNT_NAME_MAX 255

static int check_mount_name(struct reader *r, const char *s)
{
	if (strlen(s) > MOUNT_NAME_MAX)
		return rd_err(r, "mount name is longer than %d characters", MOUNT_NAME_MAX);
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return rd_err(r, "'%s' is not allowed as a mount name", s);
	if (strchr(s, '/'))
		return rd_err(r, "mount name '%s' must not contain '/'", s);
	if (has_control_char(s))
		return rd_err(r, "mount name contains a control character");
	return 0;
}

static int check_map_dups(struct cfg *c, struct reader *r, const struct cfg_map *nm)
{
	const struct cfg_channel *ch = cfg_channel_find(c, nm->channel);

	for (int i = 0; i < c->nmaps; i++) {
		const struct cfg_map *m = &c->maps[i];
		const struct cfg_channel *mch;

		if (m->channel == nm->channel && m->lun == nm->lun && m->partition == nm->partition)
			return rd_err(r, "channel %d LUN %u partition %d is already mapped on "
				      "line %d", nm->channel, nm->lun, nm->partition, m->line);
		if (strcmp(m->name, nm->name) != 0)
			continue;
		if (m->channel == nm->channel)
			return rd_err(r, "mount name '%s' is already used for channel %d on "
				      "line %d", nm->name, nm->channel, m->line);
		/* Channels to one target share its directory. */
		mch = cfg_channel_find(c, m->channel);
		if (mch && ch && ch->target_name[0] &&
		    iscsi_name_equal(mch->target_name, ch->target_name))
			return rd_err(r, "mount name '%s' is already used on line %d by channel "
				      "%d, which has the same target %s", nm->name, m->line,
				      m->channel, ch->target_name);
	}
	return 0;
}

int cfg_parse_maps(struct cfg *c, const char *path, char *err, size_t errlen)
{
	static const char *const known[] = {"DEVICE", NULL};
	struct reader r;
	struct assign a;
	int rc;

	rc = reader_open(&r, path, NULL, err, errlen);
	if (rc < 0)
		return rc;
	while ((rc = reader_next_assign(&r, known, 1, &a)) > 0) {
		struct cfg_map m, *nm;
		unsigned long v;
		char *w[8];
		int n;

		n = split_words(a.value, w, 8);
		if (n < 0) {
			rc = rd_err(&r, "DEVICE has too many arguments (it takes 4: channel "
				    "id, LUN, partition, name)");
			break;
		}
		if (n != 4) {
			rc = rd_err(&r, "DEVICE needs 4 arguments (channel id, LUN, partition, "
				    "name), found %d", n);
			break;
		}
		memset(&m, 0, sizeof(m));
		m.line = r.line;
		if ((rc = field_num(&r, "channel id", w[0], 0, CHANNEL_ID_MAX, &v)) < 0)
			break;
		m.channel = (int)v;
		if (!cfg_channel_find(c, m.channel)) {
			rc = rd_err(&r, "channel %d is not defined in %s", m.channel,
				    c->paths.initiator);
			break;
		}
		if ((rc = field_num(&r, "LUN", w[1], 0, LUN_MAX, &v)) < 0)
			break;
		m.lun = (uint32_t)v;
		if ((rc = field_num(&r, "partition", w[2], 0, PARTITION_MAX, &v)) < 0)
			break;
		m.partition = (int)v;
		if ((rc = check_mount_name(&r, w[3])) < 0)
			break;
		snprintf(m.name, sizeof(m.name), "%s", w[3]);
		if ((rc = check_map_dups(c, &r, &m)) < 0)
			break;
		nm = realloc(c->maps, sizeof(*nm) * (size_t)(c->nmaps + 1));
		if (!nm) {
			rc = rd_err(&r, "out of memory");
			break;
		}
		c->maps = nm;
		c->maps[c->nmaps++] = m;
	}
	reader_close(&r);
	return rc;
}

