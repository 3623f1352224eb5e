/* SCSI CDBs and response decoding. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "byteorder.h"
#include "scsi.h"

void scsi_sense_parse(const uint8_t *s, size_t len, struct scsi_sense *out)
{
	uint8_t code;

	memset(out, 0, sizeof(*out));
	if (len < 2)
		return;
	code = s[0] & 0x7f;
	if ((code == 0x70 || code == 0x71) && len >= 14) {
		out->key = s[2] & 0x0f;
		out->asc = s[12];
		out->ascq = s[13];
		out->valid = 1;
	} else if ((code == 0x72 || code == 0x73) && len >= 4) {
		out->key = s[1] & 0x0f;
		out->asc = s[2];
		out->ascq = s[3];
		out->valid = 1;
	} else if (code == 0x70 || code == 0x71) {
		if (len >= 3) {
			out->key = s[2] & 0x0f;
			out->valid = 1;
		}
	}
}

int scsi_status_to_errno(uint8_t status, const struct scsi_sense *s)
{
	switch (status) {
	case SCSI_STATUS_GOOD:
		return 0;
	case SCSI_STATUS_BUSY:
	case SCSI_STATUS_TASK_SET_FULL:
		return -EAGAIN;
	case SCSI_STATUS_CHECK_CONDITION:
		break;
	case SCSI_STATUS_RESERVATION_CONFLICT:
		/* Another initiator holds a reservation: not retried, and told apart from a
		 * failing medium with Linux's own errno for it (BLK_STS_RESV_CONFLICT). */
		return -EBADE;
	default:
		return -EIO;
	}
	if (!s || !s->valid)
		return -EIO;
	switch (s->key) {
	case 0x0: /* NO SENSE */
	case 0x1: /* RECOVERED ERROR */
		return 0;
	case SENSE_UNIT_ATTENTION:
		return -EAGAIN;
	case SENSE_NOT_READY:
		/* 04/01: becoming ready; 04/xx in progress states are worth waiting for. */
		if (s->asc == 0x04 && (s->ascq == 0x01 || s->ascq == 0x07 || s->ascq == 0x08))
			return -EAGAIN;
		return -EIO;
	case SENSE_DATA_PROTECT:
		/* 27/07 space allocation failed: a thin-provisioned LUN whose pool is full, not a
		 * write-protected one (SBC-4 4.7.3.7); Linux says ENOSPC too. */
		if (s->asc == 0x27 && s->ascq == 0x07)
			return -ENOSPC;
		return -EROFS;
	case SENSE_ILLEGAL_REQUEST:
		return -EINVAL;
	default:
		return -EIO;
	}
}

unsigned scsi_cdb_test_unit_ready(uint8_t *cdb)
{
	memset(cdb, 0, 6);
	return 6;
}

unsigned scsi_cdb_inquiry(uint8_t *cdb, int evpd, uint8_t page, uint16_t alloc)
{
	memset(cdb, 0, 6);
	cdb[0] = 0x12;
	cdb[1] = evpd ? 1 : 0;
	cdb[2] = page;
	put_be16(cdb + 3, alloc);
	return 6;
}

unsigned scsi_cdb_report_luns(uint8_t *cdb, uint32_t alloc)
{
	memset(cdb, 0, 12);
	cdb[0] = 0xa0;
	put_be32(cdb + 6, alloc);
	return 12;
}

unsigned scsi_cdb_read_capacity10(uint8_t *cdb)
{
	memset(cdb, 0, 10);
	cdb[0] = 0x25;
	return 10;
}

unsigned scsi_cdb_read_capacity16(uint8_t *cdb, uint32_t alloc)
{
	memset(cdb, 0, 16);
	cdb[0] = 0x9e;
	cdb[1] = 0x10; /* SERVICE ACTION IN(16): READ CAPACITY(16) */
	put_be32(cdb + 10, alloc);
	return 16;
}

unsigned scsi_cdb_rw(uint8_t *cdb, int write, uint64_t lba, uint32_t blocks)
{
	if (lba + blocks <= 0xffffffffull && blocks <= 0xffff) {
		memset(cdb, 0, 10);
		cdb[0] = write ? 0x2a : 0x28;
		put_be32(cdb + 2, (uint32_t)lba);
		put_be16(cdb + 7, (uint16_t)blocks);
		return 10;
	}
	memset(cdb, 0, 16);
	cdb[0] = write ? 0x8a : 0x88;
	put_be64(cdb + 2, lba);
	put_be32(cdb + 10, blocks);
	return 16;
}

int scsi_cdb_rw_parse(const uint8_t *cdb, uint64_t *lba, uint32_t *blocks)
{
	switch (cdb[0]) {
	case 0x28:
	case 0x2a:
		*lba = get_be32(cdb + 2);
		*blocks = get_be16(cdb + 7);
		return cdb[0] == 0x2a;
	case 0x88:
	case 0x8a:
		*lba = get_be64(cdb + 2);
		*blocks = get_be32(cdb + 10);
		return cdb[0] == 0x8a;
	default:
		return -1;
	}
}

/* SAM-5 table 33. */
static const struct {
	uint8_t status;
	const char *name;
} status_names[] = {
	{SCSI_STATUS_GOOD, "GOOD"},
	{SCSI_STATUS_CHECK_CONDITION, "CHECK CONDITION"},
	{0x04, "CONDITION MET"},
	{SCSI_STATUS_BUSY, "BUSY"},
	{SCSI_STATUS_RESERVATION_CONFLICT, "RESERVATION CONFLICT"},
	{SCSI_STATUS_TASK_SET_FULL, "TASK SET FULL"},
	{0x30, "ACA ACTIVE"},
	{0x40, "TASK ABORTED"},
};

/* SPC-4 table 48. */
static const char *const sense_keys[16] = {
	"NO SENSE",	   "RECOVERED ERROR", "NOT READY",	"MEDIUM ERROR",
	"HARDWARE ERROR",  "ILLEGAL REQUEST", "UNIT ATTENTION", "DATA PROTECT",
	"BLANK CHECK",	   "VENDOR SPECIFIC", "COPY ABORTED",	"ABORTED COMMAND",
	"reserved (0xc)", "VOLUME OVERFLOW", "MISCOMPARE",	"COMPLETED",
};

/* The additional sense codes an administrator of a disk meets most (SPC-4 table D.1); the
 * first that matches is taken. */
static const struct {
	uint8_t asc, ascq; /* ascq 0xff: any */
	const char *what;
} asc_names[] = {
	{0x04, 0xff, "logical unit not ready"},
	{0x0c, 0x00, "write error"},
	{0x11, 0x00, "unrecovered read error"},
	{0x20, 0x00, "invalid command operation code"},
	{0x21, 0x00, "logical block address out of range"},
	{0x24, 0x00, "invalid field in CDB"},
	{0x25, 0x00, "logical unit not supported"},
	{0x27, 0x07, "space allocation failed write protect"},
	{0x27, 0xff, "write protected"},
	{0x29, 0xff, "power on, reset or bus device reset occurred"},
	{0x2a, 0x09, "capacity data has changed"},
	{0x2a, 0xff, "parameters changed"},
	{0x38, 0x07, "thin provisioning soft threshold reached"},
	{0x3a, 0xff, "medium not present"},
	{0x3f, 0x03, "inquiry data has changed"},
	{0x3f, 0x0e, "reported LUNs data has changed"},
	{0x44, 0x00, "internal target failure"},
};

const char *scsi_asc_name(uint8_t asc, uint8_t ascq)
{
	for (size_t i = 0; i < sizeof(asc_names) / sizeof(asc_names[0]); i++)
		if (asc_names[i].asc == asc && (asc_names[i].ascq == 0xff || asc_names[i].ascq == ascq))
			return asc_names[i].what;
	return NULL;
}

void scsi_describe(uint8_t status, const struct scsi_sense *s, char *out, size_t len)
{
	const char *st = NULL, *what = NULL;
	char stbuf[24];

	for (size_t i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (status_names[i].status == status)
			st = status_names[i].name;
	if (!st) {
		snprintf(stbuf, sizeof(stbuf), "status 0x%02x", status);
		st = stbuf;
	}
	if (status != SCSI_STATUS_CHECK_CONDITION || !s || !s->valid) {
		snprintf(out, len, "%s", st);
		return;
	}
	what = scsi_asc_name(s->asc, s->ascq);
	snprintf(out, len, "%s, %s %02x/%02x%s%s%s", st, sense_keys[s->key & 0x0f], s->asc, s->ascq,
		 what ? " (" : "", what ? what : "", what ? ")" : "");
}

unsigned scsi_cdb_sync_cache(uint8_t *cdb)
{
	memset(cdb, 0, 10);
	cdb[0] = 0x35; /* whole medium: LBA 0, 0 blocks */
	return 10;
}

unsigned scsi_cdb_mode_sense6(uint8_t *cdb, uint8_t page, uint8_t alloc)
{
	memset(cdb, 0, 6);
	cdb[0] = 0x1a;
	cdb[1] = 0x08; /* DBD: no block descriptors */
	cdb[2] = page & 0x3f;
	cdb[4] = alloc;
	return 6;
}

static void trimcopy(char *dst, const uint8_t *src, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? (char)src[i] : ' ';
	while (i > 0 && dst[i - 1] == ' ')
		i--;
	dst[i] = '\0';
}

int scsi_parse_inquiry(const uint8_t *d, size_t len, struct scsi_inquiry *out)
{
	memset(out, 0, sizeof(*out));
	if (len < 36)
		return -EPROTO;
	out->qualifier = d[0] >> 5;
	out->pdt = d[0] & 0x1f;
	out->removable = (d[1] & 0x80) != 0;
	trimcopy(out->vendor, d + 8, 8);
	trimcopy(out->product, d + 16, 16);
	trimcopy(out->revision, d + 32, 4);
	return 0;
}

int scsi_parse_report_luns(const uint8_t *d, size_t len, uint64_t *luns, int max)
{
	uint32_t list_len;
	int n = 0;

	if (len < 8)
		return -EPROTO;
	list_len = get_be32(d);
	if (list_len % 8)
		return -EPROTO;
	for (size_t off = 8; off + 8 <= len && off - 8 < list_len && n < max; off += 8)
		luns[n++] = get_be64(d + off);
	return n;
}

uint32_t scsi_lun_number(uint64_t lun)
{
	uint8_t b0 = (uint8_t)(lun >> 56), b1 = (uint8_t)(lun >> 48);

	switch (b0 >> 6) {
	case 0: /* peripheral device addressing, bus 0 */
		return b1;
	case 1: /* flat space */
		return (uint32_t)(b0 & 0x3f) << 8 | b1;
	default:
		return (uint32_t)(lun >> 48);
	}
}

uint64_t scsi_lun_from_number(uint32_t n)
{
	if (n < 256)
		return (uint64_t)n << 48;
	return (uint64_t)(0x4000 | (n & 0x3fff)) << 48;
}

int scsi_parse_read_capacity10(const uint8_t *d, size_t len, uint64_t *nblocks, uint32_t *bs)
{
	if (len < 8)
		return -EPROTO;
	*nblocks = (uint64_t)get_be32(d) + 1;
	*bs = get_be32(d + 4);
	return 0;
}

int scsi_parse_read_capacity16(const uint8_t *d, size_t len, uint64_t *nblocks, uint32_t *bs)
{
	if (len < 12)
		return -EPROTO;
	*nblocks = get_be64(d) + 1;
	*bs = get_be32(d + 8);
	return 0;
}

void scsi_parse_read_capacity16_lbp(const uint8_t *d, size_t len, int *lbpme, int *lbprz)
{
	*lbpme = len > 14 && (d[14] & 0x80);
	*lbprz = len > 14 && (d[14] & 0x40);
}

unsigned scsi_cdb_unmap(uint8_t *cdb, uint16_t param_len)
{
	memset(cdb, 0, 10);
	cdb[0] = 0x42;
	put_be16(cdb + 7, param_len);
	return 10;
}

unsigned scsi_unmap_params(uint8_t *buf, uint64_t lba, uint32_t blocks)
{
	memset(buf, 0, 24);
	put_be16(buf, 22);     /* UNMAP data length: what follows these two bytes */
	put_be16(buf + 2, 16); /* block descriptor data length */
	put_be64(buf + 8, lba);
	put_be32(buf + 16, blocks);
	return 24;
}

/* Bytes of a VPD page the answer really holds. */
static size_t vpd_len(const uint8_t *d, size_t len)
{
	size_t n;

	if (len < 4)
		return 0;
	n = 4 + (size_t)get_be16(d + 2);
	return n < len ? n : len;
}

int scsi_vpd_has_page(const uint8_t *d, size_t len, uint8_t page)
{
	size_t n = vpd_len(d, len);

	for (size_t i = 4; i < n; i++)
		if (d[i] == page)
			return 1;
	return 0;
}

int scsi_parse_vpd83(const uint8_t *d, size_t len, char *out, size_t outlen)
{
	static const int rank[16] = {[3] = 4, [2] = 3, [8] = 2, [1] = 1};
	size_t n = vpd_len(d, len), best_off = 0, best_len = 0;
	int best = 0, best_type = 0, best_set = 0;

	for (size_t i = 4; i + 4 <= n;) {
		uint8_t code_set = d[i] & 0x0f, assoc = (d[i + 1] >> 4) & 3, type = d[i + 1] & 0x0f;
		size_t dlen = d[i + 3];

		if (i + 4 + dlen > n)
			break;
		/* Association 0: the designator names the logical unit, not a port. */
		if (assoc == 0 && dlen && rank[type] > best) {
			best = rank[type];
			best_type = type;
			best_set = code_set;
			best_off = i + 4;
			best_len = dlen;
		}
		i += 4 + dlen;
	}
	if (!best || !outlen)
		return -ENOENT;
	if (best_type == 3 || best_type == 2 || best_set == 1) {
		size_t o = (size_t)snprintf(out, outlen, "%s.", best_type == 3 ? "naa" :
							 best_type == 2 ? "eui" : "bin");

		for (size_t k = 0; k < best_len && o + 2 < outlen; k++)
			o += (size_t)snprintf(out + o, outlen - o, "%02x", d[best_off + k]);
		return 0;
	}
	/* Text designators: keep printable characters, spaces become '_' (a path component). */
	{
		size_t o = best_type == 1 ? (size_t)snprintf(out, outlen, "t10.") : 0;
		size_t end = best_len;

		while (end && (d[best_off + end - 1] == ' ' || d[best_off + end - 1] == 0))
			end--;
		for (size_t k = 0; k < end && o + 1 < outlen; k++) {
			uint8_t ch = d[best_off + k];

			out[o++] = ch == ' ' ? '_' : (ch > 0x20 && ch < 0x7f && ch != '/') ? (char)ch : '_';
		}
		out[o < outlen ? o : outlen - 1] = '\0';
	}
	return 0;
}

int scsi_parse_vpd_b0(const uint8_t *d, size_t len, struct scsi_limits *out)
{
	size_t n = vpd_len(d, len);

	memset(out, 0, sizeof(*out));
	if (n < 16 || d[1] != 0xb0)
		return -EPROTO;
	out->max_xfer_blocks = get_be32(d + 8);
	out->opt_xfer_blocks = get_be32(d + 12);
	if (n >= 28) {
		out->max_unmap_blocks = get_be32(d + 20);
		out->max_unmap_descs = get_be32(d + 24);
	}
	return 0;
}

int scsi_parse_vpd_b2(const uint8_t *d, size_t len, int *lbpu, int *lbprz)
{
	size_t n = vpd_len(d, len);

	if (n < 6 || d[1] != 0xb2)
		return -EPROTO;
	*lbpu = (d[5] & 0x80) != 0;
	*lbprz = (d[5] & 0x04) != 0;
	return 0;
}
