-- A runbook's own coroutines around a waiting call.
--
-- A binding that waits (sleep, HTTP, join) yields a private sentinel to the scheduler. Inside a
-- runbook's own coroutine that yield would land in the runbook's coroutine.resume instead, so
-- resume and wrap are replaced: when the inner coroutine yields the sentinel, the wrapper
-- yields it further up (to an outer coroutine's wrapper, and finally to the scheduler), and
-- resumes the inner coroutine once the task is resumed. The inner call then finishes in its
-- own continuation and the runbook sees an ordinary return.
--
-- While it waits, such a coroutine belongs to the loop: resuming or closing it from anywhere
-- else (another task, a __gc) raises kind usage, and so does resuming or closing a task's own
-- thread, which only the scheduler runs.
--
-- Installed once by the host (runtime/host.c), which passes the sentinel, a function that drops
-- the current task's pending operation, task_id(thread) (the id of the task whose own thread it
-- is, or nil) and taskrun.error. Returns close_chain(thread), which the scheduler calls on a
-- cancelled task to close the coroutines it was waiting in, innermost first; it returns the
-- list of errors their <close> handlers raised.
return function(SENTINEL, abandon_op, task_id, make_error)
  local raw_resume, raw_yield = coroutine.resume, coroutine.yield
  local raw_create, raw_close = coroutine.create, coroutine.close
  local raw_status, running = coroutine.status, coroutine.running
  local isyieldable = coroutine.isyieldable
  local select, type = select, type

  -- outer thread -> the inner coroutine it is resuming while that one waits on the loop
  local waiting_in = setmetatable({}, { __mode = "k" })
  -- every coroutine parked in such a wait (at any depth of a chain)
  local parked = setmetatable({}, { __mode = "k" })

  -- Raises kind usage when co belongs to the scheduler: `what` is "resume" or "close".
  local function check_free(co, what)
    if type(co) ~= "thread" then return end
    if parked[co] then
      error(make_error("usage", "coroutine." .. what .. ": this coroutine is waiting on taskrun "
        .. "(a sleep, HTTP request or join inside it) and carries on by itself when that ends; "
        .. "it cannot be " .. what .. "d meanwhile"), 3)
    end
    local id = task_id(co)
    if id then
      error(make_error("usage", "coroutine." .. what .. ": this coroutine is task " .. id
        .. "'s own; only taskrun runs it: use the task's handle (h:join(), h:cancel())"), 3)
    end
  end

  local function pass(inner, ok, ...)
    if not (ok and select("#", ...) == 1 and ... == SENTINEL
            and raw_status(inner) == "suspended") then
      return ok, ...
    end
    if not isyieldable() then
      abandon_op()
      raw_close(inner)
      error("cannot wait here: a coroutine tried to wait while resumed from a place Lua cannot "
        .. "yield across (e.g. a table.sort comparator or a __gc handler)", 3)
    end
    local outer = running()
    waiting_in[outer] = inner
    parked[inner] = true
    raw_yield(SENTINEL)
    parked[inner] = nil
    waiting_in[outer] = nil
    return pass(inner, raw_resume(inner))
  end

  local function resume(inner, ...)
    check_free(inner, "resume")
    return pass(inner, raw_resume(inner, ...))
  end
  coroutine.resume = resume

  function coroutine.close(co)
    check_free(co, "close")
    return raw_close(co)
  end

  -- As lua's own wrap: errors propagate, with the caller's position on string errors, after
  -- the dead coroutine's pending <close> variables are closed.
  local function unwrap(inner, ok, ...)
    if ok then return ... end
    local err = ...
    if raw_status(inner) == "dead" then raw_close(inner) end
    error(err, type(err) == "string" and 2 or 0)
  end

  function coroutine.wrap(f)
    local inner = raw_create(f)
    return function(...)
      return unwrap(inner, resume(inner, ...))
    end
  end

  local function close_chain(thread, errors)
    errors = errors or {}
    local inner = waiting_in[thread]
    if inner then
      waiting_in[thread] = nil
      close_chain(inner, errors)
      parked[inner] = nil
      local ok, err = raw_close(inner)
      if not ok then errors[#errors + 1] = err end
    end
    return errors
  end
  return close_chain
end
