/**
 * The few tar pieces an Artifact needs, encoded by hand so that every byte is ours to fix:
 * owners 0/0 with empty names, one mtime, USTAR headers, and POSIX (PAX) records only where
 * USTAR cannot hold a value (names over 100 bytes, sizes of 8 GiB and more), as Go's
 * archive/tar (mender-artifact's) does.
 */

export const BLOCK = 512;
/** Two zero blocks end a tar archive. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);
/** The largest size the 11 octal digits of a USTAR header hold. */
const USTAR_MAX_SIZE = 0o77777777777;
const USTAR_MAX_NAME = 100;

export interface EntryOptions {
  name: string;
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  mode?: number;
}

/** Bytes of zero padding that follow `size` bytes of content. */
export function paddingAfter(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** Blocks an entry's content occupies. */
export function paddedSize(size: number): number {
  return size + paddingAfter(size);
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

/** One 512-byte USTAR header block (typeflag `type`), checksum included. */
function ustarBlock(name: string, size: number, mtime: number, mode: number, type: string): Buffer {
  const block = Buffer.alloc(BLOCK);
  block.write(name, 0, USTAR_MAX_NAME, 'utf8');
  block.write(octal(mode, 8), 100, 'ascii');
  block.write(octal(0, 8), 108, 'ascii'); // uid
  block.write(octal(0, 8), 116, 'ascii'); // gid
  block.write(octal(size, 12), 124, 'ascii');
  block.write(octal(mtime, 12), 136, 'ascii');
  block.write('        ', 148, 'ascii'); // checksum field counts as spaces while summing
  block.write(type, 156, 'ascii');
  block.write('ustar\x0000', 257, 'ascii');
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return block;
}

/** One PAX record: "<length> <key>=<value>\n", the length counting itself. */
export function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(rest) + 1;
  while (String(length).length + Buffer.byteLength(rest) !== length) length = String(length).length + Buffer.byteLength(rest);
  return `${length}${rest}`;
}

/** A PAX extended header entry (header block + records + padding) for the entry after it. */
function paxEntry(records: string, mtime: number): Buffer {
  const body = Buffer.from(records, 'utf8');
  return Buffer.concat([ustarBlock('PaxHeader', body.length, mtime, 0o644, 'x'), body, Buffer.alloc(paddingAfter(body.length))]);
}

/** The header of a regular file entry, with a PAX header before it when USTAR cannot hold its name or size. */
export function fileHeader({ name, size, mtime, mode = 0o644 }: EntryOptions): Buffer {
  const records = [
    ...(Buffer.byteLength(name) > USTAR_MAX_NAME ? [paxRecord('path', name)] : []),
    ...(size > USTAR_MAX_SIZE ? [paxRecord('size', String(size))] : []),
  ].join('');
  const block = ustarBlock(name, size > USTAR_MAX_SIZE ? 0 : size, mtime, mode, '0');
  return records ? Buffer.concat([paxEntry(records, mtime), block]) : block;
}

/** A whole small entry: header, content, padding. */
export function fileEntry(name: string, content: Buffer | string, mtime: number, mode = 0o644): Buffer {
  const data = Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8');
  return Buffer.concat([fileHeader({ name, size: data.length, mtime, mode }), data, Buffer.alloc(paddingAfter(data.length))]);
}

/** A small tar archive of whole entries. */
export function smallTar(entries: { name: string; content: Buffer | string; mode?: number }[], mtime: number): Buffer {
  return Buffer.concat([...entries.map((entry) => fileEntry(entry.name, entry.content, mtime, entry.mode)), END_OF_ARCHIVE]);
}

/**
 * The header of a regular file entry that takes exactly `length` bytes (a multiple of 512, at
 * least 1536): a PAX header whose `comment` record fills the room not needed, then the USTAR
 * block. This lets the Artifact's front be written after its data, into space reserved before
 * the data was compressed (readers ignore PAX comments).
 */
export function paddedFileHeader(entry: EntryOptions, length: number): Buffer {
  if (length % BLOCK !== 0 || length < 3 * BLOCK) throw new Error(`cannot pad a tar header to ${length} bytes`);
  const block = ustarBlock(entry.name, entry.size > USTAR_MAX_SIZE ? 0 : entry.size, entry.mtime, entry.mode ?? 0o644, '0');
  const needed = [
    ...(Buffer.byteLength(entry.name) > USTAR_MAX_NAME ? [paxRecord('path', entry.name)] : []),
    ...(entry.size > USTAR_MAX_SIZE ? [paxRecord('size', String(entry.size))] : []),
  ].join('');
  // The PAX body fills everything between its own header block and the USTAR block exactly.
  const bodyLength = length - 2 * BLOCK;
  const commentLength = bodyLength - Buffer.byteLength(needed);
  const comment = paddingRecord(commentLength);
  const body = Buffer.from(needed + comment, 'utf8');
  return Buffer.concat([ustarBlock('PaxHeader', body.length, entry.mtime, 0o644, 'x'), body, block]);
}

/** A `comment` PAX record of exactly `length` bytes. */
function paddingRecord(length: number): string {
  const fixed = ' comment=\n'.length;
  for (let digits = 1; digits < 10; digits++) {
    const valueLength = length - digits - fixed;
    if (valueLength >= 0 && String(length).length === digits) return `${length} comment=${' '.repeat(valueLength)}\n`;
  }
  throw new Error(`cannot make a PAX padding record of ${length} bytes`);
}
