import http from 'node:http';
import { Writable } from 'node:stream';
import winston from 'winston';
import type { Logger } from 'winston';
import type { RunningService } from '../../src/service';
import type { BootOptions, TestDatabase } from '../support/harness';
import { bootService, createTestDatabase } from '../support/harness';

/** A logger that keeps every JSON line it writes, to assert on what is (and is not) logged. */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      lines.push(chunk.toString());
      callback();
    },
  });
  const logger = winston.createLogger({
    level: 'debug',
    format: winston.format.json(),
    transports: [new winston.transports.Stream({ stream })],
  });
  return { logger, lines };
}

export async function countRows(
  service: RunningService,
  table: 'notifications' | 'quarantined_notifications',
): Promise<number> {
  // The table name comes from the closed union above, never from input.
  const rows = await service.db.$queryRawUnsafe<{ n: bigint }[]>(`SELECT count(*)::bigint AS n FROM ${table}`);
  return Number(rows[0]?.n);
}

/** The value of one sample of a Prometheus counter, 0 when absent. */
export function metricValue(text: string, name: string, labels: Record<string, string>): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labelText = line.slice(name.length + 1, line.indexOf('}'));
    const have = labelText.split(',');
    if (wanted.every((w) => have.includes(w)) && have.length === wanted.length) {
      return Number(line.slice(line.indexOf('}') + 1).trim());
    }
  }
  return 0;
}

/**
 * Boots the real service on its own fresh database for the enclosing describe block, and
 * stops both afterwards. Returns an accessor for the running service.
 */
export function useService(options: Omit<BootOptions, 'databaseUrl'>): () => RunningService {
  let db: TestDatabase | undefined;
  let service: RunningService | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
    service = await bootService({ ...options, databaseUrl: db.url });
  });
  afterAll(async () => {
    await service?.stop();
    await db?.drop();
  });
  return () => {
    if (service === undefined) throw new Error('the service is not running (beforeAll failed?)');
    return service;
  };
}

export interface RawAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** Whether the request went out on a kept-alive connection. */
  readonly reusedSocket: boolean;
  /** Set when the connection failed; status is then 0. */
  readonly error?: string;
}

/** POSTs over a real socket (not supertest), through `agent`, and never rejects. */
export function postRaw(
  service: RunningService,
  agent: http.Agent,
  path: string,
  body: Buffer | string,
  headers: http.OutgoingHttpHeaders,
): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: service.port,
        method: 'POST',
        path,
        agent,
        headers: { 'Content-Length': Buffer.byteLength(body), ...headers },
      },
      (res) => {
        const answer = { status: res.statusCode ?? 0, headers: res.headers, reusedSocket: req.reusedSocket };
        res.resume();
        res.on('end', () => resolve(answer));
        res.on('error', (error: Error) => resolve({ ...answer, error: error.message }));
      },
    );
    req.on('error', (error: Error) =>
      resolve({ status: 0, headers: {}, reusedSocket: req.reusedSocket, error: error.message }),
    );
    req.end(body);
  });
}
