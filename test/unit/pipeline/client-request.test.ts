import { describe, expect, it } from 'vitest';
import type { PackageRecord } from '../../../src/apt/repository.js';
import { loadConfig } from '../../../src/config/load.js';
import { packageRequest } from '../../../src/pipeline/integrations/client/index.js';

const record = (name: string, version: string): PackageRecord => ({
  name,
  version,
  architecture: 'arm64',
  depends: [],
  preDepends: [],
  provides: [],
  filename: `pool/${name}_${version}.deb`,
  sha256: '0'.repeat(64),
  size: 1,
  repository: { url: 'https://example.invalid', suite: 'debian/bookworm/stable', components: ['main'], architecture: 'arm64', keyrings: null },
  fields: new Map(),
});
const records = [
  record('mender-client4', '5.0.1-1+debian+bookworm'),
  record('mender-client4', '4.0.6-1+debian+bookworm'),
  record('mender-connect', '2.3.0-1+debian+bookworm'),
  record('mender-connect', '2.2.1-1+debian+bookworm'),
  record('mender-connect', '2.2.0-1+debian+bookworm'),
];
const config = (env: Record<string, string>) => loadConfig({ configFiles: [], env }).config;

describe('package requests at the configured versions', () => {
  it("pins the client's packages from Mender's repository to client.version", () => {
    expect(packageRequest({ ...config({ MENDER_CLIENT_VERSION: '4.0' }), 'client.source': 'mender' }, records, 'mender-client4')).toBe('mender-client4 (= 4.0.6-1+debian+bookworm)');
    expect(packageRequest({ ...config({}), 'client.source': 'mender' }, records, 'mender-client4')).toBe('mender-client4 (= 5.0.1-1+debian+bookworm)');
    // Debian's client is taken as it is
    expect(packageRequest(config({ MENDER_CLIENT_VERSION: '4.0' }), records, 'mender-client4')).toBe('mender-client4');
  });

  it('pins an add-on to its version knob (x.y: the newest x.y.*), names it otherwise', () => {
    expect(packageRequest(config({ MENDER_ADDON_CONNECT_VERSION: '2.2' }), records, 'mender-connect')).toBe('mender-connect (= 2.2.1-1+debian+bookworm)');
    expect(packageRequest(config({ MENDER_ADDON_CONNECT_VERSION: '2.2.0' }), records, 'mender-connect')).toBe('mender-connect (= 2.2.0-1+debian+bookworm)');
    expect(packageRequest(config({}), records, 'mender-connect')).toBe('mender-connect');
    expect(packageRequest(config({ MENDER_ADDON_CONNECT_VERSION: '2.2' }), records, 'libfoo')).toBe('libfoo');
  });

  it('a version no repository has is an error naming the ones they have', () => {
    expect(() => packageRequest(config({ MENDER_ADDON_CONNECT_VERSION: '2.4' }), records, 'mender-connect')).toThrow(/No repository has mender-connect 2\.4 for this image \(they have 2\.3\.0-1\+debian\+bookworm, 2\.2\.1/);
  });
});
