/**
 * Splits ffmpeg's `-f mpjpeg` output into its packets. That muxer writes each packet as a MIME
 * part with a Content-length, whatever the codec: used with libx264 it frames every access unit
 * with its length, so a unit is handed on the moment its last byte arrives. A raw Annex-B
 * stream (`-f h264`) only shows where a unit ends when the next one begins, a frame later.
 */
export class PacketSplitter {
  #buffer: Buffer = Buffer.alloc(0);
  /** Bytes of the current packet's body still to come; -1 while reading headers. */
  #bodyLength = -1;

  constructor(
    private readonly onPacket: (packet: Buffer) => void,
    /** A larger packet means the stream is not what we think it is. @default 16 MiB */
    private readonly maxPacketBytes = 16 * 1024 * 1024,
  ) {}

  push(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    for (;;) {
      if (this.#bodyLength < 0) {
        const end = this.#buffer.indexOf('\r\n\r\n');
        if (end < 0) {
          if (this.#buffer.length > 4096) throw new PacketFramingError('no packet header within 4 KiB');
          return;
        }
        const headers = this.#buffer.subarray(0, end).toString('latin1');
        const match = /content-length:\s*(\d+)/i.exec(headers);
        if (!match) throw new PacketFramingError('a packet header without Content-length');
        const length = Number(match[1]);
        if (length > this.maxPacketBytes) throw new PacketFramingError(`a packet of ${length} bytes`);
        this.#bodyLength = length;
        this.#buffer = this.#buffer.subarray(end + 4);
      }
      if (this.#buffer.length < this.#bodyLength) return;
      // A copy, so the unit does not keep ffmpeg's whole read chunk alive.
      const packet = Buffer.from(this.#buffer.subarray(0, this.#bodyLength));
      this.#buffer = this.#buffer.subarray(this.#bodyLength);
      this.#bodyLength = -1;
      this.onPacket(packet);
    }
  }
}

export class PacketFramingError extends Error {
  override readonly name = 'PacketFramingError';
}
