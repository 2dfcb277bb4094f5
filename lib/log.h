/* SPDX-License-Identifier: MIT */
/* log: diagnostics from lib/ go to a sink that cmd/ installs; lib/ never prints. */
#ifndef FR_LOG_H
#define FR_LOG_H

enum fr_loglevel { FR_LOG_WARN, FR_LOG_NOTE, FR_LOG_DEBUG };

typedef void fr_log_sink(enum fr_loglevel level, const char *msg, void *arg);

/* Install the sink (NULL drops every message). */
void fr_log_set_sink(fr_log_sink *sink, void *arg);
/* Send a formatted message to the sink; a format ending in ':' appends strerror(errno). */
void fr_log(enum fr_loglevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define fr_warn(...) fr_log(FR_LOG_WARN, __VA_ARGS__)
#define fr_note(...) fr_log(FR_LOG_NOTE, __VA_ARGS__)

#endif
