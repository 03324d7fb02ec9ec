-- wrk script: POSTs a Jira webhook signed like Jira does
-- (X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>), with a unique
-- X-Atlassian-Webhook-Identifier per request so that every request is a new
-- delivery (a JetStream store, not a dedup hit).
--
--   wrk -t2 -c10 -d30s -s signed.lua http://127.0.0.1:8081/webhook -- BODY.json SECRET [RATE]
--
-- RATE (deliveries/s, optional) paces the run: each connection waits
-- connections/RATE seconds between requests (wrk 4 has no -R); the rate
-- reached is a little lower, by the latency. Without it wrk runs flat out.
-- The signature is computed once per thread in pure Lua (LuaJIT bit ops):
-- the body does not change, the server verifies it on every request.

local bit = require("bit")
local band, bor, bxor, bnot = bit.band, bit.bor, bit.bxor, bit.bnot
local rshift, lshift, ror, tobit, tohex = bit.rshift, bit.lshift, bit.ror, bit.tobit, bit.tohex

local K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

local function sha256(msg)
  local len = #msg
  local zeros = (64 - (len + 9) % 64) % 64
  local bits = len * 8
  local tail = {}
  for i = 7, 0, -1 do
    tail[#tail + 1] = string.char(math.floor(bits / 2 ^ (8 * i)) % 256)
  end
  msg = msg .. "\128" .. string.rep("\0", zeros) .. table.concat(tail)
  local H = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 }
  for i = 1, 8 do H[i] = tobit(H[i]) end
  local w = {}
  for off = 1, #msg, 64 do
    for j = 1, 16 do
      local p = off + (j - 1) * 4
      local b1, b2, b3, b4 = msg:byte(p, p + 3)
      w[j] = bor(lshift(b1, 24), lshift(b2, 16), lshift(b3, 8), b4)
    end
    for j = 17, 64 do
      local v = w[j - 15]
      local s0 = bxor(ror(v, 7), ror(v, 18), rshift(v, 3))
      v = w[j - 2]
      local s1 = bxor(ror(v, 17), ror(v, 19), rshift(v, 10))
      w[j] = tobit(w[j - 16] + s0 + w[j - 7] + s1)
    end
    local a, b, c, d, e, f, g, h = H[1], H[2], H[3], H[4], H[5], H[6], H[7], H[8]
    for j = 1, 64 do
      local S1 = bxor(ror(e, 6), ror(e, 11), ror(e, 25))
      local ch = bxor(band(e, f), band(bnot(e), g))
      local t1 = tobit(h + S1 + ch + K[j] + w[j])
      local S0 = bxor(ror(a, 2), ror(a, 13), ror(a, 22))
      local maj = bxor(band(a, b), band(a, c), band(b, c))
      local t2 = tobit(S0 + maj)
      h, g, f, e, d, c, b, a = g, f, e, tobit(d + t1), c, b, a, tobit(t1 + t2)
    end
    H[1], H[2], H[3], H[4] = tobit(H[1] + a), tobit(H[2] + b), tobit(H[3] + c), tobit(H[4] + d)
    H[5], H[6], H[7], H[8] = tobit(H[5] + e), tobit(H[6] + f), tobit(H[7] + g), tobit(H[8] + h)
  end
  local out = {}
  for i = 1, 8 do
    local v = H[i]
    out[#out + 1] = string.char(band(rshift(v, 24), 255), band(rshift(v, 16), 255), band(rshift(v, 8), 255), band(v, 255))
  end
  return table.concat(out)
end

local function hmac_sha256(key, msg)
  if #key > 64 then key = sha256(key) end
  key = key .. string.rep("\0", 64 - #key)
  local ipad, opad = {}, {}
  for i = 1, 64 do
    local k = key:byte(i)
    ipad[i] = string.char(bxor(k, 0x36))
    opad[i] = string.char(bxor(k, 0x5c))
  end
  return sha256(table.concat(opad) .. sha256(table.concat(ipad) .. msg))
end

local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local counter = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

local body, signature, pause

function init(args)
  local path, secret, rate = args[1], args[2], tonumber(args[3] or "")
  if not path or not secret then
    error("usage: wrk ... -s signed.lua URL -- BODY.json SECRET [RATE]")
  end
  local f = assert(io.open(path, "rb"))
  body = f:read("*a")
  f:close()
  signature = "sha256=" .. hex(hmac_sha256(secret, body))
  if rate and rate > 0 then
    -- wrk spreads its connections over the threads; pace each connection.
    local conns = tonumber(os.getenv("WRK_CONNECTIONS") or "10")
    pause = conns * 1000 / rate
  end
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json; charset=UTF-8"
  wrk.headers["X-Hub-Signature"] = signature
  wrk.headers["X-Atlassian-Webhook-Flow"] = "Primary"
  wrk.headers["User-Agent"] = "Atlassian Webhook HTTP Client"
end

function delay()
  return pause or 0
end

function request()
  counter = counter + 1
  wrk.headers["X-Atlassian-Webhook-Identifier"] = string.format("wrk-%d-%d-%d", os.time(), tid or 0, counter)
  return wrk.format()
end

function done(summary, latency, requests)
  local errs = summary.errors
  io.write(string.format(
    "deliveries/s: %.0f  p50: %.2f ms  p90: %.2f ms  p99: %.2f ms  non-2xx: %d  socket errors: %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    errs.status, errs.connect + errs.read + errs.write + errs.timeout))
end
