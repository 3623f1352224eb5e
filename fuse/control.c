/* Commands of the control socket: start, stop, pause, status, rescan, reload, maps. They run
 * one at a time on the control thread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "ctl.h"
#include "evloop.h"
#include "log.h"
#include "workq.h"

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
	struct channel *ch = malloc(sizeof(*ch));

	if (!ch)
		return NULL;
	channel_init(ch, c, &c->channels[i]);
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
			channel_destroy(ch);
			free(ch);
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
	for (int i = 0; i < d->nchs; i++) {
		channel_destroy(d->chs[i]);
		free(d->chs[i]);
	}
	for (int i = 0; i < d->nretired; i++) {
		channel_destroy(d->retired[i]);
		free(d->retired[i]);
	}
	for (int i = 0; i < d->ncfgs; i++) {
		cfg_free(d->cfgs[i]);
		free(d->cfgs[i]);
	}
	free(d->chs);
	free(d->retired);
	free(d->cfgs);
}

static const struct cfg *newest_cfg(const struct daemon *d)
{
	return d->cfgs[d->ncfgs - 1];
}

/* The channels a command names: all, the one with id argv[1], or those whose target is
 * argv[1] (an iSCSI name, in any case). */
static int pick(struct daemon *d, int argc, char **argv, struct channel **out, int *n, FILE *f)
{
	char *end;
	long id;

	*n = 0;
	if (argc < 2) {
		for (int i = 0; i < d->nchs; i++)
			out[(*n)++] = d->chs[i];
		return 0;
	}
	id = strtol(argv[1], &end, 10);
	if (*end || end == argv[1] || id < 0) {
		char why[CFG_ERR_MAX];

		if (iscsi_name_check(argv[1], why, sizeof(why)) < 0) {
			fprintf(f, "'%s' is neither a channel id nor an iSCSI name\n", argv[1]);
			return CTL_USAGE;
		}
		for (int i = 0; i < d->nchs; i++)
			if (iscsi_name_equal(d->chs[i]->target_name, argv[1]) ||
			    iscsi_name_equal(d->chs[i]->cc->target_name, argv[1]))
				out[(*n)++] = d->chs[i];
		if (*n)
			return 0;
		fprintf(f, "no channel has the target %s\n", argv[1]);
		return CTL_FAILED;
	}
	for (int i = 0; i < d->nchs; i++)
		if (d->chs[i]->cc->id == id) {
			out[(*n)++] = d->chs[i];
			return 0;
		}
	fprintf(f, "channel %ld is not configured\n", id);
	return CTL_FAILED;
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

/* <mount_root>/<target>/<name>, without doubled slashes. */
static void map_dir(const struct cfg *c, const struct channel *ch, const char *name, char *out,
		    size_t len)
{
	const char *given = c->settings.mount_root ? c->settings.mount_root : "/";
	/* Resolved, so that it compares with /proc/self/mounts (a root may not exist yet). */
	char *real = realpath(given, NULL), root[1024];
	size_t rl;

	snprintf(root, sizeof(root), "%s", real ? real : given);
	free(real);
	rl = strlen(root);

	while (rl > 1 && root[rl - 1] == '/')
		rl--;
	snprintf(out, len, "%.*s%s%s/%s", (int)rl, root, rl == 1 && root[0] == '/' ? "" : "/",
		 ch->target_name, name);
}

static int is_mounted(const char *dir)
{
	FILE *m = fopen("/proc/self/mounts", "r");
	char line[4096];
	int found = 0;

	if (!m)
		return 0;
	while (!found && fgets(line, sizeof(line), m)) {
		char *save = NULL, *mp;

		strtok_r(line, " ", &save);
		mp = strtok_r(NULL, " ", &save);
		found = mp && strcmp(mp, dir) == 0;
	}
	fclose(m);
	return found;
}

static const struct lun *find_lun(struct channel *ch, uint32_t number)
{
	for (int i = 0; i < ch->nluns; i++)
		if (ch->luns[i]->number == number && !lun_gone(ch->luns[i]))
			return ch->luns[i];
	return NULL;
}

/* The file that serves l: its multipath file when it is a path of one. */
static void lun_file(struct daemon *d, const struct channel *ch, const struct lun *l, char *out,
		     size_t len)
{
	struct mpath_dev *mp = mpath_of_lun(fs_multipath(d->fs), l);

	if (mp)
		snprintf(out, len, "%s/multipath/%s", d->mountpoint, mpath_name(mp));
	else
		snprintf(out, len, "%s/%s/lun%u", d->mountpoint, ch->target_name, l->number);
}

static void params_text(FILE *f, const struct iscsi_params *p)
{
	fprintf(f,
		"HeaderDigest %s, DataDigest %s, MaxRecvDataSegmentLength %u/%u, MaxBurstLength %u, "
		"FirstBurstLength %u, ImmediateData %s, InitialR2T %s, MaxOutstandingR2T %u, "
		"ErrorRecoveryLevel %u",
		p->header_digest ? "CRC32C" : "None", p->data_digest ? "CRC32C" : "None",
		p->max_recv_dsl, p->max_xmit_dsl, p->max_burst_length, p->first_burst_length,
		p->immediate_data ? "Yes" : "No", p->initial_r2t ? "Yes" : "No",
		p->max_outstanding_r2t, p->error_recovery_level);
}

static void params_json(FILE *f, const struct iscsi_params *p)
{
	fprintf(f,
		"{\"HeaderDigest\":\"%s\",\"DataDigest\":\"%s\",\"MaxRecvDataSegmentLength\":%u,"
		"\"MaxXmitDataSegmentLength\":%u,\"MaxBurstLength\":%u,\"FirstBurstLength\":%u,"
		"\"ImmediateData\":\"%s\",\"InitialR2T\":\"%s\",\"MaxOutstandingR2T\":%u,"
		"\"ErrorRecoveryLevel\":%u,\"DefaultTime2Wait\":%u,\"DefaultTime2Retain\":%u}",
		p->header_digest ? "CRC32C" : "None", p->data_digest ? "CRC32C" : "None",
		p->max_recv_dsl, p->max_xmit_dsl, p->max_burst_length, p->first_burst_length,
		p->immediate_data ? "Yes" : "No", p->initial_r2t ? "Yes" : "No",
		p->max_outstanding_r2t, p->error_recovery_level, p->default_time2wait,
		p->default_time2retain);
}

static void status_one(struct daemon *d, struct channel *ch, int json, FILE *f)
{
	const struct cfg *c = newest_cfg(d);
	const struct cfg_portal *p = &ch->cc->portals[0];
	const char *state = channel_state_str(ch);
	char portal[PORTAL_STR_MAX + 16];
	struct session_info si = {0};
	int have = ch->sess != NULL, first = 1;

	if (have)
		session_get_info(ch->sess, &si);
	if (json) {
		fprintf(f, "{\"id\":%d,\"state\":\"%s\",\"target\":", ch->cc->id, state);
		if (ch->target_name[0])
			json_str(f, ch->target_name);
		else
			fputs("null", f);
		fputs(",\"reason\":", f);
		if (have && si.status == SESSION_RECOVERING) {
			json_str(f, si.reason);
			fprintf(f, ",\"down_seconds\":%ld,\"io_fails_in\":%ld,\"attempts\":%d",
				si.down_for, si.io_fails_in, si.attempts);
		} else {
			fputs("null", f);
		}
		if (have)
			fprintf(f, ",\"session\":{\"isid\":\"%s\",\"tsih\":%u}", si.isid, si.tsih);
		else
			fputs(",\"session\":null", f);
		fputs(",\"connections\":[", f);
		for (int i = 0; have && i < si.nconns; i++) {
			struct iscsi_params cp;
			const struct sconn_info *ci = &si.conns[i];

			fprintf(f, "%s{\"cid\":%u,\"portal\":\"%s:%u\",\"netdev\":", i ? "," : "",
				ci->cid, ci->addr, ci->port);
			json_str(f, ci->netdev);
			fprintf(f, ",\"state\":\"%s\",\"reason\":",
				si.status == SESSION_UP ? sconn_state_str(ci->state) :
				si.status == SESSION_RECOVERING ? "reconnecting" : "logged out");
			if (ci->reason[0] && si.status == SESSION_UP)
				json_str(f, ci->reason);
			else
				fputs("null", f);
			fprintf(f, ",\"commands\":%u,\"commands_sent\":%llu,\"bytes_sent\":%llu,"
				   "\"bytes_received\":%llu,\"params\":",
				ci->inflight, (unsigned long long)ci->commands,
				(unsigned long long)ci->bytes_sent, (unsigned long long)ci->bytes_received);
			cp = si.params; /* the connection's own where they differ */
			if (ci->state == SCONN_UP) {
				cp.header_digest = ci->header_digest;
				cp.data_digest = ci->data_digest;
				cp.max_xmit_dsl = ci->max_xmit_dsl;
			}
			params_json(f, &cp);
			fputc('}', f);
		}
		fputs("]", f);
		if (have) {
			fprintf(f, ",\"commands\":%u,\"commands_sent\":%llu,\"bytes_sent\":%llu,"
				   "\"bytes_received\":%llu,\"params\":",
				si.inflight, (unsigned long long)si.commands,
				(unsigned long long)si.bytes_sent, (unsigned long long)si.bytes_received);
			params_json(f, &si.params);
		}
		fputs(",\"luns\":[", f);
	} else {
		fprintf(f, "channel %d: %s", ch->cc->id, state);
		if (ch->target_name[0])
			fprintf(f, ", target %s", ch->target_name);
		channel_portal_str(ch, portal, sizeof(portal));
		fprintf(f, ", portal %s%s%s\n", portal, p->netdev[0] ? " via " : "", p->netdev);
		if (have && si.status == SESSION_RECOVERING)
			fprintf(f, "  recovering: %s; down %ld s, reconnect attempt %d\n", si.reason,
				si.down_for, si.attempts);
		if (have && si.status == SESSION_RECOVERING)
			fprintf(f, si.io_fails_in < 0 ? "  I/O fails until the target is back\n"
						      : "  I/O fails in %ld s (replacement_timeout)\n",
				si.io_fails_in);
		if (have) {
			fprintf(f, "  session: ISID %s, TSIH %u, %u command(s) in flight, %llu sent, "
				   "%llu bytes out, %llu bytes in\n    ",
				si.isid, si.tsih, si.inflight, (unsigned long long)si.commands,
				(unsigned long long)si.bytes_sent, (unsigned long long)si.bytes_received);
			params_text(f, &si.params);
			fputc('\n', f);
			for (int i = 0; i < si.nconns; i++) {
				const struct sconn_info *ci = &si.conns[i];

				fprintf(f, "  connection %u: %s:%u%s%s, %s", ci->cid, ci->addr, ci->port,
					ci->netdev[0] ? " via " : "", ci->netdev,
					si.status == SESSION_UP ? sconn_state_str(ci->state) :
					si.status == SESSION_RECOVERING ? "reconnecting" : "logged out");
				if (si.status == SESSION_UP && ci->reason[0])
					fprintf(f, " (%s)", ci->reason);
				fprintf(f, ", %u in flight, %llu sent, %llu bytes out, %llu bytes in",
					ci->inflight, (unsigned long long)ci->commands,
					(unsigned long long)ci->bytes_sent,
					(unsigned long long)ci->bytes_received);
				fputc('\n', f);
			}
		}
	}
	pthread_mutex_lock(&ch->lock);
	for (int i = 0; i < ch->nluns; i++) {
		const struct lun *l = ch->luns[i];
		char file[1024];
		int firstmap = 1;
		unsigned long long reads = __atomic_load_n(&l->reads, __ATOMIC_RELAXED),
				   rbytes = __atomic_load_n(&l->read_bytes, __ATOMIC_RELAXED),
				   writes = __atomic_load_n(&l->writes, __ATOMIC_RELAXED),
				   wbytes = __atomic_load_n(&l->write_bytes, __ATOMIC_RELAXED),
				   errors = __atomic_load_n(&l->scsi_errors, __ATOMIC_RELAXED);

		if (lun_gone(l))
			continue;
		lun_file(d, ch, l, file, sizeof(file));
		if (json) {
			fprintf(f, "%s{\"lun\":%u,\"file\":", first ? "" : ",", l->number);
			json_str(f, file);
			fprintf(f, ",\"size\":%llu,\"block_size\":%u,\"vendor\":",
				(unsigned long long)lun_size(l), l->block_size);
			json_str(f, l->inq.vendor);
			fputs(",\"product\":", f);
			json_str(f, l->inq.product);
			fputs(",\"id\":", f);
			json_str(f, l->ident);
			fprintf(f,
				",\"read_only\":%s,\"thin\":%s,\"reads\":%llu,\"read_bytes\":%llu,"
				"\"writes\":%llu,\"write_bytes\":%llu,\"scsi_errors\":%llu,\"maps\":[",
				l->readonly ? "true" : "false", l->unmap ? "true" : "false", reads, rbytes,
				writes, wbytes, errors);
		} else {
			fprintf(f, "  lun%u: %llu bytes (%llu blocks of %u), %s %s%s%s%s, %s",
				l->number, (unsigned long long)lun_size(l),
				(unsigned long long)lun_nblocks(l), l->block_size, l->inq.vendor,
				l->inq.product, l->ident[0] ? ", id " : "", l->ident,
				l->readonly ? ", read-only" : "", file);
			if (errors)
				fprintf(f, ", %llu SCSI errors", errors);
			fputc('\n', f);
			if (reads || writes)
				fprintf(f, "    I/O: %llu reads, %llu bytes; %llu writes, %llu bytes\n",
					reads, rbytes, writes, wbytes);
		}
		first = 0;
		for (int m = 0; m < c->nmaps; m++) {
			const struct cfg_map *mp = &c->maps[m];
			char dir[1024];
			int mounted;

			if (mp->channel != ch->cc->id || mp->lun != l->number)
				continue;
			map_dir(c, ch, mp->name, dir, sizeof(dir));
			mounted = is_mounted(dir);
			if (json) {
				fprintf(f, "%s{\"partition\":%d,\"name\":", firstmap ? "" : ",",
					mp->partition);
				json_str(f, mp->name);
				fputs(",\"mountpoint\":", f);
				json_str(f, dir);
				fprintf(f, ",\"mounted\":%s}", mounted ? "true" : "false");
			} else {
				fprintf(f, "    partition %d -> %s (%s)\n", mp->partition, dir,
					mounted ? "mounted" : "not mounted");
			}
			firstmap = 0;
		}
		if (json)
			fputs("]}", f);
	}
	pthread_mutex_unlock(&ch->lock);
	if (json)
		fputs("]}", f);
}

/* Whether a device has a path on one of the channels shown. */
static int mpath_shown(const struct mpath_info *mi, struct channel **sel, int n)
{
	for (int p = 0; p < mi->npaths; p++)
		for (int i = 0; i < n; i++)
			if (mi->paths[p].ch == sel[i])
				return 1;
	return 0;
}

static void status_mpath(struct daemon *d, struct channel **sel, int n, int json, FILE *f)
{
	struct mpath_set *set = fs_multipath(d->fs);
	int first = 1;

	if (json)
		fputs(",\"multipath\":[", f);
	for (int k = 0; set && k < mpath_count(set); k++) {
		struct mpath_dev *mp = mpath_get(set, k);
		const struct lun *g = mpath_lun(mp);
		struct mpath_info mi;
		char file[1024];

		mpath_get_info(mp, &mi);
		if (!mi.present || !mpath_shown(&mi, sel, n))
			continue;
		snprintf(file, sizeof(file), "%s/multipath/%s", d->mountpoint, mi.name);
		if (json) {
			fputs(first ? "{\"id\":" : ",{\"id\":", f);
			json_str(f, mi.name);
			fputs(",\"file\":", f);
			json_str(f, file);
			fprintf(f, ",\"policy\":\"%s\",\"size\":%llu,\"block_size\":%u,"
				   "\"waiting\":%d,\"paths\":[",
				cfg_multipath_str(mi.policy), (unsigned long long)lun_size(g),
				g->block_size, mi.waiting);
		} else {
			fprintf(f, "multipath %s: %s, %llu bytes, %s, %d path(s)%s\n", mi.name, file,
				(unsigned long long)lun_size(g), cfg_multipath_str(mi.policy),
				mi.npaths, mi.waiting ? ", I/O waiting for a path" : "");
		}
		for (int p = 0; p < mi.npaths; p++) {
			const struct mpath_path_info *pi = &mi.paths[p];

			if (json) {
				fprintf(f, "%s{\"channel\":%d,\"lun\":%u,\"portal\":\"%s\","
					   "\"state\":\"%s\",\"reason\":",
					p ? "," : "", pi->ch->cc->id, pi->lun, pi->portal,
					mpath_state_str(pi->state));
				if (pi->why[0])
					json_str(f, pi->why);
				else
					fputs("null", f);
				fprintf(f, ",\"ios\":%llu,\"ios_lost\":%llu}",
					(unsigned long long)pi->ios, (unsigned long long)pi->failures);
			} else {
				fprintf(f, "  path channel %d lun%u via %s: %s%s%s%s, %llu I/Os, %llu lost\n",
					pi->ch->cc->id, pi->lun, pi->portal, mpath_state_str(pi->state),
					pi->why[0] ? " (" : "", pi->why, pi->why[0] ? ")" : "",
					(unsigned long long)pi->ios, (unsigned long long)pi->failures);
			}
		}
		if (json)
			fputs("]}", f);
		first = 0;
	}
	if (json)
		fputc(']', f);
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

static void writeback_json(const struct writeback_guard *wb, FILE *f)
{
	fprintf(f, ",\"pid\":%ld,\"writeback\":{\"io_flusher\":%s,\"io_flusher_error\":",
		(long)getpid(), wb->io_flusher ? "false" : "true");
	if (wb->io_flusher)
		json_str(f, strerror(wb->io_flusher));
	else
		fputs("null", f);
	fprintf(f, ",\"memory_locked\":%s,\"memory_lock_error\":", wb->mlock ? "false" : "true");
	if (wb->mlock)
		json_str(f, wb->mlock == ENOSYS ? "not tried in a sanitizer build" : strerror(wb->mlock));
	else
		fputs("null", f);
	fputc('}', f);
}

static void ago(FILE *f, time_t t, time_t now)
{
	if (t)
		fprintf(f, "%lld s ago", (long long)(now - t));
	else
		fputs("never", f);
}

static void isns_status_text(struct daemon *d, FILE *f)
{
	struct isns_status st;
	time_t now = time(NULL);

	isns_client_status(d->isns, &st);
	fprintf(f, "iSNS server %s: %s, %d target(s) visible, SCNs to %s\n", st.server,
		st.registered ? "registered" : "not registered", st.ntargets,
		st.scn_addr[0] ? st.scn_addr : "none (queries only)");
	fprintf(f, "  last query ");
	ago(f, st.last_query, now);
	fprintf(f, ", %lu change(s) noticed, last ", st.changes);
	ago(f, st.last_change, now);
	fprintf(f, "; %lu SCN(s), last ", st.scns);
	ago(f, st.last_scn, now);
	if (st.last_scn_text[0])
		fprintf(f, " (%s)", st.last_scn_text);
	fputc('\n', f);
	if (st.last_error[0])
		fprintf(f, "  last error: %s\n", st.last_error);
}

static void isns_status_json(struct daemon *d, FILE *f)
{
	struct isns_status st;

	if (!d->isns) {
		fputs(",\"isns\":null", f);
		return;
	}
	isns_client_status(d->isns, &st);
	fputs(",\"isns\":{\"server\":", f);
	json_str(f, st.server);
	fprintf(f, ",\"registered\":%s,\"targets\":%d,\"changes\":%lu,\"scns\":%lu,"
		   "\"last_scn\":",
		st.registered ? "true" : "false", st.ntargets, st.changes, st.scns);
	json_str(f, st.last_scn_text);
	fputs(",\"last_error\":", f);
	json_str(f, st.last_error);
	fputc('}', f);
}

/* The targets iSNS shows this initiator, one line each: name, then its portals. */
static int cmd_discover(struct daemon *d, FILE *f)
{
	struct isns_target *l;
	struct isns_status st;
	int n;

	if (!d->isns) {
		fprintf(f, "no iSNS server configured (ISNS=\"address [port]\" in the initiator "
			   "file)\n");
		return CTL_FAILED;
	}
	isns_client_status(d->isns, &st);
	if (!st.last_query) {
		fprintf(f, "the iSNS server %s has not answered yet%s%s\n", st.server,
			st.last_error[0] ? ": " : "", st.last_error);
		return CTL_FAILED;
	}
	if (isns_client_targets(d->isns, &l, &n) < 0) {
		fprintf(f, "out of memory\n");
		return CTL_FAILED;
	}
	for (int i = 0; i < n; i++) {
		fprintf(f, "%s", l[i].name);
		for (int k = 0; k < l[i].nportals; k++)
			fprintf(f, " %s:%u", l[i].portals[k].addr, l[i].portals[k].port);
		fputc('\n', f);
	}
	free(l);
	return CTL_OK;
}

/* The threads that carry the I/O: the event loops, the FUSE transport, the workers. */
static void threads_json(struct daemon *d, FILE *f)
{
	struct workq_stats ws;

	if (d->dev) {
		struct fdev_stats fst;

		fdev_get_stats(d->dev, &fst);
		fprintf(f, ",\"fuse\":{\"transport\":\"%s\",\"requests\":%llu,\"inflight\":%u}",
			fdev_mode_str(d->dev), fst.requests, fst.inflight);
	} else {
		fputs(",\"fuse\":null", f);
	}
	fputs(",\"loops\":[", f);
	for (unsigned i = 0; i < evloops_count(); i++) {
		struct evloop_stats es;

		evloop_get_stats(i, &es);
		fprintf(f, "%s{\"cpu\":%d,\"wakeups\":%llu,\"events\":%llu,\"tasks\":%llu}",
			i ? "," : "", es.cpu, (unsigned long long)es.wakeups,
			(unsigned long long)es.events, (unsigned long long)es.tasks);
	}
	workq_get_stats(&ws);
	fprintf(f, "],\"workers\":{\"threads\":%u,\"busy\":%u,\"peak\":%u,\"done\":%llu}",
		ws.threads, ws.busy, ws.peak, ws.done);
}

static int cmd_status(struct daemon *d, int argc, char **argv, FILE *f)
{
	struct channel *sel[256];
	int n, json = 0, r, nargs = 0;
	char *args[3] = {argv[0], NULL, NULL};

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (nargs < 1)
			args[1 + nargs++] = argv[i];
		else
			return fprintf(f, "usage: status [CH] [--json]\n"), CTL_USAGE;
	}
	r = pick(d, 1 + nargs, args, sel, &n, f);
	if (r)
		return r;
	if (json) {
		fprintf(f, "{\"mountpoint\":\"%s\"", d->mountpoint);
		threads_json(d, f);
		writeback_json(&d->wb, f);
		isns_status_json(d, f);
		fputs(",\"channels\":[", f);
	} else if (nargs == 0) {
		char wb[320];

		writeback_guard_text(&d->wb, wb, sizeof(wb));
		fprintf(f, "daemon pid %ld, writeback protection: %s\n", (long)getpid(), wb);
		if (d->isns)
			isns_status_text(d, f);
	}
	for (int i = 0; i < n; i++) {
		if (json && i)
			fputc(',', f);
		status_one(d, sel[i], json, f);
	}
	if (json)
		fputc(']', f);
	status_mpath(d, sel, n, json, f);
	if (json)
		fputs("}\n", f);
	return CTL_OK;
}

static int cmd_start(struct daemon *d, struct channel **sel, int n, FILE *f)
{
	int code = CTL_OK;

	for (int i = 0; i < n; i++) {
		char err[CFG_ERR_MAX * 2];

		if (channel_start(sel[i], err, sizeof(err)) < 0) {
			log_err("%s", err);
			fprintf(f, "%s\n", err);
			code = CTL_FAILED;
		}
	}
	(void)d;
	return code;
}

static int cmd_stop(struct daemon *d, struct channel **sel, int n, FILE *f)
{
	char which[256];

	/* All or nothing: refuse before stopping anything when a file is in use. */
	for (int i = 0; i < n; i++)
		if (sel[i]->state != CH_STOPPED && fs_channel_busy(d->fs, sel[i], which, sizeof(which))) {
			fprintf(f, "channel %d is busy: %s is open (unmap it first: "
				   "iscsi-unmap-channel %d)\n",
				sel[i]->cc->id, which, sel[i]->cc->id);
			return CTL_FAILED;
		}
	for (int i = 0; i < n; i++) {
		fs_channel_stopping(d->fs, sel[i]);
		channel_stop(sel[i]);
	}
	return CTL_OK;
}

static int cmd_maps(struct daemon *d, struct channel **sel, int n, FILE *f)
{
	const struct cfg *c = newest_cfg(d);

	for (int i = 0; i < n; i++) {
		struct channel *ch = sel[i];

		if (ch->state == CH_STOPPED)
			continue;
		pthread_mutex_lock(&ch->lock);
		for (int m = 0; m < c->nmaps; m++) {
			const struct cfg_map *mp = &c->maps[m];
			char dir[1024];

			const struct lun *l = find_lun(ch, mp->lun);
			char file[1024];

			if (mp->channel != ch->cc->id || !l)
				continue;
			lun_file(d, ch, l, file, sizeof(file));
			map_dir(c, ch, mp->name, dir, sizeof(dir));
			fprintf(f, "%d %u %d %s %s %s\n", mp->channel, mp->lun, mp->partition, mp->name,
				file, dir);
		}
		pthread_mutex_unlock(&ch->lock);
	}
	return CTL_OK;
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

/* Re-read the configuration: new channels start, removed ones stop, changed ones restart,
 * unchanged ones are left alone. A busy channel that would stop keeps running. */
static int cmd_reload(struct daemon *d, FILE *f)
{
	struct cfg *c;
	struct channel **next;
	int nnext = 0, code = CTL_OK, r;
	char err[CFG_ERR_MAX * 2], which[256];

	r = daemon_load_config(d, &c, err, sizeof(err));
	if (r) {
		fprintf(f, "reload refused, nothing changed: %s\n", err);
		return CTL_FAILED;
	}
	next = calloc((size_t)(c->nchannels + d->nchs + 1), sizeof(*next));
	if (!next || append(&d->cfgs, &d->ncfgs, c)) {
		free(next);
		cfg_free(c);
		free(c);
		fprintf(f, "reload: out of memory\n");
		return CTL_FAILED;
	}
	/* Channels that stay, change or go. */
	for (int i = 0; i < d->nchs; i++) {
		struct channel *old = d->chs[i];
		const struct cfg_channel *nc = cfg_channel_find(c, old->cc->id);

		if (nc && same_channel(old->cfg, old->cc, c, nc)) {
			next[nnext++] = old;
			continue;
		}
		if (old->state != CH_STOPPED && fs_channel_busy(d->fs, old, which, sizeof(which))) {
			fprintf(f, "channel %d %s but is busy (%s is open): left as it was\n",
				old->cc->id, nc ? "changed" : "was removed", which);
			next[nnext++] = old;
			code = CTL_FAILED;
			continue;
		}
		log_info("%s: %s by the new configuration", old->label, nc ? "changed" : "removed");
		fs_channel_stopping(d->fs, old);
		channel_stop(old);
		append(&d->retired, &d->nretired, old);
	}
	/* Channels to create: new ids, and changed ones. */
	for (int i = 0; i < c->nchannels; i++) {
		int have = 0;

		for (int k = 0; k < nnext && !have; k++)
			have = next[k]->cc->id == c->channels[i].id;
		if (!have) {
			struct channel *ch = new_channel(d, c, i);

			if (!ch)
				continue;
			next[nnext++] = ch;
			if (channel_start(ch, err, sizeof(err)) < 0) {
				log_err("%s", err);
				fprintf(f, "%s\n", err);
				code = CTL_FAILED;
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

int daemon_command(void *arg, int argc, char **argv, FILE *f)
{
	struct daemon *d = arg;
	struct channel *sel[256];
	const char *cmd = argv[0];
	int n, r;

	if (strcmp(cmd, "status") == 0)
		return cmd_status(d, argc, argv, f);
	if (strcmp(cmd, "reload") == 0)
		return argc == 1 ? cmd_reload(d, f) : CTL_USAGE;
	if (strcmp(cmd, "discover") == 0)
		return argc == 1 ? cmd_discover(d, f) : CTL_USAGE;
	if (strcmp(cmd, "mountpoint") == 0) {
		fprintf(f, "%s\n", d->mountpoint);
		return CTL_OK;
	}
	if (strcmp(cmd, "pid") == 0) { /* for the init script, to wait for the exit */
		fprintf(f, "%ld\n", (long)getpid());
		return CTL_OK;
	}
	if (argc > 2 || d->nchs > 256)
		return fprintf(f, "usage: %s [CH]\n", cmd), CTL_USAGE;
	r = pick(d, argc, argv, sel, &n, f);
	if (r)
		return r;
	if (strcmp(cmd, "list") == 0) {
		for (int i = 0; i < n; i++)
			fprintf(f, "%d %s %s\n", sel[i]->cc->id, channel_state_str(sel[i]),
				sel[i]->target_name[0] ? sel[i]->target_name : "-");
		return CTL_OK;
	}
	if (strcmp(cmd, "start") == 0)
		return cmd_start(d, sel, n, f);
	if (strcmp(cmd, "stop") == 0)
		return cmd_stop(d, sel, n, f);
	if (strcmp(cmd, "pause") == 0) {
		for (int i = 0; i < n; i++)
			channel_pause(sel[i]);
		return CTL_OK;
	}
	if (strcmp(cmd, "rescan") == 0) {
		for (int i = 0; i < n; i++)
			if (sel[i]->state == CH_RUNNING)
				channel_request_rescan(sel[i]);
		return CTL_OK;
	}
	if (strcmp(cmd, "maps") == 0)
		return cmd_maps(d, sel, n, f);
	fprintf(f, "unknown command '%s' (see initiator-ctl -h)\n", cmd);
	return CTL_USAGE;
}
