import { describe, expect, it } from 'vitest';
import { submissionsToPull } from '../../src/actors/intake-loop.ts';

describe('submissionsToPull', () => {
  it('fills the slots and one batch of prefetch when nothing waits', () => {
    expect(submissionsToPull(16, 0, 0)).toBe(32);
    expect(submissionsToPull(16, 16, 0)).toBe(16);
  });

  it('waits for half a batch of room while work still waits in the store', () => {
    // One run ended: 1 slot of room, 15 queued → no pull for a single message.
    expect(submissionsToPull(16, 16, 15)).toBe(0);
    expect(submissionsToPull(16, 16, 9)).toBe(0);
    expect(submissionsToPull(16, 16, 8)).toBe(8);
  });

  it('pulls even one when nothing waits, so an idle slot is never left empty', () => {
    expect(submissionsToPull(16, 31, 0)).toBe(1);
    expect(submissionsToPull(1, 1, 0)).toBe(1);
  });

  it('pulls nothing without room, and at most 256 at once', () => {
    expect(submissionsToPull(16, 16, 16)).toBe(0);
    expect(submissionsToPull(16, 20, 20)).toBe(0);
    expect(submissionsToPull(1000, 0, 0)).toBe(256);
  });
});
