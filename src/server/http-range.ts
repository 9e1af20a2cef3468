/**
 * One HTTP byte range (RFC 9110 §14) of a file of `size` bytes, for a download that can be
 * resumed or sought in. Only what players and download tools send is honoured: one range,
 * `bytes=a-b`, `bytes=a-` or `bytes=-n`.
 */
export type RangeAnswer =
  /** No Range header, or one this does not honour (several ranges, another unit): the whole file, 200. */
  | { kind: 'whole' }
  /** `start`..`end` inclusive, 206. */
  | { kind: 'partial'; start: number; end: number }
  /** No byte of the file is in it, 416. */
  | { kind: 'unsatisfiable' };

export function parseRange(header: string | undefined, size: number): RangeAnswer {
  if (header === undefined) return { kind: 'whole' };
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // A syntactically invalid Range is ignored (RFC 9110 §14.2): the whole file.
  if (!match || (match[1] === '' && match[2] === '')) return { kind: 'whole' };
  const [first, last] = [match[1]!, match[2]!];
  if (first === '') {
    // A suffix: the last n bytes (all of a shorter file); zero of them is nothing at all.
    const n = Number(last);
    if (n === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== '' && Number(last) < start) return { kind: 'whole' };
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end };
}
