---@meta taskrun.json
-- taskrun.json: JSON with integers kept integers, and arrays that stay arrays when empty.

---@class taskrun.json
---@field null lightuserdata JSON's null, as decoded and to encode.
taskrun.json = {}

---The value of JSON text: integral numbers become Lua integers; more than 1,000 levels of
---nesting, or a number a double cannot hold, is kind `decode` (with `position`).
---@param s string
---@return any value
function taskrun.json.decode(s) end

---Compact JSON text; objects with their keys sorted; a table with __pairs as pairs reads it.
---@param v any
---@return string text
function taskrun.json.encode(v) end

---Marks `t` (a new table when nil) so that it encodes as an array, even empty.
---@param t? table
---@return table t
function taskrun.json.array(t) end

---Whether `v` is a table marked as (or decoded from) a JSON array.
---@param v any
---@return boolean
function taskrun.json.is_array(v) end
