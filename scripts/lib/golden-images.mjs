// The golden images of the identity tiers: a sample flavour and a rebuilt one (`less` installed,
// MBR disk identifier 0badf00d, new partition GUIDs on GPT), built by
// scripts/build-sample-image.mjs or taken from its cache in work/sample, with their partition
// tables as sfdisk reads them.
import { $, path } from 'zx';

/** An image's partition table as sfdisk reads it (id, partitions with their uuid). */
export async function partitionTable(image) {
  return JSON.parse((await $`sfdisk --json ${image}`).stdout).partitiontable;
}

export async function sampleAndRebuilt(root, flavour, rebuiltFile) {
  const sample = path.join(root, 'scripts/build-sample-image.mjs');
  const golden = (await $`zx ${sample} --flavour ${flavour}`).stdout.trim();
  const rebuilt = (await $`zx ${sample} --flavour ${flavour} --extra-packages less --disk-id 0badf00d --out ${path.join(root, 'work/sample', rebuiltFile)}`).stdout.trim();
  return { golden, rebuilt, goldenTable: await partitionTable(golden), rebuiltTable: await partitionTable(rebuilt) };
}
