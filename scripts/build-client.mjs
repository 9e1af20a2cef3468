#!/usr/bin/env node
// Builds the browser bundle of `framehub/client` (one minified ESM file) and prints its size
// minified and gzipped. Run after `tsc` (`npm run build` does both).
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outfile = `${root}dist/framehub-client.min.js`;

await build({
  entryPoints: [`${root}src/client/index.ts`],
  outfile,
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  sourcemap: true,
  // The client loads these only where they exist (Node, Bun, Deno), through variable specifiers;
  // listing them keeps the browser bundle free of them even if that ever changes.
  external: ['ws', 'node:*'],
  logLevel: 'warning',
});

const bytes = readFileSync(outfile);
const gzipped = gzipSync(bytes, { level: 9 }).length;
if (!process.argv.includes('--quiet')) {
  console.log(`dist/framehub-client.min.js: ${(bytes.length / 1024).toFixed(1)} KiB minified, ${(gzipped / 1024).toFixed(1)} KiB gzipped`);
}
