import { closeSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { ErrorCode, ReeveError } from '../errors.ts';
import { createSecretRedactor, type SecretRedactor } from '../protocol/secret-redactor.ts';

export interface RunLogOptions {
  /** Directory of the log files; created if missing. */
  dir: string;
  /** Names the files: `<runId>.log`, `<runId>.log.1`, … A single path segment. */
  runId: string;
  /** Size at which the current file is rotated, in bytes. Default 5 MiB. */
  maxBytes?: number;
  /** Files kept, the current one included (`<runId>.log` … `<runId>.log.<keepFiles-1>`). Default 3. */
  keepFiles?: number;
  /** Values replaced by `[redacted]` in the file and the tail. Values under 4 characters are ignored. */
  secrets: readonly string[];
  /** Bytes of output (UTF-8, both streams, redacted) kept in memory for `tail()`. Default TAIL_BYTES (16 KiB). */
  tailBytes?: number;
  /**
   * Called once, with the fs error (`code` ENOSPC, EACCES, ENOTDIR, …), when the log cannot be
   * opened or written; from then on output is dropped (the tail is still kept). Never called
   * during `openRunLog` itself, so the callback may refer to the returned log.
   */
  onError?(err: Error): void;
}

/** A per-run log of a command agent's stdout and stderr: prefixed lines, redacted, rotated by size. */
export interface RunLog {
  /** The current file. Rotated files are `${path}.1`, `${path}.2`, … (oldest last). */
  readonly path: string;
  /** Never throws. Partial lines wait for their newline (or for `close()`). */
  write(stream: 'stdout' | 'stderr', chunk: string | Buffer): void;
  /**
   * The complete lines of both streams within the last `tailBytes` bytes, as they interleaved,
   * redacted, without prefix; the first one may be cut at its start.
   */
  tail(): string[];
  /** Writes any partial lines, then closes the file. Idempotent; later writes are dropped. */
  close(): Promise<void>;
}

/**
 * Longest line kept in memory or written as one line, in UTF-16 code units. Longer output
 * (a progress bar, a minified blob without newlines) is broken into lines of this size, so
 * memory stays bounded and nothing is lost.
 */
export const MAX_LINE_CHARS = 65_536;
/**
 * What a failed run is classified by: enough to hold the provider's error with the stack or
 * JSON around it and a few retries' worth of lines; classifying it takes ~1.4 ms (measured on a
 * loaded 2-core box), once per failed run.
 */
export const TAIL_BYTES = 16 * 1024;

export function openRunLog(options: RunLogOptions): RunLog {
  return new FileRunLog(options);
}

interface StreamState {
  prefix: string;
  decoder: StringDecoder;
  /** Raw (unredacted) text after the last newline. */
  partial: string;
}

/*
 * Synchronous appends on one fd, not a write stream, because:
 * - rotation by size is exact: the size is known after every write, and a rename never races
 *   a stream's queued writes;
 * - an error (ENOSPC) surfaces at the call, where it is caught once; a stream reports it
 *   later through an 'error' event, after having buffered;
 * - a stream queues in memory whatever the child prints faster than the disk takes it.
 * The cost is one write(2) per chunk (a pipe read is at most 64 KiB), into the page cache:
 * bench/spawn.ts measures 10 MiB of 80-byte lines at ~50-90 ms on a busy 2-CPU box, i.e.
 * ~0.3-0.5 ms of event loop per 64 KiB chunk, most of it line handling rather than the write.
 * On a slow network disk this would block the event loop; the data dir is expected to be local.
 */
class FileRunLog implements RunLog {
  readonly path: string;
  private readonly maxBytes: number;
  private readonly keepFiles: number;
  private readonly tailBytes: number;
  /** Undefined when the config has no secret worth redacting. */
  private readonly redactor: SecretRedactor | undefined;
  private readonly streams: Record<'stdout' | 'stderr', StreamState>;
  /** Complete lines joined by '\n'; at most 2 × tailBytes UTF-16 units (trimmed in batches). */
  private tailText = '';
  private hasTail = false;
  private fd: number | undefined;
  private size = 0;
  private openError: unknown;
  private hasFailed = false;
  private isClosed = false;

  constructor(private readonly options: RunLogOptions) {
    this.maxBytes = positiveInt('maxBytes', options.maxBytes ?? 5 * 1024 * 1024, 1);
    this.keepFiles = positiveInt('keepFiles', options.keepFiles ?? 3, 1);
    this.tailBytes = positiveInt('tailBytes', options.tailBytes ?? TAIL_BYTES, 0);
    if (!/^[^/\\\0]+$/.test(options.runId) || options.runId === '.' || options.runId === '..') {
      throw new ReeveError(ErrorCode.InvalidInput, `runLog.runId must be a single path segment (got ${JSON.stringify(options.runId)})`);
    }
    this.path = join(options.dir, `${options.runId}.log`);
    this.redactor = createSecretRedactor(options.secrets);
    this.streams = {
      stdout: { prefix: 'out| ', decoder: new StringDecoder('utf8'), partial: '' },
      stderr: { prefix: 'err| ', decoder: new StringDecoder('utf8'), partial: '' },
    };
    try {
      mkdirSync(options.dir, { recursive: true });
      this.fd = openSync(this.path, 'a');
      this.size = fstatSync(this.fd).size;
    } catch (err) {
      this.openError = err; // reported by the first write or close, not before the caller has the log
    }
  }

  write(stream: 'stdout' | 'stderr', chunk: string | Buffer): void {
    if (this.isClosed) return;
    try {
      this.reportOpenError();
      const st = this.streams[stream];
      const text = typeof chunk === 'string' ? chunk : st.decoder.write(chunk);
      if (text === '') return;
      let buf = st.partial + text;
      const nl = buf.lastIndexOf('\n');
      if (nl >= 0) {
        // A secret never holds a newline (the redactor splits them), so none spans this cut.
        this.emitComplete(st.prefix, this.redact(buf.slice(0, nl)));
        buf = buf.slice(nl + 1);
      }
      const out: string[] = [];
      st.partial = this.breakLongPartial(buf, out);
      this.emit(st.prefix, out);
    } catch (err) {
      this.fail(err);
    }
  }

  tail(): string[] {
    if (!this.hasTail) return [];
    // Every UTF-16 unit takes at least one UTF-8 byte: the last tailBytes units hold the last tailBytes bytes.
    let text = this.tailText.length > this.tailBytes ? this.tailText.slice(-this.tailBytes) : this.tailText;
    const bytes = Buffer.from(text);
    // A cut inside a character leaves replacement characters (UTF-8) or half a surrogate pair (UTF-16) in front.
    if (bytes.length > this.tailBytes) text = bytes.subarray(bytes.length - this.tailBytes).toString('utf8').replace(/^\uFFFD+/, '');
    return text.replace(/^[\uDC00-\uDFFF]/, '').split('\n');
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    try {
      this.reportOpenError();
      for (const st of Object.values(this.streams)) {
        const rest = st.partial + st.decoder.end();
        st.partial = '';
        if (rest !== '') this.emitComplete(st.prefix, this.redact(rest));
      }
      if (this.fd !== undefined) closeSync(this.fd);
      this.fd = undefined;
    } catch (err) {
      this.fail(err);
    }
  }

  private redact(text: string): string {
    return this.redactor ? this.redactor.text(text) : text;
  }

  /**
   * Emits the head of a partial line that outgrew MAX_LINE_CHARS and returns what stays
   * buffered: at least `lookbehind` characters, so a secret whose first part arrived in this
   * chunk is still whole when the next chunk completes it.
   */
  private breakLongPartial(partial: string, out: string[]): string {
    const lookbehind = this.redactor?.lookbehind ?? 0;
    if (partial.length <= MAX_LINE_CHARS + lookbehind) return partial;
    const want = Math.floor((partial.length - lookbehind) / MAX_LINE_CHARS) * MAX_LINE_CHARS;
    const cut = this.redactor ? this.redactor.safeCut(partial, want) : want;
    if (cut <= 0) return partial;
    splitLines(this.redact(partial.slice(0, cut)), out, false);
    return partial.slice(cut);
  }

  /**
   * Emits redacted text that ends at a newline (the newline itself excluded). The usual case —
   * no `\r`, no over-long line, no rotation due — is prefixed with one replaceAll instead of a
   * string per line: that halves the line handling of a chatty run (profiled, 80-byte lines).
   */
  private emitComplete(prefix: string, text: string): void {
    if (text.includes('\r') || longestLine(text) > MAX_LINE_CHARS) {
      const out: string[] = [];
      splitLines(text, out, true);
      return this.emit(prefix, out);
    }
    this.keepTail(text);
    if (this.fd === undefined) return;
    const block = Buffer.from(`${prefix}${text.replaceAll('\n', `\n${prefix}`)}\n`);
    if (this.size + block.length <= this.maxBytes) return this.writeBuffer(block);
    this.append(text.split('\n').map((line) => `${prefix}${line}\n`));
  }

  private emit(prefix: string, out: readonly string[]): void {
    if (out.length === 0) return;
    this.keepTail(out.join('\n'));
    if (this.fd !== undefined) this.append(out.map((line) => `${prefix}${line}\n`));
  }

  /** Keeps complete lines (joined by '\n') for `tail()`. */
  private keepTail(lines: string): void {
    if (this.tailBytes === 0) return;
    if (lines.length >= this.tailBytes) this.tailText = lines.slice(-this.tailBytes);
    else this.tailText = this.hasTail ? `${this.tailText}\n${lines}` : lines;
    this.hasTail = true;
    // Trim in batches: amortized O(1) per byte instead of a copy per chunk.
    if (this.tailText.length > 2 * this.tailBytes) this.tailText = this.tailText.slice(-this.tailBytes);
  }

  /** Appends whole lines, rotating before a line that would take the file past maxBytes. */
  private append(pieces: readonly string[]): void {
    let batch = '';
    let batchBytes = 0;
    for (const piece of pieces) {
      const bytes = Buffer.byteLength(piece);
      // A line larger than maxBytes on its own still goes, alone, into a fresh file.
      if (this.size + batchBytes + bytes > this.maxBytes && this.size + batchBytes > 0) {
        this.writeBuffer(Buffer.from(batch));
        this.rotate();
        batch = '';
        batchBytes = 0;
      }
      batch += piece;
      batchBytes += bytes;
    }
    this.writeBuffer(Buffer.from(batch));
  }

  private writeBuffer(buf: Buffer): void {
    if (buf.length === 0 || this.fd === undefined) return;
    for (let off = 0; off < buf.length; ) {
      const n = writeSync(this.fd, buf, off);
      if (n <= 0) throw new Error(`write to ${this.path} made no progress`);
      off += n;
    }
    this.size += buf.length;
  }

  private rotate(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    const name = (i: number) => (i === 0 ? this.path : `${this.path}.${i}`);
    if (this.keepFiles === 1) rmSync(this.path, { force: true });
    // rename() replaces the target, so the oldest file drops off as the others shift up.
    for (let i = this.keepFiles - 1; i >= 1; i--) {
      try {
        renameSync(name(i - 1), name(i));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    this.fd = openSync(this.path, 'a');
    this.size = 0;
  }

  private reportOpenError(): void {
    if (this.openError === undefined) return;
    const err = this.openError;
    this.openError = undefined;
    this.fail(err);
  }

  /** Reports the first failure and stops writing; the tail is still kept. */
  private fail(err: unknown): void {
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // The fd is dropped either way; the error worth reporting is the one we already hold.
      }
      this.fd = undefined;
    }
    if (this.hasFailed) return;
    this.hasFailed = true;
    try {
      this.options.onError?.(err instanceof Error ? err : new Error(String(err)));
    } catch {
      // write() runs in a child's 'data' listener, where a throw would crash the node.
    }
  }
}

/** Splits text into lines of at most MAX_LINE_CHARS; `isComplete` text ends at a newline (drop its `\r`). */
function splitLines(text: string, out: string[], isComplete: boolean): void {
  for (let line of text.split('\n')) {
    if (isComplete && line.endsWith('\r')) line = line.slice(0, -1);
    if (line.length <= MAX_LINE_CHARS) {
      out.push(line);
      continue;
    }
    for (let start = 0; start < line.length; ) {
      let end = Math.min(start + MAX_LINE_CHARS, line.length);
      // Never split a surrogate pair: half an emoji is not valid UTF-8 in the file.
      if (end < line.length && isHighSurrogate(line.charCodeAt(end - 1))) end--;
      out.push(line.slice(start, end));
      start = end;
    }
  }
}

function longestLine(text: string): number {
  if (text.length <= MAX_LINE_CHARS) return text.length;
  let longest = 0;
  for (let start = 0; start <= text.length; ) {
    const nl = text.indexOf('\n', start);
    const end = nl === -1 ? text.length : nl;
    longest = Math.max(longest, end - start);
    start = end + 1;
  }
  return longest;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}


function positiveInt(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new ReeveError(ErrorCode.InvalidInput, `runLog.${name} must be an integer ≥ ${min} (got ${value})`);
  }
  return value;
}
