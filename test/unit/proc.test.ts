import { describe, expect, it } from 'vitest';
import { parseProcStat } from '../../src/pool/proc.ts';

describe('parseProcStat', () => {
  it('splits after the last ")" so a comm with spaces and ") (" does not shift the fields', () => {
    const line =
      '4242 (evil) (name x) S 17 4242 4200 34816 4242 4194560 150 0 0 0 7 3 0 0 20 0 1 0 987654321 ' +
      '8192000 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0\n';
    expect(parseProcStat(line)).toEqual({
      pid: 4242,
      comm: 'evil) (name x',
      state: 'S',
      ppid: 17,
      pgrp: 4242,
      session: 4200,
      utime: 7,
      stime: 3,
      starttime: 987654321,
    });
  });

  it('reads a zombie state and a comm that is only parentheses', () => {
    const line = '9 ()) Z 1 9 9 0 -1 4227084 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0';
    expect(parseProcStat(line)).toMatchObject({ pid: 9, comm: ')', state: 'Z', ppid: 1, starttime: 55 });
  });

  it('throws on text that is not a stat line instead of returning shifted fields', () => {
    expect(() => parseProcStat('')).toThrow(/not a \/proc\/<pid>\/stat line/);
    expect(() => parseProcStat('12 (x) S 1 2 3')).toThrow(/not a \/proc\/<pid>\/stat line/);
  });
});
