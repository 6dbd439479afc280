import type { SqlClient } from './sql';

export interface QuarantineRecord {
  readonly id: string;
  readonly receivedAt: Date;
  readonly accountId: string | null;
  readonly remoteAddress: string | null;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  readonly reason: string;
}

/** Refused bodies are kept byte for byte, so nothing Bandwidth sent is ever lost. */
export async function quarantine(db: SqlClient, record: QuarantineRecord): Promise<void> {
  await db.$executeRaw`
    INSERT INTO quarantined_notifications (id, received_at, account_id, remote_address, headers, body, reason)
    VALUES (${record.id}::uuid, ${record.receivedAt}, ${record.accountId}, ${record.remoteAddress},
            ${JSON.stringify(record.headers)}::jsonb, ${new Uint8Array(record.body)}, ${record.reason})`;
}

/**
 * Like `quarantine`, but idempotent on the id (a receipt id): a worker that quarantines a poison
 * job and dies before the job completes may quarantine it again on redelivery.
 */
export async function quarantineOnce(db: SqlClient, record: QuarantineRecord): Promise<void> {
  await db.$executeRaw`
    INSERT INTO quarantined_notifications (id, received_at, account_id, remote_address, headers, body, reason)
    VALUES (${record.id}::uuid, ${record.receivedAt}, ${record.accountId}, ${record.remoteAddress},
            ${JSON.stringify(record.headers)}::jsonb, ${new Uint8Array(record.body)}, ${record.reason})
    ON CONFLICT (id) DO NOTHING`;
}
