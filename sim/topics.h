/* The Redpanda cluster's topics, as GET /v1/topics lists them: seeded by the admin API and
 * scenario files, created by mount tasks and removed by unmount tasks when they finish. */
#ifndef SIM_TOPICS_H
#define SIM_TOPICS_H

#include <jansson.h>

/* Adds a topic (replacing one of that name); extra (may be NULL) is merged into its body. */
void sim_topics_add(const char *name, json_t *extra);
/* Removes a topic; 1 if it existed. */
int sim_topics_remove(const char *name);
/* Every topic whose name contains part ("" for all), sorted by name, at most limit
 * (< 0: no limit) of them starting after the name after (NULL: from the first). Sets *more
 * when topics remain past the page. Returns a new array of topic bodies. */
json_t *sim_topics_page(const char *part, const char *after, long limit, int *more);
/* Drops every topic. */
void sim_topics_clear(void);

/* Admin and scenario: adds topics from a name, an object {"name", ...} or an array of those;
 * returns the names added, or NULL and a message in err. */
json_t *sim_topics_seed(json_t *spec, char *err, size_t errsize);
/* Admin: every topic. */
json_t *sim_topics_list(void);

/* Applies the topic changes of every Redpanda mount or unmount task that has reached its
 * final state (redpanda.c); takes the store lock itself. */
void sim_redpanda_settle(void);

#endif
