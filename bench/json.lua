-- JSON decode benchmark: taskrun.json.decode on a realistic 1 KB body (one Astra task) and a
-- 1 MB body (a list of them), against the baseline measured in the same run: lua-cjson's own
-- decode (what taskrun.json used before, minus its pass that made integral numbers integers),
-- when the system's cjson module can be loaded.
--
--   ./taskrun bench/json.lua [SECONDS_PER_CASE]   (default 1)
local json = taskrun.json
local budget = tonumber(arg[1] or "1")

-- One Astra task as the API sends it: about 1 KB, strings with escapes, an id above 2^53.
local TASK = table.concat({
  '{"type":"application/astra-task","version":"1.1",',
  '"id":"%08x-5b1e-4c1d-9a0e-6f2d1b3c4a5e","name":"backup-%d",',
  '"summary":"Backup of app \\"payments\\"\\nin namespace prod","state":"running",',
  '"stateUnready":[],"stateDetails":[{"type":"https://astra.netapp.io/stateDetails/3",',
  '"title":"Copying","detail":"Copied 1234 of 5678 files"},',
  '{"type":"https://astra.netapp.io/stateDetails/4","title":"Waiting for the snapshot",',
  '"detail":"The volume snapshot of pvc-0a1b2c3d is not ready yet; retrying"}],',
  '"percentDone":%d,"startTime":"2024-05-29T10:00:00Z","parentTaskID":"",',
  '"childTasks":[%d,%d,%d],"sizeBytes":9007199254740993,"ratio":0.731,',
  '"metadata":{"labels":[{"name":"astra.netapp.io/labels/read-only/triggerType",',
  '"value":"manual"}],"creationTimestamp":"2024-05-29T10:00:00Z",',
  '"modificationTimestamp":"2024-05-29T10:05:00Z",',
  '"createdBy":"8c7f3a52-5b1e-4c1d-9a0e-6f2d1b3c4a5e"}}',
})

local function task(i)
  return string.format(TASK, i, i, i % 100, i, i + 1, i + 2)
end

local small = task(1)
local parts = {}
local size = 0
while size < 1024 * 1024 do
  parts[#parts + 1] = task(#parts + 1)
  size = size + #parts[#parts] + 1
end
local big = '{"items":[' .. table.concat(parts, ",") .. '],"metadata":{"continue":"x"}}'

-- Runs decode on body repeatedly for about `budget` seconds: microseconds per call, MB/s.
local function measure(decode, body)
  local n, t0 = 0, os.clock()
  repeat
    for _ = 1, 10 do decode(body) end
    n = n + 10
  until os.clock() - t0 >= budget
  local per = (os.clock() - t0) / n
  return per * 1e6, #body / per / 1e6
end

local ok, cjson = pcall(require, "cjson")
print(string.format("%-8s %10s %14s %10s", "body", "bytes", "decoder", "us/call  MB/s"))
for _, case in ipairs({ { "1 KB", small }, { "1 MB", big } }) do
  local us, mbs = measure(json.decode, case[2])
  print(string.format("%-8s %10d %14s %10.1f %6.0f", case[1], #case[2], "taskrun.json", us, mbs))
  if ok then
    us, mbs = measure(cjson.decode, case[2])
    print(string.format("%-8s %10d %14s %10.1f %6.0f", case[1], #case[2], "lua-cjson", us, mbs))
  end
end
