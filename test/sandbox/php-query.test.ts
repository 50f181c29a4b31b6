import { describe, expect, it } from 'vitest';
import { MAX_NESTING, parseStr, phpTruthy } from '../../src/sandbox/php-query.js';

describe('parse_str, as the portal reads forms and batch commands', () => {
  it('nests bracket keys, appends on [], lets the last duplicate win and decodes + and %XX', () => {
    expect(parseStr('fields[TITLE]=A%26B+C&fields[PHONE][0][VALUE]=%2B7999&fields[PHONE][0][VALUE_TYPE]=WORK')).toEqual({
      fields: { TITLE: 'A&B C', PHONE: [{ VALUE: '+7999', VALUE_TYPE: 'WORK' }] },
    });
    expect(parseStr('select[]=ID&select[]=TITLE&id=1&id=2')).toEqual({ select: ['ID', 'TITLE'], id: '2' });
    expect(parseStr('filter%5B%3EID%5D=5')).toEqual({ filter: { '>ID': '5' } });
    expect(parseStr('a[5]=x&a[]=y')).toEqual({ a: { 5: 'x', 6: 'y' } });
  });

  it('turns dots and spaces of a top-level name into underscores, and keeps a malformed escape as it is', () => {
    expect(parseStr('my.key=1&my key2=2')).toEqual({ my_key: '1', my_key2: '2' });
    expect(parseStr('v=100%&w=%zz')).toEqual({ v: '100%', w: '%zz' });
    expect(parseStr('a[b=1')).toEqual({ a_b: '1' });
  });

  it('drops a name nested deeper than max_input_nesting_level', () => {
    const deep = `x${'[a]'.repeat(MAX_NESTING + 1)}=1`;
    expect(parseStr(`${deep}&ok=1`)).toEqual({ ok: '1' });
    expect(parseStr(`x${'[a]'.repeat(3)}=1`)).toEqual({ x: { a: { a: { a: '1' } } } });
  });

  it('casts halt as PHP (bool) does: the string "false" is true', () => {
    expect([true, 1, '1', 'false', 'N', [0]].map(phpTruthy)).toEqual([true, true, true, true, true, true]);
    expect([false, 0, '0', '', null, undefined, []].map(phpTruthy)).toEqual([false, false, false, false, false, false, false]);
  });
});
