-- One pacing decision for one key, in one round trip: reservation-style GCRA on the server's
-- clock, after any 429 penalty in force. All times are microseconds of Redis server time.
--
-- KEYS[1]  the key's state, a hash: tat (theoretical arrival time), and after a 429
--          slot (next penalty slot), until (end of slow pacing), spacing (penalty spacing)
-- ARGV[1]  interval between calls (us)      ARGV[2]  burst (calls)
-- ARGV[3]  longest acceptable wait (us), or -1 for no limit
-- ARGV[4]  horizon (us): state further ahead than this was written by a clock that has since
--          stepped back, and is dropped (a fresh key is what the limits allow)
-- ARGV[5]  arrival allowance (us): taken from the burst's tolerance, so that a call which
--          reaches Fly sooner after the one before than they were admitted (processes and
--          networks delay calls unevenly) still finds its token there
--
-- Returns {admitted (1 or 0), wait (us), server time (us)}. An admitted call has its slot
-- reserved and must wait `wait` before going; a refused one (wait past the limit) reserves
-- nothing.
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local horizon = tonumber(ARGV[4])
local allowance = tonumber(ARGV[5]) or 0

local state = redis.call('HMGET', KEYS[1], 'tat', 'slot', 'until', 'spacing')
local tat = tonumber(state[1]) or now
local slot = tonumber(state[2])
local paced_until = tonumber(state[3]) or 0
local spacing = tonumber(state[4]) or interval

if tat > now + horizon or (slot ~= nil and slot > now + horizon) or paced_until > now + horizon then
  redis.call('DEL', KEYS[1])
  tat, slot, paced_until, spacing = now, nil, 0, interval
end

-- A penalty holds the key until its next slot, then spaces calls without bursts.
local start = now
local penalized = slot ~= nil and (now < paced_until or now < slot)
if penalized then
  start = math.max(slot, now)
end

-- GCRA: a call may go once the arrival time is within the burst's tolerance.
local tolerance = math.max(0, (burst - 1) * interval - allowance)
local admit = math.max(start, tat - tolerance)
local wait = admit - now
if max_wait >= 0 and wait > max_wait then
  return {0, wait, now}
end

local new_tat = math.max(tat, admit) + interval
local expires = new_tat
if penalized then
  local next_slot = start + spacing
  redis.call('HSET', KEYS[1], 'tat', new_tat, 'slot', next_slot)
  expires = math.max(expires, next_slot, paced_until)
else
  redis.call('HSET', KEYS[1], 'tat', new_tat)
  if slot ~= nil then
    redis.call('HDEL', KEYS[1], 'slot', 'until', 'spacing')
  end
end
-- Past `expires` the state says nothing a fresh key would not: let Redis drop it.
redis.call('PEXPIRE', KEYS[1], math.floor((expires - now) / 1000) + 1)
return {1, wait, now}
