/* The event loop: one epoll set driving libcurl's multi interface, a timer heap, and a wake
 * pipe for signals. It never runs Lua: completions only mark tasks ready (see sched.h). */
#ifndef TR_LOOP_H
#define TR_LOOP_H
#include <curl/curl.h>

#include "timer.h"

/* A transfer in flight; its easy handle's CURLOPT_PRIVATE points here. `done` runs inside the
 * loop when libcurl finishes it, so it must only record the result and wake a task. */
typedef struct tr_transfer tr_transfer;
struct tr_transfer {
  void (*done)(tr_transfer *x, CURLcode rc);
  void *shard;   /* the loop's own: which multi handle carries it */
};

/* Creates the epoll set and the wake pipe. Returns -1 with errno set on failure. */
int tr_loop_init(void);
/* Tears everything down. Close the Lua state first: its __gc hooks remove their transfers. */
void tr_loop_close(void);

/* The first multi handle, created on first use so runbooks without HTTP never load TLS. */
CURLM *tr_loop_multi(void);
/* Adds a configured easy handle to a multi handle with room. Returns a CURLMcode. */
int tr_loop_start_transfer(CURL *easy, tr_transfer *x);
/* Removes it; harmless after completion or once the loop is gone. */
void tr_loop_stop_transfer(CURL *easy);

void tr_loop_arm(tr_timer *t, double due);
void tr_loop_disarm(tr_timer *t);

/* Nothing armed and nothing in flight: waiting would block forever. */
int tr_loop_idle(void);
/* Waits up to `max_wait` seconds (< 0: no limit besides timers) for sockets, timers or a wake,
 * then dispatches what happened. */
void tr_loop_run_once(double max_wait);
/* Async-signal-safe: makes a blocked tr_loop_run_once return. */
void tr_loop_wake(void);

#endif
