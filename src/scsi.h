/* SCSI commands (SPC/SBC) an initiator needs: CDB builders, response parsers, sense -> errno. */
#ifndef ISCSIFS_SCSI_H
#define ISCSIFS_SCSI_H

#include <stddef.h>
#include <stdint.h>

#define SCSI_STATUS_GOOD 0x00
#define SCSI_STATUS_CHECK_CONDITION 0x02
#define SCSI_STATUS_BUSY 0x08
#define SCSI_STATUS_RESERVATION_CONFLICT 0x18
#define SCSI_STATUS_TASK_SET_FULL 0x28

#define SENSE_NOT_READY 0x2
#define SENSE_MEDIUM_ERROR 0x3
#define SENSE_ILLEGAL_REQUEST 0x5
#define SENSE_UNIT_ATTENTION 0x6
#define SENSE_DATA_PROTECT 0x7

/* Peripheral device types (SPC-4 table 49) that become files. */
#define PDT_DISK 0x00
#define PDT_CDROM 0x05
#define PDT_OPTICAL 0x07
#define PDT_RBC 0x0e

struct scsi_sense {
	uint8_t key, asc, ascq;
	int valid;
};

/* Decode fixed (0x70/0x71) or descriptor (0x72/0x73) sense data. */
void scsi_sense_parse(const uint8_t *sense, size_t len, struct scsi_sense *out);

/* errno for a finished command: 0 for GOOD, -EAGAIN when worth retrying (unit attention, busy,
 * becoming ready), -EROFS for write protect, -ENOSPC for a full thin pool, -EBADE for a
 * reservation conflict, -EINVAL for an illegal request, -EIO otherwise. */
int scsi_status_to_errno(uint8_t status, const struct scsi_sense *s);
/* What an administrator reads in the log: "CHECK CONDITION, MEDIUM ERROR 11/00 (unrecovered
 * read error)", or the status alone when there is no sense. */
void scsi_describe(uint8_t status, const struct scsi_sense *s, char *out, size_t len);
/* The additional sense code in words, for the common ones; NULL for the others. */
const char *scsi_asc_name(uint8_t asc, uint8_t ascq);

/* CDB builders: return the CDB length. */
unsigned scsi_cdb_test_unit_ready(uint8_t *cdb);
unsigned scsi_cdb_inquiry(uint8_t *cdb, int evpd, uint8_t page, uint16_t alloc);
unsigned scsi_cdb_report_luns(uint8_t *cdb, uint32_t alloc);
unsigned scsi_cdb_read_capacity10(uint8_t *cdb);
unsigned scsi_cdb_read_capacity16(uint8_t *cdb, uint32_t alloc);
unsigned scsi_cdb_rw(uint8_t *cdb, int write, uint64_t lba, uint32_t blocks);
/* The LBA and block count of a READ or WRITE (10) or (16) CDB: 1 for a write, 0 for a read,
 * -1 for any other command. */
int scsi_cdb_rw_parse(const uint8_t *cdb, uint64_t *lba, uint32_t *blocks);
unsigned scsi_cdb_sync_cache(uint8_t *cdb);
unsigned scsi_cdb_mode_sense6(uint8_t *cdb, uint8_t page, uint8_t alloc);

struct scsi_inquiry {
	uint8_t qualifier, pdt;
	int removable;
	char vendor[9], product[17], revision[5];
};
int scsi_parse_inquiry(const uint8_t *d, size_t len, struct scsi_inquiry *out);

/* REPORT LUNS: fills up to max 8-byte LUN values; returns how many, or -EPROTO. */
int scsi_parse_report_luns(const uint8_t *d, size_t len, uint64_t *luns, int max);
/* The LUN number an administrator sees, from an 8-byte LUN (SAM-5 single level). */
uint32_t scsi_lun_number(uint64_t lun);
/* The 8-byte LUN for a number (peripheral device addressing below 256, flat above). */
uint64_t scsi_lun_from_number(uint32_t n);

/* READ CAPACITY(16) byte 14: logical block provisioning enabled, unmapped blocks read 0. */
void scsi_parse_read_capacity16_lbp(const uint8_t *d, size_t len, int *lbpme, int *lbprz);

unsigned scsi_cdb_unmap(uint8_t *cdb, uint16_t param_len);
/* UNMAP parameter list with one descriptor; returns its length (24). */
unsigned scsi_unmap_params(uint8_t *buf, uint64_t lba, uint32_t blocks);

/* Vital product data (SPC-4 7.8, SBC-3 6.6). Page lists are counted in bytes 2..3. */
int scsi_vpd_has_page(const uint8_t *d, size_t len, uint8_t page);
/* The logical unit's identifier from page 0x83, as "naa.<hex>", "eui.<hex>", a SCSI name
 * string, or "t10.<vendor id>", preferring them in that order; -ENOENT when none. */
int scsi_parse_vpd83(const uint8_t *d, size_t len, char *out, size_t outlen);
struct scsi_limits {
	uint32_t max_xfer_blocks;  /* 0 = no limit */
	uint32_t opt_xfer_blocks;
	uint32_t max_unmap_blocks;  /* 0 = no UNMAP */
	uint32_t max_unmap_descs;
};
int scsi_parse_vpd_b0(const uint8_t *d, size_t len, struct scsi_limits *out);
/* Page 0xB2: UNMAP supported (LBPU), unmapped blocks read as zeros (LBPRZ). */
int scsi_parse_vpd_b2(const uint8_t *d, size_t len, int *lbpu, int *lbprz);

int scsi_parse_read_capacity10(const uint8_t *d, size_t len, uint64_t *nblocks, uint32_t *bs);
int scsi_parse_read_capacity16(const uint8_t *d, size_t len, uint64_t *nblocks, uint32_t *bs);

#endif
