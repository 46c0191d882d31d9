import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRetryAfter } from '../../src/security/retryAfter.ts';

const now = Date.parse('1994-11-06T08:49:00Z');

test('delay-seconds is taken as it is', () => {
  assert.equal(parseRetryAfter('120', now), 120);
  assert.equal(parseRetryAfter('0', now), 0);
  assert.equal(parseRetryAfter('007', now), 7);
  assert.equal(parseRetryAfter('999999999', now), 999_999_999);
});

test('an HTTP-date in each of RFC 9110\'s three formats is the seconds until then', () => {
  // RFC 9110 §5.6.7's own example instant, 37 s after `now`.
  assert.equal(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', now), 37);
  assert.equal(parseRetryAfter('Sunday, 06-Nov-94 08:49:37 GMT', now), 37);
  assert.equal(parseRetryAfter('Sun Nov  6 08:49:37 1994', now), 37);
  // Fractions of a second round up: never ask to come back before the date.
  assert.equal(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', now + 500), 37);
});

test('a date in the past means now', () => {
  assert.equal(parseRetryAfter('Sat, 05 Nov 1994 08:49:37 GMT', now), 0);
});

test('a two-digit year more than 50 years ahead is in the past century', () => {
  // In 1994, "45" is 2045 (51 years ahead → 1945), "44" is 2044.
  assert.equal(parseRetryAfter('Saturday, 06-Nov-45 08:49:37 GMT', now), 0);
  assert.equal(parseRetryAfter('Sunday, 06-Nov-44 08:49:37 GMT', now), (Date.parse('2044-11-06T08:49:37Z') - now) / 1000);
});

test('anything else is not a Retry-After', () => {
  for (const value of [
    null, undefined, '', ' 5', '5 ', '-1', '+5', '1.5', '1e3', '0x10', '5s', 'soon', '1234567890',
    'Sun, 6 Nov 1994 08:49:37 GMT', // the day has two digits
    'Sun, 06 Nov 1994 08:49:37 UTC', // GMT only
    'Sun, 31 Feb 1994 08:49:37 GMT', // no such day
    'Sun, 06 Nov 1994 24:00:00 GMT',
    'sun, 06 nov 1994 08:49:37 gmt', // case-sensitive
    '1994-11-06T08:49:37Z', // ISO 8601 is not an HTTP-date
    'Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:38 GMT',
  ]) {
    assert.equal(parseRetryAfter(value, now), undefined, `${JSON.stringify(value)} is refused`);
  }
});
