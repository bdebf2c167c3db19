import { describe, expect, it } from 'vitest';
import { partialPath } from '../../../src/util/atomic.js';
import { isUserError, writeFailure } from '../../../src/util/errors.js';

const failure = (code: string) => Object.assign(new Error(`${code}: failed`), { code });

describe('a failed write as the user sees it', () => {
  it('names a full disk or a file too large for its filesystem by the output\'s final name', () => {
    const partial = partialPath('/out/image-mender.img', 'run-abc');
    const full = writeFailure(failure('ENOSPC'), partial);
    expect(isUserError(full) && full.message).toBe('No space left on the device while writing /out/image-mender.img.');
    const large = writeFailure(failure('EFBIG'), partial);
    expect(isUserError(large) && large.message).toBe('/out/image-mender.img would be larger than the filesystem it is on allows for one file.');
    expect(isUserError(large) && large.hint).toMatch(/storage\.total_size_mb/);
  });

  it('passes on any other error as it is', () => {
    const other = failure('EIO');
    expect(writeFailure(other, '/out/x')).toBe(other);
  });
});
