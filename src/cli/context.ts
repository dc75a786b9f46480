/**
 * What every command file shares: the context the CLI runs in, the global options, option
 * parsers and `withBackend`. Command files import this module, never each other or main.ts,
 * so the CLI has no import cycle.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { Backend } from '../node/backend.ts';
import type { Config } from '../config/schema.ts';
import { InvalidInputError } from '../errors.ts';
import type { ReeveStore } from '../ports/reeve-store.ts';
import type { Json } from '../protocol/task.ts';
import { jsonDepth, MAX_INPUT_DEPTH } from './arg-shapes.ts';
import { reportError, type Io } from './output.ts';

export interface GlobalOptions {
  config?: string;
  json?: boolean;
}

export interface CliContext {
  io: Io;
  cwd: string;
  env: Record<string, string | undefined>;
  loadConfig(opts: GlobalOptions): Promise<{ config: Config; file?: string }>;
  /** The store and bus of the configured mode (embedded SQLite or the NATS cluster). */
  openBackend(config: Config): Promise<Backend>;
}

/** `--input` takes JSON or `@file` holding JSON. */
export async function parseInputOption(value: string | undefined): Promise<Json | undefined> {
  if (value === undefined) return undefined;
  const text = value.startsWith('@') ? await readFile(value.slice(1), 'utf8').catch((err: Error) => {
    throw new InvalidInputError('--input', [{ path: 'input', message: `cannot read ${value.slice(1)}: ${err.message}` }]);
  }) : value;
  let input: Json;
  try {
    input = JSON.parse(text) as Json;
  } catch (err) {
    throw new InvalidInputError('--input', [{ path: 'input', message: `is not JSON (${(err as Error).message}); quote it, e.g. --input '{"prompt":"hi"}', or pass @file.json` }]);
  }
  if (jsonDepth(input) > MAX_INPUT_DEPTH) {
    throw new InvalidInputError('--input', [{ path: 'input', message: `is nested more than ${MAX_INPUT_DEPTH} levels deep; flatten it, or pass a path to the data instead` }]);
  }
  return input;
}

export function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n <= 0) {
      throw new InvalidInputError(name, [{ path: name, message: `must be a positive integer (got ${JSON.stringify(value)})` }]);
    }
    return n;
  };
}

export type Run = (store: ReeveStore, json: boolean, config: Config, backend: Backend) => Promise<number>;

/** Every task command: load config, open the store (and bus), run, close, map errors to exit codes. */
export function withBackend(ctx: CliContext, program: Command, setExit: (code: number) => void, run: Run) {
  return async () => {
    const opts = program.opts<GlobalOptions>();
    const json = Boolean(opts.json);
    let backend: Backend | undefined;
    try {
      const { config } = await ctx.loadConfig(opts);
      backend = await ctx.openBackend(config);
      setExit(await run(backend.store, json, config, backend));
    } catch (err) {
      setExit(reportError(ctx.io, err, json));
    } finally {
      await backend?.close();
    }
  };
}

/** The global options this command line was given, as words to repeat in a command we print (`--config FILE`). */
export function globalArgs(program: Command): string[] {
  const config = program.opts<GlobalOptions>().config;
  return config === undefined ? [] : ['--config', config];
}
