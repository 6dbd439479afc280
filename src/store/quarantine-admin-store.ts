import type { Database } from './prisma';

/** Admin side of the quarantine: list, read and mark released (issue #6). */
export interface QuarantinedView {
  id: string;
  receivedAt: string;
  accountId: string | null;
  remoteAddress: string | null;
  reason: string;
  releasedAt: string | null;
  sizeBytes: number;
}

export interface QuarantinedDetailView extends QuarantinedView {
  headers: Record<string, string>;
  /** The body decoded as UTF-8 (lossy for binary garbage) ... */
  body: string;
  /** ... and byte for byte. */
  bodyBase64: string;
}

interface QuarantineRow {
  id: string;
  received_at: Date;
  account_id: string | null;
  remote_address: string | null;
  reason: string;
  released_at: Date | null;
  size_bytes: number;
}

const view = (r: QuarantineRow): QuarantinedView => ({
  id: r.id,
  receivedAt: r.received_at.toISOString(),
  accountId: r.account_id,
  remoteAddress: r.remote_address,
  reason: r.reason,
  releasedAt: r.released_at === null ? null : r.released_at.toISOString(),
  sizeBytes: Number(r.size_bytes),
});

/** Newest first; `released` undefined lists both. */
export async function listQuarantined(
  db: Database,
  options: { readonly released?: boolean; readonly limit: number },
): Promise<QuarantinedView[]> {
  const rows = await db.$queryRaw<QuarantineRow[]>`
    SELECT id::text AS id, received_at, account_id, remote_address, reason, released_at,
           octet_length(body) AS size_bytes
    FROM quarantined_notifications
    WHERE (${options.released ?? null}::boolean IS NULL OR (released_at IS NOT NULL) = ${options.released ?? null}::boolean)
    ORDER BY received_at DESC, id
    LIMIT ${options.limit}`;
  return rows.map(view);
}

export interface QuarantinedRecord {
  readonly view: QuarantinedDetailView;
  readonly body: Buffer;
  readonly receivedAt: Date;
}

export async function findQuarantined(db: Database, id: string): Promise<QuarantinedRecord | null> {
  const rows = await db.$queryRaw<(QuarantineRow & { headers: unknown; body: Uint8Array })[]>`
    SELECT id::text AS id, received_at, account_id, remote_address, reason, released_at,
           octet_length(body) AS size_bytes, headers, body
    FROM quarantined_notifications WHERE id = ${id}::uuid`;
  const row = rows[0];
  if (row === undefined) return null;
  const body = Buffer.from(row.body);
  const headers: Record<string, string> = {};
  if (typeof row.headers === 'object' && row.headers !== null) {
    for (const [name, value] of Object.entries(row.headers)) if (typeof value === 'string') headers[name] = value;
  }
  return {
    view: { ...view(row), headers, body: body.toString('utf8'), bodyBase64: body.toString('base64') },
    body,
    receivedAt: row.received_at,
  };
}

/** Marks a payload released; false when it was already released (first release wins). */
export async function markReleased(db: Database, id: string): Promise<boolean> {
  const updated = await db.$executeRaw`
    UPDATE quarantined_notifications SET released_at = now() WHERE id = ${id}::uuid AND released_at IS NULL`;
  return updated > 0;
}
