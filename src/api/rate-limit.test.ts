import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRateLimit } from '../domain/rate-limit.js';
import { RateLimiter } from './rate-limit.js';
import { ConfigError, loadConfig } from '../config.js';

function clock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

test('a key gets its burst at once, then the rate; other keys are not affected', () => {
  const c = clock();
  const limiter = new RateLimiter({ ratePerSecond: 2, burst: 3 }, { now: c.now });
  for (let i = 0; i < 3; i++) assert.deepEqual(limiter.take('a'), { ok: true });
  assert.deepEqual(limiter.take('a'), { ok: false, retryAfterSeconds: 1 });
  assert.deepEqual(limiter.take('b'), { ok: true }, 'another key has its own bucket');
  c.advance(500); // one request's worth at 2/s
  assert.deepEqual(limiter.take('a'), { ok: true });
  assert.equal(limiter.take('a').ok, false);
  c.advance(10_000); // refills to the burst, never past it
  for (let i = 0; i < 3; i++) assert.equal(limiter.take('a').ok, true);
  assert.equal(limiter.take('a').ok, false);
});

test('Retry-After is the whole seconds until one request is allowed again', () => {
  const c = clock();
  const limiter = new RateLimiter({ ratePerSecond: 1, burst: 1 }, { now: c.now });
  assert.equal(limiter.take('k').ok, true);
  assert.deepEqual(limiter.take('k'), { ok: false, retryAfterSeconds: 1 });
  const slow = new RateLimiter({ ratePerSecond: 1, burst: 1 }, { now: c.now });
  slow.take('k');
  c.advance(200);
  assert.deepEqual(slow.take('k'), { ok: false, retryAfterSeconds: 1 });
});

test('rate 0 turns the limit off', () => {
  const limiter = new RateLimiter({ ratePerSecond: 0, burst: 0 });
  for (let i = 0; i < 10_000; i++) assert.equal(limiter.take('x').ok, true);
  assert.equal(limiter.size, 0);
});

test('memory stays bounded under a scan of many keys', () => {
  const c = clock();
  const limiter = new RateLimiter({ ratePerSecond: 1, burst: 2 }, { now: c.now, maxKeys: 1000 });
  for (let i = 0; i < 50_000; i++) limiter.take(`10.0.${i >> 8}.${i & 255}`);
  assert.ok(limiter.size <= 1000, `size ${limiter.size}`);
  c.advance(5000);
  limiter.take('fresh');
  assert.ok(limiter.size <= 1000);
});

test('parseRateLimit: RATE, RATE:BURST, 0; anything else is refused', () => {
  assert.deepEqual(parseRateLimit('200'), { ratePerSecond: 200, burst: 400 });
  assert.deepEqual(parseRateLimit('200:50'), { ratePerSecond: 200, burst: 50 });
  assert.deepEqual(parseRateLimit('0'), { ratePerSecond: 0, burst: 0 });
  assert.deepEqual(parseRateLimit('0.5:3'), { ratePerSecond: 0.5, burst: 3 });
  for (const bad of ['', 'fast', '-1', '1.', '10:0', '10:1.5', '10:', ':10', '1:2:3'])
    assert.equal(parseRateLimit(bad), null, bad);
});

test('configuration: defaults, overrides, and a clear error naming the variable', () => {
  const d = loadConfig({});
  assert.deepEqual(d.rateLimitPerToken, { ratePerSecond: 200, burst: 400 });
  assert.deepEqual(d.rateLimitPerIp, { ratePerSecond: 1000, burst: 2000 });
  const c = loadConfig({ SWITCHBOARD_RATE_LIMIT_PER_TOKEN: '5:10', SWITCHBOARD_RATE_LIMIT_PER_IP: '0' });
  assert.deepEqual(c.rateLimitPerToken, { ratePerSecond: 5, burst: 10 });
  assert.equal(c.rateLimitPerIp.ratePerSecond, 0);
  assert.throws(
    () => loadConfig({ SWITCHBOARD_RATE_LIMIT_PER_IP: 'lots' }),
    (e: unknown) => e instanceof ConfigError && /^SWITCHBOARD_RATE_LIMIT_PER_IP: /.test(e.message),
  );
});
