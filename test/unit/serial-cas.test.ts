import { describe, expect, it } from 'vitest';
import { serverHasSerialCas } from '../../src/store/kv/serial-cas.ts';

describe('serverHasSerialCas', () => {
  it('says which nats-server releases check the expected subject sequence when applying (2.9.21 on)', () => {
    for (const v of ['2.9.10', '2.9.20', '2.8.4', '1.4.1', undefined, 'garbage']) expect(serverHasSerialCas(v)).toBe(false);
    for (const v of ['2.9.21', '2.9.25', '2.10.0', '2.11.3-beta', '3.0.0']) expect(serverHasSerialCas(v)).toBe(true);
  });
});
