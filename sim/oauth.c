/* The token endpoints, one per vendor that lets a program obtain its own token:
 * - Redpanda (docs.redpanda.com/api/doc/cloud-controlplane/authentication): the
 *   OAuth2 client-credentials grant, a form POST of grant_type, client_id, client_secret and
 *   audience to an Auth0 tenant; served at /redpanda/oauth/token.
 * - Keycard (github.com/keycardai/keycard-go, requestconfig/oauth2.go): POST
 *   /service-account-token, form grant_type=client_credentials
 *   with the client ID and secret in HTTP Basic.
 * - BlueXP (docs.netapp.com/us-en/bluexp-automation/platform/create_user_token.html): the
 *   refresh-token grant, a JSON POST to an Auth0 tenant; served at /bluexp/oauth/token.
 * Errors are RFC 6749 section 5.2 bodies, {"error", "error_description"}, as Auth0 answers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "reply.h"
#include "tokens.h"
#include "util.h"
#include "vendor.h"

#define REDPANDA_AUDIENCE "cloudv2-production.redpanda.cloud"

static void oauth_error(sim_request *rq, int status, const char *error, const char *desc)
{
  sim_reply_json(rq, status, NULL, json_pack("{s:s,s:s}", "error", error,
                                             "error_description", desc));
  sim_reply_header(rq, "Cache-Control", "no-store");
}

/* The envelope for what the router answers itself: 404, 405, 413 and faults. */
static void auth_error(sim_request *rq, int status, const char *message)
{
  const char *error = status == 401   ? "invalid_client"
                      : status == 403 ? "access_denied"
                      : status == 429 ? "too_many_requests"
                      : status >= 500 ? "server_error"
                      : status == 404 ? "not_found"
                                      : "invalid_request";
  oauth_error(rq, status, error, message);
}

/* A request parameter: from a JSON object body when one was sent as JSON, else from the
 * form-encoded body. malloc'd, NULL when absent. */
static char *param(sim_request *rq, json_t *json, const char *key)
{
  if (json) {
    const char *v = json_string_value(json_object_get(json, key));
    return v ? strdup(v) : NULL;
  }
  return sim_query_get(rq->body ? rq->body : "", key, 0);
}

/* Parses a JSON body when the client says it sent JSON (Auth0 takes JSON or a form). Returns
 * -1 after answering 400 when that JSON is not an object. */
static int body_json(sim_request *rq, int json_allowed, json_t **out)
{
  const char *ctype = sim_request_header(rq, "Content-Type");
  *out = NULL;
  if (!ctype || strncasecmp(ctype, "application/json", 16) != 0) return 0;
  if (json_allowed) *out = sim_request_json(rq);
  if (!json_is_object(*out)) {
    json_decref(*out);
    *out = NULL;
    oauth_error(rq, 400, "invalid_request", json_allowed ? "The body must be a JSON object."
                : "The body must be application/x-www-form-urlencoded.");
    return -1;
  }
  return 0;
}

/* Checks the grant type; answers 400 and returns -1 when it is missing or another one. */
static int check_grant(sim_request *rq, const char *grant, const char *want)
{
  char desc[160];
  if (!grant || !*grant) {
    oauth_error(rq, 400, "invalid_request", "Missing required parameter: grant_type");
    return -1;
  }
  if (strcmp(grant, want) != 0) {
    snprintf(desc, sizeof desc, "Unsupported grant type: %.60s (this endpoint takes %s)", grant,
             want);
    oauth_error(rq, 400, "unsupported_grant_type", desc);
    return -1;
  }
  return 0;
}

static int same(const char *given, const char *want)
{
  return given && *want && strcmp(given, want) == 0;
}

static void issue(sim_request *rq, sim_provider p)
{
  char token[SIM_TOKEN_LEN + 1];
  sim_config_lock();
  double ttl = sim_cfg.token_ttl_ms[p];
  sim_config_unlock();
  sim_tokens_issue(p, ttl, token);
  sim_tokens_count(p, 0);
  /* expires_in is whole seconds, rounded down: the token lives at least that long. */
  sim_reply_json(rq, 200, NULL, json_pack("{s:s,s:s,s:I}", "access_token", token,
                                          "token_type", "Bearer",
                                          "expires_in", (json_int_t)(ttl / 1000)));
  sim_reply_header(rq, "Cache-Control", "no-store");
  sim_reply_header(rq, "Pragma", "no-cache");
}

/* 404 for any other path under the prefix, 405 for another method; 1 when it may go on. */
static int routed(sim_request *rq, const char *path)
{
  if (strcmp(rq->path, path) != 0) auth_error(rq, 404, "Not Found");
  else if (!sim_method_allowed(rq, "POST")) auth_error(rq, 405, "Method Not Allowed");
  else return 1;
  return 0;
}

static void redpanda_token(sim_request *rq)
{
  json_t *json;
  if (!routed(rq, sim_redpanda_auth.prefix)) return;
  if (body_json(rq, 1, &json) != 0) {
    sim_tokens_count(SIM_REDPANDA, 1);
    return;
  }
  char *grant = param(rq, json, "grant_type"), *id = param(rq, json, "client_id");
  char *secret = param(rq, json, "client_secret"), *audience = param(rq, json, "audience");
  char desc[160];
  sim_config_lock();
  int ok = same(id, sim_cfg.client_id[SIM_REDPANDA]) &&
           same(secret, sim_cfg.client_secret[SIM_REDPANDA]);
  sim_config_unlock();
  int refused = 1;
  if (check_grant(rq, grant, "client_credentials") != 0) {
  } else if (!ok) {
    oauth_error(rq, 401, "invalid_client", "Client authentication failed: unknown client_id or "
                "wrong client_secret.");
  } else if (!audience || !*audience) {
    oauth_error(rq, 403, "access_denied", "No audience parameter was provided, and no default "
                "audience has been configured");
  } else if (strcmp(audience, REDPANDA_AUDIENCE) != 0) {
    snprintf(desc, sizeof desc, "Service not found: %.80s", audience);
    oauth_error(rq, 403, "access_denied", desc);
  } else {
    refused = 0;
    issue(rq, SIM_REDPANDA);
  }
  if (refused) sim_tokens_count(SIM_REDPANDA, 1);
  free(grant);
  free(id);
  free(secret);
  free(audience);
  json_decref(json);
}

static void keycard_token(sim_request *rq)
{
  json_t *json;
  if (!routed(rq, sim_keycard_auth.prefix)) return;
  if (body_json(rq, 0, &json) != 0) {
    sim_tokens_count(SIM_KEYCARD, 1);
    return;
  }
  char *grant = param(rq, NULL, "grant_type"), *secret = NULL;
  char *id = MHD_basic_auth_get_username_password(rq->conn, &secret);
  /* RFC 6749 2.3.1: the ID and secret are form-encoded before they go into Basic. */
  if (id) sim_url_decode(id);
  if (secret) sim_url_decode(secret);
  sim_config_lock();
  int ok = same(id, sim_cfg.client_id[SIM_KEYCARD]) &&
           same(secret, sim_cfg.client_secret[SIM_KEYCARD]);
  sim_config_unlock();
  if (check_grant(rq, grant, "client_credentials") != 0) {
    sim_tokens_count(SIM_KEYCARD, 1);
  } else if (!ok) {
    oauth_error(rq, 401, "invalid_client", id ? "Client authentication failed: unknown client "
                "ID or wrong client secret." : "Client authentication failed: send the client "
                "ID and secret with HTTP Basic authentication.");
    sim_reply_header(rq, "WWW-Authenticate", "Basic realm=\"keycard\"");
    sim_tokens_count(SIM_KEYCARD, 1);
  } else {
    issue(rq, SIM_KEYCARD);
  }
  free(grant);
  if (id) MHD_free(id);
  if (secret) MHD_free(secret);
}

static void bluexp_token(sim_request *rq)
{
  json_t *json;
  if (!routed(rq, sim_bluexp_auth.prefix)) return;
  if (body_json(rq, 1, &json) != 0) {
    sim_tokens_count(SIM_BLUEXP, 1);
    return;
  }
  char *grant = param(rq, json, "grant_type"), *id = param(rq, json, "client_id");
  char *refresh = param(rq, json, "refresh_token");
  sim_config_lock();
  int id_ok = same(id, sim_cfg.client_id[SIM_BLUEXP]);
  int refresh_ok = same(refresh, sim_cfg.refresh_token);
  sim_config_unlock();
  int refused = 1;
  if (check_grant(rq, grant, "refresh_token") != 0) {
  } else if (!id_ok) {
    oauth_error(rq, 401, "invalid_client", "Unknown client_id: BlueXP's refresh-token grant "
                "takes the public client ID " SIM_BLUEXP_PUBLIC_CLIENT ".");
  } else if (!refresh || !*refresh) {
    oauth_error(rq, 400, "invalid_request", "Missing required parameter: refresh_token");
  } else if (!refresh_ok) {
    oauth_error(rq, 403, "invalid_grant", "Unknown or invalid refresh token.");
  } else {
    refused = 0;
    issue(rq, SIM_BLUEXP);
  }
  if (refused) sim_tokens_count(SIM_BLUEXP, 1);
  free(grant);
  free(id);
  free(refresh);
  json_decref(json);
}

static json_t *no_tasks(json_t *spec, char *err, size_t errsize)
{
  (void)spec;
  snprintf(err, errsize, "token endpoints have no tasks");
  return NULL;
}

const sim_vendor sim_redpanda_auth = { SIM_REDPANDA, "redpanda-auth", "/redpanda/oauth/token",
                                       redpanda_token, auth_error, no_tasks };
const sim_vendor sim_keycard_auth = { SIM_KEYCARD, "keycard-auth", "/service-account-token",
                                      keycard_token, auth_error, no_tasks };
const sim_vendor sim_bluexp_auth = { SIM_BLUEXP, "bluexp-auth", "/bluexp/oauth/token",
                                     bluexp_token, auth_error, no_tasks };
