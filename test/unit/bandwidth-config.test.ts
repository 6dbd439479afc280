import { ConfigError, loadConfig } from '../../src/config';

describe('Bandwidth settings', () => {
  it('leave the integration off when no credentials are set', () => {
    expect(loadConfig({}).bandwidth).toBeUndefined();
  });

  it('parse credentials, defaults and the base URL', () => {
    const config = loadConfig({
      BANDWIDTH_ACCOUNT_ID: '9900000',
      BANDWIDTH_USERNAME: 'api-user',
      BANDWIDTH_PASSWORD: 'secret:with:colons',
      PUBLIC_CALLBACK_URL: 'https://receiver.example.com/callbacks/bandwidth',
    });
    expect(config.bandwidth).toMatchObject({
      accountId: '9900000',
      username: 'api-user',
      password: 'secret:with:colons',
      apiBaseUrl: 'https://dashboard.bandwidth.com/api',
      publicCallbackUrl: 'https://receiver.example.com/callbacks/bandwidth',
      subscriptionExpirySeconds: 86400,
      numberFormat: 'E164',
    });
  });

  it('refuse a partial set of credentials, naming what is missing, without echoing the password', () => {
    let error: unknown;
    try {
      loadConfig({ BANDWIDTH_USERNAME: 'api-user', BANDWIDTH_PASSWORD: 'TopSecret-123' });
    } catch (e: unknown) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).toMatch(/BANDWIDTH_ACCOUNT_ID: required/);
    expect(message).not.toContain('TopSecret-123');
  });

  it('refuse a bad base URL or number format', () => {
    expect(() => loadConfig({ BANDWIDTH_API_BASE_URL: 'ftp://x', SUBSCRIPTION_NUMBER_FORMAT: 'NATIONAL' })).toThrow(
      /BANDWIDTH_API_BASE_URL: must be an http[\s\S]*SUBSCRIPTION_NUMBER_FORMAT/,
    );
  });
});
