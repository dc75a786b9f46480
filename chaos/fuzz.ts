import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fuzzCli } from './fuzz-cli.ts';
import { fuzzNats } from './fuzz-nats.ts';
import { addFigures, emptyFigures, Findings, type Figures } from './lib/figures.ts';
import type { Rng } from './lib/rng.ts';

export interface FuzzSize {
  /** Malformed messages published on `reeve.submit`. */
  messages: number;
  /** CLI argument vectors (the targeted ones first, then random ones). */
  cliVectors: number;
  /** Broken config files. */
  configs: number;
  settleMs: number;
}

/** (c) Malformed input on NATS, the CLI and config files (HTTP does not exist yet). */
export async function fuzzScenario(size: FuzzSize, r: Rng): Promise<{ figures: Figures; findings: Findings }> {
  const findings = new Findings('fuzz');
  const figures = emptyFigures();
  const dir = mkdtempSync(join(tmpdir(), 'reeve-chaos-fuzz-'));
  try {
    if (size.messages > 0) addFigures(figures, await fuzzNats(dir, size.messages, size.settleMs, r, findings));
    addFigures(figures, await fuzzCli(dir, size, r, findings));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { figures, findings };
}
