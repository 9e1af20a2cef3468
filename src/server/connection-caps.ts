/** Why a connection was refused by `ConnectionCaps.take`. */
export type CapRefusal = 'global' | 'address';

/**
 * Counts open connections overall and per client address, and refuses one past either cap.
 * One instance serves every WebSocket route and Socket.IO, so 800 sockets from one address
 * are refused however they are spread over the routes.
 */
export class ConnectionCaps {
  #total = 0;
  readonly #byAddress = new Map<string, number>();

  constructor(
    readonly max: number,
    readonly maxPerAddress: number,
  ) {}

  /** Would a new connection from `address` be refused, and why? */
  check(address: string): CapRefusal | undefined {
    if (this.#total >= this.max) return 'global';
    if ((this.#byAddress.get(address) ?? 0) >= this.maxPerAddress) return 'address';
    return undefined;
  }

  /** Counts a connection from `address`, or says why not; call `release` once when it ends. */
  take(address: string): { release: () => void } | CapRefusal {
    const refusal = this.check(address);
    if (refusal) return refusal;
    this.#total++;
    this.#byAddress.set(address, (this.#byAddress.get(address) ?? 0) + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#total--;
        const left = this.#byAddress.get(address)! - 1;
        if (left === 0) this.#byAddress.delete(address);
        else this.#byAddress.set(address, left);
      },
    };
  }

  /** Connections open now, overall. */
  get total(): number {
    return this.#total;
  }

  /** The sentence a refused client reads. */
  static describe(refusal: CapRefusal, caps: ConnectionCaps): string {
    return refusal === 'global'
      ? `too many connections (${caps.max}); try again later`
      : `too many connections from your address (${caps.maxPerAddress}); close one and try again`;
  }
}
