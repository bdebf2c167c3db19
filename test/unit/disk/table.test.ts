import { describe, expect, it } from 'vitest';
import { checkPartitionsFit, finishTable, parseSfdiskJson, tableHeadFacts, TABLE_HEAD_BYTES } from '../../../src/disk/table.js';
import { UserError } from '../../../src/util/errors.js';

const MiB = 1024 * 1024;

function mbrHead(entries: { type: number; start: number; sectors: number }[]): Buffer {
  const head = Buffer.alloc(64 * 1024);
  entries.forEach((entry, i) => {
    const at = 446 + 16 * i;
    head[at + 4] = entry.type;
    head.writeUInt32LE(entry.start, at + 8);
    head.writeUInt32LE(entry.sectors, at + 12);
  });
  head.writeUInt16LE(0xaa55, 510);
  return head;
}

function gptHead(options: { alternateLba: number; entriesLba: number; entries: number; entrySize?: number; at?: number }): Buffer {
  const head = mbrHead([{ type: 0xee, start: 1, sectors: options.alternateLba }]);
  const at = options.at ?? 512;
  head.write('EFI PART', at, 'latin1');
  head.writeBigUInt64LE(BigInt(options.alternateLba), at + 32);
  head.writeBigUInt64LE(BigInt(options.entriesLba), at + 72);
  head.writeUInt32LE(options.entries, at + 80);
  head.writeUInt32LE(options.entrySize ?? 128, at + 84);
  return head;
}

describe('tableHeadFacts', () => {
  it('an MBR needs only the default head', () => {
    const facts = tableHeadFacts(mbrHead([{ type: 0x0c, start: 2048, sectors: 8192 }]));
    expect(facts).toEqual({ protective: false, gptHeader: false, gpt4k: false, bytesNeeded: TABLE_HEAD_BYTES });
  });

  it('a GPT: where its entries end and how large its disk is', () => {
    const facts = tableHeadFacts(gptHead({ alternateLba: 65535, entriesLba: 2, entries: 128 }));
    expect(facts).toMatchObject({ protective: true, gptHeader: true, gptEntriesEnd: 34 * 512, diskSize: 32 * MiB, bytesNeeded: TABLE_HEAD_BYTES });
  });

  it('entries far out ask for a longer head', () => {
    const facts = tableHeadFacts(gptHead({ alternateLba: 1 << 20, entriesLba: 4096, entries: 128 }));
    expect(facts.bytesNeeded).toBe(4096 * 512 + 128 * 128);
  });

  it('a damaged header falls back to the protective entry for the disk size', () => {
    const head = gptHead({ alternateLba: 65535, entriesLba: 0, entries: 0 });
    const facts = tableHeadFacts(head);
    expect(facts).toMatchObject({ protective: true, gptHeader: true, diskSize: 32 * MiB });
    expect(facts.gptEntriesEnd).toBeUndefined();
  });

  it('spots a GPT made for 4096-byte sectors', () => {
    expect(tableHeadFacts(gptHead({ alternateLba: 8191, entriesLba: 2, entries: 128, at: 4096 })).gpt4k).toBe(true);
  });

  it('no boot signature: nothing known', () => {
    expect(tableHeadFacts(Buffer.alloc(4096)).protective).toBe(false);
  });
});

const gptJson = JSON.stringify({
  partitiontable: {
    label: 'gpt', id: '0DB4528A-6BB1-174B-BC9F-117C964A6100', device: 'disk1.img', unit: 'sectors', firstlba: 34, lastlba: 65502, sectorsize: 512,
    partitions: [
      { node: 'disk1.img1', start: 20480, size: 32768, type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', uuid: '21B473CD-C3CA-9948-91BB-44311826789B', name: 'root' },
      { node: 'disk1.img2', start: 2048, size: 16384, type: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B', uuid: 'A97B32FB-C1E0-0F49-B50E-48440CB5ED33', name: 'boot', attrs: 'LegacyBIOSBootable' },
    ],
  },
});

const dosJson = (partitions: object[]) => JSON.stringify({ partitiontable: { label: 'dos', id: '0xC0FFEE01', device: 'x.img', unit: 'sectors', sectorsize: 512, partitions } });

describe('parseSfdiskJson', () => {
  it('GPT: bytes, lower-case GUIDs, bootable from the attribute, disk order', () => {
    const { table, protectiveOnly } = parseSfdiskJson(gptJson, '')!;
    expect(protectiveOnly).toBe(false);
    expect(table.id).toBe('0db4528a-6bb1-174b-bc9f-117c964a6100');
    expect(table.partitions).toEqual([
      { number: 2, start: MiB, size: 8 * MiB, type: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b', partuuid: 'a97b32fb-c1e0-0f49-b50e-48440cb5ed33', name: 'boot', attrs: 'LegacyBIOSBootable', bootable: true },
      { number: 1, start: 10 * MiB, size: 16 * MiB, type: '0fc63daf-8483-4772-8e79-3d69d8477de4', partuuid: '21b473cd-c3ca-9948-91bb-44311826789b', name: 'root', bootable: false },
    ]);
  });

  it('MBR: PARTUUIDs from the disk id, the boot flag', () => {
    const { table } = parseSfdiskJson(dosJson([{ node: 'x.img1', start: 8192, size: 8192, type: 'c', bootable: true }, { node: 'x.img10', start: 16384, size: 8, type: '83' }]), '')!;
    expect(table.partitions.map((p) => [p.partuuid, p.bootable])).toEqual([['c0ffee01-01', true], ['c0ffee01-0a', false]]);
  });

  it('a recovered GPT is flagged with sfdisk\'s words', () => {
    const { table } = parseSfdiskJson(gptJson, 'The primary GPT table is corrupt, but the backup appears OK, so that will be used.\n')!;
    expect(table.usedBackupGpt).toBe(true);
    expect(table.warnings).toEqual(['The primary GPT table is corrupt, but the backup appears OK, so that will be used.']);
  });

  it('a protective MBR alone, no output, other labels', () => {
    expect(parseSfdiskJson(dosJson([{ node: 'x.img1', start: 1, size: 65535, type: 'ee' }]), '')!.protectiveOnly).toBe(true);
    expect(parseSfdiskJson('', '')).toBeUndefined();
    expect(() => parseSfdiskJson(JSON.stringify({ partitiontable: { label: 'sun', device: 'x' } }), '')).toThrow(/'sun' partition table/);
  });
});

describe('finishTable', () => {
  const mbrFacts = tableHeadFacts(mbrHead([]));
  const read = (partitions: object[]) => parseSfdiskJson(dosJson(partitions), '')!;

  it('table end and boot gap', () => {
    const table = finishTable(read([{ node: 'x.img1', start: 8192, size: 8192, type: 'c' }]), mbrFacts, 'x.img');
    expect(table.tableEnd).toBe(512);
    expect(table.bootGap).toEqual({ start: 512, end: 4 * MiB });
    const gpt = finishTable(parseSfdiskJson(gptJson, '')!, tableHeadFacts(gptHead({ alternateLba: 65535, entriesLba: 2, entries: 128 })), 'g.img');
    expect(gpt.bootGap).toEqual({ start: 17408, end: MiB });
  });

  it.each([
    ['extended', [{ node: 'x.img1', start: 2048, size: 8192, type: 'c' }, { node: 'x.img2', start: 10240, size: 20000, type: 'f' }], /extended partition/],
    ['logical', [{ node: 'x.img1', start: 2048, size: 8192, type: 'c' }, { node: 'x.img5', start: 12288, size: 8192, type: '83' }], /partition 5/],
    ['overlap', [{ node: 'x.img1', start: 2048, size: 8192, type: 'c' }, { node: 'x.img2', start: 8000, size: 8192, type: '83' }], /overlapping partitions: 1 \(bytes 1048576-5242880\) and 2/],
    ['over the table', [{ node: 'x.img1', start: 0, size: 8192, type: 'c' }], /inside the partition table/],
    ['empty', [], /empty partition table/],
  ])('refuses %s', (_name, partitions, message) => {
    expect(() => finishTable(read(partitions), mbrFacts, 'x.img')).toThrow(message);
  });

  it('refuses a protective MBR without a GPT', () => {
    expect(() => finishTable(read([{ node: 'x.img1', start: 1, size: 65535, type: 'ee' }]), mbrFacts, 'x.img')).toThrow(/protective MBR but no valid GPT/);
  });
});

describe('checkPartitionsFit', () => {
  it('says which partition runs past the end', () => {
    const table = finishTable(parseSfdiskJson(gptJson, '')!, tableHeadFacts(gptHead({ alternateLba: 65535, entriesLba: 2, entries: 128 })), 'g.img');
    expect(() => checkPartitionsFit(table, 26 * MiB, 'g.img')).not.toThrow();
    const error = (() => {
      try {
        checkPartitionsFit(table, 20 * MiB, 'g.img');
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).message).toBe('g.img is truncated: partition 1 ends at byte 27262976 but the image has only 20971520 bytes.');
  });
});
