import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { EventJournal } from '../src/generations/event-journal.js';
import { EventLog } from '../src/generations/event-log.js';
import { tempDir, type TestCleanup } from './temp-dir.js';

async function tempFile(t: TestCleanup): Promise<string> {
  return join(await tempDir(t), 'data', 'events.jsonl');
}

const line = (id: number, event: unknown = { n: id }) => JSON.stringify({ id, at: 1000 + id, event }) + '\n';

test('reading a journal skips torn and out-of-order lines, keeps what follows a hole, and takes the header\'s last id', async (t) => {
  const path = await tempFile(t);
  assert.deepEqual(await EventJournal.read(path), { entries: [], lastId: 0, skipped: 0 }, 'no file: an empty journal');
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, '{"lastId":40}\n' + line(41) + line(42) + line(42) + '{"id":43,"at":' + '\n' + line(45) + line(46) + '["not an entry"]\n' + '{"id":47,"at":1,"ev');
  const { entries, lastId, skipped } = await EventJournal.read<{ n: number }>(path);
  assert.deepEqual(entries.map((e) => e.id), [45, 46], 'after the hole at 43-44 only the consecutive tail is kept');
  assert.equal(lastId, 46);
  assert.equal(skipped, 4, 'the repeated 42, the torn 43, the array and the torn last line');
});

test('concurrent appends get consecutive ids in call order, reach the log once each, and the file is rewritten to the live entries as it grows', async (t) => {
  const path = await tempFile(t);
  const log = new EventLog<{ n: number }>({ maxEntries: 10, maxAgeMs: 0 });
  const journal = new EventJournal(log, { path, slack: 20 });
  await journal.start();
  const seen: number[] = [];
  log.on('append', (entry) => seen.push(entry.id));
  const entries = await Promise.all(Array.from({ length: 100 }, (_, n) => journal.append({ n })));
  assert.deepEqual(entries.map((e) => e.id), Array.from({ length: 100 }, (_, i) => i + 1));
  assert.deepEqual(entries.map((e) => e.event.n), Array.from({ length: 100 }, (_, i) => i));
  assert.deepEqual(seen, entries.map((e) => e.id), 'the log saw them in order, once');
  await journal.close(); // waits for the rewrite that the last batch started
  await assert.rejects(journal.append({ n: 0 }), /closed/);
  const lines = (await readFile(path, 'utf8')).split('\n').filter(Boolean);
  assert.ok(lines.length <= 1 + 10 + 20, `rewritten as it grew: ${lines.length} lines`);
  const again = await EventJournal.read<{ n: number }>(path);
  assert.equal(again.lastId, 100);
  assert.equal(again.skipped, 0);
  assert.deepEqual(again.entries.slice(-10).map((e) => e.id), Array.from({ length: 10 }, (_, i) => 91 + i), 'the live entries are all there');
});
