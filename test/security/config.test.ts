import { ConfigError, loadConfig } from '../../src/config';

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env);
  } catch (error: unknown) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
};

describe('security settings', () => {
  it('defaults: no allowlist, no trusted proxy, generous limits, bounded timeouts', () => {
    expect(loadConfig({})).toMatchObject({
      callbackAllowedCidrs: [],
      trustProxy: false,
      rateLimitWindowMs: 60_000,
      callbackRateLimit: 6000,
      apiRateLimit: 600,
      httpRequestTimeoutMs: 30_000,
      httpHeadersTimeoutMs: 10_000,
      httpKeepAliveTimeoutMs: 5_000,
    });
  });

  it('parses IPv4 and IPv6 addresses and ranges for the allowlist', () => {
    const config = loadConfig({ CALLBACK_ALLOWED_CIDRS: '203.0.113.0/24, 198.51.100.7 ,2001:db8::/32,::1' });
    expect(config.callbackAllowedCidrs).toEqual(['203.0.113.0/24', '198.51.100.7', '2001:db8::/32', '::1']);
    expect(problemsOf({ CALLBACK_ALLOWED_CIDRS: '203.0.113.0/33' })).toEqual([
      expect.stringMatching(/^CALLBACK_ALLOWED_CIDRS: .*not an IP address or CIDR/),
    ]);
    expect(problemsOf({ CALLBACK_ALLOWED_CIDRS: 'example.com' })).toHaveLength(1);
  });

  it('takes an explicit trust-proxy setting and refuses "trust everyone"', () => {
    expect(loadConfig({ TRUST_PROXY: 'false' }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: '1' }).trustProxy).toBe(1);
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }).trustProxy).toBe('loopback,10.0.0.0/8');
    expect(problemsOf({ TRUST_PROXY: 'true' })).toEqual([expect.stringMatching(/^TRUST_PROXY: /)]);
    expect(problemsOf({ TRUST_PROXY: 'anywhere' })).toHaveLength(1);
  });

  it('refuses a headers timeout longer than the request timeout', () => {
    expect(problemsOf({ HTTP_HEADERS_TIMEOUT_MS: '5000', HTTP_REQUEST_TIMEOUT_MS: '1000' })).toEqual([
      'HTTP_HEADERS_TIMEOUT_MS: must not exceed HTTP_REQUEST_TIMEOUT_MS',
    ]);
  });
});
