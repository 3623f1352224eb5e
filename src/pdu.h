/* The iSCSI Basic Header Segment codec (RFC 7143 section 11). Received headers are decoded once
 * into struct pdu_hdr with their fields checked; outgoing headers are built only here. */
#ifndef ISCSIFS_PDU_H
#define ISCSIFS_PDU_H

#include <stddef.h>
#include <stdint.h>

#include "byteorder.h"

#define BHS_LEN 48
#define RSVD_TAG 0xffffffffu

enum iscsi_opcode {
	OP_NOP_OUT = 0x00,
	OP_SCSI_CMD = 0x01,
	OP_TMF_REQ = 0x02,
	OP_LOGIN_REQ = 0x03,
	OP_TEXT_REQ = 0x04,
	OP_DATA_OUT = 0x05,
	OP_LOGOUT_REQ = 0x06,
	OP_SNACK = 0x10,
	OP_NOP_IN = 0x20,
	OP_SCSI_RSP = 0x21,
	OP_TMF_RSP = 0x22,
	OP_LOGIN_RSP = 0x23,
	OP_TEXT_RSP = 0x24,
	OP_DATA_IN = 0x25,
	OP_LOGOUT_RSP = 0x26,
	OP_R2T = 0x31,
	OP_ASYNC = 0x32,
	OP_REJECT = 0x3f,
};

/* Flag bits of byte 1. */
#define FL_FINAL 0x80
#define FL_CMD_READ 0x40
#define FL_CMD_WRITE 0x20
#define FL_LOGIN_TRANSIT 0x80
#define FL_CONTINUE 0x40
#define FL_DATA_ACK 0x40
#define FL_BIDI_OVERFLOW 0x10
#define FL_BIDI_UNDERFLOW 0x08
#define FL_OVERFLOW 0x04
#define FL_UNDERFLOW 0x02
#define FL_STATUS 0x01

#define TASK_ATTR_SIMPLE 1

enum login_stage { STAGE_SECURITY = 0, STAGE_OPERATIONAL = 1, STAGE_FULL_FEATURE = 3 };

/* A received header, decoded: the fields every PDU a target sends has, then a view of the
 * fields of its opcode (only that one is filled). No caller reads a header byte. */
struct pdu_hdr {
	uint8_t opcode;
	uint8_t immediate;
	uint8_t flags;      /* byte 1 */
	uint32_t ahs_len;   /* bytes */
	uint32_t dsl;       /* data segment length, bytes, without padding */
	uint64_t lun;       /* bytes 8..15, as a big-endian number, where the opcode has a LUN */
	uint32_t itt;
	uint32_t stat_sn;   /* 24 */
	uint32_t exp_cmd_sn;/* 28 */
	uint32_t max_cmd_sn;/* 32 */
	union {
		struct { /* 11.19 */
			uint32_t ttt;
		} nop_in;
		struct { /* 11.4 */
			uint8_t response, status;
			uint32_t exp_data_sn, bidi_residual, residual;
		} scsi_rsp;
		struct { /* 11.6 */
			uint8_t response;
		} tmf_rsp;
		struct { /* 11.13 */
			uint8_t version_max, version_active;
			uint8_t isid[6];
			uint16_t tsih;
			uint8_t status_class, status_detail;
		} login_rsp;
		struct { /* 11.11 */
			uint32_t ttt;
		} text_rsp;
		struct { /* 11.7 */
			uint8_t status; /* with FL_STATUS */
			uint32_t ttt, data_sn, offset, residual;
		} data_in;
		struct { /* 11.15 */
			uint8_t response;
			uint16_t time2wait, time2retain;
		} logout_rsp;
		struct { /* 11.8 */
			uint32_t ttt, r2t_sn, offset, length;
		} r2t;
		struct { /* 11.9 */
			uint8_t event, vcode;
			uint16_t param1, param2, param3;
		} async;
		struct { /* 11.17 */
			uint8_t reason;
			uint32_t data_sn;
		} reject;
	} u;
};

/* Decode a received BHS. Opcodes an initiator may receive only; -EPROTO with reason otherwise. */
int pdu_decode(const uint8_t bhs[BHS_LEN], struct pdu_hdr *h, char *err, size_t errlen);

const char *pdu_opcode_name(uint8_t opcode);

/* Serial number arithmetic (RFC 1982, 32 bits): a < b. */
static inline int sn_lt(uint32_t a, uint32_t b)
{
	return a != b && (int32_t)(a - b) < 0;
}
static inline int sn_le(uint32_t a, uint32_t b)
{
	return a == b || sn_lt(a, b);
}

/* The 24-bit DataSegmentLength of a BHS, read or written. */
uint32_t pdu_get_dsl(const uint8_t *bhs);
void pdu_set_dsl(uint8_t *bhs, uint32_t dsl);

/* Builders for outgoing headers: each zeroes bhs and fills every field of its opcode. */

struct login_req {
	int transit, cont;
	int csg, nsg;
	const uint8_t *isid; /* 6 bytes */
	uint16_t tsih;
	uint32_t itt;
	uint16_t cid;
	uint32_t cmd_sn, exp_stat_sn;
};
void pdu_build_login(uint8_t *bhs, const struct login_req *r, uint32_t dsl);

void pdu_build_text(uint8_t *bhs, int final, int cont, uint32_t itt, uint32_t ttt, uint32_t cmd_sn,
		    uint32_t exp_stat_sn, uint32_t dsl);

void pdu_build_scsi_cmd(uint8_t *bhs, int read, int write, uint64_t lun, uint32_t itt,
			uint32_t exp_xfer_len, uint32_t cmd_sn, uint32_t exp_stat_sn,
			const uint8_t *cdb, unsigned cdb_len, uint32_t immediate_dsl, int final);

void pdu_build_data_out(uint8_t *bhs, int final, uint64_t lun, uint32_t itt, uint32_t ttt,
			uint32_t exp_stat_sn, uint32_t data_sn, uint32_t offset, uint32_t dsl);

void pdu_build_nop_out(uint8_t *bhs, uint64_t lun, uint32_t itt, uint32_t ttt, uint32_t cmd_sn,
		       uint32_t exp_stat_sn, uint32_t dsl);

void pdu_build_logout(uint8_t *bhs, int reason, uint32_t itt, uint16_t cid, uint32_t cmd_sn,
		      uint32_t exp_stat_sn);

/* Task management functions (RFC 7143 11.5.1). */
enum tmf_function { TMF_ABORT_TASK = 1, TMF_LOGICAL_UNIT_RESET = 5, TMF_TASK_REASSIGN = 8 };

/* ref_itt goes out for ABORT TASK and TASK REASSIGN, ref_cmd_sn for ABORT TASK, exp_data_sn
 * for TASK REASSIGN (RFC 7143 11.5); the LUN is reserved for TASK REASSIGN. */
void pdu_build_tmf(uint8_t *bhs, int function, uint64_t lun, uint32_t itt, uint32_t ref_itt,
		   uint32_t cmd_sn, uint32_t exp_stat_sn, uint32_t ref_cmd_sn, uint32_t exp_data_sn);
const char *tmf_response_str(uint8_t response);

/* SNACK types (RFC 7143 11.16). */
enum snack_type { SNACK_DATA_R2T = 0, SNACK_STATUS = 1, SNACK_DATA_ACK = 2 };

/* A SNACK Request: itt and ttt are RSVD_TAG where the type has none (Status SNACK and DataACK
 * carry no ITT; only DataACK carries the TTT and LUN of the Data-In it acknowledges). */
void pdu_build_snack(uint8_t *bhs, int type, uint64_t lun, uint32_t itt, uint32_t ttt,
		     uint32_t exp_stat_sn, uint32_t beg_run, uint32_t run_length);

/* The header a Reject carries back (RFC 7143 11.17): what the initiator needs of it. */
struct pdu_rejected {
	uint8_t opcode;
	uint32_t itt;
	uint32_t cmd_sn; /* SCSI Command, TMF, NOP-Out, Text, Logout */
};
/* 0, or -EPROTO when the data segment holds no whole header. */
int pdu_decode_rejected(const void *data, uint32_t dsl, struct pdu_rejected *out);

/* Words for a login status (RFC 7143 11.13.5): "authentication failure", ... */
const char *login_status_str(uint8_t status_class, uint8_t detail);

#endif
