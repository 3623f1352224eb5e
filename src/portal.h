/* Portals as administrators and targets write them: IPv4 addresses, IPv6 addresses (a
 * link-local one with its zone), host names, and TargetAddress values (RFC 7143 13.8); resolving
 * them at each connection and connecting with a time limit.
 *
 * A host is kept in one written form everywhere (configuration, logs, status, by-path names):
 * "192.0.2.1", "[fd00::10]", "[fe80::1%eth1]" or "storage.example.com", so that "host:port"
 * is never ambiguous. IPv6 addresses are kept as inet_ntop writes them (lower case, shortest). */
#ifndef ISCSIFS_PORTAL_H
#define ISCSIFS_PORTAL_H

#include <stddef.h>
#include <stdint.h>

/* A host in its written form with its NUL: a 253-byte host name and its final dot fit, and
 * "[" + 45-byte IPv6 text + "%" + 15-byte zone + "]" does. */
#define PORTAL_HOST_MAX 256
/* "host:port" */
#define PORTAL_STR_MAX (PORTAL_HOST_MAX + 6)

enum portal_kind { PORTAL_IPV4 = 1, PORTAL_IPV6, PORTAL_NAME };

/* A TargetAddress value: "host[:port][,tpgt]". */
struct portal_addr {
	char host[PORTAL_HOST_MAX];
	uint16_t port;
	int tpgt; /* -1 when the value has none */
};

/* One host as written: a dotted IPv4 address, an IPv6 address bare or in brackets (with
 * "%zone" for a link-local one), or a host name (RFC 1123 labels; '_' allowed). Writes its
 * written form into host and its kind into *kind (either may be NULL). 0, or -EINVAL with the
 * reason in err ("'x' is not ..."). */
int portal_host_parse(const char *word, char *host, size_t hostlen, enum portal_kind *kind,
		      char *err, size_t errlen);

/* The kind of a host already in written form. */
enum portal_kind portal_host_kind(const char *host);

/* The zone of a host in written form ("eth1" of "[fe80::1%eth1]"), copied into zone; "" when
 * it has none. Returns 1 when host is a link-local IPv6 address (fe80::/10), else 0. */
int portal_host_zone(const char *host, char *zone, size_t zonelen);

/* A TargetAddress value (SendTargets answers, login redirects): "host[:port][,tpgt]" where an
 * IPv6 host is in brackets; default_port when the value has none. 0 or -EINVAL with why. */
int portal_parse_target_address(const char *value, uint16_t default_port,
				 struct portal_addr *out, char *err, size_t errlen);

/* "host:port", bracketing an IPv6 host that is not in written form yet. */
void portal_format(const char *host, uint16_t port, char *out, size_t outlen);

/* Resolve host (both families, each call: a target that moved is followed) and connect to its
 * addresses in the resolver's order until one answers, all of them within timeout_ms. netdev
 * "" or NULL = any device, else SO_BINDTODEVICE (a link-local address without a zone takes
 * its zone from it). TCP_NODELAY is set. On success *fd is the connected socket, still
 * non-blocking, and peer (if not NULL) names the address that answered ("[::1]:3260").
 * 0, or -errno with the reason in err, for the caller to put after "connect to host:port: ":
 * "Connection refused" for an address, "[::1]:3260: Connection refused; 127.0.0.1:3260: ..."
 * for a host name. A name that does not resolve is -EHOSTUNREACH with the resolver's words. */
int portal_connect(const char *host, uint16_t port, const char *netdev, int timeout_ms, int *fd,
		   char *peer, size_t peerlen, char *err, size_t errlen);

/* Whether a host name resolves now (for a configuration check): 0, or -EHOSTUNREACH with the
 * resolver's reason. Addresses always do. */
int portal_resolve_check(const char *host, char *err, size_t errlen);

#endif
