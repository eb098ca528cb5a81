/* Logging to stderr, as text lines or JSON lines, with every registered secret redacted. */
#ifndef TR_LOG_H
#define TR_LOG_H
#include <stddef.h>

typedef enum { TR_LOG_DEBUG, TR_LOG_INFO, TR_LOG_WARN, TR_LOG_ERROR } tr_log_level;

typedef struct {
  const char *key;
  const char *value;
  int is_string;   /* 1: a string; 0: a number or boolean written as is */
} tr_log_field;

void tr_log_configure(tr_log_level min, int json, int quiet);
int tr_log_enabled(tr_log_level level);
int tr_log_is_json(void);
int tr_log_is_quiet(void);
/* Whether text lines may be coloured: stderr is a terminal and NO_COLOR is unset or empty
 * (https://no-color.org). */
int tr_log_color(void);
/* Parses "debug", "info", "warn" or "error"; -1 otherwise. */
int tr_log_parse_level(const char *name);

void tr_log(tr_log_level level, const char *msg, const tr_log_field *fields, size_t nfields);
void tr_logf(tr_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* An error report: shown even with --quiet; the traceback follows on its own lines in text. */
void tr_log_report(const char *msg, const char *traceback);
/* The same, with where in the runbook it was raised ("file:line", or NULL: on a line of its own
 * in text, before the traceback) and, in JSON only, the fields besides msg and traceback. */
void tr_log_report_at(const char *msg, const char *where, const char *traceback,
                      const tr_log_field *fields, size_t nfields);
/* A line at `level` whatever the level and --quiet say, with its traceback (or NULL): the
 * run's end event (run_end.c) decides for itself when it is written. */
void tr_log_event(tr_log_level level, const char *msg, const tr_log_field *fields,
                  size_t nfields, const char *traceback);

/* --log-on-failure: from now on every line, and every write of the runbook's to stderr, is held
 * in memory (the last `bytes` of them) instead of written. Returns 0, or -1 out of memory. */
int tr_log_hold(size_t bytes);
int tr_log_is_holding(void);
/* The end of the hold: what was held is written to stderr when `show` (the run failed), after a
 * line saying how many earlier lines the bound dropped, if any; else it is dropped. Lines are
 * written as they come from then on. */
void tr_log_release(int show);
/* Text (redacted) on its way to stderr, from the logger or the runbook's own writes: kept in the
 * tail when one is kept (logtail.h). Returns 1 when it is held and must not be written. */
int tr_log_capture(const char *s, size_t len);
/* Reports off (1) or on again (0): once stdout is gone the run ends, and what fails because of
 * it is not news (see output.c). */
void tr_log_reports_off(int off);

/* A malloc'd copy of the line tr_log (report 0) or tr_log_report (report 1) would write now,
 * redacted, with its length in *outlen; NULL when out of memory. For tests and fuzzing. */
char *tr_log_format(int report, tr_log_level level, const char *msg, const tr_log_field *fields,
                    size_t nfields, const char *traceback, size_t *outlen);

/* Registers a secret (a token, an Authorization value) of any length: every later output
 * redacts it, raw and in every encoding an output uses (see secrets.h). */
void tr_log_add_secret(const char *secret);
/* A malloc'd, NUL-terminated copy of s (len bytes) with every registered secret, in each of its
 * forms, and the password of every scheme://user:PASSWORD@ URL replaced by "[REDACTED]"; its
 * length in *outlen when outlen is not NULL. NULL when out of memory. */
char *tr_redact(const char *s, size_t len, size_t *outlen);
void tr_log_free_secrets(void);

#endif
