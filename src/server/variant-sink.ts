import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { Frame } from '../sources/frame.js';
import type { DeliveryDone, FrameSink } from '../hub/subscriber-slot.js';
import { VariantLimitError, type Variant, type VariantCache } from '../hub/variant.js';
import { ErrorCode } from '../wire/errors.js';
import { ProtocolError } from '../protocols/protocol-error.js';
import { sharedSpec, type VariantSpec } from '../hub/variant-spec.js';
import { preframedMessage, PreframedWriter } from './preframed.js';
import { toError } from '../util/errors.js';

/** How a route turns its client's options into a spec, and a variant into a WebSocket message. */
export interface VariantWire<O> {
  spec(options: O): VariantSpec;
  /** The message for `variant`. */
  message(variant: Variant): Buffer | string;
  /** Binary or text WebSocket messages. */
  binary: boolean;
  /** The key its WebSocket frames are memoised under on each variant, one per wire. */
  frameKey: string;
}

/** `variant`'s message as one whole WebSocket frame, built once per variant and wire (preframed.ts). */
function framed<O>(wire: VariantWire<O>, variant: Variant) {
  return preframedMessage(variant, wire.frameKey, wire.message, wire.binary);
}

/**
 * One WebSocket client's frames: the variant its options select, sent as the route's message.
 * The spec is built when the options change, not per frame, and shared with every client that
 * asked for the same (sharedSpec), so all but the first client of a frame find the variant at
 * once (docs/benchmarks.md, "Fewer objects per delivery").
 */
export class VariantSink<O extends object> extends PreframedWriter implements FrameSink {
  #spec: VariantSpec;
  /** Gives the spec back to the stream's bound on distinct variants. */
  #unclaim: () => void;

  constructor(
    ws: WebSocket,
    /** The connection's socket (the upgrade request's `socket`), where the frames are written. */
    socket: Duplex,
    private readonly variants: VariantCache,
    /** The client's options; `update` changes them in place, so the route sees the changes too. */
    private readonly options: O,
    private readonly wire: VariantWire<O>,
  ) {
    super(ws, socket);
    this.#spec = sharedSpec(wire.spec(options));
    this.#unclaim = variants.claim(this.#spec); // throws VariantLimitError past the bound
  }

  /** Applies changed options, or throws a ProtocolError and changes nothing. */
  update(changes: Partial<O>): void {
    const spec = sharedSpec(this.wire.spec({ ...this.options, ...changes }));
    let unclaim: () => void;
    try {
      unclaim = this.variants.claim(spec);
    } catch (error) {
      if (error instanceof VariantLimitError) throw new ProtocolError(ErrorCode.TooManyVariants, error.message);
      throw error;
    }
    this.#unclaim();
    this.#unclaim = unclaim;
    this.#spec = spec;
    Object.assign(this.options, changes);
  }

  /** The client left: its spec no longer counts against the stream's bound. */
  close(): void {
    this.#unclaim();
  }

  deliver(frame: Frame, done: DeliveryDone): void {
    const { variants, wire } = this;
    const ready = variants.peek(frame, this.#spec);
    if (ready) return this.send(framed(wire, ready), done);
    // framed() and send() in one callback: the frame is held before anything can retire it.
    variants.get(frame, this.#spec).then(
      (variant) => this.send(framed(wire, variant), done),
      (error: unknown) => done(toError(error), 0),
    );
  }
}
