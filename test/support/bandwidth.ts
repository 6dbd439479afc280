import { Writable } from 'node:stream';
import winston from 'winston';
import type { Logger } from 'winston';
import type { BandwidthClient } from '../../src/bandwidth/client';
import { createBandwidthClient } from '../../src/bandwidth/client';
import type { BandwidthStub } from './bandwidth-stub';

/** A logger that keeps every line it writes (to assert what is, and is not, logged). */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString('utf8'));
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

/** Env settings that point the service (or CLI) at the stub. */
export function stubEnv(stub: BandwidthStub, extra: Record<string, string> = {}): Record<string, string> {
  return {
    BANDWIDTH_ACCOUNT_ID: stub.accountId,
    BANDWIDTH_USERNAME: stub.username,
    BANDWIDTH_PASSWORD: stub.password,
    BANDWIDTH_API_BASE_URL: stub.baseUrl,
    PUBLIC_CALLBACK_URL: 'https://receiver.example.com/callbacks/bandwidth',
    BANDWIDTH_TIMEOUT_MS: '1000',
    BANDWIDTH_MAX_ATTEMPTS: '3',
    BANDWIDTH_RETRY_BASE_MS: '20',
    BANDWIDTH_MIN_REQUEST_INTERVAL_MS: '0',
    ...extra,
  };
}

export function stubClient(
  stub: BandwidthStub,
  logger: Logger,
  overrides: Partial<{ timeoutMs: number; maxAttempts: number; password: string }> = {},
): BandwidthClient {
  return createBandwidthClient({
    baseUrl: stub.baseUrl,
    accountId: stub.accountId,
    username: stub.username,
    password: overrides.password ?? stub.password,
    timeoutMs: overrides.timeoutMs ?? 1000,
    maxAttempts: overrides.maxAttempts ?? 3,
    retryBaseDelayMs: 20,
    logger,
  });
}
