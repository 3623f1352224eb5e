/* The reader of initiatorname.iscsi: the initiator's iSCSI name (InitiatorName=) and its
 * optional alias (InitiatorAlias=). */
#include <stdio.h>
#include <string.h>

#include "cfg_lex.h"
#include "config.h"

int cfg_parse_initiatorname(struct cfg *c, const char *path, char *err, size_t errlen)
{
	static const char *const known[] = {"InitiatorName", "InitiatorAlias", NULL};
	int name_line = 0, alias_line = 0, rc;
	char why[CFG_ERR_MAX];
	struct reader r;
	struct assign a;

	rc = reader_open(&r, path, NULL, err, errlen);
	if (rc < 0)
		return rc;
	while ((rc = reader_next_assign(&r, known, 0, &a)) > 0) {
		if (strcmp(a.name, "InitiatorName") == 0) {
			if (name_line) {
				rc = rd_err(&r, "InitiatorName is given twice (first on line %d)",
					    name_line);
				break;
			}
			if (iscsi_name_check(a.value, why, sizeof(why)) < 0) {
				rc = rd_err(&r, "%s", why);
				break;
			}
			snprintf(c->initiator_name, sizeof(c->initiator_name), "%s", a.value);
			name_line = r.line;
		} else {
			if (alias_line) {
				rc = rd_err(&r, "InitiatorAlias is given twice (first on line %d)",
					    alias_line);
				break;
			}
			if (strlen(a.value) >= sizeof(c->initiator_alias)) {
				rc = rd_err(&r, "InitiatorAlias is longer than %zu bytes",
					    sizeof(c->initiator_alias) - 1);
				break;
			}
			if (has_control_char(a.value)) {
				rc = rd_err(&r, "InitiatorAlias contains a control character");
				break;
			}
			snprintf(c->initiator_alias, sizeof(c->initiator_alias), "%s", a.value);
			alias_line = r.line;
		}
	}
	if (rc == 0 && !name_line)
		rc = cfg_set_err(err, errlen, "%s: no InitiatorName= line", path);
	reader_close(&r);
	return rc;
}

