/* The live status block: a few lines kept at the bottom of a terminal's stderr while waits run.
 * Lua (stdlib/taskrun/status.lua) says what the lines are; this file owns the screen, so the
 * logger can take the block away around every line it writes and the two never interleave. */
#ifndef TR_STATUS_H
#define TR_STATUS_H
#include <stddef.h>

/* Whether a block would show: stderr is a terminal (not TERM=dumb), text logs, no --quiet, no
 * --log-on-failure (a run that holds its log shows nothing while it runs). */
int tr_status_live(void);

/* The terminal's size: the window's, else LINES and COLUMNS, else 24x80. */
void tr_status_term_size(int *rows, int *cols);

/* Replaces the block with n lines (n = 0 erases it): redacted, cut to the terminal's width,
 * drawn at once. Does nothing when the block is not live. */
void tr_status_set(const char *const *lines, size_t n);

/* Around any other write to stderr: hide takes the block off the screen, show puts it back. */
void tr_status_hide(void);
void tr_status_show(void);

#endif
