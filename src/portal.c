/* Portals: parsing hosts and TargetAddress values, their written form, resolving host names
 * (both families, at every connection) and connecting within a time limit. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "portal.h"

#define HOSTNAME_MAX 253 /* RFC 1035 2.3.4, without the final dot */
#define LABEL_MAX 63
#define ZONE_MAX 15      /* IFNAMSIZ - 1 */
#define SLICE_MIN_MS 1000

static int perr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int perr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Says what is wrong with a word of digits and dots that inet_pton refused. */
static int ipv4_err(const char *s, char *err, size_t errlen)
{
	const char *p = s;
	int parts = 0;

	if (!strchr(s, '.'))
		return perr(err, errlen, "'%s' is a number, not an address (an IPv4 address is "
			    "written a.b.c.d)", s);
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		unsigned long v = 0;

		parts++;
		if (n == 0)
			return perr(err, errlen, "'%s' is not an IPv4 address: empty number", s);
		if (n > 3 || (sscanf(p, "%3lu", &v) == 1 && v > 255))
			return perr(err, errlen, "'%s' is not an IPv4 address: %.*s is larger than 255",
				    s, (int)n, p);
		if (!dot)
			break;
		p = dot + 1;
	}
	if (parts != 4)
		return perr(err, errlen, "'%s' is not an IPv4 address: it has %d number%s, an address "
			    "has 4 (a.b.c.d)", s, parts, parts == 1 ? "" : "s");
	return perr(err, errlen, "'%s' is not an IPv4 address (no leading zeros)", s);
}

static int parse_ipv4(const char *word, char *host, size_t hostlen, char *err, size_t errlen)
{
	struct in_addr in;

	if (inet_pton(AF_INET, word, &in) != 1)
		return ipv4_err(word, err, errlen);
	if (strlen(word) >= hostlen)
		return perr(err, errlen, "'%s' is too long", word);
	snprintf(host, hostlen, "%s", word);
	return 0;
}

static int zone_ok(const char *zone)
{
	size_t n = strlen(zone);

	if (n == 0 || n > ZONE_MAX || strcmp(zone, ".") == 0 || strcmp(zone, "..") == 0)
		return 0;
	for (const char *p = zone; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || strchr("/:%[]", *p))
			return 0;
	return 1;
}

static int link_local(const struct in6_addr *a)
{
	return a->s6_addr[0] == 0xfe && (a->s6_addr[1] & 0xc0) == 0x80;
}

/* addr[%zone], without brackets; word is what the user wrote, for messages. */
static int parse_ipv6(const char *word, const char *inner, size_t innerlen, char *host,
		      size_t hostlen, char *err, size_t errlen)
{
	char addr[INET6_ADDRSTRLEN + 1], text[INET6_ADDRSTRLEN], zone[ZONE_MAX + 2] = "";
	const char *pct = memchr(inner, '%', innerlen);
	size_t alen = pct ? (size_t)(pct - inner) : innerlen;
	struct in6_addr a;
	int n;

	if (alen >= sizeof(addr))
		return perr(err, errlen, "'%s' is not an IPv6 address", word);
	memcpy(addr, inner, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET6, addr, &a) != 1)
		return perr(err, errlen, "'%s' is not an IPv6 address", word);
	if (pct) {
		size_t zlen = innerlen - alen - 1;

		if (zlen >= sizeof(zone))
			return perr(err, errlen, "'%s': the zone after '%%' is a network device name "
				    "of at most %d characters", word, ZONE_MAX);
		memcpy(zone, pct + 1, zlen);
		zone[zlen] = '\0';
		if (!zone_ok(zone))
			return perr(err, errlen, "'%s': the zone after '%%' must be a network device "
				    "name (fe80::1%%eth1)", word);
		if (!link_local(&a))
			return perr(err, errlen, "'%s': only a link-local address (fe80::/10) takes a "
				    "zone", word);
	}
	if (!inet_ntop(AF_INET6, &a, text, sizeof(text)))
		return perr(err, errlen, "'%s' is not an IPv6 address", word);
	n = snprintf(host, hostlen, "[%s%s%s]", text, zone[0] ? "%" : "", zone);
	if (n < 0 || (size_t)n >= hostlen)
		return perr(err, errlen, "'%s' is too long", word);
	return 0;
}

/* RFC 1123 host names (letters, digits, '-', and '_' as found in practice); the last label
 * is not all digits, so that a name never reads as a number. */
static int parse_name(const char *word, char *host, size_t hostlen, char *err, size_t errlen)
{
	size_t len = strlen(word), label = 0;
	const char *start = word;
	int digits_only = 1;

	if (len && word[len - 1] == '.')
		len--; /* a final dot: the name is absolute */
	if (len == 0)
		return perr(err, errlen, "'%s' is not a host name", word);
	if (len > HOSTNAME_MAX)
		return perr(err, errlen, "host name '%.40s...' is longer than %d characters", word,
			    HOSTNAME_MAX);
	for (size_t i = 0; i <= len; i++) {
		char c = i < len ? word[i] : '.';

		if (c == '.') {
			if (label == 0)
				return perr(err, errlen, "'%s' is not a host name: empty label", word);
			if (start[0] == '-' || start[label - 1] == '-')
				return perr(err, errlen, "'%s' is not a host name: a label starts or "
					    "ends with '-'", word);
			if (i == len && digits_only)
				return perr(err, errlen, "'%s' is not a host name: its last label is a "
					    "number", word);
			start = word + i + 1;
			label = 0;
			digits_only = 1;
			continue;
		}
		if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '_') {
			if ((unsigned char)c < 0x20 || c == 0x7f)
				return perr(err, errlen, "a host name contains control character "
					    "0x%02x", (unsigned char)c);
			return perr(err, errlen, "'%s' is not a host name: '%c' is not allowed "
				    "(letters, digits, '-' and '.')", word, c);
		}
		if (!is_digit(c))
			digits_only = 0;
		if (++label > LABEL_MAX)
			return perr(err, errlen, "'%s' is not a host name: a label is longer than %d "
				    "characters", word, LABEL_MAX);
	}
	if (strlen(word) >= hostlen)
		return perr(err, errlen, "'%s' is too long", word);
	snprintf(host, hostlen, "%s", word);
	return 0;
}

int portal_host_parse(const char *word, char *host, size_t hostlen, enum portal_kind *kind,
		      char *err, size_t errlen)
{
	char scratch[PORTAL_HOST_MAX];
	enum portal_kind k;
	const char *colon;
	int r;

	if (!host) {
		host = scratch;
		hostlen = sizeof(scratch);
	}
	if (!word || !*word)
		return perr(err, errlen, "empty address");
	colon = strchr(word, ':');
	if (word[0] == '[') {
		const char *close = strchr(word, ']');

		if (!close)
			return perr(err, errlen, "'%s': no ']' after the IPv6 address", word);
		if (close[1] == ':')
			return perr(err, errlen, "'%s' holds a port: give the address alone", word);
		if (close[1])
			return perr(err, errlen, "'%s': nothing may follow ']'", word);
		k = PORTAL_IPV6;
		r = parse_ipv6(word, word + 1, (size_t)(close - word - 1), host, hostlen, err,
			       errlen);
	} else if (colon && !strchr(colon + 1, ':') && strspn(word, "0123456789.") ==
						       (size_t)(colon - word)) {
		return perr(err, errlen, "'%s' holds a port: give the address alone", word);
	} else if (colon) {
		k = PORTAL_IPV6;
		r = parse_ipv6(word, word, strlen(word), host, hostlen, err, errlen);
	} else if (strspn(word, "0123456789.") == strlen(word)) {
		k = PORTAL_IPV4;
		r = parse_ipv4(word, host, hostlen, err, errlen);
	} else {
		k = PORTAL_NAME;
		r = parse_name(word, host, hostlen, err, errlen);
	}
	if (r == 0 && kind)
		*kind = k;
	return r;
}

enum portal_kind portal_host_kind(const char *host)
{
	if (host[0] == '[' || strchr(host, ':'))
		return PORTAL_IPV6;
	if (strspn(host, "0123456789.") == strlen(host))
		return PORTAL_IPV4;
	return PORTAL_NAME;
}

/* The address text of a host in written form, without brackets (and zone, if zone is set). */
static void host_bare(const char *host, char *out, size_t outlen, char *zone, size_t zonelen)
{
	const char *s = host[0] == '[' ? host + 1 : host;
	size_t n = strlen(s);

	if (host[0] == '[' && n && s[n - 1] == ']')
		n--;
	if (zone && zonelen)
		zone[0] = '\0';
	if (zone) {
		const char *pct = memchr(s, '%', n);

		if (pct) {
			snprintf(zone, zonelen, "%.*s", (int)(n - (size_t)(pct - s) - 1), pct + 1);
			n = (size_t)(pct - s);
		}
	}
	snprintf(out, outlen, "%.*s", (int)n, s);
}

int portal_host_zone(const char *host, char *zone, size_t zonelen)
{
	char addr[PORTAL_HOST_MAX], z[ZONE_MAX + 2];
	struct in6_addr a;

	host_bare(host, addr, sizeof(addr), z, sizeof(z));
	if (zone && zonelen)
		snprintf(zone, zonelen, "%s", z);
	return inet_pton(AF_INET6, addr, &a) == 1 && link_local(&a);
}

static int parse_port(const char *s, size_t n, uint16_t *port)
{
	unsigned long v = 0;

	if (n == 0 || n > 5)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int portal_parse_target_address(const char *value, uint16_t default_port,
				 struct portal_addr *out, char *err, size_t errlen)
{
	char hostword[PORTAL_HOST_MAX + 2], why[256];
	const char *comma, *end, *portp = NULL;
	size_t hlen;

	memset(out, 0, sizeof(*out));
	out->tpgt = -1;
	out->port = default_port;
	if (!value || !*value)
		return perr(err, errlen, "empty TargetAddress");
	/* What a target sends is quoted in messages: never its control characters. */
	for (const char *p = value; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return perr(err, errlen, "a TargetAddress with control character 0x%02x",
				    (unsigned char)*p);
	/* The portal group tag follows the last comma outside the brackets of an IPv6 address,
	 * whose zone may hold one ([fe80::1%a,b]:3260). */
	{
		const char *close = value[0] == '[' ? strchr(value, ']') : NULL;

		comma = strrchr(close ? close : value, ',');
	}
	end = comma ? comma : value + strlen(value);
	if (comma) {
		uint16_t tag = 0;

		/* The portal group tag is 16 bits; 0 is a valid tag. */
		if (strcmp(comma + 1, "0") == 0)
			out->tpgt = 0;
		else if (parse_port(comma + 1, strlen(comma + 1), &tag) == 0)
			out->tpgt = tag;
		else
			return perr(err, errlen, "TargetAddress '%s': portal group tag '%s' is not a "
				    "number from 0 to 65535", value, comma + 1);
	}
	if (value[0] == '[') {
		const char *close = memchr(value, ']', (size_t)(end - value));

		if (!close)
			return perr(err, errlen, "TargetAddress '%s': no ']' after the IPv6 address",
				    value);
		hlen = (size_t)(close - value) + 1;
		if (close + 1 < end) {
			if (close[1] != ':')
				return perr(err, errlen, "TargetAddress '%s': ':' and a port may follow "
					    "']', nothing else", value);
			portp = close + 2;
		}
	} else {
		const char *colon = memchr(value, ':', (size_t)(end - value));

		if (colon && memchr(colon + 1, ':', (size_t)(end - colon - 1)))
			return perr(err, errlen, "TargetAddress '%s': an IPv6 address is written in "
				    "brackets ([fd00::10]:3260)", value);
		hlen = colon ? (size_t)(colon - value) : (size_t)(end - value);
		if (colon)
			portp = colon + 1;
	}
	if (portp && parse_port(portp, (size_t)(end - portp), &out->port) < 0)
		return perr(err, errlen, "TargetAddress '%s': port '%.*s' is not a number from 1 to "
			    "65535", value, (int)(end - portp), portp);
	if (hlen >= sizeof(hostword))
		return perr(err, errlen, "TargetAddress '%.40s...' is too long", value);
	memcpy(hostword, value, hlen);
	hostword[hlen] = '\0';
	if (portal_host_parse(hostword, out->host, sizeof(out->host), NULL, why, sizeof(why)) < 0)
		return perr(err, errlen, "TargetAddress '%s': %s", value, why);
	return 0;
}

void portal_format(const char *host, uint16_t port, char *out, size_t outlen)
{
	int bare_v6 = host[0] != '[' && strchr(host, ':');

	snprintf(out, outlen, "%s%s%s:%u", bare_v6 ? "[" : "", host, bare_v6 ? "]" : "", port);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "[::1]:3260" or "127.0.0.1:3260" of a resolved address. */
static void sa_format(const struct sockaddr *sa, char *out, size_t outlen)
{
	char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 2] = "?";
	uint16_t port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, text, sizeof(text));
		port = ntohs(s4->sin_port);
		snprintf(out, outlen, "%s:%u", text, port);
	} else {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		char ifname[IF_NAMESIZE] = "";

		inet_ntop(AF_INET6, &s6->sin6_addr, text, sizeof(text));
		port = ntohs(s6->sin6_port);
		if (s6->sin6_scope_id && !if_indextoname(s6->sin6_scope_id, ifname))
			snprintf(ifname, sizeof(ifname), "%u", s6->sin6_scope_id);
		snprintf(out, outlen, "[%s%s%s]:%u", text, ifname[0] ? "%" : "", ifname, port);
	}
}

/* One address: 0 and *fd, or -errno with the reason in why. */
static int try_connect(const struct addrinfo *ai, const char *netdev, int timeout_ms, int *fd,
		       char *why, size_t whylen)
{
	int s, r, one = 1, soerr = 0;
	socklen_t sl = sizeof(soerr);
	struct pollfd pfd;

	s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0) {
		r = -errno;
		snprintf(why, whylen, "socket: %s", strerror(errno));
		return r;
	}
	if (netdev && *netdev &&
	    setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, netdev, (socklen_t)strlen(netdev)) < 0) {
		r = -errno;
		snprintf(why, whylen, "cannot bind to network device %s: %s", netdev,
			 strerror(errno));
		close(s);
		return r;
	}
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	r = connect(s, ai->ai_addr, ai->ai_addrlen);
	if (r < 0 && errno != EINPROGRESS) {
		r = -errno;
		snprintf(why, whylen, "%s", strerror(errno));
		close(s);
		return r;
	}
	pfd.fd = s;
	pfd.events = POLLOUT;
	do
		r = poll(&pfd, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r == 0) {
		snprintf(why, whylen, "timed out after %d s", (timeout_ms + 999) / 1000);
		close(s);
		return -ETIMEDOUT;
	}
	if (r < 0 || getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
		if (!soerr)
			soerr = errno;
		snprintf(why, whylen, "%s", strerror(soerr));
		close(s);
		return -soerr;
	}
	*fd = s;
	return 0;
}

/* getaddrinfo for host in written form. 0, or -errno with the reason. */
static int resolve(const char *host, uint16_t port, const char *netdev, struct addrinfo **res,
		   char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	char addr[PORTAL_HOST_MAX], zone[ZONE_MAX + 2], service[8];
	enum portal_kind kind = portal_host_kind(host);
	int r;

	/* The zone is looked up below, with a clearer message than the resolver's. */
	host_bare(host, addr, sizeof(addr), zone, sizeof(zone));
	snprintf(service, sizeof(service), "%u", port);
	if (kind != PORTAL_NAME)
		hints.ai_flags |= AI_NUMERICHOST;
	hints.ai_family = kind == PORTAL_IPV4 ? AF_INET : kind == PORTAL_IPV6 ? AF_INET6 : AF_UNSPEC;
	r = getaddrinfo(addr, service, &hints, res);
	if (r == EAI_SYSTEM) {
		r = errno ? -errno : -EIO;
		return perr(err, errlen, "'%s' cannot be resolved: %s", host, strerror(-r)), r;
	}
	if (r == EAI_MEMORY)
		return -ENOMEM;
	if (r) {
		perr(err, errlen, "'%s' does not resolve: %s", host, gai_strerror(r));
		return -EHOSTUNREACH;
	}
	if (kind == PORTAL_IPV6) {
		/* The scope of a link-local address: its zone, or else the device it is bound to. */
		const char *scope = zone[0] ? zone : netdev;

		for (struct addrinfo *ai = *res; ai; ai = ai->ai_next) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ai->ai_addr;
			unsigned idx;

			if (ai->ai_family != AF_INET6 || !link_local(&s6->sin6_addr) || !scope ||
			    !*scope)
				continue;
			idx = if_nametoindex(scope);
			if (!idx) {
				r = errno ? -errno : -ENODEV;
				freeaddrinfo(*res);
				*res = NULL;
				perr(err, errlen, "%s: no network device '%s' for the zone of the "
				     "address", host, scope);
				return r == -ENXIO ? -ENODEV : r;
			}
			s6->sin6_scope_id = idx;
		}
	}
	return 0;
}

int portal_connect(const char *host, uint16_t port, const char *netdev, int timeout_ms, int *fd,
		   char *peer, size_t peerlen, char *err, size_t errlen)
{
	char why[256], tried[512] = "";
	struct addrinfo *res = NULL;
	long long deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int r, naddr = 0, left, last = -ECONNREFUSED;
	size_t off = 0;

	*fd = -1;
	r = resolve(host, port, netdev, &res, err, errlen);
	if (r)
		return r;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
		naddr++;
	left = naddr;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next, left--) {
		long long remaining = deadline - now_ms();
		int slice;
		char at[PORTAL_STR_MAX];

		if (remaining <= 0) {
			last = -ETIMEDOUT;
			snprintf(why, sizeof(why), "timed out after %d s", (timeout_ms + 999) / 1000);
			if (off < sizeof(tried))
				off += (size_t)snprintf(tried + off, sizeof(tried) - off,
							"%s%s: not tried (no time left)",
							off ? "; " : "", "the others");
			break;
		}
		/* Addresses that do not answer share the time, so that a later one gets its
		 * turn; the last takes what is left. */
		slice = (int)(left > 1 ? remaining / left : remaining);
		if (left > 1 && slice < SLICE_MIN_MS)
			slice = (int)(remaining < SLICE_MIN_MS ? remaining : SLICE_MIN_MS);
		sa_format(ai->ai_addr, at, sizeof(at));
		last = try_connect(ai, netdev, slice, fd, why, sizeof(why));
		if (last == 0) {
			if (peer && peerlen)
				snprintf(peer, peerlen, "%s", at);
			freeaddrinfo(res);
			return 0;
		}
		if (last == -ETIMEDOUT && left == 1)
			snprintf(why, sizeof(why), "timed out after %d s",
				 (timeout_ms + 999) / 1000);
		if (off < sizeof(tried))
			off += (size_t)snprintf(tried + off, sizeof(tried) - off, "%s%s: %s",
						off ? "; " : "", at, why);
		if (last == -ENOMEM)
			break;
	}
	freeaddrinfo(res);
	if (naddr == 1 && portal_host_kind(host) != PORTAL_NAME)
		snprintf(err, errlen, "%s", why);
	else
		snprintf(err, errlen, "%s", tried);
	return last;
}

int portal_resolve_check(const char *host, char *err, size_t errlen)
{
	struct addrinfo *res = NULL;
	int r;

	if (portal_host_kind(host) != PORTAL_NAME)
		return 0;
	r = resolve(host, 3260, NULL, &res, err, errlen);
	if (res)
		freeaddrinfo(res);
	return r;
}
