import { createSourceAllowlist } from '../../src/http/security';

describe('createSourceAllowlist', () => {
  const allowed = createSourceAllowlist(['10.0.0.0/8', '198.51.100.7', '2001:db8::/32']);

  it('matches IPv4 ranges and single addresses, also as IPv4-mapped IPv6 (dual-stack sockets)', () => {
    expect(allowed('10.200.3.4')).toBe(true);
    expect(allowed('::ffff:10.200.3.4')).toBe(true);
    expect(allowed('198.51.100.7')).toBe(true);
    expect(allowed('198.51.100.8')).toBe(false);
    expect(allowed('11.0.0.1')).toBe(false);
  });

  it('matches IPv6 ranges and fails closed on anything it cannot read', () => {
    expect(allowed('2001:db8:1::5')).toBe(true);
    expect(allowed('2001:db9::1')).toBe(false);
    expect(allowed(undefined)).toBe(false);
    expect(allowed('not-an-address')).toBe(false);
    expect(allowed('')).toBe(false);
  });
});
