// @ts-check
/** Turning numbers into the short strings the viewer shows. */

/** @param {number} bytes */
export function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  if (bytes < 1024 * 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(2)} MB`;
  return `${(bytes / 1024 / 1024 / 1024).toFixed(2)} GB`;
}

/** @param {number} ms */
export function formatDuration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m ${String(s).padStart(2, '0')}s`;
  if (m > 0) return `${m}m ${String(s).padStart(2, '0')}s`;
  return `${s}s`;
}

/** @param {number} ms a latency; NaN shows as a dash */
export function formatLatency(ms) {
  return Number.isFinite(ms) ? `${Math.round(ms)} ms` : '—';
}

/** @param {number} at wall-clock ms; NaN shows as "Never" */
export function formatClock(at) {
  return Number.isFinite(at) ? new Date(at).toLocaleTimeString() : 'Never';
}

/**
 * File extension for an image format from the wire (`jpeg` → `jpg`).
 * @param {string} format
 */
export function extensionFor(format) {
  if (format === 'jpeg' || format === 'jpg') return 'jpg';
  if (format === 'png' || format === 'webp' || format === 'gif') return format;
  return 'img';
}
