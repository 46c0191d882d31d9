import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FailureWindows } from '../src/failureWindows.ts';

test('a key is blocked after `limit` failures for the rest of its window (injected clock), then starts a new window', () => {
  let clock = 5_000_000;
  const windows = new FailureWindows(3, 15 * 60_000, () => clock);
  for (let i = 0; i < 3; i++) {
    assert.equal(windows.blockedFor('heidi'), undefined, `after ${i} failures`);
    windows.fail('heidi');
  }
  assert.equal(windows.blockedFor('heidi'), 900);
  assert.equal(windows.blockedFor('ivan'), undefined, 'keys are separate');
  clock += 10 * 60_000 + 1;
  assert.equal(windows.blockedFor('heidi'), 300, 'the rest of the window, rounded up');
  clock += 5 * 60_000 - 1;
  assert.equal(windows.blockedFor('heidi'), undefined, 'the window has passed');
  windows.fail('heidi');
  assert.equal(windows.blockedFor('heidi'), undefined, 'one failure in the new window');
});

test('memory is bounded: beyond maxKeys the least recently used key is forgotten', () => {
  const windows = new FailureWindows(1, 60_000, () => 0, 2);
  windows.fail('a');
  windows.fail('b');
  windows.fail('c');
  assert.equal(windows.blockedFor('a'), undefined);
  assert.equal(windows.blockedFor('b'), 60);
  assert.equal(windows.blockedFor('c'), 60);
});
