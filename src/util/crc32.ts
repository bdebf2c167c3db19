/** CRC-32 (IEEE 802.3, as zlib, xz and U-Boot compute it) and CRC-32C (ext4's metadata checksums); own tables, as zlib.crc32 needs Node 20.15. */

/** The byte table of a reflected CRC-32 with this (reversed) polynomial. */
function crcTable(polynomial: number): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? polynomial ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/** The CRC register after `data`, starting from `crc` (no inversions). */
function update(table: Uint32Array, crc: number, data: Uint8Array): number {
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return crc >>> 0;
}

const CRC32_TABLE = crcTable(0xedb88320);
const CRC32C_TABLE = crcTable(0x82f63b78);

export function crc32(data: Uint8Array, previous = 0): number {
  return ~update(CRC32_TABLE, ~previous >>> 0, data) >>> 0;
}

/** CRC32C as ext4 computes its metadata checksums (no final inversion). */
export function crc32cExt4(data: Uint8Array, seed = 0xffffffff): number {
  return update(CRC32C_TABLE, seed >>> 0, data);
}
