/** The figures every scenario adds to, printed as one JSON line at the end of `npm run chaos`. */
export interface Figures {
  rounds: number;
  kills: number;
  serverKills: number;
  submitted: number;
  succeeded: number;
  failed: number;
  lost: number;
  notTerminal: number;
  doubleCompletions: number;
  reruns: number;
  survivors: number;
  malformed: number;
  rejected: number;
  deadLetters: number;
  acceptedMalformed: number;
  unboundedRedeliveries: number;
  nodeCrashes: number;
  listingGaps: number;
  errorLogLines: number;
  stackTraces: number;
  cliRuns: number;
  cliViolations: number;
  /** CLI errors printed on more than one line (a config header and its problems): reported, not failed. */
  multiLineErrors: number;
  exitCodes: Record<string, number>;
  durationMs: number;
}

export function emptyFigures(): Figures {
  return {
    rounds: 0, kills: 0, serverKills: 0, submitted: 0, succeeded: 0, failed: 0, lost: 0, notTerminal: 0, doubleCompletions: 0,
    reruns: 0, survivors: 0, malformed: 0, rejected: 0, deadLetters: 0, acceptedMalformed: 0, unboundedRedeliveries: 0,
    nodeCrashes: 0, listingGaps: 0, errorLogLines: 0, stackTraces: 0, cliRuns: 0, cliViolations: 0, multiLineErrors: 0, exitCodes: {}, durationMs: 0,
  };
}

/** Adds `b` into `a` (counts add up, the histogram merges). */
export function addFigures(a: Figures, b: Partial<Figures>): void {
  for (const [key, value] of Object.entries(b)) {
    if (key === 'exitCodes') {
      for (const [code, n] of Object.entries(value as Record<string, number>)) a.exitCodes[code] = (a.exitCodes[code] ?? 0) + n;
    } else if (typeof value === 'number') {
      (a as unknown as Record<string, number>)[key] = ((a as unknown as Record<string, number>)[key] ?? 0) + value;
    }
  }
}

/**
 * What a scenario found wrong, one line each ("3 tasks lost: e-12, e-40, …"). The run fails when
 * any scenario reports one; the details go to stderr, the figures to stdout.
 */
export class Findings {
  readonly lines: string[] = [];
  constructor(readonly scenario: string) {}
  add(line: string): void {
    this.lines.push(`[${this.scenario}] ${line}`);
    process.stderr.write(`chaos: [${this.scenario}] FINDING ${line}\n`);
  }
  /** Adds a finding when `count` > 0, naming up to 5 examples. */
  count(count: number, what: string, examples: readonly string[] = []): void {
    if (count > 0) this.add(`${count} ${what}${examples.length ? `: ${examples.slice(0, 5).join(', ')}${examples.length > 5 ? ', …' : ''}` : ''}`);
  }
}

export function note(scenario: string, text: string): void {
  process.stderr.write(`chaos: [${scenario}] ${text}\n`);
}
