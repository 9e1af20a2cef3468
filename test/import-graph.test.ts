import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

// The tree shows the data flow only if imports between src/ folders run one way. This reads
// every import (static, `export … from` and dynamic) and checks the folder graph has no cycle.

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../src');
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith('.ts') || entry.name.endsWith('.tsx') ? [join(dir, entry.name)] : [],
  );
}

/** src/hub/stream.ts → "hub"; src/index.ts (the package entry, which re-exports) → null. */
function folderOf(file: string): string | null {
  const parts = relative(SRC, file).split(/[\\/]/);
  return parts.length > 1 ? parts[0]! : null;
}

/** folder → folders its files import (itself excluded). */
export function folderGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of sourceFiles(SRC)) {
    const from = folderOf(file);
    if (from === null) continue;
    const edges = graph.get(from) ?? graph.set(from, new Set()).get(from)!;
    for (const match of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const to = folderOf(resolve(dirname(file), match[1]!));
      if (to !== null && to !== from) edges.add(to);
    }
  }
  return graph;
}

/** A path a → … → a if the graph has one (depth-first search). */
function findCycle(graph: Map<string, Set<string>>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string): string[] | null => {
    if (state.get(node) === 'done') return null;
    if (state.get(node) === 'open') return [...path.slice(path.indexOf(node)), node];
    state.set(node, 'open');
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(node, 'done');
    return null;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return null;
}

describe('import graph of src/', () => {
  const graph = folderGraph();

  it('reads the folders and their imports', () => {
    // Guards the scanner itself: a regex that matched nothing would pass every check below.
    assert.ok(graph.get('server')?.has('hub'), 'server imports hub');
    assert.ok(graph.get('hub')?.has('sources'), 'hub imports sources (the Source contract, Frame)');
  });

  it('has no folder that imports another which imports it back', () => {
    const cycle = findCycle(graph);
    assert.equal(cycle, null, `import cycle between folders: ${cycle?.join(' → ')}`);
  });

  it('keeps the wire vocabulary a leaf: src/wire imports nothing but the image format names', () => {
    assert.deepEqual([...(graph.get('wire') ?? [])].filter((to) => to !== 'image'), []);
  });

  it('keeps the client library isomorphic: src/client imports only wire, util and image', () => {
    const allowed = new Set(['wire', 'util', 'image']);
    assert.deepEqual([...(graph.get('client') ?? [])].filter((to) => !allowed.has(to)), []);
  });

  it('keeps the generations domain free of transports and codecs', () => {
    const forbidden = new Set(['server', 'protocols', 'hub', 'sessions', 'cli', 'client', 'bridges']);
    assert.deepEqual([...(graph.get('generations') ?? [])].filter((to) => forbidden.has(to)), []);
  });
});
