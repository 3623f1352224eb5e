/* The parts of the kernel's FUSE protocol that Debian 12's <linux/fuse.h> (protocol 7.38, from
 * linux-libc-dev 6.1) does not define: the later INIT flags, and the ABI of FUSE-over-io_uring
 * (protocol 7.42, Linux 6.14). Each definition steps aside where the system header has it. */
#ifndef ISCSIFS_FUSE_ABI_H
#define ISCSIFS_FUSE_ABI_H

#include <linux/fuse.h>
#include <stddef.h>
#include <stdint.h>

/* INIT flags. Bits 32-63 travel in flags2 of fuse_init_in and fuse_init_out, and only when
 * FUSE_INIT_EXT is set in flags; FUSE_FLAGS2() gives a flag's bit in flags2. */
#ifndef FUSE_INIT_EXT
#define FUSE_INIT_EXT (1u << 30)
#endif
#ifndef FUSE_SECURITY_CTX
#define FUSE_SECURITY_CTX (1ULL << 32)
#endif
#ifndef FUSE_HAS_INODE_DAX
#define FUSE_HAS_INODE_DAX (1ULL << 33)
#endif
#ifndef FUSE_CREATE_SUPP_GROUP
#define FUSE_CREATE_SUPP_GROUP (1ULL << 34)
#endif
#ifndef FUSE_HAS_EXPIRE_ONLY
#define FUSE_HAS_EXPIRE_ONLY (1ULL << 35)
#endif
#ifndef FUSE_DIRECT_IO_ALLOW_MMAP
#define FUSE_DIRECT_IO_ALLOW_MMAP (1ULL << 36)
#endif
#ifndef FUSE_PASSTHROUGH
#define FUSE_PASSTHROUGH (1ULL << 37)
#endif
#ifndef FUSE_NO_EXPORT_SUPPORT
#define FUSE_NO_EXPORT_SUPPORT (1ULL << 38)
#endif
#ifndef FUSE_HAS_RESEND
#define FUSE_HAS_RESEND (1ULL << 39)
#endif
#ifndef FUSE_ALLOW_IDMAP
#define FUSE_ALLOW_IDMAP (1ULL << 40)
#endif
/* The kernel offers it only while /sys/module/fuse/parameters/enable_uring is Y. */
#ifndef FUSE_OVER_IO_URING
#define FUSE_OVER_IO_URING (1ULL << 41)
#endif
#ifndef FUSE_REQUEST_TIMEOUT
#define FUSE_REQUEST_TIMEOUT (1ULL << 42)
#endif
#define FUSE_FLAGS2(flag) ((uint32_t)((uint64_t)(flag) >> 32))

/* FUSE-over-io_uring. The server sends IORING_OP_URING_CMD on the /dev/fuse descriptor, from
 * rings created with IORING_SETUP_SQE128; struct fuse_uring_cmd_req sits in the SQE's command
 * area (sqe->cmd) and the command in sqe->cmd_op. A REGISTER hands the kernel one entry of a
 * queue: sqe->addr points at two iovecs (the entry's struct fuse_uring_req_header, then its
 * payload buffer) and sqe->len is 2. The entry's CQE arrives when a request is in it; the
 * server answers with COMMIT_AND_FETCH, which also gives the entry back for the next request.
 * bench/README.md lists the rules verified by running. */
#if !defined(FUSE_KERNEL_MINOR_VERSION) || FUSE_KERNEL_MINOR_VERSION < 42
#define FUSE_URING_IN_OUT_HEADER_SZ 128
#define FUSE_URING_OP_IN_OUT_SZ 128

/* Written by the kernel with each request and read back on commit. */
struct fuse_uring_ent_in_out {
	uint64_t flags;
	/* The request's identity: the commit of its reply quotes it. */
	uint64_t commit_id;
	/* Bytes used in the payload buffer: the request's arguments after the first, or the
	 * reply's arguments. */
	uint32_t payload_sz;
	uint32_t padding;
	uint64_t reserved;
};

/* The first buffer of an entry. */
struct fuse_uring_req_header {
	/* struct fuse_in_header of the request, then struct fuse_out_header of the reply. */
	char in_out[FUSE_URING_IN_OUT_HEADER_SZ];
	/* The request's first argument (its fixed-size struct, e.g. fuse_read_in), if any. */
	char op_in[FUSE_URING_OP_IN_OUT_SZ];
	struct fuse_uring_ent_in_out ring_ent_in_out;
};

/* sqe->cmd_op */
enum fuse_uring_cmd {
	FUSE_IO_URING_CMD_INVALID = 0,
	FUSE_IO_URING_CMD_REGISTER = 1,
	FUSE_IO_URING_CMD_COMMIT_AND_FETCH = 2,
};

/* In the SQE's command area. */
struct fuse_uring_cmd_req {
	uint64_t flags;
	/* COMMIT_AND_FETCH: the commit_id the kernel gave with the request; 0 for REGISTER. */
	uint64_t commit_id;
	/* The queue: the kernel serves a request on the queue of the CPU its task runs on. */
	uint16_t qid;
	uint8_t padding[6];
};
#endif

/* The layouts the kernel reads and writes; a mismatch here would corrupt every request. */
_Static_assert(sizeof(struct fuse_in_header) == 40, "fuse_in_header is 40 bytes");
_Static_assert(sizeof(struct fuse_out_header) == 16, "fuse_out_header is 16 bytes");
_Static_assert(sizeof(struct fuse_init_in) == 64, "fuse_init_in of 7.36+ is 64 bytes");
_Static_assert(sizeof(struct fuse_init_out) == 64, "fuse_init_out of 7.36+ is 64 bytes");
_Static_assert(offsetof(struct fuse_init_in, flags2) == 16, "flags2 follows flags in INIT");
_Static_assert(offsetof(struct fuse_init_out, flags2) == 32, "flags2 of the INIT reply");
_Static_assert(sizeof(struct fuse_uring_ent_in_out) == 32, "fuse_uring_ent_in_out is 32 bytes");
_Static_assert(offsetof(struct fuse_uring_ent_in_out, payload_sz) == 16,
	       "payload_sz follows flags and commit_id");
_Static_assert(sizeof(struct fuse_uring_req_header) == 288, "fuse_uring_req_header is 288 bytes");
_Static_assert(offsetof(struct fuse_uring_req_header, op_in) == 128, "op_in after in_out");
_Static_assert(offsetof(struct fuse_uring_req_header, ring_ent_in_out) == 256,
	       "ring_ent_in_out after op_in");
_Static_assert(sizeof(struct fuse_uring_cmd_req) == 24, "fuse_uring_cmd_req is 24 bytes");
_Static_assert(offsetof(struct fuse_uring_cmd_req, qid) == 16, "qid after flags and commit_id");
/* An SQE128 entry has 80 bytes of command area (128 less the 48 of a normal SQE). */
_Static_assert(sizeof(struct fuse_uring_cmd_req) <= 80, "the command fits an SQE128's cmd area");
_Static_assert(FUSE_FLAGS2(FUSE_OVER_IO_URING) == (1u << 9), "FUSE_OVER_IO_URING is bit 9 of flags2");

#endif
