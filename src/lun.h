/* One logical unit: what it is (INQUIRY), how big (READ CAPACITY), and block I/O on it,
 * split into commands no larger than the transfer limit. */
#ifndef ISCSIFS_LUN_H
#define ISCSIFS_LUN_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "scsi.h"
#include "session.h"

#define LUN_DEFAULT_MAX_XFER (1024 * 1024)

struct lun_io;

struct lun {
	struct session *sess; /* not owned */
	uint64_t wire;        /* 8-byte LUN */
	uint32_t number;
	struct scsi_inquiry inq;
	uint32_t block_size;
	uint64_t nblocks;
	uint32_t max_xfer;    /* bytes per command */
	int readonly;
	char ident[96];       /* VPD 0x83 identifier, "" when the LUN has none */
	int unmap;            /* UNMAP works and unmapped blocks read as zeros */
	uint32_t max_unmap_blocks;
	int gone;             /* removed from the target: I/O fails with ENXIO */
	int no_sync_cache;    /* atomic: the target refused SYNCHRONIZE CACHE as unsupported */
	/* queue_depth: commands in flight on this LUN; I/O beyond it waits in line (q_head),
	 * without a thread, until commands complete. */
	pthread_mutex_t q_lock;
	uint32_t queue_depth, inflight; /* under q_lock */
	struct lun_io *q_head, *q_tail;
	int draining, drain_again;      /* under q_lock: see queue_leave */
	/* atomic: READ and WRITE commands completed with GOOD status, and their bytes */
	uint64_t reads, read_bytes, writes, write_bytes;
	/* Under q_lock: the SCSI errors logged in the minute from err_window (ms), and those
	 * left out. */
	uint64_t err_window;
	uint32_t err_logged, err_quiet;
	uint64_t scsi_errors; /* atomic: READs and WRITEs the target failed with a status */
	char label[64];       /* "ch0 lun1" */
};

/* REPORT LUNS: *luns is malloc'd. 1 (and LUN 0 alone) when the target has no REPORT LUNS. */
int lun_report(struct session *s, uint64_t **luns, int *count, char *err, size_t errlen);

/* Probe one LUN. Returns 0, 1 when it is not a block device we export (controller, enclosure,
 * absent), or -errno with a reason. */
int lun_probe(struct session *s, uint64_t wire, const char *chlabel, struct lun *out, char *err,
	      size_t errlen);
/* Before the first I/O on a probed LUN (it may have been copied since the probe). */
void lun_init_queue(struct lun *l, uint32_t queue_depth);
void lun_destroy(struct lun *l);

/* nblocks and gone change under a rescan while I/O runs: read them atomically. */
static inline uint64_t lun_nblocks(const struct lun *l)
{
	return __atomic_load_n(&l->nblocks, __ATOMIC_ACQUIRE);
}
static inline uint64_t lun_size(const struct lun *l)
{
	return lun_nblocks(l) * l->block_size;
}
static inline int lun_gone(const struct lun *l)
{
	return __atomic_load_n(&l->gone, __ATOMIC_ACQUIRE);
}

typedef void (*lun_io_cb)(void *arg, int result);

/* Read or write whole blocks. The callback gets 0 or -errno, once, from any thread (often
 * before this returns); buf must stay valid until then. Never waits. */
void lun_io_async(struct lun *l, int write, uint64_t lba, uint32_t nblocks, void *buf,
		  lun_io_cb cb, void *arg);

/* Waiting for one lun_io_cb: pass io_wait_cb and &w, then io_wait_for(&w) gives the result. */
struct io_wait {
	pthread_mutex_t m;
	pthread_cond_t c;
	int done, result;
};
#define IO_WAIT_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0}
void io_wait_cb(void *arg, int result);
int io_wait_for(struct io_wait *w);

/* The same, waiting for the result (not on an event loop). */
int lun_io(struct lun *l, int write, uint64_t lba, uint32_t nblocks, void *buf);
/* SYNCHRONIZE CACHE over the whole LUN. */
int lun_sync_cache(struct lun *l);
/* UNMAP whole blocks; -EOPNOTSUPP unless the LUN reads unmapped blocks as zeros. */
int lun_unmap(struct lun *l, uint64_t lba, uint64_t nblocks);

#endif
