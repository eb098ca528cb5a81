/* Secrets and their redaction. tr_log_add_secret and tr_redact (log.h) are the entry points
 * everything uses; this header adds what start-up and the output sinks need. */
#ifndef TR_SECRETS_H
#define TR_SECRETS_H
#include <stddef.h>

/* The text every secret and every URL password is replaced with. */
#define TR_REDACTED "[REDACTED]"

/* Registers len bytes at s (1 byte or more; 0 is ignored) as a secret: from now on every output
 * redacts it raw and in each encoding an output uses (JSON-escaped as taskrun and lua-cjson
 * write it, text-log escaped, percent-encoded, as the status block shows it). */
void tr_secret_add(const char *s, size_t len);

/* Registers the password in a URL's user-info (user:PASSWORD@host), as written and
 * percent-decoded. A URL that does not parse is read as best it can be, never skipped. */
void tr_secret_add_url_password(const char *url);

/* Registers every credential the environment holds, at start-up: the product's token variables,
 * any variable named *_TOKEN, *_SECRET or *_PASSWORD (so *_CLIENT_SECRET and *_REFRESH_TOKEN),
 * the password of every *_proxy URL in any case (http_proxy, HTTPS_PROXY, ALL_PROXY...), and
 * the contents of a readable regular file named by any of those variables' *_FILE form. */
void tr_secrets_from_env(void);

/* Like tr_redact, but returns NULL when s needs no change, so a sink can write s itself; when
 * out of memory returns NULL and sets *failed (the sink then writes nothing). */
char *tr_redact_changed(const char *s, size_t len, size_t *outlen, int *failed);

#endif
