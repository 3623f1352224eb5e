/* BHS codec, serial arithmetic, SCSI response parsing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "pdu.h"
#include "scsi.h"

static void test_data_in_decode(void **state)
{
	uint8_t b[BHS_LEN] = {0};
	struct pdu_hdr h;
	char err[128];

	(void)state;
	b[0] = OP_DATA_IN;
	b[1] = FL_FINAL | FL_STATUS | FL_UNDERFLOW;
	b[3] = 0x00;
	b[5] = 0x01; /* DSL 0x010200 */
	b[6] = 0x02;
	put_be32(b + 16, 0x12345678);
	put_be32(b + 24, 7);
	put_be32(b + 40, 4096);
	put_be32(b + 44, 512);
	assert_int_equal(pdu_decode(b, &h, err, sizeof(err)), 0);
	assert_int_equal(h.opcode, OP_DATA_IN);
	assert_int_equal(h.dsl, 0x010200);
	assert_int_equal(h.itt, 0x12345678);
	assert_int_equal(h.stat_sn, 7);
	assert_int_equal(h.u.data_in.offset, 4096);
	assert_int_equal(h.u.data_in.residual, 512);
}

static void test_rejects_initiator_opcodes(void **state)
{
	uint8_t b[BHS_LEN] = {0};
	struct pdu_hdr h;
	char err[128];

	(void)state;
	b[0] = OP_SCSI_CMD;
	assert_int_equal(pdu_decode(b, &h, err, sizeof(err)), -EPROTO);
	b[0] = OP_R2T;
	b[7] = 4; /* R2T never carries data */
	assert_int_equal(pdu_decode(b, &h, err, sizeof(err)), -EPROTO);
	b[0] = OP_DATA_IN;
	b[1] = FL_STATUS; /* S without F */
	b[7] = 0;
	assert_int_equal(pdu_decode(b, &h, err, sizeof(err)), -EPROTO);
}

static void test_scsi_cmd_encode(void **state)
{
	uint8_t b[BHS_LEN], cdb[16];
	unsigned n = scsi_cdb_rw(cdb, 1, 0x1000, 8);

	(void)state;
	assert_int_equal(n, 10);
	pdu_build_scsi_cmd(b, 0, 1, scsi_lun_from_number(1), 0x42, 4096, 100, 200, cdb, n, 4096,
			   1);
	assert_int_equal(b[0], OP_SCSI_CMD);
	assert_int_equal(b[1], FL_FINAL | FL_CMD_WRITE | TASK_ATTR_SIMPLE);
	assert_int_equal(b[7], 0x00);
	assert_int_equal(b[6], 0x10); /* 4096 immediate bytes */
	assert_int_equal(b[9], 1);    /* LUN 1, peripheral addressing */
	assert_int_equal(get_be32(b + 16), 0x42);
	assert_int_equal(get_be32(b + 20), 4096);
	assert_int_equal(get_be32(b + 24), 100);
	assert_int_equal(get_be32(b + 28), 200);
	assert_int_equal(b[32], 0x2a);
	assert_int_equal(get_be32(b + 34), 0x1000);
}

static void test_snack_encode(void **state)
{
	uint8_t b[BHS_LEN];

	(void)state;
	/* Data/R2T SNACK: the task's ITT, TTT reserved, no LUN (RFC 7143 11.16). */
	pdu_build_snack(b, SNACK_DATA_R2T, 0x0001000000000000ull, 0x1234, 0x99, 7, 3, 2);
	assert_int_equal(b[0], OP_SNACK);
	assert_int_equal(b[1], FL_FINAL | SNACK_DATA_R2T);
	assert_int_equal(get_be64(b + 8), 0);
	assert_int_equal(get_be32(b + 16), 0x1234);
	assert_int_equal(get_be32(b + 20), RSVD_TAG);
	assert_int_equal(get_be32(b + 28), 7);
	assert_int_equal(get_be32(b + 40), 3);
	assert_int_equal(get_be32(b + 44), 2);
	/* Status SNACK: ITT reserved. */
	pdu_build_snack(b, SNACK_STATUS, 0, 0x1234, 0, 7, 100, 1);
	assert_int_equal(b[1], FL_FINAL | SNACK_STATUS);
	assert_int_equal(get_be32(b + 16), RSVD_TAG);
	assert_int_equal(get_be32(b + 40), 100);
	assert_int_equal(get_be32(b + 44), 1);
	/* DataACK: the Data-In's TTT and LUN, ITT reserved, RunLength 0. */
	pdu_build_snack(b, SNACK_DATA_ACK, 0x0001000000000000ull, 0x1234, 0x99, 7, 4, 5);
	assert_int_equal(b[1], FL_FINAL | SNACK_DATA_ACK);
	assert_int_equal(get_be64(b + 8), 0x0001000000000000ull);
	assert_int_equal(get_be32(b + 16), RSVD_TAG);
	assert_int_equal(get_be32(b + 20), 0x99);
	assert_int_equal(get_be32(b + 40), 4);
	assert_int_equal(get_be32(b + 44), 0);
}

static void test_tmf_encode(void **state)
{
	uint8_t b[BHS_LEN];

	(void)state;
	pdu_build_tmf(b, TMF_ABORT_TASK, 0x0001000000000000ull, 0xc0000001, 0x2000, 10, 20, 9, 5);
	assert_int_equal(b[0], 0x40 | OP_TMF_REQ);
	assert_int_equal(b[1], 0x81);
	assert_int_equal(get_be64(b + 8), 0x0001000000000000ull);
	assert_int_equal(get_be32(b + 20), 0x2000);
	assert_int_equal(get_be32(b + 32), 9);
	assert_int_equal(get_be32(b + 36), 0);
	/* TASK REASSIGN: the task's ITT and ExpDataSN; LUN and RefCmdSN reserved (11.5). */
	pdu_build_tmf(b, TMF_TASK_REASSIGN, 0x0001000000000000ull, 0xc0000002, 0x2000, 10, 20, 9,
		      5);
	assert_int_equal(b[1], 0x88);
	assert_int_equal(get_be64(b + 8), 0);
	assert_int_equal(get_be32(b + 16), 0xc0000002);
	assert_int_equal(get_be32(b + 20), 0x2000);
	assert_int_equal(get_be32(b + 24), 10);
	assert_int_equal(get_be32(b + 28), 20);
	assert_int_equal(get_be32(b + 32), 0);
	assert_int_equal(get_be32(b + 36), 5);
	/* LOGICAL UNIT RESET names no task. */
	pdu_build_tmf(b, TMF_LOGICAL_UNIT_RESET, 0x0001000000000000ull, 0xc0000003, 0x2000, 10, 20,
		      9, 5);
	assert_int_equal(get_be32(b + 20), RSVD_TAG);
	assert_int_equal(get_be32(b + 36), 0);
}

static void test_rejected_decode(void **state)
{
	uint8_t cdb[16], hdr[BHS_LEN];
	struct pdu_rejected rj;
	unsigned n = scsi_cdb_rw(cdb, 1, 8, 8);

	(void)state;
	pdu_build_scsi_cmd(hdr, 0, 1, 0, 0x42, 4096, 100, 200, cdb, n, 4096, 1);
	assert_int_equal(pdu_decode_rejected(hdr, BHS_LEN, &rj), 0);
	assert_int_equal(rj.opcode, OP_SCSI_CMD);
	assert_int_equal(rj.itt, 0x42);
	assert_int_equal(rj.cmd_sn, 100);
	pdu_build_data_out(hdr, 1, 0, 0x43, 7, 200, 0, 0, 512);
	assert_int_equal(pdu_decode_rejected(hdr, BHS_LEN, &rj), 0);
	assert_int_equal(rj.opcode, OP_DATA_OUT);
	assert_int_equal(rj.itt, 0x43);
	assert_int_equal(rj.cmd_sn, 0);
	assert_int_equal(pdu_decode_rejected(hdr, BHS_LEN - 1, &rj), -EPROTO);
	assert_int_equal(pdu_decode_rejected(NULL, 0, &rj), -EPROTO);
}

static void test_rw_cdb_switches_to_16(void **state)
{
	uint8_t cdb[16];

	(void)state;
	assert_int_equal(scsi_cdb_rw(cdb, 0, 0x100000000ull, 8), 16);
	assert_int_equal(cdb[0], 0x88);
	assert_int_equal(scsi_cdb_rw(cdb, 1, 0, 70000), 16);
	assert_int_equal(cdb[0], 0x8a);
	assert_int_equal(get_be32(cdb + 10), 70000);
}

static void test_rw_cdb_parse(void **state)
{
	uint8_t cdb[16];
	uint64_t lba;
	uint32_t nb;

	(void)state;
	scsi_cdb_rw(cdb, 0, 0x12345678, 256);
	assert_int_equal(scsi_cdb_rw_parse(cdb, &lba, &nb), 0);
	assert_int_equal(lba, 0x12345678);
	assert_int_equal(nb, 256);
	scsi_cdb_rw(cdb, 1, 0x123456789aull, 70000);
	assert_int_equal(scsi_cdb_rw_parse(cdb, &lba, &nb), 1);
	assert_int_equal(lba, 0x123456789aull);
	assert_int_equal(nb, 70000);
	scsi_cdb_sync_cache(cdb);
	assert_int_equal(scsi_cdb_rw_parse(cdb, &lba, &nb), -1);
}

static void test_describe_status(void **state)
{
	struct scsi_sense medium = {.key = 0x3, .asc = 0x11, .ascq = 0x00, .valid = 1};
	struct scsi_sense odd = {.key = 0xb, .asc = 0x47, .ascq = 0x03, .valid = 1};
	char out[128];

	(void)state;
	scsi_describe(SCSI_STATUS_CHECK_CONDITION, &medium, out, sizeof(out));
	assert_string_equal(out, "CHECK CONDITION, MEDIUM ERROR 11/00 (unrecovered read error)");
	scsi_describe(SCSI_STATUS_CHECK_CONDITION,
		      &(struct scsi_sense){.key = 0x7, .asc = 0x27, .ascq = 0x07, .valid = 1}, out,
		      sizeof(out));
	assert_string_equal(out,
			    "CHECK CONDITION, DATA PROTECT 27/07 (space allocation failed write protect)");
	assert_string_equal(scsi_asc_name(0x38, 0x07), "thin provisioning soft threshold reached");
	assert_string_equal(scsi_asc_name(0x2a, 0x09), "capacity data has changed");
	assert_string_equal(scsi_asc_name(0x2a, 0x01), "parameters changed");
	assert_null(scsi_asc_name(0x47, 0x03));
	scsi_describe(SCSI_STATUS_CHECK_CONDITION, &odd, out, sizeof(out));
	assert_string_equal(out, "CHECK CONDITION, ABORTED COMMAND 47/03");
	scsi_describe(SCSI_STATUS_CHECK_CONDITION, NULL, out, sizeof(out));
	assert_string_equal(out, "CHECK CONDITION");
	scsi_describe(SCSI_STATUS_RESERVATION_CONFLICT, &medium, out, sizeof(out));
	assert_string_equal(out, "RESERVATION CONFLICT");
	scsi_describe(0x7e, NULL, out, sizeof(out));
	assert_string_equal(out, "status 0x7e");
	scsi_describe(SCSI_STATUS_CHECK_CONDITION, &medium, out, 16); /* truncated, terminated */
	assert_int_equal(strlen(out), 15);
}

static void test_serial_arithmetic(void **state)
{
	(void)state;
	assert_true(sn_lt(1, 2));
	assert_true(sn_lt(0xffffffff, 0));
	assert_false(sn_lt(0, 0xffffffff));
	assert_true(sn_le(5, 5));
}

static void test_sense_to_errno(void **state)
{
	uint8_t fixed[18] = {0x70, 0, SENSE_MEDIUM_ERROR, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x11, 0};
	uint8_t desc[8] = {0x72, SENSE_DATA_PROTECT, 0x27, 0x00};
	uint8_t ua[18] = {0x70, 0, SENSE_UNIT_ATTENTION, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x29, 0};
	struct scsi_sense s;

	(void)state;
	scsi_sense_parse(fixed, sizeof(fixed), &s);
	assert_int_equal(s.asc, 0x11);
	assert_int_equal(scsi_status_to_errno(SCSI_STATUS_CHECK_CONDITION, &s), -EIO);
	scsi_sense_parse(desc, sizeof(desc), &s);
	assert_int_equal(scsi_status_to_errno(SCSI_STATUS_CHECK_CONDITION, &s), -EROFS);
	desc[3] = 0x07; /* 27/07: the thin pool is full */
	scsi_sense_parse(desc, sizeof(desc), &s);
	assert_int_equal(scsi_status_to_errno(SCSI_STATUS_CHECK_CONDITION, &s), -ENOSPC);
	scsi_sense_parse(ua, sizeof(ua), &s);
	assert_int_equal(scsi_status_to_errno(SCSI_STATUS_CHECK_CONDITION, &s), -EAGAIN);
	assert_int_equal(scsi_status_to_errno(SCSI_STATUS_GOOD, NULL), 0);
	assert_int_equal(scsi_status_to_errno(SCSI_STATUS_RESERVATION_CONFLICT, NULL), -EBADE);
	assert_int_equal(scsi_status_to_errno(SCSI_STATUS_BUSY, NULL), -EAGAIN);
}

static void test_report_luns_and_capacity(void **state)
{
	uint8_t rl[8 + 16] = {0, 0, 0, 16};
	uint8_t rc16[32] = {0};
	uint64_t luns[4], nb;
	uint32_t bs;

	(void)state;
	put_be64(rl + 8, scsi_lun_from_number(0));
	put_be64(rl + 16, scsi_lun_from_number(300));
	assert_int_equal(scsi_parse_report_luns(rl, sizeof(rl), luns, 4), 2);
	assert_int_equal(scsi_lun_number(luns[0]), 0);
	assert_int_equal(scsi_lun_number(luns[1]), 300);
	put_be64(rc16, 2047);
	put_be32(rc16 + 8, 512);
	assert_int_equal(scsi_parse_read_capacity16(rc16, sizeof(rc16), &nb, &bs), 0);
	assert_int_equal(nb, 2048);
	assert_int_equal(bs, 512);
}

static void test_vpd_pages(void **state)
{
	/* Page 0x83: a T10 vendor id and an NAA designator for the LU, plus a port one. */
	uint8_t p83[4 + 4 + 12 + 4 + 8 + 4 + 4] = {0x00, 0x83, 0, 36,
		0x02, 0x01, 0, 12, 'I', 'E', 'T', ' ', ' ', ' ', ' ', ' ', '0', '0', '1', ' ',
		0x01, 0x03, 0, 8, 0x60, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
		0x01, 0x14, 0, 4, 0, 0, 0, 1};
	uint8_t b0[64] = {0x00, 0xb0, 0, 60};
	uint8_t b2[8] = {0x00, 0xb2, 0, 4, 0, 0x84};
	uint8_t list[8] = {0x00, 0x00, 0, 3, 0x00, 0x83, 0xb0};
	uint8_t params[24];
	struct scsi_limits lim;
	char id[96];
	int lbpu, lbprz;

	(void)state;
	assert_int_equal(scsi_parse_vpd83(p83, sizeof(p83), id, sizeof(id)), 0);
	assert_string_equal(id, "naa.6001020304050607"); /* NAA beats T10 */
	p83[21] = 0x13; /* make the NAA one a port designator: the T10 one is left */
	assert_int_equal(scsi_parse_vpd83(p83, sizeof(p83), id, sizeof(id)), 0);
	assert_string_equal(id, "t10.IET_____001");
	assert_true(scsi_vpd_has_page(list, sizeof(list), 0xb0));
	assert_false(scsi_vpd_has_page(list, sizeof(list), 0xb2));
	put_be32(b0 + 8, 2048);
	put_be32(b0 + 20, 65536);
	assert_int_equal(scsi_parse_vpd_b0(b0, sizeof(b0), &lim), 0);
	assert_int_equal(lim.max_xfer_blocks, 2048);
	assert_int_equal(lim.max_unmap_blocks, 65536);
	assert_int_equal(scsi_parse_vpd_b2(b2, sizeof(b2), &lbpu, &lbprz), 0);
	assert_true(lbpu);
	assert_true(lbprz);
	assert_int_equal(scsi_parse_vpd_b0(b2, sizeof(b2), &lim), -EPROTO);
	assert_int_equal(scsi_unmap_params(params, 0x123456789ull, 77), 24);
	assert_int_equal(get_be16(params), 22);
	assert_int_equal(get_be16(params + 2), 16);
	assert_true(get_be64(params + 8) == 0x123456789ull);
	assert_int_equal(get_be32(params + 16), 77);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_in_decode),
		cmocka_unit_test(test_rejects_initiator_opcodes),
		cmocka_unit_test(test_scsi_cmd_encode),
		cmocka_unit_test(test_snack_encode),
		cmocka_unit_test(test_tmf_encode),
		cmocka_unit_test(test_rejected_decode),
		cmocka_unit_test(test_rw_cdb_switches_to_16),
		cmocka_unit_test(test_rw_cdb_parse),
		cmocka_unit_test(test_describe_status),
		cmocka_unit_test(test_serial_arithmetic),
		cmocka_unit_test(test_sense_to_errno),
		cmocka_unit_test(test_report_luns_and_capacity),
		cmocka_unit_test(test_vpd_pages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
