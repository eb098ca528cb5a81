/* The event loop: one epoll set driving libcurl's multi interface, a timer heap, descriptors
 * of our own (a child's pipe or pidfd), and a wake pipe for signals. It never runs Lua:
 * completions only mark tasks ready (see sched.h). */
#ifndef TR_LOOP_H
#define TR_LOOP_H
#include <curl/curl.h>
#include <stdint.h>

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
/* Connections libcurl keeps: at most `per_host` to one host (the bound on requests in flight:
 * taskrun's own queue keeps a request beyond it from ever waiting in libcurl's), and at most
 * per_host times `hosts` in all. Call it before or after the multi handle exists. */
void tr_loop_set_host_connections(int per_host, int hosts);

/* The sockets of a transfer's connections: its easy handle's CURLOPT_OPENSOCKETFUNCTION calls
 * tr_loop_socket_opened with each socket it makes, so that a kept connection can stay in the
 * epoll set between transfers (without it, a socket is added and removed per transfer, which
 * is correct too). tr_loop_start_transfer makes tr_loop_close_socket the handle's
 * CURLOPT_CLOSESOCKETFUNCTION. */
void tr_loop_socket_opened(int fd);
int tr_loop_close_socket(void *unused, curl_socket_t fd);

/* Adds a configured easy handle to a multi handle with room. Returns a CURLMcode. */
int tr_loop_start_transfer(CURL *easy, tr_transfer *x);
/* Removes it; harmless after completion or once the loop is gone. */
void tr_loop_stop_transfer(CURL *easy);

/* A descriptor watched once for readiness. `fire` runs inside the loop after the watch has
 * ended, so, like a transfer's `done`, it must only record the event and wake a task. */
typedef struct tr_watch tr_watch;
struct tr_watch {
  void (*fire)(tr_watch *w);
  int fd;   /* the descriptor watched, or -1 */
};

void tr_watch_init(tr_watch *w, void (*fire)(tr_watch *w));
/* Watches fd until it is ready for `events` (EPOLLIN or EPOLLOUT; hang-up and errors count as
 * ready). One watch per descriptor. Returns 0, or -1 with errno set. */
int tr_loop_watch(tr_watch *w, int fd, uint32_t events);
/* Ends a watch; harmless when it is not watching. Call it before closing the descriptor. */
void tr_loop_unwatch(tr_watch *w);

void tr_loop_arm(tr_timer *t, double due);
void tr_loop_disarm(tr_timer *t);

/* Nothing armed, watched or in flight: waiting would block forever. */
int tr_loop_idle(void);
/* Waits up to `max_wait` seconds (< 0: no limit besides timers) for sockets, timers or a wake,
 * then dispatches what happened. */
void tr_loop_run_once(double max_wait);
/* Async-signal-safe: makes a blocked tr_loop_run_once return. */
void tr_loop_wake(void);

#endif
