/**
 * Where a JSON text goes wrong. Node 20's `JSON.parse` reports a position for some errors only
 * (`Unexpected token '}', "..." is not valid JSON` has none), so a config error could not say
 * where to look. This scanner follows the JSON grammar just far enough to find the first bad
 * character; it runs only after `JSON.parse` has failed.
 */

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const HEX4 = /[0-9a-fA-F]{4}/y;

/** Index of the first character that makes `text` invalid JSON (`text.length` if it ends early); undefined if valid. */
export function jsonErrorIndex(text: string): number | undefined {
  let i = 0;
  const skipSpace = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };

  const string = (): boolean => {
    i++;
    while (i < text.length) {
      const c = text[i]!;
      if (c === '"') {
        i++;
        return true;
      }
      if (c < ' ') return false;
      if (c === '\\') {
        const escape = text[i + 1];
        HEX4.lastIndex = i + 2;
        if (escape === 'u' && HEX4.test(text)) i += 6;
        else if (escape !== undefined && '"\\/bfnrt'.includes(escape)) i += 2;
        else return false;
        continue;
      }
      i++;
    }
    return false;
  };

  // Objects and arrays: `open`, members separated by ",", then `close`.
  const members = (close: string, member: () => boolean): boolean => {
    i++;
    skipSpace();
    if (text[i] === close) {
      i++;
      return true;
    }
    for (;;) {
      if (!member()) return false;
      skipSpace();
      if (text[i] === close) {
        i++;
        return true;
      }
      if (text[i] !== ',') return false;
      i++;
    }
  };

  const property = (): boolean => {
    skipSpace();
    if (text[i] !== '"' || !string()) return false;
    skipSpace();
    if (text[i] !== ':') return false;
    i++;
    return value();
  };

  const value = (): boolean => {
    skipSpace();
    const c = text[i];
    if (c === '{') return members('}', property);
    if (c === '[') return members(']', value);
    if (c === '"') return string();
    for (const word of ['true', 'false', 'null']) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return true;
      }
    }
    NUMBER.lastIndex = i;
    const number = NUMBER.exec(text);
    if (!number) return false;
    i += number[0].length;
    return true;
  };

  if (!value()) return Math.min(i, text.length);
  skipSpace();
  return i < text.length ? i : undefined;
}

/** 1-based line and column of `index` in `text`. */
export function lineColumn(text: string, index: number): { line: number; column: number } {
  const before = text.slice(0, index);
  const line = before.split('\n').length;
  return { line, column: index - before.lastIndexOf('\n') };
}
