/* The daemon object: loading a configuration, making the channels of one, a reload that
 * starts, stops or keeps each channel, the logout and freeing at exit, and where the daemon
 * serves each LUN and the map scripts mount it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

static int replace(char **dst, const char *src)
{
	char *s;

	if (!src)
		return 0;
	s = strdup(src);
	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

int daemon_load_config(struct daemon *d, struct cfg **out, char *err, size_t errlen)
{
	struct cfg *c = calloc(1, sizeof(*c));
	int r;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	cfg_init(c);
	err[0] = '\0';
	r = cfg_load_settings(c, d->src.settings, err, errlen);
	if (!r && (replace(&c->paths.initiator, d->src.initiator) ||
		   replace(&c->paths.initiator_auth, d->src.auth) ||
		   replace(&c->paths.device_maps, d->src.maps) ||
		   replace(&c->paths.initiatorname, d->src.initiatorname)))
		r = -ENOMEM;
	if (!r)
		r = cfg_load_all(c, err, errlen);
	if (r) {
		if (!err[0])
			snprintf(err, errlen, "%s", strerror(-r));
		cfg_free(c);
		free(c);
		return r;
	}
	*out = c;
	return 0;
}

static int append(void *arrp, int *n, void *item)
{
	void ***arr = arrp;
	void **a = realloc(*arr, sizeof(*a) * (size_t)(*n + 1));

	if (!a)
		return -ENOMEM;
	a[(*n)++] = item;
	*arr = a;
	return 0;
}

/* The portal of a channel whose address is "isns". */
static int isns_resolve(void *arg, const char *target, char *addr, size_t addrlen,
			uint16_t *port, char *err, size_t errlen)
{
	struct daemon *d = arg;

	if (!d->isns) {
		snprintf(err, errlen, "the daemon started without an ISNS= line (restart it to "
			 "use iSNS)");
		return -ENOENT;
	}
	return isns_client_lookup(d->isns, target, addr, addrlen, port, err, errlen);
}

static struct channel *new_channel(struct daemon *d, struct cfg *c, int i)
{
	struct channel *ch = channel_new(c, &c->channels[i]);

	if (ch)
		channel_set_resolver(ch, isns_resolve, d);
	return ch;
}

int daemon_add_channels(struct daemon *d, struct cfg *c)
{
	if (append(&d->cfgs, &d->ncfgs, c))
		return -ENOMEM;
	for (int i = 0; i < c->nchannels; i++) {
		struct channel *ch = new_channel(d, c, i);

		if (!ch)
			return -ENOMEM;
		if (append(&d->chs, &d->nchs, ch)) {
			channel_free(ch);
			return -ENOMEM;
		}
	}
	return 0;
}

void daemon_logout(struct daemon *d)
{
	for (int i = 0; i < d->nchs; i++)
		fs_channel_stopping(d->fs, d->chs[i]);
	for (int i = 0; i < d->nchs; i++)
		channel_logout(d->chs[i]);
	for (int i = 0; i < d->nretired; i++)
		channel_logout(d->retired[i]);
}

void daemon_free(struct daemon *d)
{
	for (int i = 0; i < d->nchs; i++)
		fs_channel_stopping(d->fs, d->chs[i]);
	for (int i = 0; i < d->nchs; i++)
		channel_free(d->chs[i]);
	for (int i = 0; i < d->nretired; i++)
		channel_free(d->retired[i]);
	for (int i = 0; i < d->ncfgs; i++) {
		cfg_free(d->cfgs[i]);
		free(d->cfgs[i]);
	}
	free(d->chs);
	free(d->retired);
	free(d->cfgs);
}

const struct cfg *daemon_cfg(const struct daemon *d)
{
	return d->cfgs[d->ncfgs - 1];
}

void daemon_lun_file(const struct daemon *d, struct channel *ch, const struct lun *l, char *out,
		     size_t len)
{
	struct mpath_dev *mp = mpath_of_lun(fs_multipath(d->fs), l);
	char target[CFG_NAME_MAX];

	channel_target_name(ch, target, sizeof(target));
	if (mp)
		snprintf(out, len, "%s/multipath/%s", d->mountpoint, mpath_name(mp));
	else
		snprintf(out, len, "%s/%s/lun%u", d->mountpoint, target, l->number);
}

/* Without doubled slashes. */
void daemon_map_dir(const struct cfg *c, struct channel *ch, const char *name, char *out,
		    size_t len)
{
	char target[CFG_NAME_MAX];
	const char *given = c->settings.mount_root ? c->settings.mount_root : "/";
	/* Resolved, so that it compares with /proc/self/mounts (a root may not exist yet). */
	char *real = realpath(given, NULL), root[1024];
	size_t rl;

	channel_target_name(ch, target, sizeof(target));
	snprintf(root, sizeof(root), "%s", real ? real : given);
	free(real);
	rl = strlen(root);

	while (rl > 1 && root[rl - 1] == '/')
		rl--;
	snprintf(out, len, "%.*s%s%s/%s", (int)rl, root, rl == 1 && root[0] == '/' ? "" : "/",
		 target, name);
}

static int same_keys(const struct key_set *a, const struct key_set *b)
{
	for (int i = 0; i < K_COUNT; i++) {
		const char *x = key_set_get(a, i), *y = key_set_get(b, i);

		if ((x == NULL) != (y == NULL) || (x && strcmp(x, y) != 0))
			return 0;
	}
	return 1;
}

/* Whether a reload leaves a channel's definition as it was. */
static int same_channel(const struct cfg *ca, const struct cfg_channel *a, const struct cfg *cb,
			const struct cfg_channel *b)
{
	if (a->id != b->id || a->conn_count != b->conn_count || a->nportals != b->nportals ||
	    strcmp(a->target_name, b->target_name) != 0 ||
	    memcmp(&a->attrs, &b->attrs, sizeof(a->attrs)) != 0 || !same_keys(&a->keys, &b->keys) ||
	    a->auth.present != b->auth.present || a->auth.mutual != b->auth.mutual ||
	    strcmp(a->auth.user, b->auth.user) != 0 || strcmp(a->auth.secret, b->auth.secret) != 0 ||
	    strcmp(a->auth.target_user, b->auth.target_user) != 0 ||
	    strcmp(a->auth.target_secret, b->auth.target_secret) != 0 ||
	    strcmp(ca->initiator_name, cb->initiator_name) != 0)
		return 0;
	for (int i = 0; i < a->nportals; i++)
		if (a->portals[i].from_isns != b->portals[i].from_isns ||
		    strcmp(a->portals[i].addr, b->portals[i].addr) != 0 ||
		    a->portals[i].port != b->portals[i].port ||
		    strcmp(a->portals[i].netdev, b->portals[i].netdev) != 0)
			return 0;
	return 1;
}

int daemon_reload(struct daemon *d, FILE *out)
{
	struct cfg *c;
	struct channel **next;
	int nnext = 0, code = 0, r;
	char err[CFG_ERR_MAX * 2], which[256];

	r = daemon_load_config(d, &c, err, sizeof(err));
	if (r) {
		fprintf(out, "reload refused, nothing changed: %s\n", err);
		return -1;
	}
	next = calloc((size_t)(c->nchannels + d->nchs + 1), sizeof(*next));
	if (!next || append(&d->cfgs, &d->ncfgs, c)) {
		free(next);
		cfg_free(c);
		free(c);
		fprintf(out, "reload: out of memory\n");
		return -1;
	}
	/* Channels that stay, change or go. */
	for (int i = 0; i < d->nchs; i++) {
		struct channel *old = d->chs[i];
		const struct cfg_channel *nc = cfg_channel_find(c, channel_id(old));

		if (nc && same_channel(channel_conf_all(old), channel_conf(old), c, nc)) {
			next[nnext++] = old;
			continue;
		}
		if (channel_state(old) != CH_STOPPED &&
		    fs_channel_busy(d->fs, old, which, sizeof(which))) {
			fprintf(out, "channel %d %s but is busy (%s is open): left as it was\n",
				channel_id(old), nc ? "changed" : "was removed", which);
			next[nnext++] = old;
			code = -1;
			continue;
		}
		log_info("%s: %s by the new configuration", channel_label(old),
			 nc ? "changed" : "removed");
		fs_channel_stopping(d->fs, old);
		channel_stop(old);
		append(&d->retired, &d->nretired, old);
	}
	/* Channels to create: new ids, and changed ones. */
	for (int i = 0; i < c->nchannels; i++) {
		int have = 0;

		for (int k = 0; k < nnext && !have; k++)
			have = channel_id(next[k]) == c->channels[i].id;
		if (!have) {
			struct channel *ch = new_channel(d, c, i);

			if (!ch)
				continue;
			next[nnext++] = ch;
			if (channel_start(ch, err, sizeof(err)) < 0) {
				log_err("%s", err);
				fprintf(out, "%s\n", err);
				code = -1;
			}
		}
	}
	pthread_mutex_lock(&d->lock);
	free(d->chs);
	d->chs = next;
	d->nchs = nnext;
	pthread_mutex_unlock(&d->lock);
	fs_set_channels(d->fs, d->chs, d->nchs);
	log_info("configuration reloaded: %d channel(s)", d->nchs);
	return code;
}

void writeback_guard_text(const struct writeback_guard *wb, char *out, size_t outlen)
{
	char flusher[96], mem[96];

	if (!wb->io_flusher)
		snprintf(flusher, sizeof(flusher), "IO flusher");
	else
		snprintf(flusher, sizeof(flusher), "PR_SET_IO_FLUSHER refused (%s%s)",
			 strerror(wb->io_flusher),
			 wb->io_flusher == EPERM ? ": needs CAP_SYS_RESOURCE" : "");
	if (!wb->mlock)
		snprintf(mem, sizeof(mem), "memory locked");
	else if (wb->mlock == ENOSYS)
		snprintf(mem, sizeof(mem), "memory not locked (sanitizer build)");
	else
		snprintf(mem, sizeof(mem), "mlockall refused (%s)", strerror(wb->mlock));
	snprintf(out, outlen, "%s, %s%s%s", flusher, mem, wb->io_flusher || wb->mlock ? ": " : "",
		 wb->io_flusher || wb->mlock ? WRITEBACK_RISK : "");
}
