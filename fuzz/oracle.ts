/**
 * Records every message the fuzzer sent, the answer it got and whether the README's bad-input
 * table allows that answer. A violation keeps what is needed to reproduce it: the seed, the
 * case and message index (`npm run fuzz -- --seed S --case C` replays that case alone) and
 * the bytes, truncated.
 */

export interface Sent {
  /** e.g. `ws:/stream`, `rest:POST /api/generations`, `upgrade`, `socket.io`. */
  target: string;
  kind: string;
  caseIndex: number;
  /** The message's index within its case. */
  index: number;
  data: string | Buffer;
  /** Where it went when the target does not say it all (the connection URL, the server). */
  where?: string;
}

export interface Violation {
  target: string;
  kind: string;
  caseIndex: number;
  index: number;
  got: string;
  expected: string;
  bytes: string;
  length: number;
  where: string | undefined;
}

export interface Row {
  target: string;
  kind: string;
  messages: number;
  answers: Map<string, number>;
  violations: number;
}

const MAX_KEPT = 500;

export class Oracle {
  messages = 0;
  violationCount = 0;
  readonly violations: Violation[] = [];
  readonly #rows = new Map<string, Row>();
  /** Checks of the server as a whole (alive, fps, leaks), by name. */
  readonly checks: { name: string; ok: boolean; detail: string }[] = [];

  constructor(readonly seed: number) {}

  /**
   * Set once a server process died: the answers still arriving are its death's echo (1006,
   * no answer), not findings of their own; the death is the finding, with the cases in flight.
   */
  silenced = false;

  /** One message and its answer; a violation when `got` is not among `expected`. */
  record(sent: Sent, got: string, expected: readonly string[]): boolean {
    this.messages++;
    const row = this.#row(sent.target, sent.kind);
    row.messages++;
    row.answers.set(got, (row.answers.get(got) ?? 0) + 1);
    const ok = expected.includes(got);
    if (!ok && !this.silenced) this.#violate(sent, got, expected.join(' | '), row);
    return ok;
  }

  /** A message that got an answer which breaks a rule beyond its label (e.g. a 124-byte close reason). */
  flag(sent: Sent, got: string, rule: string): void {
    if (!this.silenced) this.#violate(sent, got, rule, this.#row(sent.target, sent.kind));
  }

  check(name: string, ok: boolean, detail: string): void {
    this.checks.push({ name, ok, detail });
  }

  get passed(): boolean {
    return this.violationCount === 0 && this.checks.every((c) => c.ok);
  }

  rows(): Row[] {
    return [...this.#rows.values()].sort((a, b) => a.target.localeCompare(b.target) || a.kind.localeCompare(b.kind));
  }

  #row(target: string, kind: string): Row {
    const key = `${target}\u0000${kind}`;
    let row = this.#rows.get(key);
    if (!row) this.#rows.set(key, (row = { target, kind, messages: 0, answers: new Map(), violations: 0 }));
    return row;
  }

  #violate(sent: Sent, got: string, expected: string, row: Row): void {
    this.violationCount++;
    row.violations++;
    if (this.violations.length >= MAX_KEPT) return;
    this.violations.push({
      target: sent.target, kind: sent.kind, caseIndex: sent.caseIndex, index: sent.index, got, expected,
      bytes: preview(sent.data), length: typeof sent.data === 'string' ? Buffer.byteLength(sent.data) : sent.data.length, where: sent.where,
    });
  }
}

/** The first bytes of a message, printable: JSON-escaped text, or hex for binary. */
export function preview(data: string | Buffer, max = 160): string {
  if (typeof data !== 'string') return `hex:${data.subarray(0, max / 2).toString('hex')}${data.length > max / 2 ? '…' : ''}`;
  const head = JSON.stringify(data.slice(0, max));
  return data.length > max ? `${head}…` : head;
}
