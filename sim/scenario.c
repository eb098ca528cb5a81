/* A scenario is the admin API in a file: settings first, then tasks, topics, faults. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "admin.h"
#include "config.h"
#include "faults.h"
#include "scenario.h"
#include "topics.h"
#include "util.h"

static char *scenario_path;

static int apply(json_t *doc, int with_settings, char *err, size_t errsize)
{
  if (!json_is_object(doc)) {
    snprintf(err, errsize, "a scenario must be a JSON object");
    return -1;
  }
  json_t *seed = json_object_get(doc, "seed");
  if (seed && !json_is_integer(seed)) {
    snprintf(err, errsize, "seed must be an integer");
    return -1;
  }
  if (seed) sim_rng_seed((uint64_t)json_integer_value(seed));
  if (with_settings && sim_config_apply(doc, err, errsize) != 0) return -1;
  json_t *tasks = json_object_get(doc, "tasks");
  if (tasks) {
    json_t *made = sim_admin_create_tasks(tasks, err, errsize);
    if (!made) return -1;
    json_decref(made);
  }
  json_t *topics = json_object_get(doc, "topics");
  if (topics) {
    json_t *names = sim_topics_seed(topics, err, errsize);
    if (!names) return -1;
    json_decref(names);
  }
  json_t *faults = json_object_get(doc, "faults");
  if (faults) {
    json_t *ids = sim_admin_add_faults(faults, err, errsize);
    if (!ids) return -1;
    json_decref(ids);
  }
  return 0;
}

static int load(const char *path, int with_settings, char *err, size_t errsize)
{
  json_error_t jerr;
  json_t *doc = json_load_file(path, 0, &jerr);
  if (!doc) {
    snprintf(err, errsize, "line %d: %s", jerr.line, jerr.text);
    return -1;
  }
  int rc = apply(doc, with_settings, err, errsize);
  json_decref(doc);
  if (rc == 0 && scenario_path != path) {
    free(scenario_path);
    scenario_path = strdup(path);
  }
  return rc;
}

int sim_scenario_load(const char *path, char *err, size_t errsize)
{
  return load(path, 1, err, errsize);
}

/* Settings are not reapplied: the reset restores them from the snapshot taken at start,
 * which also holds the command-line flags that override the file. */
int sim_scenario_reload(char *err, size_t errsize)
{
  return scenario_path ? load(scenario_path, 0, err, errsize) : 0;
}

void sim_scenario_free(void)
{
  free(scenario_path);
  scenario_path = NULL;
}
