import { describe, expect, it } from 'vitest';
import { parsePhone } from '../../src/transform/phones.js';

describe('parsePhone', () => {
  it('brings every Russian way of writing a number to one E.164', () => {
    for (const text of ['8 (495) 123-45-67', '+7 495 123 45 67', '84951234567', '7(495)1234567', '+7 (495) 123-45-67']) {
      expect(parsePhone(text), text).toMatchObject({ e164: '+74951234567', extension: null });
    }
    expect(parsePhone('+7 916 123 45 67')).toMatchObject({ e164: '+79161234567', type: 'MOBILE' });
  });

  it('keeps the extension apart', () => {
    expect(parsePhone('8-916-1234567 доб. 12')).toMatchObject({ e164: '+79161234567', extension: '12' });
    expect(parsePhone('8 (495) 123-45-67 вн. 305')).toMatchObject({ e164: '+74951234567', extension: '305' });
  });

  it('does not invent numbers from junk', () => {
    for (const text of ['нет', '12-34', '-', '000', 'звонить секретарю', '+7 (000) 000-00-00']) {
      expect(parsePhone(text).e164, text).toBeNull();
    }
  });
});
