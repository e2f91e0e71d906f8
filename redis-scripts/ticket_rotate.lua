--[[
ticket_rotate: compare-and-set of a ticket key ring, so that exactly one
node writes each generation however many race, and at most one rotation
happens per period, judged by the Redis server's clock.

The ring is one string: gen (8 bytes, big-endian) | rotated_at (8 bytes,
big-endian milliseconds of Redis' clock) | the sealed ring.  The caller
has read the ring (or found none), built the next generation locally and
sealed it; the header is written here, so that the time is Redis' own.

KEYS[1]  the ring's key
ARGV[1]  the generation the caller read: its 8 header bytes, or "" when
         it found no ring
ARGV[2]  the rotation period in milliseconds, a positive integer
ARGV[3]  the sealed ring of generation ARGV[1] + 1 (1 when ARGV[1] is "")
ARGV[4]  optional: "value" to have the ring stored afterwards returned
         instead of the reply below (for a caller reading it through a
         plain GET's path)

Generations only grow.  A stored generation below ARGV[1] (Redis rolled
back: a restored backup, a lagging replica promoted) or no ring at all
while the caller holds one is replaced at once, whatever the period, by
the caller's next generation: built from the newest ring the caller
knows, it never makes an older key current again.

Returns {1, header} when it wrote ARGV[3] under the new header
(ARGV[1] + 1, now); {0, header} when it wrote nothing, with the header
stored now ("" when there is no ring): another node was first, or the
period has not passed yet.  The caller then reads the ring again.
With ARGV[4], the value stored afterwards, or nil.
Errors: a bad period, a bad generation, a generation that cannot grow,
a value of another type (WRONGTYPE).
]]

-- before Redis 5, scripts replicate verbatim and TIME forbids writes
if redis.replicate_commands ~= nil then
    redis.replicate_commands()
end

local period = tonumber(ARGV[2])

if period == nil or period < 1 or period ~= math.floor(period) then
    return redis.error_reply('ERR ticket_rotate: bad period')
end

local function be64(n)
    local b = {}

    for i = 8, 1, -1 do
        b[i] = n % 256
        n = math.floor(n / 256)
    end

    return string.char(unpack(b))
end

local function num(s, at)
    local n = 0

    for i = at, at + 7 do
        n = n * 256 + string.byte(s, i)
    end

    return n
end

if ARGV[1] ~= '' and #ARGV[1] ~= 8 then
    return redis.error_reply('ERR ticket_rotate: bad generation')
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local cur = redis.call('GET', KEYS[1])
local gen = 0

-- the value stored now, in the form the caller asked for
local function unchanged()
    if ARGV[4] == 'value' then
        return cur
    end

    if cur then
        return {0, string.sub(cur, 1, 16)}
    end

    return {0, ''}
end

if ARGV[1] ~= '' then
    gen = num(ARGV[1], 1)
end

if cur then
    if #cur < 16 then
        return unchanged()
    end

    if string.sub(cur, 1, 8) == ARGV[1] then
        if now - num(cur, 9) < period then
            return unchanged()
        end

    elseif ARGV[1] == '' or num(cur, 1) >= gen then
        -- another node was first, or the caller's ring is not the newest
        return unchanged()
    end

    -- the caller's generation as read, or a newer one than stored
end

-- beyond 2^53 Lua numbers lose integers
if gen >= 9007199254740991 then
    return redis.error_reply('ERR ticket_rotate: generation overflow')
end

local header = be64(gen + 1) .. be64(now)

redis.call('SET', KEYS[1], header .. ARGV[3])

if ARGV[4] == 'value' then
    return header .. ARGV[3]
end

return {1, header}
