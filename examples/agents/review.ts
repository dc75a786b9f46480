// Step 2 of `ship`: fails permanently when the input asks for it, to show compensations.
import { PermanentError } from 'reeve/agent';

export default async function review(input: { reject?: boolean } | undefined) {
  if (input?.reject) throw new PermanentError('review rejected the change (simulated)');
  return { approved: true };
}
