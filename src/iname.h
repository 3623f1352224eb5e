/* iSCSI names (RFC 7143 4.2.7, RFC 3722): checking the iqn., eui. and naa. forms, comparing
 * names in their normal form, and making a fresh initiator name. A name is kept and sent as it
 * was written (or as the target reported it); only comparisons use the normal form. */
#ifndef ISCSIFS_INAME_H
#define ISCSIFS_INAME_H

#include <stddef.h>

#define INAME_MAX 223 /* bytes, RFC 7143 4.2.7.1 */

/* Whether name is a valid iSCSI name, in any case: RFC 3722 stringprep (case folded, NFKC, no
 * prohibited or unassigned character), then the iqn., eui. or naa. form on the result. Both
 * the name as written and its normal form are at most 223 bytes. 0 or -EINVAL with
 * "bad iSCSI name 'NAME': REASON" in err. */
int iscsi_name_check(const char *name, char *err, size_t errlen);

/* The RFC 3722 normal form of name (lower case, NFKC). 0, or -EINVAL when stringprep refuses
 * it, or -ENOSPC. Checks nothing else. */
int iscsi_name_normalize(const char *name, char *out, size_t outlen);

/* Whether a and b are the same iSCSI name: equal in normal form (byte for byte when either has
 * none). */
int iscsi_name_equal(const char *a, const char *b);

/* Generate a fresh unique IQN "<prefix>:<12 hex digits>" from random bytes; the prefix (an
 * iqn. name, NULL for the default) is used in its normal form, so the name is lower case. */
int iscsi_name_generate(const char *prefix, char *out, size_t outlen);

#endif
