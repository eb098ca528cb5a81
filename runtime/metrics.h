/* --metrics-file PATH: the run's counters, and the Prometheus text-format file written from
 * them at the end of every run, for node_exporter's textfile collector. */
#ifndef TR_METRICS_H
#define TR_METRICS_H
#include <stddef.h>

typedef enum { TR_METRIC_WAITS, TR_METRIC_REQUESTS } tr_metric;

/* Counting starts (--metrics-file was given); until then tr_metrics_count does nothing. */
void tr_metrics_enable(void);
int tr_metrics_on(void);
/* One more wait ended, or request answered, for `provider` with `outcome`. */
void tr_metrics_count(tr_metric which, const char *provider, const char *outcome);

typedef struct {
  const char *runbook;     /* the label every series carries: the script's file name */
  double ended;            /* when the run ended, seconds since the epoch */
  double duration;         /* how long it ran, seconds */
  int exit_code;
} tr_metrics_run;

/* Writes the metrics of `run` to `path`, atomically: a temporary file in the same directory,
 * synced, then renamed over it, so a reader sees the old file or the new one, never a part.
 * From the file it replaces it keeps, for the same runbook, the last success's time (a failed
 * run does not change it) and the counters, which go on from their old values. Returns 0, or
 * -1 with why in err. */
int tr_metrics_write(const char *path, const tr_metrics_run *run, char *err, size_t n);

/* Frees the counters. */
void tr_metrics_free(void);

#endif
