-- A runbook's own coroutines around a waiting call.
--
-- A binding that waits (sleep, HTTP) yields a private sentinel to the scheduler. Inside a
-- runbook's own coroutine that yield would land in the runbook's coroutine.resume instead, so
-- resume and wrap are replaced: when the inner coroutine yields the sentinel, the wrapper
-- yields it further up (to an outer coroutine's wrapper, and finally to the scheduler), and
-- resumes the inner coroutine once the task is resumed. The inner call then finishes in its
-- own continuation and the runbook sees an ordinary return.
--
-- Installed once by the host (runtime/host.c), which passes the sentinel and a function that
-- drops the current task's pending operation. Returns close_chain(thread), which the scheduler
-- calls on a cancelled task to close the coroutines it was waiting in, innermost first.
return function(SENTINEL, abandon_op)
  local raw_resume, raw_yield = coroutine.resume, coroutine.yield
  local raw_create, raw_close = coroutine.create, coroutine.close
  local raw_status, running = coroutine.status, coroutine.running
  local isyieldable = coroutine.isyieldable

  -- outer thread -> the inner coroutine it is resuming while that one waits on the loop
  local waiting_in = setmetatable({}, { __mode = "k" })

  local function pass(inner, ok, first, ...)
    if not (ok and first == SENTINEL and raw_status(inner) == "suspended") then
      return ok, first, ...
    end
    if not isyieldable() then
      abandon_op()
      raw_close(inner)
      error("cannot wait here: a coroutine tried to wait while resumed from a place Lua cannot "
        .. "yield across (e.g. a table.sort comparator or a __gc handler)", 3)
    end
    local outer = running()
    waiting_in[outer] = inner
    raw_yield(SENTINEL)
    waiting_in[outer] = nil
    return pass(inner, raw_resume(inner))
  end

  function coroutine.resume(inner, ...)
    return pass(inner, raw_resume(inner, ...))
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
      return unwrap(inner, coroutine.resume(inner, ...))
    end
  end

  local function close_chain(thread)
    local inner = waiting_in[thread]
    if inner then
      waiting_in[thread] = nil
      close_chain(inner)
      raw_close(inner)
    end
  end
  return close_chain
end
