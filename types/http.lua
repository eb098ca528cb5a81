---@meta taskrun.http
-- taskrun.http: HTTP for runbooks (libcurl): keep-alive, HTTP/2 where offered, gzip, proxies
-- from the environment. An HTTP error status is a response, not an error.

---@class taskrun.http
---@field MIN_TIMEOUT number Less time left before a wait's deadline: a request is not sent.
taskrun.http = {}

---The options of `taskrun.http.get` and the other methods' helpers.
---@class taskrun.http.Options
---@field query? table<string, string|number|(string|number)[]> A list value repeats its key.
---@field headers? table<string, string>
---@field body? string The request body.
---@field json? any A value sent as JSON, with Content-Type: application/json.
---@field timeout? taskrun.Duration Total (60s).
---@field connect_timeout? taskrun.Duration (10s).
---@field follow? boolean Follow redirects (false: a redirect is an answer).
---@field max_body? integer The largest response body taken, in bytes (64 MiB).
---@field max_inflight? integer This request waits while this many requests to its host are in flight (lowers TASKRUN_MAX_INFLIGHT).
---@field rate? string The requests to its host made with this rate start no more often: "20/s", "100/m".
---@field max_retry_after? taskrun.Duration The longest another request's Retry-After on this host may hold this one back (5 min).

---The options of `taskrun.http.request`.
---@class taskrun.http.Request: taskrun.http.Options
---@field method? string GET unless given.
---@field url string

---@class taskrun.http.Response
---@field status integer
---@field headers table<string, string> Lower-case names.
---@field body string
---@field url string
---@field method string
---@field retry_after? number Seconds, when the server sent Retry-After.
---@field elapsed number Seconds the request took.
local Response = {}

---The body decoded as JSON; a body that is not JSON raises kind `decode`.
---@return any
function Response:json() end

---Sends a request; only a failure to get a response raises (kind `transport`).
---@param opts taskrun.http.Request
---@return taskrun.http.Response
function taskrun.http.request(opts) end

---@param url string
---@param opts? taskrun.http.Options
---@return taskrun.http.Response
function taskrun.http.get(url, opts) end

---@param url string
---@param opts? taskrun.http.Options
---@return taskrun.http.Response
function taskrun.http.post(url, opts) end

---@param url string
---@param opts? taskrun.http.Options
---@return taskrun.http.Response
function taskrun.http.put(url, opts) end

---@param url string
---@param opts? taskrun.http.Options
---@return taskrun.http.Response
function taskrun.http.patch(url, opts) end

---@param url string
---@param opts? taskrun.http.Options
---@return taskrun.http.Response
function taskrun.http.delete(url, opts) end

---@param url string
---@param opts? taskrun.http.Options
---@return taskrun.http.Response
function taskrun.http.head(url, opts) end

---Caps every request the running coroutine makes at `deadline` (`taskrun.now()` seconds) until
---the returned value is closed: `local scope <close> = taskrun.http.deadline_scope(d)`.
---`taskrun.wait` does this around each poll.
---@param deadline number
---@return table scope A to-be-closed value.
function taskrun.http.deadline_scope(deadline) end

---The same cap without a scope object, for code that undoes it itself whatever happens (a
---fetch run in pcall): `local co, d, h = taskrun.http.push_deadline(d)`, then
---`taskrun.http.pop_deadline(co, d, h)`. `taskrun.wait_all` does this around each poll.
---@param deadline number
---@param max_retry_after? number The longest a host's Retry-After may hold the requests back.
---@return thread co, number? outer, number? outer_hold What pop_deadline takes.
function taskrun.http.push_deadline(deadline, max_retry_after) end

---Undoes a push_deadline: give it what push_deadline returned.
---@param co thread
---@param outer number?
---@param outer_hold number?
function taskrun.http.pop_deadline(co, outer, outer_hold) end

---The deadline of the wait the running coroutine polls for, or nil outside a wait.
---@return number?
function taskrun.http.current_deadline() end
