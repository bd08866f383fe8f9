"""The Lua scripts the hub runs in Redis: each management write atomic, the rate buckets, and
the cache writes of a pipeline in one command per slot.

Atomic matters twice: concurrent writers cannot interleave, and the append-only file records a
script's effects as one unit, so a crash keeps all of a message or none of it (an issuer's mark
falls back together with its events, SPEC §4).

Each management write is also safe to run twice. The client sends a call again when its
connection is lost (gateway/store/connection.py), and a lost reply cannot be told from a lost
call: Redis may have run the script already. So each write script records, with the state it
changes and as long as the message's nonce lasts, the token of the *attempt* that applied it (16
random bytes the hub draws per request) and its answer. A run with that token again is the
client's retry and gets the recorded answer; a run with another token is a replay
(docs/decisions.md, "A management write is safe to retry").
"""

from __future__ import annotations

ATTEMPT_BYTES = 16

# The record of a message applied: KEYS[1], ARGV[1] the attempt's token, ARGV[2] its TTL (s).
# recorded() → the answer this attempt was given, false when another attempt holds the record
# (a replay), nil when none does. A bare token (a claim not yet applied) is not an answer.
_RECORD = """
local function recorded()
  local held = redis.call('GET', KEYS[1])
  if not held then return nil end
  if #held > 16 and string.sub(held, 1, 16) == ARGV[1] then return string.sub(held, 17) end
  return false
end
local function record(answer)
  redis.call('SET', KEYS[1], ARGV[1] .. answer, 'EX', ARGV[2])
end
"""

# A key message's nonce, claimed before the message's own checks (SPEC §4's order) and released
# when they refuse it. KEYS: nonce. ARGV: attempt, TTL. → 1 claimed (now or by this same
# attempt: a retry), 0 used by another attempt.
NONCE_CLAIM = """
local held = redis.call('GET', KEYS[1])
if not held then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
if held == ARGV[1] then return 1 end
return 0
"""

# KEYS: nonce. ARGV: attempt. Frees a claim of this attempt that no write has answered.
NONCE_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""

# Every registry change moves the version past both the stored one and ARGV floor (the highest
# version the writing worker has seen: a store that lost its data does not count from 0 again)
# and writes a new random token, so no two registries a worker meets share a stamp.

# The registry scripts record their answer under the message's record in {reg} (the nonce itself
# lives under {<iss>}, another slot on a cluster). Both start with the record and end with the
# version's rise: KEYS[1] record, KEYS[4] version, KEYS[5] token; ARGV[1] attempt, ARGV[2] TTL,
# ARGV[6] token, ARGV[7] floor.
_REGISTRY_ONCE = (
    _RECORD
    + """
local done = recorded()
if done then return tonumber(done) end
if done == false then return -2 end
"""
)
_REGISTRY_MOVES = """
local held = tonumber(redis.call('GET', KEYS[4]) or '0')
redis.call('SET', KEYS[5], ARGV[6])
local version = redis.call('INCRBY', KEYS[4], math.max(1, tonumber(ARGV[7]) + 1 - held))
record(version)
return version
"""

# KEYS: record, registry keys hash, owners hash, version, token.
# ARGV: attempt, TTL, kid, key record, iss, token, floor.
# → new version; -1 when the kid is registered already (to anyone); -2 a replay.
# The owner is kept apart from the record because Redis's cmsgpack cannot read bin fields.
KEY_ADD = (
    _REGISTRY_ONCE
    + """
if redis.call('HEXISTS', KEYS[2], ARGV[3]) == 1 then return -1 end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[5])
"""
    + _REGISTRY_MOVES
)

# KEYS: record, owners hash, revoked hash, version, token. ARGV: attempt, TTL, kid, iss, time,
# token, floor. → new version; 0 when it was revoked already; -1 when the issuer holds no such
# kid; -2 a replay.
KEY_REVOKE = (
    _REGISTRY_ONCE
    + """
if redis.call('HGET', KEYS[2], ARGV[3]) ~= ARGV[4] then return -1 end
if redis.call('HSETNX', KEYS[3], ARGV[3], ARGV[5]) == 0 then
  record(0)
  return 0
end
"""
    + _REGISTRY_MOVES
)

# One consistent read of the registry, as a script is atomic. Not a MULTI: redis-py 8.1's cluster
# pipeline runs each command queued in a transaction in a thread of its own with an event loop of
# its own (asyncio.run), and a client that reconnects there binds its lock and connections to
# that loop, so the next call on the worker's loop failed (a 500 on key.add, seen in the bench).
# KEYS: version, token, keys hash, revoked hash. → {version, token, keys, revoked}: the hashes
# flat, field then value (a key that is missing: nil).
REGISTRY_READ = """
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]),
        redis.call('HGETALL', KEYS[3]), redis.call('HGETALL', KEYS[4])}
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

# The nonce, the seq rule, the events and the new mark in one script (all under {<iss>}): the
# nonce is the record, claimed only by a message that applies (a refused one uses up nothing).
# KEYS: nonce, mark, then one status key per event. ARGV: attempt, TTL, seq, then sv and colour
# per event. → {'ok', applied} | {'replay', 0} | {'stale_seq', mark} | {'seq_gap', mark}.
# Statuses are msgpack [sv, colour]. Lua numbers are doubles: exact up to 2^53, the SPEC's cap.
STATUS_APPLY = (
    _RECORD
    + """
local done = recorded()
if done then return {'ok', tonumber(done)} end
if done == false then return {'replay', 0} end
local mark = tonumber(redis.call('GET', KEYS[2]) or '0')
local seq = tonumber(ARGV[3])
if seq <= mark then return {'stale_seq', mark} end
if seq > mark + 1 then return {'seq_gap', mark} end
local applied = 0
for i = 3, #KEYS do
  local sv = tonumber(ARGV[2 * i - 2])
  local stored = redis.call('GET', KEYS[i])
  if not stored or sv > cmsgpack.unpack(stored)[1] then
    redis.call('SET', KEYS[i], cmsgpack.pack({sv, tonumber(ARGV[2 * i - 1])}))
    applied = applied + 1
  end
end
redis.call('SET', KEYS[2], ARGV[3])
record(applied)
return {'ok', applied}
"""
)

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
# ARGV: value and TTL in seconds per key. One command instead of a SET per code. A cache entry
# is not written to the append-only file nor sent to replicas (REPL_NONE): the hub fsyncs the
# AOF before every reply (appendfsync always), and a batch's thousand entries, worth nothing
# after a restart, held every client of Redis for that write and grew the file that Redis then
# forks to rewrite (docs/caching.md, "What the AOF holds").
CACHE_PUT = """
redis.set_repl(redis.REPL_NONE)
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
