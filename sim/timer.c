/* A min-heap of deadlines served by one thread on the monotonic clock. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include "timer.h"
#include "util.h"

typedef struct {
  double due;
  struct MHD_Connection *conn;
} sim_timer_entry;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake;
static pthread_t thread;
static sim_timer_entry *heap;
static size_t count, cap;
static int running;

static void heap_swap(size_t a, size_t b)
{
  sim_timer_entry t = heap[a];
  heap[a] = heap[b];
  heap[b] = t;
}

static int heap_push(sim_timer_entry e)
{
  if (count == cap) {
    size_t ncap = cap ? cap * 2 : 256;
    sim_timer_entry *grown = realloc(heap, ncap * sizeof *heap);
    if (!grown) return -1;
    heap = grown;
    cap = ncap;
  }
  size_t i = count++;
  heap[i] = e;
  while (i > 0 && heap[(i - 1) / 2].due > heap[i].due) {
    heap_swap(i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
  return 0;
}

static sim_timer_entry heap_pop(void)
{
  sim_timer_entry top = heap[0];
  heap[0] = heap[--count];
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < count && heap[l].due < heap[m].due) m = l;
    if (r < count && heap[r].due < heap[m].due) m = r;
    if (m == i) break;
    heap_swap(i, m);
    i = m;
  }
  return top;
}

static void *timer_main(void *arg)
{
  (void)arg;
  struct MHD_Connection *due[64];
  pthread_mutex_lock(&lock);
  while (running) {
    if (count == 0) {
      pthread_cond_wait(&wake, &lock);
      continue;
    }
    double now = sim_now_ms();
    if (heap[0].due > now) {
      double wait = heap[0].due - now;
      struct timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      long long ns = (long long)ts.tv_nsec + (long long)(wait * 1e6);
      ts.tv_sec += (time_t)(ns / 1000000000LL);
      ts.tv_nsec = (long)(ns % 1000000000LL);
      pthread_cond_timedwait(&wake, &lock, &ts);
      continue;
    }
    size_t n = 0;
    while (count > 0 && heap[0].due <= now && n < 64) due[n++] = heap_pop().conn;
    /* Resume outside the lock: MHD takes its own locks, and workers take ours. */
    pthread_mutex_unlock(&lock);
    for (size_t i = 0; i < n; i++) MHD_resume_connection(due[i]);
    pthread_mutex_lock(&lock);
  }
  pthread_mutex_unlock(&lock);
  return NULL;
}

int sim_timer_start(void)
{
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&wake, &attr);
  pthread_condattr_destroy(&attr);
  running = 1;
  if (pthread_create(&thread, NULL, timer_main, NULL) != 0) {
    running = 0;
    return -1;
  }
  return 0;
}

void sim_timer_stop(void)
{
  pthread_mutex_lock(&lock);
  running = 0;
  pthread_cond_signal(&wake);
  pthread_mutex_unlock(&lock);
  pthread_join(thread, NULL);
  while (count > 0) MHD_resume_connection(heap_pop().conn);
  free(heap);
  heap = NULL;
  count = cap = 0;
  pthread_cond_destroy(&wake);
}

int sim_timer_resume_after(struct MHD_Connection *conn, double ms)
{
  sim_timer_entry e = { sim_now_ms() + ms, conn };
  pthread_mutex_lock(&lock);
  int ok = running && heap_push(e) == 0;
  pthread_cond_signal(&wake);
  pthread_mutex_unlock(&lock);
  return ok ? 0 : -1;
}
