import { ErrorCode } from '../wire/errors.js';
import { ProtocolError } from './protocol-error.js';
import { describe } from './values.js';

/**
 * The `?since=<id>` query both generation routes share: the id of the last event the client
 * received. Absent means "live only, from now on".
 */
export function parseSinceQuery(query: URLSearchParams): number | undefined {
  const all = query.getAll('since');
  if (all.length === 0) return undefined;
  if (all.length > 1) throw new ProtocolError(ErrorCode.InvalidQuery, `since is given ${all.length} times`);
  const raw = all[0]!;
  if (!/^\d{1,15}$/.test(raw)) {
    throw new ProtocolError(ErrorCode.InvalidQuery, `since must be the id of the last event received, a non-negative integer (got ${describe(raw)})`);
  }
  return Number(raw);
}
