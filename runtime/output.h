/* The runbook's stdout and stderr: print, io.write, and the write and flush methods of
 * io.stdout and io.stderr go through here, redacted, with the live status block out of the way.
 * A write to stdout that fails ends the run. */
#ifndef TR_OUTPUT_H
#define TR_OUTPUT_H
#include <lua.h>
#include <stddef.h>
#include <stdio.h>

/* The exit code after a broken pipe on stdout: 128 + SIGPIPE, as a shell shows a tool the
 * signal killed (taskrun ignores SIGPIPE for libcurl, so it sees EPIPE instead). */
#define TR_EXIT_PIPE 141

/* At the very start of main: makes an os.exit() check stdout's last flush too. */
void tr_output_init(void);

/* [-0, +0, e] Replaces print, io.write, io.flush and the write and flush methods of every Lua
 * file with versions that write stdout and stderr through tr_output_write. */
void tr_output_install(lua_State *L);

/* Writes len bytes at s to f redacted when f is stdout or stderr (as is otherwise), taking the
 * status block away for the write when it shares the terminal; flushes when asked. Returns 0,
 * or the errno of the failure. A failure on stdout is remembered: tr_output_broken. */
int tr_output_write(FILE *f, const char *s, size_t len, int flush);

/* The errno with which a write to stdout failed, or 0. The run loop ends the run on it. */
int tr_output_broken(void);

/* At the end of main: flushes stdout. Returns code when stdout took everything; otherwise
 * reports "cannot write to stdout: ..." and returns 1, or returns TR_EXIT_PIPE without a word
 * when the reader went away (EPIPE), like other Unix tools. */
int tr_output_finish(int code);

#endif
