import pino, { type DestinationStream, type Logger as PinoLogger } from 'pino';
import type { Config } from '../config/schema.ts';
import { createSecretRedactor } from '../protocol/secret-redactor.ts';

/**
 * The pino root of `reeve start`: JSON lines on stderr (stdout is for `--json`), credentials
 * redacted by path, and the config's `secrets` by value. The node already redacts what it logs
 * (actors/redacting-logger.ts); the hook also covers the lines logged here and whatever a
 * serialiser adds, on the very text pino is about to write.
 */
export function nodeLogger(config: Config, destination: DestinationStream = pino.destination({ fd: 2, sync: true })): PinoLogger {
  const redactor = createSecretRedactor(config.secrets);
  return pino(
    {
      level: config.node.logLevel,
      base: { pid: process.pid },
      redact: { paths: ['*.token', '*.pass', '*.password', 'nats.*'], censor: '[redacted]' },
      ...(redactor ? { hooks: { streamWrite: (line: string) => redactor.json(line) } } : {}),
    },
    destination,
  );
}
