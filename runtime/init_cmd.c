/* taskrun init [DIR]: a .luarc.json for the Lua language server, and a starter runbook. */
#include "init_cmd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run.h"

/* The starter: the README's first runbook, which runs as it is under --sim. */
static const char starter[] =
  "-- runbook.lua: start a BlueXP restore, wait for it, then say how it went.\n"
  "-- Try it against the simulator:  taskrun --sim runbook.lua\n"
  "-- Check it without running it:   taskrun --check runbook.lua\n"
  "-- The API: man taskrun-lua; an editor with the Lua language server knows it through\n"
  "-- .luarc.json.\n"
  "local bluexp = taskrun.bluexp\n"
  "\n"
  "local job = bluexp.start_restore({ restore = {\n"
  "  type = \"volume\",\n"
  "  source = { [\"working-environment-id\"] = \"VsaWorkingEnvironment-1\", "
  "[\"volume-name\"] = \"vol1\",\n"
  "             snapshot = \"daily.0\" },\n"
  "  target = { [\"working-environment-id\"] = \"VsaWorkingEnvironment-1\", svm = \"svm1\",\n"
  "             [\"volume-name\"] = \"vol1_restore\" },\n"
  "} })\n"
  "\n"
  "-- Polls at once, then backs off from 2 s to 30 s with jitter; logs every state change.\n"
  "job = job:wait({ timeout = \"2h\" })\n"
  "taskrun.log.info(\"restore finished\", { id = job.id, state = job.state })\n";

/* Whether `dir`/`name` is a readable file. */
static int has_file(const char *dir, const char *name) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) return 0;
  return access(path, R_OK) == 0;
}

/* The definitions' folder into out: beside a build's binary (the source tree's types/), else
 * where make install put them relative to the binary (bin/../share/taskrun/types). */
static int find_types(char *out, size_t size) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return -1;
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (!slash) return -1;
  *slash = '\0';
  const char *tails[] = { "types", "../share/taskrun/types" };
  for (size_t i = 0; i < sizeof tails / sizeof *tails; i++) {
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s/%s", exe, tails[i]) >= (int)sizeof dir) continue;
    if (has_file(dir, "taskrun.lua") && realpath(dir, out) && strlen(out) < size) return 0;
  }
  return -1;
}

/* Whether `dir` holds a file whose name ends in .lua. */
static int has_runbook(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  struct dirent *e;
  int found = 0;
  while (!found && (e = readdir(d))) {
    size_t len = strlen(e->d_name);
    found = len > 4 && strcmp(e->d_name + len - 4, ".lua") == 0;
  }
  closedir(d);
  return found;
}

/* Writes `text` to the new file `dir`/`name`; an existing one is left as it is, saying so.
 * Returns 0, or -1 after reporting. */
static int write_new(const char *dir, const char *name, const char *text) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
    fprintf(stderr, "taskrun init: %s/%s: the path is too long\n", dir, name);
    return -1;
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0 && errno == EEXIST) {
    printf("%s exists: left as it is\n", path);
    return 0;
  }
  size_t len = strlen(text), done = 0;
  while (fd >= 0 && done < len) {
    ssize_t w = write(fd, text + done, len - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) break;
    done += (size_t)w;
  }
  if (fd < 0 || done < len || close(fd) != 0) {
    fprintf(stderr, "taskrun init: cannot write %s: %s\n", path, strerror(errno));
    return -1;
  }
  printf("wrote %s\n", path);
  return 0;
}

/* `s` as a JSON string (a path: quotes, backslashes and control characters escaped). */
static void json_string(char *out, size_t size, const char *s) {
  size_t o = 0;
  out[o++] = '"';
  for (; *s && o + 8 < size; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      out[o++] = '\\';
      out[o++] = (char)c;
    } else if (c < 0x20) {
      o += (size_t)snprintf(out + o, size - o, "\\u%04x", c);
    } else {
      out[o++] = (char)c;
    }
  }
  out[o++] = '"';
  out[o] = '\0';
}

int tr_init_main(int argc, char **argv) {
  if (argc > 1 || (argc == 1 && argv[0][0] == '-')) {
    fprintf(stderr, "taskrun init: usage: taskrun init [DIR] (see taskrun --help)\n");
    return TR_EXIT_USAGE;
  }
  const char *dir = argc == 1 ? argv[0] : ".";
  if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "taskrun init: cannot create %s: %s\n", dir, strerror(errno));
    return TR_EXIT_USAGE;
  }
  char types[PATH_MAX];
  if (find_types(types, sizeof types) != 0) {
    fprintf(stderr, "taskrun init: the Lua definitions were not found beside this taskrun "
            "(types/ in a build, ../share/taskrun/types once installed): run make install\n");
    return TR_EXIT_USAGE;
  }
  char quoted[2 * PATH_MAX];
  json_string(quoted, sizeof quoted, types);
  char luarc[3 * PATH_MAX];
  snprintf(luarc, sizeof luarc,
           "{\n"
           "  \"runtime.version\": \"Lua 5.4\",\n"
           "  \"workspace.library\": [%s],\n"
           "  \"workspace.checkThirdParty\": false\n"
           "}\n", quoted);
  int bad = write_new(dir, ".luarc.json", luarc) != 0;
  if (has_runbook(dir))
    printf("%s has runbooks already: no starter written\n", dir);
  else
    bad |= write_new(dir, "runbook.lua", starter) != 0;
  return bad ? TR_EXIT_USAGE : TR_EXIT_OK;
}
