import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.ts';
import { openSqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { project, reeve } from '../support/cli.ts';
import { fixtureAgent } from '../support/test-node.ts';

/**
 * The contract's nesting limit on `input` (at most 512 levels): checked without recursion, so
 * an input 10 000 levels deep is a validation error naming `input` on every path instead of a
 * RangeError from JSON.stringify or zod (an INTERNAL exit 5, or a redelivery loop on NATS; the
 * NATS path is in submit-intake.test.ts).
 */
const nested = (levels: number): string => `${'['.repeat(levels)}${']'.repeat(levels)}`;

describe('an input nested deeper than 512 levels', () => {
  it('is refused by the store API as INVALID_INPUT naming input; 512 levels are accepted', async () => {
    const store = openSqliteTaskStore({ path: ':memory:', clock: new FakeClock() });
    try {
      const err = await store.submit({ kind: 'echo', input: JSON.parse(nested(10_000)) }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: ErrorCode.InvalidInput, message: expect.stringMatching(/input: is nested more than 512 levels deep/) });
      await expect(store.submit({ id: 'at-limit', kind: 'echo', input: JSON.parse(nested(512)) })).resolves.toMatchObject({ created: true });
    } finally {
      await store.close();
    }
  });

  describe('through the CLI', () => {
    let p: { dir: string; remove(): void };
    beforeAll(() => {
      p = project({ agents: { echo: { module: fixtureAgent('echo.ts') } } });
    });
    afterAll(() => p.remove());

    it('exits 2 naming input', async () => {
      const r = await reeve(p.dir, ['submit', 'echo', '--input', nested(10_000), '--json']);
      expect(r.code, r.stderr).toBe(2);
      expect(JSON.parse(r.stdout)).toEqual({ error: { code: 'INVALID_INPUT', message: expect.stringMatching(/input: is nested more than 512 levels deep/) } });
      expect(r.stderr).not.toMatch(/RangeError|Maximum call stack/);
    });
  });
});
