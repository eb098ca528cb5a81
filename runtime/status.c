/* The live status block. It sits below the last log line with the cursor at the end of its last
 * line, so erasing it is "back to column 0, up n-1 lines, clear to the end of the screen": every
 * move is relative, which survives the screen scrolling. Lines are cut one column short of the
 * width, so no terminal's pending-wrap rule can turn one line into two and break the count. */
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "escape.h"
#include "log.h"

static struct {
  char **lines;      /* redacted copies of what Lua gave */
  size_t n;
  size_t drawn;      /* lines on the screen now; 0 when hidden */
  int at_exit;       /* the exit hook is registered */
} st;

int tr_status_live(void) {
  const char *term = getenv("TERM");
  return isatty(STDERR_FILENO) && !tr_log_is_json() && !tr_log_is_quiet() &&
         !tr_log_is_holding() &&
         !(term && strcmp(term, "dumb") == 0);
}

static int env_int(const char *name) {
  const char *v = getenv(name);
  int n = v ? atoi(v) : 0;
  return n > 0 ? n : 0;
}

void tr_status_term_size(int *rows, int *cols) {
  struct winsize ws;
  /* A pty nobody sized (script(1) without a terminal of its own) reports 0x0. */
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) != 0) memset(&ws, 0, sizeof ws);
  *rows = ws.ws_row ? ws.ws_row : env_int("LINES") ? env_int("LINES") : 24;
  *cols = ws.ws_col ? ws.ws_col : env_int("COLUMNS") ? env_int("COLUMNS") : 80;
}

/* ---- what gets written ---- */

static void add_erase(tr_buf *b) {
  tr_buf_put(b, "\r", 1);
  for (size_t i = 1; i < st.drawn; i++) tr_buf_put(b, "\033[A", 3);
  tr_buf_put(b, "\033[J", 3);
}

/* Escape sequences take no columns, nor do UTF-8 continuation bytes. A line cut inside a colour
 * gets a reset, so the colour does not run on into the next log line. */
static void add_cut(tr_buf *b, const char *s, int width) {
  int used = 0, styled = 0;
  const char *p = s;
  while (*p) {
    unsigned char c = (unsigned char)*p;
    if (c == '\033' && p[1] == '[') {
      const char *q = p + 2;
      while (*q && (*q < 0x40 || *q > 0x7e)) q++;
      if (*q) q++;
      tr_buf_put(b, p, (size_t)(q - p));
      styled = 1;
      p = q;
      continue;
    }
    if ((c & 0xc0) != 0x80 && used++ == width) break;
    /* A stray control character would move the cursor and spoil the erase. */
    tr_buf_put(b, c < 0x20 || c == 0x7f ? "?" : p, 1);
    p++;
  }
  if (*p && styled) tr_buf_put(b, "\033[0m", 4);
}

static void add_lines(tr_buf *b) {
  int rows, cols;
  tr_status_term_size(&rows, &cols);
  for (size_t i = 0; i < st.n; i++) {
    if (i) tr_buf_put(b, "\n", 1);
    add_cut(b, st.lines[i], cols > 1 ? cols - 1 : 1);
  }
  st.drawn = st.n;
}

static void flush(tr_buf *b) {
  if (!b->failed && b->n) fwrite(b->p, 1, b->n, stderr);
  fflush(stderr);
  free(b->p);
}

/* ---- keeping the block ---- */

static void forget_lines(void) {
  for (size_t i = 0; i < st.n; i++) free(st.lines[i]);
  free(st.lines);
  st.lines = NULL;
  st.n = 0;
}

/* Whatever way the run ends, the terminal is left without a stale block. */
static void erase_at_exit(void) { tr_status_set(NULL, 0); }

void tr_status_set(const char *const *lines, size_t n) {
  if (!st.drawn && !tr_status_live()) return;
  forget_lines();
  if (n && (st.lines = calloc(n, sizeof *st.lines))) {
    for (size_t i = 0; i < n; i++)
      if ((st.lines[st.n] = tr_redact(lines[i], strlen(lines[i]), NULL))) st.n++;
  }
  if (!st.at_exit) st.at_exit = atexit(erase_at_exit) == 0;
  tr_buf b = { 0 };
  if (st.drawn) add_erase(&b);
  st.drawn = 0;
  if (st.n) add_lines(&b);
  flush(&b);
}

void tr_status_hide(void) {
  if (!st.drawn) return;
  tr_buf b = { 0 };
  add_erase(&b);
  st.drawn = 0;
  flush(&b);
}

void tr_status_show(void) {
  if (st.drawn || !st.n) return;
  tr_buf b = { 0 };
  add_lines(&b);
  flush(&b);
}
