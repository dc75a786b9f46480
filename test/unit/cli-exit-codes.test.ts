import { describe, expect, it } from 'vitest';
import { drainRefused } from '../../src/cli/drain.ts';
import { Exit, exitCodeFor } from '../../src/cli/output.ts';
import { ErrorCode, ReeveError } from '../../src/errors.ts';

describe('CLI exit codes', () => {
  it('a node refusing to drain is refused (4), not not-found (3)', () => {
    const err = drainRefused('node-a', 'the node is already stopping');
    expect(err.code).toBe(ErrorCode.Refused);
    expect(err.message).toContain('node-a refused to drain: the node is already stopping');
    expect(exitCodeFor(err)).toBe(Exit.Refused);
  });

  it('a node that is not running is not found (3)', () => {
    expect(exitCodeFor(new ReeveError(ErrorCode.NodeNotFound, 'no running node x'))).toBe(Exit.NotFound);
  });
});
