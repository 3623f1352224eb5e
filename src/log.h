/* Operator log: one line per event, to stderr (foreground) or syslog. Never pass a secret. */
#ifndef ISCSIFS_LOG_H
#define ISCSIFS_LOG_H

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_init(const char *ident, int use_syslog, enum log_level level);
void log_set_level(enum log_level level);
int log_level_parse(const char *name, enum log_level *out); /* "error".."debug"; 0 or -EINVAL */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_dbg(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
