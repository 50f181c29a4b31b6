import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { nonNegativeInt, positiveInt } from '../../src/commands/define.js';

// Whole-number options (--max-errors, --batch-size, --limit …) take decimal digits and
// nothing JavaScript's Number would also read: an empty value is not 0, 0x10 is not 16.

describe('whole-number options', () => {
  it('take decimal digits within what a number holds exactly', () => {
    expect(nonNegativeInt('0')).toBe(0);
    expect(nonNegativeInt('17')).toBe(17);
    expect(positiveInt(' 5000 ')).toBe(5000);
    expect(nonNegativeInt('9007199254740991')).toBe(9007199254740991);
  });

  it('refuse what only looks like a number to JavaScript', () => {
    for (const value of ['', ' ', '0x10', '1e3', '1.0', '1.5', '-1', '+3', '99999999999999999999', '9007199254740993', 'five']) {
      expect(() => nonNegativeInt(value), JSON.stringify(value)).toThrow(InvalidArgumentError);
    }
    expect(() => positiveInt('0')).toThrow('Expected a positive whole number.');
  });
});
