import { expect } from 'vitest';
import { UserError } from '../../src/util/errors.js';

/** The UserError `fn` throws (the test fails when it throws something else, or nothing). */
export function errorOf(fn: () => unknown): UserError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    return error as UserError;
  }
  throw new Error('expected a UserError');
}
