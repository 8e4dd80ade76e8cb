-- edgeheal scorer runtime for Vector's `lua` transform (version 2, Lua 5.4).
--
-- A line-for-line port of the edge core's per-entity state and scoring
-- (plugin/src: baseline.rs, sketch.rs, entity.rs, features.rs, forest.rs,
-- classifier.rs, scorer.rs, lru.rs, filter.rs `observe`, tags.rs). The
-- `edgeheal-normalize.vrl` remap writes each record's observation to
-- `._edgeheal_in`; `process` folds it into the pod's and workload's state,
-- scores the families that changed with the generated forests (`MODEL`,
-- above this runtime in the generated file), and replaces `._edgeheal_in` by
-- the `edgeheal` tag object.
--
-- Exactness: every float operation is done in the order the Rust core does it
-- (the Lua VM never fuses multiply-add), features are rounded to f32 before
-- the trees see them like scikit-learn does, and leaf path lengths are
-- precomputed by the exporter with the core's own code. Scores agree with the
-- native core to the last bit, up to libm's `pow` vs `exp2` (<= 1 ulp).
--
-- Vector turns Lua `nil` into a missing key and an empty table into `{}`: the
-- `edgeheal_finalize` remap after this transform restores `null` fields and
-- `why: []`, so the tag object is exactly the Fluent Bit filter's.

-- `CONFIG` (filter.rs `FilterConfig`) and `MODEL` (nil without models) are
-- locals of the generated part above.

local floor = math.floor
local log = math.log
local huge = math.huge
local spack, sunpack = string.pack, string.unpack

local M = {}

-- ---- shared vocabulary (verdict.rs, features.rs) ---------------------------

-- Family::ALL order; index i is Family::index() + 1.
local FAMILIES = { "cpu", "memory", "traffic", "errors", "latency", "restarts" }
local CPU, MEMORY, TRAFFIC, ERRORS, LATENCY, RESTARTS = 1, 2, 3, 4, 5, 6
local FEATURE_NAMES = {
  { "cpu_log_ratio", "cpu_held" },
  { "mem_log_ratio", "mem_trend" },
  { "rate_log_ratio", "rate_held" },
  { "error_ratio", "error_ratio_delta", "error_log_ratio" },
  { "p50_log_ratio", "p95_log_ratio", "slow_share" },
  { "restarts", "backoffs", "oom_kills", "unhealthy" },
}
-- Context the classifier sees after a family's features, its forest not
-- (features.rs `context`).
local CONTEXT_NAMES = {
  {}, { "mem_held", "mem_rise" }, { "rate_last_log_ratio", "rate_now_log_ratio" }, { "error_excess" }, {}, {},
}
-- Offset of each family's features and context in the classifier vector
-- (0-based), and their count (features.rs `width`).
local OFFSET, WIDTH = {}, {}
-- Where `rate_now_log_ratio` is among the traffic family's values (1-based;
-- features.rs `RATE_NOW`).
local RATE_NOW = #FEATURE_NAMES[TRAFFIC] + 2
local CLASSIFIER_LEN = 0
for f = 1, 6 do
  OFFSET[f] = CLASSIFIER_LEN
  WIDTH[f] = #FEATURE_NAMES[f] + #CONTEXT_NAMES[f]
  CLASSIFIER_LEN = CLASSIFIER_LEN + WIDTH[f]
end
-- Family::incident()
-- scorer.rs VETO_PROBABILITY, CRITICAL_VETO_PROBABILITY and SWITCH_PROBABILITY.
local VETO_PROBABILITY = 0.1
local CRITICAL_VETO_PROBABILITY = 0.5
local SWITCH_PROBABILITY = 0.5
local FAMILY_INCIDENT = {
  "cpu_saturation", "memory_leak", "traffic_surge", "error_burst", "latency_spike", "crash_loop",
}
-- Incident::recommended_action()
local ACTION = {
  cpu_saturation = "scale_up",
  traffic_surge = "scale_up",
  latency_spike = "scale_up",
  memory_leak = "rollout_restart",
  error_burst = "rollout_restart",
  crash_loop = "delete_pod",
  unknown = "none",
}
-- Resources and restarts are read from the pod first, service signals from
-- the workload first (scorer.rs `pod_first`).
local POD_FIRST = { true, true, false, false, false, true }

-- ---- numbers ---------------------------------------------------------------

-- f64::max / f64::min: a NaN operand yields the other operand.
local function fmax(a, b)
  if a ~= a then return b end
  if b ~= b then return a end
  if b > a then return b end
  return a
end

local function finite(x)
  return x == x and x ~= huge and x ~= -huge
end

local function finite_or_zero(x)
  if finite(x) then return x end
  return 0.0
end

local function clamp(x, lo, hi)
  if x < lo then return lo end
  if x > hi then return hi end
  return x
end

-- `v as f32` back to f64 (round to nearest, ties to even).
local function f32(x)
  return (sunpack("f", spack("f", x)))
end

-- ---- baseline.rs: gated EWMA -----------------------------------------------

local GATE_Z = 4.0
local GATED_WEIGHT = 0.1
local ABSURD_Z = 1e3

local function ewma()
  return { mean = 0.0, dev = 0.0, n = 0 }
end

local function ewma_z(b, x, rel_floor, abs_floor)
  local mean = b.mean
  local scale = fmax(fmax(b.dev, rel_floor * math.abs(mean)), abs_floor)
  local z = (x - mean) / scale
  if finite(z) then
    return clamp(z, -1e6, 1e6)
  end
  return 0.0
end

-- `bounded`: baseline.rs `update_bounded` (CPU and memory).
local function ewma_update(b, x, alpha, rel_floor, abs_floor, bounded)
  if not finite(x) then return end
  local n = b.n
  if n == 0 then
    b.mean = x
    b.dev = 0.0
    b.n = 1
    return
  end
  local warm = 1.0 / (n + 1.0)
  local a = fmax(alpha, warm)
  if n >= 4 then
    local z = ewma_z(b, x, rel_floor, abs_floor)
    if math.abs(z) > GATE_Z then a = a * GATED_WEIGHT end
    -- An absurd value counts as ABSURD_Z deviations out (baseline.rs).
    if bounded and math.abs(z) > ABSURD_Z then
      local scale = fmax(fmax(b.dev, rel_floor * math.abs(b.mean)), abs_floor)
      local sign = 1.0
      if z < 0 then sign = -1.0 end
      x = b.mean + ABSURD_Z * scale * sign
    end
  end
  local diff = x - b.mean
  b.mean = b.mean + a * diff
  b.dev = b.dev + a * (math.abs(diff) - b.dev)
  if n < 4294967295 then b.n = n + 1 end
end

-- Moves the mean by `by` once there is one (baseline.rs `shift`).
local function ewma_shift(b, by)
  if b.n > 0 and finite(by) then b.mean = b.mean + by end
end

local ALPHA = 1.0 - 0.5 ^ (1.0 / fmax(CONFIG.baseline_half_life, 1.0))

-- ---- sketch.rs: log-scale latency histogram ---------------------------------

local BINS = 72
local MIN_MS = 0.1
local GROWTH = 1.5
local LN_GROWTH = log(GROWTH)
local BIN_VALUE = {}
for i = 0, BINS - 1 do
  BIN_VALUE[i] = MIN_MS * GROWTH ^ (i + 0.5)
end

local function bin_of(ms)
  if ms ~= ms or ms <= MIN_MS then return 0 end
  local i = log(ms / MIN_MS) / LN_GROWTH
  if i >= BINS - 1 then return BINS - 1 end
  return floor(i)
end

-- A sketch is a sparse table bin -> count plus `n`, the sample count.
local function quantile(bins, count, q)
  if count == 0 then return nil end
  local rank = fmax(math.ceil(clamp(q, 0.0, 1.0) * count) + 0.0, 1.0)
  local seen = 0.0
  for i = 0, BINS - 1 do
    local c = bins[i]
    if c then
      seen = seen + c
      if seen >= rank then return BIN_VALUE[i] end
    end
  end
  return BIN_VALUE[BINS - 1]
end

-- Share of the samples whose bin lies wholly above `ms` (0 when empty).
local function share_above(bins, count, ms)
  if count == 0 then return 0.0 end
  local first = 0
  if ms == ms then first = bin_of(ms) + 1 end
  local above = 0.0
  for i = first, BINS - 1 do
    local c = bins[i]
    if c then above = above + c end
  end
  return above / count
end

-- ---- features.rs -------------------------------------------------------------

local RATE_EPS = 0.01
local CPU_EPS = 0.005
local MEM_EPS = 1024.0 * 1024.0
local ERROR_EPS = 0.01
local SLOW_FACTOR = 4.0

local function log_ratio(x, base, eps)
  local r = log((fmax(x, 0.0) + eps) / (fmax(base, 0.0) + eps))
  if finite(r) then return clamp(r, -20.0, 20.0) end
  return 0.0
end

-- features.rs `up`: only rises above normal count.
local function up(x)
  if x > 0.0 then return x end
  return 0.0
end

-- ---- entity.rs -----------------------------------------------------------------

local MAX_CONTAINERS = 8
local RESTART_SLOTS = 16
local RESTART_KINDS = 4
local STALE_NS = 5 * 60 * 1000000000
local BUCKET_NS = CONFIG.bucket_seconds * 1000000000
if BUCKET_NS < 1 then BUCKET_NS = 1 end
local RESTART_SLOT_NS = (CONFIG.restart_window_seconds * 1000000000) // RESTART_SLOTS
if RESTART_SLOT_NS < 1 then RESTART_SLOT_NS = 1 end
local WINDOW = CONFIG.window_buckets
if WINDOW < 1 then WINDOW = 1 end
local WARMUP = CONFIG.warmup
local BUCKET_SECONDS = CONFIG.bucket_seconds + 0.0

-- When records far behind a window's clock (ten minutes, or the whole
-- window if longer) keep coming in time order, CLOCK_STEP_RECORDS of them
-- over a window of their own time with none near the clock between them, the
-- clock moves back to them, so a record stamped years ahead cannot hold the
-- window there (the core's `entity::steps_back`). `e[key]` is the run so far:
-- { first, last, records }.
local CLOCK_STEP_NS = 600000000000
local CLOCK_STEP_RECORDS = 16
-- Whether step `idx` is far behind the clock at step `cur`: more than
-- CLOCK_STEP_NS and more than the window (the core's `entity::far_behind`).
local function far_behind(cur, idx, unit_ns, window)
  local behind_by = cur - idx
  return behind_by > window and behind_by > (CLOCK_STEP_NS + unit_ns - 1) // unit_ns
end
local function steps_back(e, key, cur, idx, unit_ns, window)
  if not far_behind(cur, idx, unit_ns, window) then
    e[key] = nil
    return false
  end
  local run = e[key]
  if run ~= nil and idx >= run[2] then
    run[2] = idx
    run[3] = run[3] + 1
  else
    run = { idx, idx, 1 }
    e[key] = run
  end
  if run[3] < CLOCK_STEP_RECORDS or idx - run[1] < window then return false end
  e[key] = nil
  return true
end

local function bucket()
  return { lines = 0, requests = 0, errors = 0, lat = {}, lat_n = 0 }
end

local function clear_bucket(b)
  b.lines, b.requests, b.errors, b.lat_n = 0, 0, 0, 0
  if next(b.lat) ~= nil then b.lat = {} end
end

local function container()
  return { used = false }
end

-- Resets `e` to a blank entity, keeping its ring; `version` moves forward.
local function blank(e)
  for i = 1, WINDOW do clear_bucket(e.ring[i]) end
  e.ring_pos = 0
  e.filled = 0
  e.current = e.current or bucket()
  clear_bucket(e.current)
  e.current_idx = nil
  e.service_behind = nil
  e.ever_requests = false
  e.ever_lines = false
  e.rate_base, e.error_base, e.p50_base, e.p95_base = ewma(), ewma(), ewma(), ewma()
  e.rate_prev, e.cpu_prev = 0.0, 0.0
  local containers = {}
  for i = 1, MAX_CONTAINERS do containers[i] = container() end
  e.containers = containers
  e.cpu_base, e.mem_base = ewma(), ewma()
  e.mem_ratio_prev = 0.0
  local slots = {}
  for i = 1, RESTART_SLOTS * RESTART_KINDS do slots[i] = 0 end
  e.restart_slots = slots
  e.restart_idx = nil
  e.restarts_behind = nil
  -- restarts.rs `Started`: the containers that have started.
  e.started = {}
  e.event_uids = {}
  e.event_versions = {}
  e.event_counts = {}
  e.event_next = 0
  local features = {}
  for i = 1, CLASSIFIER_LEN do features[i] = 0.0 end
  e.features = features
  e.evaluated = { false, false, false, false, false, false }
  e.warm = { false, false, false, false, false, false }
  e.scores = {}
  e.done = 0
  e.stamp_own, e.stamp_wl, e.stamp_wl_version = nil, nil, nil
  e.verdict = nil
end

local function new_entity()
  local ring = {}
  for i = 1, WINDOW do ring[i] = bucket() end
  local e = { ring = ring, version = 0 }
  blank(e)
  return e
end

local function reset_entity(e)
  local version = e.version + 1
  blank(e)
  e.version = version
end

-- An evaluation that changes neither the family's values nor its warmth
-- leaves the version (entity/mod.rs `store`), so the verdict is not reached
-- again: `rate_now_log_ratio` is read when it is.
local function store(e, f, values, warm)
  local off = OFFSET[f]
  local features = e.features
  local same = e.evaluated[f] and e.warm[f] == warm
  if same then
    for i = 1, #values do
      if features[off + i] ~= values[i] then
        same = false
        break
      end
    end
  end
  if not same then
    for i = 1, #values do features[off + i] = values[i] end
    e.evaluated[f] = true
    e.warm[f] = warm
    e.version = e.version + 1
  end
  e.done = e.done | (1 << (f - 1))
end

-- service signals (logs)

local function evaluate_service(e)
  local lines, requests, errors, lat_n = 0, 0, 0, 0
  local lat = {}
  local ring = e.ring
  for r = 1, WINDOW do
    local b = ring[r]
    lines = lines + b.lines
    requests = requests + b.requests
    errors = errors + b.errors
    if b.lat_n > 0 then
      for i, c in pairs(b.lat) do lat[i] = (lat[i] or 0) + c end
      lat_n = lat_n + b.lat_n
    end
  end
  local filled = e.filled
  if filled < 1 then filled = 1 end
  local seconds = (filled + 0.0) * BUCKET_SECONDS

  local count = e.ever_requests and requests or lines
  local rate = (count + 0.0) / seconds
  -- The bucket that just closed (the newest in the ring).
  local newest = ring[(e.ring_pos - 1) % WINDOW + 1]
  local last = ((e.ever_requests and newest.requests or newest.lines) + 0.0) / BUCKET_SECONDS
  local base = e.rate_base
  local r = up(log_ratio(rate, base.mean, RATE_EPS))
  store(e, TRAFFIC, {
    r,
    math.min(r, e.rate_prev),
    up(log_ratio(last, base.mean, RATE_EPS)),
    0.0,
  }, base.n >= WARMUP)
  e.rate_prev = r
  ewma_update(base, rate, ALPHA, 0.05, 0.01)

  local ratio = (errors + 0.0) / ((lines > 1 and lines or 1) + 0.0)
  base = e.error_base
  store(e, ERRORS, {
    ratio,
    up(ratio - base.mean),
    up(log_ratio(ratio, base.mean, ERROR_EPS)),
    up(finite_or_zero(errors - lines * base.mean)),
  }, base.n >= WARMUP)
  ewma_update(base, ratio, ALPHA, 0.1, 0.005)

  local p50 = quantile(lat, lat_n, 0.5)
  local p95 = quantile(lat, lat_n, 0.95)
  if p50 and p95 then
    local b50, b95 = e.p50_base, e.p95_base
    local slow = 0.0
    if b50.n > 0 then slow = share_above(lat, lat_n, SLOW_FACTOR * b50.mean) end
    store(e, LATENCY, {
      up(log_ratio(p50, b50.mean, 0.1)),
      up(log_ratio(p95, b95.mean, 0.1)),
      clamp(finite_or_zero(slow), 0.0, 1.0),
    }, b95.n >= WARMUP)
    ewma_update(b50, p50, ALPHA, 0.05, 0.1)
    ewma_update(b95, p95, ALPHA, 0.05, 0.1)
  end
end

-- Rolls the log window forward to `ts`.
local function advance(e, ts)
  local idx = ts // BUCKET_NS
  local cur = e.current_idx
  if cur == nil then
    e.current_idx = idx
    return
  end
  if idx <= cur then
    if steps_back(e, "service_behind", cur, idx, BUCKET_NS, WINDOW) then
      -- The window starts over at `idx`.
      for i = 1, WINDOW do clear_bucket(e.ring[i]) end
      clear_bucket(e.current)
      e.ring_pos = 0
      e.filled = 0
      e.current_idx = idx
    end
    return
  end
  e.service_behind = nil
  local gap = idx - cur
  local steps = WINDOW + 1
  if gap < steps then steps = gap end
  local ring = e.ring
  for i = 0, steps - 1 do
    local pos = e.ring_pos + 1
    if i == 0 then
      -- The current bucket moves into the ring; the bucket it replaces is
      -- cleared and becomes the new current one.
      local old = ring[pos]
      ring[pos] = e.current
      clear_bucket(old)
      e.current = old
    else
      clear_bucket(ring[pos])
    end
    e.ring_pos = pos % WINDOW
    if e.filled < WINDOW then e.filled = e.filled + 1 end
  end
  if e.ever_lines then evaluate_service(e) end
  e.current_idx = idx
end

-- features.rs `traffic_now` of the current bucket at `ts` (service.rs
-- `traffic_now`): its requests so far against the baseline rate.
local function traffic_now(e, ts)
  local cur = e.current_idx
  if cur == nil then return 0.0 end
  local into = ts - cur * BUCKET_NS
  if into < 0 then into = 0 elseif into > BUCKET_NS then into = BUCKET_NS end
  local seconds = into / 1e9
  if not (seconds > 0.0) then return 0.0 end
  local b = e.current
  local so_far = (e.ever_requests and b.requests or b.lines) + 0.0
  local eps = 1.0 / seconds
  if eps < RATE_EPS then eps = RATE_EPS end
  return up(log_ratio(so_far / seconds, e.rate_base.mean, eps))
end

local function is_error(inp)
  local status = inp.status
  if status and status >= 500 then return true end
  local level = inp.level
  return level == "error" or level == "fatal"
end

-- A line far behind the window's clock (a file hours behind the others)
-- is history, not current traffic: it is not counted.
local function add_log(e, inp, ts)
  local cur = e.current_idx
  if cur ~= nil and far_behind(cur, ts // BUCKET_NS, BUCKET_NS, WINDOW) then return end
  e.ever_lines = true
  local b = e.current
  b.lines = b.lines + 1
  if inp.is_request == true then
    e.ever_requests = true
    b.requests = b.requests + 1
  end
  if is_error(inp) then b.errors = b.errors + 1 end
  local ms = inp.latency_ms
  if type(ms) == "number" then
    local i = bin_of(ms + 0.0)
    b.lat[i] = (b.lat[i] or 0) + 1
    b.lat_n = b.lat_n + 1
  end
end

-- resource signals (metrics)

-- The slot of container `name` for a sample at `at`: its own, else a free
-- one, else that of a container gone stale; nil when every slot holds a live
-- container (its samples are ignored; resources.rs `container`).
local function container_of(e, name, at)
  local cs = e.containers
  local pos
  for i = 1, MAX_CONTAINERS do
    local c = cs[i]
    if c.used and c.id == name then pos = i break end
  end
  if not pos then
    for i = 1, MAX_CONTAINERS do
      if not cs[i].used then pos = i break end
    end
  end
  if not pos then
    for i = 1, MAX_CONTAINERS do
      if at - cs[i].seen_ns > STALE_NS then pos = i break end
    end
  end
  if not pos then return nil end
  local c = cs[pos]
  if not c.used or c.id ~= name then
    c = { used = true, id = name, seen_ns = 0, mem_ns = 0, mem_trend = 0.0 }
    cs[pos] = c
  end
  return c
end

local function live(c, at)
  return c.used and at - c.seen_ns <= STALE_NS
end

local function evaluate_cpu(e, ts)
  local cores = 0.0
  local cs = e.containers
  for i = 1, MAX_CONTAINERS do
    local c = cs[i]
    if live(c, ts) and c.cpu_cores then cores = cores + c.cpu_cores end
  end
  local base = e.cpu_base
  local r = up(log_ratio(cores, base.mean, CPU_EPS))
  store(e, CPU, { r, math.min(r, e.cpu_prev) }, base.n >= WARMUP)
  e.cpu_prev = r
  ewma_update(base, cores, ALPHA, 0.05, 0.005, true)
end

-- After a memory sample of container `sc`, whose last sample before it was
-- (t0, m0): each container keeps its own trend (its growth per minute against
-- the pod's baseline level), the pod's is the live ones' sum (resources.rs).
local function evaluate_memory(e, ts, sc, t0, m0)
  local bytes = 0.0
  local cs = e.containers
  for i = 1, MAX_CONTAINERS do
    local c = cs[i]
    if live(c, ts) and c.mem_bytes then bytes = bytes + c.mem_bytes end
  end
  local base = e.mem_base
  local scale = fmax(fmax(base.mean, bytes), 1.0)
  if t0 ~= nil and ts > t0 then
    local minutes = (ts - t0) / 60e9
    local inst = ((sc.mem_bytes or 0.0) - m0) / scale / minutes
    if finite(inst) then
      sc.mem_trend = sc.mem_trend + 0.05 * (inst - sc.mem_trend)
    end
  end
  local trend = 0.0
  for i = 1, MAX_CONTAINERS do
    local c = cs[i]
    if live(c, ts) then trend = trend + c.mem_trend end
  end
  local r = up(log_ratio(bytes, base.mean, MEM_EPS))
  store(e, MEMORY, {
    r,
    up(clamp(finite_or_zero(trend), -100.0, 100.0)),
    math.min(r, e.mem_ratio_prev),
    up(r - e.mem_ratio_prev),
  }, base.n >= WARMUP)
  e.mem_ratio_prev = r
  ewma_update(base, bytes, ALPHA, 0.02, 1024.0 * 1024.0, true)
end

-- restart signals (events, restart counters)

local function evaluate_restarts(e)
  local totals = { 0.0, 0.0, 0.0, 0.0 }
  local slots = e.restart_slots
  for s = 0, RESTART_SLOTS - 1 do
    for k = 1, RESTART_KINDS do
      totals[k] = totals[k] + slots[s * RESTART_KINDS + k]
    end
  end
  store(e, RESTARTS, totals, true)
end

local function bump_restart(e, kind, n)
  local slot = 0
  if e.restart_idx ~= nil then slot = e.restart_idx % RESTART_SLOTS end
  local i = slot * RESTART_KINDS + kind + 1
  local v = e.restart_slots[i] + n
  if v > 65535 then v = 65535 end
  e.restart_slots[i] = v
end

-- Returns whether `ts` still falls in the window (a record a whole window
-- behind the clock would have expired already).
local function advance_restarts(e, ts)
  local idx = ts // RESTART_SLOT_NS
  local cur = e.restart_idx
  if cur == nil then
    e.restart_idx = idx
    return true
  end
  if idx <= cur then
    -- The counts stay: they expire as the clock moves on from `idx`.
    if steps_back(e, "restarts_behind", cur, idx, RESTART_SLOT_NS, RESTART_SLOTS) then
      e.restart_idx = idx
      return true
    end
    return idx + RESTART_SLOTS > cur
  end
  e.restarts_behind = nil
  local steps = idx - cur
  if steps > RESTART_SLOTS then steps = RESTART_SLOTS end
  local expired = false
  local slots = e.restart_slots
  for k = 1, steps do
    local base = ((cur + k) % RESTART_SLOTS) * RESTART_KINDS
    for j = base + 1, base + RESTART_KINDS do
      if slots[j] > 0 then expired = true end
      slots[j] = 0
    end
  end
  e.restart_idx = idx
  if expired then evaluate_restarts(e) end
  return true
end

-- A restart with the container's memory at its limit in one of its last two
-- samples is an OOM kill (the kernel reports those on the Node, naming no pod).
local OOM_SHARE = 0.9
local function near_memory_limit(c)
  local l = c.mem_limit
  if not (l and l > 0.0) then return false end
  local a, b = c.mem_bytes, c.mem_before
  return (a ~= nil and a >= OOM_SHARE * l) or (b ~= nil and b >= OOM_SHARE * l)
end

local function add_metric(e, ts, name, inp)
  local v = inp.value
  if type(v) ~= "number" then return end
  v = v + 0.0
  if not finite(v) then return end
  local c = container_of(e, name, ts)
  if c == nil then return end
  c.seen_ns = ts
  local metric = inp.metric
  local family = nil
  local restart_delta = 0.0
  local oom = false
  -- What a container joining the pod's sum adds to it (resources.rs).
  local joined = 0.0
  -- The container's last memory sample, for its trend.
  local last_t, last_v = nil, nil
  if metric == "cpu_seconds_total" then
    local t0, v0 = c.cpu_counter_t, c.cpu_counter_v
    c.cpu_counter_t, c.cpu_counter_v = ts, v
    if t0 ~= nil and ts > t0 and v >= v0 then
      local dt = (ts - t0) / 1e9
      local cores = (v - v0) / dt
      if c.cpu_cores == nil then joined = cores end
      c.cpu_cores = cores
      family = CPU
    end
  elseif metric == "cpu_cores" then
    if c.cpu_cores == nil then joined = fmax(v, 0.0) end
    c.cpu_cores = fmax(v, 0.0)
    family = CPU
  elseif metric == "node_cpu_percent" then
    if c.cpu_cores == nil then joined = fmax(v, 0.0) / 100.0 end
    c.cpu_cores = fmax(v, 0.0) / 100.0
    c.cpu_limit = 1.0
    family = CPU
  elseif metric == "memory_working_set_bytes" then
    if c.mem_bytes ~= nil then last_t, last_v = c.mem_ns, c.mem_bytes end
    c.mem_before = c.mem_bytes
    c.mem_bytes = fmax(v, 0.0)
    if c.mem_before == nil then joined = fmax(v, 0.0) end
    c.mem_ns = ts
    family = MEMORY
  elseif metric == "node_memory_percent" then
    if c.mem_bytes ~= nil then last_t, last_v = c.mem_ns, c.mem_bytes end
    if c.mem_bytes == nil then joined = fmax(v, 0.0) end
    c.mem_bytes = fmax(v, 0.0)
    c.mem_limit = 100.0
    c.mem_ns = ts
    family = MEMORY
  elseif metric == "cpu_limit_cores" then
    c.cpu_limit = v
  elseif metric == "memory_limit_bytes" then
    c.mem_limit = v
  elseif metric == "restarts_total" then
    local prev = c.restarts_total
    c.restarts_total = v
    if prev ~= nil and v > prev then
      restart_delta = v - prev
      oom = near_memory_limit(c)
    end
  end
  if restart_delta > 0.0 then
    advance_restarts(e, ts)
    local n = restart_delta
    if n > 65535.0 then n = 65535.0 end
    bump_restart(e, 0, floor(n))
    if oom then bump_restart(e, 2, 1) end
    evaluate_restarts(e)
  end
  if family == CPU then
    ewma_shift(e.cpu_base, joined)
    evaluate_cpu(e, ts)
  elseif family == MEMORY then
    ewma_shift(e.mem_base, joined)
    evaluate_memory(e, ts, c, last_t, last_v)
  end
end

-- EventReason -> restart window counter (restarts, back-offs, OOM kills, unhealthy).
local EVENT_KIND = { started = 0, back_off = 1, oom_killed = 2, unhealthy = 3 }
-- Event objects per pod whose last counted version is kept (restarts.rs).
local EVENT_OBJECTS = 8
-- The most occurrences one new version of an Event object counts for when
-- events are polled (restarts.rs).
local MAX_OCCURRENCES_PER_VERSION = 10

-- restarts.rs `occurrences`: how many occurrences this version of an Event
-- object, carrying `count`, stands for; nil when that version was counted
-- already (Fluent Bit relists after every watch reconnect). With events
-- polled (CONFIG.events_polled: Vector lists them every 10 s and sees only
-- the last version of each interval), a new version of a kept object counts
-- `count` minus the highest count counted for it (0 to
-- MAX_OCCURRENCES_PER_VERSION), else one. Remembers the version, replacing
-- the oldest object kept.
local function occurrences(e, uid, version, count)
  if uid == nil or version == nil then return 1 end
  local uids, versions, counts = e.event_uids, e.event_versions, e.event_counts
  for i = 1, EVENT_OBJECTS do
    if uids[i] == uid then
      if versions[i] == version then return nil end
      local since = count - counts[i]
      versions[i] = version
      if count > counts[i] then counts[i] = count end
      if not CONFIG.events_polled then return 1 end
      if since < 0 then return 0 end
      if since > MAX_OCCURRENCES_PER_VERSION then return MAX_OCCURRENCES_PER_VERSION end
      return since
    end
  end
  local slot = e.event_next + 1
  uids[slot], versions[slot], counts[slot] = uid, version, count
  e.event_next = (e.event_next + 1) % EVENT_OBJECTS
  return 1
end

-- Containers per pod whose first `Started` is remembered (restarts.rs).
local STARTED_CONTAINERS = 8

-- restarts.rs `Started::start`: "birth" for a container's first start,
-- "restart" for a later one, nil for a container past STARTED_CONTAINERS
-- (not counted).
local function start(e, container)
  local started = e.started
  for i = 1, #started do
    if started[i] == container then return "restart" end
  end
  if #started >= STARTED_CONTAINERS then return nil end
  started[#started + 1] = container
  return "birth"
end

local function add_event(e, ts, container, inp)
  -- An event a restart window older than the pod's clock has expired
  -- already (a replayed list): it does not count.
  if not advance_restarts(e, ts) then return end
  local kind = EVENT_KIND[inp.reason]
  if kind == nil then return end
  -- Init containers run once before the others: their starts are passed over.
  if kind == 0 and inp.init_container == true then return end
  local n = occurrences(e, inp.uid, inp.resource_version, inp.count or 1)
  if n == nil or n == 0 then return end
  if kind == 0 then
    -- Each container's first start is its birth, not a restart.
    local s = start(e, container)
    if s == nil then return end
    if s == "birth" then n = n - 1 end
    if n == 0 then return end
  end
  bump_restart(e, kind, n)
  evaluate_restarts(e)
end

-- ---- forest.rs / classifier.rs: tree walks ------------------------------------

-- Generated trees are flat arrays over all trees of a model: `left[i]` is the
-- left child's index or 0 at a leaf, `right[i]` the right child's, `feature[i]`
-- the 1-based split feature, and `value[i]` the split threshold at a split and
-- the leaf's payload at a leaf (isolation forest: `(depth + 1) + c(n) - 1`;
-- classifier: the offset of its class fractions).
--
-- At load the arrays are packed into one binary string per model (20 bytes a
-- node: three int32 and one double, exact) and the tables dropped. Vector
-- runs a full garbage collection every 16 events, which walks every live
-- table slot; a string is one object however long, so the models cost the
-- collector nothing.

local NODE = "<i4i4i4d"
local NODE_SIZE = 20

local function pack_trees(m)
  local parts = {}
  local left, right, feature, value = m.left, m.right, m.feature, m.value
  for i = 1, #left do
    parts[i] = spack(NODE, left[i], right[i], feature[i], value[i])
  end
  m.nodes = table.concat(parts)
  m.left, m.right, m.feature, m.value = nil, nil, nil, nil
end

local function cast(features, off, n, x)
  for i = 1, n do x[i] = f32(features[off + i]) end
  return x
end

-- The leaf `x` reaches from `root`: its payload.
local function walk(nodes, root, x)
  local l, r, f, v = sunpack(NODE, nodes, (root - 1) * NODE_SIZE + 1)
  while l ~= 0 do
    local i = r
    if x[f] <= v then i = l end
    l, r, f, v = sunpack(NODE, nodes, (i - 1) * NODE_SIZE + 1)
  end
  return v
end

local function forest_score(forest, x)
  local nodes, roots = forest.nodes, forest.roots
  local depths = 0.0
  for t = 1, #roots do
    depths = depths + walk(nodes, roots[t], x)
  end
  local denominator = forest.denominator
  if denominator == 0.0 then return 0.5 end -- one training sample: 2^-1, as scikit-learn
  return 2.0 ^ (-(depths / denominator))
end

-- Per-feature share of the score (forest.rs `explain`): per tree, each
-- feature's split count on the path times 1/h, summed per feature in tree
-- order, then divided by the total of the sums taken in feature order.
local function forest_explain(forest, x, n)
  local nodes = forest.nodes
  local sums, count = {}, {}
  for f = 1, n do sums[f] = 0.0 end
  for _, root in ipairs(forest.roots) do
    for f = 1, n do count[f] = 0 end
    local len = 0
    local l, r, f, v = sunpack(NODE, nodes, (root - 1) * NODE_SIZE + 1)
    while l ~= 0 do
      len = len + 1
      count[f] = count[f] + 1
      local i = r
      if x[f] <= v then i = l end
      l, r, f, v = sunpack(NODE, nodes, (i - 1) * NODE_SIZE + 1)
    end
    local h = v
    if len > 0 and h > 0.0 then
      local w = 1.0 / h
      for k = 1, n do
        sums[k] = sums[k] + count[k] * w
      end
    end
  end
  local total = 0.0
  for f = 1, n do total = total + sums[f] end
  local out = {}
  for f = 1, n do
    if total > 0.0 then out[f] = sums[f] / total else out[f] = 0.0 end
  end
  return out
end

-- The most probable named incident class, first on ties, its probability,
-- and the probability of "unknown" (scorer.rs `classify`).
-- With `veto`, stops as soon as the share of "unknown" is sure to reach it
-- (fractions are never negative, so the running sum only grows) and returns
-- no class with that share (scorer.rs `classify`).
local function classify(c, x, veto)
  local nodes, fractions = c.nodes, c.fraction_bytes
  local n = #c.classes
  local acc = {}
  for k = 1, n do acc[k] = 0.0 end
  local roots = c.roots
  local n_trees = #roots + 0.0
  local u = veto and c.unknown_index
  for t = 1, #roots do
    local at = math.tointeger(walk(nodes, roots[t], x))
    for k = 1, n do acc[k] = acc[k] + sunpack("<d", fractions, (at + k - 1) * 8 + 1) end
    if u and acc[u] / n_trees >= veto then return nil, 0.0, acc[u] / n_trees end
  end
  local best, best_p, p_unknown = nil, nil, 0.0
  for k = 1, n do
    local p = acc[k] / n_trees
    if c.classes[k] == "unknown" then
      p_unknown = p
    elseif best == nil or p > best_p then
      best, best_p = k, p
    end
  end
  return best and c.classes[best], best_p or 0.0, p_unknown
end

-- ---- scorer.rs -------------------------------------------------------------------

local FORESTS = {}
if MODEL then
  for f = 1, 6 do
    FORESTS[f] = MODEL.forests[FAMILIES[f]]
    if FORESTS[f] then pack_trees(FORESTS[f]) end
  end
  if MODEL.classifier then
    pack_trees(MODEL.classifier)
    -- Class fractions as one string of doubles, read by offset.
    local fr = MODEL.classifier.fractions
    local parts = {}
    for i = 1, #fr do parts[i] = spack("<d", fr[i]) end
    MODEL.classifier.fraction_bytes = table.concat(parts)
    MODEL.classifier.fractions = nil
    for k, class in ipairs(MODEL.classifier.classes) do
      if class == "unknown" then MODEL.classifier.unknown_index = k end
    end
  end
end

-- features.rs `decisive` / `family_score`: Kubernetes failure verdicts
-- (BackOff, an OOM kill, repeated restarts) take the top score.
local function decisive(features)
  local off = OFFSET[RESTARTS]
  return features[off + 2] >= 1.0 or features[off + 3] >= 1.0 or features[off + 1] >= 2.0
end

local function family_score(f, features, score)
  if f == RESTARTS and decisive(features) then return 1.0 end
  return score
end

local function score_evaluated(e)
  local done = e.done
  local scores = e.scores
  local xs = {}
  for f = 1, 6 do
    if done & (1 << (f - 1)) ~= 0 then
      local forest = FORESTS[f]
      if forest and e.warm[f] then
        local n = #FEATURE_NAMES[f]
        scores[f] = family_score(f, e.features, forest_score(forest, cast(e.features, OFFSET[f], n, xs)))
      else
        scores[f] = nil
      end
    end
  end
end

local function explain(features, family)
  local why = {}
  local forest = FORESTS[family]
  if not forest then return why end
  local names = FEATURE_NAMES[family]
  local n = #names
  local off = OFFSET[family]
  local contrib = forest_explain(forest, cast(features, off, n, {}), n)
  -- Stable sort, strongest first: ties keep feature order.
  local ranked = {}
  for i = 1, n do
    local c = contrib[i]
    local pos = #ranked + 1
    while pos > 1 and contrib[ranked[pos - 1]] < c do
      ranked[pos] = ranked[pos - 1]
      pos = pos - 1
    end
    ranked[pos] = i
  end
  for _, i in ipairs(ranked) do
    if #why == 3 then break end
    if contrib[i] > 0.0 then
      why[#why + 1] = { feature = names[i], value = features[off + i], contribution = contrib[i] }
    end
  end
  return why
end

local UNSCORED = {
  anomaly = false, severity = "none", incident = "unknown", action = "none", why = {},
}

-- Combines a pod's and its workload's families for a record at `ts` and
-- reaches the verdict (scorer.rs `combine` and `verdict`).
local function verdict(pod, workload, ts)
  if not MODEL then return UNSCORED end
  local features = {}
  for i = 1, CLASSIFIER_LEN do features[i] = 0.0 end
  local scores = {}
  for f = 1, 6 do
    local first, second = workload, pod
    if POD_FIRST[f] then first, second = pod, workload end
    local src = nil
    if first and first.evaluated[f] then
      src = first
    elseif second and second.evaluated[f] then
      src = second
    end
    if src then
      local off = OFFSET[f]
      local from = src.features
      for i = off + 1, off + WIDTH[f] do features[i] = from[i] end
      if f == TRAFFIC then features[off + RATE_NOW] = traffic_now(src, ts) end
      scores[f] = src.scores[f]
    end
  end
  local top, top_margin, top_score = nil, nil, nil
  local anomaly, critical = false, false
  for f = 1, 6 do
    local score, forest = scores[f], FORESTS[f]
    if score ~= nil and forest then
      if score >= forest.warning then anomaly = true end
      if score >= forest.critical then critical = true end
      local margin = score - forest.warning
      if top == nil or margin > top_margin then
        top, top_margin, top_score = f, margin, score
      end
    end
  end
  if top == nil then return UNSCORED end
  -- Two stages (scorer.rs `verdict`): the classifier vetoes a warning-level
  -- candidate when "unknown" has at least VETO_PROBABILITY, a critical score
  -- when it has at least CRITICAL_VETO_PROBABILITY; a decisive one stands.
  local incident, confidence = "unknown", 0.0
  if anomaly then
    local named, p_named, p_unknown = nil, 0.0, 0.0
    local veto = VETO_PROBABILITY
    if critical then
      veto = CRITICAL_VETO_PROBABILITY
      if decisive(features) then veto = nil end
    end
    if MODEL.classifier then
      -- A sure veto needs no more trees.
      named, p_named, p_unknown = classify(MODEL.classifier, cast(features, 0, CLASSIFIER_LEN, {}), veto)
    end
    if veto and p_unknown >= veto then
      anomaly = false
      critical = false
    elseif named then
      incident, confidence = named, p_named
    else
      incident = FAMILY_INCIDENT[top]
    end
  end
  local severity = "none"
  if critical then severity = "critical" elseif anomaly then severity = "warning" end
  return {
    score = top_score,
    anomaly = anomaly,
    severity = severity,
    incident = incident,
    action = ACTION[incident] or "none",
    confidence = confidence,
    family = FAMILIES[top],
    -- `why` explains anomalies (config.rs `explain_normal`).
    why = (anomaly or CONFIG.explain_normal) and explain(features, top) or {},
  }
end

-- ---- lru.rs: bounded entity table -------------------------------------------------

local CAP = CONFIG.max_entities
if CAP < 1 then CAP = 1 end
local index = {}
local count = 0
local head, tail = nil, nil

local function unlink(e)
  local prev, nxt = e.prev, e.next
  if prev then prev.next = nxt else head = nxt end
  if nxt then nxt.prev = prev else tail = prev end
end

local function push_front(e)
  e.prev = nil
  e.next = head
  if head then head.prev = e else tail = e end
  head = e
end

-- The entity for `key`, created (or, when full, the least recently used one
-- reset and reused) when absent, and marked most recently used.
local function touch(key)
  local e = index[key]
  if e then
    if head ~= e then
      unlink(e)
      push_front(e)
    end
    return e
  end
  if count < CAP then
    e = new_entity()
    count = count + 1
  else
    e = tail
    unlink(e)
    index[e.key] = nil
    reset_entity(e)
  end
  e.key = key
  index[key] = e
  push_front(e)
  return e
end

-- ---- filter.rs `observe` ---------------------------------------------------------------

local function nonempty(s)
  if type(s) == "string" and s ~= "" then return s end
  return nil
end

local function observe(inp, ts)
  local ns = nonempty(inp.namespace)
  local wname, pname = nonempty(inp.workload), nonempty(inp.pod)
  local nskey = ns or ""
  local workload, pod
  if wname then workload = touch("w\31" .. nskey .. "\31" .. wname) end
  if pname then pod = touch("p\31" .. nskey .. "\31" .. pname) end
  if not workload and not pod then return UNSCORED end
  if workload then workload.done = 0 end
  if pod then pod.done = 0 end

  -- Time moves every entity the record names; the signal goes to the entity
  -- that owns it (logs: workload; metrics, events: pod).
  if workload then
    advance(workload, ts)
    advance_restarts(workload, ts)
  end
  if pod then advance_restarts(pod, ts) end
  local service = workload or pod
  local resource = pod or workload
  local signal = inp.signal
  if signal == "log" then
    if service == pod then advance(pod, ts) end
    add_log(service, inp, ts)
  elseif signal == "metric" then
    add_metric(resource, ts, nonempty(inp.container) or "", inp)
  elseif signal == "event" then
    -- A kernel OOM kill on a Node names no pod: the pod's restart counter
    -- attributes it, so the node does not count it as its own.
    if not (inp.reason == "oom_killed" and inp.workload_kind == "node") then
      add_event(resource, ts, nonempty(inp.container) or "", inp)
    end
  end

  if workload and workload.done ~= 0 then score_evaluated(workload) end
  if pod and pod.done ~= 0 then score_evaluated(pod) end

  -- Reuse the cached verdict unless either entity moved.
  local own = pod or workload
  local wl, wl_version = false, 0
  if workload and pod then wl, wl_version = workload, workload.version end
  if own.verdict and own.stamp_own == own.version and own.stamp_wl == wl
      and own.stamp_wl_version == wl_version then
    return own.verdict
  end
  local v = verdict(pod, workload, ts)
  -- scorer.rs `keep_incident`: an ongoing incident keeps its kind unless the
  -- classifier renames it with confidence.
  local prev = own.verdict
  if prev and v.anomaly and prev.anomaly and v.family ~= nil and v.family == prev.family
      and prev.incident ~= "unknown" and v.confidence < SWITCH_PROBABILITY then
    v.incident = prev.incident
    v.action = ACTION[prev.incident] or "none"
  end
  own.stamp_own, own.stamp_wl, own.stamp_wl_version = own.version, wl, wl_version
  own.verdict = v
  return v
end

-- ---- tags.rs -----------------------------------------------------------------------------

local format = string.format

-- timestamp.rs `write_rfc3339`: UTC, `Z`, the shortest exact fraction.
local function rfc3339(ts)
  local secs = ts // 1000000000
  local nanos = ts % 1000000000
  local days = secs // 86400
  local sod = secs % 86400
  -- civil_from_days (H. Hinnant)
  local z = days + 719468
  local era = z // 146097
  local doe = z % 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local day = doy - (153 * mp + 2) // 5 + 1
  local month = mp < 10 and mp + 3 or mp - 9
  local year = yoe + era * 400 + (month <= 2 and 1 or 0)
  if year < 0 then year = 0 elseif year > 9999 then year = 9999 end
  local s = format("%04d-%02d-%02dT%02d:%02d:%02d", year, month, day,
    sod // 3600, (sod // 60) % 60, sod % 60)
  if nanos == 0 then return s .. "Z" end
  if nanos % 1000000 == 0 then return format("%s.%03dZ", s, nanos // 1000000) end
  if nanos % 1000 == 0 then return format("%s.%06dZ", s, nanos // 1000) end
  return format("%s.%09dZ", s, nanos)
end

local MODEL_ID = MODEL and MODEL.id or "none"
local KINDS = { log = true, metric = true, event = true, unknown = true }

-- The `edgeheal` object for one normalized record (`nil` fields become
-- `null` in the finalize remap).
function M.tag(inp)
  local ts = math.tointeger(inp.ts_ns) or 0
  local v = observe(inp, ts)
  local ns, w = nonempty(inp.namespace), nonempty(inp.workload)
  local why = {}
  for i, r in ipairs(v.why) do
    why[i] = { feature = r.feature, value = r.value, contribution = r.contribution }
  end
  local kind = inp.kind
  return {
    kind = KINDS[kind] and kind or "unknown",
    entity = w and ((ns or "_") .. "/" .. w) or nil,
    pod = nonempty(inp.pod),
    ts = rfc3339(ts),
    score = v.score,
    anomaly = v.anomaly,
    severity = v.severity,
    incident = v.incident,
    action = v.action,
    why = why,
    model = MODEL_ID,
    family = v.family,
    namespace = ns,
    workload = w,
    workload_kind = nonempty(inp.workload_kind),
    container = nonempty(inp.container),
    node = nonempty(inp.node),
  }
end

-- `hooks.process`: replaces `._edgeheal_in` by `.edgeheal`; events the
-- normalize remap did not see pass through untouched.
function M.process(event, emit)
  local record = event.log
  if record ~= nil then
    local inp = record._edgeheal_in
    if type(inp) == "table" then
      record._edgeheal_in = nil
      record.edgeheal = M.tag(inp)
    end
  end
  emit(event)
end

-- Number of tracked entities (pods plus workloads); never above `max_entities`.
function M.tracked_entities()
  return count
end

M.model_id = MODEL_ID
M.config = CONFIG

return M
