/* Redaction of JSON a runbook produced (a step's results, an error's fields) before a person
 * reads it: `taskrun runs show` prints what the journal holds, and a step may return anything,
 * credentials included. */
#ifndef TR_JSON_REDACT_H
#define TR_JSON_REDACT_H
#include <stddef.h>

#include "escape.h"

/* The text every redacted value becomes (a JSON string, quotes included). */
#define TR_JSON_REDACTED "\"[redacted]\""

/* Appends the JSON value in json[0..len) to b, compact, with the value of every object member
 * whose name holds secret, token, password, credential, authorization, cookie or api_key (any
 * case; '-' read as '_') replaced by "[redacted]", at any depth. Returns 0, or -1 when the text
 * is not one JSON value (nested deeper than 1000, or cut short): b then holds "[redacted]" alone
 * in place of the value, since what it held cannot be told apart. */
int tr_json_redact(tr_buf *b, const char *json, size_t len);

#endif
