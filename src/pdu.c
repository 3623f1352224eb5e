/* BHS encode/decode (RFC 7143 section 11). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pdu.h"

const char *pdu_opcode_name(uint8_t opcode)
{
	switch (opcode) {
	case OP_NOP_OUT: return "NOP-Out";
	case OP_SCSI_CMD: return "SCSI Command";
	case OP_TMF_REQ: return "Task Management Request";
	case OP_LOGIN_REQ: return "Login Request";
	case OP_TEXT_REQ: return "Text Request";
	case OP_DATA_OUT: return "SCSI Data-Out";
	case OP_LOGOUT_REQ: return "Logout Request";
	case OP_SNACK: return "SNACK";
	case OP_NOP_IN: return "NOP-In";
	case OP_SCSI_RSP: return "SCSI Response";
	case OP_TMF_RSP: return "Task Management Response";
	case OP_LOGIN_RSP: return "Login Response";
	case OP_TEXT_RSP: return "Text Response";
	case OP_DATA_IN: return "SCSI Data-In";
	case OP_LOGOUT_RSP: return "Logout Response";
	case OP_R2T: return "R2T";
	case OP_ASYNC: return "Asynchronous Message";
	case OP_REJECT: return "Reject";
	default: return "unknown opcode";
	}
}

/* The fields of each opcode into its view (RFC 7143 section 11). */
static int decode_view(const uint8_t *bhs, struct pdu_hdr *h)
{
	switch (h->opcode) {
	case OP_NOP_IN:
		h->u.nop_in.ttt = get_be32(bhs + 20);
		return 0;
	case OP_SCSI_RSP:
		h->u.scsi_rsp.response = bhs[2];
		h->u.scsi_rsp.status = bhs[3];
		h->u.scsi_rsp.exp_data_sn = get_be32(bhs + 36);
		h->u.scsi_rsp.bidi_residual = get_be32(bhs + 40);
		h->u.scsi_rsp.residual = get_be32(bhs + 44);
		return 0;
	case OP_TMF_RSP:
		h->u.tmf_rsp.response = bhs[2];
		return 0;
	case OP_LOGIN_RSP:
		h->u.login_rsp.version_max = bhs[2];
		h->u.login_rsp.version_active = bhs[3];
		memcpy(h->u.login_rsp.isid, bhs + 8, 6);
		h->u.login_rsp.tsih = get_be16(bhs + 14);
		h->u.login_rsp.status_class = bhs[36];
		h->u.login_rsp.status_detail = bhs[37];
		h->lun = 0; /* bytes 8..15 are the ISID and TSIH */
		return 0;
	case OP_TEXT_RSP:
		h->u.text_rsp.ttt = get_be32(bhs + 20);
		return 0;
	case OP_DATA_IN:
		h->u.data_in.status = bhs[3];
		h->u.data_in.ttt = get_be32(bhs + 20);
		h->u.data_in.data_sn = get_be32(bhs + 36);
		h->u.data_in.offset = get_be32(bhs + 40);
		h->u.data_in.residual = get_be32(bhs + 44);
		return 0;
	case OP_LOGOUT_RSP:
		h->u.logout_rsp.response = bhs[2];
		h->u.logout_rsp.time2wait = get_be16(bhs + 40);
		h->u.logout_rsp.time2retain = get_be16(bhs + 42);
		return 0;
	case OP_R2T:
		h->u.r2t.ttt = get_be32(bhs + 20);
		h->u.r2t.r2t_sn = get_be32(bhs + 36);
		h->u.r2t.offset = get_be32(bhs + 40);
		h->u.r2t.length = get_be32(bhs + 44);
		return 0;
	case OP_ASYNC:
		h->u.async.event = bhs[36];
		h->u.async.vcode = bhs[37];
		h->u.async.param1 = get_be16(bhs + 38);
		h->u.async.param2 = get_be16(bhs + 40);
		h->u.async.param3 = get_be16(bhs + 42);
		return 0;
	case OP_REJECT:
		h->u.reject.reason = bhs[2];
		h->u.reject.data_sn = get_be32(bhs + 36);
		return 0;
	default:
		return -EPROTO;
	}
}

int pdu_decode(const uint8_t bhs[BHS_LEN], struct pdu_hdr *h, char *err, size_t errlen)
{
	memset(h, 0, sizeof(*h));
	h->opcode = bhs[0] & 0x3f;
	h->immediate = (bhs[0] & 0x40) != 0;
	h->flags = bhs[1];
	h->ahs_len = (uint32_t)bhs[4] * 4;
	h->dsl = pdu_get_dsl(bhs);
	h->lun = get_be64(bhs + 8);
	h->itt = get_be32(bhs + 16);
	h->stat_sn = get_be32(bhs + 24);
	h->exp_cmd_sn = get_be32(bhs + 28);
	h->max_cmd_sn = get_be32(bhs + 32);
	if (decode_view(bhs, h) < 0) {
		snprintf(err, errlen, "received opcode 0x%02x (%s), which a target never sends",
			 h->opcode, pdu_opcode_name(h->opcode));
		return -EPROTO;
	}
	/* Opcodes that carry no data segment (RFC 7143 11.8, 11.6). */
	if ((h->opcode == OP_R2T || h->opcode == OP_TMF_RSP || h->opcode == OP_LOGOUT_RSP) &&
	    h->dsl != 0) {
		snprintf(err, errlen, "%s with a data segment of %u bytes", pdu_opcode_name(h->opcode),
			 h->dsl);
		return -EPROTO;
	}
	if (h->opcode == OP_DATA_IN && (h->flags & FL_STATUS) && !(h->flags & FL_FINAL)) {
		snprintf(err, errlen, "SCSI Data-In with the S bit but not the F bit");
		return -EPROTO;
	}
	return 0;
}

uint32_t pdu_get_dsl(const uint8_t *bhs)
{
	return (uint32_t)bhs[5] << 16 | (uint32_t)bhs[6] << 8 | bhs[7];
}

void pdu_set_dsl(uint8_t *bhs, uint32_t dsl)
{
	bhs[5] = (uint8_t)(dsl >> 16);
	bhs[6] = (uint8_t)(dsl >> 8);
	bhs[7] = (uint8_t)dsl;
}

void pdu_build_login(uint8_t *bhs, const struct login_req *r, uint32_t dsl)
{
	memset(bhs, 0, BHS_LEN);
	bhs[0] = 0x40 | OP_LOGIN_REQ;
	bhs[1] = (uint8_t)((r->transit ? FL_LOGIN_TRANSIT : 0) | (r->cont ? FL_CONTINUE : 0) |
			   (r->csg & 3) << 2 | (r->transit ? (r->nsg & 3) : 0));
	bhs[2] = 0; /* Version-max */
	bhs[3] = 0; /* Version-min */
	pdu_set_dsl(bhs, dsl);
	memcpy(bhs + 8, r->isid, 6);
	put_be16(bhs + 14, r->tsih);
	put_be32(bhs + 16, r->itt);
	put_be16(bhs + 20, r->cid);
	put_be32(bhs + 24, r->cmd_sn);
	put_be32(bhs + 28, r->exp_stat_sn);
}

void pdu_build_text(uint8_t *bhs, int final, int cont, uint32_t itt, uint32_t ttt, uint32_t cmd_sn,
		    uint32_t exp_stat_sn, uint32_t dsl)
{
	memset(bhs, 0, BHS_LEN);
	bhs[0] = 0x40 | OP_TEXT_REQ; /* immediate: discovery has nothing else in flight */
	bhs[1] = (uint8_t)((final ? FL_FINAL : 0) | (cont ? FL_CONTINUE : 0));
	pdu_set_dsl(bhs, dsl);
	put_be32(bhs + 16, itt);
	put_be32(bhs + 20, ttt);
	put_be32(bhs + 24, cmd_sn);
	put_be32(bhs + 28, exp_stat_sn);
}

void pdu_build_scsi_cmd(uint8_t *bhs, int read, int write, uint64_t lun, uint32_t itt,
			uint32_t exp_xfer_len, uint32_t cmd_sn, uint32_t exp_stat_sn,
			const uint8_t *cdb, unsigned cdb_len, uint32_t immediate_dsl, int final)
{
	memset(bhs, 0, BHS_LEN);
	bhs[0] = OP_SCSI_CMD;
	bhs[1] = (uint8_t)((final ? FL_FINAL : 0) | (read ? FL_CMD_READ : 0) |
			   (write ? FL_CMD_WRITE : 0) | TASK_ATTR_SIMPLE);
	pdu_set_dsl(bhs, immediate_dsl);
	put_be64(bhs + 8, lun);
	put_be32(bhs + 16, itt);
	put_be32(bhs + 20, exp_xfer_len);
	put_be32(bhs + 24, cmd_sn);
	put_be32(bhs + 28, exp_stat_sn);
	memcpy(bhs + 32, cdb, cdb_len > 16 ? 16 : cdb_len);
}

void pdu_build_data_out(uint8_t *bhs, int final, uint64_t lun, uint32_t itt, uint32_t ttt,
			uint32_t exp_stat_sn, uint32_t data_sn, uint32_t offset, uint32_t dsl)
{
	memset(bhs, 0, BHS_LEN);
	bhs[0] = OP_DATA_OUT;
	bhs[1] = final ? FL_FINAL : 0;
	pdu_set_dsl(bhs, dsl);
	put_be64(bhs + 8, lun);
	put_be32(bhs + 16, itt);
	put_be32(bhs + 20, ttt);
	put_be32(bhs + 28, exp_stat_sn);
	put_be32(bhs + 36, data_sn);
	put_be32(bhs + 40, offset);
}

void pdu_build_nop_out(uint8_t *bhs, uint64_t lun, uint32_t itt, uint32_t ttt, uint32_t cmd_sn,
		       uint32_t exp_stat_sn, uint32_t dsl)
{
	memset(bhs, 0, BHS_LEN);
	bhs[0] = 0x40 | OP_NOP_OUT; /* always immediate: it must not take a CmdSN */
	bhs[1] = FL_FINAL;
	pdu_set_dsl(bhs, dsl);
	put_be64(bhs + 8, lun);
	put_be32(bhs + 16, itt);
	put_be32(bhs + 20, ttt);
	put_be32(bhs + 24, cmd_sn);
	put_be32(bhs + 28, exp_stat_sn);
}

void pdu_build_logout(uint8_t *bhs, int reason, uint32_t itt, uint16_t cid, uint32_t cmd_sn,
		      uint32_t exp_stat_sn)
{
	memset(bhs, 0, BHS_LEN);
	bhs[0] = 0x40 | OP_LOGOUT_REQ;
	bhs[1] = (uint8_t)(FL_FINAL | (reason & 0x7f));
	put_be32(bhs + 16, itt);
	put_be16(bhs + 20, cid);
	put_be32(bhs + 24, cmd_sn);
	put_be32(bhs + 28, exp_stat_sn);
}

void pdu_build_tmf(uint8_t *bhs, int function, uint64_t lun, uint32_t itt, uint32_t ref_itt,
		   uint32_t cmd_sn, uint32_t exp_stat_sn, uint32_t ref_cmd_sn, uint32_t exp_data_sn)
{
	int names_task = function == TMF_ABORT_TASK || function == TMF_TASK_REASSIGN;

	memset(bhs, 0, BHS_LEN);
	bhs[0] = 0x40 | OP_TMF_REQ; /* immediate: it must overtake the command it aborts */
	bhs[1] = (uint8_t)(FL_FINAL | (function & 0x7f));
	put_be64(bhs + 8, function == TMF_TASK_REASSIGN ? 0 : lun);
	put_be32(bhs + 16, itt);
	put_be32(bhs + 20, names_task ? ref_itt : RSVD_TAG);
	put_be32(bhs + 24, cmd_sn);
	put_be32(bhs + 28, exp_stat_sn);
	put_be32(bhs + 32, function == TMF_ABORT_TASK ? ref_cmd_sn : 0);
	put_be32(bhs + 36, function == TMF_TASK_REASSIGN ? exp_data_sn : 0);
}

void pdu_build_snack(uint8_t *bhs, int type, uint64_t lun, uint32_t itt, uint32_t ttt,
		     uint32_t exp_stat_sn, uint32_t beg_run, uint32_t run_length)
{
	memset(bhs, 0, BHS_LEN);
	bhs[0] = OP_SNACK;
	bhs[1] = (uint8_t)(FL_FINAL | (type & 0x0f));
	put_be64(bhs + 8, type == SNACK_DATA_ACK ? lun : 0);
	put_be32(bhs + 16, type == SNACK_STATUS || type == SNACK_DATA_ACK ? RSVD_TAG : itt);
	put_be32(bhs + 20, type == SNACK_DATA_ACK ? ttt : RSVD_TAG);
	put_be32(bhs + 28, exp_stat_sn);
	put_be32(bhs + 40, beg_run);
	put_be32(bhs + 44, type == SNACK_DATA_ACK ? 0 : run_length);
}

int pdu_decode_rejected(const void *data, uint32_t dsl, struct pdu_rejected *out)
{
	const uint8_t *b = data;

	memset(out, 0, sizeof(*out));
	if (!data || dsl < BHS_LEN)
		return -EPROTO;
	out->opcode = b[0] & 0x3f;
	out->itt = get_be32(b + 16);
	switch (out->opcode) {
	case OP_SCSI_CMD:
	case OP_TMF_REQ:
	case OP_NOP_OUT:
	case OP_TEXT_REQ:
	case OP_LOGOUT_REQ:
		out->cmd_sn = get_be32(b + 24);
		break;
	default:
		break;
	}
	return 0;
}

const char *tmf_response_str(uint8_t response)
{
	switch (response) {
	case 0: return "function complete";
	case 1: return "task does not exist";
	case 2: return "LUN does not exist";
	case 3: return "task still allegiant";
	case 4: return "task allegiance reassignment not supported";
	case 5: return "function not supported";
	case 6: return "function authorization failed";
	case 255: return "function rejected";
	default: return "unknown response";
	}
}

const char *login_status_str(uint8_t cls, uint8_t detail)
{
	switch (cls << 8 | detail) {
	case 0x0000: return "success";
	case 0x0101: return "target moved temporarily";
	case 0x0102: return "target moved permanently";
	case 0x0200: return "initiator error";
	case 0x0201: return "authentication failure";
	case 0x0202: return "initiator not authorized";
	case 0x0203: return "target not found";
	case 0x0204: return "target removed";
	case 0x0205: return "unsupported iSCSI version";
	case 0x0206: return "too many connections";
	case 0x0207: return "missing parameter";
	case 0x0208: return "cannot include connection in session";
	case 0x0209: return "session type not supported";
	case 0x020a: return "session does not exist";
	case 0x020b: return "invalid request during login";
	case 0x0300: return "target error";
	case 0x0301: return "service unavailable";
	case 0x0302: return "target out of resources";
	}
	switch (cls) {
	case 0x01: return "redirection";
	case 0x02: return "initiator error";
	case 0x03: return "target error";
	}
	return "unknown login status";
}
