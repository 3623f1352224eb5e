/* libFuzzer harness for what a target's bytes meet first: the BHS decoder, and the SCSI response
 * parsers (sense, INQUIRY, REPORT LUNS, READ CAPACITY) fed from the data after the header.
 * The input is a received PDU: 48 header bytes (zero-padded when shorter), then the data. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pdu.h"
#include "scsi.h"

/* A finding of this harness's own checks: say which, then let libFuzzer see the crash. */
#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "fuzz_pdu: check failed: %s (line %d)\n", #cond,  \
				__LINE__);                                                 \
			abort();                                                           \
		}                                                                          \
	} while (0)

/* err must be a terminated string inside its buffer. */
static void check_err(const char *err, size_t errlen)
{
	CHECK(memchr(err, '\0', errlen) != NULL);
}

static int receivable(uint8_t op)
{
	switch (op) {
	case OP_NOP_IN:
	case OP_SCSI_RSP:
	case OP_TMF_RSP:
	case OP_LOGIN_RSP:
	case OP_TEXT_RSP:
	case OP_DATA_IN:
	case OP_LOGOUT_RSP:
	case OP_R2T:
	case OP_ASYNC:
	case OP_REJECT:
		return 1;
	default:
		return 0;
	}
}

static void fuzz_header(const uint8_t *bhs)
{
	struct pdu_hdr h;
	char err[128];
	int rc;

	memset(err, 'x', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	rc = pdu_decode(bhs, &h, err, sizeof(err));
	check_err(err, sizeof(err));
	CHECK(rc == 0 || rc == -EPROTO);
	CHECK(h.opcode == (bhs[0] & 0x3f));
	CHECK(h.dsl < 1u << 24);
	CHECK(h.ahs_len == 4u * bhs[4]);
	CHECK(pdu_opcode_name(h.opcode) != NULL);
	if (rc == 0) {
		CHECK(receivable(h.opcode));
		CHECK(h.opcode != OP_R2T || h.dsl == 0);
		CHECK(h.opcode != OP_DATA_IN || !(h.flags & FL_STATUS) || (h.flags & FL_FINAL));
	} else {
		CHECK(err[0] != '\0');
	}
	/* The words an operator reads for this header's status fields. */
	if (rc == 0 && h.opcode == OP_LOGIN_RSP)
		CHECK(login_status_str(h.u.login_rsp.status_class, h.u.login_rsp.status_detail) !=
		      NULL);
	if (rc == 0 && h.opcode == OP_TMF_RSP)
		CHECK(tmf_response_str(h.u.tmf_rsp.response) != NULL);
	/* Whatever the header, the words exist for every byte value. */
	CHECK(login_status_str(bhs[36], bhs[37]) != NULL);
	CHECK(tmf_response_str(bhs[2]) != NULL);
	CHECK(scsi_lun_number(h.lun) <= 0xffff);
}

/* Sense data as a SCSI Response or an Asynchronous Message carries it: SenseLength, then sense. */
static void fuzz_sense(const uint8_t *d, size_t len, uint8_t status)
{
	struct scsi_sense s;
	size_t sl;
	char what[128];
	int e;

	scsi_sense_parse(d, len, &s);
	CHECK(s.key <= 0x0f);
	if (len < 2)
		return;
	sl = get_be16(d);
	if (sl > len - 2)
		sl = len - 2;
	scsi_sense_parse(d + 2, sl, &s);
	CHECK(s.valid || (s.key == 0 && s.asc == 0 && s.ascq == 0));
	e = scsi_status_to_errno(status, &s);
	CHECK(e == 0 || e == -EAGAIN || e == -EIO || e == -EROFS || e == -EINVAL ||
	      e == -ENOSPC || e == -EBADE);
	/* What the log says of it: terminated within the buffer, however short. */
	for (size_t outlen = 1; outlen <= sizeof(what); outlen += sizeof(what) / 4) {
		memset(what, 'x', sizeof(what));
		scsi_describe(status, &s, what, outlen);
		CHECK(memchr(what, '\0', outlen) != NULL);
	}
}

static void fuzz_scsi(const uint8_t *d, size_t len, uint8_t sel)
{
	struct scsi_inquiry inq;
	uint64_t luns[64], nblocks;
	uint32_t bs;
	int max = sel % 65, n;

	fuzz_sense(d, len, sel);

	if (scsi_parse_inquiry(d, len, &inq) == 0) {
		CHECK(len >= 36);
		CHECK(inq.pdt <= 0x1f && inq.qualifier <= 7);
		CHECK(strlen(inq.vendor) <= 8 && strlen(inq.product) <= 16 &&
		      strlen(inq.revision) <= 4);
	}

	n = scsi_parse_report_luns(d, len, luns, max);
	CHECK(n == -EPROTO || (n >= 0 && n <= max && (size_t)n <= (len < 8 ? 0 : (len - 8) / 8)));
	for (int i = 0; i < n; i++)
		CHECK(scsi_lun_number(luns[i]) <= 0xffff);

	if (scsi_parse_read_capacity10(d, len, &nblocks, &bs) == 0)
		CHECK(len >= 8 && nblocks >= 1 && nblocks <= 1ull << 32);
	if (scsi_parse_read_capacity16(d, len, &nblocks, &bs) == 0)
		CHECK(len >= 12);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t n;

	if (size >= BHS_LEN) {
		fuzz_header(data);
	} else {
		/* A short read: exactly the bytes there are, then zeros, in a heap buffer so
		 * that ASan sees a read past 48. */
		uint8_t *bhs = calloc(1, BHS_LEN);

		if (!bhs)
			return 0;
		if (size)
			memcpy(bhs, data, size);
		fuzz_header(bhs);
		free(bhs);
	}

	/* The data segment, or the whole input when there is nothing after a header. Parsers get
	 * the exact length, so that a read past it is a read past libFuzzer's buffer. */
	if (size > BHS_LEN)
		fuzz_scsi(data + BHS_LEN, size - BHS_LEN, data[3]);
	else
		fuzz_scsi(data, size, size ? data[0] : 0);

	/* LUN numbers an administrator writes survive the round trip to 8-byte LUNs. */
	n = size >= 2 ? (uint32_t)get_be16(data) & 0x3fff : 0;
	CHECK(scsi_lun_number(scsi_lun_from_number(n)) == n);
	return 0;
}
