"""The Lua scripts the hub runs in Redis: each management write atomic, the rate buckets, and
the cache writes of a pipeline in one command per slot.

Atomic matters twice: concurrent writers cannot interleave, and the append-only file records a
script's effects as one unit, so a crash keeps all of a message or none of it (an issuer's mark
falls back together with its events, SPEC §4).
"""

from __future__ import annotations

# KEYS: registry keys hash, owners hash, version. ARGV: kid, record, iss.
# → new version, or -1 when the kid is registered already (to anyone).
# The owner is kept apart from the record because Redis's cmsgpack cannot read bin fields.
KEY_ADD = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return redis.call('INCR', KEYS[3])
"""

# KEYS: owners hash, revoked hash, version. ARGV: kid, iss, time.
# → new version; 0 when it was revoked already; -1 when the issuer holds no such kid.
KEY_REVOKE = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return -1 end
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[3]) == 0 then return 0 end
return redis.call('INCR', KEYS[3])
"""

# KEYS: mark, then one status key per event. ARGV: seq, then sv and colour per event.
# → {'ok', applied} | {'stale_seq', mark} | {'seq_gap', mark}.
# Statuses are msgpack [sv, colour]. Lua numbers are doubles: exact up to 2^53, the SPEC's cap.
STATUS_APPLY = """
local mark = tonumber(redis.call('GET', KEYS[1]) or '0')
local seq = tonumber(ARGV[1])
if seq <= mark then return {'stale_seq', mark} end
if seq > mark + 1 then return {'seq_gap', mark} end
local applied = 0
for i = 2, #KEYS do
  local sv = tonumber(ARGV[2 * i - 2])
  local stored = redis.call('GET', KEYS[i])
  if not stored or sv > cmsgpack.unpack(stored)[1] then
    redis.call('SET', KEYS[i], cmsgpack.pack({sv, tonumber(ARGV[2 * i - 1])}))
    applied = applied + 1
  end
end
redis.call('SET', KEYS[1], ARGV[1])
return {'ok', applied}
"""

# A token bucket shared by all workers, on Redis's clock. KEYS: bucket.
# ARGV: rate, burst, need (the request's cost), want (need plus a lease for later requests).
# A request is let through while the bucket holds min(need, burst) tokens, and pays its full
# cost, so a batch larger than the burst passes once the bucket is full and leaves a debt that
# later requests wait out: the long-run rate still holds. The grant is need plus as much of
# the lease as the bucket holds; the worker spends the lease locally, without Redis.
# → {granted, 0} | {0, seconds to wait}.
RATE_TAKE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local need, want = tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local granted = 0
if tokens >= math.min(need, burst) then
  granted = math.max(need, math.min(want, math.floor(tokens)))
  tokens = tokens - granted
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil((burst - tokens) / rate) + 1)
if granted > 0 then return {granted, 0} end
return {0, math.ceil((math.min(need, burst) - tokens) / rate)}
"""

# Cached signature outcomes, many at once. KEYS: the entries (one slot on a cluster).
# ARGV: value and TTL in seconds per key. One command instead of a SET per code.
CACHE_PUT = """
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[2 * i - 1], 'EX', ARGV[2 * i])
end
return #KEYS
"""

# KEYS: trust list hash. ARGV: version, iat, envelope. Keeps the newest signed copy only, so all
# workers serve the same bytes (and the same ETag).
TRUST_LIST_OFFER = """
local held = redis.call('HMGET', KEYS[1], 'version', 'iat')
local v, iat = tonumber(ARGV[1]), tonumber(ARGV[2])
local hv, hiat = tonumber(held[1]), tonumber(held[2])
if hv and (hv > v or (hv == v and hiat >= iat)) then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'iat', ARGV[2], 'envelope', ARGV[3])
return 1
"""
