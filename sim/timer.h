/* Resumes suspended connections when their time is up, so a delayed reply never holds a
 * worker thread. */
#ifndef SIM_TIMER_H
#define SIM_TIMER_H

#include <microhttpd.h>

/* Starts the timer thread; 0 on success. */
int sim_timer_start(void);
/* Resumes every pending connection now and stops the thread: MHD refuses to stop while any
 * connection is suspended. */
void sim_timer_stop(void);
/* Resumes conn, which the caller has just suspended, after ms milliseconds. Returns -1 once
 * the timer has stopped: the caller must resume conn itself. */
int sim_timer_resume_after(struct MHD_Connection *conn, double ms);

#endif
