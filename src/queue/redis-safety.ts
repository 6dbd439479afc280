import { Redis } from 'ioredis';
import type { Logger } from 'winston';

/**
 * Redis holds acknowledged notifications until a worker persists them, so two settings decide
 * whether an acked notification can vanish: an eviction policy other than `noeviction` lets
 * Redis drop queued jobs under memory pressure, and without AOF a Redis restart forgets every
 * job since the last snapshot. Checked at start; fails open (the service still starts, since
 * a managed Redis may hide these settings) but logs a warning an operator cannot miss.
 */
export interface RedisSafetyReport {
  readonly maxmemoryPolicy: string | null;
  readonly aofEnabled: boolean | null;
  readonly appendfsync: string | null;
  readonly problems: readonly string[];
}

/** Parses `INFO` text (`key:value` lines) into a map. */
export function parseRedisInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (line.startsWith('#') || colon <= 0) continue;
    fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return fields;
}

export function assessRedisSafety(info: Map<string, string>, appendfsync: string | null): RedisSafetyReport {
  const maxmemoryPolicy = info.get('maxmemory_policy') ?? null;
  const aof = info.get('aof_enabled');
  const aofEnabled = aof === undefined ? null : aof === '1';
  const problems: string[] = [];
  if (maxmemoryPolicy === null) problems.push('maxmemory-policy could not be read; it must be noeviction');
  else if (maxmemoryPolicy !== 'noeviction')
    problems.push(`maxmemory-policy is ${maxmemoryPolicy}: Redis may evict queued notifications; set noeviction`);
  if (aofEnabled === null) problems.push('persistence could not be read; enable AOF (appendonly yes)');
  else if (!aofEnabled)
    problems.push('AOF persistence is off (appendonly no): a Redis restart loses queued notifications');
  if (aofEnabled === true && appendfsync !== null && appendfsync !== 'always')
    problems.push(`appendfsync is ${appendfsync}: a Redis crash can lose up to ~1 s of acknowledged notifications`);
  return { maxmemoryPolicy, aofEnabled, appendfsync, problems };
}

async function readSafety(url: string): Promise<RedisSafetyReport> {
  const client = new Redis(url, { maxRetriesPerRequest: 1, connectTimeout: 2000, lazyConnect: true });
  client.on('error', () => {
    // Reported by the caller through the rejected command.
  });
  try {
    await client.connect();
    const info = parseRedisInfo(`${await client.info('memory')}\n${await client.info('persistence')}`);
    let appendfsync: string | null = null;
    try {
      // CONFIG is often disabled on managed Redis; INFO is enough for the two hard rules.
      const reply: unknown = await client.config('GET', 'appendfsync');
      if (Array.isArray(reply) && typeof reply[1] === 'string') appendfsync = reply[1];
    } catch {
      appendfsync = null;
    }
    return assessRedisSafety(info, appendfsync);
  } finally {
    client.disconnect();
  }
}

export async function checkRedisSafety(url: string, logger: Logger): Promise<void> {
  let report: RedisSafetyReport;
  try {
    report = await readSafety(url);
  } catch (error: unknown) {
    logger.warn('could not check Redis safety settings (Redis unreachable?); callbacks will be spooled until it is', {
      error: error instanceof Error ? error.message : String(error),
    });
    return;
  }
  if (report.problems.length === 0) {
    logger.info('Redis safety settings ok', { maxmemoryPolicy: report.maxmemoryPolicy, aof: report.aofEnabled });
    return;
  }
  logger.warn(
    `!!! Redis is not safe for acknowledged notifications: ${report.problems.join('; ')}. See docs/operations.md. !!!`,
    { maxmemoryPolicy: report.maxmemoryPolicy, aof: report.aofEnabled, appendfsync: report.appendfsync },
  );
}
