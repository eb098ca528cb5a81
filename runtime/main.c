/* The command line: taskrun [options] SCRIPT.lua [args...] */
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "child.h"
#include "duration.h"
#include "durable.h"
#include "errors.h"
#include "host.h"
#include "hostq.h"
#include "init_cmd.h"
#include "log.h"
#include "loop.h"
#include "output.h"
#include "ping.h"
#include "run.h"
#include "run_end.h"
#include "runs_cmd.h"
#include "secrets.h"
#include "signals.h"
#include "simlaunch.h"
#include "stackcheck.h"

/* usage_text: the --help text, generated from doc/taskrun.1.txt (the man page's source) by
 * tools/mangen.lua, so that the page and --help say the same. */
#include "help.h"

typedef struct {
  const char *code;        /* -e */
  const char *script;
  const char *check;
  const char *timeout_text;
  double timeout;
  int sim;
  tr_sim_opts sim_opts;    /* --sim-scenario, --sim-speed, --sim-token-ttl */
  char sim_ttl[64];        /* --sim-token-ttl as taskrun-sim reads it: milliseconds */
  char **args;
  int nargs;
  tr_durable_opts durable; /* --state-dir, --no-journal, --run-id, --fresh, --lock, --lock-wait */
  char **runs;             /* `runs ...`: the subcommand's arguments */
  int nruns;
  char **init;             /* `init ...`: the subcommand's arguments */
  int ninit;
  int hold;                /* --log-on-failure */
  const char *metrics_file;  /* --metrics-file */
  const char *ping_url;    /* --ping */
  double ping_timeout;     /* TASKRUN_PING_TIMEOUT, seconds */
} options;

/* How long one ping may take, retries included, unless TASKRUN_PING_TIMEOUT says otherwise: a
 * dead endpoint delays a cron job by this much at the start and at the end, at most. */
#define PING_TIMEOUT 10.0

static int usage_error(const char *fmt, const char *what) {
  fprintf(stderr, "taskrun: ");
  fprintf(stderr, fmt, what);
  fprintf(stderr, " (see taskrun --help)\n");
  return TR_EXIT_USAGE;
}

/* "--name VALUE" or "--name=VALUE"; advances *i past a separate value. */
static const char *option_value(int argc, char **argv, int *i, const char *name, int *bad) {
  size_t n = strlen(name);
  if (strncmp(argv[*i], name, n) != 0) return NULL;
  if (argv[*i][n] == '=') return argv[*i] + n + 1;
  if (argv[*i][n] != '\0') return NULL;
  if (*i + 1 >= argc) { *bad = 1; return NULL; }
  return argv[++*i];
}

/* --sim-speed: a finite number above 0, as taskrun-sim's --speed reads it (strtod). */
static int valid_speed(const char *v) {
  char *end;
  double x = strtod(v, &end);
  return *v && !*end && isfinite(x) && x > 0;
}

/* --sim-scenario: a file we can read (its contents are for the simulator to judge). */
static int readable_file(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  fgetc(f);   /* a directory opens, but reading it fails */
  int ok = !ferror(f);
  fclose(f);
  return ok;
}

/* Returns -1 to go on, or an exit code. */
static int parse(int argc, char **argv, options *o) {
  int level = TR_LOG_INFO, json = 0, quiet = 0, bad = 0;
  const char *v;
  int i = 1;
  for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) { i++; break; }
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { fputs(usage_text, stdout); return 0; }
    if (strcmp(a, "--version") == 0 || strcmp(a, "-v") == 0) {
      printf("taskrun %s (%s)\n", TR_VERSION, LUA_RELEASE);
      return 0;
    }
    if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) { quiet = 1; continue; }
    if (strcmp(a, "--sim") == 0) { o->sim = 1; continue; }
    if (strcmp(a, "-e") == 0) {
      if (i + 1 >= argc) return usage_error("%s needs an argument", a);
      o->code = argv[++i];
      /* As for a script: what follows CODE is the runbook's (-x included), after an optional
       * "--". Options go before -e. */
      if (++i < argc && strcmp(argv[i], "--") == 0) i++;
      break;
    }
    if (strcmp(a, "--no-journal") == 0) { o->durable.no_journal = 1; continue; }
    if (strcmp(a, "--fresh") == 0) { o->durable.fresh = 1; continue; }
    if (strcmp(a, "--retry-failed") == 0) { o->durable.retry_failed = 1; continue; }
    if (strcmp(a, "--log-on-failure") == 0) { o->hold = 1; continue; }
    if ((v = option_value(argc, argv, &i, "--metrics-file", &bad))) {
      if (!*v) return usage_error("%s", "--metrics-file needs a PATH");
      o->metrics_file = v;
      continue;
    }
    if ((v = option_value(argc, argv, &i, "--ping", &bad))) {
      char why[200];
      if (tr_ping_check(v, why, sizeof why) != 0) return usage_error("%s", why);
      o->ping_url = v;
      continue;
    }
    if ((v = option_value(argc, argv, &i, "--check", &bad))) { o->check = v; continue; }
    if ((v = option_value(argc, argv, &i, "--state-dir", &bad))) {
      if (!*v) return usage_error("%s", "--state-dir needs a directory");
      o->durable.state_dir = v;
      continue;
    }
    if ((v = option_value(argc, argv, &i, "--journal", &bad))) {
      if (!*v) return usage_error("%s", "--journal needs a postgresql:// URL");
      o->durable.journal = v;
      continue;
    }
    if ((v = option_value(argc, argv, &i, "--run-id", &bad))) {
      if (!*v) return usage_error("%s", "--run-id needs a non-empty ID");
      o->durable.run_id = v;
      continue;
    }
    if ((v = option_value(argc, argv, &i, "--lock", &bad))) {
      if (!*v) return usage_error("%s", "--lock needs a non-empty NAME");
      o->durable.lock = v;
      continue;
    }
    if ((v = option_value(argc, argv, &i, "--lock-wait", &bad))) {
      if (tr_duration_parse(v, &o->durable.lock_wait) != 0 || o->durable.lock_wait < 0)
        return usage_error("bad --lock-wait \"%s\": give a duration like 30s, 5m or 1h", v);
      o->durable.lock_wait_text = v;
      continue;
    }
    if ((v = option_value(argc, argv, &i, "--sim-scenario", &bad))) {
      if (!readable_file(v)) return usage_error("cannot read --sim-scenario file \"%s\"", v);
      o->sim_opts.scenario = v;
      continue;
    }
    if ((v = option_value(argc, argv, &i, "--sim-speed", &bad))) {
      if (!valid_speed(v))
        return usage_error("bad --sim-speed \"%s\": give a number above 0, like 10 or 0.5", v);
      o->sim_opts.speed = v;
      continue;
    }
    if ((v = option_value(argc, argv, &i, "--sim-token-ttl", &bad))) {
      double ttl;
      /* taskrun-sim takes 1 ms to 1e12 ms */
      if (tr_duration_parse(v, &ttl) != 0 || !(ttl >= 0.001 && ttl <= 1e9))
        return usage_error("bad --sim-token-ttl \"%s\": give a duration like 1s, 2s or 1h", v);
      snprintf(o->sim_ttl, sizeof o->sim_ttl, "%.17gms", ttl * 1000);
      o->sim_opts.token_ttl = o->sim_ttl;
      continue;
    }
    if ((v = option_value(argc, argv, &i, "--timeout", &bad))) {
      if (tr_duration_parse(v, &o->timeout) != 0 || o->timeout <= 0)
        return usage_error("bad --timeout \"%s\": give a duration like 90s, 5m or 1h30m", v);
      o->timeout_text = v;
      continue;
    }
    if ((v = option_value(argc, argv, &i, "--log-level", &bad))) {
      if ((level = tr_log_parse_level(v)) < 0)
        return usage_error("bad --log-level \"%s\": use debug, info, warn or error", v);
      continue;
    }
    if ((v = option_value(argc, argv, &i, "--log-format", &bad))) {
      if (strcmp(v, "json") != 0 && strcmp(v, "text") != 0)
        return usage_error("bad --log-format \"%s\": use text or json", v);
      json = strcmp(v, "json") == 0;
      continue;
    }
    if (bad) return usage_error("%s needs an argument", a);
    return usage_error("unknown option %s", a);
  }
  tr_log_configure((tr_log_level)level, json, quiet);
  o->ping_timeout = PING_TIMEOUT;
  const char *pt = getenv("TASKRUN_PING_TIMEOUT");
  if (o->ping_url && pt && *pt &&
      (tr_duration_parse(pt, &o->ping_timeout) != 0 || !(o->ping_timeout > 0)))
    return usage_error("bad TASKRUN_PING_TIMEOUT \"%s\": give a duration like 5s or 30s", pt);
  if (!o->sim && (o->sim_opts.scenario || o->sim_opts.speed || o->sim_opts.token_ttl))
    return usage_error("%s", "--sim-scenario, --sim-speed and --sim-token-ttl need --sim");
  if (o->check) return -1;
  if (o->durable.lock_wait > 0 && !o->durable.lock)
    return usage_error("%s", "--lock-wait needs --lock NAME");
  if (o->durable.no_journal && (o->durable.run_id || o->durable.fresh))
    return usage_error("%s", "--run-id and --fresh need the journal: drop --no-journal");
  if (!o->code && i < argc && strcmp(argv[i], "init") == 0) {
    o->init = argv + i + 1;
    o->ninit = argc - i - 1;
    return -1;
  }
  if (!o->code && i < argc && strcmp(argv[i], "runs") == 0) {
    o->runs = argv + i + 1;
    o->nruns = argc - i - 1;
    return -1;
  }
  if (!o->code) {
    if (i >= argc) return usage_error("%s", "no script given");
    o->script = argv[i++];
  }
  o->args = argv + i;
  o->nargs = argc - i;
  return -1;
}

/* The runbook's name in --metrics-file's labels and --ping's body: the script's file name, or
 * "-e" for code given on the command line. */
static const char *runbook_label(const options *o) {
  if (!o->script) return "-e";
  const char *slash = strrchr(o->script, '/');
  return slash && slash[1] ? slash + 1 : o->script;
}

/* Thousands of concurrent requests need thousands of descriptors: take what we may. */
static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

/* Compiles the runbook onto L. Returns -1 when loaded, or an exit code after reporting. */
static int load_runbook(lua_State *L, const options *o) {
  int status = o->code ? luaL_loadbuffer(L, o->code, strlen(o->code), "=(command line)")
                       : luaL_loadfile(L, o->script);
  if (status == LUA_OK) return -1;
  tr_end_report(status == LUA_ERRFILE ? "usage" : NULL, lua_tostring(L, -1));
  return status == LUA_ERRFILE ? TR_EXIT_USAGE : TR_EXIT_ERROR;
}

/* [-0, +r] Calls taskrun.settings[fn](label, code, path) (stdlib/taskrun/settings.lua) in
 * protected mode. Returns lua_pcall's status: LUA_OK with its `nres` results pushed (r = nres),
 * or an error with the error value pushed (r = 1). */
static int settings_call(lua_State *L, const char *fn, const char *label, const char *code,
                         const char *path, int nres) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "taskrun.settings");
  int status = lua_pcall(L, 1, 1, 0);
  if (status != LUA_OK) return status;
  lua_getfield(L, -1, fn);
  lua_remove(L, -2);
  lua_pushstring(L, label);
  lua_pushstring(L, code);   /* NULL pushes nil */
  lua_pushstring(L, path);
  return lua_pcall(L, 3, nres, 0);
}

/* [-0, +0] The settings pre-check of a run, before its first line: every setting missing for
 * the providers the runbook uses, in one usage error (README: "Settings checked before
 * anything starts"). Returns -1 to go on, or the exit code after reporting. */
static int precheck(lua_State *L, const options *o) {
  TR_STACK_BEGIN(L);
  const char *label = o->code ? "(command line)" : o->script;
  if (settings_call(L, "precheck", label, o->code, o->script, 0) == LUA_OK) {
    TR_STACK_END(L, 0, 0);
    return -1;
  }
  int err = lua_gettop(L);
  int code = tr_error_exit_code(L, err);
  /* Its message names each file:line itself. */
  tr_end_report_error(L, err, NULL, NULL, NULL, 1);
  lua_pop(L, 1);
  TR_STACK_END(L, 0, 0);
  return code;
}

/* [-0, +0] --check's reading of what the runbook calls (stdlib/taskrun/lint.lua): prints every
 * unknown global, API function and option as `file:line: message` on stderr. Returns how many
 * it found, or -1 after reporting an error. Without luacheck it warns and finds nothing. */
static int lint(lua_State *L, const char *path) {
  TR_STACK_BEGIN(L);
  int n = -1;
  lua_getglobal(L, "require");
  lua_pushliteral(L, "taskrun.lint");
  if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
    lua_getfield(L, -1, "check");
    lua_remove(L, -2);
    lua_pushstring(L, path);
    if (lua_pcall(L, 1, 2, 0) == LUA_OK) {
      if (lua_isnil(L, -2)) {
        fprintf(stderr, "taskrun: warning: %s\n", lua_tostring(L, -1));
        n = 0;
      } else {
        fputs(lua_tostring(L, -2), stderr);
        n = (int)lua_tointeger(L, -1);
      }
      lua_pop(L, 2);
      TR_STACK_END(L, 0, 0);
      return n;
    }
  }
  tr_log_report(tr_error_text(L, lua_gettop(L)), NULL);
  lua_pop(L, 1);
  TR_STACK_END(L, 0, 0);
  return n;
}

/* --check: compiles the script, then lists what lint() finds and the settings its providers
 * lack, as `file:line: message` (settings: warnings when it builds explicit clients). Exit 1
 * for a syntax error or anything lint() found, else 2 for a settings problem, else 0. Under
 * --sim the simulator gives every setting: none is checked. */
static int check_only(const options *o, const char *argv0) {
  lua_State *L = tr_host_new(argv0, o->check, NULL, 0);
  if (!L) return TR_EXIT_ERROR;
  int status = luaL_loadfile(L, o->check);
  int code = status == LUA_OK ? TR_EXIT_OK : status == LUA_ERRFILE ? TR_EXIT_USAGE : TR_EXIT_ERROR;
  if (status != LUA_OK) {
    tr_log_report(lua_tostring(L, -1), NULL);
  } else {
    lua_pop(L, 1);   /* the compiled chunk: it never runs */
    if (lint(L, o->check) != 0) code = TR_EXIT_ERROR;
    if (o->sim) {
      /* every setting is given */
    } else if (settings_call(L, "check", o->check, NULL, o->check, 2) == LUA_OK) {
      fputs(lua_tostring(L, -2), stderr);
      if (lua_toboolean(L, -1) && code == TR_EXIT_OK) code = TR_EXIT_USAGE;
      lua_pop(L, 2);
    } else {
      tr_log_report(tr_error_text(L, lua_gettop(L)), NULL);
      code = TR_EXIT_ERROR;
    }
  }
  lua_close(L);
  return code;
}

/* [-0, +0] Lua, under lua_pcall: sets taskrun.run, and os.exit to end the run as main does. */
static int push_run_protected(lua_State *L) {
  TR_STACK_BEGIN(L);
  tr_durable_push_run(L);
  tr_end_install(L);
  TR_STACK_END(L, 0, 0);
  return 0;
}

static int run(const options *o, const char *argv0) {
  lua_State *L = tr_host_new(argv0, o->script ? o->script : "-e", o->args, o->nargs);
  if (!L) return TR_EXIT_ERROR;
  lua_pushcfunction(L, push_run_protected);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    tr_log_report("out of memory", NULL);
    lua_close(L);
    return TR_EXIT_ERROR;
  }
  int code = load_runbook(L, o);
  if (code < 0) code = precheck(L, o);
  if (code < 0) {
    for (int k = 0; k < o->nargs; k++) lua_pushstring(L, o->args[k]);
    code = tr_run_main(L, o->nargs, o->timeout, o->timeout_text);
  }
  /* Lua first: its __gc hooks remove their transfers from the multi handle. */
  lua_close(L);
  return code;
}

int main(int argc, char **argv) {
  options o;
  memset(&o, 0, sizeof o);
  tr_output_init();
  int code = parse(argc, argv, &o);
  if (code >= 0) return tr_output_finish(code);
  if (o.check) return check_only(&o, argv[0]);
  if (o.init) return tr_output_finish(tr_init_main(o.ninit, o.init));
  char why[512];
  if (tr_journal_select(o.durable.journal, why, sizeof why) != 0)
    return tr_output_finish(usage_error("%s", why));
  if (o.runs) return tr_output_finish(tr_runs_main(o.nruns, o.runs, o.durable.state_dir));
  char msg[256];
  if (tr_hostq_setup(msg, sizeof msg) != 0) {
    fprintf(stderr, "taskrun: %s (see taskrun --help)\n", msg);
    return tr_output_finish(TR_EXIT_USAGE);
  }
  /* Before anything is logged: --log-on-failure holds the log from the first line. */
  tr_end_opts end = { runbook_label(&o), o.metrics_file, o.ping_url, o.ping_timeout, o.hold };
  if (tr_end_configure(&end) != 0) {
    fputs("taskrun: out of memory\n", stderr);
    return TR_EXIT_ERROR;
  }
  raise_fd_limit();
  if (tr_loop_init() != 0) {
    perror("taskrun: cannot set up the event loop");
    return tr_end_finish(TR_EXIT_ERROR);
  }
  tr_signals_install();
  /* Before the simulator: a run whose key or lock is held starts nothing at all. */
  if ((code = tr_durable_begin(&o.durable, o.script, o.args, o.nargs)) >= 0) {
    tr_loop_close();
    return tr_end_finish(tr_output_finish(code));
  }
  tr_end_started(tr_durable_run_id(), tr_durable_attempt());
  tr_sim_child sim = { 0 };
  if (o.sim && (code = tr_sim_start(&sim, argv[0], &o.sim_opts)) != 0) {
    tr_durable_end(code, 0);
    tr_loop_close();
    return tr_end_finish(code);
  }
  /* Every credential is known before the runbook runs (--sim's tokens included), so a token is
   * redacted even from output written before its first use. */
  tr_secrets_from_env();
  code = run(&o, argv[0]);
  code = tr_durable_end(code, tr_run_deadline_fired());
  /* After the Lua state: its finalizers hand their commands over to be stopped and reaped. */
  tr_child_shutdown();
  if (o.sim) tr_sim_stop(&sim);
  tr_hostq_close();
  tr_loop_close();
  code = tr_output_finish(code);
  code = tr_end_finish(code);
  tr_log_free_secrets();
  return code;
}
