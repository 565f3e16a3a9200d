-- Records a 429 on one key, for every replica: hold the key for `hold`, then pace it without
-- bursts, one call per `spacing`, until `cooldown` after the hold. Microseconds throughout.
--
-- KEYS[1]  the key's state (see acquire.lua)
-- ARGV[1]  hold (us)   ARGV[2]  cooldown (us)   ARGV[3]  spacing (us)
--
-- Returns the server time (us).
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local hold = tonumber(ARGV[1])
local cooldown = tonumber(ARGV[2])
local spacing = tonumber(ARGV[3])

local slot = now + hold
local paced_until = slot + cooldown
redis.call('HSET', KEYS[1], 'slot', slot, 'until', paced_until, 'spacing', spacing)
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat')) or now
local expires = math.max(paced_until, tat)
redis.call('PEXPIRE', KEYS[1], math.floor((expires - now) / 1000) + 1)
return now
