import { z } from 'zod';

/**
 * What a gate returns (DESIGN.md, "Human steps"): `{ pass, reason?, goto? }`, from a module
 * gate's return value or a command gate's last stdout line. Other fields are allowed (a gate may
 * return its findings); a value without `pass` is not a verdict and passes.
 */
export const gateVerdictSchema = z.looseObject({
  pass: z.boolean({ error: 'must be true or false' }),
  reason: z.string({ error: 'must be a string' }).max(4096, 'must be at most 4096 characters').optional(),
  goto: z.string({ error: 'must be a step name' }).regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a step name').optional(),
});
export type GateVerdict = z.infer<typeof gateVerdictSchema>;
