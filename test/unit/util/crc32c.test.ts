import { describe, expect, it } from 'vitest';
import { crc32cExt4 } from '../../../src/util/crc32c.js';

describe('CRC-32C as ext4 computes it', () => {
  it('is the standard CRC-32C register before its final inversion, and continues across chunks', () => {
    // The standard check value of CRC-32C over "123456789" is 0xe3069283 (after the final inversion).
    expect(~crc32cExt4(Buffer.from('123456789')) >>> 0).toBe(0xe3069283);
    expect(crc32cExt4(Buffer.from('6789'), crc32cExt4(Buffer.from('12345')))).toBe(crc32cExt4(Buffer.from('123456789')));
    expect(crc32cExt4(Buffer.alloc(0))).toBe(0xffffffff);
  });
});
