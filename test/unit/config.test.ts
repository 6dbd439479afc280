import { ConfigError, loadConfig } from '../../src/config';

describe('loadConfig', () => {
  it('has working defaults with an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 3000,
      role: 'all',
      databaseUrl: undefined,
      redisUrl: undefined,
      callbackCredentials: [],
      apiKeys: undefined,
      logLevel: 'info',
    });
  });

  it('runs more jobs per worker on Redis than on the PostgreSQL queue backend unless told otherwise', () => {
    expect(loadConfig({})).toMatchObject({ workerConcurrency: 8, handlerConcurrency: 8 });
    expect(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' })).toMatchObject({
      workerConcurrency: 128,
      handlerConcurrency: 32,
    });
    expect(
      loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', WORKER_CONCURRENCY: '4', HANDLER_CONCURRENCY: '2' }),
    ).toMatchObject({ workerConcurrency: 4, handlerConcurrency: 2 });
    expect(() => loadConfig({ WORKER_CONCURRENCY: '0' })).toThrow(/WORKER_CONCURRENCY: must be at least 1/);
  });

  it('sizes the PostgreSQL pool at 10 connections unless told otherwise', () => {
    expect(loadConfig({}).databasePoolSize).toBe(10);
    expect(loadConfig({ DATABASE_POOL_SIZE: '4' }).databasePoolSize).toBe(4);
    expect(() => loadConfig({ DATABASE_POOL_SIZE: '0' })).toThrow(/DATABASE_POOL_SIZE: must be at least 1/);
  });

  it('parses credentials for rotation and scoped API keys', () => {
    const config = loadConfig({
      CALLBACK_BASIC_AUTH: 'bw:old-pass, bw:new:pass',
      API_KEYS: 'dash:0123456789abcdef0123,ops:fedcba9876543210fedc:admin',
    });
    expect(config.callbackCredentials).toEqual([
      { username: 'bw', password: 'old-pass' },
      { username: 'bw', password: 'new:pass' },
    ]);
    expect(config.apiKeys).toEqual([
      { name: 'dash', key: '0123456789abcdef0123', scope: 'read' },
      { name: 'ops', key: 'fedcba9876543210fedc', scope: 'admin' },
    ]);
  });

  it('names every bad variable and never echoes secrets', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', ROLE: 'boss', REDIS_URL: 'http://x', CALLBACK_BASIC_AUTH: 'nopassword-secret' });
    } catch (e: unknown) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).toMatch(/PORT/);
    expect(message).toMatch(/ROLE/);
    expect(message).toMatch(/REDIS_URL/);
    expect(message).toMatch(/CALLBACK_BASIC_AUTH/);
    expect(message).not.toMatch(/nopassword-secret/);
  });
});
