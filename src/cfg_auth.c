/* The reader of /etc/sysconfig/initiator_auth: AUTH lines (CHAP names and secrets per
 * channel), and the check that the file is private. No error quotes a field of it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cfg_lex.h"
#include "config.h"

/* Refuse the file when group or others may read or write it. */
static int check_private(const char *path, const struct stat *st, char *err, size_t errlen)
{
	if (!(st->st_mode & 077))
		return 0;
	return cfg_set_err(err, errlen, "%s: is %s by others (mode %04o); run: chmod 600 %s", path,
			   (st->st_mode & 044) ? "readable" : "writable",
			   (unsigned)(st->st_mode & 07777), path);
}

/* A CHAP name or secret: 1..255 bytes, no control characters. Quotes nothing from the word. */
static int check_chap_word(struct reader *r, const char *w, const char *what, int ch)
{
	if (strlen(w) >= CFG_SECRET_MAX)
		return rd_err(r, "%s for channel %d is longer than %d characters", what, ch,
			      CFG_SECRET_MAX - 1);
	if (has_control_char(w))
		return rd_err(r, "%s for channel %d contains a control character", what, ch);
	return 0;
}

int cfg_parse_auth(struct cfg *c, const char *path, char *err, size_t errlen)
{
	static const char *const known[] = {"AUTH", NULL};
	struct reader r;
	struct assign a;
	int rc;

	rc = reader_open(&r, path, check_private, err, errlen);
	if (rc < 0)
		return rc;
	r.secret = 1;
	while ((rc = reader_next_assign(&r, known, 1, &a)) > 0) {
		struct cfg_channel *ch;
		unsigned long id;
		char *w[8];
		int n, mutual, need;

		n = split_words(a.value, w, 8);
		if (n < 0) {
			rc = rd_err(&r, "AUTH has too many fields (at most 6)");
			break;
		}
		if (n == 0) {
			rc = rd_err(&r, "AUTH is empty");
			break;
		}
		/* Fields are not quoted back: a misplaced secret must not reach a log. */
		if (cfg_parse_num(w[0], CHANNEL_ID_MAX, &id) < 0) {
			rc = rd_err(&r, "the channel id (1st field) is not a number from 0 to %d",
				    CHANNEL_ID_MAX);
			break;
		}
		ch = cfg_channel_find(c, (int)id);
		if (!ch) {
			rc = rd_err(&r, "channel %lu is not defined in %s", id, c->paths.initiator);
			break;
		}
		if (ch->auth.present) {
			rc = rd_err(&r, "duplicate AUTH line for channel %lu (first on line %d)",
				    id, ch->auth.line);
			break;
		}
		if (n < 2 || (strcmp(w[1], "0") != 0 && strcmp(w[1], "1") != 0)) {
			rc = rd_err(&r, "the mutual authentication flag (2nd field) must be "
				    "0 or 1");
			break;
		}
		mutual = w[1][0] == '1';
		need = mutual ? 6 : 4;
		if (n != need) {
			rc = rd_err(&r, "AUTH with mutual=%d needs %d fields (channel, %d, user, "
				    "secret%s), found %d", mutual, need, mutual,
				    mutual ? ", target user, target secret" : "", n);
			break;
		}
		if ((rc = check_chap_word(&r, w[2], "user name", ch->id)) < 0 ||
		    (rc = check_chap_word(&r, w[3], "secret", ch->id)) < 0)
			break;
		if (mutual) {
			if ((rc = check_chap_word(&r, w[4], "target user name", ch->id)) < 0 ||
			    (rc = check_chap_word(&r, w[5], "target secret", ch->id)) < 0)
				break;
			/* RFC 7143 12.1.3: a secret for one direction must not serve the other. */
			if (strcmp(w[3], w[5]) == 0) {
				rc = rd_err(&r, "the target secret for channel %d must differ from "
					    "the initiator secret", ch->id);
				break;
			}
		}
		ch->auth.present = 1;
		ch->auth.mutual = mutual;
		ch->auth.line = r.line;
		snprintf(ch->auth.user, sizeof(ch->auth.user), "%s", w[2]);
		snprintf(ch->auth.secret, sizeof(ch->auth.secret), "%s", w[3]);
		if (mutual) {
			snprintf(ch->auth.target_user, sizeof(ch->auth.target_user), "%s", w[4]);
			snprintf(ch->auth.target_secret, sizeof(ch->auth.target_secret), "%s",
				 w[5]);
		}
	}
	reader_close(&r);
	return rc;
}

