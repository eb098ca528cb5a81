/* taskrun-sim: the command line, process limits, signals, and the order of start and stop. */
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include "config.h"
#include "faults.h"
#include "reqlog.h"
#include "scenario.h"
#include "server.h"
#include "store.h"
#include "tokens.h"
#include "topics.h"
#include "util.h"

static const char usage[] =
  "usage: taskrun-sim [--host 127.0.0.1] [--port N] [--scenario FILE] [--seed N]\n"
  "                   [--request-log FILE] [--threads N] [--speed X] [--token-ttl D]\n"
  "                   [--redpanda-client-id ID] [--redpanda-client-secret S]\n"
  "                   [--keycard-client-id ID] [--keycard-client-secret S]\n"
  "                   [--bluexp-refresh-token T] [--bluexp-client-id ID] [--help]\n"
  "Serves the Redpanda, Keycard, Astra and BlueXP task APIs on one base URL, printed as the\n"
  "first line of stdout once it accepts connections. See sim/README.md.\n";

typedef struct {
  const char *host;
  long port;
  const char *scenario;
  const char *request_log;
  long threads;
  double speed;           /* 0 when not given */
  int has_seed;
  unsigned long long seed;
  double token_ttl_ms;    /* 0 when not given */
  json_t *credentials;    /* {"redpanda": {"client_id": ...}} from the credential flags */
} sim_cli;

/* The credential flags, as the scenario file's "credentials" key spells them. */
static const struct {
  const char *flag, *provider, *key;
} credential_flags[] = {
  { "--redpanda-client-id", "redpanda", "client_id" },
  { "--redpanda-client-secret", "redpanda", "client_secret" },
  { "--keycard-client-id", "keycard", "client_id" },
  { "--keycard-client-secret", "keycard", "client_secret" },
  { "--bluexp-refresh-token", "bluexp", "refresh_token" },
  { "--bluexp-client-id", "bluexp", "client_id" },
};

/* Returns 1 when flag is a credential flag (value recorded), 0 when it is not. */
static int credential_flag(sim_cli *cli, const char *flag, const char *value)
{
  for (size_t i = 0; i < sizeof credential_flags / sizeof credential_flags[0]; i++) {
    if (strcmp(flag, credential_flags[i].flag) != 0) continue;
    if (!cli->credentials) cli->credentials = json_object();
    json_t *one = json_object_get(cli->credentials, credential_flags[i].provider);
    if (!one) {
      one = json_object();
      json_object_set_new(cli->credentials, credential_flags[i].provider, one);
    }
    json_object_set_new(one, credential_flags[i].key, json_string(value));
    return 1;
  }
  return 0;
}

static int bad_flag(const char *msg, const char *arg)
{
  fprintf(stderr, "taskrun-sim: %s%s%s\n%s", msg, arg ? ": " : "", arg ? arg : "", usage);
  return 2;
}

/* Returns -1 to go on, or the exit code to leave with. */
static int parse_cli(int argc, char **argv, sim_cli *cli)
{
  for (int i = 1; i < argc; i++) {
    const char *flag = argv[i];
    if (strcmp(flag, "--help") == 0 || strcmp(flag, "-h") == 0) {
      fputs(usage, stdout);
      return 0;
    }
    if (i + 1 >= argc) return bad_flag("unknown flag or missing value", flag);
    const char *value = argv[++i];
    char *end;
    if (strcmp(flag, "--host") == 0) {
      struct in_addr addr;
      if (inet_pton(AF_INET, value, &addr) != 1) return bad_flag("--host must be IPv4", value);
      cli->host = value;
    } else if (strcmp(flag, "--port") == 0) {
      if (sim_parse_long(value, 0, 65535, &cli->port) != 0) return bad_flag("bad --port", value);
    } else if (strcmp(flag, "--scenario") == 0) {
      cli->scenario = value;
    } else if (strcmp(flag, "--request-log") == 0) {
      cli->request_log = value;
    } else if (strcmp(flag, "--threads") == 0) {
      if (sim_parse_long(value, 1, 256, &cli->threads) != 0) {
        return bad_flag("bad --threads", value);
      }
    } else if (strcmp(flag, "--speed") == 0) {
      cli->speed = strtod(value, &end);
      if (*end || !(cli->speed > 0)) return bad_flag("bad --speed", value);
    } else if (strcmp(flag, "--seed") == 0) {
      cli->seed = strtoull(value, &end, 10);
      if (*end || !*value) return bad_flag("bad --seed", value);
      cli->has_seed = 1;
    } else if (strcmp(flag, "--token-ttl") == 0) {
      if (sim_parse_duration(value, &cli->token_ttl_ms) != 0) {
        return bad_flag("bad --token-ttl (e.g. 2s, 500ms, 1h)", value);
      }
    } else if (credential_flag(cli, flag, value)) {
      if (!*value) return bad_flag("empty value", flag);
    } else {
      return bad_flag("unknown flag", flag);
    }
  }
  return -1;
}

/* Specs hold a thousand connections and benchmarks ten thousand: the soft limit won't do. */
static void raise_fd_limit(void)
{
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static int run(const sim_cli *cli, sigset_t *signals)
{
  char err[256] = "";
  if (cli->scenario && sim_scenario_load(cli->scenario, err, sizeof err) != 0) {
    fprintf(stderr, "taskrun-sim: scenario %s: %s\n", cli->scenario, err);
    return 2;
  }
  /* Flags win over the scenario file. */
  if (cli->speed > 0) sim_cfg.speed = cli->speed;
  if (cli->has_seed) sim_rng_seed(cli->seed);
  if (cli->token_ttl_ms > 0) {
    for (int i = 0; i < SIM_PROVIDERS; i++) sim_cfg.token_ttl_ms[i] = cli->token_ttl_ms;
  }
  if (cli->credentials) {
    json_t *settings = json_pack("{s:O}", "credentials", cli->credentials);
    sim_config_apply(settings, err, sizeof err);
    json_decref(settings);
  }
  sim_config_snapshot();
  if (cli->request_log && sim_reqlog_open(cli->request_log) != 0) {
    fprintf(stderr, "taskrun-sim: cannot write the request log %s\n", cli->request_log);
    return 2;
  }
  long threads = cli->threads ? cli->threads : sysconf(_SC_NPROCESSORS_ONLN);
  if (threads < 1) threads = 1;
  if (sim_server_start(cli->host, (unsigned)cli->port, (unsigned)threads) != 0) return 1;
  printf("http://%s:%u\n", cli->host, sim_server_port());
  fflush(stdout);
  fprintf(stderr, "taskrun-sim: listening on %s:%u with %ld threads\n", cli->host,
          sim_server_port(), threads);
  int sig = 0;
  sigwait(signals, &sig);
  fprintf(stderr, "taskrun-sim: signal %d, stopping\n", sig);
  sim_server_stop();
  return 0;
}

int main(int argc, char **argv)
{
  sim_cli cli = { .host = "127.0.0.1" };
  int rc = parse_cli(argc, argv, &cli);
  if (rc >= 0) {
    json_decref(cli.credentials);
    return rc;
  }
  raise_fd_limit();
  signal(SIGPIPE, SIG_IGN);
  /* Blocked before any thread starts, so every thread inherits the mask and only sigwait
   * in the main thread ever sees them. */
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, NULL);
  sim_rng_seed((unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 32));
  sim_config_defaults();
  rc = run(&cli, &signals);
  json_decref(cli.credentials);
  sim_scenario_free();
  sim_tokens_clear();
  sim_topics_clear();
  sim_store_clear();
  sim_faults_clear();
  sim_reqlog_close();
  sim_config_free();
  return rc;
}
