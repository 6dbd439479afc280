import { Writable } from 'node:stream';
import winston from 'winston';
import type { Logger } from 'winston';
import type { RunningService } from '../../src/service';

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
