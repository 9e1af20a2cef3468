import type { WebSocket } from 'ws';
import type { Frame } from '../hub/frame.js';
import type { DeliveryDone, FrameSink } from '../hub/subscriber-slot.js';
import type { Variant, VariantCache } from '../hub/variant.js';
import { sharedSpec, type VariantSpec } from '../hub/variant-spec.js';
import { WsFrameWriter } from './ws-send.js';

/** How a route turns its client's options into a spec, and a variant into a WebSocket message. */
export interface VariantWire<O> {
  spec(options: O): VariantSpec;
  /** The message for `variant`; memoised on the variant where it is built (built once per variant). */
  message(variant: Variant): Buffer | string;
  /** Binary or text WebSocket messages. */
  binary: boolean;
}

/**
 * One WebSocket client's frames: the variant its options select, sent as the route's message.
 * The spec is built when the options change, not per frame, and shared with every client that
 * asked for the same (sharedSpec), so all but the first client of a frame find the variant at
 * once (docs/benchmarks.md, "Fewer objects per delivery").
 */
export class VariantSink<O extends object> extends WsFrameWriter implements FrameSink {
  #spec: VariantSpec;

  constructor(
    ws: WebSocket,
    private readonly variants: VariantCache,
    /** The client's options; `update` changes them in place, so the route sees the changes too. */
    private readonly options: O,
    private readonly wire: VariantWire<O>,
  ) {
    super(ws);
    this.#spec = sharedSpec(wire.spec(options));
  }

  update(changes: Partial<O>): void {
    Object.assign(this.options, changes);
    this.#spec = sharedSpec(this.wire.spec(this.options));
  }

  deliver(frame: Frame, done: DeliveryDone): void {
    const { variants, wire } = this;
    const ready = variants.peek(frame, this.#spec);
    if (ready) return this.send(wire.message(ready), wire.binary, done);
    this.sendWhenReady(variants.get(frame, this.#spec).then(wire.message), wire.binary, done);
  }
}
