import { describe, expect, it } from 'vitest';
import { checkFields, goJson, headerInfo, metaData, typeInfo, type HeaderFields } from '../../../src/artifact/header.js';

/**
 * Expected JSON: what mender-artifact 3.9 wrote into header-info and headers/0000/type-info
 * for the same flags (captured by running it; `X` stands for the payload's sha256).
 */
const X = '4860bd9f06c975759ec9a37db18abc5c54047c0764b37822f0da0d7a49a2b072';
const sums = { 'fs.img': X };
const rootfs = (extra: Partial<HeaderFields> = {}): HeaderFields => ({ kind: 'rootfs-image', artifactName: 'r', deviceTypes: ['a'], ...extra });
const module = (extra: Partial<HeaderFields> = {}): HeaderFields => ({ kind: 'module-image', moduleType: 'mod', artifactName: 'r', deviceTypes: ['a'], ...extra });

describe('header-info and type-info as mender-artifact 3.9 writes them', () => {
  it('rootfs-image defaults', () => {
    const fields = rootfs({ artifactName: 'rel-1', deviceTypes: ['a', 'b'] });
    expect(goJson(headerInfo(fields))).toBe('{"payloads":[{"type":"rootfs-image"}],"artifact_provides":{"artifact_name":"rel-1"},"artifact_depends":{"device_type":["a","b"]}}');
    expect(goJson(typeInfo(fields, sums))).toBe(
      `{"type":"","artifact_provides":{"rootfs-image.checksum":"${X}","rootfs-image.version":"rel-1"},"clears_artifact_provides":["artifact_group","rootfs_image_checksum","rootfs-image.*"]}`,
    );
    expect(metaData(fields)).toBe('');
  });

  const rootfsCases: [string, Partial<HeaderFields>, string][] = [
    ['--software-name foo', { software: { name: 'foo' } }, `{"type":"","artifact_provides":{"rootfs-image.checksum":"${X}","rootfs-image.foo.version":"r"},"clears_artifact_provides":["rootfs-image.foo.*"]}`],
    ['--software-filesystem myfs', { software: { filesystem: 'myfs' } }, `{"type":"","artifact_provides":{"myfs.version":"r","rootfs-image.checksum":"${X}"},"clears_artifact_provides":["myfs.*"]}`],
    ['filesystem, name and version', { software: { filesystem: 'myfs', name: 'foo', version: '9' } }, `{"type":"","artifact_provides":{"myfs.foo.version":"9","rootfs-image.checksum":"${X}"},"clears_artifact_provides":["myfs.foo.*"]}`],
    ['--no-default-software-version', { software: false }, `{"type":"","artifact_provides":{"rootfs-image.checksum":"${X}"}}`],
    ['--no-checksum-provide', { checksumProvide: false }, '{"type":"","artifact_provides":{"rootfs-image.version":"r"},"clears_artifact_provides":["artifact_group","rootfs_image_checksum","rootfs-image.*"]}'],
    ['--legacy-rootfs-image-checksum', { checksumProvide: 'rootfs_image_checksum' }, `{"type":"","artifact_provides":{"rootfs-image.version":"r","rootfs_image_checksum":"${X}"},"clears_artifact_provides":["artifact_group","rootfs_image_checksum","rootfs-image.*"]}`],
    ['--no-default-clears-provides --clears-provides a.*', { defaultClearsProvides: false, clearsProvides: ['a.*'] }, `{"type":"","artifact_provides":{"rootfs-image.checksum":"${X}","rootfs-image.version":"r"},"clears_artifact_provides":["a.*"]}`],
    ['-p overriding the version', { provides: { x: 'y', 'rootfs-image.version': 'override' } }, `{"type":"","artifact_provides":{"rootfs-image.checksum":"${X}","rootfs-image.version":"override","x":"y"},"clears_artifact_provides":["artifact_group","rootfs_image_checksum","rootfs-image.*"]}`],
    ['no software version, own clears', { software: false, clearsProvides: ['z'] }, `{"type":"","artifact_provides":{"rootfs-image.checksum":"${X}"},"clears_artifact_provides":["z"]}`],
    ['neither version nor checksum', { software: false, checksumProvide: false }, '{"type":""}'],
  ];
  for (const [flags, extra, expected] of rootfsCases) {
    it(`rootfs-image ${flags}`, () => expect(goJson(typeInfo(rootfs(extra), sums))).toBe(expected));
  }

  it('module-image with groups, depends, provides, clears and meta-data', () => {
    const fields = module({
      moduleType: 'mymod',
      artifactName: 'm-1',
      artifactGroup: 'grp',
      dependsGroups: ['g1', 'g2'],
      dependsArtifactNames: ['n1', 'n2'],
      depends: { k: 'v' },
      provides: { p: 'q' },
      clearsProvides: ['x.*'],
      metaData: { a: 1 },
    });
    expect(goJson(headerInfo(fields))).toBe(
      '{"payloads":[{"type":"mymod"}],"artifact_provides":{"artifact_name":"m-1","artifact_group":"grp"},"artifact_depends":{"artifact_name":["n1","n2"],"device_type":["a"],"artifact_group":["g1","g2"]}}',
    );
    expect(goJson(typeInfo(fields, {}))).toBe('{"type":"mymod","artifact_depends":{"k":"v"},"artifact_provides":{"p":"q","rootfs-image.mymod.version":"m-1"},"clears_artifact_provides":["x.*","rootfs-image.mymod.*"]}');
    expect(metaData(fields)).toBe('{"a":1}');
  });

  const moduleCases: [string, Partial<HeaderFields>, string][] = [
    ['--software-filesystem myfs', { software: { filesystem: 'myfs' } }, '{"type":"mod","artifact_provides":{"myfs.mod.version":"r"},"clears_artifact_provides":["myfs.mod.*"]}'],
    ['--software-name foo', { software: { name: 'foo' } }, '{"type":"mod","artifact_provides":{"rootfs-image.foo.version":"r"},"clears_artifact_provides":["rootfs-image.foo.*"]}'],
    ['--no-default-software-version', { software: false }, '{"type":"mod"}'],
    ['--no-default-software-version --clears-provides z', { software: false, clearsProvides: ['z'] }, '{"type":"mod","clears_artifact_provides":["z"]}'],
    ['--no-default-clears-provides', { defaultClearsProvides: false }, '{"type":"mod","artifact_provides":{"rootfs-image.mod.version":"r"}}'],
    ['--software-version 5', { software: { version: '5' } }, '{"type":"mod","artifact_provides":{"rootfs-image.mod.version":"5"},"clears_artifact_provides":["rootfs-image.mod.*"]}'],
  ];
  for (const [flags, extra, expected] of moduleCases) {
    it(`module-image ${flags}`, () => {
      expect(goJson(typeInfo(module(extra), {}))).toBe(expected);
      expect(metaData(module(extra))).toBeUndefined();
    });
  }

  it('bootstrap: null type, given provides and clears only, no meta-data', () => {
    const fields: HeaderFields = {
      kind: 'bootstrap',
      artifactName: 'rel-1',
      deviceTypes: ['a'],
      provides: { 'rootfs-image.version': 'rel-1', 'rootfs-image.checksum': 'abc' },
      clearsProvides: ['rootfs-image.*'],
    };
    expect(goJson(headerInfo(fields))).toBe('{"payloads":[{"type":null}],"artifact_provides":{"artifact_name":"rel-1"},"artifact_depends":{"device_type":["a"]}}');
    expect(goJson(typeInfo(fields, {}))).toBe('{"type":null,"artifact_provides":{"rootfs-image.checksum":"abc","rootfs-image.version":"rel-1"},"clears_artifact_provides":["rootfs-image.*"]}');
    expect(metaData(fields)).toBeUndefined();
  });

  it('meta-data keys sorted at every level and HTML characters escaped, as Go marshals maps', () => {
    expect(goJson({ b: { z: 1, a: [{ y: 2, x: 3 }] }, a: '<&>' }, true)).toBe('{"a":"\\u003c\\u0026\\u003e","b":{"a":[{"x":3,"y":2}],"z":1}}');
  });
});

describe('field checks', () => {
  const ok = rootfs();
  it('accepts a well-formed rootfs-image', () => expect(() => checkFields(ok, ['fs.img'], ['ArtifactInstall_Enter_00'])).not.toThrow());
  const refusals: [string, HeaderFields, string[], string[], RegExp][] = [
    ['no name', rootfs({ artifactName: '' }), ['a'], [], /needs a name/],
    ['a name with spaces', rootfs({ artifactName: 'a b' }), ['a'], [], /characters the Mender client rejects/],
    ['no device type', rootfs({ deviceTypes: [] }), ['a'], [], /at least one compatible device type/],
    ['two rootfs files', rootfs(), ['a', 'b'], [], /exactly one file, not 2/],
    ['a bootstrap with files', { kind: 'bootstrap', artifactName: 'r', deviceTypes: ['a'] }, ['a'], [], /takes no files/],
    ['a module-image without type', module({ moduleType: undefined }), [], [], /needs the name of its update module/],
    ['meta-data on rootfs-image', rootfs({ metaData: { a: 1 } }), ['a'], [], /Only module-image/],
    ['duplicate payload names', module(), ['a', 'a'], [], /Two payload files are named a/],
    ['a payload name with a slash', module(), ['dir/a'], [], /plain file name/],
    ['a bad script name', rootfs(), ['a'], ['ArtifactInstall_Enter_0'], /not a valid Artifact state script name/],
    ['duplicate scripts', rootfs(), ['a'], ['ArtifactCommit_Leave_10', 'ArtifactCommit_Leave_10'], /same name/],
  ];
  for (const [what, fields, payloads, scripts, message] of refusals) {
    it(`refuses ${what}`, () => expect(() => checkFields(fields, payloads, scripts)).toThrow(message));
  }
});
