-- A Kubernetes CronJob manifest, for the specs of the recipes that ship one.
local H = require("harness")
local assert = require("luassert")

local M = {}

-- The manifest at path, the Job's spec, the pod's spec and its first container.
function M.read(path)
  local doc = H.read_yaml(path)
  local job = doc.spec and doc.spec.jobTemplate and doc.spec.jobTemplate.spec
  local pod = job and job.template and job.template.spec
  return doc, job, pod, pod and pod.containers and pod.containers[1]
end

-- Asserts what makes any CronJob safe for taskrun: it never overlaps (concurrencyPolicy
-- Forbid), skips a start missed by too long (startingDeadlineSeconds, at least the controller's
-- 10 s), and leaves restarts to new pods (restartPolicy Never: a resumed run is a new process).
function M.assert_safe(doc, pod)
  assert.are.same({ "batch/v1", "CronJob" }, { doc.apiVersion, doc.kind })
  assert.are.equal("Forbid", doc.spec.concurrencyPolicy)
  assert.are.equal("number", type(doc.spec.startingDeadlineSeconds))
  assert.is_true(doc.spec.startingDeadlineSeconds >= 10)
  assert.are.equal("Never", pod.restartPolicy)
end

return M
