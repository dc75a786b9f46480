import type { Figures, Findings } from './figures.ts';
import type { CliRun } from './procs.ts';

/**
 * `reeve tasks --json --limit N` on a pipe must list every acknowledged task (it is the
 * operator's view): ids it leaves out are gaps; output that does not parse (cut short) is a
 * finding of its own.
 */
export async function listingGaps(cli: (args: string[]) => Promise<CliRun>, acked: string[], findings: Findings): Promise<Partial<Figures>> {
  const run = await cli(['tasks', '--json', '--limit', String(acked.length + 1000)]);
  if (run.code !== 0) {
    findings.add(`reeve tasks --json exited ${run.code}: ${run.stderr.trim().split('\n').slice(-2).join(' | ')}`);
    return { listingGaps: acked.length };
  }
  let listed: Array<{ id: string }>;
  try {
    listed = JSON.parse(run.stdout) as Array<{ id: string }>;
  } catch {
    findings.add(`reeve tasks --json printed ${Buffer.byteLength(run.stdout)} bytes on a pipe that do not parse as JSON (output cut short?)`);
    return { listingGaps: acked.length };
  }
  const ids = new Set(listed.map((t) => t.id));
  const missing = acked.filter((id) => !ids.has(id));
  findings.count(missing.length, `acknowledged tasks missing from reeve tasks --json (${listed.length} listed)`, missing);
  return { listingGaps: missing.length };
}
