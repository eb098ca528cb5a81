/* taskrun-stub: a misbehaving HTTP server for the specs. It answers the n-th connection with
 * the bytes of the n-th FILE (the last one again once they run out), exactly as they are:
 * broken framing, bare LF line ends, lying lengths. Plain sockets, one process per connection.
 *
 *   taskrun-stub [--port N] [--fill BYTES] [--hold] [--record DIR] FILE...
 *
 * --port 0 (the default) takes a free loopback port; the first line on stdout is the base URL.
 * --fill BYTES writes that many more bytes ('0') after the file: a body as big as asked without
 * a file that big. --hold keeps the connection open after writing, silent, until the client
 * closes it: a server that stalls. --record DIR writes each connection's request (head and
 * body, as received) to DIR/N, N counting connections from 1; the file appears whole (written
 * as DIR/N.tmp, then renamed), once the request was read. SIGTERM stops it. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* A connection nobody closes ends anyway: a spec's hang guard is longer than this. */
#define HOLD_LIMIT_SECONDS 300

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Appends n bytes to the request being recorded (rec, -1: none). */
static void record(int rec, const char *p, size_t n) {
  if (rec >= 0 && write_all(rec, p, n) != 0) _exit(1);
}

/* Reads the request head, and a body as long as its Content-Length says: the client must have
 * sent everything before the answer, or closing would reset the connection under it. What it
 * reads goes to `rec` too. */
static void read_request(int c, int rec) {
  char buf[65536];
  size_t got = 0;
  char *end = NULL;
  while (!end && got < sizeof buf - 1) {
    ssize_t n = read(c, buf + got, sizeof buf - 1 - got);
    if (n <= 0) return;
    got += (size_t)n;
    buf[got] = '\0';
    end = strstr(buf, "\r\n\r\n");
  }
  record(rec, buf, got);
  if (!end) return;
  long body = 0;
  for (char *p = buf; p < end; p++)
    if (strncasecmp(p, "\ncontent-length:", 16) == 0) body = strtol(p + 16, NULL, 10);
  long have = (long)(got - (size_t)(end + 4 - buf));
  while (have < body) {
    ssize_t n = read(c, buf, sizeof buf);
    if (n <= 0) return;
    record(rec, buf, (size_t)n);
    have += n;
  }
}

/* Reads the request, recorded as DIR/n when a directory is given. */
static void take_request(int c, const char *dir, int n) {
  if (!dir) {
    read_request(c, -1);
    return;
  }
  char tmp[4096], final[4096];
  snprintf(tmp, sizeof tmp, "%s/%d.tmp", dir, n);
  snprintf(final, sizeof final, "%s/%d", dir, n);
  int rec = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (rec < 0) {
    perror(tmp);
    _exit(1);
  }
  read_request(c, rec);
  if (close(rec) != 0 || rename(tmp, final) != 0) {
    perror(final);
    _exit(1);
  }
}

static void answer(int c, const char *path, long long fill, int hold, const char *dir, int nth) {
  alarm(HOLD_LIMIT_SECONDS);
  take_request(c, dir, nth);
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    perror(path);
    _exit(1);
  }
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0)
    if (write_all(c, buf, (size_t)n) != 0) _exit(0);
  close(fd);
  memset(buf, '0', sizeof buf);
  while (fill > 0) {
    size_t step = fill > (long long)sizeof buf ? sizeof buf : (size_t)fill;
    if (write_all(c, buf, step) != 0) _exit(0);
    fill -= (long long)step;
  }
  if (hold)
    while (read(c, buf, sizeof buf) > 0) {}
  _exit(0);
}

static int usage(void) {
  fprintf(stderr, "usage: taskrun-stub [--port N] [--fill BYTES] [--hold] [--record DIR] "
          "FILE...\n");
  return 2;
}

int main(int argc, char **argv) {
  int port = 0, hold = 0, i = 1;
  long long fill = 0;
  const char *dir = NULL;
  for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
    if (strcmp(argv[i], "--hold") == 0) hold = 1;
    else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) port = atoi(argv[++i]);
    else if (strcmp(argv[i], "--fill") == 0 && i + 1 < argc) fill = atoll(argv[++i]);
    else if (strcmp(argv[i], "--record") == 0 && i + 1 < argc) dir = argv[++i];
    else return usage();
  }
  if (i >= argc) return usage();
  char **files = argv + i;
  int nfiles = argc - i;
  signal(SIGPIPE, SIG_IGN);
  signal(SIGCHLD, SIG_IGN);   /* children are reaped by the kernel */
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                           .sin_port = htons((unsigned short)port) };
  socklen_t alen = sizeof a;
  int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 128) != 0 ||
      getsockname(s, (struct sockaddr *)&a, &alen) != 0) {
    perror("taskrun-stub: listen");
    return 1;
  }
  printf("http://127.0.0.1:%d\n", ntohs(a.sin_port));
  fflush(stdout);
  for (int n = 0;; n++) {
    int c = accept(s, NULL, NULL);
    if (c < 0) {
      if (errno == EINTR) continue;
      perror("taskrun-stub: accept");
      return 1;
    }
    pid_t pid = fork();
    if (pid == 0) {
      /* Whoever reads our stdout (a spec) waits for its end: children must not hold it. */
      int null = open("/dev/null", O_WRONLY);
      if (null >= 0) dup2(null, STDOUT_FILENO);
      close(s);
      answer(c, files[n < nfiles ? n : nfiles - 1], fill, hold, dir, n + 1);
    }
    close(c);
  }
}
