/* A gathered status printed as text or as JSON. Both read only the struct, so the two always
 * tell the same state. */
#include <errno.h>
#include <string.h>

#include "status_render.h"

/* ---- text ---- */

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

/* A connection's state as the session's status colours it. */
static const char *conn_state(const struct session_info *si, const struct sconn_info *ci)
{
	return si->status == SESSION_UP ? sconn_state_str(ci->state) :
	       si->status == SESSION_RECOVERING ? "reconnecting" : "logged out";
}

static void ago(FILE *f, time_t t, time_t now)
{
	if (t)
		fprintf(f, "%lld s ago", (long long)(now - t));
	else
		fputs("never", f);
}

static void isns_text(const struct daemon_status *st, FILE *f)
{
	const struct isns_status *is = &st->isns;

	fprintf(f, "iSNS server %s: %s, %d target(s) visible, SCNs to %s\n", is->server,
		is->registered ? "registered" : "not registered", is->ntargets,
		is->scn_addr[0] ? is->scn_addr : "none (queries only)");
	fprintf(f, "  last query ");
	ago(f, is->last_query, st->now);
	fprintf(f, ", %lu change(s) noticed, last ", is->changes);
	ago(f, is->last_change, st->now);
	fprintf(f, "; %lu SCN(s), last ", is->scns);
	ago(f, is->last_scn, st->now);
	if (is->last_scn_text[0])
		fprintf(f, " (%s)", is->last_scn_text);
	fputc('\n', f);
	if (is->last_error[0])
		fprintf(f, "  last error: %s\n", is->last_error);
}

static void session_text(const struct session_info *si, FILE *f)
{
	if (si->status == SESSION_RECOVERING) {
		fprintf(f, "  recovering: %s; down %ld s, reconnect attempt %d\n", si->reason,
			si->down_for, si->attempts);
		fprintf(f, si->io_fails_in < 0 ? "  I/O fails until the target is back\n"
					       : "  I/O fails in %ld s (replacement_timeout)\n",
			si->io_fails_in);
	}
	fprintf(f, "  session: ISID %s, TSIH %u, %u command(s) in flight, %llu sent, "
		   "%llu bytes out, %llu bytes in\n    ",
		si->isid, si->tsih, si->inflight, (unsigned long long)si->commands,
		(unsigned long long)si->bytes_sent, (unsigned long long)si->bytes_received);
	params_text(f, &si->params);
	fputc('\n', f);
	if (si->erl_offered || si->params.error_recovery_level)
		fprintf(f, "  error recovery: level %u (%u asked), %llu SNACK(s), %llu command(s) "
			   "sent again, %llu task(s) reassigned, %llu not\n",
			si->params.error_recovery_level, si->erl_offered,
			(unsigned long long)si->snacks, (unsigned long long)si->resent,
			(unsigned long long)si->reassigned, (unsigned long long)si->not_reassigned);
	for (int i = 0; i < si->nconns; i++) {
		const struct sconn_info *ci = &si->conns[i];

		fprintf(f, "  connection %u: %s:%u%s%s, %s", ci->cid, ci->addr, ci->port,
			ci->netdev[0] ? " via " : "", ci->netdev, conn_state(si, ci));
		if (si->status == SESSION_UP && ci->reason[0])
			fprintf(f, " (%s)", ci->reason);
		fprintf(f, ", %u in flight, %llu sent, %llu bytes out, %llu bytes in",
			ci->inflight, (unsigned long long)ci->commands,
			(unsigned long long)ci->bytes_sent, (unsigned long long)ci->bytes_received);
		fputc('\n', f);
	}
}

static void lun_text(const struct status_lun *l, FILE *f)
{
	fprintf(f, "  lun%u: %llu bytes (%llu blocks of %u), %s %s%s%s%s, %s", l->number,
		(unsigned long long)l->size, (unsigned long long)l->nblocks, l->block_size,
		l->vendor, l->product, l->ident[0] ? ", id " : "", l->ident,
		l->read_only ? ", read-only" : "", l->file);
	if (l->scsi_errors)
		fprintf(f, ", %llu SCSI errors", l->scsi_errors);
	fputc('\n', f);
	if (l->reads || l->writes)
		fprintf(f, "    I/O: %llu reads, %llu bytes; %llu writes, %llu bytes\n", l->reads,
			l->read_bytes, l->writes, l->write_bytes);
	for (int m = 0; m < l->nmaps; m++)
		fprintf(f, "    partition %d -> %s (%s)\n", l->maps[m].partition, l->maps[m].dir,
			l->maps[m].mounted ? "mounted" : "not mounted");
}

static void channel_text(const struct status_channel *sc, FILE *f)
{
	fprintf(f, "channel %d: %s", sc->id, sc->state);
	if (sc->target[0])
		fprintf(f, ", target %s", sc->target);
	fprintf(f, ", portal %s%s%s\n", sc->portal, sc->netdev[0] ? " via " : "", sc->netdev);
	if (sc->have_session)
		session_text(&sc->session, f);
	for (int i = 0; i < sc->nluns; i++)
		lun_text(&sc->luns[i], f);
}

static void mpath_text(const struct status_mpath *sm, FILE *f)
{
	fprintf(f, "multipath %s: %s, %llu bytes, %s, %d path(s)%s\n", sm->name, sm->file,
		(unsigned long long)sm->size, cfg_multipath_str(sm->policy), sm->npaths,
		sm->waiting ? ", I/O waiting for a path" : "");
	for (int p = 0; p < sm->npaths; p++) {
		const struct status_path *sp = &sm->paths[p];

		fprintf(f, "  path channel %d lun%u via %s: %s%s%s%s, %llu I/Os, %llu lost\n",
			sp->channel, sp->lun, sp->portal, mpath_state_str(sp->state),
			sp->why[0] ? " (" : "", sp->why, sp->why[0] ? ")" : "",
			(unsigned long long)sp->ios, (unsigned long long)sp->failures);
	}
}

void status_render_text(const struct daemon_status *st, FILE *f)
{
	if (st->whole) {
		char wb[320];

		writeback_guard_text(&st->wb, wb, sizeof(wb));
		fprintf(f, "daemon pid %ld, writeback protection: %s\n", st->pid, wb);
		if (st->have_isns)
			isns_text(st, f);
	}
	for (int i = 0; i < st->nchannels; i++)
		channel_text(&st->channels[i], f);
	for (int k = 0; k < st->nmpaths; k++)
		mpath_text(&st->mpaths[k], f);
}

/* ---- JSON ---- */

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

/* A string, or null when it is empty. */
static void json_str_or_null(FILE *f, const char *s)
{
	if (s[0])
		json_str(f, s);
	else
		fputs("null", f);
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

static void threads_json(const struct daemon_status *st, FILE *f)
{
	if (st->have_fuse)
		fprintf(f, ",\"fuse\":{\"transport\":\"%s\",\"requests\":%llu,\"inflight\":%u}",
			st->fuse_transport, st->fuse_requests, st->fuse_inflight);
	else
		fputs(",\"fuse\":null", f);
	fputs(",\"loops\":[", f);
	for (unsigned i = 0; i < st->nloops; i++) {
		const struct evloop_stats *es = &st->loops[i];

		fprintf(f, "%s{\"cpu\":%d,\"wakeups\":%llu,\"events\":%llu,\"tasks\":%llu}",
			i ? "," : "", es->cpu, (unsigned long long)es->wakeups,
			(unsigned long long)es->events, (unsigned long long)es->tasks);
	}
	fprintf(f, "],\"workers\":{\"threads\":%u,\"busy\":%u,\"peak\":%u,\"done\":%llu}",
		st->workers.threads, st->workers.busy, st->workers.peak, st->workers.done);
}

static void writeback_json(const struct daemon_status *st, FILE *f)
{
	const struct writeback_guard *wb = &st->wb;

	fprintf(f, ",\"pid\":%ld,\"writeback\":{\"io_flusher\":%s,\"io_flusher_error\":",
		st->pid, wb->io_flusher ? "false" : "true");
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

static void isns_json(const struct daemon_status *st, FILE *f)
{
	const struct isns_status *is = &st->isns;

	if (!st->have_isns) {
		fputs(",\"isns\":null", f);
		return;
	}
	fputs(",\"isns\":{\"server\":", f);
	json_str(f, is->server);
	fprintf(f, ",\"registered\":%s,\"targets\":%d,\"changes\":%lu,\"scns\":%lu,"
		   "\"last_scn\":",
		is->registered ? "true" : "false", is->ntargets, is->changes, is->scns);
	json_str(f, is->last_scn_text);
	fputs(",\"last_error\":", f);
	json_str(f, is->last_error);
	fputc('}', f);
}

static void conn_json(const struct session_info *si, const struct sconn_info *ci, FILE *f)
{
	struct iscsi_params cp = si->params; /* the connection's own where they differ */

	fprintf(f, "{\"cid\":%u,\"portal\":\"%s:%u\",\"netdev\":", ci->cid, ci->addr, ci->port);
	json_str(f, ci->netdev);
	fprintf(f, ",\"state\":\"%s\",\"reason\":", conn_state(si, ci));
	json_str_or_null(f, si->status == SESSION_UP ? ci->reason : "");
	fprintf(f, ",\"commands\":%u,\"commands_sent\":%llu,\"bytes_sent\":%llu,"
		   "\"bytes_received\":%llu,\"params\":",
		ci->inflight, (unsigned long long)ci->commands, (unsigned long long)ci->bytes_sent,
		(unsigned long long)ci->bytes_received);
	if (ci->state == SCONN_UP) {
		cp.header_digest = ci->header_digest;
		cp.data_digest = ci->data_digest;
		cp.max_xmit_dsl = ci->max_xmit_dsl;
	}
	params_json(f, &cp);
	fputc('}', f);
}

static void lun_json(const struct status_lun *l, FILE *f)
{
	fprintf(f, "{\"lun\":%u,\"file\":", l->number);
	json_str(f, l->file);
	fprintf(f, ",\"size\":%llu,\"block_size\":%u,\"vendor\":", (unsigned long long)l->size,
		l->block_size);
	json_str(f, l->vendor);
	fputs(",\"product\":", f);
	json_str(f, l->product);
	fputs(",\"id\":", f);
	json_str(f, l->ident);
	fprintf(f,
		",\"read_only\":%s,\"thin\":%s,\"reads\":%llu,\"read_bytes\":%llu,"
		"\"writes\":%llu,\"write_bytes\":%llu,\"scsi_errors\":%llu,\"maps\":[",
		l->read_only ? "true" : "false", l->thin ? "true" : "false", l->reads,
		l->read_bytes, l->writes, l->write_bytes, l->scsi_errors);
	for (int m = 0; m < l->nmaps; m++) {
		fprintf(f, "%s{\"partition\":%d,\"name\":", m ? "," : "", l->maps[m].partition);
		json_str(f, l->maps[m].name);
		fputs(",\"mountpoint\":", f);
		json_str(f, l->maps[m].dir);
		fprintf(f, ",\"mounted\":%s}", l->maps[m].mounted ? "true" : "false");
	}
	fputs("]}", f);
}

static void channel_json(const struct status_channel *sc, FILE *f)
{
	const struct session_info *si = &sc->session;
	int recovering = sc->have_session && si->status == SESSION_RECOVERING;

	fprintf(f, "{\"id\":%d,\"state\":\"%s\",\"target\":", sc->id, sc->state);
	json_str_or_null(f, sc->target);
	fputs(",\"reason\":", f);
	if (recovering) {
		json_str(f, si->reason);
		fprintf(f, ",\"down_seconds\":%ld,\"io_fails_in\":%ld,\"attempts\":%d",
			si->down_for, si->io_fails_in, si->attempts);
	} else {
		fputs("null", f);
	}
	if (sc->have_session)
		fprintf(f, ",\"session\":{\"isid\":\"%s\",\"tsih\":%u}", si->isid, si->tsih);
	else
		fputs(",\"session\":null", f);
	fputs(",\"connections\":[", f);
	for (int i = 0; sc->have_session && i < si->nconns; i++) {
		if (i)
			fputc(',', f);
		conn_json(si, &si->conns[i], f);
	}
	fputs("]", f);
	if (sc->have_session) {
		fprintf(f, ",\"commands\":%u,\"commands_sent\":%llu,\"bytes_sent\":%llu,"
			   "\"bytes_received\":%llu,\"params\":",
			si->inflight, (unsigned long long)si->commands,
			(unsigned long long)si->bytes_sent, (unsigned long long)si->bytes_received);
		params_json(f, &si->params);
		fprintf(f, ",\"recovery\":{\"level\":%u,\"asked\":%u,\"snacks\":%llu,"
			   "\"commands_resent\":%llu,\"tasks_reassigned\":%llu,"
			   "\"tasks_not_reassigned\":%llu}",
			si->params.error_recovery_level, si->erl_offered,
			(unsigned long long)si->snacks, (unsigned long long)si->resent,
			(unsigned long long)si->reassigned, (unsigned long long)si->not_reassigned);
	}
	fputs(",\"luns\":[", f);
	for (int i = 0; i < sc->nluns; i++) {
		if (i)
			fputc(',', f);
		lun_json(&sc->luns[i], f);
	}
	fputs("]}", f);
}

static void mpath_json(const struct status_mpath *sm, FILE *f)
{
	fputs("{\"id\":", f);
	json_str(f, sm->name);
	fputs(",\"file\":", f);
	json_str(f, sm->file);
	fprintf(f, ",\"policy\":\"%s\",\"size\":%llu,\"block_size\":%u,\"waiting\":%d,\"paths\":[",
		cfg_multipath_str(sm->policy), (unsigned long long)sm->size, sm->block_size,
		sm->waiting);
	for (int p = 0; p < sm->npaths; p++) {
		const struct status_path *sp = &sm->paths[p];

		fprintf(f, "%s{\"channel\":%d,\"lun\":%u,\"portal\":\"%s\",\"state\":\"%s\",\"reason\":",
			p ? "," : "", sp->channel, sp->lun, sp->portal, mpath_state_str(sp->state));
		json_str_or_null(f, sp->why);
		fprintf(f, ",\"ios\":%llu,\"ios_lost\":%llu}", (unsigned long long)sp->ios,
			(unsigned long long)sp->failures);
	}
	fputs("]}", f);
}

void status_render_json(const struct daemon_status *st, FILE *f)
{
	fprintf(f, "{\"mountpoint\":\"%s\"", st->mountpoint);
	threads_json(st, f);
	writeback_json(st, f);
	isns_json(st, f);
	fputs(",\"channels\":[", f);
	for (int i = 0; i < st->nchannels; i++) {
		if (i)
			fputc(',', f);
		channel_json(&st->channels[i], f);
	}
	fputs("],\"multipath\":[", f);
	for (int k = 0; k < st->nmpaths; k++) {
		if (k)
			fputc(',', f);
		mpath_json(&st->mpaths[k], f);
	}
	fputs("]}\n", f);
}
