/* The Lua stdlib (every stdlib/taskrun/NAME.lua), embedded at build time by tools/embed.sh. */
#ifndef TR_STDLIB_EMBED_H
#define TR_STDLIB_EMBED_H
#include <stddef.h>

typedef struct {
  const char *name;        /* module name: "taskrun.http" */
  const char *chunkname;   /* "@stdlib/taskrun/http.lua", for tracebacks */
  const char *data;
  size_t len;
} tr_embedded_module;

extern const tr_embedded_module tr_stdlib_modules[];   /* ends with a NULL name */

#endif
