import type { Json } from '../protocol/task.ts';

export class PlaceholderError extends Error {
  override name = 'PlaceholderError';
}

const PLACEHOLDER = /\{\{\s*input((?:\.[A-Za-z0-9_-]+)*)\s*\}\}/g;

/**
 * Expands `{{input.field}}` inside each argument. Each argument stays one argument: nothing is
 * split or passed to a shell. Strings go in as they are; other values as JSON.
 */
export function expandArgs(command: readonly string[], input: Json | undefined): string[] {
  return command.map((arg) =>
    arg.replace(PLACEHOLDER, (_match, path: string) => {
      let value: unknown = input;
      for (const key of path.split('.').filter(Boolean)) {
        if (value === null || typeof value !== 'object' || !(key in value)) {
          throw new PlaceholderError(`argument "${arg}" needs input${path}, which the task input does not have; add it to the input or change the kind's command`);
        }
        value = (value as Record<string, unknown>)[key];
      }
      return typeof value === 'string' ? value : JSON.stringify(value);
    }),
  );
}
