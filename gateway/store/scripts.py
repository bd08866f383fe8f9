"""The Lua scripts the hub runs in Redis: each management write atomic, the rate buckets, and
the cache writes of a pipeline in one command per slot.

Atomic matters twice: concurrent writers cannot interleave, and the append-only file records a
script's effects as one unit, so a crash keeps all of a message or none of it (an issuer's mark
falls back together with its events, SPEC §4).
"""

from __future__ import annotations

# Every registry change moves the version past both the stored one and ARGV floor (the highest
# version the writing worker has seen: a store that lost its data does not count from 0 again)
# and writes a new random token, so no two registries a worker meets share a stamp.

# KEYS: registry keys hash, owners hash, version, token. ARGV: kid, record, iss, token, floor.
# → new version, or -1 when the kid is registered already (to anyone).
# The owner is kept apart from the record because Redis's cmsgpack cannot read bin fields.
KEY_ADD = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local held = tonumber(redis.call('GET', KEYS[3]) or '0')
redis.call('SET', KEYS[4], ARGV[4])
return redis.call('INCRBY', KEYS[3], math.max(1, tonumber(ARGV[5]) + 1 - held))
"""

# KEYS: owners hash, revoked hash, version, token. ARGV: kid, iss, time, token, floor.
# → new version; 0 when it was revoked already; -1 when the issuer holds no such kid.
KEY_REVOKE = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return -1 end
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[3]) == 0 then return 0 end
local held = tonumber(redis.call('GET', KEYS[3]) or '0')
redis.call('SET', KEYS[4], ARGV[4])
return redis.call('INCRBY', KEYS[3], math.max(1, tonumber(ARGV[5]) + 1 - held))
"""

# A store found behind what a worker has seen (it lost data, or was restored from a backup):
# move its version past ARGV floor with a new token, unless it changed since it was read.
# KEYS: version, token. ARGV: version read, token read, floor, new token.
# → the new version, or 0 when the store moved meanwhile (read it again).
REGISTRY_RENUMBER = """
local held = tonumber(redis.call('GET', KEYS[1]) or '0')
local token = redis.call('GET', KEYS[2]) or ''
if held ~= tonumber(ARGV[1]) or token ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[2], ARGV[4])
return redis.call('INCRBY', KEYS[1], math.max(1, tonumber(ARGV[3]) + 1 - held))
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

# KEYS: trust list hash. ARGV: version, token, iat, envelope. Keeps the newest signed copy only,
# so all workers serve the same bytes (and the same ETag); a copy of another registry (another
# token) is replaced whatever its version.
TRUST_LIST_OFFER = """
local held = redis.call('HMGET', KEYS[1], 'version', 'token', 'iat')
local v, iat = tonumber(ARGV[1]), tonumber(ARGV[3])
local hv, hiat = tonumber(held[1]), tonumber(held[3])
if hv and held[2] == ARGV[2] and (hv > v or (hv == v and hiat >= iat)) then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'token', ARGV[2], 'iat', ARGV[3],
           'envelope', ARGV[4])
return 1
"""
