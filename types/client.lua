---@meta taskrun.clients
-- Provider clients. Each provider module's functions use a default client configured from the
-- environment on first use; `mod.client{...}` makes an explicit one, with the same functions as
-- methods: `taskrun.redpanda.client{ url = u, token = t }:mount_task(7)`.

---A token, or a function returning one and its lifetime in seconds (called again to renew it).
---@alias taskrun.Token string|fun(): string, number?

---The options every provider's `client{}` takes. An option not in its provider's list is
---ignored at run time: `taskrun --check` reports it.
---@class taskrun.ClientOptions
---@field url? string The API's base URL (else the provider's URL variable, or its default).
---@field token? taskrun.Token The bearer token (else the provider's token variables).
---@field timeout? taskrun.Duration Each request's total timeout (60s).
---@field headers? table<string, string> Headers added to every request.
---@field max_inflight? integer The most of this client's requests in flight to its host at once (lowers TASKRUN_MAX_INFLIGHT).
---@field rate? string The most requests per unit of time this client starts: "20/s", "100/m" (off by default).
