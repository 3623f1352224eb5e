/* Logical units: discovery of what is behind each LUN, and block I/O. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "lun.h"
#include "objcache.h"
#include "pdu.h"

/* The errno of a finished task. */
static int task_errno(const struct scsi_task *t)
{
	struct scsi_sense sn;
	int r;

	if (t->result)
		return t->result;
	scsi_sense_parse(t->sense, t->sense_len, &sn);
	r = scsi_status_to_errno(t->status, &sn);
	return r == -EAGAIN ? -EIO : r; /* the session already retried */
}

static int exec_in(struct session *s, uint64_t wire, const uint8_t *cdb, unsigned cdb_len,
		   void *buf, uint32_t len, uint32_t *got, struct scsi_sense *sense)
{
	struct scsi_task t = {0};
	int r;

	t.lun = wire;
	memcpy(t.cdb, cdb, cdb_len);
	t.cdb_len = cdb_len;
	t.dir = len ? TASK_DIR_READ : TASK_DIR_NONE;
	t.buf = buf;
	t.len = len;
	session_exec(s, &t);
	r = task_errno(&t);
	if (got)
		*got = t.xferred;
	if (sense)
		scsi_sense_parse(t.sense, t.sense_len, sense);
	return r;
}

/* The target answered that it has no such command (ILLEGAL REQUEST, 20/00 invalid command
 * operation code). */
static int no_such_command(int r, const struct scsi_sense *sn)
{
	return r == -EINVAL && sn->valid && sn->key == SENSE_ILLEGAL_REQUEST && sn->asc == 0x20;
}

int lun_report(struct session *s, uint64_t **luns, int *count, char *err, size_t errlen)
{
	uint32_t alloc = 8 + 8 * 256, got = 0;
	struct scsi_sense sn = {0};

	*luns = NULL;
	*count = 0;
	for (int round = 0; round < 2; round++) {
		uint8_t cdb[16], *buf = calloc(1, alloc);
		unsigned n = scsi_cdb_report_luns(cdb, alloc);
		uint32_t need;
		int r;

		if (!buf)
			return -ENOMEM;
		r = exec_in(s, 0, cdb, n, buf, alloc, &got, &sn);
		if (no_such_command(r, &sn)) {
			/* No REPORT LUNS (older than SPC-3, which asks it of every LUN 0): LUN 0
			 * alone, as Linux scans such a target from LUN 0. */
			free(buf);
			*luns = calloc(1, sizeof(**luns));
			if (!*luns)
				return -ENOMEM;
			*count = 1;
			return 1;
		}
		if (r) {
			snprintf(err, errlen, "REPORT LUNS failed: %s", strerror(-r));
			free(buf);
			return r;
		}
		need = got >= 4 ? get_be32(buf) + 8 : 0;
		if (need > alloc && round == 0 && need < (1u << 24)) {
			alloc = need;
			free(buf);
			continue;
		}
		*luns = calloc((alloc - 8) / 8 + 1, sizeof(**luns));
		if (!*luns) {
			free(buf);
			return -ENOMEM;
		}
		r = scsi_parse_report_luns(buf, got, *luns, (int)((alloc - 8) / 8));
		free(buf);
		if (r < 0) {
			snprintf(err, errlen, "malformed REPORT LUNS data");
			free(*luns);
			*luns = NULL;
			return r;
		}
		*count = r;
		return 0;
	}
	return -EPROTO;
}

static int read_capacity(struct lun *l, int *lbpme, int *lbprz, char *err, size_t errlen)
{
	uint8_t cdb[16], buf[32];
	unsigned n = scsi_cdb_read_capacity16(cdb, sizeof(buf));
	struct scsi_sense sn;
	uint32_t got = 0;
	int r;

	*lbpme = *lbprz = 0;
	r = exec_in(l->sess, l->wire, cdb, n, buf, sizeof(buf), &got, &sn);
	if (r == 0 && scsi_parse_read_capacity16(buf, got, &l->nblocks, &l->block_size) == 0) {
		scsi_parse_read_capacity16_lbp(buf, got, lbpme, lbprz);
		return 0;
	}
	/* Not every device knows SERVICE ACTION IN(16): fall back to READ CAPACITY(10). */
	n = scsi_cdb_read_capacity10(cdb);
	r = exec_in(l->sess, l->wire, cdb, n, buf, 8, &got, NULL);
	if (r == 0 && scsi_parse_read_capacity10(buf, got, &l->nblocks, &l->block_size) == 0)
		return 0;
	snprintf(err, errlen, "%s: READ CAPACITY failed: %s", l->label,
		 r ? strerror(-r) : "short answer");
	return r ? r : -EPROTO;
}

static void probe_write_protect(struct lun *l)
{
	uint8_t cdb[16], buf[4];
	/* The header alone holds the WP bit: ask for no pages. */
	unsigned n = scsi_cdb_mode_sense6(cdb, 0x3f, sizeof(buf));
	uint32_t got = 0;

	if (exec_in(l->sess, l->wire, cdb, n, buf, sizeof(buf), &got, NULL) == 0 && got >= 4)
		l->readonly = (buf[2] & 0x80) != 0; /* WP bit of the device-specific parameter */
}

/* Vital product data: identifier, transfer limits, thin provisioning. A LUN without them
 * works with the defaults. */
static void probe_vpd(struct lun *l, int lbpme, int lbprz)
{
	uint8_t cdb[16], pages[64], buf[255];
	unsigned n = scsi_cdb_inquiry(cdb, 1, 0x00, sizeof(pages));
	uint32_t got = 0, npages;
	int lbpu = 0, lbprz_vpd = 0;

	if (exec_in(l->sess, l->wire, cdb, n, pages, sizeof(pages), &got, NULL) || got < 4)
		return;
	npages = got;
	if (scsi_vpd_has_page(pages, npages, 0x83)) {
		n = scsi_cdb_inquiry(cdb, 1, 0x83, sizeof(buf));
		if (exec_in(l->sess, l->wire, cdb, n, buf, sizeof(buf), &got, NULL) == 0)
			scsi_parse_vpd83(buf, got, l->ident, sizeof(l->ident));
	}
	if (scsi_vpd_has_page(pages, npages, 0xb0)) {
		struct scsi_limits lim;

		n = scsi_cdb_inquiry(cdb, 1, 0xb0, sizeof(buf));
		if (exec_in(l->sess, l->wire, cdb, n, buf, sizeof(buf), &got, NULL) == 0 &&
		    scsi_parse_vpd_b0(buf, got, &lim) == 0) {
			uint64_t mx = (uint64_t)lim.max_xfer_blocks * l->block_size;

			if (lim.max_xfer_blocks && mx < l->max_xfer)
				l->max_xfer = (uint32_t)mx;
			l->max_unmap_blocks = lim.max_unmap_blocks;
		}
	}
	if (lbpme && scsi_vpd_has_page(pages, npages, 0xb2)) {
		n = scsi_cdb_inquiry(cdb, 1, 0xb2, sizeof(buf));
		if (exec_in(l->sess, l->wire, cdb, n, buf, sizeof(buf), &got, NULL) == 0)
			scsi_parse_vpd_b2(buf, got, &lbpu, &lbprz_vpd);
	}
	/* fallocate(PUNCH_HOLE) promises zeros: only a LUN that reads unmapped blocks as
	 * zeros may serve it with UNMAP. */
	l->unmap = lbpme && lbpu && (lbprz || lbprz_vpd) && l->max_unmap_blocks;
}

int lun_probe(struct session *s, uint64_t wire, const char *chlabel, struct lun *out, char *err,
	      size_t errlen)
{
	int lbpme = 0, lbprz = 0;
	uint8_t cdb[16], buf[96];
	uint32_t got = 0;
	unsigned n;
	int r;

	memset(out, 0, sizeof(*out));
	out->sess = s;
	out->wire = wire;
	out->number = scsi_lun_number(wire);
	out->max_xfer = LUN_DEFAULT_MAX_XFER;
	snprintf(out->label, sizeof(out->label), "%s lun%u", chlabel, out->number);
	n = scsi_cdb_inquiry(cdb, 0, 0, sizeof(buf));
	r = exec_in(s, wire, cdb, n, buf, sizeof(buf), &got, NULL);
	if (r) {
		snprintf(err, errlen, "%s: INQUIRY failed: %s", out->label, strerror(-r));
		return r;
	}
	if (scsi_parse_inquiry(buf, got, &out->inq) < 0) {
		snprintf(err, errlen, "%s: INQUIRY answer too short (%u bytes)", out->label, got);
		return -EPROTO;
	}
	if (out->inq.qualifier != 0)
		return 1;
	switch (out->inq.pdt) {
	case PDT_DISK:
	case PDT_CDROM:
	case PDT_OPTICAL:
	case PDT_RBC:
		break;
	default:
		log_dbg("%s: peripheral type 0x%02x (%s %s) is not exported", out->label,
			out->inq.pdt, out->inq.vendor, out->inq.product);
		return 1;
	}
	/* Clears the unit attention a fresh login brings; the session retries it. */
	n = scsi_cdb_test_unit_ready(cdb);
	exec_in(s, wire, cdb, n, NULL, 0, NULL, NULL);
	r = read_capacity(out, &lbpme, &lbprz, err, errlen);
	if (r)
		return r;
	if (out->block_size < 512 || out->block_size > 65536 ||
	    (out->block_size & (out->block_size - 1))) {
		snprintf(err, errlen, "%s: unusable block size %u", out->label, out->block_size);
		return -EPROTO;
	}
	probe_vpd(out, lbpme, lbprz);
	if (out->max_xfer < out->block_size)
		out->max_xfer = out->block_size;
	out->max_xfer -= out->max_xfer % out->block_size;
	if (out->inq.pdt == PDT_CDROM)
		out->readonly = 1;
	else
		probe_write_protect(out);
	return 0;
}

void lun_init_queue(struct lun *l, uint32_t queue_depth)
{
	pthread_mutex_init(&l->q_lock, NULL);
	l->queue_depth = queue_depth ? queue_depth : 32;
	l->inflight = 0;
	l->q_head = l->q_tail = NULL;
}

void lun_destroy(struct lun *l)
{
	pthread_mutex_destroy(&l->q_lock);
}

/* One I/O split into several commands; completes when the last one does. */
struct lun_io {
	struct lun_io *next; /* in the LUN's line */
	int remaining; /* atomic */
	int result;    /* atomic: the first error */
	uint32_t pieces;
	lun_io_cb cb;
	void *arg;
	struct lun *l;
	struct scsi_task tasks[];
};

/* Most I/O is one piece: those come from here. */
static struct objcache single_ios =
	OBJCACHE_INIT(sizeof(struct lun_io) + sizeof(struct scsi_task), 256);

static void io_free(struct lun_io *io)
{
	if (io->pieces == 1)
		objcache_put(&single_ios, io);
	else
		free(io);
}

/* Whether n more commands fit (an I/O larger than the queue takes an empty one). q_lock
 * held. */
static int queue_fits(const struct lun *l, uint32_t n)
{
	return !l->inflight || l->inflight + n <= l->queue_depth;
}

/* Send every piece. io lives until its last piece completes, and that piece is submitted
 * last: io is not touched after the final submit. */
static void io_submit(struct lun_io *io)
{
	uint32_t pieces = io->pieces;
	struct session *s = io->l->sess;

	for (uint32_t i = 0; i < pieces; i++)
		session_submit(s, &io->tasks[i]);
}

/* n commands of the LUN completed: start what waited for their room, in order. One thread
 * at a time starts them; one that finds another at it leaves it the work (a start that
 * completes at once, as when the session is down, would otherwise recurse per waiting I/O). */
static void queue_leave(struct lun *l, uint32_t n)
{
	pthread_mutex_lock(&l->q_lock);
	l->inflight -= n;
	if (l->draining) {
		l->drain_again = 1;
		pthread_mutex_unlock(&l->q_lock);
		return;
	}
	l->draining = 1;
	do {
		struct lun_io *go = NULL, **tail = &go;

		l->drain_again = 0;
		while (l->q_head && queue_fits(l, l->q_head->pieces)) {
			struct lun_io *io = l->q_head;

			l->q_head = io->next;
			if (!l->q_head)
				l->q_tail = NULL;
			l->inflight += io->pieces;
			io->next = NULL;
			*tail = io;
			tail = &io->next;
		}
		pthread_mutex_unlock(&l->q_lock);
		while (go) {
			struct lun_io *io = go;

			go = io->next;
			io_submit(io);
		}
		pthread_mutex_lock(&l->q_lock);
	} while (l->drain_again);
	l->draining = 0;
	pthread_mutex_unlock(&l->q_lock);
}

/* At most this many SCSI errors a minute in the log for each LUN: a failing region read
 * over and over would fill it. */
#define ERR_LOG_BURST 10
#define ERR_LOG_WINDOW_MS 60000

/* A READ or WRITE the target answered with an error status, for the operator. */
static void log_scsi_error(struct lun *l, const struct scsi_task *t)
{
	struct scsi_sense sn;
	char what[128];
	uint64_t lba = 0, now = clock_ms();
	uint32_t nb = 0, quiet = 0;
	int show, w;

	__atomic_add_fetch(&l->scsi_errors, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&l->q_lock);
	if (now - l->err_window >= ERR_LOG_WINDOW_MS) {
		quiet = l->err_quiet;
		l->err_window = now;
		l->err_logged = l->err_quiet = 0;
	}
	show = l->err_logged < ERR_LOG_BURST;
	if (show)
		l->err_logged++;
	else
		l->err_quiet++;
	pthread_mutex_unlock(&l->q_lock);
	if (quiet)
		log_warn("%s: %u more SCSI errors were not logged (at most %d a minute)", l->label,
			 quiet, ERR_LOG_BURST);
	if (!show)
		return;
	scsi_sense_parse(t->sense, t->sense_len, &sn);
	scsi_describe(t->status, &sn, what, sizeof(what));
	w = scsi_cdb_rw_parse(t->cdb, &lba, &nb);
	log_warn("%s: %s of %u blocks at LBA %llu failed: %s", l->label, w > 0 ? "WRITE" : "READ",
		 nb, (unsigned long long)lba, what);
}

static void io_piece_done(struct scsi_task *t)
{
	struct lun_io *io = t->priv;
	struct lun *l = io->l;
	int r = task_errno(t), none = 0;

	if (!r && t->residual)
		r = -EIO; /* a block device returns all it was asked for */
	else if (r && !t->result)
		log_scsi_error(io->l, t);
	if (!r) {
		int w = t->dir == TASK_DIR_WRITE;

		__atomic_add_fetch(w ? &io->l->writes : &io->l->reads, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(w ? &io->l->write_bytes : &io->l->read_bytes, t->len,
				   __ATOMIC_RELAXED);
	}
	if (r)
		__atomic_compare_exchange_n(&io->result, &none, r, 0, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED);
	/* acq_rel: the last piece sees every other piece's result and data. */
	if (__atomic_sub_fetch(&io->remaining, 1, __ATOMIC_ACQ_REL) == 0) {
		if (io->result)
			log_dbg("%s: I/O failed: %s", l->label, strerror(-io->result));
		io->cb(io->arg, io->result);
		io_free(io);
	}
	/* After the answer: what waited for the room starts behind it. */
	queue_leave(l, 1);
}

void lun_io_async(struct lun *l, int write, uint64_t lba, uint32_t nblocks, void *buf,
		  lun_io_cb cb, void *arg)
{
	uint32_t per = l->max_xfer / l->block_size;
	uint32_t pieces = nblocks ? (nblocks + per - 1) / per : 0;
	struct lun_io *io;

	if (!pieces) {
		cb(arg, 0);
		return;
	}
	if (lun_gone(l)) {
		cb(arg, -ENXIO);
		return;
	}
	if (lba + nblocks > lun_nblocks(l) || lba + nblocks < lba) {
		cb(arg, -EINVAL);
		return;
	}
	if (write && l->readonly) {
		cb(arg, -EROFS);
		return;
	}
	io = pieces == 1 ? objcache_get(&single_ios)
			 : calloc(1, sizeof(*io) + pieces * sizeof(io->tasks[0]));
	if (!io) {
		cb(arg, -ENOMEM);
		return;
	}
	io->pieces = pieces;
	io->remaining = (int)pieces;
	io->cb = cb;
	io->arg = arg;
	io->l = l;
	for (uint32_t i = 0; i < pieces; i++) {
		struct scsi_task *t = &io->tasks[i];
		uint32_t nb = nblocks - i * per < per ? nblocks - i * per : per;

		t->lun = l->wire;
		t->cdb_len = scsi_cdb_rw(t->cdb, write, lba + (uint64_t)i * per, nb);
		t->dir = write ? TASK_DIR_WRITE : TASK_DIR_READ;
		t->buf = (uint8_t *)buf + (size_t)i * per * l->block_size;
		t->len = nb * l->block_size;
		t->done = io_piece_done;
		t->priv = io;
	}
	/* In line behind what waits already, or at once when the queue has room. */
	pthread_mutex_lock(&l->q_lock);
	if (!l->q_head && queue_fits(l, pieces)) {
		l->inflight += pieces;
		pthread_mutex_unlock(&l->q_lock);
		io_submit(io);
		return;
	}
	if (l->q_tail)
		l->q_tail->next = io;
	else
		l->q_head = io;
	l->q_tail = io;
	pthread_mutex_unlock(&l->q_lock);
}

void io_wait_cb(void *arg, int result)
{
	struct io_wait *w = arg;

	pthread_mutex_lock(&w->m);
	w->result = result;
	w->done = 1;
	pthread_cond_signal(&w->c);
	pthread_mutex_unlock(&w->m);
}

int io_wait_for(struct io_wait *w)
{
	pthread_mutex_lock(&w->m);
	while (!w->done)
		pthread_cond_wait(&w->c, &w->m);
	pthread_mutex_unlock(&w->m);
	pthread_mutex_destroy(&w->m);
	pthread_cond_destroy(&w->c);
	return w->result;
}

int lun_io(struct lun *l, int write, uint64_t lba, uint32_t nblocks, void *buf)
{
	struct io_wait w = IO_WAIT_INIT;

	lun_io_async(l, write, lba, nblocks, buf, io_wait_cb, &w);
	return io_wait_for(&w);
}

/* SYNCHRONIZE CACHE. A target that has no such command (ILLEGAL REQUEST, 20/00 invalid
 * command operation code) has no cache to flush that it would tell of: as Linux's sd driver
 * does, that counts as done, and it is not asked again. */
int lun_sync_cache(struct lun *l)
{
	struct scsi_sense sn = {0};
	uint8_t cdb[16];
	unsigned n = scsi_cdb_sync_cache(cdb);
	char what[128];
	int r;

	if (l->readonly || __atomic_load_n(&l->no_sync_cache, __ATOMIC_RELAXED))
		return 0;
	r = exec_in(l->sess, l->wire, cdb, n, NULL, 0, NULL, &sn);
	if (no_such_command(r, &sn)) {
		if (!__atomic_exchange_n(&l->no_sync_cache, 1, __ATOMIC_RELAXED))
			log_info("%s: the target has no SYNCHRONIZE CACHE: fsync ends once every "
				 "write is acknowledged", l->label);
		return 0;
	}
	if (r) {
		if (sn.valid)
			scsi_describe(SCSI_STATUS_CHECK_CONDITION, &sn, what, sizeof(what));
		else
			snprintf(what, sizeof(what), "%s", strerror(-r));
		log_warn("%s: SYNCHRONIZE CACHE failed: %s", l->label, what);
	}
	return r;
}

int lun_unmap(struct lun *l, uint64_t lba, uint64_t nblocks)
{
	if (!l->unmap)
		return -EOPNOTSUPP;
	if (lun_gone(l))
		return -ENXIO;
	if (lba + nblocks > lun_nblocks(l) || lba + nblocks < lba)
		return -EINVAL;
	while (nblocks) {
		uint32_t chunk = nblocks < l->max_unmap_blocks ? (uint32_t)nblocks : l->max_unmap_blocks;
		struct scsi_task t = {0};
		uint8_t params[24];
		int r;

		t.lun = l->wire;
		t.cdb_len = scsi_cdb_unmap(t.cdb, (uint16_t)scsi_unmap_params(params, lba, chunk));
		t.dir = TASK_DIR_WRITE;
		t.buf = params;
		t.len = sizeof(params);
		session_exec(l->sess, &t);
		r = task_errno(&t);
		if (r)
			return r;
		lba += chunk;
		nblocks -= chunk;
	}
	return 0;
}
