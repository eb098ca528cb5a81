/* Starting and stopping the simulator for --sim. The child dies with us even if we are killed
 * outright (PR_SET_PDEATHSIG), so a run never leaves a simulator behind. A runbook's os.exit()
 * skips main's tr_sim_stop: an atexit hook stops and reaps the child then, or it would be left
 * to init (a zombie where init does not reap, as in many containers). */
#include "simlaunch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "run.h"
#include "run_end.h"
#include "signals.h"

/* What --sim puts in a runbook's environment (taskrun-sim's defaults, sim/README.md): the
 * credentials of the obtained flow, so that every --sim run gets and renews its tokens as a
 * real run does. "{sim}" stands for the simulator's base URL. Keycard's token endpoint is
 * {KEYCARD_API_URL}/service-account-token, the simulator's URL too. Set even when already set,
 * so that a --sim run never sends the environment's real client secrets to the simulator. */
static const char *const sim_env[][2] = {
  { "REDPANDA_CLIENT_ID", "sim-redpanda-client" },
  { "REDPANDA_CLIENT_SECRET", "sim-redpanda-secret" },
  { "REDPANDA_AUTH_URL", "{sim}/redpanda/oauth/token" },
  { "KEYCARD_CLIENT_ID", "sim-keycard-client" },
  { "KEYCARD_CLIENT_SECRET", "sim-keycard-secret" },
  { "ASTRA_TOKEN", "sim-astra-token" },
  { "ASTRA_ACCOUNT_ID", "8c7f3a52-5b1e-4c1d-9a0e-6f2d1b3c4a5e" },
  { "BLUEXP_REFRESH_TOKEN", "sim-bluexp-refresh" },
  { "BLUEXP_AUTH_URL", "{sim}/bluexp/oauth/token" },
  { "BLUEXP_ACCOUNT_ID", "account-sim00001" },
  { "BLUEXP_AGENT_ID", "simAgent0001clients" },
};

static const char *const url_vars[] = {
  "TASKRUN_SIM_URL", "REDPANDA_DATAPLANE_URL", "KEYCARD_API_URL", "ASTRA_URL", "BLUEXP_URL",
};

/* taskrun-sim next to this binary (source tree and install alike), else from PATH. */
static void sim_path(char *out, size_t n) {
  char self[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len > 0) {
    self[len] = '\0';
    char *slash = strrchr(self, '/');
    if (slash) {
      *slash = '\0';
      snprintf(out, n, "%s/taskrun-sim", self);
      if (access(out, X_OK) == 0) return;
    }
  }
  snprintf(out, n, "taskrun-sim");
}

/* Reads the URL the simulator prints. Returns 0, -1 when it did not start, -2 when it closed
 * its stdout first (it exited), or the signal that came meanwhile. */
static int read_url(int fd, char *url, size_t n) {
  size_t used = 0;
  while (used < n - 1) {
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int ready = tr_signals_poll(&p, 1, 10000);
    if (ready < 0 && errno == EINTR && tr_signals_pending()) return tr_signals_pending();
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return -1;
    ssize_t got = read(fd, url + used, 1);
    if (got == 0) return -2;
    if (got < 0) return -1;
    if (url[used] == '\n') break;
    used++;
  }
  url[used] = '\0';
  return strncmp(url, "http://", 7) == 0 ? 0 : -1;
}

/* The simulator still running, for the atexit hook; NULL once stopped. */
static tr_sim_child *running;

static void stop_at_exit(void) {
  if (running) tr_sim_stop(running);
}

/* The simulator's exit status, when it ended while starting; -1 when it did not end. */
static int exited_with(pid_t pid) {
  int status;
  pid_t got;
  while ((got = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {}
  return got == pid && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int tr_sim_start(tr_sim_child *sim, const char *argv0, const tr_sim_opts *opts) {
  char path[PATH_MAX + 16], url[256];
  int fds[2];
  sim_path(path, sizeof path);
  const char *argv[16] = { "taskrun-sim", "--host", "127.0.0.1", "--port", "0" };
  int argc = 5;
  if (opts->scenario) { argv[argc++] = "--scenario"; argv[argc++] = opts->scenario; }
  if (opts->speed) { argv[argc++] = "--speed"; argv[argc++] = opts->speed; }
  if (opts->token_ttl) { argv[argc++] = "--token-ttl"; argv[argc++] = opts->token_ttl; }
  argv[argc] = NULL;
  if (pipe(fds) < 0) return TR_EXIT_ERROR;
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return TR_EXIT_ERROR;
  if (pid == 0) {
    tr_signals_reset_child();
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    /* The simulator's own log would read as the runbook's: only at debug level. */
    if (!tr_log_enabled(TR_LOG_DEBUG)) {
      int null = open("/dev/null", O_WRONLY);
      if (null >= 0) dup2(null, STDERR_FILENO);
    }
    execvp(path, (char *const *)argv);
    fprintf(stderr, "taskrun: cannot run %s: %s\n", path, strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  sim->pid = pid;
  sim->out = fds[0];
  tr_signals_watch_child(pid);
  static int hooked;
  if (!hooked) hooked = atexit(stop_at_exit) == 0;
  running = sim;
  int got = read_url(sim->out, url, sizeof url);
  if (got > 0) {
    char msg[64];
    snprintf(msg, sizeof msg, "interrupted by %s while taskrun-sim started",
             got == SIGINT ? "SIGINT" : "SIGTERM");
    tr_end_report(NULL, msg);
    tr_sim_stop(sim);
    return 128 + got;
  }
  if (got == -2 && opts->scenario && exited_with(pid) == 2) {
    /* taskrun-sim's usage exit: the scenario file is the one option it can refuse */
    char msg[PATH_MAX + 160];
    snprintf(msg, sizeof msg, "--sim: taskrun-sim refused --sim-scenario %s (run taskrun-sim "
             "--scenario %s to see why)", opts->scenario, opts->scenario);
    tr_end_report("usage", msg);
    sim->pid = 0;
    close(sim->out);
    tr_signals_watch_child(0);
    running = NULL;
    return TR_EXIT_USAGE;
  }
  if (got != 0) {
    tr_end_report(NULL, "--sim: taskrun-sim did not start (is it built? run make)");
    tr_sim_stop(sim);
    return TR_EXIT_ERROR;
  }
  for (size_t i = 0; i < sizeof url_vars / sizeof url_vars[0]; i++) setenv(url_vars[i], url, 1);
  for (size_t i = 0; i < sizeof sim_env / sizeof sim_env[0]; i++) {
    char value[512];
    const char *v = sim_env[i][1];
    if (strncmp(v, "{sim}", 5) == 0) {
      snprintf(value, sizeof value, "%s%s", url, v + 5);
      v = value;
    }
    setenv(sim_env[i][0], v, 1);
  }
  tr_logf(TR_LOG_DEBUG, "--sim: taskrun-sim %d listens on %s", (int)pid, url);
  return 0;
}

void tr_sim_stop(tr_sim_child *sim) {
  if (sim->pid <= 0) return;
  kill(sim->pid, SIGTERM);
  while (waitpid(sim->pid, NULL, 0) < 0 && errno == EINTR) {}
  close(sim->out);
  tr_signals_watch_child(0);
  sim->pid = 0;
  if (running == sim) running = NULL;
}
