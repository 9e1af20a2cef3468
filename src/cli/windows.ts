import { parseArgs } from 'node:util';
import { CaptureUnavailableError, checkCapture, ffmpegInstalled } from '../sources/capture-availability.js';
import { hexId, listWindows } from '../sources/x11-windows.js';

export const WINDOWS_HELP = `Usage: framehub windows [--display :0] [--json]

Lists the X windows framehub can stream: /stream/<handle> (decimal or 0x hex) once
framehub serve --screen runs on the same display.

Options:
  --display <name>   X display (default $DISPLAY)
  --json             print {"windows": [...]} as GET /api/windows does
  -h, --help         show this help
`;

/** `framehub windows`: the window list from the X server, as a table or JSON. */
export async function windows(argv: string[]): Promise<number> {
  let values: { display?: string; json?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({ args: argv, options: { display: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (error) {
    process.stderr.write(`framehub windows: ${(error as Error).message}\n\n${WINDOWS_HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(WINDOWS_HELP);
    return 0;
  }
  let display: string;
  try {
    // Listing needs only the X server; say so if streaming them would fail for want of ffmpeg.
    display = await checkCapture(values.display, { ffmpeg: false });
  } catch (error) {
    if (!(error instanceof CaptureUnavailableError)) throw error;
    process.stderr.write(`framehub windows: ${error.message}\n`);
    return 1;
  }
  const list = await listWindows(display);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ windows: list }, null, 2)}\n`);
  } else {
    const rows = list.map((w) => [hexId(w.handle), String(w.handle), `${w.width}x${w.height}+${w.x}+${w.y}`, w.title]);
    const header = ['HANDLE', 'DECIMAL', 'GEOMETRY', 'TITLE'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    for (const row of [header, ...rows]) process.stdout.write(`${row.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c)).join('  ')}\n`);
    if (list.length === 0) process.stdout.write(`(no visible windows on ${display})\n`);
  }
  if (!(await ffmpegInstalled())) process.stderr.write('framehub windows: note: ffmpeg is not installed, so these windows cannot be streamed\n');
  return 0;
}
