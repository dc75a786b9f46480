import { describe, expect, it } from 'vitest';
import { exampleInput } from '../../src/cli/start-hint.ts';
import { configSchema } from '../../src/config/schema.ts';

const agent = (a: unknown) => configSchema.parse({ agents: { k: a } }).agents['k'];

describe('the submit command reeve start suggests', () => {
  it('fills every field a command placeholder of the kind needs, in its steps, gates and compensations too', () => {
    const steps = agent({
      steps: [
        { name: 'plan', run: { command: ['plan', '-p', 'Plan {{input.issue}} in {{ input.repo.url }}'] } },
        { name: 'check', run: { module: './x.ts' }, gate: { command: ['check', '{{input.issue}}'] }, compensate: { command: ['undo', '{{input.ticket}}'] } },
      ],
    });
    expect(JSON.parse(exampleInput(steps))).toEqual({ issue: '…', repo: { url: '…' }, ticket: '…' });
    expect(JSON.parse(exampleInput(agent({ command: ['claude', '-p', '{{input.prompt}}'] })))).toEqual({ prompt: '…' });
  });

  it('suggests {"message":"hi"} for a kind whose commands need no input field, or a module', () => {
    expect(exampleInput(agent({ module: './echo.ts' }))).toBe('{"message":"hi"}');
    expect(exampleInput(agent({ command: ['node', '-e', '1'] }))).toBe('{"message":"hi"}');
    expect(exampleInput(undefined)).toBe('{"message":"hi"}');
  });
});
