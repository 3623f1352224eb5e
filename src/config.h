/* Configuration: the howto's sysconfig files, initiatorname.iscsi, and the daemon's own
 * libconfig settings file (iscsifs.conf). Parsing only: nothing here starts anything.
 * Every error is "file:line: reason" in the caller's buffer. */
#ifndef ISCSIFS_CONFIG_H
#define ISCSIFS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "iname.h"
#include "keys.h"
#include "portal.h"

/* One reader per file: cfg_load_settings (iscsifs.conf), then, in the order cfg_load_all calls
 * them, cfg_parse_initiatorname, cfg_parse_initiator, cfg_parse_auth and cfg_parse_maps. */
#include "cfg_settings.h"
#include "cfg_initiatorname.h"
#include "cfg_initiator.h"
#include "cfg_auth.h"
#include "cfg_maps.h"

#define CFG_NAME_MAX 224 /* iSCSI names are at most 223 bytes (RFC 7143 4.2.7.1) */
#define CFG_IFNAME_MAX 16
#define CFG_SECRET_MAX 256
#define CFG_ERR_MAX 512

/* Where the files are; each can be overridden on the command line or in iscsifs.conf. */
struct cfg_paths {
	char *initiator;      /* /etc/sysconfig/initiator */
	char *initiator_auth; /* /etc/sysconfig/initiator_auth */
	char *device_maps;    /* /etc/sysconfig/iscsi_device_maps */
	char *initiatorname;  /* /etc/initiatorname.iscsi */
};

/* Channel attributes (8th argument of a CHANNEL line), with their defaults. Times in seconds. */
struct cfg_attrs {
	uint32_t nopout_timeout;          /* 5: NOP-Out ping interval, 0 = off */
	uint32_t nopout_response_timeout; /* 10: wait for the NOP-In answer */
	uint32_t login_timeout;           /* 15 */
	uint32_t command_timeout;         /* 30: per SCSI command, then abort */
	uint32_t replacement_timeout;     /* 120: how long I/O waits for a lost session */
	uint32_t queue_depth;             /* 32: commands in flight per LUN */
	uint32_t multipath;               /* off: or a path of multipath devices (enum below) */
};

/* multipath=off|failover|round-robin: the path selection of the devices this channel's LUNs
 * join (the first member channel of a device decides). */
enum cfg_multipath { CFG_MPATH_OFF, CFG_MPATH_FAILOVER, CFG_MPATH_ROUND_ROBIN };
/* "off", "failover", "round-robin". */
const char *cfg_multipath_str(uint32_t policy);

/* One portal of a channel: one CHANNEL line. */
struct cfg_portal {
	char netdev[CFG_IFNAME_MAX]; /* "" when the 3rd argument is absent */
	char addr[PORTAL_HOST_MAX];  /* host in portal.h's written form ("[fd00::10]") */
	uint16_t port;
	int interconnect;            /* 6th argument; 0 = TCP/IP, the only one supported */
	int line;                    /* line in the initiator file */
	int from_isns;               /* address "isns": looked up at start; addr and port empty */
};

struct cfg_auth {
	int present;
	int mutual;
	char user[CFG_SECRET_MAX];
	char secret[CFG_SECRET_MAX];
	char target_user[CFG_SECRET_MAX];   /* mutual only */
	char target_secret[CFG_SECRET_MAX]; /* mutual only */
	int line;
};

struct cfg_channel {
	int id;                  /* 1st argument */
	int conn_count;          /* 2nd argument (1..65535) */
	struct cfg_portal *portals;
	int nportals;
	struct key_set keys;     /* iSCSI keys of the 7th argument, validated against key_table */
	struct cfg_attrs attrs;  /* 8th argument over the defaults */
	char target_name[CFG_NAME_MAX]; /* 9th argument; "" -> SendTargets discovery */
	struct cfg_auth auth;    /* from initiator_auth; auth.present = 0 when none */
	int line;                /* first CHANNEL line of this id */
};

/* One DEVICE line of iscsi_device_maps. */
struct cfg_map {
	int channel;
	uint32_t lun;
	int partition; /* 0 = the whole image */
	char name[256];
	int line;
};

/* Daemon settings from iscsifs.conf. */
struct cfg_settings {
	char *mount_root;     /* "/" : where the map scripts mount <target-iqn>/<name> */
	char *control_socket; /* "/run/iscsifs/control.sock" */
	char *log_level;      /* "info" */
	struct cfg_attrs default_attrs; /* timeouts and queue depth every channel starts from */
};

/* ISNS="address [port] [query_interval=N]" in the initiator file; addr "" = no iSNS. */
struct cfg_isns {
	char addr[PORTAL_HOST_MAX];
	uint16_t port;           /* 3205 */
	uint32_t query_interval; /* 15 s: the target list is queried again this often */
	int line;
};

struct cfg {
	struct cfg_paths paths;
	struct cfg_settings settings;
	char initiator_name[CFG_NAME_MAX];
	char initiator_alias[CFG_NAME_MAX]; /* InitiatorAlias= in initiatorname.iscsi, optional */
	struct cfg_channel *channels;
	int nchannels;
	struct cfg_map *maps;
	int nmaps;
	struct cfg_isns isns;
};

/* Fill paths and settings with the built-in defaults (allocated strings). */
void cfg_init(struct cfg *c);
/* Free everything, wiping secrets from memory first. */
void cfg_free(struct cfg *c);

/* Read the four files named in c->paths and check them against each other (auth and maps only
 * name channels that exist, no duplicate mount names, AuthMethod=CHAP needs an AUTH line).
 * 0, or -errno with "file:line: reason" in err. A missing initiator_auth or device_maps file
 * means none; a missing initiator file or initiatorname file is an error. */
int cfg_load_all(struct cfg *c, char *err, size_t errlen);

struct cfg_channel *cfg_channel_find(struct cfg *c, int id);

#endif
