import { emptyFigures, Findings, type Figures } from './lib/figures.ts';
import type { Rng } from './lib/rng.ts';
export interface FuzzSize { messages: number; cliVectors: number; configs: number; settleMs: number }
export async function fuzzScenario(_s: FuzzSize, _r: Rng): Promise<{ figures: Figures; findings: Findings }> { return { figures: emptyFigures(), findings: new Findings('fuzz') }; }
