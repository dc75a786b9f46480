import type { AgentConfig } from '../config/schema.ts';

/** `{{input.a.b}}` in a command's argument (the syntax src/pool/placeholders.ts expands). */
const PLACEHOLDER = /\{\{\s*input((?:\.[A-Za-z0-9_-]+)+)\s*\}\}/g;

/**
 * The `--input` of the submit command `reeve start` suggests for a kind: one field for each
 * `{{input.field}}` its commands need, so the suggestion runs (a kind whose command needs
 * `input.issue` fails at once on `{"message":"hi"}`); `{"message":"hi"}` when none needs any.
 */
export function exampleInput(agent: AgentConfig | undefined): string {
  const argvs: Array<readonly string[]> = [];
  const add = (handler: object | undefined) => {
    if (handler && 'command' in handler) argvs.push(handler.command as readonly string[]);
  };
  if (agent && 'steps' in agent) for (const step of agent.steps) [step.run, step.gate, step.compensate].forEach(add);
  else add(agent);
  const paths = argvs.flatMap((argv) => argv.flatMap((arg) => [...arg.matchAll(PLACEHOLDER)].map((m) => m[1]!.split('.').slice(1))));
  if (paths.length === 0) return JSON.stringify({ message: 'hi' });
  const input: Record<string, unknown> = {};
  for (const path of paths) {
    let at = input;
    path.forEach((key, i) => {
      if (i === path.length - 1) at[key] ??= '…';
      else at = (typeof at[key] === 'object' && at[key] !== null ? at[key] : (at[key] = {})) as Record<string, unknown>;
    });
  }
  return JSON.stringify(input);
}
