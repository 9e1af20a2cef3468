// The README must not fall behind the code: every option of FIELDS (its flag, env name and
// default) has a row in the configuration table, the table names no option the code lacks,
// every docs/*.md is linked and every bench script is shown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FIELDS } from '../src/config/config.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(`${root}README.md`, 'utf8');
const CONFIG_HEADER = '| YAML key | flag | env | default | meaning |';

/** `text` as a whole token: `--max-sessions` must not match inside `--max-sessions-per-ip`. */
function mentions(haystack: string, text: string): boolean {
  const escaped = text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(?<![\\w-])${escaped}(?![\\w:-])`).test(haystack);
}

/** The configuration table's rows, by the YAML key in their first cell. */
function configRows(): Map<string, string[]> {
  const lines = readme.split('\n');
  const start = lines.indexOf(CONFIG_HEADER);
  assert.notEqual(start, -1, `README.md has no configuration table headed ${CONFIG_HEADER}`);
  const rows = new Map<string, string[]>();
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const cells = line.slice(1, -1).split(' | ').map((cell) => cell.trim());
    const key = /^`([^`]+)`$/.exec(cells[0] ?? '')?.[1];
    assert.ok(key, `configuration row without a \`key\` in its first cell: ${line}`);
    assert.ok(!rows.has(key), `configuration table lists ${key} twice`);
    rows.set(key, cells);
  }
  return rows;
}

test('README mentions every option\'s flag and environment variable', () => {
  for (const [key, field] of Object.entries(FIELDS)) {
    if (field.flag) assert.ok(mentions(readme, `--${field.flag}`), `README.md does not mention --${field.flag} (option ${key})`);
    if (field.env) assert.ok(mentions(readme, field.env), `README.md does not mention ${field.env} (option ${key})`);
  }
});

test('README\'s configuration table has one row per option with its flag, env name and default', () => {
  const rows = configRows();
  for (const [key, field] of Object.entries(FIELDS)) {
    const cells = rows.get(key);
    assert.ok(cells, `README.md's configuration table has no row for ${key}`);
    const [, flag = '', env = '', defaultCell = ''] = cells;
    if (field.flag) assert.ok(flag.includes(`\`--${field.flag}\``), `row ${key}: flag cell "${flag}" should name \`--${field.flag}\``);
    if (field.env) assert.equal(env, `\`${field.env}\``, `row ${key}: env cell`);
    // '' defaults mean "unset" or a derived value (primaryStream: the first stream): any text will do.
    if (field.default === '') assert.notEqual(defaultCell, '', `row ${key}: default cell is empty`);
    else assert.ok(mentions(defaultCell, String(field.default)), `row ${key}: default cell "${defaultCell}" should show ${String(field.default)}`);
  }
});

test('README\'s configuration table lists no option the code does not have', () => {
  for (const key of configRows().keys()) {
    assert.ok(key in FIELDS || key === 'streams', `README.md documents an option "${key}" that FIELDS does not have`);
  }
});

test('README links every docs/*.md', () => {
  const docs = readdirSync(`${root}docs`).filter((name) => name.endsWith('.md'));
  assert.ok(docs.length > 0);
  for (const name of docs) assert.ok(readme.includes(`](docs/${name})`), `README.md does not link docs/${name}`);
});

test('README shows every bench script and the test command', () => {
  const { scripts } = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { scripts: Record<string, string> };
  for (const name of Object.keys(scripts).filter((script) => script === 'bench' || script.startsWith('bench:'))) {
    assert.ok(mentions(readme, `npm run ${name}`), `README.md does not show npm run ${name}`);
  }
  assert.ok(scripts['test'], 'package.json has no test script');
  assert.ok(mentions(readme, 'npm test'), 'README.md does not show npm test');
});

test('README\'s layout table names every folder of src/ and no other', () => {
  const lines = readme.split('\n');
  const start = lines.indexOf('| folder | what lives there |');
  assert.notEqual(start, -1, 'README.md has no layout table headed | folder | what lives there |');
  const named = new Set<string>();
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const cell = line.split(' | ')[0]!;
    for (const match of cell.matchAll(/`src\/([a-z-]+)\/`/g)) named.add(match[1]!);
  }
  const folders = readdirSync(`${root}src`, { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name);
  assert.deepEqual([...named].sort(), folders.sort());
});
