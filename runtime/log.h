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

/* Registers a secret (a token, an Authorization value): every later output redacts it. */
void tr_log_add_secret(const char *secret);
/* A malloc'd copy of s with every secret replaced by "[REDACTED]". */
char *tr_redact(const char *s, size_t len, size_t *outlen);
void tr_log_free_secrets(void);

#endif
