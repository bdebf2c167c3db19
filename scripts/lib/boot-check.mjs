// `mender-convert boot --check` as the boot tiers run it: on a converted image, its serial log
// kept in work/boot/logs/, the JSON result returned whatever the exit status; and a copy of an
// image with its rootfs A wiped, for the check's failure path.
import { $, path } from 'zx';
import { partitionTable } from './golden-images.mjs';

export async function bootCheck({ root, logs, step }, image, name, timeoutSeconds) {
  const log = path.join(logs, `${name}.log`);
  step(`mender-convert boot --check ${path.basename(image)} (serial log: ${path.relative(root, log)})`);
  const result = await $`node ${path.join(root, 'bin/mender-convert.js')} boot --check --json --timeout ${timeoutSeconds} --serial-log ${log} ${image}`.nothrow();
  const report = JSON.parse(result.stdout);
  for (const [stage, line] of Object.entries(report.stages)) step(`  | ${stage.padEnd(10)} ${line}`);
  step(`  ${report.ok ? 'passed' : 'failed'} (exit status ${result.exitCode}): ${report.summary}`);
  return { ...report, exitCode: result.exitCode };
}

/** A sparse copy of `image` whose partition 2 (rootfs A) holds nothing but zeros. */
export async function withRootfsAWiped(image, copy) {
  await $`cp --sparse=always ${image} ${copy}`;
  const rootfsA = (await partitionTable(copy)).partitions.find((p) => p.node.endsWith('2'));
  await $`fallocate --punch-hole --offset ${rootfsA.start * 512} --length ${rootfsA.size * 512} ${copy}`;
  return copy;
}
