import { emptyFigures, Findings, type Figures } from './lib/figures.ts';
import type { Rng } from './lib/rng.ts';
export interface ClusterSize { kills: number; serverKills: number; publishEveryMs: number; upMs: [number, number]; downMs: [number, number]; settleMs: number }
export async function clusterScenario(_s: ClusterSize, _r: Rng): Promise<{ figures: Figures; findings: Findings }> { return { figures: emptyFigures(), findings: new Findings('cluster') }; }
