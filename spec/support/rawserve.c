/* A one-trick HTTP server for specs: answers every request with the bytes of a file, exactly
 * as written (LF-only header lines, odd framing), then closes the connection. taskrun-sim
 * cannot misbehave that way: libmicrohttpd always writes well-formed responses.
 *
 *   rawserve RESPONSE_FILE    prints http://127.0.0.1:PORT/ on stdout, serves until killed */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: rawserve RESPONSE_FILE\n");
    return 2;
  }
  FILE *f = fopen(argv[1], "rb");
  if (!f) {
    perror(argv[1]);
    return 1;
  }
  static char reply[1 << 20];
  size_t len = fread(reply, 1, sizeof reply, f);
  fclose(f);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t alen = sizeof a;
  if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 16) != 0 ||
      getsockname(s, (struct sockaddr *)&a, &alen) != 0) {
    perror("rawserve");
    return 1;
  }
  printf("http://127.0.0.1:%d\n", ntohs(a.sin_port));
  fflush(stdout);
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0) continue;
    /* Read the request head (a spec sends no body), then answer. */
    char buf[65536];
    size_t got = 0;
    ssize_t n;
    while (got < sizeof buf - 1 && (n = read(c, buf + got, sizeof buf - 1 - got)) > 0) {
      got += (size_t)n;
      buf[got] = '\0';
      if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n")) break;
    }
    for (size_t off = 0; off < len && (n = write(c, reply + off, len - off)) > 0;)
      off += (size_t)n;
    close(c);
  }
}
