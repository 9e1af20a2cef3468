/**
 * Just enough of H.264's byte stream (ITU-T H.264 Annex B) to carry libx264's output to
 * WebCodecs: split an access unit into NAL units, tell a keyframe, read the profile and level
 * for the codec string, build the decoder configuration (avcC, ISO/IEC 14496-15) and turn the
 * unit into length-prefixed NALs, the form a `VideoDecoder` configured with a description reads.
 */

export const NalType = {
  Slice: 1,
  Idr: 5,
  Sei: 6,
  Sps: 7,
  Pps: 8,
  Aud: 9,
} as const;

/** The NAL units of an Annex-B byte sequence, without their start codes (views, not copies). */
export function splitNals(annexB: Buffer): Buffer[] {
  const nals: Buffer[] = [];
  let start = -1;
  let i = 0;
  while (i + 2 < annexB.length) {
    if (annexB[i] === 0 && annexB[i + 1] === 0 && annexB[i + 2] === 1) {
      if (start >= 0) nals.push(trimTrailingZeros(annexB.subarray(start, i)));
      i += 3;
      start = i;
      continue;
    }
    i++;
  }
  if (start >= 0 && start < annexB.length) nals.push(annexB.subarray(start));
  return nals.filter((nal) => nal.length > 0);
}

/** A 4-byte start code leaves its leading zero on the previous NAL; trailing zeros are never payload. */
function trimTrailingZeros(nal: Buffer): Buffer {
  let end = nal.length;
  while (end > 0 && nal[end - 1] === 0) end--;
  return nal.subarray(0, end);
}

export function nalType(nal: Buffer): number {
  return nal[0]! & 0x1f;
}

/** `avc1.PPCCLL` from an SPS: profile_idc, the constraint flags byte, level_idc (RFC 6381). */
export function codecString(sps: Buffer): string {
  if (sps.length < 4) throw new RangeError('SPS too short for a codec string');
  const hex = (byte: number) => byte.toString(16).toUpperCase().padStart(2, '0');
  return `avc1.${hex(sps[1]!)}${hex(sps[2]!)}${hex(sps[3]!)}`;
}

/**
 * An AVCDecoderConfigurationRecord with one SPS and one PPS and 4-byte NAL lengths. Baseline
 * and Main profile only need these fields; High-profile records add chroma fields decoders do
 * not need when the SPS carries them, and the encoder here is set to Main.
 */
export function avcConfig(sps: Buffer, pps: Buffer): Buffer {
  const out = Buffer.alloc(11 + sps.length + pps.length);
  out[0] = 1; // configurationVersion
  out[1] = sps[1]!;
  out[2] = sps[2]!;
  out[3] = sps[3]!;
  out[4] = 0xff; // 6 reserved bits, lengthSizeMinusOne = 3
  out[5] = 0xe1; // 3 reserved bits, one SPS
  out.writeUInt16BE(sps.length, 6);
  sps.copy(out, 8);
  let at = 8 + sps.length;
  out[at++] = 1; // one PPS
  out.writeUInt16BE(pps.length, at);
  pps.copy(out, at + 2);
  return out;
}

/** Length-prefixed NALs (4-byte big-endian lengths), dropping access unit delimiters. */
export function toLengthPrefixed(nals: readonly Buffer[]): Buffer {
  const kept = nals.filter((nal) => nalType(nal) !== NalType.Aud);
  let size = 0;
  for (const nal of kept) size += 4 + nal.length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const nal of kept) {
    out.writeUInt32BE(nal.length, at);
    nal.copy(out, at + 4);
    at += 4 + nal.length;
  }
  return out;
}
